//! Matmul on the CPU: batches through the strided iterator, each a packed GEMM (f32, f64) with
//! the best micro-kernel here. Under `std`, large products are split by rows of C across
//! threads (never for small ones, where spawning costs more than it saves).

use tensile_core::{for_each_offset, Axes, DType, Float, Layout, MatMul, Result};

use crate::gemm::{gemm, GemmElem, Isa, Mat, MatMut};
use crate::Cpu;

/// Multiply-adds below which one thread does the whole product.
#[cfg(feature = "std")]
const PARALLEL_MACS: usize = 1 << 23;

impl MatMul for Cpu {
    fn matmul<E: Float>(
        &self,
        a: &[E],
        al: &Layout,
        b: &[E],
        bl: &Layout,
        y: &mut [E],
        yl: &Layout,
    ) -> Result<()> {
        // Float is f32 or f64 here: dispatch to the typed GEMM through a same-size Pod cast.
        match E::DTYPE {
            DType::F32 => batched::<f32>(
                bytemuck::cast_slice(a),
                al,
                bytemuck::cast_slice(b),
                bl,
                bytemuck::cast_slice_mut(y),
                yl,
            ),
            DType::F64 => batched::<f64>(
                bytemuck::cast_slice(a),
                al,
                bytemuck::cast_slice(b),
                bl,
                bytemuck::cast_slice_mut(y),
                yl,
            ),
            _ => tensile_core::Reference.matmul(a, al, b, bl, y, yl),
        }
    }
}

/// Whether the packed GEMM is used: it needs about 0.4 MiB of stack (or a heap buffer under
/// `std`), which microcontroller targets do not have; they keep the plain loop.
const PACKED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

#[inline(never)]
fn batched<E: GemmElem>(
    a: &[E],
    al: &Layout,
    b: &[E],
    bl: &Layout,
    y: &mut [E],
    yl: &Layout,
) -> Result<()> {
    let r = yl.rank();
    let (m, n) = (yl.dims()[r - 2], yl.dims()[r - 1]);
    let k = al.dims()[r - 1];
    if m == 0 || n == 0 || yl.numel() == 0 {
        return Ok(()); // nothing to write; empty dims have meaningless strides
    }
    let (ast, bst, yst) = (al.strides(), bl.strides(), yl.strides());
    let mats = Axes::default().with(r - 2).with(r - 1);
    let batch = |l: &Layout| l.remove_axes(mats);
    let isa = Isa::best();
    for_each_offset([&batch(al), &batch(bl), &batch(yl)], |[ao, bo, yo]| {
        let am = Mat {
            data: a,
            off: ao,
            rs: ast[r - 2],
            cs: ast[r - 1],
        };
        let bm = Mat {
            data: b,
            off: bo,
            rs: bst[r - 2],
            cs: bst[r - 1],
        };
        let ym = MatMut {
            data: &mut *y,
            off: yo,
            rs: yst[r - 2],
            cs: yst[r - 1],
        };
        if PACKED {
            product(isa, m, n, k, am, bm, ym);
        } else if am.cs == 1 && bm.cs == 1 && ym.cs == 1 && k > 0 {
            blocked4(m, n, k, am, bm, ym);
        } else {
            plain(m, n, k, am, bm, ym);
        }
    });
    Ok(())
}

fn product<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    y: MatMut<'_, E>,
) {
    #[cfg(feature = "std")]
    {
        let big = m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MACS;
        if big && y.cs == 1 && y.rs >= n && m >= 2 {
            let threads = crate::num_threads().min(m);
            if threads > 1 {
                split_rows(isa, threads, m, n, k, a, b, &mut y.data[y.off..], y.rs);
                return;
            }
        }
    }
    gemm(isa, m, n, k, a, b, y);
}

/// Splits C's rows into `parts` shares run by rayon's pool. `rayon::join` keeps its jobs on
/// the stack and its worker threads persist (with their packing buffers), so a parallel GEMM
/// allocates nothing after the pool's first use.
#[cfg(feature = "std")]
#[allow(clippy::too_many_arguments)]
fn split_rows<E: GemmElem>(
    isa: Isa,
    parts: usize,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    y: &mut [E],
    rsc: usize,
) {
    if parts <= 1 || m < 2 {
        let ym = MatMut {
            data: y,
            off: 0,
            rs: rsc,
            cs: 1,
        };
        gemm(isa, m, n, k, a, b, ym);
        return;
    }
    let left = parts / 2;
    let m1 = (m * left / parts).max(1);
    let (top, bottom) = y.split_at_mut(m1 * rsc);
    let a2 = Mat {
        off: a.off + m1 * a.rs,
        ..a
    };
    rayon::join(
        || split_rows(isa, left, m1, n, k, a, b, top, rsc),
        || split_rows(isa, parts - left, m - m1, n, k, a2, b, bottom, rsc),
    );
}

/// The small-target kernel for unit column strides: 4 × 4 tiles of C in 16 accumulators (the
/// Cortex-M4F has 32 single-precision registers), so each step along k loads 4 values of A and
/// 4 of B for 16 multiply-adds. Edges fall back to [`plain`].
fn blocked4<E: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    mut y: MatMut<'_, E>,
) {
    let (m4, n4) = (m / 4 * 4, n / 4 * 4);
    if m4 > 0 && n4 > 0 {
        match E::DTYPE {
            DType::F32 => tiles4_f32(
                m4,
                n4,
                k,
                cast(a),
                cast(b),
                bytemuck::cast_slice_mut(&mut *y.data),
                y.off,
                y.rs,
            ),
            _ => tiles4_f64(
                m4,
                n4,
                k,
                cast(a),
                cast(b),
                bytemuck::cast_slice_mut(&mut *y.data),
                y.off,
                y.rs,
            ),
        }
    }
    // Edges: the last n % 4 columns of the blocked rows, then the last m % 4 rows.
    if n4 < n {
        let bm = Mat {
            off: b.off + n4 * b.cs,
            ..b
        };
        plain(m4, n - n4, k, a, bm, y.at(0, n4));
    }
    if m4 < m {
        let am = Mat {
            off: a.off + m4 * a.rs,
            ..a
        };
        plain(m - m4, n, k, am, b, y.at(m4, 0));
    }
}

fn cast<E: GemmElem, F: GemmElem>(m: Mat<'_, E>) -> Mat<'_, F> {
    Mat {
        data: bytemuck::cast_slice(m.data),
        off: m.off,
        rs: m.rs,
        cs: m.cs,
    }
}

/// One 4 × 4 tile of C over `kc` steps: `acc[r][c] += Σ_p panel[4p + r] · b[bi + p·rs + c]`.
trait Tile4: Sized {
    fn tile4(acc: &mut [[Self; 4]; 4], panel: &[Self], b: &[Self], bi: usize, rs: usize, kc: usize);
}

/// The portable tile step: k unrolled by two, B read without per-element bounds checks.
macro_rules! tile4_portable {
    ($t:ty) => {
        #[inline(always)]
        fn tile4(acc: &mut [[$t; 4]; 4], panel: &[$t], b: &[$t], bi: usize, rs: usize, kc: usize) {
            assert!(kc == 0 || bi + (kc - 1) * rs + 4 <= b.len()); // ok: checked by the caller
            let step = |acc: &mut [[$t; 4]; 4], av: &[$t], bi: usize| {
                // SAFETY: bi + 3 < b.len() for every step (asserted above).
                let bp = unsafe {
                    [
                        *b.get_unchecked(bi),
                        *b.get_unchecked(bi + 1),
                        *b.get_unchecked(bi + 2),
                        *b.get_unchecked(bi + 3),
                    ]
                };
                for r in 0..4 {
                    for c in 0..4 {
                        acc[r][c] += av[r] * bp[c];
                    }
                }
            };
            let mut bi = bi;
            let mut pairs = panel[..4 * kc].chunks_exact(8);
            for av in &mut pairs {
                step(acc, &av[..4], bi);
                step(acc, &av[4..], bi + rs);
                bi += 2 * rs;
            }
            if let [a0, a1, a2, a3] = pairs.remainder() {
                step(acc, &[*a0, *a1, *a2, *a3], bi);
            }
        }
    };
}

impl Tile4 for f64 {
    tile4_portable!(f64);
}

#[cfg(not(all(target_arch = "arm", target_os = "none", target_abi = "eabihf")))]
impl Tile4 for f32 {
    tile4_portable!(f32);
}

/// Cortex-M4F/M7 (FPv4 and up): the tile step in assembly. Per step of k: one `vldmia` for
/// the four packed A values, one for the row of B, a pointer add, 16 fused `vfma`, and the
/// loop branch: 21 instructions for 16 multiply-adds (the compiler's best was 29, with no
/// `vldm` and chained `vmla`).
#[cfg(all(target_arch = "arm", target_os = "none", target_abi = "eabihf"))]
impl Tile4 for f32 {
    fn tile4(acc: &mut [[f32; 4]; 4], panel: &[f32], b: &[f32], bi: usize, rs: usize, kc: usize) {
        if kc == 0 {
            return;
        }
        // ok: the caller checked these bounds; the asm reads exactly this much.
        assert!(panel.len() >= 4 * kc && bi + (kc - 1) * rs + 4 <= b.len());
        let bptr = b[bi..].as_ptr();
        // SAFETY: reads 4·kc values of `panel` and 4 values at each of kc rows of `b` (bounds
        // asserted above), reads and writes the 16 accumulators; s0-s23 are declared clobbered.
        unsafe {
            core::arch::asm!(
                "vldmia {acc}, {{s0-s15}}",
                "2:",
                "vldmia {a}!, {{s16-s19}}",
                "vldmia {b}, {{s20-s23}}",
                "add {b}, {b}, {ldb}",
                "vfma.f32 s0, s16, s20",
                "vfma.f32 s1, s16, s21",
                "vfma.f32 s2, s16, s22",
                "vfma.f32 s3, s16, s23",
                "vfma.f32 s4, s17, s20",
                "vfma.f32 s5, s17, s21",
                "vfma.f32 s6, s17, s22",
                "vfma.f32 s7, s17, s23",
                "vfma.f32 s8, s18, s20",
                "vfma.f32 s9, s18, s21",
                "vfma.f32 s10, s18, s22",
                "vfma.f32 s11, s18, s23",
                "vfma.f32 s12, s19, s20",
                "vfma.f32 s13, s19, s21",
                "vfma.f32 s14, s19, s22",
                "vfma.f32 s15, s19, s23",
                "subs {k}, {k}, #1",
                "bne 2b",
                "vstmia {acc}, {{s0-s15}}",
                acc = in(reg) acc.as_mut_ptr(),
                a = inout(reg) panel.as_ptr() => _,
                b = inout(reg) bptr => _,
                ldb = in(reg) rs * 4,
                k = inout(reg) kc => _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _, out("s4") _, out("s5") _,
                out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                out("s12") _, out("s13") _, out("s14") _, out("s15") _, out("s16") _, out("s17") _,
                out("s18") _, out("s19") _, out("s20") _, out("s21") _, out("s22") _, out("s23") _,
                options(nostack),
            );
        }
    }
}

/// Depth of the packed A panel of the small-target kernel (4 rows × 64 on the stack: 1 KiB
/// of a microcontroller's RAM; deeper panels only save a loop turn per 64 steps of k).
const KP: usize = 64;

// Concrete (non-generic, never inlined) so the tile loop is compiled with this crate's own
// optimisation level even when the firmware around it is built for size. A's four rows are
// packed as one interleaved stream (`panel[4p + r]`), so A and B are each one pointer with
// immediate offsets; k is unrolled by two.
macro_rules! tiles4 {
    ($name:ident, $t:ty) => {
        #[inline(never)]
        #[allow(clippy::too_many_arguments)]
        fn $name(
            m4: usize,
            n4: usize,
            k: usize,
            a: Mat<'_, $t>,
            b: Mat<'_, $t>,
            y: &mut [$t],
            yo: usize,
            rsc: usize,
        ) {
            // The whole B panel this call reads, checked once instead of per element.
            let last = b.off + (k - 1) * b.rs + n4;
            // ok: the core checked B's layout against its memory; this guards get_unchecked below.
            assert!(last <= b.data.len());
            let mut panel = [0.0 as $t; 4 * KP];
            for i0 in (0..m4).step_by(4) {
                let mut k0 = 0;
                while k0 < k {
                    let kc = KP.min(k - k0);
                    for r in 0..4 {
                        let src = &a.data[a.off + (i0 + r) * a.rs + k0..][..kc];
                        for (p, &v) in src.iter().enumerate() {
                            panel[4 * p + r] = v;
                        }
                    }
                    for j0 in (0..n4).step_by(4) {
                        let mut acc = [[0.0 as $t; 4]; 4];
                        let bi = b.off + k0 * b.rs + j0;
                        // The whole B panel was checked against `last` above.
                        <$t as Tile4>::tile4(&mut acc, &panel[..4 * kc], b.data, bi, b.rs, kc);
                        for (r, accr) in acc.iter().enumerate() {
                            let dst = &mut y[yo + (i0 + r) * rsc + j0..][..4];
                            if k0 == 0 {
                                dst.copy_from_slice(accr);
                            } else {
                                for (d, &v) in dst.iter_mut().zip(accr) {
                                    *d += v;
                                }
                            }
                        }
                    }
                    k0 += kc;
                }
            }
        }
    };
}
tiles4!(tiles4_f32, f32);
tiles4!(tiles4_f64, f64);

/// The small-target kernel: for each row of C, accumulate `a[i, p] * b[p, :]` row by row (an
/// `axpy` over a contiguous row of B when its columns are unit-stride).
fn plain<E: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    y: MatMut<'_, E>,
) {
    for i in 0..m {
        let row = y.off + i * y.rs;
        for j in 0..n {
            y.data[row + j * y.cs] = E::ZERO;
        }
        for p in 0..k {
            let av = a.data[a.off + i * a.rs + p * a.cs];
            let bb = b.off + p * b.rs;
            if y.cs == 1 && b.cs == 1 {
                for (o, &bv) in y.data[row..row + n].iter_mut().zip(&b.data[bb..bb + n]) {
                    *o = o.add(av.mul(bv));
                }
            } else {
                for j in 0..n {
                    let o = &mut y.data[row + j * y.cs];
                    *o = o.add(av.mul(b.data[bb + j * b.cs]));
                }
            }
        }
    }
}
