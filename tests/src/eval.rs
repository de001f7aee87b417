//! Evaluates a parsed expression on a device, dispatching every op by dtype (`FORMAT.md` §4–5).
//! Library errors are kept as they are, so the runner can compare their kind with the case's;
//! anything the runner itself cannot do (an unknown op, a float op on an integer tensor) is a
//! [`EvalError::Runner`] error, which always fails the case.
//!
//! Each call is first resolved into an [`OpSpec`] (its op and checked keywords), which both
//! fronts share: [`eval`] applies it to owned tensors (the eager front), and
//! [`crate::graph`] adds it to a static graph (the graph front).

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
    /// Moving data in or out failed (uploading inputs, reading a result back): never the
    /// error a case expects, since it happens outside the evaluation of the expression.
    Transfer(String),
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
            EvalError::Transfer(m) => write!(f, "{m}"),
        }
    }
}

/// A result of the evaluators.
pub type Res<T> = Result<T, EvalError>;

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

pub(crate) fn runner<T>(msg: impl Into<String>) -> Res<T> {
    Err(EvalError::Runner(msg.into()))
}

/// An evaluated operand: a tensor (`T` is a front's handle: a [`Value`] or a graph node), or
/// a scalar literal still without a dtype.
#[derive(Clone, Copy, Debug)]
pub enum Arg<T> {
    /// A tensor.
    Val(T),
    /// A scalar literal (weak: it takes the other operand's dtype, §4.1).
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

/// One call of the corpus language, resolved: the op and its keyword arguments (defaults
/// applied), independent of how a front evaluates it.
#[derive(Clone, Debug, PartialEq)]
pub enum OpSpec {
    /// `neg exp log sqrt abs relu sigmoid tanh` (1 float tensor).
    Unary(UnaryOp),
    /// `add sub mul div pow maximum minimum` (2 operands; either may be a literal).
    Binary(BinaryOp),
    /// `sum mean var std`.
    Reduce {
        /// The reduction (with its correction for var/std).
        op: ReduceOp,
        /// `:axes` (`None` = all).
        axes: Option<Vec<isize>>,
        /// `:keepdim`.
        keepdim: bool,
    },
    /// `max_values min_values argmax argmin`.
    Extreme {
        /// Max or min.
        op: Extremum,
        /// `:axis` (`None` = all elements).
        axis: Option<isize>,
        /// `:keepdim`.
        keepdim: bool,
        /// argmax/argmin (i64 indices) rather than values.
        indices: bool,
    },
    /// `matmul` (2 tensors).
    MatMul,
    /// `cast :dtype` (f32 or f64).
    Cast(DType),
    /// `reshape :shape`.
    Reshape(Vec<isize>),
    /// `broadcast_to :shape`.
    BroadcastTo(Vec<usize>),
    /// `permute :dims`.
    Permute(Vec<isize>),
    /// `transpose :dims (a b)` (default `(-2 -1)`).
    Transpose(isize, isize),
    /// `unsqueeze :axis`.
    Unsqueeze(isize),
    /// `squeeze :axes` (`None` = every size-1 dim).
    Squeeze(Option<Vec<isize>>),
}

impl OpSpec {
    /// Whether the op is a movement op (a layout rewrite that keeps any dtype).
    pub fn is_movement(&self) -> bool {
        matches!(
            self,
            OpSpec::Reshape(_)
                | OpSpec::BroadcastTo(_)
                | OpSpec::Permute(_)
                | OpSpec::Transpose(..)
                | OpSpec::Unsqueeze(_)
                | OpSpec::Squeeze(_)
        )
    }

    /// Resolves `call`'s op name and keywords; an unknown op or keyword, a missing required
    /// keyword or a value of the wrong kind is a runner error.
    pub fn parse(call: &Call) -> Res<OpSpec> {
        let op = call.op.as_str();
        if let Some(u) = UnaryOp::from_name(op) {
            Kw::new(call, &[])?;
            return Ok(OpSpec::Unary(u));
        }
        if let Some(b) = BinaryOp::from_name(op) {
            Kw::new(call, &[])?;
            return Ok(OpSpec::Binary(b));
        }
        Ok(match op {
            "sum" | "mean" | "var" | "std" => {
                let kw = if matches!(op, "var" | "std") {
                    Kw::new(call, &["axes", "keepdim", "correction"])?
                } else {
                    Kw::new(call, &["axes", "keepdim"])?
                };
                let c = match kw.int("correction")? {
                    None => 1,
                    Some(c) => usize::try_from(c)
                        .or_else(|_| runner(format!("negative correction {c}")))?,
                };
                let rop = match op {
                    "sum" => ReduceOp::Sum,
                    "mean" => ReduceOp::Mean,
                    "var" => ReduceOp::Var { correction: c },
                    _ => ReduceOp::Std { correction: c },
                };
                OpSpec::Reduce {
                    op: rop,
                    axes: kw.list("axes")?,
                    keepdim: kw.bool("keepdim", false)?,
                }
            }
            "max_values" | "min_values" | "argmax" | "argmin" => {
                let kw = Kw::new(call, &["axis", "keepdim"])?;
                OpSpec::Extreme {
                    op: if op.starts_with("max") || op == "argmax" {
                        Extremum::Max
                    } else {
                        Extremum::Min
                    },
                    axis: kw.int("axis")?,
                    keepdim: kw.bool("keepdim", false)?,
                    indices: op.starts_with("arg"),
                }
            }
            "matmul" => {
                Kw::new(call, &[])?;
                OpSpec::MatMul
            }
            "cast" => match Kw::new(call, &["dtype"])?.dtype("dtype")? {
                d @ (DType::F32 | DType::F64) => OpSpec::Cast(d),
                d => return runner(format!("`cast` to {d} is not in the corpus language")),
            },
            "reshape" => OpSpec::Reshape(Kw::new(call, &["shape"])?.required_list("shape")?),
            "broadcast_to" => OpSpec::BroadcastTo(
                Kw::new(call, &["shape"])?
                    .required_list("shape")?
                    .into_iter()
                    .map(|d| usize::try_from(d).or_else(|_| runner(format!("negative dim {d}"))))
                    .collect::<Res<Vec<usize>>>()?,
            ),
            "permute" => OpSpec::Permute(Kw::new(call, &["dims"])?.required_list("dims")?),
            "transpose" => match Kw::new(call, &["dims"])?.list("dims")?.as_deref() {
                None => OpSpec::Transpose(-2, -1),
                Some(&[a, b]) => OpSpec::Transpose(a, b),
                Some(l) => return runner(format!("`transpose` :dims needs 2 entries, got {l:?}")),
            },
            "unsqueeze" => match Kw::new(call, &["axis"])?.int("axis")? {
                Some(a) => OpSpec::Unsqueeze(a),
                None => return runner("`unsqueeze` needs :axis"),
            },
            "squeeze" => OpSpec::Squeeze(Kw::new(call, &["axes"])?.list("axes")?),
            _ => return runner(format!("unknown op `{op}`")),
        })
    }
}

/// The operands of a call, checked against its op: binary elementwise ops take two operands,
/// either of which may be a literal (but not both); every other op takes tensors only.
#[derive(Clone, Copy, Debug)]
pub enum Operands<T> {
    /// One tensor.
    One(T),
    /// Two tensors.
    Two(T, T),
    /// A tensor and a literal: `op(x, s)` if `rhs`, else `op(s, x)`.
    Scalar {
        /// The tensor operand.
        x: T,
        /// The literal.
        s: f64,
        /// Whether the literal is the right operand.
        rhs: bool,
    },
}

impl<T> Operands<T> {
    /// Checks `args` against `spec` (`call` is for messages).
    pub fn check(call: &Call, spec: &OpSpec, args: Vec<Arg<T>>) -> Res<Operands<T>> {
        let n = match spec {
            OpSpec::Binary(_) | OpSpec::MatMul => 2,
            _ => 1,
        };
        if args.len() != n {
            return runner(format!(
                "`{}` takes {n} operand(s), got {}",
                call.op,
                args.len()
            ));
        }
        let literals_ok = matches!(spec, OpSpec::Binary(_));
        let mut it = args.into_iter();
        let (a, b) = (it.next(), it.next());
        match (a, b) {
            (Some(Arg::Val(x)), None) => Ok(Operands::One(x)),
            (Some(Arg::Val(x)), Some(Arg::Val(y))) => Ok(Operands::Two(x, y)),
            (Some(Arg::Lit(_)), Some(Arg::Lit(_))) if literals_ok => {
                runner(format!("`{}` of two literals", call.op))
            }
            (Some(Arg::Val(x)), Some(Arg::Lit(s))) if literals_ok => {
                Ok(Operands::Scalar { x, s, rhs: true })
            }
            (Some(Arg::Lit(s)), Some(Arg::Val(x))) if literals_ok => {
                Ok(Operands::Scalar { x, s, rhs: false })
            }
            (Some(Arg::Lit(s)), _) | (_, Some(Arg::Lit(s))) => {
                runner(format!("`{}` cannot take the literal {s}", call.op))
            }
            _ => unreachable!("the operand count was checked"),
        }
    }

    fn one(self, call: &Call) -> Res<T> {
        match self {
            Operands::One(x) => Ok(x),
            _ => runner(format!("`{}` takes 1 operand", call.op)),
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

fn eval_arg<D: Device>(expr: &Expr, env: &HashMap<String, Value<D>>) -> Res<Arg<Value<D>>> {
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

fn float_only<T>(op: &str, v: &Value<impl Device>) -> Res<T> {
    runner(format!("`{op}` is a float op, got a {} operand", v.dtype()))
}

pub(crate) fn eval_call<D: Device>(call: &Call, args: Vec<Arg<Value<D>>>) -> Res<Value<D>> {
    let spec = OpSpec::parse(call)?;
    let operands = Operands::check(call, &spec, args)?;
    let op = call.op.as_str();
    if let OpSpec::Binary(b) = spec {
        return binary(op, b, operands);
    }
    if spec == OpSpec::MatMul {
        return match operands {
            Operands::Two(Value::F32(a), Value::F32(b)) => Ok(Value::F32(a.matmul(&b)?)),
            Operands::Two(Value::F64(a), Value::F64(b)) => Ok(Value::F64(a.matmul(&b)?)),
            Operands::Two(a, b) => runner(format!("`matmul` of {} and {}", a.dtype(), b.dtype())),
            _ => runner("`matmul` takes 2 tensors"),
        };
    }
    let x = operands.one(call)?;
    Ok(match spec {
        OpSpec::Unary(u) => match x {
            Value::F32(t) => Value::F32(t.unary(u)?),
            Value::F64(t) => Value::F64(t.unary(u)?),
            v => return float_only(op, &v),
        },
        OpSpec::Reduce {
            op: rop,
            axes,
            keepdim,
        } => match x {
            Value::F32(t) => Value::F32(t.reduce(rop, axes.as_deref(), keepdim)?),
            Value::F64(t) => Value::F64(t.reduce(rop, axes.as_deref(), keepdim)?),
            v => return float_only(op, &v),
        },
        OpSpec::Extreme {
            op: ext,
            axis,
            keepdim,
            indices: true,
        } => Value::I64(each_tensor!(&x, t => t.arg_extreme(ext, axis, keepdim)?)),
        OpSpec::Extreme {
            op: ext,
            axis,
            keepdim,
            indices: false,
        } => each_dtype!(&x, t => t.extreme_values(ext, axis, keepdim)?),
        OpSpec::Cast(to) => match (to, &x) {
            (DType::F32, Value::F32(_)) | (DType::F64, Value::F64(_)) => x,
            (DType::F32, x) => Value::F32(each_tensor!(x, t => t.cast::<f32>()?)),
            (DType::F64, x) => Value::F64(each_tensor!(x, t => t.cast::<f64>()?)),
            (d, _) => return runner(format!("`cast` to {d} is not in the corpus language")),
        },
        OpSpec::Reshape(shape) => each_dtype!(&x, t => t.reshape(&shape)?),
        OpSpec::BroadcastTo(shape) => each_dtype!(&x, t => t.broadcast_to(&shape)?),
        OpSpec::Permute(dims) => each_dtype!(&x, t => t.permute(&dims)?),
        OpSpec::Transpose(a, b) => each_dtype!(&x, t => t.transpose(a, b)?),
        OpSpec::Unsqueeze(a) => each_dtype!(&x, t => t.unsqueeze(a)?),
        OpSpec::Squeeze(None) => each_dtype!(&x, t => t.squeeze()?),
        OpSpec::Squeeze(Some(axes)) => each_dtype!(&x, t => t.squeeze_axes(&axes)?),
        OpSpec::Binary(_) | OpSpec::MatMul => unreachable!("handled above"),
    })
}

fn binary<D: Device>(op_name: &str, op: BinaryOp, operands: Operands<Value<D>>) -> Res<Value<D>> {
    // A literal is weak: it takes the other operand's float dtype (`f32` rounds it).
    Ok(match operands {
        Operands::Two(Value::F32(x), Value::F32(y)) => Value::F32(x.binary(op, &y)?),
        Operands::Two(Value::F64(x), Value::F64(y)) => Value::F64(x.binary(op, &y)?),
        Operands::Scalar {
            x: Value::F32(x),
            s,
            rhs,
        } => Value::F32(x.binary_scalar(op, s as f32, rhs)?),
        Operands::Scalar {
            x: Value::F64(x),
            s,
            rhs,
        } => Value::F64(x.binary_scalar(op, s, rhs)?),
        Operands::Two(x, y) => {
            return runner(format!("`{op_name}` of {} and {}", x.dtype(), y.dtype()))
        }
        Operands::Scalar { x: v, .. } | Operands::One(v) => return float_only(op_name, &v),
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
