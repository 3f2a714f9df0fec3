// The parameter gradients of a convolution (groups 1), written in the layout the tiled forward
// kernel reads, so an optimiser updates the weights where the forward pass finds them:
//
// dW[ky][kx][ci][co] = scale * sum over output pixels of gy[co, oy, ox] *
// x_padded[ci, oy * stride + ky, ox * stride + kx]. One invocation per (4 * CO4 output
// channels, ci, ky) holds the whole kernel row, K_W x CO4 vec4 accumulators: each output
// pixel's CO4 vec4s of gy and its K_W input values are loaded once for K_W * CO4 vec4
// multiply-adds. After those invocations, one per 4 * CO4 output channels sums gy for the bias,
// db[co] = scale * sum of gy[co, ...]. Output channels past out_c (the layout's padding) get 0.
// 64-wide workgroups, so even a thin layer (9x9 to RGB: 16 channels in, 9 rows) spreads over
// several workgroups.

override K_W: u32 = 3u;
override CO4: u32 = 1u;

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

const MAX_K: u32 = 9u;
const MAX_CO4: u32 = 2u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let blocks = p.co_pad / (4u * CO4);
    let n_w = blocks * p.in_c * p.k_h;
    if (i >= n_w + blocks) {
        return;
    }
    let bias = i >= n_w;
    let j = select(i, i - n_w, bias);
    let co0 = (j % blocks) * 4u * CO4;
    let r = j / blocks;
    let ci = r % p.in_c;
    let ky = r / p.in_c;
    let plane = p.out_h * p.out_w;
    // Channels past out_c read the last real channel and are masked to 0.
    let last = p.out_c - 1u;
    var ch: array<vec4<u32>, MAX_CO4>;
    var live: array<vec4<f32>, MAX_CO4>;
    for (var b = 0u; b < CO4; b = b + 1u) {
        let c = vec4<u32>(co0 + 4u * b) + vec4<u32>(0u, 1u, 2u, 3u);
        ch[b] = min(c, vec4<u32>(last)) * plane;
        live[b] = vec4<f32>(c < vec4<u32>(p.out_c));
    }
    let reflect = p.reflect != 0u;
    let x_plane = ci * p.in_h * p.in_w;
    var acc: array<vec4<f32>, 18>;
    for (var a = 0u; a < K_W * CO4; a = a + 1u) {
        acc[a] = vec4<f32>(0.0);
    }
    for (var oy = 0u; oy < p.out_h; oy = oy + 1u) {
        let iy = src_index(i32(oy * p.stride + ky) - i32(p.pad_t), i32(p.in_h), reflect);
        if (iy < 0 && !bias) {
            continue;
        }
        let x_row = x_plane + u32(max(iy, 0)) * p.in_w;
        let g_row = oy * p.out_w;
        for (var ox = 0u; ox < p.out_w; ox = ox + 1u) {
            let o = g_row + ox;
            var g: array<vec4<f32>, MAX_CO4>;
            for (var b = 0u; b < CO4; b = b + 1u) {
                let c = ch[b] + vec4<u32>(o);
                g[b] = vec4<f32>(gy[c.x], gy[c.y], gy[c.z], gy[c.w]);
            }
            if (bias) {
                for (var b = 0u; b < CO4; b = b + 1u) {
                    acc[b] = acc[b] + g[b];
                }
                continue;
            }
            let left = i32(ox * p.stride) - i32(p.pad_l);
            for (var kx = 0u; kx < K_W; kx = kx + 1u) {
                let ix = src_index(left + i32(kx), i32(p.in_w), reflect);
                if (ix >= 0) {
                    let xv = x[x_row + u32(ix)];
                    for (var b = 0u; b < CO4; b = b + 1u) {
                        acc[kx * CO4 + b] = acc[kx * CO4 + b] + xv * g[b];
                    }
                }
            }
        }
    }
    let add = p.add != 0u;
    let taps = select(K_W, 1u, bias);
    for (var kx = 0u; kx < taps; kx = kx + 1u) {
        let d = select(p.w_at + ((ky * p.k_w + kx) * p.in_c + ci) * p.co_pad, p.b_at, bias) + co0;
        for (var b = 0u; b < CO4; b = b + 1u) {
            let v = acc[kx * CO4 + b] * live[b] * p.scale;
            for (var k = 0u; k < 4u; k = k + 1u) {
                let at = d + 4u * b + k;
                dst[at] = select(v[k], dst[at] + v[k], add);
            }
        }
    }
}
