//! Links tensor ops into a bare-metal binary with no allocator (see Cargo.toml).
#![no_std]
#![no_main]

use tensile_core::{BinaryOp, ReduceOp, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;

static A: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
static B: [f32; 3] = [0.5, 1.5, 1.0];

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut out = [0.0f32; 6];
    let mut sums = [0.0f32; 3];
    let mut prod = [0.0f32; 4];
    let ok = run(&mut out, &mut sums, &mut prod).is_ok();
    // Keep the results observable so nothing is optimised away.
    core::hint::black_box((ok, out, sums, prod));
    loop {}
}

fn run(out: &mut [f32], sums: &mut [f32], prod: &mut [f32]) -> tensile_core::Result<()> {
    let a = TensorView::new(&A, [2, 3])?;
    let b = TensorView::new(&B, [3])?;
    let mut y = TensorViewMut::new(out, [2, 3])?;
    a.binary_into(&Cpu, BinaryOp::Mul, &b, &mut y)?;
    let mut s = TensorViewMut::new(sums, [3])?;
    y.as_view().reduce_into(&Cpu, ReduceOp::Sum, Some(&[0]), &mut s)?;
    let mut p = TensorViewMut::new(prod, [2, 2])?;
    a.matmul_into(&Cpu, &a.t()?, &mut p)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
