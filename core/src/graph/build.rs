//! Builders for reductions, matmul, movement ops (views), casts and the composites a model
//! needs (softmax, log_softmax, cross-entropy, MSE). Shapes are inferred and checked here, so a
//! bad graph fails while it is built, naming the node and the shapes.

use super::{Fill, GraphBase, NodeId, NodeStore, Op, ViewKind};
use crate::dtype::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::{resolve_reshape, Layout};
use crate::ops::{self, BinaryOp, Extremum, ReduceOp, UnaryOp};
use crate::shape::{normalize_axis, Axes, Shape, MAX_RANK};

impl<S: NodeStore> GraphBase<S> {
    fn next_id(&self) -> NodeId {
        self.nodes().len() as NodeId
    }

    /// Sum/mean/var/std over `axes` (`None` = all), like `torch.sum(x, dim, keepdim)`.
    pub fn reduce(
        &mut self,
        op: ReduceOp,
        x: NodeId,
        axes: Option<&[isize]>,
        keepdim: bool,
    ) -> Result<NodeId> {
        let dt = self.float_dtype(x, op.name())?;
        let id = self.next_id();
        let plan = ops::reduce_plan(
            &self.shape(x)?,
            axes,
            keepdim,
            op == ReduceOp::Sum,
            op.name(),
        )
        .map_err(|e| e.at_node(id))?;
        let r = self.push_owned(
            Op::Reduce {
                op,
                x,
                axes: plan.axes,
            },
            dt,
            plan.kept,
        )?;
        self.view_as(r, plan.out)
    }

    /// Sum over `axes` (`None` = all).
    pub fn sum(&mut self, x: NodeId, axes: Option<&[isize]>, keepdim: bool) -> Result<NodeId> {
        self.reduce(ReduceOp::Sum, x, axes, keepdim)
    }

    /// Mean over `axes` (`None` = all).
    pub fn mean(&mut self, x: NodeId, axes: Option<&[isize]>, keepdim: bool) -> Result<NodeId> {
        self.reduce(ReduceOp::Mean, x, axes, keepdim)
    }

    /// Max/min values, or their i64 indices, over one axis or all elements (then the index is
    /// into the row-major flattening, like `numpy.argmax`).
    pub fn extreme(
        &mut self,
        op: Extremum,
        x: NodeId,
        axis: Option<isize>,
        keepdim: bool,
        indices: bool,
    ) -> Result<NodeId> {
        let shape = self.shape(x)?;
        let dt = self.node(x)?.dtype;
        let id = self.next_id();
        let name = if indices { "argmax" } else { "max_values" };
        let axes = axis.map(|a| [a]);
        let plan = ops::reduce_plan(&shape, axes.as_ref().map(|a| &a[..]), keepdim, false, name)
            .map_err(|e| e.at_node(id))?;
        // Over all elements: flatten first, so one axis always carries the index.
        let (src, red) = match axis {
            Some(_) => (x, plan.axes),
            None => (self.reshape(x, &[-1])?, Axes::all(1)),
        };
        let out_dt = if indices { DType::I64 } else { dt };
        let kept = self.shape(src)?;
        let kept = Layout::contiguous(kept).split_axes(red).0;
        let r = self.push_owned(
            Op::Extreme {
                op,
                x: src,
                axes: red,
                indices,
            },
            out_dt,
            *kept.shape(),
        )?;
        self.view_as(r, plan.out)
    }

    /// Matrix product with `numpy.matmul` rules.
    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        let (da, db) = (
            self.float_dtype(a, "matmul")?,
            self.float_dtype(b, "matmul")?,
        );
        let id = self.next_id();
        if da != db {
            return Err(Error::msg(
                ErrorKind::DTypeMismatch,
                "matmul",
                "operands have different dtypes",
            )
            .at_node(id));
        }
        let plan = ops::matmul_plan(&self.shape(a)?, &self.shape(b)?).map_err(|e| e.at_node(id))?;
        let a2 = if plan.a_vec { self.unsqueeze(a, 0)? } else { a };
        let b2 = if plan.b_vec {
            self.unsqueeze(b, -1)?
        } else {
            b
        };
        let y = self.push_owned(Op::MatMul(a2, b2), da, plan.batched)?;
        self.view_as(y, plan.out)
    }

    /// A view of `x` with a new shape of the same element count, copying first if the strides
    /// of `x` do not allow a view.
    pub(crate) fn view_as(&mut self, x: NodeId, shape: Shape) -> Result<NodeId> {
        let n = *self.node(x)?;
        if n.shape() == &shape {
            return Ok(x);
        }
        let (src, layout) = match n.layout.reshaped(&shape) {
            Some(l) => (x, l),
            None => {
                let c = self.contiguous(x)?;
                (c, Layout::contiguous(shape))
            }
        };
        let dt = n.dtype;
        self.push(Op::View(ViewKind::Reshape, src), dt, layout, Some(src), "")
    }

    /// `torch.reshape` (at most one `-1`).
    pub fn reshape(&mut self, x: NodeId, spec: &[isize]) -> Result<NodeId> {
        let id = self.next_id();
        let to = resolve_reshape(&self.shape(x)?, spec).map_err(|e| e.at_node(id))?;
        self.view_as(x, to)
    }

    /// A dense copy (`torch.contiguous`).
    pub fn contiguous(&mut self, x: NodeId) -> Result<NodeId> {
        let n = *self.node(x)?;
        self.push_owned(Op::Copy(x), n.dtype, *n.shape())
    }

    fn view(&mut self, kind: ViewKind, x: NodeId, layout: Layout) -> Result<NodeId> {
        let dt = self.node(x)?.dtype;
        self.push(Op::View(kind, x), dt, layout, Some(x), "")
    }

    /// Reorders dims (`torch.permute`).
    pub fn permute(&mut self, x: NodeId, dims: &[isize]) -> Result<NodeId> {
        let id = self.next_id();
        let l = self.node(x)?.layout;
        let out = l.permute(dims).map_err(|e| e.at_node(id))?;
        let mut perm = [0u8; MAX_RANK];
        for (i, &d) in dims.iter().enumerate() {
            perm[i] = normalize_axis(d, l.rank(), "permute")? as u8;
        }
        self.view(ViewKind::Permute(perm), x, out)
    }

    /// Swaps two dims (`torch.transpose`).
    pub fn transpose(&mut self, x: NodeId, a: isize, b: isize) -> Result<NodeId> {
        let id = self.next_id();
        let l = self.node(x)?.layout;
        let r = l.rank();
        let a = normalize_axis(a, r, "transpose").map_err(|e| e.at_node(id))?;
        let b = normalize_axis(b, r, "transpose").map_err(|e| e.at_node(id))?;
        let mut perm = [0isize; MAX_RANK];
        for (i, p) in perm.iter_mut().enumerate().take(r) {
            *p = i as isize;
        }
        perm.swap(a, b);
        self.permute(x, &perm[..r])
    }

    /// Broadcasts to `dims` with stride-0 dims (`torch.broadcast_to`).
    pub fn broadcast_to(&mut self, x: NodeId, dims: &[usize]) -> Result<NodeId> {
        let id = self.next_id();
        let target = Shape::new(dims)?;
        let l = self.node(x)?.layout;
        if l.shape() == &target {
            return Ok(x);
        }
        let out = l.broadcast_to(&target).map_err(|e| e.at_node(id))?;
        self.view(ViewKind::Broadcast, x, out)
    }

    /// Inserts a size-1 dim (`torch.unsqueeze`).
    pub fn unsqueeze(&mut self, x: NodeId, axis: isize) -> Result<NodeId> {
        let id = self.next_id();
        let out = self
            .node(x)?
            .layout
            .unsqueeze(axis)
            .map_err(|e| e.at_node(id))?;
        self.view(ViewKind::Reshape, x, out)
    }

    /// Removes size-1 dims: all (`None`) or exactly the listed ones.
    pub fn squeeze(&mut self, x: NodeId, axes: Option<&[isize]>) -> Result<NodeId> {
        let id = self.next_id();
        let out = self
            .node(x)?
            .layout
            .squeeze(axes)
            .map_err(|e| e.at_node(id))?;
        self.view(ViewKind::Reshape, x, out)
    }

    /// The same value with no gradient flowing back (`torch.Tensor.detach`).
    pub fn detach(&mut self, x: NodeId) -> Result<NodeId> {
        let l = self.node(x)?.layout;
        self.view(ViewKind::Detach, x, l)
    }

    /// Converts to another dtype (`torch.Tensor.to(dtype)`).
    pub fn cast(&mut self, x: NodeId, dtype: DType) -> Result<NodeId> {
        let n = *self.node(x)?;
        if n.dtype == dtype {
            return Ok(x);
        }
        self.push_owned(Op::Cast(x), dtype, *n.shape())
    }

    /// Softmax along `axis`, stabilised by subtracting the (detached) max.
    pub fn softmax(&mut self, x: NodeId, axis: isize) -> Result<NodeId> {
        let shifted = self.shift_by_max(x, axis)?;
        let e = self.unary(UnaryOp::Exp, shifted)?;
        let s = self.sum(e, Some(&[axis]), true)?;
        self.div(e, s)
    }

    /// Log-softmax along `axis`: `x - max - log(Σ exp(x - max))`.
    pub fn log_softmax(&mut self, x: NodeId, axis: isize) -> Result<NodeId> {
        let shifted = self.shift_by_max(x, axis)?;
        let e = self.unary(UnaryOp::Exp, shifted)?;
        let s = self.sum(e, Some(&[axis]), true)?;
        let l = self.unary(UnaryOp::Log, s)?;
        self.sub(shifted, l)
    }

    fn shift_by_max(&mut self, x: NodeId, axis: isize) -> Result<NodeId> {
        let m = self.extreme(Extremum::Max, x, Some(axis), true, false)?;
        let m = self.detach(m)?;
        self.sub(x, m)
    }

    /// One-hot rows of `depth` classes from integer `labels` (`[N]` → `[N, depth]`), in `dtype`.
    pub fn one_hot(&mut self, labels: NodeId, depth: usize, dtype: DType) -> Result<NodeId> {
        let lf = self.cast(labels, dtype)?;
        let col = self.unsqueeze(lf, -1)?;
        let iota = self.constant(dtype, &[depth], Fill::Iota { axis: 0 })?;
        self.binary(BinaryOp::Eq, col, iota)
    }

    /// Mean cross-entropy of `logits` `[N, C]` against integer class `labels` `[N]`
    /// (`torch.nn.functional.cross_entropy`).
    pub fn cross_entropy(&mut self, logits: NodeId, labels: NodeId) -> Result<NodeId> {
        let (ls, ys) = (self.shape(logits)?, self.shape(labels)?);
        let id = self.next_id();
        if ls.rank() != 2 || ys.rank() != 1 || ls.dim(0) != ys.dim(0) {
            return Err(
                Error::shapes(ErrorKind::ShapeMismatch, "cross_entropy", ls, ys).at_node(id),
            );
        }
        let dt = self.float_dtype(logits, "cross_entropy")?;
        let lsm = self.log_softmax(logits, -1)?;
        let hot = self.one_hot(labels, ls.dim(1), dt)?;
        let picked = self.mul(lsm, hot)?;
        let total = self.sum(picked, None, false)?;
        self.scalar(BinaryOp::Div, total, -(ls.dim(0) as f64), true)
    }

    /// Mean squared error (`torch.nn.functional.mse_loss`).
    pub fn mse(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        let d = self.sub(a, b)?;
        let sq = self.mul(d, d)?;
        self.mean(sq, None, false)
    }
}
