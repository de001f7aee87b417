//! Every GEMM micro-kernel this machine can run, forced one by one, against a naive triple
//! loop in f64: odd sizes (edge tiles), transposed operands, k beyond one KC slice, strided C.

#![allow(clippy::too_many_arguments)] // matrix shapes and strides, spelled out

use proptest::prelude::*;
use tensile_hal_cpu::gemm::{gemm, GemmElem, Isa, Mat, MatMut};

fn naive(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    ars: usize,
    acs: usize,
    b: &[f64],
    brs: usize,
    bcs: usize,
) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| a[i * ars + p * acs] * b[p * brs + j * bcs])
                .sum();
        }
    }
    c
}

fn check<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    seed: u64,
    tol: f64,
) {
    let mut r = tensile_core::Rng::seed(seed);
    let av: Vec<f64> = (0..m * k).map(|_| r.uniform() - 0.5).collect();
    let bv: Vec<f64> = (0..k * n).map(|_| r.uniform() - 0.5).collect();
    let (ars, acs) = if ta { (1, m) } else { (k, 1) };
    let (brs, bcs) = if tb { (1, k) } else { (n, 1) };
    let want = naive(m, n, k, &av, ars, acs, &bv, brs, bcs);
    let ae: Vec<E> = av.iter().map(|&x| E::from_f64(x)).collect();
    let be: Vec<E> = bv.iter().map(|&x| E::from_f64(x)).collect();
    // C inside a larger buffer with a row stride of n + 3 and an offset of 5.
    let rsc = n + 3;
    let mut c = vec![E::from_f64(9.0); 5 + m * rsc];
    let am = Mat {
        data: &ae,
        off: 0,
        rs: ars,
        cs: acs,
    };
    let bm = Mat {
        data: &be,
        off: 0,
        rs: brs,
        cs: bcs,
    };
    let cm = MatMut {
        data: &mut c,
        off: 5,
        rs: rsc,
        cs: 1,
    };
    gemm(isa, m, n, k, am, bm, cm);
    for i in 0..m {
        for j in 0..n {
            let got = c[5 + i * rsc + j].to_f64();
            let w = want[i * n + j];
            assert!(
                (got - w).abs() <= tol * (1.0 + k as f64).sqrt(),
                "{isa:?} {m}x{k}x{n} ta={ta} tb={tb}: [{i},{j}] {got} vs {w}"
            );
        }
        for j in n..rsc.min(c.len() - 5 - i * rsc) {
            assert_eq!(c[5 + i * rsc + j].to_f64(), 9.0, "{isa:?}: wrote outside C");
        }
    }
}

#[test]
fn every_available_isa_is_exercised() {
    let isas: Vec<Isa> = Isa::available().collect();
    assert!(isas.contains(&Isa::Scalar));
    eprintln!("testing GEMM paths: {isas:?}");
    for isa in isas {
        for &(m, n, k) in &[
            (1, 1, 1),
            (12, 32, 256),
            (13, 33, 257),
            (100, 70, 600),
            (7, 3, 0),
            (64, 10, 784),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                check::<f32>(isa, m, n, k, ta, tb, 1, 1e-5);
                check::<f64>(isa, m, n, k, ta, tb, 2, 1e-12);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes(m in 1usize..40, n in 1usize..70, k in 0usize..300, ta: bool, tb: bool, seed in 0u64..100) {
        for isa in Isa::available() {
            check::<f32>(isa, m, n, k, ta, tb, seed, 1e-5);
            check::<f64>(isa, m, n, k, ta, tb, seed, 1e-12);
        }
    }
}
