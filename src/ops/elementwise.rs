//! Element-wise ops: scale-and-shift, ReLU, ReLU6, sigmoid, clamp (one input), and add /
//! scale-add with an optional activation (two inputs).

use super::{kernel, same_shape, Activation};
use crate::gpu::params::params;
use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const UNARY: Kernel = kernel!("elementwise.wgsl", "unary");
const BINARY: Kernel = kernel!("elementwise_binary.wgsl", "main");

/// A one-input element-wise op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// alpha * x + beta.
    Affine {
        /// Scale.
        alpha: f32,
        /// Shift.
        beta: f32,
    },
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// 1 / (1 + exp(-x)).
    Sigmoid,
    /// min(max(x, lo), hi).
    Clamp {
        /// Lower bound.
        lo: f32,
        /// Upper bound.
        hi: f32,
    },
}

impl Unary {
    /// Applies the op on the CPU (for oracles).
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Unary::Affine { alpha, beta } => alpha * v + beta,
            Unary::Relu => Activation::Relu.apply(v),
            Unary::Relu6 => Activation::Relu6.apply(v),
            Unary::Sigmoid => Activation::Sigmoid.apply(v),
            Unary::Clamp { lo, hi } => v.clamp(lo, hi),
        }
    }
}

params! {
    pub(crate) struct Params {
        n: u32,
        op: u32,
        alpha: f32,
        beta: f32,
        lo: f32,
        hi: f32,
        _pad: [u32; 2],
    }
}

/// Appends `y = op(x)` to `plan`.
pub fn unary(ctx: &GpuContext, plan: &mut Plan, x: &Tensor, op: Unary) -> Result<Tensor> {
    let n = x.numel();
    let (code, alpha, beta, lo, hi) = match op {
        Unary::Affine { alpha, beta } => (0, alpha, beta, 0.0, 0.0),
        Unary::Relu => (1, 1.0, 0.0, 0.0, 0.0),
        Unary::Relu6 => (2, 1.0, 0.0, 0.0, 0.0),
        Unary::Sigmoid => (3, 1.0, 0.0, 0.0, 0.0),
        Unary::Clamp { lo, hi } => {
            if lo > hi || lo.is_nan() || hi.is_nan() {
                return Err(crate::Error::InvalidArgument {
                    op: "clamp",
                    message: format!("lower bound {lo} must not exceed upper bound {hi}"),
                });
            }
            (4, 1.0, 0.0, lo, hi)
        }
    };
    let y = plan.alloc(ctx, &format!("{}.unary", x.label()), x.shape(), DType::F32)?;
    let p = Params {
        n: n as u32,
        op: code,
        alpha,
        beta,
        lo,
        hi,
        _pad: [0; 2],
    };
    plan.push(ctx.dispatch(
        "elementwise",
        &UNARY,
        &[],
        &p,
        &[x, &y],
        linear_workgroups(n, 256),
    )?);
    Ok(y)
}

/// Appends `y = act(alpha * a + beta * b)` to `plan`; `a` and `b` must have one shape.
pub fn scale_add(
    ctx: &GpuContext,
    plan: &mut Plan,
    a: &Tensor,
    alpha: f32,
    b: &Tensor,
    beta: f32,
    act: Activation,
) -> Result<Tensor> {
    same_shape("scale_add", a, b)?;
    let n = a.numel();
    let y = plan.alloc(ctx, &format!("{}.add", a.label()), a.shape(), DType::F32)?;
    let p = Params {
        n: n as u32,
        op: act.code(),
        alpha,
        beta,
        lo: 0.0,
        hi: 0.0,
        _pad: [0; 2],
    };
    plan.push(ctx.dispatch(
        "elementwise_binary",
        &BINARY,
        &[],
        &p,
        &[a, b, &y],
        linear_workgroups(n, 256),
    )?);
    Ok(y)
}

/// Appends `y = a + b` to `plan`.
pub fn add(ctx: &GpuContext, plan: &mut Plan, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    scale_add(ctx, plan, a, 1.0, b, 1.0, Activation::None)
}

/// Adds `t` into a running sum (`None` before the first term) and releases both addends for
/// reuse later in the plan: gradient accumulation, where each term is used once.
pub fn accumulate(
    ctx: &GpuContext,
    plan: &mut Plan,
    acc: Option<Tensor>,
    t: Tensor,
) -> Result<Tensor> {
    let Some(acc) = acc else { return Ok(t) };
    let sum = add(ctx, plan, &acc, &t)?;
    plan.release(acc);
    plan.release(t);
    Ok(sum)
}

/// Appends the ReLU backward: `grad_in = grad_out` where the ReLU's output `y` is positive,
/// else 0.
pub fn relu_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    grad_out: &Tensor,
    y: &Tensor,
) -> Result<Tensor> {
    activation_backward(ctx, plan, grad_out, y, Activation::Relu)
}

/// Appends the backward of a fused activation from its output `y`: ReLU and ReLU6 pass
/// `grad_out` where `y` is inside their linear part, sigmoid multiplies it by `y (1 - y)`;
/// `Activation::None` is a copy.
pub fn activation_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    grad_out: &Tensor,
    y: &Tensor,
    act: Activation,
) -> Result<Tensor> {
    same_shape("activation_backward", grad_out, y)?;
    let (op, alpha) = match act {
        Activation::Relu => (5, 1.0),
        Activation::Relu6 => (6, 1.0),
        Activation::Sigmoid => (7, 1.0),
        // The identity: y = 1 * grad_out + 0 * y.
        Activation::None => (0, 1.0),
    };
    let n = y.numel();
    let g = plan.alloc(ctx, &format!("{}.grad", y.label()), y.shape(), DType::F32)?;
    let p = Params {
        n: n as u32,
        op,
        alpha,
        beta: 0.0,
        lo: 0.0,
        hi: 0.0,
        _pad: [0; 2],
    };
    plan.push(ctx.dispatch(
        "activation_backward",
        &BINARY,
        &[],
        &p,
        &[grad_out, y, &g],
        linear_workgroups(n, 256),
    )?);
    Ok(g)
}
