//! The eager front (feature `std`): PyTorch ergonomics over the static-graph machinery.
//!
//! `Tensor::requires_grad()` makes a [`Var`]. Every op on a `Var` computes its value at once
//! (so it can be printed and inspected) and records a node in a thread-local tape, which is an
//! ordinary [`Graph`]. `backward()` derives the gradient nodes of that graph with the same
//! gradient table as a static graph, plans it, runs it on the result's device, adds each leaf's
//! gradient to its `.grad()` (gradients accumulate, as in PyTorch) and frees the tape.
//!
//! ```
//! # fn main() -> tensile_core::Result<()> {
//! use tensile_core::{Reference, Tensor};
//! let x = Tensor::<f32, Reference>::from([[5., 8.], [4., 6.]]).requires_grad();
//! let y = x.pow(3.0)?.sum_all()?;
//! y.backward()?;
//! let g = x.grad().expect("a gradient reached x");
//! assert_eq!(g.to_vec()?, vec![75.0, 192.0, 48.0, 108.0]); // 3x²
//! # Ok(())
//! # }
//! ```

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use crate::device::{ArenaAlloc, Device};
use crate::dtype::{DType, Float};
use crate::error::{Error, ErrorKind, Result};
use crate::graph::{Graph, NodeId, Training};
use crate::ops::{BinaryOp, Extremum, ReduceOp, UnaryOp};
use crate::tensor::Tensor;

/// The recorded graph of the current thread, and the data of its leaves.
struct Tape {
    graph: Graph,
    generation: u64,
    /// (node, host bytes of the value, gradient slot if the leaf requires grad)
    leaves: Vec<(NodeId, Vec<u8>, Option<Arc<Slot>>)>,
}

std::thread_local! {
    static TAPE: RefCell<Tape> = RefCell::new(Tape {
        graph: Graph::new(),
        generation: 0,
        leaves: Vec::new(),
    });
}

/// A leaf's accumulated gradient and its registration in the current tape.
#[derive(Debug, Default)]
struct Slot {
    grad: Mutex<Option<Vec<u8>>>,
    registered: Mutex<Option<(u64, NodeId)>>,
}

/// A tensor that records its history for reverse-mode autograd.
#[derive(Clone, Debug)]
pub struct Var<E: Float, D: Device + ArenaAlloc> {
    value: Tensor<E, D>,
    /// (tape generation, node) for recorded results.
    node: Option<(u64, NodeId)>,
    /// Set for leaves created by `requires_grad()`.
    slot: Option<Arc<Slot>>,
}

impl<E: Float, D: Device + ArenaAlloc> Tensor<E, D> {
    /// A leaf whose gradient will be computed (`torch.Tensor.requires_grad_()`).
    pub fn requires_grad(self) -> Var<E, D> {
        Var {
            value: self,
            node: None,
            slot: Some(Arc::new(Slot::default())),
        }
    }
}

impl<E: Float, D: Device + ArenaAlloc> From<Tensor<E, D>> for Var<E, D> {
    /// A constant: no gradient flows into it.
    fn from(value: Tensor<E, D>) -> Self {
        Var {
            value,
            node: None,
            slot: None,
        }
    }
}

fn freed() -> Error {
    Error::msg(
        ErrorKind::InvalidData,
        "backward",
        "this value's graph was freed by an earlier backward(); recompute it",
    )
}

/// `bytes` as `E`s, copied: the bytes of a `Vec<u8>` need not be aligned for `E` (an empty one
/// never is), so they cannot be cast in place.
fn elems<E: Float>(bytes: &[u8]) -> Vec<E> {
    let n = bytes.len() / core::mem::size_of::<E>();
    let mut v = Vec::new();
    v.resize(n, E::ZERO);
    bytemuck::cast_slice_mut::<E, u8>(&mut v)
        .copy_from_slice(&bytes[..n * core::mem::size_of::<E>()]);
    v
}

impl<E: Float, D: Device + ArenaAlloc> Var<E, D> {
    /// The current value.
    pub fn value(&self) -> &Tensor<E, D> {
        &self.value
    }
    /// The value without history (`torch.Tensor.detach`).
    pub fn detach(&self) -> Tensor<E, D> {
        self.value.clone()
    }
    /// The shape.
    pub fn dims(&self) -> &[usize] {
        self.value.dims()
    }
    /// Whether gradients flow into this value.
    pub fn requires_grad(&self) -> bool {
        self.slot.is_some() || self.node.is_some()
    }
    /// The accumulated gradient of a leaf (`None` before any backward reached it).
    pub fn grad(&self) -> Option<Tensor<E, D>> {
        let slot = self.slot.as_ref()?;
        let g = slot.grad.lock().ok()?;
        let vals: Vec<E> = elems(g.as_ref()?);
        Tensor::from_slice_on(&vals, *self.value.shape(), self.value.device()).ok()
    }
    /// Clears the accumulated gradient (`optimizer.zero_grad()`).
    pub fn zero_grad(&self) {
        if let Some(s) = &self.slot {
            if let Ok(mut g) = s.grad.lock() {
                *g = None;
            }
        }
    }

    /// This value's node in the current tape, registering it as a graph input if needed.
    fn node_in(&self, tape: &mut Tape) -> Result<NodeId> {
        if let Some((generation, id)) = self.node {
            return if generation == tape.generation {
                Ok(id)
            } else {
                Err(freed())
            };
        }
        if let Some(slot) = &self.slot {
            let mut reg = slot.registered.lock().map_err(|_| freed())?;
            if let Some((generation, id)) = *reg {
                if generation == tape.generation {
                    return Ok(id);
                }
            }
            let id = tape
                .graph
                .input_with_grad("leaf", E::DTYPE, self.value.dims())?;
            *reg = Some((tape.generation, id));
            let bytes = bytemuck::cast_slice::<E, u8>(&self.value.to_vec()?).to_vec();
            tape.leaves.push((id, bytes, Some(slot.clone())));
            return Ok(id);
        }
        let id = tape.graph.input("const", E::DTYPE, self.value.dims())?;
        let bytes = bytemuck::cast_slice::<E, u8>(&self.value.to_vec()?).to_vec();
        tape.leaves.push((id, bytes, None));
        Ok(id)
    }

    /// Computes `value` eagerly and, if any operand requires grad, records `build` in the tape.
    fn record(
        &self,
        other: Option<&Var<E, D>>,
        value: Tensor<E, D>,
        build: impl FnOnce(&mut Graph, NodeId, Option<NodeId>) -> Result<NodeId>,
    ) -> Result<Var<E, D>> {
        let track = self.requires_grad() || other.is_some_and(|o| o.requires_grad());
        if !track {
            return Ok(Var::from(value));
        }
        TAPE.with(|t| {
            let mut tape = t.borrow_mut();
            let a = self.node_in(&mut tape)?;
            let b = match other {
                Some(o) => Some(o.node_in(&mut tape)?),
                None => None,
            };
            let id = build(&mut tape.graph, a, b)?;
            Ok(Var {
                value,
                node: Some((tape.generation, id)),
                slot: None,
            })
        })
    }

    /// Computes the gradients of the sum of this value's elements with respect to every leaf
    /// that requires grad, adds them to the leaves' `.grad()`, and frees the recorded graph.
    pub fn backward(&self) -> Result<()> {
        let Some((generation, id)) = self.node else {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "backward",
                "this value does not require grad",
            ));
        };
        let tape = TAPE.with(|t| {
            let mut t = t.borrow_mut();
            if t.generation != generation {
                return Err(freed());
            }
            let next = Tape {
                graph: Graph::new(),
                generation: t.generation + 1,
                leaves: Vec::new(),
            };
            Ok(core::mem::replace(&mut *t, next))
        })?;
        let Tape {
            mut graph, leaves, ..
        } = tape;
        let loss = graph.sum(id, None, false)?;
        graph.backward(loss)?;
        graph.plan(&[loss], Training::GradsOnly)?;
        let mut s = graph.session(self.value.device().clone())?;
        for (node, bytes, _) in &leaves {
            // A leaf that only fed values the result does not read is not in the plan.
            if !graph.node(*node)?.plan.needed {
                continue;
            }
            // `bytes` need not be aligned for `E` (an empty `Vec` never is): copy them out.
            let mut v = alloc::vec![E::ZERO; bytes.len() / core::mem::size_of::<E>()];
            bytemuck::cast_slice_mut::<E, u8>(&mut v).copy_from_slice(bytes);
            s.write::<E>(*node, &v)?;
        }
        s.forward()?;
        s.backward()?;
        for (node, _, slot) in &leaves {
            let Some(slot) = slot else { continue };
            let g: Vec<E> = match s.fetch_grad::<E>(*node) {
                Ok(v) => v.to_vec()?,
                Err(_) => continue, // no path from this leaf to the result: its grad stays
            };
            let mut acc = slot.grad.lock().map_err(|_| freed())?;
            let sum: Vec<E> = match acc.as_deref().map(elems::<E>) {
                Some(prev) if prev.len() == g.len() => {
                    prev.iter().zip(&g).map(|(&a, &b)| a.add(b)).collect()
                }
                _ => g,
            };
            *acc = Some(bytemuck::cast_slice::<E, u8>(&sum).to_vec());
        }
        Ok(())
    }
}

macro_rules! var_unary {
    ($($name:ident => $op:ident),*) => {$(
        #[doc = concat!("`", stringify!($name), "(x)`, recorded for autograd.")]
        pub fn $name(&self) -> Result<Self> {
            self.unary(UnaryOp::$op)
        }
    )*};
}

macro_rules! var_binary {
    ($($name:ident => $op:ident),*) => {$(
        #[doc = concat!("`", stringify!($name), "` with a `Var` or a scalar, recorded for autograd.")]
        pub fn $name(&self, rhs: impl Into<VarOperand<E, D>>) -> Result<Self> {
            self.binary(BinaryOp::$op, rhs)
        }
    )*};
}

/// The right operand of a `Var` op: another `Var`, a tensor (a constant) or a scalar.
#[derive(Debug)]
pub enum VarOperand<E: Float, D: Device + ArenaAlloc> {
    /// A recorded value.
    Var(Var<E, D>),
    /// A scalar literal.
    Scalar(E),
}

impl<E: Float, D: Device + ArenaAlloc> From<&Var<E, D>> for VarOperand<E, D> {
    fn from(v: &Var<E, D>) -> Self {
        VarOperand::Var(v.clone())
    }
}
impl<E: Float, D: Device + ArenaAlloc> From<&Tensor<E, D>> for VarOperand<E, D> {
    fn from(t: &Tensor<E, D>) -> Self {
        VarOperand::Var(Var::from(t.clone()))
    }
}
impl<D: Device + ArenaAlloc> From<f32> for VarOperand<f32, D> {
    fn from(s: f32) -> Self {
        VarOperand::Scalar(s)
    }
}
impl<D: Device + ArenaAlloc> From<f64> for VarOperand<f64, D> {
    fn from(s: f64) -> Self {
        VarOperand::Scalar(s)
    }
}

impl<E: Float, D: Device + ArenaAlloc> Var<E, D> {
    /// A unary op of the table.
    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        let v = self.value.unary(op)?;
        self.record(None, v, |g, a, _| g.unary(op, a))
    }

    /// A binary op of the table with broadcasting; a scalar operand is weak (takes `E`).
    pub fn binary(&self, op: BinaryOp, rhs: impl Into<VarOperand<E, D>>) -> Result<Self> {
        match rhs.into() {
            VarOperand::Scalar(s) => self.scalar(op, s, true),
            VarOperand::Var(o) => {
                let v = self.value.binary(op, &o.value)?;
                self.record(Some(&o), v, |g, a, b| g.binary(op, a, b.unwrap_or(a)))
            }
        }
    }

    /// `op(self, s)` if `rhs`, else `op(s, self)`.
    pub fn scalar(&self, op: BinaryOp, s: E, rhs: bool) -> Result<Self> {
        let v = self.value.binary_scalar(op, s, rhs)?;
        self.record(None, v, |g, a, _| g.scalar(op, a, s.to_f64(), rhs))
    }

    var_unary!(neg => Neg, exp => Exp, log => Log, sqrt => Sqrt, abs => Abs, relu => Relu,
               sigmoid => Sigmoid, tanh => Tanh);
    var_binary!(add => Add, sub => Sub, mul => Mul, div => Div, pow => Pow,
                maximum => Maximum, minimum => Minimum);

    /// Sum/mean/var/std over `axes` (`None` = all).
    pub fn reduce(&self, op: ReduceOp, axes: Option<&[isize]>, keepdim: bool) -> Result<Self> {
        let v = self.value.reduce(op, axes, keepdim)?;
        self.record(None, v, |g, a, _| g.reduce(op, a, axes, keepdim))
    }
    /// Sum of all elements.
    pub fn sum_all(&self) -> Result<Self> {
        self.reduce(ReduceOp::Sum, None, false)
    }
    /// Sum over `axes`.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Self> {
        self.reduce(ReduceOp::Sum, Some(axes), keepdim)
    }
    /// Mean of all elements.
    pub fn mean_all(&self) -> Result<Self> {
        self.reduce(ReduceOp::Mean, None, false)
    }
    /// Mean over `axes`.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Self> {
        self.reduce(ReduceOp::Mean, Some(axes), keepdim)
    }
    /// Max/min values over `axis` (`None` = all).
    pub fn extreme_values(&self, op: Extremum, axis: Option<isize>, keepdim: bool) -> Result<Self> {
        let v = self.value.extreme_values(op, axis, keepdim)?;
        self.record(None, v, |g, a, _| g.extreme(op, a, axis, keepdim, false))
    }
    /// Matrix product (`numpy.matmul` rules).
    pub fn matmul(&self, rhs: &Var<E, D>) -> Result<Self> {
        let v = self.value.matmul(&rhs.value)?;
        self.record(Some(rhs), v, |g, a, b| g.matmul(a, b.unwrap_or(a)))
    }
    /// `torch.reshape`.
    pub fn reshape(&self, spec: &[isize]) -> Result<Self> {
        let v = self.value.reshape(spec)?;
        self.record(None, v, |g, a, _| g.reshape(a, spec))
    }
    /// `torch.permute`.
    pub fn permute(&self, dims: &[isize]) -> Result<Self> {
        let v = self.value.permute(dims)?;
        self.record(None, v, |g, a, _| g.permute(a, dims))
    }
    /// `torch.transpose`.
    pub fn transpose(&self, a0: isize, a1: isize) -> Result<Self> {
        let v = self.value.transpose(a0, a1)?;
        self.record(None, v, |g, a, _| g.transpose(a, a0, a1))
    }
    /// `torch.broadcast_to`.
    pub fn broadcast_to(&self, dims: &[usize]) -> Result<Self> {
        let v = self.value.broadcast_to(dims)?;
        self.record(None, v, |g, a, _| g.broadcast_to(a, dims))
    }
    /// `torch.unsqueeze`.
    pub fn unsqueeze(&self, axis: isize) -> Result<Self> {
        let v = self.value.unsqueeze(axis)?;
        self.record(None, v, |g, a, _| g.unsqueeze(a, axis))
    }
    /// `torch.squeeze` (all size-1 dims, or exactly `axes`).
    pub fn squeeze(&self, axes: Option<&[isize]>) -> Result<Self> {
        let v = match axes {
            None => self.value.squeeze()?,
            Some(a) => self.value.squeeze_axes(a)?,
        };
        self.record(None, v, |g, a, _| g.squeeze(a, axes))
    }
}

/// The eager front needs a float dtype tag for its tape; keep the import used on all targets.
const _: DType = DType::F32;
