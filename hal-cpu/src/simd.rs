//! Run-time ISA dispatch for the elementwise and reduction loops. The loops are written once
//! as plain Rust over slices (`#[inline(always)]`); wrappers compile them again inside
//! `#[target_feature]` functions, so LLVM vectorises them with AVX2 or AVX-512 where the
//! machine has it. (The default x86_64 target only guarantees SSE2.)

/// Runs `$body` (an expression calling `#[inline(always)]` code) compiled for the best ISA here.
macro_rules! multiversion {
    ($body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            match $crate::gemm::Isa::best() {
                // SAFETY: the ISA was detected on this machine.
                $crate::gemm::Isa::Avx512 => unsafe { avx512(|| $body) },
                // SAFETY: as above.
                $crate::gemm::Isa::Avx2 => unsafe { avx2(|| $body) },
                $crate::gemm::Isa::Scalar | $crate::gemm::Isa::Neon => $body,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $body
        }
    }};
}
pub(crate) use multiversion;
