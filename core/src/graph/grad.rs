//! The gradient table: one rule per op, each emitting ordinary graph nodes, so the backward
//! pass is planned and run like the forward pass. `backward` walks the forward nodes in
//! reverse, skips those no requested gradient needs (pruning), sums the contributions of an
//! input used more than once, and sums broadcast gradients back to each operand's shape.

use super::{Fill, GraphBase, NodeId, NodeStore, Op, ViewKind};
use crate::error::{Error, ErrorKind, Result};
use crate::ops::{BinaryOp, ReduceOp, UnaryOp};
use crate::shape::{Axes, Shape, MAX_RANK};

impl<S: NodeStore> GraphBase<S> {
    /// Derives ∂loss/∂x for every node that requires a gradient, seeding with ones (so a
    /// non-scalar `loss` means the sum of its elements, as the corpus specifies). Afterwards
    /// [`grad`](Self::grad) names the gradient node of each parameter and grad input.
    pub fn backward(&mut self, loss: NodeId) -> Result<()> {
        if self.backward_start.is_some() {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "backward",
                "backward was already derived for this graph",
            ));
        }
        let ln = *self.node(loss)?;
        if !ln.dtype.is_float() {
            return Err(
                Error::msg(ErrorKind::DTypeMismatch, "backward", "loss must be float")
                    .at_node(loss),
            );
        }
        self.backward_start = Some(self.nodes().len());
        self.in_backward = true;
        let r = self.derive(loss);
        self.in_backward = false;
        r
    }

    fn derive(&mut self, loss: NodeId) -> Result<()> {
        let ln = *self.node(loss)?;
        if !ln.requires_grad {
            return Ok(()); // nothing to differentiate: every gradient is zero by pruning
        }
        let seed = self.constant(ln.dtype, ln.shape().dims(), Fill::Value(1.0))?;
        self.store.nodes_mut()[loss as usize].grad = Some(seed);
        for i in (0..=loss as usize).rev() {
            let n = self.nodes()[i];
            let Some(gy) = n.grad else { continue };
            if !n.requires_grad {
                continue;
            }
            let grads = self
                .rule(i as NodeId, gy)
                .map_err(|e| e.at_node(i as NodeId))?;
            let (ins, k) = n.op.inputs();
            for j in 0..k {
                let (x, Some(g)) = (ins[j], grads[j]) else {
                    continue;
                };
                if !self.nodes()[x as usize].requires_grad {
                    continue;
                }
                let acc = match self.nodes()[x as usize].grad {
                    Some(prev) => self.add(prev, g)?,
                    None => g,
                };
                self.store.nodes_mut()[x as usize].grad = Some(acc);
            }
        }
        Ok(())
    }

    /// Sums `g` over the dims that broadcasting added or stretched, back to `target`.
    pub(crate) fn sum_to(&mut self, g: NodeId, target: &Shape) -> Result<NodeId> {
        let gs = self.shape(g)?;
        if &gs == target {
            return Ok(g);
        }
        let lead = gs.rank() - target.rank();
        let mut axes = [0isize; MAX_RANK];
        let mut k = 0;
        for i in 0..gs.rank() {
            if i < lead || (target.dim(i - lead) == 1 && gs.dim(i) != 1) {
                axes[k] = i as isize;
                k += 1;
            }
        }
        let s = if k > 0 {
            self.sum(g, Some(&axes[..k]), true)?
        } else {
            g
        };
        self.view_as(s, *target)
    }

    /// Broadcasts a reduction's gradient (kept shape) back over the reduced `axes` of `x`.
    fn expand_back(&mut self, gy: NodeId, x: NodeId, axes: Axes) -> Result<NodeId> {
        let xs = self.shape(x)?;
        let mut keep = xs;
        for a in axes.iter() {
            keep = keep.with_dim(a, 1);
        }
        let g = self.view_as(gy, keep)?;
        self.broadcast_to(g, xs.dims())
    }

    fn mul_s(&mut self, x: NodeId, s: f64) -> Result<NodeId> {
        self.scalar(BinaryOp::Mul, x, s, true)
    }

    /// `1 - x`
    fn one_minus(&mut self, x: NodeId) -> Result<NodeId> {
        self.scalar(BinaryOp::Sub, x, 1.0, false)
    }

    /// The gradient rule of node `y` given ∂L/∂y = `gy`: ∂L/∂input for each input.
    fn rule(&mut self, y: NodeId, gy: NodeId) -> Result<[Option<NodeId>; 2]> {
        let n = self.nodes()[y as usize];
        let one = |g| Ok([Some(g), None]);
        match n.op {
            Op::Input | Op::Param | Op::Const(_) => Ok([None, None]),
            Op::Unary(op, x) => {
                let g = match op {
                    UnaryOp::Neg => self.unary(UnaryOp::Neg, gy)?,
                    UnaryOp::Exp => self.mul(gy, y)?,
                    UnaryOp::Log => self.div(gy, x)?,
                    UnaryOp::Sqrt => {
                        let h = self.div(gy, y)?;
                        self.mul_s(h, 0.5)?
                    }
                    UnaryOp::Abs => {
                        let pos = self.unary(UnaryOp::Step, x)?;
                        let nx = self.unary(UnaryOp::Neg, x)?;
                        let neg = self.unary(UnaryOp::Step, nx)?;
                        let sign = self.sub(pos, neg)?;
                        self.mul(gy, sign)?
                    }
                    UnaryOp::Relu => {
                        let m = self.unary(UnaryOp::Step, x)?;
                        self.mul(gy, m)?
                    }
                    UnaryOp::Sigmoid => {
                        let om = self.one_minus(y)?;
                        let d = self.mul(y, om)?;
                        self.mul(gy, d)?
                    }
                    UnaryOp::Tanh => {
                        let y2 = self.mul(y, y)?;
                        let d = self.one_minus(y2)?;
                        self.mul(gy, d)?
                    }
                    UnaryOp::Step => return Ok([None, None]),
                };
                one(g)
            }
            Op::Binary(op, a, b) => {
                let (sa, sb) = (self.shape(a)?, self.shape(b)?);
                let (ga, gb) = match op {
                    BinaryOp::Add => (gy, gy),
                    BinaryOp::Sub => (gy, self.unary(UnaryOp::Neg, gy)?),
                    BinaryOp::Mul => (self.mul(gy, b)?, self.mul(gy, a)?),
                    BinaryOp::Div => {
                        let ga = self.div(gy, b)?;
                        let t = self.mul(gy, y)?;
                        let t = self.div(t, b)?;
                        (ga, self.unary(UnaryOp::Neg, t)?)
                    }
                    BinaryOp::Pow => {
                        // d/da a^b = b a^(b-1); d/db a^b = a^b ln a
                        let bm1 = self.scalar(BinaryOp::Sub, b, 1.0, true)?;
                        let p = self.binary(BinaryOp::Pow, a, bm1)?;
                        let p = self.mul(p, b)?;
                        let ga = self.mul(gy, p)?;
                        let la = self.unary(UnaryOp::Log, a)?;
                        let t = self.mul(y, la)?;
                        (ga, self.mul(gy, t)?)
                    }
                    BinaryOp::Maximum | BinaryOp::Minimum => {
                        // The gradient goes to the operand that won (b on ties).
                        let d = if op == BinaryOp::Maximum {
                            self.sub(a, b)?
                        } else {
                            self.sub(b, a)?
                        };
                        let ma = self.unary(UnaryOp::Step, d)?;
                        let mb = self.one_minus(ma)?;
                        (self.mul(gy, ma)?, self.mul(gy, mb)?)
                    }
                    BinaryOp::Eq => return Ok([None, None]),
                };
                Ok([Some(self.sum_to(ga, &sa)?), Some(self.sum_to(gb, &sb)?)])
            }
            Op::Scalar { op, x, s, rhs } => {
                let g = match (op, rhs) {
                    (BinaryOp::Add, _) | (BinaryOp::Sub, true) => gy,
                    (BinaryOp::Sub, false) => self.unary(UnaryOp::Neg, gy)?,
                    (BinaryOp::Mul, _) => self.mul_s(gy, s)?,
                    (BinaryOp::Div, true) => self.scalar(BinaryOp::Div, gy, s, true)?,
                    (BinaryOp::Div, false) => {
                        // d/dx s/x = -s/x² = -y/x
                        let t = self.mul(gy, y)?;
                        let t = self.div(t, x)?;
                        self.unary(UnaryOp::Neg, t)?
                    }
                    (BinaryOp::Pow, true) => {
                        let p = self.scalar(BinaryOp::Pow, x, s - 1.0, true)?;
                        let p = self.mul_s(p, s)?;
                        self.mul(gy, p)?
                    }
                    (BinaryOp::Pow, false) => {
                        let t = self.mul_s(y, libm::log(s))?;
                        self.mul(gy, t)?
                    }
                    (BinaryOp::Maximum, _) | (BinaryOp::Minimum, _) => {
                        let d = self.scalar(BinaryOp::Sub, x, s, op == BinaryOp::Maximum)?;
                        let m = self.unary(UnaryOp::Step, d)?;
                        self.mul(gy, m)?
                    }
                    (BinaryOp::Eq, _) => return Ok([None, None]),
                };
                one(g)
            }
            Op::Reduce { op, x, axes } => {
                let xs = self.shape(x)?;
                let count: usize = axes.iter().map(|a| xs.dim(a)).product();
                let g = match op {
                    ReduceOp::Sum => self.expand_back(gy, x, axes)?,
                    ReduceOp::Mean => {
                        let e = self.expand_back(gy, x, axes)?;
                        self.scalar(BinaryOp::Div, e, count as f64, true)?
                    }
                    ReduceOp::Var { correction } | ReduceOp::Std { correction } => {
                        // var' = 2 (x - mean) / (N - c); std' = var' / (2 std)
                        let mean = self.reduce(
                            ReduceOp::Mean,
                            x,
                            Some(&axes_list(axes)[..axes.len()]),
                            false,
                        )?;
                        let mean = self.expand_back(mean, x, axes)?;
                        let d = self.sub(x, mean)?;
                        let denom = count as f64 - correction as f64;
                        let gk = if matches!(op, ReduceOp::Std { .. }) {
                            let h = self.div(gy, y)?;
                            self.scalar(BinaryOp::Div, h, denom, true)?
                        } else {
                            self.scalar(BinaryOp::Mul, gy, 2.0 / denom, true)?
                        };
                        let e = self.expand_back(gk, x, axes)?;
                        self.mul(e, d)?
                    }
                };
                one(g)
            }
            Op::Extreme {
                op,
                x,
                axes,
                indices: false,
            } => {
                // Route to the first extreme element: one-hot of the arg index along the axis.
                let a = axes.iter().next().ok_or(Error::msg(
                    ErrorKind::InvalidAxis,
                    "max_values",
                    "no axis",
                ))?;
                let xs = self.shape(x)?;
                let idx = self.push_owned(
                    Op::Extreme {
                        op,
                        x,
                        axes,
                        indices: true,
                    },
                    crate::dtype::DType::I64,
                    *self.node(y)?.shape(),
                )?;
                let dt = n.dtype;
                let idx = self.cast(idx, dt)?;
                let idx = self.expand_back(idx, x, axes)?;
                let mut iota_shape = [1usize; MAX_RANK];
                iota_shape[a] = xs.dim(a);
                let iota =
                    self.constant(dt, &iota_shape[..xs.rank()], Fill::Iota { axis: a as u8 })?;
                let mask = self.binary(BinaryOp::Eq, idx, iota)?;
                let g = self.expand_back(gy, x, axes)?;
                one(self.mul(g, mask)?)
            }
            Op::Extreme { indices: true, .. } => Ok([None, None]),
            Op::MatMul(a, b) => {
                let (sa, sb) = (self.shape(a)?, self.shape(b)?);
                let bt = self.transpose(b, -1, -2)?;
                let ga = self.matmul(gy, bt)?;
                let at = self.transpose(a, -1, -2)?;
                let gb = self.matmul(at, gy)?;
                Ok([Some(self.sum_to(ga, &sa)?), Some(self.sum_to(gb, &sb)?)])
            }
            Op::View(kind, x) => {
                let xs = self.shape(x)?;
                let g = match kind {
                    ViewKind::Detach => return Ok([None, None]),
                    ViewKind::Reshape => self.view_as(gy, xs)?,
                    ViewKind::Broadcast => self.sum_to(gy, &xs)?,
                    ViewKind::Permute(p) => {
                        let r = xs.rank();
                        let mut inv = [0isize; MAX_RANK];
                        for i in 0..r {
                            inv[p[i] as usize] = i as isize;
                        }
                        self.permute(gy, &inv[..r])?
                    }
                };
                one(g)
            }
            Op::Copy(_) => one(gy),
            Op::Cast(x) => {
                let xd = self.node(x)?.dtype;
                if xd.is_float() {
                    one(self.cast(gy, xd)?)
                } else {
                    Ok([None, None])
                }
            }
        }
    }
}

/// The axes of a set as a list (for calling builders that take `&[isize]`).
fn axes_list(axes: Axes) -> [isize; MAX_RANK] {
    let mut out = [0isize; MAX_RANK];
    for (k, a) in axes.iter().enumerate().take(MAX_RANK) {
        out[k] = a as isize;
    }
    out
}
