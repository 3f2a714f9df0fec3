// conv2d_tiled: implicit-GEMM convolution with a register tile per invocation (groups = 1).
//
// Thread (gx, gy, gz) computes TILE_PX consecutive output pixels of row gy, starting at
// x = gx * TILE_PX, for the 4 * TILE_CO4 output channels starting at 4 * gz * TILE_CO4:
// TILE_PX x TILE_CO4 vec4 accumulators. For each kernel row and input channel it loads the
// input window that the tile's pixels share once ((TILE_PX - 1) * STRIDE + K_W values), then
// for each kernel column reads TILE_CO4 vec4 weights and does TILE_PX * TILE_CO4 vec4 FMAs,
// so loads per FMA fall as the tile grows. Kernel size, stride, tile shape and workgroup size
// are override constants (one cached pipeline each); shapes come from the uniform.
// Layouts: x [in_c][in_h][in_w]; w [K_H][K_W][in_c][out_c4] vec4 over output channels, padded
// with zeros to out_c4 = 4 * TILE_CO4 * (number of channel blocks); b [out_c4] vec4, zero-padded;
// y [out_c][out_h][out_w].

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;
override TILE_PX: u32 = 8u;
override TILE_CO4: u32 = 4u;
override K_H: u32 = 3u;
override K_W: u32 = 3u;
override STRIDE: u32 = 1u;

const MAX_PX: u32 = 16u;
const MAX_CO4: u32 = 4u;
const MAX_WIN: u32 = 40u;

struct Params {
    in_c: u32, in_h: u32, in_w: u32, out_c: u32,
    out_h: u32, out_w: u32, pad_t: u32, pad_l: u32,
    reflect: u32, groups: u32, act: u32, has_bias: u32,
    out_c4: u32, stride: u32, k_h: u32, k_w: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// Source index along one axis for a padded coordinate i, or -1 where zero padding applies.
fn src_index(i: i32, n: i32, reflect: bool) -> i32 {
    var j = i;
    if (j < 0) {
        if (!reflect) { return -1; }
        j = -j;
    }
    if (j >= n) {
        if (!reflect) { return -1; }
        j = 2 * (n - 1) - j;
    }
    return clamp(j, 0, n - 1);
}

fn activate4(v: vec4<f32>, act: u32) -> vec4<f32> {
    switch act {
        case 1u: { return max(v, vec4(0.0)); }
        case 2u: { return clamp(v, vec4(0.0), vec4(6.0)); }
        case 3u: { return 1.0 / (1.0 + exp(-v)); }
        default: { return v; }
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox0 = gid.x * TILE_PX;
    let oy = gid.y;
    let c4_0 = gid.z * TILE_CO4;
    if (ox0 >= p.out_w || oy >= p.out_h || c4_0 >= p.out_c4) {
        return;
    }
    let reflect = p.reflect != 0u;
    let win = (TILE_PX - 1u) * STRIDE + K_W;

    // Input columns of the window and their zero-padding masks, shared by all rows and channels.
    // Columns past the right edge of the last tile are clamped; their outputs are not stored.
    var wi: array<u32, MAX_WIN>;
    var wm: array<f32, MAX_WIN>;
    let ix0 = i32(ox0 * STRIDE) - i32(p.pad_l);
    for (var j = 0u; j < win; j++) {
        let s = src_index(ix0 + i32(j), i32(p.in_w), reflect);
        wi[j] = u32(max(s, 0));
        wm[j] = select(1.0, 0.0, s < 0);
    }

    var acc: array<array<vec4<f32>, MAX_CO4>, MAX_PX>;
    let plane = p.in_h * p.in_w;
    for (var ky = 0u; ky < K_H; ky++) {
        let iy = src_index(i32(oy * STRIDE + ky) - i32(p.pad_t), i32(p.in_h), reflect);
        if (iy < 0) { continue; }
        var xoff = u32(iy) * p.in_w;
        var woff = ky * K_W * p.in_c * p.out_c4 + c4_0;
        for (var ci = 0u; ci < p.in_c; ci++) {
            var xs: array<f32, MAX_WIN>;
            for (var j = 0u; j < win; j++) {
                xs[j] = x[xoff + wi[j]] * wm[j];
            }
            for (var kx = 0u; kx < K_W; kx++) {
                let wk = woff + kx * p.in_c * p.out_c4;
                for (var c = 0u; c < TILE_CO4; c++) {
                    let wv = w[wk + c];
                    for (var t = 0u; t < TILE_PX; t++) {
                        acc[t][c] = fma(vec4(xs[t * STRIDE + kx]), wv, acc[t][c]);
                    }
                }
            }
            xoff += plane;
            woff += p.out_c4;
        }
    }

    let out_plane = p.out_h * p.out_w;
    for (var c = 0u; c < TILE_CO4; c++) {
        let c4 = c4_0 + c;
        let bias = b[c4];
        for (var t = 0u; t < TILE_PX; t++) {
            let ox = ox0 + t;
            if (ox < p.out_w) {
                let v = activate4(acc[t][c] + bias, p.act);
                let base = oy * p.out_w + ox;
                for (var l = 0u; l < 4u; l++) {
                    let co = c4 * 4u + l;
                    if (co < p.out_c) {
                        y[co * out_plane + base] = v[l];
                    }
                }
            }
        }
    }
}
