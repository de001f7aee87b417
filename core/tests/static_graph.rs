//! No-alloc mode: a graph with fixed-capacity node storage, planned and trained in a caller's
//! arena (as firmware does with statics). This test builds without the `alloc` feature.

use tensile_core::graph::{StaticGraph, Training};
use tensile_core::ops::Sgd;
use tensile_core::{DType, ErrorKind, Reference};

#[test]
fn declare_plan_and_train_without_an_allocator() {
    let mut g = StaticGraph::<48>::new_static();
    // sigmoid(x w + b) against 0/1 targets, with MSE: a separable 2-D problem.
    let x = g.input("x", DType::F32, &[4, 2]).unwrap();
    let t = g.input("t", DType::F32, &[4, 1]).unwrap();
    let w = g.param("w", DType::F32, &[2, 1]).unwrap();
    let b = g.param("b", DType::F32, &[1]).unwrap();
    let z = g.matmul(x, w).unwrap();
    let z = g.add(z, b).unwrap();
    let p = g.sigmoid(z).unwrap();
    let loss = g.mse(p, t).unwrap();
    g.backward(loss).unwrap();
    let stats = g
        .plan(
            &[loss, p],
            Training::Sgd(Sgd {
                momentum: 0.9,
                ..Sgd::default()
            }),
        )
        .unwrap();
    assert!(stats.bytes < stats.unplanned_bytes);

    // Too small an arena is an error that names the bytes needed.
    let mut small = [0u8; 64];
    let err = tensile_core::graph::Exec::new(&g, Reference, &mut small[..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferTooSmall);
    assert!(err.to_string().contains("bytes needed"), "{err}");

    let mut arena = [0u8; 8192];
    assert!(stats.bytes + 63 <= arena.len());
    let mut s = tensile_core::graph::Exec::new(&g, Reference, &mut arena[..]).unwrap();
    s.input_mut::<f32>(x)
        .unwrap()
        .copy_from_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
    s.input_mut::<f32>(t)
        .unwrap()
        .copy_from_slice(&[0., 0., 0., 1.]); // logical AND
    s.set_lr(2.0).unwrap();
    for _ in 0..300 {
        s.train_step().unwrap();
    }
    let out = s.read::<f32>(p).unwrap();
    let preds: [bool; 4] = core::array::from_fn(|i| out.get(&[i, 0]).unwrap() > 0.5);
    assert_eq!(preds, [false, false, false, true]);
    assert!(s.read::<f32>(loss).unwrap().get(&[]).unwrap() < 0.05);
}

#[test]
fn a_full_node_store_is_an_error_not_a_panic() {
    let mut g = StaticGraph::<3>::new_static();
    let a = g.input("a", DType::F32, &[2]).unwrap();
    let b = g.exp_then_log(a);
    assert_eq!(b.unwrap_err().kind(), ErrorKind::BufferTooSmall);
}

trait Chain {
    fn exp_then_log(&mut self, x: u16) -> tensile_core::Result<u16>;
}

impl<const N: usize> Chain for StaticGraph<N> {
    fn exp_then_log(&mut self, x: u16) -> tensile_core::Result<u16> {
        let mut y = x;
        for _ in 0..4 {
            y = self.unary(tensile_core::UnaryOp::Exp, y)?;
        }
        Ok(y)
    }
}

/// Without the `dtype-f64` feature, planning an f64 graph is a clear error naming the feature
/// (firmware that runs f32 graphs carries no f64 kernels); with it, the plan succeeds.
#[test]
fn f64_graph_nodes_follow_the_dtype_feature() {
    let mut g = StaticGraph::<8>::new_static();
    let x = g.input("x", DType::F64, &[2]).unwrap();
    let y = g.unary(tensile_core::UnaryOp::Exp, x).unwrap();
    let r = g.plan(&[y], Training::Inference);
    if cfg!(feature = "dtype-f64") {
        assert!(r.is_ok());
    } else {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DTypeMismatch);
        assert!(e.to_string().contains("dtype-f64"), "{e}");
    }
}

/// A planned graph emits itself as the Rust expression of a frozen graph (what firmware
/// `build.rs` scripts write); `examples/firmware-m4` compiles and runs that output in CI.
#[cfg(feature = "alloc")]
#[test]
fn a_planned_graph_emits_a_frozen_graph() {
    use tensile_core::graph::{Graph, Training};
    let mut g = Graph::new();
    let x = g.input("x", tensile_core::DType::F32, &[4, 3]).unwrap();
    let w = g.param("w", tensile_core::DType::F32, &[3, 2]).unwrap();
    let y = g.matmul(x, w).unwrap();
    let loss = g.sum(y, None, false).unwrap();
    assert!(g.to_rust().is_err(), "an unplanned graph cannot be frozen");
    g.backward(loss).unwrap();
    g.plan(&[loss], Training::Sgd(tensile_core::ops::Sgd::default()))
        .unwrap();
    let src = g.to_rust().unwrap();
    assert!(src.starts_with("tensile_core::graph::GraphBase::frozen(&["));
    assert_eq!(
        src.matches("tensile_core::graph::Node::frozen(").count(),
        g.nodes().len()
    );
    // Target-independent: no 64-bit literal for "no state".
    assert!(!src.contains(&usize::MAX.to_string()));
    assert!(src.contains("usize::MAX"));
    assert!(src.contains("tensile_core::graph::Training::Sgd("));
}

/// Adam is an additive feature (`optim-adam`, implied by `std`): without it an Adam plan is a
/// clear error, not a silent no-op step; with it the plan is made.
#[test]
fn adam_plans_need_the_optim_adam_feature() {
    let mut g = StaticGraph::<16>::new_static();
    let w = g.param("w", DType::F32, &[3]).unwrap();
    let loss = g.sum(w, None, false).unwrap();
    g.backward(loss).unwrap();
    let r = g.plan(&[loss], Training::Adam(tensile_core::ops::Adam::default()));
    if cfg!(feature = "optim-adam") {
        assert!(r.is_ok(), "{r:?}");
    } else {
        let e = r.unwrap_err();
        assert!(e.to_string().contains("optim-adam"), "{e}");
    }
}

/// A frozen graph's op set is a type: the executor runs the nodes whose kernels are in it (with
/// the same values as an unrestricted one) and answers a node outside it with a clear error.
#[cfg(feature = "alloc")]
#[test]
fn a_frozen_graph_runs_only_the_kernels_of_its_op_set() {
    use tensile_core::graph::{Exec, Graph, OpKinds, OpSet};
    use tensile_core::{BinaryOp, UnaryOp};

    fn graph(extra: bool) -> &'static Graph {
        let mut g = Graph::new();
        let x = g.input("x", DType::F32, &[3]).unwrap();
        let mut y = g.unary(UnaryOp::Exp, x).unwrap();
        if extra {
            y = g.scalar(BinaryOp::Mul, y, 2.0, true).unwrap();
        }
        g.plan(&[y], Training::Inference).unwrap();
        Box::leak(Box::new(g))
    }
    let (small, big) = (graph(false), graph(true));
    // Only exp, and exp then `* 2`.
    let (exp_only, exp_mul) = (small.op_set(), big.op_set());
    assert!(exp_mul.contains_all(exp_only) && !exp_only.contains_all(exp_mul));
    assert_eq!(exp_only.union(exp_mul), exp_mul);
    // The items a build script writes.
    let src = exp_only.to_rust_kinds("GOps");
    let bits = format!("OpSet::from_bits({:#x})", exp_only.bits());
    assert!(src.contains(&bits), "{src}");
    assert!(
        src.contains("impl tensile_core::graph::OpKinds for GOps"),
        "{src}"
    );
    let src = small.to_rust_static("G", "GOps").unwrap();
    assert!(src.starts_with("pub static G: tensile_core::graph::Frozen<GOps> ="));

    // Run with the small graph's set, through a type built from its bits.
    struct Small;
    impl OpKinds for Small {
        const OPS: OpSet = OpSet::from_bits(SMALL_BITS);
    }
    // Unary ops come first, two bits each (f32, f64), in table order: exp is the second.
    const SMALL_BITS: u128 = 1 << 2;
    assert_eq!(exp_only.bits(), SMALL_BITS);

    let x = [0.0f32, 1.0, -1.0];
    let mut arena = vec![0u8; 4096];
    let f = small.as_frozen::<Small>().unwrap();
    let mut s = Exec::new(&f, Reference, &mut arena[..]).unwrap();
    s.input_mut::<f32>(0).unwrap().copy_from_slice(&x);
    s.forward().unwrap();
    let want: Vec<f32> = x.iter().map(|v| v.exp()).collect();
    let got: Vec<f32> = s.read::<f32>(1).unwrap().iter().collect();
    assert_eq!(got, want);

    // The bigger graph under the small set: exp runs, `* 2` is refused with its node.
    let f = big.as_frozen::<Small>().unwrap();
    let mut s = Exec::new(&f, Reference, &mut arena[..]).unwrap();
    let e = s.forward().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert_eq!(e.node(), Some(2));
    assert!(e.to_string().contains("op set"), "{e}");
}
