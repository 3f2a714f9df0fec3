// pixels_pack: planar f32 [C][H][W] to packed RGBA8 [H][W]; see pixels.wgsl for the mapping.
// byte[i] = clamp(round(plane[order[i]] * scale[i] + bias[i]), 0, 255) for i < 3; alpha from
// plane[order[3]] when channels == 4, else 255. One thread per pixel (x, y).

struct Params {
    width: u32,
    height: u32,
    channels: u32,
    _pad: u32,
    order: vec4<u32>,
    scale: vec4<f32>,
    bias: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> planes: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.width || gid.y >= p.height) {
        return;
    }
    let i = gid.y * p.width + gid.x;
    let plane = p.width * p.height;
    var v = vec4<f32>(0.0, 0.0, 0.0, 255.0);
    for (var c = 0u; c < min(p.channels, 4u); c++) {
        v[c] = planes[p.order[c] * plane + i] * p.scale[c] + p.bias[c];
    }
    let b = vec4<u32>(clamp(round(v), vec4(0.0), vec4(255.0)));
    dst[i] = b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}
