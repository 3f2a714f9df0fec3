//! The `#[wasm_bindgen]` facade: the classes and functions JavaScript sees. Only glue lives
//! here; the engine is the rest of the crate. Errors reach JS as real `Error`s whose `code`
//! property says what kind of failure it was.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::gatys::{Gatys, GatysOptions, Init, Optimizer};
use crate::gpu::{GpuContext, PowerPreference};
use crate::image::Rgba8Image;
use crate::models::learned::FAMILY as LEARNED_FAMILY;
use crate::models::{
    ArbitraryNet, JohnsonNet, LearnedStyle, ModelFile, MultiStyle26, OutputOptions, StyleVector,
    StyleWeights, Styled,
};
use crate::ops::PoolMode;
use crate::Error;

mod profile;
mod train;
mod tune;

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
        Error::Diverged { .. } | Error::TrainingDiverged { .. } => "diverged",
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

/// A plain JS object with these fields: every result object the engine returns is built here.
fn object<const N: usize>(fields: [(&str, JsValue); N]) -> js_sys::Object {
    let obj = js_sys::Object::new();
    for (key, value) in fields {
        set(&obj, key, value);
    }
    obj
}

/// `{ width, height, data: Uint8ClampedArray }`.
fn image_object(img: &Rgba8Image) -> js_sys::Object {
    object([
        ("width", (img.width as u32).into()),
        ("height", (img.height as u32).into()),
        (
            "data",
            js_sys::Uint8ClampedArray::from(img.data.as_slice()).into(),
        ),
    ])
}

/// `{ total, content, style, tv }`.
fn losses_fields(l: &crate::gatys::LossValues) -> [(&'static str, JsValue); 4] {
    [
        ("total", l.total.into()),
        ("content", l.content.into()),
        ("style", l.style.into()),
        ("tv", l.tv.into()),
    ]
}

/// A loaded model, or a `bad-model` error saying which is not loaded.
fn loaded<T>(cell: &RefCell<Option<Rc<T>>>, what: &str) -> Result<Rc<T>, JsValue> {
    let model = cell.borrow().clone();
    model.ok_or_else(|| js_error(Error::Model(format!("{what} is not loaded"))))
}

/// A field of a request object.
fn field(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// An error about a request object that npm/request.js did not build (the package validates
/// and names every bad option before anything reaches the engine).
fn bad_request(op: &'static str, key: &str, what: &str) -> JsValue {
    js_error(Error::InvalidArgument {
        op,
        message: format!(
            "request field '{key}' must be {what}; call the engine through the npm package's StyleTransfer"
        ),
    })
}

fn number(op: &'static str, obj: &JsValue, key: &str) -> Result<f64, JsValue> {
    field(obj, key)
        .as_f64()
        .filter(|v| v.is_finite())
        .ok_or_else(|| bad_request(op, key, "a finite number"))
}

fn optional_number(op: &'static str, obj: &JsValue, key: &str) -> Result<Option<f64>, JsValue> {
    if field(obj, key).is_undefined() {
        Ok(None)
    } else {
        number(op, obj, key).map(Some)
    }
}

fn whole(op: &'static str, obj: &JsValue, key: &str) -> Result<usize, JsValue> {
    let v = number(op, obj, key)?;
    if v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
        Ok(v as usize)
    } else {
        Err(bad_request(op, key, "a whole number >= 0"))
    }
}

fn flag(op: &'static str, obj: &JsValue, key: &str) -> Result<bool, JsValue> {
    field(obj, key)
        .as_bool()
        .ok_or_else(|| bad_request(op, key, "true or false"))
}

fn text(op: &'static str, obj: &JsValue, key: &str) -> Result<String, JsValue> {
    field(obj, key)
        .as_string()
        .ok_or_else(|| bad_request(op, key, "a string"))
}

fn numbers(op: &'static str, obj: &JsValue, key: &str) -> Result<Vec<f64>, JsValue> {
    let v = field(obj, key);
    if !js_sys::Array::is_array(&v) {
        return Err(bad_request(op, key, "an array of numbers"));
    }
    js_sys::Array::from(&v)
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| bad_request(op, key, "an array of numbers"))
        })
        .collect()
}

fn strings(op: &'static str, obj: &JsValue, key: &str) -> Result<Vec<String>, JsValue> {
    let v = field(obj, key);
    if !js_sys::Array::is_array(&v) {
        return Err(bad_request(op, key, "an array of strings"));
    }
    js_sys::Array::from(&v)
        .iter()
        .map(|s| {
            s.as_string()
                .ok_or_else(|| bad_request(op, key, "an array of strings"))
        })
        .collect()
}

/// `{ data: Uint8ClampedArray | Uint8Array, width, height }` (an ImageData) -> an image.
fn pixels(op: &'static str, image: &JsValue) -> Result<Rgba8Image, JsValue> {
    let data = field(image, "data");
    let bytes = if let Some(d) = data.dyn_ref::<js_sys::Uint8ClampedArray>() {
        d.to_vec()
    } else if let Some(d) = data.dyn_ref::<js_sys::Uint8Array>() {
        d.to_vec()
    } else {
        return Err(bad_request(
            op,
            "data",
            "a Uint8ClampedArray of RGBA pixels",
        ));
    };
    let (w, h) = (whole(op, image, "width")?, whole(op, image, "height")?);
    Rgba8Image::new(w, h, bytes).map_err(js_error)
}

/// The run's settings from the object npm/request.js's `gatysRequest` builds (every field
/// present and of its type; `learningRate` may be undefined: the optimiser's default). The
/// engine's own checks ([`GatysOptions::validate`]) still apply.
fn gatys_options(o: &JsValue) -> Result<GatysOptions, JsValue> {
    const OP: &str = "gatys";
    let mut opts = GatysOptions {
        size: whole(OP, o, "size")?,
        iterations: whole(OP, o, "iterations")?,
        scales: numbers(OP, o, "scales")?
            .into_iter()
            .map(|x| x as usize)
            .collect(),
        style_scale: number(OP, o, "styleScale")? as f32,
        style_blend: numbers(OP, o, "styleBlendWeights")?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        preserve_colors: flag(OP, o, "preserveColors")?,
        preview_every: whole(OP, o, "previewEvery")?,
        report_every: whole(OP, o, "reportEvery")?,
        ..GatysOptions::default()
    };
    let learning_rate = optional_number(OP, o, "learningRate")?.map(|v| v as f32);
    opts.optimizer = match text(OP, o, "optimizer")?.as_str() {
        "lbfgs" => Optimizer::Lbfgs {
            learning_rate: 1.0,
            history: whole(OP, o, "history")?,
        },
        "adam" => Optimizer::adam(),
        _ => return Err(bad_request(OP, "optimizer", "\"lbfgs\" or \"adam\"")),
    }
    .with_learning_rate(learning_rate);
    opts.weights.content = number(OP, o, "contentWeight")? as f32;
    opts.weights.style = number(OP, o, "styleWeight")? as f32;
    opts.weights.tv = number(OP, o, "tvWeight")? as f32;
    opts.init = match text(OP, o, "init")?.as_str() {
        "noise" => Init::Noise {
            seed: whole(OP, o, "seed")? as u64,
        },
        "content" => Init::Content,
        _ => return Err(bad_request(OP, "init", "\"noise\" or \"content\"")),
    };
    Ok(opts)
}

use crate::clock::now_ms;

/// Which net a request runs, with its style (the nets held while the call runs, whatever
/// loads meanwhile).
enum Net {
    MultiStyle(Rc<MultiStyle26>, StyleWeights),
    Arbitrary(Rc<ArbitraryNet>, StyleVector),
    Johnson(Rc<JohnsonNet>),
}

/// A model loaded by `loadModel`.
#[derive(Clone)]
enum Loaded {
    Johnson(Rc<JohnsonNet>),
    Style(LearnedStyle),
}

/// One stylization request, the same for `stylize` and `stylizeTo`: the object
/// npm/request.js's `stylizeRequest` leads to, `{ style: { indices, weights } | styleVector |
/// model, strength, preserveColors, maxSize, tileSize }`, read once.
struct Request {
    net: Net,
    output: OutputOptions,
}

impl Request {
    fn styled(&self) -> Styled<'_> {
        match &self.net {
            Net::MultiStyle(net, style) => Styled::MultiStyle(net, style),
            Net::Arbitrary(net, style) => Styled::Arbitrary(net, style),
            Net::Johnson(net) => Styled::Johnson(net),
        }
    }
}

/// The engine on one GPU device. The npm package's `StyleTransfer` class (npm/index.js) wraps
/// it: option validation, image conversions, model downloads and the calls' life cycle
/// (destroy, device loss) live there.
#[wasm_bindgen]
pub struct Engine {
    ctx: GpuContext,
    // Loaded models sit behind RefCell + Rc so that loading one (a `&self` call) can happen
    // while another call's future, which holds `&self` across awaits, is still running.
    multistyle: RefCell<Option<Rc<MultiStyle26>>>,
    /// The 26-style net's file, which training needs (its convolutions' input gradients).
    multistyle_file: RefCell<Option<Rc<ModelFile>>>,
    /// The loss network for training (`loadLossNet`), as parsed weights.
    loss_net: RefCell<Option<Rc<ModelFile>>>,
    gatys: RefCell<Option<Rc<Gatys>>>,
    /// Models loaded with `loadModel` (Johnson nets and learned styles), by the id JS holds.
    models: RefCell<Vec<Loaded>>,
    arbitrary: RefCell<Option<Rc<ArbitraryNet>>>,
    /// The canvas `stylizeTo` draws into, and its presenter.
    live: RefCell<Option<(JsValue, crate::live::Presenter)>>,
    /// Set by the device-lost callback: (reason, message).
    lost: Arc<Mutex<Option<(String, String)>>>,
    /// What `stylize` may spend timing kernels in tuning mode "full", in milliseconds.
    tune_budget_ms: std::cell::Cell<f64>,
}

impl Engine {
    /// A model loaded by `loadModel`, or an error naming the id.
    fn model(&self, op: &'static str, id: usize) -> Result<Loaded, JsValue> {
        self.models.borrow().get(id).cloned().ok_or_else(|| {
            js_error(Error::InvalidArgument {
                op,
                message: format!("no model {id} was loaded by this StyleTransfer"),
            })
        })
    }

    /// `{ indices, weights, models?, modelWeights? }`: built-in styles and learned ones (ids
    /// from `loadModel`, each checked to be learned for the loaded 26-style net), blended.
    fn style_blend(
        &self,
        op: &'static str,
        style: &JsValue,
        net: &MultiStyle26,
    ) -> Result<StyleWeights, JsValue> {
        let pairs = |a: Vec<f64>, b: Vec<f64>, what: &str| {
            if a.len() == b.len() {
                Ok(a.into_iter().zip(b).collect::<Vec<_>>())
            } else {
                Err(bad_request(op, "style", what))
            }
        };
        let builtin = pairs(
            numbers(op, style, "indices")?,
            numbers(op, style, "weights")?,
            "parallel indices and weights",
        )?;
        let builtin: Vec<(usize, f32)> = builtin
            .into_iter()
            .map(|(i, w)| (i as usize, w as f32))
            .collect();
        let mut learned = Vec::new();
        if !field(style, "models").is_undefined() {
            let ids = pairs(
                numbers(op, style, "models")?,
                numbers(op, style, "modelWeights")?,
                "parallel models and modelWeights",
            )?;
            for (id, w) in ids {
                let Loaded::Style(s) = self.model(op, id as usize)? else {
                    return Err(bad_request(op, "style.models", "learned styles"));
                };
                net.check_learned(&s).map_err(js_error)?;
                learned.push((s, w as f32));
            }
        }
        StyleWeights::mix(&builtin, &learned).map_err(js_error)
    }

    /// Reads a request object (see [`Request`]) and picks its net.
    fn request(&self, op: &'static str, r: &JsValue) -> Result<Request, JsValue> {
        let style = field(r, "style");
        let vector = field(r, "styleVector");
        let model = field(r, "model");
        let net = if !style.is_undefined() {
            let multistyle = loaded(&self.multistyle, "the 26-style net")?;
            let blend = self.style_blend(op, &style, &multistyle)?;
            Net::MultiStyle(multistyle, blend)
        } else if !vector.is_undefined() {
            let v = vector
                .dyn_ref::<js_sys::Float32Array>()
                .ok_or_else(|| bad_request(op, "styleVector", "a Float32Array"))?;
            let v = StyleVector::new(v.to_vec()).map_err(js_error)?;
            Net::Arbitrary(loaded(&self.arbitrary, "the arbitrary-style net")?, v)
        } else if !model.is_undefined() {
            match self.model(op, whole(op, r, "model")?)? {
                Loaded::Johnson(net) => Net::Johnson(net),
                Loaded::Style(_) => {
                    return Err(bad_request(
                        op,
                        "model",
                        "a Johnson net (a learned style goes in style.models)",
                    ))
                }
            }
        } else {
            return Err(bad_request(op, "style", "given (or styleVector, or model)"));
        };
        let output = OutputOptions {
            strength: number(op, r, "strength")? as f32,
            preserve_colors: flag(op, r, "preserveColors")?,
            max_size: whole(op, r, "maxSize")?,
            tile: whole(op, r, "tileSize")?,
        };
        output.validate().map_err(js_error)?;
        Ok(Request { net, output })
    }
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
        let lost = Arc::new(Mutex::new(None));
        let sink = lost.clone();
        ctx.device()
            .set_device_lost_callback(move |reason, message| {
                let reason = match reason {
                    wgpu::DeviceLostReason::Destroyed => "destroyed",
                    _ => "unknown",
                };
                if let Ok(mut l) = sink.lock() {
                    l.get_or_insert((reason.to_string(), message));
                }
            });
        Ok(Engine {
            ctx,
            multistyle: RefCell::new(None),
            multistyle_file: RefCell::new(None),
            loss_net: RefCell::new(None),
            gatys: RefCell::new(None),
            models: RefCell::new(Vec::new()),
            arbitrary: RefCell::new(None),
            live: RefCell::new(None),
            lost,
            tune_budget_ms: std::cell::Cell::new(30e3),
        })
    }

    /// `{ reason, message }` once the device is lost (also after `destroy()`), else undefined.
    #[wasm_bindgen(getter)]
    pub fn lost(&self) -> JsValue {
        let lost = self.lost.lock().ok().and_then(|l| l.clone());
        match lost {
            Some((reason, message)) => {
                object([("reason", reason.into()), ("message", message.into())]).into()
            }
            None => JsValue::UNDEFINED,
        }
    }

    /// `{ name, backend, driver, deviceType, shaderF16, timestampQuery, limits: {...} }`.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> JsValue {
        let a = self.ctx.adapter();
        let l = &a.limits;
        let limits = object([
            (
                "maxStorageBufferBindingSize",
                (l.max_storage_buffer_binding_size as f64).into(),
            ),
            ("maxBufferSize", (l.max_buffer_size as f64).into()),
            (
                "maxComputeWorkgroupStorageSize",
                l.max_compute_workgroup_storage_size.into(),
            ),
            (
                "maxComputeInvocationsPerWorkgroup",
                l.max_compute_invocations_per_workgroup.into(),
            ),
            (
                "maxComputeWorkgroupsPerDimension",
                l.max_compute_workgroups_per_dimension.into(),
            ),
        ]);
        object([
            ("name", a.name.as_str().into()),
            ("backend", a.backend.as_str().into()),
            ("driver", a.driver.as_str().into()),
            ("deviceType", a.device_type.as_str().into()),
            ("shaderF16", a.shader_f16.into()),
            ("timestampQuery", a.timestamps.into()),
            ("limits", limits.into()),
        ])
        .into()
    }

    /// GPU memory the engine holds: `{ allocatedBytes, peakBytes, freeBytes }` (buffer pool).
    #[wasm_bindgen(getter)]
    pub fn memory(&self) -> JsValue {
        let s = self.ctx.pool_stats();
        object([
            ("allocatedBytes", (s.allocated_bytes as f64).into()),
            ("peakBytes", (s.peak_bytes as f64).into()),
            ("freeBytes", (s.free_bytes as f64).into()),
        ])
        .into()
    }

    /// Loads the 26-style net from a converted model file's bytes.
    #[wasm_bindgen(js_name = loadMultiStyle)]
    pub fn load_multistyle(&self, bytes: &[u8]) -> Result<(), JsValue> {
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        let net = MultiStyle26::load(&self.ctx, &file).map_err(js_error)?;
        *self.multistyle.borrow_mut() = Some(Rc::new(net));
        *self.multistyle_file.borrow_mut() = Some(Rc::new(file));
        Ok(())
    }

    /// Whether the 26-style net is loaded.
    #[wasm_bindgen(getter, js_name = hasMultiStyle)]
    pub fn has_multistyle(&self) -> bool {
        self.multistyle.borrow().is_some()
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

    /// Loads a model file: a converted Johnson transform net (tools/convert_models.py johnson)
    /// or a learned style of the 26-style net (style-transfer train). Returns `{ id, family }`:
    /// the id a request names (`model`, or `style.models` for a learned style).
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, bytes: &[u8]) -> Result<JsValue, JsValue> {
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        let loaded = match file.family() {
            LEARNED_FAMILY => Loaded::Style(LearnedStyle::from_file(&file).map_err(js_error)?),
            _ => Loaded::Johnson(Rc::new(
                JohnsonNet::load(&self.ctx, &file).map_err(js_error)?,
            )),
        };
        let family = match &loaded {
            Loaded::Johnson(_) => "johnson",
            Loaded::Style(_) => LEARNED_FAMILY,
        };
        let mut models = self.models.borrow_mut();
        models.push(loaded);
        Ok(object([
            ("id", (models.len() as u32 - 1).into()),
            ("family", family.into()),
        ])
        .into())
    }

    /// Stylizes `image` (`{ data, width, height }`) as `request` says (see [`Request`]);
    /// `on_progress` (a function, or undefined) hears `{ done, total, tiles, tile }` from a run
    /// in tiles. Resolves to `{ width, height, data: Uint8ClampedArray }`.
    pub async fn stylize(
        &self,
        image: JsValue,
        request: JsValue,
        on_progress: JsValue,
    ) -> Result<JsValue, JsValue> {
        const OP: &str = "stylize";
        let r = self.request(OP, &request)?;
        let photo = pixels(OP, &image)?;
        if self.ctx.tune_mode() == crate::gpu::TuneMode::Full {
            let budget = self.tune_budget_ms.get();
            let tuned = r.styled().tune(&self.ctx, &photo, &r.output, budget).await;
            tuned.map_err(js_error)?;
        }
        let callback: Option<js_sys::Function> = on_progress.dyn_into().ok();
        let mut callback_error: Option<JsValue> = None;
        let mut report = |p: crate::models::Progress| {
            let Some(f) = &callback else { return };
            let event = object([
                ("done", (p.done as u32).into()),
                ("total", (p.total as u32).into()),
                ("tiles", (p.tiles as u32).into()),
                ("tile", (p.tile as u32).into()),
            ]);
            if let Err(e) = f.call1(&JsValue::NULL, &event) {
                callback_error.get_or_insert(e);
            }
        };
        let out = r
            .styled()
            .stylize(&self.ctx, &photo, &r.output, &mut report)
            .await;
        // A throwing callback does not stop the GPU work; its error is the call's.
        if let Some(e) = callback_error {
            return Err(e);
        }
        Ok(image_object(&out.map_err(js_error)?).into())
    }

    /// The 100-d style vector of a painting (`{ data, width, height }`, any size).
    #[wasm_bindgen(js_name = styleVector)]
    pub async fn style_vector(&self, painting: JsValue) -> Result<Vec<f32>, JsValue> {
        let net = loaded(&self.arbitrary, "the arbitrary-style net")?;
        let painting = pixels("styleVector", &painting)?;
        if self.ctx.tune_mode() == crate::gpu::TuneMode::Full {
            let budget = self.tune_budget_ms.get();
            let tuned = net.tune_predictor(&self.ctx, budget, &now_ms).await;
            tuned.map_err(js_error)?;
        }
        let v = net
            .style_vector(&self.ctx, &painting)
            .await
            .map_err(js_error)?;
        Ok(v.values().to_vec())
    }

    /// Live output: stylizes `image` (a video frame's `{ data, width, height }`) as `request`
    /// says and draws the result straight into `canvas` (an HTMLCanvasElement or
    /// OffscreenCanvas without another context) of `canvas_width` x `canvas_height`; nothing
    /// is read back. Strength is a blend with the frame for every net here; the request's
    /// `tileSize` is not used. Resolves when the GPU is done.
    #[wasm_bindgen(js_name = stylizeTo)]
    pub async fn stylize_to(
        &self,
        canvas: JsValue,
        canvas_width: u32,
        canvas_height: u32,
        image: JsValue,
        request: JsValue,
    ) -> Result<(), JsValue> {
        const OP: &str = "stylizeTo";
        let r = self.request(OP, &request)?;
        let photo = pixels(OP, &image)?;
        let run = r
            .styled()
            .submit(&self.ctx, &photo, r.output.max_size)
            .await
            .map_err(js_error)?;
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
                        op: OP,
                        message: "the target must be an HTMLCanvasElement or an OffscreenCanvas"
                            .into(),
                    }));
                };
                let presenter = crate::live::Presenter::new(&self.ctx, target).map_err(js_error)?;
                *live = Some((canvas.clone(), presenter));
            }
            let (_, presenter) = live.as_mut().expect("set above");
            let frame = crate::live::Frame {
                run: &run,
                strength: r.output.strength,
                preserve_colors: r.output.preserve_colors,
            };
            presenter
                .present(&self.ctx, &frame, canvas_width, canvas_height)
                .map_err(js_error)?;
        }
        self.ctx.finish().await.map_err(js_error)?;
        // A browser that cannot present here (headless Chromium) destroys the page's devices
        // instead of failing getCurrentTexture(); the frame then "finishes" on a lost device.
        let lost = self.lost.lock().ok().and_then(|l| l.clone());
        if let Some((reason, message)) = lost {
            return Err(js_error(Error::Gpu {
                op: OP.into(),
                message: format!(
                    "the device was lost while presenting the frame ({reason}: {message}); this browser cannot present WebGPU canvases here, use stylize()"
                ),
            }));
        }
        Ok(())
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
        // Drop the previous VGG19 first: two copies of its weights need not fit together.
        *self.gatys.borrow_mut() = None;
        let gatys = Gatys::new(&self.ctx, &file, pooling).map_err(js_error)?;
        *self.gatys.borrow_mut() = Some(Rc::new(gatys));
        Ok(())
    }

    /// Runs a Gatys optimisation. `content` and each of `styles` are `{ data, width, height }`;
    /// `options` is the validated object npm/request.js's `gatysRequest` builds (its
    /// `engine` part); `on_progress(event)` is called at each reported iteration and cancels
    /// the run by returning `false`. Resolves to `{ width, height, data, cancelled,
    /// iterations, losses }`.
    pub async fn gatys(
        &self,
        content: JsValue,
        styles: js_sys::Array,
        options: JsValue,
        on_progress: js_sys::Function,
    ) -> Result<JsValue, JsValue> {
        let gatys = loaded(&self.gatys, "VGG19")?;
        let content = pixels("gatys", &content)?;
        let style_imgs = styles
            .iter()
            .map(|s| pixels("gatys", &s))
            .collect::<Result<Vec<_>, _>>()?;
        let opts = gatys_options(&options)?;
        let mut callback_error: Option<JsValue> = None;
        let out = gatys
            .run(&self.ctx, &content, &style_imgs, &opts, &mut |p| {
                let e = object([
                    ("stage", (p.stage.0 as u32).into()),
                    ("stages", (p.stage.1 as u32).into()),
                    ("width", (p.size.0 as u32).into()),
                    ("height", (p.size.1 as u32).into()),
                    ("iteration", (p.iteration as u32).into()),
                    ("iterations", (p.iterations as u32).into()),
                    ("elapsedMs", p.elapsed_ms.into()),
                ]);
                for (key, value) in losses_fields(&p.losses) {
                    set(&e, key, value);
                }
                if let Some(img) = p.preview {
                    set(&e, "preview", image_object(img).into());
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
        set(&obj, "cancelled", out.cancelled.into());
        set(&obj, "iterations", (out.iterations as u32).into());
        if let Some(l) = out.losses {
            set(&obj, "losses", object(losses_fields(&l)).into());
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
            out.push(&object([
                ("case", r.case.into()),
                ("kernel", r.kernel.as_str().into()),
                ("ms", r.ms.into()),
                ("gflops", r.gflops.into()),
            ]));
        }
        Ok(out)
    }

    /// Releases the GPU device now rather than when the object is collected. Takes `&self`
    /// so that it never conflicts with a call in flight; npm/index.js calls it once no call
    /// is in flight, then frees the object.
    pub fn destroy(&self) {
        *self.live.borrow_mut() = None;
        self.ctx.device().destroy();
    }
}
