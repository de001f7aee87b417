//! # tensile-hal-cpu
//!
//! The `no_std` CPU device for `tensile-core`. Kernels consume the broadcasting iterator's
//! inner runs and choose a loop once per call from the run strides: contiguous operands get
//! plain slice loops (which the compiler vectorises), a stride-0 operand is hoisted to a
//! scalar, anything else takes a strided loop. Reductions accumulate in several lanes, and
//! matmul streams rows of `b` (an `axpy` per element of `a`). Hand-written SIMD, a packed GEMM
//! and threads come on top of this shape.
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! use tensile_hal_cpu::Tensor;
//! let x = Tensor::from([[5.0f32, 8.0], [4.0, 6.0]]);
//! let y = x.matmul(&x.t().unwrap()).unwrap();
//! assert_eq!(y.to_vec().unwrap(), vec![89.0, 68.0, 68.0, 52.0]);
//! # }
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod gemm;
mod map;
mod matmul;
mod reduce;
mod simd;

use tensile_core::{Backend, Elem, Host};

/// Threads used for large kernels (0 = not set: all available cores).
#[cfg(feature = "std")]
static THREADS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Sets how many threads large kernels may use (like `torch.set_num_threads`); 1 disables
/// threading.
#[cfg(feature = "std")]
pub fn set_num_threads(n: usize) {
    THREADS.store(n.max(1), core::sync::atomic::Ordering::Relaxed);
}

/// The number of threads large kernels use (all cores unless [`set_num_threads`] says
/// otherwise; detected once, since asking the OS allocates).
#[cfg(feature = "std")]
pub fn num_threads() -> usize {
    match THREADS.load(core::sync::atomic::Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            THREADS.store(n, core::sync::atomic::Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// The CPU device. Cheap to copy; all state is per call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu;

impl Cpu {
    /// The CPU device.
    pub const fn new() -> Cpu {
        Cpu
    }
}

/// An owned tensor on the CPU (`Tensor::from([[5., 8.], [4., 6.]])`).
#[cfg(feature = "alloc")]
pub type Tensor<E = f32> = tensile_core::Tensor<E, Cpu>;

impl Backend for Cpu {
    type Mem<E: Elem> = [E];
    fn name(&self) -> &str {
        "cpu"
    }
    fn mem_len<E: Elem>(mem: &[E]) -> usize {
        mem.len()
    }
}

impl Host for Cpu {
    fn mem<E: Elem>(s: &[E]) -> &[E] {
        s
    }
    fn mem_mut<E: Elem>(s: &mut [E]) -> &mut [E] {
        s
    }
    fn slice<E: Elem>(m: &[E]) -> &[E] {
        m
    }
}

#[cfg(feature = "alloc")]
impl tensile_core::Alloc for Cpu {
    type Buf<E: Elem> = alloc::vec::Vec<E>;
    fn alloc_zeroed<E: Elem>(&self, len: usize) -> tensile_core::Result<alloc::vec::Vec<E>> {
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(len).map_err(|_| {
            tensile_core::Error::new(
                tensile_core::ErrorKind::Device,
                "alloc",
                tensile_core::Context::Bytes {
                    needed: len.saturating_mul(core::mem::size_of::<E>()),
                    available: 0,
                },
            )
        })?;
        v.resize(len, E::ZERO);
        Ok(v)
    }
    fn upload<E: Elem>(&self, src: &[E]) -> tensile_core::Result<alloc::vec::Vec<E>> {
        let mut v = self.alloc_zeroed(src.len())?;
        v.copy_from_slice(src);
        Ok(v)
    }
    fn download<E: Elem>(&self, src: &[E], dst: &mut [E]) -> tensile_core::Result<()> {
        let n = dst.len();
        let s = src.get(..n).ok_or(tensile_core::Error::buffer_too_small(
            "download",
            n,
            src.len(),
        ))?;
        dst.copy_from_slice(s);
        Ok(())
    }
    fn buf_mem<E: Elem>(buf: &alloc::vec::Vec<E>) -> &[E] {
        buf
    }
    fn buf_mem_mut<E: Elem>(buf: &mut alloc::vec::Vec<E>) -> &mut [E] {
        buf
    }
}

impl tensile_core::Update for Cpu {
    fn update<E: tensile_core::Float, O: tensile_core::UpdateFn<E>>(
        &self,
        op: O,
        p: &mut [E],
        s1: &mut [E],
        s2: &mut [E],
        g: &[E],
        hyper: &[E],
    ) -> tensile_core::Result<()> {
        let c = op.prepare(hyper[0], hyper[1]);
        let n = p.len();
        let g = &g[..n];
        match (s1.len() == n, s2.len() == n) {
            (true, true) => {
                for (((p, a), b), &g) in p.iter_mut().zip(&mut s1[..n]).zip(&mut s2[..n]).zip(g) {
                    op.apply(&c, p, a, b, g);
                }
            }
            (true, false) => {
                let mut d = E::ZERO;
                for ((p, a), &g) in p.iter_mut().zip(&mut s1[..n]).zip(g) {
                    op.apply(&c, p, a, &mut d, g);
                }
            }
            _ => {
                let (mut d1, mut d2) = (E::ZERO, E::ZERO);
                for (p, &g) in p.iter_mut().zip(g) {
                    op.apply(&c, p, &mut d1, &mut d2, g);
                }
            }
        }
        Ok(())
    }
}
