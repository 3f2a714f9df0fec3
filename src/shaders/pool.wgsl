// pool2d: max or average pooling over k x k windows with a stride, no padding, output size
// floor((in - k) / stride) + 1 (PyTorch's default). One thread per output element
// (x = output column, y = output row, z = channel). mode 0 = max, 1 = average.

struct Params {
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    channels: u32,
    k: u32,
    stride: u32,
    mode: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox = gid.x;
    let oy = gid.y;
    let c = gid.z;
    if (ox >= p.out_w || oy >= p.out_h || c >= p.channels) {
        return;
    }
    let base = c * p.in_h * p.in_w;
    var m = -3.0e38;
    var s = 0.0;
    for (var ky = 0u; ky < p.k; ky++) {
        let row = base + (oy * p.stride + ky) * p.in_w + ox * p.stride;
        for (var kx = 0u; kx < p.k; kx++) {
            let v = x[row + kx];
            m = max(m, v);
            s += v;
        }
    }
    let out = select(m, s / f32(p.k * p.k), p.mode == 1u);
    y[(c * p.out_h + oy) * p.out_w + ox] = out;
}
