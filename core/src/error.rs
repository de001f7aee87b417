//! One error type for the whole core. It stores its context inline (shapes, axes, byte
//! counts), so it needs no allocator, and it names no backend type: devices map their own
//! failures onto [`ErrorKind`] (the embedded-hal pattern).

use core::fmt;

use crate::shape::Shape;

/// What went wrong, independent of where. Match on this, not on messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// Operand shapes cannot be broadcast together, or do not match where they must.
    ShapeMismatch,
    /// An axis is out of range or repeated, or a permutation is not one.
    InvalidAxis,
    /// A reshape cannot produce the requested shape.
    InvalidReshape,
    /// matmul operands have rank 0 or different contraction sizes.
    MatmulMismatch,
    /// A reduction other than `sum` over zero elements.
    EmptyReduction,
    /// An operand has the wrong element type for the operation.
    DTypeMismatch,
    /// A size computation overflowed `usize`, or a rank exceeds [`MAX_RANK`](crate::MAX_RANK).
    Overflow,
    /// A caller-provided buffer is too small; the error says how many bytes are needed.
    BufferTooSmall,
    /// Input data is malformed (length does not match shape, bad bytes, bad parameter).
    InvalidData,
    /// The device failed or is unavailable (no GPU, out of memory, launch failure).
    Device,
}

impl ErrorKind {
    /// The snake_case name used by the conformance corpus (`shape_mismatch`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::ShapeMismatch => "shape_mismatch",
            ErrorKind::InvalidAxis => "invalid_axis",
            ErrorKind::InvalidReshape => "invalid_reshape",
            ErrorKind::MatmulMismatch => "matmul_mismatch",
            ErrorKind::EmptyReduction => "empty_reduction",
            ErrorKind::DTypeMismatch => "dtype_mismatch",
            ErrorKind::Overflow => "overflow",
            ErrorKind::BufferTooSmall => "buffer_too_small",
            ErrorKind::InvalidData => "invalid_data",
            ErrorKind::Device => "device",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The values that explain an error, kept inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Context {
    /// Nothing beyond the kind and the operation.
    None,
    /// One shape is involved.
    Shape(Shape),
    /// Two shapes are involved (operands, or operand and target).
    Shapes(Shape, Shape),
    /// An axis and the rank it was checked against.
    Axis {
        /// The axis as given by the caller.
        axis: isize,
        /// The rank of the tensor.
        rank: usize,
    },
    /// A buffer size problem.
    Bytes {
        /// Bytes (or elements, see the message) needed.
        needed: usize,
        /// Bytes (or elements) available.
        available: usize,
    },
    /// A free-form static message.
    Message(&'static str),
}

/// The core error: a kind, the operation that raised it, and context.
///
/// ```
/// use tensile_core::{broadcast_shapes, ErrorKind, Shape};
/// let e = broadcast_shapes(&Shape::new(&[2, 3]).unwrap(), &Shape::new(&[4]).unwrap()).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::ShapeMismatch);
/// assert_eq!(e.to_string(), "shape_mismatch in broadcast: shapes [2, 3] and [4] are not broadcastable");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    context: Context,
    node: Option<u16>,
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// A new error raised by `op`.
    pub const fn new(kind: ErrorKind, op: &'static str, context: Context) -> Self {
        Error {
            kind,
            op,
            context,
            node: None,
        }
    }
    /// The same error, attributed to graph node `id`.
    pub const fn at_node(mut self, id: u16) -> Self {
        self.node = Some(id);
        self
    }
    /// The graph node that raised the error, if it came from a graph.
    pub const fn node(&self) -> Option<u16> {
        self.node
    }
    /// The kind of the error.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The operation that raised the error (`"add"`, `"reshape"`, ...).
    pub const fn op(&self) -> &'static str {
        self.op
    }
    /// The inline context (shapes, axes, bytes).
    pub const fn context(&self) -> &Context {
        &self.context
    }
    pub(crate) const fn shapes(kind: ErrorKind, op: &'static str, a: Shape, b: Shape) -> Self {
        Error::new(kind, op, Context::Shapes(a, b))
    }
    pub(crate) const fn axis(op: &'static str, axis: isize, rank: usize) -> Self {
        Error::new(ErrorKind::InvalidAxis, op, Context::Axis { axis, rank })
    }
    pub(crate) const fn msg(kind: ErrorKind, op: &'static str, m: &'static str) -> Self {
        Error::new(kind, op, Context::Message(m))
    }
    /// A caller buffer holds `available` bytes but `needed` are required.
    pub const fn buffer_too_small(op: &'static str, needed: usize, available: usize) -> Self {
        Error::new(
            ErrorKind::BufferTooSmall,
            op,
            Context::Bytes { needed, available },
        )
    }
    /// A size computation overflowed.
    pub(crate) const fn overflow(op: &'static str) -> Self {
        Error::msg(ErrorKind::Overflow, op, "size overflows usize")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.kind, self.op)?;
        if let Some(n) = self.node {
            write!(f, " (node {n})")?;
        }
        match (&self.context, self.kind) {
            (Context::None, _) => Ok(()),
            (Context::Shape(s), _) => write!(f, ": shape {s}"),
            (Context::Shapes(a, b), ErrorKind::ShapeMismatch) => {
                write!(f, ": shapes {a} and {b} are not broadcastable")
            }
            (Context::Shapes(a, b), ErrorKind::MatmulMismatch) => {
                write!(f, ": cannot multiply {a} by {b}")
            }
            (Context::Shapes(a, b), ErrorKind::InvalidReshape) => {
                write!(f, ": cannot reshape {a} into {b}")
            }
            (Context::Shapes(a, b), _) => write!(f, ": shapes {a} and {b}"),
            (Context::Axis { axis, rank }, _) => {
                write!(f, ": axis {axis} is invalid for a tensor of rank {rank}")
            }
            (Context::Bytes { needed, available }, _) => {
                write!(f, ": {needed} bytes needed, {available} available")
            }
            (Context::Message(m), _) => write!(f, ": {m}"),
        }
    }
}

impl core::error::Error for Error {}
