//! The reference device: plain, obviously correct loops over element offsets, with every index
//! bounds-checked. It is the oracle every other device is tested against, so it favours
//! clarity over speed: one element at a time, sequential accumulation, two-pass variance.

use crate::device::{Backend, Host, Map, MatMul, Reduce, Update, UpdateFn};
use crate::dtype::{Elem, Float};
use crate::error::Result;
use crate::iter::for_each_offset;
use crate::layout::Layout;
use crate::ops::{BinaryFn, Extremum, ReduceOp, UnaryFn};
use crate::shape::{Axes, Shape};

/// The reference device (host memory, scalar loops).
///
/// ```
/// # #[cfg(feature = "alloc")] {
/// use tensile_core::{Reference, Tensor};
/// let x: Tensor<f32, Reference> = Tensor::from([[5., 8.], [4., 6.]]);
/// assert_eq!(x.sum_all().unwrap().item().unwrap(), 23.0);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reference;

impl Backend for Reference {
    type Mem<E: Elem> = [E];
    fn name(&self) -> &str {
        "reference"
    }
    fn mem_len<E: Elem>(mem: &[E]) -> usize {
        mem.len()
    }
}

impl Host for Reference {
    fn mem<E: Elem>(s: &[E]) -> &[E] {
        s
    }
    fn mem_mut<E: Elem>(s: &mut [E]) -> &mut [E] {
        s
    }
    fn slice<E: Elem>(m: &[E]) -> &[E] {
        m
    }
}

impl Map for Reference {
    fn unary<A: Elem, B: Elem, O: UnaryFn<A, B>>(
        &self,
        op: O,
        x: &[A],
        xl: &Layout,
        y: &mut [B],
        yl: &Layout,
    ) -> Result<()> {
        for_each_offset([xl, yl], |[i, o]| y[o] = op.apply(x[i]));
        Ok(())
    }

    fn binary<E: Elem, O: BinaryFn<E>>(
        &self,
        op: O,
        a: &[E],
        al: &Layout,
        b: &[E],
        bl: &Layout,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        for_each_offset([al, bl, yl], |[i, j, o]| y[o] = op.apply(a[i], b[j]));
        Ok(())
    }
}

/// Calls `f(x_base, y_offset)` for each output element of a reduction; the reduced elements of
/// that output are at `x_base + offset` for the offsets of `reduced`.
pub fn for_each_reduction(
    xl: &Layout,
    axes: Axes,
    yl: &Layout,
    mut f: impl FnMut(usize, usize, &Layout),
) {
    let (kept, reduced) = xl.split_axes(axes);
    for_each_offset([&kept, yl], |[xo, yo]| f(xo, yo, &reduced));
}

impl Reduce for Reference {
    fn reduce<E: Float>(
        &self,
        op: ReduceOp,
        x: &[E],
        xl: &Layout,
        axes: Axes,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        for_each_reduction(xl, axes, yl, |base, yo, red| {
            let n = red.numel();
            let mut sum = E::ZERO;
            for_each_offset([red], |[r]| sum = sum.add(x[base + r]));
            y[yo] = match op {
                ReduceOp::Sum => sum,
                ReduceOp::Mean => sum.div(E::from_usize(n)),
                ReduceOp::Var { correction } | ReduceOp::Std { correction } => {
                    let mean = sum.div(E::from_usize(n));
                    let mut ss = E::ZERO;
                    for_each_offset([red], |[r]| {
                        let d = x[base + r].sub(mean);
                        ss = ss.add(d.mul(d));
                    });
                    // N - c <= 0 gives inf/NaN like numpy and torch.
                    let var = ss.div(E::from_f64(n as f64 - correction as f64));
                    if matches!(op, ReduceOp::Std { .. }) {
                        var.sqrt()
                    } else {
                        var
                    }
                }
            };
        });
        Ok(())
    }

    fn extremum<E: Elem>(
        &self,
        op: Extremum,
        x: &[E],
        xl: &Layout,
        axes: Axes,
        mut values: Option<(&mut [E], &Layout)>,
        mut indices: Option<(&mut [i64], &Layout)>,
    ) -> Result<()> {
        let (kept, reduced) = xl.split_axes(axes);
        // Walk outputs in kept order; a contiguous counter indexes both output layouts.
        let out_shape: Shape = *kept.shape();
        let counter = Layout::contiguous(out_shape);
        let vl = values.as_ref().map(|v| *v.1).unwrap_or(counter);
        let il = indices.as_ref().map(|v| *v.1).unwrap_or(counter);
        for_each_offset([&kept, &vl, &il], |[base, vo, io]| {
            let (mut best, mut best_i, mut k) = (x[base], 0usize, 0usize);
            for_each_offset([&reduced], |[r]| {
                let v = x[base + r];
                if op.better(v, best) {
                    best = v;
                    best_i = k;
                }
                k += 1;
            });
            if let Some((v, _)) = values.as_mut() {
                v[vo] = best;
            }
            if let Some((i, _)) = indices.as_mut() {
                i[io] = best_i as i64;
            }
        });
        Ok(())
    }
}

impl MatMul for Reference {
    fn matmul<E: Float>(
        &self,
        a: &[E],
        al: &Layout,
        b: &[E],
        bl: &Layout,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        let r = yl.rank();
        let (m, n) = (yl.dims()[r - 2], yl.dims()[r - 1]);
        let k = al.dims()[r - 1];
        let (ast, bst, yst) = (al.strides(), bl.strides(), yl.strides());
        let batch = |l: &Layout| l.remove_axes(Axes::default().with(r - 2).with(r - 1));
        for_each_offset([&batch(al), &batch(bl), &batch(yl)], |[ao, bo, yo]| {
            for i in 0..m {
                for j in 0..n {
                    let mut acc = E::ZERO;
                    for p in 0..k {
                        let av = a[ao + i * ast[r - 2] + p * ast[r - 1]];
                        let bv = b[bo + p * bst[r - 2] + j * bst[r - 1]];
                        acc = acc.add(av.mul(bv));
                    }
                    y[yo + i * yst[r - 2] + j * yst[r - 1]] = acc;
                }
            }
        });
        Ok(())
    }
}

impl Update for Reference {
    fn update<E: Float, O: UpdateFn<E>>(
        &self,
        op: O,
        p: &mut [E],
        s1: &mut [E],
        s2: &mut [E],
        g: &[E],
        hyper: &[E],
    ) -> Result<()> {
        let c = op.prepare(hyper[0], hyper[1]);
        let (mut d1, mut d2) = (E::ZERO, E::ZERO);
        for i in 0..p.len() {
            let a = if s1.is_empty() { &mut d1 } else { &mut s1[i] };
            let b = if s2.is_empty() { &mut d2 } else { &mut s2[i] };
            op.apply(&c, &mut p[i], a, b, g[i]);
        }
        Ok(())
    }
}

#[cfg(feature = "alloc")]
impl crate::device::Alloc for Reference {
    type Buf<E: Elem> = alloc::vec::Vec<E>;
    fn alloc_zeroed<E: Elem>(&self, len: usize) -> Result<alloc::vec::Vec<E>> {
        crate::tensor::host_alloc(len)
    }
    fn upload<E: Elem>(&self, src: &[E]) -> Result<alloc::vec::Vec<E>> {
        Ok(src.to_vec())
    }
    fn download<E: Elem>(&self, src: &[E], dst: &mut [E]) -> Result<()> {
        crate::tensor::host_download(src, dst)
    }
    fn buf_mem<E: Elem>(buf: &alloc::vec::Vec<E>) -> &[E] {
        buf
    }
    fn buf_mem_mut<E: Elem>(buf: &mut alloc::vec::Vec<E>) -> &mut [E] {
        buf
    }
}
