//! Compiling, caching and launching the generated kernels, and packing layouts into their
//! parameter structs. A launch allocates nothing: the cache lookup is by a `Copy` key and the
//! arguments are an array of pointers on the stack.

use std::ffi::c_void;

use cudarc::driver::result as drv;
use tensile_core::{Layout, Result};

use crate::codegen::{Kernel, BLOCK, MAX_RANK};
use crate::{dev_err, driver_err, intern, Cuda};

/// `struct Shape` of the kernels' prelude.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ShapeP {
    pub n: i64,
    pub rank: i32,
    pad: i32,
    pub dims: [i64; MAX_RANK],
}

/// `struct Strides` of the kernels' prelude.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StridesP {
    pub off: i64,
    pub s: [i64; MAX_RANK],
}

/// The joint shape of `N` same-shape layouts with size-1 dims dropped and adjacent dims merged
/// where every layout allows it (fewer divisions per element in the kernels).
pub(crate) fn pack<const N: usize>(ls: [&Layout; N]) -> (ShapeP, [StridesP; N]) {
    let mut sh = ShapeP::default();
    let mut st = [StridesP::default(); N];
    for (s, l) in st.iter_mut().zip(ls) {
        s.off = l.offset() as i64;
    }
    let dims = ls[0].dims();
    sh.n = dims.iter().product::<usize>() as i64;
    let mut r = 0usize;
    for (d, &dim) in dims.iter().enumerate() {
        if dim == 1 {
            continue;
        }
        let merge = r > 0
            && ls
                .iter()
                .zip(&st)
                .all(|(l, s)| s.s[r - 1] == (l.strides()[d] * dim) as i64);
        if merge {
            sh.dims[r - 1] *= dim as i64;
            for (s, l) in st.iter_mut().zip(ls) {
                s.s[r - 1] = l.strides()[d] as i64;
            }
        } else {
            sh.dims[r] = dim as i64;
            for (s, l) in st.iter_mut().zip(ls) {
                s.s[r] = l.strides()[d] as i64;
            }
            r += 1;
        }
    }
    sh.rank = r as i32;
    (sh, st)
}

/// A raw kernel argument: a pointer to a value the launch copies.
pub(crate) fn arg<T>(v: &T) -> *mut c_void {
    v as *const T as *mut c_void
}

impl Cuda {
    /// The compiled function of `k`, compiling it with NVRTC on first use.
    fn function(&self, k: Kernel) -> Result<cudarc::driver::sys::CUfunction> {
        let gpu = self.gpu()?;
        let mut cache = gpu
            .kernels
            .lock()
            .map_err(|_| dev_err("cuda", "kernel cache poisoned"))?;
        if let Some(f) = cache.get(&k) {
            return Ok(f.cu_function());
        }
        if !k.is_valid() {
            return Err(dev_err("cuda", "no kernel for this op and dtype"));
        }
        let cubin = compile(&k.source(), &self.inner.arch)?;
        let module = gpu
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(|e| driver_err("load kernel", e))?;
        let f = module
            .load_function(&k.name())
            .map_err(|e| driver_err("load kernel", e))?;
        let raw = f.cu_function();
        cache.insert(k, f);
        Ok(raw)
    }

    /// Launches `k` on the device's stream over `grid` blocks of `block` threads.
    pub(crate) fn launch(
        &self,
        k: Kernel,
        grid: u32,
        block: u32,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        #[cfg(feature = "emulator")]
        if let Some(e) = self.emu() {
            return e.launch(k, grid.max(1), block, args);
        }
        let f = self.function(k)?;
        self.bind()?;
        // SAFETY: `args` point to values laid out as the kernel's parameters (the generated
        // source and the #[repr(C)] structs above are written together), device pointers
        // among them address memory the core checked the layouts against.
        unsafe {
            drv::launch_kernel(
                f,
                (grid.max(1), 1, 1),
                (block, 1, 1),
                0,
                self.cu_stream(),
                args,
            )
        }
        .map_err(|e| driver_err("launch", e))
    }

    /// Launches a grid-strided elementwise kernel over `n` elements.
    pub(crate) fn launch_elementwise(
        &self,
        k: Kernel,
        n: i64,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        // Enough blocks to fill any current GPU several times; the loop covers the rest.
        let blocks = ((n as u64).div_ceil(BLOCK as u64)).min(65_536) as u32;
        self.launch(k, blocks, BLOCK, args)
    }
}

/// Compiles CUDA C to machine code (CUBIN) for `arch` (`"sm_90"`), or says why not. Machine
/// code, not PTX: PTX from a newer NVRTC than the driver would be refused at load time.
pub fn compile(src: &str, arch: &str) -> Result<Vec<u8>> {
    crate::no_panic_compile(|| nvrtc_cubin(src, arch))
}

fn nvrtc_cubin(src: &str, arch: &str) -> Result<Vec<u8>> {
    use cudarc::nvrtc::{result as rtc, sys as rsys};
    let err = |m: String| dev_err("nvrtc", intern(m));
    let csrc = std::ffi::CString::new(src).map_err(|_| err("source holds a NUL byte".into()))?;
    let prog = rtc::create_program(&csrc, None).map_err(|e| err(format!("{e:?}")))?;
    let opts = [
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
    ];
    // SAFETY: `prog` was created above and is destroyed once, at the end.
    let out = unsafe {
        match rtc::compile_program(prog, &opts) {
            Ok(()) => {
                let mut size = 0usize;
                rsys::nvrtcGetCUBINSize(prog, &mut size)
                    .result()
                    .and_then(|()| {
                        let mut bin = vec![0u8; size];
                        rsys::nvrtcGetCUBIN(prog, bin.as_mut_ptr().cast())
                            .result()
                            .map(|()| bin)
                    })
                    .map_err(|e| err(format!("{e:?}")))
            }
            Err(e) => {
                let log = rtc::get_program_log(prog)
                    .map(|l| {
                        let bytes: Vec<u8> = l.iter().map(|&c| c as u8).collect();
                        String::from_utf8_lossy(&bytes)
                            .trim_end_matches('\0')
                            .to_string()
                    })
                    .unwrap_or_default();
                Err(err(format!("{e:?} for {arch}:\n{log}")))
            }
        }
    };
    // SAFETY: created above, destroyed once.
    let _ = unsafe { rtc::destroy_program(prog) };
    out
}
