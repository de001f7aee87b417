//! [`Layout`]: a shape, per-dim strides and an offset into a buffer. Every movement op
//! (reshape, permute, transpose, broadcast, unsqueeze, squeeze, narrow) is a rewrite of a
//! layout, so it costs no copy; broadcast dims get stride 0 (candle's `Layout`).

use crate::error::{Context, Error, ErrorKind, Result};
use crate::shape::{normalize_axis, Axes, Shape, MAX_RANK};

/// Where the elements of a tensor live in its buffer: `offset + Σ index[i] * strides[i]`.
///
/// ```
/// use tensile_core::{Layout, Shape};
/// let l = Layout::contiguous(Shape::new(&[2, 3]).unwrap());
/// let t = l.transpose(0, 1).unwrap();
/// assert_eq!(t.shape().dims(), &[3, 2]);
/// assert_eq!(t.strides(), &[1, 3]);
/// assert!(!t.is_contiguous());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layout {
    shape: Shape,
    strides: [usize; MAX_RANK],
    offset: usize,
}

impl Layout {
    /// A layout from raw parts, unchecked (for generated code: frozen graphs).
    #[doc(hidden)]
    pub const fn from_raw(
        dims: [usize; MAX_RANK],
        rank: u8,
        strides: [usize; MAX_RANK],
        offset: usize,
    ) -> Layout {
        Layout {
            shape: Shape::from_raw(dims, rank),
            strides,
            offset,
        }
    }

    /// Row-major layout of `shape` at offset 0.
    pub fn contiguous(shape: Shape) -> Layout {
        Layout {
            strides: shape.contiguous_strides(),
            shape,
            offset: 0,
        }
    }

    /// A layout from explicit parts. `Err` if ranks differ or the rank is too large; whether it
    /// fits a buffer is checked by [`Layout::check_len`].
    pub fn new(shape: Shape, strides: &[usize], offset: usize) -> Result<Layout> {
        if strides.len() != shape.rank() {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "layout",
                "strides and shape have different ranks",
            ));
        }
        let mut st = [0usize; MAX_RANK];
        st[..strides.len()].copy_from_slice(strides);
        Ok(Layout {
            shape,
            strides: st,
            offset,
        })
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    /// The dims.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }
    /// The rank.
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }
    /// The strides, in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides[..self.rank()]
    }
    /// The offset of the first element, in elements.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// The element count.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// Whether the elements are row-major and dense from `offset` on (size-1 dims ignored).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for i in (0..self.rank()).rev() {
            let d = self.shape.dim(i);
            if d == 0 {
                return true;
            }
            if d != 1 {
                if self.strides[i] != expected {
                    return false;
                }
                expected *= d;
            }
        }
        true
    }

    /// Whether no two indices map to the same offset (required of outputs). Checked by sorting
    /// the non-trivial dims by stride: each stride must exceed the span of the smaller ones.
    pub fn is_non_overlapping(&self) -> bool {
        if self.numel() <= 1 || self.is_contiguous() {
            return true; // the common case, without the sort
        }
        let mut dims = [(0usize, 0usize); MAX_RANK];
        let mut k = 0;
        for i in 0..self.rank() {
            if self.shape.dim(i) > 1 {
                dims[k] = (self.strides[i], self.shape.dim(i));
                k += 1;
            }
        }
        dims[..k].sort_unstable();
        let mut span = 0usize; // largest offset reachable by the smaller-stride dims
        for &(st, d) in &dims[..k] {
            if st <= span || st == 0 {
                return false;
            }
            span = match (d - 1).checked_mul(st).and_then(|x| x.checked_add(span)) {
                Some(s) => s,
                None => return false,
            };
        }
        true
    }

    /// The offset one past the largest element offset, or 0 for an empty tensor: a buffer must
    /// hold at least this many elements. Checked arithmetic.
    pub fn required_len(&self) -> Result<usize> {
        if self.numel() == 0 {
            return Ok(0);
        }
        let mut max = self.offset;
        for i in 0..self.rank() {
            let span = (self.shape.dim(i) - 1)
                .checked_mul(self.strides[i])
                .ok_or(Error::overflow("layout"))?;
            max = max.checked_add(span).ok_or(Error::overflow("layout"))?;
        }
        max.checked_add(1).ok_or(Error::overflow("layout"))
    }

    /// Checks that a buffer of `len` elements holds every element of this layout.
    pub fn check_len(&self, len: usize, op: &'static str) -> Result<()> {
        let need = self.required_len()?;
        if need > len {
            return Err(Error::new(
                ErrorKind::BufferTooSmall,
                op,
                Context::Bytes {
                    needed: need,
                    available: len,
                },
            ));
        }
        Ok(())
    }

    /// A view with a new shape of the same elements, if the strides allow one without a copy
    /// (PyTorch's `view` rule: each run of merged input dims must be contiguous in itself).
    /// `new` must have the same element count (see [`resolve_reshape`]).
    pub fn reshaped(&self, new: &Shape) -> Option<Layout> {
        if self.is_contiguous() {
            return Some(Layout {
                strides: new.contiguous_strides(),
                shape: *new,
                offset: self.offset,
            });
        }
        if self.numel() == 0 {
            return None;
        }
        // Walk old dims (size-1 dropped) in chunks that are contiguous internally and match a
        // run of new dims with the same product.
        let old = non_unit::Dims::of(self);
        let mut strides = [0usize; MAX_RANK];
        let (mut oi, mut ni) = (0usize, 0usize);
        let nd = new.dims();
        while ni < nd.len() {
            if nd[ni] == 1 {
                strides[ni] = 1;
                ni += 1;
                continue;
            }
            if oi >= old.len {
                return None;
            }
            // Grow an old chunk [oi, oj) that is contiguous within itself.
            let mut oj = oi + 1;
            let mut old_prod = old.dims[oi];
            let mut new_prod = 1usize;
            let n_start = ni;
            loop {
                while new_prod < old_prod && ni < nd.len() {
                    new_prod *= nd[ni];
                    ni += 1;
                }
                if new_prod == old_prod {
                    break;
                }
                if oj >= old.len || old.strides[oj - 1] != old.strides[oj] * old.dims[oj] {
                    return None;
                }
                old_prod *= old.dims[oj];
                oj += 1;
            }
            // The chunk's innermost stride anchors the new dims' strides.
            let mut st = old.strides[oj - 1];
            for k in (n_start..ni).rev() {
                strides[k] = st;
                st *= nd[k];
            }
            oi = oj;
        }
        if oi != old.len {
            return None;
        }
        Some(Layout {
            shape: *new,
            strides,
            offset: self.offset,
        })
    }

    /// Reorders dims: `out.dims[i] = in.dims[perm[i]]` (negative entries allowed).
    pub fn permute(&self, perm: &[isize]) -> Result<Layout> {
        let r = self.rank();
        if perm.len() != r {
            return Err(Error::new(
                ErrorKind::InvalidAxis,
                "permute",
                Context::Axis {
                    axis: perm.len() as isize,
                    rank: r,
                },
            ));
        }
        let seen = Axes::new(perm, r, "permute")?;
        debug_assert_eq!(seen.len(), r);
        let mut out = *self;
        let mut dims = [0usize; MAX_RANK];
        for (i, &p) in perm.iter().enumerate() {
            let p = normalize_axis(p, r, "permute")?;
            dims[i] = self.shape.dim(p);
            out.strides[i] = self.strides[p];
        }
        out.shape = Shape::from_dims_unchecked(&dims[..r]);
        Ok(out)
    }

    /// Swaps two dims (like `torch.transpose`); equal dims give the same layout.
    pub fn transpose(&self, a: isize, b: isize) -> Result<Layout> {
        let r = self.rank();
        let a = normalize_axis(a, r, "transpose")?;
        let b = normalize_axis(b, r, "transpose")?;
        let mut out = *self;
        out.strides.swap(a, b);
        let mut dims = [0usize; MAX_RANK];
        dims[..r].copy_from_slice(self.dims());
        dims.swap(a, b);
        out.shape = Shape::from_dims_unchecked(&dims[..r]);
        Ok(out)
    }

    /// Broadcasts to exactly `target` (right-aligned; each dim equal or 1; stride 0 where it
    /// stretches).
    pub fn broadcast_to(&self, target: &Shape) -> Result<Layout> {
        self.broadcast_to_op(target, "broadcast_to")
    }

    pub(crate) fn broadcast_to_op(&self, target: &Shape, op: &'static str) -> Result<Layout> {
        let (r, tr) = (self.rank(), target.rank());
        let mismatch = || Error::shapes(ErrorKind::ShapeMismatch, op, self.shape, *target);
        if tr < r {
            return Err(mismatch());
        }
        let mut strides = [0usize; MAX_RANK];
        for i in 0..r {
            let (d, t) = (self.shape.dim(i), target.dim(tr - r + i));
            strides[tr - r + i] = if d == t {
                self.strides[i]
            } else if d == 1 {
                0
            } else {
                return Err(mismatch());
            };
        }
        Ok(Layout {
            shape: *target,
            strides,
            offset: self.offset,
        })
    }

    /// Inserts a size-1 dim at `axis` (valid range `-(r+1)..=r`).
    pub fn unsqueeze(&self, axis: isize) -> Result<Layout> {
        let r = self.rank();
        if r >= MAX_RANK {
            return Err(Error::msg(
                ErrorKind::Overflow,
                "unsqueeze",
                "rank would exceed MAX_RANK",
            ));
        }
        let a = normalize_axis(axis, r + 1, "unsqueeze")?;
        let mut dims = [0usize; MAX_RANK];
        let mut strides = [0usize; MAX_RANK];
        dims[..a].copy_from_slice(&self.dims()[..a]);
        strides[..a].copy_from_slice(&self.strides[..a]);
        dims[a] = 1;
        strides[a] = if a < r {
            self.strides[a] * self.shape.dim(a)
        } else {
            1
        };
        dims[a + 1..=r].copy_from_slice(&self.dims()[a..]);
        strides[a + 1..=r].copy_from_slice(&self.strides[a..r]);
        Ok(Layout {
            shape: Shape::from_dims_unchecked(&dims[..=r]),
            strides,
            offset: self.offset,
        })
    }

    /// Removes size-1 dims: all of them (`None`), or exactly the listed ones, each of which must
    /// have size 1 (NumPy's rule).
    pub fn squeeze(&self, axes: Option<&[isize]>) -> Result<Layout> {
        let r = self.rank();
        let set = match axes {
            None => (0..r)
                .filter(|&i| self.shape.dim(i) == 1)
                .fold(Axes::default(), Axes::with),
            Some(list) => {
                let set = Axes::new(list, r, "squeeze")?;
                for &a in list {
                    let n = normalize_axis(a, r, "squeeze")?;
                    if self.shape.dim(n) != 1 {
                        return Err(Error::axis("squeeze", a, r));
                    }
                }
                set
            }
        };
        Ok(self.remove_axes(set))
    }

    /// The layout without the given axes (their index is fixed at 0): used to split batch
    /// dims from matrix dims, and kept dims from reduced ones.
    pub fn remove_axes(&self, set: Axes) -> Layout {
        let mut dims = [0usize; MAX_RANK];
        let mut strides = [0usize; MAX_RANK];
        let mut k = 0;
        for i in 0..self.rank() {
            if !set.contains(i) {
                dims[k] = self.shape.dim(i);
                strides[k] = self.strides[i];
                k += 1;
            }
        }
        Layout {
            shape: Shape::from_dims_unchecked(&dims[..k]),
            strides,
            offset: self.offset,
        }
    }

    /// Keeps `len` elements of `axis` starting at `start` (like `torch.narrow`).
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Layout> {
        let a = normalize_axis(axis, self.rank(), "narrow")?;
        let end = start.checked_add(len).ok_or(Error::overflow("narrow"))?;
        if end > self.shape.dim(a) {
            return Err(Error::new(
                ErrorKind::ShapeMismatch,
                "narrow",
                Context::Bytes {
                    needed: end,
                    available: self.shape.dim(a),
                },
            ));
        }
        let mut out = *self;
        if len > 0 {
            out.offset += start * self.strides[a];
        }
        out.shape = self.shape.with_dim(a, len);
        Ok(out)
    }

    /// Splits the dims into (kept, reduced) layouts for a reduction over `axes`. The kept layout
    /// keeps this offset; the reduced one has offset 0 (add it to each kept offset).
    pub fn split_axes(&self, axes: Axes) -> (Layout, Layout) {
        let kept = self.remove_axes(axes);
        let mut reduced = self.remove_axes(axes.complement(self.rank()));
        reduced.offset = 0;
        (kept, reduced)
    }
}

/// The dims of a layout whose size is not 1, with their strides (for the reshape walk).
mod non_unit {
    use super::{Layout, MAX_RANK};

    pub struct Dims {
        pub dims: [usize; MAX_RANK],
        pub strides: [usize; MAX_RANK],
        pub len: usize,
    }

    impl Dims {
        pub fn of(l: &Layout) -> Dims {
            let mut d = Dims {
                dims: [0; MAX_RANK],
                strides: [0; MAX_RANK],
                len: 0,
            };
            for i in 0..l.rank() {
                if l.dims()[i] != 1 {
                    d.dims[d.len] = l.dims()[i];
                    d.strides[d.len] = l.strides()[i];
                    d.len += 1;
                }
            }
            d
        }
    }
}

/// Resolves a reshape spec (at most one `-1`) against `from`, with the corpus's rules: more than
/// one `-1`, an entry below `-1`, `-1` when the other entries multiply to 0, or a different
/// element count are `invalid_reshape`.
pub fn resolve_reshape(from: &Shape, spec: &[isize]) -> Result<Shape> {
    let bad = |to: Shape| Error::shapes(ErrorKind::InvalidReshape, "reshape", *from, to);
    if spec.len() > MAX_RANK {
        return Err(Error::msg(
            ErrorKind::InvalidReshape,
            "reshape",
            "rank exceeds MAX_RANK",
        ));
    }
    let mut dims = [0usize; MAX_RANK];
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => infer = Some(i),
            d if d >= 0 => {
                dims[i] = d as usize;
                known = known.checked_mul(d as usize).ok_or(Error::msg(
                    ErrorKind::InvalidReshape,
                    "reshape",
                    "target size overflows",
                ))?;
            }
            _ => {
                return Err(Error::msg(
                    ErrorKind::InvalidReshape,
                    "reshape",
                    "at most one -1 and no entry below -1",
                ))
            }
        }
    }
    let n = from.numel();
    if let Some(i) = infer {
        if known == 0 || !n.is_multiple_of(known) {
            dims[i] = 0;
            return Err(bad(Shape::from_dims_unchecked(&dims[..spec.len()])));
        }
        dims[i] = n / known;
    }
    let to = Shape::from_dims_unchecked(&dims[..spec.len()]);
    if to.numel() != n {
        return Err(bad(to));
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(d: &[usize]) -> Layout {
        Layout::contiguous(Shape::new(d).unwrap())
    }

    #[test]
    fn reshape_rules() {
        let s = Shape::new(&[2, 3, 4]).unwrap();
        assert_eq!(resolve_reshape(&s, &[-1, 4]).unwrap().dims(), &[6, 4]);
        assert!(resolve_reshape(&s, &[-1, -1]).is_err());
        assert!(resolve_reshape(&s, &[5, -1]).is_err());
        assert!(resolve_reshape(&s, &[-2, 12]).is_err());
        let z = Shape::new(&[0, 3]).unwrap();
        assert!(resolve_reshape(&z, &[0, -1]).is_err());
        assert_eq!(resolve_reshape(&z, &[3, 0]).unwrap().dims(), &[3, 0]);
        let one = Shape::new(&[1, 1]).unwrap();
        assert_eq!(resolve_reshape(&one, &[]).unwrap().rank(), 0);
    }

    #[test]
    fn reshape_of_transposed_view_needs_copy_only_when_it_must() {
        let t = c(&[2, 3, 4]).permute(&[1, 0, 2]).unwrap(); // (3,2,4), strides (4,12,1)
                                                            // merging the last dim split keeps a view
        let v = t.reshaped(&Shape::new(&[3, 2, 2, 2]).unwrap()).unwrap();
        assert_eq!(v.strides(), &[4, 12, 2, 1]);
        // merging dims 0 and 1 (not contiguous together) needs a copy
        assert!(t.reshaped(&Shape::new(&[6, 4]).unwrap()).is_none());
    }

    #[test]
    fn movement_rewrites() {
        let l = c(&[2, 3]);
        let u = l.unsqueeze(1).unwrap();
        assert_eq!(u.dims(), &[2, 1, 3]);
        assert_eq!(u.squeeze(None).unwrap().dims(), &[2, 3]);
        assert!(u.squeeze(Some(&[0])).is_err());
        let b = c(&[3]).broadcast_to(&Shape::new(&[2, 3]).unwrap()).unwrap();
        assert_eq!(b.strides(), &[0, 1]);
        let n = l.narrow(1, 1, 2).unwrap();
        assert_eq!((n.offset(), n.dims()), (1, &[2usize, 2][..]));
        assert!(l.narrow(1, 2, 2).is_err());
        assert_eq!(l.required_len().unwrap(), 6);
        let (kept, red) = c(&[2, 3, 4]).split_axes(Axes::new(&[0, 2], 3, "t").unwrap());
        assert_eq!(
            (kept.dims(), kept.strides()),
            (&[3usize][..], &[4usize][..])
        );
        assert_eq!(
            (red.dims(), red.strides()),
            (&[2usize, 4][..], &[12usize, 1][..])
        );
    }
}
