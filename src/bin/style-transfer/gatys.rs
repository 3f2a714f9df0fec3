//! `style-transfer gatys`: Gatys optimisation of one image. Every file the run will write
//! (the result, its snapshots, the JSON log) is checked before the loss network loads; the
//! result and snapshots are written atomically; the log appears when the run ends, however it
//! ends; Ctrl-C stops at the next iteration and saves the picture so far, which `--init FILE`
//! continues from.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use webgpu_style_transfer::files::{check_writable, AtomicFile};
use webgpu_style_transfer::gatys::{
    Gatys, GatysOptions, GatysOutput, Init, LossWeights, Optimizer, Progress,
};
use webgpu_style_transfer::gpu::{GpuContext, Plan};
use webgpu_style_transfer::image::{OutputFormat, DEFAULT_MAX_PIXELS};
use webgpu_style_transfer::ops::PoolMode;
use webgpu_style_transfer::{Error, Result};

use crate::input::{load_model, read_image};
use crate::stdout::say;
use crate::tuning::Tuning;

#[derive(clap::Args)]
pub struct GatysArgs {
    /// The photo (PNG or JPEG).
    content: PathBuf,
    /// One or more style images (paintings).
    #[arg(required = true)]
    styles: Vec<PathBuf>,
    /// Output file (.png, .jpg).
    #[arg(short, long)]
    output: PathBuf,
    /// Longer side of the result in pixels.
    #[arg(long, default_value_t = 512)]
    size: usize,
    /// Iterations (per stage with --scales).
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
    /// The optimiser.
    #[arg(long, value_enum, default_value = "lbfgs")]
    optimizer: OptimizerArg,
    /// Step size (default: 1 for L-BFGS, 10 for Adam).
    #[arg(long)]
    learning_rate: Option<f32>,
    /// L-BFGS history: pairs kept (neural-style uses 100; each costs two image-sized
    /// buffers).
    #[arg(long, default_value_t = 20)]
    history: usize,
    /// Content weight.
    #[arg(long, default_value_t = 5.0)]
    content_weight: f32,
    /// Style weight.
    #[arg(long, default_value_t = 100.0)]
    style_weight: f32,
    /// Total-variation weight.
    #[arg(long, default_value_t = 1e-3)]
    tv_weight: f32,
    /// Start from `noise`, `content`, or an image file (e.g. an interrupted run's output).
    #[arg(long, default_value = "noise")]
    init: String,
    /// Seed of the noise init.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Blend weights of the style images, e.g. 0.7,0.3 (normalised).
    #[arg(long, value_delimiter = ',')]
    style_blend_weights: Vec<f32>,
    /// Style images are scaled to a longer side of style-scale x size.
    #[arg(long, default_value_t = 1.0)]
    style_scale: f32,
    /// Style layers (comma-separated VGG19 layer names).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
    )]
    style_layers: Vec<String>,
    /// Weights of the style layers, one per layer (default all 1).
    #[arg(long, value_delimiter = ',')]
    style_layer_weights: Vec<f32>,
    /// Content layers (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "relu4_2")]
    content_layers: Vec<String>,
    /// Pooling in VGG19: max (as trained) or avg (as in Gatys et al.).
    #[arg(long, value_enum, default_value = "max")]
    pooling: PoolingArg,
    /// Keep the photo's colours (the result's luminance, the photo's chroma).
    #[arg(long)]
    preserve_colors: bool,
    /// Multi-scale stages, e.g. 256,512: each starts from the previous result upscaled.
    #[arg(long, value_delimiter = ',')]
    scales: Vec<usize>,
    /// Also save the image every N iterations (OUTPUT_iterN.png).
    #[arg(long, default_value_t = 0)]
    save_every: usize,
    /// Write one JSON object per iteration (losses, each already weighted) to FILE.
    #[arg(long)]
    log_json: Option<PathBuf>,
    /// A converted vgg19 model (default: models/vgg19.safetensors).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Refuse images of more than this many megapixels before decoding them.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS as f64 / 1e6, value_name = "MP")]
    max_megapixels: f64,
    /// Replace the output (and log) files if they exist.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OptimizerArg {
    /// L-BFGS without line search (neural-style's default).
    Lbfgs,
    /// Adam (beta1 0.99, beta2 0.999, eps 1e-8).
    Adam,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PoolingArg {
    /// Max pooling.
    Max,
    /// Average pooling.
    Avg,
}

/// One line of `--log-json`.
#[derive(serde::Serialize)]
struct LogLine {
    iteration: usize,
    total: f32,
    content: f32,
    style: f32,
    tv: f32,
    elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<usize>,
}

impl GatysArgs {
    fn options(&self, init: Init) -> GatysOptions {
        let optimizer = match self.optimizer {
            OptimizerArg::Lbfgs => Optimizer::Lbfgs {
                learning_rate: 1.0,
                history: self.history,
            },
            OptimizerArg::Adam => Optimizer::adam(),
        }
        .with_learning_rate(self.learning_rate);
        let layer_weights = if self.style_layer_weights.is_empty() {
            vec![1.0; self.style_layers.len()]
        } else {
            self.style_layer_weights.clone()
        };
        GatysOptions {
            size: self.size,
            scales: self.scales.clone(),
            iterations: self.iterations,
            optimizer,
            weights: LossWeights {
                content: self.content_weight,
                style: self.style_weight,
                tv: self.tv_weight,
                content_layers: self.content_layers.clone(),
                style_layers: self.style_layers.clone(),
                layer_weights,
            },
            style_scale: self.style_scale,
            style_blend: self.style_blend_weights.clone(),
            init,
            preserve_colors: self.preserve_colors,
            report_every: 1,
            preview_every: self.save_every,
        }
    }

    fn init(&self) -> Result<Init> {
        Ok(match self.init.as_str() {
            "noise" | "random" => Init::Noise { seed: self.seed },
            "content" | "image" => Init::Content,
            path => Init::Image(read_image(Path::new(path), self.max_megapixels)?),
        })
    }

    /// Every file the run may write, checked before any work.
    fn check_outputs(&self, opts: &GatysOptions) -> Result<()> {
        OutputFormat::from_path(&self.output)?;
        check_writable(&self.output, self.force)?;
        if self.save_every > 0 {
            let multi = opts.stages().len() > 1;
            for stage in 0..opts.stages().len() {
                for it in (self.save_every..=self.iterations).step_by(self.save_every) {
                    let path = snapshot_path(&self.output, it, multi.then_some(stage));
                    check_writable(&path, self.force)?;
                }
            }
        }
        if let Some(log) = &self.log_json {
            check_writable(log, self.force)?;
        }
        Ok(())
    }
}

/// `OUTPUT_iterN.ext` beside the output.
fn snapshot_path(output: &Path, iteration: usize, stage: Option<usize>) -> PathBuf {
    let stem = output.file_stem().unwrap_or_default().to_string_lossy();
    let ext = output.extension().unwrap_or_default().to_string_lossy();
    let name = match stage {
        Some(s) => format!("{stem}_stage{}_iter{iteration}.{ext}", s + 1),
        None => format!("{stem}_iter{iteration}.{ext}"),
    };
    output.with_file_name(name)
}

pub async fn run(ctx: &GpuContext, a: GatysArgs, tuning: &Tuning) -> Result<()> {
    let content = read_image(&a.content, a.max_megapixels)?;
    let styles = a
        .styles
        .iter()
        .map(|p| read_image(p, a.max_megapixels))
        .collect::<Result<Vec<_>>>()?;
    let opts = a.options(a.init()?);
    opts.validate(styles.len())?;
    a.check_outputs(&opts)?;
    let pooling = match a.pooling {
        PoolingArg::Max => PoolMode::Max,
        PoolingArg::Avg => PoolMode::Avg,
    };
    let gatys = Gatys::new(
        ctx,
        &load_model(a.model.clone(), "vgg19.safetensors")?,
        pooling,
    )?;
    for &side in &opts.stages() {
        let est = gatys.check_fits(ctx, &content, &styles, &opts, side)?;
        eprintln!(
            "{side} px: about {:.0} MiB of GPU memory (largest buffer {:.0} MiB)",
            est.total_bytes as f64 / 1048576.0,
            est.largest_buffer.0 as f64 / 1048576.0
        );
    }
    if tuning.is_full() {
        for &side in &opts.stages() {
            if let Err(e) = tune_stage(ctx, &gatys, tuning, content.fitted_size(side)).await {
                // Tuning is an optimisation: the run goes on with the fixed kernels.
                eprintln!("warning: kernel tuning failed: {e}");
            }
        }
    }
    crate::interrupt::install();
    let mut reporter = Reporter::new(&a, &opts)?;
    let out = gatys
        .run(ctx, &content, &styles, &opts, &mut |p| reporter.report(p))
        .await;
    reporter.bar.finish_and_clear();
    // The log of the iterations done is kept whether the run finished, stopped or failed.
    let logged = reporter.finish();
    let out = out?;
    logged?;
    save_result(&a, &out)
}

/// With `--tune full`: times the kernels of a gradient evaluation at a stage's size that the
/// cache lacks.
async fn tune_stage(
    ctx: &GpuContext,
    gatys: &Gatys,
    tuning: &Tuning,
    (width, height): (usize, usize),
) -> Result<()> {
    let step = webgpu_style_transfer::bench::GatysGradient::new(ctx, gatys, width, height).await?;
    let record = |plan: &mut Plan| step.record(ctx, plan);
    tuning.tune_plan(ctx, &record, (height, width)).await
}

/// The final (or interrupted) picture, written atomically, and a summary line.
fn save_result(a: &GatysArgs, out: &GatysOutput) -> Result<()> {
    out.image.save_as(&a.output, a.force)?;
    let l = out.losses.expect("at least one report");
    say(&format!(
        "{} -> {} ({}x{}, {} iterations, loss {:.4e}: content {:.4e}, style {:.4e}, tv {:.4e})",
        a.content.display(),
        a.output.display(),
        out.image.width,
        out.image.height,
        out.iterations,
        l.total,
        l.content,
        l.style,
        l.tv
    ));
    if out.cancelled {
        eprintln!(
            "interrupted after {} iterations: the picture so far is in {}; continue with --init {}",
            out.iterations,
            a.output.display(),
            a.output.display()
        );
    }
    Ok(())
}

/// What a run reports as it goes: the progress bar, the log, the snapshots; Ctrl-C and a
/// failed write stop the run.
struct Reporter<'a> {
    args: &'a GatysArgs,
    bar: ProgressBar,
    log: Option<AtomicFile>,
    multi: bool,
    error: Option<Error>,
}

impl<'a> Reporter<'a> {
    fn new(args: &'a GatysArgs, opts: &GatysOptions) -> Result<Self> {
        let stages = opts.stages().len();
        let bar = ProgressBar::new((opts.iterations * stages) as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} [{elapsed_precise}] {per_sec} {msg}",
            )
            .expect("a valid template"),
        );
        let log = match &args.log_json {
            Some(p) => Some(AtomicFile::create(p, args.force)?),
            None => None,
        };
        Ok(Self {
            args,
            bar,
            log,
            multi: stages > 1,
            error: None,
        })
    }

    /// Called at each reported iteration; `false` stops the run.
    fn report(&mut self, p: &Progress) -> bool {
        let l = p.losses;
        self.bar
            .set_position((p.stage.0 * p.iterations + p.iteration) as u64);
        let stage = if self.multi {
            format!(" stage {}/{}", p.stage.0 + 1, p.stage.1)
        } else {
            String::new()
        };
        self.bar.set_message(format!(
            "loss {:.4e} (content {:.3e}, style {:.3e}, tv {:.3e}){stage}",
            l.total, l.content, l.style, l.tv
        ));
        if let Err(e) = self.log_line(p).and_then(|()| self.snapshot(p)) {
            self.error = Some(e);
            return false;
        }
        !crate::interrupt::requested()
    }

    fn log_line(&mut self, p: &Progress) -> Result<()> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        let l = p.losses;
        let line = LogLine {
            iteration: p.iteration,
            total: l.total,
            content: l.content,
            style: l.style,
            tv: l.tv,
            elapsed_ms: (p.elapsed_ms * 10.0).round() / 10.0,
            stage: self.multi.then_some(p.stage.0),
            size: self.multi.then_some(p.size.0.max(p.size.1)),
        };
        let text = serde_json::to_string(&line).expect("plain numbers serialise");
        writeln!(log, "{text}").map_err(|e| {
            webgpu_style_transfer::files::io_error(log.path(), e, "the log could not be written")
        })
    }

    fn snapshot(&self, p: &Progress) -> Result<()> {
        match p.preview {
            Some(img) if p.iteration > 0 => {
                let stage = self.multi.then_some(p.stage.0);
                let path = snapshot_path(&self.args.output, p.iteration, stage);
                img.save_as(&path, self.args.force)
            }
            _ => Ok(()),
        }
    }

    /// Writes the log into place; the first error met while reporting, if any.
    fn finish(self) -> Result<()> {
        if let Some(log) = self.log {
            log.commit()?;
        }
        self.error.map_or(Ok(()), Err)
    }
}
