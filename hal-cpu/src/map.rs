//! Elementwise kernels over inner runs.

use tensile_core::ops::{BinaryFn, UnaryFn};
use tensile_core::{Elem, Layout, Map, NdIter, Result};

use crate::Cpu;

impl Map for Cpu {
    fn unary<A: Elem, B: Elem, O: UnaryFn<A, B>>(
        &self,
        op: O,
        x: &[A],
        xl: &Layout,
        y: &mut [B],
        yl: &Layout,
    ) -> Result<()> {
        let it = NdIter::new([xl, yl]);
        let (n, [sx, sy]) = (it.inner_len(), it.inner_strides());
        for [xo, yo] in it {
            match (sx, sy) {
                (1, 1) => {
                    for (o, &v) in y[yo..yo + n].iter_mut().zip(&x[xo..xo + n]) {
                        *o = op.apply(v);
                    }
                }
                (0, 1) => y[yo..yo + n].fill(op.apply(x[xo])),
                _ => {
                    for i in 0..n {
                        y[yo + i * sy] = op.apply(x[xo + i * sx]);
                    }
                }
            }
        }
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
        let it = NdIter::new([al, bl, yl]);
        let (n, [sa, sb, sy]) = (it.inner_len(), it.inner_strides());
        for [ao, bo, yo] in it {
            let out = &mut y[yo..];
            match (sa, sb, sy) {
                (1, 1, 1) => {
                    let (a, b) = (&a[ao..ao + n], &b[bo..bo + n]);
                    for ((o, &u), &v) in out[..n].iter_mut().zip(a).zip(b) {
                        *o = op.apply(u, v);
                    }
                }
                (1, 0, 1) => {
                    let v = b[bo];
                    for (o, &u) in out[..n].iter_mut().zip(&a[ao..ao + n]) {
                        *o = op.apply(u, v);
                    }
                }
                (0, 1, 1) => {
                    let u = a[ao];
                    for (o, &v) in out[..n].iter_mut().zip(&b[bo..bo + n]) {
                        *o = op.apply(u, v);
                    }
                }
                _ => {
                    for i in 0..n {
                        out[i * sy] = op.apply(a[ao + i * sa], b[bo + i * sb]);
                    }
                }
            }
        }
        Ok(())
    }
}
