//! # tensile-core
//!
//! The `no_std` tensor core of Tensile: PyTorch's tensor semantics (NumPy broadcasting,
//! reductions along axes, `numpy.matmul`, movement ops as views) over a small pluggable
//! [`Device`] trait, usable with no allocator at all.
//!
//! - [`Shape`] and [`Layout`]: runtime dims and strides stored inline up to [`MAX_RANK`].
//! - [`TensorView`] / [`TensorViewMut`]: zero-copy views over caller memory; every op has an
//!   `*_into` form that writes into a caller's buffer, so firmware needs no heap.
//! - `Tensor` (feature `alloc`): an owned tensor on a device, with PyTorch ergonomics.
//! - [`NdIter`]: the broadcasting iterator that hands devices inner runs with their strides.
//! - [`ops`]: the op table and the checked entry points every face calls.
//! - [`Reference`]: the scalar reference device, the oracle for every other device.
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! use tensile_core::{Reference, Tensor};
//! let x: Tensor<f32, Reference> = Tensor::from([[5., 8.], [4., 6.]]);
//! let y = (&x * 2.0).unwrap();
//! assert_eq!(y.to_string(), "tensor([[10., 16.],\n        [ 8., 12.]])");
//! # }
//! ```
//!
//! - [`graph`]: the static-graph autograd (declare, derive backward, plan one arena, run with
//!   no allocation); with `std`, `Var` is the eager front on the same machinery.
//!
//! Features: `alloc` (owned tensors, heap graphs), `std` (implies `alloc` and both dtype
//! features; adds the eager autograd front), `defmt` (`defmt::Format` on the public data
//! types), `dtype-f64` and `dtype-u8` (those dtypes in the graph executor; without them a
//! firmware running f32 graphs carries no f64/u8 kernels). All are additive; with none,
//! nothing needs an allocator.
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod autograd;
pub mod device;
mod display;
mod dtype;
mod error;
pub mod graph;
mod iter;
mod layout;
pub mod ops;
mod rand;
mod reference;
mod shape;
#[cfg(feature = "alloc")]
mod tensor;
mod view;

#[cfg(feature = "std")]
pub use autograd::{Var, VarOperand};
#[cfg(feature = "alloc")]
pub use device::ArenaAlloc;
pub use device::{Alloc, ArenaMem, Backend, Device, Host, Map, MatMul, Reduce, Update, UpdateFn};
pub use display::fmt_tensor;
pub use dtype::{DType, Elem, Float};
pub use error::{Context, Error, ErrorKind, Result};
pub use iter::{for_each_offset, NdIter};
pub use layout::{resolve_reshape, Layout};
pub use ops::{BinaryOp, Extremum, MapKind, ReduceOp, UnaryOp, UpdateKind};
pub use rand::Rng;
pub use reference::{for_each_reduction, Reference};
pub use shape::{broadcast_shapes, normalize_axis, Axes, IntoShape, Shape, MAX_RANK};
#[cfg(feature = "alloc")]
pub use tensor::{Operand, Owned, Tensor};
pub use view::{Offsets, Storage, TensorBase, TensorView, TensorViewMut};
