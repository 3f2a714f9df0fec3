// reduce_finish: one workgroup of 256 threads sums `parts` partial sums and writes
// out[0] = scale * total. Second stage of reduce.wgsl.

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
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    var s = 0.0;
    for (var i = lid; i < p.parts; i += WG) {
        s += partials[i];
    }
    let total = workgroup_sum(lid, s);
    if (lid == 0u) {
        out[0] = total * p.scale;
    }
}
