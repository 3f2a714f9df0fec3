//! Gatys et al. (2015) style transfer by optimising the image: the loss terms, computed on the
//! GPU exactly as `DESIGN.md` specifies so results compare with jcjohnson/neural-style.
//!
//! The optimised image `x` lives in VGG's input space (BGR, 0-255, minus the mean).
//! - content: `content_weight * mean((F(x) - F(c))^2)` at relu4_2;
//! - style: for each style layer l, `G = F F^T / (C H W)` and
//!   `style_weight * w_l * mean over C x C of (G(x) - G_target)^2`, with `G_target` the blend
//!   `sum_i b_i G(s_i)` of the style images' Gram matrices;
//! - total variation: `tv_weight * 0.5 * sum (x[i,j] - x[i,j+1])^2 + (x[i,j] - x[i+1,j])^2`.
//!
//! What is here: targets and the forward loss terms. The backward kernels and the optimisers
//! (L-BFGS, Adam) are the next step of the Gatys work.

use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::Vgg19;
use crate::ops;
use crate::{Error, Result};

/// The content layer.
pub const CONTENT_LAYER: &str = "relu4_2";
/// The default style layers.
pub const STYLE_LAYERS: [&str; 5] = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"];

/// Loss weights; defaults as in neural-style.
#[derive(Debug, Clone, PartialEq)]
pub struct LossWeights {
    /// Content weight (5).
    pub content: f32,
    /// Style weight (100).
    pub style: f32,
    /// Total-variation weight (1e-3).
    pub tv: f32,
    /// Per-style-layer weights `w_l` (all 1).
    pub layers: Vec<f32>,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            content: 5.0,
            style: 100.0,
            tv: 1e-3,
            layers: vec![1.0; STYLE_LAYERS.len()],
        }
    }
}

/// The targets a run compares against: the content features and the blended style Grams.
pub struct Targets {
    content: Tensor,
    grams: Vec<Tensor>,
}

/// Each loss term already multiplied by its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossValues {
    /// Content term.
    pub content: f32,
    /// Style term (all layers).
    pub style: f32,
    /// Total-variation term.
    pub tv: f32,
    /// Their sum.
    pub total: f32,
}

/// Builds the targets from the content image and the style images (all [3, H, W] in VGG
/// space) with blend weights that are normalised to sum to 1.
pub async fn targets(
    ctx: &GpuContext,
    vgg: &Vgg19,
    content: &Tensor,
    styles: &[(&Tensor, f32)],
) -> Result<Targets> {
    let total: f32 = styles.iter().map(|s| s.1).sum();
    if styles.is_empty() || styles.iter().any(|s| s.1.is_nan() || s.1 < 0.0) || total <= 0.0 {
        return Err(Error::InvalidArgument { op: "gatys", message: "give at least one style image, with non-negative blend weights that do not sum to 0".into() });
    }
    let mut plan = Plan::new("gatys.targets");
    let content_features = vgg
        .record(ctx, &mut plan, content, &[CONTENT_LAYER])?
        .remove(0);
    let mut blended: Vec<Option<Tensor>> = vec![None; STYLE_LAYERS.len()];
    for &(image, weight) in styles {
        let feats = vgg.record(ctx, &mut plan, image, &STYLE_LAYERS)?;
        for (slot, f) in blended.iter_mut().zip(feats) {
            let (c, h, w) = f.chw("gatys")?;
            let g = ops::gram(ctx, &mut plan, &f, 1.0 / (c * h * w) as f32)?;
            let b = weight / total;
            *slot = Some(match slot.take() {
                None => ops::unary(
                    ctx,
                    &mut plan,
                    &g,
                    ops::Unary::Affine {
                        alpha: b,
                        beta: 0.0,
                    },
                )?,
                Some(acc) => {
                    ops::scale_add(ctx, &mut plan, &acc, 1.0, &g, b, ops::Activation::None)?
                }
            });
        }
    }
    plan.run(ctx).await?;
    Ok(Targets {
        content: content_features,
        grams: blended
            .into_iter()
            .map(|g| g.expect("one style at least"))
            .collect(),
    })
}

/// Records the loss terms of `x` into `plan`; returns one-element tensors (content, one per
/// style layer, tv), each already weighted.
pub fn record_losses(
    ctx: &GpuContext,
    plan: &mut Plan,
    vgg: &Vgg19,
    x: &Tensor,
    targets: &Targets,
    weights: &LossWeights,
) -> Result<Vec<Tensor>> {
    if weights.layers.len() != STYLE_LAYERS.len() {
        return Err(Error::InvalidArgument {
            op: "gatys",
            message: format!(
                "{} style layer weights given for {} style layers",
                weights.layers.len(),
                STYLE_LAYERS.len()
            ),
        });
    }
    let mut taps = vec![CONTENT_LAYER];
    taps.extend(STYLE_LAYERS);
    let feats = vgg.record(ctx, plan, x, &taps)?;
    let mut out = Vec::new();
    let n = feats[0].numel() as f32;
    out.push(ops::reduce(
        ctx,
        plan,
        &feats[0],
        Some(&targets.content),
        ops::Reduction::SumSquaredDiff,
        weights.content / n,
    )?);
    for ((f, target), w_l) in feats[1..].iter().zip(&targets.grams).zip(&weights.layers) {
        let (c, h, w) = f.chw("gatys")?;
        let g = ops::gram(ctx, plan, f, 1.0 / (c * h * w) as f32)?;
        out.push(ops::reduce(
            ctx,
            plan,
            &g,
            Some(target),
            ops::Reduction::SumSquaredDiff,
            weights.style * w_l / (c * c) as f32,
        )?);
    }
    out.push(ops::total_variation(ctx, plan, x, 0.5 * weights.tv)?);
    Ok(out)
}

/// Runs [`record_losses`] once and reads the values back.
pub async fn losses(
    ctx: &GpuContext,
    vgg: &Vgg19,
    x: &Tensor,
    targets: &Targets,
    weights: &LossWeights,
) -> Result<LossValues> {
    let mut plan = Plan::new("gatys.losses");
    let terms = record_losses(ctx, &mut plan, vgg, x, targets, weights)?;
    plan.run(ctx).await?;
    let v: Vec<f32> = ctx
        .read_many(&terms.iter().collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|t| t[0])
        .collect();
    let content = v[0];
    let tv = v[v.len() - 1];
    let style: f32 = v[1..v.len() - 1].iter().sum();
    Ok(LossValues {
        content,
        style,
        tv,
        total: content + style + tv,
    })
}
