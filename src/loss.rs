//! The perceptual loss (Gatys et al. 2015; Johnson et al. 2016) and its gradient with respect
//! to the image, computed on the GPU exactly as jcjohnson/neural-style defines it. Gatys
//! optimisation ([`crate::gatys`]) and training ([`crate::train`]) both use it.
//!
//! The image `x` is in VGG's input space (BGR, 0-255, minus the mean).
//! - content: `content_weight * mean((F(x) - F(c))^2)` at each content layer;
//! - style: for each style layer l, `G = F F^T / (C H W)` and
//!   `style_weight * w_l * mean over C x C of (G(x) - G_target)^2`, with `G_target` the blend
//!   `sum_i b_i G(s_i)` of the style images' Gram matrices;
//! - total variation: `tv_weight * 0.5 * sum (x[i,j] - x[i,j+1])^2 + (x[i,j] - x[i+1,j])^2`.

use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::vgg::{Vgg, VggArch};
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
                op: "loss",
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
        VggArch::Vgg19.tap_indices(&self.content_refs())?;
        VggArch::Vgg19.tap_indices(&self.style_refs())?;
        Ok(())
    }

    pub(crate) fn content_refs(&self) -> Vec<&str> {
        self.content_layers.iter().map(String::as_str).collect()
    }

    pub(crate) fn style_refs(&self) -> Vec<&str> {
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

impl Targets {
    /// Targets from tensors already computed: the content layers' features and the style
    /// layers' Gram matrices (normalised by C H W), in the order the weights name the layers.
    pub fn new(content: Vec<Tensor>, grams: Vec<Tensor>) -> Self {
        Self { content, grams }
    }
}

/// Builds the targets from the content image and the style images (all [3, H, W] in VGG
/// space) with blend weights that are normalised to sum to 1.
pub async fn targets(
    ctx: &GpuContext,
    vgg: &Vgg,
    content: &Tensor,
    styles: &[(&Tensor, f32)],
    weights: &LossWeights,
) -> Result<Targets> {
    weights.validate()?;
    let mut plan = Plan::new("gatys.targets");
    let content_features = if weights.content_layers.is_empty() {
        Vec::new()
    } else {
        vgg.record(ctx, &mut plan, content, &weights.content_refs())?
    };
    let grams = record_style_grams(ctx, &mut plan, vgg, styles, weights)?;
    plan.run(ctx).await?;
    Ok(Targets::new(content_features, grams))
}

/// Records the style layers' Gram matrices of the style images (in VGG space), blended with
/// weights normalised to sum to 1: one [C, C] tensor per style layer.
pub fn record_style_grams(
    ctx: &GpuContext,
    plan: &mut Plan,
    vgg: &Vgg,
    styles: &[(&Tensor, f32)],
    weights: &LossWeights,
) -> Result<Vec<Tensor>> {
    if styles.is_empty() {
        return Err(Error::InvalidArgument {
            op: "loss",
            message: "give at least one style image".into(),
        });
    }
    let raw: Vec<f32> = styles.iter().map(|s| s.1).collect();
    let shares = crate::blend::normalize("style blend", &raw)?;
    let mut blended: Vec<Option<Tensor>> = vec![None; weights.style_layers.len()];
    for (&(image, _), share) in styles.iter().zip(shares) {
        if weights.style_layers.is_empty() {
            break;
        }
        let feats = vgg.record(ctx, plan, image, &weights.style_refs())?;
        for (slot, f) in blended.iter_mut().zip(feats) {
            let (c, h, w) = f.chw("loss")?;
            let g = ops::gram(ctx, plan, &f, 1.0 / (c * h * w) as f32)?;
            *slot = Some(match slot.take() {
                None => ops::unary(
                    ctx,
                    plan,
                    &g,
                    ops::Unary::Affine {
                        alpha: share,
                        beta: 0.0,
                    },
                )?,
                Some(acc) => {
                    ops::scale_add(ctx, plan, &acc, 1.0, &g, share, ops::Activation::None)?
                }
            });
        }
    }
    Ok(blended.into_iter().flatten().collect())
}

/// The loss terms and the gradient of a perceptual loss, recorded into one plan.
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

/// A content term: `scale * sum (F_layer - target)^2`.
struct ContentTerm<'a> {
    layer: usize,
    scale: f32,
    target: &'a Tensor,
}

/// A style term: `scale * sum (G - target)^2` with `G = a F_layer F_layer^T`.
struct StyleTerm<'a> {
    layer: usize,
    a: f32,
    scale: f32,
    gram: Tensor,
    target: &'a Tensor,
}

/// Records the loss terms of `x` and, if `gradient`, their gradient with respect to `x` into
/// `plan`. `x` is [3, H, W] in VGG space.
pub fn record_gradient(
    ctx: &GpuContext,
    plan: &mut Plan,
    vgg: &Vgg,
    x: &Tensor,
    targets: &Targets,
    weights: &LossWeights,
    gradient: bool,
) -> Result<Recorded> {
    weights.validate()?;
    let content_idx = vgg.arch().tap_indices(&weights.content_refs())?;
    let style_idx = vgg.arch().tap_indices(&weights.style_refs())?;
    if targets.content.len() != content_idx.len() || targets.grams.len() != style_idx.len() {
        return Err(Error::InvalidArgument {
            op: "loss",
            message: "the targets were built for other layers than these weights name".into(),
        });
    }
    let last = content_idx.iter().chain(&style_idx).copied().max();
    let acts = vgg.record_all(ctx, plan, x, last.unwrap_or(0))?;
    let content: Vec<ContentTerm> = content_idx
        .iter()
        .zip(&targets.content)
        .map(|(&layer, target)| ContentTerm {
            layer,
            scale: weights.content / acts[layer].numel() as f32,
            target,
        })
        .collect();
    let style = style_terms(ctx, plan, &acts, &style_idx, targets, weights)?;
    let mut terms = Vec::new();
    for t in &content {
        let f = &acts[t.layer];
        terms.push(sum_squared_diff(ctx, plan, f, t.target, t.scale)?);
    }
    for t in &style {
        terms.push(sum_squared_diff(ctx, plan, &t.gram, t.target, t.scale)?);
    }
    terms.push(ops::total_variation(ctx, plan, x, 0.5 * weights.tv)?);
    let grad = if gradient {
        let through_vgg = vgg.record_backward(ctx, plan, &acts, |plan, i| {
            layer_gradient(ctx, plan, &acts[i], i, &content, &style)
        })?;
        Some(if weights.tv > 0.0 {
            let tv = ops::total_variation_backward(ctx, plan, x, 0.5 * weights.tv)?;
            ops::add(ctx, plan, &through_vgg, &tv)?
        } else {
            through_vgg
        })
    } else {
        None
    };
    // Everything but the terms and the gradient is dead now: let later outputs reuse it.
    for t in style.into_iter().map(|t| t.gram).chain(acts) {
        plan.release(t);
    }
    Ok(Recorded {
        terms,
        content_terms: content_idx.len(),
        grad,
    })
}

/// Each style layer's Gram matrix (normalised by C H W) and term scale.
fn style_terms<'a>(
    ctx: &GpuContext,
    plan: &mut Plan,
    acts: &[Tensor],
    style_idx: &[usize],
    targets: &'a Targets,
    weights: &LossWeights,
) -> Result<Vec<StyleTerm<'a>>> {
    let layers = style_idx
        .iter()
        .zip(&targets.grams)
        .zip(&weights.layer_weights);
    let mut style = Vec::new();
    for ((&layer, target), w_l) in layers {
        let (c, h, w) = acts[layer].chw("loss")?;
        let a = 1.0 / (c * h * w) as f32;
        style.push(StyleTerm {
            layer,
            a,
            scale: weights.style * w_l / (c * c) as f32,
            gram: ops::gram(ctx, plan, &acts[layer], a)?,
            target,
        });
    }
    Ok(style)
}

/// `scale * sum (a - b)^2`, a one-element tensor.
fn sum_squared_diff(
    ctx: &GpuContext,
    plan: &mut Plan,
    a: &Tensor,
    b: &Tensor,
    scale: f32,
) -> Result<Tensor> {
    ops::reduce(ctx, plan, a, Some(b), ops::Reduction::SumSquaredDiff, scale)
}

/// The gradient the loss terms put on layer `i`'s activation `f` (None if no term is there).
fn layer_gradient(
    ctx: &GpuContext,
    plan: &mut Plan,
    f: &Tensor,
    i: usize,
    content: &[ContentTerm],
    style: &[StyleTerm],
) -> Result<Option<Tensor>> {
    let mut acc: Option<Tensor> = None;
    // d/dF of s * sum (F - T)^2 = 2 s (F - T).
    for t in content.iter().filter(|t| t.layer == i) {
        let gf = scaled_diff(ctx, plan, f, t.target, 2.0 * t.scale)?;
        acc = Some(ops::accumulate(ctx, plan, acc.take(), gf)?);
    }
    // d/dG of s * sum (G - T)^2 = 2 s (G - T), then through G = a F F^T.
    for t in style.iter().filter(|t| t.layer == i) {
        let dg = scaled_diff(ctx, plan, &t.gram, t.target, 2.0 * t.scale)?;
        let gf = ops::gram_backward(ctx, plan, f, &dg, t.a)?;
        acc = Some(ops::accumulate(ctx, plan, acc.take(), gf)?);
    }
    Ok(acc)
}

/// `k (a - b)`.
fn scaled_diff(
    ctx: &GpuContext,
    plan: &mut Plan,
    a: &Tensor,
    b: &Tensor,
    k: f32,
) -> Result<Tensor> {
    ops::scale_add(ctx, plan, a, k, b, -k, ops::Activation::None)
}

/// Records the losses of `x` (no gradient), runs them once and reads the values back.
pub async fn losses(
    ctx: &GpuContext,
    vgg: &Vgg,
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
