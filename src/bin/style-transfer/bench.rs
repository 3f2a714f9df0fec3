//! `style-transfer bench`: the benchmarks of `webgpu_style_transfer::bench`, printed as
//! Markdown tables headed by the adapter (so they paste into the README as they are).

use std::path::PathBuf;
use std::time::Instant;

use webgpu_style_transfer::gatys::Gatys;
use webgpu_style_transfer::gpu::{GpuContext, Plan, Tensor, Timing, TuneMode};
use webgpu_style_transfer::models::johnson::FULL_WIDTH;
use webgpu_style_transfer::models::{ArbitraryNet, JohnsonNet, MultiStyle26};
use webgpu_style_transfer::ops::PoolMode;
use webgpu_style_transfer::{bench, Error, Result};

use crate::input::load_model;
use crate::stdout::say;
use crate::tuning::Tuning;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// What to benchmark.
    #[arg(value_enum, default_value = "conv")]
    what: BenchWhat,
    /// Timed runs per kernel (after one warm-up run).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Only the cases whose name contains this text (e.g. "3x3").
    #[arg(long, default_value = "")]
    case: String,
    /// Sizes for `bench gatys` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "128,256,512")]
    sizes: Vec<usize>,
    /// Iterations timed per size for `bench gatys`.
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Photos per step for `bench train`.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// The model for `bench johnson`.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The net `bench train` trains: a style of the 26-style net, or a Johnson net from scratch.
    #[arg(long, default_value = "multistyle26", value_parser = ["multistyle26", "johnson"])]
    net: String,
    /// Width of the Johnson net for `bench train --net johnson`: 1 or 0.5.
    #[arg(long, default_value = "1", value_parser = ["1", "0.5"])]
    width: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchWhat {
    /// Convolution kernels, naive against tiled, in GFLOP/s.
    Conv,
    /// The 26-style net, milliseconds per image at 256, 512 and 1024 px.
    Multistyle,
    /// Gatys optimisation, iterations per second and peak GPU memory at --sizes.
    Gatys,
    /// A converted Johnson net (--model FILE), milliseconds per image at 256, 512, 1024 px.
    Johnson,
    /// The arbitrary-style pair: transformer ms per image at 256, 512, 1024 px; predictor.
    Arbitrary,
    /// The 26-style net (or the net of --model; a VGG file: a Gatys gradient evaluation) with
    /// the fixed kernel choices beside those tuned on this GPU (what the cache lacks is timed
    /// first), convolution by convolution, at --sizes.
    Tune,
    /// Training (VGG16 loss): a new style of the 26-style net, or with --net johnson a Johnson
    /// net of --width; steps per second at --sizes, batch --batch, --iterations steps timed.
    Train,
}

const SIZES: [usize; 3] = [256, 512, 1024];

/// Prints a Markdown table headed by the adapter; `right` marks the numeric columns.
fn table(ctx: &GpuContext, columns: &[(&str, bool)], rows: &[Vec<String>]) {
    let a = ctx.adapter();
    say(&format!("Adapter: {} ({})\n", a.name, a.backend));
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let rules: Vec<&str> = columns
        .iter()
        .map(|c| if c.1 { "---:" } else { "---" })
        .collect();
    say(&format!("| {} |", names.join(" | ")));
    say(&format!("|{}|", rules.join("|")));
    for r in rows {
        say(&format!("| {} |", r.join(" | ")));
    }
}

/// The ms-per-image table of a transform net at 256, 512 and 1024 px.
fn size_rows(rows: &[(usize, f64)], decimals: usize) -> Vec<Vec<String>> {
    rows.iter()
        .map(|(size, ms)| vec![format!("{size}x{size}"), format!("{ms:.decimals$}")])
        .collect()
}

/// Tunes what `record` uses at each square size (with `--tune full`, or always for `force`).
async fn tune_sizes(
    ctx: &GpuContext,
    tuning: &Tuning,
    record: &dyn Fn(&mut Plan, &Tensor) -> Result<Tensor>,
    sizes: &[usize],
) -> Result<()> {
    for &size in sizes {
        tuning.tune(ctx, record, (size, size)).await?;
    }
    Ok(())
}

pub async fn run(ctx: &GpuContext, a: BenchArgs, tuning: &Tuning) -> Result<()> {
    let start = Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1e3;
    let runs = a.runs.max(1);
    match a.what {
        BenchWhat::Tune => bench_tune(ctx, &a, tuning, &now).await?,
        BenchWhat::Multistyle => {
            let net = MultiStyle26::load(ctx, &load_model(None, "multistyle26.safetensors")?)?;
            tune_sizes(ctx, tuning, &|plan, x| net.record(ctx, plan, x), &SIZES).await?;
            let rows = bench::multistyle_table(ctx, &net, &SIZES, runs, &now).await?;
            table(
                ctx,
                &[("size", false), ("ms per image", true)],
                &size_rows(&rows, 0),
            );
        }
        BenchWhat::Johnson => {
            let Some(model) = a.model else {
                return Err(Error::InvalidArgument {
                    op: "bench johnson",
                    message: "give the converted net with --model FILE".into(),
                });
            };
            let net = JohnsonNet::load(ctx, &load_model(Some(model), "")?)?;
            tune_sizes(ctx, tuning, &|plan, x| net.record(ctx, plan, x), &SIZES).await?;
            let rows = bench::johnson_table(ctx, &net, &SIZES, runs, &now).await?;
            table(
                ctx,
                &[("size", false), ("ms per image", true)],
                &size_rows(&rows, 1),
            );
        }
        BenchWhat::Arbitrary => {
            let net = ArbitraryNet::load(ctx, &load_model(a.model, "arbitrary.safetensors")?)?;
            tune_sizes(ctx, tuning, &|plan, x| net.record(ctx, plan, x), &SIZES).await?;
            let (rows, predictor_ms) =
                bench::arbitrary_table(ctx, &net, &SIZES, runs, &now).await?;
            let columns = [("size", false), ("transformer ms per image", true)];
            table(ctx, &columns, &size_rows(&rows, 1));
            say(&format!(
                "\nStyle predictor (256x256 painting, with its 5 KB read-back): {predictor_ms:.1} ms"
            ));
        }
        BenchWhat::Gatys => {
            let vgg = load_model(None, "vgg19.safetensors")?;
            let gatys = Gatys::new(ctx, &vgg, PoolMode::Max)?;
            let rows = bench::gatys_table(ctx, &gatys, &a.sizes, a.iterations).await?;
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        format!("{0}x{0}", r.size),
                        r.optimizer.to_string(),
                        format!("{:.1}", r.ms_per_iteration),
                        format!("{:.2}", 1e3 / r.ms_per_iteration),
                        format!("{:.0} MiB", r.peak_bytes as f64 / 1048576.0),
                    ]
                })
                .collect();
            let columns = [
                ("size", false),
                ("optimizer", false),
                ("ms per iteration", true),
                ("iterations/s", true),
                ("peak GPU memory", true),
            ];
            table(ctx, &columns, &rows);
        }
        BenchWhat::Train => {
            let net = match a.net.as_str() {
                "johnson" => None,
                _ => Some(load_model(None, "multistyle26.safetensors")?),
            };
            let base = if a.width == "0.5" {
                FULL_WIDTH / 2
            } else {
                FULL_WIDTH
            };
            let vgg = load_model(None, "vgg16.safetensors")?;
            let (sizes, batch, steps) = (&a.sizes, a.batch, a.iterations);
            let rows = bench::train_table(ctx, net.as_ref(), base, &vgg, sizes, batch, steps, &now)
                .await?;
            say(&format!(
                "Training {}\n",
                match net {
                    Some(_) => "a style of the 26-style net".to_string(),
                    None => format!("a Johnson net of width {} from scratch", a.width),
                }
            ));
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        format!("{0}x{0}", r.size),
                        r.batch.to_string(),
                        format!("{:.0}", r.ms_per_step),
                        format!("{:.3}", 1e3 / r.ms_per_step),
                        format!("{:.0} MiB", r.peak_bytes as f64 / 1048576.0),
                    ]
                })
                .collect();
            let columns = [
                ("size", false),
                ("batch", false),
                ("ms per step", true),
                ("steps/s", true),
                ("peak GPU memory", true),
            ];
            table(ctx, &columns, &rows);
        }
        BenchWhat::Conv => {
            let rows = bench::conv_table(ctx, runs, &a.case, &now).await?;
            let adapter = format!("{} ({})", ctx.adapter().name, ctx.adapter().backend);
            for line in bench::conv_markdown(&adapter, &rows).lines() {
                say(line);
            }
        }
    }
    Ok(())
}

/// The net `bench tune` compares.
#[allow(clippy::large_enum_variant)] // one, for the length of a benchmark
enum Tuned {
    Multi(MultiStyle26),
    Arbitrary(ArbitraryNet),
    Johnson(JohnsonNet),
    Gatys(Gatys),
}

/// `bench tune`: the net with fixed and tuned kernels, side by side at each size.
async fn bench_tune(
    ctx: &GpuContext,
    a: &BenchArgs,
    tuning: &Tuning,
    now: &dyn Fn() -> f64,
) -> Result<()> {
    if ctx.tune_mode() == TuneMode::Off {
        return Err(Error::InvalidArgument {
            op: "bench tune",
            message: "it compares the tuned kernels with the fixed ones; drop --tune off".into(),
        });
    }
    let file = load_model(a.model.clone(), "multistyle26.safetensors")?;
    let net = match file.family() {
        "arbitrary" => Tuned::Arbitrary(ArbitraryNet::load(ctx, &file)?),
        "johnson" => Tuned::Johnson(JohnsonNet::load(ctx, &file)?),
        "vgg16" | "vgg19" => Tuned::Gatys(Gatys::new(ctx, &file, PoolMode::Max)?),
        _ => Tuned::Multi(MultiStyle26::load(ctx, &file)?),
    };
    let what = match &net {
        Tuned::Gatys(_) => format!("a Gatys gradient evaluation through {}", file.family()),
        _ => format!("the {} net", file.family()),
    };
    let adapter = ctx.adapter();
    for &size in &a.sizes {
        let gatys = match &net {
            Tuned::Gatys(g) => Some(bench::GatysGradient::new(ctx, g, size, size).await?),
            _ => None,
        };
        let record = |plan: &mut Plan, x: &Tensor| match (&net, &gatys) {
            (Tuned::Multi(n), _) => n.record(ctx, plan, x),
            (Tuned::Arbitrary(n), _) => n.record(ctx, plan, x),
            (Tuned::Johnson(n), _) => n.record(ctx, plan, x),
            (Tuned::Gatys(_), Some(g)) => g.record(ctx, plan).map(|()| x.clone()),
            (Tuned::Gatys(_), None) => unreachable!("made above"),
        };
        tuning.tune_now(ctx, &record, (size, size)).await?;
        let runs = a.runs.max(1);
        let r = bench::fixed_and_tuned(ctx, &record, size, runs, Timing::best(ctx), now).await?;
        say(&format!(
            "\nAdapter: {} ({}); {what}, {size}x{size}, {runs} alternating rounds\n",
            adapter.name, adapter.backend,
        ));
        say(bench::fixed_and_tuned_markdown(&r).trim_end());
    }
    Ok(())
}
