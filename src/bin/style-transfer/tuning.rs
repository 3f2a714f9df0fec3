//! `--tune off|cached|full` and `--tune-budget`: the kernel choices timed on this adapter
//! (`webgpu_style_transfer::tune`), kept in the user's cache directory so that only the first
//! run pays. `cached` (the default) uses what the cache holds; `full` also times what it lacks
//! for the run at hand and saves it; `off` runs the fixed choices.

use std::path::PathBuf;

use webgpu_style_transfer::gpu::{GpuContext, Plan, Tensor, TuneMode};
use webgpu_style_transfer::image::Rgba8Image;
use webgpu_style_transfer::models::{ArbitraryNet, OutputOptions, Styled};
use webgpu_style_transfer::train::Trainer;
use webgpu_style_transfer::tune::{self, cache, TuneReport};
use webgpu_style_transfer::{clock::now_ms, Result};

use crate::stdout::say;

/// The tuning options every command takes.
#[derive(clap::Args, Clone)]
pub struct TuneArgs {
    /// Kernel tuning: `cached` uses the choices timed on this GPU before (the cache file
    /// `info` shows), `full` also times the layers of this run the cache lacks and saves them,
    /// `off` runs the fixed choices.
    #[arg(long, global = true, default_value = "cached", value_parser = ["off", "cached", "full"])]
    tune: String,
    /// The most seconds `--tune full` spends timing (layers left keep the fixed choice and are
    /// timed by a later run).
    #[arg(long, global = true, default_value_t = 120.0, value_name = "SECONDS")]
    tune_budget: f64,
}

/// The run's tuning: its mode, budget and cache file.
pub struct Tuning {
    mode: TuneMode,
    budget_ms: f64,
    file: Option<PathBuf>,
}

impl Tuning {
    /// Sets the context's mode and loads this adapter's cache file (unless `off`). A cache that
    /// cannot be read is reported and left alone: the run goes on with the fixed choices.
    pub fn setup(ctx: &GpuContext, a: &TuneArgs) -> Result<Self> {
        let mode = TuneMode::parse(&a.tune)?;
        tune::check_budget(a.tune_budget * 1e3)?;
        ctx.set_tune_mode(mode);
        let file = match mode {
            TuneMode::Off => None,
            _ => Some(cache::file(ctx, &cache::dir()?)),
        };
        let mut tuning = Self {
            mode,
            budget_ms: a.tune_budget * 1e3,
            file,
        };
        if let Some(path) = &tuning.file {
            if let Err(e) = cache::load(ctx, path) {
                eprintln!("warning: the kernel tuning cache is not used: {e}");
                // Never overwrite a file we could not read.
                tuning.file = None;
            }
        }
        Ok(tuning)
    }

    /// Whether this run times what the cache lacks (`--tune full`).
    pub fn is_full(&self) -> bool {
        self.mode == TuneMode::Full
    }

    /// With `--tune full`: times the kernels a stylization of `photo` uses that the cache lacks,
    /// reports it on stderr and saves the cache.
    pub async fn tune_styled(
        &self,
        ctx: &GpuContext,
        net: &Styled<'_>,
        photo: &Rgba8Image,
        opts: &OutputOptions,
    ) -> Result<()> {
        if self.mode != TuneMode::Full {
            return Ok(());
        }
        let report = net.tune(ctx, photo, opts, self.budget_ms).await?;
        let (w, h) = photo.fitted_size(opts.max_size);
        self.finish(ctx, &report, (h, w))
    }

    /// With `--tune full`: times the arbitrary-style predictor's kernels that the cache lacks,
    /// reports it on stderr and saves the cache.
    pub async fn tune_predictor(&self, ctx: &GpuContext, net: &ArbitraryNet) -> Result<()> {
        if self.mode != TuneMode::Full {
            return Ok(());
        }
        let report = net.tune_predictor(ctx, self.budget_ms, &now_ms).await?;
        let side = webgpu_style_transfer::models::arbitrary::PREDICTOR_SIZE;
        self.finish(ctx, &report, (side, side))
    }

    /// With `--tune full`: times the kernels of a training step that the cache lacks (the step
    /// is recorded again with them), reports it on stderr and saves the cache.
    pub async fn tune_training(&self, ctx: &GpuContext, trainer: &mut Trainer) -> Result<()> {
        if self.mode != TuneMode::Full {
            return Ok(());
        }
        let report = trainer.tune(ctx, self.budget_ms, &now_ms).await?;
        let size = trainer.options().size;
        self.finish(ctx, &report, (size, size))
    }

    /// With `--tune full`: times the kernels of the plan `record` appends (on inputs of its own,
    /// `size` for the report) that the cache lacks, reports it on stderr and saves the cache.
    pub async fn tune_plan(
        &self,
        ctx: &GpuContext,
        record: &dyn Fn(&mut Plan) -> Result<()>,
        size: (usize, usize),
    ) -> Result<()> {
        if self.mode != TuneMode::Full {
            return Ok(());
        }
        let report = tune::tune_plan(ctx, record, self.budget_ms, &now_ms).await?;
        self.finish(ctx, &report, size)
    }

    /// With `--tune full`: times the kernels `record` uses on a `height` x `width` input that
    /// the cache lacks, reports it on stderr and saves the cache.
    pub async fn tune(
        &self,
        ctx: &GpuContext,
        record: &dyn Fn(&mut Plan, &Tensor) -> Result<Tensor>,
        size: (usize, usize),
    ) -> Result<()> {
        if self.mode != TuneMode::Full {
            return Ok(());
        }
        self.tune_now(ctx, record, size).await
    }

    /// Times the kernels `record` uses on a `height` x `width` input that the cache lacks
    /// (whatever the mode, unless `off`), reports it on stderr and saves the cache.
    pub async fn tune_now(
        &self,
        ctx: &GpuContext,
        record: &dyn Fn(&mut Plan, &Tensor) -> Result<Tensor>,
        size: (usize, usize),
    ) -> Result<()> {
        if self.mode == TuneMode::Off {
            return Ok(());
        }
        let report = tune::tune_net(ctx, record, size, self.budget_ms, &now_ms).await?;
        self.finish(ctx, &report, size)
    }

    /// Reports a tuning that timed something on stderr and saves the cache.
    fn finish(&self, ctx: &GpuContext, report: &TuneReport, (h, w): (usize, usize)) -> Result<()> {
        if report.tuned.is_empty() && report.left == 0 {
            return Ok(());
        }
        eprintln!("{} at {w}x{h}", report.summary());
        match &self.file {
            Some(path) => cache::save(ctx, path),
            None => Ok(()),
        }
    }
}

/// `info`'s lines on tuning: the cache file and what it holds for this adapter.
pub fn describe(ctx: &GpuContext) -> Result<()> {
    let path = cache::file(ctx, &cache::dir()?);
    let table = ctx.tuning_table();
    say(&format!(
        "tuning:       {} ({})",
        ctx.tune_mode().as_str(),
        path.display()
    ));
    if table.is_empty() {
        say("  nothing tuned on this adapter yet (run with --tune full)");
        return Ok(());
    }
    say(&format!("  {} layer shape(s) tuned:", table.len()));
    for (key, t) in table.entries() {
        let mut change = if t.choice == t.fixed {
            "fixed choice kept".to_string()
        } else {
            format!("{:.2}x faster than {}", t.fixed_ms / t.ms, t.fixed)
        };
        if let Some(n) = t.resume_at {
            change.push_str(&format!(
                " (cut short after {n} tiles; --tune full times the rest)"
            ));
        }
        say(&format!(
            "  {key:<52} {:<20} {:>9.3} ms  {change}",
            t.choice, t.ms
        ));
    }
    Ok(())
}
