// im2col: a convolution's input windows as the rows of a matrix, y [rows][cols]: row r holds
// the window under output pixel `first + r` (row-major over the output plane), column
// m = (ky * k_w + kx) * channels + c its value x_padded[c, oy * stride + ky, ox * stride + kx]
// (zero or mirrored padding, as the convolution pads), so that a window's columns come in the
// order of the tiled convolution's weight layout [k_h][k_w][in_c]. Column taps = channels * k_h *
// k_w is 1 where `ones` is set (a bias's column of a matrix product) and every column after the
// taps 0 (the product's channel blocks). One thread per kernel position of a row, which
// copies that position's channels (then one a row for the columns after the taps): the
// divisions that locate a value are done once per position, not per value (lavapipe runs a
// vector of integer divisions lane by lane; one thread a value ran 6x slower).

struct Params {
    channels: u32,
    in_h: u32,
    in_w: u32,
    out_w: u32,
    k_h: u32,
    k_w: u32,
    stride: u32,
    pad_t: u32,
    pad_l: u32,
    reflect: u32,
    first: u32,
    rows: u32,
    cols: u32,
    ones: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    let positions = p.k_h * p.k_w;
    if (i >= p.rows * (positions + 1u)) {
        return;
    }
    let t = i % (positions + 1u);
    let row = i / (positions + 1u) * p.cols;
    let taps = positions * p.channels;
    if (t == positions) {
        for (var m = taps; m < p.cols; m++) {
            y[row + m] = select(0.0, 1.0, m == taps && p.ones != 0u);
        }
        return;
    }
    let pixel = p.first + i / (positions + 1u);
    let oy = pixel / p.out_w;
    let ox = pixel % p.out_w;
    let reflect = p.reflect != 0u;
    let iy = src_index(i32(oy * p.stride + t / p.k_w) - i32(p.pad_t), i32(p.in_h), reflect);
    let ix = src_index(i32(ox * p.stride + t % p.k_w) - i32(p.pad_l), i32(p.in_w), reflect);
    let at = row + t * p.channels;
    let plane = p.in_h * p.in_w;
    let src = u32(max(iy, 0)) * p.in_w + u32(max(ix, 0));
    let inside = iy >= 0 && ix >= 0;
    for (var c = 0u; c < p.channels; c++) {
        y[at + c] = select(0.0, x[c * plane + src], inside);
    }
}
