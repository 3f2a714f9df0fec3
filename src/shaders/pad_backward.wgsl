// pad_backward: the gradient of padding, from the gradient gp of a padded tensor
// [C][in_h][in_w] (in_h = out_h + pad_t + pad_b) to that of the unpadded one [C][out_h][out_w].
// Zero padding: the interior (a crop). Reflection padding (mirrored without repeating the
// edge, as common.wgsl's src_index reads it): each output pixel also collects the padded
// positions that mirror it, at most one above/left and one below/right of it per axis, so
// up to 3 x 3 positions. One thread per output element (x = column, y = row, z = channel).

struct Params {
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    channels: u32,
    pad_t: u32,
    pad_l: u32,
    reflect: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> gp: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;

// The padded positions along one axis (of n values, padded by `before`, `len` padded values
// in all) that read unpadded index i; -1 where there is none.
fn sources(i: i32, n: i32, before: i32, len: i32, reflect: bool) -> vec3<i32> {
    var s = vec3<i32>(i + before, -1, -1);
    if (reflect) {
        // Above: padded j < before reads -(j - before) = i, so j = before - i (i >= 1).
        if (i >= 1 && before - i >= 0) { s.y = before - i; }
        // Below: padded j reads 2 (n - 1) - (j - before) = i, so j = before + 2 (n - 1) - i.
        let j = before + 2 * (n - 1) - i;
        if (i < n - 1 && j < len) { s.z = j; }
    }
    return s;
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox = gid.x;
    let oy = gid.y;
    let c = gid.z;
    if (ox >= p.out_w || oy >= p.out_h || c >= p.channels) {
        return;
    }
    let reflect = p.reflect != 0u;
    let ys = sources(i32(oy), i32(p.out_h), i32(p.pad_t), i32(p.in_h), reflect);
    let xs = sources(i32(ox), i32(p.out_w), i32(p.pad_l), i32(p.in_w), reflect);
    var s = 0.0;
    for (var a = 0u; a < 3u; a++) {
        if (ys[a] < 0) { continue; }
        for (var b = 0u; b < 3u; b++) {
            if (xs[b] < 0) { continue; }
            s += gp[(c * p.in_h + u32(ys[a])) * p.in_w + u32(xs[b])];
        }
    }
    gx[(c * p.out_h + oy) * p.out_w + ox] = s;
}
