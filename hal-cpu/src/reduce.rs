//! Reductions, compiled per ISA (see `simd`). Two shapes of work:
//! - along the contiguous axis (or any strided one): each output element sums its reduced
//!   runs in 32 independent lanes (the order differs from the reference's sequential sum,
//!   within the corpus tolerance);
//! - over outer axes with a contiguous kept block (mean over the batch, std over the rows of a
//!   matrix): whole rows of outputs are accumulated per reduced index, so memory streams once
//!   and the adds vectorise across outputs (var/std with Welford's one-pass update).
//!
//! The reduced sub-layout's iterator is built once per call, not per output element.

use tensile_core::ops::{Extremum, ReduceOp};
use tensile_core::{for_each_offset, Axes, Elem, Float, Layout, NdIter, Reduce, Result};

use crate::simd::multiversion;
use crate::Cpu;

const LANES: usize = 32;
/// Outputs handled per pass of the column path (its two scratch rows live on the stack):
/// wide on hosts, so each pass streams whole rows of x; small on microcontroller stacks.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const COLS: usize = 4096;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const COLS: usize = 16;

/// Σ f(x) over `n` values from `x[0]` at stride `s`.
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

#[inline(always)]
fn sum_over<E: Float>(x: &[E], base: usize, red: &NdIter<1>, f: impl Fn(E) -> E + Copy) -> E {
    let (n, [s]) = (red.inner_len(), red.inner_strides());
    let mut total = E::ZERO;
    for [o] in red.clone() {
        total = total.add(run_sum(&x[base + o..], n, s, f));
    }
    total
}

/// `n - correction` as `E`, negative when the correction exceeds the count (then var is
/// negative or NaN, as in PyTorch), without f64 arithmetic (soft-float on small targets).
#[inline(always)]
fn dof<E: Float>(n: usize, correction: usize) -> E {
    if n >= correction {
        E::from_usize(n - correction)
    } else {
        -E::from_usize(correction - n)
    }
}

/// The finishing step of a reduction from its sum (and, for var/std, the squared deviations).
#[inline(always)]
fn finish<E: Float>(op: ReduceOp, sum: E, ss: E, n: usize) -> E {
    match op {
        ReduceOp::Sum => sum,
        ReduceOp::Mean => sum.div(E::from_usize(n)),
        ReduceOp::Var { correction } => ss.div(dof::<E>(n, correction)),
        ReduceOp::Std { correction } => ss.div(dof::<E>(n, correction)).sqrt(),
    }
}

#[inline(always)]
fn per_output<E: Float>(
    op: ReduceOp,
    x: &[E],
    kept: &Layout,
    red: &Layout,
    y: &mut [E],
    yl: &Layout,
) {
    let n = red.numel();
    let it = NdIter::new([red]);
    for_each_offset([kept, yl], |[base, yo]| {
        let sum = sum_over(x, base, &it, |v| v);
        let ss = match op {
            ReduceOp::Var { .. } | ReduceOp::Std { .. } => {
                let mean = sum.div(E::from_usize(n));
                sum_over(x, base, &it, |v| {
                    let d = v.sub(mean);
                    d.mul(d)
                })
            }
            _ => E::ZERO,
        };
        y[yo] = finish(op, sum, ss, n);
    });
}

/// Column path: the kept layout (and y) have contiguous inner runs; for each run of outputs,
/// accumulate the matching run of x for every reduced offset.
#[inline(always)]
fn columns<E: Float>(op: ReduceOp, x: &[E], kept: &Layout, red: &Layout, y: &mut [E], yl: &Layout) {
    let n = red.numel();
    let kit = NdIter::new([kept, yl]);
    let len = kit.inner_len();
    let rit = NdIter::new([red]);
    // 64-byte-aligned scratch rows, and a first chunk that ends where x's rows reach a 64-byte
    // boundary, so the wide loads of the main chunks never straddle cache lines (a large
    // buffer typically starts 16 bytes past a page boundary: that cost 40% here).
    let mut acc = Aligned([E::ZERO; COLS]);
    let mut ss = Aligned([E::ZERO; COLS]);
    let (acc, ss) = (&mut acc.0, &mut ss.0);
    let first = rit.first_offsets()[0];
    for [xo, yo] in kit {
        let size = core::mem::size_of::<E>();
        let mis = x[xo + first..].as_ptr() as usize % 64;
        let head = if mis == 0 || !mis.is_multiple_of(size) {
            0
        } else {
            ((64 - mis) / size).min(len)
        };
        let mut c0 = 0;
        while c0 < len {
            let w = if c0 == 0 && head > 0 {
                head
            } else {
                COLS.min(len - c0)
            };
            let out = &mut y[yo + c0..yo + c0 + w];
            let acc = &mut acc[..w];
            acc.fill(E::ZERO);
            match op {
                ReduceOp::Var { .. } | ReduceOp::Std { .. } => {
                    // Welford's online update: one pass over x, numerically stable (a running
                    // mean, and squared deviations from it), instead of a mean pass and a
                    // deviation pass over memory.
                    let m2 = &mut ss[..w];
                    m2.fill(E::ZERO);
                    let mut count = 0usize;
                    for_each_red(&rit, |r| {
                        count += 1;
                        let inv = E::ONE.div(E::from_usize(count));
                        for ((m, s), &v) in acc
                            .iter_mut()
                            .zip(m2.iter_mut())
                            .zip(&x[xo + c0 + r..][..w])
                        {
                            let d = v.sub(*m);
                            *m = m.add(d.mul(inv));
                            *s = s.add(d.mul(v.sub(*m)));
                        }
                    });
                    for (o, &s) in out.iter_mut().zip(m2.iter()) {
                        *o = finish(op, E::ZERO, s, n);
                    }
                }
                _ => {
                    for_each_red(&rit, |r| {
                        for (a, &v) in acc.iter_mut().zip(&x[xo + c0 + r..][..w]) {
                            *a = a.add(v);
                        }
                    });
                    for (o, &a) in out.iter_mut().zip(acc.iter()) {
                        *o = finish(op, a, E::ZERO, n);
                    }
                }
            }
            c0 += w;
        }
    }
}

/// A 64-byte-aligned scratch row.
#[repr(C, align(64))]
struct Aligned<T>(T);

/// Calls `f` with every offset of a reduced sub-layout.
#[inline(always)]
fn for_each_red(it: &NdIter<1>, mut f: impl FnMut(usize)) {
    let (n, [s]) = (it.inner_len(), it.inner_strides());
    for [o] in it.clone() {
        for i in 0..n {
            f(o + i * s);
        }
    }
}

/// One output per short contiguous segment: x is `[outputs, n]` row-major over each run.
#[inline(always)]
fn segments<E: Float, const N: usize>(op: ReduceOp, xs: &[E], ys: &mut [E], n: usize) {
    let n = if N > 0 { N } else { n };
    for (o, c) in ys.iter_mut().zip(xs.chunks_exact(n)) {
        let sum = c.iter().fold(E::ZERO, |t, &v| t.add(v));
        let ss = match op {
            ReduceOp::Var { .. } | ReduceOp::Std { .. } => {
                let mean = sum.div(E::from_usize(n));
                c.iter().fold(E::ZERO, |t, &v| {
                    let d = v.sub(mean);
                    t.add(d.mul(d))
                })
            }
            _ => E::ZERO,
        };
        *o = finish(op, sum, ss, n);
    }
}

#[inline(always)]
fn reduce_impl<E: Float>(op: ReduceOp, x: &[E], xl: &Layout, axes: Axes, y: &mut [E], yl: &Layout) {
    let (kept, red) = xl.split_axes(axes);
    let kit = NdIter::new([&kept, yl]);
    let rit = NdIter::new([&red]);
    let n = red.numel();
    // Short contiguous segments in order (mean over 3 channels): a tight loop per segment.
    if n <= 64
        && rit.runs_left() == 1
        && rit.inner_strides()[0] == 1
        && kit.inner_strides() == [n, 1]
    {
        let len = kit.inner_len();
        for [xo, yo] in kit {
            let (xs, ys) = (&x[xo..xo + len * n], &mut y[yo..yo + len]);
            match n {
                2 => segments::<E, 2>(op, xs, ys, n),
                3 => segments::<E, 3>(op, xs, ys, n),
                4 => segments::<E, 4>(op, xs, ys, n),
                8 => segments::<E, 8>(op, xs, ys, n),
                _ => segments::<E, 0>(op, xs, ys, n),
            }
        }
        return;
    }
    // Outer-axis reduction: outputs are contiguous runs of x, and the reduced axes are not.
    let column =
        kit.inner_strides() == [1, 1] && kit.inner_len() >= 16 && rit.inner_strides()[0] != 1;
    if column {
        columns(op, x, &kept, &red, y, yl);
    } else {
        per_output(op, x, &kept, &red, y, yl);
    }
}

/// The extreme of each short contiguous segment (`N` = its length, or 0 for "use `n`"). Each
/// output combination gets its own loop, so the per-segment work stays branch-free.
#[inline(always)]
fn arg_segments<E: Elem, const N: usize>(
    op: Extremum,
    xs: &[E],
    n: usize,
    values: Option<&mut [E]>,
    indices: Option<&mut [i64]>,
) {
    let n = if N > 0 { N } else { n.max(1) };
    let seg = |c: &[E]| {
        let (mut best, mut best_i) = (c[0], 0i64);
        for (i, &v) in c.iter().enumerate().skip(1) {
            let t = op.better(v, best);
            best = if t { v } else { best };
            best_i = if t { i as i64 } else { best_i };
        }
        (best, best_i)
    };
    let segs = xs.chunks_exact(n);
    match (values, indices) {
        (Some(vs), Some(is)) => {
            for ((c, v), ix) in segs.zip(vs.iter_mut()).zip(is.iter_mut()) {
                (*v, *ix) = seg(c);
            }
        }
        (Some(vs), None) => {
            for (c, v) in segs.zip(vs.iter_mut()) {
                *v = seg(c).0;
            }
        }
        (None, Some(is)) => {
            for (c, ix) in segs.zip(is.iter_mut()) {
                *ix = seg(c).1;
            }
        }
        (None, None) => {}
    }
}

#[inline(always)]
#[allow(clippy::type_complexity)]
fn extremum_impl<E: Elem>(
    op: Extremum,
    x: &[E],
    xl: &Layout,
    axes: Axes,
    values: &mut Option<(&mut [E], &Layout)>,
    indices: &mut Option<(&mut [i64], &Layout)>,
) {
    let (kept, red) = xl.split_axes(axes);
    let counter = Layout::contiguous(*kept.shape());
    let vl = values.as_ref().map(|v| *v.1).unwrap_or(counter);
    let il = indices.as_ref().map(|v| *v.1).unwrap_or(counter);
    let rit = NdIter::new([&red]);
    let (n, [s]) = (rit.inner_len(), rit.inner_strides());
    let single = rit.runs_left() == 1;
    // Contiguous segments in order with contiguous outputs (argmax over channels).
    let kit = NdIter::new([&kept, &vl, &il]);
    if single && s == 1 && kit.inner_strides() == [n, 1, 1] {
        let len = kit.inner_len();
        for [xo, vo, io] in kit {
            let xs = &x[xo..xo + len * n];
            let vs = values.as_mut().map(|(v, _)| &mut v[vo..vo + len]);
            let is = indices.as_mut().map(|(ix, _)| &mut ix[io..io + len]);
            match n {
                2 => arg_segments::<E, 2>(op, xs, n, vs, is),
                3 => arg_segments::<E, 3>(op, xs, n, vs, is),
                4 => arg_segments::<E, 4>(op, xs, n, vs, is),
                _ => arg_segments::<E, 0>(op, xs, n, vs, is),
            }
        }
        return;
    }
    for_each_offset([&kept, &vl, &il], |[base, vo, io]| {
        let (mut best, mut best_i) = (x[base], 0usize);
        if single {
            // One run: the common case (one axis, or all of a contiguous tensor).
            let start = base + rit.first_offsets()[0];
            for i in 0..n {
                let v = x[start + i * s];
                if op.better(v, best) {
                    best = v;
                    best_i = i;
                }
            }
        } else {
            let mut k = 0usize;
            for [o] in rit.clone() {
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
        }
        if let Some((v, _)) = values.as_mut() {
            v[vo] = best;
        }
        if let Some((i, _)) = indices.as_mut() {
            i[io] = best_i as i64;
        }
    });
}

multiversion!(fn reduce_isa<E: Float>(op: ReduceOp, x: &[E], xl: &Layout, axes: Axes, y: &mut [E], yl: &Layout) => reduce_impl);
multiversion!(fn extremum_isa<E: Elem>(op: Extremum, x: &[E], xl: &Layout, axes: Axes, values: &mut Option<(&mut [E], &Layout)>, indices: &mut Option<(&mut [i64], &Layout)>) => extremum_impl);

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
        reduce_isa(op, x, xl, axes, y, yl);
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
        extremum_isa(op, x, xl, axes, &mut values, &mut indices);
        Ok(())
    }
}
