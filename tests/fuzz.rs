//! Seeded fuzzing of everything the engine reads from users: thousands of mutated model files
//! and image files must each give a named error or a correct result, never a panic. The seeds
//! are fixed, so a failure reproduces; `FUZZ_CASES=N` runs more cases than the default.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::result_large_err)] // see src/lib.rs: errors carry names and advice

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::{Rng, SeedableRng};
use webgpu_style_transfer::image::{OutputFormat, Rgba8Image};
use webgpu_style_transfer::models::{ModelFile, MultiStyle26};
use webgpu_style_transfer::Error;

fn cases(default: usize) -> usize {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One random change to `bytes`: flipped bits, a run of random bytes, a cut, an insertion or a
/// deletion. With `focus`, changes fall in the first `focus` bytes (a file's header) half the
/// time.
fn mutate(rng: &mut impl Rng, bytes: &[u8], focus: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let span = if focus > 0 && rng.gen_bool(0.5) {
        focus.min(b.len())
    } else {
        b.len()
    };
    let at = rng.gen_range(0..span.max(1));
    match rng.gen_range(0..5) {
        0 => {
            for _ in 0..rng.gen_range(1..8) {
                let i = rng.gen_range(0..span.max(1));
                b[i] ^= 1 << rng.gen_range(0..8);
            }
        }
        1 => {
            let end = (at + rng.gen_range(1..64)).min(b.len());
            rng.fill(&mut b[at..end]);
        }
        2 => b.truncate(at),
        3 => {
            let extra: Vec<u8> = (0..rng.gen_range(1..32)).map(|_| rng.gen()).collect();
            b.splice(at..at, extra);
        }
        _ => {
            let end = (at + rng.gen_range(1..32)).min(b.len());
            b.drain(at..end);
        }
    }
    b
}

#[test]
fn mutated_images_decode_or_fail_with_a_named_error() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let data = (0..48 * 40 * 4).map(|i| (i * 31 % 256) as u8).collect();
    let img = Rgba8Image::new(48, 40, data).unwrap();
    let bases = [
        img.encode(OutputFormat::Png).unwrap(),
        img.encode(OutputFormat::Jpeg).unwrap(),
    ];
    let (mut ok, mut errors) = (0, 0);
    for case in 0..cases(5000) {
        let bytes = mutate(&mut rng, &bases[case % 2], 200);
        let result = catch_unwind(|| Rgba8Image::decode(&bytes))
            .unwrap_or_else(|_| panic!("case {case}: decoding panicked"));
        match result {
            Ok(d) => {
                assert_eq!(d.data.len(), d.width * d.height * 4, "case {case}");
                ok += 1;
            }
            Err(Error::Image(m)) => {
                assert!(!m.is_empty(), "case {case}");
                errors += 1;
            }
            Err(e) => panic!("case {case}: an image error of another kind: {e}"),
        }
    }
    eprintln!("{ok} decoded, {errors} named errors");
    assert!(ok > 0 && errors > 0, "{ok} decoded, {errors} errors");
}

#[test]
fn mutated_model_files_load_or_fail_with_a_named_error() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/multistyle26.safetensors"
    );
    let base = std::fs::read(path).expect("run scripts/setup.sh to convert the models");
    let header = 8 + u64::from_le_bytes(base[..8].try_into().unwrap()) as usize;
    let ctx = pollster::block_on(common::ctx());
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (mut loaded, mut errors, mut gpu_loads) = (0, 0, 0);
    for case in 0..cases(3000) {
        let bytes = mutate(&mut rng, &base, header);
        let parsed = catch_unwind(|| ModelFile::parse(&bytes))
            .unwrap_or_else(|_| panic!("case {case}: parsing panicked"));
        let file = match parsed {
            Ok(f) => f,
            Err(Error::Model(_) | Error::Weights { .. }) => {
                errors += 1;
                continue;
            }
            Err(e) => panic!("case {case}: a model error of another kind: {e}"),
        };
        // Uploading is the slow part: every tenth file that parses goes to the GPU.
        if loaded % 10 == 0 {
            gpu_loads += 1;
            let net = catch_unwind(AssertUnwindSafe(|| MultiStyle26::load(&ctx, &file)))
                .unwrap_or_else(|_| panic!("case {case}: loading panicked"));
            if let Err(e) = net {
                assert!(
                    matches!(e, Error::Model(_) | Error::Weights { .. }),
                    "case {case}: {e}"
                );
            }
        }
        loaded += 1;
    }
    eprintln!("{loaded} parsed ({gpu_loads} loaded on the GPU), {errors} named errors");
    assert!(loaded > 0 && errors > 0, "{loaded} parsed, {errors} errors");
}
