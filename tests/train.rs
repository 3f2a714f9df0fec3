//! Training a new style for the 26-style net, against an independent float64 JAX reference
//! (tools/train_reference.py: the net, VGG16 and the loss written from their definitions and
//! differentiated by JAX) and by what training must do: lower the style loss of a photo it
//! never saw. Native; the browser's training tests are in tests/e2e/train.test.mjs.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ctx;
use webgpu_style_transfer::image::Rgba8Image;
use webgpu_style_transfer::loss::{LossValues, LossWeights};
use webgpu_style_transfer::models::learned::BASE_WEIGHTS_KEY;
use webgpu_style_transfer::models::{
    LearnedStyle, ModelFile, MultiStyle26, OutputOptions, StyleWeights,
};
use webgpu_style_transfer::train::{Checkpoint, PhotoSet, StyleTrainer, TrainOptions};
use webgpu_style_transfer::Error;

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

/// Asserts `got` within `rel` of `want`; returns the relative error.
fn close(what: &str, got: f32, want: f64, rel: f64) -> f64 {
    let err = (got as f64 - want).abs() / want.abs().max(1e-12);
    assert!(
        err <= rel,
        "{what}: {got} vs reference {want} (relative error {err:.2e} > {rel:.0e})"
    );
    err
}

/// The largest relative error of the three terms (each asserted within `rel`).
fn check_losses(what: &str, got: &LossValues, want: &serde_json::Value, rel: f64) -> f64 {
    let terms = [
        ("content", got.content),
        ("style", got.style),
        ("tv", got.tv),
    ];
    terms
        .iter()
        .map(|&(name, v)| {
            close(
                &format!("{what} {name}"),
                v,
                want[name].as_f64().unwrap(),
                rel,
            )
        })
        .fold(0.0, f64::max)
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
        let start_err = check_losses("start", &losses, &want["losses"], 1e-3);
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
        // The largest error as a share of its coordinate's bound.
        let mut worst = (0.0f32, 0);
        for (i, (g, r)) in grad.iter().zip(&reference).enumerate() {
            let share = (g - r).abs() / (1e-3 * r.abs() + 1e-5 * peak);
            if share > worst.0 {
                worst = (share, i);
            }
            assert!(
                (g - r).abs() <= 1e-3 * r.abs() + 1e-5 * peak,
                "coordinate {i}: {g} vs reference {r} (largest {peak})"
            );
        }
        eprintln!(
            "losses {start_err:.1e}; gradient: {:.0} % of the bound at coordinate {}",
            100.0 * worst.0,
            worst.1
        );
        // Ten Adam steps on the same batch follow the reference's losses within 1 %.
        let traj = want["trajectory"].as_array().unwrap();
        let mut adam_err = 0.0f64;
        for (k, w) in traj.iter().enumerate().take(10) {
            let got = t.step_on(&ctx, &batch(), true).await.unwrap().unwrap();
            adam_err = adam_err.max(check_losses(&format!("step {k}"), &got, w, 1e-2));
        }
        let (last, _) = t.loss_and_gradient(&ctx, &batch()).await.unwrap();
        adam_err = adam_err.max(check_losses("after 10 steps", &last, &traj[10], 1e-2));
        eprintln!("Adam steps: largest relative error {adam_err:.1e}");
    });
}

/// Training photos: the 256 px crops of the 26-style net's fixtures.
fn photos(size: usize) -> PhotoSet {
    let names = ["astronaut_s19", "chelsea_s3_s12", "coffee_s0"];
    let list = names
        .iter()
        .map(|n| png(&format!("multistyle26/{n}.png")))
        .collect();
    PhotoSet::new(list, size).unwrap()
}

#[test]
fn a_short_seeded_run_lowers_a_held_out_photos_style_loss_and_resumes_exactly() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let painting = png("gatys/style.png");
        let opts = TrainOptions {
            size: 32,
            steps: 6,
            learning_rate: 0.05,
            seed: 3,
            ..options()
        };
        let (net, vgg) = (model("multistyle26"), model("vgg16"));
        let held_out = png("gatys/other.png");
        let set = photos(32);
        let mut t = StyleTrainer::new(&ctx, &net, &vgg, &painting, opts.clone())
            .await
            .unwrap();
        let before = t.evaluate(&ctx, &held_out).await.unwrap();
        let mut losses = Vec::new();
        let mut checkpoint = None;
        for k in 0..opts.steps {
            losses.push(t.step(&ctx, &set, true).await.unwrap().unwrap());
            if k == 3 {
                checkpoint = Some(t.checkpoint(&ctx).await.unwrap());
            }
        }
        let after = t.evaluate(&ctx, &held_out).await.unwrap();
        eprintln!(
            "held-out style loss {:.4e} -> {:.4e}",
            before.style, after.style
        );
        assert!(
            after.style <= 0.7 * before.style,
            "held-out style loss {} -> {} (want a drop of 30 % or more)",
            before.style,
            after.style
        );
        // The learned style, saved and loaded, is what the trainer holds; it stylizes.
        let style = t.learned_style(&ctx).await.unwrap();
        assert_eq!(style.meta(BASE_WEIGHTS_KEY), Some(net.weights_sha256()));
        let loaded =
            LearnedStyle::from_file(&ModelFile::parse(&style.to_bytes().unwrap()).unwrap())
                .unwrap();
        assert_eq!(loaded.row(), t.row(&ctx).await.unwrap().as_slice());
        let multi = MultiStyle26::load(&ctx, &net).unwrap();
        let opts_out = OutputOptions::default();
        let ours = multi
            .stylize(&ctx, &held_out, &StyleWeights::learned(&loaded), &opts_out)
            .await
            .unwrap();
        assert_eq!(ours, t.preview(&ctx, &held_out, 0).await.unwrap());
        let mean = multi
            .stylize(
                &ctx,
                &held_out,
                &StyleWeights::single(0).unwrap(),
                &opts_out,
            )
            .await
            .unwrap();
        assert_ne!(ours, mean);
        // A run resumed from the step-4 checkpoint (through its file) repeats the last steps.
        let file = ModelFile::parse(&checkpoint.unwrap().to_bytes().unwrap()).unwrap();
        let ck = Checkpoint::from_file(&file).unwrap();
        ck.check_options(&opts).unwrap();
        let mut resumed = StyleTrainer::new(&ctx, &net, &vgg, &painting, opts.clone())
            .await
            .unwrap();
        resumed.restore(&ctx, &ck.state).unwrap();
        for want in &losses[4..] {
            let got = resumed.step(&ctx, &set, true).await.unwrap().unwrap();
            assert_eq!(
                (got.content, got.style, got.tv),
                (want.content, want.style, want.tv)
            );
        }
        let other = TrainOptions { seed: 4, ..opts };
        let e = ck.check_options(&other).unwrap_err().to_string();
        assert!(e.contains("seed = 3, this run has 4"), "{e}");
    });
}

#[test]
fn bad_settings_are_refused_before_any_work() {
    let cases: [(TrainOptions, &str); 6] = [
        (
            TrainOptions {
                size: 30,
                ..options()
            },
            "--size must be a multiple of 4",
        ),
        (
            TrainOptions {
                steps: 0,
                ..options()
            },
            "at least 1",
        ),
        (
            TrainOptions {
                learning_rate: f32::NAN,
                ..options()
            },
            "--learning-rate",
        ),
        (
            TrainOptions {
                init_style: Some(26),
                ..options()
            },
            "--init-style must be 0 to 25",
        ),
        (
            TrainOptions {
                loss: LossWeights {
                    style: -1.0,
                    ..options().loss
                },
                ..options()
            },
            "style weight must be a finite number >= 0",
        ),
        (
            TrainOptions {
                loss: LossWeights {
                    style_layers: vec!["relu5_1".into()],
                    layer_weights: vec![1.0],
                    ..options().loss
                },
                ..options()
            },
            "unknown layer 'relu5_1'",
        ),
    ];
    for (opts, want) in cases {
        let e = opts.validate().unwrap_err().to_string();
        assert!(e.contains(want), "{e} (wanted {want})");
    }
}

/// A run whose largest buffer would not fit the device is refused before anything is
/// uploaded (the check is on the options alone), naming the largest size that fits.
#[test]
fn a_run_too_large_for_the_device_names_a_size_that_fits() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let limit = ctx
            .limits()
            .max_storage_buffer_binding_size
            .min(ctx.limits().max_buffer_size);
        let opts = TrainOptions {
            size: 16384,
            style_size: 64,
            ..options()
        };
        let painting = png("gatys/style.png");
        let e = StyleTrainer::new(
            &ctx,
            &model("multistyle26"),
            &model("vgg16"),
            &painting,
            opts,
        )
        .await
        .err()
        .expect("a 16384 px run is refused");
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        let msg = e.to_string();
        let side: u64 = msg
            .rsplit("at most ")
            .next()
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no size named: {msg}"));
        // VGG16's first layer has 64 channels of f32.
        assert!(
            side.is_multiple_of(4) && side * side * 256 <= limit,
            "{msg}"
        );
        assert!((side + 4) * (side + 4) * 256 > limit, "{msg}");
    });
}
