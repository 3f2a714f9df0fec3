//! Plain-loop CPU oracles, one per op, written for clarity rather than speed. The tests compare
//! every GPU kernel against these; they also document exactly what each op computes.
//! Tensors are planar `[C, H, W]` slices, as on the GPU.

use crate::ops::{
    Activation, ChannelMap, Conv2dParams, Padding, PixelMap, PoolMode, Rows, Strided, Windows,
    Write,
};

/// Index along one axis for padded coordinate `i`, or `None` where zero padding applies.
fn source_index(i: isize, n: usize, padding: Padding) -> Option<usize> {
    let n = n as isize;
    let j = match padding {
        Padding::Zero if i < 0 || i >= n => return None,
        Padding::Zero => i,
        Padding::Reflect if i < 0 => -i,
        Padding::Reflect if i >= n => 2 * (n - 1) - i,
        Padding::Reflect => i,
    };
    Some(j as usize)
}

/// Convolution of `x` [in_c, h, w] with OIHW weights `w` [out_c, in_c/groups, kh, kw].
/// Returns the output and its (out_h, out_w).
pub fn conv2d(
    x: &[f32],
    in_shape: [usize; 3],
    w: &[f32],
    w_shape: [usize; 4],
    bias: Option<&[f32]>,
    p: &Conv2dParams,
) -> (Vec<f32>, usize, usize) {
    let [in_c, h, wd] = in_shape;
    let [out_c, cig, kh, kw] = w_shape;
    let [pt, pl, pb, pr] = p.pad;
    let oh = (h + pt + pb - kh) / p.stride + 1;
    let ow = (wd + pl + pr - kw) / p.stride + 1;
    let cog = out_c / p.groups;
    assert_eq!(in_c, cig * p.groups);
    let mut y = vec![0.0f32; out_c * oh * ow];
    for co in 0..out_c {
        let g = co / cog;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0.0f64;
                for ci in 0..cig {
                    let cin = g * cig + ci;
                    for ky in 0..kh {
                        let Some(iy) =
                            source_index((oy * p.stride + ky) as isize - pt as isize, h, p.padding)
                        else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ix) = source_index(
                                (ox * p.stride + kx) as isize - pl as isize,
                                wd,
                                p.padding,
                            ) else {
                                continue;
                            };
                            acc += x[(cin * h + iy) * wd + ix] as f64
                                * w[((co * cig + ci) * kh + ky) * kw + kx] as f64;
                        }
                    }
                }
                let v = acc as f32 + bias.map_or(0.0, |b| b[co]);
                y[(co * oh + oy) * ow + ox] = p.activation.apply(v);
            }
        }
    }
    (y, oh, ow)
}

/// The gradients of a loss with respect to the weights (OIHW, groups 1) and the bias of a
/// convolution without activation, from its input `x` [in_c, h, w] and the gradient `gy`
/// [out_c, out_h, out_w] with respect to its output: dW[co][ci][ky][kx] = sum over output
/// pixels of gy[co, oy, ox] * x_padded[ci, oy * stride + ky, ox * stride + kx], db[co] = sum
/// of gy[co, ...].
pub fn conv2d_weight_grad(
    x: &[f32],
    [in_c, h, wd]: [usize; 3],
    gy: &[f32],
    w_shape: [usize; 4],
    p: &Conv2dParams,
) -> (Vec<f32>, Vec<f32>) {
    let [out_c, cig, kh, kw] = w_shape;
    assert_eq!((cig, p.groups), (in_c, 1));
    let [pt, pl, pb, pr] = p.pad;
    let oh = (h + pt + pb - kh) / p.stride + 1;
    let ow = (wd + pl + pr - kw) / p.stride + 1;
    assert_eq!(gy.len(), out_c * oh * ow);
    let mut dw = vec![0.0f32; out_c * in_c * kh * kw];
    for co in 0..out_c {
        let g = &gy[co * oh * ow..(co + 1) * oh * ow];
        for ci in 0..in_c {
            for ky in 0..kh {
                for kx in 0..kw {
                    let mut acc = 0.0f64;
                    for oy in 0..oh {
                        let iy = (oy * p.stride + ky) as isize - pt as isize;
                        let Some(iy) = source_index(iy, h, p.padding) else {
                            continue;
                        };
                        for ox in 0..ow {
                            let ix = (ox * p.stride + kx) as isize - pl as isize;
                            if let Some(ix) = source_index(ix, wd, p.padding) {
                                acc += g[oy * ow + ox] as f64 * x[(ci * h + iy) * wd + ix] as f64;
                            }
                        }
                    }
                    dw[((co * in_c + ci) * kh + ky) * kw + kx] = acc as f32;
                }
            }
        }
    }
    let db = gy
        .chunks(oh * ow)
        .map(|g| g.iter().map(|&v| v as f64).sum::<f64>() as f32)
        .collect();
    (dw, db)
}

/// Per-channel (mean, biased variance) of `x` [c, plane].
pub fn channel_stats(x: &[f32], c: usize, plane: usize) -> Vec<(f64, f64)> {
    (0..c)
        .map(|ch| {
            let s = &x[ch * plane..(ch + 1) * plane];
            let mean = s.iter().map(|&v| v as f64).sum::<f64>() / plane as f64;
            let var = s.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / plane as f64;
            (mean, var)
        })
        .collect()
}

/// Instance norm of `x` [c, plane] with per-channel gamma and beta.
pub fn instance_norm(
    x: &[f32],
    c: usize,
    plane: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    act: Activation,
) -> Vec<f32> {
    let stats = channel_stats(x, c, plane);
    let mut y = vec![0.0; x.len()];
    for ch in 0..c {
        let (mean, var) = stats[ch];
        let inv = 1.0 / (var + eps as f64).sqrt();
        for i in 0..plane {
            let v = (x[ch * plane + i] as f64 - mean) * inv * gamma[ch] as f64 + beta[ch] as f64;
            y[ch * plane + i] = act.apply(v as f32);
        }
    }
    y
}

/// The gradients of instance norm without activation (`y = gamma xhat + beta`) from
/// `gy` = dL/dy, by the textbook formulas in f64: (dL/dx, dL/dgamma, dL/dbeta).
pub fn instance_norm_backward(
    x: &[f32],
    c: usize,
    plane: usize,
    gamma: &[f32],
    gy: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let stats = channel_stats(x, c, plane);
    let (mut gx, mut dgamma, mut dbeta) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let (mean, var) = stats[ch];
        let inv = 1.0 / (var + eps as f64).sqrt();
        let range = ch * plane..(ch + 1) * plane;
        let xhat: Vec<f64> = x[range.clone()]
            .iter()
            .map(|&v| (v as f64 - mean) * inv)
            .collect();
        let g: Vec<f64> = gy[range.clone()].iter().map(|&v| v as f64).collect();
        let sg: f64 = g.iter().sum();
        let sgx: f64 = g.iter().zip(&xhat).map(|(a, b)| a * b).sum();
        let n = plane as f64;
        for (i, o) in range.enumerate() {
            gx[o] = (gamma[ch] as f64 * inv * (g[i] - sg / n - xhat[i] * sgx / n)) as f32;
        }
        dgamma[ch] = sgx as f32;
        dbeta[ch] = sg as f32;
    }
    (gx, dgamma, dbeta)
}

/// Nearest upsampling of `x` [c, h, w] by `f`.
pub fn upsample_nearest(x: &[f32], c: usize, h: usize, w: usize, f: usize) -> Vec<f32> {
    let (oh, ow) = (h * f, w * f);
    let mut y = vec![0.0; c * oh * ow];
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                y[(ch * oh + oy) * ow + ox] = x[(ch * h + oy / f) * w + ox / f];
            }
        }
    }
    y
}

/// k x k pooling with a stride, floor output size.
pub fn pool2d(
    x: &[f32],
    c: usize,
    h: usize,
    w: usize,
    mode: PoolMode,
    k: usize,
    stride: usize,
) -> (Vec<f32>, usize, usize) {
    let (oh, ow) = ((h - k) / stride + 1, (w - k) / stride + 1);
    let mut y = vec![0.0; c * oh * ow];
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let vals = (0..k)
                    .flat_map(|ky| (0..k).map(move |kx| (ky, kx)))
                    .map(|(ky, kx)| x[(ch * h + oy * stride + ky) * w + ox * stride + kx]);
                y[(ch * oh + oy) * ow + ox] = match mode {
                    PoolMode::Max => vals.fold(f32::NEG_INFINITY, f32::max),
                    PoolMode::Avg => (vals.map(|v| v as f64).sum::<f64>() / (k * k) as f64) as f32,
                };
            }
        }
    }
    (y, oh, ow)
}

/// The [cols, rows] transpose of `x` read as a row-major [rows, cols] matrix.
pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut y = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            y[c * rows + r] = x[r * cols + c];
        }
    }
    y
}

/// The windows of `x` [c, h, w] as rows ([`crate::ops::im2col`]): row r the window under output
/// pixel `rows.pixels.start + r`, column (ky * k_w + kx) * c + ci, then 1 if `rows.ones`, then 0.
pub fn im2col(x: &[f32], [c, h, w]: [usize; 3], win: &Windows, rows: &Rows) -> Vec<f32> {
    let [k_h, k_w] = win.kernel;
    let mut y = vec![0.0; rows.pixels.len() * rows.cols];
    for (row, pixel) in y.chunks_mut(rows.cols).zip(rows.pixels.clone()) {
        let (oy, ox) = (pixel / win.out[1], pixel % win.out[1]);
        for ky in 0..k_h {
            for kx in 0..k_w {
                let iy = (oy * win.stride + ky) as isize - win.pad[0] as isize;
                let ix = (ox * win.stride + kx) as isize - win.pad[1] as isize;
                let (Some(iy), Some(ix)) = (
                    source_index(iy, h, win.padding),
                    source_index(ix, w, win.padding),
                ) else {
                    continue;
                };
                for ci in 0..c {
                    row[(ky * k_w + kx) * c + ci] = x[(ci * h + iy) * w + ix];
                }
            }
        }
        if rows.ones {
            row[win.taps(c)] = 1.0;
        }
    }
    y
}

/// `scale * F F^T` for F = `x` viewed as [c, n].
pub fn gram(x: &[f32], c: usize, n: usize, scale: f32) -> Vec<f32> {
    let mut g = vec![0.0; c * c];
    for i in 0..c {
        for j in 0..c {
            let s: f64 = (0..n)
                .map(|k| x[i * n + k] as f64 * x[j * n + k] as f64)
                .sum();
            g[i * c + j] = (s * scale as f64) as f32;
        }
    }
    g
}

/// Sum (f64 accumulation).
pub fn sum(a: &[f32]) -> f64 {
    a.iter().map(|&v| v as f64).sum()
}

/// Sum of squared differences (f64 accumulation).
pub fn sum_squared_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum()
}

/// Total variation of `x` [c, h, w] (f64 accumulation), as [`crate::ops::Reduction::TotalVariation`].
pub fn total_variation(x: &[f32], c: usize, h: usize, w: usize) -> f64 {
    let mut s = 0.0;
    for ch in 0..c {
        for y in 0..h.saturating_sub(1) {
            for xx in 0..w.saturating_sub(1) {
                let i = (ch * h + y) * w + xx;
                let v = x[i] as f64;
                s += (v - x[i + 1] as f64).powi(2) + (v - x[i + w] as f64).powi(2);
            }
        }
    }
    s
}

/// RGBA8 bytes to planar f32 by a [`PixelMap`].
pub fn rgba_to_planar(rgba: &[u8], w: usize, h: usize, m: &PixelMap) -> Vec<f32> {
    let mut y = vec![0.0; m.channels * w * h];
    for i in 0..w * h {
        for c in 0..m.channels {
            y[c * w * h + i] = rgba[i * 4 + m.order[c] as usize] as f32 * m.scale[c] + m.bias[c];
        }
    }
    y
}

/// Planar f32 back to RGBA8 bytes, inverting `m`; rounds half to even and clamps, alpha 255
/// unless the planes carry it.
pub fn planar_to_rgba(x: &[f32], w: usize, h: usize, m: &PixelMap) -> Vec<u8> {
    let inv = m.inverse();
    let mut out = vec![255u8; w * h * 4];
    for i in 0..w * h {
        for b in 0..m.channels.min(4) {
            let v = x[inv.order[b] as usize * w * h + i] * inv.scale[b] + inv.bias[b];
            out[i * 4 + b] = v.round_ties_even().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Planar f32 through a [`ChannelMap`] (`x` is [m.channels, plane]).
pub fn channel_map(x: &[f32], plane: usize, m: &ChannelMap) -> Vec<f32> {
    let mut y = vec![0.0; m.channels * plane];
    for c in 0..m.channels {
        for i in 0..plane {
            y[c * plane + i] = m.scale[c] * x[m.order[c] as usize * plane + i] + m.bias[c];
        }
    }
    y
}

/// [`crate::ops::copy_strided`] on the CPU: `dst` after the copy.
pub fn copy_strided(
    n: usize,
    (src, from): (&[f32], Strided),
    (dst, to): (&[f32], Strided),
    scale: f32,
    write: Write,
) -> Vec<f32> {
    let mut out = dst.to_vec();
    for i in 0..n {
        let v = scale * src[from.offset + i * from.stride];
        let d = &mut out[to.offset + i * to.stride];
        *d = if write == Write::Add { *d + v } else { v };
    }
    out
}
