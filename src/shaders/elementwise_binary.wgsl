// elementwise_binary: y = f(alpha * a + beta * b), one thread per element, f as in
// elementwise.wgsl (0 identity, 1 ReLU, 2 ReLU6, 3 sigmoid, 4 clamp to [lo, hi]); and the
// activations' backward, a the output gradient and b the activation's output: op 5 ReLU
// (a where b > 0), op 6 ReLU6 (a where 0 < b < 6), op 7 sigmoid (a * b * (1 - b)).

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
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

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
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    switch p.op {
        case 5u: { y[i] = select(0.0, a[i], b[i] > 0.0); return; }
        case 6u: { y[i] = select(0.0, a[i], b[i] > 0.0 && b[i] < 6.0); return; }
        case 7u: { y[i] = a[i] * b[i] * (1.0 - b[i]); return; }
        default: {}
    }
    y[i] = apply(p.alpha * a[i] + p.beta * b[i]);
}
