//! The CUDA device against the CPU reference, where a GPU opens. Without one, the tests run on
//! the CPU emulator when the `emulator` feature is on (as in `cargo test --workspace`, where
//! the conformance crate enables it), else print why they skipped (set `TENSILE_REQUIRE_GPU`
//! to make a missing GPU a failure). CUDA-graph capture needs a real GPU. The whole corpus also
//! runs on this device, from `tests/tests/conformance.rs`.

use tensile_core::graph::{Graph, NodeId, Training};
use tensile_core::ops::{Adam, Sgd};
use tensile_core::{DType, ErrorKind, Reference, Tensor};
use tensile_hal_cuda::Cuda;

fn gpu() -> Option<Cuda> {
    match Cuda::new(0) {
        Ok(c) => Some(c),
        Err(e) => {
            assert!(
                std::env::var_os("TENSILE_REQUIRE_GPU").is_none(),
                "TENSILE_REQUIRE_GPU is set but {e}"
            );
            #[cfg(feature = "emulator")]
            match Cuda::emulated() {
                Ok(c) => {
                    eprintln!("no GPU ({e}): on the CPU emulator");
                    return Some(c);
                }
                Err(e) => eprintln!("no emulator: {e}"),
            }
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// Whether `c` is a real GPU (capture and replay need one).
fn real(c: &Cuda) -> bool {
    c.arch() != "host"
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()),
            "element {i}: gpu {x} vs reference {y}"
        );
    }
}

#[test]
fn without_a_gpu_opening_one_is_a_device_error_not_a_panic() {
    match Cuda::new(0) {
        Ok(c) => eprintln!("a GPU is here: {c:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Device);
            assert!(!e.to_string().is_empty());
        }
    }
    // An ordinal past the last device is an error on every machine.
    assert_eq!(Cuda::new(1 << 20).unwrap_err().kind(), ErrorKind::Device);
}

#[test]
fn ops_on_the_gpu_match_the_reference() {
    let Some(cuda) = gpu() else { return };
    let x: Tensor<f32> = Tensor::randn(&[5, 64, 3], 7).unwrap();
    let b: Tensor<f32> = Tensor::randn(&[3], 8).unwrap();
    let w: Tensor<f32> = Tensor::randn(&[40, 64], 9).unwrap();
    let (xg, bg, wg) = (
        x.to(&cuda).unwrap(),
        b.to(&cuda).unwrap(),
        w.to(&cuda).unwrap(),
    );
    let check = |g: Tensor<f32, Cuda>, r: Tensor<f32>, tol: f32| {
        assert_eq!(g.dims(), r.dims());
        close(&g.to_vec().unwrap(), &r.to_vec().unwrap(), tol);
    };
    check(
        (&xg * &bg).unwrap().exp().unwrap(),
        (&x * &b).unwrap().exp().unwrap(),
        1e-5,
    );
    check(
        xg.sum(&[1], false).unwrap(),
        x.sum(&[1], false).unwrap(),
        1e-4,
    );
    check(
        xg.var(&[0, 2], 1, true).unwrap(),
        x.var(&[0, 2], 1, true).unwrap(),
        1e-4,
    );
    // A transposed view and a broadcast batch go through cuBLAS without copies.
    let xt = xg.transpose(1, 2).unwrap();
    check(
        xt.matmul(&wg.t().unwrap()).unwrap(),
        x.transpose(1, 2).unwrap().matmul(&w.t().unwrap()).unwrap(),
        1e-4,
    );
    let gi = xg.argmax(Some(-2), false).unwrap().to_vec().unwrap();
    let ri = x.argmax(Some(-2), false).unwrap().to_vec().unwrap();
    assert_eq!(gi, ri);
    let back: Tensor<f32> = xg.to(&Reference).unwrap();
    assert_eq!(back.to_vec().unwrap(), x.to_vec().unwrap());
}

/// A digits-sized MLP with cross-entropy, planned for `opt`.
fn mlp(opt: Training) -> (Graph, [NodeId; 5]) {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, &[32, 64]).unwrap();
    let y = g.input("y", DType::I32, &[32]).unwrap();
    let w1 = g.param("w1", DType::F32, &[64, 32]).unwrap();
    let w2 = g.param("w2", DType::F32, &[32, 10]).unwrap();
    let h = g.matmul(x, w1).unwrap();
    let h = g.relu(h).unwrap();
    let logits = g.matmul(h, w2).unwrap();
    let loss = g.cross_entropy(logits, y).unwrap();
    g.backward(loss).unwrap();
    g.plan(&[loss], opt).unwrap();
    (g, [x, y, w1, w2, loss])
}

fn init<D: tensile_core::Device + tensile_core::ArenaAlloc>(
    s: &mut tensile_core::graph::Session<'_, Vec<tensile_core::graph::Node>, D>,
    ids: [NodeId; 5],
) {
    let [x, y, w1, w2, _] = ids;
    let f = |n: usize, k: usize, m: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * k % m) as f32 - m as f32 / 2.0) * 0.02)
            .collect()
    };
    s.write(x, &f(32 * 64, 3, 17)).unwrap();
    s.write(y, &(0..32).map(|i| i % 10).collect::<Vec<i32>>())
        .unwrap();
    s.write(w1, &f(64 * 32, 7, 13)).unwrap();
    s.write(w2, &f(32 * 10, 5, 11)).unwrap();
    s.set_lr(0.01).unwrap();
}

#[test]
fn training_on_the_gpu_matches_the_cpu_and_a_replayed_graph_matches_eager_steps() {
    let Some(cuda) = gpu() else { return };
    for opt in [
        Training::Adam(Adam::default()),
        Training::Sgd(Sgd {
            momentum: 0.9,
            ..Sgd::default()
        }),
    ] {
        let (g, ids) = mlp(opt);
        let [_, _, w1, _, loss] = ids;
        let mut cpu = g.session(Reference).unwrap();
        let mut eager = cuda.session(&g).unwrap();
        let mut replayed = cuda.session(&g).unwrap();
        init(&mut cpu, ids);
        init(&mut eager, ids);
        init(&mut replayed, ids);
        for _ in 0..5 {
            cpu.train_step().unwrap();
            eager.train_step().unwrap();
        }
        replayed.train_step().unwrap(); // compiles the kernels before capture
        if real(&cuda) {
            let step = cuda.capture(&mut replayed, |s| s.train_step()).unwrap();
            for _ in 0..4 {
                step.run(&mut replayed).unwrap();
            }
            // A replay belongs to the session it was captured from.
            assert_eq!(step.run(&mut eager).unwrap_err().kind(), ErrorKind::Device);
        } else {
            assert!(cuda.capture(&mut replayed, |s| s.train_step()).is_err());
            for _ in 0..4 {
                replayed.train_step().unwrap();
            }
        }
        let w_cpu = cpu.fetch::<f32>(w1).unwrap().to_vec().unwrap();
        let w_eager = eager.fetch::<f32>(w1).unwrap().to_vec().unwrap();
        let w_replay = replayed.fetch::<f32>(w1).unwrap().to_vec().unwrap();
        close(&w_eager, &w_cpu, 1e-4);
        // The same kernels in the same order: replay equals eager exactly, and Adam's bias
        // correction saw the step count advance on the device at every replay.
        assert_eq!(w_replay, w_eager);
        assert_eq!(replayed.step_count().unwrap(), 5);
        let l = eager.fetch::<f32>(loss).unwrap().to_vec().unwrap();
        let lc = cpu.fetch::<f32>(loss).unwrap().to_vec().unwrap();
        close(&l, &lc, 1e-4);
    }
}

#[test]
fn large_copies_go_through_pinned_memory_and_come_back_intact() {
    let Some(cuda) = gpu() else { return };
    // 4.5M + 3 floats: over the 8 MiB staging threshold, ending in a partial chunk.
    let n = 4_500_003;
    let v: Vec<f32> = (0..n).map(|i| (i % 1013) as f32 - 0.5).collect();
    let t = Tensor::<f32>::from_vec(v.clone(), [n]).unwrap();
    let g = t.to(&cuda).unwrap();
    let doubled = (&g + &g).unwrap().to_vec().unwrap();
    assert!(doubled.iter().zip(&v).all(|(d, x)| *d == 2.0 * x));
    assert_eq!(g.to_vec().unwrap(), v);
}

#[test]
fn casts_saturate_and_ties_keep_the_first_operand_as_on_the_host() {
    let Some(cuda) = gpu() else { return };
    let v = [300.0f32, -5.0, f32::NAN, 2.5e10, -2.5e10, 254.9, -0.5, 7.0];
    let x = Tensor::<f32>::from_vec(v.to_vec(), [v.len()]).unwrap();
    let xg = x.to(&cuda).unwrap();
    assert_eq!(
        xg.cast::<u8>().unwrap().to_vec().unwrap(),
        x.cast::<u8>().unwrap().to_vec().unwrap()
    );
    assert_eq!(
        xg.cast::<i32>().unwrap().to_vec().unwrap(),
        x.cast::<i32>().unwrap().to_vec().unwrap()
    );
    assert_eq!(
        xg.cast::<i64>().unwrap().to_vec().unwrap(),
        x.cast::<i64>().unwrap().to_vec().unwrap()
    );
    // From integers: one rounding to f32 (2^60 + 2^36 + 1 rounds up only without a detour
    // through f64), and narrowing integers wrap.
    let w = [(1i64 << 60) + (1i64 << 36) + 1, (1i64 << 32) + 300, -1];
    let wi = Tensor::<i64>::from_vec(w.to_vec(), [3]).unwrap();
    let wg = wi.to(&cuda).unwrap();
    assert_eq!(
        wg.cast::<f32>().unwrap().to_vec().unwrap(),
        wi.cast::<f32>().unwrap().to_vec().unwrap()
    );
    for (g, h) in [
        (wg.cast::<i32>().unwrap(), wi.cast::<i32>().unwrap()),
        (
            wg.cast::<i32>()
                .unwrap()
                .cast::<u8>()
                .unwrap()
                .cast::<i32>()
                .unwrap(),
            wi.cast::<i32>()
                .unwrap()
                .cast::<u8>()
                .unwrap()
                .cast::<i32>()
                .unwrap(),
        ),
    ] {
        assert_eq!(g.to_vec().unwrap(), h.to_vec().unwrap());
    }
    let z = Tensor::<f32>::from_vec(vec![-0.0, 0.0], [2]).unwrap();
    let (a, b) = (z.narrow(0, 0, 1).unwrap(), z.narrow(0, 1, 1).unwrap());
    let (ag, bg) = (a.to(&cuda).unwrap(), b.to(&cuda).unwrap());
    let host = a.maximum(&b).unwrap().item().unwrap();
    let dev = ag.maximum(&bg).unwrap().item().unwrap();
    assert_eq!(host.to_bits(), dev.to_bits(), "maximum(-0, +0)");
}

#[test]
fn reductions_split_across_blocks_and_over_columns_match_the_reference() {
    let Some(cuda) = gpu() else { return };
    let cases: [(&[usize], &[isize]); 5] = [
        (&[300, 70], &[0]),       // outputs adjacent in memory: 32 per block, split in 2
        (&[100_000], &[0]),       // one output: split over 24 blocks
        (&[5000, 3], &[0]),       // column and split, var's two passes through the scratch
        (&[64, 5, 300], &[0, 2]), // rows split in 4
        (&[40, 50], &[1]),        // one block per output
    ];
    for (i, (dims, axes)) in cases.into_iter().enumerate() {
        let x: Tensor<f64> = Tensor::randn(dims, 40 + i as u64).unwrap();
        let xg = x.to(&cuda).unwrap();
        let ok = |g: Tensor<f64, Cuda>, r: Tensor<f64>, what: &str| {
            let (g, r) = (g.to_vec().unwrap(), r.to_vec().unwrap());
            for (a, b) in g.iter().zip(&r) {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "{dims:?} {axes:?} {what}: {a} vs {b}"
                );
            }
        };
        ok(
            xg.sum(axes, false).unwrap(),
            x.sum(axes, false).unwrap(),
            "sum",
        );
        ok(
            xg.mean(axes, true).unwrap(),
            x.mean(axes, true).unwrap(),
            "mean",
        );
        ok(
            xg.var(axes, 1, false).unwrap(),
            x.var(axes, 1, false).unwrap(),
            "var",
        );
        ok(
            xg.std(axes, 0, false).unwrap(),
            x.std(axes, 0, false).unwrap(),
            "std",
        );
    }
}

#[test]
fn max_and_argmax_per_thread_per_column_and_per_block_match_the_reference() {
    let Some(cuda) = gpu() else { return };
    // (dims, axis): 3 channels (a thread per output), outputs adjacent in memory (32 per
    // block), and long rows (a block per output). Values rounded so ties happen; some NaNs.
    for (dims, axis) in [
        (&[5usize, 64, 64, 3][..], -1isize),
        (&[300, 70][..], 0),
        (&[6, 5000][..], 1),
    ] {
        let n: usize = dims.iter().product();
        let v: Vec<f32> = Tensor::<f32>::randn(&[n], 77)
            .unwrap()
            .to_vec()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, x)| {
                if i % 997 == 5 {
                    f32::NAN
                } else {
                    (x * 2.0).round()
                }
            })
            .collect();
        let x = Tensor::<f32>::from_vec(v, dims).unwrap();
        let xg = x.to(&cuda).unwrap();
        for keep in [false, true] {
            let (gi, ri) = (
                xg.argmax(Some(axis), keep).unwrap(),
                x.argmax(Some(axis), keep).unwrap(),
            );
            assert_eq!(
                gi.to_vec().unwrap(),
                ri.to_vec().unwrap(),
                "argmax {dims:?} {axis}"
            );
            let (gm, rm) = (
                xg.argmin(Some(axis), keep).unwrap(),
                x.argmin(Some(axis), keep).unwrap(),
            );
            assert_eq!(
                gm.to_vec().unwrap(),
                rm.to_vec().unwrap(),
                "argmin {dims:?} {axis}"
            );
        }
        // Values and indices from one launch.
        let ((gv, gi), (rv, ri)) = (xg.max(axis, false).unwrap(), x.max(axis, false).unwrap());
        let bits = |t: Vec<f32>| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(gv.to_vec().unwrap()),
            bits(rv.to_vec().unwrap()),
            "max {dims:?} {axis}"
        );
        assert_eq!(
            gi.to_vec().unwrap(),
            ri.to_vec().unwrap(),
            "max indices {dims:?} {axis}"
        );
    }
}
