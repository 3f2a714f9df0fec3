//! The native command line: `info` reports the adapter, bad arguments are clear errors.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::scratch;

use std::process::Command;

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_style-transfer"))
}

#[test]
fn info_reports_the_adapter_and_its_limits() {
    let out = cli().arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("adapter:") && text.contains("backend:"),
        "{text}"
    );
    assert!(text.contains("maxStorageBufferBindingSize"), "{text}");
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = cli().arg("paint").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn no_adapter_is_an_error_not_a_panic() {
    // A backend that does not exist on this machine: the CLI must say what to install.
    let out = cli()
        .arg("info")
        .env("WGPU_BACKEND", "metal")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no GPU adapter found") && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn stylize_any_colour_type_and_size_without_overwriting() {
    let dir = scratch("cli-stylize");
    // A 16-bit greyscale PNG whose sides are not multiples of 4.
    let grey = image::ImageBuffer::from_fn(50, 37, |x, y| {
        image::Luma([((x * 1300 + y * 700) % 65536) as u16])
    });
    let input = dir.join("grey16.png");
    grey.save(&input).unwrap();
    let out = dir.join("out.jpg");
    let run = |extra: &[&str]| {
        cli()
            .arg("stylize")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&["--style", "3:0.5,12:0.5"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (50, 37));
    let before = std::fs::read(&out).unwrap();
    // The existing output is kept unless --force.
    let second = run(&["--style", "7"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert!(run(&["--style", "7", "--force"]).status.success());
    assert_ne!(
        std::fs::read(&out).unwrap(),
        before,
        "a different style gives a different picture"
    );
}

#[test]
fn stylize_rejects_bad_styles_and_files() {
    let dir = scratch("cli-stylize-bad");
    let input = dir.join("in.png");
    image::RgbImage::from_pixel(16, 16, image::Rgb([10, 200, 30]))
        .save(&input)
        .unwrap();
    let out = cli()
        .arg("stylize")
        .arg(&input)
        .args(["-o"])
        .arg(dir.join("o.png"))
        .args(["--style", "26"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("styles 0 to 25"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("broken.png"), b"not a png").unwrap();
    let out = cli()
        .arg("stylize")
        .arg(dir.join("broken.png"))
        .args(["-o"])
        .arg(dir.join("o.png"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.png") && err.contains("cannot decode"),
        "{err}"
    );
    let out = cli()
        .arg("stylize")
        .arg(&input)
        .args(["-o"])
        .arg(dir.join("o.png"))
        .args(["--model"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("model file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.join("o.png").exists(),
        "nothing is written when the run fails"
    );
}

#[test]
fn gatys_writes_the_image_and_a_json_log() {
    let dir = scratch("cli-gatys");
    let fix = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gatys/");
    let out_png = dir.join("out.png");
    let log = dir.join("log.jsonl");
    let args = |extra: &[&str]| {
        let mut c = cli();
        c.arg("gatys")
            .arg(format!("{fix}content32.png"))
            .arg(format!("{fix}style32.png"))
            .arg("-o")
            .arg(&out_png)
            .args(["--size", "32", "--iterations", "2", "--optimizer", "adam"])
            .arg("--log-json")
            .arg(&log)
            .args(extra);
        c
    };
    let out = args(&["--init", "content", "--save-every", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let img = image::open(&out_png).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
    assert!(
        dir.join("out_iter2.png").is_file(),
        "--save-every 2 saves iteration 2"
    );
    // One line per iteration, 0 being the initial image, each with the weighted terms.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["iteration"], i);
        let sum = l["content"].as_f64().unwrap()
            + l["style"].as_f64().unwrap()
            + l["tv"].as_f64().unwrap();
        assert!(
            (sum - l["total"].as_f64().unwrap()).abs() <= 1e-5 * sum,
            "{l}"
        );
        assert!(l["elapsed_ms"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(
        lines[0]["content"], 0.0,
        "iteration 0 is the content image itself"
    );
    assert!(lines[2]["total"].as_f64() < lines[0]["total"].as_f64());

    // Existing outputs are not replaced without --force, and are left untouched.
    let before = std::fs::read(&out_png).unwrap();
    let out = args(&[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out_png).unwrap(), before);

    // Bad options are named.
    let out = args(&["--force", "--style-layers", "relu9_9"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown layer 'relu9_9'"), "{err}");
    let out = args(&["--force", "--style-blend-weights", "1,2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 style blend weights for 1 style images"),
        "{err}"
    );
    let out = args(&["--force", "--scales", "100000"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the largest size that fits is"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn stylize_with_a_johnson_net_file() {
    let dir = scratch("cli-johnson");
    let fix = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/johnson/");
    let out_png = dir.join("out.png");
    let run = |extra: &[&str]| {
        cli()
            .arg("stylize")
            .arg(format!("{fix}coffee_64x48.png"))
            .arg("--model")
            .arg(format!("{fix}seeded.safetensors"))
            .arg("-o")
            .arg(&out_png)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&out_png).unwrap();
    assert_eq!((img.width(), img.height()), (64, 48));
    // A Johnson net has its own single style.
    let out = run(&["--force", "--style", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("one style of its own"), "{err}");
}

#[test]
fn stylize_with_the_style_of_any_painting() {
    let dir = scratch("cli-style-image");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arbitrary/");
    let photo = format!("{fixtures}coffee_blend.png");
    let run = |out: &str, extra: &[&str]| {
        cli()
            .arg("stylize")
            .arg(&photo)
            .arg("-o")
            .arg(dir.join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    let starry = format!("{fixtures}starry_night_256.png");
    let coffee = format!("{fixtures}coffee_256.png");
    let one = run("starry.png", &["--style-image", &starry]);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let blend = run(
        "blend.png",
        &[
            "--style-image",
            &starry,
            "--style-image",
            &coffee,
            "--style-blend",
            "0.5,0.5",
        ],
    );
    assert!(
        blend.status.success(),
        "{}",
        String::from_utf8_lossy(&blend.stderr)
    );
    let a = image::open(dir.join("starry.png")).unwrap().to_rgb8();
    let b = image::open(dir.join("blend.png")).unwrap().to_rgb8();
    assert_eq!(a.dimensions(), (96, 64));
    let mad = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as f64)
        .sum::<f64>()
        / a.as_raw().len() as f64;
    assert!(
        mad > 2.0,
        "blending in another painting changed the output by only {mad}"
    );
    for (extra, says) in [
        (
            vec!["--style", "3", "--style-image", starry.as_str()],
            "cannot be used with",
        ),
        (
            vec!["--style-image", starry.as_str(), "--style-blend", "1"],
            "at least two",
        ),
        (
            vec![
                "--style-image",
                starry.as_str(),
                "--style-image",
                coffee.as_str(),
                "--style-blend",
                "1",
            ],
            "1 weights for 2 paintings",
        ),
        (
            vec!["--style-image", "/nonexistent/painting.jpg"],
            "painting.jpg",
        ),
    ] {
        let out = run("bad.png", &extra);
        let err = String::from_utf8_lossy(&out.stderr);
        // Options that exclude each other are a usage error (exit 2, as clap reports them);
        // the others are refused by the command (exit 1).
        let code = if says == "cannot be used with" { 2 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    assert!(!dir.join("bad.png").exists());
    // --tile: the same picture in 32 px tiles.
    let tiled = run("tiled.png", &["--style-image", &starry, "--tile", "32"]);
    assert!(
        tiled.status.success(),
        "{}",
        String::from_utf8_lossy(&tiled.stderr)
    );
    let t = image::open(dir.join("tiled.png")).unwrap().to_rgb8();
    let max = a
        .as_raw()
        .iter()
        .zip(t.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap();
    assert!(max <= 1, "--tile 32 changed the picture by {max} levels");
}

#[test]
fn profile_prints_each_dispatch_and_names_bad_requests() {
    let out = cli()
        .args(["profile", "multistyle", "--size", "32", "--runs", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("Adapter: "), "{text}");
    assert!(text.contains("Timed with "), "{text}");
    assert!(
        text.contains("| # | layer | kernel | output | ms | GFLOP/s | share |"),
        "{text}"
    );
    // The register-tiled kernel, or (natively on lavapipe) its subgroup twin.
    assert!(
        ["conv2d_tiled.wgsl", "conv2d_tiled_sg.wgsl"]
            .iter()
            .any(|k| text.contains(&format!("| 0 | contract.0 | {k} | ["))),
        "{text}"
    );
    assert!(
        text.contains("| kernel | dispatches | ms | share |"),
        "{text}"
    );
    assert!(
        text.contains("dispatches: ") && text.contains("as one submission"),
        "{text}"
    );
    for (args, want) in [
        (
            vec!["profile", "johnson"],
            "give the converted net with --model FILE",
        ),
        (
            vec!["profile", "multistyle", "--size", "8"],
            "--size must be at least 16",
        ),
        (
            vec!["profile", "multistyle", "--timing", "wall"],
            "invalid value 'wall'",
        ),
    ] {
        let out = cli().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
