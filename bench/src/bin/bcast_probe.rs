//! Diagnostic: (64,1024,1024) + (1024,) against a non-temporal copy of the same bytes, the
//! one elementwise row of BENCHMARKS.md that stayed under 90% of the NT copy.
use std::time::Instant;

use tensile_core::{BinaryOp, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;

fn main() {
    let (rows, n) = (64 * 1024, 1024);
    let a = tensile_bench::data(rows * n, 1);
    let b = tensile_bench::data(n, 2);
    let mut y = vec![0f32; rows * n];
    let av = TensorView::new(&a, [64, 1024, 1024]).unwrap();
    let bv = TensorView::new(&b, [1024]).unwrap();
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        let mut yv = TensorViewMut::new(&mut y, [64, 1024, 1024]).unwrap();
        av.binary_into(&Cpu, BinaryOp::Add, &bv, &mut yv).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    assert_eq!(y[5 * n + 7], a[5 * n + 7] + b[7]);
    let mut z = vec![0f32; rows * n];
    let mut nt = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        // The NT-copy bound: through the same streaming path, with a zero-stride scalar.
        let zero = [0f32];
        let zv = TensorView::new(&zero, [1]).unwrap();
        let mut yv = TensorViewMut::new(&mut z, [64 * 1024 * 1024]).unwrap();
        let flat = TensorView::new(&a, [64 * 1024 * 1024]).unwrap();
        flat.binary_into(&Cpu, BinaryOp::Add, &zv, &mut yv).unwrap();
        nt = nt.min(t.elapsed().as_secs_f64());
    }
    let bytes = 2.0 * (rows * n * 4) as f64;
    println!(
        "row broadcast: {:.2} ms ({:.1} GB/s); flat + scalar: {:.2} ms ({:.1} GB/s); ratio {:.2}",
        best * 1e3,
        bytes / best / 1e9,
        nt * 1e3,
        bytes / nt / 1e9,
        nt / best
    );
}
