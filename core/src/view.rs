//! [`TensorBase`]: one tensor implementation over a storage parameter (the heapless owned/view
//! pattern). [`TensorView`] and [`TensorViewMut`] borrow caller memory and never allocate;
//! `Tensor` (feature `alloc`) owns device memory. Metadata, movement ops and
//! printing are written once here, for every face.

use core::fmt;

use crate::device::{Host, Map, MatMul, Reduce};
use crate::dtype::{DType, Elem, Float};
use crate::error::{Error, ErrorKind, Result};
use crate::iter::NdIter;
use crate::layout::{resolve_reshape, Layout};
use crate::ops::{self, BinaryOp, Extremum, ReduceOp, UnaryOp};
use crate::shape::{IntoShape, Shape};

/// What a tensor keeps its elements in.
pub trait Storage {
    /// The element type.
    type Elem: Elem;
}

impl<E: Elem> Storage for &[E] {
    type Elem = E;
}
impl<E: Elem> Storage for &mut [E] {
    type Elem = E;
}

/// A tensor: storage plus a [`Layout`]. Use the aliases [`TensorView`], [`TensorViewMut`] and
/// `Tensor`.
#[derive(Clone)]
pub struct TensorBase<S: Storage> {
    pub(crate) data: S,
    pub(crate) layout: Layout,
}

/// A read-only tensor over a caller's slice (zero-copy, no allocation).
///
/// ```
/// # fn main() -> tensile_core::Result<()> {
/// use tensile_core::{Reference, TensorView, TensorViewMut, UnaryOp};
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let x = TensorView::new(&data, [2, 3])?;
/// let xt = x.transpose(0, 1)?; // a layout rewrite, no copy
/// assert_eq!(xt.get(&[2, 1])?, 6.0);
/// let mut out = [0.0f32; 6];
/// let mut y = TensorViewMut::new(&mut out, [3, 2])?;
/// xt.unary_into(&Reference, UnaryOp::Neg, &mut y)?; // into the caller's buffer
/// assert_eq!(out, [-1.0, -4.0, -2.0, -5.0, -3.0, -6.0]);
/// # Ok(())
/// # }
/// ```
pub type TensorView<'a, E> = TensorBase<&'a [E]>;

/// A writable tensor over a caller's slice: the output of no-alloc operations.
pub type TensorViewMut<'a, E> = TensorBase<&'a mut [E]>;

impl<S: Storage> TensorBase<S> {
    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The shape.
    pub fn shape(&self) -> &Shape {
        self.layout.shape()
    }
    /// The dims.
    pub fn dims(&self) -> &[usize] {
        self.layout.dims()
    }
    /// The rank.
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }
    /// The element count.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        S::Elem::DTYPE
    }
    /// Whether the elements are dense and row-major.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }
}

impl<S: Storage + Clone> TensorBase<S> {
    fn relayout(&self, layout: Layout) -> Self {
        TensorBase {
            data: self.data.clone(),
            layout,
        }
    }
    /// The same elements with a new shape, without copying (PyTorch's `view`): at most one
    /// `-1`; fails with `invalid_reshape` if the sizes differ and with `invalid_data` if the
    /// strides need a copy (owned tensors have `reshape`, which copies then).
    pub fn view(&self, shape: &[isize]) -> Result<Self> {
        let to = resolve_reshape(self.shape(), shape)?;
        match self.layout.reshaped(&to) {
            Some(l) => Ok(self.relayout(l)),
            None => Err(Error::msg(
                ErrorKind::InvalidData,
                "view",
                "strides need a copy: make it contiguous first",
            )),
        }
    }
    /// Reorders dims (`torch.permute`).
    pub fn permute(&self, dims: &[isize]) -> Result<Self> {
        Ok(self.relayout(self.layout.permute(dims)?))
    }
    /// Swaps two dims (`torch.transpose`).
    pub fn transpose(&self, a: isize, b: isize) -> Result<Self> {
        Ok(self.relayout(self.layout.transpose(a, b)?))
    }
    /// Swaps the last two dims (the matrix transpose on rank 2).
    pub fn t(&self) -> Result<Self> {
        self.transpose(-2, -1)
    }
    /// Broadcasts to `shape` with stride-0 dims (`torch.broadcast_to`).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Self> {
        Ok(self.relayout(self.layout.broadcast_to(&Shape::new(shape)?)?))
    }
    /// Same as [`broadcast_to`](Self::broadcast_to) (`torch.expand`).
    pub fn expand(&self, shape: &[usize]) -> Result<Self> {
        self.broadcast_to(shape)
    }
    /// Inserts a size-1 dim (`torch.unsqueeze`).
    pub fn unsqueeze(&self, axis: isize) -> Result<Self> {
        Ok(self.relayout(self.layout.unsqueeze(axis)?))
    }
    /// Removes every size-1 dim (`torch.squeeze`).
    pub fn squeeze(&self) -> Result<Self> {
        Ok(self.relayout(self.layout.squeeze(None)?))
    }
    /// Removes exactly the listed dims, each of which must have size 1 (NumPy's rule).
    pub fn squeeze_axes(&self, axes: &[isize]) -> Result<Self> {
        Ok(self.relayout(self.layout.squeeze(Some(axes))?))
    }
    /// `len` elements of `axis` from `start` (`torch.narrow`).
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Self> {
        Ok(self.relayout(self.layout.narrow(axis, start, len)?))
    }
}

/// Row-major offsets of a layout, one by one.
#[derive(Debug, Clone)]
pub struct Offsets {
    it: NdIter<1>,
    cur: usize,
    left_in_run: usize,
    stride: usize,
}

impl Offsets {
    /// The offsets of `layout` in row-major order.
    pub fn new(layout: &Layout) -> Offsets {
        let it = NdIter::new([layout]);
        let stride = it.inner_strides()[0];
        Offsets {
            it,
            cur: 0,
            left_in_run: 0,
            stride,
        }
    }
}

impl Iterator for Offsets {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.left_in_run == 0 {
            let [start] = self.it.next()?;
            self.cur = start;
            self.left_in_run = self.it.inner_len();
        } else {
            self.cur += self.stride;
        }
        self.left_in_run -= 1;
        Some(self.cur)
    }
}

fn flat_offset(l: &Layout, mut flat: usize) -> usize {
    let mut off = l.offset();
    for i in (0..l.rank()).rev() {
        let d = l.dims()[i];
        off += (flat % d) * l.strides()[i];
        flat /= d;
    }
    off
}

fn index_offset(l: &Layout, idx: &[usize]) -> Result<usize> {
    if idx.len() != l.rank() || idx.iter().zip(l.dims()).any(|(i, d)| i >= d) {
        return Err(Error::new(
            ErrorKind::InvalidAxis,
            "get",
            crate::error::Context::Shape(*l.shape()),
        ));
    }
    Ok(l.offset()
        + idx
            .iter()
            .zip(l.strides())
            .map(|(i, s)| i * s)
            .sum::<usize>())
}

fn view_layout(len: usize, shape: &Shape, op: &'static str) -> Result<Layout> {
    if len != shape.numel() {
        return Err(Error::new(
            ErrorKind::InvalidData,
            op,
            crate::error::Context::Bytes {
                needed: shape.numel(),
                available: len,
            },
        ));
    }
    Ok(Layout::contiguous(*shape))
}

impl<'a, E: Elem> TensorView<'a, E> {
    /// A contiguous view of `data` with `shape`; `data.len()` must equal the element count.
    pub fn new<T: IntoShape>(data: &'a [E], shape: T) -> Result<Self> {
        let shape = shape.into_shape()?;
        Ok(TensorBase {
            layout: view_layout(data.len(), &shape, "view")?,
            data,
        })
    }
    /// A zero-copy view of raw bytes (e.g. image or flash data) as elements of `E`. Fails with
    /// `invalid_data` if the bytes are misaligned for `E` or their length does not fit.
    pub fn from_bytes<T: IntoShape>(bytes: &'a [u8], shape: T) -> Result<Self> {
        let data: &[E] = bytemuck::try_cast_slice(bytes).map_err(|_| {
            Error::msg(
                ErrorKind::InvalidData,
                "from_bytes",
                "bytes are misaligned or not a whole number of elements",
            )
        })?;
        Self::new(data, shape)
    }
    /// A view with an explicit layout, checked against `data`'s length.
    pub fn with_layout(data: &'a [E], layout: Layout) -> Result<Self> {
        layout.check_len(data.len(), "view")?;
        Ok(TensorBase { data, layout })
    }
    /// The underlying slice (all of it, not only the elements of the layout).
    pub fn data(&self) -> &'a [E] {
        self.data
    }
    /// The element at a multi-index.
    pub fn get(&self, index: &[usize]) -> Result<E> {
        Ok(self.data[index_offset(&self.layout, index)?])
    }
    /// The elements in row-major order.
    pub fn iter(&self) -> impl Iterator<Item = E> + 'a {
        let data = self.data;
        Offsets::new(&self.layout).map(move |o| data[o])
    }
}

impl<'a, E: Elem> TensorViewMut<'a, E> {
    /// A contiguous writable view of `data` with `shape`.
    pub fn new<T: IntoShape>(data: &'a mut [E], shape: T) -> Result<Self> {
        let shape = shape.into_shape()?;
        Ok(TensorBase {
            layout: view_layout(data.len(), &shape, "view")?,
            data,
        })
    }
    /// A writable view with an explicit layout (it must not overlap itself).
    pub fn with_layout(data: &'a mut [E], layout: Layout) -> Result<Self> {
        layout.check_len(data.len(), "view")?;
        if !layout.is_non_overlapping() {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "view",
                "writable layout overlaps itself",
            ));
        }
        Ok(TensorBase { data, layout })
    }
    /// A read-only view of the same elements.
    pub fn as_view(&self) -> TensorView<'_, E> {
        TensorBase {
            data: &*self.data,
            layout: self.layout,
        }
    }
    /// The element at a multi-index.
    pub fn get(&self, index: &[usize]) -> Result<E> {
        Ok(self.data[index_offset(&self.layout, index)?])
    }
    /// Sets the element at a multi-index.
    pub fn set(&mut self, index: &[usize], v: E) -> Result<()> {
        let o = index_offset(&self.layout, index)?;
        self.data[o] = v;
        Ok(())
    }
    /// Sets every element to `v`.
    pub fn fill(&mut self, v: E) {
        for o in Offsets::new(&self.layout) {
            self.data[o] = v;
        }
    }
}

/// No-alloc operations: the result goes into a caller's [`TensorViewMut`], whose shape must be
/// the result shape (see [`broadcast_shapes`](crate::broadcast_shapes),
/// [`ops::reduce_plan`], [`ops::matmul_plan`] to size it before running).
impl<E: Elem> TensorView<'_, E> {
    /// Copies into `out` (same shape, any layout).
    pub fn copy_into<D: Host + Map>(&self, dev: &D, out: &mut TensorViewMut<'_, E>) -> Result<()> {
        ops::copy(
            dev,
            D::mem(self.data),
            &self.layout,
            D::mem_mut(out.data),
            &out.layout,
        )
    }
    /// Converts into `out` of another dtype.
    pub fn cast_into<D: Host + Map, F: Elem>(
        &self,
        dev: &D,
        out: &mut TensorViewMut<'_, F>,
    ) -> Result<()> {
        ops::cast(
            dev,
            D::mem(self.data),
            &self.layout,
            D::mem_mut(out.data),
            &out.layout,
        )
    }
    /// Max/min values and/or indices over `axis` (`None` = all) into the given outputs.
    pub fn extremum_into<D: Host + Reduce>(
        &self,
        dev: &D,
        op: Extremum,
        axis: Option<isize>,
        values: Option<&mut TensorViewMut<'_, E>>,
        indices: Option<&mut TensorViewMut<'_, i64>>,
    ) -> Result<()> {
        let axes = axis.map(|a| [a]);
        ops::extremum(
            dev,
            op,
            D::mem(self.data),
            &self.layout,
            axes.as_ref().map(|a| &a[..]),
            values.map(|v| (D::mem_mut(&mut *v.data), &v.layout)),
            indices.map(|v| (D::mem_mut(&mut *v.data), &v.layout)),
        )
    }
}

impl<E: Float> TensorView<'_, E> {
    /// `out = op(self)`.
    pub fn unary_into<D: Host + Map>(
        &self,
        dev: &D,
        op: UnaryOp,
        out: &mut TensorViewMut<'_, E>,
    ) -> Result<()> {
        ops::unary(
            dev,
            op,
            D::mem(self.data),
            &self.layout,
            D::mem_mut(out.data),
            &out.layout,
        )
    }
    /// `out = op(self, other)` with broadcasting.
    pub fn binary_into<D: Host + Map>(
        &self,
        dev: &D,
        op: BinaryOp,
        other: &TensorView<'_, E>,
        out: &mut TensorViewMut<'_, E>,
    ) -> Result<()> {
        ops::binary(
            dev,
            op,
            D::mem(self.data),
            &self.layout,
            D::mem(other.data),
            &other.layout,
            D::mem_mut(out.data),
            &out.layout,
        )
    }
    /// `out = op(self, s)`.
    pub fn scalar_into<D: Host + Map>(
        &self,
        dev: &D,
        op: BinaryOp,
        s: E,
        out: &mut TensorViewMut<'_, E>,
    ) -> Result<()> {
        ops::binary_scalar(
            dev,
            op,
            D::mem(self.data),
            &self.layout,
            s,
            true,
            D::mem_mut(out.data),
            &out.layout,
        )
    }
    /// Sum/mean/var/std over `axes` (`None` = all) into `out` (kept or keepdim shape).
    pub fn reduce_into<D: Host + Reduce>(
        &self,
        dev: &D,
        op: ReduceOp,
        axes: Option<&[isize]>,
        out: &mut TensorViewMut<'_, E>,
    ) -> Result<()> {
        ops::reduce(
            dev,
            op,
            D::mem(self.data),
            &self.layout,
            axes,
            D::mem_mut(out.data),
            &out.layout,
        )
    }
    /// `out = self @ other` (`numpy.matmul` rules).
    pub fn matmul_into<D: Host + MatMul>(
        &self,
        dev: &D,
        other: &TensorView<'_, E>,
        out: &mut TensorViewMut<'_, E>,
    ) -> Result<()> {
        ops::matmul(
            dev,
            D::mem(self.data),
            &self.layout,
            D::mem(other.data),
            &other.layout,
            D::mem_mut(out.data),
            &out.layout,
        )
    }
}

impl<E: Elem> fmt::Display for TensorView<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::display::fmt_tensor(f, self.shape(), |i| self.data[flat_offset(&self.layout, i)])
    }
}

impl<E: Elem> fmt::Display for TensorViewMut<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_view(), f)
    }
}

impl<E: Elem> fmt::Debug for TensorView<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<E: Elem> fmt::Debug for TensorViewMut<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_view(), f)
    }
}
