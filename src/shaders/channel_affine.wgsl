// channel_affine: y = fa(a) + fb(b), where each side is read as stored or through its
// per-channel map f(v) = act((v - mean_c) * scale_c + beta_c) (an instance norm's apply with its
// activation, folded into the op that reads it), and the b side is absent when has_b is 0.
// One thread per element; the linear index is rebuilt from num_workgroups so that large
// tensors can spread their workgroups over x and y. Layout: a, b, y [C][H][W]; ma, mb [C][4]
// (mean, scale, beta, 0) from instance_norm.wgsl's `coeffs_main`, bound only to be read when mapped.
// `main_v4` does the same four elements a thread, read and written as vec4s, where the plane is
// whole vec4s (so each vec4 lies in one channel): the same operations on each element, so the
// same bits, with a quarter of the loads and stores (lavapipe runs each lane's load apart).

struct Params {
    channels: u32,
    plane: u32,
    // Bit 0: a is mapped; bit 1: b is mapped; bit 2: b is present.
    flags: u32,
    // The maps' activations (the codes of `activate`): a's in bits 0-7, b's in bits 8-15.
    acts: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> ma: array<f32>;
@group(0) @binding(4) var<storage, read> mb: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
// main_v4's views of the same buffers (bindings are per entry point).
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4<f32>>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.channels * p.plane) {
        return;
    }
    let c = i / p.plane;
    var v = a[i];
    if ((p.flags & 1u) != 0u) {
        v = activate(fma(v - ma[4u * c], ma[4u * c + 1u], ma[4u * c + 2u]), p.acts & 0xffu);
    }
    if ((p.flags & 4u) != 0u) {
        var u = b[i];
        if ((p.flags & 2u) != 0u) {
            u = activate(fma(u - mb[4u * c], mb[4u * c + 1u], mb[4u * c + 2u]), (p.acts >> 8u) & 0xffu);
        }
        v += u;
    }
    y[i] = v;
}

@compute @workgroup_size(256, 1, 1)
fn main_v4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.channels * p.plane / 4u) {
        return;
    }
    let c = 4u * i / p.plane;
    var v = a4[i];
    if ((p.flags & 1u) != 0u) {
        v = activate4(fma(v - ma[4u * c], vec4(ma[4u * c + 1u]), vec4(ma[4u * c + 2u])), p.acts & 0xffu);
    }
    if ((p.flags & 4u) != 0u) {
        var u = b4[i];
        if ((p.flags & 2u) != 0u) {
            u = activate4(fma(u - mb[4u * c], vec4(mb[4u * c + 1u]), vec4(mb[4u * c + 2u])), (p.acts >> 8u) & 0xffu);
        }
        v += u;
    }
    y4[i] = v;
}
