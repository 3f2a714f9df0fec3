//! Memory over a long Gatys run, in a test binary of its own: the process's resident memory and
//! the pool's GPU buffers are this run's alone (tests of one binary share a GPU context and run
//! in parallel).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ctx;
use webgpu_style_transfer::gatys::{Gatys, GatysOptions, Init, Optimizer};
use webgpu_style_transfer::image::Rgba8Image;
use webgpu_style_transfer::models::ModelFile;
use webgpu_style_transfer::ops::PoolMode;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gatys/");

fn model() -> ModelFile {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/vgg19.safetensors");
    let bytes = std::fs::read(path).expect("run scripts/setup.sh to convert the models");
    ModelFile::parse(&bytes).unwrap()
}

fn png(name: &str) -> Rgba8Image {
    Rgba8Image::decode(&std::fs::read(format!("{DIR}{name}.png")).unwrap()).unwrap()
}

/// Resident memory of this process in bytes (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A long run holds what its first iterations hold: the GPU buffers it allocated (the pool's
/// figure, any driver) and the process's resident memory (which also catches a driver that
/// compiles shaders per dispatch, as lavapipe did with uniform-buffer parameters).
#[test]
fn memory_is_flat_over_a_long_run() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let gatys = Gatys::new(&ctx, &model(), PoolMode::Max).unwrap();
        let opts = GatysOptions {
            size: 32,
            iterations: 60,
            optimizer: Optimizer::adam(),
            init: Init::Content,
            ..Default::default()
        };
        let (content, style) = (png("content32"), png("style32"));
        let mut at = std::collections::HashMap::new();
        gatys
            .run(&ctx, &content, &[style], &opts, &mut |p| {
                if p.iteration == 10 || p.iteration == 60 {
                    let live = ctx.pool_stats().allocated_bytes;
                    at.insert(p.iteration, (rss_bytes(), live));
                }
                true
            })
            .await
            .unwrap();
        let ((rss10, live10), (rss60, live60)) = (at[&10], at[&60]);
        let mb = |b: u64| b as f64 / 1048576.0;
        eprintln!(
            "iteration 10: rss {:.1} MB, GPU buffers {:.1} MB; iteration 60: {:.1} MB, {:.1} MB",
            mb(rss10),
            mb(live10),
            mb(rss60),
            mb(live60)
        );
        assert_eq!(live60, live10, "GPU buffers grew over 50 iterations");
        // It grew by 500 MB here (10 MB an iteration) before the fix.
        assert!(
            rss60 <= rss10 + (8 << 20),
            "resident memory grew from {:.1} to {:.1} MB over 50 iterations",
            mb(rss10),
            mb(rss60)
        );
    });
}
