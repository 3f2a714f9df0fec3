// instance_norm: per-channel normalisation, y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c.
//
// Statistics: one workgroup of 64 threads per channel (workgroup_id.x = c) reads the channel
// once, summing d = x - k and d^2 in strided per-thread partial sums reduced together in
// workgroup memory (6 barrier rounds: emulated GPUs run every barrier as a switch through all
// of the workgroup's invocations, and a 256-thread workgroup reducing two sums apart, 16 rounds,
// cost SwiftShader 0.3 ms a channel), with k = the channel's first value: mean = k + E[d], variance = E[d^2] - E[d]^2. The
// shift keeps the subtraction from cancelling: E[d]^2 is a few variances unless the first value
// lies far out (26 standard deviations out, on a plane of 1000 +- 0.7, the variance holds to
// 3e-4 relative, where unshifted sums miss it by 1 %), and the plane is read once where a mean
// pass and then a variance pass read it twice. Two entry points write them:
// `stats_main`: stats[2c] = mean, stats[2c + 1] = variance (kept separate from the apply so that
// a tiled run can combine them over the whole image, and for the backward);
// `coeffs_main`: the normalisation as a per-channel map for the next op to apply as it reads x (a
// convolution's loads, an addition), so the apply needs no pass of its own: coeffs[4c..4c + 4] =
// (mean_c, gamma_c / sqrt(var_c + eps), beta_c, 0), applied as (x - mean) * scale + beta, which
// rounds as the apply pass does (folding the mean into a shift, x * scale + (beta - mean *
// scale), would lose digits where the mean is large against the spread).
// Layout: x [C][H][W]; gamma, beta [C]; stats [C][2]; coeffs [C][4].

struct Params {
    channels: u32,
    plane: u32,
    act: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// stats_main's output.
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
// coeffs_main's inputs and output (bindings are per entry point: both may use 2).
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> coeffs: array<f32>;

const WG: u32 = 64u;

var<workgroup> pair_scratch: array<vec2<f32>, WG>;

// The sum of `v` over the workgroup's invocations (`lid`: the local index), returned to every
// invocation. Call it once per invocation (the scratch is not cleared for another call), in
// uniform control flow.
fn workgroup_sum2(lid: u32, v: vec2<f32>) -> vec2<f32> {
    pair_scratch[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            pair_scratch[lid] += pair_scratch[lid + s];
        }
        workgroupBarrier();
    }
    return pair_scratch[0];
}

// (mean, biased variance) of channel c, returned to every thread of the workgroup.
fn channel_stats(c: u32, lid: u32) -> vec2<f32> {
    let base = c * p.plane;
    let k = x[base];
    var sq = vec2<f32>();
    for (var i = lid; i < p.plane; i += WG) {
        let d = x[base + i] - k;
        sq = vec2(sq.x + d, fma(d, d, sq.y));
    }
    let m = workgroup_sum2(lid, sq) / f32(p.plane);
    return vec2(k + m.x, max(m.y - m.x * m.x, 0.0));
}

@compute @workgroup_size(WG, 1, 1)
fn stats_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wg.x;
    // Uniform control flow: every thread of the workgroup takes the same path.
    if (c >= p.channels) {
        return;
    }
    let s = channel_stats(c, lid3.x);
    if (lid3.x == 0u) {
        stats[2u * c] = s.x;
        stats[2u * c + 1u] = s.y;
    }
}

@compute @workgroup_size(WG, 1, 1)
fn coeffs_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wg.x;
    if (c >= p.channels) {
        return;
    }
    let s = channel_stats(c, lid3.x);
    if (lid3.x == 0u) {
        coeffs[4u * c] = s.x;
        coeffs[4u * c + 1u] = gamma[c] * inverseSqrt(s.y + p.eps);
        coeffs[4u * c + 2u] = beta[c];
        coeffs[4u * c + 3u] = 0.0;
    }
}
