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
    tc: bool,
    seed: u64,
    tol: f64,
) {
    check_spread::<E>(isa, m, n, k, ta, tb, tc, 1, seed, tol)
}

/// [`check`] with B's strides multiplied by `spread` (2: neither stride is 1).
fn check_spread<E: GemmElem>(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    tc: bool,
    spread: usize,
    seed: u64,
    tol: f64,
) {
    let mut r = tensile_core::Rng::seed(seed);
    let av: Vec<f64> = (0..m * k).map(|_| r.uniform() - 0.5).collect();
    let bv: Vec<f64> = (0..k * n * spread * spread)
        .map(|_| r.uniform() - 0.5)
        .collect();
    let (ars, acs) = if ta { (1, m) } else { (k, 1) };
    let (brs, bcs) = if tb { (1, k) } else { (n, 1) };
    let (brs, bcs) = (brs * spread, bcs * spread);
    let want = naive(m, n, k, &av, ars, acs, &bv, brs, bcs);
    let ae: Vec<E> = av.iter().map(|&x| E::from_f64(x)).collect();
    let be: Vec<E> = bv.iter().map(|&x| E::from_f64(x)).collect();
    // C inside a larger buffer, with an offset of 5 and a padded stride: rows of n + 3
    // (row-major) or columns of m + 3 (column-major, `tc`).
    let (rsc, csc, len) = if tc {
        (1, m + 3, n * (m + 3))
    } else {
        (n + 3, 1, m * (n + 3))
    };
    let mut c = vec![E::from_f64(9.0); 5 + len];
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
        cs: csc,
    };
    gemm(isa, m, n, k, am, bm, cm);
    let mut written = vec![false; c.len()];
    for i in 0..m {
        for j in 0..n {
            let at = 5 + i * rsc + j * csc;
            written[at] = true;
            let got = c[at].to_f64();
            let w = want[i * n + j];
            assert!(
                (got - w).abs() <= tol * (1.0 + k as f64).sqrt(),
                "{isa:?} {m}x{k}x{n} ta={ta} tb={tb} tc={tc}: [{i},{j}] {got} vs {w}"
            );
        }
    }
    for (x, w) in c.iter().zip(&written) {
        if !w {
            assert_eq!(
                x.to_f64(),
                9.0,
                "{isa:?} {m}x{k}x{n} tc={tc}: wrote outside C"
            );
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
            (10, 64, 784),
            (17, 16, 33),
            (5, 70, 9),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for tc in [false, true] {
                    check::<f32>(isa, m, n, k, ta, tb, tc, 1, 1e-5);
                    check::<f64>(isa, m, n, k, ta, tb, tc, 2, 1e-12);
                }
                // Neither of B's strides is 1: the skinny path packs Bᵀ with gathers.
                check_spread::<f32>(isa, m, n, k, ta, tb, false, 2, 3, 1e-5);
                check_spread::<f64>(isa, m, n, k, ta, tb, false, 2, 4, 1e-12);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_shapes(m in 1usize..40, n in 1usize..70, k in 0usize..300, ta: bool, tb: bool, tc: bool, seed in 0u64..100) {
        for isa in Isa::available() {
            check::<f32>(isa, m, n, k, ta, tb, tc, seed, 1e-5);
            check::<f64>(isa, m, n, k, ta, tb, tc, seed, 1e-12);
        }
    }
}
