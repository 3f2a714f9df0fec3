// conv2d_split_sum: the end of a split-K convolution (conv2d_tiled.wgsl with SPLIT > 1). Each
// output value is the sum of its slices' partial sums, in slice order, plus the channel's bias,
// through the fused activation (codes of `activate`). One thread per output value.
// Layouts: part [splits][out_c][plane]; b [out_c4] vec4, zero-padded (the tiled layout's);
// y [out_c][plane].

struct Params {
    n: u32,
    plane: u32,
    splits: u32,
    act: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    var sum = part[i];
    for (var s = 1u; s < p.splits; s++) {
        sum += part[s * p.n + i];
    }
    let c = i / p.plane;
    y[i] = activate(sum + b[c / 4u][c % 4u], p.act);
}
