//! A [`Builder`] that records a transform net's forward pass keeping every activation, and
//! then its backward pass: the gradient of a loss with respect to every norm's gamma and beta
//! (and, on the way, to every activation). The nets' `forward` is written once against
//! [`Builder`], so the same code that stylizes is the code that is differentiated.

use std::collections::HashMap;

use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::net::Builder;
use crate::ops::{self, Activation, Conv2d, InputGradient};
use crate::{Error, Result};

/// One recorded layer operation; values are indices into [`Tape::values`].
enum Node {
    Conv {
        label: String,
        x: usize,
        y: usize,
    },
    Norm {
        x: usize,
        stats: Tensor,
        gamma: Tensor,
        eps: f32,
        act: Activation,
        y: usize,
    },
    Add {
        a: usize,
        b: usize,
        y: usize,
    },
    Upsample {
        x: usize,
        y: usize,
    },
}

/// The forward pass of a net on one input, recorded into a plan with every activation kept.
pub(crate) struct Tape<'a> {
    ctx: &'a GpuContext,
    plan: &'a mut Plan,
    values: Vec<Tensor>,
    nodes: Vec<Node>,
}

impl<'a> Tape<'a> {
    /// A tape whose value 0 is `input` (no gradient is computed for it).
    pub(crate) fn new(ctx: &'a GpuContext, plan: &'a mut Plan, input: &Tensor) -> Self {
        Self {
            ctx,
            plan,
            values: vec![input.clone()],
            nodes: Vec::new(),
        }
    }

    /// The input's value index.
    pub(crate) const INPUT: usize = 0;

    /// A recorded value.
    pub(crate) fn value(&self, i: usize) -> &Tensor {
        &self.values[i]
    }

    /// The plan the tape records into.
    pub(crate) fn plan(&mut self) -> &mut Plan {
        self.plan
    }

    fn push(&mut self, t: Tensor) -> usize {
        self.values.push(t);
        self.values.len() - 1
    }

    /// Records the backward pass from `grad`, the loss's gradient with respect to value
    /// `out`: `on_norm(plan, k, dparams)` is called for the k-th norm of the forward pass (in
    /// reverse order) with its [C, 2] (dgamma, dbeta). Convolutions are differentiated with
    /// `input_grads`, found by the conv's label. Every activation is released afterwards.
    pub(crate) fn backward(
        mut self,
        out: usize,
        grad: Tensor,
        input_grads: &HashMap<String, InputGradient>,
        mut on_norm: impl FnMut(&GpuContext, &mut Plan, usize, &Tensor) -> Result<()>,
    ) -> Result<()> {
        let mut grads: Vec<Option<Tensor>> = vec![None; self.values.len()];
        grads[out] = Some(grad);
        let mut norm = self
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Norm { .. }))
            .count();
        let nodes = std::mem::take(&mut self.nodes);
        for node in nodes.iter().rev() {
            if let Node::Norm { .. } = node {
                norm -= 1;
            }
            let y = match *node {
                Node::Conv { y, .. } | Node::Norm { y, .. } | Node::Add { y, .. } => y,
                Node::Upsample { y, .. } => y,
            };
            let Some(g) = grads[y].take() else { continue };
            self.node_backward(node, g, &mut grads, input_grads, norm, &mut on_norm)?;
        }
        for t in self.values.drain(1..).chain(grads.into_iter().flatten()) {
            self.plan.release(t);
        }
        Ok(())
    }

    fn node_backward(
        &mut self,
        node: &Node,
        g: Tensor,
        grads: &mut [Option<Tensor>],
        input_grads: &HashMap<String, InputGradient>,
        norm: usize,
        on_norm: &mut impl FnMut(&GpuContext, &mut Plan, usize, &Tensor) -> Result<()>,
    ) -> Result<()> {
        let ctx = self.ctx;
        match node {
            Node::Conv { label, x, .. } => {
                if *x == Self::INPUT {
                    return self.drop_grad(g, grads);
                }
                let ig = input_grads
                    .get(label)
                    .ok_or_else(|| Error::InvalidArgument {
                        op: "train",
                        message: format!("no input gradient for conv '{label}'"),
                    })?;
                let (_, h, w) = self.values[*x].chw("train")?;
                let gx = ig.record(ctx, self.plan, &g, (h, w))?;
                self.drop_grad(g, grads)?;
                self.add_grad(grads, *x, gx)
            }
            Node::Norm {
                x,
                stats,
                gamma,
                eps,
                act,
                y,
            } => {
                let gz = if *act == Activation::None {
                    g
                } else {
                    let gz = ops::activation_backward(ctx, self.plan, &g, &self.values[*y], *act)?;
                    self.drop_grad(g, grads)?;
                    gz
                };
                let r = ops::instance_norm_backward(
                    ctx,
                    self.plan,
                    &self.values[*x],
                    stats,
                    gamma,
                    &gz,
                    *eps,
                )?;
                self.drop_grad(gz, grads)?;
                on_norm(ctx, self.plan, norm, &r.params)?;
                self.plan.release(r.params);
                self.add_grad(grads, *x, r.x)
            }
            Node::Add { a, b, .. } => {
                self.add_grad(grads, *a, g.clone())?;
                self.add_grad(grads, *b, g)
            }
            Node::Upsample { x, .. } => {
                let gx = ops::upsample_nearest_backward(ctx, self.plan, &g, 2)?;
                self.drop_grad(g, grads)?;
                self.add_grad(grads, *x, gx)
            }
        }
    }

    /// Adds `g` to value `i`'s gradient.
    fn add_grad(&mut self, grads: &mut [Option<Tensor>], i: usize, g: Tensor) -> Result<()> {
        grads[i] = Some(match grads[i].take() {
            None => g,
            Some(acc) => {
                let sum = ops::add(self.ctx, self.plan, &acc, &g)?;
                self.drop_grad(acc, grads)?;
                self.drop_grad(g, grads)?;
                sum
            }
        });
        Ok(())
    }

    /// A gradient tensor is used up: later outputs may reuse its buffer unless another value's
    /// gradient is the same tensor (an add passes one gradient to both its inputs).
    fn drop_grad(&mut self, g: Tensor, grads: &[Option<Tensor>]) -> Result<()> {
        if !grads.iter().flatten().any(|t| t.same_buffer(&g)) {
            self.plan.release(g);
        }
        Ok(())
    }
}

impl Builder for Tape<'_> {
    type T = usize;

    fn conv(&mut self, conv: &Conv2d, x: &usize) -> Result<usize> {
        let y = conv.record(self.ctx, self.plan, &self.values[*x])?;
        let y = self.push(y);
        self.nodes.push(Node::Conv {
            label: conv.label().to_string(),
            x: *x,
            y,
        });
        Ok(y)
    }

    fn norm(
        &mut self,
        x: &usize,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f32,
        act: Activation,
    ) -> Result<usize> {
        let xt = &self.values[*x];
        let stats = ops::instance_norm_stats(self.ctx, self.plan, xt)?;
        let y = ops::instance_norm_apply(self.ctx, self.plan, xt, &stats, gamma, beta, eps, act)?;
        let y = self.push(y);
        self.nodes.push(Node::Norm {
            x: *x,
            stats,
            gamma: gamma.clone(),
            eps,
            act,
            y,
        });
        Ok(y)
    }

    fn add(&mut self, a: &usize, b: &usize) -> Result<usize> {
        let y = ops::add(self.ctx, self.plan, &self.values[*a], &self.values[*b])?;
        let y = self.push(y);
        self.nodes.push(Node::Add { a: *a, b: *b, y });
        Ok(y)
    }

    fn upsample2(&mut self, x: &usize) -> Result<usize> {
        let y = ops::upsample_nearest(self.ctx, self.plan, &self.values[*x], 2)?;
        let y = self.push(y);
        self.nodes.push(Node::Upsample { x: *x, y });
        Ok(y)
    }

    /// Every activation is kept for the backward pass.
    fn release(&mut self, _x: usize) {}
}
