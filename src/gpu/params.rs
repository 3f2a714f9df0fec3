//! Kernel parameters: each op's `Params` struct is declared once in Rust with [`params!`]
//! (`#[repr(C)]`, `bytemuck::Pod`) and mirrored by a `struct Params` in its WGSL file(s). The
//! layout test below parses every shader with naga and checks that the two agree field by field
//! (names, offsets, size), so a field added, removed or reordered on one side fails a test
//! instead of feeding a kernel wrong numbers.

/// Declares a kernel's parameter struct: `#[repr(C)]`, `Pod`, and (in tests) its layout.
macro_rules! params {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fattr:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $( $(#[$fattr])* pub(crate) $field: $ty ),*
        }

        #[cfg(test)]
        impl $name {
            /// Size and field offsets, checked against the shaders' `Params`.
            #[allow(dead_code)]
            pub(crate) fn layout() -> $crate::gpu::params::Layout {
                $crate::gpu::params::Layout {
                    size: std::mem::size_of::<$name>(),
                    fields: vec![$((stringify!($field), std::mem::offset_of!($name, $field))),*],
                }
            }
        }
    };
}
pub(crate) use params;

/// A parameter struct's size and its fields' byte offsets.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub(crate) size: usize,
    pub(crate) fields: Vec<(&'static str, usize)>,
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::Layout;
    use crate::ops::{
        channels, conv2d, elementwise, gram, instance_norm, pixels, pool, reduce, tile,
    };
    use crate::optim;

    /// Padding members (named `pad...` or `_...`) need not match by name.
    fn is_padding(name: &str) -> bool {
        name.starts_with('_') || name.starts_with("pad")
    }

    /// The `Params` struct of a shader file (with the shared header it is compiled with):
    /// its size and its members' names and offsets.
    fn shader_params(file: &str) -> (usize, Vec<(String, usize)>) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/shaders/");
        let source = std::fs::read_to_string(format!("{dir}{file}")).expect("a shader file");
        let header = std::fs::read_to_string(format!("{dir}common.wgsl")).unwrap_or_default();
        let module = naga::front::wgsl::parse_str(&format!("{header}{source}"))
            .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(&source)));
        for (_, ty) in module.types.iter() {
            if let (Some("Params"), naga::TypeInner::Struct { members, span }) =
                (ty.name.as_deref(), &ty.inner)
            {
                let fields = members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
                    .collect();
                return (*span as usize, fields);
            }
        }
        panic!("{file} has no struct Params");
    }

    /// Whether a Rust layout and a shader's `Params` agree; the first difference otherwise.
    fn compare(rust: &Layout, file: &str) -> Result<(), String> {
        let (size, members) = shader_params(file);
        if size != rust.size {
            return Err(format!(
                "{file}: Params is {size} bytes, the Rust struct {} bytes",
                rust.size
            ));
        }
        let named = |fields: Vec<(String, usize)>| -> Vec<(String, usize)> {
            fields.into_iter().filter(|(n, _)| !is_padding(n)).collect()
        };
        let shader = named(members);
        let ours = named(
            rust.fields
                .iter()
                .map(|&(n, o)| (n.to_string(), o))
                .collect(),
        );
        if shader != ours {
            return Err(format!(
                "{file}: Params fields {shader:?}, the Rust struct {ours:?}"
            ));
        }
        Ok(())
    }

    fn every_params() -> Vec<(Layout, &'static [&'static str])> {
        vec![
            (
                conv2d::Params::layout(),
                &[
                    "conv2d_naive.wgsl",
                    "conv2d_tiled.wgsl",
                    "conv2d_tiled_sg.wgsl",
                    "conv2d_pointwise.wgsl",
                    "conv2d_pointwise_sg.wgsl",
                    "conv2d_shared.wgsl",
                    "conv2d_depthwise.wgsl",
                    "conv2d_depthwise_v4.wgsl",
                ],
            ),
            (conv2d::SplitParams::layout(), &["conv2d_split_sum.wgsl"]),
            (
                crate::ops::conv2d_grad::GradParams::layout(),
                &["conv2d_weight_grad.wgsl", "conv2d_flip.wgsl"],
            ),
            (
                elementwise::Params::layout(),
                &["elementwise.wgsl", "elementwise_binary.wgsl"],
            ),
            (gram::Params::layout(), &["gram.wgsl"]),
            (
                crate::ops::affine::Params::layout(),
                &["channel_affine.wgsl"],
            ),
            (
                instance_norm::Params::layout(),
                &[
                    "instance_norm.wgsl",
                    "instance_norm_apply.wgsl",
                    "instance_norm_backward.wgsl",
                ],
            ),
            (
                pixels::Params::layout(),
                &["pixels.wgsl", "pixels_pack.wgsl"],
            ),
            (crate::ops::pad::Params::layout(), &["pad_backward.wgsl"]),
            (channels::MapParams::layout(), &["channel_map.wgsl"]),
            (channels::CopyParams::layout(), &["copy_strided.wgsl"]),
            (channels::TransposeParams::layout(), &["transpose.wgsl"]),
            (crate::ops::im2col::Params::layout(), &["im2col.wgsl"]),
            (pool::Params::layout(), &["pool.wgsl", "pool_backward.wgsl"]),
            (
                reduce::Params::layout(),
                &["reduce.wgsl", "reduce_finish.wgsl"],
            ),
            (reduce::TvParams::layout(), &["tv_backward.wgsl"]),
            (tile::CropParams::layout(), &["crop.wgsl"]),
            (tile::CombineParams::layout(), &["stats_combine.wgsl"]),
            (crate::ops::upsample::Params::layout(), &["upsample.wgsl"]),
            (optim::Params::layout(), &["optim.wgsl"]),
            (crate::live::Params::layout(), &["present.wgsl"]),
        ]
    }

    #[test]
    fn every_params_struct_matches_its_shaders() {
        let mut checked = Vec::new();
        for (layout, files) in every_params() {
            for file in files {
                compare(&layout, file).unwrap();
                checked.push(*file);
            }
        }
        // Every shader with a Params struct is covered.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/shaders");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            if text.contains("struct Params") {
                assert!(checked.contains(&name.as_str()), "{name} is not checked");
            }
        }
    }

    #[test]
    fn a_reordered_or_resized_field_is_caught() {
        let mut swapped = conv2d::Params::layout();
        // in_c and in_h trade places: the same offsets, other names.
        swapped.fields.swap(0, 1);
        let (a, b) = (swapped.fields[0].1, swapped.fields[1].1);
        swapped.fields[0].1 = b;
        swapped.fields[1].1 = a;
        swapped.fields.sort_by_key(|f| f.1);
        let e = compare(&swapped, "conv2d_naive.wgsl").unwrap_err();
        assert!(e.contains("in_c"), "{e}");
        let mut longer = gram::Params::layout();
        longer.size += 4;
        assert!(compare(&longer, "gram.wgsl").unwrap_err().contains("bytes"));
    }
}
