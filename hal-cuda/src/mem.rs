//! Device memory as the core's device traits see it.
//!
//! The traits pass memory as `&Self::Mem<E>` / `&mut Self::Mem<E>`, so that the core's borrow
//! rules (a kernel's output never aliases its inputs; an arena is split into disjoint regions)
//! hold for a GPU too. [`DevSlice`] makes that possible without host memory: it is a
//! *zero-sized* slice whose address is the device pointer and whose length is the element
//! count. A reference to zero-sized data is valid at any non-null address and is never read
//! through, so the references are sound; the device pointer is only ever handed to CUDA.

use std::marker::PhantomData;

use tensile_core::{Elem, Error, ErrorKind, Result};

use crate::Cuda;

/// `len` elements of `E` in device memory, at the device address [`DevSlice::addr`].
#[repr(transparent)]
pub struct DevSlice<E> {
    _e: PhantomData<E>,
    z: [()],
}

impl<E> std::fmt::Debug for DevSlice<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevSlice({:#x}, {})", self.addr(), self.len())
    }
}

/// The address used for empty buffers (never passed to CUDA with a non-zero length).
const EMPTY: u64 = 256;

impl<E> DevSlice<E> {
    /// # Safety
    /// `addr` must be non-zero, and `len` elements of `E` there must stay allocated on the
    /// device for `'a` with no other `&mut` view of them (the usual borrow rules, applied to
    /// the device memory the slice stands for).
    pub(crate) unsafe fn from_raw<'a>(addr: u64, len: usize) -> &'a DevSlice<E> {
        let p =
            std::ptr::slice_from_raw_parts(std::ptr::without_provenance::<()>(addr as usize), len)
                as *const DevSlice<E>;
        // SAFETY: `DevSlice<E>` is a transparent wrapper of `[()]`, zero-sized whatever the
        // length, so any non-null address is valid for it (no byte is ever read).
        unsafe { &*p }
    }

    /// # Safety
    /// As [`from_raw`](Self::from_raw), and no other view of the memory exists for `'a`.
    pub(crate) unsafe fn from_raw_mut<'a>(addr: u64, len: usize) -> &'a mut DevSlice<E> {
        let p = std::ptr::slice_from_raw_parts_mut(
            std::ptr::without_provenance_mut::<()>(addr as usize),
            len,
        ) as *mut DevSlice<E>;
        // SAFETY: as in `from_raw`; exclusivity is the caller's.
        unsafe { &mut *p }
    }

    /// The device address of the first element.
    pub fn addr(&self) -> u64 {
        self.z.as_ptr() as usize as u64
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.z.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.z.is_empty()
    }
}

/// Splits device bytes at `mid` (checked by the caller), as `<[u8]>::split_at`.
///
/// The assert cannot fire through the core: `ArenaMem`'s contract has callers check
/// `mid <= len`, and the executor's `sub`/`carve` return an error before splitting otherwise.
/// It stays because a slice past the end would hand CUDA memory outside the allocation (the
/// host implementation, `<[u8]>::split_at`, panics the same way).
pub(crate) fn split(b: &DevSlice<u8>, mid: usize) -> (&DevSlice<u8>, &DevSlice<u8>) {
    let (a, n) = (b.addr(), b.len());
    assert!(mid <= n, "split past the end");
    // SAFETY: two disjoint parts of memory `b` already borrows for the same lifetime.
    unsafe {
        (
            DevSlice::from_raw(a, mid),
            DevSlice::from_raw(a + mid as u64, n - mid),
        )
    }
}

/// Splits device bytes at `mid` mutably, as `<[u8]>::split_at_mut` (the assert: as in
/// [`split`]).
pub(crate) fn split_mut(
    b: &mut DevSlice<u8>,
    mid: usize,
) -> (&mut DevSlice<u8>, &mut DevSlice<u8>) {
    let (a, n) = (b.addr(), b.len());
    assert!(mid <= n, "split past the end");
    // SAFETY: two disjoint parts of memory `b` borrows exclusively for the same lifetime.
    unsafe {
        (
            DevSlice::from_raw_mut(a, mid),
            DevSlice::from_raw_mut(a + mid as u64, n - mid),
        )
    }
}

fn misaligned() -> Error {
    Error::new(
        ErrorKind::InvalidData,
        "cuda",
        tensile_core::Context::Message("misaligned device region"),
    )
}

/// The bytes as elements of `E` (alignment and length checked).
pub(crate) fn typed<E: Elem>(b: &DevSlice<u8>) -> Result<&DevSlice<E>> {
    let s = E::DTYPE.size() as u64;
    if !b.addr().is_multiple_of(s) || !(b.len() as u64).is_multiple_of(s) {
        return Err(misaligned());
    }
    // SAFETY: the same memory, borrowed for the same lifetime, viewed as whole elements.
    Ok(unsafe { DevSlice::from_raw(b.addr(), b.len() / s as usize) })
}

/// The bytes as mutable elements of `E`.
pub(crate) fn typed_mut<E: Elem>(b: &mut DevSlice<u8>) -> Result<&mut DevSlice<E>> {
    let s = E::DTYPE.size() as u64;
    if !b.addr().is_multiple_of(s) || !(b.len() as u64).is_multiple_of(s) {
        return Err(misaligned());
    }
    // SAFETY: as in `typed`, with the exclusive borrow moved into the result.
    Ok(unsafe { DevSlice::from_raw_mut(b.addr(), b.len() / s as usize) })
}

/// An owned device allocation of `len` elements of `E` (freed in stream order on drop).
pub struct CudaBuf<E> {
    addr: u64,
    len: usize,
    dev: Cuda,
    _e: PhantomData<E>,
}

impl<E> std::fmt::Debug for CudaBuf<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CudaBuf({:#x}, {} on {})",
            self.addr, self.len, self.dev.inner.name
        )
    }
}

impl<E: Elem> CudaBuf<E> {
    /// `len` elements of uninitialised (then zeroed by the caller) device memory.
    pub(crate) fn alloc(dev: &Cuda, len: usize) -> Result<Self> {
        let bytes = len.checked_mul(E::DTYPE.size()).ok_or(Error::new(
            ErrorKind::Overflow,
            "cuda alloc",
            tensile_core::Context::Message("size overflows usize"),
        ))?;
        let addr = if bytes == 0 {
            EMPTY
        } else {
            dev.malloc(bytes)?
        };
        Ok(CudaBuf {
            addr,
            len,
            dev: dev.clone(),
            _e: PhantomData,
        })
    }

    /// The memory, for kernels.
    pub fn mem(&self) -> &DevSlice<E> {
        // SAFETY: the allocation lives as long as `self`, which this borrow keeps.
        unsafe { DevSlice::from_raw(self.addr, self.len) }
    }

    /// The memory, mutably.
    pub fn mem_mut(&mut self) -> &mut DevSlice<E> {
        // SAFETY: as in `mem`, exclusively.
        unsafe { DevSlice::from_raw_mut(self.addr, self.len) }
    }
}

impl<E> Drop for CudaBuf<E> {
    fn drop(&mut self) {
        if self.addr != EMPTY {
            self.dev.free(self.addr);
        }
    }
}

/// A graph plan's arena in device memory: one allocation for forward, backward and optimizer
/// state (see [`Cuda::session`](crate::Cuda::session)).
#[derive(Debug)]
pub struct CudaArena {
    buf: CudaBuf<u8>,
}

impl CudaArena {
    /// An arena of `bytes` bytes on `dev`.
    pub fn new(dev: &Cuda, bytes: usize) -> Result<Self> {
        Ok(CudaArena {
            buf: CudaBuf::alloc(dev, bytes)?,
        })
    }
}

impl AsRef<DevSlice<u8>> for CudaArena {
    fn as_ref(&self) -> &DevSlice<u8> {
        self.buf.mem()
    }
}

impl AsMut<DevSlice<u8>> for CudaArena {
    fn as_mut(&mut self) -> &mut DevSlice<u8> {
        self.buf.mem_mut()
    }
}
