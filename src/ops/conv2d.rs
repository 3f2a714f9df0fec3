//! 2-D convolution: stride 1 and 2 (any stride), zero or reflection padding, groups
//! (including depthwise), optional bias and a fused activation.
//!
//! Three kernels: `conv2d_tiled.wgsl`, the fast one (implicit GEMM with a register tile of
//! output pixels x output channels per invocation, for groups = 1; natively, where the device
//! has subgroups, also `conv2d_tiled_sg.wgsl`, the same with each subgroup's weight loads
//! shared, which emulated GPUs run much faster), `conv2d_depthwise.wgsl`
//! (a row of output pixels of one channel per invocation, for depthwise layers; on rows of whole
//! vec4s `conv2d_depthwise_v4.wgsl`, the same reading and writing four values at a time), and
//! `conv2d_naive.wgsl`, one output per invocation, which covers every case and is the GPU
//! reference. A 1x1 layer (stride 1, no padding) on a plane of whole vec4s can also run
//! `conv2d_pointwise.wgsl` (and `_sg`), a matrix product over the flat plane that loads and
//! stores its pixels as vec4s: the same bits as the tiled kernel. The tiled kernels can also add
//! a residual connection as they store ([`Conv2d::record_add`]).

use super::conv2d_tune::tiling_for;
use super::{grid, kernel, shape_err, Activation, ChannelAffine};
use crate::gpu::params::params;
use crate::gpu::{
    linear_workgroups, AdapterSummary, DType, Dispatch, GpuContext, Kernel, Plan, Tensor,
};
use crate::{Error, Result};

const NAIVE: Kernel = kernel!("conv2d_naive.wgsl", "main");
const TILED: Kernel = kernel!("conv2d_tiled.wgsl", "main");
const TILED_SG: Kernel = kernel!("conv2d_tiled_sg.wgsl", "main");
const DEPTHWISE: Kernel = kernel!("conv2d_depthwise.wgsl", "main");
const DEPTHWISE_V4: Kernel = kernel!("conv2d_depthwise_v4.wgsl", "main");
const SHARED: Kernel = kernel!("conv2d_shared.wgsl", "main");
const SPLIT_SUM: Kernel = kernel!("conv2d_split_sum.wgsl", "main");
const POINTWISE: Kernel = kernel!("conv2d_pointwise.wgsl", "main");
const POINTWISE_SG: Kernel = kernel!("conv2d_pointwise_sg.wgsl", "main");
/// The shader files a tiled or depthwise layer runs, whichever its choice (what profiles name).
pub(crate) const TUNED_KERNELS: [&str; 7] = [
    TILED.name,
    TILED_SG.name,
    SHARED.name,
    DEPTHWISE.name,
    DEPTHWISE_V4.name,
    POINTWISE.name,
    POINTWISE_SG.name,
];

/// Output pixels per invocation of the depthwise kernel, at most.
const DEPTHWISE_MAX_PX: usize = 16;

/// Output pixels per invocation of a depthwise layer untuned on `adapter` (at most its output
/// rows' width: [`depthwise_tile`]): 16 on an emulated GPU, where an invocation's longer
/// row amortises its window's loads (lavapipe ran 144 channels of 64x64 in 19-20 ms with 16
/// against 25 with 8, and the tuner took 16 for seven of the arbitrary predictor's ten
/// depthwise shapes, 1.2-1.5x), 8 on real GPUs, which need more invocations to fill.
pub(crate) fn depthwise_px(adapter: &AdapterSummary) -> usize {
    if adapter.is_emulated() {
        DEPTHWISE_MAX_PX
    } else {
        8
    }
}

// What the tiled kernel holds. `tools/gen_conv2d_tiled.py` reads these lines to write the
// shader (keep their form), and its `--check` in the test suite fails when they change
// without the shader being written again.
/// Output pixels per invocation, at most.
const MAX_PX: usize = 16;
/// vec4 groups of output channels per invocation, at most.
const MAX_CO4: usize = 4;
/// Kernel width, at most.
const MAX_K: usize = 9;
/// Slices of the input channels a split-K convolution sums apart, at most.
pub(crate) const MAX_SPLIT: usize = 16;
/// Strides the tiled kernel has code for.
const STRIDES: [usize; 2] = [1, 2];
/// Input values one tile row reads, `(tile_px - 1) * stride + k_w`, at most.
const MAX_WIN: usize = 24;
/// vec4s of pixels per invocation of `conv2d_pointwise.wgsl`, at most
/// (`tools/gen_conv2d_pointwise.py` reads it).
pub(crate) const POINTWISE_MAX_V4: usize = 4;
/// Lanes of a subgroup that share weight loads in `conv2d_tiled_sg.wgsl`: it runs on adapters
/// whose subgroups have at least this many.
pub(crate) const SUBGROUP_LANES: usize = 8;

/// How the border is padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// Zeros outside the image.
    #[default]
    Zero,
    /// Mirror without repeating the edge (PyTorch's `ReflectionPad2d`); needs pad < size.
    Reflect,
}

/// Stride, padding, groups and the fused activation of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Stride in both directions.
    pub stride: usize,
    /// Padding as [top, left, bottom, right].
    pub pad: [usize; 4],
    /// Zero or reflection padding.
    pub padding: Padding,
    /// Groups: 1 for a dense conv, in_c (= out_c) for depthwise.
    pub groups: usize,
    /// Activation applied after the bias.
    pub activation: Activation,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Self {
            stride: 1,
            pad: [0; 4],
            padding: Padding::Zero,
            groups: 1,
            activation: Activation::None,
        }
    }
}

impl Conv2dParams {
    /// Symmetric padding of `pad` on every side.
    pub fn padded(pad: usize, padding: Padding) -> Self {
        Self {
            pad: [pad; 4],
            padding,
            ..Self::default()
        }
    }

    /// With a stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// With groups.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// With a fused activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }
}

/// The register tile and workgroup of the tiled kernel (its `override` constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Consecutive output pixels along x per invocation (1..=16).
    pub tile_px: usize,
    /// Groups of 4 output channels per invocation (1..=4).
    pub tile_co4: usize,
    /// Workgroup size in x (keep it a multiple of 8 for lavapipe's SIMD lanes).
    pub wg_x: usize,
    /// Workgroup size in y.
    pub wg_y: usize,
}

impl Tiling {
    /// The tile this engine picks for a layer: as many output channels per invocation as the
    /// layer has (up to 16), 8 pixels, and 16 pixels for thin layers (4 or fewer output
    /// channels, such as the last 9x9 conv to RGB, so each invocation still has enough work)
    /// and for wide stride-1 kernels.
    pub fn for_layer(out_c: usize, k_w: usize, stride: usize) -> Self {
        let tile_co4 = out_c.div_ceil(4).clamp(1, MAX_CO4);
        // Wide kernels share most of their input window between neighbouring pixels, so a
        // longer row of pixels pays off (9x9 3->32: 9.0 against 4.5 GFLOP/s on lavapipe).
        let mut tile_px = if tile_co4 == 1 || (stride == 1 && k_w >= 5) {
            16
        } else {
            8
        };
        while tile_px > 1 && (tile_px - 1) * stride + k_w > MAX_WIN {
            tile_px /= 2;
        }
        Self {
            tile_px,
            tile_co4,
            wg_x: 8,
            wg_y: 8,
        }
    }

    /// The tile for a layer on an adapter of the given kind: [`Tiling::for_layer`] on emulated
    /// (CPU) and unknown adapters, and on real GPUs (`device_type` "discrete" or "integrated")
    /// at most 16 vec4 accumulators per invocation, which the NVIDIA H200 measurements favour:
    /// 3x3 128->128 ran at 4.6 TFLOP/s with 8 px x 8 channels against 0.16 with 16 x 16 (which
    /// spills), the 9x9 3->32 first layer at 2.5 with 4 px x 16 channels against 0.6 with
    /// 16 x 16, the 9x9 32->3 last layer at 1.2 with 8 px x 4 against 0.55 with 16 x 4.
    pub fn for_adapter(out_c: usize, k_w: usize, stride: usize, device_type: &str) -> Self {
        let t = Self::for_layer(out_c, k_w, stride);
        if !matches!(device_type, "discrete" | "integrated") {
            return t;
        }
        let (tile_px, tile_co4) = if k_w >= 5 {
            (if t.tile_co4 == 1 { 8 } else { 4 }, t.tile_co4)
        } else {
            (8, t.tile_co4.min(2))
        };
        let mut t = Self {
            tile_px,
            tile_co4,
            ..t
        };
        while t.tile_px > 1 && (t.tile_px - 1) * stride + k_w > MAX_WIN {
            t.tile_px /= 2;
        }
        t
    }

    /// Whether the tiled kernel handles a kernel width and stride at all.
    pub fn supports(k_w: usize, stride: usize) -> bool {
        k_w <= MAX_K && STRIDES.contains(&stride) && k_w + stride <= MAX_WIN + 1
    }

    pub(crate) fn validate(&self, k_w: usize, stride: usize) -> Result<()> {
        let ok = Self::supports(k_w, stride)
            && (1..=MAX_PX).contains(&self.tile_px)
            && (1..=MAX_CO4).contains(&self.tile_co4)
            && (self.tile_px - 1) * stride + k_w <= MAX_WIN
            && self.wg_x * self.wg_y <= 256
            && self.wg_x * self.wg_y > 0;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                op: "conv2d",
                message: format!(
                    "tiling {self:?} is outside what the tiled kernel holds: tile_px 1..={MAX_PX}, tile_co4 1..={MAX_CO4}, \
                     kernel width <= {MAX_K}, stride 1 or 2, (tile_px - 1) * stride + kernel width <= {MAX_WIN}, \
                     1..=256 invocations per workgroup"
                ),
            })
        }
    }
}

/// The block tile of the workgroup-memory kernel (`conv2d_shared.wgsl`): a workgroup of
/// `wg_px` x `wg_co` invocations computes `wg_px * tile_px` pixels of an output row for
/// `wg_co * tile_co4` vec4 groups of channels, staging the input window and the weights it
/// shares in workgroup memory. A candidate for the tuner (its sums are the tiled kernel's, bit
/// for bit), meant for real GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedTiling {
    /// Invocations along the output row.
    pub wg_px: usize,
    /// Invocations across channel groups.
    pub wg_co: usize,
    /// Output pixels per invocation (1..=8), strided by `wg_px`.
    pub tile_px: usize,
    /// vec4 groups of output channels per invocation (1..=4); `tile_px * tile_co4` <= 16.
    pub tile_co4: usize,
}

/// Workgroup memory the shared kernel holds: input window values and vec4 weights.
const SHARED_XS: usize = 1536;
const SHARED_WS: usize = 576;

impl SharedTiling {
    /// Input channels staged per step for a kernel width and stride: as many as its workgroup
    /// memory holds (up to 16), or `None` where not even one fits.
    pub fn channels_per_step(&self, k_w: usize, stride: usize) -> Option<usize> {
        let win = (self.wg_px * self.tile_px - 1) * stride + k_w;
        let cb = (SHARED_XS / win)
            .min(SHARED_WS / (k_w * self.wg_co * self.tile_co4))
            .min(16);
        (cb >= 1).then_some(cb)
    }

    pub(crate) fn validate(&self, k_w: usize, stride: usize) -> Result<()> {
        let threads = self.wg_px * self.wg_co;
        let ok = Tiling::supports(k_w, stride)
            && (1..=8).contains(&self.tile_px)
            && (1..=MAX_CO4).contains(&self.tile_co4)
            && self.tile_px * self.tile_co4 <= 16
            && (1..=256).contains(&threads)
            && self.channels_per_step(k_w, stride).is_some();
        if ok {
            return Ok(());
        }
        Err(Error::InvalidArgument {
            op: "conv2d",
            message: format!(
                "shared tiling {self:?} is outside what the workgroup-memory kernel holds: tile_px 1..=8, \
                 tile_co4 1..={MAX_CO4} with tile_px * tile_co4 <= 16, 1..=256 invocations, kernel width \
                 <= {MAX_K}, stride 1 or 2, and one input channel's window and weights in {SHARED_XS} \
                 values and {SHARED_WS} vec4"
            ),
        })
    }
}

/// The tile of the pointwise kernel (`conv2d_pointwise.wgsl`): each invocation computes
/// `4 * tile_v4` consecutive pixels of the flat output plane for `4 * tile_co4` channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointwiseTiling {
    /// vec4s of pixels per invocation (1..=4).
    pub tile_v4: usize,
    /// Groups of 4 output channels per invocation (1..=4).
    pub tile_co4: usize,
    /// Whether the subgroups share their weight loads (`conv2d_pointwise_sg.wgsl`; where the
    /// adapter has no subgroups, the plain kernel runs: the same bits).
    pub shared: bool,
}

impl PointwiseTiling {
    /// The register tile that gives the same sums (what runs where the pointwise kernel
    /// cannot: a plane that is not whole vec4s, padding, upsampling).
    pub fn as_registers(&self) -> TileChoice {
        let t = Tiling {
            tile_px: 4 * self.tile_v4,
            tile_co4: self.tile_co4,
            wg_x: 8,
            wg_y: 8,
        };
        if self.shared {
            TileChoice::Subgroup(t)
        } else {
            TileChoice::Registers(t)
        }
    }
}

/// How a layer runs, as the tuner chooses it: a layer of the tiled kernel's weight layout on the
/// register-tiled kernel with a tile or on the workgroup-memory kernel with a block tile (same
/// layout, same bits); a depthwise layer with a number of output pixels an invocation (the
/// same bits too: each output sums in the same order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileChoice {
    /// `conv2d_tiled.wgsl`.
    Registers(Tiling),
    /// `conv2d_shared.wgsl`.
    Shared(SharedTiling),
    /// `conv2d_depthwise.wgsl` with this many output pixels an invocation (1..=16).
    Depthwise(usize),
    /// `conv2d_tiled.wgsl` with a tile, its input channels summed in this many slices apart
    /// (2..=16, no more than the layer has), then added by `conv2d_split_sum.wgsl`: split-K,
    /// for a layer whose output is too small to fill a large GPU. The order of each sum
    /// changes, so its output differs from the other choices' by float rounding.
    SplitK(Tiling, usize),
    /// `conv2d_tiled_sg.wgsl` with a tile: the register tile whose subgroups share their
    /// weight loads (adapters with subgroup operations; same sums, same bits). Where its
    /// launch cannot keep subgroups whole (a workgroup smaller than the adapter's subgroups),
    /// the layer runs `Registers` with the same tile.
    Subgroup(Tiling),
    /// `conv2d_pointwise.wgsl` (or `_sg`) for a 1x1 layer, stride 1, no padding, read without
    /// upsampling, whose output plane is whole vec4s; other layers given it run its register
    /// tile ([`PointwiseTiling::as_registers`]: the same bits).
    Pointwise(PointwiseTiling),
}

impl TileChoice {
    /// What a tiled layer of tile `own` runs untuned: on an emulated GPU with subgroup
    /// operations (lavapipe) the subgroup kernel, which gives the same bits 1.2-1.9x faster
    /// there (its loads go through memory lane by lane); elsewhere the register tile.
    pub(crate) fn untuned(ctx: &GpuContext, own: Tiling) -> Self {
        if ctx.adapter().subgroup_conv_by_default() {
            TileChoice::Subgroup(own)
        } else {
            TileChoice::Registers(own)
        }
    }

    /// What a tiled layer of tile `own` and `shape` runs untuned where it can run the pointwise
    /// kernel (`pointwise`) on an output plane of `plane` pixels: on an emulated GPU with
    /// subgroups (lavapipe) the pointwise kernel with shared weight loads, where its vec4
    /// stores pay: layers with at least as many output channels as input ones, or planes of
    /// 32x32 or more (lavapipe ran the arbitrary predictor's 1x1 layers 1.05-1.84x faster
    /// there, those into fewer channels on 8x8 to 16x16 planes 0.95-0.99x); elsewhere
    /// [`TileChoice::untuned`] (a tuning candidate only: not measured there yet).
    pub(crate) fn untuned_layer(
        ctx: &GpuContext,
        own: Tiling,
        [out_c, in_c, _, _]: [usize; 4],
        plane: usize,
        pointwise: bool,
    ) -> Self {
        let pays = out_c >= in_c || plane >= 1024;
        if pointwise && pays && ctx.adapter().subgroup_conv_by_default() {
            return TileChoice::Pointwise(PointwiseTiling {
                tile_v4: (own.tile_px / 4).clamp(1, POINTWISE_MAX_V4),
                tile_co4: own.tile_co4,
                shared: true,
            });
        }
        Self::untuned(ctx, own)
    }

    /// Whether a layer of `kernel` and `shape` ([out_c, in_c / groups, k_h, k_w]) with `stride`
    /// and `out_c4` vec4 groups of output channels in its weights' layout can run this choice.
    pub(crate) fn fits(
        &self,
        kernel: ConvKernel,
        shape: [usize; 4],
        stride: usize,
        out_c4: usize,
    ) -> bool {
        let k_w = shape[3];
        match (kernel, self) {
            (ConvKernel::Tiled(_), TileChoice::Registers(t)) => {
                t.validate(k_w, stride).is_ok() && out_c4.is_multiple_of(t.tile_co4)
            }
            (ConvKernel::Tiled(_), TileChoice::Subgroup(t)) => {
                TileChoice::Registers(*t).fits(kernel, shape, stride, out_c4)
            }
            (ConvKernel::Tiled(_), TileChoice::SplitK(t, split)) => {
                TileChoice::Registers(*t).fits(kernel, shape, stride, out_c4)
                    && (2..=MAX_SPLIT).contains(split)
                    && *split <= shape[1]
            }
            (ConvKernel::Tiled(_), TileChoice::Shared(t)) => t.validate(k_w, stride).is_ok(),
            (ConvKernel::Tiled(_), TileChoice::Pointwise(t)) => {
                (shape[2], k_w, stride) == (1, 1, 1)
                    && (1..=POINTWISE_MAX_V4).contains(&t.tile_v4)
                    && (1..=MAX_CO4).contains(&t.tile_co4)
                    && out_c4.is_multiple_of(t.tile_co4)
            }
            (ConvKernel::Depthwise { .. }, TileChoice::Depthwise(px)) => {
                (1..=DEPTHWISE_MAX_PX).contains(px)
            }
            _ => false,
        }
    }
}

/// The pixels an invocation of a depthwise layer chosen to run `px` computes on output rows
/// `out_w` wide: never more than a row (the bits are the same; lavapipe ran 960 channels of 8x8
/// in 4.1-4.3 ms with 16 px, whose masked half still loads its window, against 2.7-2.9 with 8).
pub(crate) fn depthwise_tile(px: usize, out_w: usize) -> usize {
    px.min(out_w).max(1)
}

/// Which kernel a [`Conv2d`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKernel {
    /// One output per invocation (every case; the reference).
    Naive,
    /// Register-tiled implicit GEMM (groups = 1).
    Tiled(Tiling),
    /// Depthwise (groups = in_c = out_c): `tile_px` output pixels of a row per invocation
    /// (1..=16; kernel width up to 9, stride 1 or 2).
    Depthwise {
        /// Output pixels per invocation.
        tile_px: usize,
    },
}

params! {
    pub(crate) struct Params {
        in_c: u32,
        in_h: u32,
        in_w: u32,
        out_c: u32,
        out_h: u32,
        out_w: u32,
        pad_t: u32,
        pad_l: u32,
        reflect: u32,
        groups: u32,
        act: u32,
        has_bias: u32,
        out_c4: u32,
        stride: u32,
        k_h: u32,
        k_w: u32,
    }
}

params! {
    pub(crate) struct SplitParams {
        n: u32,
        plane: u32,
        splits: u32,
        act: u32,
    }
}

/// Pairs (OIHW index, index in the tiled kernel's layout `[k_h][k_w][in_c][co_pad]`) of every
/// weight of a layer of `shape` ([out_c, in_c, k_h, k_w]).
fn tiled_indices(
    [out_c, cig, k_h, k_w]: [usize; 4],
    co_pad: usize,
) -> impl Iterator<Item = (usize, usize)> {
    (0..out_c).flat_map(move |co| {
        (0..cig * k_h * k_w).map(move |r| {
            let (ci, ky, kx) = (r / (k_h * k_w), r / k_w % k_h, r % k_w);
            (
                ((co * cig + ci) * k_h + ky) * k_w + kx,
                ((ky * k_w + kx) * cig + ci) * co_pad + co,
            )
        })
    })
}

/// A convolution layer with its weights on the GPU in the layout its kernel reads.
#[derive(Debug)]
pub struct Conv2d {
    label: String,
    /// [out_c, in_c / groups, k_h, k_w].
    shape: [usize; 4],
    params: Conv2dParams,
    kernel: ConvKernel,
    weights: Tensor,
    bias: Tensor,
    has_bias: bool,
    out_c4: usize,
}

impl Conv2d {
    /// Uploads a layer from OIHW weights (`[out_c, in_c / groups, k_h, k_w]`) and an optional
    /// bias, choosing the tiled kernel where it applies (groups = 1, kernel width up to 9, stride 1
    /// or 2) and the naive one otherwise.
    pub fn new(
        ctx: &GpuContext,
        label: &str,
        weights: &[f32],
        shape: [usize; 4],
        bias: Option<&[f32]>,
        params: Conv2dParams,
    ) -> Result<Self> {
        let depthwise = params.groups > 1 && params.groups == shape[0] && shape[1] == 1;
        let kernel = if params.groups == 1 && Tiling::supports(shape[3], params.stride) {
            ConvKernel::Tiled(Tiling::for_adapter(
                shape[0],
                shape[3],
                params.stride,
                &ctx.adapter().device_type,
            ))
        } else if depthwise && shape[3] <= MAX_K && STRIDES.contains(&params.stride) {
            ConvKernel::Depthwise {
                tile_px: depthwise_px(ctx.adapter()),
            }
        } else {
            ConvKernel::Naive
        };
        Self::with_kernel(ctx, label, weights, shape, bias, params, kernel)
    }

    /// [`Conv2d::new`] with an explicit kernel choice (for tests and benchmarks).
    pub fn with_kernel(
        ctx: &GpuContext,
        label: &str,
        weights: &[f32],
        shape: [usize; 4],
        bias: Option<&[f32]>,
        params: Conv2dParams,
        kernel: ConvKernel,
    ) -> Result<Self> {
        let [out_c, cig, k_h, k_w] = shape;
        let op = "conv2d";
        if shape.contains(&0) || params.stride == 0 || params.groups == 0 {
            return Err(shape_err(op, format!("'{label}': weight shape {shape:?}, stride {} and groups {} must all be at least 1", params.stride, params.groups)));
        }
        if weights.len() != out_c * cig * k_h * k_w {
            return Err(shape_err(
                op,
                format!(
                    "'{label}': weights hold {} values but shape {shape:?} needs {}",
                    weights.len(),
                    out_c * cig * k_h * k_w
                ),
            ));
        }
        if out_c % params.groups != 0 {
            return Err(shape_err(
                op,
                format!(
                    "'{label}': {out_c} output channels do not divide into {} groups",
                    params.groups
                ),
            ));
        }
        if let Some(b) = bias {
            if b.len() != out_c {
                return Err(shape_err(
                    op,
                    format!(
                        "'{label}': bias holds {} values but the layer has {out_c} output channels",
                        b.len()
                    ),
                ));
            }
        }
        let (w_t, b_t, out_c4) = match kernel {
            ConvKernel::Depthwise { tile_px } => {
                let ok = (1..=DEPTHWISE_MAX_PX).contains(&tile_px)
                    && cig == 1
                    && params.groups == out_c
                    && k_w <= MAX_K
                    && STRIDES.contains(&params.stride);
                if !ok {
                    return Err(Error::InvalidArgument { op, message: format!("'{label}': the depthwise kernel needs groups = input channels = output channels, a kernel width up to {MAX_K}, stride 1 or 2 and 1..={DEPTHWISE_MAX_PX} pixels an invocation (got shape {shape:?}, {params:?}, {tile_px} px); use ConvKernel::Naive") });
                }
                let w_t = ctx.upload(&format!("{label}.weight"), &[weights.len()], weights)?;
                let b = bias.map(<[f32]>::to_vec).unwrap_or_else(|| vec![0.0]);
                let b_t = ctx.upload(&format!("{label}.bias"), &[b.len()], &b)?;
                (w_t, b_t, out_c.div_ceil(4))
            }
            ConvKernel::Naive => {
                let w_t = ctx.upload(&format!("{label}.weight"), &[weights.len()], weights)?;
                let b = bias.map(<[f32]>::to_vec).unwrap_or_else(|| vec![0.0]);
                let b_t = ctx.upload(&format!("{label}.bias"), &[b.len()], &b)?;
                (w_t, b_t, out_c.div_ceil(4))
            }
            ConvKernel::Tiled(t) => {
                if params.groups != 1 {
                    return Err(Error::InvalidArgument { op, message: format!("'{label}': the tiled kernel needs groups = 1 (got {}); use ConvKernel::Naive", params.groups) });
                }
                t.validate(k_w, params.stride)?;
                // [k_h][k_w][in_c][out_c4 * 4], output channels padded with zeros to a whole
                // number of channel blocks so the kernel never reads past the end.
                let block = 4 * t.tile_co4;
                let co_pad = out_c.div_ceil(block) * block;
                let mut w = vec![0.0f32; k_h * k_w * cig * co_pad];
                for (o, i) in tiled_indices(shape, co_pad) {
                    w[i] = weights[o];
                }
                let mut b = vec![0.0f32; co_pad];
                if let Some(bias) = bias {
                    b[..out_c].copy_from_slice(bias);
                }
                let w_t = ctx.upload(&format!("{label}.weight"), &[w.len()], &w)?;
                let b_t = ctx.upload(&format!("{label}.bias"), &[co_pad], &b)?;
                (w_t, b_t, co_pad / 4)
            }
        };
        Ok(Self {
            label: label.to_string(),
            shape,
            params,
            kernel,
            weights: w_t,
            bias: b_t,
            has_bias: bias.is_some(),
            out_c4,
        })
    }

    /// Whether `out_c` output channels of a 1x1 layer are a whole number of the tiled kernel's
    /// channel blocks on this adapter: what [`Conv2d::pointwise_transposed`] needs, since its
    /// weights come unpadded.
    pub(crate) fn fills_channel_blocks(ctx: &GpuContext, out_c: usize) -> bool {
        let tiling = Tiling::for_adapter(out_c, 1, 1, &ctx.adapter().device_type);
        out_c.is_multiple_of(4 * tiling.tile_co4)
    }

    /// A 1x1 convolution from `in_c` to `out_c` channels whose weights are already on the GPU
    /// in the tiled kernel's layout, [in_c][out_c] (the transpose of the [out_c, in_c] matrix the
    /// output is the product of with the input's [in_c, H*W] view), computed in the same plan.
    /// Used by [`crate::ops::gram`], whose transposed features are both the weights and the
    /// input. `out_c` must fill the channel blocks ([`Conv2d::fills_channel_blocks`]).
    pub(crate) fn pointwise_transposed(
        ctx: &GpuContext,
        label: &str,
        weights_t: &Tensor,
        in_c: usize,
        out_c: usize,
    ) -> Result<Self> {
        check_matrix(label, weights_t, out_c, in_c)?;
        if !Self::fills_channel_blocks(ctx, out_c) {
            return Err(Error::InvalidArgument {
                op: "conv2d",
                message: format!("'{label}': {out_c} output channels are not a whole number of the tiled kernel's channel blocks on this adapter, which weights laid out on the GPU need"),
            });
        }
        let tiling = Tiling::for_adapter(out_c, 1, 1, &ctx.adapter().device_type);
        let bias = ctx.upload(&format!("{label}.bias"), &[out_c], &vec![0.0; out_c])?;
        Ok(Self {
            label: label.to_string(),
            shape: [out_c, in_c, 1, 1],
            params: Conv2dParams::default(),
            kernel: ConvKernel::Tiled(tiling),
            weights: weights_t.clone(),
            bias,
            has_bias: false,
            out_c4: out_c / 4,
        })
    }

    /// A 1x1 convolution whose weights are already on the GPU: `weights` holds the [C, C]
    /// matrix row-major and must be symmetric, so that it is also its own transpose, the tiled
    /// kernel's layout ([`Conv2d::pointwise_transposed`]); where the channels do not fill the
    /// tiled kernel's blocks the naive kernel reads it row-major. Used by
    /// [`crate::ops::gram_backward`], whose matrix is the gradient of a Gram matrix, computed on
    /// the GPU in the same plan.
    pub(crate) fn pointwise_symmetric(
        ctx: &GpuContext,
        label: &str,
        weights: &Tensor,
        channels: usize,
    ) -> Result<Self> {
        if Self::fills_channel_blocks(ctx, channels) {
            return Self::pointwise_transposed(ctx, label, weights, channels, channels);
        }
        check_matrix(label, weights, channels, channels)?;
        let bias = ctx.upload(&format!("{label}.bias"), &[1], &[0.0])?;
        Ok(Self {
            label: label.to_string(),
            shape: [channels, channels, 1, 1],
            params: Conv2dParams::default(),
            kernel: ConvKernel::Naive,
            weights: weights.clone(),
            bias,
            has_bias: false,
            out_c4: channels.div_ceil(4),
        })
    }

    /// The label it was made with (its layer's name).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// [out_c, in_c / groups, k_h, k_w].
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Input channels the layer expects.
    pub fn in_channels(&self) -> usize {
        self.shape[1] * self.params.groups
    }

    /// The kernel it runs.
    pub fn kernel(&self) -> ConvKernel {
        self.kernel
    }

    /// Stride, padding, groups and activation.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// The weights on the GPU, in the layout the kernel reads (OIHW for the naive kernel;
    /// `[k_h][k_w][in_c][co_pad]` for the tiled one, output channels padded with zeros).
    pub fn weights(&self) -> &Tensor {
        &self.weights
    }

    /// The bias on the GPU (`co_pad` values for the tiled kernel, zeros past out_c).
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// Output channels as the tiled layout pads them (a multiple of its channel block).
    pub fn padded_out_channels(&self) -> usize {
        self.out_c4 * 4
    }

    /// Values in the layout the kernel reads (what [`Conv2d::weights`] holds) from OIHW weights.
    pub fn weights_from_oihw(&self, oihw: &[f32]) -> Result<Vec<f32>> {
        if oihw.len() != self.shape.iter().product::<usize>() {
            return Err(shape_err(
                "conv2d",
                format!(
                    "'{}': {} values given, shape {:?} holds {}",
                    self.label,
                    oihw.len(),
                    self.shape,
                    self.shape.iter().product::<usize>()
                ),
            ));
        }
        match self.kernel {
            ConvKernel::Naive | ConvKernel::Depthwise { .. } => Ok(oihw.to_vec()),
            ConvKernel::Tiled(_) => {
                let mut w = vec![0.0; self.weights.numel()];
                for (o, i) in tiled_indices(self.shape, self.out_c4 * 4) {
                    w[i] = oihw[o];
                }
                Ok(w)
            }
        }
    }

    /// OIHW weights from values in the layout the kernel reads (what [`Conv2d::weights`] holds).
    pub fn weights_to_oihw(&self, layout: &[f32]) -> Result<Vec<f32>> {
        if layout.len() != self.weights.numel() {
            return Err(shape_err(
                "conv2d",
                format!(
                    "'{}': {} values given, the layer's weights hold {}",
                    self.label,
                    layout.len(),
                    self.weights.numel()
                ),
            ));
        }
        match self.kernel {
            ConvKernel::Naive | ConvKernel::Depthwise { .. } => Ok(layout.to_vec()),
            ConvKernel::Tiled(_) => {
                let mut w = vec![0.0; self.shape.iter().product()];
                for (o, i) in tiled_indices(self.shape, self.out_c4 * 4) {
                    w[o] = layout[i];
                }
                Ok(w)
            }
        }
    }

    /// Output height and width for an input of `in_h` x `in_w`, or an error if the padded
    /// input is smaller than the kernel or reflection padding is as large as the input.
    pub fn output_size(&self, in_h: usize, in_w: usize) -> Result<(usize, usize)> {
        let [_, _, k_h, k_w] = self.shape;
        let [t, l, b, r] = self.params.pad;
        if in_h + t + b < k_h || in_w + l + r < k_w {
            return Err(shape_err("conv2d", format!("'{}': a {in_h}x{in_w} input padded by {:?} is smaller than the {k_h}x{k_w} kernel; use a larger image", self.label, self.params.pad)));
        }
        if self.params.padding == Padding::Reflect && (t.max(b) >= in_h || l.max(r) >= in_w) {
            return Err(shape_err(
                "conv2d",
                format!("'{}': reflection padding {:?} needs an input larger than the padding, got {in_h}x{in_w}; use a larger image", self.label, self.params.pad),
            ));
        }
        let s = self.params.stride;
        Ok(((in_h + t + b - k_h) / s + 1, (in_w + l + r - k_w) / s + 1))
    }

    /// Appends the convolution of `x` ([in_c, H, W]) to `plan` and returns its output tensor.
    pub fn record(&self, ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        self.record_input(ctx, plan, x, ConvInput::default())
    }

    /// Whether the layer's kernel can read its input through a [`ConvInput`] (the tiled one);
    /// the naive kernel reads it as stored.
    pub fn reads_mapped(&self) -> bool {
        matches!(self.kernel, ConvKernel::Tiled(_))
    }

    /// [`Conv2d::record`] of `x` read through `input` (its per-channel map, then its nearest
    /// upsampling): one pass where the map and the upsampling would each be a pass of their own.
    /// Fails unless [`Conv2d::reads_mapped`] or `input` is the identity.
    pub fn record_input(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        input: ConvInput,
    ) -> Result<Tensor> {
        self.record_with(ctx, plan, x, input, None, None)
    }

    /// `conv(x) + skip` (`skip` of the output's shape): a residual connection summed as the
    /// tiled kernels store their outputs (after the bias and the activation; with split-K as
    /// the sum of its slices stores them), one pass where the sum would be a pass of its own;
    /// the same bits as [`Conv2d::record`] then [`crate::ops::add`], which the other kernels
    /// run.
    pub fn record_add(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        skip: &Tensor,
    ) -> Result<Tensor> {
        self.record_with(ctx, plan, x, ConvInput::default(), None, Some(skip))
    }

    /// [`Conv2d::record_input`] with `choice` instead of the layer's own tile or the tuned one
    /// (for tuning and tests: the weights' layout must hold it).
    pub fn record_choice(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        input: ConvInput,
        choice: TileChoice,
    ) -> Result<Tensor> {
        let out_c = self.shape[0];
        if !choice.fits(self.kernel, self.shape, self.params.stride, self.out_c4) {
            return Err(Error::InvalidArgument {
                op: "conv2d",
                message: format!(
                    "'{}' ({out_c} channels padded to {}, kernel {:?}) cannot run {choice}",
                    self.label,
                    4 * self.out_c4,
                    self.kernel
                ),
            });
        }
        self.record_with(ctx, plan, x, input, Some(choice), None)
    }

    fn record_with(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        input: ConvInput,
        choice: Option<TileChoice>,
        add: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (c, stored_h, stored_w) = x.chw("conv2d")?;
        let [out_c, _, k_h, k_w] = self.shape;
        if c != self.in_channels() {
            return Err(shape_err(
                "conv2d",
                format!(
                    "'{}' expects {} input channels but '{}' has shape {:?}",
                    self.label,
                    self.in_channels(),
                    x.label(),
                    x.shape()
                ),
            ));
        }
        input.check(self, x)?;
        let (h, w) = (stored_h * input.upsample, stored_w * input.upsample);
        let (oh, ow) = self.output_size(h, w)?;
        if let Some(skip) = add {
            if skip.shape() != [out_c, oh, ow] {
                return Err(shape_err(
                    "conv2d",
                    format!(
                        "'{}': its output [{out_c}, {oh}, {ow}] cannot be added to '{}' of shape {:?}",
                        self.label,
                        skip.label(),
                        skip.shape()
                    ),
                ));
            }
        }
        let y = plan.alloc(ctx, &self.label, &[out_c, oh, ow], DType::F32)?;
        // Whether the kernel adds `add` as it stores; otherwise a pass of its own does.
        let mut added = false;
        let p = Params {
            in_c: c as u32,
            in_h: h as u32,
            in_w: w as u32,
            out_c: out_c as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            pad_t: self.params.pad[0] as u32,
            pad_l: self.params.pad[1] as u32,
            reflect: (self.params.padding == Padding::Reflect) as u32,
            groups: self.params.groups as u32,
            act: self.params.activation.code(),
            has_bias: self.has_bias as u32,
            out_c4: self.out_c4 as u32,
            stride: self.params.stride as u32,
            k_h: k_h as u32,
            k_w: k_w as u32,
        };
        let mut then = None;
        let d = match self.kernel {
            ConvKernel::Naive => {
                let bindings = [x, &self.weights, &self.bias, &y];
                let groups = grid(ow, oh, out_c, [8, 8]);
                ctx.dispatch(&self.label, &NAIVE, &[], &p, &bindings, groups)?
            }
            ConvKernel::Depthwise { tile_px: own } => {
                let chosen = match choice.unwrap_or_else(|| {
                    tiling_for(
                        ctx,
                        self,
                        TileChoice::Depthwise(own),
                        [c, stored_h, stored_w],
                        &input,
                    )
                }) {
                    TileChoice::Depthwise(px) => px,
                    _ => own,
                };
                let tile_px = depthwise_tile(chosen, ow);
                let bindings = [x, &self.weights, &self.bias, &y];
                let (wg, groups) = fit_launch(64, [ow.div_ceil(tile_px), oh, out_c]);
                let mut constants = vec![
                    ("WG_X", wg[0] as f64),
                    ("WG_Y", wg[1] as f64),
                    ("WG_Z", wg[2] as f64),
                    ("TILE_PX", tile_px as f64),
                    ("K_W", k_w as f64),
                    ("STRIDE", self.params.stride as f64),
                ];
                let kernel = if self.depthwise_rows_in_vec4(tile_px, w, ow) {
                    let off = (4 - self.params.pad[1] % 4) % 4;
                    constants.push(("OFF", off as f64));
                    &DEPTHWISE_V4
                } else {
                    &DEPTHWISE
                };
                ctx.dispatch(&self.label, kernel, &constants, &p, &bindings, groups)?
            }
            ConvKernel::Tiled(own) => {
                let choice = choice.unwrap_or_else(|| {
                    let pointwise = self.is_pointwise(ctx, &p, &input);
                    let untuned =
                        TileChoice::untuned_layer(ctx, own, self.shape, oh * ow, pointwise);
                    tiling_for(ctx, self, untuned, [c, stored_h, stored_w], &input)
                });
                let out = TiledOut { y: &y, add };
                let tiled = self.dispatch_tiled(ctx, plan, x, out, &p, input, choice, own)?;
                added = tiled.added;
                then = tiled.sum;
                tiled.conv
            }
        };
        // A multiply-add per output value and weight of its group.
        let per_output = (c / self.params.groups * k_h * k_w) as u64;
        plan.push(d.with_flops(2 * (out_c * oh * ow) as u64 * per_output));
        if let Some((sum, partial)) = then {
            plan.push(sum);
            plan.release(partial);
        }
        match add {
            Some(skip) if !added => {
                let sum = super::add(ctx, plan, &y, skip)?;
                plan.release(y);
                Ok(sum)
            }
            _ => Ok(y),
        }
    }

    /// Whether this layer, read through `input` with parameters `p`, can run
    /// `conv2d_pointwise.wgsl`: a 1x1 kernel, stride 1, no padding, no upsampling, and a plane
    /// of whole vec4s few enough for its grid (workgroups of 64 invocations along the plane).
    fn is_pointwise(&self, ctx: &GpuContext, p: &Params, input: &ConvInput) -> bool {
        let max = ctx.limits().max_compute_workgroups_per_dimension as usize;
        let [_, _, k_h, k_w] = self.shape;
        (
            k_h,
            k_w,
            self.params.stride,
            self.params.groups,
            input.upsample,
        ) == (1, 1, 1, 1, 1)
            && self.params.pad == [0; 4]
            && (p.out_h * p.out_w).is_multiple_of(4)
            && (p.out_h * p.out_w / 4).div_ceil(64) as usize <= max
    }

    /// Whether a depthwise layer with `tile_px` pixels an invocation, an input `in_w` and an
    /// output `out_w` wide runs `conv2d_depthwise_v4.wgsl` (the same bits with a quarter of the
    /// loads and stores): rows of whole vec4s, tiles of them, and no reflection along rows.
    fn depthwise_rows_in_vec4(&self, tile_px: usize, in_w: usize, out_w: usize) -> bool {
        let [_, l, _, r] = self.params.pad;
        let reflect_rows = self.params.padding == Padding::Reflect && l + r > 0;
        tile_px.is_multiple_of(4)
            && in_w.is_multiple_of(4)
            && out_w.is_multiple_of(4)
            && !reflect_rows
    }

    /// The dispatch of a tiled layer's `choice` (the layer's own tile `own` where the choice is
    /// not a tiled one), writing `y` (plus `add` where the kernel sums it: see [`Tiled`]); with
    /// split-K, the convolution writes partial sums to a buffer of the plan, and the second
    /// dispatch returned (to push after it, then release the buffer) adds them into `y`.
    #[allow(clippy::too_many_arguments)]
    fn dispatch_tiled(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        x: &Tensor,
        TiledOut { y, add }: TiledOut,
        p: &Params,
        input: ConvInput,
        choice: TileChoice,
        own: Tiling,
    ) -> Result<Tiled> {
        let [out_c, _, _, k_w] = self.shape;
        let (oh, ow) = (p.out_h as usize, p.out_w as usize);
        let map = input.map.map(|m| (&m.coeffs, m.act.code()));
        // Without a map the kernel never reads its map binding: the bias fills it.
        let coeffs = map.map_or(&self.bias, |m| m.0);
        let read = [
            ("K_W", k_w as f64),
            ("STRIDE", self.params.stride as f64),
            ("IN_MAP", map.is_some() as u32 as f64),
            ("IN_ACT", map.map_or(0, |m| m.1) as f64),
            ("UP", input.upsample as f64),
        ];
        if let TileChoice::Shared(t) = choice {
            let cb = t.channels_per_step(k_w, self.params.stride).unwrap_or(1);
            let mut constants = vec![
                ("WG_PX", t.wg_px as f64),
                ("WG_CO", t.wg_co as f64),
                ("TILE_PX", t.tile_px as f64),
                ("TILE_CO4", t.tile_co4 as f64),
                ("CB", cb as f64),
            ];
            constants.extend(read);
            let groups = [
                ow.div_ceil(t.wg_px * t.tile_px) as u32,
                oh as u32,
                self.out_c4.div_ceil(t.wg_co * t.tile_co4) as u32,
            ];
            let bindings = [x, &self.weights, &self.bias, coeffs, y];
            let conv = ctx.dispatch(&self.label, &SHARED, &constants, p, &bindings, groups)?;
            return Ok(Tiled {
                conv,
                sum: None,
                added: false,
            });
        }
        let choice = match choice {
            TileChoice::Pointwise(t) if self.is_pointwise(ctx, p, &input) => {
                return self.dispatch_pointwise(ctx, x, TiledOut { y, add }, p, map, t);
            }
            TileChoice::Pointwise(t) => t.as_registers(),
            other => other,
        };
        // (`tiling_for` and `record_choice` give a tiled layer only a choice that fits it:
        // never a depthwise one.)
        let (t, split) = match choice {
            TileChoice::Registers(t) | TileChoice::Subgroup(t) => (t, 1),
            TileChoice::SplitK(t, split) => (t, split),
            _ => (own, 1),
        };
        let partial = if split > 1 {
            let shape = [split * out_c, oh, ow];
            Some(plan.alloc(ctx, &format!("{}.split", self.label), &shape, DType::F32)?)
        } else {
            None
        };
        let (tiles_x, blocks) = (ow.div_ceil(t.tile_px), self.out_c4 / t.tile_co4);
        let shared = match choice {
            TileChoice::Subgroup(_) => subgroup_launch(ctx, t, [tiles_x, oh, blocks]),
            _ => None,
        };
        let (kernel, (wg, groups)) = match shared {
            Some(launch) => (&TILED_SG, launch),
            None => (
                &TILED,
                fit_launch(t.wg_x * t.wg_y, [tiles_x, oh, blocks * split]),
            ),
        };
        // The residual is added by the pass that stores `y`: the convolution, or with split-K
        // the sum of its slices (which hold partial sums). Where nothing is added, the bias
        // fills the `res` binding, which is then never read.
        let res = add.unwrap_or(&self.bias);
        let adds = add.is_some() && split == 1;
        let mut constants = vec![
            ("WG_X", wg[0] as f64),
            ("WG_Y", wg[1] as f64),
            ("WG_Z", wg[2] as f64),
            ("TILE_PX", t.tile_px as f64),
            ("TILE_CO4", t.tile_co4 as f64),
            ("SPLIT", split as f64),
            ("ADD", adds as u32 as f64),
        ];
        constants.extend(read);
        let out = partial.as_ref().unwrap_or(y);
        let bindings = [x, &self.weights, &self.bias, coeffs, res, out];
        let conv = ctx.dispatch(&self.label, kernel, &constants, p, &bindings, groups)?;
        let Some(partial) = partial else {
            return Ok(Tiled {
                conv,
                sum: None,
                added: adds,
            });
        };
        let n = out_c * oh * ow;
        let sp = SplitParams {
            n: n as u32,
            plane: (oh * ow) as u32,
            splits: split as u32,
            act: self.params.activation.code(),
        };
        let label = format!("{}.split_sum", self.label);
        let bindings = [&partial, &self.bias, res, y];
        let groups = linear_workgroups(n, 256);
        let constants = [("ADD", add.is_some() as u32 as f64)];
        let sum = ctx.dispatch(&label, &SPLIT_SUM, &constants, &sp, &bindings, groups)?;
        Ok(Tiled {
            conv,
            sum: Some((sum, partial)),
            added: add.is_some(),
        })
    }

    /// The dispatch of a 1x1 layer on `conv2d_pointwise.wgsl` (`_sg` where the tile shares its
    /// weight loads and the adapter's subgroups allow it), reading its input through `map`
    /// (coefficients, activation) where given and adding `add` as it stores.
    fn dispatch_pointwise(
        &self,
        ctx: &GpuContext,
        x: &Tensor,
        TiledOut { y, add }: TiledOut,
        p: &Params,
        map: Option<(&Tensor, u32)>,
        t: PointwiseTiling,
    ) -> Result<Tiled> {
        let plane4 = (p.out_h * p.out_w) as usize / 4;
        let tiles = plane4.div_ceil(t.tile_v4);
        let adapter = ctx.adapter();
        // Shared loads need whole subgroups: a workgroup a multiple of the largest.
        let lanes = match adapter.subgroup_sizes {
            Some((_, max)) if t.shared && adapter.shares_subgroup_loads() => Some(max as usize),
            _ => None,
        };
        let (kernel, step) = match lanes {
            Some(max) => (&POINTWISE_SG, max),
            None => (&POINTWISE, 8),
        };
        // Shaped to small planes: 8 invocations cover an 8x8 plane's 16 vec4s two apiece.
        let wg = tiles.next_multiple_of(step).min(64.max(step));
        let groups = [
            tiles.div_ceil(wg) as u32,
            (self.out_c4 / t.tile_co4) as u32,
            1,
        ];
        let constants = [
            ("WG", wg as f64),
            ("TILE_V4", t.tile_v4 as f64),
            ("TILE_CO4", t.tile_co4 as f64),
            ("IN_MAP", map.is_some() as u32 as f64),
            ("IN_ACT", map.map_or(0, |m| m.1) as f64),
            ("ADD", add.is_some() as u32 as f64),
        ];
        // Unread bindings (no map, no residual) are filled with the bias.
        let coeffs = map.map_or(&self.bias, |m| m.0);
        let res = add.unwrap_or(&self.bias);
        let bindings = [x, &self.weights, &self.bias, coeffs, res, y];
        let conv = ctx.dispatch(&self.label, kernel, &constants, p, &bindings, groups)?;
        Ok(Tiled {
            conv,
            sum: None,
            added: add.is_some(),
        })
    }
}

/// A tiled layer's dispatches: the convolution; with split-K, the sum of its slices and their
/// buffer (to release after it); whether the convolution added the residual as it stored
/// (otherwise the caller adds it in a pass of its own).
struct Tiled {
    conv: Dispatch,
    sum: Option<(Dispatch, Tensor)>,
    added: bool,
}

/// Where a tiled layer writes: `y`, with `add` summed into it as it is stored where given (and
/// the kernel can: not the workgroup-memory kernel).
#[derive(Clone, Copy)]
struct TiledOut<'a> {
    y: &'a Tensor,
    add: Option<&'a Tensor>,
}

/// How a convolution reads its input: through an instance norm's per-channel map (with its
/// activation), then upsampled by repeating each value `upsample` x `upsample` times (nearest);
/// the padding applies to the result. The default reads the input as stored.
#[derive(Debug, Clone, Copy)]
pub struct ConvInput<'a> {
    /// The per-channel map, or `None`.
    pub map: Option<&'a ChannelAffine>,
    /// 1 or 2.
    pub upsample: usize,
}

impl Default for ConvInput<'_> {
    fn default() -> Self {
        Self {
            map: None,
            upsample: 1,
        }
    }
}

impl ConvInput<'_> {
    fn is_identity(&self) -> bool {
        self.map.is_none() && self.upsample == 1
    }

    fn check(&self, conv: &Conv2d, x: &Tensor) -> Result<()> {
        let op = "conv2d";
        if !matches!(self.upsample, 1 | 2) {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "'{}': an input can be upsampled by 1 or 2 on load, not {}",
                    conv.label, self.upsample
                ),
            });
        }
        if !(self.is_identity() || conv.reads_mapped()) {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "'{}' runs a kernel that reads its input as stored: apply the map and the \
                     upsampling first",
                    conv.label
                ),
            });
        }
        match self.map {
            Some(m) => m.check(op, x),
            None => Ok(()),
        }
    }
}

/// Fails unless `weights` holds a matrix of `rows` x `cols` values (a 1x1 layer's weights given
/// as a GPU tensor).
fn check_matrix(label: &str, weights: &Tensor, rows: usize, cols: usize) -> Result<()> {
    if weights.numel() == rows * cols {
        return Ok(());
    }
    Err(shape_err(
        "conv2d",
        format!(
            "'{label}': a {rows}x{cols} matrix was expected, '{}' has shape {:?}",
            weights.label(),
            weights.shape()
        ),
    ))
}

/// The launch of `conv2d_tiled_sg.wgsl` for tile `t` on a grid of `extent` (row tiles, rows,
/// channel blocks), or None where it cannot run: the device has no subgroup operations, its
/// subgroups may have fewer than [`SUBGROUP_LANES`] lanes, or the workgroup fitted to the
/// plane is not a whole number of the largest subgroups (a subgroup must be whole to share).
/// Each workgroup spans rows and row tiles of one channel block.
fn subgroup_launch(
    ctx: &GpuContext,
    t: Tiling,
    extent: [usize; 3],
) -> Option<([usize; 3], [u32; 3])> {
    let adapter = ctx.adapter();
    adapter.shares_subgroup_loads().then_some(())?;
    let (_, max) = adapter.subgroup_sizes?;
    let (wg, groups) = fit_launch(t.wg_x * t.wg_y, [extent[0], extent[1], 1]);
    let threads = wg[0] * wg[1];
    threads
        .is_multiple_of(max as usize)
        .then_some((wg, [groups[0], groups[1], extent[2] as u32]))
}

/// A workgroup of `threads` invocations (a power of two) shaped to a grid of `extent` tiles: x
/// first (up to 8, for memory locality along rows), then y, then the channel blocks, so that a
/// small output plane (VGG's deep layers at small sizes, 8x8 or 4x4) does not leave most of a
/// fixed 8x8 workgroup idle; and the number of such workgroups that cover `extent`.
fn fit_launch(threads: usize, extent: [usize; 3]) -> ([usize; 3], [u32; 3]) {
    let x = extent[0].next_power_of_two().min(8).min(threads);
    let y = extent[1].next_power_of_two().min(threads / x);
    let z = extent[2].next_power_of_two().min(threads / (x * y)).max(1);
    let wg = [x, y, z];
    (
        wg,
        std::array::from_fn(|i| extent[i].div_ceil(wg[i]) as u32),
    )
}

#[cfg(test)]
mod tests {
    use super::Tiling;

    #[test]
    fn real_gpus_get_smaller_register_tiles() {
        for (out_c, k) in [(128, 3), (32, 9), (3, 9), (64, 1)] {
            assert_eq!(
                Tiling::for_adapter(out_c, k, 1, "cpu"),
                Tiling::for_layer(out_c, k, 1)
            );
            let t = Tiling::for_adapter(out_c, k, 1, "discrete");
            assert!(t.tile_px * t.tile_co4 <= 16, "{out_c} {k}: {t:?}");
        }
        let t = Tiling::for_adapter(128, 3, 1, "integrated");
        assert_eq!((t.tile_px, t.tile_co4), (8, 2));
        let t = Tiling::for_adapter(32, 9, 1, "discrete");
        assert_eq!((t.tile_px, t.tile_co4), (4, 4));
        let t = Tiling::for_adapter(3, 9, 1, "discrete");
        assert_eq!((t.tile_px, t.tile_co4), (8, 1));
    }
}
