//! `Engine.profile`: a net's plan timed dispatch by dispatch on the page's GPU, the same
//! figures as `style-transfer profile` (see [`crate::gpu::Plan::profile`]).

use wasm_bindgen::prelude::*;

use std::rc::Rc;

use super::{js_error, loaded, object, Engine, Loaded};
use crate::bench;
use crate::clock::now_ms;
use crate::gatys::Gatys;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::{ArbitraryNet, JohnsonNet, MultiStyle26};
use crate::{Error, Result};

const OP: &str = "profile";

fn rows(p: &crate::gpu::Profile) -> JsValue {
    let out = js_sys::Array::new();
    for d in &p.dispatches {
        let shape = js_sys::Array::new();
        for &n in &d.output {
            shape.push(&(n as u32).into());
        }
        out.push(&object([
            ("label", d.label.as_str().into()),
            ("kernel", d.kernel.into()),
            ("output", shape.into()),
            ("flops", (d.flops as f64).into()),
            ("ms", d.ms.into()),
            ("gflops", d.gflops().map_or(JsValue::NULL, JsValue::from)),
        ]));
    }
    let timing = match p.timing {
        crate::gpu::Timing::Gpu => "gpu",
        crate::gpu::Timing::Host => "host",
    };
    object([
        ("dispatches", out.into()),
        ("planMs", p.plan_ms.into()),
        ("timing", timing.into()),
    ])
    .into()
}

/// What `profile` and `tune` time: a transform net, or a Gatys gradient evaluation.
pub(super) enum Subject {
    MultiStyle(Rc<MultiStyle26>),
    Arbitrary(Rc<ArbitraryNet>),
    Johnson(Rc<JohnsonNet>),
    Gatys(Rc<Gatys>),
}

impl Subject {
    /// Records the net on `x` (not for `Gatys`, whose evaluation needs its targets).
    pub(super) fn record(&self, ctx: &GpuContext, plan: &mut Plan, x: &Tensor) -> Result<Tensor> {
        match self {
            Subject::MultiStyle(n) => n.record(ctx, plan, x),
            Subject::Arbitrary(n) => n.record(ctx, plan, x),
            Subject::Johnson(n) => n.record(ctx, plan, x),
            Subject::Gatys(_) => Err(Error::InvalidArgument {
                op: OP,
                message: "a Gatys evaluation is recorded with its targets".into(),
            }),
        }
    }
}

impl Engine {
    /// The loaded net `what` names ("multistyle", "arbitrary", "gatys", or "model" with
    /// `model` the id of a Johnson net from `loadModel`).
    pub(super) fn subject(
        &self,
        op: &'static str,
        what: &str,
        model: Option<u32>,
    ) -> Result<Subject, JsValue> {
        Ok(match what {
            "multistyle" => Subject::MultiStyle(loaded(&self.multistyle, "the 26-style net")?),
            "arbitrary" => Subject::Arbitrary(loaded(&self.arbitrary, "the arbitrary-style net")?),
            "gatys" => Subject::Gatys(loaded(&self.gatys, "VGG19")?),
            "model" => {
                let id = model.unwrap_or(u32::MAX) as usize;
                let Loaded::Johnson(net) = self.model(op, id)? else {
                    return Err(js_error(Error::InvalidArgument {
                        op,
                        message: "a learned style is not a net to time; use \"multistyle\"".into(),
                    }));
                };
                Subject::Johnson(net)
            }
            other => {
                return Err(js_error(Error::InvalidArgument {
                    op,
                    message: format!("no net '{other}' to time"),
                }))
            }
        })
    }
}

#[wasm_bindgen]
impl Engine {
    /// Times the plan of `what` ("multistyle", "arbitrary", "gatys", or "model" with `model`
    /// the id of a Johnson net from `loadModel`) on a square input of `size` px, each dispatch
    /// on its own (fastest of `runs`) and the whole plan as one submission (median). Resolves
    /// to `{ dispatches: [{ label, kernel, output, flops, ms, gflops }], planMs }`. The nets'
    /// styles are left as they are (a profile runs its own buffers through their weights).
    pub async fn profile(
        &self,
        what: String,
        model: Option<u32>,
        size: u32,
        runs: u32,
    ) -> Result<JsValue, JsValue> {
        let (size, runs) = (size as usize, runs as usize);
        let now = &now_ms;
        let timing = crate::gpu::Timing::best(&self.ctx);
        let p = match self.subject(OP, &what, model)? {
            Subject::Gatys(gatys) => {
                bench::profile_gatys(&self.ctx, &gatys, size, runs, timing, now).await
            }
            net => {
                let record = |plan: &mut _, x: &_| net.record(&self.ctx, plan, x);
                bench::profile_net(&self.ctx, &record, size, runs, timing, now).await
            }
        };
        // The profile's buffers go back to the device.
        self.ctx.trim_pool();
        Ok(rows(&p.map_err(js_error)?))
    }
}
