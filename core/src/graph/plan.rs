//! The memory plan: which nodes run, when each buffer is live, and where it sits in one arena.
//!
//! Execution order is node order (forward, then backward) followed by the optimizer. A buffer
//! is live from the node that writes it to the last node that reads it (through any view).
//! Inputs, parameters, constants, optimizer state and the requested results live throughout.
//! Persistent buffers are laid out first; the rest are placed largest first at the lowest
//! offset that overlaps no buffer whose lifetime overlaps theirs. Planning allocates nothing.

use super::{GraphBase, NodeStore, Op};
use crate::device::UpdateFn;
use crate::dtype::DType;
use crate::error::{Context, Error, ErrorKind, Result};
use crate::ops::{Adam, Sgd};

/// Every buffer starts at a multiple of this many bytes (a cache line; enough for SIMD loads).
pub const ARENA_ALIGN: usize = 64;

/// What a plan must support.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Training {
    /// Forward only (inference).
    Inference,
    /// Forward and backward: gradients, no optimizer.
    GradsOnly,
    /// Forward, backward and an SGD step.
    Sgd(Sgd),
    /// Forward, backward and an Adam step.
    Adam(Adam),
}

impl Training {
    pub(crate) fn state_buffers(&self) -> usize {
        match self {
            Training::Inference | Training::GradsOnly => 0,
            Training::Sgd(s) => usize::from(s.momentum != 0.0),
            Training::Adam(_) => <Adam as UpdateFn<f32>>::STATE,
        }
    }
    pub(crate) fn backward(&self) -> bool {
        !matches!(self, Training::Inference)
    }
}

/// What a plan costs, known before anything runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PlanStats {
    /// Arena bytes the plan needs when the arena starts at a multiple of [`ARENA_ALIGN`];
    /// an unaligned arena needs up to `ARENA_ALIGN - 1` more.
    pub bytes: usize,
    /// The sum of every buffer's size: what the graph would take without reuse.
    pub unplanned_bytes: usize,
    /// Bytes that live throughout (inputs, parameters, constants, optimizer state, results).
    pub persistent_bytes: usize,
    /// Buffers in the plan.
    pub buffers: usize,
    /// Nodes that run (forward, backward).
    pub nodes_run: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct NodePlan {
    pub needed: bool,
    pub offset: usize,
    pub size: usize,
    pub first: u32,
    pub last: u32,
    pub placed: bool,
    /// Optimizer state buffers of a parameter (offset, or usize::MAX for none).
    pub state: [usize; 2],
}

#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct GraphPlan {
    pub mode: Training,
    pub bytes: usize,
    /// `[lr, step]` in the parameters' dtype, and a one-element scratch for the step update.
    pub hyper: usize,
    pub scratch: usize,
    pub hyper_dtype: DType,
    pub stats: PlanStats,
}

/// Whether the graph executor was built with this dtype (f64 and u8 are optional features, so
/// firmware that runs f32 graphs does not carry their kernels).
pub(crate) fn compiled_in(d: DType) -> bool {
    match d {
        DType::F32 | DType::I32 | DType::I64 => true,
        DType::F64 => cfg!(feature = "dtype-f64"),
        DType::U8 => cfg!(feature = "dtype-u8"),
    }
}

/// The error for an Adam plan in an executor built without Adam.
#[cfg(not(feature = "optim-adam"))]
pub(crate) fn adam_not_compiled_in() -> Error {
    Error::msg(
        ErrorKind::InvalidData,
        "optimizer",
        "Adam steps need tensile-core's `optim-adam` feature",
    )
}

/// The error for a dtype the executor was built without.
pub(crate) fn not_compiled_in(d: DType) -> Error {
    Error::msg(
        ErrorKind::DTypeMismatch,
        "graph",
        match d {
            DType::F64 => "f64 graph nodes need tensile-core's `dtype-f64` feature",
            DType::U8 => "u8 graph nodes need tensile-core's `dtype-u8` feature",
            _ => "this dtype is not supported by the graph executor",
        },
    )
}

fn padded(bytes: usize) -> Result<usize> {
    bytes
        .checked_add(ARENA_ALIGN - 1)
        .map(|b| b / ARENA_ALIGN * ARENA_ALIGN)
        .ok_or(Error::overflow("plan"))
}

impl<S: NodeStore> GraphBase<S> {
    /// Plans memory for computing `outputs` (and, when training, every gradient and the
    /// optimizer step). Returns the exact arena size; the graph can no longer grow afterwards.
    pub fn plan(&mut self, outputs: &[crate::graph::NodeId], mode: Training) -> Result<PlanStats> {
        if mode.backward() && self.backward_start.is_none() {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "plan",
                "call backward(loss) before planning a training step",
            ));
        }
        #[cfg(not(feature = "optim-adam"))]
        if matches!(mode, Training::Adam(_)) {
            return Err(adam_not_compiled_in());
        }
        let end = self.nodes().len() as u32;
        let train = matches!(mode, Training::Sgd(_) | Training::Adam(_));
        let nodes = self.store.nodes_mut();
        for n in nodes.iter_mut() {
            n.plan = NodePlan {
                state: [usize::MAX; 2],
                ..NodePlan::default()
            };
        }
        // Roots: the outputs, and with backward the gradients of parameters and grad inputs.
        for &o in outputs {
            let n = nodes.get_mut(o as usize).ok_or(Error::msg(
                ErrorKind::InvalidData,
                "plan",
                "no such output node",
            ))?;
            n.plan.needed = true;
        }
        let mut hyper_dtype = None;
        if mode.backward() {
            for i in 0..nodes.len() {
                let n = nodes[i];
                let wants =
                    matches!(n.op, Op::Param) || (matches!(n.op, Op::Input) && n.requires_grad);
                if let (true, Some(g)) = (wants, n.grad) {
                    nodes[g as usize].plan.needed = true;
                    if matches!(n.op, Op::Param) {
                        nodes[i].plan.needed = true;
                        hyper_dtype.get_or_insert(n.dtype);
                    }
                }
            }
        }
        // Everything a needed node reads is needed; a view needs its buffer's owner.
        for i in (0..nodes.len()).rev() {
            if !nodes[i].plan.needed {
                continue;
            }
            let (ins, k) = nodes[i].op.inputs();
            for &x in &ins[..k] {
                nodes[x as usize].plan.needed = true;
            }
            let b = nodes[i].base as usize;
            nodes[b].plan.needed = true;
        }
        // Lifetimes (and a clear error for dtypes the executor was built without).
        for i in 0..nodes.len() {
            let n = nodes[i];
            if !n.plan.needed {
                continue;
            }
            if !compiled_in(n.dtype) {
                return Err(not_compiled_in(n.dtype).at_node(i as crate::graph::NodeId));
            }
            let persistent = matches!(n.op, Op::Input | Op::Param | Op::Const(_));
            if n.owns_buffer() {
                let bytes = n
                    .shape()
                    .numel()
                    .checked_mul(n.dtype.size())
                    .ok_or(Error::overflow("plan"))?;
                let p = &mut nodes[i].plan;
                p.size = padded(bytes)?;
                (p.first, p.last) = if persistent {
                    (0, end)
                } else {
                    (i as u32, i as u32)
                };
            }
            let (ins, k) = n.op.inputs();
            for &x in &ins[..k] {
                let b = nodes[x as usize].base as usize;
                nodes[b].plan.last = nodes[b].plan.last.max(i as u32);
            }
        }
        let extend_to_end = |id: usize, nodes: &mut [super::Node]| {
            let b = nodes[id].base as usize;
            nodes[b].plan.last = end;
        };
        for &o in outputs {
            extend_to_end(o as usize, nodes);
        }
        if mode.backward() {
            for i in 0..nodes.len() {
                if let (true, Some(g)) = (nodes[i].plan.needed, nodes[i].grad) {
                    if matches!(nodes[i].op, Op::Param | Op::Input) {
                        extend_to_end(g as usize, nodes);
                    }
                }
            }
        }
        // Persistent buffers first, one after another.
        let mut off = 0usize;
        let mut unplanned = 0usize;
        let mut persistent = 0usize;
        let mut buffers = 0usize;
        let mut run = 0usize;
        for n in nodes.iter_mut() {
            if !n.plan.needed {
                continue;
            }
            if n.owns_buffer() && !matches!(n.op, Op::Input | Op::Param | Op::Const(_)) {
                run += 1;
            }
            if n.owns_buffer() && n.plan.first == 0 && n.plan.last == end {
                n.plan.offset = off;
                n.plan.placed = true;
                off = off
                    .checked_add(n.plan.size)
                    .ok_or(Error::overflow("plan"))?;
                persistent += n.plan.size;
                buffers += 1;
            }
        }
        let states = if train { mode.state_buffers() } else { 0 };
        for n in nodes.iter_mut() {
            if matches!(n.op, Op::Param) && n.plan.needed && n.grad.is_some() {
                for s in 0..states {
                    n.plan.state[s] = off;
                    off = off
                        .checked_add(n.plan.size)
                        .ok_or(Error::overflow("plan"))?;
                    persistent += n.plan.size;
                    buffers += 1;
                }
            }
        }
        let hyper = off;
        let scratch = off + ARENA_ALIGN;
        if train {
            off += 2 * ARENA_ALIGN;
            persistent += 2 * ARENA_ALIGN;
        }
        unplanned += persistent;
        // The rest: largest first, lowest non-conflicting offset.
        let base = off;
        let mut top = off;
        loop {
            let mut pick: Option<usize> = None;
            for (i, n) in nodes.iter().enumerate() {
                let free = n.plan.needed && n.owns_buffer() && !n.plan.placed;
                if free && pick.is_none_or(|p| n.plan.size > nodes[p].plan.size) {
                    pick = Some(i);
                }
            }
            let Some(i) = pick else { break };
            let me = nodes[i].plan;
            let mut cand = base;
            'search: loop {
                for q in nodes.iter() {
                    let qp = q.plan;
                    if !qp.placed || qp.first > me.last || me.first > qp.last || qp.offset < base {
                        continue;
                    }
                    if cand < qp.offset + qp.size && qp.offset < cand + me.size.max(1) {
                        cand = qp.offset + qp.size;
                        continue 'search;
                    }
                }
                break;
            }
            let p = &mut nodes[i].plan;
            p.offset = cand;
            p.placed = true;
            top = top.max(cand.checked_add(me.size).ok_or(Error::overflow("plan"))?);
            unplanned += me.size;
            buffers += 1;
        }
        let stats = PlanStats {
            bytes: top,
            unplanned_bytes: unplanned,
            persistent_bytes: persistent,
            buffers,
            nodes_run: run,
        };
        self.plan = Some(GraphPlan {
            mode,
            bytes: top,
            hyper,
            scratch,
            hyper_dtype: hyper_dtype.unwrap_or(DType::F32),
            stats,
        });
        Ok(stats)
    }
}

impl<S: crate::graph::Nodes> GraphBase<S> {
    /// The statistics of the current plan.
    pub fn plan_stats(&self) -> Result<PlanStats> {
        self.plan.map(|p| p.stats).ok_or(Error::new(
            ErrorKind::InvalidData,
            "plan",
            Context::Message("the graph has no plan yet"),
        ))
    }
}
