//! Running a planned graph in an arena: forward, backward and optimizer steps, with no
//! allocation. The arena is split safely per kernel call: the regions a call writes are carved
//! out with `split_at_mut`, and every region it reads must lie in what remains (the plan
//! guarantees it; a violation is an error, never aliasing).

use super::plan::{GraphPlan, Training, ARENA_ALIGN};
use super::{Fill, GraphBase, Node, NodeId, NodeStore, Op};
use crate::device::{Host, Map, MatMul, Reduce, Update};
use crate::dtype::{DType, Elem, Float};
use crate::error::{Error, ErrorKind, Result};
use crate::layout::Layout;
use crate::ops::{self, Adam, BinaryOp, ScalarRhs, Sgd};
use crate::shape::MAX_RANK;
use crate::view::TensorView;

/// Up to three written regions and the read-only gaps between them.
struct Carved<'a> {
    muts: [Option<&'a mut [u8]>; 3],
    gaps: [(usize, &'a [u8]); 4],
    ngaps: usize,
}

fn carve<'a>(mut rest: &'a mut [u8], regions: &[(usize, usize)]) -> Result<Carved<'a>> {
    let bad = || Error::msg(ErrorKind::InvalidData, "exec", "plan regions overlap");
    let mut order = [0usize, 1, 2];
    let m = regions.len().min(3);
    order[..m].sort_unstable_by_key(|&i| regions[i].0);
    let mut out = Carved {
        muts: [None, None, None],
        gaps: [(0, &[][..]); 4],
        ngaps: 0,
    };
    let mut pos = 0usize;
    for &i in &order[..m] {
        let (off, len) = regions[i];
        let end = off.checked_add(len).ok_or_else(bad)?;
        if off < pos || end - pos > rest.len() {
            return Err(bad());
        }
        let (gap, r) = core::mem::take(&mut rest).split_at_mut(off - pos);
        let (mine, r) = r.split_at_mut(len);
        out.gaps[out.ngaps] = (pos, gap);
        out.ngaps += 1;
        out.muts[i] = Some(mine);
        rest = r;
        pos = off + len;
    }
    out.gaps[out.ngaps] = (pos, rest);
    out.ngaps += 1;
    Ok(out)
}

impl<'a> Carved<'a> {
    fn read(&self, off: usize, len: usize) -> Result<&'a [u8]> {
        for &(start, gap) in &self.gaps[..self.ngaps] {
            if off >= start && off + len <= start + gap.len() {
                return Ok(&gap[off - start..off - start + len]);
            }
        }
        Err(Error::msg(
            ErrorKind::InvalidData,
            "exec",
            "a read region overlaps a written one",
        ))
    }
    fn take(&mut self, i: usize) -> Result<&'a mut [u8]> {
        self.muts[i].take().ok_or(Error::msg(
            ErrorKind::InvalidData,
            "exec",
            "region taken twice",
        ))
    }
}

fn typed<E: Elem>(b: &[u8]) -> Result<&[E]> {
    bytemuck::try_cast_slice(b)
        .map_err(|_| Error::msg(ErrorKind::InvalidData, "exec", "misaligned arena region"))
}

fn typed_mut<E: Elem>(b: &mut [u8]) -> Result<&mut [E]> {
    bytemuck::try_cast_slice_mut(b)
        .map_err(|_| Error::msg(ErrorKind::InvalidData, "exec", "misaligned arena region"))
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
/// caller's buffer (firmware: a `static mut [u8; N]` of the plan's size), or with
/// `GraphBase::session` under `alloc`.
#[derive(Debug)]
pub struct Exec<'g, S, D, A> {
    graph: &'g GraphBase<S>,
    dev: D,
    arena: A,
    start: usize,
    plan: GraphPlan,
}

impl<'g, S, D, A> Exec<'g, S, D, A>
where
    S: NodeStore,
    D: Host + Map + Reduce + MatMul + Update,
    A: AsMut<[u8]> + AsRef<[u8]>,
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
        let start = buf.as_ptr().align_offset(ARENA_ALIGN);
        let needed = plan.bytes.saturating_add(start);
        if buf.len() < needed {
            return Err(Error::buffer_too_small("arena", needed, buf.len()));
        }
        buf[start..needed].fill(0);
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

    fn bytes(&mut self) -> &mut [u8] {
        let (s, n) = (self.start, self.plan.bytes);
        &mut self.arena.as_mut()[s..s + n]
    }

    fn bytes_ref(&self) -> &[u8] {
        &self.arena.as_ref()[self.start..self.start + self.plan.bytes]
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

    fn fill_const(&mut self, i: usize, n: &Node, fill: Fill) -> Result<()> {
        let (off, len) = self.region(i as NodeId)?;
        let dims = *n.shape();
        let bytes = &mut self.bytes()[off..off + len];
        with_elem!(n.dtype, E => {
            let v = typed_mut::<E>(bytes)?;
            match fill {
                Fill::Value(x) => v.fill(E::from_f64(x)),
                Fill::Iota { axis } => {
                    let a = axis as usize;
                    let inner: usize = dims.dims()[a + 1..].iter().product();
                    let d = dims.dims()[a];
                    for (k, e) in v.iter_mut().enumerate() {
                        *e = E::from_usize((k / inner.max(1)) % d.max(1));
                    }
                }
            }
            Ok(())
        })
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

    /// The buffer of an input or parameter, to write data or initial values into.
    pub fn input_mut<E: Elem>(&mut self, id: NodeId) -> Result<&mut [E]> {
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
        let (off, len) = self.region(id)?;
        typed_mut(&mut self.bytes()[off..off + len])
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
        TensorView::with_layout(typed(&self.bytes_ref()[off..off + len])?, n.layout)
    }

    /// A view of ∂loss/∂`id` (a parameter or grad input) after [`backward`](Self::backward).
    pub fn grad<E: Elem>(&self, id: NodeId) -> Result<TensorView<'_, E>> {
        let g = self.node(id)?.grad.ok_or(Error::msg(
            ErrorKind::InvalidData,
            "grad",
            "no gradient reaches this node",
        ))?;
        self.read(g)
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
        for n in self.graph.nodes() {
            if let (true, Some(g)) = (n.plan.needed, n.grad) {
                let (off, len) = self.region(g)?;
                self.bytes()[off..off + len].fill(0);
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
        let dt = self.plan.hyper_dtype;
        let b = &mut self.bytes()[off..off + 2 * dt.size()];
        with_float!(dt, E => {
            typed_mut::<E>(b)?[0] = E::from_f64(lr);
            Ok(())
        })
    }

    /// The optimizer steps taken so far.
    pub fn step_count(&self) -> Result<u64> {
        let off = self.hyper_region()?;
        let dt = self.plan.hyper_dtype;
        let b = &self.bytes_ref()[off..off + 2 * dt.size()];
        with_float!(dt, E => Ok(typed::<E>(b)?[1].to_f64() as u64))
    }

    /// One optimizer step over every parameter: the step count is incremented on the device,
    /// then each parameter is updated in place from its gradient and state.
    pub fn step(&mut self) -> Result<()> {
        let hyper = self.hyper_region()?;
        let dt = self.plan.hyper_dtype;
        with_float!(dt, E => self.step_typed::<E>(hyper))
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
            let mut c = carve(self.bytes(), &[(scratch, es)])?;
            let h = typed::<E>(c.read(hyper, 2 * es)?)?;
            let s = typed_mut::<E>(c.take(0)?)?;
            dev.unary(
                ScalarRhs(ops::Add, E::ONE),
                D::mem(h),
                &at1,
                D::mem_mut(s),
                &one,
            )?;
        }
        {
            let mut c = carve(self.bytes(), &[(hyper, 2 * es)])?;
            let s = typed::<E>(c.read(scratch, es)?)?;
            let h = typed_mut::<E>(c.take(0)?)?;
            dev.unary(ops::Identity, D::mem(s), &one, D::mem_mut(h), &at1)?;
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
            let mut c = carve(self.bytes(), &[(n.plan.offset, len), s1, s2])?;
            let gb = typed::<E>(c.read(goff, glen)?)?;
            let hb = typed::<E>(c.read(hyper, 2 * es)?)?;
            let p = typed_mut::<E>(c.take(0)?)?;
            let a = typed_mut::<E>(c.take(1)?)?;
            let b = typed_mut::<E>(c.take(2)?)?;
            let (g, h) = (D::mem(gb), D::mem(hb));
            match mode {
                Training::Sgd(o) => {
                    dev.update(o, D::mem_mut(p), D::mem_mut(a), D::mem_mut(b), g, h)?
                }
                Training::Adam(o) => {
                    dev.update(o, D::mem_mut(p), D::mem_mut(a), D::mem_mut(b), g, h)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn run_range(&mut self, from: usize, to: usize) -> Result<()> {
        for i in from..to {
            let n = self.graph.nodes()[i];
            if !n.plan.needed
                || !n.owns_buffer()
                || matches!(n.op, Op::Input | Op::Param | Op::Const(_))
            {
                continue;
            }
            self.run_node(i as NodeId, &n).map_err(|e| {
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
        let yl = n.layout;
        let dev = self.dev.clone();
        let graph = self.graph;
        let start = self.start;
        let pbytes = self.plan.bytes;
        let arena = &mut self.arena.as_mut()[start..start + pbytes];
        let mut c = carve(arena, &[(off, len)])?;
        let out = c.take(0)?;
        let me = ExecRef { graph };
        match n.op {
            Op::Unary(op, x) => with_float!(n.dtype, E => {
                let (xm, xl) = me.input::<E>(&c, x)?;
                ops::unary(&dev, op, D::mem(xm), &xl, D::mem_mut(typed_mut::<E>(out)?), &yl)
            }),
            Op::Binary(op, a, b) => with_float!(n.dtype, E => {
                let (am, al) = me.input::<E>(&c, a)?;
                let (bm, bl) = me.input::<E>(&c, b)?;
                ops::binary(&dev, op, D::mem(am), &al, D::mem(bm), &bl, D::mem_mut(typed_mut::<E>(out)?), &yl)
            }),
            Op::Scalar { op, x, s, rhs } => with_float!(n.dtype, E => {
                let (xm, xl) = me.input::<E>(&c, x)?;
                ops::binary_scalar(&dev, op, D::mem(xm), &xl, E::from_f64(s), rhs, D::mem_mut(typed_mut::<E>(out)?), &yl)
            }),
            Op::Reduce { op, x, axes } => with_float!(n.dtype, E => {
                let (xm, xl) = me.input::<E>(&c, x)?;
                let (list, k) = axes_of(axes);
                ops::reduce(&dev, op, D::mem(xm), &xl, Some(&list[..k]), D::mem_mut(typed_mut::<E>(out)?), &yl)
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
                    let (xm, xl) = me.input::<E>(&c, x)?;
                    if indices {
                        let o = typed_mut::<i64>(out)?;
                        ops::extremum(&dev, op, D::mem(xm), &xl, Some(&list[..k]), None, Some((D::mem_mut(o), &yl)))
                    } else {
                        let o = typed_mut::<E>(out)?;
                        ops::extremum(&dev, op, D::mem(xm), &xl, Some(&list[..k]), Some((D::mem_mut(o), &yl)), None)
                    }
                })
            }
            Op::MatMul(a, b) => with_float!(n.dtype, E => {
                let (am, al) = me.input::<E>(&c, a)?;
                let (bm, bl) = me.input::<E>(&c, b)?;
                ops::matmul(&dev, D::mem(am), &al, D::mem(bm), &bl, D::mem_mut(typed_mut::<E>(out)?), &yl)
            }),
            Op::Copy(x) => with_elem!(n.dtype, E => {
                let (xm, xl) = me.input::<E>(&c, x)?;
                ops::copy(&dev, D::mem(xm), &xl, D::mem_mut(typed_mut::<E>(out)?), &yl)
            }),
            Op::Cast(x) => {
                let xd = graph.nodes()[x as usize].dtype;
                with_elem!(xd, A => with_elem!(n.dtype, B => {
                    let (xm, xl) = me.input::<A>(&c, x)?;
                    ops::cast(&dev, D::mem(xm), &xl, D::mem_mut(typed_mut::<B>(out)?), &yl)
                }))
            }
            Op::Input | Op::Param | Op::Const(_) | Op::View(..) => Ok(()),
        }
    }
}

/// Region lookups that only need the graph (so the arena can be borrowed mutably meanwhile).
struct ExecRef<'g, S> {
    graph: &'g GraphBase<S>,
}

impl<S: NodeStore> ExecRef<'_, S> {
    fn input<'c, E: Elem>(&self, c: &Carved<'c>, x: NodeId) -> Result<(&'c [E], Layout)> {
        let n = &self.graph.nodes()[x as usize];
        let owner = &self.graph.nodes()[n.base as usize];
        let len = owner.shape().numel() * owner.dtype.size();
        if owner.dtype != E::DTYPE {
            return Err(Error::msg(ErrorKind::DTypeMismatch, "exec", "operand dtype").at_node(x));
        }
        Ok((typed::<E>(c.read(owner.plan.offset, len)?)?, n.layout))
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

/// A graph session owning its arena (`alloc`).
#[cfg(feature = "alloc")]
pub type Session<'g, S, D> = Exec<'g, S, D, AlignedArena>;

#[cfg(feature = "alloc")]
impl<S: NodeStore> GraphBase<S> {
    /// Allocates the planned arena once and binds it to `dev`.
    pub fn session<D: Host + Map + Reduce + MatMul + Update>(
        &self,
        dev: D,
    ) -> Result<Session<'_, S, D>> {
        let plan = self.plan.ok_or(Error::msg(
            ErrorKind::InvalidData,
            "session",
            "plan the graph before running it",
        ))?;
        let n = plan.bytes + ARENA_ALIGN - 1;
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(n)
            .map_err(|_| Error::buffer_too_small("arena", n, 0))?;
        v.resize(n, 0u8);
        Exec::new(self, dev, v)
    }
}
