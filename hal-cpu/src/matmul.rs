//! Matmul: for each row of `y`, accumulate `a[i, p] * b[p, :]` row by row (an `axpy` over a
//! contiguous row of `b` when its columns are unit-stride), so the inner loop vectorises.

use tensile_core::{for_each_offset, Axes, Float, Layout, MatMul, Result};

use crate::Cpu;

impl MatMul for Cpu {
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
        if m == 0 || n == 0 || yl.numel() == 0 {
            return Ok(()); // nothing to write; empty dims have meaningless strides
        }
        let (ast, bst, yst) = (al.strides(), bl.strides(), yl.strides());
        let (a_row, a_col) = (ast[r - 2], ast[r - 1]);
        let (b_row, b_col) = (bst[r - 2], bst[r - 1]);
        let (y_row, y_col) = (yst[r - 2], yst[r - 1]);
        let mats = Axes::default().with(r - 2).with(r - 1);
        let batch = |l: &Layout| l.remove_axes(mats);
        for_each_offset([&batch(al), &batch(bl), &batch(yl)], |[ao, bo, yo]| {
            for i in 0..m {
                let yrow = yo + i * y_row;
                if y_col == 1 && b_col == 1 {
                    let out = &mut y[yrow..yrow + n];
                    out.fill(E::ZERO);
                    for p in 0..k {
                        let av = a[ao + i * a_row + p * a_col];
                        let brow = &b[bo + p * b_row..bo + p * b_row + n];
                        for (o, &bv) in out.iter_mut().zip(brow) {
                            *o = o.add(av.mul(bv));
                        }
                    }
                } else {
                    for j in 0..n {
                        let mut acc = E::ZERO;
                        for p in 0..k {
                            let av = a[ao + i * a_row + p * a_col];
                            acc = acc.add(av.mul(b[bo + p * b_row + j * b_col]));
                        }
                        y[yrow + j * y_col] = acc;
                    }
                }
            }
        });
        Ok(())
    }
}
