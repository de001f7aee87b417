//! Frozen graphs: declared and planned once on the host, emitted as Rust source
//! ([`GraphBase::to_rust`]) and compiled into the firmware as a `static` in flash. The device
//! then runs the plan without node RAM, and links neither the builders, nor the gradient
//! rules, nor the planner, nor any kernel the graph does not run. `examples/firmware-m4/build.rs`
//! does this for its model.

use core::marker::PhantomData;

use super::opset::{AllOps, OpKinds};
use super::plan::{GraphPlan, NodePlan, PlanStats, Training};
use super::{GraphBase, Node, NodeId, Nodes, Op};
use crate::dtype::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::layout::Layout;

/// A frozen graph's nodes (a `&'static [Node]`, in flash on a microcontroller) with the kernels
/// they run as the type `K` (see [`OpKinds`]): the executor links no other kernel.
pub struct FrozenNodes<K = AllOps> {
    nodes: &'static [Node],
    kinds: PhantomData<K>,
}

impl<K> core::fmt::Debug for FrozenNodes<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrozenNodes")
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

impl<K: OpKinds> Nodes for FrozenNodes<K> {
    type Ops = K;
    fn node_slice(&self) -> &[Node] {
        self.nodes
    }
}

/// A planned graph whose nodes are in a `static` (see [`FrozenNodes`]), built by the code that
/// `GraphBase::to_rust_static` (feature `alloc`) emits.
pub type Frozen<K = AllOps> = GraphBase<FrozenNodes<K>>;

impl<K> GraphBase<FrozenNodes<K>> {
    /// A planned graph from the parts [`GraphBase::to_rust`] emits (for generated code).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn frozen(
        nodes: &'static [Node],
        backward_start: Option<usize>,
        mode: Training,
        bytes: usize,
        hyper: usize,
        scratch: usize,
        hyper_dtype: DType,
        stats: PlanStats,
    ) -> Self {
        GraphBase {
            store: FrozenNodes {
                nodes,
                kinds: PhantomData,
            },
            backward_start,
            in_backward: false,
            plan: Some(GraphPlan {
                mode,
                bytes,
                hyper,
                scratch,
                hyper_dtype,
                stats,
            }),
        }
    }
}

impl<S: Nodes> GraphBase<S> {
    /// This planned graph as a frozen graph restricted to the kernels of `K` (the executor then
    /// links and runs only those), borrowing its nodes. For host-side checks of a firmware's op
    /// set: a node outside `K` is an error when it runs.
    pub fn as_frozen<K: OpKinds>(&'static self) -> Result<Frozen<K>> {
        let plan = self.plan.ok_or(Error::msg(
            ErrorKind::InvalidData,
            "as_frozen",
            "plan the graph first",
        ))?;
        Ok(GraphBase {
            store: FrozenNodes {
                nodes: self.store.node_slice(),
                kinds: PhantomData,
            },
            backward_start: self.backward_start,
            in_backward: false,
            plan: Some(plan),
        })
    }
}

impl Node {
    /// A planned node from the parts [`GraphBase::to_rust`] emits (for generated code).
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn frozen(
        op: Op,
        dtype: DType,
        layout: Layout,
        base: NodeId,
        requires_grad: bool,
        name: &'static str,
        grad: Option<NodeId>,
        (needed, offset, size, state): (bool, usize, usize, [usize; 2]),
    ) -> Node {
        Node {
            op,
            dtype,
            layout,
            base,
            requires_grad,
            name,
            grad,
            plan: NodePlan {
                needed,
                offset,
                size,
                first: 0,
                last: 0,
                placed: needed,
                state,
            },
        }
    }
}

#[cfg(feature = "alloc")]
mod emit {
    use alloc::format;
    use alloc::string::String;
    use core::fmt::Write;

    use super::super::{Fill, NodeStore, ViewKind};
    use super::*;
    use crate::ops::ReduceOp;
    use crate::shape::{Axes, MAX_RANK};

    const CORE: &str = "tensile_core";

    fn f(x: f64) -> String {
        format!("f64::from_bits({:#018x})", x.to_bits())
    }

    fn axes(a: Axes) -> String {
        format!("{CORE}::Axes::from_mask({})", a.mask())
    }

    fn op(o: &Op) -> String {
        let g = format!("{CORE}::graph::Op");
        match *o {
            Op::Input => format!("{g}::Input"),
            Op::Param => format!("{g}::Param"),
            Op::Const(Fill::Value(v)) => format!("{g}::Const({CORE}::graph::Fill::Value({}))", f(v)),
            Op::Const(Fill::Iota { axis }) => {
                format!("{g}::Const({CORE}::graph::Fill::Iota {{ axis: {axis} }})")
            }
            Op::Unary(u, x) => format!("{g}::Unary({CORE}::UnaryOp::{u:?}, {x})"),
            Op::Binary(b, x, y) => format!("{g}::Binary({CORE}::BinaryOp::{b:?}, {x}, {y})"),
            Op::Scalar { op, x, s, rhs } => format!(
                "{g}::Scalar {{ op: {CORE}::BinaryOp::{op:?}, x: {x}, s: {}, rhs: {rhs} }}",
                f(s)
            ),
            Op::Reduce { op, x, axes: a } => {
                let r = match op {
                    ReduceOp::Sum => "Sum".into(),
                    ReduceOp::Mean => "Mean".into(),
                    ReduceOp::Var { correction } => format!("Var {{ correction: {correction} }}"),
                    ReduceOp::Std { correction } => format!("Std {{ correction: {correction} }}"),
                };
                format!("{g}::Reduce {{ op: {CORE}::ReduceOp::{r}, x: {x}, axes: {} }}", axes(a))
            }
            Op::Extreme {
                op,
                x,
                axes: a,
                indices,
            } => format!(
                "{g}::Extreme {{ op: {CORE}::Extremum::{op:?}, x: {x}, axes: {}, indices: {indices} }}",
                axes(a)
            ),
            Op::MatMul(a, b) => format!("{g}::MatMul({a}, {b})"),
            Op::View(k, x) => {
                let v = format!("{CORE}::graph::ViewKind");
                let k = match k {
                    ViewKind::Reshape => format!("{v}::Reshape"),
                    ViewKind::Broadcast => format!("{v}::Broadcast"),
                    ViewKind::Detach => format!("{v}::Detach"),
                    ViewKind::Permute(p) => format!("{v}::Permute({p:?})"),
                };
                format!("{g}::View({k}, {x})")
            }
            Op::Copy(x) => format!("{g}::Copy({x})"),
            Op::Cast(x) => format!("{g}::Cast({x})"),
        }
    }

    fn layout(l: &Layout) -> String {
        let mut dims = [0usize; MAX_RANK];
        let mut strides = [0usize; MAX_RANK];
        dims[..l.rank()].copy_from_slice(l.dims());
        strides[..l.rank()].copy_from_slice(l.strides());
        format!(
            "{CORE}::Layout::from_raw({dims:?}, {}, {strides:?}, {})",
            l.rank(),
            l.offset()
        )
    }

    fn training(t: &Training) -> String {
        match t {
            Training::Inference => format!("{CORE}::graph::Training::Inference"),
            Training::GradsOnly => format!("{CORE}::graph::Training::GradsOnly"),
            Training::Sgd(s) => format!(
                "{CORE}::graph::Training::Sgd({CORE}::ops::Sgd {{ momentum: {}, dampening: {}, \
                 weight_decay: {}, nesterov: {} }})",
                f(s.momentum),
                f(s.dampening),
                f(s.weight_decay),
                s.nesterov
            ),
            Training::Adam(a) => format!(
                "{CORE}::graph::Training::Adam({CORE}::ops::Adam {{ beta1: {}, beta2: {}, eps: {}, \
                 weight_decay: {} }})",
                f(a.beta1),
                f(a.beta2),
                f(a.eps),
                f(a.weight_decay)
            ),
        }
    }

    impl<S: NodeStore> GraphBase<S> {
        /// This planned graph as a Rust expression of type [`Frozen`], for a build script to
        /// write into firmware source: `static G: Frozen = <expression>;` (every kernel linked;
        /// [`to_rust_static`](Self::to_rust_static) links only those the graph runs). Only the nodes the
        /// plan runs matter to the executor, but all are kept so node ids stay the same.
        pub fn to_rust(&self) -> Result<String> {
            let p = self.plan.ok_or(Error::msg(
                ErrorKind::InvalidData,
                "to_rust",
                "plan the graph first",
            ))?;
            let mut s = format!("{CORE}::graph::GraphBase::frozen(&[\n");
            for n in self.nodes() {
                let grad = match n.grad {
                    Some(g) => format!("Some({g})"),
                    None => "None".into(),
                };
                // `usize::MAX` by name: the host's and the target's differ.
                let state = n.plan.state.map(|v| {
                    if v == usize::MAX {
                        String::from("usize::MAX")
                    } else {
                        format!("{v}")
                    }
                });
                let _ = writeln!(
                    s,
                    "    {CORE}::graph::Node::frozen({}, {CORE}::DType::{:?}, {}, {}, {}, {:?}, {grad}, \
                     ({}, {}, {}, [{}, {}])),",
                    op(&n.op),
                    n.dtype,
                    layout(&n.layout),
                    n.base,
                    n.requires_grad,
                    n.name,
                    n.plan.needed,
                    n.plan.offset,
                    n.plan.size,
                    state[0],
                    state[1],
                );
            }
            let st = p.stats;
            let _ = write!(
                s,
                "], {:?}, {}, {}, {}, {}, {CORE}::DType::{:?}, {CORE}::graph::PlanStats {{ bytes: {}, \
                 unplanned_bytes: {}, persistent_bytes: {}, buffers: {}, nodes_run: {} }})",
                self.backward_start,
                training(&p.mode),
                p.bytes,
                p.hyper,
                p.scratch,
                p.hyper_dtype,
                st.bytes,
                st.unplanned_bytes,
                st.persistent_bytes,
                st.buffers,
                st.nodes_run
            );
            Ok(s)
        }

        /// `pub static {name}: Frozen<{ops}> = ...;` holding this graph (see
        /// [`to_rust`](Self::to_rust)), where `ops` names a type whose
        /// [`OpKinds`] cover the graph's [`op_set`](Self::op_set) (written by
        /// [`OpSet::to_rust_kinds`](crate::graph::OpSet::to_rust_kinds)). The executor then links only
        /// those kernels. Graphs that share one such type share one executor in the firmware.
        pub fn to_rust_static(&self, name: &str, ops: &str) -> Result<String> {
            Ok(format!(
                "pub static {name}: {CORE}::graph::Frozen<{ops}> = {};\n",
                self.to_rust()?
            ))
        }
    }
}
