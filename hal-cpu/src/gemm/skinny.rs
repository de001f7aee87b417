//! Skinny products (`n ≤ 12` columns, rows of A contiguous): dot products along k. Two rows
//! of A at a time meet all `n` columns of B (packed transposed, per k block) with `2n`
//! accumulators in registers; masked loads take the k tail; horizontal sums finish. This is
//! the shape of a small classifier's forward pass (64×784 @ 784×10), where a tile kernel
//! would waste most of its columns.

use super::{GemmElem, Isa, Mat, MatMut};

/// Widest n handled (2n accumulators + 3 work registers fit in 32 zmm).
pub const MAX_N: usize = 12;
/// k values per block of packed Bᵀ (48 KiB of f32 on the stack at most): one block covers
/// most skinny products, so each output needs one horizontal sum.
const KB: usize = 1024;

/// Whether [`skinny`] applies.
pub fn applies<E: GemmElem>(isa: Isa, n: usize, a: &Mat<'_, E>) -> bool {
    isa == Isa::Avx512 && n <= MAX_N && n > 0 && a.cs == 1 && cfg!(target_arch = "x86_64")
}

/// `c = a · b` for the shapes [`applies`] accepts.
pub fn skinny<E: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    c: MatMut<'_, E>,
) {
    let mut bt = [E::ZERO; MAX_N * KB];
    let mut sums = [[E::ZERO; MAX_N]; 2];
    for i in 0..m {
        for j in 0..n {
            c.data[c.off + i * c.rs + j * c.cs] = E::ZERO;
        }
    }
    let mut p0 = 0;
    while p0 < k {
        let kb = KB.min(k - p0);
        // Read B row by row (contiguous when its columns are), scatter into n streams.
        for p in 0..kb {
            let row = b.off + (p0 + p) * b.rs;
            for j in 0..n {
                bt[j * kb + p] = b.data[row + j * b.cs];
            }
        }
        let mut i = 0;
        while i < m {
            let i1 = if i + 1 < m { i + 1 } else { i };
            let r0 = &a.data[a.off + i * a.rs + p0..][..kb];
            let r1 = &a.data[a.off + i1 * a.rs + p0..][..kb];
            E::skinny_rows(n, kb, r0, r1, &bt[..n * kb], &mut sums);
            for (di, row) in sums.iter().enumerate().take(if i1 > i { 2 } else { 1 }) {
                for (j, &v) in row.iter().enumerate().take(n) {
                    let d = &mut c.data[c.off + (i + di) * c.rs + j * c.cs];
                    *d = d.add(v);
                }
            }
            i += 2;
        }
        p0 += kb;
    }
}

/// Per-dtype skinny kernels.
pub trait SkinnyElem: Sized {
    /// `out[r][j] = Σ_p row_r[p] · bt[j * k + p]` for `r` in 0..2, `j` in 0..n.
    fn skinny_rows(
        n: usize,
        k: usize,
        r0: &[Self],
        r1: &[Self],
        bt: &[Self],
        out: &mut [[Self; MAX_N]; 2],
    );
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::MAX_N;

    macro_rules! skinny_kernel {
        ($name:ident, $t:ty, $lanes:expr, $zero:ident, $load:ident, $fma:ident, $reduce:ident, $mask:ty) => {
            /// # Safety
            /// AVX-512F available; `r0`, `r1` hold `k` values, `bt` holds `N * k`.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn $name<const N: usize>(
                k: usize,
                r0: &[$t],
                r1: &[$t],
                bt: &[$t],
                out: &mut [[$t; MAX_N]; 2],
            ) {
                let mut a0 = [$zero(); N];
                let mut a1 = [$zero(); N];
                let mut p = 0;
                while p < k {
                    let left = k - p;
                    let mask: $mask = if left >= $lanes {
                        !0
                    } else {
                        ((1u32 << left) - 1) as $mask
                    };
                    // SAFETY: masked loads touch only the `left` in-bounds lanes.
                    unsafe {
                        let x0 = $load(mask, r0.as_ptr().add(p));
                        let x1 = $load(mask, r1.as_ptr().add(p));
                        for j in 0..N {
                            let bj = $load(mask, bt.as_ptr().add(j * k + p));
                            a0[j] = $fma(x0, bj, a0[j]);
                            a1[j] = $fma(x1, bj, a1[j]);
                        }
                    }
                    p += $lanes;
                }
                for j in 0..N {
                    out[0][j] = $reduce(a0[j]);
                    out[1][j] = $reduce(a1[j]);
                }
            }
        };
    }
    skinny_kernel!(
        f32_rows,
        f32,
        16,
        _mm512_setzero_ps,
        _mm512_maskz_loadu_ps,
        _mm512_fmadd_ps,
        _mm512_reduce_add_ps,
        u16
    );
    skinny_kernel!(
        f64_rows,
        f64,
        8,
        _mm512_setzero_pd,
        _mm512_maskz_loadu_pd,
        _mm512_fmadd_pd,
        _mm512_reduce_add_pd,
        u8
    );
}

#[cfg(target_arch = "x86_64")]
macro_rules! dispatch_n {
    ($m:ident :: $f:ident, $n:expr, $($args:expr),*) => {
        match $n {
            1 => $m::$f::<1>($($args),*), 2 => $m::$f::<2>($($args),*), 3 => $m::$f::<3>($($args),*),
            4 => $m::$f::<4>($($args),*), 5 => $m::$f::<5>($($args),*), 6 => $m::$f::<6>($($args),*),
            7 => $m::$f::<7>($($args),*), 8 => $m::$f::<8>($($args),*), 9 => $m::$f::<9>($($args),*),
            10 => $m::$f::<10>($($args),*), 11 => $m::$f::<11>($($args),*), _ => $m::$f::<12>($($args),*),
        }
    };
}

macro_rules! skinny_impl {
    ($t:ty, $f:ident) => {
        impl SkinnyElem for $t {
            fn skinny_rows(
                n: usize,
                k: usize,
                r0: &[$t],
                r1: &[$t],
                bt: &[$t],
                out: &mut [[$t; MAX_N]; 2],
            ) {
                #[cfg(target_arch = "x86_64")]
                {
                    // ok: `skinny` slices exactly these lengths; the assert guards the unsafe call.
                    assert!(r0.len() >= k && r1.len() >= k && bt.len() >= n * k && n <= MAX_N);
                    // SAFETY: `applies` admitted this call only with AVX-512F detected; the
                    // lengths were checked just above.
                    unsafe { dispatch_n!(x86::$f, n, k, r0, r1, bt, out) }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    for r in 0..2 {
                        let row = if r == 0 { r0 } else { r1 };
                        for j in 0..n {
                            out[r][j] = (0..k).map(|p| row[p] * bt[j * k + p]).sum();
                        }
                    }
                }
            }
        }
    };
}
skinny_impl!(f32, f32_rows);
skinny_impl!(f64, f64_rows);
