//! The `#[wasm_bindgen]` facade: the classes and functions JavaScript sees. Only glue lives
//! here; the engine is the rest of the crate. Errors reach JS as real `Error`s whose `code`
//! property says what kind of failure it was.

use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

use crate::gatys::{Gatys, GatysOptions, Init, Optimizer};
use crate::gpu::{GpuContext, PowerPreference};
use crate::image::Rgba8Image;
use crate::models::{
    ArbitraryNet, ArbitraryOptions, JohnsonNet, JohnsonOptions, ModelFile, MultiStyle26,
    StyleVector, StyleWeights, StylizeOptions,
};
use crate::ops::PoolMode;
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
        Error::Io { .. } => "io-error",
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

/// `{ width, height, data: Uint8ClampedArray }`.
fn image_object(img: &Rgba8Image) -> JsValue {
    let obj = js_sys::Object::new();
    set(&obj, "width", (img.width as u32).into());
    set(&obj, "height", (img.height as u32).into());
    set(
        &obj,
        "data",
        js_sys::Uint8ClampedArray::from(img.data.as_slice()).into(),
    );
    obj.into()
}

/// Reads a JS options object into [`GatysOptions`]; absent fields keep their defaults, present
/// ones of the wrong type are errors naming the field.
fn gatys_options(o: &JsValue) -> crate::Result<GatysOptions> {
    let mut opts = GatysOptions::default();
    if o.is_undefined() || o.is_null() {
        return Ok(opts);
    }
    let bad = |field: &str, what: &str| Error::InvalidArgument {
        op: "gatys",
        message: format!("option '{field}' must be {what}"),
    };
    let get = |k: &str| js_sys::Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let num = |k: &str| -> crate::Result<Option<f64>> {
        let v = get(k);
        if v.is_undefined() {
            return Ok(None);
        }
        v.as_f64().map(Some).ok_or_else(|| bad(k, "a number"))
    };
    let nums = |k: &str| -> crate::Result<Option<Vec<f64>>> {
        let v = get(k);
        if v.is_undefined() {
            return Ok(None);
        }
        if !js_sys::Array::is_array(&v) {
            return Err(bad(k, "an array of numbers"));
        }
        js_sys::Array::from(&v)
            .iter()
            .map(|x| x.as_f64().ok_or_else(|| bad(k, "an array of numbers")))
            .collect::<crate::Result<Vec<_>>>()
            .map(Some)
    };
    let count = |k: &str, v: f64| -> crate::Result<usize> {
        if v >= 0.0 && v.fract() == 0.0 && v < 1e9 {
            Ok(v as usize)
        } else {
            Err(bad(k, "a whole number >= 0"))
        }
    };
    if let Some(v) = num("size")? {
        opts.size = count("size", v)?;
    }
    if let Some(v) = num("iterations")? {
        opts.iterations = count("iterations", v)?;
    }
    if let Some(v) = nums("scales")? {
        opts.scales = v
            .into_iter()
            .map(|x| count("scales", x))
            .collect::<crate::Result<_>>()?;
    }
    opts.optimizer = match get("optimizer").as_string().as_deref() {
        None | Some("lbfgs") => Optimizer::Lbfgs {
            learning_rate: 1.0,
            history: match num("history")? {
                Some(h) => count("history", h)?,
                None => 20,
            },
        },
        Some("adam") => Optimizer::adam(),
        Some(other) => {
            return Err(bad(
                "optimizer",
                &format!("\"lbfgs\" or \"adam\", not \"{other}\""),
            ))
        }
    }
    .with_learning_rate(num("learningRate")?.map(|v| v as f32));
    if let Some(v) = num("contentWeight")? {
        opts.weights.content = v as f32;
    }
    if let Some(v) = num("styleWeight")? {
        opts.weights.style = v as f32;
    }
    if let Some(v) = num("tvWeight")? {
        opts.weights.tv = v as f32;
    }
    if let Some(v) = num("styleScale")? {
        opts.style_scale = v as f32;
    }
    if let Some(v) = nums("styleBlendWeights")? {
        opts.style_blend = v.into_iter().map(|x| x as f32).collect();
    }
    let seed = match num("seed")? {
        Some(v) => count("seed", v)? as u64,
        None => 0,
    };
    opts.init = match get("init").as_string().as_deref() {
        None | Some("noise") => Init::Noise { seed },
        Some("content") => Init::Content,
        Some(other) => {
            return Err(bad(
                "init",
                &format!("\"noise\" or \"content\", not \"{other}\""),
            ))
        }
    };
    opts.preserve_colors = get("preserveColors").is_truthy();
    if let Some(v) = num("previewEvery")? {
        opts.preview_every = count("previewEvery", v)?;
    }
    if let Some(v) = num("reportEvery")? {
        opts.report_every = count("reportEvery", v)?;
    }
    Ok(opts)
}

use crate::clock::now_ms;

/// A 26-style blend from JS's parallel index and weight arrays.
fn style_blend(indices: Vec<u32>, weights: Vec<f32>) -> Result<StyleWeights, JsValue> {
    if indices.len() != weights.len() {
        return Err(js_error(Error::InvalidArgument {
            op: "stylize",
            message: "style indices and weights differ in length".into(),
        }));
    }
    let parts: Vec<(usize, f32)> = indices.iter().map(|&i| i as usize).zip(weights).collect();
    StyleWeights::blend(&parts).map_err(js_error)
}

/// The engine on one GPU device. The npm package's `StyleTransfer` class (npm/index.js) wraps
/// it: image conversions, model loading and option defaults live there.
#[wasm_bindgen]
pub struct Engine {
    ctx: GpuContext,
    // Loaded models sit behind RefCell + Rc so that loading one (a `&self` call) can happen
    // while another call's future, which holds `&self` across awaits, is still running.
    multistyle: RefCell<Option<Rc<MultiStyle26>>>,
    gatys: RefCell<Option<Rc<Gatys>>>,
    /// Johnson nets loaded with `loadModel`, by the id JS holds.
    johnson: RefCell<Vec<Rc<JohnsonNet>>>,
    arbitrary: RefCell<Option<Rc<ArbitraryNet>>>,
    /// The canvas `stylizeTo` draws into, and its presenter.
    live: RefCell<Option<(JsValue, crate::live::Presenter)>>,
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
            multistyle: RefCell::new(None),
            gatys: RefCell::new(None),
            johnson: RefCell::new(Vec::new()),
            arbitrary: RefCell::new(None),
            live: RefCell::new(None),
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
    pub fn load_multistyle(&self, bytes: &[u8]) -> Result<(), JsValue> {
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        let net = MultiStyle26::load(&self.ctx, &file).map_err(js_error)?;
        *self.multistyle.borrow_mut() = Some(Rc::new(net));
        Ok(())
    }

    /// Whether the 26-style net is loaded.
    #[wasm_bindgen(getter, js_name = hasMultiStyle)]
    pub fn has_multistyle(&self) -> bool {
        self.multistyle.borrow().is_some()
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
        tile: u32,
    ) -> Result<JsValue, JsValue> {
        let net = self.multistyle.borrow().clone().ok_or_else(|| {
            js_error(Error::Model(
                "the 26-style net is not loaded; call loadMultiStyle first".into(),
            ))
        })?;
        let style = style_blend(indices, weights)?;
        let photo = Rgba8Image::new(width as usize, height as usize, data).map_err(js_error)?;
        let opts = StylizeOptions {
            style,
            strength,
            preserve_colors,
            max_size: max_size as usize,
            tile: tile as usize,
        };
        let out = net
            .stylize(&self.ctx, &photo, &opts)
            .await
            .map_err(js_error)?;
        Ok(image_object(&out))
    }

    /// Loads the arbitrary-style pair (predictor + transformer) from a converted model file.
    #[wasm_bindgen(js_name = loadArbitrary)]
    pub fn load_arbitrary(&self, bytes: &[u8]) -> Result<(), JsValue> {
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        let net = ArbitraryNet::load(&self.ctx, &file).map_err(js_error)?;
        *self.arbitrary.borrow_mut() = Some(Rc::new(net));
        Ok(())
    }

    /// Whether the arbitrary-style pair is loaded.
    #[wasm_bindgen(getter, js_name = hasArbitrary)]
    pub fn has_arbitrary(&self) -> bool {
        self.arbitrary.borrow().is_some()
    }

    fn arbitrary_net(&self) -> Result<Rc<ArbitraryNet>, JsValue> {
        self.arbitrary.borrow().clone().ok_or_else(|| {
            js_error(Error::Model(
                "the arbitrary-style net is not loaded; call loadArbitrary first".into(),
            ))
        })
    }

    /// The 100-d style vector of RGBA pixels (a painting of any size).
    #[wasm_bindgen(js_name = styleVector)]
    pub async fn style_vector(
        &self,
        data: Vec<u8>,
        width: u32,
        height: u32,
    ) -> Result<Vec<f32>, JsValue> {
        let net = self.arbitrary_net()?;
        let painting = Rgba8Image::new(width as usize, height as usize, data).map_err(js_error)?;
        let v = net
            .style_vector(&self.ctx, &painting)
            .await
            .map_err(js_error)?;
        Ok(v.values().to_vec())
    }

    /// Stylizes RGBA pixels with a style vector (arbitrary-style net); resolves like
    /// `stylize`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = stylizeArbitrary)]
    pub async fn stylize_arbitrary(
        &self,
        data: Vec<u8>,
        width: u32,
        height: u32,
        vector: Vec<f32>,
        strength: f32,
        preserve_colors: bool,
        max_size: u32,
        tile: u32,
    ) -> Result<JsValue, JsValue> {
        let net = self.arbitrary_net()?;
        let style = StyleVector::new(vector).map_err(js_error)?;
        let photo = Rgba8Image::new(width as usize, height as usize, data).map_err(js_error)?;
        let opts = ArbitraryOptions {
            style,
            strength,
            preserve_colors,
            max_size: max_size as usize,
            tile: tile as usize,
        };
        let out = net
            .stylize(&self.ctx, &photo, &opts)
            .await
            .map_err(js_error)?;
        Ok(image_object(&out))
    }

    /// Live output: stylizes RGBA pixels (a video frame) and draws the result straight into
    /// `canvas` (an HTMLCanvasElement or OffscreenCanvas without another context), sized
    /// `canvas_width` x `canvas_height`; nothing is read back. `net` is "multistyle" (with
    /// `indices` / `weights`), "arbitrary" (with `vector`) or "johnson" (with `model`).
    /// Strength is a blend with the photo for every net here. Resolves when the GPU is done.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = stylizeTo)]
    pub async fn stylize_to(
        &self,
        canvas: JsValue,
        canvas_width: u32,
        canvas_height: u32,
        data: Vec<u8>,
        width: u32,
        height: u32,
        net: &str,
        indices: Vec<u32>,
        weights: Vec<f32>,
        vector: Vec<f32>,
        model: u32,
        strength: f32,
        preserve_colors: bool,
        max_size: u32,
    ) -> Result<(), JsValue> {
        use wasm_bindgen::JsCast;
        crate::models::multistyle::check_strength(strength).map_err(js_error)?;
        let photo = Rgba8Image::new(width as usize, height as usize, data).map_err(js_error)?;
        let max = max_size as usize;
        let (run, to_unit) = match net {
            "multistyle" => {
                let n = self.multistyle.borrow().clone().ok_or_else(|| {
                    js_error(Error::Model("the 26-style net is not loaded".into()))
                })?;
                let style = style_blend(indices, weights)?;
                (n.submit(&self.ctx, &photo, &style, max), 1.0)
            }
            "arbitrary" => {
                let n = self.arbitrary_net()?;
                let style = StyleVector::new(vector).map_err(js_error)?;
                (n.submit(&self.ctx, &photo, &style, max), 1.0)
            }
            "johnson" => {
                let n = self
                    .johnson
                    .borrow()
                    .get(model as usize)
                    .cloned()
                    .ok_or_else(|| {
                        js_error(Error::InvalidArgument {
                            op: "stylizeTo",
                            message: format!("no model {model} was loaded by this StyleTransfer"),
                        })
                    })?;
                (n.submit(&self.ctx, &photo, max), 1.0 / 255.0)
            }
            other => {
                return Err(js_error(Error::InvalidArgument {
                    op: "stylizeTo",
                    message: format!("unknown net '{other}'"),
                }))
            }
        };
        let run = run.map_err(js_error)?;
        {
            let mut live = self.live.borrow_mut();
            let same = matches!(&*live, Some((c, _)) if js_sys::Object::is(c, &canvas));
            if !same {
                let target = if let Some(c) = canvas.dyn_ref::<web_sys::HtmlCanvasElement>() {
                    wgpu::SurfaceTarget::Canvas(c.clone())
                } else if let Some(c) = canvas.dyn_ref::<web_sys::OffscreenCanvas>() {
                    wgpu::SurfaceTarget::OffscreenCanvas(c.clone())
                } else {
                    return Err(js_error(Error::InvalidArgument {
                        op: "stylizeTo",
                        message: "the target must be an HTMLCanvasElement or an OffscreenCanvas"
                            .into(),
                    }));
                };
                let presenter = crate::live::Presenter::new(&self.ctx, target).map_err(js_error)?;
                *live = Some((canvas.clone(), presenter));
            }
            let (_, presenter) = live.as_mut().expect("set above");
            let frame = crate::live::Frame {
                output: &run.output,
                pixels: &run.pixels,
                photo: (run.photo.width, run.photo.height),
                padded: run.padded,
                to_unit,
                strength,
                preserve_colors,
            };
            presenter
                .present(&self.ctx, &frame, canvas_width, canvas_height)
                .map_err(js_error)?;
        }
        self.ctx.finish().await.map_err(js_error)?;
        Ok(())
    }

    /// Loads a converted Johnson transform net (tools/convert_models.py johnson); returns the
    /// id that `stylizeWith` takes.
    #[wasm_bindgen(js_name = loadJohnson)]
    pub fn load_johnson(&self, bytes: &[u8]) -> Result<u32, JsValue> {
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        let net = JohnsonNet::load(&self.ctx, &file).map_err(js_error)?;
        let mut nets = self.johnson.borrow_mut();
        nets.push(Rc::new(net));
        Ok(nets.len() as u32 - 1)
    }

    /// Stylizes RGBA pixels with the Johnson net `id`; resolves like `stylize`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = stylizeWith)]
    pub async fn stylize_with(
        &self,
        id: u32,
        data: Vec<u8>,
        width: u32,
        height: u32,
        strength: f32,
        preserve_colors: bool,
        max_size: u32,
        tile: u32,
    ) -> Result<JsValue, JsValue> {
        let net = self
            .johnson
            .borrow()
            .get(id as usize)
            .cloned()
            .ok_or_else(|| {
                js_error(Error::InvalidArgument {
                    op: "stylize",
                    message: format!("no model {id} was loaded by this StyleTransfer"),
                })
            })?;
        let photo = Rgba8Image::new(width as usize, height as usize, data).map_err(js_error)?;
        let opts = JohnsonOptions {
            strength,
            preserve_colors,
            max_size: max_size as usize,
            tile: tile as usize,
        };
        let out = net
            .stylize(&self.ctx, &photo, &opts)
            .await
            .map_err(js_error)?;
        Ok(image_object(&out))
    }

    /// Loads VGG19 (a converted `vgg19` model file) for Gatys runs, with "max" or "avg"
    /// pooling.
    #[wasm_bindgen(js_name = loadVgg)]
    pub fn load_vgg(&self, bytes: &[u8], pooling: &str) -> Result<(), JsValue> {
        let pooling = match pooling {
            "max" => PoolMode::Max,
            "avg" => PoolMode::Avg,
            other => {
                return Err(js_error(Error::InvalidArgument {
                    op: "gatys",
                    message: format!("pooling '{other}' is not \"max\" or \"avg\""),
                }))
            }
        };
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        let gatys = Gatys::new(&self.ctx, &file, pooling).map_err(js_error)?;
        *self.gatys.borrow_mut() = Some(Rc::new(gatys));
        Ok(())
    }

    /// The pooling of the loaded VGG19 ("max" or "avg"), or undefined when none is loaded.
    #[wasm_bindgen(getter, js_name = vggPooling)]
    pub fn vgg_pooling(&self) -> Option<String> {
        self.gatys
            .borrow()
            .as_ref()
            .map(|g| match g.vgg().pooling() {
                PoolMode::Max => "max".into(),
                PoolMode::Avg => "avg".into(),
            })
    }

    /// Runs a Gatys optimisation. `styles` is an array of `{ data, width, height }`; `options`
    /// holds the run's settings (see npm/index.d.ts, `GatysOptions`); `on_progress(event)` is
    /// called at each reported iteration and cancels the run by returning `false`. Resolves to
    /// `{ width, height, data, cancelled, iterations, losses }`.
    #[allow(clippy::too_many_arguments)]
    pub async fn gatys(
        &self,
        data: Vec<u8>,
        width: u32,
        height: u32,
        styles: js_sys::Array,
        options: JsValue,
        on_progress: js_sys::Function,
    ) -> Result<JsValue, JsValue> {
        let gatys = self.gatys.borrow().clone().ok_or_else(|| {
            js_error(Error::Model(
                "VGG19 is not loaded; call loadVgg first".into(),
            ))
        })?;
        let content = Rgba8Image::new(width as usize, height as usize, data).map_err(js_error)?;
        let mut style_imgs = Vec::new();
        for s in styles.iter() {
            let get = |k: &str| js_sys::Reflect::get(&s, &k.into()).unwrap_or(JsValue::UNDEFINED);
            let bytes = js_sys::Uint8Array::new(&get("data")).to_vec();
            let w = get("width").as_f64().unwrap_or(0.0) as usize;
            let h = get("height").as_f64().unwrap_or(0.0) as usize;
            style_imgs.push(Rgba8Image::new(w, h, bytes).map_err(js_error)?);
        }
        let opts = gatys_options(&options).map_err(js_error)?;
        let mut callback_error: Option<JsValue> = None;
        let out = gatys
            .run(&self.ctx, &content, &style_imgs, &opts, &mut |p| {
                let e = js_sys::Object::new();
                set(&e, "stage", (p.stage.0 as u32).into());
                set(&e, "stages", (p.stage.1 as u32).into());
                set(&e, "width", (p.size.0 as u32).into());
                set(&e, "height", (p.size.1 as u32).into());
                set(&e, "iteration", (p.iteration as u32).into());
                set(&e, "iterations", (p.iterations as u32).into());
                set(&e, "total", p.losses.total.into());
                set(&e, "content", p.losses.content.into());
                set(&e, "style", p.losses.style.into());
                set(&e, "tv", p.losses.tv.into());
                set(&e, "elapsedMs", p.elapsed_ms.into());
                if let Some(img) = p.preview {
                    set(&e, "preview", image_object(img));
                }
                match on_progress.call1(&JsValue::NULL, &e) {
                    Ok(v) => v != JsValue::FALSE,
                    Err(err) => {
                        callback_error = Some(err);
                        false
                    }
                }
            })
            .await;
        if let Some(err) = callback_error {
            return Err(err);
        }
        let out = out.map_err(js_error)?;
        let obj = image_object(&out.image);
        let obj: js_sys::Object = obj.into();
        set(&obj, "cancelled", out.cancelled.into());
        set(&obj, "iterations", (out.iterations as u32).into());
        if let Some(l) = out.losses {
            let o = js_sys::Object::new();
            set(&o, "total", l.total.into());
            set(&o, "content", l.content.into());
            set(&o, "style", l.style.into());
            set(&o, "tv", l.tv.into());
            set(&obj, "losses", o.into());
        }
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
