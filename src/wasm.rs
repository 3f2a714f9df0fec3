//! The `#[wasm_bindgen]` facade: the classes and functions JavaScript sees. Only glue lives
//! here; the engine is the rest of the crate. Errors reach JS as real `Error`s whose `code`
//! property says what kind of failure it was.

use wasm_bindgen::prelude::*;

use crate::gpu::{GpuContext, PowerPreference};
use crate::image::Rgba8Image;
use crate::models::{ModelFile, MultiStyle26, StyleWeights, StylizeOptions};
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
        Error::Diverged { .. } => "diverged",
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

use crate::clock::now_ms;

/// The engine on one GPU device. The npm package's `StyleTransfer` class (npm/index.js) wraps
/// it: image conversions, model loading and option defaults live there.
#[wasm_bindgen]
pub struct Engine {
    ctx: GpuContext,
    multistyle: Option<MultiStyle26>,
}

#[wasm_bindgen]
impl Engine {
    /// Opens the GPU. Rejects with `code: "webgpu-unavailable"` when the browser has no WebGPU.
    /// `power_preference`: "high-performance", "low-power" or undefined.
    pub async fn create(power_preference: Option<String>) -> Result<Engine, JsValue> {
        let pref = match power_preference.as_deref() {
            None | Some("") => PowerPreference::Default,
            Some("high-performance") => PowerPreference::HighPerformance,
            Some("low-power") => PowerPreference::LowPower,
            Some(other) => {
                return Err(js_error(Error::InvalidArgument {
                    op: "create",
                    message: format!(
                        "powerPreference '{other}' is not \"high-performance\" or \"low-power\""
                    ),
                }))
            }
        };
        let ctx = GpuContext::with_preference(pref).await.map_err(js_error)?;
        Ok(Engine {
            ctx,
            multistyle: None,
        })
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

    /// Loads the 26-style net from a converted model file's bytes.
    #[wasm_bindgen(js_name = loadMultiStyle)]
    pub fn load_multistyle(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        self.multistyle = Some(MultiStyle26::load(&self.ctx, &file).map_err(js_error)?);
        Ok(())
    }

    /// Whether the 26-style net is loaded.
    #[wasm_bindgen(getter, js_name = hasMultiStyle)]
    pub fn has_multistyle(&self) -> bool {
        self.multistyle.is_some()
    }

    /// Stylizes RGBA pixels with the 26-style net; `indices` and `weights` give the style blend.
    /// Resolves to `{ width, height, data: Uint8ClampedArray }`.
    #[allow(clippy::too_many_arguments)]
    pub async fn stylize(
        &self,
        data: Vec<u8>,
        width: u32,
        height: u32,
        indices: Vec<u32>,
        weights: Vec<f32>,
        strength: f32,
        preserve_colors: bool,
        max_size: u32,
    ) -> Result<JsValue, JsValue> {
        let net = self.multistyle.as_ref().ok_or_else(|| {
            js_error(Error::Model(
                "the 26-style net is not loaded; call loadMultiStyle first".into(),
            ))
        })?;
        if indices.len() != weights.len() {
            return Err(js_error(Error::InvalidArgument {
                op: "stylize",
                message: "style indices and weights differ in length".into(),
            }));
        }
        let parts: Vec<(usize, f32)> = indices.iter().map(|&i| i as usize).zip(weights).collect();
        let style = StyleWeights::blend(&parts).map_err(js_error)?;
        let photo = Rgba8Image::new(width as usize, height as usize, data).map_err(js_error)?;
        let opts = StylizeOptions {
            style,
            strength,
            preserve_colors,
            max_size: max_size as usize,
        };
        let out = net
            .stylize(&self.ctx, &photo, &opts)
            .await
            .map_err(js_error)?;
        let obj = js_sys::Object::new();
        set(&obj, "width", (out.width as u32).into());
        set(&obj, "height", (out.height as u32).into());
        set(
            &obj,
            "data",
            js_sys::Uint8ClampedArray::from(out.data.as_slice()).into(),
        );
        Ok(obj.into())
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
