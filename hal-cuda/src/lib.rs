//! `tensile-hal-cuda`: the CUDA device for `tensile-core`.
//!
//! [`Cuda`] implements the core's device traits on an NVIDIA GPU through `cudarc`, so the same
//! tensors and static graphs run there: `x.to(&cuda)`, `graph` sessions in one device
//! allocation ([`Cuda::session`]), and whole training steps captured as CUDA graphs and
//! replayed ([`Cuda::capture`]).
//!
//! - **Loading**: `libcuda`, `libnvrtc` and `libcublas` are loaded at run time, so the crate
//!   builds on any machine; [`Cuda::new`] returns an error of kind
//!   [`ErrorKind::Device`](tensile_core::ErrorKind) where they or a GPU are missing.
//! - **Kernels**: elementwise, reductions, casts and optimizer steps are CUDA C generated from
//!   the core's op table ([`codegen`]), compiled with NVRTC for the device's architecture on
//!   first use and cached per op and dtype. Matmul is cuBLAS (strided batched).
//! - **Memory**: device memory appears to the core as [`DevSlice`], a zero-sized slice that
//!   carries the device address (see [`mem`]), so the core's borrow rules hold on the GPU.
//!   All work is queued on one stream; reads back to the host wait for it.
//!
//! ```no_run
//! use tensile_core::Tensor;
//! use tensile_hal_cuda::Cuda;
//! # fn main() -> tensile_core::Result<()> {
//! let cuda = Cuda::new(0)?; // an error, not a panic, on a machine without a GPU
//! let a = Tensor::<f32>::from([[1., 2.], [3., 4.]]).to(&cuda)?;
//! let b = a.matmul(&a)?.relu()?;
//! assert_eq!(b.to_vec()?, vec![7., 10., 15., 22.]);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod codegen;
#[cfg(feature = "emulator")]
mod emu;
mod graph;
mod kernels;
pub mod mem;
mod ops;
mod transfer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::cublas::CudaBlas;
use cudarc::driver::{result as drv, sys, CudaContext, CudaFunction, CudaStream};
use tensile_core::{ArenaMem, Backend, Context, Elem, Error, ErrorKind, Result};

pub use graph::{CudaSession, Replay};
pub use kernels::compile;
pub use mem::{CudaArena, CudaBuf, DevSlice};

/// An NVIDIA GPU: a context, one stream all work is queued on, a cuBLAS handle and the cache
/// of compiled kernels. Cloning is cheap (shared).
#[derive(Clone)]
pub struct Cuda {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    /// `sm_XY` of the device, for NVRTC.
    arch: String,
    /// Device scratch for split reductions (`ops::SCRATCH_DOUBLES` × 2 doubles). Work is
    /// ordered on one stream, so launches never use it at the same time.
    scratch: u64,
    /// The GPU (absent on the CPU emulator).
    gpu: Option<Gpu>,
    /// The CPU emulator of the generated kernels (tests without a GPU).
    #[cfg(feature = "emulator")]
    emu: Option<emu::Emu>,
}

struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// Dropped by hand, before the workspace it uses is freed.
    blas: std::mem::ManuallyDrop<CudaBlas>,
    kernels: Mutex<HashMap<codegen::Kernel, CudaFunction>>,
    /// Whether stream-ordered allocation is available (else synchronous malloc/free).
    async_alloc: bool,
    /// cuBLAS workspace, set once so cuBLAS never allocates while a graph is captured.
    workspace: u64,
    /// Pinned slots for host-to-device copies, made on first use: two halves for large
    /// copies and a ring of small slots.
    staging: Mutex<Option<[transfer::Staging; 2]>>,
    /// Set while a capture runs: host transfers and synchronous allocations are refused then.
    capturing: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Cuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cuda({}, {})", self.inner.name, self.inner.arch)
    }
}

/// A device error with a static message (the core error holds no backend types).
pub(crate) fn dev_err(op: &'static str, m: &'static str) -> Error {
    Error::new(ErrorKind::Device, op, Context::Message(m))
}

/// A static copy of a dynamic message: each distinct one is leaked once, so the set is bounded
/// by the distinct CUDA errors and compile logs a process meets.
pub(crate) fn intern(s: String) -> &'static str {
    static SEEN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&m) = seen.iter().find(|&&m| m == s) {
        return m;
    }
    let m: &'static str = Box::leak(s.into_boxed_str());
    seen.push(m);
    m
}

pub(crate) fn driver_err(op: &'static str, e: drv::DriverError) -> Error {
    let name = e.error_string().map(|c| c.to_string_lossy().into_owned());
    dev_err(op, intern(name.unwrap_or_else(|_| format!("{e:?}"))))
}

/// Runs `f`, turning a panic inside `cudarc` (it panics when a library cannot be loaded) into a
/// device error.
fn no_panic<T>(op: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(dev_err(op, "the CUDA libraries could not be loaded")))
}

/// Runs an NVRTC call, or says that NVRTC is missing.
pub(crate) fn no_panic_compile<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !nvrtc_available() {
        return Err(dev_err(
            "nvrtc",
            "NVRTC (libnvrtc.so) not found: add it to LD_LIBRARY_PATH",
        ));
    }
    no_panic("nvrtc", f)
}

/// Whether NVRTC can be loaded (kernels can be compiled, with or without a GPU).
pub fn nvrtc_available() -> bool {
    // SAFETY (both probes): loading a shared library to see whether it is there runs no CUDA
    // code.
    let probe = || {
        // SAFETY: see above.
        Ok(unsafe { cudarc::nvrtc::sys::is_culib_present() })
    };
    no_panic("nvrtc", probe).unwrap_or(false)
}

impl Cuda {
    /// Opens GPU `ordinal`. Without a CUDA driver, a GPU, NVRTC or cuBLAS this is an error of
    /// kind `Device` saying which is missing, never a panic.
    pub fn new(ordinal: usize) -> Result<Cuda> {
        let driver = || {
            // SAFETY: probing whether a shared library can be loaded runs no CUDA code.
            Ok(unsafe { sys::is_culib_present() })
        };
        if !no_panic("cuda", driver)? {
            return Err(dev_err(
                "cuda",
                "no CUDA driver (libcuda.so) on this machine: no GPU to run on",
            ));
        }
        if !nvrtc_available() {
            return Err(dev_err(
                "cuda",
                "NVRTC (libnvrtc.so) not found: add it to LD_LIBRARY_PATH",
            ));
        }
        let blas = || {
            // SAFETY: as for the driver.
            Ok(unsafe { cudarc::cublas::sys::is_culib_present() })
        };
        if !no_panic("cuda", blas)? {
            return Err(dev_err(
                "cuda",
                "cuBLAS (libcublas.so) not found: add it to LD_LIBRARY_PATH",
            ));
        }
        // One device per ordinal in a process: every handle shares its stream, so work from
        // any of them is ordered, and memory is never freed under another stream's kernels.
        static OPEN: Mutex<Vec<(usize, std::sync::Weak<Inner>)>> = Mutex::new(Vec::new());
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|(_, w)| w.strong_count() > 0);
        if let Some(inner) = open
            .iter()
            .find(|(o, _)| *o == ordinal)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(Cuda { inner });
        }
        let dev = no_panic("cuda", || Self::open(ordinal))?;
        open.push((ordinal, Arc::downgrade(&dev.inner)));
        Ok(dev)
    }

    fn open(ordinal: usize) -> Result<Cuda> {
        let count = CudaContext::device_count().map_err(|e| driver_err("cuda", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(dev_err("cuda", "no GPU with this ordinal"));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_err("cuda", e))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| driver_err("cuda", e))?;
        // A non-default stream: the legacy default stream cannot be captured into a graph.
        let stream = ctx.new_stream().map_err(|e| driver_err("cuda", e))?;
        let blas = CudaBlas::new(stream.clone())
            .map_err(|_| dev_err("cuda", "cuBLAS could not be initialised"))?;
        let async_alloc = ctx.has_async_alloc();
        const WORKSPACE: usize = 32 << 20;
        // SAFETY: the context is current (CudaContext::new bound it); the size is non-zero.
        let workspace =
            unsafe { drv::malloc_sync(WORKSPACE) }.map_err(|e| driver_err("cuda", e))?;
        // SAFETY: a valid handle and a device allocation of WORKSPACE bytes that outlives it
        // (freed in Inner's Drop, after the handle is destroyed with `blas`).
        let st = unsafe {
            cudarc::cublas::sys::cublasSetWorkspace_v2(
                *blas.handle(),
                workspace as *mut _,
                WORKSPACE,
            )
        };
        if st != cudarc::cublas::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            // SAFETY: allocated above, unused.
            let _ = unsafe { drv::free_sync(workspace) };
            return Err(dev_err("cuda", "cublasSetWorkspace failed"));
        }
        // SAFETY: the context is current; a plain allocation, freed in Inner's Drop.
        let scratch = match unsafe { drv::malloc_sync(SCRATCH_BYTES) } {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: allocated above, unused.
                let _ = unsafe { drv::free_sync(workspace) };
                return Err(driver_err("cuda", e));
            }
        };
        Ok(Cuda {
            inner: Arc::new(Inner {
                name: format!("cuda:{ordinal}"),
                arch: format!("sm_{major}{minor}"),
                scratch,
                gpu: Some(Gpu {
                    ctx,
                    stream,
                    blas: std::mem::ManuallyDrop::new(blas),
                    kernels: Mutex::new(HashMap::new()),
                    async_alloc,
                    workspace,
                    staging: Mutex::new(None),
                    capturing: std::sync::atomic::AtomicBool::new(false),
                }),
                #[cfg(feature = "emulator")]
                emu: None,
            }),
        })
    }

    /// A device that runs the generated kernels on the CPU (compiled by the host's `g++`, with
    /// each block's threads as OS threads), with host memory for device memory and a plain
    /// column-major gemm for cuBLAS. For tests on machines without a GPU; not for speed.
    /// Graph capture is GPU-only.
    #[cfg(feature = "emulator")]
    pub fn emulated() -> Result<Cuda> {
        let emu = emu::Emu::new()?;
        Ok(Cuda {
            inner: Arc::new(Inner {
                name: "cuda:emulated".into(),
                arch: "host".into(),
                scratch: emu.malloc(SCRATCH_BYTES)?,
                gpu: None,
                emu: Some(emu),
            }),
        })
    }

    /// Whether a GPU can be opened here (a driver, a device, NVRTC and cuBLAS).
    pub fn is_available() -> bool {
        Cuda::new(0).is_ok()
    }

    /// The device's name as the driver reports it (`"NVIDIA H100 80GB HBM3"`).
    pub fn device_name(&self) -> Result<String> {
        if self.emu().is_some() {
            return Ok("CPU emulation of the generated kernels".into());
        }
        self.gpu()?.ctx.name().map_err(|e| driver_err("cuda", e))
    }

    /// The architecture kernels are compiled for (`"sm_90"`).
    pub fn arch(&self) -> &str {
        &self.inner.arch
    }

    /// Waits until all queued work is done, and reports a failure of any of it.
    pub fn sync(&self) -> Result<()> {
        if self.emu().is_some() {
            return Ok(()); // the emulator runs every launch to completion
        }
        self.bind()?;
        self.gpu()?
            .stream
            .synchronize()
            .map_err(|e| driver_err("synchronize", e))
    }

    /// The GPU, or an error on the emulator (for the few GPU-only paths).
    fn gpu(&self) -> Result<&Gpu> {
        self.inner
            .gpu
            .as_ref()
            .ok_or(dev_err("cuda", "not available on the CPU emulator"))
    }

    /// The CPU emulator, when this device is one.
    #[cfg(feature = "emulator")]
    pub(crate) fn emu(&self) -> Option<&emu::Emu> {
        self.inner.emu.as_ref()
    }

    /// The CPU emulator, when this device is one.
    #[cfg(not(feature = "emulator"))]
    pub(crate) fn emu(&self) -> Option<&std::convert::Infallible> {
        None
    }

    fn bind(&self) -> Result<()> {
        self.gpu()?
            .ctx
            .bind_to_thread()
            .map_err(|e| driver_err("cuda", e))
    }

    /// The stream all work goes to (null on the emulator, which never passes it to CUDA).
    fn cu_stream(&self) -> sys::CUstream {
        self.inner
            .gpu
            .as_ref()
            .map_or(std::ptr::null_mut(), |g| g.stream.cu_stream())
    }

    pub(crate) fn malloc(&self, bytes: usize) -> Result<u64> {
        #[cfg(feature = "emulator")]
        if let Some(e) = self.emu() {
            return e.malloc(bytes);
        }
        let async_alloc = self.gpu()?.async_alloc;
        if !async_alloc {
            self.not_capturing("cuda alloc")?;
        }
        self.bind()?;
        // SAFETY: the context is bound; the memory is only used in stream order on our stream
        // (or after a synchronous allocation).
        let r = unsafe {
            if async_alloc {
                drv::malloc_async(self.cu_stream(), bytes)
            } else {
                drv::malloc_sync(bytes)
            }
        };
        r.map_err(|e| match e.0 {
            sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY => {
                Error::buffer_too_small("cuda alloc", bytes, 0)
            }
            _ => driver_err("cuda alloc", e),
        })
    }

    pub(crate) fn free(&self, addr: u64) {
        #[cfg(feature = "emulator")]
        if let Some(e) = self.emu() {
            return e.free(addr);
        }
        let Ok(g) = self.gpu() else { return };
        // Not `bind()`: it reports (and clears) errors cudarc recorded elsewhere, which would
        // skip this free and leak.
        // SAFETY: the context lives as long as `g`.
        if unsafe { drv::ctx::set_current(g.ctx.cu_ctx()) }.is_err() {
            return;
        }
        // SAFETY: `addr` came from `malloc` and is freed once; stream order keeps queued
        // kernels that use it ahead of the free. Errors cannot be reported from Drop.
        let _ = unsafe {
            if g.async_alloc {
                drv::free_async(addr, self.cu_stream())
            } else {
                drv::free_sync(addr)
            }
        };
    }

    /// Runs `f` with the pinned slots for copies of `bytes` (made on first use).
    fn with_staging(
        &self,
        bytes: usize,
        f: impl FnOnce(&mut transfer::Staging) -> Result<()>,
    ) -> Result<()> {
        let mut st = self
            .gpu()?
            .staging
            .lock()
            .map_err(|_| dev_err("cuda", "staging buffer poisoned"))?;
        if st.is_none() {
            *st = Some([transfer::Staging::large()?, transfer::Staging::small()?]);
        }
        match st.as_mut() {
            Some([large, small]) => f(if bytes <= small.slot() { small } else { large }),
            None => Err(dev_err("cuda", "staging buffer missing")),
        }
    }

    /// An error while a graph capture runs (host transfers cannot be captured).
    fn not_capturing(&self, op: &'static str) -> Result<()> {
        match self.inner.gpu.as_ref() {
            Some(g) if g.capturing.load(std::sync::atomic::Ordering::Acquire) => Err(dev_err(
                op,
                "host transfers and synchronous allocations cannot be captured",
            )),
            _ => Ok(()),
        }
    }

    /// Copies host bytes to device address `dst` (`src.len()` bytes there, owned by the caller).
    fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        if src.is_empty() {
            return Ok(());
        }
        #[cfg(feature = "emulator")]
        if let Some(e) = self.emu() {
            return e.copy(dst, src.as_ptr() as u64, src.len());
        }
        self.not_capturing("upload")?;
        self.bind()?;
        // Always through pinned slots: an async copy from pageable memory may read `src` after
        // returning, and the caller may reuse `src` at once. The copy is ordered on our stream.
        self.with_staging(src.len(), |st| self.htod_staged(st, dst, src))
    }

    /// Copies device bytes at `src` to the host, after all queued work.
    fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        if dst.is_empty() {
            return Ok(());
        }
        #[cfg(feature = "emulator")]
        if let Some(e) = self.emu() {
            return e.copy(dst.as_mut_ptr() as u64, src, dst.len());
        }
        self.not_capturing("download")?;
        self.bind()?;
        if dst.len() >= transfer::STAGED {
            return self.with_staging(dst.len(), |st| self.dtoh_staged(st, dst, src));
        }
        // SAFETY: `src` holds `dst.len()` bytes; the stream is synchronised before `dst` is
        // used or dropped.
        unsafe { drv::memcpy_dtoh_async(dst, src, self.cu_stream()) }
            .map_err(|e| driver_err("download", e))?;
        self.sync()
    }

    fn memset0(&self, dst: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        #[cfg(feature = "emulator")]
        if let Some(e) = self.emu() {
            return e.zero(dst, bytes);
        }
        self.bind()?;
        // SAFETY: `dst` holds `bytes` bytes.
        unsafe { drv::memset_d8_async(dst, 0, bytes, self.cu_stream()) }
            .map_err(|e| driver_err("zero", e))
    }
}

/// Bytes of `Inner::scratch`.
const SCRATCH_BYTES: usize = 2 * ops::SCRATCH_DOUBLES * 8;

impl Drop for Inner {
    fn drop(&mut self) {
        #[cfg(feature = "emulator")]
        if let Some(e) = &self.emu {
            e.free(self.scratch);
        }
        if let Some(g) = &self.gpu {
            // SAFETY: the context lives as long as `g`; the stream is idle after the
            // synchronize, so no kernel uses the scratch any more; freed once.
            unsafe {
                if drv::ctx::set_current(g.ctx.cu_ctx()).is_ok() {
                    let _ = g.stream.synchronize();
                    let _ = drv::free_sync(self.scratch);
                }
            }
        }
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        if self.ctx.bind_to_thread().is_ok() {
            let _ = self.stream.synchronize();
            // The pinned halves go while the context is still alive.
            if let Ok(mut st) = self.staging.lock() {
                st.take();
            }
            // SAFETY: dropped once, here; the handle goes before the workspace it was given.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.blas) };
            // SAFETY: allocated in `open`; the stream is idle and the cuBLAS handle is gone.
            let _ = unsafe { drv::free_sync(self.workspace) };
        } else {
            // SAFETY: dropped once, here (the context could not be bound: leak nothing else).
            unsafe { std::mem::ManuallyDrop::drop(&mut self.blas) };
        }
    }
}

impl Backend for Cuda {
    type Mem<E: Elem> = DevSlice<E>;
    fn name(&self) -> &str {
        &self.inner.name
    }
    fn mem_len<E: Elem>(mem: &DevSlice<E>) -> usize {
        mem.len()
    }
}

impl ArenaMem for Cuda {
    type Bytes = DevSlice<u8>;
    fn bytes_len(b: &DevSlice<u8>) -> usize {
        b.len()
    }
    fn bytes_addr(b: &DevSlice<u8>) -> usize {
        b.addr() as usize
    }
    fn split_bytes(b: &DevSlice<u8>, mid: usize) -> (&DevSlice<u8>, &DevSlice<u8>) {
        mem::split(b, mid)
    }
    fn split_bytes_mut(b: &mut DevSlice<u8>, mid: usize) -> (&mut DevSlice<u8>, &mut DevSlice<u8>) {
        mem::split_mut(b, mid)
    }
    fn typed<E: Elem>(b: &DevSlice<u8>) -> Result<&DevSlice<E>> {
        mem::typed(b)
    }
    fn typed_mut<E: Elem>(b: &mut DevSlice<u8>) -> Result<&mut DevSlice<E>> {
        mem::typed_mut(b)
    }
    fn write_bytes(&self, dst: &mut DevSlice<u8>, src: &[u8]) -> Result<()> {
        if dst.len() != src.len() {
            return Err(Error::buffer_too_small("upload", src.len(), dst.len()));
        }
        self.htod(dst.addr(), src)
    }
    fn read_bytes(&self, src: &DevSlice<u8>, dst: &mut [u8]) -> Result<()> {
        if dst.len() != src.len() {
            return Err(Error::buffer_too_small("download", src.len(), dst.len()));
        }
        self.dtoh(dst, src.addr())
    }
    fn zero_bytes(&self, dst: &mut DevSlice<u8>) -> Result<()> {
        self.memset0(dst.addr(), dst.len())
    }
}

impl tensile_core::Alloc for Cuda {
    type Buf<E: Elem> = CudaBuf<E>;
    fn alloc_zeroed<E: Elem>(&self, len: usize) -> Result<CudaBuf<E>> {
        let mut b = CudaBuf::alloc(self, len)?;
        let m = b.mem_mut();
        self.memset0(m.addr(), m.len() * E::DTYPE.size())?;
        Ok(b)
    }
    fn upload<E: Elem>(&self, src: &[E]) -> Result<CudaBuf<E>> {
        let mut b = CudaBuf::alloc(self, src.len())?;
        self.htod(b.mem_mut().addr(), bytemuck::cast_slice(src))?;
        Ok(b)
    }
    fn download<E: Elem>(&self, src: &DevSlice<E>, dst: &mut [E]) -> Result<()> {
        if dst.len() > src.len() {
            return Err(Error::buffer_too_small("download", dst.len(), src.len()));
        }
        self.dtoh(bytemuck::cast_slice_mut(dst), src.addr())
    }
    fn buf_mem<E: Elem>(buf: &CudaBuf<E>) -> &DevSlice<E> {
        buf.mem()
    }
    fn buf_mem_mut<E: Elem>(buf: &mut CudaBuf<E>) -> &mut DevSlice<E> {
        buf.mem_mut()
    }
    fn synchronize(&self) -> Result<()> {
        self.sync()
    }
}
