//! Running a planned graph in an arena: forward, backward and optimizer steps, with no
//! allocation. The arena is split safely per kernel call: the regions a call writes are carved
//! out with `split_at_mut`, and every region it reads must lie in what remains (the plan
//! guarantees it; a violation is an error, never aliasing).

use super::opset::{left_out, Kernel, OpKinds};
use super::plan::{GraphPlan, Training, ARENA_ALIGN};
use super::{Fill, GraphBase, Node, NodeId, Nodes, Op};
use crate::device::{ArenaMem, Host, Map, MatMul, Reduce, Update};
use crate::dtype::{DType, Elem, Float};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::Layout;
use crate::ops::{self, Adam, BinaryOp, ScalarRhs, Sgd};
use crate::shape::MAX_RANK;
use crate::view::TensorView;

fn bad_region() -> Error {
    Error::msg(ErrorKind::InvalidData, "exec", "plan regions overlap")
}

/// `b[off..off + len]`, checked.
fn sub<D: ArenaMem>(b: &D::Bytes, off: usize, len: usize) -> Result<&D::Bytes> {
    let end = off.checked_add(len).ok_or_else(bad_region)?;
    if end > D::bytes_len(b) {
        return Err(bad_region());
    }
    let (_, r) = D::split_bytes(b, off);
    Ok(D::split_bytes(r, len).0)
}

/// `b[off..off + len]`, checked and mutable.
fn sub_mut<D: ArenaMem>(b: &mut D::Bytes, off: usize, len: usize) -> Result<&mut D::Bytes> {
    let end = off.checked_add(len).ok_or_else(bad_region)?;
    if end > D::bytes_len(b) {
        return Err(bad_region());
    }
    let (_, r) = D::split_bytes_mut(b, off);
    Ok(D::split_bytes_mut(r, len).0)
}

/// Up to three written regions and the read-only gaps between them.
struct Carved<'a, D: ArenaMem> {
    muts: [Option<&'a mut D::Bytes>; 3],
    gaps: [Option<(usize, &'a D::Bytes)>; 4],
}

fn carve<'a, D: ArenaMem>(
    mut rest: &'a mut D::Bytes,
    regions: &[(usize, usize)],
) -> Result<Carved<'a, D>> {
    let mut order = [0usize, 1, 2];
    let m = regions.len().min(3);
    // Three at most: an insertion sort keeps the general sort out of firmware.
    for a in 1..m {
        let mut b = a;
        while b > 0 && regions[order[b - 1]].0 > regions[order[b]].0 {
            order.swap(b - 1, b);
            b -= 1;
        }
    }
    let mut out = Carved {
        muts: [None, None, None],
        gaps: [None, None, None, None],
    };
    let mut pos = 0usize;
    for (k, &i) in order[..m].iter().enumerate() {
        let (off, len) = regions[i];
        let end = off.checked_add(len).ok_or_else(bad_region)?;
        if off < pos || end - pos > D::bytes_len(rest) {
            return Err(bad_region());
        }
        let (gap, r) = D::split_bytes_mut(rest, off - pos);
        let (mine, r) = D::split_bytes_mut(r, len);
        out.gaps[k] = Some((pos, gap));
        out.muts[i] = Some(mine);
        rest = r;
        pos = end;
    }
    out.gaps[m] = Some((pos, rest));
    Ok(out)
}

impl<'a, D: ArenaMem> Carved<'a, D> {
    fn read(&self, off: usize, len: usize) -> Result<&'a D::Bytes> {
        for &(start, gap) in self.gaps.iter().flatten() {
            if off >= start && off + len <= start + D::bytes_len(gap) {
                return sub::<D>(gap, off - start, len);
            }
        }
        Err(Error::msg(
            ErrorKind::InvalidData,
            "exec",
            "a read region overlaps a written one",
        ))
    }
    fn take(&mut self, i: usize) -> Result<&'a mut D::Bytes> {
        self.muts[i].take().ok_or(Error::msg(
            ErrorKind::InvalidData,
            "exec",
            "region taken twice",
        ))
    }
}

/// Calls `$body` with `$E` bound to the Rust type of a float dtype.
macro_rules! with_float {
    ($dt:expr, $E:ident => $body:expr) => {
        match $dt {
            DType::F32 => {
                type $E = f32;
                $body
            }
            #[cfg(feature = "dtype-f64")]
            DType::F64 => {
                type $E = f64;
                $body
            }
            d => Err(super::plan::not_compiled_in(d)),
        }
    };
}

/// Returns the op-set error unless kernel `$k` is in `$S`'s set: a compile-time constant, so a
/// kernel outside the set is never instantiated.
macro_rules! require {
    ($S:ident, $k:expr) => {
        if !const { $S::Ops::OPS.has($k) } {
            return Err(left_out());
        }
    };
}

/// Calls `$body` with `$E` bound to the Rust type of any dtype.
macro_rules! with_elem {
    ($dt:expr, $E:ident => $body:expr) => {
        match $dt {
            DType::F32 => {
                type $E = f32;
                $body
            }
            #[cfg(feature = "dtype-f64")]
            DType::F64 => {
                type $E = f64;
                $body
            }
            DType::I32 => {
                type $E = i32;
                $body
            }
            #[cfg(feature = "dtype-u8")]
            DType::U8 => {
                type $E = u8;
                $body
            }
            DType::I64 => {
                type $E = i64;
                $body
            }
            #[allow(unreachable_patterns)]
            d => Err(super::plan::not_compiled_in(d)),
        }
    };
}

/// A planned graph bound to a device and an arena. Build it with [`Exec::new`] over a
/// caller's buffer (firmware: a `static mut [u8; N]` of the plan's size; a GPU: one device
/// allocation of the plan's size), or with `GraphBase::session` under `alloc`.
///
/// On host devices, [`input_mut`](Self::input_mut) and [`read`](Self::read) give slices and
/// views of the arena itself; on every device, [`write`](Self::write),
/// [`read_into`](Self::read_into) and (`alloc`) `fetch` copy values in and out.
pub struct Exec<'g, S, D: ArenaMem, A> {
    graph: &'g GraphBase<S>,
    dev: D,
    arena: A,
    start: usize,
    plan: GraphPlan,
}

impl<S, D: ArenaMem, A> core::fmt::Debug for Exec<'_, S, D, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exec")
            .field("device", &self.dev)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl<'g, S, D, A> Exec<'g, S, D, A>
where
    S: Nodes,
    D: ArenaMem + Map + Reduce + MatMul + Update,
    A: AsMut<D::Bytes> + AsRef<D::Bytes>,
{
    /// Binds `graph` (planned) to `dev` and `arena`, which must hold the plan's bytes after
    /// aligning its start to [`ARENA_ALIGN`]; a smaller arena is `buffer_too_small` and says
    /// how many bytes are needed. Constants are filled; parameters, gradients and optimizer
    /// state start at zero; the learning rate at 0 and the step count at 0.
    pub fn new(graph: &'g GraphBase<S>, dev: D, mut arena: A) -> Result<Self> {
        let plan = graph.plan.ok_or(Error::msg(
            ErrorKind::InvalidData,
            "exec",
            "plan the graph before running it",
        ))?;
        let buf = arena.as_mut();
        let start = (ARENA_ALIGN - D::bytes_addr(buf) % ARENA_ALIGN) % ARENA_ALIGN;
        let needed = plan.bytes.saturating_add(start);
        if D::bytes_len(buf) < needed {
            return Err(Error::buffer_too_small("arena", needed, D::bytes_len(buf)));
        }
        dev.zero_bytes(sub_mut::<D>(buf, start, plan.bytes)?)?;
        let mut ex = Exec {
            graph,
            dev,
            arena,
            start,
            plan,
        };
        for (i, n) in graph.nodes().iter().enumerate() {
            if let (true, Op::Const(fill)) = (n.plan.needed, n.op) {
                ex.fill_const(i, n, fill)?;
            }
        }
        Ok(ex)
    }

    /// The device this runs on.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The arena (all of it, alignment padding included).
    pub fn arena(&self) -> &A {
        &self.arena
    }

    fn bytes(&mut self) -> &mut D::Bytes {
        let (s, n) = (self.start, self.plan.bytes);
        let (_, r) = D::split_bytes_mut(self.arena.as_mut(), s);
        D::split_bytes_mut(r, n).0
    }

    fn bytes_ref(&self) -> &D::Bytes {
        let (s, n) = (self.start, self.plan.bytes);
        let (_, r) = D::split_bytes(self.arena.as_ref(), s);
        D::split_bytes(r, n).0
    }

    fn node(&self, id: NodeId) -> Result<&'g Node> {
        let n = self.graph.nodes().get(id as usize).ok_or(Error::msg(
            ErrorKind::InvalidData,
            "exec",
            "no such node",
        ))?;
        if !n.plan.needed {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "exec",
                "the node is not part of the plan",
            )
            .at_node(id));
        }
        Ok(n)
    }

    /// Byte range of the buffer that holds node `id`'s value.
    fn region(&self, id: NodeId) -> Result<(usize, usize)> {
        let b = self.node(id)?.base;
        let owner = &self.graph.nodes()[b as usize];
        Ok((
            owner.plan.offset,
            owner.shape().numel() * owner.dtype.size(),
        ))
    }

    /// Writes `count` elements computed by `value(k)` at byte `off`, a stack chunk at a time
    /// (start-up work, so one code path serves host and device memory).
    #[inline(never)]
    fn write_with<E: Elem>(
        &mut self,
        off: usize,
        count: usize,
        value: impl Fn(usize) -> E,
    ) -> Result<()> {
        const CHUNK: usize = 64;
        let es = E::DTYPE.size();
        let mut chunk = [E::ZERO; CHUNK];
        let mut k = 0;
        while k < count {
            let m = CHUNK.min(count - k);
            for (j, c) in chunk[..m].iter_mut().enumerate() {
                *c = value(k + j);
            }
            let dev = self.dev.clone();
            let dst = sub_mut::<D>(self.bytes(), off + k * es, m * es)?;
            dev.write_bytes(dst, bytemuck::cast_slice(&chunk[..m]))?;
            k += m;
        }
        Ok(())
    }

    fn fill_const(&mut self, i: usize, n: &Node, fill: Fill) -> Result<()> {
        let (off, _) = self.region(i as NodeId)?;
        let dims = *n.shape();
        let count = dims.numel();
        with_elem!(n.dtype, E => if !const { S::Ops::OPS.has(Kernel::Fill(E::DTYPE)) } {
            Err(left_out())
        } else { match fill {
            // The arena starts zeroed.
            Fill::Value(0.0) => Ok(()),
            Fill::Value(x) => self.write_with(off, count, |_| E::from_f64(x)),
            Fill::Iota { axis } => {
                let a = axis as usize;
                let inner: usize = dims.dims()[a + 1..].iter().product();
                let d = dims.dims()[a];
                self.write_with(off, count, |k| E::from_usize((k / inner.max(1)) % d.max(1)))
            }
        }})
    }

    fn check_dtype<E: Elem>(n: &Node, id: NodeId) -> Result<()> {
        if n.dtype != E::DTYPE {
            return Err(Error::msg(
                ErrorKind::DTypeMismatch,
                "exec",
                "wrong element type for this node",
            )
            .at_node(id));
        }
        Ok(())
    }

    /// The byte region of an input or parameter the caller may write.
    fn input_region<E: Elem>(&self, id: NodeId) -> Result<(usize, usize)> {
        let n = self.node(id)?;
        if !matches!(n.op, Op::Input | Op::Param) {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "exec",
                "only inputs and parameters are written by the caller",
            )
            .at_node(id));
        }
        Self::check_dtype::<E>(n, id)?;
        self.region(id)
    }

    /// Copies `data` (all of the node's elements, row-major) into an input or parameter.
    pub fn write<E: Elem>(&mut self, id: NodeId, data: &[E]) -> Result<()> {
        let (off, len) = self.input_region::<E>(id)?;
        let src: &[u8] = bytemuck::cast_slice(data);
        if src.len() != len {
            return Err(Error::msg(
                ErrorKind::ShapeMismatch,
                "write",
                "the data must hold every element of the node",
            )
            .at_node(id));
        }
        let dev = self.dev.clone();
        dev.write_bytes(sub_mut::<D>(self.bytes(), off, len)?, src)
    }

    /// Copies node `id`'s value to `dst` (row-major), after queued work is done. The node must
    /// be laid out contiguously in its buffer (every computed node and input is); use
    /// `fetch` for views.
    pub fn read_into<E: Elem>(&self, id: NodeId, dst: &mut [E]) -> Result<()> {
        let n = self.node(id)?;
        Self::check_dtype::<E>(n, id)?;
        if !n.layout.is_contiguous() || n.layout.offset() != 0 {
            return Err(
                Error::msg(ErrorKind::InvalidData, "read", "a strided view: use fetch").at_node(id),
            );
        }
        let (off, _) = self.region(id)?;
        let len = n.shape().numel() * E::DTYPE.size();
        let out: &mut [u8] = bytemuck::cast_slice_mut(dst);
        if out.len() != len {
            return Err(Error::buffer_too_small("read", len, out.len()).at_node(id));
        }
        self.dev
            .read_bytes(sub::<D>(self.bytes_ref(), off, len)?, out)
    }

    /// Node `id`'s value as a host tensor (any node of the plan, views included).
    #[cfg(feature = "alloc")]
    pub fn fetch<E: Elem>(&self, id: NodeId) -> Result<crate::tensor::Tensor<E>> {
        let n = self.node(id)?;
        Self::check_dtype::<E>(n, id)?;
        let (off, len) = self.region(id)?;
        let mut buf = alloc::vec![E::ZERO; len / E::DTYPE.size()];
        self.dev.read_bytes(
            sub::<D>(self.bytes_ref(), off, len)?,
            bytemuck::cast_slice_mut(&mut buf),
        )?;
        let view = TensorView::with_layout(&buf, n.layout)?;
        crate::tensor::Tensor::from_vec(view.iter().collect(), *n.shape())
    }

    /// ∂loss/∂`id` as a host tensor (after [`backward`](Self::backward)).
    #[cfg(feature = "alloc")]
    pub fn fetch_grad<E: Elem>(&self, id: NodeId) -> Result<crate::tensor::Tensor<E>> {
        self.fetch(self.grad_node(id)?)
    }

    fn grad_node(&self, id: NodeId) -> Result<NodeId> {
        self.node(id)?.grad.ok_or(Error::msg(
            ErrorKind::InvalidData,
            "grad",
            "no gradient reaches this node",
        ))
    }

    /// Runs the forward nodes of the plan.
    pub fn forward(&mut self) -> Result<()> {
        let end = self
            .graph
            .backward_start
            .unwrap_or(self.graph.nodes().len());
        self.run_range(0, end)
    }

    /// Runs the backward nodes (after [`forward`](Self::forward)).
    pub fn backward(&mut self) -> Result<()> {
        let Some(start) = self.graph.backward_start else {
            return Ok(());
        };
        if !self.plan.mode.backward() {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "backward",
                "the plan is inference-only",
            ));
        }
        self.run_range(start, self.graph.nodes().len())
    }

    /// Sets every gradient of a parameter or grad input to zero.
    pub fn zero_grad(&mut self) -> Result<()> {
        let dev = self.dev.clone();
        for n in self.graph.nodes() {
            if let (true, Some(g)) = (n.plan.needed, n.grad) {
                let (off, len) = self.region(g)?;
                dev.zero_bytes(sub_mut::<D>(self.bytes(), off, len)?)?;
            }
        }
        Ok(())
    }

    fn hyper_region(&self) -> Result<usize> {
        match self.plan.mode {
            Training::Sgd(_) | Training::Adam(_) => Ok(self.plan.hyper),
            _ => Err(Error::msg(
                ErrorKind::InvalidData,
                "optimizer",
                "the plan has no optimizer",
            )),
        }
    }

    /// Sets the learning rate (kept in device memory, read by every update).
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        let off = self.hyper_region()?;
        with_float!(self.plan.hyper_dtype, E => if const { S::Ops::OPS.has_update(E::DTYPE) } {
            self.write_with(off, 1, |_| E::from_f64(lr))
        } else {
            Err(left_out())
        })
    }

    /// The optimizer steps taken so far.
    pub fn step_count(&self) -> Result<u64> {
        let off = self.hyper_region()?;
        with_float!(self.plan.hyper_dtype, E => {
            if !const { S::Ops::OPS.has_update(E::DTYPE) } {
                return Err(left_out());
            }
            let mut h = [E::ZERO; 2];
            let b = sub::<D>(self.bytes_ref(), off, 2 * E::DTYPE.size())?;
            self.dev.read_bytes(b, bytemuck::cast_slice_mut(&mut h))?;
            Ok(h[1].to_f64() as u64)
        })
    }

    /// One optimizer step over every parameter: the step count is incremented on the device,
    /// then each parameter is updated in place from its gradient and state.
    pub fn step(&mut self) -> Result<()> {
        let hyper = self.hyper_region()?;
        let dt = self.plan.hyper_dtype;
        with_float!(dt, E => if const { S::Ops::OPS.has_update(E::DTYPE) } {
            self.step_typed::<E>(hyper)
        } else {
            Err(left_out())
        })
    }

    /// Forward, backward and an optimizer step.
    pub fn train_step(&mut self) -> Result<()> {
        self.forward()?;
        self.backward()?;
        self.step()
    }

    fn step_typed<E: Float>(&mut self, hyper: usize) -> Result<()> {
        let es = E::DTYPE.size();
        let dev = self.dev.clone();
        let scratch = self.plan.scratch;
        let one = Layout::contiguous(crate::shape::Shape::new(&[1])?);
        let at1 = Layout::new(*one.shape(), &[1], 1)?;
        // step += 1, through the scratch element (inputs and outputs never alias).
        {
            let mut c = carve::<D>(self.bytes(), &[(scratch, es)])?;
            let h = D::typed::<E>(c.read(hyper, 2 * es)?)?;
            let s = D::typed_mut::<E>(c.take(0)?)?;
            dev.unary(ScalarRhs(ops::Add, E::ONE), h, &at1, s, &one)?;
        }
        {
            let mut c = carve::<D>(self.bytes(), &[(hyper, 2 * es)])?;
            let s = D::typed::<E>(c.read(scratch, es)?)?;
            let h = D::typed_mut::<E>(c.take(0)?)?;
            dev.unary(ops::Identity, s, &one, h, &at1)?;
        }
        for (i, n) in self.graph.nodes().iter().enumerate() {
            let (Op::Param, true, Some(g)) = (n.op, n.plan.needed, n.grad) else {
                continue;
            };
            if n.dtype != E::DTYPE {
                return Err(Error::msg(
                    ErrorKind::DTypeMismatch,
                    "optimizer",
                    "all parameters must share one dtype",
                )
                .at_node(i as NodeId));
            }
            let len = n.shape().numel() * es;
            let (goff, glen) = self.region(g)?;
            let gnode = &self.graph.nodes()[g as usize];
            if !gnode.layout.is_contiguous() || gnode.layout.offset() != 0 {
                return Err(Error::msg(
                    ErrorKind::InvalidData,
                    "optimizer",
                    "strided gradient",
                ));
            }
            let st = |k: usize| {
                if n.plan.state[k] == usize::MAX {
                    (0, 0)
                } else {
                    (n.plan.state[k], len)
                }
            };
            let (s1, s2) = (st(0), st(1));
            let mode = self.plan.mode;
            let mut c = carve::<D>(self.bytes(), &[(n.plan.offset, len), s1, s2])?;
            let g = D::typed::<E>(c.read(goff, glen)?)?;
            let h = D::typed::<E>(c.read(hyper, 2 * es)?)?;
            let p = D::typed_mut::<E>(c.take(0)?)?;
            let a = D::typed_mut::<E>(c.take(1)?)?;
            let b = D::typed_mut::<E>(c.take(2)?)?;
            match mode {
                Training::Sgd(o) => dev.update(o, p, a, b, g, h)?,
                #[cfg(feature = "optim-adam")]
                Training::Adam(o) => dev.update(o, p, a, b, g, h)?,
                #[cfg(not(feature = "optim-adam"))]
                Training::Adam(_) => return Err(super::plan::adam_not_compiled_in()),
                _ => {}
            }
        }
        Ok(())
    }

    fn run_range(&mut self, from: usize, to: usize) -> Result<()> {
        for i in from..to {
            let n = &self.graph.nodes()[i];
            if !n.plan.needed
                || !n.owns_buffer()
                || matches!(n.op, Op::Input | Op::Param | Op::Const(_))
            {
                continue;
            }
            self.run_node(i as NodeId, n).map_err(|e| {
                if e.node().is_some() {
                    e
                } else {
                    e.at_node(i as NodeId)
                }
            })?;
        }
        Ok(())
    }

    fn run_node(&mut self, id: NodeId, n: &Node) -> Result<()> {
        let (off, len) = self.region(id)?;
        let yl = &n.layout;
        let dev = self.dev.clone();
        let graph = self.graph;
        let mut c = carve::<D>(self.bytes(), &[(off, len)])?;
        let out = c.take(0)?;
        let me = ExecRef { graph };
        match n.op {
            Op::Unary(op, x) => with_float!(n.dtype, E => {
                let (xm, xl) = me.input::<D, E>(&c, x)?;
                ops::unary_in::<S::Ops, D, E>(&dev, op, xm, xl, D::typed_mut::<E>(out)?, yl)
            }),
            Op::Binary(op, a, b) => with_float!(n.dtype, E => {
                let (am, al) = me.input::<D, E>(&c, a)?;
                let (bm, bl) = me.input::<D, E>(&c, b)?;
                ops::binary_in::<S::Ops, D, E>(&dev, op, am, al, bm, bl, D::typed_mut::<E>(out)?, yl)
            }),
            Op::Scalar { op, x, s, rhs } => with_float!(n.dtype, E => {
                let (xm, xl) = me.input::<D, E>(&c, x)?;
                let y = D::typed_mut::<E>(out)?;
                ops::binary_scalar_in::<S::Ops, D, E>(&dev, op, xm, xl, E::from_f64(s), rhs, y, yl)
            }),
            Op::Reduce { op, x, axes } => with_float!(n.dtype, E => {
                if !const { S::Ops::OPS.has_reduce(E::DTYPE) }
                    || !S::Ops::OPS.has(Kernel::Reduce(op, E::DTYPE))
                {
                    return Err(left_out());
                }
                let (xm, xl) = me.input::<D, E>(&c, x)?;
                let (list, k) = axes_of(axes);
                ops::reduce(&dev, op, xm, xl, Some(&list[..k]), D::typed_mut::<E>(out)?, yl)
            }),
            Op::Extreme {
                op,
                x,
                axes,
                indices,
            } => {
                let xd = graph.nodes()[x as usize].dtype;
                let (list, k) = axes_of(axes);
                with_elem!(xd, E => {
                    let (xm, xl) = me.input::<D, E>(&c, x)?;
                    if indices {
                        require!(S, Kernel::Extreme(E::DTYPE, true));
                        let o = D::typed_mut::<i64>(out)?;
                        ops::extremum(&dev, op, xm, xl, Some(&list[..k]), None, Some((o, yl)))
                    } else {
                        require!(S, Kernel::Extreme(E::DTYPE, false));
                        let o = D::typed_mut::<E>(out)?;
                        ops::extremum(&dev, op, xm, xl, Some(&list[..k]), Some((o, yl)), None)
                    }
                })
            }
            Op::MatMul(a, b) => with_float!(n.dtype, E => {
                require!(S, Kernel::MatMul(E::DTYPE));
                let (am, al) = me.input::<D, E>(&c, a)?;
                let (bm, bl) = me.input::<D, E>(&c, b)?;
                ops::matmul(&dev, am, al, bm, bl, D::typed_mut::<E>(out)?, yl)
            }),
            Op::Copy(x) => with_elem!(n.dtype, E => {
                require!(S, Kernel::Copy(E::DTYPE));
                let (xm, xl) = me.input::<D, E>(&c, x)?;
                ops::copy(&dev, xm, xl, D::typed_mut::<E>(out)?, yl)
            }),
            Op::Cast(x) => {
                let xd = graph.nodes()[x as usize].dtype;
                with_elem!(xd, A => with_elem!(n.dtype, B => {
                    require!(S, Kernel::Cast(A::DTYPE, B::DTYPE));
                    let (xm, xl) = me.input::<D, A>(&c, x)?;
                    ops::cast(&dev, xm, xl, D::typed_mut::<B>(out)?, yl)
                }))
            }
            Op::Input | Op::Param | Op::Const(_) | Op::View(..) => Ok(()),
        }
    }
}

/// Host devices: the arena's own memory, with no copies.
impl<'g, S, D, A> Exec<'g, S, D, A>
where
    S: Nodes,
    D: Host + Map + Reduce + MatMul + Update,
    A: AsMut<[u8]> + AsRef<[u8]>,
{
    /// The buffer of an input or parameter, to write data or initial values into.
    pub fn input_mut<E: Elem>(&mut self, id: NodeId) -> Result<&mut [E]> {
        let (off, len) = self.input_region::<E>(id)?;
        bytemuck::try_cast_slice_mut(&mut self.bytes()[off..off + len])
            .map_err(|_| Error::msg(ErrorKind::InvalidData, "exec", "misaligned arena region"))
    }

    /// Same as [`input_mut`](Self::input_mut), for parameters.
    pub fn param_mut<E: Elem>(&mut self, id: NodeId) -> Result<&mut [E]> {
        self.input_mut(id)
    }

    /// A view of node `id`'s current value (any node of the plan: outputs, parameters, ...).
    pub fn read<E: Elem>(&self, id: NodeId) -> Result<TensorView<'_, E>> {
        let n = self.node(id)?;
        Self::check_dtype::<E>(n, id)?;
        let (off, len) = self.region(id)?;
        let data = bytemuck::try_cast_slice(&self.bytes_ref()[off..off + len])
            .map_err(|_| Error::msg(ErrorKind::InvalidData, "exec", "misaligned arena region"))?;
        TensorView::with_layout(data, n.layout)
    }

    /// A view of ∂loss/∂`id` (a parameter or grad input) after [`backward`](Self::backward).
    pub fn grad<E: Elem>(&self, id: NodeId) -> Result<TensorView<'_, E>> {
        self.read(self.grad_node(id)?)
    }
}

/// Region lookups that only need the graph (so the arena can be borrowed mutably meanwhile).
struct ExecRef<'g, S> {
    graph: &'g GraphBase<S>,
}

impl<'g, S: Nodes> ExecRef<'g, S> {
    fn input<'c, D: ArenaMem, E: Elem>(
        &self,
        c: &Carved<'c, D>,
        x: NodeId,
    ) -> Result<(&'c D::Mem<E>, &'g Layout)> {
        let n = &self.graph.nodes()[x as usize];
        let owner = &self.graph.nodes()[n.base as usize];
        let len = owner.shape().numel() * owner.dtype.size();
        if owner.dtype != E::DTYPE {
            return Err(Error::msg(ErrorKind::DTypeMismatch, "exec", "operand dtype").at_node(x));
        }
        Ok((D::typed::<E>(c.read(owner.plan.offset, len)?)?, &n.layout))
    }
}

fn axes_of(axes: crate::shape::Axes) -> ([isize; MAX_RANK], usize) {
    let mut list = [0isize; MAX_RANK];
    let mut k = 0;
    for a in axes.iter() {
        list[k] = a as isize;
        k += 1;
    }
    (list, k)
}

// Keep unused-import lints quiet for op tags only used through generics.
const _: Option<(Sgd, Adam, BinaryOp)> = None;

/// An arena on the heap, over-allocated so its start can be aligned.
#[cfg(feature = "alloc")]
pub type AlignedArena = alloc::vec::Vec<u8>;

/// A graph session owning its arena (`alloc`): host memory on host devices, device memory on
/// a GPU.
#[cfg(feature = "alloc")]
pub type Session<'g, S, D> = Exec<'g, S, D, <D as crate::device::ArenaAlloc>::Arena>;

#[cfg(feature = "alloc")]
impl<S: Nodes> GraphBase<S> {
    /// Allocates the planned arena once, on `dev`, and binds it to `dev`.
    pub fn session<D: crate::device::ArenaAlloc + Map + Reduce + MatMul + Update>(
        &self,
        dev: D,
    ) -> Result<Session<'_, S, D>> {
        let plan = self.plan.ok_or(Error::msg(
            ErrorKind::InvalidData,
            "session",
            "plan the graph before running it",
        ))?;
        let arena = dev.alloc_arena(plan.bytes)?;
        Exec::new(self, dev, arena)
    }
}
