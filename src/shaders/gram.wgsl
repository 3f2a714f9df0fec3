// gram: G = scale * F F^T for features F [C][N] (N = H * W), G [C][C].
//
// Thread (x, y) computes the 4 x 4 block of G at rows 4y.., columns 4x..: per k it loads four
// values of each of the two row groups and does 16 FMAs (half a load per FMA, against two for
// one output per thread). Rows past C are clamped on load and not stored.

struct Params {
    channels: u32,
    n: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> f: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.y * 4u;
    let j0 = gid.x * 4u;
    if (i0 >= p.channels || j0 >= p.channels) {
        return;
    }
    let last = p.channels - 1u;
    let ri = vec4<u32>(min(i0, last), min(i0 + 1u, last), min(i0 + 2u, last), min(i0 + 3u, last)) * p.n;
    let rj = vec4<u32>(min(j0, last), min(j0 + 1u, last), min(j0 + 2u, last), min(j0 + 3u, last)) * p.n;
    var acc: array<vec4<f32>, 4>;
    for (var k = 0u; k < p.n; k++) {
        let b = vec4(f[rj.x + k], f[rj.y + k], f[rj.z + k], f[rj.w + k]);
        acc[0] = fma(vec4(f[ri.x + k]), b, acc[0]);
        acc[1] = fma(vec4(f[ri.y + k]), b, acc[1]);
        acc[2] = fma(vec4(f[ri.z + k]), b, acc[2]);
        acc[3] = fma(vec4(f[ri.w + k]), b, acc[3]);
    }
    for (var a = 0u; a < 4u; a++) {
        let i = i0 + a;
        if (i < p.channels) {
            for (var c = 0u; c < 4u; c++) {
                let j = j0 + c;
                if (j < p.channels) {
                    g[i * p.channels + j] = acc[a][c] * p.scale;
                }
            }
        }
    }
}
