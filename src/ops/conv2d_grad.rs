//! The gradients of a convolution: with respect to its input ([`InputGradient`], a convolution
//! with the flipped kernel) and to its weights and bias ([`weight_gradient`], written in the
//! layout the forward kernel reads, so an optimiser updates them in place).

use super::im2col::{im2col, Rows, Windows};
use super::upsample::dilate;
use super::{
    copy_strided, kernel, shape_err, Activation, Conv2d, Conv2dParams, ConvKernel, Padding,
    Strided, Write,
};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::{Error, Result};

const WEIGHT_GRAD: Kernel = kernel!("conv2d_weight_grad.wgsl", "main");
const FLIP: Kernel = kernel!("conv2d_flip.wgsl", "main");

params! {
    pub(crate) struct GradParams {
        in_c: u32,
        in_h: u32,
        in_w: u32,
        out_c: u32,
        out_h: u32,
        out_w: u32,
        pad_t: u32,
        pad_l: u32,
        reflect: u32,
        stride: u32,
        k_h: u32,
        k_w: u32,
        co_pad: u32,
        g_co_pad: u32,
        w_at: u32,
        b_at: u32,
        add: u32,
        scale: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// Where [`weight_gradient`] writes: `dst[weights_at..]` in the layout of the layer's
/// [`Conv2d::weights`] and `dst[bias_at..]` in that of its [`Conv2d::bias`], `scale` times
/// the gradient, set or added to what is there (a batch's gradients accumulate).
#[derive(Debug, Clone, Copy)]
pub struct GradTarget<'a> {
    /// The flat gradient vector.
    pub dst: &'a Tensor,
    /// Offset of the weights' gradient.
    pub weights_at: usize,
    /// Offset of the bias's gradient.
    pub bias_at: usize,
    /// Factor on the gradient (1 / batch).
    pub scale: f32,
    /// Set or add.
    pub write: Write,
}

/// Records the gradient of a loss with respect to `conv`'s weights and bias, from `x` (the
/// layer's input, [in_c, h, w]) and `gy` (the gradient with respect to its output,
/// [out_c, out_h, out_w]). The layer must run the tiled kernel (groups 1) with no fused
/// activation (differentiate the activation first).
pub fn weight_gradient(
    ctx: &GpuContext,
    plan: &mut Plan,
    conv: &Conv2d,
    x: &Tensor,
    gy: &Tensor,
    to: GradTarget<'_>,
) -> Result<()> {
    let op = "conv2d weight gradient";
    let label = conv.label();
    if !matches!(conv.kernel(), ConvKernel::Tiled(_))
        || conv.params().activation != Activation::None
    {
        return Err(Error::InvalidArgument {
            op,
            message: format!("'{label}': weight gradients need a layer on the tiled kernel (groups 1) without a fused activation"),
        });
    }
    let [out_c, in_c, k_h, k_w] = conv.shape();
    let (c, h, w) = x.chw(op)?;
    let (oh, ow) = conv.output_size(h, w)?;
    if c != in_c || gy.shape() != [out_c, oh, ow] {
        return Err(shape_err(op, format!("'{label}': input {:?} and output gradient {:?} do not fit a {:?} layer (expected [{in_c}, h, w] and [{out_c}, {oh}, {ow}])", x.shape(), gy.shape(), conv.shape())));
    }
    let (wn, bn) = (conv.weights().numel(), conv.bias().numel());
    if to.weights_at + wn > to.dst.numel() || to.bias_at + bn > to.dst.numel() {
        return Err(shape_err(
            op,
            format!(
                "'{label}': {wn} weights at {} and {bn} biases at {} do not fit '{}' ({} values)",
                to.weights_at,
                to.bias_at,
                to.dst.label(),
                to.dst.numel()
            ),
        ));
    }
    let co_pad = conv.padded_out_channels();
    if let Some(cols) = product_columns(ctx, conv, co_pad) {
        return weight_gradient_as_product(ctx, plan, conv, x, gy, to, cols);
    }
    let prm = conv.params();
    let p = GradParams {
        in_c: in_c as u32,
        in_h: h as u32,
        in_w: w as u32,
        out_c: out_c as u32,
        out_h: oh as u32,
        out_w: ow as u32,
        pad_t: prm.pad[0] as u32,
        pad_l: prm.pad[1] as u32,
        reflect: (prm.padding == Padding::Reflect) as u32,
        stride: prm.stride as u32,
        k_h: k_h as u32,
        k_w: k_w as u32,
        co_pad: co_pad as u32,
        g_co_pad: 0,
        w_at: to.weights_at as u32,
        b_at: to.bias_at as u32,
        add: (to.write == Write::Add) as u32,
        scale: to.scale,
        _pad0: 0,
        _pad1: 0,
    };
    // Eight output channels an invocation where the layout's channel blocks allow.
    let co4 = if co_pad.is_multiple_of(8) { 2 } else { 1 };
    let n = co_pad / (4 * co4) * (in_c * k_h + 1);
    let groups = linear_workgroups(n, 64);
    let constants = [("K_W", k_w as f64), ("CO4", co4 as f64)];
    let label = format!("{label}.weight_grad");
    let d = ctx.dispatch(
        &label,
        &WEIGHT_GRAD,
        &constants,
        &p,
        &[x, gy, to.dst],
        groups,
    )?;
    plan.push(d.with_flops(2 * (out_c * in_c * k_h * k_w * oh * ow) as u64));
    Ok(())
}

/// The most bytes one matrix of windows takes in [`weight_gradient_as_product`]: a larger
/// layer's pixels go through the product in slices of at most this, which bounds the memory it
/// adds to a training step (a 256 px image's 64->32 layer would need 150 MiB at once).
const WINDOWS_BYTES: usize = 8 << 20;

/// Columns of the window matrix where the weight gradient runs as a matrix product on the
/// convolution kernels: the window's taps, a column of ones for the bias, zeros up to a whole
/// number of the product's channel blocks. Taken where the subgroup kernels are the default
/// (lavapipe: a Johnson net's training step spent half its time in the gradient kernel at 0.8
/// GFLOP/s, where the convolutions reach 7-8). Elsewhere, where it is not measured, the
/// gradient kernel stays.
fn product_columns(ctx: &GpuContext, conv: &Conv2d, co_pad: usize) -> Option<usize> {
    let [_, in_c, k_h, k_w] = conv.shape();
    let cols = (in_c * k_h * k_w + 1).next_multiple_of(16);
    let fills = |c| Conv2d::fills_channel_blocks(ctx, c);
    // A thin layer's product is one thin block over a large window matrix: the 9x9 32->3 layer
    // to RGB took 1000 ms that way against the kernel's 390.
    let wide = co_pad >= 16;
    (ctx.adapter().subgroup_conv_by_default() && wide && fills(cols) && fills(co_pad))
        .then_some(cols)
}

/// [`weight_gradient`] as the product of the windows of `x` ([`im2col`], pixels by taps, with
/// the bias's ones) and `gy`'s pixels (its transpose): `dW[tap][co] = sum over pixels of
/// windows[p][tap] * gy[co][p]`, a 1x1 convolution whose weights are the window matrix (the
/// tiled layout is [in][out]) over `gy`'s pixels as its input's planes, so the product comes out
/// as [taps + ones + zeros][co]: the weights' gradient in the layer's layout, then the bias's
/// (for thin layers the other way round, then transposed). Slices of pixels accumulate as the
/// convolution stores ([`Conv2d::record_add`]); the result is scaled into the target.
fn weight_gradient_as_product(
    ctx: &GpuContext,
    plan: &mut Plan,
    conv: &Conv2d,
    x: &Tensor,
    gy: &Tensor,
    to: GradTarget<'_>,
    cols: usize,
) -> Result<()> {
    let (_, h, w) = x.chw("conv2d weight gradient")?;
    let [_, in_c, k_h, k_w] = conv.shape();
    let product = Product {
        label: format!("{}.weight_grad", conv.label()),
        windows: Windows::of(conv, h, w)?,
        cols,
        // `gy`'s rows padded with zeros to the layout's channels: their gradients come out 0.
        out_c: conv.padded_out_channels(),
    };
    let [oh, ow] = product.windows.out;
    let slice = (WINDOWS_BYTES / (4 * cols)).max(1);
    let mut sum: Option<Tensor> = None;
    for start in (0..oh * ow).step_by(slice) {
        let pixels = start..(start + slice).min(oh * ow);
        let next = product.record(ctx, plan, (x, gy), pixels, sum.as_ref())?;
        if let Some(s) = sum.replace(next) {
            plan.release(s);
        }
    }
    let mut sum = sum.expect("a layer's output has at least one pixel");
    let out_c = product.out_c;
    if product.by_taps() {
        let t = super::transpose(ctx, plan, &sum, [out_c, cols])?;
        plan.release(std::mem::replace(&mut sum, t));
    }
    let taps = in_c * k_h * k_w * out_c;
    let parts = [(0, to.weights_at, taps), (taps, to.bias_at, out_c)];
    for (from, at, n) in parts {
        copy_strided(
            ctx,
            plan,
            n,
            (&sum, Strided::contiguous(from)),
            (to.dst, Strided::contiguous(at)),
            to.scale,
            to.write,
        )?;
    }
    plan.release(sum);
    Ok(())
}

/// One layer's weight gradient as a product, slice by slice of its output pixels.
struct Product {
    label: String,
    windows: Windows,
    /// Values a row of the window matrix.
    cols: usize,
    /// The layout's (padded) output channels.
    out_c: usize,
}

impl Product {
    /// Whether `gy`'s pixels are the weights and the windows the planes. A product with a plane
    /// of fewer than 64 pixels leaves the subgroup kernel's lanes idle (the 32-channel layers'
    /// ran on the plain tiled kernel at 1.3-2.2 GFLOP/s), so there it is transposed (4.1-4.5
    /// GFLOP/s, then a transpose of the small result); 64 channels and more are as fast the
    /// first way (4.3-4.7) and need no transpose.
    fn by_taps(&self) -> bool {
        self.out_c < 64
    }

    /// The product over `pixels` of `x` and `gy`, plus `sum` where given: [cols][1][out_c], or
    /// [out_c][1][cols] [`Product::by_taps`].
    fn record(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        (x, gy): (&Tensor, &Tensor),
        pixels: std::ops::Range<usize>,
        sum: Option<&Tensor>,
    ) -> Result<Tensor> {
        let n = pixels.len();
        let rows = Rows {
            pixels: pixels.clone(),
            cols: self.cols,
            ones: true,
        };
        let a = im2col(ctx, plan, x, &self.windows, &rows)?;
        let [oh, ow] = self.windows.out;
        let gy_rows = Rows {
            pixels,
            cols: self.out_c,
            ones: false,
        };
        let g = im2col(ctx, plan, gy, &Windows::pixels(oh, ow), &gy_rows)?;
        // The weights [n][out] and the input's planes of `px` pixels.
        let ((weights, out), (input, px)) = if self.by_taps() {
            ((g, self.out_c), (a, self.cols))
        } else {
            ((a, self.cols), (g, self.out_c))
        };
        let conv = Conv2d::pointwise_transposed(ctx, &self.label, &weights, n, out)?;
        let label = format!("{}.planes", self.label);
        let planes = input.reshaped(&label, &[n, 1, px], DType::F32);
        let y = match sum {
            None => conv.record(ctx, plan, &planes)?,
            Some(s) => conv.record_add(ctx, plan, &planes, s)?,
        };
        plan.release(weights);
        plan.release(planes);
        Ok(y)
    }
}

/// The gradient of a convolution with respect to its input: a convolution with the weights'
/// input and output channels swapped and the kernel flipped, over the output gradient
/// (dilated by the stride), giving the gradient of the padded input, then the padding's
/// backward ([`super::pad_backward`]: a crop, or for reflection padding the mirrored border
/// folded back). Stride 1 with zero padding smaller than the kernel (VGG) is one convolution.
pub struct InputGradient {
    conv: Conv2d,
    /// The forward layer's [out_c, in_c, k_h, k_w] and parameters.
    shape: [usize; 4],
    params: Conv2dParams,
}

impl InputGradient {
    /// Builds the input gradient of a forward layer with OIHW `weights` of `shape` and
    /// `params` (groups 1).
    pub fn new(
        ctx: &GpuContext,
        label: &str,
        weights: &[f32],
        shape: [usize; 4],
        params: &Conv2dParams,
    ) -> Result<Self> {
        let [out_c, in_c, k_h, k_w] = shape;
        let op = "conv2d input gradient";
        if params.groups != 1 || params.stride == 0 {
            return Err(Error::InvalidArgument {
                op,
                message: format!("'{label}': only groups 1 is supported, got {params:?}"),
            });
        }
        if weights.len() != out_c * in_c * k_h * k_w {
            return Err(shape_err(
                op,
                format!(
                    "'{label}': weights hold {} values but shape {shape:?} needs {}",
                    weights.len(),
                    out_c * in_c * k_h * k_w
                ),
            ));
        }
        let mut t = vec![0.0f32; weights.len()];
        for co in 0..out_c {
            for ci in 0..in_c {
                for ky in 0..k_h {
                    for kx in 0..k_w {
                        t[((ci * out_c + co) * k_h + (k_h - 1 - ky)) * k_w + (k_w - 1 - kx)] =
                            weights[((co * in_c + ci) * k_h + ky) * k_w + kx];
                    }
                }
            }
        }
        let pad = if Self::direct(params, shape) {
            let [pt, pl, pb, pr] = params.pad;
            [k_h - 1 - pt, k_w - 1 - pl, k_h - 1 - pb, k_w - 1 - pr]
        } else {
            [k_h - 1, k_w - 1, k_h - 1, k_w - 1]
        };
        let grad_params = Conv2dParams {
            pad,
            ..Conv2dParams::default()
        };
        let label = format!("{label}.input_grad");
        let conv = Conv2d::new(ctx, &label, &t, [in_c, out_c, k_h, k_w], None, grad_params)?;
        Ok(Self {
            conv,
            shape,
            params: *params,
        })
    }

    /// The input gradient of `forward`, whose weights it takes from the GPU each time
    /// [`InputGradient::follow`] is recorded (before that its weights are zeros).
    pub fn following(ctx: &GpuContext, forward: &Conv2d) -> Result<Self> {
        let zeros = vec![0.0; forward.shape().iter().product()];
        Self::new(
            ctx,
            forward.label(),
            &zeros,
            forward.shape(),
            forward.params(),
        )
    }

    /// Records a copy of `forward`'s current weights (on the tiled kernel, of the shape this
    /// gradient was made for) into this gradient's flipped, transposed layout.
    pub fn follow(&self, ctx: &GpuContext, plan: &mut Plan, forward: &Conv2d) -> Result<()> {
        let op = "conv2d input gradient";
        if forward.shape() != self.shape
            || !matches!(forward.kernel(), ConvKernel::Tiled(_))
            || !matches!(self.conv.kernel(), ConvKernel::Tiled(_))
        {
            return Err(shape_err(
                op,
                format!(
                    "'{}' ({:?}, {:?}) is not the tiled layer this gradient was made for ({:?})",
                    forward.label(),
                    forward.shape(),
                    forward.kernel(),
                    self.shape
                ),
            ));
        }
        let [out_c, in_c, k_h, k_w] = self.shape;
        let g_co_pad = self.conv.padded_out_channels();
        let p = GradParams {
            in_c: in_c as u32,
            out_c: out_c as u32,
            k_h: k_h as u32,
            k_w: k_w as u32,
            co_pad: forward.padded_out_channels() as u32,
            g_co_pad: g_co_pad as u32,
            ..bytemuck::Zeroable::zeroed()
        };
        let n = k_h * k_w * out_c * g_co_pad;
        let label = format!("{}.flip", forward.label());
        plan.push(ctx.dispatch(
            &label,
            &FLIP,
            &[],
            &p,
            &[forward.weights(), self.conv.weights()],
            linear_workgroups(n, 256),
        )?);
        Ok(())
    }

    /// Whether the gradient is one convolution: stride 1, zero padding smaller than the kernel.
    fn direct(params: &Conv2dParams, [_, _, k_h, k_w]: [usize; 4]) -> bool {
        let [pt, pl, pb, pr] = params.pad;
        params.stride == 1
            && params.padding == Padding::Zero
            && pt.max(pb) < k_h
            && pl.max(pr) < k_w
    }

    /// Records the gradient with respect to the forward layer's input [in_c, h, w] from
    /// `grad_out`, the gradient with respect to its output (before its activation).
    pub fn record(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        grad_out: &Tensor,
        (h, w): (usize, usize),
    ) -> Result<Tensor> {
        if Self::direct(&self.params, self.shape) {
            return self.conv.record(ctx, plan, grad_out);
        }
        let [_, _, k_h, k_w] = self.shape;
        let [pt, pl, pb, pr] = self.params.pad;
        let (ph, pw) = (h + pt + pb, w + pl + pr);
        if ph < k_h || pw < k_w {
            return Err(shape_err(
                "conv2d input gradient",
                format!(
                    "a {h}x{w} input padded by {:?} is smaller than the kernel",
                    self.params.pad
                ),
            ));
        }
        // The dilated gradient, zero-filled to the size whose full convolution is the padded
        // input's (the rows and columns the strided forward never read get zero gradient).
        let s = self.params.stride;
        let dilated = dilate(ctx, plan, grad_out, s, (ph - k_h + 1, pw - k_w + 1))?;
        let padded = self.conv.record(ctx, plan, &dilated)?;
        plan.release(dilated);
        let g = super::pad_backward(ctx, plan, &padded, self.params.pad, self.params.padding)?;
        plan.release(padded);
        Ok(g)
    }
}
