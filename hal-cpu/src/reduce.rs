//! Reductions: each output element walks the inner runs of its reduced sub-layout. Contiguous
//! runs are summed in eight independent lanes, which breaks the add dependency chain and lets
//! the compiler vectorise (the order differs from the reference's sequential sum, within the
//! corpus tolerance).

use tensile_core::ops::{Extremum, ReduceOp};
use tensile_core::{Axes, Elem, Float, Layout, NdIter, Reduce, Result};

use crate::Cpu;

const LANES: usize = 8;

/// Σ f(x) over a run of `n` elements starting at `x[0]` with stride `s`.
#[inline(always)]
fn run_sum<E: Float>(x: &[E], n: usize, s: usize, f: impl Fn(E) -> E) -> E {
    if s == 1 {
        let x = &x[..n];
        let mut acc = [E::ZERO; LANES];
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for k in 0..LANES {
                acc[k] = acc[k].add(f(c[k]));
            }
        }
        let mut total = E::ZERO;
        for t in tail {
            total = total.add(f(*t));
        }
        acc.iter().fold(total, |t, &a| t.add(a))
    } else {
        let mut total = E::ZERO;
        for i in 0..n {
            total = total.add(f(x[i * s]));
        }
        total
    }
}

fn sum_over<E: Float>(x: &[E], base: usize, red: &Layout, f: impl Fn(E) -> E + Copy) -> E {
    let it = NdIter::new([red]);
    let (n, [s]) = (it.inner_len(), it.inner_strides());
    let mut total = E::ZERO;
    for [o] in it {
        total = total.add(run_sum(&x[base + o..], n, s, f));
    }
    total
}

impl Reduce for Cpu {
    fn reduce<E: Float>(
        &self,
        op: ReduceOp,
        x: &[E],
        xl: &Layout,
        axes: Axes,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        let (kept, red) = xl.split_axes(axes);
        let n = red.numel();
        tensile_core::for_each_offset([&kept, yl], |[base, yo]| {
            let sum = sum_over(x, base, &red, |v| v);
            y[yo] = match op {
                ReduceOp::Sum => sum,
                ReduceOp::Mean => sum.div(E::from_usize(n)),
                ReduceOp::Var { correction } | ReduceOp::Std { correction } => {
                    let mean = sum.div(E::from_usize(n));
                    let ss = sum_over(x, base, &red, |v| {
                        let d = v.sub(mean);
                        d.mul(d)
                    });
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
        let (kept, red) = xl.split_axes(axes);
        let counter = Layout::contiguous(*kept.shape());
        let vl = values.as_ref().map(|v| *v.1).unwrap_or(counter);
        let il = indices.as_ref().map(|v| *v.1).unwrap_or(counter);
        tensile_core::for_each_offset([&kept, &vl, &il], |[base, vo, io]| {
            let it = NdIter::new([&red]);
            let (n, [s]) = (it.inner_len(), it.inner_strides());
            let (mut best, mut best_i, mut k) = (x[base], 0usize, 0usize);
            for [o] in it {
                let run = &x[base + o..];
                for i in 0..n {
                    let v = run[i * s];
                    if op.better(v, best) {
                        best = v;
                        best_i = k + i;
                    }
                }
                k += n;
            }
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
