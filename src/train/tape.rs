//! A [`Builder`] that records a transform net's forward pass keeping every activation, and
//! then its backward pass: the gradient of a loss with respect to every activation, handed to
//! a [`Gradients`] at each convolution and norm, which records what its parameters need. The
//! nets' `forward` is written once against [`Builder`], so the same code that stylizes is the
//! code that is differentiated.

use crate::gpu::{GpuContext, Plan, Tensor};
use crate::models::net::Builder;
use crate::ops::{self, Activation, Conv2d};
use crate::{Error, Result};

/// What a backward pass does at the layers that have parameters.
pub(crate) trait Gradients {
    /// The `k`-th convolution of the forward pass (labelled `label`) read `x` and the loss's
    /// gradient with respect to its output is `gy`: records its parameters' gradients (if it
    /// has trained ones) and, when `input` is true, returns the gradient with respect to `x`.
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        ctx: &GpuContext,
        plan: &mut Plan,
        k: usize,
        label: &str,
        x: &Tensor,
        gy: &Tensor,
        input: bool,
    ) -> Result<Option<Tensor>>;

    /// The `k`-th norm's parameter gradient, [C, 2] (dgamma, dbeta).
    fn norm(&mut self, ctx: &GpuContext, plan: &mut Plan, k: usize, dparams: &Tensor)
        -> Result<()>;
}

/// One recorded layer operation; values are indices into [`Tape::values`], `k` counts the
/// layers of its kind in forward order.
enum Node {
    Conv {
        k: usize,
        label: String,
        x: usize,
        y: usize,
    },
    Norm {
        k: usize,
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

    /// Recorded nodes of a kind.
    fn count(&self, kind: impl Fn(&Node) -> bool) -> usize {
        self.nodes.iter().filter(|n| kind(n)).count()
    }

    fn push(&mut self, t: Tensor) -> usize {
        self.values.push(t);
        self.values.len() - 1
    }

    /// Records the backward pass from `grad`, the loss's gradient with respect to value `out`,
    /// calling `sink` at every convolution and norm (in reverse order). Every activation is
    /// released afterwards.
    pub(crate) fn backward(
        mut self,
        out: usize,
        grad: Tensor,
        sink: &mut impl Gradients,
    ) -> Result<()> {
        let mut grads: Vec<Option<Tensor>> = vec![None; self.values.len()];
        grads[out] = Some(grad);
        let nodes = std::mem::take(&mut self.nodes);
        for node in nodes.iter().rev() {
            let y = match *node {
                Node::Conv { y, .. } | Node::Norm { y, .. } | Node::Add { y, .. } => y,
                Node::Upsample { y, .. } => y,
            };
            let Some(g) = grads[y].take() else { continue };
            self.node_backward(node, g, &mut grads, sink)?;
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
        sink: &mut impl Gradients,
    ) -> Result<()> {
        let ctx = self.ctx;
        match node {
            Node::Conv { k, label, x, .. } => {
                let input = *x != Self::INPUT;
                let gx = sink.conv(ctx, self.plan, *k, label, &self.values[*x], &g, input)?;
                self.drop_grad(g, grads)?;
                match gx {
                    Some(gx) => self.add_grad(grads, *x, gx),
                    None => Ok(()),
                }
            }
            Node::Norm {
                k,
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
                sink.norm(ctx, self.plan, *k, &r.params)?;
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
        if conv.params().activation != Activation::None {
            return Err(Error::InvalidArgument {
                op: "train",
                message: format!(
                    "conv '{}' fuses an activation, which the tape does not differentiate",
                    conv.label()
                ),
            });
        }
        let y = conv.record(self.ctx, self.plan, &self.values[*x])?;
        let y = self.push(y);
        let k = self.count(|n| matches!(n, Node::Conv { .. }));
        self.nodes.push(Node::Conv {
            k,
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
        let k = self.count(|n| matches!(n, Node::Norm { .. }));
        self.nodes.push(Node::Norm {
            k,
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
