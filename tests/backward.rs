//! Backward kernels against finite differences of the CPU oracles. Each check takes a scalar
//! L = sum(r * f(x)) with random r, runs the GPU backward with grad_out = r, and compares it with
//! central differences (L(x + e) - L(x - e)) / 2e over sampled coordinates.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{assert_close, ctx, random};
use webgpu_style_transfer::gpu::Plan;
use webgpu_style_transfer::ops::{self, Activation, Conv2dParams, Padding, PoolMode};
use webgpu_style_transfer::reference;

fn loss(r: &[f32], y: &[f32]) -> f64 {
    r.iter().zip(y).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Central differences of `f` at every `stride`-th coordinate of `x`.
fn finite_differences(
    x: &[f32],
    eps: f32,
    stride: usize,
    f: impl Fn(&[f32]) -> f64,
) -> Vec<(usize, f32)> {
    (0..x.len())
        .step_by(stride)
        .map(|i| {
            let mut xp = x.to_vec();
            xp[i] += eps;
            let mut xm = x.to_vec();
            xm[i] -= eps;
            (i, ((f(&xp) - f(&xm)) / (2.0 * eps as f64)) as f32)
        })
        .collect()
}

fn check(what: &str, analytic: &[f32], numeric: &[(usize, f32)], tol: f32) {
    let got: Vec<f32> = numeric.iter().map(|&(i, _)| analytic[i]).collect();
    let want: Vec<f32> = numeric.iter().map(|&(_, v)| v).collect();
    assert_close(what, &got, &want, tol, tol);
}

/// The input gradient of every conv the nets have: stride 1 and 2, zero and reflection padding,
/// 3x3 and 9x9 kernels, sizes the stride does not divide (the forward never reads the last row).
#[test]
fn conv2d_input_gradient() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let cases = [
            // (in c, h, w, out c, k, stride, padding): VGG's layer, the nets' stride-2 and
            // 9x9 reflection-padded layers, and a stride-2 zero-padded one.
            (3, 7, 6, 5, 3, 1, Padding::Zero),
            (3, 7, 6, 5, 3, 2, Padding::Reflect),
            (4, 8, 9, 3, 3, 2, Padding::Zero),
            (2, 11, 10, 3, 9, 1, Padding::Reflect),
            (5, 6, 5, 4, 3, 1, Padding::Reflect),
        ];
        for (i, &(c, h, w, oc, k, stride, padding)) in cases.iter().enumerate() {
            let seed = 200 + 10 * i as u32;
            let x = random(c * h * w, seed);
            let wt = random(oc * c * k * k, seed + 1);
            let p = Conv2dParams::padded(k / 2, padding).stride(stride);
            let (_, oh, ow) = reference::conv2d(&x, [c, h, w], &wt, [oc, c, k, k], None, &p);
            let r = random(oc * oh * ow, seed + 2);
            let grad = ops::InputGradient::new(&ctx, "conv", &wt, [oc, c, k, k], &p).unwrap();
            let rt = ctx.upload("r", &[oc, oh, ow], &r).unwrap();
            let mut plan = Plan::new("conv backward");
            let g = grad.record(&ctx, &mut plan, &rt, (h, w)).unwrap();
            plan.run(&ctx).await.unwrap();
            assert_eq!(g.shape(), &[c, h, w]);
            let analytic = ctx.read(&g).await.unwrap();
            let numeric = finite_differences(&x, 1e-2, 1, |x| {
                loss(
                    &r,
                    &reference::conv2d(x, [c, h, w], &wt, [oc, c, k, k], None, &p).0,
                )
            });
            let what = format!("conv {k}x{k}/{stride} {padding:?} input gradient");
            check(&what, &analytic, &numeric, 2e-3);
        }
        // Grouped (depthwise) layers are refused.
        let wt = random(3 * 3 * 3, 1);
        let dw = Conv2dParams {
            groups: 3,
            ..Conv2dParams::padded(1, Padding::Zero)
        };
        assert!(ops::InputGradient::new(&ctx, "dw", &wt, [3, 1, 3, 3], &dw).is_err());
        // An output gradient that is not the layer's output size is refused, naming both.
        let p = Conv2dParams::padded(1, Padding::Reflect);
        let grad = ops::InputGradient::new(&ctx, "c", &random(36, 3), [2, 2, 3, 3], &p).unwrap();
        let wrong = ctx.upload("r", &[2, 5, 5], &random(50, 4)).unwrap();
        let mut plan = Plan::new("conv backward");
        let err = grad.record(&ctx, &mut plan, &wrong, (6, 6)).err().unwrap();
        assert!(
            err.to_string()
                .contains("[2, 5, 5] is not the layer's 6x6 output"),
            "{err}"
        );
        // At stride 2 too (a 7x7 input's output is 4x4; a 3x3 gradient would fit, zero-filled).
        let grad = ops::InputGradient::new(&ctx, "c", &random(36, 3), [2, 2, 3, 3], &p.stride(2));
        let wrong = ctx.upload("r", &[2, 3, 3], &random(18, 4)).unwrap();
        let err = grad
            .unwrap()
            .record(&ctx, &mut plan, &wrong, (7, 7))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("[2, 3, 3] is not the layer's 4x4 output"),
            "{err}"
        );
    });
}

/// The weight and bias gradient oracle against finite differences of the convolution oracle:
/// the 9x9 reflection-padded first layer, the stride-2 layers (reflection, and zero padding at
/// a size the stride does not divide), at small sizes (every weight is checked).
#[test]
fn conv2d_weight_gradient_oracle() {
    for (i, &(c, h, w, oc, k, stride, padding)) in [
        (2, 10, 9, 3, 9, 1, Padding::Reflect),
        (3, 7, 6, 4, 3, 2, Padding::Reflect),
        (2, 8, 9, 3, 3, 2, Padding::Zero),
    ]
    .iter()
    .enumerate()
    {
        let seed = 500 + 10 * i as u32;
        let x = random(c * h * w, seed);
        let wt = random(oc * c * k * k, seed + 1);
        let b = random(oc, seed + 2);
        let p = Conv2dParams::padded(k / 2, padding).stride(stride);
        let shape = [oc, c, k, k];
        let (_, oh, ow) = reference::conv2d(&x, [c, h, w], &wt, shape, None, &p);
        let r = random(oc * oh * ow, seed + 3);
        let (dw, db) = reference::conv2d_weight_grad(&x, [c, h, w], &r, shape, &p);
        let f = |wt: &[f32], b: &[f32]| {
            loss(
                &r,
                &reference::conv2d(&x, [c, h, w], wt, shape, Some(b), &p).0,
            )
        };
        let numeric = finite_differences(&wt, 1e-2, 1, |wt| f(wt, &b));
        check(
            &format!("conv {k}x{k}/{stride} {padding:?} weight gradient"),
            &dw,
            &numeric,
            2e-3,
        );
        let numeric = finite_differences(&b, 1e-2, 1, |b| f(&wt, b));
        check(
            &format!("conv {k}x{k}/{stride} {padding:?} bias gradient"),
            &db,
            &numeric,
            2e-3,
        );
    }
}

#[test]
fn relu_gradient() {
    pollster::block_on(async {
        let ctx = ctx().await;
        // Keep values away from 0, where ReLU has no derivative.
        let x: Vec<f32> = random(301, 210)
            .iter()
            .map(|v| if v.abs() < 0.05 { 0.5 } else { *v })
            .collect();
        let y: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
        let r = random(301, 211);
        let yt = ctx.upload("y", &[301], &y).unwrap();
        let rt = ctx.upload("r", &[301], &r).unwrap();
        let mut plan = Plan::new("relu backward");
        let g = ops::relu_backward(&ctx, &mut plan, &rt, &yt).unwrap();
        plan.run(&ctx).await.unwrap();
        let analytic = ctx.read(&g).await.unwrap();
        let numeric = finite_differences(&x, 1e-3, 1, |x| {
            loss(&r, &x.iter().map(|v| v.max(0.0)).collect::<Vec<_>>())
        });
        check("relu gradient", &analytic, &numeric, 1e-3);
    });
}

#[test]
fn pooling_gradients() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let (c, h, w) = (3, 9, 8);
        let x = random(c * h * w, 220);
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        for (mode, k, s) in [
            (PoolMode::Max, 2, 2),
            (PoolMode::Avg, 2, 2),
            (PoolMode::Max, 3, 2),
            (PoolMode::Avg, 3, 1),
            (PoolMode::Max, 3, 3),
            (PoolMode::Avg, 3, 3),
        ] {
            let (_, oh, ow) = reference::pool2d(&x, c, h, w, mode, k, s);
            let r = random(c * oh * ow, 221);
            let rt = ctx.upload("r", &[c, oh, ow], &r).unwrap();
            let mut plan = Plan::new("pool backward");
            // The gradient reuses this released buffer of NaNs, so an element the kernel
            // leaves unwritten (one no window covers) fails the check.
            let junk = ctx
                .upload("junk", &[c, h, w], &vec![f32::NAN; c * h * w])
                .unwrap();
            plan.release(junk);
            let g = ops::pool2d_backward(&ctx, &mut plan, &xt, &rt, mode, k, s).unwrap();
            plan.run(&ctx).await.unwrap();
            let analytic = ctx.read(&g).await.unwrap();
            let numeric = finite_differences(&x, 1e-4, 1, |x| {
                loss(&r, &reference::pool2d(x, c, h, w, mode, k, s).0)
            });
            check(
                &format!("{mode:?} {k}x{k}/{s} gradient"),
                &analytic,
                &numeric,
                2e-3,
            );
        }
    });
}

#[test]
fn gram_gradient() {
    pollster::block_on(async {
        let ctx = ctx().await;
        // 6 channels run the naive 1x1 kernel (not a whole number of the tiled kernel's channel
        // blocks); 64 run the tiled one, whose weight layout is the transpose.
        for (c, h, w) in [(6, 5, 7), (64, 3, 5)] {
            let x = random(c * h * w, 230 + c as u32);
            let a = random(c * c, 231);
            // A symmetric R, as every loss written in terms of G gives.
            let r: Vec<f32> = (0..c * c)
                .map(|k| 0.5 * (a[k] + a[(k % c) * c + k / c]))
                .collect();
            let scale = 1.0 / (c * h * w) as f32;
            let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
            let rt = ctx.upload("r", &[c, c], &r).unwrap();
            let mut plan = Plan::new("gram backward");
            let g = ops::gram_backward(&ctx, &mut plan, &xt, &rt, scale).unwrap();
            plan.run(&ctx).await.unwrap();
            let analytic = ctx.read(&g).await.unwrap();
            let numeric = finite_differences(&x, 1e-2, 3, |x| {
                loss(&r, &reference::gram(x, c, h * w, scale))
            });
            check(
                &format!("gram gradient, {c} channels"),
                &analytic,
                &numeric,
                1e-3,
            );
        }
        let xt = ctx.upload("x", &[2, 2, 2], &[0.0; 8]).unwrap();
        let bad = ctx.upload("r", &[3, 3], &[0.0; 9]).unwrap();
        let mut plan = Plan::new("bad");
        assert!(ops::gram_backward(&ctx, &mut plan, &xt, &bad, 1.0).is_err());
    });
}

#[test]
fn total_variation_gradient() {
    pollster::block_on(async {
        let ctx = ctx().await;
        let (c, h, w) = (3, 7, 9);
        let x = random(c * h * w, 240);
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let mut plan = Plan::new("tv backward");
        let g = ops::total_variation_backward(&ctx, &mut plan, &xt, 0.25).unwrap();
        plan.run(&ctx).await.unwrap();
        let analytic = ctx.read(&g).await.unwrap();
        let numeric = finite_differences(&x, 1e-2, 1, |x| {
            0.25 * reference::total_variation(x, c, h, w)
        });
        check("total variation gradient", &analytic, &numeric, 1e-3);
    });
}

/// Instance norm (the transform nets' conditional norm) to x, gamma and beta: finite
/// differences of the CPU forward, and the CPU oracle's closed form, at a plane of 35 (not a
/// multiple of the workgroup) and at one of 600 (several values per thread).
#[test]
fn instance_norm_gradients() {
    pollster::block_on(async {
        let ctx = ctx().await;
        for (c, h, w) in [(3, 5, 7), (2, 20, 30)] {
            let (plane, eps) = (h * w, 1e-5);
            let x = random(c * plane, 240 + c as u32);
            let gamma: Vec<f32> = random(c, 241).iter().map(|v| 1.0 + v).collect();
            let beta = random(c, 242);
            let r = random(c * plane, 243);
            let forward = |x: &[f32], g: &[f32], b: &[f32]| {
                let y = reference::instance_norm(x, c, plane, g, b, eps, Activation::None);
                loss(&r, &y)
            };
            let (xt, gt) = (
                ctx.upload("x", &[c, h, w], &x).unwrap(),
                ctx.upload("gamma", &[c], &gamma).unwrap(),
            );
            let rt = ctx.upload("r", &[c, h, w], &r).unwrap();
            let mut plan = Plan::new("instance norm backward");
            let stats = ops::instance_norm_stats(&ctx, &mut plan, &xt).unwrap();
            let grads =
                ops::instance_norm_backward(&ctx, &mut plan, &xt, &stats, &gt, &rt, eps).unwrap();
            plan.run(&ctx).await.unwrap();
            let gx = ctx.read(&grads.x).await.unwrap();
            let params = ctx.read(&grads.params).await.unwrap();
            let (dgamma, dbeta): (Vec<f32>, Vec<f32>) =
                params.chunks(2).map(|p| (p[0], p[1])).unzip();
            // The closed form of the oracle, everywhere.
            let (want_x, want_g, want_b) =
                reference::instance_norm_backward(&x, c, plane, &gamma, &r, eps);
            assert_close("instance norm dx (oracle)", &gx, &want_x, 1e-4, 1e-4);
            assert_close(
                "instance norm dgamma (oracle)",
                &dgamma,
                &want_g,
                1e-4,
                1e-4,
            );
            assert_close("instance norm dbeta (oracle)", &dbeta, &want_b, 1e-4, 1e-4);
            // Finite differences: an independent check of the formulas themselves.
            let numeric = finite_differences(&x, 1e-2, 7, |x| forward(x, &gamma, &beta));
            check("instance norm dx", &gx, &numeric, 2e-3);
            let numeric = finite_differences(&gamma, 1e-2, 1, |g| forward(&x, g, &beta));
            check("instance norm dgamma", &dgamma, &numeric, 2e-3);
            let numeric = finite_differences(&beta, 1e-2, 1, |b| forward(&x, &gamma, b));
            check("instance norm dbeta", &dbeta, &numeric, 2e-3);
        }
    });
}

/// Nearest upsampling x2 (and x3) backward: each input's gradient sums its block.
#[test]
fn upsample_gradient() {
    pollster::block_on(async {
        let ctx = ctx().await;
        for f in [2, 3] {
            let (c, h, w) = (3, 5, 7);
            let x = random(c * h * w, 250);
            let r = random(c * h * w * f * f, 251);
            let rt = ctx.upload("r", &[c, h * f, w * f], &r).unwrap();
            let mut plan = Plan::new("upsample backward");
            let g = ops::upsample_nearest_backward(&ctx, &mut plan, &rt, f).unwrap();
            plan.run(&ctx).await.unwrap();
            assert_eq!(g.shape(), &[c, h, w]);
            let analytic = ctx.read(&g).await.unwrap();
            let numeric = finite_differences(&x, 1e-2, 1, |x| {
                loss(&r, &reference::upsample_nearest(x, c, h, w, f))
            });
            check(
                &format!("upsample x{f} gradient"),
                &analytic,
                &numeric,
                1e-3,
            );
        }
        let odd = ctx.upload("odd", &[1, 5, 4], &[0.0; 20]).unwrap();
        let mut plan = Plan::new("bad");
        assert!(ops::upsample_nearest_backward(&ctx, &mut plan, &odd, 2).is_err());
    });
}

/// Sigmoid, ReLU6 and identity backward from the activation's output.
#[test]
fn activation_gradients() {
    pollster::block_on(async {
        let ctx = ctx().await;
        // Away from ReLU6's kinks at 0 and 6.
        let x: Vec<f32> = random(257, 260).iter().map(|v| 3.0 + 4.0 * v).collect();
        let x: Vec<f32> = x
            .iter()
            .map(|&v| {
                if v.abs() < 0.05 || (v - 6.0).abs() < 0.05 {
                    1.0
                } else {
                    v
                }
            })
            .collect();
        let r = random(257, 261);
        let rt = ctx.upload("r", &[257], &r).unwrap();
        for act in [Activation::Sigmoid, Activation::Relu6, Activation::None] {
            let y: Vec<f32> = x.iter().map(|&v| act.apply(v)).collect();
            let yt = ctx.upload("y", &[257], &y).unwrap();
            let mut plan = Plan::new("activation backward");
            let g = ops::activation_backward(&ctx, &mut plan, &rt, &yt, act).unwrap();
            plan.run(&ctx).await.unwrap();
            let analytic = ctx.read(&g).await.unwrap();
            let numeric = finite_differences(&x, 1e-3, 1, |x| {
                loss(&r, &x.iter().map(|&v| act.apply(v)).collect::<Vec<_>>())
            });
            check(&format!("{act:?} gradient"), &analytic, &numeric, 1e-3);
        }
    });
}
