//! Finite-difference check of every op's gradient rule, at random shapes, with broadcasting
//! and a keepdim reduction in the middle of each chain. The analytic gradients come from the
//! static graph (`backward`, plan, run); the reference is central differences of the same
//! graph's forward pass in f64.

use tensile_core::graph::{Graph, NodeId, Training};
use tensile_core::{BinaryOp, DType, Extremum, ReduceOp, Reference, Result, Rng, UnaryOp};

type Build = dyn Fn(&mut Graph, &[NodeId]) -> Result<NodeId>;

/// The loss: Σ w ⊙ sum(out, axis 0 kept) with fixed pseudo-random weights, so every element of
/// `out` gets a distinct upstream gradient and a keepdim reduction sits mid-chain.
fn chain(g: &mut Graph, out: NodeId) -> Result<NodeId> {
    let s = g.shape(out)?;
    let k = if s.rank() > 0 {
        g.sum(out, Some(&[0]), true)?
    } else {
        out
    };
    let ks = g.shape(k)?;
    let w = g.input("w", DType::F64, ks.dims())?;
    let p = g.mul(k, w)?;
    g.sum(p, None, false)
}

struct Case {
    inputs: Vec<(Vec<usize>, Vec<f64>)>,
}

fn weights(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::seed(seed ^ 0xABCD);
    (0..n).map(|_| 0.5 + r.uniform()).collect()
}

/// Runs the graph for `case` and returns (loss, grads of every input).
fn run(build: &Build, case: &Case, seed: u64, grads: bool) -> Result<(f64, Vec<Vec<f64>>)> {
    let mut g = Graph::new();
    let ids: Vec<NodeId> = case
        .inputs
        .iter()
        .map(|(d, _)| {
            if grads {
                g.input_with_grad("x", DType::F64, d)
            } else {
                g.input("x", DType::F64, d)
            }
        })
        .collect::<Result<_>>()?;
    let out = build(&mut g, &ids)?;
    let loss = chain(&mut g, out)?;
    let w = (0..g.nodes().len() as NodeId)
        .find(|&i| g.node(i).map(|n| n.name == "w").unwrap_or(false))
        .expect("weights node");
    if grads {
        g.backward(loss)?;
        g.plan(&[loss], Training::GradsOnly)?;
    } else {
        g.plan(&[loss], Training::Inference)?;
    }
    let mut s = g.session(Reference)?;
    for (id, (_, v)) in ids.iter().zip(&case.inputs) {
        s.input_mut::<f64>(*id)?.copy_from_slice(v);
    }
    let wn = g.shape(w)?.numel();
    s.input_mut::<f64>(w)?.copy_from_slice(&weights(wn, seed));
    s.forward()?;
    let l = s.read::<f64>(loss)?.iter().next().unwrap_or(0.0);
    let mut gs = Vec::new();
    if grads {
        s.backward()?;
        for id in &ids {
            gs.push(match s.grad::<f64>(*id) {
                Ok(v) => v.iter().collect(),
                Err(_) => vec![0.0; g.shape(*id)?.numel()],
            });
        }
    }
    Ok((l, gs))
}

fn gradcheck(name: &str, build: &Build, case: Case, seed: u64) {
    let (_, analytic) = run(build, &case, seed, true).unwrap_or_else(|e| panic!("{name}: {e}"));
    // A cast through f32 quantises the function at f32 resolution, so it needs a wider step.
    let h = if name == "cast" { 1e-3 } else { 1e-6 };
    for (k, (_, vals)) in case.inputs.iter().enumerate() {
        for (i, &a) in analytic[k].iter().enumerate().take(vals.len()) {
            let mut plus = Case {
                inputs: case.inputs.clone(),
            };
            plus.inputs[k].1[i] += h;
            let mut minus = Case {
                inputs: case.inputs.clone(),
            };
            minus.inputs[k].1[i] -= h;
            let lp = run(build, &plus, seed, false).unwrap().0;
            let lm = run(build, &minus, seed, false).unwrap().0;
            let numeric = (lp - lm) / (2.0 * h);
            assert!(
                (a - numeric).abs() <= 1e-5 + 1e-4 * numeric.abs(),
                "{name} (seed {seed}): d/dx{k}[{i}] analytic {a} vs numeric {numeric}; shapes {:?}",
                case.inputs.iter().map(|c| &c.0).collect::<Vec<_>>()
            );
        }
    }
}

/// A random shape of rank 1..=3 with dims 1..=3.
fn shape(r: &mut Rng) -> Vec<usize> {
    let rank = 1 + r.below(3);
    (0..rank).map(|_| 1 + r.below(3)).collect()
}

/// A shape that broadcasts to `s`: some dims set to 1, some leading dims dropped.
fn broadcastable(r: &mut Rng, s: &[usize]) -> Vec<usize> {
    let drop = r.below(s.len() + 1).min(s.len() - 1);
    s[drop..]
        .iter()
        .map(|&d| if r.below(2) == 0 { 1 } else { d })
        .collect()
}

/// Values away from kinks and domain edges: magnitude in [0.3, 1.5], sign random or positive.
fn values(r: &mut Rng, n: usize, positive: bool) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let m = 0.3 + 1.2 * r.uniform();
            if positive || r.below(2) == 0 {
                m
            } else {
                -m
            }
        })
        .collect()
}

/// Distinct values (no ties, gaps ≥ 0.05) in random order.
fn distinct(r: &mut Rng, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n)
        .map(|i| i as f64 * 0.1 - 0.3 + 0.01 * r.uniform())
        .collect();
    for i in (1..n).rev() {
        v.swap(i, r.below(i + 1));
    }
    v
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

const SEEDS: u64 = 4;

#[test]
fn unary_ops() {
    for &op in UnaryOp::ALL {
        if op == UnaryOp::Step {
            continue; // zero gradient by definition; used inside other rules
        }
        for seed in 0..SEEDS {
            let mut r = Rng::seed(seed);
            let s = shape(&mut r);
            let positive = matches!(op, UnaryOp::Log | UnaryOp::Sqrt);
            let v = values(&mut r, numel(&s), positive);
            gradcheck(
                op.name(),
                &move |g, x| g.unary(op, x[0]),
                Case {
                    inputs: vec![(s, v)],
                },
                seed,
            );
        }
    }
}

#[test]
fn binary_ops_with_broadcasting() {
    for &op in BinaryOp::ALL {
        if op == BinaryOp::Eq {
            continue;
        }
        for seed in 0..SEEDS {
            let mut r = Rng::seed(100 + seed);
            let s = shape(&mut r);
            let b = broadcastable(&mut r, &s);
            let (a, bv) = match op {
                BinaryOp::Maximum | BinaryOp::Minimum => {
                    // odd vs even tenths: never closer than 0.1
                    let a = (0..numel(&s))
                        .map(|_| (2 * r.below(10) + 1) as f64 * 0.1 - 1.0)
                        .collect();
                    let b = (0..numel(&b))
                        .map(|_| (2 * r.below(10)) as f64 * 0.1 - 1.0)
                        .collect();
                    (a, b)
                }
                _ => (
                    values(&mut r, numel(&s), op == BinaryOp::Pow),
                    values(&mut r, numel(&b), false),
                ),
            };
            // Both orders, so each side is the broadcast one once.
            gradcheck(
                op.name(),
                &move |g, x| g.binary(op, x[0], x[1]),
                Case {
                    inputs: vec![(s.clone(), a.clone()), (b.clone(), bv.clone())],
                },
                seed,
            );
            if op != BinaryOp::Pow {
                gradcheck(
                    op.name(),
                    &move |g, x| g.binary(op, x[1], x[0]),
                    Case {
                        inputs: vec![(s, a), (b, bv)],
                    },
                    seed,
                );
            }
        }
    }
}

#[test]
fn scalar_operands() {
    for &op in BinaryOp::ALL {
        if op == BinaryOp::Eq {
            continue;
        }
        for rhs in [true, false] {
            let mut r = Rng::seed(7);
            let s = shape(&mut r);
            let positive = op == BinaryOp::Pow && rhs || op == BinaryOp::Div && !rhs;
            let v = values(&mut r, numel(&s), positive);
            let sc = if op == BinaryOp::Pow { 1.7 } else { 0.15 };
            gradcheck(
                op.name(),
                &move |g, x| g.scalar(op, x[0], sc, rhs),
                Case {
                    inputs: vec![(s, v)],
                },
                3,
            );
        }
    }
}

#[test]
fn reductions_over_axis_sets() {
    let ops = [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Var { correction: 1 },
        ReduceOp::Var { correction: 0 },
        ReduceOp::Std { correction: 1 },
    ];
    for op in ops {
        for seed in 0..SEEDS {
            let mut r = Rng::seed(200 + seed);
            let s: Vec<usize> = (0..3).map(|_| 2 + r.below(2)).collect();
            let v = values(&mut r, numel(&s), false);
            let axes: Vec<isize> = match seed % 4 {
                0 => vec![-1],
                1 => vec![0, 2],
                2 => vec![1],
                _ => vec![0, 1, 2],
            };
            let keep = seed % 2 == 0;
            gradcheck(
                op.name(),
                &move |g, x| g.reduce(op, x[0], Some(&axes), keep),
                Case {
                    inputs: vec![(s, v)],
                },
                seed,
            );
        }
    }
}

#[test]
fn max_and_min_route_to_the_extreme() {
    for ext in [Extremum::Max, Extremum::Min] {
        for seed in 0..SEEDS {
            let mut r = Rng::seed(300 + seed);
            let s = vec![2 + r.below(2), 3, 2];
            let v = distinct(&mut r, numel(&s));
            let axis = [Some(-1), Some(0), Some(1), None][seed as usize];
            let keep = seed % 2 == 1;
            gradcheck(
                "extreme",
                &move |g, x| g.extreme(ext, x[0], axis, keep, false),
                Case {
                    inputs: vec![(s, v)],
                },
                seed,
            );
        }
    }
}

#[test]
fn matmul_batched_broadcast_and_vectors() {
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[2, 3], &[3, 4]),
        (&[3], &[3, 2]),
        (&[2, 3], &[3]),
        (&[3], &[3]),
        (&[2, 1, 2, 3], &[3, 3, 2]),
        (&[3], &[2, 3, 2]),
    ];
    for (k, (a, b)) in shapes.iter().enumerate() {
        let mut r = Rng::seed(400 + k as u64);
        let av = values(&mut r, numel(a), false);
        let bv = values(&mut r, numel(b), false);
        gradcheck(
            "matmul",
            &|g, x| g.matmul(x[0], x[1]),
            Case {
                inputs: vec![(a.to_vec(), av), (b.to_vec(), bv)],
            },
            k as u64,
        );
    }
}

#[test]
fn movement_ops_route_back() {
    let mut r = Rng::seed(500);
    let s = vec![2, 3, 2];
    let v = values(&mut r, 12, false);
    let cases: Vec<(&str, Box<Build>)> = vec![
        (
            "reshape",
            Box::new(|g, x| {
                let y = g.reshape(x[0], &[3, -1])?;
                g.unary(UnaryOp::Tanh, y)
            }),
        ),
        (
            "permute",
            Box::new(|g, x| {
                let y = g.permute(x[0], &[2, 0, 1])?;
                g.unary(UnaryOp::Sigmoid, y)
            }),
        ),
        (
            "transpose",
            Box::new(|g, x| {
                let y = g.transpose(x[0], 0, 2)?;
                let y = g.reshape(y, &[-1])?;
                g.unary(UnaryOp::Exp, y)
            }),
        ),
        (
            "broadcast_to",
            Box::new(|g, x| {
                let y = g.broadcast_to(x[0], &[4, 2, 3, 2])?;
                g.unary(UnaryOp::Tanh, y)
            }),
        ),
        (
            "unsqueeze",
            Box::new(|g, x| {
                let y = g.unsqueeze(x[0], 1)?;
                let y = g.squeeze(y, Some(&[1]))?;
                g.unary(UnaryOp::Exp, y)
            }),
        ),
        (
            "squeeze",
            Box::new(|g, x| {
                let y = g.reshape(x[0], &[1, 12, 1])?;
                let y = g.squeeze(y, None)?;
                g.unary(UnaryOp::Tanh, y)
            }),
        ),
        (
            "cast",
            Box::new(|g, x| {
                let y = g.cast(x[0], DType::F32)?;
                let y = g.cast(y, DType::F64)?;
                g.mul(y, x[0])
            }),
        ),
    ];
    for (name, b) in &cases {
        gradcheck(
            name,
            b.as_ref(),
            Case {
                inputs: vec![(s.clone(), v.clone())],
            },
            1,
        );
    }
}

#[test]
fn composites_and_an_input_used_twice() {
    let mut r = Rng::seed(600);
    let logits = values(&mut r, 12, false);
    let other = values(&mut r, 12, false);
    gradcheck(
        "softmax",
        &|g, x| g.softmax(x[0], -1),
        Case {
            inputs: vec![(vec![3, 4], logits.clone())],
        },
        1,
    );
    gradcheck(
        "log_softmax",
        &|g, x| g.log_softmax(x[0], 0),
        Case {
            inputs: vec![(vec![3, 4], logits.clone())],
        },
        2,
    );
    gradcheck(
        "mse",
        &|g, x| g.mse(x[0], x[1]),
        Case {
            inputs: vec![(vec![3, 4], logits.clone()), (vec![3, 4], other)],
        },
        3,
    );
    gradcheck(
        "cross_entropy",
        &|g, x| {
            // Labels are a constant here (class index = 1 for every row).
            let labels = g.constant(DType::I32, &[3], tensile_core::graph::Fill::Value(1.0))?;
            g.cross_entropy(x[0], labels)
        },
        Case {
            inputs: vec![(vec![3, 4], logits.clone())],
        },
        4,
    );
    gradcheck(
        "x*x + exp(x)",
        &|g, x| {
            let a = g.mul(x[0], x[0])?;
            let b = g.unary(UnaryOp::Exp, x[0])?;
            g.add(a, b)
        },
        Case {
            inputs: vec![(vec![3, 4], logits)],
        },
        5,
    );
}
