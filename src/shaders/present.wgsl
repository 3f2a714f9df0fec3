// Draws a transform net's output planes to a canvas (live video): a full-screen triangle whose
// fragments sample the stylized planes (nearest) and the photo, then apply the same strength
// blend and colour preservation as `image::compose` on the CPU. No read-back.

struct Params {
    canvas: vec2<u32>,   // canvas size in pixels
    photo: vec2<u32>,    // the photo's size (the top-left region of the planes)
    plane: vec2<u32>,    // the padded planes' size
    strength: f32,
    preserve: u32,
    to_unit: f32,        // planes * to_unit is in [0, 1]
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> planes: array<f32>;
@group(0) @binding(2) var<storage, read> pixels: array<u32>;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

fn ycbcr(c: vec3<f32>) -> vec3<f32> {
    let y = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
    return vec3<f32>(y, (c.b - y) * 0.564, (c.r - y) * 0.713);
}

fn rgb(v: vec3<f32>) -> vec3<f32> {
    let r = v.x + v.z / 0.713;
    let b = v.x + v.y / 0.564;
    let g = (v.x - 0.299 * r - 0.114 * b) / 0.587;
    return vec3<f32>(r, g, b);
}

@fragment
fn fs(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let sx = min(u32(pos.x * f32(p.photo.x) / f32(p.canvas.x)), p.photo.x - 1u);
    let sy = min(u32(pos.y * f32(p.photo.y) / f32(p.canvas.y)), p.photo.y - 1u);
    let n = p.plane.x * p.plane.y;
    let i = sy * p.plane.x + sx;
    var s = vec3<f32>(planes[i], planes[n + i], planes[2u * n + i]) * p.to_unit;
    let photo = unpack4x8unorm(pixels[i]).rgb;
    if (p.preserve != 0u) {
        s = rgb(vec3<f32>(ycbcr(s).x, ycbcr(photo).yz));
    }
    let o = clamp(p.strength * s + (1.0 - p.strength) * photo, vec3<f32>(0.0), vec3<f32>(1.0));
    return vec4<f32>(o, 1.0);
}
