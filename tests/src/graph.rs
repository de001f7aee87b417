//! The graph front: a case's expression built as a static graph
//! ([`tensile_core::graph::Graph`]), planned, and run in a session on a device (`FORMAT.md` §7,
//! §9). Inputs are declared with their dtypes, the `wrt` inputs as grad inputs; for a case
//! with `grads`, L = the sum of all elements of the result, and the gradients are read after
//! `backward`. A library error may come while the graph is built, planned or run (§6 leaves
//! that to the library); each is an [`EvalError::Lib`].

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tensile_core::graph::{Graph, Node, NodeId, Session, Training};
use tensile_core::{ArenaAlloc, DType, Device, Elem};

use crate::eval::{runner, Arg, EvalError, OpSpec, Operands, Res};
use crate::sexpr::{Call, Expr};
use crate::value::{HostData, HostTensor};
use crate::{Case, Evaluated};

/// Graph leaves are named with `&'static str` (the names only appear in messages): each
/// distinct input name is leaked once.
fn static_name(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let set = names.get_or_insert_with(HashSet::new);
    if let Some(&s) = set.get(name) {
        return s;
    }
    let s: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(s);
    s
}

/// Builds the graph of one case: each input is declared the first time the expression names
/// it, so every declared input is read by the result.
struct Builder<'c> {
    g: Graph,
    case: &'c Case,
    /// Declared inputs, in declaration order: name, node, data.
    inputs: Vec<(&'c str, NodeId, &'c HostTensor)>,
}

impl<'c> Builder<'c> {
    fn node(&self, id: NodeId) -> Res<&Node> {
        Ok(self.g.node(id)?)
    }

    fn input(&mut self, name: &str) -> Res<NodeId> {
        if let Some(&(_, id, _)) = self.inputs.iter().find(|(n, _, _)| *n == name) {
            return Ok(id);
        }
        let Some((n, t)) = self.case.inputs.iter().find(|(n, _)| n == name) else {
            return runner(format!("no input named `{name}`"));
        };
        let wrt = self.case.grads.is_some() && self.case.wrt.iter().any(|w| w == name);
        let id = if wrt {
            self.g
                .input_with_grad(static_name(n), t.dtype(), &t.shape)?
        } else {
            self.g.input(static_name(n), t.dtype(), &t.shape)?
        };
        self.inputs.push((n.as_str(), id, t));
        Ok(id)
    }

    fn arg(&mut self, expr: &Expr) -> Res<Arg<NodeId>> {
        match expr {
            Expr::Num(x) => Ok(Arg::Lit(*x)),
            Expr::Name(n) => self.input(n).map(Arg::Val),
            Expr::Call(c) => {
                let args = c
                    .args
                    .iter()
                    .map(|a| self.arg(a))
                    .collect::<Res<Vec<_>>>()?;
                self.call(c, args).map(Arg::Val)
            }
        }
    }

    fn float_only(&self, call: &Call, x: NodeId) -> Res<()> {
        let dt = self.node(x)?.dtype;
        if dt.is_float() {
            Ok(())
        } else {
            runner(format!("`{}` is a float op, got a {dt} operand", call.op))
        }
    }

    fn call(&mut self, call: &Call, args: Vec<Arg<NodeId>>) -> Res<NodeId> {
        let spec = OpSpec::parse(call)?;
        let operands = Operands::check(call, &spec, args)?;
        if !matches!(spec, OpSpec::Extreme { .. } | OpSpec::Cast(_)) && !spec.is_movement() {
            // Arithmetic is on floats only (§4.2); the graph would reject it too, but as a
            // library error that could be mistaken for an expected one.
            match &operands {
                Operands::One(x) | Operands::Scalar { x, .. } => self.float_only(call, *x)?,
                Operands::Two(a, b) => {
                    self.float_only(call, *a)?;
                    self.float_only(call, *b)?;
                    let (da, db) = (self.node(*a)?.dtype, self.node(*b)?.dtype);
                    if da != db {
                        return runner(format!("`{}` of {da} and {db}", call.op));
                    }
                }
            }
        }
        let g = &mut self.g;
        Ok(match (spec, operands) {
            (OpSpec::Binary(op), Operands::Two(a, b)) => g.binary(op, a, b)?,
            // A literal is weak: the graph keeps it as f64 and rounds it to x's dtype.
            (OpSpec::Binary(op), Operands::Scalar { x, s, rhs }) => g.scalar(op, x, s, rhs)?,
            (OpSpec::MatMul, Operands::Two(a, b)) => g.matmul(a, b)?,
            (spec, Operands::One(x)) => match spec {
                OpSpec::Unary(u) => g.unary(u, x)?,
                OpSpec::Reduce { op, axes, keepdim } => {
                    g.reduce(op, x, axes.as_deref(), keepdim)?
                }
                OpSpec::Extreme {
                    op,
                    axis,
                    keepdim,
                    indices,
                } => g.extreme(op, x, axis, keepdim, indices)?,
                OpSpec::Cast(dt) => g.cast(x, dt)?,
                OpSpec::Reshape(shape) => g.reshape(x, &shape)?,
                OpSpec::BroadcastTo(shape) => g.broadcast_to(x, &shape)?,
                OpSpec::Permute(dims) => g.permute(x, &dims)?,
                OpSpec::Transpose(a, b) => g.transpose(x, a, b)?,
                OpSpec::Unsqueeze(a) => g.unsqueeze(x, a)?,
                OpSpec::Squeeze(axes) => g.squeeze(x, axes.as_deref())?,
                OpSpec::Binary(_) | OpSpec::MatMul => unreachable!("two operands were checked"),
            },
            _ => unreachable!("Operands::check matches the spec"),
        })
    }
}

/// Calls `$body` with `$E` bound to the Rust type of a corpus dtype.
macro_rules! with_elem {
    ($dt:expr, $E:ident => $body:expr) => {
        match $dt {
            DType::F32 => {
                type $E = f32;
                $body
            }
            DType::F64 => {
                type $E = f64;
                $body
            }
            DType::I32 => {
                type $E = i32;
                $body
            }
            DType::U8 => {
                type $E = u8;
                $body
            }
            DType::I64 => {
                type $E = i64;
                $body
            }
        }
    };
}

/// Wraps typed host data in the [`HostData`] variant of its dtype.
trait IntoHost: Elem {
    fn into_host(v: Vec<Self>) -> HostData;
}

macro_rules! into_host {
    ($($t:ty => $v:ident),*) => {
        $(impl IntoHost for $t {
            fn into_host(v: Vec<$t>) -> HostData {
                HostData::$v(v)
            }
        })*
    };
}
into_host!(f32 => F32, f64 => F64, i32 => I32, u8 => U8, i64 => I64);

type GraphSession<'g, D> = Session<'g, Vec<Node>, D>;

/// Node `id`'s value, read back in row-major order.
fn read<D: Device + ArenaAlloc>(s: &GraphSession<'_, D>, g: &Graph, id: NodeId) -> Res<HostTensor> {
    let transfer = |e: tensile_core::Error| EvalError::Transfer(format!("reading node {id}: {e}"));
    let dt = g.node(id).map_err(transfer)?.dtype;
    with_elem!(dt, E => {
        let v = s.fetch::<E>(id).map_err(transfer)?;
        Ok(HostTensor {
            shape: v.dims().to_vec(),
            data: E::into_host(v.to_vec().map_err(transfer)?),
        })
    })
}

/// Writes `t`'s data into input `id`.
fn write<D: Device + ArenaAlloc>(
    s: &mut GraphSession<'_, D>,
    id: NodeId,
    t: &HostTensor,
) -> Res<()> {
    let r = match &t.data {
        HostData::F32(v) => s.write(id, v),
        HostData::F64(v) => s.write(id, v),
        HostData::I32(v) => s.write(id, v),
        HostData::U8(v) => s.write(id, v),
        HostData::I64(v) => s.write(id, v),
    };
    r.map_err(|e| EvalError::Transfer(format!("writing input node {id} failed: {e}")))
}

/// Zeros of `t`'s dtype and shape: the gradient of an input no path from the result reaches.
pub(crate) fn zeros_like(t: &HostTensor) -> HostTensor {
    let n: usize = t.shape.iter().product();
    let data = match t.data {
        HostData::F32(_) => HostData::F32(vec![0.0; n]),
        HostData::F64(_) => HostData::F64(vec![0.0; n]),
        HostData::I32(_) => HostData::I32(vec![0; n]),
        HostData::U8(_) => HostData::U8(vec![0; n]),
        HostData::I64(_) => HostData::I64(vec![0; n]),
    };
    HostTensor {
        shape: t.shape.clone(),
        data,
    }
}

/// Builds, plans and runs `case` as a static graph on `dev`; with `grads`, also backward from
/// L = sum of all elements of the result, returning ∂L/∂input for every `wrt` input.
pub fn eval_graph<D: Device + ArenaAlloc>(dev: &D, case: &Case) -> Res<Evaluated> {
    let mut b = Builder {
        g: Graph::new(),
        case,
        inputs: Vec::new(),
    };
    let out = match b.arg(&case.expr)? {
        Arg::Val(id) => id,
        Arg::Lit(x) => return runner(format!("the expression is the bare literal {x}")),
    };
    let Builder { mut g, inputs, .. } = b;
    let with_grads = case.grads.is_some();
    if with_grads {
        let loss = g.sum(out, None, false)?;
        g.backward(loss)?;
        g.plan(&[out], Training::GradsOnly)?;
    } else {
        g.plan(&[out], Training::Inference)?;
    }
    let mut s = g.session(dev.clone())?;
    for &(_, id, t) in &inputs {
        write(&mut s, id, t)?;
    }
    s.forward()?;
    if with_grads {
        s.backward()?;
    }
    let value = read(&s, &g, out)?;
    let grads = if with_grads {
        let ids: HashMap<&str, NodeId> = inputs.iter().map(|&(n, id, _)| (n, id)).collect();
        let mut grads = Vec::new();
        for name in &case.wrt {
            let grad = match ids.get(name.as_str()).and_then(|&id| g.grad(id)) {
                Some(gid) => read(&s, &g, gid)?,
                None => match case.inputs.iter().find(|(n, _)| n == name) {
                    // Not read by the result (or no path carries a gradient): ∂L/∂x = 0.
                    Some((_, t)) => zeros_like(t),
                    None => return runner(format!("`wrt` names no input `{name}`")),
                },
            };
            grads.push((name.clone(), grad));
        }
        Some(grads)
    } else {
        None
    };
    Ok(Evaluated { value, grads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_case;
    use tensile_core::Reference;

    fn case(expr: &str, inputs: &str, grads: Option<(&str, &str)>) -> Case {
        let (wrt, g) = match grads {
            Some((w, g)) => (format!(r#", "wrt": {w}"#), format!(r#", "grads": {g}"#)),
            None => (String::new(), String::new()),
        };
        let line = format!(
            r#"{{"id": "t.t.0", "expr": "{expr}", "inputs": {inputs}, "expect_error": "x"{wrt}{g}, "rtol": 0, "atol": 0}}"#
        );
        parse_case(&line).unwrap()
    }

    #[test]
    fn computes_values_and_gradients_of_the_sum() {
        let x = r#"{"x": {"dtype": "f64", "shape": [3], "data": [1, 2, 3]},
                    "y": {"dtype": "f64", "shape": [2, 1], "data": [5, 7]}}"#;
        // y is only added (broadcast), x is multiplied by itself; L = Σ (x·x + 2·y).
        let c = case(
            "(add (mul x x) (mul y 2))",
            x,
            Some((r#"["x", "y"]"#, "{}")),
        );
        let r = eval_graph(&Reference, &c).unwrap();
        assert_eq!(r.value.shape, [2, 3]);
        assert_eq!(
            r.value.data,
            HostData::F64(vec![11., 14., 19., 15., 18., 23.])
        );
        let grads = r.grads.unwrap();
        assert_eq!(grads[0].1.data, HostData::F64(vec![4., 8., 12.]));
        assert_eq!(grads[1].1.shape, [2, 1]);
        assert_eq!(grads[1].1.data, HostData::F64(vec![6., 6.]));
    }

    #[test]
    fn an_input_the_result_does_not_read_has_a_zero_gradient() {
        let x = r#"{"x": {"dtype": "f32", "shape": [2], "data": [1, 2]},
                    "z": {"dtype": "f32", "shape": [2, 2], "data": [1, 2, 3, 4]}}"#;
        let c = case("(exp x)", x, Some((r#"["z"]"#, "{}")));
        let grads = eval_graph(&Reference, &c).unwrap().grads.unwrap();
        assert_eq!(grads[0].1.shape, [2, 2]);
        assert_eq!(grads[0].1.data, HostData::F32(vec![0.; 4]));
    }

    #[test]
    fn library_errors_and_runner_errors_are_kept_apart() {
        let x = r#"{"x": {"dtype": "f32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]},
                    "i": {"dtype": "u8", "shape": [2], "data": [1, 2]},
                    "d": {"dtype": "f64", "shape": [2], "data": [1, 2]}}"#;
        let kind = |expr: &str| match eval_graph(&Reference, &case(expr, x, None)) {
            Err(EvalError::Lib(e)) => e.kind().name(),
            other => panic!("{expr}: {other:?}"),
        };
        assert_eq!(kind("(neg (sum x :axes (0 -2)))"), "invalid_axis");
        assert_eq!(kind("(matmul x x)"), "matmul_mismatch");
        let is_runner = |expr: &str| {
            matches!(
                eval_graph(&Reference, &case(expr, x, None)),
                Err(EvalError::Runner(_))
            )
        };
        assert!(is_runner("(neg i)"));
        assert!(is_runner("(add d (cast i :dtype f32))"));
        assert!(is_runner("(add 1 2)"));
        assert!(is_runner("(exp q)"));
        // Integer tensors take shape ops, extrema and casts.
        let r = eval_graph(&Reference, &case("(argmax (unsqueeze i :axis 0))", x, None)).unwrap();
        assert_eq!(
            (r.value.shape, r.value.data),
            (vec![], HostData::I64(vec![1]))
        );
    }
}
