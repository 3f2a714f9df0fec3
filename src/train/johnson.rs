//! A Johnson transform net as a training run sees it: every conv weight and bias and every
//! norm's gamma and beta trained, all in one flat vector on the GPU (Adam's), each conv's part
//! in the layout its forward kernel reads. A step first copies the vector into the net's tensors
//! and the input-gradient convs' flipped weights (all on the GPU), so the forward and backward
//! passes follow the changing weights.
//!
//! Outside the GPU (checkpoints, the net file) the values are in the file's order and layout
//! ([`johnson::tensor_specs`]: OIHW weights), which does not depend on the device's tiling.

use super::style_row::copy_norm_grad;
use super::tape::Gradients;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::JohnsonNet;
use crate::ops::{self, GradTarget, InputGradient, Strided, Write};
use crate::Result;

/// Where a layer's parameters are in the flat vector.
struct Span {
    weights: usize,
    bias: usize,
    /// Gamma's offset (beta follows it), for layers with a norm.
    norm: Option<usize>,
}

/// The net, its flat parameter vector and the input gradients that follow it.
pub(crate) struct JohnsonParams {
    pub(crate) net: JohnsonNet,
    params: Tensor,
    spans: Vec<Span>,
    input_grads: Vec<InputGradient>,
}

impl JohnsonParams {
    /// A net of `base` channels from values in file order.
    pub(crate) fn new(ctx: &GpuContext, base: usize, values: &[f32]) -> Result<Self> {
        let net = JohnsonNet::from_values(ctx, base, values)?;
        let mut spans = Vec::new();
        let mut at = 0;
        for (conv, norm) in net.layers() {
            let (wn, bn) = (conv.weights().numel(), conv.bias().numel());
            spans.push(Span {
                weights: at,
                bias: at + wn,
                norm: norm.map(|_| at + wn + bn),
            });
            at += wn + bn + norm.map_or(0, |(g, _)| 2 * g.numel());
        }
        let input_grads = net
            .layers()
            .map(|(conv, _)| InputGradient::following(ctx, conv))
            .collect::<Result<Vec<_>>>()?;
        let p = Self {
            params: ctx.tensor("train.params", &[at], crate::gpu::DType::F32)?,
            net,
            spans,
            input_grads,
        };
        let flat = p.layout_from_file_order(values)?;
        ctx.write(&p.params, &flat)?;
        Ok(p)
    }

    /// The trained vector.
    pub(crate) fn params(&self) -> &Tensor {
        &self.params
    }

    /// Values of the flat vector (or of a vector in its layout: Adam's moments) in file order.
    pub(crate) fn layout_to_file_order(&self, flat: &[f32]) -> Result<Vec<f32>> {
        self.check_len(flat.len())?;
        let mut out = Vec::with_capacity(flat.len());
        for ((conv, norm), s) in self.net.layers().zip(&self.spans) {
            out.extend(conv.weights_to_oihw(&flat[s.weights..s.bias])?);
            out.extend_from_slice(&flat[s.bias..s.bias + conv.shape()[0]]);
            if let (Some((g, _)), Some(at)) = (norm, s.norm) {
                out.extend_from_slice(&flat[at..at + 2 * g.numel()]);
            }
        }
        Ok(out)
    }

    /// The flat vector's values from values in file order.
    pub(crate) fn layout_from_file_order(&self, values: &[f32]) -> Result<Vec<f32>> {
        let mut flat = vec![0.0; self.params.numel()];
        let mut rest = values;
        let mut take = |n: usize| -> Result<&[f32]> {
            if rest.len() < n {
                return Err(crate::Error::Model(format!(
                    "{} values given, the net holds more",
                    values.len()
                )));
            }
            let (v, r) = rest.split_at(n);
            rest = r;
            Ok(v)
        };
        for ((conv, norm), s) in self.net.layers().zip(&self.spans) {
            let w = conv.weights_from_oihw(take(conv.shape().iter().product())?)?;
            flat[s.weights..s.weights + w.len()].copy_from_slice(&w);
            let out_c = conv.shape()[0];
            flat[s.bias..s.bias + out_c].copy_from_slice(take(out_c)?);
            if let (Some((g, _)), Some(at)) = (norm, s.norm) {
                flat[at..at + 2 * g.numel()].copy_from_slice(take(2 * g.numel())?);
            }
        }
        if !rest.is_empty() {
            return Err(crate::Error::Model(format!(
                "{} values given, the net holds {}",
                values.len(),
                values.len() - rest.len()
            )));
        }
        Ok(flat)
    }

    fn check_len(&self, n: usize) -> Result<()> {
        if n == self.params.numel() {
            Ok(())
        } else {
            Err(crate::Error::Model(format!(
                "{n} values given, the net's parameter vector holds {}",
                self.params.numel()
            )))
        }
    }

    /// Copies the vector into the net's tensors, and each conv's weights into its input
    /// gradient's flipped layout.
    pub(crate) fn record_unpack(&self, ctx: &GpuContext, plan: &mut Plan) -> Result<()> {
        let copy = |plan: &mut Plan, at: usize, t: &Tensor| {
            let from = (&self.params, Strided::contiguous(at));
            let to = (t, Strided::contiguous(0));
            ops::copy_strided(ctx, plan, t.numel(), from, to, 1.0, Write::Set)
        };
        for (((conv, norm), s), ig) in self.net.layers().zip(&self.spans).zip(&self.input_grads) {
            copy(plan, s.weights, conv.weights())?;
            copy(plan, s.bias, conv.bias())?;
            if let (Some((g, b)), Some(at)) = (norm, s.norm) {
                copy(plan, at, g)?;
                copy(plan, at + g.numel(), b)?;
            }
            ig.follow(ctx, plan, conv)?;
        }
        Ok(())
    }

    /// Where a photo's gradients go: `scale` times them into `grad` (the vector's layout).
    pub(crate) fn gradients<'a>(
        &'a self,
        grad: &'a Tensor,
        scale: f32,
        write: Write,
    ) -> JohnsonGradients<'a> {
        JohnsonGradients {
            p: self,
            grad,
            scale,
            write,
        }
    }
}

/// Every conv's weight and bias gradient and every norm's (dgamma, dbeta) into the vector.
pub(crate) struct JohnsonGradients<'a> {
    p: &'a JohnsonParams,
    grad: &'a Tensor,
    scale: f32,
    write: Write,
}

impl Gradients for JohnsonGradients<'_> {
    fn conv(
        &mut self,
        ctx: &GpuContext,
        plan: &mut Plan,
        k: usize,
        _label: &str,
        x: &Tensor,
        gy: &Tensor,
        input: bool,
    ) -> Result<Option<Tensor>> {
        let (conv, _) = self
            .p
            .net
            .layers()
            .nth(k)
            .expect("the tape records the net's convs");
        let s = &self.p.spans[k];
        let to = GradTarget {
            dst: self.grad,
            weights_at: s.weights,
            bias_at: s.bias,
            scale: self.scale,
            write: self.write,
        };
        ops::weight_gradient(ctx, plan, conv, x, gy, to)?;
        if !input {
            return Ok(None);
        }
        let (_, h, w) = x.chw("train")?;
        self.p.input_grads[k]
            .record(ctx, plan, gy, (h, w))
            .map(Some)
    }

    fn norm(
        &mut self,
        ctx: &GpuContext,
        plan: &mut Plan,
        k: usize,
        dparams: &Tensor,
    ) -> Result<()> {
        // Every layer but the last has a norm, so the k-th norm is the k-th layer's.
        let (Some(at), Some((g, _))) = (
            self.p.spans[k].norm,
            self.p.net.layers().nth(k).and_then(|l| l.1),
        ) else {
            return Err(crate::Error::InvalidArgument {
                op: "train",
                message: format!("the Johnson net's layer {k} has no norm"),
            });
        };
        copy_norm_grad(
            ctx,
            plan,
            dparams,
            g.numel(),
            (self.grad, at),
            self.scale,
            self.write,
        )
    }
}
