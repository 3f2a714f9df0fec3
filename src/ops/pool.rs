//! Max and average pooling over k x k windows (2x2 stride 2 in VGG19), no padding, floor
//! output size.

use super::{grid, kernel, shape_err};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const POOL: Kernel = kernel!("pool.wgsl", "main");
const POOL_BACKWARD: Kernel = kernel!("pool_backward.wgsl", "main");
const POOL_BACKWARD_WINDOWS: Kernel = kernel!("pool_backward.wgsl", "windows_main");

/// Which pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolMode {
    /// Maximum of the window (as VGG19 was trained).
    #[default]
    Max,
    /// Mean of the window (as in Gatys et al.).
    Avg,
}

params! {
    pub(crate) struct Params {
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        channels: u32,
        k: u32,
        stride: u32,
        mode: u32,
    }
}

impl Params {
    /// The geometry of pooling `x` [C, H, W] with a `k` x `k` window and `stride` (floor output
    /// size), or a shape error naming `op`.
    fn new(x: &Tensor, mode: PoolMode, k: usize, stride: usize, op: &'static str) -> Result<Self> {
        let (c, h, w) = x.chw(op)?;
        if k == 0 || stride == 0 || h < k || w < k {
            return Err(shape_err(op, format!("'{}' {:?} is smaller than the {k}x{k} window (or k or stride is 0); use a larger image", x.label(), x.shape())));
        }
        let (oh, ow) = ((h - k) / stride + 1, (w - k) / stride + 1);
        Ok(Self {
            in_h: h as u32,
            in_w: w as u32,
            out_h: oh as u32,
            out_w: ow as u32,
            channels: c as u32,
            k: k as u32,
            stride: stride as u32,
            mode: (mode == PoolMode::Avg) as u32,
        })
    }
}

/// Appends pooling of `x` [C, H, W] with a `k` x `k` window and `stride`.
pub fn pool2d(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    mode: PoolMode,
    k: usize,
    stride: usize,
) -> Result<Tensor> {
    let p = Params::new(x, mode, k, stride, "pool2d")?;
    let (c, oh, ow) = (p.channels as usize, p.out_h as usize, p.out_w as usize);
    let y = plan.alloc(
        ctx,
        &format!("{}.pool", x.label()),
        &[c, oh, ow],
        DType::F32,
    )?;
    plan.push(ctx.dispatch("pool2d", &POOL, &[], &p, &[x, &y], grid(ow, oh, c, [8, 8]))?);
    Ok(y)
}

/// Appends the gradient of [`pool2d`] with respect to its input: `x` is the forward input,
/// `grad_out` the gradient of the pooled output; returns a tensor shaped like `x`.
pub fn pool2d_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    x: &Tensor,
    grad_out: &Tensor,
    mode: PoolMode,
    k: usize,
    stride: usize,
) -> Result<Tensor> {
    let p = Params::new(x, mode, k, stride, "pool2d_backward")?;
    let (c, h, w) = (p.channels as usize, p.in_h as usize, p.in_w as usize);
    let (oh, ow) = (p.out_h as usize, p.out_w as usize);
    if grad_out.shape() != [c, oh, ow] {
        return Err(shape_err(
            "pool2d_backward",
            format!(
                "gradient '{}' is {:?} but the pooled output is [{c}, {oh}, {ow}]",
                grad_out.label(),
                grad_out.shape()
            ),
        ));
    }
    let g = plan.alloc(ctx, &format!("{}.grad", x.label()), &[c, h, w], DType::F32)?;
    // Windows that do not overlap: a thread a window, which scans it once (on lavapipe the
    // three 2x2 / 2 pool gradients of a 128 px training step: 158-165 -> 60-62 ms, 2.6x,
    // against a thread an element rescanning its window).
    let (kernel, groups) = if k == stride {
        let cells = h.div_ceil(k) * w.div_ceil(k) * c;
        (&POOL_BACKWARD_WINDOWS, linear_workgroups(cells, 256))
    } else {
        (&POOL_BACKWARD, grid(w, h, c, [8, 8]))
    };
    let inputs = [x, grad_out, &g];
    plan.push(ctx.dispatch("pool2d_backward", kernel, &[], &p, &inputs, groups)?);
    Ok(g)
}
