//! The 26-style net as a training run sees it: its convolutions frozen, one row of conditional
//! norm parameters (gamma and beta of every norm, [`ROW_LEN`] values) trained.

use std::collections::HashMap;

use super::tape::Gradients;
use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::multistyle::{self, row_layout, StyleWeights, ROW_LEN, STYLES};
use crate::models::{ModelFile, MultiStyle26};
use crate::ops::{self, InputGradient, Strided, Write};
use crate::{Error, Result};

/// The net, its row on the GPU and the input gradients of its frozen convolutions.
pub(crate) struct StyleRow {
    pub(crate) net: MultiStyle26,
    row: Tensor,
    input_grads: HashMap<String, InputGradient>,
    /// SHA-256 of the net's weights, which the learned row only works with.
    pub(crate) base_weights_sha256: String,
}

impl StyleRow {
    /// Uploads the net, starting from built-in style `init` or the mean of the 26.
    pub(crate) fn new(ctx: &GpuContext, file: &ModelFile, init: Option<usize>) -> Result<Self> {
        let net = MultiStyle26::load(ctx, file)?;
        let input_grads = multistyle::input_gradients(ctx, file)?;
        let init = match init {
            Some(k) => StyleWeights::single(k)?,
            None => StyleWeights::blend(&(0..STYLES).map(|i| (i, 1.0)).collect::<Vec<_>>())?,
        };
        let row = ctx.upload("train.row", &[ROW_LEN], &net.style_row(&init))?;
        Ok(Self {
            net,
            row,
            input_grads,
            base_weights_sha256: file.weights_sha256().to_string(),
        })
    }

    /// The trained vector: the row.
    pub(crate) fn params(&self) -> &Tensor {
        &self.row
    }

    /// Copies the row into the net's gamma and beta tensors.
    pub(crate) fn record_unpack(&self, ctx: &GpuContext, plan: &mut Plan) -> Result<()> {
        for ((gamma, beta), (offset, c)) in self.net.norm_params().zip(row_layout()) {
            for (t, at) in [(gamma, offset), (beta, offset + c)] {
                let from = (&self.row, Strided::contiguous(at));
                let to = (t, Strided::contiguous(0));
                ops::copy_strided(ctx, plan, c, from, to, 1.0, Write::Set)?;
            }
        }
        Ok(())
    }

    /// Where a photo's gradients go: `scale` times them into `grad` (the row's layout).
    pub(crate) fn gradients<'a>(
        &'a self,
        grad: &'a Tensor,
        scale: f32,
        write: Write,
    ) -> RowGradients<'a> {
        RowGradients {
            input_grads: &self.input_grads,
            grad,
            scale,
            write,
        }
    }
}

/// The row's gradient: each norm's (dgamma, dbeta) into its place; the convolutions only pass
/// the gradient on.
pub(crate) struct RowGradients<'a> {
    input_grads: &'a HashMap<String, InputGradient>,
    grad: &'a Tensor,
    scale: f32,
    write: Write,
}

impl Gradients for RowGradients<'_> {
    fn conv(
        &mut self,
        ctx: &GpuContext,
        plan: &mut Plan,
        _k: usize,
        label: &str,
        x: &Tensor,
        gy: &Tensor,
        input: bool,
    ) -> Result<Option<Tensor>> {
        if !input {
            return Ok(None);
        }
        let ig = self
            .input_grads
            .get(label)
            .ok_or_else(|| Error::InvalidArgument {
                op: "train",
                message: format!("no input gradient for conv '{label}'"),
            })?;
        let (_, h, w) = x.chw("train")?;
        ig.record(ctx, plan, gy, (h, w)).map(Some)
    }

    fn norm(
        &mut self,
        ctx: &GpuContext,
        plan: &mut Plan,
        k: usize,
        dparams: &Tensor,
    ) -> Result<()> {
        let (offset, c) = row_layout().nth(k).ok_or_else(|| Error::InvalidArgument {
            op: "train",
            message: format!("the 26-style net has no norm {k}"),
        })?;
        copy_norm_grad(
            ctx,
            plan,
            dparams,
            c,
            (self.grad, offset),
            self.scale,
            self.write,
        )
    }
}

/// Copies a norm's [C, 2] (dgamma, dbeta), times `scale`, into `dst` at `at` (gamma's C values)
/// and `at + c` (beta's).
pub(crate) fn copy_norm_grad(
    ctx: &GpuContext,
    plan: &mut Plan,
    dparams: &Tensor,
    c: usize,
    (dst, at): (&Tensor, usize),
    scale: f32,
    write: Write,
) -> Result<()> {
    for (part, to) in [(0, at), (1, at + c)] {
        let from = Strided {
            offset: part,
            stride: 2,
        };
        ops::copy_strided(
            ctx,
            plan,
            c,
            (dparams, from),
            (dst, Strided::contiguous(to)),
            scale,
            write,
        )?;
    }
    Ok(())
}
