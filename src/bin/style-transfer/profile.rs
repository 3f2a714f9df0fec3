//! `style-transfer profile`: where a net's time goes on this adapter, dispatch by dispatch
//! (`webgpu_style_transfer::bench::profile_*`, each dispatch timed on its own), printed as
//! Markdown tables headed by the adapter.

use std::path::PathBuf;
use std::time::Instant;

use webgpu_style_transfer::gatys::Gatys;
use webgpu_style_transfer::gpu::{GpuContext, Plan, Tensor, Timing};
use webgpu_style_transfer::models::johnson::FULL_WIDTH;
use webgpu_style_transfer::models::{ArbitraryNet, JohnsonNet, MultiStyle26, StyleWeights};
use webgpu_style_transfer::ops::PoolMode;
use webgpu_style_transfer::{bench, Error, Result};

use crate::input::load_model;
use crate::stdout::say;
use crate::tuning::Tuning;

#[derive(clap::Args)]
pub struct ProfileArgs {
    /// What to profile.
    #[arg(value_enum)]
    what: ProfileWhat,
    /// Side of the square input in pixels.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Runs per dispatch (the fastest is kept) and of the whole plan (the median is kept).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The converted net for `profile johnson`.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The net `profile train` trains: a style of the 26-style net, or a Johnson net.
    #[arg(long, default_value = "multistyle26", value_parser = ["multistyle26", "johnson"])]
    net: String,
    /// Width of the Johnson net for `profile train --net johnson`: 1 or 0.5.
    #[arg(long, default_value = "1", value_parser = ["1", "0.5"])]
    width: String,
    /// The clock: the GPU's timestamps (where the device has them: the default there) or the
    /// host's, each dispatch submitted alone.
    #[arg(long, value_enum)]
    timing: Option<Clock>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Clock {
    Gpu,
    Host,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProfileWhat {
    /// The 26-style net (style 19).
    Multistyle,
    /// The arbitrary-style transformer (a fixed style vector).
    Arbitrary,
    /// The arbitrary-style net's style predictor (its 256x256 painting; --size is ignored).
    Predictor,
    /// A converted Johnson net (--model FILE).
    Johnson,
    /// One Gatys gradient evaluation through VGG19 (forward, loss, backward).
    Gatys,
    /// One training step on one photo (--net, --width): the net's forward and backward, VGG16's,
    /// the loss; Adam's update is not in it.
    Train,
}

pub async fn run(ctx: &GpuContext, a: ProfileArgs, tuning: &Tuning) -> Result<()> {
    if a.size < 16 {
        return Err(Error::InvalidArgument {
            op: "profile",
            message: format!("--size must be at least 16, got {}", a.size),
        });
    }
    let start = Instant::now();
    let now = move || start.elapsed().as_secs_f64() * 1e3;
    let (size, runs) = (a.size, a.runs.max(1));
    let timing = match a.timing {
        None => Timing::best(ctx),
        Some(Clock::Host) => Timing::Host,
        Some(Clock::Gpu) if ctx.adapter().timestamps => Timing::Gpu,
        Some(Clock::Gpu) => {
            return Err(Error::InvalidArgument {
                op: "profile",
                message: format!(
                    "{} has no timestamp queries; use --timing host",
                    ctx.adapter().name
                ),
            })
        }
    };
    let profile = match a.what {
        ProfileWhat::Multistyle => {
            let net = MultiStyle26::load(ctx, &load_model(None, "multistyle26.safetensors")?)?;
            net.set_style(ctx, &StyleWeights::single(19)?)?;
            let record = |plan: &mut Plan, x: &Tensor| net.record(ctx, plan, x);
            tuning.tune(ctx, &record, (size, size)).await?;
            bench::profile_net(ctx, &record, size, runs, timing, &now).await?
        }
        ProfileWhat::Arbitrary => {
            let net = ArbitraryNet::load(ctx, &load_model(a.model, "arbitrary.safetensors")?)?;
            let record = |plan: &mut Plan, x: &Tensor| net.record(ctx, plan, x);
            tuning.tune(ctx, &record, (size, size)).await?;
            bench::profile_net(ctx, &record, size, runs, timing, &now).await?
        }
        ProfileWhat::Predictor => {
            let net = ArbitraryNet::load(ctx, &load_model(a.model, "arbitrary.safetensors")?)?;
            tuning.tune_predictor(ctx, &net).await?;
            net.predictor_plan(ctx)?
                .profile(ctx, runs, timing, &now)
                .await?
        }
        ProfileWhat::Johnson => {
            let Some(model) = a.model else {
                return Err(Error::InvalidArgument {
                    op: "profile johnson",
                    message: "give the converted net with --model FILE".into(),
                });
            };
            let net = JohnsonNet::load(ctx, &load_model(Some(model), "")?)?;
            let record = |plan: &mut Plan, x: &Tensor| net.record(ctx, plan, x);
            tuning.tune(ctx, &record, (size, size)).await?;
            bench::profile_net(ctx, &record, size, runs, timing, &now).await?
        }
        ProfileWhat::Train => {
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
            bench::profile_train(ctx, net.as_ref(), base, &vgg, size, runs, timing, &now).await?
        }
        ProfileWhat::Gatys => {
            let gatys = Gatys::new(ctx, &load_model(None, "vgg19.safetensors")?, PoolMode::Max)?;
            bench::profile_gatys(ctx, &gatys, size, runs, timing, &now).await?
        }
    };
    let adapter = ctx.adapter();
    let size = match a.what {
        ProfileWhat::Predictor => webgpu_style_transfer::models::arbitrary::PREDICTOR_SIZE,
        _ => size,
    };
    say(&format!(
        "Adapter: {} ({}); {size}x{size}, each dispatch's fastest of {runs} runs\n",
        adapter.name, adapter.backend
    ));
    say(bench::profile_markdown(&profile).trim_end());
    Ok(())
}
