//! Training a new style for the 26-style net, against an independent float64 JAX reference
//! (tools/train_reference.py: the net, VGG16 and the loss written from their definitions and
//! differentiated by JAX) and by what training must do: lower the style loss of a photo it
//! never saw. Native only (the trainer is not yet in the browser build).

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ctx;
use webgpu_style_transfer::image::Rgba8Image;
use webgpu_style_transfer::loss::LossValues;
use webgpu_style_transfer::models::ModelFile;
use webgpu_style_transfer::train::{StyleTrainer, TrainOptions};

fn model(name: &str) -> ModelFile {
    let path = format!("{}/models/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
    ModelFile::parse(&std::fs::read(path).expect("run npm run setup")).unwrap()
}

fn png(path: &str) -> Rgba8Image {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    Rgba8Image::decode(&std::fs::read(full).unwrap()).unwrap()
}

fn reference() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/train/reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The reference run's settings: 64 px, batch 2, the painting at its own 64x51.
fn options() -> TrainOptions {
    TrainOptions {
        size: 64,
        batch: 2,
        style_size: 64,
        ..TrainOptions::default()
    }
}

fn batch() -> Vec<Rgba8Image> {
    vec![png("gatys/content.png"), png("gatys/other.png")]
}

fn close(what: &str, got: f32, want: f64, rel: f64) {
    let err = (got as f64 - want).abs() / want.abs().max(1e-12);
    assert!(
        err <= rel,
        "{what}: {got} vs reference {want} (relative error {err:.2e} > {rel:.0e})"
    );
}

fn check_losses(what: &str, got: &LossValues, want: &serde_json::Value, rel: f64) {
    close(
        &format!("{what} content"),
        got.content,
        want["content"].as_f64().unwrap(),
        rel,
    );
    close(
        &format!("{what} style"),
        got.style,
        want["style"].as_f64().unwrap(),
        rel,
    );
    close(
        &format!("{what} tv"),
        got.tv,
        want["tv"].as_f64().unwrap(),
        rel,
    );
}

#[test]
fn row_gradient_and_adam_steps_match_the_jax_reference() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let painting = png("gatys/style.png");
        let mut t = StyleTrainer::new(
            &ctx,
            &model("multistyle26"),
            &model("vgg16"),
            &painting,
            options(),
        )
        .await
        .unwrap();
        let (losses, grad) = t.loss_and_gradient(&ctx, &batch()).await.unwrap();
        let want = reference();
        check_losses("start", &losses, &want["losses"], 1e-3);
        // The gradient, coordinate by coordinate: 1e-3 relative, or 1e-5 of the largest.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/train/gradient64.f32"
        );
        let bytes = std::fs::read(path).unwrap();
        let reference: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(grad.len(), reference.len());
        let peak = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let mut worst = (0.0f32, 0);
        for (i, (g, r)) in grad.iter().zip(&reference).enumerate() {
            let err = (g - r).abs() / (r.abs().max(1e-2 * peak));
            if err > worst.0 {
                worst = (err, i);
            }
            assert!(
                (g - r).abs() <= 1e-3 * r.abs() + 1e-5 * peak,
                "coordinate {i}: {g} vs reference {r} (largest {peak})"
            );
        }
        eprintln!("worst relative error {:.2e} at {}", worst.0, worst.1);
        // Ten Adam steps on the same batch follow the reference's losses within 1 %.
        let traj = want["trajectory"].as_array().unwrap();
        for (k, w) in traj.iter().enumerate().take(10) {
            let got = t.step_on(&ctx, &batch(), true).await.unwrap().unwrap();
            check_losses(&format!("step {k}"), &got, w, 1e-2);
        }
        let (last, _) = t.loss_and_gradient(&ctx, &batch()).await.unwrap();
        check_losses("after 10 steps", &last, &traj[10], 1e-2);
    });
}
