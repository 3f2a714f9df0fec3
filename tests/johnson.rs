//! The Johnson transform net (PyTorch examples' TransformerNet) against onnxruntime, with
//! synthesised seeded weights (tools/make_johnson_fixture.py): the weights were written as a
//! torch.save state dict and as an ONNX graph, both converted by tools/convert_models.py to the
//! same tensors (checked there); the committed file is the 8-bit codebook conversion, exact for
//! these weights. onnxruntime 1.32 ran the ONNX graph on a 64x48 crop.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ctx;
use webgpu_style_transfer::gpu::Plan;
use webgpu_style_transfer::image::Rgba8Image;
use webgpu_style_transfer::models::{JohnsonNet, ModelFile, MultiStyle26, OutputOptions};
use webgpu_style_transfer::ops::{self, PixelMap};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/johnson/");

fn model_bytes() -> Vec<u8> {
    std::fs::read(format!("{DIR}seeded.safetensors")).unwrap()
}

#[test]
fn matches_onnxruntime_on_seeded_weights() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let net = JohnsonNet::load(&ctx, &ModelFile::parse(&model_bytes()).unwrap()).unwrap();
        let photo =
            Rgba8Image::decode(&std::fs::read(format!("{DIR}coffee_64x48.png")).unwrap()).unwrap();
        let px = ctx
            .upload_rgba8("photo", photo.width, photo.height, &photo.data)
            .unwrap();
        let mut plan = Plan::new("johnson");
        let x = ops::rgba_to_planar(&ctx, &mut plan, &px, &PixelMap::rgb_255()).unwrap();
        let y = net.record(&ctx, &mut plan, &x).unwrap();
        plan.run(&ctx).await.unwrap();
        assert_eq!(y.shape(), &[3, 48, 64]);
        let got = ctx.read(&y).await.unwrap();
        let want: Vec<f32> = std::fs::read(format!("{DIR}coffee_64x48.out.f32"))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let diffs: Vec<f32> = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).collect();
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        let max = diffs.iter().fold(0f32, |m, d| m.max(*d));
        println!(
            "johnson vs onnxruntime, values in [0, 255]: mean |diff| {mean:.2e}, max {max:.2e}"
        );
        // Measured on lavapipe: mean 1.3e-4, max 7.6e-4 (f32 summation order); bounds 0.01 and
        // 0.05, well inside the 26-style net's 0.5 / 2.
        assert!(mean <= 0.01 && max <= 0.05, "mean {mean}, max {max}");

        // Through the photo API: any size (reflection padded to multiples of 4, cropped back),
        // and strength 0 gives the photo back.
        let odd = photo.clone().resized(37, 29);
        let opts = OutputOptions {
            strength: 1.0,
            preserve_colors: false,
            max_size: 0,
            tile: 0,
        };
        let out = net.stylize(&ctx, &odd, &opts).await.unwrap();
        assert_eq!((out.width, out.height), (37, 29));
        // In 16 px tiles with whole-image statistics: the same picture.
        let tiled = OutputOptions {
            tile: 16,
            ..opts.clone()
        };
        let t = net.stylize(&ctx, &odd, &tiled).await.unwrap();
        let max = out
            .data
            .iter()
            .zip(&t.data)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(max <= 1, "tiled Johnson run differs by {max} levels");
        let zero = OutputOptions {
            strength: 0.0,
            ..opts.clone()
        };
        assert!(net.stylize(&ctx, &odd, &zero).await.unwrap() == odd);
        let bad = OutputOptions {
            strength: 1.5,
            ..opts
        };
        assert!(net.stylize(&ctx, &odd, &bad).await.is_err());
    });
}

#[test]
fn wrong_files_are_named_errors() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let bytes = model_bytes();
        // A Johnson file is not a 26-style net, and a 26-style file is not a Johnson net.
        let file = ModelFile::parse(&bytes).unwrap();
        let err = MultiStyle26::load(&ctx, &file).err().unwrap().to_string();
        assert!(err.contains("'johnson' model"), "{err}");
        let ms = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/multistyle26.safetensors"
        ))
        .expect("run scripts/setup.sh to convert the models");
        let err = JohnsonNet::load(&ctx, &ModelFile::parse(&ms).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a 'johnson' one"), "{err}");
        // A truncated file.
        assert!(ModelFile::parse(&bytes[..bytes.len() / 2]).is_err());
    });
}
