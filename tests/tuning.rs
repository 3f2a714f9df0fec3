//! Kernel tuning: a net's missing choices are timed and kept (never slower than the fixed
//! choice when timed), the budget bounds it, the table survives the cache file, a tuned net
//! draws the same picture, and the command line's `--tune` modes do what they say. A binary of
//! its own: tuning notes every convolution recorded on its context while it collects.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::result_large_err)] // the engine's errors carry names and advice

mod common;

use std::path::Path;
use std::process::Command;

use common::{ctx, random, scratch};
use webgpu_style_transfer::clock::now_ms;
use webgpu_style_transfer::gpu::{GpuContext, Plan, Tensor, TuneMode, TuningTable};
use webgpu_style_transfer::ops::conv2d_tune::{time_problem, ConvProblem};
use webgpu_style_transfer::ops::{
    Activation, Conv2d, Conv2dParams, ConvKernel, Padding, TileChoice, Tiling,
};
use webgpu_style_transfer::tune::{self, cache};
use webgpu_style_transfer::Result;

/// A two-layer "net" of this test's own shapes on a [3, H, W] input.
fn layers(ctx: &GpuContext, out_c: usize) -> (Conv2d, Conv2d) {
    let p = Conv2dParams::padded(1, Padding::Reflect).activation(Activation::Relu);
    let a = Conv2d::new(ctx, "a", &random(out_c * 27, 1), [out_c, 3, 3, 3], None, p).unwrap();
    let w2 = random(8 * out_c * 9, 2);
    let b = Conv2d::new(ctx, "b", &w2, [8, out_c, 3, 3], None, p.stride(2)).unwrap();
    (a, b)
}

fn record(
    ctx: &GpuContext,
    (a, b): &(Conv2d, Conv2d),
    plan: &mut Plan,
    x: &Tensor,
) -> Result<Tensor> {
    let y = a.record(ctx, plan, x)?;
    b.record(ctx, plan, &y)
}

async fn run(ctx: &GpuContext, net: &(Conv2d, Conv2d), x: &Tensor) -> Vec<f32> {
    let mut plan = Plan::new("net");
    let y = record(ctx, net, &mut plan, x).unwrap();
    plan.run(ctx).await.unwrap();
    ctx.read(&y).await.unwrap()
}

#[test]
fn a_net_is_tuned_within_its_budget_and_draws_the_same_picture() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let net = layers(&ctx, 20);
        let (h, w) = (30, 22);
        let x = ctx.upload("x", &[3, h, w], &random(3 * h * w, 3)).unwrap();
        let rec = |plan: &mut Plan, x: &Tensor| record(&ctx, &net, plan, x);
        ctx.set_tune_mode(TuneMode::Off);
        let fixed = run(&ctx, &net, &x).await;
        ctx.set_tune_mode(TuneMode::Cached);

        // No time at all: every layer is left for later, nothing is timed or kept.
        let r = tune::tune_net(&ctx, &rec, (h, w), 1e-9, &now_ms)
            .await
            .unwrap();
        assert_eq!((r.tuned.len(), r.left, r.cached), (0, 2, 0), "{r:?}");
        assert!(ctx.tuning_table().is_empty());

        let r = tune::tune_net(&ctx, &rec, (h, w), 600e3, &now_ms)
            .await
            .unwrap();
        assert_eq!((r.tuned.len(), r.left, r.cached), (2, 0, 0), "{r:?}");
        for t in &r.tuned {
            let choice = TileChoice::parse(&t.tuned.choice).expect("a tile");
            assert!(
                matches!(choice, TileChoice::Registers(_) | TileChoice::Subgroup(_)),
                "{t:?}"
            );
            assert!(t.tuned.ms <= t.tuned.fixed_ms, "{t:?}");
            assert_eq!(t.timed, t.offered, "a whole budget times every tile: {t:?}");
            // Another tile is kept only if it beat the fixed one by the 5 % margin.
            assert!(
                t.tuned.choice == t.tuned.fixed || t.tuned.ms < 0.95 * t.tuned.fixed_ms,
                "{t:?}"
            );
            assert_eq!(ctx.tuning_table().get(&t.key), Some(&t.tuned));
            assert!(
                t.key.starts_with("conv2d 3->20 3x3 s1")
                    || t.key.starts_with("conv2d 20->8 3x3 s2"),
                "{}",
                t.key
            );
        }
        assert!(
            r.summary().contains("tuned 2 layer shape(s)"),
            "{}",
            r.summary()
        );
        // A second tuning finds both cached and times nothing.
        let again = tune::tune_net(&ctx, &rec, (h, w), 600e3, &now_ms)
            .await
            .unwrap();
        assert_eq!((again.tuned.len(), again.cached), (0, 2), "{again:?}");

        // Whatever was chosen, the picture is the fixed kernels' to the bit; to check that a
        // choice is really used, make every layer take a tile other than its own.
        assert_eq!(run(&ctx, &net, &x).await, fixed);
        let mut forced = TuningTable::default();
        for (key, t) in ctx.tuning_table().entries() {
            // The fixed choice: the layer's register tile, with shared weight loads where the
            // device has subgroups.
            let own = match TileChoice::parse(&t.fixed) {
                Some(TileChoice::Registers(t) | TileChoice::Subgroup(t)) => t,
                other => panic!("{key}: fixed choice {other:?}"),
            };
            let other = Tiling {
                tile_px: if own.tile_px == 4 { 8 } else { 4 },
                tile_co4: 1,
                ..own
            };
            let tuned = webgpu_style_transfer::gpu::Tuned {
                choice: other.to_string(),
                ..t.clone()
            };
            forced.insert(key, tuned).unwrap();
        }
        let saved = ctx.tuning_table();
        ctx.load_tuning(forced);
        let mut plan = Plan::new("forced");
        let _ = record(&ctx, &net, &mut plan, &x).unwrap();
        let grids: Vec<[u32; 3]> = plan.dispatches().iter().map(|d| d.workgroups()).collect();
        ctx.set_tune_mode(TuneMode::Off);
        let mut plan = Plan::new("fixed");
        let _ = record(&ctx, &net, &mut plan, &x).unwrap();
        let fixed_grids: Vec<[u32; 3]> = plan.dispatches().iter().map(|d| d.workgroups()).collect();
        assert_ne!(grids, fixed_grids, "tuned tiles change the dispatch grid");
        ctx.set_tune_mode(TuneMode::Cached);
        assert_eq!(run(&ctx, &net, &x).await, fixed, "forced tiles, same bits");
        ctx.load_tuning(saved);

        // The table survives its cache file, adapter line and all.
        let dir = scratch("tuning-cache");
        let path = cache::file(&ctx, &dir.join("sub"));
        cache::save(&ctx, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("# adapter: {}", ctx.tuning_key())),
            "{text}"
        );
        let back = TuningTable::parse(&text, "cache").unwrap();
        assert_eq!(back, ctx.tuning_table());
        assert_eq!(cache::load(&ctx, &dir.join("missing.txt")).unwrap(), 0);
        std::fs::write(dir.join("bad.txt"), "garbage\n").unwrap();
        let e = cache::load(&ctx, &dir.join("bad.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.txt") && e.contains("not a tuning table"),
            "{e}"
        );
        assert!(matches!(net.0.kernel(), ConvKernel::Tiled(_)));
    });
}

#[test]
fn the_budget_stops_a_layers_timing_between_tiles() {
    pollster::block_on(async {
        // A context of its own: the test above tunes, loads and switches its context's table
        // while this one runs, and a tuning collects every miss recorded on its context.
        let ctx = GpuContext::new().await.unwrap();
        let (a, _) = layers(&ctx, 20);
        let problem = ConvProblem {
            shape: [20, 3, 3, 3],
            params: Conv2dParams::padded(1, Padding::Reflect).activation(Activation::Relu),
            stored: [3, 30, 22],
            upsample: 1,
            map: None,
            co_pad: a.padded_out_channels(),
        };
        // Past the deadline from the start: the fixed tile alone is timed, and kept.
        let cut = time_problem(&ctx, &problem, 1, f64::NEG_INFINITY, None, &now_ms)
            .await
            .unwrap();
        assert_eq!(cut.timed, 1, "{cut:?}");
        assert!(cut.offered > 1, "{cut:?}");
        assert_eq!(cut.tuned.choice, problem.fixed(&ctx).to_string());
        assert_eq!(cut.tuned.resume_at, Some(1));
        let whole = time_problem(&ctx, &problem, 1, f64::INFINITY, None, &now_ms)
            .await
            .unwrap();
        assert_eq!(whole.timed, whole.offered, "{whole:?}");
        assert_eq!(whole.tuned.resume_at, None);
        // Resumed: the rest of the tiles are timed; a second cut keeps the count where it was.
        let again = time_problem(
            &ctx,
            &problem,
            1,
            f64::NEG_INFINITY,
            Some(&cut.tuned),
            &now_ms,
        )
        .await
        .unwrap();
        assert_eq!(
            (again.timed, again.tuned.resume_at),
            (1, Some(1)),
            "{again:?}"
        );
        let rest = time_problem(&ctx, &problem, 1, f64::INFINITY, Some(&cut.tuned), &now_ms)
            .await
            .unwrap();
        assert_eq!(
            (rest.timed, rest.tuned.resume_at),
            (rest.offered, None),
            "{rest:?}"
        );

        let report = tune::TuneReport {
            tuned: vec![tune::TunedProblem {
                key: "conv2d".into(),
                tuned: cut.tuned,
                timed: cut.timed,
                offered: cut.offered,
            }],
            ..Default::default()
        };
        assert_eq!(report.cut_short(), 1);
        let line = report.summary();
        assert!(
            line.contains("1 cut short by the budget (the best of the tiles timed is kept, the next tuning times the rest)"),
            "{line}"
        );

        // A net's tuning whose budget runs out during its first layer (a clock that jumps a
        // second at each reading): that layer is cut short, the other left; the next tuning
        // times the rest of the first and the second.
        let net = layers(&ctx, 12);
        let (h, w) = (30, 22);
        let rec = |plan: &mut Plan, x: &Tensor| record(&ctx, &net, plan, x);
        let ticks = std::cell::Cell::new(0.0);
        let jumping = || {
            ticks.set(ticks.get() + 1e3);
            ticks.get()
        };
        let r = tune::tune_net(&ctx, &rec, (h, w), 1.5e3, &jumping)
            .await
            .unwrap();
        assert_eq!((r.tuned.len(), r.cut_short(), r.left), (1, 1, 1), "{r:?}");
        let cut_key = &r.tuned[0].key;
        assert!(ctx.tuning_table().get(cut_key).unwrap().resume_at.is_some());
        let r = tune::tune_net(&ctx, &rec, (h, w), 600e3, &now_ms)
            .await
            .unwrap();
        assert_eq!(
            (r.tuned.len(), r.cut_short(), r.left, r.cached),
            (2, 0, 0, 0),
            "{r:?}"
        );
        assert!(r.tuned.iter().all(|t| t.timed == t.offered), "{r:?}");
        assert!(ctx
            .tuning_table()
            .entries()
            .all(|(_, t)| t.resume_at.is_none()));

        // A tuning started while another collects on the same context is refused by name,
        // and the first goes on undisturbed.
        let inner = std::cell::RefCell::new(None);
        let nested = |plan: &mut Plan| {
            let second = tune::tune_plan(&ctx, &|_| Ok(()), 1e3, &now_ms);
            *inner.borrow_mut() = Some(pollster::block_on(second));
            let x = ctx.tensor("x", &[3, h, w], webgpu_style_transfer::gpu::DType::F32)?;
            record(&ctx, &net, plan, &x).map(drop)
        };
        let r = tune::tune_plan(&ctx, &nested, 600e3, &now_ms)
            .await
            .unwrap();
        assert_eq!((r.tuned.len(), r.cached), (0, 2), "{r:?}");
        let e = inner.take().unwrap().unwrap_err().to_string();
        assert!(e.contains("another tuning is collecting"), "{e}");
    });
}

fn cli(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_style-transfer"));
    c.env(cache::DIR_VAR, cache);
    c
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn the_command_line_tunes_once_keeps_the_cache_and_never_changes_the_picture() {
    let dir = scratch("tuning-cli");
    let cache_dir = dir.join("cache");
    let photo = dir.join("photo.png");
    image::RgbImage::from_fn(40, 28, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 9) as u8, 90])
    })
    .save(&photo)
    .unwrap();
    let stylize = |tune: &str, out: &str| {
        let o = dir.join(out);
        let res = cli(&cache_dir)
            .args([
                "stylize",
                "--style",
                "3",
                "--tune",
                tune,
                "--tune-budget",
                "600",
            ])
            .arg(&photo)
            .arg("-o")
            .arg(&o)
            .output()
            .unwrap();
        assert!(res.status.success(), "{}", text(&res.stderr));
        (std::fs::read(o).unwrap(), text(&res.stderr))
    };
    let (fixed, _) = stylize("off", "off.png");
    assert!(!cache_dir.exists(), "--tune off writes no cache");
    let (tuned, err) = stylize("full", "full.png");
    assert!(err.contains("tuned ") && err.contains("at 40x28"), "{err}");
    assert_eq!(tuned, fixed, "tuning never changes the picture");
    let files: Vec<_> = std::fs::read_dir(&cache_dir).unwrap().collect();
    assert_eq!(files.len(), 1, "one cache file for this adapter");
    // The next run finds everything cached and times nothing.
    let (again, err) = stylize("full", "again.png");
    assert!(!err.contains("tuned "), "{err}");
    assert_eq!(again, fixed);
    let info = cli(&cache_dir).arg("info").output().unwrap();
    let out = text(&info.stdout);
    assert!(
        out.contains("tuning:       cached") && out.contains("layer shape(s) tuned"),
        "{out}"
    );
    assert!(out.contains("conv2d 3->32 9x9 s1"), "{out}");

    // A damaged cache is named, left as it is, and the photo is still stylized.
    let path = files[0].as_ref().unwrap().path();
    std::fs::write(&path, "not a table\n").unwrap();
    let (damaged, err) = stylize("full", "damaged.png");
    assert!(
        err.contains("warning: the kernel tuning cache is not used")
            && err.contains("not a tuning table"),
        "{err}"
    );
    assert_eq!(damaged, fixed);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a table\n");

    // Gatys tunes its gradient evaluation at the stage's size; a small budget leaves layers
    // for a later run, saying so, and keeps what it timed.
    let fix = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gatys/");
    let res = cli(&dir.join("gatys-cache"))
        .arg("gatys")
        .arg(format!("{fix}content32.png"))
        .arg(format!("{fix}style32.png"))
        .arg("-o")
        .arg(dir.join("gatys.png"))
        .args(["--size", "32", "--iterations", "2", "--optimizer", "adam"])
        .args(["--tune", "full", "--tune-budget", "3"])
        .output()
        .unwrap();
    let err = text(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("left for the next tuning (budget spent)") && err.contains("at 32x32"),
        "{err}"
    );
    let saved: Vec<_> = std::fs::read_dir(dir.join("gatys-cache"))
        .unwrap()
        .collect();
    assert_eq!(saved.len(), 1, "{err}");

    let bad = cli(&cache_dir)
        .args(["info", "--tune", "fast"])
        .output()
        .unwrap();
    assert!(
        !bad.status.success() && text(&bad.stderr).contains("off, cached, full"),
        "{}",
        text(&bad.stderr)
    );
    let bad = cli(&cache_dir)
        .args(["info", "--tune-budget", "0"])
        .output()
        .unwrap();
    assert!(
        !bad.status.success() && text(&bad.stderr).contains("positive time"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn plan_caches_record_again_when_the_tuning_changes() {
    pollster::block_on(async {
        // A context of its own: the other tests here change their context's tuning.
        let ctx = GpuContext::new().await.unwrap();
        let cache: webgpu_style_transfer::gpu::PlanCache<u32, u32> = Default::default();
        let made = std::cell::Cell::new(0);
        let get = || {
            let make = || {
                made.set(made.get() + 1);
                Ok((7, 0))
            };
            cache.with(&ctx, 1, make, |v| Ok(*v)).unwrap()
        };
        assert_eq!((get(), get()), (7, 7));
        assert_eq!(made.get(), 1, "a plan is recorded once");
        ctx.load_tuning(TuningTable::default());
        get();
        assert_eq!(made.get(), 2, "new tuned choices: recorded again");
        ctx.set_tune_mode(TuneMode::Cached);
        get();
        assert_eq!(made.get(), 2, "the same mode is no change");
        ctx.set_tune_mode(TuneMode::Off);
        get();
        assert_eq!(made.get(), 3, "another mode: recorded again");
    });
}
