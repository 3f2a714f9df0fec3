//! The native command line: `info` reports the adapter, bad arguments are clear errors.
#![cfg(not(target_arch = "wasm32"))]

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

/// A scratch directory under the target folder, emptied first.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
