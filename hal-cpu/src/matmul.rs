//! Matmul on the CPU: batches through the strided iterator, each a packed GEMM (f32, f64) with
//! the best micro-kernel here. Under `std`, large products are split by rows of C across
//! threads (never for small ones, where spawning costs more than it saves).

use tensile_core::{for_each_offset, Axes, DType, Float, Layout, MatMul, Result};

use crate::gemm::{gemm, GemmElem, Isa, Mat};
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
        if PACKED {
            product(isa, m, n, k, am, bm, y, yo, yst[r - 2], yst[r - 1]);
        } else {
            plain(m, n, k, am, bm, y, yo, yst[r - 2], yst[r - 1]);
        }
    });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn product<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    y: &mut [E],
    yo: usize,
    rsc: usize,
    csc: usize,
) {
    #[cfg(feature = "std")]
    {
        let big = m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MACS;
        if big && csc == 1 && rsc >= n && m >= 2 {
            let threads = crate::num_threads().min(m);
            if threads > 1 {
                split_rows(isa, threads, m, n, k, a, b, &mut y[yo..], rsc);
                return;
            }
        }
    }
    gemm(isa, m, n, k, a, b, y, yo, rsc, csc);
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
        gemm(isa, m, n, k, a, b, y, 0, rsc, 1);
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

/// The small-target kernel: for each row of C, accumulate `a[i, p] * b[p, :]` row by row (an
/// `axpy` over a contiguous row of B when its columns are unit-stride).
#[allow(clippy::too_many_arguments)]
fn plain<E: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, E>,
    b: Mat<'_, E>,
    y: &mut [E],
    yo: usize,
    rsc: usize,
    csc: usize,
) {
    for i in 0..m {
        let row = yo + i * rsc;
        for j in 0..n {
            y[row + j * csc] = E::ZERO;
        }
        for p in 0..k {
            let av = a.data[a.off + i * a.rs + p * a.cs];
            let bb = b.off + p * b.rs;
            if csc == 1 && b.cs == 1 {
                for (o, &bv) in y[row..row + n].iter_mut().zip(&b.data[bb..bb + n]) {
                    *o = o.add(av.mul(bv));
                }
            } else {
                for j in 0..n {
                    let o = &mut y[row + j * csc];
                    *o = o.add(av.mul(b.data[bb + j * b.cs]));
                }
            }
        }
    }
}
