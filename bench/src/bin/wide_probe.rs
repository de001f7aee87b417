//! Diagnostic: a few rows against a large B (a small batch through a wide layer).
use tensile_bench::{data, median};
use tensile_core::{TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;
fn main() {
    tensile_hal_cpu::set_num_threads(1);
    for (m, k, n) in [
        (8usize, 4096usize, 4096usize),
        (12, 1024, 1024),
        (4, 784, 128),
    ] {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut out = vec![0f32; m * n];
        let av = TensorView::new(&a, [m, k]).unwrap();
        let bv = TensorView::new(&b, [k, n]).unwrap();
        let t = median(20, 200, || {
            let mut ov = TensorViewMut::new(&mut out, [m, n]).unwrap();
            av.matmul_into(&Cpu, &bv, &mut ov).unwrap();
        });
        let gf = 2.0 * (m * n * k) as f64 / t.as_secs_f64() / 1e9;
        println!("{m}x{k} @ {k}x{n}: {gf:.1} GFLOP/s");
    }
}
