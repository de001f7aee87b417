//! The static graph: declare once, derive backward at build time, plan memory once, then run
//! forward, backward and optimizer steps with no allocation.
//!
//! A graph is a list of [`Node`]s in topological order (a node's inputs always come before it).
//! Gradient rules (`grad.rs`) emit ordinary nodes, so backward is more of the same graph and one
//! liveness-based memory plan (`plan.rs`) covers forward, backward and optimizer state. Movement
//! ops are view nodes that own no memory. Node storage is pluggable: a `Vec` under `alloc`
//! (`Graph`) or a fixed-capacity `heapless::Vec` ([`StaticGraph`]) for firmware.
//!
//! ```
//! # #[cfg(feature = "alloc")]
//! # fn main() -> tensile_core::Result<()> {
//! use tensile_core::graph::{Graph, Training};
//! use tensile_core::{DType, Reference};
//! // y = x w, fitted to t by SGD: w should become [1, 2, 3].
//! let mut g = Graph::new();
//! let x = g.input("x", DType::F32, &[4, 3])?;
//! let w = g.param("w", DType::F32, &[3, 1])?;
//! let y = g.matmul(x, w)?;
//! let t = g.input("t", DType::F32, &[4, 1])?;
//! let loss = g.mse(y, t)?;
//! g.backward(loss)?; // gradient nodes, derived once
//! let stats = g.plan(&[loss], Training::Sgd(Default::default()))?;
//! assert!(stats.bytes < stats.unplanned_bytes);
//! let mut s = g.session(Reference)?; // the only allocation: the arena
//! s.input_mut::<f32>(x)?.copy_from_slice(&[1., 0., 0., 0., 1., 0., 0., 0., 1., 1., 1., 1.]);
//! s.input_mut::<f32>(t)?.copy_from_slice(&[1., 2., 3., 6.]);
//! s.set_lr(0.1)?;
//! for _ in 0..200 {
//!     s.train_step()?; // forward, backward, SGD: no allocation
//! }
//! assert!((s.read::<f32>(w)?.get(&[2, 0])? - 3.0).abs() < 1e-3);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "alloc"))]
//! # fn main() {}
//! ```

mod build;
mod exec;
mod frozen;
mod grad;
pub(crate) mod opset;
mod plan;

pub use exec::Exec;
#[cfg(feature = "alloc")]
pub use exec::{AlignedArena, Session};
pub use frozen::{Frozen, FrozenNodes};
pub use opset::{AllOps, OpKinds, OpSet};
pub use plan::{PlanStats, Training, ARENA_ALIGN};

use crate::dtype::DType;
use crate::error::{Context, Error, ErrorKind, Result};
use crate::layout::Layout;
use crate::ops::{BinaryOp, Extremum, ReduceOp, UnaryOp};
use crate::shape::{Axes, Shape, MAX_RANK};

/// Index of a node in its graph.
pub type NodeId = u16;

/// How a constant node is filled when a session starts.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fill {
    /// Every element is this value.
    Value(f64),
    /// The element's index along `axis` (an `arange` laid along one dim).
    Iota {
        /// The axis that counts.
        axis: u8,
    },
}

/// How a view node relates to its input (what its gradient rule must undo).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ViewKind {
    /// Same elements in the same order, other shape (reshape, squeeze, unsqueeze).
    Reshape,
    /// Dims reordered: output dim `i` is input dim `perm[i]`.
    Permute([u8; MAX_RANK]),
    /// Broadcast with stride-0 dims.
    Broadcast,
    /// The same value with no gradient (`torch.Tensor.detach`).
    Detach,
}

/// What a node computes.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Op {
    /// Data written by the caller before each run.
    Input,
    /// A trainable parameter (persistent; updated by the optimizer).
    Param,
    /// A constant filled once when a session starts.
    Const(Fill),
    /// A unary op of the table.
    Unary(UnaryOp, NodeId),
    /// A binary op of the table, broadcast.
    Binary(BinaryOp, NodeId, NodeId),
    /// A binary op with a scalar: `op(x, s)` if `rhs`, else `op(s, x)`.
    Scalar {
        /// The op.
        op: BinaryOp,
        /// The tensor operand.
        x: NodeId,
        /// The scalar.
        s: f64,
        /// Whether the scalar is the right operand.
        rhs: bool,
    },
    /// Sum/mean/var/std over `axes`; the output has the kept shape (keepdim is a view).
    Reduce {
        /// The reduction.
        op: ReduceOp,
        /// The operand.
        x: NodeId,
        /// The reduced axes.
        axes: Axes,
    },
    /// Max/min values (or their i64 indices) over `axes`; kept shape.
    Extreme {
        /// Max or min.
        op: Extremum,
        /// The operand.
        x: NodeId,
        /// The reduced axes (one axis, or all of a 1-D operand).
        axes: Axes,
        /// Indices instead of values.
        indices: bool,
    },
    /// Batched matrix product of rank ≥ 2 operands (batch dims broadcast).
    MatMul(NodeId, NodeId),
    /// A view of `x`'s buffer; the node's layout says where its elements are.
    View(ViewKind, NodeId),
    /// A dense copy of `x`.
    Copy(NodeId),
    /// `x` converted to this node's dtype.
    Cast(NodeId),
}

impl Op {
    /// The node's inputs.
    pub fn inputs(&self) -> ([NodeId; 2], usize) {
        match *self {
            Op::Input | Op::Param | Op::Const(_) => ([0, 0], 0),
            Op::Binary(_, a, b) | Op::MatMul(a, b) => ([a, b], 2),
            Op::Unary(_, x)
            | Op::Scalar { x, .. }
            | Op::Reduce { x, .. }
            | Op::Extreme { x, .. }
            | Op::View(_, x)
            | Op::Copy(x)
            | Op::Cast(x) => ([x, 0], 1),
        }
    }
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Param => "param",
            Op::Const(_) => "const",
            Op::Unary(u, _) => u.name(),
            Op::Binary(b, _, _) | Op::Scalar { op: b, .. } => b.name(),
            Op::Reduce { op, .. } => op.name(),
            Op::Extreme {
                op: Extremum::Max,
                indices: false,
                ..
            } => "max_values",
            Op::Extreme {
                op: Extremum::Min,
                indices: false,
                ..
            } => "min_values",
            Op::Extreme {
                op: Extremum::Max, ..
            } => "argmax",
            Op::Extreme {
                op: Extremum::Min, ..
            } => "argmin",
            Op::MatMul(..) => "matmul",
            Op::View(..) => "view",
            Op::Copy(_) => "contiguous",
            Op::Cast(_) => "cast",
        }
    }
}

/// One node: its op, dtype, where its value lives, and its plan.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Node {
    /// What it computes.
    pub op: Op,
    /// Its element type.
    pub dtype: DType,
    /// Its layout within the buffer of `base` (contiguous for nodes that own a buffer).
    pub layout: Layout,
    /// The node whose buffer holds the value (itself unless it is a view).
    pub base: NodeId,
    /// Whether a gradient can flow into it (it depends on a parameter or a grad input).
    pub requires_grad: bool,
    /// For inputs and parameters: their name.
    pub name: &'static str,
    /// After [`GraphBase::backward`]: the node holding ∂loss/∂(this node).
    pub grad: Option<NodeId>,
    pub(crate) plan: plan::NodePlan,
}

impl Node {
    /// The shape.
    pub fn shape(&self) -> &Shape {
        self.layout.shape()
    }
    /// Whether the node owns a buffer (views and inputs of views do not need one).
    pub fn owns_buffer(&self) -> bool {
        !matches!(self.op, Op::View(..))
    }
}

/// Read access to a graph's nodes: every [`NodeStore`], and a frozen graph's `&'static [Node]`
/// (a graph declared and planned on the host, placed in flash; see [`GraphBase::frozen`]).
/// Running a planned graph needs only this.
pub trait Nodes {
    /// The kernels running these nodes may dispatch to: [`AllOps`] for graphs built at run
    /// time, a frozen graph's own set otherwise (the executor links no other kernel).
    type Ops: OpKinds;
    /// The nodes.
    fn node_slice(&self) -> &[Node];
}

impl<S: NodeStore> Nodes for S {
    type Ops = AllOps;
    fn node_slice(&self) -> &[Node] {
        self.nodes()
    }
}

/// Where nodes are kept: a `Vec` (`alloc`) or a fixed-capacity `heapless::Vec`.
pub trait NodeStore {
    /// Appends a node; fails when a fixed capacity is full.
    fn push_node(&mut self, n: Node) -> Result<()>;
    /// The nodes.
    fn nodes(&self) -> &[Node];
    /// The nodes, mutably.
    fn nodes_mut(&mut self) -> &mut [Node];
}

#[cfg(feature = "alloc")]
impl NodeStore for alloc::vec::Vec<Node> {
    fn push_node(&mut self, n: Node) -> Result<()> {
        self.try_reserve(1)
            .map_err(|_| Error::msg(ErrorKind::Device, "graph", "out of memory for graph nodes"))?;
        self.push(n);
        Ok(())
    }
    fn nodes(&self) -> &[Node] {
        self
    }
    fn nodes_mut(&mut self) -> &mut [Node] {
        self
    }
}

impl<const N: usize> NodeStore for heapless::Vec<Node, N> {
    fn push_node(&mut self, n: Node) -> Result<()> {
        self.push(n).map_err(|_| {
            Error::new(
                ErrorKind::BufferTooSmall,
                "graph",
                Context::Bytes {
                    needed: N + 1,
                    available: N,
                },
            )
        })
    }
    fn nodes(&self) -> &[Node] {
        self
    }
    fn nodes_mut(&mut self) -> &mut [Node] {
        self
    }
}

/// A graph over node storage `S`. Use `Graph` (heap, `alloc`) or [`StaticGraph`] (fixed capacity).
#[derive(Clone, Debug)]
pub struct GraphBase<S> {
    pub(crate) store: S,
    /// First node appended by `backward` (nodes from here on are the backward pass).
    pub(crate) backward_start: Option<usize>,
    /// Set while gradient rules add nodes: those need no gradient of their own.
    pub(crate) in_backward: bool,
    pub(crate) plan: Option<plan::GraphPlan>,
}

/// A graph with heap node storage.
#[cfg(feature = "alloc")]
pub type Graph = GraphBase<alloc::vec::Vec<Node>>;

/// A graph with room for `N` nodes and no allocator (firmware declares it in a `static`).
pub type StaticGraph<const N: usize> = GraphBase<heapless::Vec<Node, N>>;

#[cfg(feature = "alloc")]
impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        GraphBase::with_store(alloc::vec::Vec::new())
    }
}

#[cfg(feature = "alloc")]
impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

impl<const N: usize> StaticGraph<N> {
    /// An empty graph with room for `N` nodes (a `const fn`, so it can initialise a `static`).
    pub const fn new_static() -> Self {
        GraphBase {
            store: heapless::Vec::new(),
            backward_start: None,
            in_backward: false,
            plan: None,
        }
    }
}

impl<S: Nodes> GraphBase<S> {
    /// The nodes, in topological order.
    pub fn nodes(&self) -> &[Node] {
        self.store.node_slice()
    }

    /// Node `id`.
    pub fn node(&self, id: NodeId) -> Result<&Node> {
        self.store.node_slice().get(id as usize).ok_or(Error::msg(
            ErrorKind::InvalidData,
            "graph",
            "no such node",
        ))
    }

    /// The shape of node `id`.
    pub fn shape(&self, id: NodeId) -> Result<Shape> {
        Ok(*self.node(id)?.shape())
    }

    /// The node holding ∂loss/∂`id` after `backward`.
    pub fn grad(&self, id: NodeId) -> Option<NodeId> {
        self.node(id).ok().and_then(|n| n.grad)
    }
}

impl<S: NodeStore> GraphBase<S> {
    /// An empty graph over `store`.
    pub fn with_store(store: S) -> Self {
        GraphBase {
            store,
            backward_start: None,
            in_backward: false,
            plan: None,
        }
    }

    /// Appends a node whose value has `layout` in the buffer of `base` (or its own buffer).
    pub(crate) fn push(
        &mut self,
        op: Op,
        dtype: DType,
        layout: Layout,
        view_of: Option<NodeId>,
        name: &'static str,
    ) -> Result<NodeId> {
        let id = self.store.nodes().len();
        if id >= NodeId::MAX as usize {
            return Err(Error::msg(ErrorKind::Overflow, "graph", "too many nodes"));
        }
        if self.plan.is_some() {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "graph",
                "the graph is planned; declare every node before planning",
            ));
        }
        let (ins, n) = op.inputs();
        let requires_grad = !self.in_backward
            && match op {
                Op::Param => true,
                Op::Input | Op::Const(_) => false,
                Op::View(ViewKind::Detach, _) | Op::Extreme { indices: true, .. } => false,
                Op::Binary(BinaryOp::Eq, ..)
                | Op::Scalar {
                    op: BinaryOp::Eq, ..
                } => false,
                Op::Unary(UnaryOp::Step, _) => false,
                _ => ins[..n]
                    .iter()
                    .any(|&i| self.store.nodes()[i as usize].requires_grad),
            };
        let base = match view_of {
            Some(v) => self.store.nodes()[v as usize].base,
            None => id as NodeId,
        };
        self.store.push_node(Node {
            op,
            dtype,
            layout,
            base,
            requires_grad,
            name,
            grad: None,
            plan: plan::NodePlan::default(),
        })?;
        Ok(id as NodeId)
    }

    /// A node that owns a fresh contiguous buffer of `shape`.
    pub(crate) fn push_owned(&mut self, op: Op, dtype: DType, shape: Shape) -> Result<NodeId> {
        self.push(op, dtype, Layout::contiguous(shape), None, "")
    }

    fn leaf(&mut self, op: Op, name: &'static str, dtype: DType, dims: &[usize]) -> Result<NodeId> {
        let shape = Shape::new(dims)?;
        self.push(op, dtype, Layout::contiguous(shape), None, name)
    }

    /// Declares an input written by the caller before each run.
    pub fn input(&mut self, name: &'static str, dtype: DType, dims: &[usize]) -> Result<NodeId> {
        self.leaf(Op::Input, name, dtype, dims)
    }

    /// Declares an input whose gradient is wanted (like `requires_grad=True` on data): it is
    /// not updated by an optimizer.
    pub fn input_with_grad(
        &mut self,
        name: &'static str,
        dtype: DType,
        dims: &[usize],
    ) -> Result<NodeId> {
        let id = self.leaf(Op::Input, name, dtype, dims)?;
        self.float_dtype(id, "input")?;
        self.store.nodes_mut()[id as usize].requires_grad = true;
        Ok(id)
    }

    /// Declares a trainable parameter (float).
    pub fn param(&mut self, name: &'static str, dtype: DType, dims: &[usize]) -> Result<NodeId> {
        if !dtype.is_float() {
            return Err(Error::msg(
                ErrorKind::DTypeMismatch,
                "param",
                "parameters must be f32 or f64",
            ));
        }
        self.leaf(Op::Param, name, dtype, dims)
    }

    /// Declares a constant filled when a session starts.
    pub fn constant(&mut self, dtype: DType, dims: &[usize], fill: Fill) -> Result<NodeId> {
        self.leaf(Op::Const(fill), "", dtype, dims)
    }

    /// The dtype of `id`, which must be a float type.
    pub(crate) fn float_dtype(&self, id: NodeId, op: &'static str) -> Result<DType> {
        let d = self.node(id)?.dtype;
        if !d.is_float() {
            return Err(
                Error::msg(ErrorKind::DTypeMismatch, op, "operand must be f32 or f64").at_node(id),
            );
        }
        Ok(d)
    }

    /// A unary op of the table.
    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId> {
        let dt = self.float_dtype(x, op.name())?;
        let shape = self.shape(x)?;
        self.push_owned(Op::Unary(op, x), dt, shape)
    }

    /// A binary op of the table, with NumPy broadcasting.
    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId> {
        let (da, db) = (
            self.float_dtype(a, op.name())?,
            self.float_dtype(b, op.name())?,
        );
        let id = self.store.nodes().len() as NodeId;
        if da != db {
            return Err(Error::msg(
                ErrorKind::DTypeMismatch,
                op.name(),
                "operands have different dtypes",
            )
            .at_node(id));
        }
        let shape = crate::shape::broadcast_shapes_op(&self.shape(a)?, &self.shape(b)?, op.name())
            .map_err(|e| e.at_node(id))?;
        self.push_owned(Op::Binary(op, a, b), da, shape)
    }

    /// `op(x, s)` (`rhs`) or `op(s, x)`: a scalar literal takes `x`'s dtype.
    pub fn scalar(&mut self, op: BinaryOp, x: NodeId, s: f64, rhs: bool) -> Result<NodeId> {
        let dt = self.float_dtype(x, op.name())?;
        let shape = self.shape(x)?;
        self.push_owned(Op::Scalar { op, x, s, rhs }, dt, shape)
    }

    /// `a + b`
    pub fn add(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Add, a, b)
    }
    /// `a - b`
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Sub, a, b)
    }
    /// `a * b`
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Mul, a, b)
    }
    /// `a / b`
    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId> {
        self.binary(BinaryOp::Div, a, b)
    }
    /// `max(x, 0)`
    pub fn relu(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Relu, x)
    }
    /// `1 / (1 + e^-x)`
    pub fn sigmoid(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Sigmoid, x)
    }
    /// `tanh(x)`
    pub fn tanh(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(UnaryOp::Tanh, x)
    }
}
