// copy_strided: dst[dst_offset + i * dst_stride] = scale * src[src_offset + i * src_stride]
// for i < n, or added to what is there (add = 1). One thread per value; dst is written in
// place, so slices of one tensor can be filled by several dispatches.

struct Params {
    n: u32,
    src_offset: u32,
    src_stride: u32,
    dst_offset: u32,
    dst_stride: u32,
    add: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let d = p.dst_offset + i * p.dst_stride;
    let v = p.scale * src[p.src_offset + i * p.src_stride];
    dst[d] = select(v, dst[d] + v, p.add != 0u);
}
