// tv_backward: the gradient of `scale * TV(x)` for x [C, H, W], where
// TV = sum over pixels (i, j) with i < H-1 and j < W-1 of
//      (x[i,j] - x[i,j+1])^2 + (x[i,j] - x[i+1,j])^2   (see reduce.wgsl, mode 3).
// One thread per element of x. Element (i, j) appears in up to three terms: as the left-upper
// pixel of its own term, as the right neighbour of (i, j-1), and as the lower neighbour of
// (i-1, j); it gathers the derivative of each.

struct Params {
    n: u32,
    width: u32,
    height: u32,
    _pad: u32,
    scale: f32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = linear_index(gid, nwg);
    if (k >= p.n) {
        return;
    }
    let w = p.width;
    let h = p.height;
    let j = k % w;
    let i = (k / w) % h;
    let v = x[k];
    var d = 0.0;
    if (i + 1u < h && j + 1u < w) {
        d += 2.0 * (v - x[k + 1u]) + 2.0 * (v - x[k + w]);
    }
    // Right neighbour of (i, j-1), whose own term exists when i < H-1 (and j-1 < W-1).
    if (j > 0u && i + 1u < h) {
        d -= 2.0 * (x[k - 1u] - v);
    }
    // Lower neighbour of (i-1, j), whose term exists when j < W-1.
    if (i > 0u && j + 1u < w) {
        d -= 2.0 * (x[k - w] - v);
    }
    g[k] = p.scale * d;
}
