//! Diagnostic: a tight loop of a tiny broadcast add, for profiling per-call overhead.
use tensile_core::{BinaryOp, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;
fn main() {
    let a = [1.0f32; 30];
    let b = [2.0f32; 5];
    let mut y = [0.0f32; 30];
    let av = TensorView::new(&a, [6, 5]).unwrap();
    let bv = TensorView::new(&b, [1, 5]).unwrap();
    let t = std::time::Instant::now();
    let n = 20_000_000;
    for _ in 0..n {
        let mut yv = TensorViewMut::new(&mut y, [6, 5]).unwrap();
        std::hint::black_box(&av)
            .binary_into(&Cpu, BinaryOp::Add, std::hint::black_box(&bv), &mut yv)
            .unwrap();
    }
    println!(
        "{:.1} ns per call",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
