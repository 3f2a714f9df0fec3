// conv2d_split_sum: the end of a split-K convolution (conv2d_tiled.wgsl with SPLIT > 1). Each
// output value is the sum of its slices' partial sums, in slice order, plus the channel's bias,
// through the fused activation (codes of `activate`), plus a residual connection where ADD
// (as conv2d_tiled.wgsl adds one when it is not split). One thread per output value.
// Layouts: part [splits][out_c][plane]; b [out_c4] vec4, zero-padded (the tiled layout's);
// res as y, read only when ADD; y [out_c][plane].

// Whether `res` is added to each output as it is stored.
override ADD: bool = false;

struct Params {
    n: u32,
    plane: u32,
    splits: u32,
    act: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> res: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

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
    let v = activate(sum + b[c / 4u][c % 4u], p.act);
    if (ADD) { y[i] = v + res[i]; } else { y[i] = v; }
}
