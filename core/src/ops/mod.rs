//! Operations: the op table, the op-tag traits devices are generic over, and the checked entry
//! points that validate shapes and call a device. Everything here works on `(memory, layout)`
//! pairs of any device, so the owned `Tensor`, the views and the static graph
//! share one implementation.

mod elementwise;
mod matmul;
mod optim;
mod reduce;
mod table;

pub use elementwise::{binary, binary_scalar, cast, copy, unary};
pub(crate) use elementwise::{binary_in, binary_scalar_in, unary_in};
pub use matmul::{matmul, matmul_plan, MatmulPlan};
pub use optim::{Adam, Sgd, UpdateKind};
pub use reduce::{extremum, reduce, reduce_plan, ReducePlan};
pub use table::*;

use crate::dtype::Elem;

/// A scalar function from `A` to `B`: a unary op tag. Devices monomorphise their loops over it.
pub trait UnaryFn<A: Elem, B: Elem>: Copy + Send + Sync + 'static {
    /// Kernel name (devices that generate code key their caches on it).
    const NAME: &'static str;
    /// The function.
    fn apply(&self, x: A) -> B;
    /// What the function is, for devices that generate kernels instead of calling `apply`.
    fn kind(&self) -> MapKind;
}

/// A scalar function of two values of one type: a binary op tag.
pub trait BinaryFn<E: Elem>: Copy + Send + Sync + 'static {
    /// Kernel name.
    const NAME: &'static str;
    /// The runtime tag of the same op (for devices that generate kernels).
    const OP: BinaryOp;
    /// The function.
    fn apply(&self, a: E, b: E) -> E;
}

/// What a map kernel computes, as data: a GPU device turns it into kernel source and
/// arguments (its scalar travels as f64, exact for every float dtype's values).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MapKind {
    /// A unary op of the table.
    Unary(UnaryOp),
    /// A binary op of the table with one operand the scalar `s`: `op(x, s)` when `rhs`, else
    /// `op(s, x)`.
    Scalar {
        /// The op.
        op: BinaryOp,
        /// The scalar.
        s: f64,
        /// Whether the scalar is the right operand.
        rhs: bool,
    },
    /// The identity (a strided copy).
    Copy,
    /// A dtype conversion.
    Cast,
}

/// The identity (a strided copy).
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;
impl<E: Elem> UnaryFn<E, E> for Identity {
    const NAME: &'static str = "copy";
    #[inline(always)]
    fn apply(&self, x: E) -> E {
        x
    }
    fn kind(&self) -> MapKind {
        MapKind::Copy
    }
}

/// A dtype conversion: `as` semantics (floats round to nearest, float→int truncates).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cast;
impl<A: Elem, B: Elem> UnaryFn<A, B> for Cast {
    const NAME: &'static str = "cast";
    #[inline(always)]
    fn apply(&self, x: A) -> B {
        x.cast()
    }
    fn kind(&self) -> MapKind {
        MapKind::Cast
    }
}

/// A binary op with its right operand fixed to a scalar: `op(x, s)`.
#[derive(Clone, Copy, Debug)]
pub struct ScalarRhs<O, E>(pub O, pub E);
impl<E: Elem, O: BinaryFn<E>> UnaryFn<E, E> for ScalarRhs<O, E> {
    const NAME: &'static str = O::NAME;
    #[inline(always)]
    fn apply(&self, x: E) -> E {
        self.0.apply(x, self.1)
    }
    fn kind(&self) -> MapKind {
        MapKind::Scalar {
            op: O::OP,
            s: self.1.to_f64(),
            rhs: true,
        }
    }
}

/// A binary op with its left operand fixed to a scalar: `op(s, x)`.
#[derive(Clone, Copy, Debug)]
pub struct ScalarLhs<O, E>(pub O, pub E);
impl<E: Elem, O: BinaryFn<E>> UnaryFn<E, E> for ScalarLhs<O, E> {
    const NAME: &'static str = O::NAME;
    #[inline(always)]
    fn apply(&self, x: E) -> E {
        self.0.apply(self.1, x)
    }
    fn kind(&self) -> MapKind {
        MapKind::Scalar {
            op: O::OP,
            s: self.1.to_f64(),
            rhs: false,
        }
    }
}

/// Reductions that produce one float value per output element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReduceOp {
    /// Σx (0 over no elements).
    Sum,
    /// Σx / N.
    Mean,
    /// Σ(x − mean)² / (N − correction), two passes.
    Var {
        /// Bessel's correction (1 = unbiased, as `torch.var`'s default).
        correction: usize,
    },
    /// √var.
    Std {
        /// Bessel's correction.
        correction: usize,
    },
}

impl ReduceOp {
    /// The name (`"sum"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Mean => "mean",
            ReduceOp::Var { .. } => "var",
            ReduceOp::Std { .. } => "std",
        }
    }
}

/// Which extreme an [`extremum`] reduction finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Extremum {
    /// The largest value (first index on ties; NaN wins, as in PyTorch).
    Max,
    /// The smallest value (first index on ties; NaN wins).
    Min,
}

impl Extremum {
    /// Whether `cand` replaces `best` (strictly better, or NaN over a number).
    #[inline(always)]
    pub fn better<E: Elem>(self, cand: E, best: E) -> bool {
        // Branch-free, so scans compile to selects: a NaN beats any number and is never beaten.
        let wins = match self {
            Extremum::Max => cand > best,
            Extremum::Min => cand < best,
        };
        (wins | cand.is_nan()) & !best.is_nan()
    }
}
