// channel_map: y[c][i] = scale[c] * x[order[c]][i] + bias[c] over planes of `plane` values
// (a change of pixel convention on planar tensors). One thread per output value.

struct Params {
    plane: u32,
    channels: u32,
    _pad: vec2<u32>,
    order: vec4<u32>,
    scale: vec4<f32>,
    bias: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_index(gid, nwg);
    if (i >= p.channels * p.plane) {
        return;
    }
    let c = i / p.plane;
    y[i] = fma(p.scale[c], x[p.order[c] * p.plane + i % p.plane], p.bias[c]);
}
