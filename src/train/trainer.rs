//! A training run on the GPU: a new style for the 26-style net (one row of its norm
//! parameters, convs frozen) or a whole Johnson net (every weight), optimised with Adam against
//! the perceptual loss of [`crate::loss`] through a VGG loss net. What is trained is a
//! [`Model`]: one flat vector of parameters on the GPU.
//!
//! Everything stays on the GPU. A step is one submission: the vector is copied into the net's
//! tensors; for each photo of the batch the photo's content features, the net's forward pass
//! on a [`Tape`], the output mapped into VGG's space, the loss and its gradient, and the tape's
//! backward pass adding `1 / batch` of every parameter's gradient into the gradient vector;
//! then Adam updates the vector. Losses are read back only when asked.

use std::collections::BTreeMap;

use super::checkpoint::Checkpoint;
use super::johnson::JohnsonParams;
use super::model::Model;
use super::photos::PhotoSet;
use super::style_row::StyleRow;
use super::tape::Tape;
use super::{TrainNet, TrainOptions};
use crate::gpu::{DType, GpuContext, Plan, Tensor};
use crate::image::Rgba8Image;
use crate::loss::{self, LossValues, Recorded, Targets};
use crate::models::johnson::{self, JohnsonNet};
use crate::models::learned::BASE_WEIGHTS_KEY;
use crate::models::multistyle::StyleWeights;
use crate::models::{LearnedStyle, ModelFile, OutputOptions, Vgg};
use crate::ops::{self, ChannelMap, PixelMap, PoolMode, Write};
use crate::optim::{Optimizer, OptimizerState};
use crate::{Error, Result};

/// Where a run stands: what a checkpoint holds and a resumed run starts from. Vectors are in
/// the order files keep (for a Johnson net: each tensor in file order, OIHW weights), so a
/// checkpoint resumes on another device.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Steps done.
    pub step: usize,
    /// The trained parameters (the 26-style net's row; a Johnson net's tensors).
    pub params: Vec<f32>,
    /// Adam's state: the state array (its step count), then the first and second moments.
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

/// A training run: a new style for the 26-style net ([`Trainer::multistyle`]) or a Johnson
/// net ([`Trainer::johnson`]).
pub struct Trainer {
    model: Model,
    vgg: Vgg,
    opts: TrainOptions,
    grad: Tensor,
    pixels: Vec<Tensor>,
    grams: Vec<Tensor>,
    plan: Plan,
    terms: Vec<Recorded>,
    optim: OptimizerState,
    step: usize,
    /// Metadata the output and checkpoints carry besides the run's settings.
    meta: BTreeMap<String, String>,
}

impl Trainer {
    /// A new style for the 26-style net in `net_file`, starting from `opts.init_style` or the
    /// mean of the 26. Checks the options and the memory the run needs, uploads the nets,
    /// computes the painting's Gram matrices and records the training step.
    pub async fn multistyle(
        ctx: &GpuContext,
        net_file: &ModelFile,
        vgg_file: &ModelFile,
        painting: &Rgba8Image,
        opts: TrainOptions,
    ) -> Result<Self> {
        Self::check(ctx, vgg_file, &opts, TrainNet::MultiStyle26)?;
        let row = StyleRow::new(ctx, net_file, opts.init_style)?;
        let mut meta = BTreeMap::new();
        meta.insert(
            BASE_WEIGHTS_KEY.to_string(),
            row.base_weights_sha256.clone(),
        );
        meta.insert("base_family".into(), "multistyle26".into());
        Self::build(ctx, Model::Style(row), vgg_file, painting, opts, meta).await
    }

    /// A Johnson net of `opts.net`'s width, from `init` (a Johnson net file of that width, to
    /// fine-tune) or from scratch (PyTorch's initialisation, seeded by `opts.seed`).
    pub async fn johnson(
        ctx: &GpuContext,
        init: Option<&ModelFile>,
        vgg_file: &ModelFile,
        painting: &Rgba8Image,
        opts: TrainOptions,
    ) -> Result<Self> {
        let TrainNet::Johnson { base } = opts.net else {
            return Err(Error::InvalidArgument {
                op: "train",
                message: "Trainer::johnson needs options for a Johnson net (TrainOptions::johnson)"
                    .into(),
            });
        };
        Self::check(ctx, vgg_file, &opts, opts.net)?;
        let mut meta = BTreeMap::new();
        let values = match init {
            Some(file) => {
                let (file_base, values) = johnson::file_values(file).map_err(|e| {
                    Error::Model(format!("--init must be a Johnson net to fine-tune: {e}"))
                })?;
                if file_base != base {
                    return Err(Error::InvalidArgument {
                        op: "train",
                        message: format!(
                            "the --init net has {file_base} channels in its first layer (width {}), the run trains width {}; give the matching --width",
                            file_base as f32 / 32.0,
                            base as f32 / 32.0
                        ),
                    });
                }
                meta.insert(
                    "train.init_sha256".into(),
                    file.weights_sha256().to_string(),
                );
                values
            }
            None => johnson::init_values(base, opts.seed),
        };
        let params = JohnsonParams::new(ctx, base, &values)?;
        Self::build(ctx, Model::Johnson(params), vgg_file, painting, opts, meta).await
    }

    /// The checks before any upload: the options, the loss net's family, the memory.
    fn check(
        ctx: &GpuContext,
        vgg_file: &ModelFile,
        opts: &TrainOptions,
        net: TrainNet,
    ) -> Result<()> {
        opts.validate()?;
        if opts.net != net {
            return Err(Error::InvalidArgument {
                op: "train",
                message: format!(
                    "the options are for a {} net, not a {} one",
                    opts.net.family(),
                    net.family()
                ),
            });
        }
        if vgg_file.family() != opts.loss_net.family() {
            return Err(Error::Model(format!(
                "the loss net is to be {} but the file given is a '{}' model",
                opts.loss_net.family(),
                vgg_file.family()
            )));
        }
        check_fits(ctx, opts)?;
        Ok(())
    }

    async fn build(
        ctx: &GpuContext,
        model: Model,
        vgg_file: &ModelFile,
        painting: &Rgba8Image,
        opts: TrainOptions,
        meta: BTreeMap<String, String>,
    ) -> Result<Self> {
        let vgg = Vgg::load_with_gradients(ctx, vgg_file, PoolMode::Max)?;
        let grad = ctx.tensor("train.grad", model.params().shape(), DType::F32)?;
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
            optim: OptimizerState::new(ctx, &adam(&opts), model.params(), &grad)?,
            model,
            vgg,
            opts,
            grad,
            pixels,
            grams,
            plan: Plan::new("train.step"),
            terms: Vec::new(),
            step: 0,
            meta,
        };
        trainer.record_step(ctx)?;
        Ok(trainer)
    }

    /// Adds metadata to the output and checkpoints (the painting's name, ...).
    pub fn add_metadata(&mut self, key: &str, value: impl Into<String>) {
        self.meta.insert(key.to_string(), value.into());
    }

    /// The options the run was made with.
    pub fn options(&self) -> &TrainOptions {
        &self.opts
    }

    /// Steps done.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Times the kernels of a step that the context's tuning table lacks, within `budget_ms`
    /// ([`crate::tune::tune_plan`]), and records the step again with the choices. The step's
    /// plan is let go while the tuner records its own, so the two never hold memory at once.
    pub async fn tune(
        &mut self,
        ctx: &GpuContext,
        budget_ms: f64,
        now: &dyn Fn() -> f64,
    ) -> Result<crate::tune::TuneReport> {
        self.plan = Plan::new("train.step");
        self.terms.clear();
        let record = |_: &mut Plan| self.recorded_step(ctx).map(drop);
        let report = crate::tune::tune_plan(ctx, &record, budget_ms, now).await;
        // Recorded again even when the tuning failed: the trainer must stay usable.
        self.record_step(ctx)?;
        report
    }

    /// Records the whole step (see the module documentation) into `self.plan`.
    fn record_step(&mut self, ctx: &GpuContext) -> Result<()> {
        let (plan, terms) = self.recorded_step(ctx)?;
        self.plan = plan;
        self.terms = terms;
        Ok(())
    }

    /// The whole step's plan and its loss terms.
    fn recorded_step(&self, ctx: &GpuContext) -> Result<(Plan, Vec<Recorded>)> {
        let mut plan = Plan::new("train.step");
        self.model.record_unpack(ctx, &mut plan)?;
        let input = self.model.pixel_map();
        let to_vgg = ChannelMap::between(&input, &PixelMap::vgg_bgr());
        let back = to_vgg.gradient()?;
        let scale = 1.0 / self.opts.batch as f32;
        let mut terms = Vec::new();
        for (i, px) in self.pixels.iter().enumerate() {
            let x = ops::rgba_to_planar(ctx, &mut plan, px, &input)?;
            let content = self.content_features(ctx, &mut plan, px)?;
            let mut tape = Tape::new(ctx, &mut plan, &x);
            let out = self.model.forward(&mut tape, &Tape::INPUT)?;
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
            self.model
                .backward(tape, (out, g), &self.grad, scale, write)?;
            for t in content.into_iter().chain([x, y, gy]) {
                plan.release(t);
            }
            terms.push(rec);
        }
        Ok((plan, terms))
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

    /// [`Trainer::step`] on given crops (`batch` of them, each `size` x `size`).
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

    /// The batch's mean losses and their gradient with respect to the trained parameters (in
    /// file order), for given crops, without updating anything.
    pub async fn loss_and_gradient(
        &mut self,
        ctx: &GpuContext,
        crops: &[Rgba8Image],
    ) -> Result<(LossValues, Vec<f32>)> {
        self.write_crops(ctx, crops)?;
        self.plan.run(ctx).await?;
        let losses = self.read_losses(ctx).await?;
        let grad = self
            .model
            .layout_to_file_order(ctx.read(&self.grad).await?)?;
        Ok((losses, grad))
    }

    /// Where a step's time goes on given crops: each dispatch of the step plan timed (see
    /// [`Plan::profile`]); nothing is updated.
    pub async fn profile_step(
        &self,
        ctx: &GpuContext,
        crops: &[Rgba8Image],
        runs: usize,
        timing: crate::gpu::Timing,
        now: &dyn Fn() -> f64,
    ) -> Result<crate::gpu::Profile> {
        self.write_crops(ctx, crops)?;
        self.plan.profile(ctx, runs, timing, now).await
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

    /// The trained parameters as they stand (in file order).
    pub async fn params(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        self.model
            .layout_to_file_order(ctx.read(self.model.params()).await?)
    }

    /// Where the run stands (for a checkpoint).
    pub async fn state(&self, ctx: &GpuContext) -> Result<TrainState> {
        let mut tensors = vec![self.model.params()];
        tensors.extend(self.optim.state());
        let mut values = ctx.read_many(&tensors).await?.into_iter();
        let params = self
            .model
            .layout_to_file_order(values.next().expect("the parameters"))?;
        // The state array as it is; the moments are in the parameters' layout.
        let mut optimizer = vec![values.next().expect("Adam's state array")];
        for m in values {
            optimizer.push(self.model.layout_to_file_order(m)?);
        }
        Ok(TrainState {
            step: self.step,
            params,
            optimizer,
        })
    }

    /// The run's settings, steps done and added metadata.
    fn metadata(&self) -> BTreeMap<String, String> {
        let mut meta = self.opts.metadata();
        meta.insert("train.steps_done".into(), self.step.to_string());
        meta.extend(self.meta.clone());
        meta
    }

    /// The style learned so far, with the run's settings, steps done, loss net and base net
    /// in its metadata (a run of the 26-style net only).
    pub async fn learned_style(&self, ctx: &GpuContext) -> Result<LearnedStyle> {
        if !matches!(self.model, Model::Style(_)) {
            return Err(Error::InvalidArgument {
                op: "train",
                message: "this run trains a Johnson net, not a style for the 26-style net; save it with model_bytes".into(),
            });
        }
        LearnedStyle::new(self.params(ctx).await?, self.metadata())
    }

    /// The file the run makes, as it stands: a learned style for the 26-style net, or a
    /// Johnson net (the family `tools/convert_models.py johnson` writes), with the run's
    /// metadata.
    pub async fn model_bytes(&self, ctx: &GpuContext) -> Result<Vec<u8>> {
        let ck = Checkpoint {
            net: self.opts.net,
            metadata: self.metadata(),
            state: TrainState {
                step: self.step,
                params: self.params(ctx).await?,
                optimizer: Vec::new(),
            },
        };
        ck.model_bytes()
    }

    /// A checkpoint of the run as it stands.
    pub async fn checkpoint(&self, ctx: &GpuContext) -> Result<Checkpoint> {
        Ok(Checkpoint {
            net: self.opts.net,
            metadata: self.metadata(),
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
        let params = self.model.params();
        let mut writes = vec![(params, self.model.layout_from_file_order(&state.params)?)];
        for (i, (t, v)) in held.iter().zip(&state.optimizer).enumerate() {
            let v = if i == 0 {
                v.clone()
            } else {
                self.model.layout_from_file_order(v)?
            };
            writes.push((t, v));
        }
        for (t, v) in &writes {
            if v.len() != t.numel() {
                return Err(Error::InvalidArgument {
                    op: "train",
                    message: format!(
                        "the checkpoint's '{}' holds {} values, the run's {}",
                        t.label(),
                        v.len(),
                        t.numel()
                    ),
                });
            }
        }
        for (t, v) in writes {
            ctx.write(t, &v)?;
        }
        self.step = state.step;
        Ok(())
    }

    /// The losses of one photo (scaled so its shorter side is the training size and cropped
    /// in the middle) under the current parameters: content, style and TV as in training.
    pub async fn evaluate(&self, ctx: &GpuContext, photo: &Rgba8Image) -> Result<LossValues> {
        let s = self.opts.size;
        let crop = photo.clone().cover(s, s);
        let px = ctx.upload_rgba8("train.eval", s, s, &crop.data)?;
        let mut plan = Plan::new("train.evaluate");
        self.model.record_unpack(ctx, &mut plan)?;
        let input = self.model.pixel_map();
        let x = ops::rgba_to_planar(ctx, &mut plan, &px, &input)?;
        let content = self.content_features(ctx, &mut plan, &px)?;
        let out = self.model.record_direct(ctx, &mut plan, &x)?;
        let to_vgg = ChannelMap::between(&input, &PixelMap::vgg_bgr());
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

    /// A photo stylized with the current parameters (at most `max_size` px on its longer side).
    pub async fn preview(
        &self,
        ctx: &GpuContext,
        photo: &Rgba8Image,
        max_size: usize,
    ) -> Result<Rgba8Image> {
        let opts = OutputOptions {
            max_size,
            ..OutputOptions::default()
        };
        match &self.model {
            Model::Style(m) => {
                let style = LearnedStyle::new(self.params(ctx).await?, Default::default())?;
                m.net
                    .stylize(ctx, photo, &StyleWeights::learned(&style), &opts)
                    .await
            }
            Model::Johnson(m) => {
                // A net of its own, so the run's recorded plans are not disturbed.
                let net =
                    JohnsonNet::from_values(ctx, m.net.base_channels(), &self.params(ctx).await?)?;
                net.stylize(ctx, photo, &opts).await
            }
        }
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
    // A Johnson net keeps about 510 a pixel at full width (its 128-channel body is at quarter
    // size, 8 values a pixel per tensor, 25 of them; the 32 and 64 channel ends at full and half
    // size), half as many at half width; its parameters, their gradient and Adam's two moments
    // are four vectors of 1.7 M values at full width.
    let (per_px, params) = match opts.net {
        TrainNet::MultiStyle26 => (190, 0),
        TrainNet::Johnson { base } => {
            let n = johnson::param_count(base) as u64;
            ((510 * base).div_ceil(32) as u64, 4 * 4 * n)
        }
    };
    let net = 2 * per_px * 4 * px + params;
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
/// [`Error::TooLarge`] naming the largest size that fits); [`Trainer::new`] checks it
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
