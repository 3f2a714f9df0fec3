// instance_norm_apply: y = (x - mean_c) * inverseSqrt(var_c + eps) * gamma_c + beta_c, then the
// fused activation. One thread per element; the linear index is rebuilt from num_workgroups so
// that large tensors can spread their workgroups over x and y. Layout: x, y [C][H][W];
// stats [C][2] (mean, variance) from instance_norm.wgsl; gamma, beta [C].

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
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.channels * p.plane) {
        return;
    }
    let c = i / p.plane;
    let inv = inverseSqrt(stats[2u * c + 1u] + p.eps);
    let v = (x[i] - stats[2u * c]) * inv * gamma[c] + beta[c];
    y[i] = activate(v, p.act);
}
