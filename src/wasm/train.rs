//! `Engine.train`: a new style for the 26-style net learned in the browser, on the page's GPU.
//! The same [`Trainer`] as `style-transfer train`; this module only reads the request,
//! drives the steps and reports them to JavaScript.

use std::collections::BTreeMap;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::{
    field, image_object, js_error, loaded, losses_fields, number, object, pixels, set, text, whole,
    Engine, Loaded,
};
use crate::clock::now_ms;
use crate::image::Rgba8Image;
use crate::loss::LossValues;
use crate::models::learned::FAMILY as LEARNED_FAMILY;
use crate::models::{LearnedStyle, ModelFile, VggArch};
use crate::train::{PhotoSet, TrainOptions, Trainer};

const OP: &str = "train";

/// The run's settings from the object npm/request.js's `trainRequest` builds (its `engine`
/// part: every field present and of its type). [`TrainOptions::validate`] still applies.
fn train_options(o: &JsValue) -> Result<TrainOptions, JsValue> {
    let strings = |key: &str| super::strings(OP, o, key);
    let init_style = match field(o, "initStyle") {
        v if v.is_null() || v.is_undefined() => None,
        _ => Some(whole(OP, o, "initStyle")?),
    };
    let defaults = TrainOptions::default();
    let mut opts = TrainOptions {
        size: whole(OP, o, "size")?,
        batch: whole(OP, o, "batch")?,
        steps: whole(OP, o, "steps")?,
        learning_rate: number(OP, o, "learningRate")? as f32,
        style_size: whole(OP, o, "styleSize")?,
        loss_net: VggArch::from_family(&text(OP, o, "lossNet")?).map_err(js_error)?,
        seed: whole(OP, o, "seed")? as u64,
        init_style,
        report_every: whole(OP, o, "reportEvery")?,
        ..defaults
    };
    opts.loss.content = number(OP, o, "contentWeight")? as f32;
    opts.loss.style = number(OP, o, "styleWeight")? as f32;
    opts.loss.tv = number(OP, o, "tvWeight")? as f32;
    opts.loss.content_layers = strings("contentLayers")?;
    opts.loss.style_layers = strings("styleLayers")?;
    opts.loss.layer_weights = super::numbers(OP, o, "layerWeights")?
        .into_iter()
        .map(|w| w as f32)
        .collect();
    opts.validate().map_err(js_error)?;
    Ok(opts)
}

/// One reported step as JavaScript sees it.
fn progress_event(step: usize, steps: usize, l: &LossValues, elapsed_ms: f64) -> js_sys::Object {
    let e = object([
        ("step", (step as u32).into()),
        ("steps", (steps as u32).into()),
        ("elapsedMs", elapsed_ms.into()),
    ]);
    for (key, value) in losses_fields(l) {
        set(&e, key, value);
    }
    e
}

/// What a run was given besides its options.
struct Inputs {
    painting: Rgba8Image,
    photos: PhotoSet,
    preview: Option<Rgba8Image>,
    preview_every: usize,
    preview_size: usize,
    /// Metadata of the learned style: its name, the painting's name and sha256.
    meta: BTreeMap<String, String>,
}

fn inputs(
    painting: &JsValue,
    photos: &js_sys::Array,
    preview: &JsValue,
    options: &JsValue,
    size: usize,
) -> Result<Inputs, JsValue> {
    let photos = photos
        .iter()
        .map(|p| pixels(OP, &p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut meta = BTreeMap::new();
    for (key, name) in [
        ("name", "name"),
        ("paintingName", "painting"),
        ("paintingSha256", "painting_sha256"),
    ] {
        if let Some(v) = field(options, key).as_string() {
            meta.insert(name.to_string(), v);
        }
    }
    Ok(Inputs {
        painting: pixels(OP, painting)?,
        photos: PhotoSet::new(photos, size).map_err(js_error)?,
        preview: if preview.is_undefined() || preview.is_null() {
            None
        } else {
            Some(pixels(OP, preview)?)
        },
        preview_every: whole(OP, options, "previewEvery")?,
        preview_size: whole(OP, options, "previewSize")?,
        meta,
    })
}

#[wasm_bindgen]
impl Engine {
    /// Loads the loss network for training (a converted `vgg16` or `vgg19` file); kept as
    /// parsed weights until a run uploads it.
    #[wasm_bindgen(js_name = loadLossNet)]
    pub fn load_loss_net(&self, bytes: &[u8]) -> Result<String, JsValue> {
        let file = ModelFile::parse(bytes).map_err(js_error)?;
        let arch = VggArch::from_family(file.family()).map_err(js_error)?;
        *self.loss_net.borrow_mut() = Some(Rc::new(file));
        Ok(arch.family().into())
    }

    /// Which loss network is loaded ("vgg16", "vgg19"), or undefined.
    #[wasm_bindgen(getter, js_name = lossNet)]
    pub fn loss_net(&self) -> Option<String> {
        self.loss_net
            .borrow()
            .as_ref()
            .map(|f| f.family().to_string())
    }

    /// Learns a new style of the 26-style net from `painting` and `photos` (`{ data, width,
    /// height }` each; `preview` one more or undefined), as `options` says (the `engine` part
    /// of npm/request.js's `trainRequest`). `on_progress(event)` hears every reported step
    /// (`{ step, steps, total, content, style, tv, elapsedMs, preview? }`) and cancels the run
    /// by returning `false`. The learned style is loaded like `loadModel`'s; resolves to `{ id,
    /// family, steps, cancelled, losses, bytes }` (`bytes`: the file `style-transfer train`
    /// writes). The run's GPU buffers are released when it ends, however it ends.
    pub async fn train(
        &self,
        painting: JsValue,
        photos: js_sys::Array,
        preview: JsValue,
        options: JsValue,
        on_progress: js_sys::Function,
    ) -> Result<JsValue, JsValue> {
        let out = self
            .run_training(painting, photos, preview, options, on_progress)
            .await;
        // The run's buffers went back to the pool as it ended; give them back to the device.
        self.ctx.trim_pool();
        out
    }
}

impl Engine {
    async fn run_training(
        &self,
        painting: JsValue,
        photos: js_sys::Array,
        preview: JsValue,
        options: JsValue,
        on_progress: js_sys::Function,
    ) -> Result<JsValue, JsValue> {
        let net_file = loaded(&self.multistyle_file, "the 26-style net")?;
        let vgg = loaded(&self.loss_net, "the loss network")?;
        let opts = train_options(&options)?;
        crate::train::check_fits(&self.ctx, &opts).map_err(js_error)?;
        let input = inputs(&painting, &photos, &preview, &options, opts.size)?;
        let mut t = Trainer::multistyle(&self.ctx, &net_file, &vgg, &input.painting, opts)
            .await
            .map_err(js_error)?;
        let start = now_ms();
        let mut callback_error = None;
        let mut last = None;
        let steps = t.options().steps;
        while t.step_count() < steps {
            let k = t.step_count() + 1;
            let report = k.is_multiple_of(t.options().report_every) || k == steps;
            let losses = t
                .step(&self.ctx, &input.photos, report)
                .await
                .map_err(js_error)?;
            let Some(l) = losses else {
                // Let the page breathe between unreported steps (and keep the queue short).
                self.ctx.finish().await.map_err(js_error)?;
                continue;
            };
            let e = progress_event(k, steps, &l, now_ms() - start);
            last = Some(l);
            if let Some(photo) = &input.preview {
                if k.is_multiple_of(input.preview_every) || k == steps {
                    let img = t.preview(&self.ctx, photo, input.preview_size).await;
                    set(&e, "preview", image_object(&img.map_err(js_error)?).into());
                }
            }
            match on_progress.call1(&JsValue::NULL, &e) {
                Ok(v) if v == JsValue::FALSE => break,
                Ok(_) => {}
                Err(err) => {
                    callback_error = Some(err);
                    break;
                }
            }
        }
        if let Some(err) = callback_error {
            return Err(err);
        }
        let mut style: LearnedStyle = t.learned_style(&self.ctx).await.map_err(js_error)?;
        for (k, v) in &input.meta {
            style = style.with_meta(k, v.clone());
        }
        let bytes = style.to_bytes().map_err(js_error)?;
        let done = t.step_count();
        drop(t);
        let out = object([
            ("family", LEARNED_FAMILY.into()),
            ("steps", (done as u32).into()),
            ("cancelled", (done < steps).into()),
            ("bytes", js_sys::Uint8Array::from(bytes.as_slice()).into()),
        ]);
        if let Some(l) = last {
            set(&out, "losses", object(losses_fields(&l)).into());
        }
        let mut models = self.models.borrow_mut();
        models.push(Loaded::Style(style));
        set(&out, "id", (models.len() as u32 - 1).into());
        Ok(out.into())
    }
}
