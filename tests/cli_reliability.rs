//! The command line under hostile use: nothing the user has is lost or emptied, bad inputs and
//! outputs are refused before any work, damaged files and models are named errors, a closed
//! or full stdout does not panic, and Ctrl-C keeps the work done.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::scratch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_style-transfer"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a failed run whose message contains `says`, without a panic.
fn fails_saying(out: &Output, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(says), "expected '{says}' in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A small photo (a gradient) saved as `name` (PNG or JPEG by extension).
fn photo(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
    });
    let path = dir.join(name);
    img.save(&path).unwrap();
    path
}

fn stylize(args: &[&Path], extra: &[&str]) -> Output {
    let mut c = cli();
    c.arg("stylize");
    for a in args {
        c.arg(a);
    }
    c.args(extra).output().unwrap()
}

/// Files in `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn outputs_are_checked_before_any_work_and_never_emptied() {
    let dir = scratch("rel-outputs");
    let input = photo(&dir, "in.png", 24, 20);
    // An unknown format: refused, and no empty file left behind.
    let out = stylize(&[&input, Path::new("-o"), &dir.join("out.xyz")], &[]);
    fails_saying(&out, "unknown output format");
    assert!(!dir.join("out.xyz").exists());
    // ... and with --force an existing file of that name is left as it was.
    std::fs::write(dir.join("keep.xyz"), b"precious").unwrap();
    let out = stylize(
        &[&input, Path::new("-o"), &dir.join("keep.xyz")],
        &["--force"],
    );
    fails_saying(&out, "unknown output format");
    assert_eq!(std::fs::read(dir.join("keep.xyz")).unwrap(), b"precious");
    // A directory that does not exist.
    let out = stylize(
        &[&input, Path::new("-o"), &dir.join("no/such/dir/out.png")],
        &[],
    );
    fails_saying(&out, "no such directory");
    // A failure after the output was checked (a bad style) leaves nothing either.
    let out = stylize(
        &[&input, Path::new("-o"), &dir.join("o.png")],
        &["--style", "99"],
    );
    fails_saying(&out, "styles 0 to 25");
    assert_eq!(listing(&dir), ["in.png", "keep.xyz"]);
}

#[test]
fn a_batch_never_writes_two_photos_to_one_name_nor_onto_a_photo() {
    let dir = scratch("rel-batch");
    let a_png = photo(&dir, "a.png", 24, 20);
    let a_jpg = photo(&dir, "a.jpg", 20, 24);
    let outdir = dir.join("out");
    let out = stylize(&[&a_png, &a_jpg, Path::new("-o"), &outdir], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(listing(&outdir), ["a_jpg.png", "a_png.png"]);
    let (p, j) = (
        image::open(outdir.join("a_png.png")).unwrap(),
        image::open(outdir.join("a_jpg.png")).unwrap(),
    );
    assert_eq!(
        (p.width(), p.height(), j.width(), j.height()),
        (24, 20, 20, 24)
    );
    // Into the photos' own folder, a result would replace a photo: refused, all kept.
    let before = std::fs::read(&a_png).unwrap();
    let b = photo(&dir, "b.png", 16, 16);
    let out = stylize(&[&a_png, &b, Path::new("-o"), &dir], &["--force"]);
    fails_saying(&out, "would replace that photo");
    assert_eq!(std::fs::read(&a_png).unwrap(), before);
}

#[test]
fn damaged_photos_and_models_are_named_errors() {
    let dir = scratch("rel-damaged");
    // A JPEG cut short: decoders fill the missing rows with grey; here it is an error.
    let full = std::fs::read(photo(&dir, "full.jpg", 64, 48)).unwrap();
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &full[..full.len() * 2 / 3]).unwrap();
    let out = stylize(&[&cut, Path::new("-o"), &dir.join("o.png")], &[]);
    fails_saying(&out, "truncated");
    assert!(!dir.join("o.png").exists());

    // A model with a NaN weight would give a black picture: refused when it loads.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/johnson/seeded.safetensors"
    );
    let mut bytes = std::fs::read(fixture).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let start = 8 + header_len; // the first tensor's data (all f32 in this file)
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let model = dir.join("nan.safetensors");
    std::fs::write(&model, &bytes).unwrap();
    let input = photo(&dir, "in.png", 16, 16);
    let out = stylize(
        &[
            &input,
            Path::new("-o"),
            &dir.join("o.png"),
            Path::new("--model"),
            &model,
        ],
        &[],
    );
    fails_saying(&out, "finite numbers");
    assert!(!dir.join("o.png").exists());
}

#[test]
fn huge_style_weights_blend_like_equal_ones() {
    let dir = scratch("rel-weights");
    let input = photo(&dir, "in.png", 20, 16);
    let run = |name: &str, style: &str| {
        let out = stylize(
            &[&input, Path::new("-o"), &dir.join(name)],
            &["--style", style],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read(dir.join(name)).unwrap()
    };
    // 3e38 + 3e38 overflows f32: the blend used to be a flat grey picture.
    assert_eq!(run("huge.png", "3:3e38,4:3e38"), run("one.png", "3:1,4:1"));
}

#[test]
fn a_closed_stdout_is_quiet_and_a_full_one_is_an_error() {
    let mut child = cli()
        .arg("styles")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, as `| head -0` does
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = cli().arg("styles").stdout(full).output().unwrap();
    fails_saying(&out, "stdout: cannot write");
}

fn gatys_args(dir: &Path, extra: &[&str]) -> Command {
    let fix = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gatys/");
    let mut c = cli();
    c.arg("gatys")
        .arg(format!("{fix}content32.png"))
        .arg(format!("{fix}style32.png"))
        .args(["--size", "32", "--optimizer", "adam"])
        .arg("--log-json")
        .arg(dir.join("log.jsonl"))
        .args(extra);
    c
}

#[test]
fn gatys_refuses_unwritable_outputs_before_any_work() {
    let dir = scratch("rel-gatys-refused");
    // /proc takes no new files, even from root.
    let out = gatys_args(&dir, &["-o", "/proc/out.png", "--iterations", "2"])
        .output()
        .unwrap();
    fails_saying(&out, "/proc");
    // The refused run left no log behind to block the next one.
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
    // The style images, not the size, are the cause here: the advice names --style-scale.
    let o = dir.join("o.png");
    let out = gatys_args(&dir, &["--iterations", "2", "--style-scale", "60", "-o"])
        .arg(&o)
        .output()
        .unwrap();
    fails_saying(&out, "--style-scale");
    assert!(!stderr(&out).contains("--size 16"), "{}", stderr(&out));
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
}

/// Sends Ctrl-C (SIGINT) to a running command once `ready()` holds (and two seconds more, so
/// it is mid-work), then waits for it to end.
#[cfg(unix)]
fn interrupt_when(mut child: std::process::Child, ready: impl Fn() -> bool) -> Output {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(start.elapsed().as_secs() < 300, "the run never got going");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let _ = child.stdout.take();
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_gatys_and_keeps_the_picture_and_the_log() {
    let dir = scratch("rel-gatys-interrupt");
    let o = dir.join("o.png");
    let child = gatys_args(&dir, &["--init", "content", "--iterations", "100000", "-o"])
        .arg(&o)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the run is iterating (its log's temporary file exists), and a little later.
    let out = interrupt_when(child, || {
        listing(&dir).iter().any(|f| f.ends_with(".partial"))
    });
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("interrupted after") && err.contains("--init"),
        "{err}"
    );
    let img = image::open(&o).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
    let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    assert!(log.lines().count() >= 1, "{log}");
    assert_eq!(
        listing(&dir),
        ["log.jsonl", "o.png"],
        "no temporary file left"
    );
    // The picture so far is where a new run continues from.
    let out = gatys_args(&dir, &["--iterations", "1", "--force", "-o"])
        .arg(dir.join("more.png"))
        .args(["--init"])
        .arg(&o)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `train` on the Gatys fixtures' painting with a folder of two small photos, at 32 px.
fn train_args(dir: &Path, extra: &[&str]) -> Command {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gatys");
    let photos = dir.join("photos");
    if !photos.is_dir() {
        std::fs::create_dir_all(photos.join("sub")).unwrap();
        std::fs::copy(fixtures.join("content.png"), photos.join("a.png")).unwrap();
        std::fs::copy(fixtures.join("other.png"), photos.join("sub/b.png")).unwrap();
        std::fs::write(photos.join("broken.jpg"), b"not a jpeg").unwrap();
    }
    let mut c = cli();
    c.arg("train")
        .arg(fixtures.join("style.png"))
        .arg("--images")
        .arg(&photos)
        .args(["--batch", "1", "--style-size", "64"])
        .args(extra);
    if !extra.contains(&"--size") {
        c.args(["--size", "32"]);
    }
    c
}

#[test]
fn train_refuses_bad_settings_and_inputs_before_any_work() {
    let dir = scratch("rel-train-refuse");
    let out_path = dir.join("s.safetensors");
    let o = out_path.to_str().unwrap();
    let png = dir.join("s.png");
    let cases: [(&[&str], &str); 6] = [
        (&["--steps", "0", "-o", o], "at least 1"),
        (&["--size", "30", "-o", o], "--size must be a multiple of 4"),
        (
            &["--style-weight=-2", "-o", o],
            "style weight must be a finite number >= 0",
        ),
        (
            &["--tv-weight", "nan", "-o", o],
            "tv weight must be a finite number >= 0",
        ),
        (
            &["--style-layers", "relu5_1", "-o", o],
            "unknown layer 'relu5_1'",
        ),
        (&["-o", png.to_str().unwrap()], "written as .safetensors"),
    ];
    for (args, says) in cases {
        fails_saying(&train_args(&dir, args).output().unwrap(), says);
    }
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let painting = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gatys/style.png");
    let out = cli()
        .arg("train")
        .arg(&painting)
        .args(["-o", o, "--images"])
        .arg(&empty)
        .output()
        .unwrap();
    fails_saying(&out, "no usable photo");
    let out = cli()
        .args(["train", "missing.png", "-o", o, "--images"])
        .arg(dir.join("photos"))
        .output()
        .unwrap();
    fails_saying(&out, "missing.png");
    // An existing output or an earlier run's checkpoint is never replaced without --force.
    std::fs::write(&out_path, b"mine").unwrap();
    fails_saying(
        &train_args(&dir, &["-o", o]).output().unwrap(),
        "already exists",
    );
    assert_eq!(std::fs::read(&out_path).unwrap(), b"mine");
    std::fs::remove_file(&out_path).unwrap();
    std::fs::write(dir.join("s.checkpoint.safetensors"), b"run").unwrap();
    fails_saying(&train_args(&dir, &["-o", o]).output().unwrap(), "--resume");
    assert_eq!(
        listing(&dir),
        ["empty", "photos", "s.checkpoint.safetensors"]
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_checkpoints_training_and_resume_finishes_a_usable_style() {
    let dir = scratch("rel-train-interrupt");
    let style = dir.join("s.safetensors");
    let preview = dir.join("s.preview.png");
    let run = |extra: &[&str]| {
        let mut c = train_args(&dir, extra);
        c.arg("-o")
            .arg(&style)
            .arg("--log-json")
            .arg(dir.join("log.jsonl"));
        c.arg("--preview").arg(dir.join("photos/a.png"));
        c
    };
    let child = run(&[
        "--steps",
        "100000",
        "--checkpoint-every",
        "1",
        "--report-every",
        "1",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let checkpoint = dir.join("s.checkpoint.safetensors");
    let out = interrupt_when(child, || checkpoint.is_file());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("interrupted at step") && err.contains("--resume"),
        "{err}"
    );
    assert!(
        err.contains("1 of the files"),
        "the broken photo is counted: {err}"
    );
    assert!(!style.exists());
    let logged = std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert!(logged >= 1);
    // Resumed with the same settings and a number of steps past the checkpoint: it finishes,
    // writes the style, keeps the log's earlier lines and drops the checkpoint.
    let step: usize = {
        let bytes = std::fs::read(&checkpoint).unwrap();
        let file = webgpu_style_transfer::models::ModelFile::parse(&bytes).unwrap();
        file.meta("train.step").unwrap().parse().unwrap()
    };
    let steps = (step + 1).to_string();
    let out = run(&[
        "--steps",
        &steps,
        "--checkpoint-every",
        "1",
        "--report-every",
        "1",
        "--resume",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(style.is_file() && preview.is_file() && !checkpoint.exists());
    let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    assert!(log.lines().count() > logged, "{log}");
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], step + 1);
    assert!(last["style"].as_f64().unwrap() > 0.0);
    // The style runs alone and blended with a built-in one.
    let photo = dir.join("photos/a.png");
    for (flag, value, name) in [
        ("--model", style.to_str().unwrap().to_string(), "alone.png"),
        (
            "--style",
            format!("3:0.5,{}:0.5", style.display()),
            "blend.png",
        ),
    ] {
        let out = cli()
            .args(["stylize", flag, &value, "-o"])
            .arg(dir.join(name))
            .arg(&photo)
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
    }
    assert_ne!(
        std::fs::read(dir.join("alone.png")).unwrap(),
        std::fs::read(dir.join("blend.png")).unwrap()
    );
}

/// `train --net johnson`: a half-width net from scratch at 32 px, written as a Johnson net file
/// that `stylize --model` runs; then fine-tuned from it with --init, and refused where the
/// flags do not fit the net or the --init file is of another family.
#[test]
fn train_johnson_writes_a_net_that_stylizes_and_fine_tunes() {
    let dir = scratch("rel-train-johnson");
    let net = dir.join("j.safetensors");
    let n = net.to_str().unwrap();
    let out = train_args(
        &dir,
        &[
            "--net", "johnson", "--width", "0.5", "--steps", "2", "-o", n,
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let file =
        webgpu_style_transfer::models::ModelFile::parse(&std::fs::read(&net).unwrap()).unwrap();
    assert_eq!(file.family(), "johnson");
    assert_eq!(file.shape("conv1.weight"), Some(&[16, 3, 9, 9][..]));
    assert_eq!(file.meta("train.steps_done"), Some("2"));
    assert_eq!(file.meta("painting"), Some("style.png"));
    let styled = dir.join("styled.png");
    let out = cli()
        .args(["stylize", "--model"])
        .arg(&net)
        .arg("-o")
        .arg(&styled)
        .arg(dir.join("photos/a.png"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let tuned = dir.join("tuned.safetensors");
    let t = tuned.to_str().unwrap();
    let args = [
        "--net", "johnson", "--width", "0.5", "--steps", "1", "--init", n, "-o", t,
    ];
    let out = train_args(&dir, &args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let tuned =
        webgpu_style_transfer::models::ModelFile::parse(&std::fs::read(&tuned).unwrap()).unwrap();
    assert_eq!(tuned.meta("train.init_sha256"), Some(file.weights_sha256()));
    // Flags that do not fit the net, and an --init of another family or width.
    let o = dir.join("x.safetensors");
    let o = o.to_str().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let multi = models.join("multistyle26.safetensors");
    let multi = multi.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--width", "0.5", "-o", o],
            "--width and --init are for --net johnson",
        ),
        (
            &["--net", "johnson", "--init-style", "3", "-o", o],
            "--init-style",
        ),
        (
            &["--net", "johnson", "--init", multi, "-o", o],
            "not a 'johnson' one",
        ),
        (
            &["--net", "johnson", "--init", n, "-o", o],
            "give the matching --width",
        ),
    ];
    for (args, says) in cases {
        fails_saying(&train_args(&dir, args).output().unwrap(), says);
    }
    assert!(!Path::new(o).exists());
}
