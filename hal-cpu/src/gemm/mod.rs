//! A packed, cache-blocked GEMM with register-tiled micro-kernels (BLIS's loop structure).
//!
//! `C = A · B` for any strides. Along k the work is cut into `KC`-deep slices; for each, a block
//! of `MC` rows of A is packed as `MR`-tall micro-panels and a block of B as `NR`-wide panels
//! (a per-thread buffer under `std`, the stack without it: no allocation per call). The
//! micro-kernel keeps an `MR × NR` tile of C in registers for the whole slice. Edge tiles go
//! through a zero-padded scratch tile. Products too small to pay for packing take
//! `direct` (one vector of columns, or at most 12 rows) or `skinny` (dot products) on
//! AVX-512. The instruction set is picked once at run time under `std` (by `target_feature`
//! without it); every path can be forced with [`Isa`] so tests cover all that the machine can
//! run.

mod direct;
mod kernels;
mod skinny;

use core::sync::atomic::{AtomicU8, Ordering};

use tensile_core::Float;

/// The micro-kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust, always compiled.
    Scalar,
    /// x86_64 AVX2 + FMA.
    Avx2,
    /// x86_64 AVX-512F.
    Avx512,
    /// aarch64 NEON (always present there).
    Neon,
}

impl Isa {
    /// Every ISA this machine can run, best last.
    pub fn available() -> impl Iterator<Item = Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon]
            .into_iter()
            .filter(|i| i.supported())
    }

    /// Whether this machine can run it.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => has_avx2(),
            Isa::Avx512 => has_avx512(),
            Isa::Neon => cfg!(target_arch = "aarch64"),
        }
    }

    /// The best ISA here, detected once and cached.
    pub fn best() -> Isa {
        static CACHE: AtomicU8 = AtomicU8::new(0);
        match CACHE.load(Ordering::Relaxed) {
            1 => Isa::Scalar,
            2 => Isa::Avx2,
            3 => Isa::Avx512,
            4 => Isa::Neon,
            _ => {
                let best = if cfg!(target_arch = "aarch64") {
                    Isa::Neon
                } else if has_avx512() {
                    Isa::Avx512
                } else if has_avx2() {
                    Isa::Avx2
                } else {
                    Isa::Scalar
                };
                CACHE.store(best as u8 + 1, Ordering::Relaxed);
                best
            }
        }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}
#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}
#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
fn has_avx2() -> bool {
    cfg!(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))
}
#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
fn has_avx512() -> bool {
    cfg!(all(target_arch = "x86_64", target_feature = "avx512f"))
}

/// A matrix operand: base slice, offset of element (0, 0), row and column strides.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, E> {
    /// The memory.
    pub data: &'a [E],
    /// Offset of element (0, 0).
    pub off: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

/// The output matrix: memory, offset of element (0, 0), row and column strides.
#[derive(Debug)]
pub struct MatMut<'a, E> {
    /// The memory.
    pub data: &'a mut [E],
    /// Offset of element (0, 0).
    pub off: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<E> MatMut<'_, E> {
    /// The sub-matrix starting at (`row`, `col`), borrowing the same memory.
    pub fn at(&mut self, row: usize, col: usize) -> MatMut<'_, E> {
        MatMut {
            data: &mut *self.data,
            off: self.off + row * self.rs + col * self.cs,
            rs: self.rs,
            cs: self.cs,
        }
    }
}

/// Elements the GEMM handles, with their micro-kernels.
pub trait GemmElem: Float + skinny::SkinnyElem + direct::DirectElem {
    /// Tile rows and columns of the micro-kernel for `isa`.
    fn tile(isa: Isa) -> (usize, usize);
    /// `C[0..MR, 0..NR] (+)= Ã · B̃` over `k`: `a` is an `MR × k` packed micro-panel
    /// (`a[p * MR + i]`), `b` holds `k` rows of `NR` values at stride `ldb`, `c` is a tile
    /// with row stride `rsc` and unit column stride; `acc` adds to it instead of overwriting.
    ///
    /// # Safety
    /// `a` holds `k * MR` values, `b` holds `(k - 1) * ldb + NR`, `c` holds `MR` rows of `NR`
    /// values at stride `rsc`, and `isa` is supported on this machine.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(
        isa: Isa,
        k: usize,
        a: *const Self,
        b: *const Self,
        ldb: usize,
        c: *mut Self,
        rsc: usize,
        acc: bool,
    );
}

/// Depth of a k slice: an `MR × KC` panel of A and a `KC × NR` panel of B stay in L1.
const KC: usize = 256;
/// Largest tile rows and columns of any kernel (sizes the scratch tile).
const MR_MAX: usize = 12;
const NR_MAX: usize = 64;
/// Rows of A packed per block (a multiple of every MR): 96 KiB of f32 in L2.
const MC: usize = 96;
/// Columns of B packed per block on the stack (a multiple of every NR: 64, 32, 16, 12, 8, 6,
/// 4): 192 KiB of f32.
const NC: usize = 192;
/// Columns of B packed per block in the per-thread heap buffer (`std`, a multiple of every
/// NR): 2.25 MiB of f32 in L3, so A is repacked only once per 2304 columns.
#[cfg(feature = "std")]
const NC_HEAP: usize = 2304;

/// `c = a · b` (`m × k` by `k × n`), single-threaded, with the given micro-kernel family.
/// Every index of the three operands must be in bounds (the core checks layouts first).
/// Packing buffers live on the stack (about 0.4 MiB for f32, 0.8 MiB for f64).
pub fn gemm<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    c: MatMut<'_, E>,
) {
    gemm_at(isa, m, n, k, a, b, c, true)
}

/// [`gemm`]; `may_transpose` is false once the product has been transposed.
#[allow(clippy::too_many_arguments)]
fn gemm_at<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    c: MatMut<'_, E>,
    may_transpose: bool,
) {
    let isa = if isa.supported() { isa } else { Isa::Scalar };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                c.data[c.off + i * c.rs + j * c.cs] = E::ZERO;
            }
        }
        return;
    }
    if direct::applies(isa, m, n, k, &a, &b, &c) {
        return direct::gemm(m, n, k, a, b, c);
    }
    if skinny::applies(isa, n, &a) {
        return with_buffers::<E>(|_, bt, _| skinny::skinny(m, n, k, a, b, c, bt));
    }
    let (_, nr) = E::tile(isa);
    // A skinny C (fewer columns than a tile, more rows), or a column-major C: compute
    // Cᵀ = Bᵀ Aᵀ instead, so the long dimension runs along the vector registers and C's tiles
    // are written row by row.
    if may_transpose && ((n < nr && m > n) || (c.cs != 1 && c.rs == 1)) {
        let at = Mat {
            rs: a.cs,
            cs: a.rs,
            ..a
        };
        let bt = Mat {
            rs: b.cs,
            cs: b.rs,
            ..b
        };
        let ct = MatMut {
            rs: c.cs,
            cs: c.rs,
            ..c
        };
        return gemm_at(isa, n, m, k, bt, at, ct, false);
    }
    with_buffers::<E>(|apack, bpack, nc_max| blocked(isa, m, n, k, a, b, c, apack, bpack, nc_max));
}

/// Runs `f` with packing buffers for A (`MC × KC`) and B (`KC × nc_max`): a per-thread heap
/// buffer under `std` (allocated on a thread's first GEMM, then reused), else the stack.
fn with_buffers<E: GemmElem>(f: impl FnOnce(&mut [E], &mut [E], usize)) {
    #[cfg(feature = "std")]
    {
        use std::cell::RefCell;
        std::thread_local! {
            // f64 storage keeps the buffer aligned for both f32 and f64.
            static BUF: RefCell<std::vec::Vec<f64>> = const { RefCell::new(std::vec::Vec::new()) };
        }
        // 8 spare words so both panels can start on a 64-byte boundary (a packed row of B is
        // loaded 64 bytes at a time; straddling cache lines would halve L1 bandwidth).
        let words = (MC * KC + KC * NC_HEAP) * core::mem::size_of::<E>() / 8 + 8;
        let mut f = Some(f);
        let done = BUF.with(|b| {
            let Ok(mut v) = b.try_borrow_mut() else {
                return false;
            };
            let len = v.len();
            if len < words && v.try_reserve_exact(words - len).is_err() {
                return false;
            }
            if v.len() < words {
                v.resize(words, 0.0);
            }
            let skip = v.as_ptr().align_offset(64).min(8);
            let all: &mut [E] = bytemuck::cast_slice_mut(&mut v[skip..words - 8 + skip]);
            let (ap, bp) = all.split_at_mut(MC * KC);
            if let Some(f) = f.take() {
                f(ap, bp, NC_HEAP);
            }
            true
        });
        if done {
            return;
        }
        if let Some(f) = f.take() {
            let mut apack = [E::ZERO; MC * KC];
            let mut bpack = [E::ZERO; KC * NC];
            f(&mut apack, &mut bpack, NC);
        }
    }
    #[cfg(not(feature = "std"))]
    {
        let mut apack = [E::ZERO; MC * KC];
        let mut bpack = [E::ZERO; KC * NC];
        f(&mut apack, &mut bpack, NC);
    }
}

#[allow(clippy::too_many_arguments)]
fn blocked<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    c: MatMut<'_, E>,
    apack: &mut [E],
    bpack: &mut [E],
    nc_max: usize,
) {
    let (mr, nr) = E::tile(isa);
    let mut tile = [E::ZERO; MR_MAX * NR_MAX];
    let mut jc = 0;
    while jc < n {
        let nc = nc_max.min(n - jc);
        let mut pc = 0;
        while pc < k {
            let kc = KC.min(k - pc);
            let first = pc == 0;
            pack_b(&b, pc, kc, jc, nc, nr, bpack);
            let mut ic = 0;
            while ic < m {
                let mc = MC.min(m - ic);
                pack_a(&a, ic, mc, pc, kc, mr, apack);
                let mut jr = 0;
                while jr < nc {
                    let nb = nr.min(nc - jr);
                    let bp = bpack[jr * kc..].as_ptr();
                    let mut ir = 0;
                    while ir < mc {
                        let mb = mr.min(mc - ir);
                        let ap = apack[ir * kc..].as_ptr();
                        let row0 = c.off + (ic + ir) * c.rs + (jc + jr) * c.cs;
                        if mb == mr && nb == nr && c.cs == 1 {
                            // SAFETY: packed panels hold kc * mr and kc * nr values; the full
                            // tile of C is in bounds (the core checked C's layout); isa is
                            // supported (checked above).
                            unsafe {
                                E::kernel(
                                    isa,
                                    kc,
                                    ap,
                                    bp,
                                    nr,
                                    c.data[row0..].as_mut_ptr(),
                                    c.rs,
                                    !first,
                                )
                            };
                        } else {
                            // SAFETY: as above, into the scratch tile (mr rows of nr values).
                            unsafe { E::kernel(isa, kc, ap, bp, nr, tile.as_mut_ptr(), nr, false) };
                            for i in 0..mb {
                                for j in 0..nb {
                                    let d = &mut c.data[row0 + i * c.rs + j * c.cs];
                                    let v = tile[i * nr + j];
                                    *d = if first { v } else { d.add(v) };
                                }
                            }
                        }
                        ir += mr;
                    }
                    jr += nr;
                }
                ic += mc;
            }
            pc += kc;
        }
        jc += nc;
    }
}

/// Packs rows `ic..ic+mc`, depth `pc..pc+kc` of A as MR-tall micro-panels, zero-padded.
fn pack_a<E: GemmElem>(
    a: &Mat<'_, E>,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    mr: usize,
    out: &mut [E],
) {
    let mut ir = 0;
    while ir < mc {
        let rows = mr.min(mc - ir);
        let panel = &mut out[ir * kc..(ir + mr) * kc];
        if rows < mr {
            panel.fill(E::ZERO);
        }
        if a.cs == 1 {
            // Row-major A: read each row contiguously, scatter into the panel (in L1).
            for i in 0..rows {
                let src = &a.data[a.off + (ic + ir + i) * a.rs + pc..][..kc];
                for (p, &v) in src.iter().enumerate() {
                    panel[p * mr + i] = v;
                }
            }
        } else {
            for p in 0..kc {
                let base = a.off + (pc + p) * a.cs + (ic + ir) * a.rs;
                for i in 0..rows {
                    panel[p * mr + i] = a.data[base + i * a.rs];
                }
            }
        }
        ir += mr;
    }
}

/// Packs depth `pc..pc+kc`, columns `jc..jc+nc` of B as NR-wide micro-panels
/// (`out[jr * kc + p * nr + j]`), zero-padded.
fn pack_b<E: GemmElem>(
    b: &Mat<'_, E>,
    pc: usize,
    kc: usize,
    jc: usize,
    nc: usize,
    nr: usize,
    out: &mut [E],
) {
    let mut jr = 0;
    while jr < nc {
        let cols = nr.min(nc - jr);
        let panel = &mut out[jr * kc..(jr + nr) * kc];
        for p in 0..kc {
            let base = b.off + (pc + p) * b.rs + (jc + jr) * b.cs;
            let dst = &mut panel[p * nr..(p + 1) * nr];
            if b.cs == 1 {
                dst[..cols].copy_from_slice(&b.data[base..base + cols]);
            } else {
                for (j, d) in dst[..cols].iter_mut().enumerate() {
                    *d = b.data[base + j * b.cs];
                }
            }
            for d in &mut dst[cols..] {
                *d = E::ZERO;
            }
        }
        jr += nr;
    }
}
