// instance_norm: per-channel normalisation, y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c.
//
// Two entry points. `stats`: one workgroup of 256 threads per channel (workgroup_id.x = c)
// computes the channel's mean, then its (biased) variance around that mean, each as strided
// per-thread partial sums reduced in workgroup memory; writes stats[2c] = mean,
// stats[2c + 1] = variance. The two passes avoid the cancellation of E[x^2] - E[x]^2.
// `apply`: one thread per element normalises it, applies gamma/beta (plain affine instance
// norm and conditional instance norm differ only in where gamma and beta come from) and the
// fused activation. Keeping statistics separate lets a tiled run compute them once for the
// whole image. Layout: x, y [C][H][W]; gamma, beta [C]; stats [C][2].

struct Params {
    channels: u32,
    plane: u32,
    act: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn stats_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wg.x;
    let lid = lid3.x;
    // Uniform control flow: every thread of the workgroup takes the same path.
    if (c >= p.channels) {
        return;
    }
    let base = c * p.plane;
    var s = 0.0;
    for (var i = lid; i < p.plane; i += WG) {
        s += x[base + i];
    }
    let mean = workgroup_sum(lid, s) / f32(p.plane);
    var q = 0.0;
    for (var i = lid; i < p.plane; i += WG) {
        let d = x[base + i] - mean;
        q = fma(d, d, q);
    }
    let variance = workgroup_sum(lid, q) / f32(p.plane);
    if (lid == 0u) {
        stats[2u * c] = mean;
        stats[2u * c + 1u] = variance;
    }
}
