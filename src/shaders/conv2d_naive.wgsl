// conv2d_naive: the reference GPU convolution, one output value per invocation.
//
// Thread (x, y, z) computes output pixel (x, y) of output channel z. Handles every case the
// op supports (groups and depthwise, any stride, zero or reflection padding, bias, fused
// activation) with no tiling; the tiled kernel is checked against it and against the CPU.
// Layouts: x [in_c][in_h][in_w], w [out_c][in_c/groups][k_h][k_w] (OIHW), b [out_c],
// y [out_c][out_h][out_w].

struct Params {
    in_c: u32, in_h: u32, in_w: u32, out_c: u32,
    out_h: u32, out_w: u32, pad_t: u32, pad_l: u32,
    reflect: u32, groups: u32, act: u32, has_bias: u32,
    out_c4: u32, stride: u32, k_h: u32, k_w: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox = gid.x;
    let oy = gid.y;
    let co = gid.z;
    if (ox >= p.out_w || oy >= p.out_h || co >= p.out_c) {
        return;
    }
    let reflect = p.reflect != 0u;
    let cig = p.in_c / p.groups;
    let cog = p.out_c / p.groups;
    let g = co / cog;
    var acc = 0.0;
    for (var ci = 0u; ci < cig; ci++) {
        let cin = g * cig + ci;
        for (var ky = 0u; ky < p.k_h; ky++) {
            let iy = src_index(i32(oy * p.stride + ky) - i32(p.pad_t), i32(p.in_h), reflect);
            if (iy < 0) { continue; }
            for (var kx = 0u; kx < p.k_w; kx++) {
                let ix = src_index(i32(ox * p.stride + kx) - i32(p.pad_l), i32(p.in_w), reflect);
                if (ix < 0) { continue; }
                let xv = x[(cin * p.in_h + u32(iy)) * p.in_w + u32(ix)];
                let wv = w[((co * cig + ci) * p.k_h + ky) * p.k_w + kx];
                acc = fma(xv, wv, acc);
            }
        }
    }
    if (p.has_bias != 0u) {
        acc += b[co];
    }
    y[(co * p.out_h + oy) * p.out_w + ox] = activate(acc, p.act);
}
