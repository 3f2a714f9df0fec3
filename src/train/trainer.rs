//! Learning a new style for the 26-style net: its convolutions frozen, one row of conditional
//! norm parameters (gamma and beta of every norm, [`ROW_LEN`] values) optimised with Adam
//! against the perceptual loss of [`crate::loss`] through a VGG loss net.
//!
//! Everything stays on the GPU. A step is one submission: the row is copied into the net's
//! gamma and beta tensors; for each photo of the batch the photo's content features, the
//! net's forward pass on a [`Tape`], the output mapped into VGG's space, the loss and its
//! gradient, and the tape's backward pass adding `1 / batch` of each norm's (dgamma, dbeta)
//! into the gradient row; then Adam updates the row. Losses are read back only when asked.

use std::collections::HashMap;

use super::photos::PhotoSet;
use super::tape::Tape;
use super::TrainOptions;
use crate::gpu::{DType, GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::loss::{self, LossValues, Recorded, Targets};
use crate::models::direct;
use crate::models::learned::BASE_WEIGHTS_KEY;
use crate::models::multistyle::{self, row_layout, StyleWeights, ROW_LEN, STYLES};
use crate::models::net::Net;
use crate::models::{LearnedStyle, ModelFile, MultiStyle26, OutputOptions, Vgg};
use crate::ops::{self, ChannelMap, InputGradient, PixelMap, PoolMode, Strided, Write};
use crate::optim::{Optimizer, OptimizerState};
use crate::{Error, Result};

/// Where a run stands: what a checkpoint holds and a resumed run starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Steps done.
    pub step: usize,
    /// The row of norm parameters.
    pub row: Vec<f32>,
    /// Adam's state tensors (the state array, m, v).
    pub optimizer: Vec<Vec<f32>>,
}

/// GPU memory a run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainMemory {
    /// Bytes of all buffers at the peak, weights included (an estimate).
    pub total_bytes: u64,
    /// The largest single buffer in bytes, and what it holds.
    pub largest_buffer: (u64, String),
}

/// A training run of a new style for the 26-style net.
pub struct StyleTrainer {
    net: MultiStyle26,
    vgg: Vgg,
    opts: TrainOptions,
    row: Tensor,
    grad: Tensor,
    pixels: Vec<Tensor>,
    grams: Vec<Tensor>,
    plan: Plan,
    terms: Vec<Recorded>,
    optim: OptimizerState,
    step: usize,
    /// SHA-256 of the 26-style net's weights, which the learned row only works with.
    base_weights_sha256: String,
}

impl StyleTrainer {
    /// Checks the options and the memory the run needs, uploads the nets, computes the
    /// painting's Gram matrices and records the training step.
    pub async fn new(
        ctx: &GpuContext,
        net_file: &ModelFile,
        vgg_file: &ModelFile,
        painting: &Rgba8Image,
        opts: TrainOptions,
    ) -> Result<Self> {
        opts.validate()?;
        if vgg_file.family() != opts.loss_net.family() {
            return Err(Error::Model(format!(
                "the loss net is to be {} but the file given is a '{}' model",
                opts.loss_net.family(),
                vgg_file.family()
            )));
        }
        check_fits(ctx, &opts)?;
        let net = MultiStyle26::load(ctx, net_file)?;
        let input_grads = multistyle::input_gradients(ctx, net_file)?;
        let vgg = Vgg::load_with_gradients(ctx, vgg_file, PoolMode::Max)?;
        let init = match opts.init_style {
            Some(k) => StyleWeights::single(k)?,
            None => StyleWeights::blend(&(0..STYLES).map(|i| (i, 1.0)).collect::<Vec<_>>())?,
        };
        let row = ctx.upload("train.row", &[ROW_LEN], &net.style_row(&init))?;
        let grad = ctx.tensor("train.grad", &[ROW_LEN], DType::F32)?;
        let pixels = (0..opts.batch)
            .map(|i| {
                ctx.tensor(
                    &format!("train.photo{i}"),
                    &[opts.size, opts.size],
                    DType::Rgba8,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let grams = style_grams(ctx, &vgg, painting, &opts).await?;
        let mut trainer = Self {
            optim: OptimizerState::new(ctx, &adam(&opts), &row, &grad)?,
            net,
            vgg,
            opts,
            row,
            grad,
            pixels,
            grams,
            plan: Plan::new("train.step"),
            terms: Vec::new(),
            step: 0,
            base_weights_sha256: net_file.weights_sha256().to_string(),
        };
        trainer.record_step(ctx, &input_grads)?;
        Ok(trainer)
    }

    /// The options the run was made with.
    pub fn options(&self) -> &TrainOptions {
        &self.opts
    }

    /// Steps done.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Records the whole step (see the module documentation) into `self.plan`.
    fn record_step(
        &mut self,
        ctx: &GpuContext,
        input_grads: &HashMap<String, InputGradient>,
    ) -> Result<()> {
        let grad = &self.grad;
        let mut plan = Plan::new("train.step");
        self.record_unpack(ctx, &mut plan)?;
        let to_vgg = ChannelMap::between(&PixelMap::rgb_unit(), &PixelMap::vgg_bgr());
        let back = to_vgg.gradient()?;
        let layout: Vec<(usize, usize)> = row_layout().collect();
        let scale = 1.0 / self.opts.batch as f32;
        let mut terms = Vec::new();
        for (i, px) in self.pixels.iter().enumerate() {
            let x = ops::rgba_to_planar(ctx, &mut plan, px, &PixelMap::rgb_unit())?;
            let content = self.content_features(ctx, &mut plan, px)?;
            let mut tape = Tape::new(ctx, &mut plan, &x);
            let out = self.net.forward(&mut tape, &Tape::INPUT)?;
            let out_t = tape.value(out).clone();
            let y = ops::channel_map(ctx, tape.plan(), &out_t, &to_vgg)?;
            let targets = Targets::new(content.clone(), self.grams.clone());
            let rec = loss::record_gradient(
                ctx,
                tape.plan(),
                &self.vgg,
                &y,
                &targets,
                &self.opts.loss,
                true,
            )?;
            let gy = rec.grad.clone().expect("asked for the gradient");
            let g = ops::channel_map(ctx, tape.plan(), &gy, &back)?;
            let write = if i == 0 { Write::Set } else { Write::Add };
            tape.backward(out, g, input_grads, |ctx, plan, k, dparams| {
                let (offset, c) = layout[k];
                for (part, at) in [(0, offset), (1, offset + c)] {
                    let from = Strided {
                        offset: part,
                        stride: 2,
                    };
                    ops::copy_strided(
                        ctx,
                        plan,
                        c,
                        (dparams, from),
                        (grad, Strided::contiguous(at)),
                        scale,
                        write,
                    )?;
                }
                Ok(())
            })?;
            for t in content.into_iter().chain([x, y, gy]) {
                plan.release(t);
            }
            terms.push(rec);
        }
        self.plan = plan;
        self.terms = terms;
        Ok(())
    }

    /// Copies the row into the net's gamma and beta tensors.
    fn record_unpack(&self, ctx: &GpuContext, plan: &mut Plan) -> Result<()> {
        for ((gamma, beta), (offset, c)) in self.net.norm_params().zip(row_layout()) {
            for (t, at) in [(gamma, offset), (beta, offset + c)] {
                let from = (&self.row, Strided::contiguous(at));
                ops::copy_strided(
                    ctx,
                    plan,
                    c,
                    from,
                    (t, Strided::contiguous(0)),
                    1.0,
                    Write::Set,
                )?;
            }
        }
        Ok(())
    }

    /// The content layers' features of a photo (none without content layers).
    fn content_features(
        &self,
        ctx: &GpuContext,
        plan: &mut Plan,
        px: &Tensor,
    ) -> Result<Vec<Tensor>> {
        if self.opts.loss.content_layers.is_empty() {
            return Ok(Vec::new());
        }
        let xv = ops::rgba_to_planar(ctx, plan, px, &PixelMap::vgg_bgr())?;
        let f = self
            .vgg
            .record(ctx, plan, &xv, &self.opts.loss.content_refs())?;
        plan.release(xv);
        Ok(f)
    }

    /// Runs one step on the next batch of `photos` (crops of the run's size). With `report`,
    /// reads back the batch's mean losses (measured before this step's update); a loss that
    /// is not finite is [`Error::TrainingDiverged`].
    pub async fn step(
        &mut self,
        ctx: &GpuContext,
        photos: &PhotoSet,
        report: bool,
    ) -> Result<Option<LossValues>> {
        if photos.size() != self.opts.size {
            return Err(Error::InvalidArgument {
                op: "train",
                message: format!(
                    "the photos are cropped to {} px but the run trains at {}",
                    photos.size(),
                    self.opts.size
                ),
            });
        }
        let crops = photos.batch(self.opts.seed, self.step, self.opts.batch);
        self.step_on(ctx, &crops, report).await
    }

    /// [`StyleTrainer::step`] on given crops (`batch` of them, each `size` x `size`).
    pub async fn step_on(
        &mut self,
        ctx: &GpuContext,
        crops: &[Rgba8Image],
        report: bool,
    ) -> Result<Option<LossValues>> {
        self.write_crops(ctx, crops)?;
        Plan::run_all(ctx, &[&self.plan, self.optim.next_step()]).await?;
        self.step += 1;
        if report {
            Some(self.read_losses(ctx).await).transpose()
        } else {
            Ok(None)
        }
    }

    /// The batch's mean losses and the gradient of their sum with respect to the row, for
    /// given crops, without updating anything.
    pub async fn loss_and_gradient(
        &mut self,
        ctx: &GpuContext,
        crops: &[Rgba8Image],
    ) -> Result<(LossValues, Vec<f32>)> {
        self.write_crops(ctx, crops)?;
        self.plan.run(ctx).await?;
        Ok((self.read_losses(ctx).await?, ctx.read(&self.grad).await?))
    }

    fn write_crops(&self, ctx: &GpuContext, crops: &[Rgba8Image]) -> Result<()> {
        let s = self.opts.size;
        if crops.len() != self.pixels.len() || crops.iter().any(|c| (c.width, c.height) != (s, s)) {
            return Err(Error::InvalidArgument {
                op: "train",
                message: format!("a step takes {} crops of {s}x{s}", self.pixels.len()),
            });
        }
        for (t, crop) in self.pixels.iter().zip(crops) {
            ctx.queue().write_buffer(t.buffer(), 0, &crop.data);
        }
        Ok(())
    }

    /// The mean of the batch's losses from the last run of the step plan.
    async fn read_losses(&self, ctx: &GpuContext) -> Result<LossValues> {
        // Every photo's terms in one readback.
        let tensors: Vec<&Tensor> = self.terms.iter().flat_map(|r| &r.terms).collect();
        let values = ctx.read_many(&tensors).await?;
        let mut values = values.into_iter().map(|t| t[0]);
        let mut mean = [0.0f32; 4];
        let n = self.terms.len() as f32;
        for rec in &self.terms {
            let v = rec.values(&values.by_ref().take(rec.terms.len()).collect::<Vec<_>>());
            for (m, x) in mean.iter_mut().zip([v.content, v.style, v.tv, v.total]) {
                *m += x / n;
            }
        }
        let [content, style, tv, total] = mean;
        for (what, value) in [
            ("content", content),
            ("style", style),
            ("total variation", tv),
        ] {
            if !value.is_finite() {
                return Err(Error::TrainingDiverged {
                    what,
                    value,
                    step: self.step,
                });
            }
        }
        Ok(LossValues {
            content,
            style,
            tv,
            total,
        })
    }

    /// The current row of norm parameters.
    pub async fn row(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.read(&self.row).await
    }

    /// Where the run stands (for a checkpoint).
    pub async fn state(&self, ctx: &GpuContext) -> Result<TrainState> {
        let mut tensors = vec![&self.row];
        tensors.extend(self.optim.state());
        let mut values = ctx.read_many(&tensors).await?;
        let row = values.remove(0);
        Ok(TrainState {
            step: self.step,
            row,
            optimizer: values,
        })
    }

    /// The style learned so far, with the run's settings, steps done, loss net and base net
    /// in its metadata (add the painting's with [`LearnedStyle::with_meta`]).
    pub async fn learned_style(&self, ctx: &GpuContext) -> Result<LearnedStyle> {
        let mut meta = self.opts.metadata();
        meta.insert("train.steps_done".into(), self.step.to_string());
        meta.insert(BASE_WEIGHTS_KEY.into(), self.base_weights_sha256.clone());
        meta.insert("base_family".into(), "multistyle26".into());
        LearnedStyle::new(self.row(ctx).await?, meta)
    }

    /// A checkpoint of the run as it stands.
    pub async fn checkpoint(&self, ctx: &GpuContext) -> Result<super::Checkpoint> {
        Ok(super::Checkpoint {
            style: self.learned_style(ctx).await?,
            state: self.state(ctx).await?,
        })
    }

    /// Continues from a saved state (the same options, so the same photos follow).
    pub fn restore(&mut self, ctx: &GpuContext, state: &TrainState) -> Result<()> {
        let held = self.optim.state();
        if state.optimizer.len() != held.len() {
            return Err(Error::InvalidArgument {
                op: "train",
                message: format!(
                    "the checkpoint holds {} optimiser tensors, Adam has {}",
                    state.optimizer.len(),
                    held.len()
                ),
            });
        }
        ctx.write(&self.row, &state.row)?;
        for (t, v) in held.iter().zip(&state.optimizer) {
            ctx.write(t, v)?;
        }
        self.step = state.step;
        Ok(())
    }

    /// The losses of one photo (scaled so its shorter side is the training size and cropped
    /// in the middle) under the current row: content, style and TV as in training.
    pub async fn evaluate(&self, ctx: &GpuContext, photo: &Rgba8Image) -> Result<LossValues> {
        let s = self.opts.size;
        let crop = photo.clone().cover(s, s);
        let px = ctx.upload_rgba8("train.eval", s, s, &crop.data)?;
        let mut plan = Plan::new("train.evaluate");
        self.record_unpack(ctx, &mut plan)?;
        let x = ops::rgba_to_planar(ctx, &mut plan, &px, &PixelMap::rgb_unit())?;
        let content = self.content_features(ctx, &mut plan, &px)?;
        let out = direct::forward(&self.net, ctx, &mut plan, &x)?;
        let to_vgg = ChannelMap::between(&PixelMap::rgb_unit(), &PixelMap::vgg_bgr());
        let y = ops::channel_map(ctx, &mut plan, &out, &to_vgg)?;
        let targets = Targets::new(content, self.grams.clone());
        let rec = loss::record_gradient(
            ctx,
            &mut plan,
            &self.vgg,
            &y,
            &targets,
            &self.opts.loss,
            false,
        )?;
        plan.run(ctx).await?;
        Ok(rec.values(&loss::read_terms(ctx, &rec).await?))
    }

    /// A photo stylized with the current row (at most `max_size` px on its longer side).
    pub async fn preview(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        max_size: usize,
    ) -> Result<Rgba8Image> {
        let style = LearnedStyle::new(self.row(ctx).await?, Default::default())?;
        let opts = OutputOptions {
            max_size,
            ..OutputOptions::default()
        };
        self.net
            .stylize(ctx, photo, &StyleWeights::learned(&style), &opts)
            .await
    }
}

/// Adam with torch's defaults but the run's step.
fn adam(opts: &TrainOptions) -> Optimizer {
    Optimizer::Adam {
        learning_rate: opts.learning_rate,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    }
}

/// The painting's Gram matrices at the style layers (scaled so its longer side is
/// `style_size`).
async fn style_grams(
    ctx: &GpuContext,
    vgg: &Vgg,
    painting: &Rgba8Image,
    opts: &TrainOptions,
) -> Result<Vec<Tensor>> {
    let (w, h) = painting.size_with_long_side(opts.style_size);
    let scaled = painting.clone().resized(w, h);
    let px = ctx.upload_rgba8("train.painting", w, h, &scaled.data)?;
    let mut plan = Plan::new("train.style");
    let x = ops::rgba_to_planar(ctx, &mut plan, &px, &PixelMap::vgg_bgr())?;
    let grams = loss::record_style_grams(ctx, &mut plan, vgg, &[(&x, 1.0)], &opts.loss)?;
    plan.run(ctx).await?;
    Ok(grams)
}

/// The memory a run at these options needs: VGG's activations on a crop and on the painting
/// (the largest buffer is its first block's), their gradients, and the net's kept activations
/// and their gradients, for one photo at a time (later photos of the batch reuse the buffers).
/// In u64 throughout: on wasm32 a usize overflows at 4 GiB, which a large request reaches.
pub fn estimate_memory(opts: &TrainOptions, vgg_weight_bytes: u64) -> TrainMemory {
    let arch = opts.loss_net;
    let last = arch.taps().len() - 1;
    let vgg = |side: usize| -> u64 {
        (0..=last)
            .map(|i| {
                let (c, pools) = arch.geometry(i);
                c as u64 * ((side >> pools).max(1) as u64).pow(2) * 4
            })
            .sum()
    };
    let px = (opts.size as u64).pow(2);
    // The 26-style net keeps about 190 values a pixel of the crop (conv and norm outputs at
    // full, half and quarter size, measured from its layers), and as many again in gradients.
    let net = 2 * 190 * 4 * px;
    let first = |side: usize| arch.geometry(0).0 as u64 * (side as u64).pow(2) * 4;
    let style_side = opts.style_size;
    let largest = if style_side > opts.size {
        (
            first(style_side),
            format!("the painting's first VGG layer at {style_side} px"),
        )
    } else {
        (
            first(opts.size),
            format!("the first VGG layer of a {} px crop", opts.size),
        )
    };
    let run = 3 * vgg(opts.size) + net;
    TrainMemory {
        total_bytes: vgg_weight_bytes + run.max(vgg(style_side)),
        largest_buffer: largest,
    }
}

/// The largest side (a multiple of 4) whose first VGG layer fits in `limit` bytes.
fn largest_fitting_side(opts: &TrainOptions, limit: u64) -> usize {
    let per_pixel = (opts.loss_net.geometry(0).0 * 4) as f64;
    let side = (limit as f64 / per_pixel).sqrt() as usize;
    side / 4 * 4
}

/// Fails unless the largest buffer of a run fits the device's storage binding limit (a
/// [`Error::TooLarge`] naming the largest size that fits); [`StyleTrainer::new`] checks it
/// first, and a caller can before preparing the photos.
pub fn check_fits(ctx: &GpuContext, opts: &TrainOptions) -> Result<TrainMemory> {
    let est = estimate_memory(opts, opts.loss_net.weight_bytes(true));
    let limit = ctx
        .limits()
        .max_storage_buffer_binding_size
        .min(ctx.limits().max_buffer_size);
    if est.largest_buffer.0 > limit {
        return Err(Error::TooLarge {
            op: "train".into(),
            what: est.largest_buffer.1.clone(),
            needed: format!(
                "{:.1} MiB in one buffer",
                est.largest_buffer.0 as f64 / 1048576.0
            ),
            limit: format!("{:.1} MiB", limit as f64 / 1048576.0),
            limit_name: "maxStorageBufferBindingSize",
            hint: format!(
                "train at a size and style size of at most {} px",
                largest_fitting_side(opts, limit)
            ),
        });
    }
    Ok(est)
}
