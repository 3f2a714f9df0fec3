//! The `#[wasm_bindgen]` facade: the classes and functions JavaScript sees. Only glue lives
//! here; the engine is the rest of the crate. Errors reach JS as real `Error`s whose `code`
//! property says what kind of failure it was.

use wasm_bindgen::prelude::*;

use crate::gpu::GpuContext;
use crate::Error;

/// Installs the panic hook once (a safety net: the engine returns errors, it does not panic).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The `code` a JS caller can switch on.
fn code(e: &Error) -> &'static str {
    match e {
        Error::NoAdapter { .. } | Error::RequestDevice { .. } => "webgpu-unavailable",
        Error::TooLarge { .. } => "too-large",
        Error::Shape { .. } | Error::InvalidArgument { .. } => "invalid-argument",
        Error::Gpu { .. } | Error::Readback { .. } => "gpu-error",
        Error::Image(_) => "bad-image",
        Error::Model(_) | Error::Weights { .. } => "bad-model",
    }
}

/// Converts an engine error into a JS `Error` with a `code` property.
pub(crate) fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = js_sys::Reflect::set(&err, &"code".into(), &code(&e).into());
    err.into()
}

fn set(obj: &js_sys::Object, key: &str, value: JsValue) {
    let _ = js_sys::Reflect::set(obj, &key.into(), &value);
}

/// Milliseconds from the page's (or worker's) performance clock.
fn now_ms() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// The engine on one GPU device.
#[wasm_bindgen]
pub struct StyleTransfer {
    ctx: GpuContext,
}

#[wasm_bindgen]
impl StyleTransfer {
    /// Opens the GPU. Rejects with `code: "webgpu-unavailable"` when the browser has no WebGPU.
    pub async fn create() -> Result<StyleTransfer, JsValue> {
        let ctx = GpuContext::new().await.map_err(js_error)?;
        Ok(StyleTransfer { ctx })
    }

    /// `{ name, backend, driver, deviceType, shaderF16, limits: {...} }`.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> JsValue {
        let a = self.ctx.adapter();
        let obj = js_sys::Object::new();
        set(&obj, "name", a.name.as_str().into());
        set(&obj, "backend", a.backend.as_str().into());
        set(&obj, "driver", a.driver.as_str().into());
        set(&obj, "deviceType", a.device_type.as_str().into());
        set(&obj, "shaderF16", a.shader_f16.into());
        let l = js_sys::Object::new();
        set(
            &l,
            "maxStorageBufferBindingSize",
            (a.limits.max_storage_buffer_binding_size as f64).into(),
        );
        set(
            &l,
            "maxBufferSize",
            (a.limits.max_buffer_size as f64).into(),
        );
        set(
            &l,
            "maxComputeWorkgroupStorageSize",
            a.limits.max_compute_workgroup_storage_size.into(),
        );
        set(
            &l,
            "maxComputeInvocationsPerWorkgroup",
            a.limits.max_compute_invocations_per_workgroup.into(),
        );
        set(
            &l,
            "maxComputeWorkgroupsPerDimension",
            a.limits.max_compute_workgroups_per_dimension.into(),
        );
        set(&obj, "limits", l.into());
        obj.into()
    }

    /// Runs the convolution benchmark (`runs` timed runs per kernel) and returns rows
    /// `{ case, kernel, ms, gflops }`.
    #[wasm_bindgen(js_name = benchConv)]
    pub async fn bench_conv(&self, runs: u32) -> Result<js_sys::Array, JsValue> {
        let rows = crate::bench::conv_table(&self.ctx, runs.max(1) as usize, "", &now_ms)
            .await
            .map_err(js_error)?;
        let out = js_sys::Array::new();
        for r in rows {
            let o = js_sys::Object::new();
            set(&o, "case", r.case.into());
            set(&o, "kernel", r.kernel.as_str().into());
            set(&o, "ms", r.ms.into());
            set(&o, "gflops", r.gflops.into());
            out.push(&o);
        }
        Ok(out)
    }

    /// Releases the GPU device now rather than when the object is collected.
    pub fn destroy(self) {
        self.ctx.device().destroy();
    }
}
