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

    /// f32 AVX-512: 6 × 64 (24 zmm accumulators; one broadcast feeds four FMAs, which keeps
    /// the shuffle traffic of broadcasts off the FMA pipes on AMD).
    ///
    /// # Safety
    /// AVX-512F available; panels and tile sized as in `GemmElem::kernel`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn f32_avx512(
        k: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        rsc: usize,
        acc_c: bool,
    ) {
        const MR: usize = 6;
        let mut acc = [[_mm512_setzero_ps(); 4]; MR];
        for p in 0..k {
            // SAFETY: row p of the B panel has 64 values; A's column p has 6.
            unsafe {
                let bp = b.add(p * ldb);
                let bv = [
                    _mm512_loadu_ps(bp),
                    _mm512_loadu_ps(bp.add(16)),
                    _mm512_loadu_ps(bp.add(32)),
                    _mm512_loadu_ps(bp.add(48)),
                ];
                let ap = a.add(p * MR);
                for i in 0..MR {
                    let ai = _mm512_set1_ps(*ap.add(i));
                    for v in 0..4 {
                        acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
                    }
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: C's tile is 6 rows of 64 values at stride rsc.
                unsafe {
                    let d = c.add(i * rsc + v * 16);
                    let y = if acc_c {
                        _mm512_add_ps(_mm512_loadu_ps(d), x)
                    } else {
                        x
                    };
                    _mm512_storeu_ps(d, y);
                }
            }
        }
    }

    /// f64 AVX-512: 6 × 32 (24 zmm accumulators; one broadcast feeds four FMAs, which keeps
    /// the shuffle traffic of broadcasts off the FMA pipes on AMD).
    ///
    /// # Safety
    /// AVX-512F available; panels and tile sized as in `GemmElem::kernel`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn f64_avx512(
        k: usize,
        a: *const f64,
        b: *const f64,
        ldb: usize,
        c: *mut f64,
        rsc: usize,
        acc_c: bool,
    ) {
        const MR: usize = 6;
        let mut acc = [[_mm512_setzero_pd(); 4]; MR];
        for p in 0..k {
            // SAFETY: row p of the B panel has 32 values; A's column p has 6.
            unsafe {
                let bp = b.add(p * ldb);
                let bv = [
                    _mm512_loadu_pd(bp),
                    _mm512_loadu_pd(bp.add(8)),
                    _mm512_loadu_pd(bp.add(16)),
                    _mm512_loadu_pd(bp.add(24)),
                ];
                let ap = a.add(p * MR);
                for i in 0..MR {
                    let ai = _mm512_set1_pd(*ap.add(i));
                    for v in 0..4 {
                        acc[i][v] = _mm512_fmadd_pd(ai, bv[v], acc[i][v]);
                    }
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: C's tile is 6 rows of 32 values at stride rsc.
                unsafe {
                    let d = c.add(i * rsc + v * 8);
                    let y = if acc_c {
                        _mm512_add_pd(_mm512_loadu_pd(d), x)
                    } else {
                        x
                    };
                    _mm512_storeu_pd(d, y);
                }
            }
        }
    }

    /// f32 AVX2 + FMA: 6 × 16 (12 ymm accumulators).
    ///
    /// # Safety
    /// AVX2 and FMA available; panels and tile sized as in `GemmElem::kernel`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn f32_avx2(
        k: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        rsc: usize,
        acc_c: bool,
    ) {
        const MR: usize = 6;
        let mut c0 = [_mm256_setzero_ps(); MR];
        let mut c1 = [_mm256_setzero_ps(); MR];
        for p in 0..k {
            // SAFETY: row p of the B panel has 16 values; A's column p has 6.
            unsafe {
                let b0 = _mm256_loadu_ps(b.add(p * ldb));
                let b1 = _mm256_loadu_ps(b.add(p * ldb + 8));
                let ap = a.add(p * MR);
                for i in 0..MR {
                    let ai = _mm256_broadcast_ss(&*ap.add(i));
                    c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
                    c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
                }
            }
        }
        for i in 0..MR {
            // SAFETY: C's tile is MR rows of 16 values at stride rsc.
            unsafe {
                let (p0, p1) = (c.add(i * rsc), c.add(i * rsc + 8));
                if acc_c {
                    _mm256_storeu_ps(p0, _mm256_add_ps(_mm256_loadu_ps(p0), c0[i]));
                    _mm256_storeu_ps(p1, _mm256_add_ps(_mm256_loadu_ps(p1), c1[i]));
                } else {
                    _mm256_storeu_ps(p0, c0[i]);
                    _mm256_storeu_ps(p1, c1[i]);
                }
            }
        }
    }

    /// f64 AVX2 + FMA: 6 × 8.
    ///
    /// # Safety
    /// AVX2 and FMA available; panels and tile sized as in `GemmElem::kernel`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn f64_avx2(
        k: usize,
        a: *const f64,
        b: *const f64,
        ldb: usize,
        c: *mut f64,
        rsc: usize,
        acc_c: bool,
    ) {
        const MR: usize = 6;
        let mut c0 = [_mm256_setzero_pd(); MR];
        let mut c1 = [_mm256_setzero_pd(); MR];
        for p in 0..k {
            // SAFETY: row p of the B panel has 8 values; A's column p has 6.
            unsafe {
                let b0 = _mm256_loadu_pd(b.add(p * ldb));
                let b1 = _mm256_loadu_pd(b.add(p * ldb + 4));
                let ap = a.add(p * MR);
                for i in 0..MR {
                    let ai = _mm256_broadcast_sd(&*ap.add(i));
                    c0[i] = _mm256_fmadd_pd(ai, b0, c0[i]);
                    c1[i] = _mm256_fmadd_pd(ai, b1, c1[i]);
                }
            }
        }
        for i in 0..MR {
            // SAFETY: C's tile is MR rows of 8 values at stride rsc.
            unsafe {
                let (p0, p1) = (c.add(i * rsc), c.add(i * rsc + 4));
                if acc_c {
                    _mm256_storeu_pd(p0, _mm256_add_pd(_mm256_loadu_pd(p0), c0[i]));
                    _mm256_storeu_pd(p1, _mm256_add_pd(_mm256_loadu_pd(p1), c1[i]));
                } else {
                    _mm256_storeu_pd(p0, c0[i]);
                    _mm256_storeu_pd(p1, c1[i]);
                }
            }
        }
    }
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
