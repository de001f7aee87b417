//! The set of kernels a graph's nodes run, as one `u128`. A frozen graph carries its set as a
//! type ([`OpKinds`]), and the executor checks each dispatch against it in a `const` block, so
//! every kernel outside the set folds away at compile time: firmware links only the kernels its
//! graph runs (what TensorFlow Lite Micro's op resolver does at run time, with registration
//! code; here it is a constant). Graphs built at run time use [`AllOps`].

use super::plan::Training;
use super::{GraphBase, Node, Nodes, Op};
use crate::dtype::DType;
use crate::error::{Error, ErrorKind};
use crate::ops::{BinaryOp, ReduceOp, UnaryOp};

/// A set of kernels: (op, dtype) pairs the executor may dispatch to.
///
/// ```
/// use tensile_core::graph::{Graph, OpSet, Training};
/// use tensile_core::{DType, UnaryOp};
///
/// let mut g = Graph::new();
/// let x = g.input("x", DType::F32, &[4]).unwrap();
/// let y = g.unary(UnaryOp::Exp, x).unwrap();
/// g.plan(&[y], Training::Inference).unwrap();
/// let ops = g.op_set(); // exp on f32, nothing else
/// assert!(OpSet::ALL.contains_all(ops) && !ops.contains_all(OpSet::ALL));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpSet(u128);

/// A set of kernels as a type, so that checks against it are compile-time constants.
pub trait OpKinds {
    /// The kernels.
    const OPS: OpSet;
}

/// Every kernel: graphs built at run time.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllOps;

impl OpKinds for AllOps {
    const OPS: OpSet = OpSet::ALL;
}

/// One kernel of the executor: an op with its dtypes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Unary(UnaryOp, DType),
    Binary(BinaryOp, DType),
    /// The op, whether the scalar is the right operand, the dtype.
    Scalar(BinaryOp, bool, DType),
    Reduce(ReduceOp, DType),
    /// The operand's dtype, whether indices are wanted.
    Extreme(DType, bool),
    MatMul(DType),
    Copy(DType),
    /// From, to.
    Cast(DType, DType),
    /// Filling a constant of this dtype.
    Fill(DType),
    /// Adam (else SGD), the parameters' dtype.
    Update(bool, DType),
}

const fn di(d: DType) -> u32 {
    match d {
        DType::F32 => 0,
        DType::F64 => 1,
        DType::I32 => 2,
        DType::U8 => 3,
        DType::I64 => 4,
    }
}

/// Float dtypes: 0 or 1 (the only dtypes these kernels exist for).
const fn fi(d: DType) -> u32 {
    if matches!(d, DType::F64) {
        1
    } else {
        0
    }
}

const UNARY: u32 = 0;
const BINARY: u32 = UNARY + 2 * UnaryOp::ALL.len() as u32;
const SCALAR: u32 = BINARY + 2 * BinaryOp::ALL.len() as u32;
const REDUCE: u32 = SCALAR + 4 * BinaryOp::ALL.len() as u32;
const EXTREME: u32 = REDUCE + 8;
const MATMUL: u32 = EXTREME + 10;
const COPY: u32 = MATMUL + 2;
const CAST: u32 = COPY + 5;
const FILL: u32 = CAST + 25;
const UPDATE: u32 = FILL + 5;
const END: u32 = UPDATE + 4;
// The table fits one u128; a test fails first if ops are added beyond it.
const _: () = assert!(END <= 128);

impl Kernel {
    const fn bit(self) -> u32 {
        match self {
            Kernel::Unary(op, d) => UNARY + 2 * op as u32 + fi(d),
            Kernel::Binary(op, d) => BINARY + 2 * op as u32 + fi(d),
            Kernel::Scalar(op, rhs, d) => SCALAR + 4 * op as u32 + 2 * rhs as u32 + fi(d),
            Kernel::Reduce(op, d) => {
                let k = match op {
                    ReduceOp::Sum => 0,
                    ReduceOp::Mean => 1,
                    ReduceOp::Var { .. } => 2,
                    ReduceOp::Std { .. } => 3,
                };
                REDUCE + 2 * k + fi(d)
            }
            Kernel::Extreme(d, indices) => EXTREME + 2 * di(d) + indices as u32,
            Kernel::MatMul(d) => MATMUL + fi(d),
            Kernel::Copy(d) => COPY + di(d),
            Kernel::Cast(a, b) => CAST + 5 * di(a) + di(b),
            Kernel::Fill(d) => FILL + di(d),
            Kernel::Update(adam, d) => UPDATE + 2 * adam as u32 + fi(d),
        }
    }
}

impl OpSet {
    /// Every kernel.
    pub const ALL: OpSet = OpSet(u128::MAX);
    /// No kernel.
    pub const NONE: OpSet = OpSet(0);

    /// The set from its bits (for generated code: see `GraphBase::to_rust_static`, feature `alloc`).
    pub const fn from_bits(bits: u128) -> OpSet {
        OpSet(bits)
    }

    /// The bits.
    pub const fn bits(self) -> u128 {
        self.0
    }

    /// Whether every kernel of `other` is in this set.
    pub const fn contains_all(self, other: OpSet) -> bool {
        other.0 & !self.0 == 0
    }

    /// The kernels of either set.
    pub const fn union(self, other: OpSet) -> OpSet {
        OpSet(self.0 | other.0)
    }

    /// Rust items for generated firmware source: `pub struct {name};` whose [`OpKinds`] are this
    /// set (see [`GraphBase::to_rust_static`]).
    #[cfg(feature = "alloc")]
    pub fn to_rust_kinds(self, name: &str) -> alloc::string::String {
        alloc::format!(
            "/// The kernels the frozen graphs run.\n\
             pub struct {name};\n\
             impl tensile_core::graph::OpKinds for {name} {{\n\
             \x20   const OPS: tensile_core::graph::OpSet = \
             tensile_core::graph::OpSet::from_bits({:#x});\n\
             }}\n",
            self.0
        )
    }

    pub(crate) const fn has(self, k: Kernel) -> bool {
        self.0 >> k.bit() & 1 != 0
    }

    /// Whether any reduction (sum, mean, var, std) of float dtype `d` is in the set.
    pub(crate) const fn has_reduce(self, d: DType) -> bool {
        self.0 >> (REDUCE + fi(d)) & 0x55 != 0
    }

    /// Whether any optimizer update of float dtype `d` is in the set.
    pub(crate) const fn has_update(self, d: DType) -> bool {
        self.0 >> (UPDATE + fi(d)) & 0x5 != 0
    }

    const fn with(self, k: Kernel) -> OpSet {
        OpSet(self.0 | 1 << k.bit())
    }

    /// The kernels that running `nodes` dispatches to (those the plan needs, or all nodes of
    /// an unplanned graph), and the update of `mode`.
    fn of(nodes: &[Node], mode: Option<(Training, DType)>) -> OpSet {
        let mut s = OpSet::NONE;
        for n in nodes {
            if !n.plan.needed && mode.is_some() {
                continue;
            }
            let d = n.dtype;
            let src = |x: super::NodeId| nodes.get(x as usize).map_or(d, |m| m.dtype);
            let k = match n.op {
                Op::Input | Op::Param | Op::View(..) => continue,
                Op::Const(_) => Kernel::Fill(d),
                Op::Unary(op, _) => Kernel::Unary(op, d),
                Op::Binary(op, _, _) => Kernel::Binary(op, d),
                Op::Scalar { op, rhs, .. } => Kernel::Scalar(op, rhs, d),
                Op::Reduce { op, .. } => Kernel::Reduce(op, d),
                Op::Extreme { x, indices, .. } => Kernel::Extreme(src(x), indices),
                Op::MatMul(..) => Kernel::MatMul(d),
                Op::Copy(_) => Kernel::Copy(d),
                Op::Cast(x) => Kernel::Cast(src(x), d),
            };
            s = s.with(k);
        }
        match mode {
            Some((Training::Sgd(_), d)) => s.with(Kernel::Update(false, d)),
            Some((Training::Adam(_), d)) => s.with(Kernel::Update(true, d)),
            _ => s,
        }
    }
}

impl<S: Nodes> GraphBase<S> {
    /// The kernels this graph runs: of the nodes its plan needs and its optimizer once
    /// planned, else of all its nodes.
    pub fn op_set(&self) -> OpSet {
        OpSet::of(self.nodes(), self.plan.map(|p| (p.mode, p.hyper_dtype)))
    }
}

/// The error for a node whose kernel the graph's [`OpKinds`] leave out.
pub(crate) fn left_out() -> Error {
    Error::msg(
        ErrorKind::InvalidData,
        "exec",
        "the node's kernel is not in the graph's op set (its `OpKinds`)",
    )
}
