//! Every op on the GPU against its CPU oracle in `webgpu_style_transfer::reference`, at awkward
//! sizes (odd widths, channel counts that are not multiples of 4, sizes that do not divide the
//! workgroup or the tile, 1x1 inputs). The same tests run natively and in headless Chromium.
//!
//! Tolerances: GPU f32 sums in a different order from the f64 oracles, so each check allows
//! `abs + rel * |ref|`, sized from the number of terms summed (a k x k x C conv sums k*k*C
//! products of values in [-1, 1]).

mod common;

use common::{assert_close, ctx, random};
use webgpu_style_transfer::gpu::{DType, Plan};
use webgpu_style_transfer::ops::{
    self, Activation, ChannelAffine, Conv2d, Conv2dParams, ConvInput, ConvKernel, Padding,
    PixelMap, PoolMode, Reduction, TileChoice, Tiling, Unary,
};
use webgpu_style_transfer::{reference, Error};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// One convolution case: input [c, h, w], weights [out_c, c / groups, k, k].
struct ConvCase {
    c: usize,
    h: usize,
    w: usize,
    out_c: usize,
    k: usize,
    params: Conv2dParams,
    bias: bool,
}

async fn check_conv(case: ConvCase, kernel: ConvKernel, seed: u32) {
    check_conv_choice(case, kernel, None, seed).await;
}

/// [`check_conv`] of a layer built for `kernel` and run with `choice` (as a tuned layer is, or
/// as it records without one); returns the dispatches the layer recorded.
async fn check_conv_choice(
    case: ConvCase,
    kernel: ConvKernel,
    choice: Option<TileChoice>,
    seed: u32,
) -> usize {
    let ctx = ctx().await;
    let ConvCase {
        c,
        h,
        w,
        out_c,
        k,
        params,
        bias,
    } = case;
    let cig = c / params.groups;
    let x = random(c * h * w, seed);
    let wt = random(out_c * cig * k * k, seed + 1);
    let b = random(out_c, seed + 2);
    let bias = bias.then_some(b.as_slice());
    let (want, oh, ow) = reference::conv2d(&x, [c, h, w], &wt, [out_c, cig, k, k], bias, &params);

    let conv =
        Conv2d::with_kernel(&ctx, "conv", &wt, [out_c, cig, k, k], bias, params, kernel).unwrap();
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    let mut plan = Plan::new("conv test");
    let y = match choice {
        None => conv.record(&ctx, &mut plan, &xt),
        Some(t) => conv.record_choice(&ctx, &mut plan, &xt, Default::default(), t),
    }
    .unwrap();
    assert_eq!(y.shape(), &[out_c, oh, ow]);
    plan.run(&ctx).await.unwrap();
    let got = ctx.read(&y).await.unwrap();
    let terms = (cig * k * k) as f32;
    assert_close(
        &format!("conv {kernel:?} {choice:?} {c}x{h}x{w} -> {out_c} k{k} {params:?}"),
        &got,
        &want,
        1e-6 * terms + 1e-5,
        1e-5,
    );
    plan.dispatches().len()
}

/// The tile the engine picks for a layer of `out_c` channels, `k_w` wide, at `stride`.
fn layer_tile(out_c: usize, k_w: usize, stride: usize) -> ConvKernel {
    ConvKernel::Tiled(Tiling::for_layer(out_c, k_w, stride))
}

fn tiled(px: usize, co4: usize) -> ConvKernel {
    ConvKernel::Tiled(Tiling {
        tile_px: px,
        tile_co4: co4,
        wg_x: 8,
        wg_y: 8,
    })
}

gpu_test!(conv_naive_zero_pad_bias_relu, {
    let p = Conv2dParams::padded(1, Padding::Zero).activation(Activation::Relu);
    check_conv(
        ConvCase {
            c: 5,
            h: 33,
            w: 31,
            out_c: 7,
            k: 3,
            params: p,
            bias: true,
        },
        ConvKernel::Naive,
        1,
    )
    .await;
});

gpu_test!(conv_naive_stride2_reflect, {
    let p = Conv2dParams::padded(1, Padding::Reflect).stride(2);
    check_conv(
        ConvCase {
            c: 6,
            h: 17,
            w: 22,
            out_c: 5,
            k: 3,
            params: p,
            bias: false,
        },
        ConvKernel::Naive,
        2,
    )
    .await;
});

gpu_test!(conv_naive_depthwise_asymmetric_pad_relu6, {
    // TensorFlow-style "SAME" padding for a stride-2 depthwise conv: nothing top/left, one
    // row/column bottom/right, as MobileNetV2 exports have.
    let p = Conv2dParams {
        stride: 2,
        pad: [0, 0, 1, 1],
        padding: Padding::Zero,
        groups: 6,
        activation: Activation::Relu6,
    };
    check_conv(
        ConvCase {
            c: 6,
            h: 15,
            w: 12,
            out_c: 6,
            k: 3,
            params: p,
            bias: true,
        },
        ConvKernel::Naive,
        3,
    )
    .await;
});

gpu_test!(conv_depthwise_every_predictor_shape, {
    // The register-tiled depthwise kernel on the MobileNetV2 predictor's shapes at awkward
    // sizes: stride 1 with symmetric zero padding, stride 2 with TensorFlow's "SAME" padding
    // (nothing top/left), widths the tile does not divide, 1 and 16 pixels an invocation, a
    // reflection-padded 5x5 and a 9x9, a 1x1 input; against the oracle like the other kernels.
    let same = Conv2dParams {
        stride: 2,
        pad: [0, 0, 1, 1],
        padding: Padding::Zero,
        groups: 7,
        activation: Activation::Relu6,
    };
    let cases = [
        (
            7,
            13,
            19,
            3,
            Conv2dParams::padded(1, Padding::Zero)
                .groups(7)
                .activation(Activation::Relu6),
            8,
            true,
        ),
        (7, 15, 12, 3, same, 8, true),
        (7, 16, 21, 3, same, 16, false),
        (
            5,
            9,
            23,
            3,
            Conv2dParams::padded(1, Padding::Zero).groups(5),
            1,
            true,
        ),
        (
            6,
            11,
            14,
            5,
            Conv2dParams::padded(2, Padding::Reflect)
                .groups(6)
                .stride(2),
            4,
            true,
        ),
        (
            4,
            12,
            10,
            9,
            Conv2dParams::padded(4, Padding::Reflect).groups(4),
            16,
            false,
        ),
        (
            3,
            1,
            1,
            3,
            Conv2dParams::padded(1, Padding::Zero).groups(3),
            8,
            true,
        ),
    ];
    for (i, (c, h, w, k, params, tile_px, bias)) in cases.into_iter().enumerate() {
        let case = ConvCase {
            c,
            h,
            w,
            out_c: c,
            k,
            params,
            bias,
        };
        check_conv(case, ConvKernel::Depthwise { tile_px }, 600 + i as u32).await;
    }
});

// Depthwise layers whose rows are whole vec4s run conv2d_depthwise_v4.wgsl (vec4 loads and
// stores): every start of the window in its first vec4 (left padding 0-3), strides 1 and 2,
// kernels 1-9, tiles of 4, 8 and 16 px (one leaving a tile half past the edge), rows padded by
// reflection; each gives the scalar kernel's bits (run with 2 px) and matches the oracle. An
// output whose width is not a multiple of 4 runs the scalar kernel.
gpu_test!(depthwise_rows_of_vec4_give_the_scalar_kernels_bits, {
    let ctx = ctx().await;
    let zero = |pad: usize, stride: usize| {
        Conv2dParams::padded(pad, Padding::Zero)
            .stride(stride)
            .activation(Activation::Relu6)
    };
    let same = Conv2dParams {
        stride: 2,
        pad: [0, 0, 1, 1],
        padding: Padding::Zero,
        groups: 1,
        activation: Activation::None,
    };
    let rows_reflected = Conv2dParams {
        stride: 1,
        pad: [2, 0, 2, 0],
        padding: Padding::Reflect,
        groups: 1,
        activation: Activation::Relu,
    };
    // (channels, h, w, k, params, px, runs the vec4 kernel)
    let cases = [
        (5, 16, 16, 3, zero(1, 1), 4, true),
        (5, 16, 16, 3, zero(1, 1), 16, true),
        (3, 16, 24, 3, same, 8, true),
        (4, 12, 20, 5, zero(2, 1), 8, true),
        (2, 20, 32, 7, zero(3, 2), 16, true),
        (3, 8, 8, 9, zero(4, 1), 4, true),
        (6, 8, 12, 5, rows_reflected, 4, true),
        (3, 7, 8, 1, zero(0, 1), 8, true),
        (3, 9, 12, 3, zero(0, 1), 8, false),
    ];
    for (i, (c, h, w, k, params, px, vec4)) in cases.into_iter().enumerate() {
        let params = params.groups(c);
        let seed = 700 + 3 * i as u32;
        let (x, wt, b) = (
            random(c * h * w, seed),
            random(c * k * k, seed + 1),
            random(c, seed + 2),
        );
        let shape = [c, 1, k, k];
        let (want, oh, ow) = reference::conv2d(&x, [c, h, w], &wt, shape, Some(&b), &params);
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let mut outputs = Vec::new();
        for (tile_px, kernel) in [
            (
                px,
                if vec4 {
                    "conv2d_depthwise_v4.wgsl"
                } else {
                    "conv2d_depthwise.wgsl"
                },
            ),
            (2, "conv2d_depthwise.wgsl"),
        ] {
            let what = format!("case {i}: {c}x{h}x{w} k{k} {params:?}, {tile_px} px");
            let kind = ConvKernel::Depthwise { tile_px };
            let conv = Conv2d::with_kernel(&ctx, "dw", &wt, shape, Some(&b), params, kind).unwrap();
            let mut plan = Plan::new("depthwise v4");
            let y = conv.record(&ctx, &mut plan, &xt).unwrap();
            assert_eq!(plan.dispatches()[0].kernel(), kernel, "{what}");
            plan.run(&ctx).await.unwrap();
            let got = ctx.read(&y).await.unwrap();
            assert_eq!(y.shape(), &[c, oh, ow]);
            assert_close(&what, &got, &want, 1e-6 * (k * k) as f32 + 1e-5, 1e-5);
            outputs.push(got);
        }
        assert!(
            outputs[0] == outputs[1],
            "case {i}: the two kernels' bits differ"
        );
    }
});

// A residual connection summed by the layer that ends it (`record_add`): the tiled kernels add
// it as they store (one dispatch; after the bias and the activation), with split-K (chosen
// through the tuning table) the sum of the slices does (two), with the bits of the layer's
// output then `ops::add`; other kernels run the add as a pass of its own; a sum of another
// shape is refused by name.
gpu_test!(conv_record_add_sums_the_residual_as_it_stores, {
    use webgpu_style_transfer::gpu::{Tuned, TuningTable};
    use webgpu_style_transfer::ops::conv2d_tune::ConvProblem;
    let ctx = ctx().await;
    let (c, h, w) = (6, 9, 13);
    let x = ctx
        .upload("x", &[c, h, w], &random(c * h * w, 720))
        .unwrap();
    let relu6 = Conv2dParams::padded(0, Padding::Zero).activation(Activation::Relu6);
    let padded = Conv2dParams::padded(1, Padding::Zero);
    // (out_c, k, params, kernel, slices of split-K (1: none), dispatches)
    let cases = [
        (5, 1, relu6, tiled(8, 2), 1, 1),
        (7, 3, padded, tiled(4, 1), 1, 1),
        (9, 3, padded.activation(Activation::Relu), tiled(4, 1), 3, 2),
        (
            6,
            3,
            padded.groups(6),
            ConvKernel::Depthwise { tile_px: 4 },
            1,
            2,
        ),
        (5, 3, padded, ConvKernel::Naive, 1, 2),
    ];
    for (i, (out_c, k, params, kernel, split, dispatches)) in cases.into_iter().enumerate() {
        let cig = c / params.groups;
        let shape = [out_c, cig, k, k];
        let seed = 721 + 3 * i as u32;
        let (wt, b) = (random(out_c * cig * k * k, seed), random(out_c, seed + 1));
        let conv = Conv2d::with_kernel(&ctx, "res", &wt, shape, Some(&b), params, kernel).unwrap();
        if let (ConvKernel::Tiled(own), 2..) = (kernel, split) {
            // This layer's shape is this test's own: no other test meets its table entry.
            let problem = ConvProblem {
                shape,
                params,
                stored: [c, h, w],
                upsample: 1,
                map: None,
                co_pad: conv.padded_out_channels(),
            };
            let tuned = Tuned {
                choice: TileChoice::SplitK(own, split).to_string(),
                ms: 1.0,
                fixed: problem.fixed(&ctx).to_string(),
                fixed_ms: 1.0,
                resume_at: None,
            };
            let mut table = TuningTable::default();
            table.insert(&problem.key().unwrap(), tuned).unwrap();
            ctx.load_tuning(table);
        }
        let (oh, ow) = conv.output_size(h, w).unwrap();
        let skip_values = random(out_c * oh * ow, seed + 2);
        let skip = ctx.upload("skip", &[out_c, oh, ow], &skip_values).unwrap();
        let mut fused = Plan::new("conv + skip");
        let y = conv.record_add(&ctx, &mut fused, &x, &skip).unwrap();
        assert_eq!(
            fused.dispatches().len(),
            dispatches,
            "case {i} ({kernel:?})"
        );
        let mut apart = Plan::new("conv, then add");
        let y0 = conv.record(&ctx, &mut apart, &x).unwrap();
        let sum = ops::add(&ctx, &mut apart, &y0, &skip).unwrap();
        fused.run(&ctx).await.unwrap();
        apart.run(&ctx).await.unwrap();
        let (got, want) = (ctx.read(&y).await.unwrap(), ctx.read(&sum).await.unwrap());
        assert!(
            got == want,
            "case {i} ({kernel:?}): fused bits differ from conv then add"
        );
        let xs = ctx.read(&x).await.unwrap();
        let (oracle, _, _) = reference::conv2d(&xs, [c, h, w], &wt, shape, Some(&b), &params);
        let oracle: Vec<f32> = oracle
            .iter()
            .zip(&skip_values)
            .map(|(a, b)| a + b)
            .collect();
        assert_close(
            &format!("case {i}"),
            &got,
            &oracle,
            1e-6 * (cig * k * k) as f32 + 1e-5,
            1e-5,
        );
    }
    let conv = Conv2d::new(&ctx, "res", &random(6 * 6, 740), [6, 6, 1, 1], None, relu6).unwrap();
    let wrong = ctx
        .upload("skip", &[6, h, w + 1], &random(6 * h * (w + 1), 741))
        .unwrap();
    let e = conv
        .record_add(&ctx, &mut Plan::new("bad"), &x, &wrong)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be added to 'skip'"), "{e}");
});

gpu_test!(
    conv_depthwise_is_chosen_for_depthwise_layers_and_refuses_others,
    {
        let ctx = ctx().await;
        let dw = Conv2dParams::padded(1, Padding::Zero).groups(8);
        let wt = random(8 * 9, 1);
        let conv = Conv2d::new(&ctx, "dw", &wt, [8, 1, 3, 3], None, dw).unwrap();
        // 16 pixels an invocation on an emulated GPU (both test adapters), 8 on a real one: on
        // a 64-wide plane the launch of a layer built with that tile, not the other's.
        let px = if ctx.adapter().is_emulated() { 16 } else { 8 };
        assert_eq!(conv.kernel(), ConvKernel::Depthwise { tile_px: px });
        let x = ctx
            .upload("x", &[8, 4, 64], &random(8 * 4 * 64, 2))
            .unwrap();
        let launch = |conv: &Conv2d| {
            let mut plan = Plan::new("dw");
            conv.record(&ctx, &mut plan, &x).unwrap();
            plan.dispatches()[0].workgroups()
        };
        let with = |tile_px| {
            let kernel = ConvKernel::Depthwise { tile_px };
            Conv2d::with_kernel(&ctx, "dw", &wt, [8, 1, 3, 3], None, dw, kernel).unwrap()
        };
        assert_eq!(launch(&conv), launch(&with(px)));
        assert_ne!(launch(&conv), launch(&with(24 - px)));
        // The tuner times each tile a row makes once: on 8-wide rows 8 and 16 px are one tile.
        {
            use webgpu_style_transfer::ops::conv2d_tune::ConvProblem;
            let offered = |w: usize| {
                let problem = ConvProblem {
                    shape: [8, 1, 3, 3],
                    params: dw,
                    stored: [8, 4, w],
                    upsample: 1,
                    map: None,
                    co_pad: conv.padded_out_channels(),
                };
                let c = problem.candidates(&ctx);
                assert_eq!(c[0], TileChoice::Depthwise(px), "the fixed choice first");
                let mut px: Vec<_> = c
                    .iter()
                    .map(|t| match t {
                        TileChoice::Depthwise(px) => (*px).min(w),
                        t => panic!("a depthwise layer offered {t}"),
                    })
                    .collect();
                px.sort();
                px
            };
            assert_eq!(offered(64), [1, 2, 4, 8, 16]);
            assert_eq!(offered(8), [1, 2, 4, 8]);
        }
        // Grouped but not depthwise, a stride the kernel has no code for, too many pixels.
        let grouped = Conv2dParams::padded(1, Padding::Zero).groups(2);
        let g = Conv2d::new(
            &ctx,
            "g",
            &random(4 * 2 * 9, 2),
            [4, 2, 3, 3],
            None,
            grouped,
        )
        .unwrap();
        assert_eq!(g.kernel(), ConvKernel::Naive);
        for (params, tile_px) in [(grouped, 8), (dw.stride(3), 8), (dw, 17)] {
            let cig = 4 / params.groups.min(4);
            let shape = [params.groups.max(4), cig, 3, 3];
            let w = random(shape.iter().product(), 3);
            let e = Conv2d::with_kernel(
                &ctx,
                "x",
                &w,
                shape,
                None,
                params,
                ConvKernel::Depthwise { tile_px },
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("the depthwise kernel needs"), "{e}");
        }
    }
);

gpu_test!(conv_naive_groups_sigmoid, {
    let p = Conv2dParams::padded(2, Padding::Zero)
        .groups(2)
        .activation(Activation::Sigmoid);
    check_conv(
        ConvCase {
            c: 4,
            h: 9,
            w: 11,
            out_c: 6,
            k: 5,
            params: p,
            bias: true,
        },
        ConvKernel::Naive,
        4,
    )
    .await;
});

gpu_test!(conv_tiled_3x3_reflect_every_tile_shape, {
    // Every tile shape on one layer whose sizes divide neither the tile nor the workgroup.
    for (i, (px, co4)) in [(1, 1), (3, 1), (8, 2), (5, 3), (8, 4), (16, 1), (16, 4)]
        .into_iter()
        .enumerate()
    {
        let p = Conv2dParams::padded(1, Padding::Reflect).activation(Activation::Relu);
        check_conv(
            ConvCase {
                c: 6,
                h: 13,
                w: 29,
                out_c: 10,
                k: 3,
                params: p,
                bias: true,
            },
            tiled(px, co4),
            10 + i as u32,
        )
        .await;
    }
});

gpu_test!(conv_tiled_stride2_zero_pad_odd_channels, {
    let p = Conv2dParams::padded(1, Padding::Zero).stride(2);
    check_conv(
        ConvCase {
            c: 5,
            h: 37,
            w: 29,
            out_c: 17,
            k: 3,
            params: p,
            bias: true,
        },
        ConvKernel::Tiled(Tiling::for_layer(17, 3, 2)),
        20,
    )
    .await;
    check_conv(
        ConvCase {
            c: 5,
            h: 37,
            w: 29,
            out_c: 17,
            k: 3,
            params: p,
            bias: false,
        },
        tiled(8, 4),
        21,
    )
    .await;
});

gpu_test!(conv_tiled_first_and_last_9x9, {
    // Johnson's first (3 -> 32) and last (32 -> 3, here with the sigmoid of the 26-style net)
    // layers, reflection padded by 4.
    let p = Conv2dParams::padded(4, Padding::Reflect);
    check_conv(
        ConvCase {
            c: 3,
            h: 40,
            w: 35,
            out_c: 32,
            k: 9,
            params: p,
            bias: true,
        },
        ConvKernel::Tiled(Tiling::for_layer(32, 9, 1)),
        30,
    )
    .await;
    let p = p.activation(Activation::Sigmoid);
    check_conv(
        ConvCase {
            c: 32,
            h: 21,
            w: 19,
            out_c: 3,
            k: 9,
            params: p,
            bias: false,
        },
        ConvKernel::Tiled(Tiling::for_layer(3, 9, 1)),
        31,
    )
    .await;
});

gpu_test!(conv_tiled_1x1_inputs_and_kernels, {
    // A 1x1 image through a 1x1 conv, and a 3x3 zero-padded conv on a 1x1 image.
    check_conv(
        ConvCase {
            c: 7,
            h: 1,
            w: 1,
            out_c: 9,
            k: 1,
            params: Conv2dParams::default(),
            bias: true,
        },
        ConvKernel::Tiled(Tiling::for_layer(9, 1, 1)),
        40,
    )
    .await;
    check_conv(
        ConvCase {
            c: 3,
            h: 1,
            w: 1,
            out_c: 4,
            k: 3,
            params: Conv2dParams::padded(1, Padding::Zero),
            bias: true,
        },
        tiled(8, 1),
        41,
    )
    .await;
});

gpu_test!(conv_tiled_larger_input, {
    let p = Conv2dParams::padded(1, Padding::Reflect)
        .stride(2)
        .activation(Activation::Relu);
    check_conv(
        ConvCase {
            c: 16,
            h: 130,
            w: 67,
            out_c: 32,
            k: 3,
            params: p,
            bias: true,
        },
        ConvKernel::Tiled(Tiling::for_layer(32, 3, 2)),
        50,
    )
    .await;
});

gpu_test!(conv_bad_input_is_an_error, {
    let ctx = ctx().await;
    let conv = Conv2d::new(
        &ctx,
        "layer1",
        &random(8 * 3 * 9, 1),
        [8, 3, 3, 3],
        None,
        Conv2dParams::padded(1, Padding::Reflect),
    )
    .unwrap();
    let mut plan = Plan::new("bad");
    // Wrong channel count.
    let x = ctx.upload("photo", &[4, 8, 8], &random(256, 2)).unwrap();
    let e = conv.record(&ctx, &mut plan, &x).unwrap_err();
    assert!(
        matches!(e, Error::Shape { .. })
            && e.to_string().contains("layer1")
            && e.to_string().contains("3 input channels"),
        "{e}"
    );
    // Reflection padding as large as the image.
    let x = ctx.upload("tiny", &[3, 1, 5], &random(15, 3)).unwrap();
    let e = conv.record(&ctx, &mut plan, &x).unwrap_err();
    assert!(e.to_string().contains("reflection padding"), "{e}");
    // Weights that do not match their shape.
    let e = Conv2d::new(
        &ctx,
        "layer2",
        &[0.0; 10],
        [8, 3, 3, 3],
        None,
        Conv2dParams::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("layer2") && e.to_string().contains("216"),
        "{e}"
    );
    // A tile the kernel cannot hold.
    let e = Conv2d::with_kernel(
        &ctx,
        "l3",
        &random(27, 1),
        [1, 3, 3, 3],
        None,
        Conv2dParams::default(),
        tiled(17, 1),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert!(plan.dispatches().is_empty());
});

gpu_test!(instance_norm_affine_relu_and_stats, {
    let ctx = ctx().await;
    let (c, h, w) = (7, 33, 31);
    // Offset and scale the input so that mean and variance are far from 0 and 1.
    let x: Vec<f32> = random(c * h * w, 60)
        .iter()
        .enumerate()
        .map(|(i, v)| v * (1.0 + (i / (h * w)) as f32) + 3.0)
        .collect();
    let gamma = random(c, 61);
    let beta = random(c, 62);
    let want = reference::instance_norm(&x, c, h * w, &gamma, &beta, 1e-5, Activation::Relu);
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    let g = ctx.upload("gamma", &[c], &gamma).unwrap();
    let b = ctx.upload("beta", &[c], &beta).unwrap();
    let mut plan = Plan::new("in");
    let stats = ops::instance_norm_stats(&ctx, &mut plan, &xt).unwrap();
    let y = ops::instance_norm_apply(&ctx, &mut plan, &xt, &stats, &g, &b, 1e-5, Activation::Relu)
        .unwrap();
    plan.run(&ctx).await.unwrap();
    assert_close(
        "instance norm",
        &ctx.read(&y).await.unwrap(),
        &want,
        1e-4,
        1e-4,
    );
    let s = ctx.read(&stats).await.unwrap();
    let want_stats: Vec<f32> = reference::channel_stats(&x, c, h * w)
        .iter()
        .flat_map(|&(m, v)| [m as f32, v as f32])
        .collect();
    assert_close("instance norm stats", &s, &want_stats, 1e-5, 1e-5);
});

gpu_test!(instance_norm_large_plane_no_cancellation, {
    // A 300x200 plane with a large mean: a one-pass E[x^2] - E[x]^2 would lose the variance.
    let ctx = ctx().await;
    let (c, h, w) = (2, 300, 200);
    let x: Vec<f32> = random(c * h * w, 70)
        .iter()
        .map(|v| 1000.0 + v * 0.01)
        .collect();
    let want = reference::instance_norm(
        &x,
        c,
        h * w,
        &[1.0, 2.0],
        &[0.0, 0.5],
        1e-5,
        Activation::None,
    );
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    let g = ctx.upload("g", &[2], &[1.0, 2.0]).unwrap();
    let b = ctx.upload("b", &[2], &[0.0, 0.5]).unwrap();
    let mut plan = Plan::new("in");
    let y = ops::instance_norm(&ctx, &mut plan, &xt, &g, &b, 1e-5, Activation::None).unwrap();
    plan.run(&ctx).await.unwrap();
    // Inputs carry f32 rounding of 1000 + v (ulp 6e-5 against a spread of 0.01): 1e-2 absolute.
    assert_close(
        "instance norm large plane",
        &ctx.read(&y).await.unwrap(),
        &want,
        1e-2,
        1e-3,
    );
});

/// A [c, h, w] input whose channels have means far from 0 and spreads far from 1 (as a
/// convolution's output has before its norm), and gamma and beta for it.
fn norm_input(c: usize, h: usize, w: usize, seed: u32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let x = random(c * h * w, seed)
        .iter()
        .enumerate()
        .map(|(i, v)| v * (1.0 + (i / (h * w)) as f32) + 3.0 - (i / (h * w)) as f32)
        .collect();
    (x, random(c, seed + 1), random(c, seed + 2))
}

gpu_test!(instance_norm_stats_with_an_outlying_first_value, {
    // The statistics sum x - k with k the channel's first value; a first value far from the
    // mean is their worst case. Here it lies 26 standard deviations out (E[x - k]^2 is 700
    // variances) on a plane whose mean is 1500 standard deviations from 0: the variance holds
    // to 3e-4 relative (measured 1e-4), the mean to 1e-5; unshifted sums miss it by 8e-3.
    let ctx = ctx().await;
    let (c, h, w) = (3, 64, 48);
    // Values in [-1, 1] (standard deviation 0.58) around 1000.
    let mut x: Vec<f32> = random(c * h * w, 90).iter().map(|v| 1000.0 + v).collect();
    for ch in 0..c {
        x[ch * h * w] = 1000.0 + 30.0 * 0.58;
    }
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    let mut plan = Plan::new("stats");
    let stats = ops::instance_norm_stats(&ctx, &mut plan, &xt).unwrap();
    plan.run(&ctx).await.unwrap();
    let got = ctx.read(&stats).await.unwrap();
    for (ch, (mean, var)) in reference::channel_stats(&x, c, h * w)
        .into_iter()
        .enumerate()
    {
        let (m, v) = (got[2 * ch] as f64, got[2 * ch + 1] as f64);
        assert!(
            (m - mean).abs() <= 1e-5 * mean.abs(),
            "channel {ch}: mean {m} against {mean}"
        );
        assert!(
            (v - var).abs() <= 3e-4 * var,
            "channel {ch}: variance {v} against {var}"
        );
    }
});

gpu_test!(instance_norm_as_a_map_matches_the_norm, {
    // The norm's map (one statistics pass), written out by `apply_map`, against the oracle, for
    // each activation; and the large-mean plane of the test above at its tolerance, which the
    // map's (x - mean) * scale + beta keeps.
    let ctx = ctx().await;
    // Planes of odd sides and of whole vec4s (the map written four elements a thread).
    for (c, h, w) in [(7, 33, 31), (4, 8, 6)] {
        let (x, gamma, beta) = norm_input(c, h, w, 100);
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let g = ctx.upload("gamma", &[c], &gamma).unwrap();
        let b = ctx.upload("beta", &[c], &beta).unwrap();
        for act in [Activation::None, Activation::Relu, Activation::Sigmoid] {
            let want = reference::instance_norm(&x, c, h * w, &gamma, &beta, 1e-5, act);
            let mut plan = Plan::new("norm map");
            let map = ops::instance_norm_coeffs(&ctx, &mut plan, &xt, &g, &b, 1e-5, act).unwrap();
            assert_eq!(map.coeffs.shape(), &[c, 4]);
            let y = ops::apply_map(&ctx, &mut plan, &xt, &map).unwrap();
            assert_eq!(plan.dispatches().len(), 2);
            plan.run(&ctx).await.unwrap();
            let got = ctx.read(&y).await.unwrap();
            assert_close(
                &format!("norm map {act:?} {h}x{w}"),
                &got,
                &want,
                1e-4,
                1e-4,
            );
        }
    }
    let (c, h, w) = (2, 300, 200);
    let x: Vec<f32> = random(c * h * w, 70)
        .iter()
        .map(|v| 1000.0 + v * 0.01)
        .collect();
    let want = reference::instance_norm(
        &x,
        c,
        h * w,
        &[1.0, 2.0],
        &[0.0, 0.5],
        1e-5,
        Activation::None,
    );
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    let g = ctx.upload("g", &[2], &[1.0, 2.0]).unwrap();
    let b = ctx.upload("b", &[2], &[0.0, 0.5]).unwrap();
    let mut plan = Plan::new("norm map");
    let map =
        ops::instance_norm_coeffs(&ctx, &mut plan, &xt, &g, &b, 1e-5, Activation::None).unwrap();
    let y = ops::apply_map(&ctx, &mut plan, &xt, &map).unwrap();
    plan.run(&ctx).await.unwrap();
    let got = ctx.read(&y).await.unwrap();
    assert_close("norm map, large plane", &got, &want, 1e-2, 1e-3);
});

/// Every combination of mapped and stored sides of a [c, h, w] addition against the oracle.
async fn check_mapped_addition(
    ctx: &webgpu_style_transfer::gpu::GpuContext,
    c: usize,
    h: usize,
    w: usize,
) {
    let (xa, ga, ba) = norm_input(c, h, w, 110);
    let (xb, gb, bb) = norm_input(c, h, w, 120);
    let na = reference::instance_norm(&xa, c, h * w, &ga, &ba, 1e-5, Activation::Relu);
    let nb = reference::instance_norm(&xb, c, h * w, &gb, &bb, 1e-5, Activation::None);
    let up = |v: &[f32]| ctx.upload("t", &[c, h, w], v).unwrap();
    let (ta, tb) = (up(&xa), up(&xb));
    let vec = |v: &[f32]| ctx.upload("p", &[c], v).unwrap();
    let mut plan = Plan::new("mapped add");
    let ma = ops::instance_norm_coeffs(
        ctx,
        &mut plan,
        &ta,
        &vec(&ga),
        &vec(&ba),
        1e-5,
        Activation::Relu,
    )
    .unwrap();
    let mb = ops::instance_norm_coeffs(
        ctx,
        &mut plan,
        &tb,
        &vec(&gb),
        &vec(&bb),
        1e-5,
        Activation::None,
    )
    .unwrap();
    let cases = [
        (None, None, &xa, &xb),
        (None, Some(&mb), &xa, &nb),
        (Some(&ma), None, &na, &xb),
        (Some(&ma), Some(&mb), &na, &nb),
    ];
    let mut outs = Vec::new();
    for (fa, fb, wa, wb) in cases {
        let y = ops::add_mapped(ctx, &mut plan, (&ta, fa), (&tb, fb)).unwrap();
        let want: Vec<f32> = wa.iter().zip(wb.iter()).map(|(a, b)| a + b).collect();
        outs.push((y, want, fa.is_some(), fb.is_some()));
    }
    plan.run(ctx).await.unwrap();
    for (y, want, fa, fb) in outs {
        let got = ctx.read(&y).await.unwrap();
        assert_close(
            &format!("add mapped a {fa} b {fb}"),
            &got,
            &want,
            1e-4,
            1e-4,
        );
    }
}

gpu_test!(mapped_addition_reads_each_side_as_stored_or_normalised, {
    // A residual block's end, `x + norm(r)`, and the other combinations, against the oracle: on
    // a plane of odd sides (one element a thread) and on one of whole vec4s (four a thread).
    let ctx = ctx().await;
    for (c, h, w) in [(5, 17, 23), (6, 12, 10)] {
        check_mapped_addition(&ctx, c, h, w).await;
    }
    let (c, h, w) = (5, 17, 23);
    let ma = ChannelAffine {
        coeffs: ctx.upload("map", &[c, 4], &vec![0.0; 4 * c]).unwrap(),
        act: Activation::Relu,
    };
    // A map of another tensor's channel count is a shape error naming both.
    let small = ctx
        .upload("small", &[3, h, w], &vec![0.0; 3 * h * w])
        .unwrap();
    let mut plan = Plan::new("mapped add");
    let err = ops::add_mapped(&ctx, &mut plan, (&small, Some(&ma)), (&small, None)).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("small"), "{err}");
});

/// The convolution of a normalised, optionally upsampled input, read through a [`ConvInput`]
/// in one pass, against the oracles composed: norm, upsampling, convolution.
async fn check_conv_input(
    case: ConvCase,
    kernel: ConvKernel,
    act: Activation,
    upsample: usize,
    seed: u32,
) {
    let ctx = ctx().await;
    let ConvCase {
        c,
        h,
        w,
        out_c,
        k,
        params,
        bias,
    } = case;
    let (x, gamma, beta) = norm_input(c, h, w, seed);
    let wt = random(out_c * c * k * k, seed + 3);
    let b = random(out_c, seed + 4);
    let bias = bias.then_some(b.as_slice());
    let normed = reference::instance_norm(&x, c, h * w, &gamma, &beta, 1e-5, act);
    let up = reference::upsample_nearest(&normed, c, h, w, upsample);
    let (uh, uw) = (h * upsample, w * upsample);
    let (want, oh, ow) = reference::conv2d(&up, [c, uh, uw], &wt, [out_c, c, k, k], bias, &params);

    let conv =
        Conv2d::with_kernel(&ctx, "conv", &wt, [out_c, c, k, k], bias, params, kernel).unwrap();
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    let g = ctx.upload("gamma", &[c], &gamma).unwrap();
    let bt = ctx.upload("beta", &[c], &beta).unwrap();
    let mut plan = Plan::new("conv input");
    let map = ops::instance_norm_coeffs(&ctx, &mut plan, &xt, &g, &bt, 1e-5, act).unwrap();
    let input = ConvInput {
        map: Some(&map),
        upsample,
    };
    let y = conv.record_input(&ctx, &mut plan, &xt, input).unwrap();
    assert_eq!(y.shape(), &[out_c, oh, ow]);
    plan.run(&ctx).await.unwrap();
    let got = ctx.read(&y).await.unwrap();
    let terms = (c * k * k) as f32;
    assert_close(
        &format!("conv of mapped input {kernel:?} {c}x{h}x{w} up {upsample} -> {out_c} k{k} {params:?} {act:?}"),
        &got,
        &want,
        1e-5 * terms + 1e-4,
        1e-4,
    );
}

gpu_test!(conv_reads_a_normalised_input, {
    // Reflection padding (the nets'), then zero padding, whose border must stay 0 after the map.
    for (padding, seed) in [(Padding::Reflect, 130), (Padding::Zero, 140)] {
        let params = Conv2dParams::padded(1, padding).activation(Activation::Relu);
        let case = ConvCase {
            c: 7,
            h: 13,
            w: 19,
            out_c: 10,
            k: 3,
            params,
            bias: true,
        };
        check_conv_input(case, tiled(8, 2), Activation::Relu, 1, seed).await;
    }
    let params = Conv2dParams::padded(1, Padding::Reflect).stride(2);
    let case = ConvCase {
        c: 6,
        h: 15,
        w: 21,
        out_c: 9,
        k: 3,
        params,
        bias: false,
    };
    check_conv_input(case, tiled(4, 1), Activation::None, 1, 150).await;
    // The last layer's shape: 9x9 to RGB, 16 pixels per invocation.
    let params = Conv2dParams::padded(4, Padding::Reflect);
    let case = ConvCase {
        c: 4,
        h: 12,
        w: 20,
        out_c: 3,
        k: 9,
        params,
        bias: true,
    };
    check_conv_input(
        case,
        ConvKernel::Tiled(Tiling::for_layer(3, 9, 1)),
        Activation::Relu,
        1,
        160,
    )
    .await;
});

gpu_test!(conv_reads_a_normalised_input_upsampled, {
    // The upsampling layers' shape (x2, 3x3 reflection) at odd sizes, and a 9x9 window whose
    // padding reaches past the upsampled border's first pixel pair.
    let params = Conv2dParams::padded(1, Padding::Reflect).activation(Activation::Relu);
    let case = ConvCase {
        c: 5,
        h: 7,
        w: 11,
        out_c: 8,
        k: 3,
        params,
        bias: false,
    };
    check_conv_input(case, tiled(8, 2), Activation::Relu, 2, 170).await;
    let params = Conv2dParams::padded(4, Padding::Reflect);
    let case = ConvCase {
        c: 3,
        h: 5,
        w: 9,
        out_c: 6,
        k: 9,
        params,
        bias: true,
    };
    check_conv_input(case, tiled(8, 2), Activation::Sigmoid, 2, 180).await;
    let params = Conv2dParams::padded(2, Padding::Zero).stride(2);
    let case = ConvCase {
        c: 4,
        h: 6,
        w: 10,
        out_c: 5,
        k: 5,
        params,
        bias: true,
    };
    check_conv_input(case, tiled(4, 2), Activation::None, 2, 190).await;
});

gpu_test!(conv_input_errors_are_named, {
    let ctx = ctx().await;
    let w = random(4 * 4 * 9, 200);
    let params = Conv2dParams::padded(1, Padding::Reflect);
    let x = ctx.upload("x", &[4, 8, 8], &random(256, 201)).unwrap();
    let ones = ctx.upload("ones", &[4], &[1.0; 4]).unwrap();
    let mut plan = Plan::new("errors");
    let map = ops::instance_norm_coeffs(&ctx, &mut plan, &x, &ones, &ones, 1e-5, Activation::None)
        .unwrap();
    let naive = Conv2d::with_kernel(
        &ctx,
        "naive",
        &w,
        [4, 4, 3, 3],
        None,
        params,
        ConvKernel::Naive,
    )
    .unwrap();
    let input = ConvInput {
        map: Some(&map),
        upsample: 1,
    };
    let err = naive.record_input(&ctx, &mut plan, &x, input).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { .. }) && err.to_string().contains("naive"),
        "{err}"
    );
    // The naive kernel still takes an input as stored.
    naive
        .record_input(&ctx, &mut plan, &x, ConvInput::default())
        .unwrap();
    let conv =
        Conv2d::with_kernel(&ctx, "conv", &w, [4, 4, 3, 3], None, params, tiled(8, 1)).unwrap();
    let input = ConvInput {
        map: None,
        upsample: 3,
    };
    let err = conv.record_input(&ctx, &mut plan, &x, input).unwrap_err();
    assert!(err.to_string().contains("upsampled by 1 or 2"), "{err}");
});

gpu_test!(elementwise_unary_ops, {
    let ctx = ctx().await;
    let n = 1031;
    let x: Vec<f32> = random(n, 80).iter().map(|v| v * 10.0).collect();
    let xt = ctx.upload("x", &[n], &x).unwrap();
    for op in [
        Unary::Affine {
            alpha: -0.5,
            beta: 2.0,
        },
        Unary::Relu,
        Unary::Relu6,
        Unary::Sigmoid,
        Unary::Clamp { lo: -1.5, hi: 2.5 },
    ] {
        let mut plan = Plan::new("unary");
        let y = ops::unary(&ctx, &mut plan, &xt, op).unwrap();
        plan.run(&ctx).await.unwrap();
        let want: Vec<f32> = x.iter().map(|&v| op.apply(v)).collect();
        assert_close(
            &format!("{op:?}"),
            &ctx.read(&y).await.unwrap(),
            &want,
            1e-6,
            1e-6,
        );
    }
    let mut plan = Plan::new("bad clamp");
    assert!(ops::unary(&ctx, &mut plan, &xt, Unary::Clamp { lo: 1.0, hi: 0.0 }).is_err());
});

gpu_test!(elementwise_binary_ops, {
    let ctx = ctx().await;
    let shape = [3, 17, 5];
    let a = random(255, 90);
    let b = random(255, 91);
    let at = ctx.upload("a", &shape, &a).unwrap();
    let bt = ctx.upload("b", &shape, &b).unwrap();
    let mut plan = Plan::new("binary");
    let sum = ops::add(&ctx, &mut plan, &at, &bt).unwrap();
    let mix = ops::scale_add(&ctx, &mut plan, &at, 0.25, &bt, -3.0, Activation::Relu).unwrap();
    plan.run(&ctx).await.unwrap();
    let want_sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let want_mix: Vec<f32> = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (0.25 * x - 3.0 * y).max(0.0))
        .collect();
    assert_close("add", &ctx.read(&sum).await.unwrap(), &want_sum, 1e-6, 1e-6);
    assert_close(
        "scale_add relu",
        &ctx.read(&mix).await.unwrap(),
        &want_mix,
        1e-6,
        1e-6,
    );
    let ct = ctx.upload("c", &[255], &a).unwrap();
    let e = ops::add(&ctx, &mut plan, &at, &ct).unwrap_err();
    assert!(e.to_string().contains("same shape"), "{e}");
});

gpu_test!(upsample_nearest_x2, {
    let ctx = ctx().await;
    let (c, h, w) = (5, 3, 7);
    let x = random(c * h * w, 100);
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    let mut plan = Plan::new("up");
    let y = ops::upsample_nearest(&ctx, &mut plan, &xt, 2).unwrap();
    plan.run(&ctx).await.unwrap();
    assert_eq!(y.shape(), &[c, 6, 14]);
    assert_eq!(
        ctx.read(&y).await.unwrap(),
        reference::upsample_nearest(&x, c, h, w, 2)
    );
});

gpu_test!(pooling_max_and_average_odd_sizes, {
    let ctx = ctx().await;
    let (c, h, w) = (3, 9, 7);
    let x = random(c * h * w, 110);
    let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
    for (mode, k, s) in [
        (PoolMode::Max, 2, 2),
        (PoolMode::Avg, 2, 2),
        (PoolMode::Max, 3, 2),
        (PoolMode::Avg, 3, 1),
    ] {
        let mut plan = Plan::new("pool");
        let y = ops::pool2d(&ctx, &mut plan, &xt, mode, k, s).unwrap();
        plan.run(&ctx).await.unwrap();
        let (want, oh, ow) = reference::pool2d(&x, c, h, w, mode, k, s);
        assert_eq!(y.shape(), &[c, oh, ow]);
        assert_close(
            &format!("{mode:?} {k}x{k}/{s}"),
            &ctx.read(&y).await.unwrap(),
            &want,
            1e-6,
            1e-6,
        );
    }
    let tiny = ctx.upload("tiny", &[1, 1, 3], &[1.0, 2.0, 3.0]).unwrap();
    let mut plan = Plan::new("pool");
    assert!(ops::pool2d(&ctx, &mut plan, &tiny, PoolMode::Max, 2, 2).is_err());
});

gpu_test!(transpose_matches_the_oracle, {
    // Odd sizes, one row, one column, a long matrix; a size that does not match the tensor is
    // a shape error.
    let ctx = ctx().await;
    for (rows, cols, seed) in [(7, 13, 140), (1, 5, 141), (6, 1, 142), (48, 3001, 143)] {
        let x = random(rows * cols, seed);
        let xt = ctx.upload("m", &[rows, cols], &x).unwrap();
        let mut plan = Plan::new("transpose");
        let y = ops::transpose(&ctx, &mut plan, &xt, [rows, cols]).unwrap();
        plan.run(&ctx).await.unwrap();
        assert_eq!(y.shape(), &[cols, rows]);
        let got = ctx.read(&y).await.unwrap();
        assert_eq!(got, reference::transpose(&x, rows, cols), "{rows}x{cols}");
    }
    let xt = ctx.upload("m", &[2, 3], &[0.0; 6]).unwrap();
    let mut plan = Plan::new("transpose");
    let err = ops::transpose(&ctx, &mut plan, &xt, [4, 2]).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(err.to_string().contains("4 x 2"), "{err}");
});

gpu_test!(im2col_matches_the_oracle, {
    // Windows with mirrored and zero padding, stride 2 at a size it does not divide, a 9x9
    // kernel over 3 channels, ranges of pixels from the middle, the ones column and the zero
    // columns after it; 1x1 windows transpose a range of pixels. Copies, so exact.
    let ctx = ctx().await;
    let win = |k: usize, stride, pad, padding, out| ops::Windows {
        kernel: [k, k],
        stride,
        pad: [pad, pad],
        padding,
        out,
    };
    let cases = [
        (
            [4, 7, 9],
            win(3, 1, 1, Padding::Reflect, [7, 9]),
            0..63,
            40,
            true,
        ),
        (
            [5, 9, 8],
            win(3, 2, 1, Padding::Zero, [5, 4]),
            3..17,
            48,
            true,
        ),
        (
            [3, 11, 10],
            win(9, 1, 4, Padding::Reflect, [11, 10]),
            50..110,
            256,
            false,
        ),
        ([6, 5, 7], ops::Windows::pixels(5, 7), 7..30, 8, false),
    ];
    for (i, ([c, h, w], windows, pixels, cols, ones)) in cases.into_iter().enumerate() {
        let x = random(c * h * w, 150 + i as u32);
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let rows = ops::Rows { pixels, cols, ones };
        let mut plan = Plan::new("im2col");
        let y = ops::im2col(&ctx, &mut plan, &xt, &windows, &rows).unwrap();
        plan.run(&ctx).await.unwrap();
        assert_eq!(y.shape(), &[rows.pixels.len(), cols]);
        let got = ctx.read(&y).await.unwrap();
        let want = reference::im2col(&x, [c, h, w], &windows, &rows);
        assert_eq!(got, want, "case {i}: {windows:?} {rows:?}");
    }
    // Pixels past the output plane, rows too short for a window and the ones column, windows
    // that do not give the output plane: shape errors naming the problem.
    let xt = ctx.upload("x", &[2, 4, 4], &[0.0; 32]).unwrap();
    let same = win(3, 1, 1, Padding::Zero, [4, 4]);
    for (windows, pixels, cols, needle) in [
        (same, 10..17, 19, "not a range within the 4x4 output"),
        (
            same,
            0..4,
            18,
            "cannot hold a window's 18 taps and the ones column",
        ),
        (
            win(3, 1, 0, Padding::Zero, [4, 4]),
            0..4,
            19,
            "do not give a 4x4 output",
        ),
    ] {
        let rows = ops::Rows {
            pixels,
            cols,
            ones: true,
        };
        let mut plan = Plan::new("im2col");
        let err = ops::im2col(&ctx, &mut plan, &xt, &windows, &rows).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
});

gpu_test!(gram_matrix, {
    // Channel counts that fill the 1x1 convolution's channel blocks run as one on adapters
    // where that is the default (lavapipe), others on the Gram kernel: both against the oracle.
    let ctx = ctx().await;
    // (c, h, w, seed, whether c is a whole number of the 1x1 layer's channel blocks)
    let cases = [
        (7, 33, 31, 120, false),
        (64, 16, 12, 121, true),
        (1, 1, 1, 122, false),
        (32, 9, 7, 123, true),
        (128, 5, 5, 124, true),
    ];
    for (c, h, w, seed, fills) in cases {
        let x = random(c * h * w, seed);
        let scale = 1.0 / (c * h * w) as f32;
        let xt = ctx.upload("features", &[c, h, w], &x).unwrap();
        let mut plan = Plan::new("gram");
        let g = ops::gram(&ctx, &mut plan, &xt, scale).unwrap();
        let as_conv = plan
            .dispatches()
            .iter()
            .any(|d| d.kernel() == "transpose.wgsl");
        let expected = ctx.adapter().subgroup_conv_by_default() && fills;
        assert_eq!(as_conv, expected, "gram {c}x{h}x{w}: run as a convolution");
        plan.run(&ctx).await.unwrap();
        assert_eq!(g.shape(), &[c, c]);
        let want = reference::gram(&x, c, h * w, scale);
        assert_close(
            &format!("gram {c}x{h}x{w}"),
            &ctx.read(&g).await.unwrap(),
            &want,
            1e-6 * (h * w) as f32 * scale + 1e-7,
            1e-5,
        );
    }
});

gpu_test!(reductions, {
    let ctx = ctx().await;
    for (n, seed) in [(5usize, 130u32), (10_007, 131), (300_000, 132)] {
        let a = random(n, seed);
        let b = random(n, seed + 7);
        let at = ctx.upload("a", &[n], &a).unwrap();
        let bt = ctx.upload("b", &[n], &b).unwrap();
        let mut plan = Plan::new("reduce");
        let s = ops::sum(&ctx, &mut plan, &at).unwrap();
        let m = ops::mean(&ctx, &mut plan, &at).unwrap();
        let d = ops::sum_squared_diff(&ctx, &mut plan, &at, &bt).unwrap();
        let q = ops::reduce(&ctx, &mut plan, &at, None, Reduction::SumSquares, 0.5).unwrap();
        plan.run(&ctx).await.unwrap();
        let sum = reference::sum(&a);
        let ssd = reference::sum_squared_diff(&a, &b);
        let sq = reference::sum_squared_diff(&a, &vec![0.0; n]) * 0.5;
        // Pairwise f32 sums: error grows like sqrt(n) * ulp of the partial sums.
        let tol = 1e-6 * (n as f32).sqrt() * 4.0;
        let mut got = Vec::new();
        for t in [&s, &m, &d, &q] {
            got.push(ctx.read(t).await.unwrap()[0]);
        }
        assert_close(&format!("sum n={n}"), &got[0..1], &[sum as f32], tol, 1e-5);
        assert_close(
            &format!("mean n={n}"),
            &got[1..2],
            &[(sum / n as f64) as f32],
            tol / n as f32,
            1e-5,
        );
        assert_close(&format!("ssd n={n}"), &got[2..3], &[ssd as f32], tol, 1e-5);
        assert_close(
            &format!("sum sq n={n}"),
            &got[3..4],
            &[sq as f32],
            tol,
            1e-5,
        );
    }
});

gpu_test!(total_variation, {
    let ctx = ctx().await;
    for (c, h, w, seed) in [
        (3usize, 33usize, 17usize, 150u32),
        (1, 1, 5, 151),
        (2, 64, 64, 152),
    ] {
        let x: Vec<f32> = random(c * h * w, seed).iter().map(|v| v * 100.0).collect();
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let mut plan = Plan::new("tv");
        let tv = ops::total_variation(&ctx, &mut plan, &xt, 0.5).unwrap();
        plan.run(&ctx).await.unwrap();
        let want = 0.5 * reference::total_variation(&x, c, h, w);
        let got = ctx.read(&tv).await.unwrap()[0];
        assert_close(
            &format!("tv {c}x{h}x{w}"),
            &[got],
            &[want as f32],
            1e-3,
            1e-5,
        );
    }
    let flat = ctx.upload("flat", &[6], &[1.0; 6]).unwrap();
    let mut plan = Plan::new("tv");
    assert!(ops::total_variation(&ctx, &mut plan, &flat, 1.0)
        .unwrap_err()
        .to_string()
        .contains("[C, H, W]"));
});

gpu_test!(pixels_roundtrip_and_vgg_convention, {
    let ctx = ctx().await;
    let (w, h) = (13, 7);
    let rgba: Vec<u8> = (0..w * h * 4)
        .map(|i| ((i * 37 + 11) % 256) as u8)
        .collect();
    let img = ctx.upload_rgba8("img", w, h, &rgba).unwrap();
    for map in [
        PixelMap::rgb_unit(),
        PixelMap::vgg_bgr(),
        PixelMap::rgb_255(),
    ] {
        let mut plan = Plan::new("pixels");
        let planes = ops::rgba_to_planar(&ctx, &mut plan, &img, &map).unwrap();
        let back = ops::planar_to_rgba(&ctx, &mut plan, &planes, &map).unwrap();
        plan.run(&ctx).await.unwrap();
        assert_eq!(back.dtype(), DType::Rgba8);
        assert_close(
            &format!("unpack {map:?}"),
            &ctx.read(&planes).await.unwrap(),
            &reference::rgba_to_planar(&rgba, w, h, &map),
            1e-4,
            1e-6,
        );
        let got = ctx.read_bytes(&back).await.unwrap();
        // RGB survives exactly; alpha becomes 255 (3-plane maps do not carry it).
        let want: Vec<u8> = rgba
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 4 == 3 { 255 } else { v })
            .collect();
        assert_eq!(got, want, "round trip through {map:?}");
    }
    // BGR order: plane 0 is blue minus 103.939.
    let mut plan = Plan::new("vgg");
    let planes = ops::rgba_to_planar(&ctx, &mut plan, &img, &PixelMap::vgg_bgr()).unwrap();
    plan.run(&ctx).await.unwrap();
    let v = ctx.read(&planes).await.unwrap();
    assert!((v[0] - (rgba[2] as f32 - 103.939)).abs() < 1e-3);
    // Out-of-range values are clamped, not wrapped.
    let x = ctx
        .upload("x", &[3, 1, 2], &[-0.5, 2.0, 0.502, 0.25, 1.0, 0.0])
        .unwrap();
    let mut plan = Plan::new("clamp");
    let px = ops::planar_to_rgba(&ctx, &mut plan, &x, &PixelMap::rgb_unit()).unwrap();
    plan.run(&ctx).await.unwrap();
    assert_eq!(
        ctx.read_bytes(&px).await.unwrap(),
        vec![0, 128, 255, 255, 255, 64, 0, 255]
    );
});

gpu_test!(small_transform_net_chain_in_one_plan, {
    // conv 9x9 reflect -> instance norm + ReLU -> conv 3x3 stride 2 -> upsample x2 -> residual
    // add, recorded in one plan and submitted once, against the same chain on the CPU.
    let ctx = ctx().await;
    let (h, w) = (20, 18);
    let x = random(3 * h * w, 140);
    let w1 = random(8 * 3 * 81, 141);
    let w2 = random(8 * 8 * 9, 142);
    let gamma = random(8, 143);
    let beta = random(8, 144);
    let p1 = Conv2dParams::padded(4, Padding::Reflect);
    let p2 = Conv2dParams::padded(1, Padding::Reflect).stride(2);
    let (c1, _, _) = reference::conv2d(&x, [3, h, w], &w1, [8, 3, 9, 9], None, &p1);
    let n1 = reference::instance_norm(&c1, 8, h * w, &gamma, &beta, 1e-5, Activation::Relu);
    let (c2, h2, w2_) = reference::conv2d(&n1, [8, h, w], &w2, [8, 8, 3, 3], None, &p2);
    let up = reference::upsample_nearest(&c2, 8, h2, w2_, 2);
    let want: Vec<f32> = up.iter().zip(&n1).map(|(a, b)| a + b).collect();

    let conv1 = Conv2d::new(&ctx, "conv1", &w1, [8, 3, 9, 9], None, p1).unwrap();
    let conv2 = Conv2d::new(&ctx, "conv2", &w2, [8, 8, 3, 3], None, p2).unwrap();
    let g = ctx.upload("gamma", &[8], &gamma).unwrap();
    let b = ctx.upload("beta", &[8], &beta).unwrap();
    let xt = ctx.upload("x", &[3, h, w], &x).unwrap();
    let mut plan = Plan::new("net");
    let a = conv1.record(&ctx, &mut plan, &xt).unwrap();
    let n = ops::instance_norm(&ctx, &mut plan, &a, &g, &b, 1e-5, Activation::Relu).unwrap();
    plan.release(a); // dead from here on: the plan may reuse its buffer
    let c = conv2.record(&ctx, &mut plan, &n).unwrap();
    let u = ops::upsample_nearest(&ctx, &mut plan, &c, 2).unwrap();
    let y = ops::add(&ctx, &mut plan, &u, &n).unwrap();
    assert_eq!(plan.dispatches().len(), 6);
    plan.run(&ctx).await.unwrap();
    // Running the plan twice gives the same result (nothing is consumed or re-created).
    plan.run(&ctx).await.unwrap();
    assert_close("chain", &ctx.read(&y).await.unwrap(), &want, 2e-3, 2e-3);
});

gpu_test!(too_large_and_empty_tensors_are_errors, {
    let ctx = ctx().await;
    let limit = ctx
        .adapter()
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.adapter().limits.max_buffer_size);
    let side = ((limit / 4 / 3) as f64).sqrt() as usize + 16;
    let e = ctx
        .tensor("huge", &[3, side, side], DType::F32)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::TooLarge { .. })
            && msg.contains("huge")
            && (msg.contains("maxStorageBufferBindingSize") || msg.contains("maxBufferSize")),
        "{msg}"
    );
    let e = ctx.tensor("empty", &[3, 0, 4], DType::F32).unwrap_err();
    assert!(e.to_string().contains("no elements"), "{e}");
    let e = ctx.upload("short", &[2, 2], &[1.0; 3]).unwrap_err();
    assert!(e.to_string().contains("4 values but 3"), "{e}");
});

gpu_test!(gpu_validation_error_becomes_an_error, {
    // Bind too few tensors to a kernel: WebGPU rejects the bind group. The engine must return
    // Error::Gpu naming the plan, not panic or lose the device.
    let ctx = ctx().await;
    let x = ctx.upload("x", &[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    let kernel = webgpu_style_transfer::gpu::Kernel {
        name: "upsample.wgsl",
        source: include_str!("../src/shaders/upsample.wgsl"),
        entry: "main",
    };
    // Natively the error comes from building the dispatch; in the browser validation is
    // asynchronous and the error comes from the next run.
    let e = match ctx.dispatch("broken", &kernel, &[], &[0u32; 8], &[&x], [1, 1, 1]) {
        Err(e) => e,
        Ok(d) => {
            let mut plan = Plan::new("broken plan");
            plan.push(d);
            plan.run(&ctx).await.unwrap_err()
        }
    };
    assert!(
        matches!(e, Error::Gpu { .. }) && e.to_string().contains("broken"),
        "{e}"
    );
    // The device still works afterwards.
    let mut plan = Plan::new("after");
    let y = ops::unary(
        &ctx,
        &mut plan,
        &x,
        Unary::Affine {
            alpha: 2.0,
            beta: 0.0,
        },
    )
    .unwrap();
    plan.run(&ctx).await.unwrap();
    assert_eq!(ctx.read(&y).await.unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
});

gpu_test!(buffer_pool_reuses_freed_buffers, {
    let ctx = ctx().await;
    // An odd size no other test uses, so parallel tests do not take it first.
    let shape = [1, 7919];
    let a = ctx.tensor("a", &shape, DType::F32).unwrap();
    let before = ctx.pool_stats();
    drop(a);
    let b = ctx.tensor("b", &shape, DType::F32).unwrap();
    let after = ctx.pool_stats();
    assert!(after.reused > before.reused, "{before:?} -> {after:?}");
    drop(b);
});

gpu_test!(channel_map_changes_pixel_conventions, {
    let ctx = ctx().await;
    let (h, w) = (7, 5);
    // Planes of RGB in [0, 1] become VGG's planes of the same pixels, exactly as if the bytes
    // had been converted with VGG's own map; the gradient map is the transpose.
    let bytes: Vec<u8> = (0..h * w * 4).map(|i| (i * 37 % 256) as u8).collect();
    let unit = reference::rgba_to_planar(&bytes, w, h, &PixelMap::rgb_unit());
    let vgg = reference::rgba_to_planar(&bytes, w, h, &PixelMap::vgg_bgr());
    let m = ops::ChannelMap::between(&PixelMap::rgb_unit(), &PixelMap::vgg_bgr());
    assert_close(
        "oracle",
        &reference::channel_map(&unit, h * w, &m),
        &vgg,
        1e-3,
        1e-6,
    );
    let xt = ctx.upload("x", &[3, h, w], &unit).unwrap();
    let mut plan = Plan::new("channel_map");
    let y = ops::channel_map(&ctx, &mut plan, &xt, &m).unwrap();
    plan.run(&ctx).await.unwrap();
    assert_close(
        "channel_map",
        &ctx.read(&y).await.unwrap(),
        &vgg,
        1e-3,
        1e-6,
    );
    // <m(x) - bias, g> = <x, m^T(g)> for any g.
    let g = random(3 * h * w, 95);
    let back = reference::channel_map(&g, h * w, &m.gradient().unwrap());
    let lin: f64 = reference::channel_map(&unit, h * w, &m)
        .iter()
        .enumerate()
        .map(|(i, v)| (v - m.bias[i / (h * w)]) as f64 * g[i] as f64)
        .sum();
    let dual: f64 = unit.iter().zip(&back).map(|(a, b)| (*a * *b) as f64).sum();
    assert!(
        (lin - dual).abs() < 1e-3 * lin.abs().max(1.0),
        "{lin} vs {dual}"
    );
    let mut bad = m;
    bad.order = [0, 0, 1, 3];
    assert!(bad.gradient().is_err());
    let four = ctx
        .upload("four", &[4, h, w], &random(4 * h * w, 96))
        .unwrap();
    let e = ops::channel_map(&ctx, &mut plan, &four, &m).unwrap_err();
    assert!(e.to_string().contains("4 planes"), "{e}");
});

gpu_test!(copy_strided_sets_and_adds_slices, {
    use ops::{Strided, Write};
    let ctx = ctx().await;
    let src = random(300, 97);
    let dst = random(517, 98);
    let st = ctx.upload("src", &[300], &src).unwrap();
    let dt = ctx.upload("dst", &[517], &dst).unwrap();
    let from = Strided {
        offset: 3,
        stride: 2,
    };
    let to = Strided {
        offset: 10,
        stride: 3,
    };
    let mut plan = Plan::new("copy_strided");
    ops::copy_strided(
        &ctx,
        &mut plan,
        140,
        (&st, from),
        (&dt, to),
        0.5,
        Write::Set,
    )
    .unwrap();
    let add = Strided::contiguous(400);
    ops::copy_strided(
        &ctx,
        &mut plan,
        117,
        (&st, Strided::contiguous(0)),
        (&dt, add),
        -2.0,
        Write::Add,
    )
    .unwrap();
    plan.run(&ctx).await.unwrap();
    let want = reference::copy_strided(140, (&src, from), (&dst, to), 0.5, Write::Set);
    let want = reference::copy_strided(
        117,
        (&src, Strided::contiguous(0)),
        (&want, add),
        -2.0,
        Write::Add,
    );
    assert_close(
        "copy_strided",
        &ctx.read(&dt).await.unwrap(),
        &want,
        1e-6,
        1e-6,
    );
    // A slice that runs past the end is refused before anything is recorded.
    let past = Strided {
        offset: 200,
        stride: 2,
    };
    let e = ops::copy_strided(&ctx, &mut plan, 60, (&st, past), (&dt, to), 1.0, Write::Set)
        .unwrap_err();
    assert!(e.to_string().contains("do not fit 'src'"), "{e}");
});

/// The weight and bias gradients of a tiled layer against the oracle, written at offsets into a
/// larger vector: set, then added (a batch's second photo), leaving every other value alone.
/// Returns how many window matrices ([`ops::im2col`]) the plan made: 0 on the gradient kernel.
async fn check_weight_gradient(case: ConvCase, kernel: ConvKernel, seed: u32) -> usize {
    let ctx = ctx().await;
    let ConvCase {
        c,
        h,
        w,
        out_c,
        k,
        params,
        ..
    } = case;
    let shape = [out_c, c, k, k];
    let wt = random(out_c * c * k * k, seed);
    let conv = Conv2d::with_kernel(&ctx, "conv", &wt, shape, None, params, kernel).unwrap();
    let (_, oh, ow) =
        reference::conv2d(&random(c * h * w, 0), [c, h, w], &wt, shape, None, &params);
    let (wn, bn) = (conv.weights().numel(), conv.bias().numel());
    let (w_at, b_at) = (5, 5 + wn + 3);
    let sentinel = 7.0;
    let dst = ctx
        .upload("dst", &[b_at + bn + 2], &vec![sentinel; b_at + bn + 2])
        .unwrap();
    let mut want_w = vec![0.0f32; wt.len()];
    let mut want_b = vec![0.0f32; out_c];
    let mut plan = Plan::new("weight gradient");
    for (i, (scale, write)) in [(0.5, ops::Write::Set), (0.25, ops::Write::Add)]
        .into_iter()
        .enumerate()
    {
        let x = random(c * h * w, seed + 1 + 2 * i as u32);
        let gy = random(out_c * oh * ow, seed + 2 + 2 * i as u32);
        let (dw, db) = reference::conv2d_weight_grad(&x, [c, h, w], &gy, shape, &params);
        for (acc, v) in want_w.iter_mut().zip(&dw).chain(want_b.iter_mut().zip(&db)) {
            *acc += scale * v;
        }
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let gt = ctx.upload("gy", &[out_c, oh, ow], &gy).unwrap();
        let to = ops::GradTarget {
            dst: &dst,
            weights_at: w_at,
            bias_at: b_at,
            scale,
            write,
        };
        ops::weight_gradient(&ctx, &mut plan, &conv, &xt, &gt, to).unwrap();
    }
    let windows = plan
        .dispatches()
        .iter()
        .filter(|d| d.kernel() == "im2col.wgsl")
        .count();
    plan.run(&ctx).await.unwrap();
    let got = ctx.read(&dst).await.unwrap();
    let what = format!("weight gradient {c}x{h}x{w} -> {out_c} k{k} {params:?} {kernel:?}");
    let untouched: Vec<f32> = [&got[..w_at], &got[w_at + wn..b_at], &got[b_at + bn..]].concat();
    assert!(
        untouched.iter().all(|&v| v == sentinel),
        "{what}: wrote outside its slices"
    );
    let padded_bias = &got[b_at + out_c..b_at + bn];
    assert!(
        padded_bias.iter().all(|&v| v == 0.0),
        "{what}: padding channels' bias gradient"
    );
    // The layout's padding channels get exactly 0, so a zero-padded weight stays 0 under Adam.
    let layout = &got[w_at..w_at + wn];
    let oihw = conv.weights_to_oihw(layout).unwrap();
    let nonzero_layout = layout.iter().filter(|v| **v != 0.0).count();
    let nonzero_oihw = oihw.iter().filter(|v| **v != 0.0).count();
    assert_eq!(
        nonzero_layout, nonzero_oihw,
        "{what}: padding channels' weight gradient"
    );
    // Sums of oh * ow products of values in [-1, 1].
    let terms = (oh * ow) as f32;
    assert_close(
        &format!("{what} (weights)"),
        &oihw,
        &want_w,
        1e-5 * terms + 1e-4,
        1e-4,
    );
    assert_close(
        &format!("{what} (bias)"),
        &got[b_at..b_at + out_c],
        &want_b,
        1e-5 * terms + 1e-4,
        1e-4,
    );
    windows
}

gpu_test!(conv_weight_gradient_every_layer_shape, {
    // The Johnson net's layers at awkward sizes: the 9x9 first layer (3 input channels), the
    // stride-2 layers (a size the stride does not divide, and zero padding), a 3x3 body layer
    // whose channels are not a whole block, the 9x9 layer to RGB (one channel block, 3 live),
    // then wider layers. Where the layout pads the output channels to 16 or more, on adapters
    // where the subgroup kernels are the default (lavapipe), the gradient runs as a matrix
    // product of the input's windows (two window matrices a call: the input's and the output
    // gradient's pixels), under 64 channels with the product transposed after.
    let ctx = ctx().await;
    let product = ctx.adapter().subgroup_conv_by_default();
    let (reflect, zero) = (Padding::Reflect, Padding::Zero);
    let cases = [
        (3, 13, 11, 10, 9, 1, reflect, tiled(16, 1), false),
        (7, 15, 12, 9, 3, 2, reflect, tiled(8, 2), true),
        (5, 9, 10, 6, 3, 2, zero, tiled(4, 1), false),
        (6, 11, 7, 13, 3, 1, reflect, tiled(8, 4), true),
        (6, 12, 10, 3, 9, 1, reflect, layer_tile(3, 9, 1), false),
        (3, 14, 9, 32, 9, 1, reflect, layer_tile(32, 9, 1), true),
        (5, 12, 10, 16, 3, 1, reflect, layer_tile(16, 3, 1), true),
        (9, 13, 11, 64, 3, 2, zero, layer_tile(64, 3, 2), true),
        (20, 9, 8, 72, 3, 1, reflect, layer_tile(72, 3, 1), true),
    ];
    for (i, &(c, h, w, out_c, k, stride, padding, kernel, fills)) in cases.iter().enumerate() {
        let params = Conv2dParams::padded(k / 2, padding).stride(stride);
        let case = ConvCase {
            c,
            h,
            w,
            out_c,
            k,
            params,
            bias: true,
        };
        let windows = check_weight_gradient(case, kernel, 300 + 10 * i as u32).await;
        let expected = if product && fills { 4 } else { 0 };
        assert_eq!(windows, expected, "case {i}: window matrices");
    }
});

gpu_test!(conv_weight_gradient_in_slices_of_pixels, {
    // A layer whose window matrix passes 8 MiB (64 channels, 3x3: 592 values a pixel, 3542
    // pixels a slice) goes through the product in slices of pixels summed as the convolution
    // stores: 64x64 pixels make two slices, four window matrices a call. Only where the
    // product runs.
    let ctx = ctx().await;
    if !ctx.adapter().subgroup_conv_by_default() {
        return;
    }
    let case = ConvCase {
        c: 64,
        h: 64,
        w: 64,
        out_c: 16,
        k: 3,
        params: Conv2dParams::padded(1, Padding::Reflect),
        bias: true,
    };
    let windows = check_weight_gradient(case, layer_tile(16, 3, 1), 400).await;
    assert_eq!(windows, 2 * 4, "two slices of two window matrices, twice");
});

gpu_test!(weight_gradient_refuses_what_it_does_not_handle, {
    let ctx = ctx().await;
    let wt = random(4 * 3 * 3 * 3, 1);
    let x = ctx.upload("x", &[3, 8, 8], &random(3 * 64, 2)).unwrap();
    let gy = ctx.upload("gy", &[4, 8, 8], &random(4 * 64, 3)).unwrap();
    let dst = ctx.upload("dst", &[200], &[0.0; 200]).unwrap();
    let to = |weights_at| ops::GradTarget {
        dst: &dst,
        weights_at,
        bias_at: 0,
        scale: 1.0,
        write: ops::Write::Set,
    };
    let p = Conv2dParams::padded(1, Padding::Zero);
    let naive =
        Conv2d::with_kernel(&ctx, "n", &wt, [4, 3, 3, 3], None, p, ConvKernel::Naive).unwrap();
    let relu = Conv2d::with_kernel(
        &ctx,
        "r",
        &wt,
        [4, 3, 3, 3],
        None,
        p.activation(Activation::Relu),
        tiled(8, 1),
    )
    .unwrap();
    let good = Conv2d::with_kernel(&ctx, "g", &wt, [4, 3, 3, 3], None, p, tiled(8, 1)).unwrap();
    let mut plan = Plan::new("refused");
    for (conv, gy, at, needle) in [
        (&naive, &gy, 8, "tiled kernel"),
        (&relu, &gy, 8, "fused activation"),
        (&good, &x, 8, "do not fit"),
        (&good, &gy, 190, "do not fit 'dst'"),
    ] {
        let e = ops::weight_gradient(&ctx, &mut plan, conv, &x, gy, to(at)).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
});

gpu_test!(input_gradient_follows_weights_on_the_gpu, {
    // A gradient made for zeros that follows the layer gives exactly what one built from the
    // layer's weights on the CPU gives: stride 2 with reflection (dilate, conv, fold the
    // border), and 9x9 to 3 channels (the flipped layer's input is the forward's 3 outputs).
    let ctx = ctx().await;
    for (i, (c, h, w, out_c, k, stride)) in [(6, 11, 9, 10, 3, 2), (5, 10, 12, 3, 9, 1)]
        .into_iter()
        .enumerate()
    {
        let seed = 400 + 10 * i as u32;
        let wt = random(out_c * c * k * k, seed);
        let shape = [out_c, c, k, k];
        let params = Conv2dParams::padded(k / 2, Padding::Reflect).stride(stride);
        let conv = Conv2d::new(&ctx, "conv", &wt, shape, None, params).unwrap();
        let (oh, ow) = conv.output_size(h, w).unwrap();
        let gy = ctx
            .upload("gy", &[out_c, oh, ow], &random(out_c * oh * ow, seed + 1))
            .unwrap();
        let built = ops::InputGradient::new(&ctx, "conv", &wt, shape, &params).unwrap();
        let following = ops::InputGradient::following(&ctx, &conv).unwrap();
        let mut plan = Plan::new("follow");
        following.follow(&ctx, &mut plan, &conv).unwrap();
        let a = built.record(&ctx, &mut plan, &gy, (h, w)).unwrap();
        let b = following.record(&ctx, &mut plan, &gy, (h, w)).unwrap();
        plan.run(&ctx).await.unwrap();
        let (a, b) = (ctx.read(&a).await.unwrap(), ctx.read(&b).await.unwrap());
        assert!(a.iter().any(|v| *v != 0.0));
        assert_eq!(a, b, "{shape:?} stride {stride}");
    }
});

// Every tile the tuner may choose for a layer, the workgroup-memory kernel's block tiles and
// split-K included, chosen through the device's tuning table as a tuned net's layer is: each
// matches the oracles composed, and each but split-K gives exactly the fixed tile's output (a
// tile changes which invocation computes an output, not the order of its sum). The shapes are this test's own, so no
// other test meets its table entries.
gpu_test!(
    every_tile_the_tuner_may_pick_gives_the_fixed_tiles_output,
    {
        use webgpu_style_transfer::gpu::{Tuned, TuningTable};
        use webgpu_style_transfer::ops::conv2d_tune::ConvProblem;
        let ctx = ctx().await;
        let relu = Activation::Relu;
        let cases = [
            // A stored input, reflection padding, a fused activation, a width no tile divides.
            (
                5,
                23,
                17,
                24,
                3,
                Conv2dParams::padded(1, Padding::Reflect).activation(relu),
                1,
                None,
            ),
            // Normalised and upsampled on load, 5x5 stride 2, zero padding.
            (
                6,
                9,
                11,
                12,
                5,
                Conv2dParams::padded(2, Padding::Zero).stride(2),
                2,
                Some(relu),
            ),
        ];
        for (i, (c, h, w, out_c, k, params, up, act)) in cases.into_iter().enumerate() {
            let seed = 900 + 10 * i as u32;
            let (x, gamma, beta) = norm_input(c, h, w, seed);
            let wt = random(out_c * c * k * k, seed + 3);
            let b = random(out_c, seed + 4);
            let mapped = match act {
                Some(a) => reference::instance_norm(&x, c, h * w, &gamma, &beta, 1e-5, a),
                None => x.clone(),
            };
            let upx = reference::upsample_nearest(&mapped, c, h, w, up);
            let shape = [out_c, c, k, k];
            let (want, oh, ow) =
                reference::conv2d(&upx, [c, h * up, w * up], &wt, shape, Some(&b), &params);
            let conv = Conv2d::new(&ctx, "tuned", &wt, shape, Some(&b), params).unwrap();
            let ConvKernel::Tiled(own) = conv.kernel() else {
                panic!("{shape:?} should run the tiled kernel");
            };
            let problem = ConvProblem {
                shape,
                params,
                stored: [c, h, w],
                upsample: up,
                map: act,
                co_pad: conv.padded_out_channels(),
            };
            let key = problem.key().unwrap();
            let mut candidates = problem.candidates(&ctx);
            assert_eq!(
                candidates[0],
                problem.fixed(&ctx),
                "the fixed choice comes first"
            );
            assert!(
                [TileChoice::Registers(own), TileChoice::Subgroup(own)].contains(&candidates[0]),
                "{key}: the fixed choice runs the layer's own tile: {}",
                candidates[0]
            );
            // Where the device has subgroups, each register tile is offered with shared loads.
            let twins = candidates
                .iter()
                .filter(|t| matches!(t, TileChoice::Subgroup(_)))
                .count();
            assert_eq!(twins > 0, ctx.adapter().shares_subgroup_loads(), "{key}");
            let shared = problem.shared_tiles();
            assert!(shared.len() >= 2, "{key}: {shared:?}");
            for s in shared {
                if !candidates.contains(&s) {
                    candidates.push(s);
                }
            }
            assert!(candidates.len() >= 8, "{key}: {candidates:?}");
            // Split-K (a real GPU's candidate), in two slices and in one channel a slice.
            let split = [TileChoice::SplitK(own, 2), TileChoice::SplitK(own, c)];
            candidates.extend(split);
            let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
            let g = ctx.upload("gamma", &[c], &gamma).unwrap();
            let bt = ctx.upload("beta", &[c], &beta).unwrap();
            let mut fixed: Option<Vec<f32>> = None;
            let mut grids = std::collections::BTreeSet::new();
            let mut kernels = std::collections::BTreeSet::new();
            for t in candidates {
                let split_k = matches!(t, TileChoice::SplitK(..)) as usize;
                let mut table = TuningTable::default();
                let tuned = Tuned {
                    choice: t.to_string(),
                    ms: 1.0,
                    fixed: problem.fixed(&ctx).to_string(),
                    fixed_ms: 1.0,
                    resume_at: None,
                };
                table.insert(&key, tuned).unwrap();
                ctx.load_tuning(table);
                let mut plan = Plan::new("tuned conv");
                let map = act.map(|a| {
                    ops::instance_norm_coeffs(&ctx, &mut plan, &xt, &g, &bt, 1e-5, a).unwrap()
                });
                let input = ConvInput {
                    map: map.as_ref(),
                    upsample: up,
                };
                let y = conv.record_input(&ctx, &mut plan, &xt, input).unwrap();
                assert_eq!(y.shape(), &[out_c, oh, ow]);
                let conv_dispatch = &plan.dispatches()[plan.dispatches().len() - 1 - split_k];
                grids.insert(conv_dispatch.workgroups());
                kernels.insert(conv_dispatch.kernel());
                plan.run(&ctx).await.unwrap();
                let got = ctx.read(&y).await.unwrap();
                let terms = (c * k * k) as f32;
                assert_close(
                    &format!("{key} with {t}"),
                    &got,
                    &want,
                    1e-5 * terms + 1e-4,
                    1e-4,
                );
                match (&fixed, t) {
                    // Split-K sums in another order: the oracle's tolerance, not the bits.
                    (_, TileChoice::SplitK(..)) => {}
                    (None, _) => fixed = Some(got),
                    (Some(f), _) => {
                        assert!(*f == got, "{key}: {t} differs from the fixed tile {own}")
                    }
                }
            }
            assert!(
                grids.len() > 1,
                "{key}: the tuned tiles did not take effect ({grids:?})"
            );
            let sg = kernels.contains("conv2d_tiled_sg.wgsl");
            assert_eq!(
                sg,
                ctx.adapter().shares_subgroup_loads(),
                "{key}: {kernels:?}"
            );
        }
    }
);

// A depthwise layer (MobileNetV2's stride-2 "SAME" padding, a width no tile divides) with each
// number of pixels an invocation the tuner may choose, chosen through the device's tuning table
// as a tuned predictor's layer is: each gives exactly the fixed choice's output and matches the
// oracle; the problem's text form rebuilds the layer the tuner times.
gpu_test!(
    every_depthwise_tile_the_tuner_may_pick_gives_the_fixed_output,
    {
        use webgpu_style_transfer::gpu::{Tuned, TuningTable};
        use webgpu_style_transfer::ops::conv2d_tune::ConvProblem;
        let ctx = ctx().await;
        let (c, h, w, k) = (11, 21, 23, 3);
        let params = Conv2dParams {
            stride: 2,
            pad: [0, 0, 1, 1],
            padding: Padding::Zero,
            groups: c,
            activation: Activation::Relu6,
        };
        let x = random(c * h * w, 960);
        let wt = random(c * k * k, 961);
        let b = random(c, 962);
        let shape = [c, 1, k, k];
        let (want, oh, ow) = reference::conv2d(&x, [c, h, w], &wt, shape, Some(&b), &params);
        let conv = Conv2d::new(&ctx, "tuned dw", &wt, shape, Some(&b), params).unwrap();
        assert!(matches!(conv.kernel(), ConvKernel::Depthwise { .. }));
        let problem = ConvProblem {
            shape,
            params,
            stored: [c, h, w],
            upsample: 1,
            map: None,
            co_pad: conv.padded_out_channels(),
        };
        assert_eq!(ConvProblem::parse(&problem.to_string()).unwrap(), problem);
        let key = problem.key().unwrap();
        assert!(key.starts_with("conv2d 11->11 3x3 dw s2"), "{key}");
        let candidates = problem.candidates(&ctx);
        assert_eq!(
            candidates[0],
            problem.fixed(&ctx),
            "the fixed choice comes first"
        );
        assert!(candidates.len() >= 4, "{candidates:?}");
        assert!(candidates
            .iter()
            .all(|t| matches!(t, TileChoice::Depthwise(_))));
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let mut fixed: Option<Vec<f32>> = None;
        let mut grids = std::collections::BTreeSet::new();
        for t in candidates {
            let mut table = TuningTable::default();
            let tuned = Tuned {
                choice: t.to_string(),
                ms: 1.0,
                fixed: problem.fixed(&ctx).to_string(),
                fixed_ms: 1.0,
                resume_at: None,
            };
            table.insert(&key, tuned).unwrap();
            ctx.load_tuning(table);
            let mut plan = Plan::new("tuned depthwise conv");
            let y = conv.record(&ctx, &mut plan, &xt).unwrap();
            assert_eq!(y.shape(), &[c, oh, ow]);
            grids.insert(plan.dispatches().last().unwrap().workgroups());
            plan.run(&ctx).await.unwrap();
            let got = ctx.read(&y).await.unwrap();
            assert_close(
                &format!("{key} with {t}"),
                &got,
                &want,
                1e-5 * 9.0 + 1e-4,
                1e-4,
            );
            match &fixed {
                None => fixed = Some(got),
                Some(f) => assert!(*f == got, "{key}: {t} differs from the fixed choice"),
            }
        }
        assert!(
            grids.len() > 1,
            "{key}: the tuned choices did not take effect ({grids:?})"
        );
    }
);

// Split-K: the input channels summed in slices apart, then added with the bias and the fused
// activation, at channel counts no slice count divides (37 in 2, 3 and 16 slices; 1x1 and
// strided layers), against the oracle with the tiled kernel's tolerance.
gpu_test!(conv_split_k_matches_the_oracle, {
    let relu = Activation::Relu;
    let cases = [
        (
            37,
            9,
            11,
            20,
            3,
            Conv2dParams::padded(1, Padding::Reflect).activation(relu),
        ),
        (37, 8, 8, 6, 1, Conv2dParams::padded(0, Padding::Zero)),
        (
            24,
            13,
            10,
            9,
            3,
            Conv2dParams::padded(1, Padding::Zero).stride(2),
        ),
    ];
    for (i, (c, h, w, out_c, k, params)) in cases.into_iter().enumerate() {
        let tile = Tiling::for_layer(out_c, k, params.stride);
        for split in [2, 3, 16] {
            let case = ConvCase {
                c,
                h,
                w,
                out_c,
                k,
                params,
                bias: true,
            };
            let choice = Some(TileChoice::SplitK(tile, split));
            let seed = 980 + 10 * i as u32;
            let n = check_conv_choice(case, ConvKernel::Tiled(tile), choice, seed).await;
            assert_eq!(n, 2, "the convolution and the sum");
        }
    }
    // More slices than input channels is refused, naming the choice.
    let ctx = ctx().await;
    let p = Conv2dParams::padded(1, Padding::Zero);
    let conv = Conv2d::new(&ctx, "split", &random(8 * 4 * 9, 1), [8, 4, 3, 3], None, p).unwrap();
    let ConvKernel::Tiled(own) = conv.kernel() else {
        panic!("a 3x3 layer runs the tiled kernel");
    };
    let xt = ctx.upload("x", &[4, 6, 6], &random(4 * 36, 2)).unwrap();
    let mut plan = Plan::new("too many slices");
    let e = conv
        .record_choice(
            &ctx,
            &mut plan,
            &xt,
            Default::default(),
            TileChoice::SplitK(own, 5),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot run") && e.contains("split5"), "{e}");
});

/// Runs `conv` on `x` with `choice`; returns the output and the convolution's shader file.
async fn run_choice(
    ctx: &webgpu_style_transfer::gpu::GpuContext,
    conv: &Conv2d,
    x: &webgpu_style_transfer::gpu::Tensor,
    choice: TileChoice,
) -> (Vec<f32>, &'static str) {
    let mut plan = Plan::new("choice");
    let y = conv
        .record_choice(ctx, &mut plan, x, Default::default(), choice)
        .unwrap();
    plan.run(ctx).await.unwrap();
    let kernel = plan.dispatches().last().unwrap().kernel();
    (ctx.read(&y).await.unwrap(), kernel)
}

// The subgroup kernel (weights loaded once per subgroup and shared) at every tile width
// (1-4 vec4 groups, so every slot layout of its shared loads), 1x1, 3x3 stride 2 and 9x9
// layers, and widths that leave lanes past the output: the register kernel's exact bits and
// the oracle. Where the device has no subgroups (browsers), or the plane is too small for a
// workgroup of whole subgroups, the layer runs the register kernel instead (also asserted).
gpu_test!(subgroup_shared_weights_give_the_register_tiles_bits, {
    let ctx = ctx().await;
    let shares = ctx.adapter().shares_subgroup_loads();
    let cases = [
        (
            13,
            10,
            21,
            8,
            1,
            Conv2dParams::padded(0, Padding::Zero),
            true,
        ),
        (
            3,
            19,
            23,
            16,
            9,
            Conv2dParams::padded(4, Padding::Reflect),
            true,
        ),
        (
            20,
            17,
            9,
            12,
            3,
            Conv2dParams::padded(1, Padding::Zero).stride(2),
            true,
        ),
        // A 2x3 output: a workgroup of 2 invocations, fewer than a subgroup.
        (6, 2, 3, 8, 3, Conv2dParams::padded(1, Padding::Zero), false),
    ];
    let mut ran_shared = 0;
    for (i, (c, h, w, out_c, k, params, big)) in cases.into_iter().enumerate() {
        let seed = 1200 + 10 * i as u32;
        let x = random(c * h * w, seed);
        let wt = random(out_c * c * k * k, seed + 1);
        let b = random(out_c, seed + 2);
        let shape = [out_c, c, k, k];
        let (want, _, _) = reference::conv2d(&x, [c, h, w], &wt, shape, Some(&b), &params);
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        for co4 in 1..=4 {
            if 4 * co4 > out_c || (out_c / 4) % co4 != 0 {
                continue;
            }
            for px in [3, 8, 16] {
                if (px - 1) * params.stride + k > 24 {
                    continue; // a wider window than the kernel holds
                }
                let t = Tiling {
                    tile_px: px,
                    tile_co4: co4,
                    wg_x: 8,
                    wg_y: 8,
                };
                let kernel = ConvKernel::Tiled(t);
                let conv =
                    Conv2d::with_kernel(&ctx, "sg", &wt, shape, Some(&b), params, kernel).unwrap();
                let (plain, plain_kernel) =
                    run_choice(&ctx, &conv, &xt, TileChoice::Registers(t)).await;
                let (shared, shared_kernel) =
                    run_choice(&ctx, &conv, &xt, TileChoice::Subgroup(t)).await;
                let name = format!("{c}x{h}x{w} -> {out_c} k{k} {params:?} with {t}");
                assert_eq!(plain_kernel, "conv2d_tiled.wgsl");
                let expected = if shares && big {
                    "conv2d_tiled_sg.wgsl"
                } else {
                    "conv2d_tiled.wgsl"
                };
                assert_eq!(shared_kernel, expected, "{name}");
                ran_shared += (shared_kernel == "conv2d_tiled_sg.wgsl") as usize;
                assert!(
                    shared == plain,
                    "{name}: the shared loads changed the output"
                );
                let terms = (c * k * k) as f32;
                assert_close(&name, &shared, &want, 1e-6 * terms + 1e-5, 1e-5);
            }
        }
    }
    assert_eq!(ran_shared > 0, shares, "subgroup kernel runs: {ran_shared}");
});

// The pointwise kernel (1x1 layers as a matrix product over the flat plane, vec4 loads and
// stores) at every tile it offers (1, 2 and 4 vec4s of pixels x 1-4 channel groups, shared
// weight loads or not), on planes that leave tiles partly past the plane (5x4: 5 vec4s), with
// padded channels, read through an instance norm's map, or with a fused activation and a
// residual added as it stores (chosen through the tuning table, as a tuned net's layer is): the register
// tile's bits and the oracle. A layer it cannot run (a plane that is not whole vec4s) given it
// runs the register tile instead, with the same bits.
gpu_test!(pointwise_kernel_gives_the_register_tiles_bits, {
    use webgpu_style_transfer::gpu::{Tuned, TuningTable};
    use webgpu_style_transfer::ops::conv2d_tune::ConvProblem;
    use webgpu_style_transfer::ops::PointwiseTiling;
    let ctx = ctx().await;
    let shares = ctx.adapter().shares_subgroup_loads();
    let relu6 = Conv2dParams::default().activation(Activation::Relu6);
    // (in_c, h, w, out_c, params, the input's map activation)
    let cases = [
        (7, 5, 4, 6, relu6, None),
        (
            11,
            8,
            8,
            16,
            Conv2dParams::default(),
            Some(Activation::Relu),
        ),
        (5, 3, 4, 20, relu6, None),
        // 3x3 = 9 pixels: not whole vec4s, so the register tile runs.
        (6, 3, 3, 8, relu6, None),
    ];
    let mut pointwise_runs = 0;
    for (i, (c, h, w, out_c, params, act)) in cases.into_iter().enumerate() {
        let seed = 1900 + 10 * i as u32;
        let (x, gamma, beta) = norm_input(c, h, w, seed);
        let wt = random(out_c * c, seed + 3);
        let b = random(out_c, seed + 4);
        let skip_values = random(out_c * h * w, seed + 5);
        let mapped = match act {
            Some(a) => reference::instance_norm(&x, c, h * w, &gamma, &beta, 1e-5, a),
            None => x.clone(),
        };
        let shape = [out_c, c, 1, 1];
        let (want, _, _) = reference::conv2d(&mapped, [c, h, w], &wt, shape, Some(&b), &params);
        // A residual added where the input is stored, not mapped (`record_add` reads it so),
        // and where the plane is whole vec4s (the other layer is given its tile directly).
        let whole = (h * w).is_multiple_of(4);
        let want: Vec<f32> = match act {
            None if whole => want.iter().zip(&skip_values).map(|(a, s)| a + s).collect(),
            _ => want,
        };
        let conv = Conv2d::new(&ctx, "pw", &wt, shape, Some(&b), params).unwrap();
        let xt = ctx.upload("x", &[c, h, w], &x).unwrap();
        let g = ctx.upload("gamma", &[c], &gamma).unwrap();
        let bt = ctx.upload("beta", &[c], &beta).unwrap();
        let skip = ctx.upload("skip", &[out_c, h, w], &skip_values).unwrap();
        let problem = ConvProblem {
            shape,
            params,
            stored: [c, h, w],
            upsample: 1,
            map: act,
            co_pad: conv.padded_out_channels(),
        };
        assert_eq!(problem.is_pointwise(), whole, "case {i}");
        let run = |t: TileChoice| {
            // This case's shape is this test's own: no other test meets its table entry.
            let tuned = Tuned {
                choice: t.to_string(),
                ms: 1.0,
                fixed: problem.fixed(&ctx).to_string(),
                fixed_ms: 1.0,
                resume_at: None,
            };
            let mut table = TuningTable::default();
            table.insert(&problem.key().unwrap(), tuned).unwrap();
            ctx.load_tuning(table);
            let mut plan = Plan::new("pointwise");
            if !whole {
                let y = conv
                    .record_choice(&ctx, &mut plan, &xt, Default::default(), t)
                    .unwrap();
                let kernel = plan.dispatches().last().unwrap().kernel();
                return (plan, y, kernel);
            }
            let map = act.map(|a| {
                ops::instance_norm_coeffs(&ctx, &mut plan, &xt, &g, &bt, 1e-5, a).unwrap()
            });
            let input = ConvInput {
                map: map.as_ref(),
                upsample: 1,
            };
            let y = match act {
                None => conv.record_add(&ctx, &mut plan, &xt, &skip),
                Some(_) => conv.record_input(&ctx, &mut plan, &xt, input),
            }
            .unwrap();
            let kernel = plan.dispatches().last().unwrap().kernel();
            (plan, y, kernel)
        };
        let mut first: Option<Vec<f32>> = None;
        for tile_co4 in 1..=4 {
            if 4 * tile_co4 > out_c.next_multiple_of(4)
                || !(conv.padded_out_channels() / 4).is_multiple_of(tile_co4)
            {
                continue;
            }
            for tile_v4 in [1, 2, 4] {
                for shared in [false, true] {
                    let t = PointwiseTiling {
                        tile_v4,
                        tile_co4,
                        shared,
                    };
                    let choice = TileChoice::Pointwise(t);
                    assert_eq!(TileChoice::parse(&choice.to_string()), Some(choice));
                    assert_eq!(problem.fits(&ctx, &choice), whole, "case {i} {choice}");
                    let (plan, y, kernel) = run(choice);
                    plan.run(&ctx).await.unwrap();
                    let got = ctx.read(&y).await.unwrap();
                    let name = format!("case {i} ({c}x{h}x{w} -> {out_c}) with {choice}");
                    let expected = match (whole, shared && shares) {
                        // (A 3x3 plane is too small for whole subgroups: the plain tile.)
                        (false, _) => "conv2d_tiled.wgsl",
                        (true, true) => "conv2d_pointwise_sg.wgsl",
                        (true, false) => "conv2d_pointwise.wgsl",
                    };
                    assert_eq!(kernel, expected, "{name}");
                    pointwise_runs += whole as usize;
                    assert_close(&name, &got, &want, 1e-6 * c as f32 + 1e-5, 1e-5);
                    // The register tile of the same shape, for the bits.
                    let (plan, y, _) = run(t.as_registers());
                    plan.run(&ctx).await.unwrap();
                    let tiled = ctx.read(&y).await.unwrap();
                    assert!(
                        got == tiled,
                        "{name}: differs from the register tile's bits"
                    );
                    match &first {
                        None => first = Some(got),
                        Some(f) => assert!(*f == got, "{name}: differs from another tile"),
                    }
                }
            }
        }
        if whole {
            let offered = problem.candidates(&ctx);
            assert!(
                offered
                    .iter()
                    .any(|t| matches!(t, TileChoice::Pointwise(_))),
                "case {i}: {offered:?}"
            );
        }
    }
    assert!(pointwise_runs >= 30, "{pointwise_runs}");
});
