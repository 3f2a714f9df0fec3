// Combines per-tile instance-norm statistics ([C, 2]: mean, biased variance over n_t pixels)
// into whole-image statistics in `acc` ([C, 2]), tile by tile (one dispatch each), in two
// sweeps so the variance never subtracts large squares:
//   modes 0 (first tile) / 1:  acc.mean = sum_t w_t mean_t
//   modes 2 (first tile) / 3:  acc.var  = sum_t w_t (var_t + (mean_t - acc.mean)^2)
// with w_t = n_t / N.

struct Params {
    channels: u32,
    mode: u32,
    weight: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.channels) {
        return;
    }
    let m = s[2u * c];
    let v = s[2u * c + 1u];
    if (p.mode <= 1u) {
        var a = 0.0;
        if (p.mode == 1u) {
            a = acc[2u * c];
        }
        acc[2u * c] = a + p.weight * m;
    } else {
        var a = 0.0;
        if (p.mode == 3u) {
            a = acc[2u * c + 1u];
        }
        let d = m - acc[2u * c];
        acc[2u * c + 1u] = a + p.weight * (v + d * d);
    }
}
