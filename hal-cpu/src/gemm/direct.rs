//! Products too small to pay for packing: at most one vector of columns (64×784 @ 784×10, a
//! small classifier's forward pass), or at most 12 rows (what a skinny product becomes once
//! transposed, and a column-major 64×784 @ 784×10 is one). B's rows and C's rows must be
//! contiguous; A may have any strides. Each element of A is broadcast straight from memory
//! into an FMA with a row of B loaded (masked at the edge) once per k for a whole block of rows,
//! so nothing is copied and no horizontal sums are needed.

use super::{GemmElem, Isa, Mat, MatMut};

/// Rows of C at most for the wide form (one 6 × 4-vector register tile per column block).
const WIDE_ROWS: usize = 12;

/// Per-dtype kernels.
pub trait DirectElem: Sized {
    /// Values per vector register of the widest ISA.
    const LANES: usize;
    /// `C[0..rows, 0..cols] = A[0..rows, 0..k] · B[0..k, 0..cols]`, with `cols` at most one
    /// vector (`wide = false`) or four (`wide = true`), `rows` at most 16 or 6.
    ///
    /// # Safety
    /// AVX-512F is available; every element named is in bounds of its pointer.
    #[allow(clippy::too_many_arguments)]
    unsafe fn block(
        wide: bool,
        rows: usize,
        cols: usize,
        k: usize,
        a: (*const Self, usize, usize),
        b: (*const Self, usize),
        c: (*mut Self, usize),
    );
}

/// Whether [`gemm`] applies: AVX-512, unit column strides for B and C, a shape it is for,
/// and every index in bounds (the core checks layouts first; this keeps the raw reads sound
/// on their own).
pub fn applies<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: &Mat<'_, E>,
    b: &Mat<'_, E>,
    c: &MatMut<'_, E>,
) -> bool {
    if !cfg!(target_arch = "x86_64") || isa != Isa::Avx512 || m == 0 || n == 0 || k == 0 {
        return false;
    }
    if b.cs != 1 || c.cs != 1 || (n > E::LANES && m > WIDE_ROWS) {
        return false;
    }
    // B is read once per block of rows, unpacked: it must stay in cache. Narrow products
    // re-read it for every 16 rows (L2); wide ones at most three times (L3). Beyond that the
    // packed GEMM, which reads B once, is faster (8x4096 @ 4096x4096: 24 against 50 GFLOP/s).
    let limit = if n > E::LANES { 8 << 20 } else { 512 << 10 };
    let b_bytes = k
        .checked_mul(n)
        .and_then(|x| x.checked_mul(core::mem::size_of::<E>()));
    if b_bytes.is_none_or(|x| x > limit) {
        return false;
    }
    let last = |off: usize, r: usize, rs: usize, cl: usize, cs: usize| {
        r.checked_mul(rs)
            .and_then(|x| cl.checked_mul(cs).and_then(|y| x.checked_add(y)))
            .and_then(|x| x.checked_add(off))
    };
    let fits = |l: Option<usize>, len: usize| l.is_some_and(|l| l < len);
    fits(last(a.off, m - 1, a.rs, k - 1, a.cs), a.data.len())
        && fits(last(b.off, k - 1, b.rs, n - 1, 1), b.data.len())
        && fits(last(c.off, m - 1, c.rs, n - 1, 1), c.data.len())
}

/// `c = a · b` for the shapes [`applies`] accepts.
pub fn gemm<E: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    c: MatMut<'_, E>,
) {
    let wide = n > E::LANES;
    let (width, tall) = if wide {
        (4 * E::LANES, 6)
    } else {
        (E::LANES, 16)
    };
    let mut j = 0;
    while j < n {
        let cols = width.min(n - j);
        let mut i = 0;
        while i < m {
            // Blocks of `tall` rows, then smaller powers of two.
            let left = m - i;
            let rows = if left >= tall {
                tall
            } else {
                1 << (usize::BITS - 1 - left.leading_zeros())
            };
            // SAFETY: `applies` checked AVX-512F and that every index of A (rows i.., all k),
            // B (all k, columns j..j + cols) and C (rows i.., columns j..j + cols) is in
            // bounds.
            unsafe {
                E::block(
                    wide,
                    rows,
                    cols,
                    k,
                    (a.data.as_ptr().add(a.off + i * a.rs), a.rs, a.cs),
                    (b.data.as_ptr().add(b.off + j), b.rs),
                    (c.data.as_mut_ptr().add(c.off + i * c.rs + j), c.rs),
                )
            };
            i += rows;
        }
        j += cols;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    macro_rules! direct_kernel {
        ($name:ident, $t:ty, $lanes:expr, $mask:ty, $zero:ident, $load:ident, $set1:ident, $fma:ident, $store:ident) => {
            /// `RB` rows by `V` vectors of columns (`cols` of them; the rest masked off).
            ///
            /// # Safety
            /// AVX-512F; as `DirectElem::block`.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn $name<const RB: usize, const V: usize>(
                cols: usize,
                k: usize,
                (a, ars, acs): (*const $t, usize, usize),
                (b, brs): (*const $t, usize),
                (c, crs): (*mut $t, usize),
            ) {
                let mut masks = [0 as $mask; V];
                for (v, m) in masks.iter_mut().enumerate() {
                    let left = cols.saturating_sub(v * $lanes).min($lanes);
                    *m = ((1u64 << left) - 1) as $mask;
                }
                let mut rows = [a; RB];
                for r in 0..RB {
                    // SAFETY: row r of A is in bounds (the caller's promise).
                    rows[r] = unsafe { a.add(r * ars) };
                }
                let mut acc = [[$zero(); V]; RB];
                let mut p = 0;
                if acs == 1 && V == 1 {
                    // Rows of A contiguous: four k steps per pass, so each row's address is
                    // formed once for four broadcasts (the 16 row pointers do not all fit in
                    // registers). Not for the wide tile, whose B rows would not fit.
                    while p + 4 <= k {
                        for u in 0..4 {
                            // SAFETY: as below.
                            unsafe {
                                let bp = b.add((p + u) * brs);
                                let mut bv = [$zero(); V];
                                for v in 0..V {
                                    bv[v] = $load(masks[v], bp.add(v * $lanes));
                                }
                                for r in 0..RB {
                                    let x = $set1(*rows[r].add(p + u));
                                    for v in 0..V {
                                        acc[r][v] = $fma(x, bv[v], acc[r][v]);
                                    }
                                }
                            }
                        }
                        p += 4;
                    }
                }
                while p < k {
                    // SAFETY: masked loads read only columns < cols of row p; A[r, p] is in
                    // bounds for r < RB.
                    unsafe {
                        let bp = b.add(p * brs);
                        let mut bv = [$zero(); V];
                        for v in 0..V {
                            bv[v] = $load(masks[v], bp.add(v * $lanes));
                        }
                        for r in 0..RB {
                            let x = $set1(*rows[r].add(p * acs));
                            for v in 0..V {
                                acc[r][v] = $fma(x, bv[v], acc[r][v]);
                            }
                        }
                    }
                    p += 1;
                }
                for r in 0..RB {
                    for v in 0..V {
                        // SAFETY: masked stores write only columns < cols of row r.
                        unsafe { $store(c.add(r * crs + v * $lanes), masks[v], acc[r][v]) };
                    }
                }
            }
        };
    }
    direct_kernel!(
        f32_block,
        f32,
        16,
        u16,
        _mm512_setzero_ps,
        _mm512_maskz_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_mask_storeu_ps
    );
    direct_kernel!(
        f64_block,
        f64,
        8,
        u8,
        _mm512_setzero_pd,
        _mm512_maskz_loadu_pd,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        _mm512_mask_storeu_pd
    );
}

macro_rules! direct_impl {
    ($t:ty, $lanes:expr, $f:ident) => {
        impl DirectElem for $t {
            const LANES: usize = $lanes;
            unsafe fn block(
                wide: bool,
                rows: usize,
                cols: usize,
                k: usize,
                a: (*const $t, usize, usize),
                b: (*const $t, usize),
                c: (*mut $t, usize),
            ) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the caller's promise, passed on.
                unsafe {
                    use x86::$f;
                    match (wide, rows) {
                        (false, 16) => $f::<16, 1>(cols, k, a, b, c),
                        (false, 8) => $f::<8, 1>(cols, k, a, b, c),
                        (false, 4) => $f::<4, 1>(cols, k, a, b, c),
                        (false, 2) => $f::<2, 1>(cols, k, a, b, c),
                        (false, _) => $f::<1, 1>(cols, k, a, b, c),
                        (true, 6) => $f::<6, 4>(cols, k, a, b, c),
                        (true, 4) => $f::<4, 4>(cols, k, a, b, c),
                        (true, 2) => $f::<2, 4>(cols, k, a, b, c),
                        (true, _) => $f::<1, 4>(cols, k, a, b, c),
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    // `applies` is false off x86_64; a plain loop keeps this total anyway.
                    let _ = wide;
                    for r in 0..rows {
                        for j in 0..cols {
                            let mut s = 0 as $t;
                            for p in 0..k {
                                // SAFETY: the caller's promise.
                                s += unsafe { *a.0.add(r * a.1 + p * a.2) * *b.0.add(p * b.1 + j) };
                            }
                            // SAFETY: the caller's promise.
                            unsafe { *c.0.add(r * c.1 + j) = s };
                        }
                    }
                }
            }
        }
    };
}
direct_impl!(f32, 16, f32_block);
direct_impl!(f64, 8, f64_block);
