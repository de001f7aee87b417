//! The gradients of the eager front (`FORMAT.md` §7), through the core's eager autograd
//! ([`tensile_core::Var`]).
//!
//! The expression is evaluated a second time on `Var`s: each `wrt` input is a leaf
//! (`requires_grad()`), every other float input a constant (`Var::from`). An op with no
//! differentiated operand, and every op on integer tensors (`cast` of an integer input,
//! `argmax`/`argmin`, their movement ops), is evaluated on plain tensors by the eager
//! evaluator ([`crate::eval`]) and its result wrapped again: a float result as a constant, an
//! integer one as it is. `argmax`/`argmin` of a differentiated value read its value only. A
//! `cast` to another dtype on a differentiated path is a runner error (`Var` has no cast, and
//! §7 keeps casts off differentiated paths).
//!
//! `backward()` on the result makes L = the sum of its elements; each leaf's `.grad()` is
//! ∂L/∂input, and a leaf no gradient reached (`None`) has a zero gradient. The tape is
//! thread-local: every evaluation leaves it empty, whether it ends in `backward()`, without one
//! (an integer result, or one no leaf reaches), in an error or in a panic.

use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use tensile_core::{ArenaAlloc, Device, Float, Reference, Tensor, Var};

use crate::eval::{eval_call, runner, Arg, EvalError, OpSpec, Operands, Res};
use crate::graph::zeros_like;
use crate::sexpr::{Call, Expr};
use crate::value::{HostData, HostTensor, Value};
use crate::Case;

/// A value of the autograd evaluation.
#[derive(Clone, Debug)]
enum GVal<D: Device + ArenaAlloc> {
    /// An `f32` value (a leaf, a recorded result, or a constant).
    F32(Var<f32, D>),
    /// An `f64` value.
    F64(Var<f64, D>),
    /// An integer tensor: never differentiated.
    Int(Value<D>),
}

impl<D: Device + ArenaAlloc> GVal<D> {
    /// A plain value: float tensors become constants.
    fn constant(v: Value<D>) -> Self {
        match v {
            Value::F32(t) => GVal::F32(Var::from(t)),
            Value::F64(t) => GVal::F64(Var::from(t)),
            v => GVal::Int(v),
        }
    }

    /// Whether gradients flow into this value.
    fn tracked(&self) -> bool {
        match self {
            GVal::F32(v) => v.requires_grad(),
            GVal::F64(v) => v.requires_grad(),
            GVal::Int(_) => false,
        }
    }

    /// The value without history.
    fn detach(&self) -> Value<D> {
        match self {
            GVal::F32(v) => Value::F32(v.detach()),
            GVal::F64(v) => Value::F64(v.detach()),
            GVal::Int(v) => v.clone(),
        }
    }

    fn dtype(&self) -> tensile_core::DType {
        match self {
            GVal::F32(_) => tensile_core::DType::F32,
            GVal::F64(_) => tensile_core::DType::F64,
            GVal::Int(v) => v.dtype(),
        }
    }
}

fn arg<D: Device + ArenaAlloc>(expr: &Expr, env: &HashMap<&str, GVal<D>>) -> Res<Arg<GVal<D>>> {
    match expr {
        Expr::Num(x) => Ok(Arg::Lit(*x)),
        Expr::Name(n) => match env.get(n.as_str()) {
            Some(v) => Ok(Arg::Val(v.clone())),
            None => runner(format!("no input named `{n}`")),
        },
        Expr::Call(c) => {
            let args = c
                .args
                .iter()
                .map(|a| arg(a, env))
                .collect::<Res<Vec<_>>>()?;
            call(c, args).map(Arg::Val)
        }
    }
}

fn call<D: Device + ArenaAlloc>(call: &Call, args: Vec<Arg<GVal<D>>>) -> Res<GVal<D>> {
    let spec = OpSpec::parse(call)?;
    let tracked = args.iter().any(|a| matches!(a, Arg::Val(v) if v.tracked()));
    if !tracked || matches!(spec, OpSpec::Extreme { indices: true, .. }) {
        // Nothing to differentiate (or indices, which have no gradient): plain tensors.
        let plain = args
            .into_iter()
            .map(|a| match a {
                Arg::Val(v) => Arg::Val(v.detach()),
                Arg::Lit(x) => Arg::Lit(x),
            })
            .collect();
        return eval_call(call, plain).map(GVal::constant);
    }
    let op = call.op.as_str();
    let mixed = |x: &GVal<D>, y: &GVal<D>| -> Res<GVal<D>> {
        runner(format!("`{op}` of {} and {}", x.dtype(), y.dtype()))
    };
    Ok(match (&spec, Operands::check(call, &spec, args)?) {
        (OpSpec::Binary(b), Operands::Two(x, y)) => match (&x, &y) {
            (GVal::F32(x), GVal::F32(y)) => GVal::F32(x.binary(*b, y)?),
            (GVal::F64(x), GVal::F64(y)) => GVal::F64(x.binary(*b, y)?),
            _ => return mixed(&x, &y),
        },
        // A literal is weak: it takes the tensor's dtype (`f32` rounds it).
        (OpSpec::Binary(b), Operands::Scalar { x, s, rhs }) => match x {
            GVal::F32(x) => GVal::F32(x.scalar(*b, s as f32, rhs)?),
            GVal::F64(x) => GVal::F64(x.scalar(*b, s, rhs)?),
            GVal::Int(v) => return runner(format!("`{op}` is a float op, got a {}", v.dtype())),
        },
        (OpSpec::MatMul, Operands::Two(x, y)) => match (&x, &y) {
            (GVal::F32(x), GVal::F32(y)) => GVal::F32(x.matmul(y)?),
            (GVal::F64(x), GVal::F64(y)) => GVal::F64(x.matmul(y)?),
            _ => return mixed(&x, &y),
        },
        (spec, Operands::One(GVal::F32(x))) => GVal::F32(one(op, spec, &x)?),
        (spec, Operands::One(GVal::F64(x))) => GVal::F64(one(op, spec, &x)?),
        _ => return runner(format!("`{op}`: unexpected operands for autograd")),
    })
}

/// A one-operand op on a differentiated value.
fn one<E: Float, D: Device + ArenaAlloc>(op: &str, spec: &OpSpec, x: &Var<E, D>) -> Res<Var<E, D>> {
    Ok(match spec {
        OpSpec::Unary(u) => x.unary(*u)?,
        OpSpec::Reduce {
            op: rop,
            axes,
            keepdim,
        } => x.reduce(*rop, axes.as_deref(), *keepdim)?,
        OpSpec::Extreme {
            op: ext,
            axis,
            keepdim,
            indices: false,
        } => x.extreme_values(*ext, *axis, *keepdim)?,
        OpSpec::Cast(to) if *to == E::DTYPE => x.clone(),
        OpSpec::Cast(to) => {
            return runner(format!(
                "`cast` of a differentiated {} value to {to} (Var has no cast)",
                E::DTYPE
            ))
        }
        OpSpec::Reshape(shape) => x.reshape(shape)?,
        OpSpec::BroadcastTo(shape) => x.broadcast_to(shape)?,
        OpSpec::Permute(dims) => x.permute(dims)?,
        OpSpec::Transpose(a, b) => x.transpose(*a, *b)?,
        OpSpec::Unsqueeze(a) => x.unsqueeze(*a)?,
        OpSpec::Squeeze(axes) => x.squeeze(axes.as_deref())?,
        OpSpec::Binary(_) | OpSpec::MatMul | OpSpec::Extreme { indices: true, .. } => {
            return runner(format!("`{op}` takes other operands"))
        }
    })
}

/// Empties this thread's tape: a backward() from a throwaway leaf takes (and frees) whatever
/// was recorded; its own result is of no interest.
fn free_tape() {
    if let Ok(t) = Tensor::<f32, Reference>::from_slice_on(&[0.0], &[1usize][..], &Reference) {
        if let Ok(v) = t.requires_grad().neg() {
            let _ = v.backward();
        }
    }
}

/// The leaf's accumulated gradient on the host, or zeros (of `input`'s shape and dtype) if no
/// gradient reached it.
fn leaf_grad<E: Float, D: Device + ArenaAlloc>(
    leaf: &Var<E, D>,
    input: &HostTensor,
    wrap: fn(Vec<E>) -> HostData,
) -> Res<HostTensor> {
    match leaf.grad() {
        None => Ok(zeros_like(input)),
        Some(g) => {
            let data = g
                .to_vec()
                .map_err(|e| EvalError::Transfer(format!("downloading a gradient failed: {e}")))?;
            Ok(HostTensor {
                shape: g.dims().to_vec(),
                data: wrap(data),
            })
        }
    }
}

/// Evaluates `case` on `Var`s and returns ∂L/∂input for every `wrt` input, in order. Returns
/// with an empty tape whatever happens.
fn grads<D: Device + ArenaAlloc>(
    case: &Case,
    env: &HashMap<String, Value<D>>,
) -> Res<Vec<(String, HostTensor)>> {
    let mut leaves: Vec<(&str, GVal<D>)> = Vec::new();
    for name in &case.wrt {
        let leaf = match env.get(name) {
            None => return runner(format!("`wrt` names no input `{name}`")),
            Some(Value::F32(t)) => GVal::F32(t.clone().requires_grad()),
            Some(Value::F64(t)) => GVal::F64(t.clone().requires_grad()),
            Some(v) => {
                return runner(format!(
                    "cannot differentiate with respect to the {} input `{name}`",
                    v.dtype()
                ))
            }
        };
        leaves.push((name, leaf));
    }
    let genv: HashMap<&str, GVal<D>> = env
        .iter()
        .map(|(n, v)| {
            let g = match leaves.iter().find(|(l, _)| l == n) {
                Some((_, leaf)) => leaf.clone(),
                None => GVal::constant(v.clone()),
            };
            (n.as_str(), g)
        })
        .collect();
    let out = match arg(&case.expr, &genv)? {
        Arg::Val(v) => v,
        Arg::Lit(x) => return runner(format!("the expression is the bare literal {x}")),
    };
    match &out {
        GVal::F32(v) if v.requires_grad() => v.backward()?,
        GVal::F64(v) if v.requires_grad() => v.backward()?,
        // No leaf reaches the result (all gradients are zero), but ops on the way to an index
        // or an untracked value may have been recorded.
        _ => free_tape(),
    }
    let mut out = Vec::new();
    for (name, leaf) in leaves {
        let input = case
            .inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| EvalError::Runner(format!("no input named `{name}`")))?;
        let g = match &leaf {
            GVal::F32(l) => leaf_grad(l, input, HostData::F32)?,
            GVal::F64(l) => leaf_grad(l, input, HostData::F64)?,
            GVal::Int(_) => unreachable!("leaves are float"),
        };
        out.push((name.to_string(), g));
    }
    Ok(out)
}

/// The gradients of the eager front for `case` (`None` if it has no `grads`), with the inputs
/// already uploaded in `env`.
pub(crate) fn eager_grads<D: Device + ArenaAlloc>(
    case: &Case,
    env: &HashMap<String, Value<D>>,
) -> Res<Option<Vec<(String, HostTensor)>>> {
    if case.grads.is_none() {
        return Ok(None);
    }
    match catch_unwind(AssertUnwindSafe(|| grads(case, env))) {
        Ok(Ok(g)) => Ok(Some(g)),
        Ok(Err(e)) => {
            free_tape();
            Err(e)
        }
        Err(p) => {
            free_tape();
            resume_unwind(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_case;

    fn case(expr: &str, inputs: &str, wrt: &str) -> Case {
        let line = format!(
            r#"{{"id": "t.t.0", "expr": "{expr}", "inputs": {inputs}, "expect_error": "x", "wrt": {wrt}, "grads": {{}}, "rtol": 0, "atol": 0}}"#
        );
        parse_case(&line).unwrap()
    }

    fn run(c: &Case) -> Res<Vec<(String, HostTensor)>> {
        let env = c
            .inputs
            .iter()
            .map(|(n, t)| (n.clone(), t.upload(&Reference).unwrap()))
            .collect();
        eager_grads(c, &env).map(Option::unwrap)
    }

    const INPUTS: &str = r#"{"x": {"dtype": "f64", "shape": [3], "data": [1, 2, 3]},
        "y": {"dtype": "f64", "shape": [2, 1], "data": [5, 7]},
        "f": {"dtype": "f32", "shape": [2], "data": [1, 4]},
        "i": {"dtype": "u8", "shape": [3], "data": [4, 0, 9]}}"#;

    #[test]
    fn gradients_of_the_sum_with_constants_and_integer_parts() {
        // L = Σ (x·x + 2·y) over [2, 3]; i enters through a cast (a constant).
        let c = case(
            "(add (add (mul x x) (mul y 2)) (cast i :dtype f64))",
            INPUTS,
            r#"["x", "y"]"#,
        );
        let g = run(&c).unwrap();
        assert_eq!(g[0].1.data, HostData::F64(vec![4., 8., 12.]));
        assert_eq!(
            (g[1].1.shape.clone(), &g[1].1.data),
            (vec![2, 1], &HostData::F64(vec![6., 6.]))
        );
    }

    #[test]
    fn unreached_leaves_have_zero_gradients_and_the_tape_stays_clean() {
        // The argmax result is an index: nothing is differentiated, but exp(x) was recorded.
        let c = case("(argmax (exp x))", INPUTS, r#"["x"]"#);
        assert_eq!(run(&c).unwrap()[0].1.data, HostData::F64(vec![0.; 3]));
        // An f64 graph was left behind and freed: an f32 case runs on a clean tape.
        let c = case("(mul f f)", INPUTS, r#"["f"]"#);
        assert_eq!(run(&c).unwrap()[0].1.data, HostData::F32(vec![2., 8.]));
        // Same after an error part-way (x was recorded before the mismatch).
        let c = case("(add (exp x) (exp y) (neg x))", INPUTS, r#"["x"]"#);
        assert!(run(&c).is_err());
        // The second exp(x), and the constant y, are recorded but do not reach the result.
        let c = case(
            "(mul (exp x) (cast (argmax (add (exp x) y)) :dtype f64))",
            INPUTS,
            r#"["x"]"#,
        );
        let want = HostTensor {
            shape: vec![3],
            data: HostData::F64([1f64, 2., 3.].iter().map(|x| 5. * x.exp()).collect()),
        };
        assert_eq!(
            crate::compare(&run(&c).unwrap()[0].1, &want, 1e-15, 0.),
            Ok(())
        );
        let c = case("(exp y)", INPUTS, r#"["x"]"#);
        assert_eq!(run(&c).unwrap()[0].1.data, HostData::F64(vec![0.; 3]));
    }

    #[test]
    fn what_cannot_be_differentiated_is_a_runner_error() {
        let c = case("(cast i :dtype f32)", INPUTS, r#"["i"]"#);
        assert!(matches!(run(&c), Err(EvalError::Runner(_))));
        let c = case("(cast x :dtype f32)", INPUTS, r#"["x"]"#);
        assert!(matches!(run(&c), Err(EvalError::Runner(_))));
        let c = case("(add x f)", INPUTS, r#"["x"]"#);
        assert!(matches!(run(&c), Err(EvalError::Runner(_))));
    }
}
