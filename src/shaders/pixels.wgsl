// pixels: conversions between packed RGBA8 images ([H][W] u32, R in the low byte, the layout
// of ImageData) and planar f32 tensors ([C][H][W]). One thread per pixel (x, y).
//
// `unpack`: for output plane c < channels, plane[c] = byte[order[c]] * scale[c] + bias[c]
//           (e.g. [0,1] RGB: order 0,1,2, scale 1/255, bias 0; VGG's BGR minus mean:
//           order 2,1,0, scale 1, bias -mean).
// `pack`:   for output byte i < 3, byte[i] = clamp(round(plane[order[i]] * scale[i] + bias[i]),
//           0, 255); alpha is plane[order[3]] scaled the same way when channels == 4, else 255.

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
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> planes: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn unpack(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.width || gid.y >= p.height) {
        return;
    }
    let i = gid.y * p.width + gid.x;
    let px = src[i];
    let bytes = vec4<f32>(f32(px & 0xffu), f32((px >> 8u) & 0xffu), f32((px >> 16u) & 0xffu), f32(px >> 24u));
    let plane = p.width * p.height;
    for (var c = 0u; c < p.channels; c++) {
        planes[c * plane + i] = bytes[p.order[c]] * p.scale[c] + p.bias[c];
    }
}
