// crop: y[c][oy][ox] = x[c][oy + y0][ox + x0], one thread per output element.

struct Params {
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    channels: u32,
    y0: u32,
    x0: u32,
    _pad: u32,
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
    y[(c * p.out_h + oy) * p.out_w + ox] = x[(c * p.in_h + oy + p.y0) * p.in_w + ox + p.x0];
}
