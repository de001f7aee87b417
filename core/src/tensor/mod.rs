//! The owned [`Tensor`]: device memory shared between views of it (movement ops never copy),
//! with PyTorch-style methods. Every method validates through [`crate::ops`], the same entry
//! points the no-alloc views use.

mod create;
mod math;

use alloc::vec::Vec;
use core::fmt;

use crate::device::{Alloc, Device};
use crate::dtype::Elem;
use crate::error::{Context, Error, ErrorKind, Result};
use crate::layout::{resolve_reshape, Layout};
use crate::ops;
use crate::reference::Reference;
use crate::shape::{IntoShape, Shape};
use crate::view::{Storage, TensorBase};

pub use math::Operand;

// Targets without atomic compare-and-swap (thumbv6m) have no `Arc`; `Rc` serves there.
#[cfg(target_has_atomic = "ptr")]
type Shared<T> = alloc::sync::Arc<T>;
#[cfg(not(target_has_atomic = "ptr"))]
type Shared<T> = alloc::rc::Rc<T>;

/// Storage of an owned tensor: a shared device buffer and its device.
pub struct Owned<E: Elem, D: Alloc> {
    buf: Shared<D::Buf<E>>,
    device: D,
}

impl<E: Elem, D: Alloc> Clone for Owned<E, D> {
    fn clone(&self) -> Self {
        Owned {
            buf: self.buf.clone(),
            device: self.device.clone(),
        }
    }
}

impl<E: Elem, D: Alloc> fmt::Debug for Owned<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Owned<{}> on {}", E::DTYPE, self.device.name())
    }
}

impl<E: Elem, D: Alloc> Storage for Owned<E, D> {
    type Elem = E;
}

/// An owned tensor of `E` on device `D`. Cloning shares the buffer, like PyTorch's views;
/// movement ops (`permute`, `transpose`, `broadcast_to`, ...) share it too.
///
/// ```
/// use tensile_core::{Reference, Tensor};
/// let x: Tensor<f32, Reference> = Tensor::from([[5., 8.], [4., 6.]]);
/// let y = x.pow(3.0).unwrap().sum_all().unwrap();
/// assert_eq!(y.item().unwrap(), 125.0 + 512.0 + 64.0 + 216.0);
/// assert_eq!(x.mean(&[0], false).unwrap().to_vec().unwrap(), vec![4.5, 7.0]);
/// let bad = Tensor::<f32, Reference>::ones(&[2, 3]).unwrap().add(&x);
/// assert_eq!(bad.unwrap_err().to_string(),
///            "shape_mismatch in add: shapes [2, 3] and [2, 2] are not broadcastable");
/// ```
pub type Tensor<E, D = Reference> = TensorBase<Owned<E, D>>;

/// Allocates `len` zeros on the host, reporting failure instead of aborting.
pub(crate) fn host_alloc<E: Elem>(len: usize) -> Result<Vec<E>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Error::new(
            ErrorKind::Device,
            "alloc",
            Context::Bytes {
                needed: len.saturating_mul(core::mem::size_of::<E>()),
                available: 0,
            },
        )
    })?;
    v.resize(len, E::ZERO);
    Ok(v)
}

/// Host-to-host download used by host devices.
pub(crate) fn host_download<E: Elem>(src: &[E], dst: &mut [E]) -> Result<()> {
    let n = dst.len();
    if n > src.len() {
        return Err(Error::buffer_too_small("download", n, src.len()));
    }
    dst.copy_from_slice(&src[..n]);
    Ok(())
}

impl<E: Elem, D: Device> Tensor<E, D> {
    /// Wraps a device buffer with a layout (checked against the buffer's length).
    pub fn from_buf(buf: D::Buf<E>, layout: Layout, device: D) -> Result<Self> {
        layout.check_len(D::mem_len(D::buf_mem(&buf)), "tensor")?;
        Ok(TensorBase {
            data: Owned {
                buf: Shared::new(buf),
                device,
            },
            layout,
        })
    }

    /// A contiguous tensor of `shape` from a host vector (uploaded to `device`).
    pub fn from_vec_on<T: IntoShape>(data: Vec<E>, shape: T, device: &D) -> Result<Self> {
        Self::from_slice_on(&data, shape, device)
    }

    /// A contiguous tensor of `shape` holding a copy of `data`.
    pub fn from_slice_on<T: IntoShape>(data: &[E], shape: T, device: &D) -> Result<Self> {
        let shape = shape.into_shape()?;
        if data.len() != shape.numel() {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "tensor",
                Context::Bytes {
                    needed: shape.numel(),
                    available: data.len(),
                },
            ));
        }
        let buf = device.upload(data)?;
        Self::from_buf(buf, Layout::contiguous(shape), device.clone())
    }

    /// The device the tensor lives on.
    pub fn device(&self) -> &D {
        &self.data.device
    }

    /// The device memory (all of the buffer; see [`layout`](Self::layout) for where the
    /// elements are).
    pub fn mem(&self) -> &D::Mem<E> {
        D::buf_mem(&self.data.buf)
    }

    /// A tensor of `shape` on this tensor's device, written by `f` into fresh memory.
    pub(crate) fn produce(
        &self,
        shape: Shape,
        f: impl FnOnce(&mut D::Mem<E>, &Layout) -> Result<()>,
    ) -> Result<Self> {
        produce_on(&self.data.device, shape, f)
    }

    /// A dense row-major copy, or this tensor if it already is one.
    pub fn contiguous(&self) -> Result<Self> {
        if self.layout.is_contiguous() {
            return Ok(self.clone());
        }
        self.produce(*self.shape(), |y, yl| {
            ops::copy(self.device(), self.mem(), &self.layout, y, yl)
        })
    }

    /// The same elements with a new shape (at most one `-1`); copies only when the strides
    /// do not allow a view (`torch.reshape`).
    pub fn reshape(&self, shape: &[isize]) -> Result<Self> {
        let to = resolve_reshape(self.shape(), shape)?;
        match self.layout.reshaped(&to) {
            Some(l) => Ok(TensorBase {
                data: self.data.clone(),
                layout: l,
            }),
            None => {
                let c = self.contiguous()?;
                let l = c.layout.reshaped(&to).ok_or(Error::msg(
                    ErrorKind::InvalidReshape,
                    "reshape",
                    "contiguous copy cannot be viewed",
                ))?;
                Ok(TensorBase {
                    data: c.data,
                    layout: l,
                })
            }
        }
    }

    /// Flattens to one dim.
    pub fn flatten(&self) -> Result<Self> {
        self.reshape(&[-1])
    }

    /// The elements in row-major order, on the host.
    pub fn to_vec(&self) -> Result<Vec<E>> {
        let dense = if self.layout.is_contiguous() && self.layout.offset() == 0 {
            self.clone()
        } else {
            self.produce(*self.shape(), |y, yl| {
                ops::copy(self.device(), self.mem(), &self.layout, y, yl)
            })?
        };
        let mut out = host_alloc(self.numel())?;
        self.device().download(dense.mem(), &mut out)?;
        Ok(out)
    }

    /// The value of a one-element tensor (`torch.Tensor.item`).
    pub fn item(&self) -> Result<E> {
        if self.numel() != 1 {
            return Err(Error::new(
                ErrorKind::ShapeMismatch,
                "item",
                Context::Shape(*self.shape()),
            ));
        }
        Ok(self.to_vec()?[0])
    }

    /// The element at a multi-index.
    pub fn get(&self, index: &[usize]) -> Result<E> {
        if index.len() != self.rank() || index.iter().zip(self.dims()).any(|(i, d)| i >= d) {
            return Err(Error::new(
                ErrorKind::InvalidAxis,
                "get",
                Context::Shape(*self.shape()),
            ));
        }
        let mut l = self.layout;
        for (axis, &i) in index.iter().enumerate() {
            l = l.narrow(axis as isize, i, 1)?;
        }
        let one = TensorBase {
            data: self.data.clone(),
            layout: l,
        };
        one.item()
    }

    /// A copy on another device (`torch.Tensor.to`).
    pub fn to<D2: Device>(&self, device: &D2) -> Result<Tensor<E, D2>> {
        let host = self.to_vec()?;
        Tensor::from_slice_on(&host, *self.shape(), device)
    }

    /// Converts to another element type (`torch.Tensor.to(dtype)`).
    pub fn cast<F: Elem>(&self) -> Result<Tensor<F, D>> {
        produce_on(self.device(), *self.shape(), |y, yl| {
            ops::cast(self.device(), self.mem(), &self.layout, y, yl)
        })
    }
}

/// A fresh contiguous tensor of `shape` on `device`, written by `f`.
pub(crate) fn produce_on<F: Elem, D: Device>(
    device: &D,
    shape: Shape,
    f: impl FnOnce(&mut D::Mem<F>, &Layout) -> Result<()>,
) -> Result<Tensor<F, D>> {
    let layout = Layout::contiguous(shape);
    let mut buf = device.alloc_zeroed::<F>(shape.numel())?;
    f(D::buf_mem_mut(&mut buf), &layout)?;
    Tensor::from_buf(buf, layout, device.clone())
}

impl<E: Elem, D: Device> fmt::Display for Tensor<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_vec() {
            Ok(v) => crate::display::fmt_tensor(f, self.shape(), |i| v[i]),
            Err(e) => write!(f, "tensor(<unreadable: {e}>)"),
        }
    }
}

impl<E: Elem, D: Device> fmt::Debug for Tensor<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)?;
        write!(f, " on {}", self.device().name())
    }
}
