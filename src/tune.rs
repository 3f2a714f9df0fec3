//! Tuning a net's kernels on this device: the net is recorded once at the size it will run,
//! every kernel choice the device's table lacks is noted, and each is timed
//! ([`crate::ops::conv2d_tune::time_problem`]) within a time budget. The choices go into the
//! context's [`TuningTable`], which plans recorded afterwards use; natively [`cache`] keeps it
//! in a file per adapter and driver, in the browser the package keeps it in IndexedDB.

use crate::gpu::{GpuContext, Plan, Tensor, TuneMode, Tuned};
use crate::ops::conv2d_tune::{time_problem, ConvProblem, ProblemTiming};
use crate::{Error, Result};

/// Runs per candidate kernel (the fastest is kept).
pub const RUNS: usize = 3;

/// One problem timed.
#[derive(Debug, Clone, PartialEq)]
pub struct TunedProblem {
    /// Its key in the table.
    pub key: String,
    /// The choice and the times behind it.
    pub tuned: Tuned,
    /// Candidate tiles timed: all `offered` unless the budget ran out during this problem (the
    /// best of those timed is kept, the fixed tile always among them).
    pub timed: usize,
    /// Candidate tiles the device offers for it.
    pub offered: usize,
}

/// What a tuning did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TuneReport {
    /// The problems timed, in the order met.
    pub tuned: Vec<TunedProblem>,
    /// Problems the table already had.
    pub cached: usize,
    /// Problems left untimed because the budget ran out (they keep the fixed choice; a later
    /// tuning takes them up).
    pub left: usize,
    /// Milliseconds the tuning took.
    pub ms: f64,
}

impl TuneReport {
    /// Adds what another tuning of the same run did (the arbitrary-style net's predictor and
    /// transformer).
    pub fn merge(&mut self, other: TuneReport) {
        self.tuned.extend(other.tuned);
        self.cached += other.cached;
        self.left += other.left;
        self.ms += other.ms;
    }

    /// Problems whose tiles were not all timed because the budget ran out while they were.
    pub fn cut_short(&self) -> usize {
        self.tuned.iter().filter(|t| t.timed < t.offered).count()
    }

    /// One line for a log: what was tuned, how long it took, what it gained.
    pub fn summary(&self) -> String {
        let fixed: f64 = self.tuned.iter().map(|t| t.tuned.fixed_ms).sum();
        let tuned: f64 = self.tuned.iter().map(|t| t.tuned.ms).sum();
        let changed = self
            .tuned
            .iter()
            .filter(|t| t.tuned.choice != t.tuned.fixed)
            .count();
        let mut s = format!(
            "tuned {} layer shape(s) in {:.1} s ({changed} changed; their layers {:.1} -> {:.1} ms); {} already cached",
            self.tuned.len(),
            self.ms / 1e3,
            fixed,
            tuned,
            self.cached
        );
        let cut = self.cut_short();
        if cut > 0 {
            s.push_str(&format!(
                "; {cut} cut short by the budget (the best of the tiles timed is kept, the next tuning times the rest)"
            ));
        }
        if self.left > 0 {
            s.push_str(&format!(
                "; {} left for the next tuning (budget spent)",
                self.left
            ));
        }
        s
    }
}

/// Tunes the kernels `record` (a net's recording on an input, as in [`crate::bench`]) uses on a
/// `height` x `width` RGB input: the problems the table lacks are timed, `RUNS` runs per
/// candidate, until `budget_ms` is spent: no tile is started after that, so the budget is
/// overrun by at most one tile's runs. Plans recorded before keep their choices; record again
/// to use the new ones. `now` returns milliseconds.
pub async fn tune_net(
    ctx: &GpuContext,
    record: &dyn Fn(&mut Plan, &Tensor) -> Result<Tensor>,
    (height, width): (usize, usize),
    budget_ms: f64,
    now: &dyn Fn() -> f64,
) -> Result<TuneReport> {
    let x = ctx.tensor("tune.input", &[3, height, width], crate::gpu::DType::F32)?;
    tune_plan(ctx, &|plan| record(plan, &x).map(drop), budget_ms, now).await
}

/// [`tune_net`] for a plan that `record` appends on inputs of its own (the arbitrary-style
/// predictor's fixed-size painting).
pub async fn tune_plan(
    ctx: &GpuContext,
    record: &dyn Fn(&mut Plan) -> Result<()>,
    budget_ms: f64,
    now: &dyn Fn() -> f64,
) -> Result<TuneReport> {
    let start = now();
    let (missing, cached) = collect(ctx, record)?;
    let mut report = TuneReport {
        cached,
        ..TuneReport::default()
    };
    for (key, problem) in missing {
        if now() - start > budget_ms {
            report.left += 1;
            continue;
        }
        let problem = ConvProblem::parse(&problem)?;
        let earlier = ctx
            .tune_state()
            .table
            .get(&key)
            .filter(|t| t.resume_at.is_some())
            .cloned();
        let deadline = start + budget_ms;
        let ProblemTiming {
            tuned,
            timed,
            offered,
        } = time_problem(ctx, &problem, RUNS, deadline, earlier.as_ref(), now).await?;
        let mut one = crate::gpu::TuningTable::default();
        one.insert(&key, tuned.clone())?;
        ctx.tune_state().extend(one);
        report.tuned.push(TunedProblem {
            key,
            tuned,
            timed,
            offered,
        });
    }
    ctx.trim_pool();
    report.ms = now() - start;
    Ok(report)
}

/// Records the plan once with misses noted: the problems the table lacks (key, problem text)
/// and how many it has. Other plans recorded on the context meanwhile are noted too, so a
/// context tunes one net at a time.
fn collect(
    ctx: &GpuContext,
    record: &dyn Fn(&mut Plan) -> Result<()>,
) -> Result<(Vec<(String, String)>, usize)> {
    let mode = {
        let mut s = ctx.tune_state();
        // The misses are the context's, not the plan's: two tunings collecting at once on one
        // context would take each other's layers.
        if s.collecting {
            return Err(Error::InvalidArgument {
                op: "tune",
                message: "another tuning is collecting this context's layers; tune one net at \
                          a time on a context (or give each thread a context of its own)"
                    .into(),
            });
        }
        s.collecting = true;
        s.missing.clear();
        s.hits.clear();
        std::mem::replace(&mut s.mode, TuneMode::Cached)
    };
    let mut plan = Plan::new("tune.collect");
    let recorded = record(&mut plan);
    let mut s = ctx.tune_state();
    s.collecting = false;
    s.mode = mode;
    let missing: Vec<(String, String)> = std::mem::take(&mut s.missing).into_iter().collect();
    let cached = std::mem::take(&mut s.hits).len();
    drop(s);
    recorded?;
    Ok((missing, cached))
}

/// Fails unless `budget_ms` is a positive number of milliseconds.
pub fn check_budget(budget_ms: f64) -> Result<()> {
    if budget_ms.is_finite() && budget_ms > 0.0 {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        op: "tune",
        message: format!("the tuning budget must be a positive time, got {budget_ms} ms"),
    })
}

/// The native tuning cache: one text file per adapter and driver in the user's cache directory.
#[cfg(not(target_arch = "wasm32"))]
pub mod cache {
    use std::path::{Path, PathBuf};

    use sha2::{Digest, Sha256};

    use crate::files::{io_error, write_atomic};
    use crate::gpu::{GpuContext, TuningTable};
    use crate::{Error, Result};

    /// The environment variable that moves the cache directory.
    pub const DIR_VAR: &str = "STYLE_TRANSFER_CACHE_DIR";

    /// The directory tuning files live in: `$STYLE_TRANSFER_CACHE_DIR`, else the platform's user
    /// cache directory (`~/.cache` on Linux) + `webgpu-style-transfer`.
    pub fn dir() -> Result<PathBuf> {
        if let Some(d) = std::env::var_os(DIR_VAR).filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(d));
        }
        dirs::cache_dir()
            .map(|d| d.join("webgpu-style-transfer"))
            .ok_or_else(|| Error::InvalidArgument {
                op: "tune",
                message: format!(
                    "this system names no user cache directory; set {DIR_VAR} to a directory for the tuning cache"
                ),
            })
    }

    /// The file of this context's adapter and driver in `dir`.
    pub fn file(ctx: &GpuContext, dir: &Path) -> PathBuf {
        let hash = Sha256::digest(ctx.tuning_key().as_bytes());
        let name: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        dir.join(format!("tuning-{name}.txt"))
    }

    /// Loads the adapter's file (if there is one) into the context; returns the entries read.
    pub fn load(ctx: &GpuContext, path: &Path) -> Result<usize> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(io_error(
                    path,
                    e,
                    "check its permissions, or run with --tune off",
                ))
            }
        };
        let table = TuningTable::parse(&text, &path.display().to_string())?;
        let n = table.len();
        ctx.load_tuning(table);
        Ok(n)
    }

    /// Writes the context's table to `path` (creating its directory), replacing it at once.
    pub fn save(ctx: &GpuContext, path: &Path) -> Result<()> {
        let dir = crate::files::parent_dir(path);
        std::fs::create_dir_all(&dir).map_err(|e| {
            io_error(
                &dir,
                e,
                "set STYLE_TRANSFER_CACHE_DIR to a writable directory",
            )
        })?;
        let table = ctx.tuning_table().to_string();
        let (header, entries) = table.split_once('\n').unwrap_or((&table, ""));
        let text = format!("{header}\n# adapter: {}\n{entries}", ctx.tuning_key());
        write_atomic(path, text.as_bytes(), true)
    }
}
