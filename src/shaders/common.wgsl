// common.wgsl: helpers every kernel may use. The `kernel!` macro (src/ops/mod.rs) compiles
// each compute shader with this file in front of it; nothing here binds resources.

// The activation fused into a kernel's end (ops::Activation: 0 none, 1 ReLU, 2 ReLU6,
// 3 sigmoid).
fn activate(v: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return max(v, 0.0); }
        case 2u: { return clamp(v, 0.0, 6.0); }
        case 3u: { return 1.0 / (1.0 + exp(-v)); }
        default: { return v; }
    }
}

// The global id of invocation `li` (local_invocation_index) of workgroup `wid` in a
// one-dimensional workgroup of wg.x * wg.y * wg.z invocations standing for a (wg.x, wg.y, wg.z)
// one (x fastest, as local_invocation_index orders them). Kernels whose launch shapes the
// workgroup to small planes use it: lavapipe runs a workgroup as loops over z, y and x, x in
// steps of its SIMD width (8 lanes), so a workgroup narrower than 8 in x leaves lanes idle
// (a 1x8x8 one runs 8 of every 64 lanes), while a 1-D one of the same size fills them. Other
// GPUs order invocations by local_invocation_index either way.
fn grid_id(wid: vec3<u32>, li: u32, wg: vec3<u32>) -> vec3<u32> {
    return wid * wg + vec3(li % wg.x, li / wg.x % wg.y, li / (wg.x * wg.y));
}

// `activate` on four values at once.
fn activate4(v: vec4<f32>, act: u32) -> vec4<f32> {
    switch act {
        case 1u: { return max(v, vec4(0.0)); }
        case 2u: { return clamp(v, vec4(0.0), vec4(6.0)); }
        case 3u: { return 1.0 / (1.0 + exp(-v)); }
        default: { return v; }
    }
}

// Source index along one axis for a padded coordinate i of an axis of n values: mirrored
// (reflection padding, without repeating the edge) or -1 where zero padding applies.
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

// The element index of a one-dimensional launch of 256-thread workgroups spread over x and y
// (gpu::linear_workgroups), so that large tensors stay within the per-dimension limit.
fn linear_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

// The sum of `v` over the 256 invocations of a workgroup (`lid`: the local index), returned to
// every invocation; the reductions run 256-wide workgroups. Call it in uniform control flow.
var<workgroup> sum_scratch: array<f32, 256>;

fn workgroup_sum(lid: u32, v: f32) -> f32 {
    sum_scratch[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s / 2u) {
        if (lid < s) {
            sum_scratch[lid] += sum_scratch[lid + s];
        }
        workgroupBarrier();
    }
    let total = sum_scratch[0];
    // Nobody writes the scratch again before everyone has read the total.
    workgroupBarrier();
    return total;
}
