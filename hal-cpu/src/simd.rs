//! Run-time ISA dispatch for the elementwise and reduction loops. The loops are written once
//! as plain Rust over slices (`#[inline(always)]`); `multiversion!` defines, for one such
//! function, wrappers compiled with `#[target_feature]` (AVX-512, AVX2+FMA) that call it
//! directly, so it is inlined into each and vectorised for that ISA, and a dispatcher that
//! picks one at run time. (The default x86_64 target only guarantees SSE2. An earlier version
//! passed a closure to the wrappers, and LLVM did not always inline it: the reductions then
//! ran as SSE2 code.)

/// `multiversion!(fn dispatcher<G: Bound, ...>(arg: Type, ...) => implementation);`
macro_rules! multiversion {
    (fn $name:ident<$($g:ident: $b:path),*>($($arg:ident: $ty:ty),* $(,)?) => $imp:ident) => {
        #[inline]
        fn $name<$($g: $b),*>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                unsafe fn avx512<$($g: $b),*>($($arg: $ty),*) {
                    $imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($g: $b),*>($($arg: $ty),*) {
                    $imp($($arg),*)
                }
                match $crate::gemm::Isa::best() {
                    // SAFETY: the ISA was detected on this machine.
                    $crate::gemm::Isa::Avx512 => unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::gemm::Isa::Avx2 => unsafe { avx2($($arg),*) },
                    $crate::gemm::Isa::Scalar | $crate::gemm::Isa::Neon => $imp($($arg),*),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                $imp($($arg),*)
            }
        }
    };
}
pub(crate) use multiversion;
