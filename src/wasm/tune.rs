//! Kernel tuning from JavaScript: the mode, the device's table as text (which the package keeps
//! in IndexedDB under `tuningKey`), and `tune`, which times what a net lacks
//! ([`crate::tune::tune_net`]).

use wasm_bindgen::prelude::*;

use super::profile::Subject;
use super::{js_error, object, Engine};
use crate::bench::GatysGradient;
use crate::clock::now_ms;
use crate::gpu::{Plan, Tensor, TuneMode, TuningTable};
use crate::tune::{self, TuneReport};
use crate::Result;

const OP: &str = "tune";

fn report(r: &TuneReport) -> JsValue {
    let tuned = js_sys::Array::new();
    for t in &r.tuned {
        tuned.push(&entry(&t.key, &t.tuned).into());
    }
    object([
        ("tuned", tuned.into()),
        ("cached", (r.cached as u32).into()),
        ("left", (r.left as u32).into()),
        ("cutShort", (r.cut_short() as u32).into()),
        ("ms", r.ms.into()),
        ("summary", r.summary().into()),
    ])
    .into()
}

fn entry(key: &str, t: &crate::gpu::Tuned) -> js_sys::Object {
    object([
        ("key", key.into()),
        ("choice", t.choice.as_str().into()),
        ("ms", t.ms.into()),
        ("fixed", t.fixed.as_str().into()),
        ("fixedMs", t.fixed_ms.into()),
        ("cutShort", t.resume_at.is_some().into()),
    ])
}

#[wasm_bindgen]
impl Engine {
    /// What names this adapter and driver in the tuning cache.
    #[wasm_bindgen(getter, js_name = tuningKey)]
    pub fn tuning_key(&self) -> String {
        self.ctx.tuning_key()
    }

    /// "off", "cached" or "full" (plans are recorded again with the new choices); in "full",
    /// `stylize` first times what its run lacks, for at most `budget_ms`.
    #[wasm_bindgen(js_name = setTuneMode)]
    pub fn set_tune_mode(&self, mode: &str, budget_ms: f64) -> Result<(), JsValue> {
        tune::check_budget(budget_ms).map_err(js_error)?;
        self.ctx
            .set_tune_mode(TuneMode::parse(mode).map_err(js_error)?);
        self.tune_budget_ms.set(budget_ms);
        Ok(())
    }

    /// The tuned choices as text (what `loadTuning` reads).
    #[wasm_bindgen(js_name = tuningText)]
    pub fn tuning_text(&self) -> String {
        self.ctx.tuning_table().to_string()
    }

    /// Adds the choices of a table's text (from the cache); resolves to how many it held.
    #[wasm_bindgen(js_name = loadTuning)]
    pub fn load_tuning(&self, text: &str) -> Result<u32, JsValue> {
        let table = TuningTable::parse(text, "the tuning cache").map_err(js_error)?;
        let n = table.len() as u32;
        self.ctx.load_tuning(table);
        Ok(n)
    }

    /// `{ mode, key, entries: [{ key, choice, ms, fixed, fixedMs }] }`.
    #[wasm_bindgen(getter)]
    pub fn tuning(&self) -> JsValue {
        let entries = js_sys::Array::new();
        for (key, t) in self.ctx.tuning_table().entries() {
            entries.push(&entry(key, t).into());
        }
        object([
            ("mode", self.ctx.tune_mode().as_str().into()),
            ("key", self.ctx.tuning_key().into()),
            ("entries", entries.into()),
        ])
        .into()
    }

    /// Times the kernels of `what` (as for `profile`; the arbitrary-style net's predictor
    /// first) on a square `size` px input that the table lacks, until `budget_ms` is spent.
    /// Resolves to `{ tuned: [{ key, choice, ms, fixed, fixedMs }], cached, left, cutShort, ms,
    /// summary }`.
    pub async fn tune(
        &self,
        what: String,
        model: Option<u32>,
        size: u32,
        budget_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let size = size as usize;
        let subject = self.subject(OP, &what, model)?;
        let r = match &subject {
            Subject::Gatys(g) => {
                let step = GatysGradient::new(&self.ctx, g, size, size)
                    .await
                    .map_err(js_error)?;
                let record = |plan: &mut Plan| step.record(&self.ctx, plan);
                tune::tune_plan(&self.ctx, &record, budget_ms, &now_ms).await
            }
            Subject::Arbitrary(n) => n.tune(&self.ctx, (size, size), budget_ms, &now_ms).await,
            net => {
                let record = |plan: &mut Plan, x: &Tensor| net.record(&self.ctx, plan, x);
                tune::tune_net(&self.ctx, &record, (size, size), budget_ms, &now_ms).await
            }
        };
        self.ctx.trim_pool();
        Ok(report(&r.map_err(js_error)?))
    }
}
