//! Gatys et al. (2015) style transfer by optimising the image: the loss terms, computed on the
//! GPU exactly as jcjohnson/neural-style defines them (below), so results compare with it.
//!
//! The optimised image `x` lives in VGG's input space (BGR, 0-255, minus the mean).
//! - content: `content_weight * mean((F(x) - F(c))^2)` at relu4_2;
//! - style: for each style layer l, `G = F F^T / (C H W)` and
//!   `style_weight * w_l * mean over C x C of (G(x) - G_target)^2`, with `G_target` the blend
//!   `sum_i b_i G(s_i)` of the style images' Gram matrices;
//! - total variation: `tv_weight * 0.5 * sum (x[i,j] - x[i,j+1])^2 + (x[i,j] - x[i+1,j])^2`.
//!
//! The gradient with respect to `x` is computed on the GPU in the same plan as the losses
//! ([`record_gradient`]): the forward pass keeps every layer's activation, each loss term adds
//! its gradient at its layer, and [`Vgg19::record_backward`] carries the sum down to the image.
//! [`optim`] updates the image (L-BFGS or Adam, state on the GPU); [`run`] is the whole run with
//! its options, progress events, cancellation and memory estimate.

pub mod optim;
pub mod run;

pub use optim::{Optimizer, OptimizerState};
pub use run::{estimate_memory, Gatys, GatysOptions, GatysOutput, Init, MemoryEstimate, Progress};

use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::vgg::{tap_indices, Vgg19};
use crate::ops;
use crate::{Error, Result};

/// The content layer.
pub const CONTENT_LAYER: &str = "relu4_2";
/// The default style layers.
pub const STYLE_LAYERS: [&str; 5] = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"];

/// Loss weights and layers; defaults as in neural-style.
#[derive(Debug, Clone, PartialEq)]
pub struct LossWeights {
    /// Content weight (5).
    pub content: f32,
    /// Style weight (100).
    pub style: f32,
    /// Total-variation weight (1e-3).
    pub tv: f32,
    /// Content layers (relu4_2); each adds its own term.
    pub content_layers: Vec<String>,
    /// Style layers (relu1_1 .. relu5_1).
    pub style_layers: Vec<String>,
    /// Per-style-layer weights `w_l`, one per style layer (all 1).
    pub layer_weights: Vec<f32>,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            content: 5.0,
            style: 100.0,
            tv: 1e-3,
            content_layers: vec![CONTENT_LAYER.to_string()],
            style_layers: STYLE_LAYERS.iter().map(|s| s.to_string()).collect(),
            layer_weights: vec![1.0; STYLE_LAYERS.len()],
        }
    }
}

impl LossWeights {
    /// Checks the weights and layer names, naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| {
            Err(Error::InvalidArgument {
                op: "gatys",
                message,
            })
        };
        for (name, w) in [
            ("content", self.content),
            ("style", self.style),
            ("tv", self.tv),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return bad(format!(
                    "the {name} weight must be a finite number >= 0, got {w}"
                ));
            }
        }
        if self.layer_weights.len() != self.style_layers.len() {
            return bad(format!(
                "{} style layer weights given for {} style layers",
                self.layer_weights.len(),
                self.style_layers.len()
            ));
        }
        if let Some(w) = self
            .layer_weights
            .iter()
            .find(|w| !(w.is_finite() && **w >= 0.0))
        {
            return bad(format!(
                "style layer weights must be finite and >= 0, got {w}"
            ));
        }
        if self.content_layers.is_empty() && self.style_layers.is_empty() {
            return bad("choose at least one content or style layer".into());
        }
        tap_indices(&self.content_refs())?;
        tap_indices(&self.style_refs())?;
        Ok(())
    }

    fn content_refs(&self) -> Vec<&str> {
        self.content_layers.iter().map(String::as_str).collect()
    }

    fn style_refs(&self) -> Vec<&str> {
        self.style_layers.iter().map(String::as_str).collect()
    }
}

/// The targets a run compares against: the content features and the blended style Grams.
pub struct Targets {
    content: Vec<Tensor>,
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
    weights: &LossWeights,
) -> Result<Targets> {
    weights.validate()?;
    if styles.is_empty() {
        return Err(Error::InvalidArgument {
            op: "gatys",
            message: "give at least one style image".into(),
        });
    }
    let raw: Vec<f32> = styles.iter().map(|s| s.1).collect();
    let shares = crate::blend::normalize("gatys style blend", &raw)?;
    let mut plan = Plan::new("gatys.targets");
    let content_features = if weights.content_layers.is_empty() {
        Vec::new()
    } else {
        vgg.record(ctx, &mut plan, content, &weights.content_refs())?
    };
    let mut blended: Vec<Option<Tensor>> = vec![None; weights.style_layers.len()];
    for (&(image, _), share) in styles.iter().zip(shares) {
        if weights.style_layers.is_empty() {
            break;
        }
        let feats = vgg.record(ctx, &mut plan, image, &weights.style_refs())?;
        for (slot, f) in blended.iter_mut().zip(feats) {
            let (c, h, w) = f.chw("gatys")?;
            let g = ops::gram(ctx, &mut plan, &f, 1.0 / (c * h * w) as f32)?;
            let b = share;
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

/// The loss terms and the gradient of a Gatys loss, recorded into one plan.
pub struct Recorded {
    /// One-element tensors, each already weighted: the content layers' terms, the style layers'
    /// terms, then total variation.
    pub terms: Vec<Tensor>,
    /// Content terms at the front of `terms`.
    pub content_terms: usize,
    /// dL/dx, shaped like x (only when asked for).
    pub grad: Option<Tensor>,
}

impl Recorded {
    /// Sums read-back term values into [`LossValues`].
    pub fn values(&self, v: &[f32]) -> LossValues {
        let content: f32 = v[..self.content_terms].iter().sum();
        let tv = v[v.len() - 1];
        let style: f32 = v[self.content_terms..v.len() - 1].iter().sum();
        LossValues {
            content,
            style,
            tv,
            total: content + style + tv,
        }
    }
}

/// Records the loss terms of `x` and, if `gradient`, their gradient with respect to `x` into
/// `plan`. `x` is [3, H, W] in VGG space.
pub fn record_gradient(
    ctx: &GpuContext,
    plan: &mut Plan,
    vgg: &Vgg19,
    x: &Tensor,
    targets: &Targets,
    weights: &LossWeights,
    gradient: bool,
) -> Result<Recorded> {
    weights.validate()?;
    let content_idx = tap_indices(&weights.content_refs())?;
    let style_idx = tap_indices(&weights.style_refs())?;
    if targets.content.len() != content_idx.len() || targets.grams.len() != style_idx.len() {
        return Err(Error::InvalidArgument {
            op: "gatys",
            message: "the targets were built for other layers than these weights name".into(),
        });
    }
    let last = content_idx
        .iter()
        .chain(&style_idx)
        .copied()
        .max()
        .unwrap_or(0);
    let acts = vgg.record_all(ctx, plan, x, last)?;
    let mut terms = Vec::new();
    // Per content layer: (layer, scale of the mean); per style layer: (layer, Gram scale, term
    // scale, G).
    let mut content = Vec::new();
    for (&i, target) in content_idx.iter().zip(&targets.content) {
        let f = &acts[i];
        let s = weights.content / f.numel() as f32;
        terms.push(ops::reduce(
            ctx,
            plan,
            f,
            Some(target),
            ops::Reduction::SumSquaredDiff,
            s,
        )?);
        content.push((i, s, target));
    }
    let mut style = Vec::new();
    for ((&i, target), w_l) in style_idx
        .iter()
        .zip(&targets.grams)
        .zip(&weights.layer_weights)
    {
        let f = &acts[i];
        let (c, h, w) = f.chw("gatys")?;
        let a = 1.0 / (c * h * w) as f32;
        let g = ops::gram(ctx, plan, f, a)?;
        let s = weights.style * w_l / (c * c) as f32;
        terms.push(ops::reduce(
            ctx,
            plan,
            &g,
            Some(target),
            ops::Reduction::SumSquaredDiff,
            s,
        )?);
        style.push((i, a, s, g, target));
    }
    terms.push(ops::total_variation(ctx, plan, x, 0.5 * weights.tv)?);
    let grad = if gradient {
        let through_vgg = vgg.record_backward(ctx, plan, &acts, |plan, i| {
            let mut acc: Option<Tensor> = None;
            let f = &acts[i];
            // d/dF of s * sum (F - T)^2 = 2 s (F - T).
            for &(_, s, target) in content.iter().filter(|c| c.0 == i) {
                let gf = ops::scale_add(
                    ctx,
                    plan,
                    f,
                    2.0 * s,
                    target,
                    -2.0 * s,
                    ops::Activation::None,
                )?;
                acc = Some(ops::accumulate(ctx, plan, acc.take(), gf)?);
            }
            // d/dG of s * sum (G - T)^2 = 2 s (G - T), then through G = a F F^T.
            for (_, a, s, g, target) in style.iter().filter(|c| c.0 == i) {
                let dg = ops::scale_add(
                    ctx,
                    plan,
                    g,
                    2.0 * s,
                    target,
                    -2.0 * s,
                    ops::Activation::None,
                )?;
                let gf = ops::gram_backward(ctx, plan, f, &dg, *a)?;
                acc = Some(ops::accumulate(ctx, plan, acc.take(), gf)?);
            }
            Ok(acc)
        })?;
        if weights.tv > 0.0 {
            let tv = ops::total_variation_backward(ctx, plan, x, 0.5 * weights.tv)?;
            Some(ops::add(ctx, plan, &through_vgg, &tv)?)
        } else {
            Some(through_vgg)
        }
    } else {
        None
    };
    Ok(Recorded {
        terms,
        content_terms: content_idx.len(),
        grad,
    })
}

/// Records the losses of `x` (no gradient), runs them once and reads the values back.
pub async fn losses(
    ctx: &GpuContext,
    vgg: &Vgg19,
    x: &Tensor,
    targets: &Targets,
    weights: &LossWeights,
) -> Result<LossValues> {
    let mut plan = Plan::new("gatys.losses");
    let rec = record_gradient(ctx, &mut plan, vgg, x, targets, weights, false)?;
    plan.run(ctx).await?;
    Ok(rec.values(&read_terms(ctx, &rec).await?))
}

/// Reads the loss terms of a recorded plan that has run.
pub async fn read_terms(ctx: &GpuContext, rec: &Recorded) -> Result<Vec<f32>> {
    Ok(ctx
        .read_many(&rec.terms.iter().collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|t| t[0])
        .collect())
}
