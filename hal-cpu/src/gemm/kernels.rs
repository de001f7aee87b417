//! Micro-kernels: `tile (MR × NR, row-major) += Ã · B̃` over k. The portable kernel is always
//! compiled; the x86_64 ones are compiled for their target feature and only called after
//! detection (see `Isa`).

// Register tiles index the accumulators, A and B in lockstep; index loops say that best.
#![allow(clippy::needless_range_loop)]

use super::{GemmElem, Isa};

/// The portable kernel: 4 × 4 with independent accumulators.
///
/// # Safety
/// As [`GemmElem::kernel`] with `MR = NR = 4`.
#[inline(always)]
unsafe fn scalar<E: tensile_core::Float>(
    k: usize,
    a: *const E,
    b: *const E,
    ldb: usize,
    c: *mut E,
    rsc: usize,
    acc_c: bool,
) {
    let mut acc = [[E::ZERO; 4]; 4];
    for p in 0..k {
        // SAFETY: p < k, so these reads are within the panels the caller promises.
        let (ar, br) = unsafe {
            (
                core::slice::from_raw_parts(a.add(p * 4), 4),
                core::slice::from_raw_parts(b.add(p * ldb), 4),
            )
        };
        for i in 0..4 {
            for j in 0..4 {
                acc[i][j] = acc[i][j].add(ar[i].mul(br[j]));
            }
        }
    }
    for i in 0..4 {
        for j in 0..4 {
            // SAFETY: C's tile is 4 rows of 4 values at stride rsc.
            unsafe {
                let d = c.add(i * rsc + j);
                *d = if acc_c {
                    (*d).add(acc[i][j])
                } else {
                    acc[i][j]
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// A 6-row kernel of `V` vectors per row: AVX-512 with V = 4 (24 zmm accumulators; one
    /// broadcast feeds four FMAs, which keeps the shuffle traffic of broadcasts off the FMA
    /// pipes on AMD), AVX2 + FMA with V = 2 (12 ymm accumulators).
    macro_rules! fma_kernel {
        ($name:ident, $feature:literal, $t:ty, $lanes:expr, $v:expr, $zero:ident, $load:ident, $store:ident, $set1:ident, $fma:ident, $add:ident) => {
            /// # Safety
            /// The target feature is available; panels and tile sized as in
            /// `GemmElem::kernel` (NR = V × lanes).
            #[target_feature(enable = $feature)]
            pub unsafe fn $name(
                k: usize,
                a: *const $t,
                b: *const $t,
                ldb: usize,
                c: *mut $t,
                rsc: usize,
                acc_c: bool,
            ) {
                const MR: usize = 6;
                let mut acc = [[$zero(); $v]; MR];
                for p in 0..k {
                    // SAFETY: row p of the B panel has V × lanes values; A's column p has 6.
                    unsafe {
                        let bp = b.add(p * ldb);
                        let mut bv = [$zero(); $v];
                        for (v, x) in bv.iter_mut().enumerate() {
                            *x = $load(bp.add(v * $lanes));
                        }
                        let ap = a.add(p * MR);
                        for i in 0..MR {
                            let ai = $set1(*ap.add(i));
                            for v in 0..$v {
                                acc[i][v] = $fma(ai, bv[v], acc[i][v]);
                            }
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    for (v, &x) in row.iter().enumerate() {
                        // SAFETY: C's tile is 6 rows of V × lanes values at stride rsc.
                        unsafe {
                            let d = c.add(i * rsc + v * $lanes);
                            let y = if acc_c { $add($load(d), x) } else { x };
                            $store(d, y);
                        }
                    }
                }
            }
        };
    }

    fma_kernel!(
        f32_avx512,
        "avx512f",
        f32,
        16,
        4,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps
    );
    fma_kernel!(
        f64_avx512,
        "avx512f",
        f64,
        8,
        4,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        _mm512_add_pd
    );
    fma_kernel!(
        f32_avx2,
        "avx2,fma",
        f32,
        8,
        2,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps
    );
    fma_kernel!(
        f64_avx2,
        "avx2,fma",
        f64,
        4,
        2,
        _mm256_setzero_pd,
        _mm256_loadu_pd,
        _mm256_storeu_pd,
        _mm256_set1_pd,
        _mm256_fmadd_pd,
        _mm256_add_pd
    );
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use core::arch::aarch64::*;

    /// f32 NEON: 8 × 12 (24 q accumulators). A's 8 values sit in two registers and each FMA
    /// takes its A factor by lane, so no broadcasts are needed.
    ///
    /// # Safety
    /// Panels and tile sized as in `GemmElem::kernel` (NEON is always present on aarch64).
    #[target_feature(enable = "neon")]
    pub unsafe fn f32_neon(
        k: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        rsc: usize,
        acc_c: bool,
    ) {
        let mut acc = [[vdupq_n_f32(0.0); 3]; 8];
        for p in 0..k {
            // SAFETY: row p of the B panel has 12 values; A's column p has 8.
            unsafe {
                let bp = b.add(p * ldb);
                let bv = [vld1q_f32(bp), vld1q_f32(bp.add(4)), vld1q_f32(bp.add(8))];
                let a0 = vld1q_f32(a.add(p * 8));
                let a1 = vld1q_f32(a.add(p * 8 + 4));
                for v in 0..3 {
                    acc[0][v] = vfmaq_laneq_f32::<0>(acc[0][v], bv[v], a0);
                    acc[1][v] = vfmaq_laneq_f32::<1>(acc[1][v], bv[v], a0);
                    acc[2][v] = vfmaq_laneq_f32::<2>(acc[2][v], bv[v], a0);
                    acc[3][v] = vfmaq_laneq_f32::<3>(acc[3][v], bv[v], a0);
                    acc[4][v] = vfmaq_laneq_f32::<0>(acc[4][v], bv[v], a1);
                    acc[5][v] = vfmaq_laneq_f32::<1>(acc[5][v], bv[v], a1);
                    acc[6][v] = vfmaq_laneq_f32::<2>(acc[6][v], bv[v], a1);
                    acc[7][v] = vfmaq_laneq_f32::<3>(acc[7][v], bv[v], a1);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: C's tile is 8 rows of 12 values at stride rsc.
                unsafe {
                    let d = c.add(i * rsc + v * 4);
                    let y = if acc_c { vaddq_f32(vld1q_f32(d), x) } else { x };
                    vst1q_f32(d, y);
                }
            }
        }
    }

    /// f64 NEON: 8 × 6 (24 q accumulators), A's factors by lane.
    ///
    /// # Safety
    /// Panels and tile sized as in `GemmElem::kernel`.
    #[target_feature(enable = "neon")]
    pub unsafe fn f64_neon(
        k: usize,
        a: *const f64,
        b: *const f64,
        ldb: usize,
        c: *mut f64,
        rsc: usize,
        acc_c: bool,
    ) {
        let mut acc = [[vdupq_n_f64(0.0); 3]; 8];
        for p in 0..k {
            // SAFETY: row p of the B panel has 6 values; A's column p has 8.
            unsafe {
                let bp = b.add(p * ldb);
                let bv = [vld1q_f64(bp), vld1q_f64(bp.add(2)), vld1q_f64(bp.add(4))];
                let ap = a.add(p * 8);
                let av = [
                    vld1q_f64(ap),
                    vld1q_f64(ap.add(2)),
                    vld1q_f64(ap.add(4)),
                    vld1q_f64(ap.add(6)),
                ];
                for v in 0..3 {
                    for q in 0..4 {
                        acc[2 * q][v] = vfmaq_laneq_f64::<0>(acc[2 * q][v], bv[v], av[q]);
                        acc[2 * q + 1][v] = vfmaq_laneq_f64::<1>(acc[2 * q + 1][v], bv[v], av[q]);
                    }
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: C's tile is 8 rows of 6 values at stride rsc.
                unsafe {
                    let d = c.add(i * rsc + v * 2);
                    let y = if acc_c { vaddq_f64(vld1q_f64(d), x) } else { x };
                    vst1q_f64(d, y);
                }
            }
        }
    }
}

impl GemmElem for f32 {
    fn tile(isa: Isa) -> (usize, usize) {
        match isa {
            Isa::Avx512 => (6, 64),
            Isa::Avx2 => (6, 16),
            Isa::Neon => (8, 12),
            Isa::Scalar => (4, 4),
        }
    }
    unsafe fn kernel(
        isa: Isa,
        k: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        rsc: usize,
        acc_c: bool,
    ) {
        // SAFETY: forwarded contract; the ISA was checked by the caller.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => x86::f32_avx512(k, a, b, ldb, c, rsc, acc_c),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => x86::f32_avx2(k, a, b, ldb, c, rsc, acc_c),
                #[cfg(target_arch = "aarch64")]
                Isa::Neon => arm::f32_neon(k, a, b, ldb, c, rsc, acc_c),
                _ => scalar(k, a, b, ldb, c, rsc, acc_c),
            }
        }
    }
}

impl GemmElem for f64 {
    fn tile(isa: Isa) -> (usize, usize) {
        match isa {
            Isa::Avx512 => (6, 32),
            Isa::Avx2 => (6, 8),
            Isa::Neon => (8, 6),
            Isa::Scalar => (4, 4),
        }
    }
    unsafe fn kernel(
        isa: Isa,
        k: usize,
        a: *const f64,
        b: *const f64,
        ldb: usize,
        c: *mut f64,
        rsc: usize,
        acc_c: bool,
    ) {
        // SAFETY: forwarded contract; the ISA was checked by the caller.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => x86::f64_avx512(k, a, b, ldb, c, rsc, acc_c),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => x86::f64_avx2(k, a, b, ldb, c, rsc, acc_c),
                #[cfg(target_arch = "aarch64")]
                Isa::Neon => arm::f64_neon(k, a, b, ldb, c, rsc, acc_c),
                _ => scalar(k, a, b, ldb, c, rsc, acc_c),
            }
        }
    }
}
