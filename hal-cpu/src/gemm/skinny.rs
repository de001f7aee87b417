//! Skinny products (`n ≤ 12` columns, rows of A contiguous) whose B rows are not contiguous,
//! so `direct` does not apply: dot products along k. Blocks of four rows of A meet up
//! to four columns of B with 16 accumulators in registers; a masked step takes the k tail;
//! horizontal sums finish. B's columns are read in place when they are contiguous (`x @ w.t()`
//! with a row-major `w`, nn.Linear's layout), else gathered into a packed Bᵀ per k block.

use super::{GemmElem, Isa, Mat, MatMut};

/// Widest n handled.
pub const MAX_N: usize = 12;
/// Rows of one dot-product block, and its most columns (16 accumulators).
const R: usize = 4;
/// k values per block of packed Bᵀ (48 KiB of f32 at most, in the GEMM's packing buffer): one
/// block covers most skinny products, so each output needs one horizontal sum.
const KB: usize = 1024;

/// Whether [`skinny`] applies.
pub fn applies<E: GemmElem>(isa: Isa, n: usize, a: &Mat<'_, E>) -> bool {
    isa == Isa::Avx512 && n <= MAX_N && n > 0 && a.cs == 1 && cfg!(target_arch = "x86_64")
}

/// `c = a · b` for the shapes [`applies`] accepts. `buf` holds at least `MAX_N * KB` values
/// (packed Bᵀ when B's columns are not contiguous along k).
pub fn skinny<E: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    c: MatMut<'_, E>,
    buf: &mut [E],
) {
    for i in 0..m {
        for j in 0..n {
            c.data[c.off + i * c.rs + j * c.cs] = E::ZERO;
        }
    }
    let mut p0 = 0;
    while p0 < k {
        let kb = KB.min(k - p0);
        // Columns of B as k-contiguous streams: in place when B is (a transposed weight, as
        // in `x @ w.t()`), else packed.
        let in_place = b.rs == 1;
        if !in_place {
            E::pack_bt(&b, p0, kb, n, &mut buf[..n * kb]);
        }
        let col = |j: usize| -> &[E] {
            if in_place {
                &b.data[b.off + j * b.cs + p0..][..kb]
            } else {
                &buf[j * kb..][..kb]
            }
        };
        let mut i = 0;
        while i < m {
            // A short last block repeats its last row; the repeats are not stored.
            let rows: [&[E]; R] =
                core::array::from_fn(|r| &a.data[a.off + (i + r).min(m - 1) * a.rs + p0..][..kb]);
            let mut j = 0;
            while j < n {
                // Blocks of 4 columns, then one of 1 to 3 (more accumulators than 16 made
                // LLVM spill them).
                let q = R.min(n - j);
                let mut sums = [[E::ZERO; R]; R];
                match q {
                    4 => sums = E::dot_block::<4>(kb, rows, core::array::from_fn(|x| col(j + x))),
                    3 => {
                        let s = E::dot_block::<3>(kb, rows, core::array::from_fn(|x| col(j + x)));
                        for (d, s) in sums.iter_mut().zip(s) {
                            d[..3].copy_from_slice(&s);
                        }
                    }
                    2 => {
                        let s = E::dot_block::<2>(kb, rows, core::array::from_fn(|x| col(j + x)));
                        for (d, s) in sums.iter_mut().zip(s) {
                            d[..2].copy_from_slice(&s);
                        }
                    }
                    _ => {
                        let s = E::dot_block::<1>(kb, rows, [col(j)]);
                        for (d, s) in sums.iter_mut().zip(s) {
                            d[0] = s[0];
                        }
                    }
                }
                for (r, row) in sums.iter().enumerate().take(R.min(m - i)) {
                    for (x, &v) in row.iter().enumerate().take(q) {
                        let d = &mut c.data[c.off + (i + r) * c.rs + (j + x) * c.cs];
                        *d = d.add(v);
                    }
                }
                j += q;
            }
            i += R;
        }
        p0 += kb;
    }
}

/// Per-dtype skinny kernels.
pub trait SkinnyElem: Sized {
    /// `out[r][q] = Σ_p rows[r][p] · cols[q][p]` over `p < k`, for a 4 × Q block (Q ≤ 4).
    fn dot_block<const Q: usize>(
        k: usize,
        rows: [&[Self]; R],
        cols: [&[Self]; Q],
    ) -> [[Self; Q]; R];
    /// Packs columns `0..n`, depth `p0..p0 + kb` of `b` as `n` k-contiguous rows of `out`.
    fn pack_bt(b: &Mat<'_, Self>, p0: usize, kb: usize, n: usize, out: &mut [Self]);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::R;

    macro_rules! dot_kernel {
        ($name:ident, $t:ty, $lanes:expr, $zero:ident, $loadu:ident, $load:ident, $fma:ident, $reduce:ident, $mask:ty) => {
            /// # Safety
            /// AVX-512F available; every slice holds at least `k` values.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn $name<const Q: usize>(
                k: usize,
                rows: [&[$t]; R],
                cols: [&[$t]; Q],
            ) -> [[$t; Q]; R] {
                let mut a = [core::ptr::null::<$t>(); R];
                let mut b = [core::ptr::null::<$t>(); Q];
                for r in 0..R {
                    a[r] = rows[r].as_ptr();
                }
                for q in 0..Q {
                    b[q] = cols[q].as_ptr();
                }
                let mut acc = [[$zero(); Q]; R];
                // Whole vectors with plain loads, then one masked step for the tail: a mask
                // computed in the loop made LLVM spill the accumulators.
                let full = k - k % $lanes;
                for blk in 0..full / $lanes {
                    let p = blk * $lanes;
                    // SAFETY: p + lanes <= k.
                    unsafe {
                        let mut x = [$zero(); R];
                        for r in 0..R {
                            x[r] = $loadu(a[r].add(p));
                        }
                        // One column at a time: 20 accumulators, 4 rows and 1 column live.
                        for q in 0..Q {
                            let y = $loadu(b[q].add(p));
                            for r in 0..R {
                                acc[r][q] = $fma(x[r], y, acc[r][q]);
                            }
                        }
                    }
                }
                let p = full;
                if p < k {
                    let mask = ((1u32 << (k - p)) - 1) as $mask;
                    // SAFETY: masked loads touch only the k - p in-bounds lanes.
                    unsafe {
                        let mut x = [$zero(); R];
                        let mut y = [$zero(); Q];
                        for r in 0..R {
                            x[r] = $load(mask, a[r].add(p));
                        }
                        for q in 0..Q {
                            y[q] = $load(mask, b[q].add(p));
                        }
                        for r in 0..R {
                            for q in 0..Q {
                                acc[r][q] = $fma(x[r], y[q], acc[r][q]);
                            }
                        }
                    }
                }
                // Loops, not closures: a closure is not compiled with AVX-512 enabled, so the
                // reductions in it became calls.
                let mut out = [[0 as $t; Q]; R];
                for r in 0..R {
                    for q in 0..Q {
                        out[r][q] = $reduce(acc[r][q]);
                    }
                }
                out
            }
        };
    }
    dot_kernel!(
        f32_block,
        f32,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_maskz_loadu_ps,
        _mm512_fmadd_ps,
        _mm512_reduce_add_ps,
        u16
    );
    dot_kernel!(
        f64_block,
        f64,
        8,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_maskz_loadu_pd,
        _mm512_fmadd_pd,
        _mm512_reduce_add_pd,
        u8
    );

    /// `out[j * kb + p] = src[p * rs + j * cs]` for `j < n`, `p < kb`, 16 k values per gather.
    ///
    /// # Safety
    /// AVX-512F available; every such `src` index is in bounds and `out` holds `n * kb`;
    /// `15 * rs` fits an `i32`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn pack_f32(
        src: *const f32,
        rs: usize,
        cs: usize,
        kb: usize,
        n: usize,
        out: *mut f32,
    ) {
        let idx = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(rs as i32),
        );
        for j in 0..n {
            let mut p = 0;
            while p < kb {
                let left = kb - p;
                let mask = if left >= 16 {
                    !0u16
                } else {
                    ((1u32 << left) - 1) as u16
                };
                // SAFETY: masked lanes read only in-bounds elements (the caller's promise).
                unsafe {
                    let base = src.add(p * rs + j * cs) as *const u8;
                    let v =
                        _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, idx, base as _);
                    _mm512_mask_storeu_ps(out.add(j * kb + p), mask, v);
                }
                p += 16;
            }
        }
    }

    /// As [`pack_f32`], 8 k values per gather.
    ///
    /// # Safety
    /// As [`pack_f32`] (`7 * rs` fits an `i32`).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn pack_f64(
        src: *const f64,
        rs: usize,
        cs: usize,
        kb: usize,
        n: usize,
        out: *mut f64,
    ) {
        let idx = _mm256_mullo_epi32(
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            _mm256_set1_epi32(rs as i32),
        );
        for j in 0..n {
            let mut p = 0;
            while p < kb {
                let left = kb - p;
                let mask = if left >= 8 {
                    !0u8
                } else {
                    ((1u32 << left) - 1) as u8
                };
                // SAFETY: as in `pack_f32`.
                unsafe {
                    let base = src.add(p * rs + j * cs) as *const u8;
                    let v =
                        _mm512_mask_i32gather_pd::<8>(_mm512_setzero_pd(), mask, idx, base as _);
                    _mm512_mask_storeu_pd(out.add(j * kb + p), mask, v);
                }
                p += 8;
            }
        }
    }
}

macro_rules! skinny_impl {
    ($t:ty, $f:ident, $pack:ident) => {
        impl SkinnyElem for $t {
            fn dot_block<const Q: usize>(
                k: usize,
                rows: [&[$t]; R],
                cols: [&[$t]; Q],
            ) -> [[$t; Q]; R] {
                #[cfg(target_arch = "x86_64")]
                {
                    // ok: `skinny` slices exactly these lengths; the assert guards the unsafe call.
                    assert!(rows.iter().chain(&cols).all(|s| s.len() >= k));
                    // SAFETY: `applies` admitted this call only with AVX-512F detected; the
                    // lengths were checked just above.
                    unsafe { x86::$f::<Q>(k, rows, cols) }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    core::array::from_fn(|r| {
                        core::array::from_fn(|q| (0..k).map(|p| rows[r][p] * cols[q][p]).sum())
                    })
                }
            }

            fn pack_bt(b: &Mat<'_, $t>, p0: usize, kb: usize, n: usize, out: &mut [$t]) {
                #[cfg(target_arch = "x86_64")]
                {
                    let last = b.off + (p0 + kb - 1) * b.rs + (n - 1) * b.cs;
                    // ok: `skinny` passes in-bounds blocks; the assert guards the gathers.
                    assert!(kb > 0 && n > 0 && last < b.data.len() && out.len() >= n * kb);
                    if b.rs <= (i32::MAX / 16) as usize {
                        // SAFETY: AVX-512F was detected (`applies`); every gathered index is at
                        // most `last`, checked above; `out` holds n * kb.
                        unsafe {
                            x86::$pack(
                                b.data.as_ptr().add(b.off + p0 * b.rs),
                                b.rs,
                                b.cs,
                                kb,
                                n,
                                out.as_mut_ptr(),
                            )
                        };
                        return;
                    }
                }
                // Column by column: sequential writes; the strided reads stay in L1 for the
                // short rows skinny products have.
                for (j, dst) in out.chunks_exact_mut(kb).take(n).enumerate() {
                    let src = &b.data[b.off + j * b.cs + p0 * b.rs..];
                    for (p, d) in dst.iter_mut().enumerate() {
                        *d = src[p * b.rs];
                    }
                }
            }
        }
    };
}
skinny_impl!(f32, f32_block, pack_f32);
skinny_impl!(f64, f64_block, pack_f64);
