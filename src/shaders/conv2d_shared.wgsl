// conv2d_shared: implicit-GEMM convolution with block tiles staged in workgroup memory
// (groups = 1), for GPUs whose many invocations share a fast on-chip memory.
//
// A workgroup of WG_PX x WG_CO invocations computes BM = WG_PX * TILE_PX consecutive output
// pixels of row wid.y for BN4 = WG_CO * TILE_CO4 vec4 groups of output channels. Per kernel row
// and chunk of CB input channels, the workgroup stages in workgroup memory the input window its
// pixels share ((BM - 1) * STRIDE + K_W values per channel, padding and the input's map and
// upsampling resolved once) and the chunk's weights for every kernel column (vec4 over output
// channels), then each invocation accumulates its TILE_PX pixels (strided by WG_PX, so
// neighbouring invocations read neighbouring words) x TILE_CO4 vec4 groups from there.
//
// Every output sums kernel row, input channel, kernel column in that order with the same fma
// and the same masked loads as conv2d_tiled.wgsl: the two kernels give the same bits, so the
// tuner may choose either without changing a picture.
// Layouts as conv2d_tiled.wgsl: x [in_c][in_h / UP][in_w / UP]; w [k_h][k_w][in_c][out_c4]
// vec4; b [out_c4] vec4; y [out_c][out_h][out_w]; in_map [in_c] vec4 (mean, scale, beta, 0).

// Invocations along the row and across channel groups.
override WG_PX: u32 = 16u;
override WG_CO: u32 = 4u;
// Output pixels (1..=8) and vec4 channel groups (1..=4) per invocation, at most 16 together.
override TILE_PX: u32 = 4u;
override TILE_CO4: u32 = 2u;
// Kernel width (<= 9), stride (1 or 2), input channels staged per step.
override K_W: u32 = 3u;
override STRIDE: u32 = 1u;
override CB: u32 = 8u;
override IN_MAP: bool = false;
override IN_ACT: u32 = 0u;
override UP: u32 = 1u;

override BM: u32 = WG_PX * TILE_PX;
override BN4: u32 = WG_CO * TILE_CO4;
override WIN: u32 = (BM - 1u) * STRIDE + K_W;

struct Params {
    in_c: u32, in_h: u32, in_w: u32, out_c: u32,
    out_h: u32, out_w: u32, pad_t: u32, pad_l: u32,
    reflect: u32, groups: u32, act: u32, has_bias: u32,
    out_c4: u32, stride: u32, k_h: u32, k_w: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> in_map: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// The launcher keeps CB * WIN and CB * K_W * BN4 within these (15 KiB together, under
// WebGPU's 16 KiB of workgroup memory).
const XS_LEN: u32 = 1536u;
const WS_LEN: u32 = 576u;
var<workgroup> xs: array<f32, XS_LEN>;
var<workgroup> ws: array<vec4<f32>, WS_LEN>;

// The stored input value at i, through the channel's map when IN_MAP.
fn load(i: u32, sm: vec4<f32>) -> f32 {
    if (IN_MAP) { return activate(fma(x[i] - sm.x, sm.y, sm.z), IN_ACT); }
    return x[i];
}

@compute @workgroup_size(WG_PX, WG_CO, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let threads = WG_PX * WG_CO;
    let ox_base = wid.x * BM;
    let oy = wid.y;
    let c4_base = wid.z * BN4;
    let reflect = p.reflect != 0u;
    let in_w = p.in_w / UP;
    let plane = (p.in_h / UP) * in_w;
    let ix0 = i32(ox_base * STRIDE) - i32(p.pad_l);
    var acc: array<vec4<f32>, 16>;
    for (var ky = 0u; ky < p.k_h; ky++) {
        let iy = src_index(i32(oy * STRIDE + ky) - i32(p.pad_t), i32(p.in_h), reflect);
        // The same for the whole workgroup (one output row): barriers stay uniform.
        if (iy < 0) { continue; }
        let row = (u32(iy) / UP) * in_w;
        for (var ci0 = 0u; ci0 < p.in_c; ci0 += CB) {
            let nc = min(CB, p.in_c - ci0);
            workgroupBarrier();
            for (var t = li; t < nc * WIN; t += threads) {
                let c = t / WIN;
                let s = src_index(ix0 + i32(t % WIN), i32(p.in_w), reflect);
                var sm = vec4<f32>(); if (IN_MAP) { sm = in_map[ci0 + c]; }
                xs[t] = load((ci0 + c) * plane + row + u32(max(s, 0)) / UP, sm) * select(1.0, 0.0, s < 0);
            }
            for (var t = li; t < nc * K_W * BN4; t += threads) {
                let n4 = t % BN4;
                let kx = t / BN4 % K_W;
                let c = t / (BN4 * K_W);
                var v = vec4<f32>();
                if (c4_base + n4 < p.out_c4) {
                    v = w[((ky * K_W + kx) * p.in_c + ci0 + c) * p.out_c4 + c4_base + n4];
                }
                ws[(c * K_W + kx) * BN4 + n4] = v;
            }
            workgroupBarrier();
            for (var c = 0u; c < nc; c++) {
                for (var kx = 0u; kx < K_W; kx++) {
                    let wbase = (c * K_W + kx) * BN4 + lid.y * TILE_CO4;
                    for (var q = 0u; q < TILE_PX; q++) {
                        let xv = vec4(xs[c * WIN + (lid.x + q * WG_PX) * STRIDE + kx]);
                        for (var j = 0u; j < TILE_CO4; j++) {
                            acc[q * TILE_CO4 + j] = fma(xv, ws[wbase + j], acc[q * TILE_CO4 + j]);
                        }
                    }
                }
            }
        }
    }
    let out_plane = p.out_h * p.out_w;
    for (var q = 0u; q < TILE_PX; q++) {
        let ox = ox_base + lid.x + q * WG_PX;
        for (var j = 0u; j < TILE_CO4; j++) {
            let c4 = c4_base + lid.y * TILE_CO4 + j;
            if (ox >= p.out_w || oy >= p.out_h || c4 >= p.out_c4) { continue; }
            let v = activate4(acc[q * TILE_CO4 + j] + b[c4], p.act);
            for (var l = 0u; l < 4u; l++) {
                let co = c4 * 4u + l;
                if (co < p.out_c) {
                    y[co * out_plane + oy * p.out_w + ox] = v[l];
                }
            }
        }
    }
}
