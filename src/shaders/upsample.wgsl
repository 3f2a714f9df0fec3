// upsample_nearest: y[c][oy][ox] = x[c][oy / factor][ox / factor], one thread per output
// element (x = output column, y = output row, z = channel). `backward`: the gradient with
// respect to x, gx[c][iy][ix] = the sum of gy over the factor x factor block x[c][iy][ix] was
// copied to, one thread per input element (bindings: x = gy, y = gx). `dilate`: zeros inserted
// between the values, y[c][f i][f j] = x[c][i][j] and 0 elsewhere (also after the last row and
// column, up to the output size: the first step of a strided convolution's input gradient);
// one thread per output element.

struct Params {
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    channels: u32,
    factor: u32,
    _pad0: u32,
    _pad1: u32,
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
    let v = x[(c * p.in_h + oy / p.factor) * p.in_w + ox / p.factor];
    y[(c * p.out_h + oy) * p.out_w + ox] = v;
}

@compute @workgroup_size(8, 8, 1)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ix = gid.x;
    let iy = gid.y;
    let c = gid.z;
    if (ix >= p.in_w || iy >= p.in_h || c >= p.channels) {
        return;
    }
    var s = 0.0;
    for (var dy = 0u; dy < p.factor; dy++) {
        let row = (c * p.out_h + iy * p.factor + dy) * p.out_w + ix * p.factor;
        for (var dx = 0u; dx < p.factor; dx++) {
            s += x[row + dx];
        }
    }
    y[(c * p.in_h + iy) * p.in_w + ix] = s;
}

@compute @workgroup_size(8, 8, 1)
fn dilate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox = gid.x;
    let oy = gid.y;
    let c = gid.z;
    if (ox >= p.out_w || oy >= p.out_h || c >= p.channels) {
        return;
    }
    var v = 0.0;
    let iy = oy / p.factor;
    let ix = ox / p.factor;
    if (oy % p.factor == 0u && ox % p.factor == 0u && iy < p.in_h && ix < p.in_w) {
        v = x[(c * p.in_h + iy) * p.in_w + ix];
    }
    y[(c * p.out_h + oy) * p.out_w + ox] = v;
}
