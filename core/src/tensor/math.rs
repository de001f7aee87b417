//! Math on owned tensors: the table's elementwise ops (with tensor or scalar operands),
//! reductions, matmul, and `&a + &b`-style operators (which return `Result`, because a shape
//! mismatch is an error, never a panic).

use core::ops::{Add, Div, Mul, Neg, Sub};

use super::Tensor;
use crate::device::Device;
use crate::dtype::{Elem, Float};
use crate::error::Result;
use crate::layout::Layout;
use crate::ops::{self, BinaryOp, Extremum, ReduceOp, UnaryOp};
use crate::shape::{broadcast_shapes, Shape};
use crate::view::TensorBase;

/// The right operand of a binary op: a tensor or a scalar literal (weak: it takes the tensor's
/// dtype, as in PyTorch).
#[derive(Debug)]
pub enum Operand<'a, E: Elem, D: Device> {
    /// A tensor (broadcast against the left operand).
    Tensor(&'a Tensor<E, D>),
    /// A scalar.
    Scalar(E),
}

impl<'a, E: Elem, D: Device> From<&'a Tensor<E, D>> for Operand<'a, E, D> {
    fn from(t: &'a Tensor<E, D>) -> Self {
        Operand::Tensor(t)
    }
}

macro_rules! scalar_operand {
    ($($t:ty),*) => {$(
        impl<D: Device> From<$t> for Operand<'_, $t, D> {
            fn from(s: $t) -> Self {
                Operand::Scalar(s)
            }
        }
    )*};
}
scalar_operand!(f32, f64);

macro_rules! unary_methods {
    ($($(#[$m:meta])* $name:ident => $op:ident;)*) => {$(
        $(#[$m])*
        pub fn $name(&self) -> Result<Self> {
            self.unary(UnaryOp::$op)
        }
    )*};
}

macro_rules! binary_methods {
    ($($(#[$m:meta])* $name:ident => $op:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<'a>(&self, rhs: impl Into<Operand<'a, E, D>>) -> Result<Self>
        where
            E: 'a,
            D: 'a,
        {
            self.binary(BinaryOp::$op, rhs)
        }
    )*};
}

impl<E: Float, D: Device> Tensor<E, D> {
    /// Applies a unary op of the table.
    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        self.produce(*self.shape(), |y, yl| {
            ops::unary(self.device(), op, self.mem(), &self.layout, y, yl)
        })
    }

    /// Applies a binary op of the table, broadcasting a tensor operand.
    pub fn binary<'a>(&self, op: BinaryOp, rhs: impl Into<Operand<'a, E, D>>) -> Result<Self>
    where
        E: 'a,
        D: 'a,
    {
        match rhs.into() {
            Operand::Scalar(s) => self.binary_scalar(op, s, true),
            Operand::Tensor(t) => {
                let shape = broadcast_op(op, self.shape(), t.shape())?;
                self.produce(shape, |y, yl| {
                    ops::binary(
                        self.device(),
                        op,
                        self.mem(),
                        &self.layout,
                        t.mem(),
                        &t.layout,
                        y,
                        yl,
                    )
                })
            }
        }
    }

    /// `op(self, s)` if `scalar_rhs`, else `op(s, self)` (e.g. `2 ** x`).
    pub fn binary_scalar(&self, op: BinaryOp, s: E, scalar_rhs: bool) -> Result<Self> {
        self.produce(*self.shape(), |y, yl| {
            ops::binary_scalar(
                self.device(),
                op,
                self.mem(),
                &self.layout,
                s,
                scalar_rhs,
                y,
                yl,
            )
        })
    }

    unary_methods! {
        /// `-x`
        neg => Neg;
        /// `e^x`
        exp => Exp;
        /// Natural log.
        log => Log;
        /// Square root.
        sqrt => Sqrt;
        /// `|x|`
        abs => Abs;
        /// `max(x, 0)`
        relu => Relu;
        /// `1 / (1 + e^-x)`
        sigmoid => Sigmoid;
        /// Hyperbolic tangent.
        tanh => Tanh;
    }

    binary_methods! {
        /// `self + rhs`
        add => Add;
        /// `self - rhs`
        sub => Sub;
        /// `self * rhs`
        mul => Mul;
        /// `self / rhs`
        div => Div;
        /// `self ^ rhs`
        pow => Pow;
        /// Elementwise maximum.
        maximum => Maximum;
        /// Elementwise minimum.
        minimum => Minimum;
    }

    fn reduce_with(&self, op: ReduceOp, axes: Option<&[isize]>, keepdim: bool) -> Result<Self> {
        let plan = ops::reduce_plan(self.shape(), axes, keepdim, op == ReduceOp::Sum, op.name())?;
        let out = self.produce(plan.kept, |y, yl| {
            ops::reduce(self.device(), op, self.mem(), &self.layout, axes, y, yl)
        })?;
        Ok(out.relayout_contiguous(plan.out))
    }

    /// Sum of all elements (rank 0).
    pub fn sum_all(&self) -> Result<Self> {
        self.reduce_with(ReduceOp::Sum, None, false)
    }
    /// Sum over `axes` (`torch.sum(x, dim, keepdim)`).
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Self> {
        self.reduce_with(ReduceOp::Sum, Some(axes), keepdim)
    }
    /// Mean of all elements.
    pub fn mean_all(&self) -> Result<Self> {
        self.reduce_with(ReduceOp::Mean, None, false)
    }
    /// Mean over `axes`.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Self> {
        self.reduce_with(ReduceOp::Mean, Some(axes), keepdim)
    }
    /// Variance of all elements with Bessel's `correction` (1 = unbiased, torch's default).
    pub fn var_all(&self, correction: usize) -> Result<Self> {
        self.reduce_with(ReduceOp::Var { correction }, None, false)
    }
    /// Variance over `axes`.
    pub fn var(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Self> {
        self.reduce_with(ReduceOp::Var { correction }, Some(axes), keepdim)
    }
    /// Standard deviation of all elements.
    pub fn std_all(&self, correction: usize) -> Result<Self> {
        self.reduce_with(ReduceOp::Std { correction }, None, false)
    }
    /// Standard deviation over `axes`.
    pub fn std(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Self> {
        self.reduce_with(ReduceOp::Std { correction }, Some(axes), keepdim)
    }
    /// Generic reduction over `axes` (`None` = all).
    pub fn reduce(&self, op: ReduceOp, axes: Option<&[isize]>, keepdim: bool) -> Result<Self> {
        self.reduce_with(op, axes, keepdim)
    }

    /// Matrix product with `numpy.matmul` rules (1-D operands, broadcast batch dims).
    pub fn matmul(&self, rhs: &Self) -> Result<Self> {
        let plan = ops::matmul_plan(self.shape(), rhs.shape())?;
        self.produce(plan.out, |y, yl| {
            ops::matmul(
                self.device(),
                self.mem(),
                &self.layout,
                rhs.mem(),
                &rhs.layout,
                y,
                yl,
            )
        })
    }
}

fn broadcast_op(op: BinaryOp, a: &Shape, b: &Shape) -> Result<Shape> {
    broadcast_shapes(a, b).map_err(|e| crate::error::Error::new(e.kind(), op.name(), *e.context()))
}

/// Optional values and indices of an extremum reduction.
type Extremes<E, D> = (Option<Tensor<E, D>>, Option<Tensor<i64, D>>);

impl<E: Elem, D: Device> Tensor<E, D> {
    pub(crate) fn relayout_contiguous(self, shape: Shape) -> Self {
        TensorBase {
            data: self.data,
            layout: Layout::contiguous(shape),
        }
    }

    fn extreme(
        &self,
        op: Extremum,
        axis: Option<isize>,
        keepdim: bool,
        want_values: bool,
        want_indices: bool,
    ) -> Result<Extremes<E, D>> {
        let axes = axis.map(|a| [a]);
        let axes = axes.as_ref().map(|a| &a[..]);
        let name = if want_indices { "argmax" } else { "max" };
        let plan = ops::reduce_plan(self.shape(), axes, keepdim, false, name)?;
        let dev = self.device();
        let mut vbuf = if want_values {
            Some(dev.alloc_zeroed::<E>(plan.kept.numel())?)
        } else {
            None
        };
        let mut ibuf = if want_indices {
            Some(dev.alloc_zeroed::<i64>(plan.kept.numel())?)
        } else {
            None
        };
        let kl = Layout::contiguous(plan.kept);
        ops::extremum(
            dev,
            op,
            self.mem(),
            &self.layout,
            axes,
            vbuf.as_mut().map(|b| (D::buf_mem_mut(b), &kl)),
            ibuf.as_mut().map(|b| (D::buf_mem_mut(b), &kl)),
        )?;
        let ol = Layout::contiguous(plan.out);
        let v = vbuf
            .map(|b| Tensor::from_buf(b, ol, dev.clone()))
            .transpose()?;
        let i = ibuf
            .map(|b| Tensor::from_buf(b, ol, dev.clone()))
            .transpose()?;
        Ok((v, i))
    }

    fn only<T>(x: Option<T>) -> Result<T> {
        x.ok_or(crate::error::Error::msg(
            crate::error::ErrorKind::Device,
            "reduce",
            "missing output",
        ))
    }

    /// The largest element (rank 0).
    pub fn max_all(&self) -> Result<Self> {
        Self::only(self.extreme(Extremum::Max, None, false, true, false)?.0)
    }
    /// The smallest element (rank 0).
    pub fn min_all(&self) -> Result<Self> {
        Self::only(self.extreme(Extremum::Min, None, false, true, false)?.0)
    }
    /// Max values and their indices along `axis` (`torch.max(x, dim, keepdim)`).
    pub fn max(&self, axis: isize, keepdim: bool) -> Result<(Self, Tensor<i64, D>)> {
        let (v, i) = self.extreme(Extremum::Max, Some(axis), keepdim, true, true)?;
        Ok((Self::only(v)?, Self::only(i)?))
    }
    /// Min values and their indices along `axis`.
    pub fn min(&self, axis: isize, keepdim: bool) -> Result<(Self, Tensor<i64, D>)> {
        let (v, i) = self.extreme(Extremum::Min, Some(axis), keepdim, true, true)?;
        Ok((Self::only(v)?, Self::only(i)?))
    }
    /// Max or min values over `axis` (`None` = all), without indices.
    pub fn extreme_values(&self, op: Extremum, axis: Option<isize>, keepdim: bool) -> Result<Self> {
        Self::only(self.extreme(op, axis, keepdim, true, false)?.0)
    }
    /// Index of the max or min over `axis`; with `None`, into the row-major flattening.
    pub fn arg_extreme(
        &self,
        op: Extremum,
        axis: Option<isize>,
        keepdim: bool,
    ) -> Result<Tensor<i64, D>> {
        Self::only(self.extreme(op, axis, keepdim, false, true)?.1)
    }
    /// Index of the largest element along `axis` (`None` = flattened), like `torch.argmax`.
    pub fn argmax(&self, axis: Option<isize>, keepdim: bool) -> Result<Tensor<i64, D>> {
        self.arg_extreme(Extremum::Max, axis, keepdim)
    }
    /// Index of the smallest element along `axis` (`None` = flattened).
    pub fn argmin(&self, axis: Option<isize>, keepdim: bool) -> Result<Tensor<i64, D>> {
        self.arg_extreme(Extremum::Min, axis, keepdim)
    }
}

macro_rules! operators {
    ($($Trait:ident $method:ident $op:ident),*) => {$(
        impl<E: Float, D: Device> $Trait<&Tensor<E, D>> for &Tensor<E, D> {
            type Output = Result<Tensor<E, D>>;
            fn $method(self, rhs: &Tensor<E, D>) -> Self::Output {
                self.binary(BinaryOp::$op, rhs)
            }
        }
        impl<D: Device> $Trait<f32> for &Tensor<f32, D> {
            type Output = Result<Tensor<f32, D>>;
            fn $method(self, rhs: f32) -> Self::Output {
                self.binary_scalar(BinaryOp::$op, rhs, true)
            }
        }
        impl<D: Device> $Trait<f64> for &Tensor<f64, D> {
            type Output = Result<Tensor<f64, D>>;
            fn $method(self, rhs: f64) -> Self::Output {
                self.binary_scalar(BinaryOp::$op, rhs, true)
            }
        }
        impl<D: Device> $Trait<&Tensor<f32, D>> for f32 {
            type Output = Result<Tensor<f32, D>>;
            fn $method(self, rhs: &Tensor<f32, D>) -> Self::Output {
                rhs.binary_scalar(BinaryOp::$op, self, false)
            }
        }
        impl<D: Device> $Trait<&Tensor<f64, D>> for f64 {
            type Output = Result<Tensor<f64, D>>;
            fn $method(self, rhs: &Tensor<f64, D>) -> Self::Output {
                rhs.binary_scalar(BinaryOp::$op, self, false)
            }
        }
    )*};
}
operators!(Add add Add, Sub sub Sub, Mul mul Mul, Div div Div);

impl<E: Float, D: Device> Neg for &Tensor<E, D> {
    type Output = Result<Tensor<E, D>>;
    fn neg(self) -> Self::Output {
        self.unary(UnaryOp::Neg)
    }
}
