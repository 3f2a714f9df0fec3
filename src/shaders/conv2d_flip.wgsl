// The weights of a convolution's input gradient (input and output channels swapped, kernel
// flipped: dst[ky][kx][co][ci] = W[co][ci][k_h-1-ky][k_w-1-kx], in the tiled layout with the
// forward's in_c padded to g_co_pad) from the forward weights in their tiled layout
// ([k_h][k_w][in_c][co_pad]), on the GPU: the input gradient follows weights an optimiser
// changes without a trip through the CPU. One invocation per value written.

struct Params {
    in_c: u32,
    in_h: u32,
    in_w: u32,
    out_c: u32,
    out_h: u32,
    out_w: u32,
    pad_t: u32,
    pad_l: u32,
    reflect: u32,
    stride: u32,
    k_h: u32,
    k_w: u32,
    co_pad: u32,
    g_co_pad: u32,
    w_at: u32,
    b_at: u32,
    add: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.k_h * p.k_w * p.out_c * p.g_co_pad) {
        return;
    }
    let ci = i % p.g_co_pad;
    var r = i / p.g_co_pad;
    let co = r % p.out_c;
    r = r / p.out_c;
    let kx = r % p.k_w;
    let ky = r / p.k_w;
    var v = 0.0;
    if (ci < p.in_c) {
        v = src[(((p.k_h - 1u - ky) * p.k_w + (p.k_w - 1u - kx)) * p.in_c + ci) * p.co_pad + co];
    }
    dst[i] = v;
}
