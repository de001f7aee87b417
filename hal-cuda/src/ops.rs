//! The core's kernel families on the GPU: generated kernels for map, reduce and update, cuBLAS
//! for matmul.

use cudarc::cublas::{result as blas, sys::cublasOperation_t as BlasOp};
use tensile_core::device::UpdateFn;
use tensile_core::ops::{BinaryFn, MapKind, UnaryFn};
use tensile_core::Axes;
use tensile_core::{
    Alloc, DType, Elem, Extremum, Float, Layout, Map, MatMul, Reduce, ReduceOp, Result, Update,
    UpdateKind,
};

use crate::codegen::{reduce_code, Kernel, MapTag, BLOCK};
use crate::kernels::{arg, pack, ShapeP, StridesP};
use crate::mem::{CudaBuf, DevSlice};
use crate::{dev_err, Cuda};

impl Map for Cuda {
    fn unary<A: Elem, B: Elem, O: UnaryFn<A, B>>(
        &self,
        op: O,
        x: &DevSlice<A>,
        xl: &Layout,
        y: &mut DevSlice<B>,
        yl: &Layout,
    ) -> Result<()> {
        let (tag, s) = match op.kind() {
            MapKind::Unary(u) => (MapTag::Unary(u), 0.0),
            MapKind::Scalar { op, s, rhs: true } => (MapTag::ScalarRhs(op), s),
            MapKind::Scalar { op, s, rhs: false } => (MapTag::ScalarLhs(op), s),
            MapKind::Copy => (MapTag::Copy, 0.0),
            MapKind::Cast => (MapTag::Cast, 0.0),
        };
        self.map1(tag, A::DTYPE, B::DTYPE, x.addr(), xl, y.addr(), yl, s)
    }

    fn binary<E: Elem, O: BinaryFn<E>>(
        &self,
        _op: O,
        a: &DevSlice<E>,
        al: &Layout,
        b: &DevSlice<E>,
        bl: &Layout,
        y: &mut DevSlice<E>,
        yl: &Layout,
    ) -> Result<()> {
        let k = Kernel::Map {
            tag: MapTag::Binary(O::OP),
            a: E::DTYPE,
            b: E::DTYPE,
        };
        let (sh, [sa, sb, sy]) = pack([al, bl, yl]);
        let (pa, pb, py, s) = (a.addr(), b.addr(), y.addr(), 0.0f64);
        let mut args = [
            arg(&sh),
            arg(&sa),
            arg(&sb),
            arg(&sy),
            arg(&pa),
            arg(&pb),
            arg(&py),
            arg(&s),
        ];
        self.launch_elementwise(k, sh.n, &mut args)
    }
}

impl Cuda {
    /// Runs a reduction with a given block layout (split ones through the scratch).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reduce_with(
        &self,
        op: ReduceOp,
        plan: ReducePlan,
        corr: i64,
        px: u64,
        (ks, kx, ky): (ShapeP, StridesP, StridesP),
        (rs, rx): (ShapeP, StridesP),
        py: u64,
        dt: DType,
    ) -> Result<()> {
        let code = reduce_code(op);
        let k = Kernel::Reduce { op: code, dt };
        let fin = Kernel::ReduceFinish { op: code, dt };
        let (lanes, splits, chunk) = (plan.lanes as i32, plan.splits as i32, plan.chunk);
        let tiles = (ks.n + lanes as i64 - 1) / lanes as i64;
        let blocks = (tiles * splits as i64).clamp(1, 1 << 20) as u32;
        let part = self.inner.scratch;
        let means = part + (SCRATCH_DOUBLES * 8) as u64;
        let pass = |mode: i32| {
            let mut args = [
                arg(&ks),
                arg(&kx),
                arg(&ky),
                arg(&rs),
                arg(&rx),
                arg(&px),
                arg(&py),
                arg(&part),
                arg(&means),
                arg(&corr),
                arg(&lanes),
                arg(&splits),
                arg(&chunk),
                arg(&mode),
            ];
            self.launch(k, blocks, plan.block, &mut args)
        };
        let finish = |mode: i32| {
            let rn = rs.n;
            let mut args = [
                arg(&ks),
                arg(&ky),
                arg(&part),
                arg(&means),
                arg(&py),
                arg(&rn),
                arg(&corr),
                arg(&splits),
                arg(&mode),
            ];
            let b = (ks.n as u64).div_ceil(BLOCK as u64).clamp(1, 65_536) as u32;
            self.launch(fin, b, BLOCK, &mut args)
        };
        if splits == 1 {
            return pass(0);
        }
        pass(1)?;
        match op {
            ReduceOp::Sum | ReduceOp::Mean => finish(0),
            ReduceOp::Var { .. } | ReduceOp::Std { .. } => {
                finish(1)?;
                pass(2)?;
                finish(2)
            }
        }
    }

    /// One-input elementwise kernel over device addresses.
    #[allow(clippy::too_many_arguments)]
    fn map1(
        &self,
        tag: MapTag,
        a: DType,
        b: DType,
        x: u64,
        xl: &Layout,
        y: u64,
        yl: &Layout,
        s: f64,
    ) -> Result<()> {
        let k = Kernel::Map { tag, a, b };
        let (sh, [sx, sy]) = pack([xl, yl]);
        let mut args = [arg(&sh), arg(&sx), arg(&sy), arg(&x), arg(&y), arg(&s)];
        self.launch_elementwise(k, sh.n, &mut args)
    }
}

/// Grid size for one block per output, grid-strided beyond it.
fn out_blocks(n: i64) -> u32 {
    n.clamp(0, 1 << 20) as u32
}

/// Doubles of split-reduction scratch: partial sums, then as many for var's means.
pub(crate) const SCRATCH_DOUBLES: usize = 1 << 17;

/// How a reduction is spread over blocks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ReducePlan {
    /// Outputs per block (1, or 32 when outputs are adjacent in memory and elements are not).
    pub lanes: u32,
    /// Threads per block.
    pub block: u32,
    /// Blocks per output (each sums a chunk; a finish kernel combines them).
    pub splits: u32,
    /// Reduced elements per split.
    pub chunk: i64,
}

/// Enough blocks to fill a large GPU twice over (132 SMs on an H100).
const TARGET_BLOCKS: i64 = 264;

/// The block layout of a reduction of `rn` elements into `nout` outputs; `column` when the
/// outputs are adjacent in memory but the reduced elements are not.
pub(crate) fn reduce_plan(nout: i64, rn: i64, column: bool) -> ReducePlan {
    // Short reductions: a thread per output (a block per output would leave most threads
    // idle). Outputs adjacent in memory: 32 per block, so a warp's loads coalesce.
    let lanes: u32 = if rn <= 16 && nout > 1 {
        BLOCK
    } else if column && nout > 1 {
        32
    } else {
        1
    };
    let groups = if lanes == 1 {
        (rn.clamp(1, BLOCK as i64) as u32)
            .next_power_of_two()
            .max(32)
    } else {
        (rn.clamp(1, (BLOCK / lanes) as i64) as u32).next_power_of_two()
    };
    let tiles = (nout + lanes as i64 - 1) / lanes as i64;
    // Split long reductions when there are too few blocks to keep the GPU busy, keeping at
    // least 16 elements per thread and the partials within the scratch.
    let per_block = 16 * groups as i64;
    let mut splits = 1i64;
    if tiles < TARGET_BLOCKS && rn >= 2 * per_block && nout > 0 {
        splits = (TARGET_BLOCKS / tiles.max(1))
            .min(rn / per_block)
            .min(SCRATCH_DOUBLES as i64 / nout)
            .max(1);
    }
    let chunk = (rn + splits - 1) / splits;
    ReducePlan {
        lanes,
        block: lanes * groups,
        splits: splits as u32,
        chunk: chunk.max(1),
    }
}

impl Reduce for Cuda {
    fn reduce<E: Float>(
        &self,
        op: ReduceOp,
        x: &DevSlice<E>,
        xl: &Layout,
        axes: Axes,
        y: &mut DevSlice<E>,
        yl: &Layout,
    ) -> Result<()> {
        let (kept, red) = xl.split_axes(axes);
        let (ks, [kx, ky]) = pack([&kept, yl]);
        let (rs, [rx]) = pack([&red]);
        if ks.n == 0 {
            return Ok(());
        }
        let corr: i64 = match op {
            ReduceOp::Var { correction } | ReduceOp::Std { correction } => correction as i64,
            _ => 0,
        };
        let inner = |sh: &ShapeP, st: &StridesP| sh.rank > 0 && st.s[sh.rank as usize - 1] == 1;
        let column = inner(&ks, &kx) && !inner(&rs, &rx);
        let plan = reduce_plan(ks.n, rs.n, column);
        self.reduce_with(
            op,
            plan,
            corr,
            x.addr(),
            (ks, kx, ky),
            (rs, rx),
            y.addr(),
            E::DTYPE,
        )
    }

    fn extremum<E: Elem>(
        &self,
        op: Extremum,
        x: &DevSlice<E>,
        xl: &Layout,
        axes: Axes,
        values: Option<(&mut DevSlice<E>, &Layout)>,
        indices: Option<(&mut DevSlice<i64>, &Layout)>,
    ) -> Result<()> {
        let (kept, red) = xl.split_axes(axes);
        let counter = Layout::contiguous(*kept.shape());
        let (pv, vl) = values.map_or((0u64, counter), |(m, l)| (m.addr(), *l));
        let (pi, il) = indices.map_or((0u64, counter), |(m, l)| (m.addr(), *l));
        let (ks, [kx, kv, ki]) = pack([&kept, &vl, &il]);
        let (rs, [rx]) = pack([&red]);
        if ks.n == 0 || (pv == 0 && pi == 0) {
            return Ok(());
        }
        let k = Kernel::Extremum {
            max: op == Extremum::Max,
            dt: E::DTYPE,
        };
        let px = x.addr();
        let inner = |sh: &ShapeP, st: &StridesP| sh.rank > 0 && st.s[sh.rank as usize - 1] == 1;
        let plan = reduce_plan(ks.n, rs.n, inner(&ks, &kx) && !inner(&rs, &rx));
        let lanes = plan.lanes as i32;
        let mut args = [
            arg(&ks),
            arg(&kx),
            arg(&kv),
            arg(&ki),
            arg(&rs),
            arg(&rx),
            arg(&px),
            arg(&pv),
            arg(&pi),
            arg(&lanes),
        ];
        let tiles = (ks.n + lanes as i64 - 1) / lanes as i64;
        // Extremum blocks are not split: each block covers its outputs' whole range.
        self.launch(k, out_blocks(tiles), plan.block, &mut args)
    }
}

/// How cuBLAS sees a row-major `rows × cols` matrix with strides `(sr, sc)`: as the
/// column-major operand `Xᵀ` (`N`) or `X` to transpose (`T`), with its leading dimension.
fn blas_operand(rows: usize, cols: usize, sr: usize, sc: usize) -> Option<(BlasOp, i32)> {
    // Memory read column-major with ld = sr is Xᵀ (cols × rows) when columns are adjacent.
    if sc == 1 || cols == 1 {
        let ld = if rows == 1 { cols.max(1) } else { sr };
        if ld >= cols.max(1) {
            return i32::try_from(ld).ok().map(|ld| (BlasOp::CUBLAS_OP_N, ld));
        }
    }
    // With ld = sc it is X (rows × cols), which cuBLAS transposes.
    if sr == 1 || rows == 1 {
        let ld = if cols == 1 { rows.max(1) } else { sc };
        if ld >= rows.max(1) {
            return i32::try_from(ld).ok().map(|ld| (BlasOp::CUBLAS_OP_T, ld));
        }
    }
    None
}

/// One cuBLAS gemm for row-major `y (m×n) = a (m×k) · b (k×n)`, in cuBLAS's column-major
/// terms: `C' (n×m) = op(A') · op(B')` with `A'` = b's memory, `B'` = a's, `C'` = y's (row-major
/// C is column-major Cᵀ, and Cᵀ = Bᵀ·Aᵀ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Gemm {
    pub(crate) ta: BlasOp,
    pub(crate) tb: BlasOp,
    pub(crate) lda: i32,
    pub(crate) ldb: i32,
    pub(crate) ldc: i32,
}

/// Which operand cuBLAS cannot address as laid out (it is copied first).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Unaddressable {
    A,
    B,
    Y,
}

/// The gemm for matrices of strides `ast`, `bst`, `yst` (row, column).
fn gemm_for(
    (m, n, k): (usize, usize, usize),
    ast: [usize; 2],
    bst: [usize; 2],
    yst: [usize; 2],
) -> Result<Gemm, Unaddressable> {
    let a = blas_operand(m, k, ast[0], ast[1]).ok_or(Unaddressable::A)?;
    let b = blas_operand(k, n, bst[0], bst[1]).ok_or(Unaddressable::B)?;
    match blas_operand(m, n, yst[0], yst[1]) {
        Some((BlasOp::CUBLAS_OP_N, ldc)) => Ok(Gemm {
            ta: b.0,
            tb: a.0,
            lda: b.1,
            ldb: a.1,
            ldc,
        }),
        _ => Err(Unaddressable::Y),
    }
}

fn blas_err(_: cudarc::cublas::result::CublasError) -> tensile_core::Error {
    dev_err("matmul", "cuBLAS gemm failed")
}

impl MatMul for Cuda {
    fn matmul<E: Float>(
        &self,
        a: &DevSlice<E>,
        al: &Layout,
        b: &DevSlice<E>,
        bl: &Layout,
        y: &mut DevSlice<E>,
        yl: &Layout,
    ) -> Result<()> {
        let r = yl.rank();
        let (m, n, k) = (yl.dims()[r - 2], yl.dims()[r - 1], al.dims()[r - 1]);
        if yl.numel() == 0 {
            return Ok(());
        }
        if k == 0 {
            return self.map1(
                MapTag::Zero,
                E::DTYPE,
                E::DTYPE,
                y.addr(),
                yl,
                y.addr(),
                yl,
                0.0,
            );
        }
        if [m, n, k].iter().any(|&d| i32::try_from(d).is_err()) {
            return Err(dev_err("matmul", "a dimension exceeds cuBLAS's int range"));
        }
        let (ast, bst, yst) = (al.strides(), bl.strides(), yl.strides());
        let two = |s: &[usize]| [s[r - 2], s[r - 1]];
        let g = match gemm_for((m, n, k), two(ast), two(bst), two(yst)) {
            Ok(g) => g,
            // Operands cuBLAS cannot address (no unit stride, broadcast rows) are copied first.
            Err(Unaddressable::A) => {
                let tmp = self.contiguous_copy(a, al)?;
                return self.matmul(tmp.mem(), &Layout::contiguous(*al.shape()), b, bl, y, yl);
            }
            Err(Unaddressable::B) => {
                let tmp = self.contiguous_copy(b, bl)?;
                return self.matmul(a, al, tmp.mem(), &Layout::contiguous(*bl.shape()), y, yl);
            }
            Err(Unaddressable::Y) => {
                let mut tmp: CudaBuf<E> = self.alloc_zeroed(yl.numel())?;
                let tl = Layout::contiguous(*yl.shape());
                self.matmul(a, al, b, bl, tmp.mem_mut(), &tl)?;
                let t = tmp.mem().addr();
                return self.map1(MapTag::Copy, E::DTYPE, E::DTYPE, t, &tl, y.addr(), yl, 0.0);
            }
        };
        let mats = Axes::default().with(r - 2).with(r - 1);
        let (bsh, [sa, sb, sy]) = pack([
            &al.remove_axes(mats),
            &bl.remove_axes(mats),
            &yl.remove_axes(mats),
        ]);
        let br = bsh.rank as usize;
        // The innermost batch dim goes to one strided-batched call; outer ones loop.
        let (count, inner) = if br == 0 {
            (1, [0i64; 3])
        } else {
            (bsh.dims[br - 1], [sa.s[br - 1], sb.s[br - 1], sy.s[br - 1]])
        };
        let outer: i64 = bsh.dims[..br.saturating_sub(1)].iter().product();
        let es = E::DTYPE.size() as u64;
        let ints = |v: usize| {
            i32::try_from(v)
                .map_err(|_| dev_err("matmul", "a dimension exceeds cuBLAS's int range"))
        };
        let (mi, ni, ki, ci) = (ints(m)?, ints(n)?, ints(k)?, ints(count as usize)?);
        #[cfg(feature = "emulator")]
        let emu = self.emu();
        let handle = match self.inner_blas() {
            Ok(h) => h,
            #[cfg(feature = "emulator")]
            Err(_) if emu.is_some() => std::ptr::null_mut(),
            Err(e) => return Err(e),
        };
        for o in 0..outer.max(1) {
            // Offsets of batch `o` of the outer dims.
            let (mut oa, mut ob, mut oy, mut q) = (sa.off, sb.off, sy.off, o);
            for d in (0..br.saturating_sub(1)).rev() {
                let i = q % bsh.dims[d];
                q /= bsh.dims[d];
                oa += i * sa.s[d];
                ob += i * sb.s[d];
                oy += i * sy.s[d];
            }
            let (pa, pb, py) = (
                a.addr() + oa as u64 * es,
                b.addr() + ob as u64 * es,
                y.addr() + oy as u64 * es,
            );
            #[cfg(feature = "emulator")]
            if let Some(e) = emu {
                e.gemm::<E>(g, (ni, mi, ki), (pb, pa, py), inner, ci);
                continue;
            }
            // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: B's view comes first.
            // SAFETY: the pointers and strides address memory the core checked the layouts
            // against; cuBLAS runs on the device's stream.
            let res = unsafe {
                match E::DTYPE {
                    DType::F32 => blas::sgemm_strided_batched(
                        handle,
                        g.ta,
                        g.tb,
                        ni,
                        mi,
                        ki,
                        &1.0f32,
                        pb as *const f32,
                        g.lda,
                        inner[1],
                        pa as *const f32,
                        g.ldb,
                        inner[0],
                        &0.0f32,
                        py as *mut f32,
                        g.ldc,
                        inner[2],
                        ci,
                    ),
                    DType::F64 => blas::dgemm_strided_batched(
                        handle,
                        g.ta,
                        g.tb,
                        ni,
                        mi,
                        ki,
                        &1.0f64,
                        pb as *const f64,
                        g.lda,
                        inner[1],
                        pa as *const f64,
                        g.ldb,
                        inner[0],
                        &0.0f64,
                        py as *mut f64,
                        g.ldc,
                        inner[2],
                        ci,
                    ),
                    _ => return Err(dev_err("matmul", "cuBLAS matmul needs f32 or f64")),
                }
            };
            res.map_err(blas_err)?;
        }
        Ok(())
    }
}

impl Cuda {
    /// The cuBLAS handle, with the context bound.
    fn inner_blas(&self) -> Result<cudarc::cublas::sys::cublasHandle_t> {
        let h = *self.gpu()?.blas.handle();
        self.bind()?;
        Ok(h)
    }

    /// A contiguous copy of a strided operand (the slow path for layouts cuBLAS cannot read).
    fn contiguous_copy<E: Elem>(&self, x: &DevSlice<E>, xl: &Layout) -> Result<CudaBuf<E>> {
        let tmp: CudaBuf<E> = self.alloc_zeroed(xl.numel())?;
        let tl = Layout::contiguous(*xl.shape());
        self.map1(
            MapTag::Copy,
            E::DTYPE,
            E::DTYPE,
            x.addr(),
            xl,
            tmp.mem().addr(),
            &tl,
            0.0,
        )?;
        Ok(tmp)
    }
}

impl Update for Cuda {
    fn update<E: Float, O: UpdateFn<E>>(
        &self,
        op: O,
        p: &mut DevSlice<E>,
        s1: &mut DevSlice<E>,
        s2: &mut DevSlice<E>,
        g: &DevSlice<E>,
        hyper: &DevSlice<E>,
    ) -> Result<()> {
        let (adam, h, flag) = match op.kind() {
            UpdateKind::Sgd(s) => (
                false,
                [s.momentum, s.dampening, s.weight_decay, 0.0],
                s.nesterov as i32,
            ),
            UpdateKind::Adam(a) => (true, [a.beta1, a.beta2, a.eps, a.weight_decay], 0),
        };
        let need = if adam { p.len() } else { 0 };
        let stateful = !adam && h[0] != 0.0;
        if g.len() < p.len()
            || hyper.len() < 2
            || s1.len() < need.max(if stateful { p.len() } else { 0 })
            || s2.len() < need
        {
            return Err(dev_err("update", "optimizer buffers are too short"));
        }
        let n = p.len() as i64;
        let k = Kernel::Update { adam, dt: E::DTYPE };
        let (pp, p1, p2, pg, ph) = (p.addr(), s1.addr(), s2.addr(), g.addr(), hyper.addr());
        let mut args = [
            arg(&n),
            arg(&pp),
            arg(&p1),
            arg(&p2),
            arg(&pg),
            arg(&ph),
            arg(&h[0]),
            arg(&h[1]),
            arg(&h[2]),
            arg(&h[3]),
            arg(&flag),
        ];
        self.launch_elementwise(k, n, &mut args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cuBLAS's gemm, column-major, as documented: C (M×N) = op(A) · op(B).
    #[allow(clippy::too_many_arguments)]
    fn gemm_cm(g: &Gemm, (mm, nn, kk): (usize, usize, usize), a: &[f64], b: &[f64], c: &mut [f64]) {
        let at = |i: usize, p: usize| match g.ta {
            BlasOp::CUBLAS_OP_N => a[i + p * g.lda as usize],
            _ => a[p + i * g.lda as usize],
        };
        let bt = |p: usize, j: usize| match g.tb {
            BlasOp::CUBLAS_OP_N => b[p + j * g.ldb as usize],
            _ => b[j + p * g.ldb as usize],
        };
        for i in 0..mm {
            for j in 0..nn {
                c[i + j * g.ldc as usize] = (0..kk).map(|p| at(i, p) * bt(p, j)).sum();
            }
        }
    }

    /// Row-major matrix `rows × cols` stored with strides (`sr`, `sc`) in a buffer of `len`.
    fn store(
        rows: usize,
        cols: usize,
        sr: usize,
        sc: usize,
        f: impl Fn(usize, usize) -> f64,
    ) -> Vec<f64> {
        let len = (rows.max(1) - 1) * sr + (cols.max(1) - 1) * sc + 1;
        let mut v = vec![f64::NAN; len];
        for i in 0..rows {
            for j in 0..cols {
                v[i * sr + j * sc] = f(i, j);
            }
        }
        v
    }

    #[test]
    fn the_cublas_call_computes_the_row_major_product_for_every_layout_it_accepts() {
        let fa = |i: usize, p: usize| (i * 7 + p * 3) as f64 % 11.0 - 5.0;
        let fb = |p: usize, j: usize| (p * 5 + j * 2) as f64 % 7.0 - 3.0;
        let mut checked = 0;
        for (m, n, k) in [
            (1, 1, 1),
            (3, 4, 5),
            (1, 6, 2),
            (5, 1, 3),
            (4, 3, 1),
            (2, 2, 7),
        ] {
            // Row-major, transposed views, and padded leading dims.
            let a_lays = [(k, 1), (1, m), (k + 2, 1), (1, m + 3)];
            let b_lays = [(n, 1), (1, k), (n + 1, 1), (1, k + 2)];
            let y_lays = [(n, 1), (n + 3, 1)];
            for &(asr, asc) in &a_lays {
                for &(bsr, bsc) in &b_lays {
                    for &(ysr, ysc) in &y_lays {
                        let g = gemm_for((m, n, k), [asr, asc], [bsr, bsc], [ysr, ysc])
                            .unwrap_or_else(|e| {
                                panic!("{m}x{n}x{k} a{asr},{asc} b{bsr},{bsc}: {e:?}")
                            });
                        let a = store(m, k, asr, asc, fa);
                        let b = store(k, n, bsr, bsc, fb);
                        let mut y = store(m, n, ysr, ysc, |_, _| f64::NAN);
                        gemm_cm(&g, (n, m, k), &b, &a, &mut y);
                        for i in 0..m {
                            for j in 0..n {
                                let want: f64 = (0..k).map(|p| fa(i, p) * fb(p, j)).sum();
                                assert_eq!(y[i * ysr + j * ysc], want, "{m}x{n}x{k} ({i},{j})");
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 6 * 4 * 4 * 2);
    }

    #[test]
    fn layouts_cublas_cannot_address_are_named() {
        // Broadcast rows (stride 0) and doubly strided views need a copy first.
        assert_eq!(
            gemm_for((3, 4, 5), [0, 1], [4, 1], [4, 1]),
            Err(Unaddressable::A)
        );
        assert_eq!(
            gemm_for((3, 4, 5), [5, 1], [8, 2], [4, 1]),
            Err(Unaddressable::B)
        );
        assert_eq!(
            gemm_for((3, 4, 5), [5, 1], [4, 1], [1, 3]),
            Err(Unaddressable::Y)
        );
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn reductions_are_spread_to_fill_the_gpu() {
        // Many long rows: one block each, no split.
        let p = reduce_plan(4096, 4096, false);
        assert_eq!((p.lanes, p.block, p.splits), (1, 256, 1));
        // Columns of a (4096, 4096) matrix: 32 adjacent outputs per block, 128 blocks, split
        // in two to reach the target.
        let p = reduce_plan(4096, 4096, true);
        assert_eq!((p.lanes, p.block, p.splits), (32, 256, 2));
        assert_eq!(p.chunk, 2048);
        // One output of 64M elements: split across the target block count.
        let p = reduce_plan(1, 64 << 20, false);
        assert_eq!((p.lanes, p.splits), (1, TARGET_BLOCKS as u32));
        assert!(p.chunk * p.splits as i64 >= 64 << 20);
        // Short reductions (3 channels): a thread per output, never split.
        let p = reduce_plan(327_680, 3, false);
        assert_eq!((p.lanes, p.block, p.splits), (256, 256, 1));
        // A single short output keeps one block.
        let p = reduce_plan(1, 3, false);
        assert_eq!((p.lanes, p.block, p.splits), (1, 32, 1));
        // Empty reductions still get one block that writes the sum's 0.
        let p = reduce_plan(5, 0, false);
        assert_eq!((p.splits, p.chunk), (1, 1));
    }
}
