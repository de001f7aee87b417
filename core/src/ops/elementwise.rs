//! Checked elementwise entry points: broadcast, validate, dispatch.

use super::table::{dispatch_binary, dispatch_binary_scalar, dispatch_unary};
use super::{BinaryOp, Cast, Identity, UnaryOp};
use crate::device::{Backend, Map};
use crate::dtype::{Elem, Float};
use crate::error::{Error, ErrorKind, Result};
use crate::graph::{AllOps, OpKinds};
use crate::layout::Layout;
use crate::shape::broadcast_shapes_op;

/// Checks that `l` fits `mem`.
pub(crate) fn check_in<D: Backend, E: Elem>(
    mem: &D::Mem<E>,
    l: &Layout,
    op: &'static str,
) -> Result<()> {
    l.check_len(D::mem_len(mem), op)
}

/// Checks that `l` fits `mem`, has shape `want`, and never writes one element twice.
pub(crate) fn check_out<D: Backend, E: Elem>(
    mem: &D::Mem<E>,
    l: &Layout,
    want: &Layout,
    op: &'static str,
) -> Result<()> {
    check_out_len(l, want, D::mem_len(mem), op)
}

/// [`check_out`] for memory of `len` elements.
pub(crate) fn check_out_len(l: &Layout, want: &Layout, len: usize, op: &'static str) -> Result<()> {
    if l.shape() != want.shape() {
        return Err(Error::shapes(
            ErrorKind::ShapeMismatch,
            op,
            *l.shape(),
            *want.shape(),
        ));
    }
    if !l.is_non_overlapping() {
        return Err(Error::msg(
            ErrorKind::InvalidData,
            op,
            "output layout overlaps itself",
        ));
    }
    l.check_len(len, op)
}

/// `y = op(x)` for a unary op of the table.
pub fn unary<D: Map, E: Float>(
    dev: &D,
    op: UnaryOp,
    x: &D::Mem<E>,
    xl: &Layout,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    unary_in::<AllOps, D, E>(dev, op, x, xl, y, yl)
}

/// [`unary`] dispatching only to the kernels in `K`.
pub(crate) fn unary_in<K: OpKinds, D: Map, E: Float>(
    dev: &D,
    op: UnaryOp,
    x: &D::Mem<E>,
    xl: &Layout,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    check_in::<D, E>(x, xl, op.name())?;
    check_out::<D, E>(y, yl, xl, op.name())?;
    if yl.numel() == 0 {
        return Ok(());
    }
    dispatch_unary::<K, D, E>(dev, op, x, xl, y, yl)
}

/// `y = op(a, b)` with NumPy broadcasting; `yl` must have the broadcast shape.
#[allow(clippy::too_many_arguments)]
pub fn binary<D: Map, E: Float>(
    dev: &D,
    op: BinaryOp,
    a: &D::Mem<E>,
    al: &Layout,
    b: &D::Mem<E>,
    bl: &Layout,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    binary_in::<AllOps, D, E>(dev, op, a, al, b, bl, y, yl)
}

/// [`binary`] dispatching only to the kernels in `K`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn binary_in<K: OpKinds, D: Map, E: Float>(
    dev: &D,
    op: BinaryOp,
    a: &D::Mem<E>,
    al: &Layout,
    b: &D::Mem<E>,
    bl: &Layout,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    // Broadcasting only adds stride-0 dims, so the operands' own layouts span the same memory.
    check_in::<D, E>(a, al, op.name())?;
    check_in::<D, E>(b, bl, op.name())?;
    // Operands already of the output's shape are used as they are (no 144-byte copies: this is
    // most of a small op's cost).
    let (mut ab, mut bb) = (None, None);
    if al.shape() != bl.shape() {
        let shape = broadcast_shapes_op(al.shape(), bl.shape(), op.name())?;
        if *al.shape() != shape {
            ab = Some(al.broadcast_to_op(&shape, op.name())?);
        }
        if *bl.shape() != shape {
            bb = Some(bl.broadcast_to_op(&shape, op.name())?);
        }
    }
    let (al, bl) = (ab.as_ref().unwrap_or(al), bb.as_ref().unwrap_or(bl));
    check_out::<D, E>(y, yl, al, op.name())?;
    if yl.numel() == 0 {
        return Ok(());
    }
    dispatch_binary::<K, D, E>(dev, op, a, al, b, bl, y, yl)
}

/// `y = op(x, s)` (`scalar_rhs`) or `y = op(s, x)`: a scalar literal acts as a rank-0 tensor of
/// the other operand's dtype.
#[allow(clippy::too_many_arguments)]
pub fn binary_scalar<D: Map, E: Float>(
    dev: &D,
    op: BinaryOp,
    x: &D::Mem<E>,
    xl: &Layout,
    s: E,
    scalar_rhs: bool,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    binary_scalar_in::<AllOps, D, E>(dev, op, x, xl, s, scalar_rhs, y, yl)
}

/// [`binary_scalar`] dispatching only to the kernels in `K`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn binary_scalar_in<K: OpKinds, D: Map, E: Float>(
    dev: &D,
    op: BinaryOp,
    x: &D::Mem<E>,
    xl: &Layout,
    s: E,
    scalar_rhs: bool,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    check_in::<D, E>(x, xl, op.name())?;
    check_out::<D, E>(y, yl, xl, op.name())?;
    if yl.numel() == 0 {
        return Ok(());
    }
    dispatch_binary_scalar::<K, D, E>(dev, op, x, xl, s, scalar_rhs, y, yl)
}

/// Copies `x` into `y` (any layouts of one shape): `contiguous()` and friends.
pub fn copy<D: Map, E: Elem>(
    dev: &D,
    x: &D::Mem<E>,
    xl: &Layout,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    check_in::<D, E>(x, xl, "copy")?;
    check_out::<D, E>(y, yl, xl, "copy")?;
    if yl.numel() == 0 {
        return Ok(());
    }
    dev.unary(Identity, x, xl, y, yl)
}

/// Converts `x` to another dtype into `y`.
pub fn cast<D: Map, A: Elem, B: Elem>(
    dev: &D,
    x: &D::Mem<A>,
    xl: &Layout,
    y: &mut D::Mem<B>,
    yl: &Layout,
) -> Result<()> {
    check_in::<D, A>(x, xl, "cast")?;
    check_out::<D, B>(y, yl, xl, "cast")?;
    if yl.numel() == 0 {
        return Ok(());
    }
    dev.unary(Cast, x, xl, y, yl)
}
