//! A CPU emulator of the generated kernels (feature `emulator`, for tests without a GPU).
//!
//! `Cuda::emulated()` is a `Cuda` device whose "device memory" is host memory and whose kernel
//! launches run the very CUDA C that NVRTC compiles for the GPU, compiled by the host C++
//! compiler with `shim.h` (each block's threads are `std::thread`s meeting at `__syncthreads()`
//! on a barrier). The launch arguments are the same arrays the GPU gets, so the packing of
//! layouts, the parameter order and the block-level reductions are all exercised; cuBLAS is
//! replaced by a column-major gemm with cuBLAS's documented semantics. It is slow and only
//! for tests: it checks what the GPU code computes, not how fast.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use cudarc::cublas::sys::cublasOperation_t as BlasOp;
use tensile_core::{Float, Result};

use crate::codegen::Kernel;
use crate::ops::Gemm;
use crate::{dev_err, intern};

const SHIM: &str = include_str!("shim.h");

/// Blocks actually run per launch: kernels are grid-strided, so any count gives the same
/// result, and two keep the cross-block stride in play.
const MAX_BLOCKS: u32 = 2;

type LaunchFn = unsafe extern "C" fn(u32, u32, *mut *mut c_void);

pub(crate) struct Emu {
    dir: PathBuf,
    kernels: Mutex<HashMap<Kernel, (libloading::Library, LaunchFn)>>,
    allocs: Mutex<HashMap<u64, std::alloc::Layout>>,
}

impl Emu {
    pub(crate) fn new() -> Result<Emu> {
        let machine = Command::new("g++")
            .arg("-dumpmachine")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        let Some(machine) = machine else {
            return Err(dev_err(
                "cuda emulator",
                "no host C++ compiler (g++) to build the kernels with",
            ));
        };
        // The kernels are loaded into this process: g++ must build for its architecture (not
        // so under QEMU user-mode, where g++ is the host's).
        let arch = match std::env::consts::ARCH {
            "x86" => "i686",
            a => a,
        };
        if !machine.starts_with(arch) {
            return Err(dev_err(
                "cuda emulator",
                "g++ builds for another architecture than this process",
            ));
        }
        // One folder per emulator: each removes its own when dropped.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tensile-cuda-emu-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|_| dev_err("cuda emulator", "cannot create a temporary folder"))?;
        Ok(Emu {
            dir,
            kernels: Mutex::new(HashMap::new()),
            allocs: Mutex::new(HashMap::new()),
        })
    }

    /// `bytes` of host memory, 256-byte aligned like `cuMemAlloc`, filled with 0xFF (NaN for
    /// floats) so that a kernel that leaves an output unwritten shows.
    pub(crate) fn malloc(&self, bytes: usize) -> Result<u64> {
        let layout = std::alloc::Layout::from_size_align(bytes.max(1), 256)
            .map_err(|_| tensile_core::Error::buffer_too_small("cuda alloc", bytes, 0))?;
        // SAFETY: a non-zero size.
        let p = unsafe { std::alloc::alloc(layout) };
        if p.is_null() {
            return Err(tensile_core::Error::buffer_too_small(
                "cuda alloc",
                bytes,
                0,
            ));
        }
        // SAFETY: `p` holds `layout.size()` bytes.
        unsafe { std::ptr::write_bytes(p, 0xFF, layout.size()) };
        self.allocs
            .lock()
            .map_err(|_| dev_err("cuda emulator", "poisoned"))?
            .insert(p as u64, layout);
        Ok(p as u64)
    }

    pub(crate) fn free(&self, addr: u64) {
        if let Some(layout) = self.allocs.lock().ok().and_then(|mut a| a.remove(&addr)) {
            // SAFETY: allocated by `malloc` with this layout, freed once.
            unsafe { std::alloc::dealloc(addr as *mut u8, layout) };
        }
    }

    /// `memcpy` between host addresses (device memory is host memory here).
    pub(crate) fn copy(&self, dst: u64, src: u64, n: usize) -> Result<()> {
        // SAFETY: both hold `n` bytes (DevSlice lengths and host slices, checked by callers).
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, n) };
        Ok(())
    }

    pub(crate) fn zero(&self, dst: u64, n: usize) -> Result<()> {
        // SAFETY: `dst` holds `n` bytes.
        unsafe { std::ptr::write_bytes(dst as *mut u8, 0, n) };
        Ok(())
    }

    fn compiled(&self, k: Kernel) -> Result<LaunchFn> {
        let mut cache = self
            .kernels
            .lock()
            .map_err(|_| dev_err("cuda emulator", "poisoned"))?;
        if let Some((_, f)) = cache.get(&k) {
            return Ok(*f);
        }
        if !k.is_valid() {
            return Err(dev_err("cuda", "no kernel for this op and dtype"));
        }
        let name = k.name();
        let src = format!(
            "{SHIM}\n{}\nextern \"C\" void emu_launch(unsigned g, unsigned b, void** a) {{ emu_grid({name}, g, b, a); }}\n",
            k.source()
        );
        let cpp = self.dir.join(format!("{name}.cpp"));
        let so = self.dir.join(format!("{name}.so"));
        std::fs::write(&cpp, src)
            .map_err(|_| dev_err("cuda emulator", "cannot write kernel source"))?;
        let out = Command::new("g++")
            .args([
                "-std=c++20",
                "-O1",
                "-shared",
                "-fPIC",
                "-pthread",
                "-w",
                "-o",
            ])
            .arg(&so)
            .arg(&cpp)
            .output()
            .map_err(|_| dev_err("cuda emulator", "g++ did not run"))?;
        if !out.status.success() {
            let log = String::from_utf8_lossy(&out.stderr);
            return Err(dev_err("cuda emulator", intern(format!("{name}: {log}"))));
        }
        // SAFETY: a library we just built, whose initialisers are the C++ runtime's.
        let lib = unsafe { libloading::Library::new(&so) }
            .map_err(|_| dev_err("cuda emulator", "cannot load a compiled kernel"))?;
        // SAFETY: `emu_launch` is defined above with exactly this signature.
        let f: LaunchFn = *unsafe { lib.get::<LaunchFn>(b"emu_launch\0") }
            .map_err(|_| dev_err("cuda emulator", "compiled kernel has no entry point"))?;
        cache.insert(k, (lib, f));
        Ok(f)
    }

    pub(crate) fn launch(
        &self,
        k: Kernel,
        grid: u32,
        block: u32,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        let f = self.compiled(k)?;
        // SAFETY: the arguments are the ones the GPU launch gets, pointing at host memory the
        // core checked the layouts against.
        unsafe { f(grid.min(MAX_BLOCKS), block, args.as_mut_ptr()) };
        Ok(())
    }

    /// cuBLAS's strided-batched gemm, column-major, on host memory:
    /// `C (m×n) = op(A) · op(B)` for each of `batch` strided matrices.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemm<E: Float>(
        &self,
        g: Gemm,
        (m, n, k): (i32, i32, i32),
        (pa, pb, pc): (u64, u64, u64),
        strides: [i64; 3],
        batch: i32,
    ) {
        let (m, n, k) = (m as usize, n as usize, k as usize);
        let (lda, ldb, ldc) = (g.lda as usize, g.ldb as usize, g.ldc as usize);
        for bi in 0..batch as i64 {
            // SAFETY: the strides and leading dimensions address memory the core checked
            // (`gemm_for` maps the layouts; its mapping is tested against a naive product).
            unsafe {
                let a = (pa as *const E).offset((bi * strides[1]) as isize);
                let b = (pb as *const E).offset((bi * strides[0]) as isize);
                let c = (pc as *mut E).offset((bi * strides[2]) as isize);
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = E::ZERO;
                        for p in 0..k {
                            let av = match g.ta {
                                BlasOp::CUBLAS_OP_N => *a.add(i + p * lda),
                                _ => *a.add(p + i * lda),
                            };
                            let bv = match g.tb {
                                BlasOp::CUBLAS_OP_N => *b.add(p + j * ldb),
                                _ => *b.add(j + p * ldb),
                            };
                            acc = acc.add(av.mul(bv));
                        }
                        *c.add(i + j * ldc) = acc;
                    }
                }
            }
        }
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
