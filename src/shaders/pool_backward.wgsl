// pool2d_backward: gradient of pool.wgsl with respect to its input. `main`: one thread per input
// element (x = column, y = row, z = channel), which gathers from the output windows that
// contain it: for average pooling grad_out / (k * k) each; for max pooling grad_out where it
// is the window's first maximum (recomputed from the forward input, the same tie rule as the
// forward's running max), else 0. `windows_main`, for windows that do not overlap (stride =
// k, VGG's 2x2 / 2): one thread per window, which finds its maximum once and writes all k * k
// of its elements (and the elements no window covers, past the last whole window, as 0) where
// `main` had each element rescan its window; the same values.

struct Params {
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    channels: u32,
    k: u32,
    stride: u32,
    mode: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> grad_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_in: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ix = gid.x;
    let iy = gid.y;
    let c = gid.z;
    if (ix >= p.in_w || iy >= p.in_h || c >= p.channels) {
        return;
    }
    let base = c * p.in_h * p.in_w;
    let me = iy * p.in_w + ix;
    var g = 0.0;
    // Output windows containing (iy, ix): oy * stride <= iy < oy * stride + k.
    let oy_lo = select(0u, (iy + 1u - p.k + p.stride - 1u) / p.stride, iy + 1u >= p.k);
    let ox_lo = select(0u, (ix + 1u - p.k + p.stride - 1u) / p.stride, ix + 1u >= p.k);
    for (var oy = oy_lo; oy <= iy / p.stride && oy < p.out_h; oy++) {
        for (var ox = ox_lo; ox <= ix / p.stride && ox < p.out_w; ox++) {
            let go = grad_out[(c * p.out_h + oy) * p.out_w + ox];
            if (p.mode == 1u) {
                g += go / f32(p.k * p.k);
            } else {
                // First maximum of the window, in the forward's scan order.
                var best = -3.0e38;
                var arg = 0u;
                for (var ky = 0u; ky < p.k; ky++) {
                    for (var kx = 0u; kx < p.k; kx++) {
                        let j = (oy * p.stride + ky) * p.in_w + ox * p.stride + kx;
                        let v = x[base + j];
                        if (v > best) {
                            best = v;
                            arg = j;
                        }
                    }
                }
                if (arg == me) {
                    g += go;
                }
            }
        }
    }
    grad_in[base + me] = g;
}

@compute @workgroup_size(256, 1, 1)
fn windows_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = p.k;
    // Cells of k x k covering the input: the output's windows, then the uncovered rest.
    let cells_w = (p.in_w + k - 1u) / k;
    let cells_h = (p.in_h + k - 1u) / k;
    let i = linear_index(gid, nwg);
    if (i >= cells_w * cells_h * p.channels) {
        return;
    }
    let cx = i % cells_w;
    let cy = i / cells_w % cells_h;
    let c = i / (cells_w * cells_h);
    let base = c * p.in_h * p.in_w;
    let window = cy < p.out_h && cx < p.out_w;
    var go = 0.0;
    var arg = 0xffffffffu;
    if (window) {
        go = grad_out[(c * p.out_h + cy) * p.out_w + cx];
        if (p.mode != 1u) {
            // First maximum of the window, in the forward's scan order.
            var best = -3.0e38;
            for (var ky = 0u; ky < k; ky++) {
                for (var kx = 0u; kx < k; kx++) {
                    let j = (cy * k + ky) * p.in_w + cx * k + kx;
                    let v = x[base + j];
                    if (v > best) {
                        best = v;
                        arg = j;
                    }
                }
            }
        }
    }
    for (var ky = 0u; ky < k; ky++) {
        for (var kx = 0u; kx < k; kx++) {
            let yy = cy * k + ky;
            let xx = cx * k + kx;
            if (yy < p.in_h && xx < p.in_w) {
                let j = yy * p.in_w + xx;
                var g = 0.0;
                if (window && p.mode == 1u) {
                    g += go / f32(k * k);
                } else if (j == arg) {
                    g += go;
                }
                grad_in[base + j] = g;
            }
        }
    }
}
