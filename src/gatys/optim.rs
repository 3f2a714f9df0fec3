//! The optimisers of a Gatys run, with all their state on the GPU: each records its update
//! once into a [`Plan`] that is submitted after every gradient evaluation, so an iteration is one
//! submission and nothing is read back.
//!
//! - Adam (Kingma & Ba 2015) with bias correction, as `torch.optim.Adam`.
//! - L-BFGS as torch7's `optim.lbfgs` runs it for neural-style: no line search, the first step
//!   `min(1, 1/|g|_1) * lr` along `-g`, later steps `lr` along the two-loop direction; a pair
//!   (s, y) enters the history only when `y.s > 1e-10`; `H0 = y.s / y.y` of the newest pair.
//!
//! The history is a ring of `m` slots whose newest position lives on the GPU (see
//! `src/shaders/optim.wgsl`), so the recorded plan does not change from one iteration to the
//! next: positions not yet filled contribute coefficients of zero.

use crate::gpu::{linear_workgroups, DType, GpuContext, Kernel, Plan, Tensor};
use crate::ops::kernel;
use crate::{Error, Result};

const DOT_PARTIAL: Kernel = kernel!("optim.wgsl", "dot_partial");
const DOT_FINISH: Kernel = kernel!("optim.wgsl", "dot_finish");
const CANDIDATE: Kernel = kernel!("optim.wgsl", "lbfgs_candidate");
const COMMIT: Kernel = kernel!("optim.wgsl", "lbfgs_commit");
const DIRECTION: Kernel = kernel!("optim.wgsl", "lbfgs_direction");
const AXPY: Kernel = kernel!("optim.wgsl", "lbfgs_axpy");
const SCALE: Kernel = kernel!("optim.wgsl", "lbfgs_scale");
const ADAM: Kernel = kernel!("optim.wgsl", "adam");
const ADAM_TICK: Kernel = kernel!("optim.wgsl", "adam_tick");

/// Workgroups of the first stage of a dot product (each sums a strided share).
const PARTS: usize = 128;
/// Fixed slots of the state array before the per-pair values (see optim.wgsl).
const STATE_FIXED: usize = 16;
// Slots of the state array (see optim.wgsl).
const HDIAG: usize = 2;
const STEP: usize = 3;
const YS: usize = 4;
const COEF: usize = 6;
// What `dot_partial` sums: a . b, or |a|_1.
const PRODUCT: u32 = 0;
const ABS_SUM: u32 = 1;
// What `dot_finish` does with the sum (its `mode`, see optim.wgsl).
const STORE_YS: u32 = 0;
const FIRST_STEP: u32 = 1;
const KEEP_PAIR: u32 = 2;
const ALPHA: u32 = 3;
const BETA: u32 = 4;

/// Which optimiser updates the image, with its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// L-BFGS without line search (neural-style's default).
    Lbfgs {
        /// Step length after the first step (1 in neural-style).
        learning_rate: f32,
        /// Pairs (s, y) kept (neural-style uses 100; 20 here by default to save memory).
        history: usize,
    },
    /// Adam.
    Adam {
        /// Step size (neural-style: 10, in VGG's 0-255 pixel units).
        learning_rate: f32,
        /// First-moment decay (0.99 in neural-style; torch's default is 0.9).
        beta1: f32,
        /// Second-moment decay (0.999).
        beta2: f32,
        /// Added to the denominator (1e-8).
        eps: f32,
    },
}

impl Optimizer {
    /// L-BFGS with step 1 and a history of 20 pairs.
    pub fn lbfgs() -> Self {
        Optimizer::Lbfgs {
            learning_rate: 1.0,
            history: 20,
        }
    }

    /// Adam with neural-style's settings (lr 10, beta1 0.99, beta2 0.999, eps 1e-8).
    pub fn adam() -> Self {
        Optimizer::Adam {
            learning_rate: 10.0,
            beta1: 0.99,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// The same optimiser with another step size, or unchanged for `None`.
    pub fn with_learning_rate(self, lr: Option<f32>) -> Self {
        let Some(lr) = lr else { return self };
        match self {
            Optimizer::Lbfgs { history, .. } => Optimizer::Lbfgs {
                learning_rate: lr,
                history,
            },
            Optimizer::Adam {
                beta1, beta2, eps, ..
            } => Optimizer::Adam {
                learning_rate: lr,
                beta1,
                beta2,
                eps,
            },
        }
    }

    /// Checks the settings, naming the first that is out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| {
            Err(Error::InvalidArgument {
                op: "optimizer",
                message,
            })
        };
        match *self {
            Optimizer::Lbfgs {
                learning_rate,
                history,
            } => {
                if !(learning_rate.is_finite() && learning_rate > 0.0) {
                    return bad(format!(
                        "the L-BFGS step must be positive, got {learning_rate}"
                    ));
                }
                if !(1..=1000).contains(&history) {
                    return bad(format!(
                        "the L-BFGS history must be 1 to 1000 pairs, got {history}"
                    ));
                }
            }
            Optimizer::Adam {
                learning_rate,
                beta1,
                beta2,
                eps,
            } => {
                if !(learning_rate.is_finite() && learning_rate > 0.0) {
                    return bad(format!(
                        "the Adam learning rate must be positive, got {learning_rate}"
                    ));
                }
                if !((0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2)) {
                    return bad(format!(
                        "Adam's betas must be in [0, 1), got {beta1} and {beta2}"
                    ));
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return bad(format!("Adam's eps must be positive, got {eps}"));
                }
            }
        }
        Ok(())
    }

    /// Bytes of optimiser state for an image of `n` values (the image itself not counted).
    pub fn state_bytes(&self, n: usize) -> u64 {
        let vectors = match *self {
            // d, g_old, s and y candidates, and the [m, n] history of s and y.
            Optimizer::Lbfgs { history, .. } => 4 + 2 * history,
            // First and second moments.
            Optimizer::Adam { .. } => 2,
        };
        (vectors * n * 4) as u64
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    m: u32,
    pos: u32,
    mode: u32,
    a_hist: u32,
    b_hist: u32,
    dst: u32,
    parts: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

/// An optimiser bound to one image tensor and its gradient: the recorded update plans and the
/// state they keep on the GPU.
pub struct OptimizerState {
    /// L-BFGS's first step differs from the later ones; Adam has none of its own.
    first: Option<Plan>,
    later: Plan,
    started: bool,
    /// The state array (kept for tests that inspect it).
    _state: Tensor,
}

impl OptimizerState {
    /// Records the update of `x` from its gradient `g` (both the same shape, updated in place).
    pub fn new(ctx: &GpuContext, optimizer: &Optimizer, x: &Tensor, g: &Tensor) -> Result<Self> {
        optimizer.validate()?;
        crate::ops::same_shape("optimizer", x, g)?;
        let n = x.numel();
        let base = Params {
            n: n as u32,
            m: 1,
            parts: PARTS as u32,
            ..Params::default()
        };
        let groups = linear_workgroups(n, 256);
        match *optimizer {
            Optimizer::Adam {
                learning_rate,
                beta1,
                beta2,
                eps,
            } => {
                let state = ctx.upload("adam.state", &[STATE_FIXED], &[0.0; STATE_FIXED])?;
                let zeros = vec![0.0f32; n];
                let m = ctx.upload("adam.m", x.shape(), &zeros)?;
                let v = ctx.upload("adam.v", x.shape(), &zeros)?;
                let p = Params {
                    lr: learning_rate,
                    beta1,
                    beta2,
                    eps,
                    ..base
                };
                let mut plan = Plan::new("adam");
                plan.push(ctx.dispatch("adam", &ADAM, &[], &p, &[&state, g, &m, &v, x], groups)?);
                plan.push(ctx.dispatch("adam.tick", &ADAM_TICK, &[], &p, &[&state], [1, 1, 1])?);
                Ok(Self {
                    first: None,
                    later: plan,
                    started: false,
                    _state: state,
                })
            }
            Optimizer::Lbfgs {
                learning_rate,
                history,
            } => {
                let m = history;
                ctx.check_storage_size(
                    "L-BFGS",
                    &format!("a history of {m} pairs"),
                    (m * n * 4) as u64,
                )?;
                let mut init = vec![0.0f32; STATE_FIXED + 2 * m];
                init[0] = (m - 1) as f32; // newest: the next pair goes to slot 0
                init[HDIAG] = 1.0;
                let state = ctx.upload("lbfgs.state", &[init.len()], &init)?;
                let shape = x.shape();
                let d = ctx.tensor("lbfgs.d", shape, DType::F32)?;
                let g_old = ctx.tensor("lbfgs.g_old", shape, DType::F32)?;
                let s_new = ctx.tensor("lbfgs.s_new", shape, DType::F32)?;
                let y_new = ctx.tensor("lbfgs.y_new", shape, DType::F32)?;
                let hist_s = ctx.tensor("lbfgs.S", &[m, n], DType::F32)?;
                let hist_y = ctx.tensor("lbfgs.Y", &[m, n], DType::F32)?;
                let partials = ctx.tensor("lbfgs.partials", &[PARTS], DType::F32)?;
                let p = Params {
                    m: m as u32,
                    lr: learning_rate,
                    ..base
                };
                let dot = |plan: &mut Plan,
                           label: &str,
                           a: (&Tensor, bool),
                           b: (&Tensor, bool),
                           mode: u32,
                           finish: u32,
                           pos: usize|
                 -> Result<()> {
                    let q = Params {
                        mode,
                        a_hist: a.1 as u32,
                        b_hist: b.1 as u32,
                        pos: pos as u32,
                        ..p
                    };
                    plan.push(ctx.dispatch(
                        label,
                        &DOT_PARTIAL,
                        &[],
                        &q,
                        &[&state, a.0, b.0, &partials],
                        [PARTS as u32, 1, 1],
                    )?);
                    let f = Params {
                        mode: finish,
                        dst: YS as u32,
                        pos: pos as u32,
                        ..p
                    };
                    plan.push(ctx.dispatch(
                        label,
                        &DOT_FINISH,
                        &[],
                        &f,
                        &[&state, &partials],
                        [1, 1, 1],
                    )?);
                    Ok(())
                };
                let step = |plan: &mut Plan| -> Result<()> {
                    let q = Params {
                        dst: STEP as u32,
                        ..p
                    };
                    plan.push(ctx.dispatch(
                        "lbfgs.step",
                        &AXPY,
                        &[],
                        &q,
                        &[&state, &d, x],
                        groups,
                    )?);
                    Ok(())
                };

                // First iteration: d = -g, t = min(1, 1/|g|_1) * lr.
                // d = -g and g_old = g, in both plans.
                let direction = |plan: &mut Plan| -> Result<()> {
                    plan.push(ctx.dispatch(
                        "lbfgs.direction",
                        &DIRECTION,
                        &[],
                        &p,
                        &[g, &d, &g_old],
                        groups,
                    )?);
                    Ok(())
                };
                let mut first = Plan::new("lbfgs.first");
                direction(&mut first)?;
                dot(
                    &mut first,
                    "lbfgs.|g|",
                    (g, false),
                    (g, false),
                    ABS_SUM,
                    FIRST_STEP,
                    0,
                )?;
                step(&mut first)?;

                // Later iterations.
                let mut later = Plan::new("lbfgs");
                later.push(ctx.dispatch(
                    "lbfgs.candidate",
                    &CANDIDATE,
                    &[],
                    &p,
                    &[&state, &d, g, &g_old, &s_new, &y_new],
                    groups,
                )?);
                dot(
                    &mut later,
                    "lbfgs.y.s",
                    (&y_new, false),
                    (&s_new, false),
                    PRODUCT,
                    STORE_YS,
                    0,
                )?;
                dot(
                    &mut later,
                    "lbfgs.y.y",
                    (&y_new, false),
                    (&y_new, false),
                    PRODUCT,
                    KEEP_PAIR,
                    0,
                )?;
                later.push(ctx.dispatch(
                    "lbfgs.commit",
                    &COMMIT,
                    &[],
                    &p,
                    &[&state, &s_new, &y_new, &hist_s, &hist_y],
                    groups,
                )?);
                direction(&mut later)?;
                let axpy = |plan: &mut Plan, v: &Tensor, pos: usize| -> Result<()> {
                    let q = Params {
                        a_hist: 1,
                        dst: COEF as u32,
                        pos: pos as u32,
                        ..p
                    };
                    plan.push(ctx.dispatch(
                        "lbfgs.axpy",
                        &AXPY,
                        &[],
                        &q,
                        &[&state, v, &d],
                        groups,
                    )?);
                    Ok(())
                };
                // Two-loop recursion on q = d: newest to oldest, then back.
                for pos in 0..m {
                    dot(
                        &mut later,
                        "lbfgs.alpha",
                        (&hist_s, true),
                        (&d, false),
                        PRODUCT,
                        ALPHA,
                        pos,
                    )?;
                    axpy(&mut later, &hist_y, pos)?;
                }
                later.push(ctx.dispatch("lbfgs.scale", &SCALE, &[], &p, &[&state, &d], groups)?);
                for pos in (0..m).rev() {
                    dot(
                        &mut later,
                        "lbfgs.beta",
                        (&hist_y, true),
                        (&d, false),
                        PRODUCT,
                        BETA,
                        pos,
                    )?;
                    axpy(&mut later, &hist_s, pos)?;
                }
                step(&mut later)?;
                Ok(Self {
                    first: Some(first),
                    later,
                    started: false,
                    _state: state,
                })
            }
        }
    }

    /// The plan that performs the next update (to be submitted after the gradient of the current
    /// image has been computed): the first step's own plan, if the optimiser has one, once.
    pub fn next_step(&mut self) -> &Plan {
        let first = !std::mem::replace(&mut self.started, true);
        match (&self.first, first) {
            (Some(f), true) => f,
            _ => &self.later,
        }
    }
}
