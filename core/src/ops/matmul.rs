//! Checked matmul with `numpy.matmul` rules.

use super::elementwise::{check_in, check_out_len};
use crate::device::MatMul;
use crate::dtype::Float;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::Layout;
use crate::shape::{broadcast_shapes_op, Shape, MAX_RANK};

/// The shapes of a matmul, known before running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MatmulPlan {
    /// The result shape (1-D operands' added dims removed).
    pub out: Shape,
    /// The batched result shape `(batch.., m, n)` the kernel writes.
    pub batched: Shape,
    /// Whether `a` was 1-D (a leading 1 was added).
    pub a_vec: bool,
    /// Whether `b` was 1-D (a trailing 1 was added).
    pub b_vec: bool,
    /// Rows, contraction, columns.
    pub mkn: (usize, usize, usize),
}

fn promote(a: &Layout, b: &Layout) -> Result<(Layout, Layout, bool, bool)> {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(Error::shapes(
            ErrorKind::MatmulMismatch,
            "matmul",
            *a.shape(),
            *b.shape(),
        ));
    }
    let (a_vec, b_vec) = (a.rank() == 1, b.rank() == 1);
    let a2 = if a_vec { a.unsqueeze(0)? } else { *a };
    let b2 = if b_vec { b.unsqueeze(-1)? } else { *b };
    Ok((a2, b2, a_vec, b_vec))
}

/// Plans `a @ b`: rank-0 operands and differing contraction sizes are `matmul_mismatch`,
/// non-broadcastable batch dims are `shape_mismatch`.
pub fn matmul_plan(a: &Shape, b: &Shape) -> Result<MatmulPlan> {
    let (al, bl, a_vec, b_vec) = promote(&Layout::contiguous(*a), &Layout::contiguous(*b))?;
    let (ar, br) = (al.rank(), bl.rank());
    let (m, k) = (al.dims()[ar - 2], al.dims()[ar - 1]);
    let (k2, n) = (bl.dims()[br - 2], bl.dims()[br - 1]);
    if k != k2 {
        return Err(Error::shapes(ErrorKind::MatmulMismatch, "matmul", *a, *b));
    }
    let ba = Shape::new(&al.dims()[..ar - 2])?;
    let bb = Shape::new(&bl.dims()[..br - 2])?;
    let batch = broadcast_shapes_op(&ba, &bb, "matmul")?;
    let mut dims = [0usize; MAX_RANK + 2];
    let r = batch.rank();
    dims[..r].copy_from_slice(batch.dims());
    dims[r] = m;
    dims[r + 1] = n;
    let batched = Shape::new(&dims[..r + 2])?;
    let mut out_dims = [0usize; MAX_RANK + 2];
    out_dims[..r].copy_from_slice(batch.dims());
    let mut o = r;
    if !a_vec {
        out_dims[o] = m;
        o += 1;
    }
    if !b_vec {
        out_dims[o] = n;
        o += 1;
    }
    Ok(MatmulPlan {
        out: Shape::new(&out_dims[..o])?,
        batched,
        a_vec,
        b_vec,
        mkn: (m, k, n),
    })
}

/// `y = a @ b` with `numpy.matmul` rules; `yl` has the plan's `out` shape.
pub fn matmul<D: MatMul, E: Float>(
    dev: &D,
    a: &D::Mem<E>,
    al: &Layout,
    b: &D::Mem<E>,
    bl: &Layout,
    y: &mut D::Mem<E>,
    yl: &Layout,
) -> Result<()> {
    check_in::<D, E>(a, al, "matmul")?;
    check_in::<D, E>(b, bl, "matmul")?;
    let Some([a3, b3, y3]) = batched_layouts(al, bl, yl, D::mem_len(y))? else {
        return Ok(());
    };
    dev.matmul(a, &a3, b, &b3, y, &y3)
}

/// The checks and the batched `(batch.., m, k)`, `(batch.., k, n)`, `(batch.., m, n)` layouts
/// the device runs (`None`: an empty result). Not inlined, so its temporaries are off the
/// stack before the kernel runs (microcontroller stacks).
#[inline(never)]
fn batched_layouts(
    al: &Layout,
    bl: &Layout,
    yl: &Layout,
    y_len: usize,
) -> Result<Option<[Layout; 3]>> {
    let plan = matmul_plan(al.shape(), bl.shape())?;
    check_out_len(yl, &Layout::contiguous(plan.out), y_len, "matmul")?;
    if plan.out.numel() == 0 {
        return Ok(None);
    }
    let (a2, b2, _, _) = promote(al, bl)?;
    let r = plan.batched.rank();
    let (m, k, n) = plan.mkn;
    let ad = plan.batched.with_dim(r - 2, m).with_dim(r - 1, k);
    let bd = plan.batched.with_dim(r - 2, k).with_dim(r - 1, n);
    let a3 = a2.broadcast_to_op(&ad, "matmul")?;
    let b3 = b2.broadcast_to_op(&bd, "matmul")?;
    let mut y3 = *yl;
    if plan.a_vec {
        y3 = y3.unsqueeze(if plan.b_vec { -1 } else { -2 })?;
    }
    if plan.b_vec {
        y3 = y3.unsqueeze(-1)?;
    }
    Ok(Some([a3, b3, y3]))
}
