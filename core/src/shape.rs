//! Runtime shapes stored inline up to [`MAX_RANK`] dims, NumPy broadcasting, axis handling.

use core::fmt;

use crate::error::{Context, Error, ErrorKind, Result};

/// The largest rank a tensor can have. Dims and strides are stored inline in fixed arrays of
/// this length, so shapes never allocate. Eight covers every PyTorch model layer we target
/// (batch, channels, up to 3 spatial dims, heads, ...) at 64 bytes per array.
pub const MAX_RANK: usize = 8;

/// A shape: up to [`MAX_RANK`] dims. Rank 0 holds one element; a zero dim holds none.
///
/// ```
/// use tensile_core::Shape;
/// let s = Shape::new(&[2, 3, 4]).unwrap();
/// assert_eq!(s.numel(), 24);
/// assert_eq!(s.to_string(), "[2, 3, 4]");
/// assert!(Shape::new(&[usize::MAX, 2]).is_err()); // overflow is an error, never a wrap
/// ```
#[derive(Clone, Copy)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: u8,
}

// By rank and the dims in use: a short loop, where the derived impls compared all
// `MAX_RANK` slots through a `memcmp` call (a tenth of a small op's time).
impl PartialEq for Shape {
    #[inline]
    fn eq(&self, o: &Shape) -> bool {
        self.rank == o.rank && self.dims().iter().zip(o.dims()).all(|(a, b)| a == b)
    }
}

impl Eq for Shape {}

impl core::hash::Hash for Shape {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.dims().hash(h);
    }
}

impl Shape {
    /// The rank-0 shape `[]`.
    pub const SCALAR: Shape = Shape {
        dims: [0; MAX_RANK],
        rank: 0,
    };

    /// A shape from dims. Fails if the rank exceeds [`MAX_RANK`] or the element count overflows.
    pub fn new(dims: &[usize]) -> Result<Shape> {
        if dims.len() > MAX_RANK {
            return Err(Error::msg(
                ErrorKind::Overflow,
                "shape",
                "rank exceeds MAX_RANK",
            ));
        }
        let mut s = Shape::SCALAR;
        s.dims[..dims.len()].copy_from_slice(dims);
        s.rank = dims.len() as u8;
        s.checked_numel()?;
        Ok(s)
    }

    /// Builds a shape from dims that are known to be valid (rank and size already checked).
    /// A shape from raw parts, unchecked (for generated code: frozen graphs).
    #[doc(hidden)]
    pub const fn from_raw(dims: [usize; MAX_RANK], rank: u8) -> Shape {
        Shape { dims, rank }
    }

    pub(crate) fn from_dims_unchecked(dims: &[usize]) -> Shape {
        let mut s = Shape::SCALAR;
        s.dims[..dims.len()].copy_from_slice(dims);
        s.rank = dims.len() as u8;
        s
    }

    /// The dims.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }
    /// The number of dims.
    pub fn rank(&self) -> usize {
        self.rank as usize
    }
    /// Dim `i` (panics if `i >= rank`, like slice indexing; use [`Shape::dims`] to be safe).
    pub fn dim(&self, i: usize) -> usize {
        self.dims()[i]
    }
    /// The element count, checked.
    pub fn checked_numel(&self) -> Result<usize> {
        self.dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or(Error::new(
                ErrorKind::Overflow,
                "shape",
                Context::Message("element count overflows usize"),
            ))
    }
    /// The element count. Every constructor checks it, so this cannot overflow.
    pub fn numel(&self) -> usize {
        self.dims().iter().product()
    }
    /// The shape with one dim replaced.
    pub(crate) fn with_dim(mut self, i: usize, d: usize) -> Shape {
        self.dims[i] = d;
        self
    }
    /// Row-major (C order) strides for this shape, in elements.
    pub fn contiguous_strides(&self) -> [usize; MAX_RANK] {
        let mut st = [0usize; MAX_RANK];
        let mut acc = 1usize;
        for i in (0..self.rank()).rev() {
            st[i] = acc;
            acc = acc.saturating_mul(self.dims[i].max(1));
        }
        st
    }
    /// Normalizes an axis (`-r <= a < r`) against this shape's rank.
    pub fn axis(&self, axis: isize, op: &'static str) -> Result<usize> {
        normalize_axis(axis, self.rank(), op)
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Shape {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{}", self.dims())
    }
}

impl TryFrom<&[usize]> for Shape {
    type Error = Error;
    fn try_from(d: &[usize]) -> Result<Shape> {
        Shape::new(d)
    }
}

impl<const N: usize> TryFrom<[usize; N]> for Shape {
    type Error = Error;
    fn try_from(d: [usize; N]) -> Result<Shape> {
        Shape::new(&d)
    }
}

/// Anything that names a shape: `Shape`, `[usize; N]`, `&[usize]`.
pub trait IntoShape {
    /// The shape, checked.
    fn into_shape(self) -> Result<Shape>;
}
impl IntoShape for Shape {
    fn into_shape(self) -> Result<Shape> {
        Ok(self)
    }
}
impl IntoShape for &Shape {
    fn into_shape(self) -> Result<Shape> {
        Ok(*self)
    }
}
impl IntoShape for &[usize] {
    fn into_shape(self) -> Result<Shape> {
        Shape::new(self)
    }
}
impl<const N: usize> IntoShape for [usize; N] {
    fn into_shape(self) -> Result<Shape> {
        Shape::new(&self)
    }
}
impl<const N: usize> IntoShape for &[usize; N] {
    fn into_shape(self) -> Result<Shape> {
        Shape::new(self)
    }
}

/// Normalizes `axis` for a tensor of rank `rank`: valid axes are `-rank..rank`.
pub fn normalize_axis(axis: isize, rank: usize, op: &'static str) -> Result<usize> {
    let r = rank as isize;
    if axis < -r || axis >= r {
        return Err(Error::axis(op, axis, rank));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// The NumPy broadcast of two shapes (aligned at the last dim; 1 stretches, also to 0).
pub fn broadcast_shapes(a: &Shape, b: &Shape) -> Result<Shape> {
    broadcast_shapes_op(a, b, "broadcast")
}

pub(crate) fn broadcast_shapes_op(a: &Shape, b: &Shape, op: &'static str) -> Result<Shape> {
    let r = a.rank().max(b.rank());
    let mut out = [0usize; MAX_RANK];
    for (i, o) in out.iter_mut().enumerate().take(r) {
        let da = dim_from_right(a, r - 1 - i);
        let db = dim_from_right(b, r - 1 - i);
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shapes(ErrorKind::ShapeMismatch, op, *a, *b));
        };
    }
    // The whole array (its tail is zero), not a variable-length copy: that is a `memcpy` call.
    Ok(Shape {
        dims: out,
        rank: r as u8,
    })
}

/// Dim `k` counted from the right (0 = last), or 1 if the shape is too short.
fn dim_from_right(s: &Shape, k: usize) -> usize {
    if k < s.rank() {
        s.dims()[s.rank() - 1 - k]
    } else {
        1
    }
}

/// A set of axes of one tensor, as a bit mask (at most [`MAX_RANK`] axes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Axes {
    mask: u16,
}

impl Axes {
    /// The axes of a bit mask (bit `i` = axis `i`), unchecked (for generated code).
    #[doc(hidden)]
    pub const fn from_mask(mask: u16) -> Axes {
        Axes { mask }
    }

    /// The bit mask (bit `i` = axis `i`).
    #[doc(hidden)]
    pub const fn mask(&self) -> u16 {
        self.mask
    }

    /// Every axis of a tensor of rank `rank`.
    pub fn all(rank: usize) -> Axes {
        Axes {
            mask: ((1u32 << rank) - 1) as u16,
        }
    }
    /// Normalizes a list of (possibly negative) axes; duplicates after normalization are an
    /// `invalid_axis` error.
    pub fn new(axes: &[isize], rank: usize, op: &'static str) -> Result<Axes> {
        let mut mask = 0u16;
        for &a in axes {
            let n = normalize_axis(a, rank, op)?;
            if mask & (1 << n) != 0 {
                return Err(Error::axis(op, a, rank));
            }
            mask |= 1 << n;
        }
        Ok(Axes { mask })
    }
    /// The set with axis `i` added.
    pub fn with(self, i: usize) -> Axes {
        Axes {
            mask: self.mask | (1 << i),
        }
    }
    /// The axes of a rank-`rank` tensor that are not in this set.
    pub fn complement(self, rank: usize) -> Axes {
        Axes {
            mask: Axes::all(rank).mask & !self.mask,
        }
    }
    /// Whether axis `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        i < 16 && self.mask & (1 << i) != 0
    }
    /// The number of axes in the set.
    pub fn len(&self) -> usize {
        self.mask.count_ones() as usize
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.mask == 0
    }
    /// The axes in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..16).filter(move |&i| self.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(
            broadcast_shapes(&s(&[1, 6, 4, 1, 7, 2]), &s(&[5, 6, 1, 3, 1, 2])).unwrap(),
            s(&[5, 6, 4, 3, 7, 2])
        );
        assert_eq!(broadcast_shapes(&s(&[1]), &s(&[0])).unwrap(), s(&[0]));
        assert_eq!(broadcast_shapes(&s(&[]), &s(&[2, 3])).unwrap(), s(&[2, 3]));
        let e = broadcast_shapes(&s(&[0, 3]), &s(&[2, 3])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
    }

    #[test]
    fn overflow_and_rank_are_errors() {
        assert_eq!(
            Shape::new(&[1 << 40, 1 << 40]).unwrap_err().kind(),
            ErrorKind::Overflow
        );
        assert_eq!(
            Shape::new(&[1; MAX_RANK + 1]).unwrap_err().kind(),
            ErrorKind::Overflow
        );
        assert_eq!(Shape::new(&[0, usize::MAX]).unwrap().numel(), 0);
    }

    #[test]
    fn axes_normalize_and_reject_duplicates() {
        assert_eq!(Axes::new(&[-1, 0], 3, "t").unwrap().iter().count(), 2);
        assert!(Axes::new(&[0, -2], 2, "t").is_err());
        assert!(Axes::new(&[3], 3, "t").is_err());
        assert!(Axes::new(&[0], 0, "t").is_err());
    }
}

#[cfg(test)]
mod broadcast_oracle {
    extern crate std;
    use super::*;
    use crate::{BinaryOp, Reference, TensorView, TensorViewMut};
    use proptest::prelude::*;
    use std::vec::Vec;

    /// NumPy's rule, written from the spec without sharing code with `broadcast_shapes`.
    fn naive_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
        let r = a.len().max(b.len());
        let pad = |s: &[usize]| -> Vec<usize> {
            core::iter::repeat_n(1, r - s.len())
                .chain(s.iter().copied())
                .collect()
        };
        let (a, b) = (pad(a), pad(b));
        a.iter()
            .zip(&b)
            .map(|(&x, &y)| match (x, y) {
                _ if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            })
            .collect()
    }

    /// The row-major flat index into `src` of output multi-index `idx` (right-aligned,
    /// size-1 dims pinned to 0).
    fn source_index(idx: &[usize], src: &[usize]) -> usize {
        let off = idx.len() - src.len();
        let mut flat = 0;
        for (k, &d) in src.iter().enumerate() {
            flat = flat * d + if d == 1 { 0 } else { idx[off + k] };
        }
        flat
    }

    fn dims() -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(prop_oneof![Just(1usize), 0usize..4], 0..5)
    }

    proptest! {
        #[test]
        fn add_matches_naive_broadcast(a in dims(), b in dims()) {
            let want_shape = naive_shape(&a, &b);
            let got = broadcast_shapes(&Shape::new(&a).unwrap(), &Shape::new(&b).unwrap());
            match (&want_shape, &got) {
                (None, Err(e)) => prop_assert_eq!(e.kind(), ErrorKind::ShapeMismatch),
                (Some(w), Ok(g)) => prop_assert_eq!(&w[..], g.dims()),
                _ => prop_assert!(false, "{:?} vs {:?}", want_shape, got),
            }
            let Some(out_shape) = want_shape else { return Ok(()); };
            let av: Vec<f64> = (0..a.iter().product::<usize>()).map(|i| i as f64).collect();
            let bv: Vec<f64> = (0..b.iter().product::<usize>()).map(|i| 1000.0 * i as f64).collect();
            let n: usize = out_shape.iter().product();
            let mut out = std::vec![f64::NAN; n];
            let x = TensorView::new(&av, &a[..]).unwrap();
            let y = TensorView::new(&bv, &b[..]).unwrap();
            let mut z = TensorViewMut::new(&mut out, &out_shape[..]).unwrap();
            x.binary_into(&Reference, BinaryOp::Add, &y, &mut z).unwrap();
            // Walk output indices in row-major order.
            let mut idx = std::vec![0usize; out_shape.len()];
            for (flat, &got) in out.iter().enumerate() {
                let want = av[source_index(&idx, &a)] + bv[source_index(&idx, &b)];
                prop_assert_eq!(got, want, "at flat {}", flat);
                for k in (0..idx.len()).rev() {
                    idx[k] += 1;
                    if idx[k] < out_shape[k] { break; }
                    idx[k] = 0;
                }
            }
        }
    }
}
