//! `style-transfer train`: learns a new style for the 26-style net, or a whole Johnson net
//! (`--net johnson`), from a painting and a folder of photos. Every output is checked before any work; the style file, the checkpoint and the
//! log are written atomically; Ctrl-C writes a checkpoint and stops, and `--resume` continues
//! from it (seeded, with the same losses as a run that was never stopped).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use webgpu_style_transfer::files::{check_writable, write_atomic, AtomicFile};
use webgpu_style_transfer::gpu::GpuContext;
use webgpu_style_transfer::image::{Rgba8Image, DEFAULT_MAX_PIXELS};
use webgpu_style_transfer::loss::{LossValues, LossWeights};
use webgpu_style_transfer::models::johnson::FULL_WIDTH;
use webgpu_style_transfer::models::weights::sha256_hex;
use webgpu_style_transfer::models::ModelFile;
use webgpu_style_transfer::models::VggArch;
use webgpu_style_transfer::train::{self, Checkpoint, PhotoSet, TrainNet, TrainOptions, Trainer};
use webgpu_style_transfer::{Error, Result};

use crate::input::{load_model, read_image};
use crate::stdout::say;
use crate::tuning::Tuning;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The painting whose style is learned (PNG or JPEG).
    painting: PathBuf,
    /// The file to write (.safetensors): a style (use it with `stylize --model` or in --style),
    /// or with --net johnson a Johnson net (use it with `stylize --model`).
    #[arg(short, long)]
    output: PathBuf,
    /// What is trained: a new style for the 26-style net (its norm parameters), or a whole
    /// Johnson et al. transform net.
    #[arg(long, default_value = "multistyle26", value_parser = ["multistyle26", "johnson"])]
    net: String,
    /// Width of a Johnson net: 1 (32 channels in the first layer), or 0.5 (16, faster).
    #[arg(long, value_parser = ["1", "0.5"])]
    width: Option<String>,
    /// A Johnson net to fine-tune (converted or trained here) instead of training one from
    /// scratch.
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
    /// A folder of training photos (*.jpg, *.jpeg, *.png, searched recursively). Default: the
    /// set the set-up assembles (models/photos, or $STYLE_TRANSFER_PHOTOS).
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    /// Side of the square training crops in pixels (a multiple of 4, at least 32).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Photos per step.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Adam's step size (default 0.01 for a style, 0.001 for a Johnson net).
    #[arg(long)]
    learning_rate: Option<f32>,
    /// Weight of the content loss.
    #[arg(long, default_value_t = 1.0)]
    content_weight: f32,
    /// Weight of the style loss.
    #[arg(long, default_value_t = 5.0)]
    style_weight: f32,
    /// Weight of the total-variation loss.
    #[arg(long, default_value_t = 1e-6)]
    tv_weight: f32,
    /// The painting is scaled so its longer side is this many pixels.
    #[arg(long, default_value_t = 256)]
    style_size: usize,
    /// The loss network: vgg16 (Johnson et al.) or vgg19.
    #[arg(long, default_value = "vgg16", value_parser = ["vgg16", "vgg19"])]
    loss_net: String,
    /// Content layers, comma-separated (relu2_2 as pytorch/examples; empty for none).
    #[arg(long, default_value = "relu3_3")]
    content_layers: String,
    /// Style layers, comma-separated.
    #[arg(long, default_value = "relu1_2,relu2_2,relu3_3,relu4_3")]
    style_layers: String,
    /// Seeds the photo crops: the same seed and settings give the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start from built-in style K (0-25) instead of the mean of the 26.
    #[arg(long, value_name = "K")]
    init_style: Option<usize>,
    /// Write a preview of this photo stylized with the style so far (OUTPUT.preview.png).
    #[arg(long, value_name = "PHOTO")]
    preview: Option<PathBuf>,
    /// Steps between previews.
    #[arg(long, default_value_t = 100)]
    preview_every: usize,
    /// Steps between checkpoints (OUTPUT.checkpoint.safetensors; also written on Ctrl-C).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Continue from the checkpoint of an earlier run with the same settings.
    #[arg(long)]
    resume: bool,
    /// Steps between loss reports (bar and log).
    #[arg(long, default_value_t = 10)]
    report_every: usize,
    /// Write one JSON object per reported step (step, total, content, style, tv, elapsed_ms).
    #[arg(long, value_name = "FILE")]
    log_json: Option<PathBuf>,
    /// The 26-style net a style is trained for (default: models/multistyle26.safetensors).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The loss net's file (default: models/vgg16.safetensors or models/vgg19.safetensors).
    #[arg(long)]
    loss_model: Option<PathBuf>,
    /// Replace an existing output, checkpoint, preview or log (and start over).
    #[arg(long)]
    force: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        op: "train",
        message: message.into(),
    }
}

/// Where a run writes.
struct Paths {
    output: PathBuf,
    checkpoint: PathBuf,
    preview: Option<PathBuf>,
    log: Option<PathBuf>,
}

impl Paths {
    /// Every target checked before any work: an existing file is an error without --force
    /// (a run resumed may replace its own checkpoint, preview and log).
    fn plan(a: &TrainArgs) -> Result<Self> {
        let ext = a.output.extension().and_then(|e| e.to_str());
        if ext != Some("safetensors") {
            return Err(invalid(format!(
                "{}: a style file is written as .safetensors; name the output so",
                a.output.display()
            )));
        }
        let sibling = |suffix: &str| a.output.with_extension(suffix);
        let paths = Self {
            output: a.output.clone(),
            checkpoint: sibling("checkpoint.safetensors"),
            preview: a.preview.as_ref().map(|_| sibling("preview.png")),
            log: a.log_json.clone(),
        };
        check_writable(&paths.output, a.force)?;
        if a.resume {
            if !paths.checkpoint.is_file() {
                return Err(invalid(format!(
                    "--resume: there is no checkpoint {}",
                    paths.checkpoint.display()
                )));
            }
        } else if paths.checkpoint.exists() && !a.force {
            return Err(invalid(format!(
                "{} holds an earlier run: continue it with --resume, or pass --force to start over",
                paths.checkpoint.display()
            )));
        }
        for p in paths.preview.iter().chain(&paths.log) {
            check_writable(p, a.force || a.resume)?;
        }
        Ok(paths)
    }
}

fn layers(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The net trained, from --net and --width (and which of --width, --init, --model and
/// --init-style fit it).
fn net(a: &TrainArgs) -> Result<TrainNet> {
    if a.net == "johnson" {
        if a.model.is_some() || a.init_style.is_some() {
            return Err(invalid("--model and --init-style are for a style of the 26-style net; a Johnson net starts from --init FILE or from scratch"));
        }
        let base = match a.width.as_deref() {
            Some("0.5") => FULL_WIDTH / 2,
            _ => FULL_WIDTH,
        };
        return Ok(TrainNet::Johnson { base });
    }
    if a.width.is_some() || a.init.is_some() {
        return Err(invalid("--width and --init are for --net johnson"));
    }
    Ok(TrainNet::MultiStyle26)
}

fn options(a: &TrainArgs) -> Result<TrainOptions> {
    let style_layers = layers(&a.style_layers);
    let net = net(a)?;
    let defaults = match net {
        TrainNet::Johnson { base } => TrainOptions::johnson(base),
        TrainNet::MultiStyle26 => TrainOptions::default(),
    };
    let opts = TrainOptions {
        size: a.size,
        batch: a.batch,
        steps: a.steps,
        learning_rate: a.learning_rate.unwrap_or(defaults.learning_rate),
        net,
        style_size: a.style_size,
        loss: LossWeights {
            content: a.content_weight,
            style: a.style_weight,
            tv: a.tv_weight,
            content_layers: layers(&a.content_layers),
            layer_weights: vec![1.0; style_layers.len()],
            style_layers,
        },
        loss_net: VggArch::from_family(&a.loss_net)?,
        seed: a.seed,
        init_style: a.init_style,
        report_every: a.report_every,
    };
    opts.validate()?;
    if a.preview_every == 0 || a.checkpoint_every == 0 {
        return Err(invalid(
            "--preview-every and --checkpoint-every must be at least 1",
        ));
    }
    Ok(opts)
}

/// The training photos: `--images`, else the default set.
fn photos(a: &TrainArgs) -> Result<PhotoSet> {
    let dir = match &a.images {
        Some(d) => d.clone(),
        None => default_photos()?,
    };
    let (photos, skipped) = train::read_dir(&dir, DEFAULT_MAX_PIXELS)?;
    if !skipped.is_empty() {
        eprintln!(
            "warning: {} of the files in {} could not be used and are skipped (first: {}: {})",
            skipped.len(),
            dir.display(),
            skipped[0].0.display(),
            skipped[0].1
        );
    }
    if photos.is_empty() {
        return Err(invalid(format!(
            "no usable photo in {}: give a folder of JPEG or PNG photos",
            dir.display()
        )));
    }
    let small = photos
        .iter()
        .filter(|p| p.width.min(p.height) < a.size)
        .count();
    if small > 0 {
        eprintln!(
            "note: {small} photos are smaller than {} px and are scaled up",
            a.size
        );
    }
    say(&format!(
        "{} training photos from {}",
        photos.len(),
        dir.display()
    ));
    PhotoSet::new(photos, a.size)
}

/// `$STYLE_TRANSFER_PHOTOS`, else `models/photos` here or in the source tree.
fn default_photos() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("STYLE_TRANSFER_PHOTOS") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(PathBuf::from("models/photos"));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photos"));
    candidates.into_iter().find(|p| p.is_dir()).ok_or_else(|| {
        invalid("no training photos: pass --images DIR, or run `npm run setup` to assemble the default set in models/photos")
    })
}

pub async fn run(ctx: &GpuContext, a: TrainArgs, tuning: &Tuning) -> Result<()> {
    let opts = options(&a)?;
    let paths = Paths::plan(&a)?;
    let painting_bytes = std::fs::read(&a.painting).map_err(|e| {
        webgpu_style_transfer::files::io_error(&a.painting, e, "check the file name")
    })?;
    let painting = read_image(&a.painting, DEFAULT_MAX_PIXELS as f64 / 1e6)?;
    let preview = a
        .preview
        .as_ref()
        .map(|p| read_image(p, DEFAULT_MAX_PIXELS as f64 / 1e6))
        .transpose()?;
    let photos = photos(&a)?;
    let vgg_name = format!("{}.safetensors", opts.loss_net.family());
    let vgg = load_model(a.loss_model.clone(), &vgg_name)?;
    let est = train::estimate_memory(&opts, opts.loss_net.weight_bytes(true));
    say(&format!(
        "memory: about {:.0} MiB on the GPU (largest buffer {:.1} MiB: {})",
        est.total_bytes as f64 / 1048576.0,
        est.largest_buffer.0 as f64 / 1048576.0,
        est.largest_buffer.1
    ));
    let mut trainer = trainer(ctx, &a, &vgg, &painting, opts).await?;
    if let Err(e) = tuning.tune_training(ctx, &mut trainer).await {
        // Tuning is an optimisation: the run goes on with the fixed kernels.
        eprintln!("warning: kernel tuning failed: {e}");
    }
    if a.resume {
        let file = load_model(Some(paths.checkpoint.clone()), "")?;
        let ck = Checkpoint::from_file(&file)?;
        ck.check_options(trainer.options())?;
        trainer.restore(ctx, &ck.state)?;
        say(&format!("resuming at step {}", ck.state.step));
    }
    let name = a.output.file_stem().unwrap_or_default().to_string_lossy();
    let painting_name = a.painting.file_name().unwrap_or_default().to_string_lossy();
    trainer.add_metadata("painting", painting_name);
    trainer.add_metadata("painting_sha256", sha256_hex(&painting_bytes));
    trainer.add_metadata("name", name);
    let mut run = Run {
        a: &a,
        paths: &paths,
        preview,
        log: open_log(&a, &paths)?,
    };
    let outcome = run.train(ctx, &mut trainer, &photos).await;
    let logged = run.log.take().map_or(Ok(()), AtomicFile::commit);
    outcome?;
    logged
}

/// The run: a style for the 26-style net (--model), or a Johnson net (from --init or scratch).
async fn trainer(
    ctx: &GpuContext,
    a: &TrainArgs,
    vgg: &ModelFile,
    painting: &Rgba8Image,
    opts: TrainOptions,
) -> Result<Trainer> {
    match opts.net {
        TrainNet::MultiStyle26 => {
            let net = load_model(a.model.clone(), "multistyle26.safetensors")?;
            Trainer::multistyle(ctx, &net, vgg, painting, opts).await
        }
        TrainNet::Johnson { .. } => {
            let init = a
                .init
                .clone()
                .map(|p| load_model(Some(p), ""))
                .transpose()?;
            Trainer::johnson(ctx, init.as_ref(), vgg, painting, opts).await
        }
    }
}

/// The log: new, or with --resume the earlier run's lines first.
fn open_log(a: &TrainArgs, paths: &Paths) -> Result<Option<AtomicFile>> {
    let Some(path) = &paths.log else {
        return Ok(None);
    };
    let mut log = AtomicFile::create(path, a.force || a.resume)?;
    if a.resume && path.is_file() {
        let earlier = std::fs::read(path).map_err(|e| {
            webgpu_style_transfer::files::io_error(path, e, "the log could not be read")
        })?;
        log.write_all(&earlier).map_err(|e| {
            webgpu_style_transfer::files::io_error(path, e, "the log could not be written")
        })?;
    }
    Ok(Some(log))
}

/// One reported step, as --log-json writes it.
#[derive(serde::Serialize)]
struct LogLine {
    step: usize,
    total: usize,
    content: f32,
    style: f32,
    tv: f32,
    elapsed_ms: f64,
}

struct Run<'a> {
    a: &'a TrainArgs,
    paths: &'a Paths,
    preview: Option<Rgba8Image>,
    log: Option<AtomicFile>,
}

impl Run<'_> {
    async fn train(&mut self, ctx: &GpuContext, t: &mut Trainer, photos: &PhotoSet) -> Result<()> {
        crate::interrupt::install();
        let steps = t.options().steps;
        let bar = step_bar(steps, t.step_count());
        let start = Instant::now();
        while t.step_count() < steps {
            if crate::interrupt::requested() {
                bar.finish_and_clear();
                self.save_checkpoint(ctx, t).await?;
                eprintln!("interrupted at step {} of {steps}: the checkpoint is in {}; continue with --resume", t.step_count(), self.paths.checkpoint.display());
                return Ok(());
            }
            let k = t.step_count() + 1;
            let report = k.is_multiple_of(t.options().report_every) || k == steps;
            if let Some(l) = t.step(ctx, photos, report).await? {
                bar.set_message(format!(
                    "content {:.3e}, style {:.3e}, tv {:.2e}",
                    l.content, l.style, l.tv
                ));
                self.log_line(k, steps, &l, start.elapsed().as_secs_f64() * 1e3)?;
            }
            bar.set_position(k as u64);
            if k.is_multiple_of(self.a.checkpoint_every) && k < steps {
                self.save_checkpoint(ctx, t).await?;
            }
            if k.is_multiple_of(self.a.preview_every) || k == steps {
                self.write_preview(ctx, t).await?;
            }
        }
        bar.finish_and_clear();
        self.save_style(ctx, t, start).await
    }

    async fn save_style(&self, ctx: &GpuContext, t: &Trainer, start: Instant) -> Result<()> {
        write_atomic(&self.paths.output, &t.model_bytes(ctx).await?, self.a.force)?;
        // The finished file supersedes the run's checkpoint.
        let _ = std::fs::remove_file(&self.paths.checkpoint);
        say(&format!(
            "{} -> {} ({} steps in {:.1} s)",
            self.a.painting.display(),
            self.paths.output.display(),
            t.step_count(),
            start.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    async fn save_checkpoint(&self, ctx: &GpuContext, t: &Trainer) -> Result<()> {
        let ck = t.checkpoint(ctx).await?;
        write_atomic(&self.paths.checkpoint, &ck.to_bytes()?, true)
    }

    async fn write_preview(&self, ctx: &GpuContext, t: &Trainer) -> Result<()> {
        let (Some(photo), Some(path)) = (&self.preview, &self.paths.preview) else {
            return Ok(());
        };
        let img = t.preview(ctx, photo, 512).await?;
        img.save_as(path, true)
    }

    fn log_line(
        &mut self,
        step: usize,
        total: usize,
        l: &LossValues,
        elapsed_ms: f64,
    ) -> Result<()> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        let line = LogLine {
            step,
            total,
            content: l.content,
            style: l.style,
            tv: l.tv,
            elapsed_ms: (elapsed_ms * 10.0).round() / 10.0,
        };
        let text = serde_json::to_string(&line).expect("plain numbers serialise");
        writeln!(log, "{text}").map_err(|e| {
            webgpu_style_transfer::files::io_error(log.path(), e, "the log could not be written")
        })
    }
}

/// The step bar (drawn only on a terminal): steps, losses, steps/s and time left.
fn step_bar(steps: usize, done: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} step {pos}/{len} [{elapsed_precise}, eta {eta}] {per_sec} {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    bar
}
