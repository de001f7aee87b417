//! The op table: the single list of elementwise ops. Each line gives the op's type, its corpus
//! name and its scalar formula; the macro derives the op tags (zero-sized types that devices
//! monomorphise their loops over), the runtime enums, name lookup, and the dispatch from a
//! runtime tag to a device kernel. Adding an elementwise op is one line here (see
//! `docs/how-to-add-an-op.md`); `tests/tests/coverage.rs` fails if an op lacks a case.

use crate::device::Map;
use crate::dtype::Float;
use crate::error::Result;
use crate::graph::opset::{left_out, Kernel, OpKinds};
use crate::layout::Layout;
use crate::ops::{BinaryFn, MapKind, ScalarLhs, ScalarRhs, UnaryFn};

macro_rules! unary_table {
    ($($(#[$m:meta])* $T:ident $name:literal |$x:ident| $body:expr;)*) => {
        $(
            $(#[$m])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct $T;
            impl<E: Float> UnaryFn<E, E> for $T {
                const NAME: &'static str = $name;
                #[inline(always)]
                fn apply(&self, $x: E) -> E {
                    $body
                }
                fn kind(&self) -> MapKind {
                    MapKind::Unary(UnaryOp::$T)
                }
            }
        )*
        /// Runtime tag of a unary float op from the table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum UnaryOp {
            $($(#[$m])* $T,)*
        }
        impl UnaryOp {
            /// Every unary op, in table order.
            pub const ALL: &'static [UnaryOp] = &[$(UnaryOp::$T,)*];
            /// The op's name (as in the corpus).
            pub const fn name(self) -> &'static str {
                match self { $(UnaryOp::$T => $name,)* }
            }
            /// Looks an op up by name.
            pub fn from_name(s: &str) -> Option<UnaryOp> {
                match s { $($name => Some(UnaryOp::$T),)* _ => None }
            }
            /// Applies the op to one value (the scalar definition every kernel must match).
            pub fn apply<E: Float>(self, x: E) -> E {
                match self { $(UnaryOp::$T => UnaryFn::<E, E>::apply(&$T, x),)* }
            }
        }
        /// Runs `op` on device `dev`: the tag is matched once, then the kernel is monomorphic.
        /// Kernels outside `K`'s set are not instantiated.
        pub(crate) fn dispatch_unary<K: OpKinds, D: Map, E: Float>(
            dev: &D, op: UnaryOp, x: &D::Mem<E>, xl: &Layout, y: &mut D::Mem<E>, yl: &Layout,
        ) -> Result<()> {
            match op { $(UnaryOp::$T => if const { K::OPS.has(Kernel::Unary(UnaryOp::$T, E::DTYPE)) } {
                dev.unary($T, x, xl, y, yl)
            } else {
                Err(left_out())
            },)* }
        }
    };
}

macro_rules! binary_table {
    ($($(#[$m:meta])* $T:ident $name:literal |$a:ident, $b:ident| $body:expr;)*) => {
        $(
            $(#[$m])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct $T;
            impl<E: Float> BinaryFn<E> for $T {
                const NAME: &'static str = $name;
                const OP: BinaryOp = BinaryOp::$T;
                #[inline(always)]
                fn apply(&self, $a: E, $b: E) -> E {
                    $body
                }
            }
        )*
        /// Runtime tag of a binary float op from the table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum BinaryOp {
            $($(#[$m])* $T,)*
        }
        impl BinaryOp {
            /// Every binary op, in table order.
            pub const ALL: &'static [BinaryOp] = &[$(BinaryOp::$T,)*];
            /// The op's name (as in the corpus).
            pub const fn name(self) -> &'static str {
                match self { $(BinaryOp::$T => $name,)* }
            }
            /// Looks an op up by name.
            pub fn from_name(s: &str) -> Option<BinaryOp> {
                match s { $($name => Some(BinaryOp::$T),)* _ => None }
            }
            /// Applies the op to one pair (the scalar definition every kernel must match).
            pub fn apply<E: Float>(self, a: E, b: E) -> E {
                match self { $(BinaryOp::$T => BinaryFn::<E>::apply(&$T, a, b),)* }
            }
        }
        /// Runs `op` on device `dev` over two broadcast operands.
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn dispatch_binary<K: OpKinds, D: Map, E: Float>(
            dev: &D, op: BinaryOp, a: &D::Mem<E>, al: &Layout, b: &D::Mem<E>, bl: &Layout,
            y: &mut D::Mem<E>, yl: &Layout,
        ) -> Result<()> {
            match op { $(BinaryOp::$T => if const { K::OPS.has(Kernel::Binary(BinaryOp::$T, E::DTYPE)) } {
                dev.binary($T, a, al, b, bl, y, yl)
            } else {
                Err(left_out())
            },)* }
        }
        /// Runs `op` with one operand a scalar (`scalar_rhs`: `op(x, s)`, else `op(s, x)`).
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn dispatch_binary_scalar<K: OpKinds, D: Map, E: Float>(
            dev: &D, op: BinaryOp, x: &D::Mem<E>, xl: &Layout, s: E, scalar_rhs: bool,
            y: &mut D::Mem<E>, yl: &Layout,
        ) -> Result<()> {
            match (op, scalar_rhs) {
                $((BinaryOp::$T, true) => if const { K::OPS.has(Kernel::Scalar(BinaryOp::$T, true, E::DTYPE)) } {
                    dev.unary(ScalarRhs($T, s), x, xl, y, yl)
                } else {
                    Err(left_out())
                },
                  (BinaryOp::$T, false) => if const { K::OPS.has(Kernel::Scalar(BinaryOp::$T, false, E::DTYPE)) } {
                    dev.unary(ScalarLhs($T, s), x, xl, y, yl)
                } else {
                    Err(left_out())
                },)*
            }
        }
    };
}

unary_table! {
    /// `-x`
    Neg "neg" |x| -x;
    /// `e^x`
    Exp "exp" |x| x.exp();
    /// natural log
    Log "log" |x| x.ln();
    /// square root
    Sqrt "sqrt" |x| x.sqrt();
    /// `|x|`
    Abs "abs" |x| x.abs();
    /// `max(x, 0)`
    Relu "relu" |x| if x > E::ZERO { x } else { E::ZERO };
    /// `1 / (1 + e^-x)`, written to stay finite for large `|x|`
    Sigmoid "sigmoid" |x| {
        if x >= E::ZERO {
            E::ONE.div(E::ONE.add((-x).exp()))
        } else {
            let e = x.exp();
            e.div(E::ONE.add(e))
        }
    };
    /// hyperbolic tangent
    Tanh "tanh" |x| x.tanh();
    /// Heaviside step, 0 at 0 (internal: the derivative of relu and abs)
    Step "step" |x| if x > E::ZERO { E::ONE } else { E::ZERO };
}

binary_table! {
    /// `a + b`
    Add "add" |a, b| a.add(b);
    /// `a - b`
    Sub "sub" |a, b| a.sub(b);
    /// `a * b`
    Mul "mul" |a, b| a.mul(b);
    /// `a / b`
    Div "div" |a, b| a.div(b);
    /// `a ^ b` (IEEE pow)
    Pow "pow" |a, b| a.powf(b);
    /// elementwise max (NaN propagates)
    Maximum "maximum" |a, b| a.maximum(b);
    /// elementwise min (NaN propagates)
    Minimum "minimum" |a, b| a.minimum(b);
    /// 1 where equal, else 0 (internal: one-hot labels, routing max/min gradients)
    Eq "eq" |a, b| if a == b { E::ONE } else { E::ZERO };
}
