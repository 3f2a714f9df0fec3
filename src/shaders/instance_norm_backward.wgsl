// instance_norm_backward: the gradients of y = gamma_c * xhat + beta_c, xhat = (x - mean_c) /
// sqrt(var_c + eps) with the statistics of x itself, from gy = dL/dy (before any activation:
// its backward comes first). One workgroup of 256 threads per channel (workgroup_id.x = c):
//   dgamma_c = sum(gy * xhat), dbeta_c = sum(gy)   (strided partial sums, one workgroup_sum each)
//   gx = gamma_c / sqrt(var_c + eps) * (gy - dbeta_c / N - xhat * dgamma_c / N), N = H * W.
// Layout: x, gy, gx [C][H][W]; stats [C][2] (mean, biased variance); gamma [C];
// dparams [C][2] (dgamma, dbeta).

struct Params {
    channels: u32,
    plane: u32,
    act: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;
@group(0) @binding(6) var<storage, read_write> dparams: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wg.x;
    let lid = lid3.x;
    // Uniform control flow: every thread of the workgroup takes the same path.
    if (c >= p.channels) {
        return;
    }
    let base = c * p.plane;
    let mean = stats[2u * c];
    let inv_std = inverseSqrt(stats[2u * c + 1u] + p.eps);
    var sg = 0.0;
    var sgx = 0.0;
    for (var i = lid; i < p.plane; i += WG) {
        let g = gy[base + i];
        sg += g;
        sgx = fma(g, (x[base + i] - mean) * inv_std, sgx);
    }
    let dbeta = workgroup_sum(lid, sg);
    let dgamma = workgroup_sum(lid, sgx);
    let n = f32(p.plane);
    let k = gamma[c] * inv_std;
    for (var i = lid; i < p.plane; i += WG) {
        let xhat = (x[base + i] - mean) * inv_std;
        gx[base + i] = k * (gy[base + i] - dbeta / n - xhat * dgamma / n);
    }
    if (lid == 0u) {
        dparams[2u * c] = dgamma;
        dparams[2u * c + 1u] = dbeta;
    }
}
