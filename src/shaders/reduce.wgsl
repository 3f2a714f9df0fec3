// reduce: sum-type reductions of a whole tensor to one value, in two dispatches.
//
// `partial`: workgroup w (256 threads) reduces elements [w * chunk, (w + 1) * chunk) with
// strided per-thread sums and a tree in workgroup memory, writing partials[w]. The summand
// is chosen by `mode`: 0 a[i], 1 (a[i] - b[i])^2, 2 a[i]^2, 3 total variation of a planar
// [C, height, width] tensor: (a[i] - a[right])^2 + (a[i] - a[below])^2 for every pixel that has
// both neighbours (Gatys / neural-style's TV term before its 0.5 factor).
// `finish`: one workgroup sums the partials and writes out[0] = scale * total (scale = 1/n
// gives a mean). Pairwise summation keeps the error near log2(n) ulps, not n.

struct Params {
    n: u32,
    chunk: u32,
    mode: u32,
    parts: u32,
    scale: f32,
    width: u32,
    height: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let start = wg.x * p.chunk;
    let end = min(start + p.chunk, p.n);
    var s = 0.0;
    for (var i = start + lid; i < end; i += WG) {
        let v = a[i];
        switch p.mode {
            case 1u: {
                let d = v - b[i];
                s = fma(d, d, s);
            }
            case 2u: { s = fma(v, v, s); }
            case 3u: {
                let x = i % p.width;
                let y = (i / p.width) % p.height;
                if (x + 1u < p.width && y + 1u < p.height) {
                    let dx = v - a[i + 1u];
                    let dy = v - a[i + p.width];
                    s = fma(dx, dx, fma(dy, dy, s));
                }
            }
            default: { s += v; }
        }
    }
    let total = workgroup_sum(lid, s);
    if (lid == 0u) {
        partials[wg.x] = total;
    }
}
