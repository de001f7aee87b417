//! Elementwise kernels over inner runs, compiled per ISA (see `simd`). Contiguous runs are
//! plain slice loops, a stride-0 operand is hoisted to a scalar, and a broadcast operand with
//! a short period (a last dim of 3) is expanded once into a repeating pattern so the whole
//! output streams through one long vectorised loop.

use tensile_core::ops::{BinaryFn, UnaryFn};
use tensile_core::{Elem, Layout, Map, NdIter, Result};

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::simd::multiversion;
use crate::Cpu;

impl Map for Cpu {
    fn unary<A: Elem, B: Elem, O: UnaryFn<A, B>>(
        &self,
        op: O,
        x: &[A],
        xl: &Layout,
        y: &mut [B],
        yl: &Layout,
    ) -> Result<()> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        unary_isa(move |v| op.apply(v), x, xl, y, yl);
        // Small targets: one loop for every op, to keep firmware code small.
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let f: &dyn Fn(A) -> B = &|v| op.apply(v);
            unary_shared(f, x, xl, y, yl);
        }
        Ok(())
    }

    fn binary<E: Elem, O: BinaryFn<E>>(
        &self,
        op: O,
        a: &[E],
        al: &Layout,
        b: &[E],
        bl: &Layout,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if yl.numel() * core::mem::size_of::<E>() >= STREAM_BYTES
            && crate::gemm::Isa::best() == crate::gemm::Isa::Avx512
        {
            // SAFETY: AVX-512F was detected on this machine.
            unsafe { stream::binary_streaming(op, a, al, b, bl, y, yl) };
            return Ok(());
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        binary_isa(move |u, v| op.apply(u, v), a, al, b, bl, y, yl);
        // Small targets: one loop for every op, to keep firmware code small.
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let f: &dyn Fn(E, E) -> E = &|u, v| op.apply(u, v);
            binary_shared(f, a, al, b, bl, y, yl);
        }
        Ok(())
    }
}

/// The run loops once per dtype for all ops (small targets: code size over speed).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(never)]
fn unary_shared<A: Elem, B: Elem>(
    f: &dyn Fn(A) -> B,
    x: &[A],
    xl: &Layout,
    y: &mut [B],
    yl: &Layout,
) {
    unary_runs(f, x, xl, y, yl)
}

/// The run loops once per dtype for all ops (small targets: code size over speed).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(never)]
fn binary_shared<E: Elem>(
    f: &dyn Fn(E, E) -> E,
    a: &[E],
    al: &Layout,
    b: &[E],
    bl: &Layout,
    y: &mut [E],
    yl: &Layout,
) {
    binary_runs(f, a, al, b, bl, y, yl)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
multiversion!(fn unary_isa<A: Elem, B: Elem, O: Fn1<A, B>>(op: O, x: &[A], xl: &Layout, y: &mut [B], yl: &Layout) => unary_runs);
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
multiversion!(fn binary_isa<E: Elem, O: Fn2<E>>(op: O, a: &[E], al: &Layout, b: &[E], bl: &Layout, y: &mut [E], yl: &Layout) => binary_runs);

/// A scalar function the run loops are generic over: the op tag's `apply` as a closure on big
/// targets (one vectorised loop per op), a `&dyn Fn` on small ones (one loop for all ops).
pub(crate) trait Fn1<A, B>: Fn(A) -> B + Copy {}
impl<A, B, F: Fn(A) -> B + Copy> Fn1<A, B> for F {}

/// The two-operand [`Fn1`].
pub(crate) trait Fn2<E>: Fn(E, E) -> E + Copy {}
impl<E, F: Fn(E, E) -> E + Copy> Fn2<E> for F {}

#[inline(always)]
fn unary_runs<A: Elem, B: Elem, O: Fn1<A, B>>(
    op: O,
    x: &[A],
    xl: &Layout,
    y: &mut [B],
    yl: &Layout,
) {
    let it = NdIter::new([xl, yl]);
    let (n, [sx, sy]) = (it.inner_len(), it.inner_strides());
    for [xo, yo] in it {
        match (sx, sy) {
            (1, 1) => {
                for (o, &v) in y[yo..yo + n].iter_mut().zip(&x[xo..xo + n]) {
                    *o = op(v);
                }
            }
            (0, 1) => y[yo..yo + n].fill(op(x[xo])),
            _ => {
                for i in 0..n {
                    y[yo + i * sy] = op(x[xo + i * sx]);
                }
            }
        }
    }
}

/// Outputs at least this large bypass the cache with non-temporal stores (they would evict
/// everything anyway, and streaming saves the read-for-ownership of every line).
#[cfg(target_arch = "x86_64")]
const STREAM_BYTES: usize = 32 << 20;

#[cfg(target_arch = "x86_64")]
mod stream {
    use core::arch::x86_64::*;

    use tensile_core::ops::BinaryFn;
    use tensile_core::{Elem, Layout, NdIter};

    /// One contiguous run: a scalar head up to a 64-byte boundary, `L`-element (64-byte) chunks
    /// computed in registers and streamed, a scalar tail. `b` is one value if `bcast`.
    ///
    /// # Safety
    /// AVX-512F is available; `L * size_of::<E>() == 64`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
    unsafe fn stream_run<E: Elem, O: BinaryFn<E>, const L: usize>(
        op: O,
        a: &[E],
        b: &[E],
        bcast: bool,
        out: &mut [E],
    ) {
        let n = out.len();
        let head = out.as_ptr().align_offset(64).min(n);
        let bv = b[0];
        let at = |i: usize| if bcast { bv } else { b[i] };
        for i in 0..head {
            out[i] = op.apply(a[i], at(i));
        }
        let chunks = (n - head) / L;
        let body = head..head + chunks * L;
        let outp = out.as_mut_ptr();
        let mut t = [E::ZERO; L];
        let store = |c: usize, t: &[E; L]| {
            // SAFETY: chunk c of the body is in bounds and 64-byte aligned (it starts at
            // head + c * L, and L elements are 64 bytes); the stream writes exactly those bytes.
            unsafe {
                let v = _mm512_loadu_si512(t.as_ptr() as *const __m512i);
                _mm512_stream_si512(outp.add(head + c * L) as *mut __m512i, v);
            }
        };
        if bcast {
            for (c, ac) in a[body.clone()].chunks_exact(L).enumerate() {
                for (t, &x) in t.iter_mut().zip(ac) {
                    *t = op.apply(x, bv);
                }
                store(c, &t);
            }
        } else {
            for (c, (ac, bc)) in a[body.clone()]
                .chunks_exact(L)
                .zip(b[body].chunks_exact(L))
                .enumerate()
            {
                for ((t, &x), &z) in t.iter_mut().zip(ac).zip(bc) {
                    *t = op.apply(x, z);
                }
                store(c, &t);
            }
        }
        for i in head + chunks * L..n {
            out[i] = op.apply(a[i], at(i));
        }
    }

    /// Contiguous output runs written 64 bytes at a time with non-temporal stores; other run
    /// shapes take the ordinary loop.
    ///
    /// # Safety
    /// AVX-512F is available.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
    pub unsafe fn binary_streaming<E: Elem, O: BinaryFn<E>>(
        op: O,
        a: &[E],
        al: &Layout,
        b: &[E],
        bl: &Layout,
        y: &mut [E],
        yl: &Layout,
    ) {
        let it = NdIter::new([al, bl, yl]);
        let (n, [sa, sb, sy]) = (it.inner_len(), it.inner_strides());
        let lanes = 64 / core::mem::size_of::<E>();
        for [ao, bo, yo] in it {
            if sy != 1 || !(sa == 1 && (sb == 1 || sb == 0)) || n < 4 * lanes {
                for i in 0..n {
                    y[yo + i * sy] = op.apply(a[ao + i * sa], b[bo + i * sb]);
                }
                continue;
            }
            let out = &mut y[yo..yo + n];
            let asl = &a[ao..ao + n];
            let bsl = if sb == 1 {
                &b[bo..bo + n]
            } else {
                &b[bo..bo + 1]
            };
            // SAFETY: AVX-512F is available (this function's contract).
            unsafe {
                match core::mem::size_of::<E>() {
                    4 => stream_run::<E, O, 16>(op, asl, bsl, sb == 0, out),
                    8 => stream_run::<E, O, 8>(op, asl, bsl, sb == 0, out),
                    _ => {
                        for (i, o) in out.iter_mut().enumerate() {
                            *o = op.apply(asl[i], bsl[if sb == 0 { 0 } else { i }]);
                        }
                    }
                }
            }
        }
        // Make the streamed lines visible before anyone reads them.
        _mm_sfence();
    }
}

/// Longest repeating pattern kept on the stack for a periodic broadcast (smaller on
/// microcontroller stacks).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const PATTERN: usize = 192;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const PATTERN: usize = 48;

#[inline(always)]
fn binary_runs<E: Elem, O: Fn2<E>>(
    op: O,
    a: &[E],
    al: &Layout,
    b: &[E],
    bl: &Layout,
    y: &mut [E],
    yl: &Layout,
) {
    let it = NdIter::new([al, bl, yl]);
    let (n, [sa, sb, sy]) = (it.inner_len(), it.inner_strides());
    if n < 64 && periodic(&it, op, a, b, y) {
        return;
    }
    for [ao, bo, yo] in it {
        let out = &mut y[yo..];
        match (sa, sb, sy) {
            (1, 1, 1) => {
                let (a, b) = (&a[ao..ao + n], &b[bo..bo + n]);
                for ((o, &u), &v) in out[..n].iter_mut().zip(a).zip(b) {
                    *o = op(u, v);
                }
            }
            (1, 0, 1) => {
                let v = b[bo];
                for (o, &u) in out[..n].iter_mut().zip(&a[ao..ao + n]) {
                    *o = op(u, v);
                }
            }
            (0, 1, 1) => {
                let u = a[ao];
                for (o, &v) in out[..n].iter_mut().zip(&b[bo..bo + n]) {
                    *o = op(u, v);
                }
            }
            _ => {
                for i in 0..n {
                    out[i * sy] = op(a[ao + i * sa], b[bo + i * sb]);
                }
            }
        }
    }
}

/// Handles `y = op(a, b)` where `a` and `y` are contiguous across the last outer dim and `b`
/// repeats a short contiguous inner run there (or the mirror case). Returns false if the
/// layouts do not have that shape.
#[inline(always)]
fn periodic<E: Elem, O: Fn2<E>>(it: &NdIter<3>, op: O, a: &[E], b: &[E], y: &mut [E]) -> bool {
    let (n, [sa, sb, sy]) = (it.inner_len(), it.inner_strides());
    let dims = it.outer_dims();
    let Some(d) = dims.len().checked_sub(1) else {
        return false;
    };
    let (oa, ob, oy) = (
        it.outer_strides(0)[d],
        it.outer_strides(1)[d],
        it.outer_strides(2)[d],
    );
    // Which operand repeats: the one with stride 0 over the last outer dim.
    let a_repeats = match (sa, sb, sy, oa, ob, oy) {
        (1, 1, 1, x, 0, z) if x == n && z == n => false,
        (1, 1, 1, 0, x, z) if x == n && z == n => true,
        _ => return false,
    };
    let block = dims[d] * n;
    // A pattern of whole periods, as long as fits (and no longer than one block).
    let reps = (PATTERN / n).clamp(1, dims[d]);
    let plen = reps * n;
    if plen > PATTERN {
        return false;
    }
    // Blocks: one per index of the remaining outer dims.
    let first = it.first_offsets();
    let rest = &dims[..d];
    let rest_count: usize = rest.iter().product();
    let mut pat = [E::ZERO; PATTERN];
    let strides = [
        it.outer_strides(0),
        it.outer_strides(1),
        it.outer_strides(2),
    ];
    for blk in 0..rest_count {
        // Offsets of this block: decompose blk over the remaining outer dims.
        let mut rem = blk;
        let mut offs = first;
        for k in (0..d).rev() {
            let i = rem % rest[k];
            rem /= rest[k];
            for (o, s) in offs.iter_mut().zip(&strides) {
                *o += i * s[k];
            }
        }
        let [ao, bo, yo] = offs;
        let (src, rep) = if a_repeats {
            (&b[bo..bo + block], &a[ao..ao + n])
        } else {
            (&a[ao..ao + block], &b[bo..bo + n])
        };
        for c in pat[..plen].chunks_exact_mut(n) {
            c.copy_from_slice(rep);
        }
        let out = &mut y[yo..yo + block];
        let mut oc = out.chunks_exact_mut(plen);
        let mut sc = src.chunks_exact(plen);
        for (o, s) in (&mut oc).zip(&mut sc) {
            for ((o, &x), &p) in o.iter_mut().zip(s).zip(&pat[..plen]) {
                *o = if a_repeats { op(p, x) } else { op(x, p) };
            }
        }
        for ((o, &x), &p) in oc
            .into_remainder()
            .iter_mut()
            .zip(sc.remainder())
            .zip(&pat[..plen])
        {
            *o = if a_repeats { op(p, x) } else { op(x, p) };
        }
    }
    true
}
