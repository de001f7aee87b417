//! Diagnostic: column reductions over axis 0 of a 4096 x 4096 f32 matrix (sum vs std).
use tensile_bench::{data, median};
use tensile_core::{ReduceOp, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;
fn main() {
    let raw = data(4096 * 4096, 1);
    // A 64-byte-aligned copy (a large Vec starts 16 bytes past a page boundary).
    let mut store = vec![0f32; 4096 * 4096 + 16];
    let skip = store.as_ptr().align_offset(64);
    store[skip..skip + raw.len()].copy_from_slice(&raw);
    let aligned = std::env::args().any(|a| a == "--aligned");
    let x: &[f32] = if aligned {
        &store[skip..skip + raw.len()]
    } else {
        &raw
    };
    println!("data address mod 64: {}", x.as_ptr() as usize % 64);
    let mut y = vec![0f32; 4096];
    let xv = TensorView::new(x, [4096, 4096]).unwrap();
    for op in [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Var { correction: 1 },
    ] {
        let t = median(3, 15, || {
            let mut yv = TensorViewMut::new(&mut y, [4096]).unwrap();
            xv.reduce_into(&Cpu, op, Some(&[0]), &mut yv).unwrap();
        });
        println!(
            "{op:?}: {:.2} ms, {:.1} GB/s",
            t.as_secs_f64() * 1e3,
            64.0 * 1.048576 / 1e3 / t.as_secs_f64()
        );
    }
}
