//! Evaluates a parsed expression on a device, dispatching every op by dtype (`FORMAT.md` §4–5).
//! Library errors are kept as they are, so the runner can compare their kind with the case's;
//! anything the runner itself cannot do (an unknown op, a float op on an integer tensor) is a
//! [`EvalError::Runner`] error, which always fails the case.

use std::collections::HashMap;
use std::fmt;

use tensile_core::{BinaryOp, DType, Device, Extremum, ReduceOp, UnaryOp};

use crate::each_dtype;
use crate::sexpr::{Call, Expr, KwValue};
use crate::value::Value;

/// Why an evaluation failed.
#[derive(Clone, Debug)]
pub enum EvalError {
    /// The library raised an error (possibly the one the case expects).
    Lib(tensile_core::Error),
    /// The expression is outside what the runner understands.
    Runner(String),
}

impl From<tensile_core::Error> for EvalError {
    fn from(e: tensile_core::Error) -> Self {
        EvalError::Lib(e)
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Lib(e) => write!(f, "{e}"),
            EvalError::Runner(m) => write!(f, "runner: {m}"),
        }
    }
}

type Res<T> = Result<T, EvalError>;

/// `each_tensor!(value, t => expr)`: `expr` for the tensor of any dtype, without re-wrapping.
macro_rules! each_tensor {
    ($v:expr, $t:ident => $body:expr) => {
        match $v {
            Value::F32($t) => $body,
            Value::F64($t) => $body,
            Value::I32($t) => $body,
            Value::U8($t) => $body,
            Value::I64($t) => $body,
        }
    };
}

fn runner<T>(msg: impl Into<String>) -> Res<T> {
    Err(EvalError::Runner(msg.into()))
}

/// An evaluated operand: a tensor, or a scalar literal still without a dtype.
enum Arg<D: Device> {
    Val(Value<D>),
    Lit(f64),
}

/// The keyword arguments of one call, checked against the op's allowed keywords.
struct Kw<'a> {
    call: &'a Call,
}

impl<'a> Kw<'a> {
    fn new(call: &'a Call, allowed: &[&str]) -> Res<Self> {
        for (k, _) in &call.kwargs {
            if !allowed.contains(&k.as_str()) {
                return runner(format!("`{}` takes no keyword `:{k}`", call.op));
            }
        }
        Ok(Kw { call })
    }
    fn get(&self, k: &str) -> Option<&'a KwValue> {
        self.call
            .kwargs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v)
    }
    fn wrong<T>(&self, k: &str, want: &str, v: &KwValue) -> Res<T> {
        runner(format!("`{}` :{k} must be {want}, got {v}", self.call.op))
    }
    fn list(&self, k: &str) -> Res<Option<Vec<isize>>> {
        match self.get(k) {
            None => Ok(None),
            Some(KwValue::List(l)) => l
                .iter()
                .map(|&i| isize::try_from(i).or_else(|_| runner(format!("{i} overflows isize"))))
                .collect::<Res<Vec<isize>>>()
                .map(Some),
            Some(v) => self.wrong(k, "an integer list", v),
        }
    }
    fn required_list(&self, k: &str) -> Res<Vec<isize>> {
        self.list(k)?
            .map_or_else(|| runner(format!("`{}` needs :{k}", self.call.op)), Ok)
    }
    fn int(&self, k: &str) -> Res<Option<isize>> {
        match self.get(k) {
            None => Ok(None),
            Some(KwValue::Int(i)) => isize::try_from(*i)
                .map(Some)
                .or_else(|_| runner(format!("{i} overflows isize"))),
            Some(v) => self.wrong(k, "an integer", v),
        }
    }
    fn bool(&self, k: &str, default: bool) -> Res<bool> {
        match self.get(k) {
            None => Ok(default),
            Some(KwValue::Bool(b)) => Ok(*b),
            Some(v) => self.wrong(k, "true or false", v),
        }
    }
    fn dtype(&self, k: &str) -> Res<DType> {
        match self.get(k) {
            Some(KwValue::DType(d)) => Ok(*d),
            Some(v) => self.wrong(k, "a dtype", v),
            None => runner(format!("`{}` needs :{k}", self.call.op)),
        }
    }
}

/// Evaluates `expr` with the inputs in `env`.
pub fn eval<D: Device>(expr: &Expr, env: &HashMap<String, Value<D>>) -> Res<Value<D>> {
    match eval_arg(expr, env)? {
        Arg::Val(v) => Ok(v),
        Arg::Lit(x) => runner(format!("the expression is the bare literal {x}")),
    }
}

fn eval_arg<D: Device>(expr: &Expr, env: &HashMap<String, Value<D>>) -> Res<Arg<D>> {
    match expr {
        Expr::Num(x) => Ok(Arg::Lit(*x)),
        Expr::Name(n) => match env.get(n) {
            Some(v) => Ok(Arg::Val(v.clone())),
            None => runner(format!("no input named `{n}`")),
        },
        Expr::Call(c) => {
            let args = c
                .args
                .iter()
                .map(|a| eval_arg(a, env))
                .collect::<Res<Vec<_>>>()?;
            eval_call(c, args).map(Arg::Val)
        }
    }
}

/// The operands as tensors; a literal is only allowed in binary elementwise ops.
fn tensors<D: Device, const N: usize>(call: &Call, args: Vec<Arg<D>>) -> Res<[Value<D>; N]> {
    if args.len() != N {
        return runner(format!(
            "`{}` takes {N} operand(s), got {}",
            call.op,
            args.len()
        ));
    }
    let vals = args
        .into_iter()
        .map(|a| match a {
            Arg::Val(v) => Ok(v),
            Arg::Lit(x) => runner(format!("`{}` cannot take the literal {x}", call.op)),
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(vals.try_into().unwrap_or_else(|_| unreachable!()))
}

fn float_only<T>(op: &str, v: &Value<impl Device>) -> Res<T> {
    runner(format!("`{op}` is a float op, got a {} operand", v.dtype()))
}

fn eval_call<D: Device>(call: &Call, args: Vec<Arg<D>>) -> Res<Value<D>> {
    let op = call.op.as_str();
    if let Some(u) = UnaryOp::from_name(op) {
        Kw::new(call, &[])?;
        let [x] = tensors(call, args)?;
        return Ok(match x {
            Value::F32(t) => Value::F32(t.unary(u)?),
            Value::F64(t) => Value::F64(t.unary(u)?),
            v => return float_only(op, &v),
        });
    }
    if let Some(b) = BinaryOp::from_name(op) {
        Kw::new(call, &[])?;
        return binary(call, b, args);
    }
    match op {
        "sum" | "mean" | "var" | "std" => {
            let kw = if matches!(op, "var" | "std") {
                Kw::new(call, &["axes", "keepdim", "correction"])?
            } else {
                Kw::new(call, &["axes", "keepdim"])?
            };
            let c = match kw.int("correction")? {
                None => 1,
                Some(c) => {
                    usize::try_from(c).or_else(|_| runner(format!("negative correction {c}")))?
                }
            };
            let rop = match op {
                "sum" => ReduceOp::Sum,
                "mean" => ReduceOp::Mean,
                "var" => ReduceOp::Var { correction: c },
                _ => ReduceOp::Std { correction: c },
            };
            let axes = kw.list("axes")?;
            let keep = kw.bool("keepdim", false)?;
            let [x] = tensors(call, args)?;
            Ok(match x {
                Value::F32(t) => Value::F32(t.reduce(rop, axes.as_deref(), keep)?),
                Value::F64(t) => Value::F64(t.reduce(rop, axes.as_deref(), keep)?),
                v => return float_only(op, &v),
            })
        }
        "max_values" | "min_values" | "argmax" | "argmin" => {
            let kw = Kw::new(call, &["axis", "keepdim"])?;
            let (axis, keep) = (kw.int("axis")?, kw.bool("keepdim", false)?);
            let ext = if op.starts_with("max") || op == "argmax" {
                Extremum::Max
            } else {
                Extremum::Min
            };
            let [x] = tensors(call, args)?;
            if op.starts_with("arg") {
                return Ok(Value::I64(match &x {
                    Value::F32(t) => t.arg_extreme(ext, axis, keep)?,
                    Value::F64(t) => t.arg_extreme(ext, axis, keep)?,
                    Value::I32(t) => t.arg_extreme(ext, axis, keep)?,
                    Value::U8(t) => t.arg_extreme(ext, axis, keep)?,
                    Value::I64(t) => t.arg_extreme(ext, axis, keep)?,
                }));
            }
            Ok(each_dtype!(&x, t => t.extreme_values(ext, axis, keep)?))
        }
        "matmul" => {
            Kw::new(call, &[])?;
            match tensors(call, args)? {
                [Value::F32(a), Value::F32(b)] => Ok(Value::F32(a.matmul(&b)?)),
                [Value::F64(a), Value::F64(b)] => Ok(Value::F64(a.matmul(&b)?)),
                [a, b] => runner(format!("`matmul` of {} and {}", a.dtype(), b.dtype())),
            }
        }
        "cast" => {
            let to = Kw::new(call, &["dtype"])?.dtype("dtype")?;
            let [x] = tensors(call, args)?;
            Ok(match (to, &x) {
                (DType::F32, Value::F32(_)) | (DType::F64, Value::F64(_)) => x,
                (DType::F32, x) => Value::F32(each_tensor!(x, t => t.cast::<f32>()?)),
                (DType::F64, x) => Value::F64(each_tensor!(x, t => t.cast::<f64>()?)),
                (d, _) => return runner(format!("`cast` to {d} is not in the corpus language")),
            })
        }
        _ => shape_op(call, args),
    }
}

fn binary<D: Device>(call: &Call, op: BinaryOp, args: Vec<Arg<D>>) -> Res<Value<D>> {
    let [a, b]: [Arg<D>; 2] = match args.try_into() {
        Ok(ab) => ab,
        Err(args) => {
            return runner(format!(
                "`{}` takes 2 operands, got {}",
                call.op,
                args.len()
            ))
        }
    };
    // A literal is weak: it takes the other operand's float dtype (`f32` rounds it).
    Ok(match (a, b) {
        (Arg::Val(Value::F32(x)), Arg::Val(Value::F32(y))) => Value::F32(x.binary(op, &y)?),
        (Arg::Val(Value::F64(x)), Arg::Val(Value::F64(y))) => Value::F64(x.binary(op, &y)?),
        (Arg::Val(Value::F32(x)), Arg::Lit(s)) => Value::F32(x.binary_scalar(op, s as f32, true)?),
        (Arg::Val(Value::F64(x)), Arg::Lit(s)) => Value::F64(x.binary_scalar(op, s, true)?),
        (Arg::Lit(s), Arg::Val(Value::F32(x))) => Value::F32(x.binary_scalar(op, s as f32, false)?),
        (Arg::Lit(s), Arg::Val(Value::F64(x))) => Value::F64(x.binary_scalar(op, s, false)?),
        (Arg::Lit(_), Arg::Lit(_)) => return runner(format!("`{}` of two literals", call.op)),
        (Arg::Val(x), Arg::Val(y)) => {
            return runner(format!("`{}` of {} and {}", call.op, x.dtype(), y.dtype()))
        }
        (Arg::Val(v), Arg::Lit(_)) | (Arg::Lit(_), Arg::Val(v)) => return float_only(&call.op, &v),
    })
}

/// The movement ops: layout rewrites that keep the dtype.
fn shape_op<D: Device>(call: &Call, args: Vec<Arg<D>>) -> Res<Value<D>> {
    let op = call.op.as_str();
    let kw = match op {
        "reshape" | "broadcast_to" => Kw::new(call, &["shape"])?,
        "permute" | "transpose" => Kw::new(call, &["dims"])?,
        "unsqueeze" => Kw::new(call, &["axis"])?,
        "squeeze" => Kw::new(call, &["axes"])?,
        _ => return runner(format!("unknown op `{op}`")),
    };
    let [x] = tensors(call, args)?;
    Ok(match op {
        "reshape" => {
            let shape = kw.required_list("shape")?;
            each_dtype!(&x, t => t.reshape(&shape)?)
        }
        "broadcast_to" => {
            let shape = kw
                .required_list("shape")?
                .into_iter()
                .map(|d| usize::try_from(d).or_else(|_| runner(format!("negative dim {d}"))))
                .collect::<Res<Vec<usize>>>()?;
            each_dtype!(&x, t => t.broadcast_to(&shape)?)
        }
        "permute" => {
            let dims = kw.required_list("dims")?;
            each_dtype!(&x, t => t.permute(&dims)?)
        }
        "transpose" => {
            let (a, b) = match kw.list("dims")?.as_deref() {
                None => (-2, -1),
                Some(&[a, b]) => (a, b),
                Some(l) => return runner(format!("`transpose` :dims needs 2 entries, got {l:?}")),
            };
            each_dtype!(&x, t => t.transpose(a, b)?)
        }
        "unsqueeze" => {
            let Some(a) = kw.int("axis")? else {
                return runner("`unsqueeze` needs :axis");
            };
            each_dtype!(&x, t => t.unsqueeze(a)?)
        }
        _ => match kw.list("axes")? {
            None => each_dtype!(&x, t => t.squeeze()?),
            Some(axes) => each_dtype!(&x, t => t.squeeze_axes(&axes)?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sexpr::parse;
    use crate::value::{HostData, HostTensor};
    use tensile_core::Reference;

    fn run(src: &str, inputs: &[&(&str, HostData, &[usize])]) -> Res<HostTensor> {
        let env = inputs
            .iter()
            .map(|(n, d, s)| {
                let h = HostTensor {
                    shape: s.to_vec(),
                    data: d.clone(),
                };
                (n.to_string(), h.upload(&Reference).unwrap())
            })
            .collect();
        Ok(eval(&parse(src).unwrap(), &env)?.download().unwrap())
    }

    #[test]
    fn literals_are_weak_and_may_come_first() {
        let x = ("x", HostData::F32(vec![1.0, 2.0]), &[2][..]);
        let y = run("(sub 1 (pow 2 x))", &[&x]).unwrap();
        assert_eq!(y.data, HostData::F32(vec![-1.0, -3.0]));
        let y = run("(div x 0.5)", &[&x]).unwrap();
        assert_eq!(y.data, HostData::F32(vec![2.0, 4.0]));
        assert!(matches!(run("(add 1 2)", &[]), Err(EvalError::Runner(_))));
        assert!(matches!(run("(exp 1)", &[]), Err(EvalError::Runner(_))));
    }

    #[test]
    fn integer_tensors_take_shape_ops_extrema_and_cast() {
        let img = ("img", HostData::U8(vec![3, 200, 7, 1]), &[2, 2][..]);
        let y = run("(argmax (transpose img) :axis 1 :keepdim true)", &[&img]).unwrap();
        assert_eq!((y.shape, y.data), (vec![2, 1], HostData::I64(vec![1, 0])));
        let y = run("(max_values img)", &[&img]).unwrap();
        assert_eq!((y.shape, y.data), (vec![], HostData::U8(vec![200])));
        let y = run("(div (cast img :dtype f64) 2)", &[&img]).unwrap();
        assert_eq!(y.data, HostData::F64(vec![1.5, 100.0, 3.5, 0.5]));
        assert!(matches!(
            run("(neg img)", &[&img]),
            Err(EvalError::Runner(_))
        ));
    }

    #[test]
    fn library_errors_are_kept_and_runner_errors_are_separate() {
        let x = ("x", HostData::F64(vec![1.0; 6]), &[2, 3][..]);
        let kind = |r: Res<HostTensor>| match r {
            Err(EvalError::Lib(e)) => e.kind().name(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(run("(sum (mean x :axes (0 -2)))", &[&x])),
            "invalid_axis"
        );
        assert_eq!(
            kind(run("(exp (reshape x :shape (4 -1)))", &[&x])),
            "invalid_reshape"
        );
        assert!(matches!(
            run("(sum x :axis 0)", &[&x]),
            Err(EvalError::Runner(_))
        ));
        assert!(matches!(
            run("(mean x :correction 1)", &[&x]),
            Err(EvalError::Runner(_))
        ));
        assert!(matches!(run("(frob x)", &[&x]), Err(EvalError::Runner(_))));
        assert!(matches!(run("(add x)", &[&x]), Err(EvalError::Runner(_))));
        assert!(matches!(run("(neg y)", &[&x]), Err(EvalError::Runner(_))));
    }
}
