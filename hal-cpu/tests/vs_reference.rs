//! The CPU device against the reference device on random shapes, broadcasts and strides.

use proptest::prelude::*;
use tensile_core::{BinaryOp, Device, Extremum, ReduceOp, Reference, Tensor, UnaryOp};
use tensile_hal_cpu::Cpu;

fn close(a: &[f64], b: &[f64], rtol: f64, atol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= atol + rtol * y.abs() || (x.is_nan() && y.is_nan()))
}

fn on<D: Device + Default>(dims: &[usize], seed: u64, perm: &[isize]) -> Tensor<f64, D> {
    // Build the permuted shape's source, then permute, so the operand is strided.
    let t = Tensor::<f64, D>::randn(dims, seed).unwrap();
    t.permute(perm).unwrap()
}

fn shape_and_perm() -> impl Strategy<Value = (Vec<usize>, Vec<isize>)> {
    proptest::collection::vec(1usize..6, 0..5).prop_flat_map(|dims| {
        let r = dims.len();
        (
            Just(dims),
            Just((0..r as isize).collect::<Vec<_>>()).prop_shuffle(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn elementwise_matches((dims, perm) in shape_and_perm(), seed in 0u64..1000, drop in 0usize..4) {
        let a_ref = on::<Reference>(&dims, seed, &perm);
        let a_cpu = on::<Cpu>(&dims, seed, &perm);
        // The second operand: the trailing dims of `a`'s shape with some dims set to 1.
        let ad = a_ref.dims().to_vec();
        let bd: Vec<usize> = ad.iter().enumerate().skip(drop.min(ad.len()))
            .map(|(i, &d)| if i % 2 == 0 { 1 } else { d }).collect();
        let b_ref = Tensor::<f64, Reference>::rand(&bd, seed + 1).unwrap();
        let b_cpu = Tensor::<f64, Cpu>::rand(&bd, seed + 1).unwrap();
        for &op in BinaryOp::ALL {
            let (x, y) = if op == BinaryOp::Pow { (a_ref.abs().unwrap(), a_cpu.abs().unwrap()) } else { (a_ref.clone(), a_cpu.clone()) };
            let r = x.binary(op, &b_ref).unwrap().to_vec().unwrap();
            let c = y.binary(op, &b_cpu).unwrap().to_vec().unwrap();
            prop_assert!(close(&c, &r, 1e-12, 1e-12), "{op:?}");
        }
        for &op in UnaryOp::ALL {
            let x = if matches!(op, UnaryOp::Log | UnaryOp::Sqrt) { a_ref.abs().unwrap() } else { a_ref.clone() };
            let y = if matches!(op, UnaryOp::Log | UnaryOp::Sqrt) { a_cpu.abs().unwrap() } else { a_cpu.clone() };
            prop_assert!(close(&y.unary(op).unwrap().to_vec().unwrap(), &x.unary(op).unwrap().to_vec().unwrap(), 1e-12, 0.0), "{op:?}");
        }
    }

    #[test]
    fn reductions_match((dims, perm) in shape_and_perm(), seed in 0u64..1000, mask in 0u32..32, keep: bool) {
        let x_ref = on::<Reference>(&dims, seed, &perm);
        let x_cpu = on::<Cpu>(&dims, seed, &perm);
        let axes: Vec<isize> = (0..dims.len()).filter(|i| mask & (1 << i) != 0).map(|i| i as isize).collect();
        let axes = if axes.is_empty() { None } else { Some(&axes[..]) };
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Var { correction: 0 }, ReduceOp::Std { correction: 0 }] {
            let r = x_ref.reduce(op, axes, keep).unwrap();
            let c = x_cpu.reduce(op, axes, keep).unwrap();
            prop_assert_eq!(r.dims(), c.dims());
            prop_assert!(close(&c.to_vec().unwrap(), &r.to_vec().unwrap(), 1e-9, 1e-12), "{op:?}");
        }
        for ext in [Extremum::Max, Extremum::Min] {
            let axis = axes.map(|a| a[0]);
            let r = x_ref.arg_extreme(ext, axis, keep).unwrap().to_vec().unwrap();
            let c = x_cpu.arg_extreme(ext, axis, keep).unwrap().to_vec().unwrap();
            prop_assert_eq!(r, c);
        }
    }

    #[test]
    fn matmul_matches(b in 1usize..3, m in 1usize..9, k in 0usize..9, n in 1usize..9, ta: bool, tb: bool, seed in 0u64..1000) {
        let make = |rows: usize, cols: usize, t: bool, s: u64| -> (Tensor<f64, Reference>, Tensor<f64, Cpu>) {
            if t {
                (Tensor::randn(&[b, cols, rows], s).unwrap().transpose(-1, -2).unwrap(),
                 Tensor::randn(&[b, cols, rows], s).unwrap().transpose(-1, -2).unwrap())
            } else {
                (Tensor::randn(&[b, rows, cols], s).unwrap(), Tensor::randn(&[b, rows, cols], s).unwrap())
            }
        };
        let (ar, ac) = make(m, k, ta, seed);
        let (br, bc) = make(k, n, tb, seed + 7);
        let r = ar.matmul(&br).unwrap().to_vec().unwrap();
        let c = ac.matmul(&bc).unwrap().to_vec().unwrap();
        prop_assert!(close(&c, &r, 1e-12, 1e-12));
    }
}

#[test]
fn periodic_broadcasts_match() {
    // Short inner dims broadcast over long outer ones, on either side and with batch dims.
    let cases: [(&[usize], &[usize]); 5] = [
        (&[256, 3], &[3]),
        (&[3], &[300, 3]),
        (&[2, 50, 3], &[2, 1, 3]),
        (&[7, 5], &[1, 5]),
        (&[4, 65, 2], &[4, 1, 1]),
    ];
    for (sa, sb) in cases {
        for &op in &[BinaryOp::Mul, BinaryOp::Sub, BinaryOp::Div] {
            let (ar, br) = (
                Tensor::<f32, Reference>::rand(sa, 3).unwrap(),
                Tensor::<f32, Reference>::rand(sb, 4).unwrap(),
            );
            let (ac, bc) = (
                Tensor::<f32, Cpu>::rand(sa, 3).unwrap(),
                Tensor::<f32, Cpu>::rand(sb, 4).unwrap(),
            );
            let r = ar.binary(op, &br).unwrap();
            let c = ac.binary(op, &bc).unwrap();
            assert_eq!(r.dims(), c.dims());
            assert_eq!(
                r.to_vec().unwrap(),
                c.to_vec().unwrap(),
                "{sa:?} {op:?} {sb:?}"
            );
        }
    }
}

#[test]
fn outer_axis_reductions_match() {
    // The column path: contiguous kept blocks, reduced outer axes (also across its 1024 chunk).
    let cases: [(&[usize], &[isize]); 4] = [
        (&[7, 4200], &[0]),
        (&[3, 4, 40], &[0]),
        (&[3, 4, 40], &[0, 1]),
        (&[5, 8, 8, 3], &[0]),
    ];
    for (shape, axes) in cases {
        let xr = Tensor::<f64, Reference>::randn(shape, 9).unwrap();
        let xc = Tensor::<f64, Cpu>::randn(shape, 9).unwrap();
        for op in [
            ReduceOp::Sum,
            ReduceOp::Mean,
            ReduceOp::Var { correction: 1 },
            ReduceOp::Std { correction: 0 },
        ] {
            for keep in [false, true] {
                let r = xr.reduce(op, Some(axes), keep).unwrap();
                let c = xc.reduce(op, Some(axes), keep).unwrap();
                assert_eq!(r.dims(), c.dims());
                assert!(
                    close(&c.to_vec().unwrap(), &r.to_vec().unwrap(), 1e-12, 1e-12),
                    "{shape:?} {axes:?} {op:?}"
                );
            }
        }
    }
}

#[test]
fn matmul_with_deep_k_and_ragged_edges_matches() {
    // k beyond one packed panel of the small-target kernel (256) and m, n not multiples of 4;
    // on x86_64 this runs the packed GEMM instead, on 32-bit ARM the 4x4 tile kernel.
    for &(m, k, n) in &[(6, 600, 7), (4, 257, 4), (9, 31, 13)] {
        let ar = Tensor::<f64, Reference>::randn(&[m, k], 1).unwrap();
        let br = Tensor::<f64, Reference>::randn(&[k, n], 2).unwrap();
        let ac = Tensor::<f64, Cpu>::randn(&[m, k], 1).unwrap();
        let bc = Tensor::<f64, Cpu>::randn(&[k, n], 2).unwrap();
        let r = ar.matmul(&br).unwrap().to_vec().unwrap();
        let c = ac.matmul(&bc).unwrap().to_vec().unwrap();
        assert!(close(&c, &r, 1e-12, 1e-12), "{m}x{k}x{n}");
        let ar32 = Tensor::<f32, Reference>::randn(&[m, k], 3).unwrap();
        let br32 = Tensor::<f32, Reference>::randn(&[k, n], 4).unwrap();
        let ac32 = Tensor::<f32, Cpu>::randn(&[m, k], 3).unwrap();
        let bc32 = Tensor::<f32, Cpu>::randn(&[k, n], 4).unwrap();
        let r32: Vec<f64> = ar32
            .matmul(&br32)
            .unwrap()
            .to_vec()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let c32: Vec<f64> = ac32
            .matmul(&bc32)
            .unwrap()
            .to_vec()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert!(close(&c32, &r32, 1e-4, 1e-4), "f32 {m}x{k}x{n}");
    }
}
