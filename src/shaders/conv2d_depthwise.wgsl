// conv2d_depthwise: a depthwise convolution (groups = in_c = out_c, one k_h x k_w filter per
// channel, as MobileNetV2's), register-tiled: each invocation computes TILE_PX consecutive output
// pixels of one row of one channel. Its K_H x K_W weights are loaded once, and each input row of
// the window once ((TILE_PX - 1) * STRIDE + K_W values, padding resolved as they are loaded),
// instead of K_H * K_W loads of input and weights for every output as in the naive kernel.
// Bias and the fused activation as in the other kernels. Layouts as conv2d_naive.wgsl:
// x [c][in_h][in_w], w [c][1][k_h][k_w], b [c], y [c][out_h][out_w].

override TILE_PX: u32 = 8u;
override K_W: u32 = 3u;
override STRIDE: u32 = 1u;

struct Params {
    in_c: u32, in_h: u32, in_w: u32, out_c: u32,
    out_h: u32, out_w: u32, pad_t: u32, pad_l: u32,
    reflect: u32, groups: u32, act: u32, has_bias: u32,
    out_c4: u32, stride: u32, k_h: u32, k_w: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// Input values one tile row reads, at most: (16 - 1) * 2 + 9, the largest tile, stride and
// kernel width the launcher allows.
const MAX_WIN: u32 = 39u;
const MAX_PX: u32 = 16u;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox0 = gid.x * TILE_PX;
    let oy = gid.y;
    let c = gid.z;
    if (ox0 >= p.out_w || oy >= p.out_h || c >= p.out_c) {
        return;
    }
    let reflect = p.reflect != 0u;
    let win = (TILE_PX - 1u) * STRIDE + K_W;
    let left = i32(ox0 * STRIDE) - i32(p.pad_l);
    var acc: array<f32, MAX_PX>;
    for (var t = 0u; t < TILE_PX; t++) {
        acc[t] = 0.0;
    }
    let plane = c * p.in_h * p.in_w;
    for (var ky = 0u; ky < p.k_h; ky++) {
        let iy = src_index(i32(oy * STRIDE + ky) - i32(p.pad_t), i32(p.in_h), reflect);
        if (iy < 0) { continue; }
        let row = plane + u32(iy) * p.in_w;
        var v: array<f32, MAX_WIN>;
        for (var i = 0u; i < win; i++) {
            let ix = src_index(left + i32(i), i32(p.in_w), reflect);
            v[i] = select(0.0, x[row + u32(max(ix, 0))], ix >= 0);
        }
        let wrow = (c * p.k_h + ky) * K_W;
        for (var kx = 0u; kx < K_W; kx++) {
            let wv = w[wrow + kx];
            for (var t = 0u; t < TILE_PX; t++) {
                acc[t] = fma(v[t * STRIDE + kx], wv, acc[t]);
            }
        }
    }
    let bias = select(0.0, b[c], p.has_bias != 0u);
    let out = (c * p.out_h + oy) * p.out_w;
    for (var t = 0u; t < TILE_PX; t++) {
        if (ox0 + t < p.out_w) {
            y[out + ox0 + t] = activate(acc[t] + bias, p.act);
        }
    }
}
