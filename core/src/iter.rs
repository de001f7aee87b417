//! The multi-operand strided iterator behind every elementwise kernel.
//!
//! [`NdIter`] walks `N` layouts of one shape together. It first drops size-1 dims and merges
//! adjacent dims whose strides allow it in *every* operand, then yields, for each inner run,
//! the offsets of its first element in each operand. The run length and the per-operand inner
//! strides are the same for every run: 1 (contiguous), 0 (broadcast) or anything else, so a
//! device picks a vectorised loop once per call. No allocation: all state is fixed arrays.

use crate::layout::Layout;
use crate::shape::MAX_RANK;

/// Walks `N` same-shaped layouts in row-major order, one inner run at a time.
///
/// ```
/// use tensile_core::{Layout, NdIter, Shape};
/// let out = Layout::contiguous(Shape::new(&[4, 3]).unwrap());
/// let row = Layout::contiguous(Shape::new(&[3]).unwrap()).broadcast_to(out.shape()).unwrap();
/// let it = NdIter::new([&out, &row]);
/// assert_eq!((it.inner_len(), it.inner_strides()), (3, [1, 1]));
/// let starts: Vec<[usize; 2]> = it.collect();
/// assert_eq!(starts, vec![[0, 0], [3, 0], [6, 0], [9, 0]]);
/// ```
#[derive(Clone, Debug)]
pub struct NdIter<const N: usize> {
    /// Outer dims (merged), outermost first; the inner dim is not among them.
    dims: [usize; MAX_RANK],
    strides: [[usize; MAX_RANK]; N],
    outer_rank: usize,
    inner_len: usize,
    inner_strides: [usize; N],
    counter: [usize; MAX_RANK],
    next: [usize; N],
    remaining: usize,
}

impl<const N: usize> NdIter<N> {
    /// Iterates the given layouts, which must all have the same shape (broadcast them first).
    ///
    /// # Panics
    /// If the shapes differ: that is a bug in the caller, not bad user input.
    pub fn new(layouts: [&Layout; N]) -> Self {
        let shape = *layouts[0].shape();
        for l in &layouts {
            // ok: a device-internal invariant (the core broadcasts operands first), documented.
            assert_eq!(l.shape(), &shape, "NdIter operands must share a shape");
        }
        let mut dims = [0usize; MAX_RANK];
        let mut strides = [[0usize; MAX_RANK]; N];
        let mut rank = 0usize;
        let empty = shape.numel() == 0;
        // Merge from the innermost dim outwards.
        for i in (0..shape.rank()).rev() {
            let d = shape.dim(i);
            if d == 1 {
                continue;
            }
            if rank > 0 {
                let last = rank - 1;
                let mergeable =
                    (0..N).all(|k| layouts[k].strides()[i] == strides[k][last] * dims[last]);
                if mergeable {
                    dims[last] *= d;
                    continue;
                }
            }
            dims[rank] = d;
            for k in 0..N {
                strides[k][rank] = layouts[k].strides()[i];
            }
            rank += 1;
        }
        // Now dims[0] is the innermost; flip to outermost-first order.
        dims[..rank].reverse();
        for s in strides.iter_mut() {
            s[..rank].reverse();
        }
        let (inner_len, inner_strides, outer_rank) = if rank == 0 {
            (1, [0usize; N], 0)
        } else {
            let mut is = [0usize; N];
            for k in 0..N {
                is[k] = strides[k][rank - 1];
            }
            (dims[rank - 1], is, rank - 1)
        };
        let outer_count: usize = dims[..outer_rank].iter().product();
        let mut next = [0usize; N];
        for k in 0..N {
            next[k] = layouts[k].offset();
        }
        NdIter {
            dims,
            strides,
            outer_rank,
            inner_len,
            inner_strides,
            counter: [0; MAX_RANK],
            next,
            remaining: if empty { 0 } else { outer_count },
        }
    }

    /// Elements per run.
    pub fn inner_len(&self) -> usize {
        self.inner_len
    }
    /// Per-operand stride within a run (0 = broadcast, 1 = contiguous).
    pub fn inner_strides(&self) -> [usize; N] {
        self.inner_strides
    }
    /// Runs left.
    pub fn runs_left(&self) -> usize {
        self.remaining
    }
    /// The merged outer dims (outermost first), without the inner run's dim.
    pub fn outer_dims(&self) -> &[usize] {
        &self.dims[..self.outer_rank]
    }
    /// Operand `k`'s strides over the merged outer dims.
    pub fn outer_strides(&self, k: usize) -> &[usize] {
        &self.strides[k][..self.outer_rank]
    }
    /// The offsets of the first element (before any `next`).
    pub fn first_offsets(&self) -> [usize; N] {
        self.next
    }
}

impl<const N: usize> Iterator for NdIter<N> {
    type Item = [usize; N];

    fn next(&mut self) -> Option<[usize; N]> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.next;
        if self.remaining > 0 {
            // Odometer increment over the outer dims.
            let mut d = self.outer_rank;
            while d > 0 {
                d -= 1;
                self.counter[d] += 1;
                for k in 0..N {
                    self.next[k] += self.strides[k][d];
                }
                if self.counter[d] < self.dims[d] {
                    break;
                }
                for k in 0..N {
                    self.next[k] -= self.strides[k][d] * self.dims[d];
                }
                self.counter[d] = 0;
            }
        }
        Some(cur)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<const N: usize> ExactSizeIterator for NdIter<N> {}

/// Visits every element offset of `N` same-shaped layouts in row-major order.
pub fn for_each_offset<const N: usize>(layouts: [&Layout; N], mut f: impl FnMut([usize; N])) {
    let it = NdIter::new(layouts);
    let (len, st) = (it.inner_len(), it.inner_strides());
    for start in it {
        let mut o = start;
        for _ in 0..len {
            f(o);
            for k in 0..N {
                o[k] += st[k];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::shape::Shape;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Naive oracle: the offset of every multi-index in row-major order.
    fn naive(l: &Layout) -> Vec<usize> {
        let mut out = Vec::new();
        let n = l.numel();
        for flat in 0..n {
            let mut rem = flat;
            let mut off = l.offset();
            for i in (0..l.rank()).rev() {
                off += (rem % l.dims()[i]) * l.strides()[i];
                rem /= l.dims()[i];
            }
            out.push(off);
        }
        out
    }

    fn layout_strategy() -> impl Strategy<Value = Layout> {
        proptest::collection::vec((0usize..4, 0usize..7), 0..6).prop_flat_map(|ds| {
            let dims: Vec<usize> = ds.iter().map(|d| d.0).collect();
            let strides: Vec<usize> = ds.iter().map(|d| d.1).collect();
            (Just(dims), Just(strides), 0usize..5)
                .prop_map(|(d, s, o)| Layout::new(Shape::new(&d).unwrap(), &s, o).unwrap())
        })
    }

    proptest! {
        #[test]
        fn visits_every_offset_in_row_major_order(l in layout_strategy()) {
            let mut got = Vec::new();
            for_each_offset([&l], |[o]| got.push(o));
            prop_assert_eq!(got, naive(&l));
        }

        #[test]
        fn two_operands_stay_in_step(l in layout_strategy(), perm_seed in 0usize..100) {
            // A second operand with the same shape: contiguous, or a broadcast of its last dim.
            let c = Layout::contiguous(*l.shape());
            let other = if perm_seed % 2 == 0 || l.rank() == 0 {
                c
            } else {
                let last = Layout::contiguous(Shape::new(&[l.dims()[l.rank() - 1]]).unwrap());
                last.broadcast_to(l.shape()).unwrap()
            };
            let mut got = Vec::new();
            for_each_offset([&l, &other], |o| got.push(o));
            let want: Vec<[usize; 2]> = naive(&l).into_iter().zip(naive(&other)).map(|(a, b)| [a, b]).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn merges_contiguous_dims_into_one_run() {
        let l = Layout::contiguous(Shape::new(&[4, 5, 6]).unwrap());
        let it = NdIter::new([&l, &l]);
        assert_eq!((it.inner_len(), it.runs_left()), (120, 1));
        let rank0 = Layout::contiguous(Shape::SCALAR);
        assert_eq!(NdIter::new([&rank0]).count(), 1);
        let empty = Layout::contiguous(Shape::new(&[3, 0]).unwrap());
        assert_eq!(NdIter::new([&empty]).count(), 0);
    }
}
