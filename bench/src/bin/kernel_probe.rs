//! Diagnostic: GEMM throughput at shapes that isolate the micro-kernel (one KC slice, panels
//! resident in L1/L2) versus the full blocked product. Not part of BENCHMARKS.md.
use tensile_bench::{data, median};
use tensile_hal_cpu::gemm::{gemm, Isa, Mat, MatMut};

fn run(m: usize, n: usize, k: usize) -> f64 {
    let a = data(m * k, 1);
    let b = data(k * n, 2);
    let mut c = vec![0f32; m * n];
    let iters = (4e9 / (2.0 * (m * n * k) as f64)).clamp(10.0, 100000.0) as usize;
    let t = median(iters / 10 + 1, iters, || {
        gemm(
            Isa::best(),
            m,
            n,
            k,
            Mat {
                data: &a,
                off: 0,
                rs: k,
                cs: 1,
            },
            Mat {
                data: &b,
                off: 0,
                rs: n,
                cs: 1,
            },
            MatMut {
                data: &mut c,
                off: 0,
                rs: n,
                cs: 1,
            },
        );
    });
    2.0 * (m * n * k) as f64 / t.as_secs_f64() / 1e9
}

fn main() {
    for (m, n, k) in [
        (6, 64, 256),
        (96, 64, 256),
        (96, 256, 256),
        (96, 2048, 256),
        (1024, 1024, 256),
        (1024, 1024, 1024),
    ] {
        println!("{m:>5} x {n:>5} x {k:>5}: {:.1} GFLOP/s", run(m, n, k));
    }
}
