//! Tensors of the corpus: [`HostTensor`] (JSON data on the host, `FORMAT.md` §2), [`Value`] (a
//! device tensor of any dtype, since `Tensor` is generic over its element type), and the
//! comparison rule of §8.

use std::fmt;

use serde_json::Value as Json;
use tensile_core::{DType, Device, Elem, Result as CoreResult, Tensor};

/// Host data of one of the corpus dtypes.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// `f32`
    F32(Vec<f32>),
    /// `f64`
    F64(Vec<f64>),
    /// `i32`
    I32(Vec<i32>),
    /// `u8`
    U8(Vec<u8>),
    /// `i64`
    I64(Vec<i64>),
}

/// A tensor as the corpus writes it: dtype, shape and row-major data.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The shape (`[]` is rank 0).
    pub shape: Vec<usize>,
    /// The elements.
    pub data: HostData,
}

impl HostTensor {
    /// The dtype of the data.
    pub fn dtype(&self) -> DType {
        match self.data {
            HostData::F32(_) => DType::F32,
            HostData::F64(_) => DType::F64,
            HostData::I32(_) => DType::I32,
            HostData::U8(_) => DType::U8,
            HostData::I64(_) => DType::I64,
        }
    }

    /// Parses a tensor object `{"dtype", "shape", "data"}`, checking the data length.
    pub fn from_json(j: &Json) -> Result<HostTensor, String> {
        let field = |k: &str| j.get(k).ok_or_else(|| format!("tensor has no `{k}`"));
        let dt = field("dtype")?.as_str().ok_or("`dtype` is not a string")?;
        let dtype = DType::from_name(dt).ok_or_else(|| format!("unknown dtype `{dt}`"))?;
        let shape = field("shape")?
            .as_array()
            .ok_or("`shape` is not a list")?
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<Vec<usize>>>()
            .ok_or("`shape` holds a non-integer or negative dim")?;
        let raw = field("data")?.as_array().ok_or("`data` is not a list")?;
        let numel: usize = shape.iter().product();
        if raw.len() != numel {
            return Err(format!(
                "`data` has {} elements but shape {shape:?} holds {numel}",
                raw.len()
            ));
        }
        fn ints<T: TryFrom<i64>>(raw: &[Json], dt: &str) -> Result<Vec<T>, String> {
            raw.iter()
                .map(|v| v.as_i64().and_then(|i| T::try_from(i).ok()))
                .collect::<Option<Vec<T>>>()
                .ok_or_else(|| format!("`data` holds a value that is not a valid {dt}"))
        }
        let floats = || -> Result<Vec<f64>, String> {
            raw.iter()
                .map(Json::as_f64)
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| "`data` holds a non-number".to_string())
        };
        let data = match dtype {
            // f32: parse to f64, then round to f32 (the same value for every corpus number).
            DType::F32 => HostData::F32(floats()?.into_iter().map(|v| v as f32).collect()),
            DType::F64 => HostData::F64(floats()?),
            DType::I32 => HostData::I32(ints(raw, dt)?),
            DType::U8 => HostData::U8(ints(raw, dt)?),
            DType::I64 => HostData::I64(ints(raw, dt)?),
        };
        Ok(HostTensor { shape, data })
    }

    /// Uploads to `dev`.
    pub fn upload<D: Device>(&self, dev: &D) -> CoreResult<Value<D>> {
        let s = &self.shape[..];
        Ok(match &self.data {
            HostData::F32(v) => Value::F32(Tensor::from_slice_on(v, s, dev)?),
            HostData::F64(v) => Value::F64(Tensor::from_slice_on(v, s, dev)?),
            HostData::I32(v) => Value::I32(Tensor::from_slice_on(v, s, dev)?),
            HostData::U8(v) => Value::U8(Tensor::from_slice_on(v, s, dev)?),
            HostData::I64(v) => Value::I64(Tensor::from_slice_on(v, s, dev)?),
        })
    }
}

/// A device tensor of any corpus dtype.
#[derive(Clone, Debug)]
pub enum Value<D: Device> {
    /// `f32`
    F32(Tensor<f32, D>),
    /// `f64`
    F64(Tensor<f64, D>),
    /// `i32`
    I32(Tensor<i32, D>),
    /// `u8`
    U8(Tensor<u8, D>),
    /// `i64` (argmax/argmin results)
    I64(Tensor<i64, D>),
}

/// `each_dtype!(value, t => expr)`: evaluates `expr` with `t` bound to the tensor, whatever its
/// dtype, and wraps the result in the same variant.
#[macro_export]
macro_rules! each_dtype {
    ($v:expr, $t:ident => $body:expr) => {
        match $v {
            $crate::Value::F32($t) => $crate::Value::F32($body),
            $crate::Value::F64($t) => $crate::Value::F64($body),
            $crate::Value::I32($t) => $crate::Value::I32($body),
            $crate::Value::U8($t) => $crate::Value::U8($body),
            $crate::Value::I64($t) => $crate::Value::I64($body),
        }
    };
}

impl<D: Device> Value<D> {
    /// The dtype.
    pub fn dtype(&self) -> DType {
        match self {
            Value::F32(_) => DType::F32,
            Value::F64(_) => DType::F64,
            Value::I32(_) => DType::I32,
            Value::U8(_) => DType::U8,
            Value::I64(_) => DType::I64,
        }
    }

    /// The dims.
    pub fn dims(&self) -> &[usize] {
        match self {
            Value::F32(t) => t.dims(),
            Value::F64(t) => t.dims(),
            Value::I32(t) => t.dims(),
            Value::U8(t) => t.dims(),
            Value::I64(t) => t.dims(),
        }
    }

    /// Downloads to the host.
    pub fn download(&self) -> CoreResult<HostTensor> {
        let shape = self.dims().to_vec();
        let data = match self {
            Value::F32(t) => HostData::F32(t.to_vec()?),
            Value::F64(t) => HostData::F64(t.to_vec()?),
            Value::I32(t) => HostData::I32(t.to_vec()?),
            Value::U8(t) => HostData::U8(t.to_vec()?),
            Value::I64(t) => HostData::I64(t.to_vec()?),
        };
        Ok(HostTensor { shape, data })
    }
}

impl<D: Device> fmt::Display for Value<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.dtype(), self.dims())
    }
}

fn as_f64<E: Elem>(v: &[E]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// The multi-index of flat position `i` in `shape` (for messages).
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[k] = i % d;
            i /= d;
        }
    }
    idx
}

/// `FORMAT.md` §8: same dtype, same shape, then floats within `atol + rtol·|expected|` and
/// integers exactly. The error describes the first mismatch (and how many there are).
pub fn compare(
    actual: &HostTensor,
    expect: &HostTensor,
    rtol: f64,
    atol: f64,
) -> Result<(), String> {
    if actual.dtype() != expect.dtype() {
        return Err(format!(
            "dtype {}, expected {}",
            actual.dtype(),
            expect.dtype()
        ));
    }
    if actual.shape != expect.shape {
        return Err(format!(
            "shape {:?}, expected {:?}",
            actual.shape, expect.shape
        ));
    }
    let (a, e, float) = match (&actual.data, &expect.data) {
        (HostData::F32(a), HostData::F32(e)) => (as_f64(a), as_f64(e), true),
        (HostData::F64(a), HostData::F64(e)) => (a.clone(), e.clone(), true),
        (HostData::I32(a), HostData::I32(e)) => (as_f64(a), as_f64(e), false),
        (HostData::U8(a), HostData::U8(e)) => (as_f64(a), as_f64(e), false),
        // i64 values may exceed 2^53: compare them as integers.
        (HostData::I64(a), HostData::I64(e)) => {
            let bad: Vec<usize> = (0..a.len()).filter(|&i| a[i] != e[i]).collect();
            return match bad.first() {
                None => Ok(()),
                Some(&i) => Err(format!(
                    "{} of {} elements differ; first at {:?}: got {}, expected {}",
                    bad.len(),
                    a.len(),
                    unravel(i, &expect.shape),
                    a[i],
                    e[i]
                )),
            };
        }
        _ => unreachable!("dtypes were checked equal"),
    };
    let ok = |x: f64, y: f64| {
        if float {
            (x - y).abs() <= atol + rtol * y.abs()
        } else {
            x == y
        }
    };
    let bad: Vec<usize> = (0..a.len()).filter(|&i| !ok(a[i], e[i])).collect();
    match bad.first() {
        None => Ok(()),
        Some(&i) => {
            let tol = if float {
                format!(
                    " (|diff| {:e} > tol {:e})",
                    (a[i] - e[i]).abs(),
                    atol + rtol * e[i].abs()
                )
            } else {
                String::new()
            };
            Err(format!(
                "{} of {} elements differ; first at {:?}: got {}, expected {}{tol}",
                bad.len(),
                a.len(),
                unravel(i, &expect.shape),
                a[i],
                e[i]
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(j: &str) -> HostTensor {
        HostTensor::from_json(&serde_json::from_str(j).unwrap()).unwrap()
    }

    #[test]
    fn parses_and_checks_lengths() {
        let x = t(r#"{"dtype": "f32", "shape": [2], "data": [0.1, -0.0]}"#);
        assert_eq!(x.data, HostData::F32(vec![0.1f64 as f32, 0.0]));
        let s = t(r#"{"dtype": "u8", "shape": [], "data": [255]}"#);
        assert_eq!((s.shape.len(), s.data), (0, HostData::U8(vec![255])));
        let bad = |j: &str| HostTensor::from_json(&serde_json::from_str(j).unwrap()).unwrap_err();
        assert!(bad(r#"{"dtype": "f32", "shape": [2, 0], "data": [1]}"#).contains("holds 0"));
        assert!(bad(r#"{"dtype": "u8", "shape": [1], "data": [256]}"#).contains("valid u8"));
        assert!(bad(r#"{"dtype": "f16", "shape": [], "data": [1]}"#).contains("unknown dtype"));
    }

    #[test]
    fn compares_per_format_section_8() {
        let a = t(r#"{"dtype": "f64", "shape": [2], "data": [1.0, 2.0]}"#);
        let e = t(r#"{"dtype": "f64", "shape": [2], "data": [1.0, 2.1]}"#);
        assert!(compare(&a, &e, 0.0, 0.2).is_ok());
        assert!(compare(&a, &e, 0.0, 0.05).unwrap_err().contains("at [1]"));
        assert!(compare(&a, &e, 0.05, 0.0).is_ok());
        let r1 = t(r#"{"dtype": "f64", "shape": [1], "data": [1.0]}"#);
        let r0 = t(r#"{"dtype": "f64", "shape": [], "data": [1.0]}"#);
        assert!(compare(&r1, &r0, 0.0, 0.0).unwrap_err().contains("shape"));
        let f = t(r#"{"dtype": "f32", "shape": [], "data": [1.0]}"#);
        assert!(compare(&f, &r0, 1.0, 1.0)
            .unwrap_err()
            .contains("dtype f32"));
        let i = t(r#"{"dtype": "i64", "shape": [2], "data": [3, 4]}"#);
        let j = t(r#"{"dtype": "i64", "shape": [2], "data": [3, 5]}"#);
        assert!(compare(&i, &j, 1.0, 1.0).is_err());
    }
}
