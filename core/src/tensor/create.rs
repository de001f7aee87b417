//! Creation: from host data and nested arrays, filled, ranges, identity, random.

use alloc::vec::Vec;

use super::{host_alloc, Tensor};
use crate::device::Device;
use crate::dtype::{Elem, Float};
use crate::error::{Error, ErrorKind, Result};
use crate::rand::Rng;
use crate::shape::{IntoShape, Shape};

fn shape_of(dims: &[usize]) -> Result<Shape> {
    Shape::new(dims)
}

impl<E: Elem, D: Device> Tensor<E, D> {
    /// A tensor of `shape` filled with `value` on `device`.
    pub fn full_on(shape: &[usize], value: E, device: &D) -> Result<Self> {
        let s = shape_of(shape)?;
        let mut v = host_alloc(s.numel())?;
        v.fill(value);
        Self::from_slice_on(&v, s, device)
    }
    /// Zeros on `device`.
    pub fn zeros_on(shape: &[usize], device: &D) -> Result<Self> {
        Self::full_on(shape, E::ZERO, device)
    }
    /// Ones on `device`.
    pub fn ones_on(shape: &[usize], device: &D) -> Result<Self> {
        Self::full_on(shape, E::ONE, device)
    }
    /// `start, start + step, ...` below `end` (above it for a negative step), like
    /// `torch.arange`; a zero step is `invalid_data`.
    pub fn arange_on(start: f64, end: f64, step: f64, device: &D) -> Result<Self> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::msg(
                ErrorKind::InvalidData,
                "arange",
                "step must be finite and nonzero",
            ));
        }
        let n = libm::ceil((end - start) / step).max(0.0);
        if n > (isize::MAX as f64) {
            return Err(Error::overflow("arange"));
        }
        let v: Vec<E> = (0..n as usize)
            .map(|i| E::from_f64(start + i as f64 * step))
            .collect();
        let len = v.len();
        Self::from_slice_on(&v, [len], device)
    }
    /// An `n × n` identity matrix.
    pub fn eye_on(n: usize, device: &D) -> Result<Self> {
        let s = shape_of(&[n, n])?;
        let mut v = host_alloc(s.numel())?;
        for i in 0..n {
            v[i * n + i] = E::ONE;
        }
        Self::from_slice_on(&v, s, device)
    }
    /// Zeros with this tensor's shape and device (`torch.zeros_like`).
    pub fn zeros_like(&self) -> Result<Self> {
        Self::zeros_on(self.dims(), self.device())
    }
    /// Ones with this tensor's shape and device.
    pub fn ones_like(&self) -> Result<Self> {
        Self::ones_on(self.dims(), self.device())
    }
    /// `value` everywhere, with this tensor's shape and device.
    pub fn full_like(&self, value: E) -> Result<Self> {
        Self::full_on(self.dims(), value, self.device())
    }
}

impl<E: Float, D: Device> Tensor<E, D> {
    /// `steps` evenly spaced values from `start` to `end` inclusive (`torch.linspace`).
    pub fn linspace_on(start: f64, end: f64, steps: usize, device: &D) -> Result<Self> {
        let step = if steps > 1 {
            (end - start) / (steps - 1) as f64
        } else {
            0.0
        };
        let mut v = host_alloc::<E>(steps)?;
        for (i, x) in v.iter_mut().enumerate() {
            // Fill from both ends so the last value is exactly `end`, as torch does.
            *x = E::from_f64(if i < steps / 2 {
                start + step * i as f64
            } else {
                end - step * (steps - 1 - i) as f64
            });
        }
        Self::from_slice_on(&v, [steps], device)
    }
    /// Uniform `[0, 1)` values from a seeded generator: the same on every device.
    pub fn rand_on(shape: &[usize], seed: u64, device: &D) -> Result<Self> {
        let s = shape_of(shape)?;
        let mut v = host_alloc(s.numel())?;
        Rng::seed(seed).fill_uniform(&mut v);
        Self::from_slice_on(&v, s, device)
    }
    /// Standard normal values from a seeded generator: the same on every device.
    pub fn randn_on(shape: &[usize], seed: u64, device: &D) -> Result<Self> {
        let s = shape_of(shape)?;
        let mut v = host_alloc(s.numel())?;
        Rng::seed(seed).fill_normal(&mut v);
        Self::from_slice_on(&v, s, device)
    }
}

/// Constructors on the device's default instance (`Reference`, `Cpu`, ...).
impl<E: Elem, D: Device + Default> Tensor<E, D> {
    /// A tensor of `shape` from a host vector.
    pub fn from_vec<T: IntoShape>(data: Vec<E>, shape: T) -> Result<Self> {
        Self::from_vec_on(data, shape, &D::default())
    }
    /// A tensor of `shape` from a host slice.
    pub fn from_slice<T: IntoShape>(data: &[E], shape: T) -> Result<Self> {
        Self::from_slice_on(data, shape, &D::default())
    }
    /// A rank-0 tensor.
    pub fn scalar(value: E) -> Result<Self> {
        Self::from_slice(&[value], Shape::SCALAR)
    }
    /// `value` everywhere.
    pub fn full(shape: &[usize], value: E) -> Result<Self> {
        Self::full_on(shape, value, &D::default())
    }
    /// Zeros (`torch.zeros`).
    pub fn zeros(shape: &[usize]) -> Result<Self> {
        Self::zeros_on(shape, &D::default())
    }
    /// Ones (`torch.ones`).
    pub fn ones(shape: &[usize]) -> Result<Self> {
        Self::ones_on(shape, &D::default())
    }
    /// `0, 1, ..., end - 1` (`torch.arange(end)`).
    pub fn arange(end: usize) -> Result<Self> {
        Self::arange_on(0.0, end as f64, 1.0, &D::default())
    }
    /// `start, start + step, ...` below `end` (`torch.arange(start, end, step)`).
    pub fn arange_step(start: f64, end: f64, step: f64) -> Result<Self> {
        Self::arange_on(start, end, step, &D::default())
    }
    /// The identity matrix (`torch.eye`).
    pub fn eye(n: usize) -> Result<Self> {
        Self::eye_on(n, &D::default())
    }
}

impl<E: Float, D: Device + Default> Tensor<E, D> {
    /// Evenly spaced values (`torch.linspace`).
    pub fn linspace(start: f64, end: f64, steps: usize) -> Result<Self> {
        Self::linspace_on(start, end, steps, &D::default())
    }
    /// Seeded uniform values (`torch.rand` after `torch.manual_seed`).
    pub fn rand(shape: &[usize], seed: u64) -> Result<Self> {
        Self::rand_on(shape, seed, &D::default())
    }
    /// Seeded standard normal values (`torch.randn` after `torch.manual_seed`).
    pub fn randn(shape: &[usize], seed: u64) -> Result<Self> {
        Self::randn_on(shape, seed, &D::default())
    }
}

// Nested arrays: `Tensor::from([[5., 8.], [4., 6.]])`. `From` cannot fail, and these shapes
// are valid by construction (rank ≤ 4, sizes fixed by the type); only an allocation failure
// remains, which `From` must treat as fatal like `Vec` does.
fn from_flat<E: Elem, D: Device + Default>(flat: &[E], dims: &[usize]) -> Tensor<E, D> {
    match Tensor::from_slice(flat, Shape::new(dims).unwrap_or(Shape::SCALAR)) {
        Ok(t) => t,
        // ok: `From` cannot fail; shapes here are valid by type, so only allocation can (as Vec).
        Err(e) => panic!("tensor allocation failed: {e}"),
    }
}

impl<E: Elem, D: Device + Default, const A: usize> From<[E; A]> for Tensor<E, D> {
    fn from(v: [E; A]) -> Self {
        from_flat(&v, &[A])
    }
}
impl<E: Elem, D: Device + Default, const A: usize, const B: usize> From<[[E; B]; A]>
    for Tensor<E, D>
{
    fn from(v: [[E; B]; A]) -> Self {
        from_flat(v.as_flattened(), &[A, B])
    }
}
impl<E: Elem, D: Device + Default, const A: usize, const B: usize, const C: usize>
    From<[[[E; C]; B]; A]> for Tensor<E, D>
{
    fn from(v: [[[E; C]; B]; A]) -> Self {
        from_flat(v.as_flattened().as_flattened(), &[A, B, C])
    }
}
impl<E: Elem, D: Device + Default> From<Vec<E>> for Tensor<E, D> {
    fn from(v: Vec<E>) -> Self {
        let n = v.len();
        from_flat(&v, &[n])
    }
}
