//! Element types. [`Elem`] is every storable type (f32, f64, i32, u8, i64); [`Float`] adds
//! the math of the elementwise ops, implemented with `libm` so it is the same on every target.

use core::fmt;

/// The runtime tag of an element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 32-bit signed integer (data).
    I32,
    /// 8-bit unsigned integer (data, e.g. image bytes).
    U8,
    /// 64-bit signed integer (indices).
    I64,
}

impl DType {
    /// The short name (`"f32"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::U8 => "u8",
            DType::I64 => "i64",
        }
    }
    /// Parses a short name.
    pub fn from_name(s: &str) -> Option<DType> {
        Some(match s {
            "f32" => DType::F32,
            "f64" => DType::F64,
            "i32" => DType::I32,
            "u8" => DType::U8,
            "i64" => DType::I64,
            _ => return None,
        })
    }
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::U8 => 1,
        }
    }
    /// Whether the type is a float type.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A storable element: plain old data with a dtype tag and conversions.
///
/// Arithmetic here (`add`, `mul`, ...) wraps for integers, like PyTorch's integer tensors.
pub trait Elem:
    bytemuck::Pod + PartialOrd + fmt::Debug + fmt::Display + Default + Send + Sync + 'static
{
    /// The runtime tag.
    const DTYPE: DType;
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// The smallest value (`-inf` for floats).
    const MIN: Self;
    /// The largest value (`inf` for floats).
    const MAX: Self;
    /// Converts to f64 (exact for every type but i64 beyond 2^53).
    fn to_f64(self) -> f64;
    /// Converts from f64 like Rust's `as` (rounds to nearest for floats, truncates and saturates
    /// for integers).
    fn from_f64(v: f64) -> Self;
    /// Converts an index or count.
    fn from_usize(v: usize) -> Self;
    /// `v as Self`.
    fn from_f32(v: f32) -> Self;
    /// `v as Self`.
    fn from_i32(v: i32) -> Self;
    /// `v as Self`.
    fn from_i64(v: i64) -> Self;
    /// `v as Self`.
    fn from_u8(v: u8) -> Self;
    /// `self as B`, with Rust's `as` rules in one step (no detour through f64, so an i64 rounds
    /// once to f32 and narrowing integers wrap).
    fn cast<B: Elem>(self) -> B;
    /// Sum (wrapping for integers).
    fn add(self, o: Self) -> Self;
    /// Difference (wrapping for integers).
    fn sub(self, o: Self) -> Self;
    /// Product (wrapping for integers).
    fn mul(self, o: Self) -> Self;
    /// Quotient (for integers, division by zero gives 0 rather than a panic).
    fn div(self, o: Self) -> Self;
    /// Whether the value is NaN (always false for integers).
    fn is_nan(self) -> bool {
        false
    }
}

/// The `as` conversions from every storable type, and `cast` through `$from` (the target's
/// conversion from this type).
macro_rules! as_conversions {
    ($t:ty, $from:ident) => {
        fn from_f32(v: f32) -> Self {
            v as $t
        }
        fn from_i32(v: i32) -> Self {
            v as $t
        }
        fn from_i64(v: i64) -> Self {
            v as $t
        }
        fn from_u8(v: u8) -> Self {
            v as $t
        }
        fn cast<B: Elem>(self) -> B {
            B::$from(self)
        }
    };
}

macro_rules! int_elem {
    ($t:ty, $d:ident, $from:ident) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$d;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            as_conversions!($t, $from);
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            fn div(self, o: Self) -> Self {
                self.checked_div(o).unwrap_or(0)
            }
        }
    };
}
int_elem!(i32, I32, from_i32);
int_elem!(u8, U8, from_u8);
int_elem!(i64, I64, from_i64);

/// A float element: the math of the elementwise ops.
pub trait Float: Elem + core::ops::Neg<Output = Self> {
    /// e^x.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// IEEE `pow`.
    fn powf(self, e: Self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Larger of two values; NaN propagates (like `torch.maximum`).
    fn maximum(self, o: Self) -> Self {
        if self.is_nan() || o.is_nan() {
            self.add(o)
        } else if self >= o {
            self
        } else {
            o
        }
    }
    /// Smaller of two values; NaN propagates (like `torch.minimum`).
    fn minimum(self, o: Self) -> Self {
        if self.is_nan() || o.is_nan() {
            self.add(o)
        } else if self <= o {
            self
        } else {
            o
        }
    }
}

macro_rules! float_elem {
    ($t:ty, $d:ident, $from:ident, $exp:path, $ln:path, $sqrt:path, $tanh:path, $pow:path, $abs:path) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$d;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const MIN: Self = <$t>::NEG_INFINITY;
            const MAX: Self = <$t>::INFINITY;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            as_conversions!($t, $from);
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn sub(self, o: Self) -> Self {
                self - o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn div(self, o: Self) -> Self {
                self / o
            }
            fn is_nan(self) -> bool {
                self != self
            }
        }
        impl Float for $t {
            fn exp(self) -> Self {
                $exp(self)
            }
            fn ln(self) -> Self {
                $ln(self)
            }
            fn sqrt(self) -> Self {
                $sqrt(self)
            }
            fn tanh(self) -> Self {
                $tanh(self)
            }
            fn powf(self, e: Self) -> Self {
                $pow(self, e)
            }
            fn abs(self) -> Self {
                $abs(self)
            }
        }
    };
}
float_elem!(
    f32,
    F32,
    from_f32,
    libm::expf,
    libm::logf,
    libm::sqrtf,
    libm::tanhf,
    libm::powf,
    libm::fabsf
);
float_elem!(
    f64,
    F64,
    from_f64,
    libm::exp,
    libm::log,
    libm::sqrt,
    libm::tanh,
    libm::pow,
    libm::fabs
);
