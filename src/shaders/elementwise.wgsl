// elementwise: one thread per element; the linear index is rebuilt from num_workgroups so large
// tensors can spread their workgroups over x and y.
//
// y = f(alpha * a + beta) with f chosen by `op`: 0 identity (scale and shift), 1 ReLU,
// 2 ReLU6, 3 sigmoid, 4 clamp to [lo, hi]. Two-input ops are in elementwise_binary.wgsl.

struct Params {
    n: u32,
    op: u32,
    alpha: f32,
    beta: f32,
    lo: f32,
    hi: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn apply(v: f32) -> f32 {
    switch p.op {
        case 1u: { return max(v, 0.0); }
        case 2u: { return clamp(v, 0.0, 6.0); }
        case 3u: { return 1.0 / (1.0 + exp(-v)); }
        case 4u: { return clamp(v, p.lo, p.hi); }
        default: { return v; }
    }
}

@compute @workgroup_size(256, 1, 1)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    y[i] = apply(fma(p.alpha, a[i], p.beta));
}
