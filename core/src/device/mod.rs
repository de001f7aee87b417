//! The device traits: small, and generic over op tags so they never grow when ops are added.
//!
//! A device says what its memory is ([`Backend::Mem`]: `[E]` on the host, device memory on a
//! GPU) and implements four kernel families: [`Map`] (elementwise, over any strides),
//! [`Reduce`], [`MatMul`], and [`Alloc`] (owned buffers and transfers). Movement ops never reach
//! a device: they are [`Layout`] rewrites. [`Device`] is the umbrella, implemented for every
//! type that has the four. The contract a device MUST keep is in `docs/device-contract.md`.
//!
//! The core checks every shape and that every layout fits its memory *before* a kernel runs,
//! so kernels may assume valid, in-bounds layouts with identical shapes.

use crate::dtype::{Elem, Float};
use crate::error::Result;
use crate::layout::Layout;
use crate::ops::{BinaryFn, Extremum, ReduceOp, UnaryFn};
use crate::shape::Axes;

/// What every device has: a name and a kind of memory.
pub trait Backend: Clone + core::fmt::Debug + Send + Sync + 'static {
    /// The memory kernels read and write (`[E]` for host devices).
    type Mem<E: Elem>: ?Sized;
    /// A short name (`"reference"`, `"cpu"`, `"cuda:0"`).
    fn name(&self) -> &str;
    /// The number of elements in `mem`.
    fn mem_len<E: Elem>(mem: &Self::Mem<E>) -> usize;
}

/// Devices whose memory is host memory (`Mem<E>` is `[E]`): views over caller slices work on
/// them directly, with no allocation.
pub trait Host: Backend {
    /// The slice as this device's memory.
    fn mem<E: Elem>(s: &[E]) -> &Self::Mem<E>;
    /// The mutable slice as this device's memory.
    fn mem_mut<E: Elem>(s: &mut [E]) -> &mut Self::Mem<E>;
    /// The memory as a slice.
    fn slice<E: Elem>(m: &Self::Mem<E>) -> &[E];
}

/// Devices a planned graph can run on: untyped memory an arena is carved from. Every [`Host`]
/// device has it with `Bytes = [u8]`; a GPU device implements it over its own memory. Exec
/// splits an arena only through these functions, so the borrow checker keeps the regions a
/// kernel writes apart from those it reads on every device.
pub trait ArenaMem: Backend {
    /// Untyped memory (`[u8]` on the host).
    type Bytes: ?Sized;
    /// The length in bytes.
    fn bytes_len(b: &Self::Bytes) -> usize;
    /// The address of the first byte (for alignment).
    fn bytes_addr(b: &Self::Bytes) -> usize;
    /// `b[..mid]` and `b[mid..]` (`mid <= len`, checked by the caller).
    fn split_bytes(b: &Self::Bytes, mid: usize) -> (&Self::Bytes, &Self::Bytes);
    /// `b[..mid]` and `b[mid..]`, mutably.
    fn split_bytes_mut(b: &mut Self::Bytes, mid: usize) -> (&mut Self::Bytes, &mut Self::Bytes);
    /// The bytes as elements of `E` (an error when misaligned).
    fn typed<E: Elem>(b: &Self::Bytes) -> Result<&Self::Mem<E>>;
    /// The bytes as mutable elements of `E`.
    fn typed_mut<E: Elem>(b: &mut Self::Bytes) -> Result<&mut Self::Mem<E>>;
    /// Copies host bytes in (`src.len() == len`, checked by the caller).
    fn write_bytes(&self, dst: &mut Self::Bytes, src: &[u8]) -> Result<()>;
    /// Copies bytes out to the host (`dst.len() == len`), after queued work is done.
    fn read_bytes(&self, src: &Self::Bytes, dst: &mut [u8]) -> Result<()>;
    /// Sets every byte to zero.
    fn zero_bytes(&self, dst: &mut Self::Bytes) -> Result<()>;
}

fn misaligned() -> crate::error::Error {
    crate::error::Error::msg(
        crate::error::ErrorKind::InvalidData,
        "exec",
        "misaligned arena region",
    )
}

impl<D: Host> ArenaMem for D {
    type Bytes = [u8];
    fn bytes_len(b: &[u8]) -> usize {
        b.len()
    }
    fn bytes_addr(b: &[u8]) -> usize {
        b.as_ptr() as usize
    }
    fn split_bytes(b: &[u8], mid: usize) -> (&[u8], &[u8]) {
        b.split_at(mid)
    }
    fn split_bytes_mut(b: &mut [u8], mid: usize) -> (&mut [u8], &mut [u8]) {
        b.split_at_mut(mid)
    }
    fn typed<E: Elem>(b: &[u8]) -> Result<&Self::Mem<E>> {
        Ok(D::mem(
            bytemuck::try_cast_slice(b).map_err(|_| misaligned())?,
        ))
    }
    fn typed_mut<E: Elem>(b: &mut [u8]) -> Result<&mut Self::Mem<E>> {
        Ok(D::mem_mut(
            bytemuck::try_cast_slice_mut(b).map_err(|_| misaligned())?,
        ))
    }
    fn write_bytes(&self, dst: &mut [u8], src: &[u8]) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }
    fn read_bytes(&self, src: &[u8], dst: &mut [u8]) -> Result<()> {
        dst.copy_from_slice(src);
        Ok(())
    }
    fn zero_bytes(&self, dst: &mut [u8]) -> Result<()> {
        dst.fill(0);
        Ok(())
    }
}

/// Devices that allocate a graph arena themselves (`alloc`): host devices a `Vec<u8>` (over-
/// allocated so its start can be aligned), a GPU one device allocation.
#[cfg(feature = "alloc")]
pub trait ArenaAlloc: ArenaMem {
    /// The owned arena.
    type Arena: AsMut<Self::Bytes> + AsRef<Self::Bytes>;
    /// An arena that holds `bytes` bytes after aligning its start to
    /// [`ARENA_ALIGN`](crate::graph::ARENA_ALIGN).
    fn alloc_arena(&self, bytes: usize) -> Result<Self::Arena>;
}

#[cfg(feature = "alloc")]
impl<D: Host> ArenaAlloc for D {
    type Arena = alloc::vec::Vec<u8>;
    fn alloc_arena(&self, bytes: usize) -> Result<alloc::vec::Vec<u8>> {
        let n = bytes.saturating_add(crate::graph::ARENA_ALIGN - 1);
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(n)
            .map_err(|_| crate::error::Error::buffer_too_small("arena", n, 0))?;
        v.resize(n, 0u8);
        Ok(v)
    }
}

/// Elementwise kernels. Input and output layouts have the same shape (broadcast dims have
/// stride 0); the output layout has no stride-0 dims and does not overlap itself.
pub trait Map: Backend {
    /// `y[i] = op(x[i])` for every index of `yl`.
    fn unary<A: Elem, B: Elem, O: UnaryFn<A, B>>(
        &self,
        op: O,
        x: &Self::Mem<A>,
        xl: &Layout,
        y: &mut Self::Mem<B>,
        yl: &Layout,
    ) -> Result<()>;

    /// `y[i] = op(a[i], b[i])` for every index of `yl`.
    #[allow(clippy::too_many_arguments)]
    fn binary<E: Elem, O: BinaryFn<E>>(
        &self,
        op: O,
        a: &Self::Mem<E>,
        al: &Layout,
        b: &Self::Mem<E>,
        bl: &Layout,
        y: &mut Self::Mem<E>,
        yl: &Layout,
    ) -> Result<()>;
}

/// Reduction kernels over a set of axes. `yl` has the shape of `xl` with the reduced axes
/// removed (keepdim is a layout matter for the caller). The core guarantees N ≥ 1 except for
/// `Sum`, which must write 0 when N = 0.
pub trait Reduce: Backend {
    /// Sum, mean, var or std of `x` over `axes` into `y`.
    #[allow(clippy::too_many_arguments)]
    fn reduce<E: Float>(
        &self,
        op: ReduceOp,
        x: &Self::Mem<E>,
        xl: &Layout,
        axes: Axes,
        y: &mut Self::Mem<E>,
        yl: &Layout,
    ) -> Result<()>;

    /// The extreme value and/or its index (row-major within the reduced axes, first on ties)
    /// over `axes`. Either output may be absent; both have layouts of the kept shape.
    #[allow(clippy::too_many_arguments)]
    fn extremum<E: Elem>(
        &self,
        op: Extremum,
        x: &Self::Mem<E>,
        xl: &Layout,
        axes: Axes,
        values: Option<(&mut Self::Mem<E>, &Layout)>,
        indices: Option<(&mut Self::Mem<i64>, &Layout)>,
    ) -> Result<()>;
}

/// Batched matrix multiply. `al` is `(batch.., m, k)`, `bl` is `(batch.., k, n)` and `yl` is
/// `(batch.., m, n)`, with the same batch dims (broadcast batches have stride 0 in `al`/`bl`).
pub trait MatMul: Backend {
    /// `y = a @ b` per batch; `k = 0` writes zeros.
    fn matmul<E: Float>(
        &self,
        a: &Self::Mem<E>,
        al: &Layout,
        b: &Self::Mem<E>,
        bl: &Layout,
        y: &mut Self::Mem<E>,
        yl: &Layout,
    ) -> Result<()>;
}

/// Owned device buffers and host transfers.
pub trait Alloc: Backend {
    /// An owned buffer of `E` on this device.
    type Buf<E: Elem>: Send + Sync;
    /// A buffer of `len` zeros.
    fn alloc_zeroed<E: Elem>(&self, len: usize) -> Result<Self::Buf<E>>;
    /// A buffer holding a copy of `src`.
    fn upload<E: Elem>(&self, src: &[E]) -> Result<Self::Buf<E>>;
    /// Copies the first `dst.len()` elements of `src` to the host.
    fn download<E: Elem>(&self, src: &Self::Mem<E>, dst: &mut [E]) -> Result<()>;
    /// The buffer as memory.
    fn buf_mem<E: Elem>(buf: &Self::Buf<E>) -> &Self::Mem<E>;
    /// The buffer as mutable memory.
    fn buf_mem_mut<E: Elem>(buf: &mut Self::Buf<E>) -> &mut Self::Mem<E>;
    /// Waits for queued work (a no-op on synchronous devices).
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}

/// In-place optimizer updates (the only kernels that write their operands).
pub trait Update: Backend {
    /// For every `i < p.len()`: `op.apply(&c, &mut p[i], &mut s1[i], &mut s2[i], g[i])` with
    /// `c = op.prepare(hyper[0], hyper[1])` (learning rate and step count, read from device
    /// memory on every call so a replayed step sees their current values). `s1`/`s2` hold
    /// `p.len()` elements, or none when the op keeps less state. All buffers are contiguous.
    fn update<E: Float, O: UpdateFn<E>>(
        &self,
        op: O,
        p: &mut Self::Mem<E>,
        s1: &mut Self::Mem<E>,
        s2: &mut Self::Mem<E>,
        g: &Self::Mem<E>,
        hyper: &Self::Mem<E>,
    ) -> Result<()>;
}

/// An optimizer rule: per-call coefficients from (lr, step), then a per-element update.
pub trait UpdateFn<E: Elem>: Copy + Send + Sync + 'static {
    /// Kernel name.
    const NAME: &'static str;
    /// State values kept per parameter element (0, 1 or 2).
    const STATE: usize;
    /// Which optimizer this is (for devices that generate kernels instead of calling `apply`).
    fn kind(&self) -> crate::ops::UpdateKind;
    /// Per-call coefficients from the learning rate and the (already incremented) step.
    fn prepare(&self, lr: E, step: E) -> [E; 4];
    /// Updates one parameter element and its state from its gradient.
    fn apply(&self, c: &[E; 4], p: &mut E, s1: &mut E, s2: &mut E, g: E);
}

/// A complete device: allocation plus the kernel families.
pub trait Device: Alloc + Map + Reduce + MatMul + Update {}
impl<T: Alloc + Map + Reduce + MatMul + Update> Device for T {}
