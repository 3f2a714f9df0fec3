//! The optimisers of Gatys runs and training, with all their state on the GPU: each records its
//! update once into a [`Plan`] that is submitted after every gradient evaluation, so an iteration
//! is one submission and nothing is read back.
//!
//! - Adam (Kingma & Ba 2015) with bias correction, as `torch.optim.Adam`.
//! - L-BFGS as torch7's `optim.lbfgs` runs it for neural-style: no line search, the first step
//!   `min(1, 1/|g|_1) * lr` along `-g`, later steps `lr` along the two-loop direction; a pair
//!   (s, y) enters the history only when `y.s > 1e-10`; `H0 = y.s / y.y` of the newest pair.
//!
//! The history is a ring of `m` slots whose newest position lives on the GPU (see
//! `src/shaders/optim.wgsl`), so the recorded plan does not change from one iteration to the
//! next: positions not yet filled contribute coefficients of zero.

use crate::gpu::params::params;
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

params! {
    #[derive(Default)]
    pub(crate) struct Params {
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
}

/// An optimiser bound to one image tensor and its gradient: the recorded update plans and the
/// state they keep on the GPU.
pub struct OptimizerState {
    /// L-BFGS's first step differs from the later ones; Adam has none of its own.
    first: Option<Plan>,
    later: Plan,
    started: bool,
    /// The tensors that hold the optimiser's state (Adam: the state array, m and v), which a
    /// checkpoint saves and a resumed run writes back.
    state: Vec<Tensor>,
}

impl OptimizerState {
    /// Records the update of `x` from its gradient `g` (both the same shape, updated in place).
    pub fn new(ctx: &GpuContext, optimizer: &Optimizer, x: &Tensor, g: &Tensor) -> Result<Self> {
        optimizer.validate()?;
        crate::ops::same_shape("optimizer", x, g)?;
        let base = Params {
            n: x.numel() as u32,
            m: 1,
            parts: PARTS as u32,
            ..Params::default()
        };
        match *optimizer {
            Optimizer::Adam {
                learning_rate,
                beta1,
                beta2,
                eps,
            } => {
                let p = Params {
                    lr: learning_rate,
                    beta1,
                    beta2,
                    eps,
                    ..base
                };
                Self::adam(ctx, p, x, g)
            }
            Optimizer::Lbfgs {
                learning_rate,
                history,
            } => {
                let p = Params {
                    m: history as u32,
                    lr: learning_rate,
                    ..base
                };
                Lbfgs::new(ctx, p, x, g)?.record()
            }
        }
    }

    /// Adam: one update plan, the same at every step (the step count lives on the GPU).
    fn adam(ctx: &GpuContext, p: Params, x: &Tensor, g: &Tensor) -> Result<Self> {
        let state = ctx.upload("adam.state", &[STATE_FIXED], &[0.0; STATE_FIXED])?;
        let zeros = vec![0.0f32; x.numel()];
        let m = ctx.upload("adam.m", x.shape(), &zeros)?;
        let v = ctx.upload("adam.v", x.shape(), &zeros)?;
        let groups = linear_workgroups(x.numel(), 256);
        let mut plan = Plan::new("adam");
        plan.push(ctx.dispatch("adam", &ADAM, &[], &p, &[&state, g, &m, &v, x], groups)?);
        plan.push(ctx.dispatch("adam.tick", &ADAM_TICK, &[], &p, &[&state], [1, 1, 1])?);
        Ok(Self {
            first: None,
            later: plan,
            started: false,
            state: vec![state, m, v],
        })
    }

    /// The tensors of the optimiser's state, to save or to write back on resuming (Adam: the
    /// state array with its step count, then the first and second moments; L-BFGS: the state
    /// array, its vectors and the history).
    pub fn state(&self) -> &[Tensor] {
        &self.state
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

/// Records L-BFGS's plans: its GPU state and vectors, and one method per kind of dispatch.
struct Lbfgs<'a> {
    ctx: &'a GpuContext,
    p: Params,
    groups: [u32; 3],
    x: &'a Tensor,
    g: &'a Tensor,
    state: Tensor,
    d: Tensor,
    g_old: Tensor,
    s_new: Tensor,
    y_new: Tensor,
    hist_s: Tensor,
    hist_y: Tensor,
    partials: Tensor,
}

impl<'a> Lbfgs<'a> {
    /// Allocates the state for a history of `p.m` pairs (checked against the device's limit).
    fn new(ctx: &'a GpuContext, p: Params, x: &'a Tensor, g: &'a Tensor) -> Result<Self> {
        let (m, n) = (p.m as usize, x.numel());
        ctx.check_storage_size(
            "L-BFGS",
            &format!("a history of {m} pairs"),
            (m * n * 4) as u64,
        )?;
        let mut init = vec![0.0f32; STATE_FIXED + 2 * m];
        init[0] = (m - 1) as f32; // newest: the next pair goes to slot 0
        init[HDIAG] = 1.0;
        let vector = |label: &str| ctx.tensor(label, x.shape(), DType::F32);
        Ok(Self {
            ctx,
            p,
            groups: linear_workgroups(n, 256),
            x,
            g,
            state: ctx.upload("lbfgs.state", &[init.len()], &init)?,
            d: vector("lbfgs.d")?,
            g_old: vector("lbfgs.g_old")?,
            s_new: vector("lbfgs.s_new")?,
            y_new: vector("lbfgs.y_new")?,
            hist_s: ctx.tensor("lbfgs.S", &[m, n], DType::F32)?,
            hist_y: ctx.tensor("lbfgs.Y", &[m, n], DType::F32)?,
            partials: ctx.tensor("lbfgs.partials", &[PARTS], DType::F32)?,
        })
    }

    /// The first step's plan (d = -g, t = min(1, 1/|g|_1) * lr) and the later steps' plan
    /// (a new pair, the two-loop recursion, the step).
    fn record(self) -> Result<OptimizerState> {
        let (g, m) = (self.g, self.p.m as usize);
        let mut first = Plan::new("lbfgs.first");
        self.direction(&mut first)?;
        self.dot(
            &mut first,
            "lbfgs.|g|",
            (g, false),
            (g, false),
            (ABS_SUM, FIRST_STEP),
            0,
        )?;
        self.step(&mut first)?;

        let mut later = Plan::new("lbfgs");
        self.new_pair(&mut later)?;
        self.direction(&mut later)?;
        // Two-loop recursion on q = d: newest to oldest, then back.
        let (hs, hy, d) = (&self.hist_s, &self.hist_y, &self.d);
        for pos in 0..m {
            self.dot(
                &mut later,
                "lbfgs.alpha",
                (hs, true),
                (d, false),
                (PRODUCT, ALPHA),
                pos,
            )?;
            self.axpy(&mut later, hy, pos)?;
        }
        let scale = self.ctx.dispatch(
            "lbfgs.scale",
            &SCALE,
            &[],
            &self.p,
            &[&self.state, d],
            self.groups,
        )?;
        later.push(scale);
        for pos in (0..m).rev() {
            self.dot(
                &mut later,
                "lbfgs.beta",
                (hy, true),
                (d, false),
                (PRODUCT, BETA),
                pos,
            )?;
            self.axpy(&mut later, hs, pos)?;
        }
        self.step(&mut later)?;
        Ok(OptimizerState {
            first: Some(first),
            later,
            started: false,
            state: vec![
                self.state,
                self.d,
                self.g_old,
                self.s_new,
                self.y_new,
                self.hist_s,
                self.hist_y,
            ],
        })
    }

    /// The candidate pair (s, y) from the last step, its y.s and y.y, and its entry into the
    /// history when y.s is large enough.
    fn new_pair(&self, plan: &mut Plan) -> Result<()> {
        let (ctx, p, groups) = (self.ctx, &self.p, self.groups);
        let (s, y) = (&self.s_new, &self.y_new);
        let candidate = [&self.state, &self.d, self.g, &self.g_old, s, y];
        plan.push(ctx.dispatch("lbfgs.candidate", &CANDIDATE, &[], p, &candidate, groups)?);
        self.dot(
            plan,
            "lbfgs.y.s",
            (y, false),
            (s, false),
            (PRODUCT, STORE_YS),
            0,
        )?;
        self.dot(
            plan,
            "lbfgs.y.y",
            (y, false),
            (y, false),
            (PRODUCT, KEEP_PAIR),
            0,
        )?;
        let commit = [&self.state, s, y, &self.hist_s, &self.hist_y];
        plan.push(ctx.dispatch("lbfgs.commit", &COMMIT, &[], p, &commit, groups)?);
        Ok(())
    }

    /// A dot product (or |a|_1) in two stages, its sum used as `finish` says; `a` and `b`
    /// are (tensor, is a history row at `pos`).
    fn dot(
        &self,
        plan: &mut Plan,
        label: &str,
        a: (&Tensor, bool),
        b: (&Tensor, bool),
        (mode, finish): (u32, u32),
        pos: usize,
    ) -> Result<()> {
        let q = Params {
            mode,
            a_hist: a.1 as u32,
            b_hist: b.1 as u32,
            pos: pos as u32,
            ..self.p
        };
        let bind = [&self.state, a.0, b.0, &self.partials];
        let groups = [PARTS as u32, 1, 1];
        plan.push(
            self.ctx
                .dispatch(label, &DOT_PARTIAL, &[], &q, &bind, groups)?,
        );
        let f = Params {
            mode: finish,
            dst: YS as u32,
            pos: pos as u32,
            ..self.p
        };
        let bind = [&self.state, &self.partials];
        plan.push(
            self.ctx
                .dispatch(label, &DOT_FINISH, &[], &f, &bind, [1, 1, 1])?,
        );
        Ok(())
    }

    /// d = -g and g_old = g.
    fn direction(&self, plan: &mut Plan) -> Result<()> {
        let bind = [self.g, &self.d, &self.g_old];
        let label = "lbfgs.direction";
        plan.push(
            self.ctx
                .dispatch(label, &DIRECTION, &[], &self.p, &bind, self.groups)?,
        );
        Ok(())
    }

    /// d += coef[pos] * v[pos] (a history row).
    fn axpy(&self, plan: &mut Plan, v: &Tensor, pos: usize) -> Result<()> {
        let q = Params {
            a_hist: 1,
            dst: COEF as u32,
            pos: pos as u32,
            ..self.p
        };
        let bind = [&self.state, v, &self.d];
        plan.push(
            self.ctx
                .dispatch("lbfgs.axpy", &AXPY, &[], &q, &bind, self.groups)?,
        );
        Ok(())
    }

    /// x += t * d, with the step length t from the state.
    fn step(&self, plan: &mut Plan) -> Result<()> {
        let q = Params {
            dst: STEP as u32,
            ..self.p
        };
        let bind = [&self.state, &self.d, self.x];
        plan.push(
            self.ctx
                .dispatch("lbfgs.step", &AXPY, &[], &q, &bind, self.groups)?,
        );
        Ok(())
    }
}
