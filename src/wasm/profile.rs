//! `Engine.profile`: a net's plan timed dispatch by dispatch on the page's GPU, the same
//! figures as `style-transfer profile` (see [`crate::gpu::Plan::profile`]).

use wasm_bindgen::prelude::*;

use super::{js_error, loaded, object, Engine, Loaded};
use crate::bench;
use crate::clock::now_ms;
use crate::Error;

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
        let p = match what.as_str() {
            "multistyle" => {
                let net = loaded(&self.multistyle, "the 26-style net")?;
                let record = |plan: &mut _, x: &_| net.record(&self.ctx, plan, x);
                bench::profile_net(&self.ctx, &record, size, runs, timing, now).await
            }
            "arbitrary" => {
                let net = loaded(&self.arbitrary, "the arbitrary-style net")?;
                let record = |plan: &mut _, x: &_| net.record(&self.ctx, plan, x);
                bench::profile_net(&self.ctx, &record, size, runs, timing, now).await
            }
            "gatys" => {
                let gatys = loaded(&self.gatys, "VGG19")?;
                bench::profile_gatys(&self.ctx, &gatys, size, runs, timing, now).await
            }
            "model" => {
                let id = model.unwrap_or(u32::MAX) as usize;
                let Loaded::Johnson(net) = self.model(OP, id)? else {
                    return Err(js_error(Error::InvalidArgument {
                        op: OP,
                        message: "a learned style is not a net to profile; profile \"multistyle\""
                            .into(),
                    }));
                };
                let record = |plan: &mut _, x: &_| net.record(&self.ctx, plan, x);
                bench::profile_net(&self.ctx, &record, size, runs, timing, now).await
            }
            other => Err(Error::InvalidArgument {
                op: OP,
                message: format!("no net '{other}' to profile"),
            }),
        };
        // The profile's buffers go back to the device.
        self.ctx.trim_pool();
        Ok(rows(&p.map_err(js_error)?))
    }
}
