//! Shared test helpers: one GPU context per test binary, seeded data, tolerance checks, and
//! the `gpu_test!` macro that turns one async body into a native `#[test]` (run with pollster
//! on lavapipe) and a `#[wasm_bindgen_test]` (run in headless Chromium on SwiftShader).

#![allow(dead_code)]

use webgpu_style_transfer::gpu::GpuContext;

#[cfg(not(target_arch = "wasm32"))]
pub type Ctx = std::sync::Arc<GpuContext>;
#[cfg(target_arch = "wasm32")]
pub type Ctx = std::rc::Rc<GpuContext>;

/// The test binary's GPU context. A missing adapter fails the test (it is never skipped).
#[cfg(not(target_arch = "wasm32"))]
pub async fn ctx() -> Ctx {
    static CTX: std::sync::OnceLock<Ctx> = std::sync::OnceLock::new();
    let init = || {
        let ctx = pollster::block_on(GpuContext::new());
        std::sync::Arc::new(ctx.unwrap_or_else(|e| panic!("the tests need a GPU adapter: {e}")))
    };
    CTX.get_or_init(init).clone()
}

#[cfg(target_arch = "wasm32")]
pub async fn ctx() -> Ctx {
    thread_local! {
        static CTX: std::cell::RefCell<Option<std::rc::Rc<GpuContext>>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(c) = CTX.with(|c| c.borrow().clone()) {
        return c;
    }
    let c = std::rc::Rc::new(
        GpuContext::new()
            .await
            .unwrap_or_else(|e| panic!("the tests need a GPU adapter: {e}")),
    );
    CTX.with(|slot| *slot.borrow_mut() = Some(c.clone()));
    c
}

/// Declares a test that runs natively and in the browser.
#[macro_export]
macro_rules! gpu_test {
    ($name:ident, $body:block) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            pollster::block_on(async $body)
        }
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() $body
    };
}

/// Deterministic values in [-1, 1) (xorshift32).
pub fn random(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f64 / u32::MAX as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// Asserts |got - want| <= abs + rel * |want| everywhere, naming the worst element.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], abs: f32, rel: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs expected {}",
        got.len(),
        want.len()
    );
    let mut worst = (0usize, 0.0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let excess = (g - w).abs() - (abs + rel * w.abs());
        assert!(!g.is_nan(), "{what}: NaN at {i} (expected {w})");
        if excess > worst.1 {
            worst = (i, excess);
        }
    }
    let (i, e) = worst;
    assert!(e <= 0.0, "{what}: element {i} is {} but expected {} (tolerance {abs} + {rel}*|ref|, exceeded by {e})", got[i], want[i]);
}

/// A scratch directory under the target folder, emptied first.
#[cfg(not(target_arch = "wasm32"))]
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
