// The parameter gradients of a convolution (groups 1), written in the layout the tiled forward
// kernel reads, so an optimiser updates the weights where the forward pass finds them:
//
// dW[ky][kx][ci][co] = scale * sum over output pixels of gy[co, oy, ox] *
// x_padded[ci, oy * stride + ky, ox * stride + kx], one invocation per (4 output channels, ci,
// ky, kx); after those, one invocation per 4 output channels sums gy for the bias,
// db[co] = scale * sum of gy[co, ...]. Output channels past out_c (the layout's padding) get 0.
//
// dst is written at w_at / b_at, set or (add = 1) added to, so the gradients of a batch
// accumulate into one flat vector of all of a net's parameters.

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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let co4n = p.co_pad / 4u;
    let n_w = co4n * p.in_c * p.k_h * p.k_w;
    if (i >= n_w + co4n) {
        return;
    }
    let bias = i >= n_w;
    let j = select(i, i - n_w, bias);
    let co0 = (j % co4n) * 4u;
    var r = j / co4n;
    let ci = r % p.in_c;
    r = r / p.in_c;
    let kx = r % p.k_w;
    let ky = r / p.k_w;
    let plane = p.out_h * p.out_w;
    // Channels past out_c read the last real channel and are masked to 0.
    let last = p.out_c - 1u;
    let ch = vec4<u32>(min(co0, last), min(co0 + 1u, last), min(co0 + 2u, last), min(co0 + 3u, last)) * plane;
    let live = vec4<f32>(vec4<u32>(co0, co0 + 1u, co0 + 2u, co0 + 3u) < vec4<u32>(p.out_c));
    let reflect = p.reflect != 0u;
    let x_plane = ci * p.in_h * p.in_w;
    var acc = vec4<f32>(0.0);
    for (var oy = 0u; oy < p.out_h; oy = oy + 1u) {
        let iy = src_index(i32(oy * p.stride + ky) - i32(p.pad_t), i32(p.in_h), reflect);
        if (iy < 0 && !bias) {
            continue;
        }
        let x_row = x_plane + u32(max(iy, 0)) * p.in_w;
        let g_row = oy * p.out_w;
        for (var ox = 0u; ox < p.out_w; ox = ox + 1u) {
            let ix = src_index(i32(ox * p.stride + kx) - i32(p.pad_l), i32(p.in_w), reflect);
            let o = g_row + ox;
            let g = vec4<f32>(gy[ch.x + o], gy[ch.y + o], gy[ch.z + o], gy[ch.w + o]);
            if (bias) {
                acc = acc + g;
            } else if (ix >= 0) {
                acc = acc + x[x_row + u32(ix)] * g;
            }
        }
    }
    acc = acc * live * p.scale;
    let d = select(p.w_at + ((ky * p.k_w + kx) * p.in_c + ci) * p.co_pad, p.b_at, bias) + co0;
    for (var k = 0u; k < 4u; k = k + 1u) {
        dst[d + k] = select(acc[k], dst[d + k] + acc[k], p.add != 0u);
    }
}
