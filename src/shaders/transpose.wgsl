// transpose: y [cols][rows] = the transpose of x [rows][cols]. One thread per value of y (its
// linear index rebuilt from num_workgroups, so that large matrices spread their workgroups over
// x and y); consecutive threads write consecutive values and read down a column.

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.rows * p.cols) {
        return;
    }
    let r = i % p.rows;
    let c = i / p.rows;
    y[i] = x[r * p.cols + c];
}
