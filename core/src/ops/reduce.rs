//! Checked reduction entry points.

use super::elementwise::{check_in, check_out, check_out_len};
use super::{Extremum, ReduceOp};
use crate::device::Reduce;
use crate::dtype::{Elem, Float};
use crate::error::{Context, Error, ErrorKind, Result};
use crate::layout::Layout;
use crate::shape::{Axes, Shape};

/// The shapes of a reduction, known before running (to size a buffer in no-alloc code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReducePlan {
    /// The reduced axes.
    pub axes: Axes,
    /// The result shape without the reduced dims.
    pub kept: Shape,
    /// The result shape as the caller asked (reduced dims kept as 1 with `keepdim`).
    pub out: Shape,
    /// Elements reduced into each output element.
    pub n: usize,
}

/// Plans a reduction of `x` over `axes` (`None` = all). `sum_like` allows N = 0 (only `sum`
/// does); every other reduction over zero elements is `empty_reduction`, even if the output is
/// empty.
pub fn reduce_plan(
    x: &Shape,
    axes: Option<&[isize]>,
    keepdim: bool,
    sum_like: bool,
    op: &'static str,
) -> Result<ReducePlan> {
    let set = match axes {
        None => Axes::all(x.rank()),
        Some(list) => Axes::new(list, x.rank(), op)?,
    };
    let n: usize = set.iter().map(|i| x.dim(i)).product();
    if n == 0 && !sum_like {
        return Err(Error::new(
            ErrorKind::EmptyReduction,
            op,
            Context::Shape(*x),
        ));
    }
    let l = Layout::contiguous(*x);
    let (kept, _) = l.split_axes(set);
    let out = if keepdim {
        let mut s = *x;
        for i in set.iter() {
            s = s.with_dim(i, 1);
        }
        s
    } else {
        *kept.shape()
    };
    Ok(ReducePlan {
        axes: set,
        kept: *kept.shape(),
        out,
        n,
    })
}

/// Accepts an output layout of the kept shape, or of the keepdim shape (reduced dims of size 1
/// are dropped), and returns the kept-shape layout.
fn kept_out(yl: &Layout, x_rank: usize, axes: Axes, op: &'static str) -> Result<Layout> {
    if yl.rank() == x_rank && x_rank > 0 && !axes.is_empty() {
        if axes.iter().any(|i| yl.dims()[i] != 1) {
            return Err(Error::msg(
                ErrorKind::ShapeMismatch,
                op,
                "keepdim output must have size 1 on reduced axes",
            ));
        }
        Ok(yl.remove_axes(axes))
    } else {
        Ok(*yl)
    }
}

/// Sum/mean/var/std of `x` over `axes` into `y` (of the kept or keepdim shape).
#[allow(clippy::too_many_arguments)]
pub fn reduce<D: Reduce, E: Float>(
    dev: &D,
    op: ReduceOp,
    x: &D::Mem<E>,
    xl: &Layout,
    axes: Option<&[isize]>,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    check_in::<D, E>(x, xl, op.name())?;
    let Some((set, ykept)) = reduce_layout(op, xl, axes, yl, D::mem_len(y))? else {
        return Ok(());
    };
    dev.reduce(op, x, xl, set, y, &ykept)
}

/// The checks of [`reduce`] and the reduced axes with the kept-shape output layout (`None`: an
/// empty result). Not inlined, so its temporaries are off the stack before the kernel runs.
#[inline(never)]
fn reduce_layout(
    op: ReduceOp,
    xl: &Layout,
    axes: Option<&[isize]>,
    yl: &Layout,
    y_len: usize,
) -> Result<Option<(Axes, Layout)>> {
    let plan = reduce_plan(xl.shape(), axes, false, op == ReduceOp::Sum, op.name())?;
    let ykept = kept_out(yl, xl.rank(), plan.axes, op.name())?;
    check_out_len(&ykept, &Layout::contiguous(plan.kept), y_len, op.name())?;
    if plan.kept.numel() == 0 {
        return Ok(None);
    }
    Ok(Some((plan.axes, ykept)))
}

/// Max/min values and/or indices of `x` over `axes` (`None` = all; the index is then into the
/// row-major flattening, like `numpy.argmax(axis=None)`).
pub fn extremum<D: Reduce, E: Elem>(
    dev: &D,
    op: Extremum,
    x: &D::Mem<E>,
    xl: &Layout,
    axes: Option<&[isize]>,
    values: Option<(&mut D::Mem<E>, &Layout)>,
    indices: Option<(&mut D::Mem<i64>, &Layout)>,
) -> Result<()> {
    let name = match (op, indices.is_some()) {
        (Extremum::Max, false) => "max",
        (Extremum::Min, false) => "min",
        (Extremum::Max, true) => "argmax",
        (Extremum::Min, true) => "argmin",
    };
    let plan = reduce_plan(xl.shape(), axes, false, false, name)?;
    check_in::<D, E>(x, xl, name)?;
    let want = Layout::contiguous(plan.kept);
    let mut vl = None;
    if let Some((v, l)) = &values {
        let k = kept_out(l, xl.rank(), plan.axes, name)?;
        check_out::<D, E>(v, &k, &want, name)?;
        vl = Some(k);
    }
    let mut il = None;
    if let Some((i, l)) = &indices {
        let k = kept_out(l, xl.rank(), plan.axes, name)?;
        check_out::<D, i64>(i, &k, &want, name)?;
        il = Some(k);
    }
    let values = values.map(|(m, _)| (m, vl.as_ref().unwrap_or(&want)));
    let indices = indices.map(|(m, _)| (m, il.as_ref().unwrap_or(&want)));
    if plan.kept.numel() == 0 {
        return Ok(());
    }
    dev.extremum(op, x, xl, plan.axes, values, indices)
}
