// optim: the optimisers of Gatys' run, with all their state on the GPU (gatys/optim.rs).
//
// `state` is a small f32 array shared by the kernels of one optimiser (integers are stored as
// f32, exact far beyond any iteration count):
//   [0] newest history slot   [1] pairs in the history   [2] H0 scale (y.s / y.y)
//   [3] step length t         [4] y.s of the candidate    [5] 1 if the candidate was kept
//   [6] coefficient for the next axpy                     [7] Adam's step count
//   [16 .. 16+m] rho_i = 1 / (y_i . s_i)     [16+m .. 16+2m] alpha_i of the two-loop recursion
// The history S, Y is [m, n]: slot k holds s_k (or y_k) at [k * n, (k + 1) * n). Position p of
// the recursion (0 = newest) is slot (newest + m - p) % m, read from `state` at run time, so one
// recorded plan serves every iteration. Element-wise entries use one thread per element
// (index rebuilt from num_workgroups); `dot_partial` / `dot_finish` reduce in two stages.

struct Params {
    n: u32,
    m: u32,
    pos: u32,
    mode: u32,
    a_hist: u32,
    b_hist: u32,
    dst: u32,
    parts: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

const NEWEST: u32 = 0u;
const COUNT: u32 = 1u;
const HDIAG: u32 = 2u;
const STEP: u32 = 3u;
const YS: u32 = 4u;
const VALID: u32 = 5u;
const COEF: u32 = 6u;
const ADAM_T: u32 = 7u;
const RO: u32 = 16u;

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> p: Params;

// ---- dot products: partials[w] = sum over i = w*WG + lid (stride parts*WG) of a[i] * b[i]
// (mode 1: |a[i]|), a and b optionally read at history position `pos`.

@group(0) @binding(1) var<storage, read> dp_state: array<f32>;
@group(0) @binding(2) var<storage, read> dp_a: array<f32>;
@group(0) @binding(3) var<storage, read> dp_b: array<f32>;
@group(0) @binding(4) var<storage, read_write> dp_partials: array<f32>;


fn slot_of(newest: f32, pos: u32) -> u32 {
    return (u32(newest) + p.m - pos) % p.m;
}

@compute @workgroup_size(256, 1, 1)
fn dot_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let slot = slot_of(dp_state[NEWEST], p.pos);
    let ao = select(0u, slot * p.n, p.a_hist == 1u);
    let bo = select(0u, slot * p.n, p.b_hist == 1u);
    var acc = 0.0;
    for (var i = wid.x * WG + lid; i < p.n; i += p.parts * WG) {
        if (p.mode == 1u) {
            acc += abs(dp_a[ao + i]);
        } else {
            acc += dp_a[ao + i] * dp_b[bo + i];
        }
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        dp_partials[wid.x] = total;
    }
}

// ---- dot_finish: one workgroup sums the partials into s, then thread 0 applies `mode`:
// 0 state[dst] = s; 1 first L-BFGS step t = min(1, 1/s) * lr (s = |g|_1);
// 2 history update (s = y.y, state[YS] = y.s): keep the pair when y.s > 1e-10, as torch's
//   lbfgs does, and set t = lr for the steps after the first;
// 3 alpha at position pos (s = s_p . q); 4 beta at position pos (s = y_p . r).

@group(0) @binding(1) var<storage, read_write> df_state: array<f32>;
@group(0) @binding(2) var<storage, read> df_partials: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn dot_finish(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var i = lid; i < p.parts; i += WG) {
        acc += df_partials[i];
    }
    let s = workgroup_sum(lid, acc);
    if (lid != 0u) {
        return;
    }
    let count = u32(df_state[COUNT]);
    let al = RO + p.m;
    switch p.mode {
        case 0u: {
            df_state[p.dst] = s;
        }
        case 1u: {
            df_state[STEP] = min(1.0, 1.0 / s) * p.lr;
        }
        case 2u: {
            let ys = df_state[YS];
            if (ys > 1e-10) {
                let newest = (u32(df_state[NEWEST]) + 1u) % p.m;
                df_state[NEWEST] = f32(newest);
                df_state[COUNT] = f32(min(count + 1u, p.m));
                df_state[RO + newest] = 1.0 / ys;
                df_state[HDIAG] = ys / s;
                df_state[VALID] = 1.0;
            } else {
                df_state[VALID] = 0.0;
            }
            df_state[STEP] = p.lr;
        }
        case 3u: {
            let slot = slot_of(df_state[NEWEST], p.pos);
            if (p.pos < count) {
                let a = df_state[RO + slot] * s;
                df_state[al + slot] = a;
                df_state[COEF] = -a;
            } else {
                df_state[COEF] = 0.0;
            }
        }
        default: {
            let slot = slot_of(df_state[NEWEST], p.pos);
            if (p.pos < count) {
                df_state[COEF] = df_state[al + slot] - df_state[RO + slot] * s;
            } else {
                df_state[COEF] = 0.0;
            }
        }
    }
}

// ---- lbfgs_candidate: s_new = t * d (the last step taken), y_new = g - g_old.

@group(0) @binding(1) var<storage, read> ca_state: array<f32>;
@group(0) @binding(2) var<storage, read> ca_d: array<f32>;
@group(0) @binding(3) var<storage, read> ca_g: array<f32>;
@group(0) @binding(4) var<storage, read> ca_g_old: array<f32>;
@group(0) @binding(5) var<storage, read_write> ca_s: array<f32>;
@group(0) @binding(6) var<storage, read_write> ca_y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn lbfgs_candidate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    ca_s[i] = ca_state[STEP] * ca_d[i];
    ca_y[i] = ca_g[i] - ca_g_old[i];
}

// ---- lbfgs_commit: copy the candidate into the newest slot if it was kept.

@group(0) @binding(1) var<storage, read> co_state: array<f32>;
@group(0) @binding(2) var<storage, read> co_s: array<f32>;
@group(0) @binding(3) var<storage, read> co_y: array<f32>;
@group(0) @binding(4) var<storage, read_write> co_hist_s: array<f32>;
@group(0) @binding(5) var<storage, read_write> co_hist_y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn lbfgs_commit(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n || co_state[VALID] != 1.0) {
        return;
    }
    let o = u32(co_state[NEWEST]) * p.n;
    co_hist_s[o + i] = co_s[i];
    co_hist_y[o + i] = co_y[i];
}

// ---- lbfgs_direction: d = -g and g_old = g.

@group(0) @binding(1) var<storage, read> di_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> di_d: array<f32>;
@group(0) @binding(3) var<storage, read_write> di_g_old: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn lbfgs_direction(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let g = di_g[i];
    di_d[i] = -g;
    di_g_old[i] = g;
}

// ---- lbfgs_scale: d *= H0 scale. lbfgs_axpy: d += coef * v[position pos].
// lbfgs_step: x += t * d.

@group(0) @binding(1) var<storage, read> ax_state: array<f32>;
@group(0) @binding(2) var<storage, read> ax_v: array<f32>;
@group(0) @binding(3) var<storage, read_write> ax_d: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn lbfgs_axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let o = select(0u, slot_of(ax_state[NEWEST], p.pos) * p.n, p.a_hist == 1u);
    ax_d[i] += ax_state[p.dst] * ax_v[o + i];
}

@group(0) @binding(1) var<storage, read> sc_state: array<f32>;
@group(0) @binding(2) var<storage, read_write> sc_d: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn lbfgs_scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    sc_d[i] *= sc_state[HDIAG];
}

// ---- adam: one step of Adam (Kingma & Ba) with bias correction, as torch.optim.Adam; the
// step count comes from state[ADAM_T] (+1), which adam_tick then advances.

@group(0) @binding(1) var<storage, read> ad_state: array<f32>;
@group(0) @binding(2) var<storage, read> ad_g: array<f32>;
@group(0) @binding(3) var<storage, read_write> ad_m: array<f32>;
@group(0) @binding(4) var<storage, read_write> ad_v: array<f32>;
@group(0) @binding(5) var<storage, read_write> ad_x: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.n) {
        return;
    }
    let t = ad_state[ADAM_T] + 1.0;
    let g = ad_g[i];
    let m = p.beta1 * ad_m[i] + (1.0 - p.beta1) * g;
    let v = p.beta2 * ad_v[i] + (1.0 - p.beta2) * g * g;
    ad_m[i] = m;
    ad_v[i] = v;
    let m_hat = m / (1.0 - pow(p.beta1, t));
    let v_hat = v / (1.0 - pow(p.beta2, t));
    ad_x[i] -= p.lr * m_hat / (sqrt(v_hat) + p.eps);
}

@group(0) @binding(1) var<storage, read_write> tk_state: array<f32>;

@compute @workgroup_size(1, 1, 1)
fn adam_tick() {
    // (Reads p so that the uniform stays in the pipeline's layout.)
    tk_state[ADAM_T] += select(1.0, 1.0, p.n == 0u);
}
