//! The backward of padding: from the gradient of a padded tensor to that of the tensor
//! (the convolutions pad as they read, so only the backward is an op of its own).

use super::{grid, kernel, shape_err, Padding};
use crate::gpu::params::params;
use crate::gpu::{DType, GpuContext, Kernel, Plan, Tensor};
use crate::Result;

const PAD_BACKWARD: Kernel = kernel!("pad_backward.wgsl", "main");

params! {
    pub(crate) struct Params {
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        channels: u32,
        pad_t: u32,
        pad_l: u32,
        reflect: u32,
    }
}

/// Appends the gradient with respect to an unpadded [C, H, W] tensor from `grad_padded`, the
/// gradient with respect to it padded by `pad` ([top, left, bottom, right]) with `padding`:
/// zero padding keeps the interior; reflection padding also adds each mirrored border
/// position back onto the pixel it copied.
pub fn pad_backward(
    ctx: &GpuContext,
    plan: &mut Plan,
    grad_padded: &Tensor,
    pad: [usize; 4],
    padding: Padding,
) -> Result<Tensor> {
    let (c, ph, pw) = grad_padded.chw("pad_backward")?;
    let [t, l, b, r] = pad;
    let (h, w) = (ph.saturating_sub(t + b), pw.saturating_sub(l + r));
    if h == 0 || w == 0 || (padding == Padding::Reflect && (t.max(b) >= h || l.max(r) >= w)) {
        return Err(shape_err(
            "pad_backward",
            format!("[{c}, {ph}, {pw}] is not a tensor padded by {pad:?} ({padding:?}): reflection needs a pad smaller than the side"),
        ));
    }
    let label = format!("{}.unpad", grad_padded.label());
    let g = plan.alloc(ctx, &label, &[c, h, w], DType::F32)?;
    let p = Params {
        in_h: ph as u32,
        in_w: pw as u32,
        out_h: h as u32,
        out_w: w as u32,
        channels: c as u32,
        pad_t: t as u32,
        pad_l: l as u32,
        reflect: (padding == Padding::Reflect) as u32,
    };
    let groups = grid(w, h, c, [8, 8]);
    plan.push(ctx.dispatch(
        "pad_backward",
        &PAD_BACKWARD,
        &[],
        &p,
        &[grad_padded, &g],
        groups,
    )?);
    Ok(g)
}
