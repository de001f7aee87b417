//! Links tensor ops and a whole static-graph training loop into a bare-metal binary with no
//! allocator (see Cargo.toml): views and `*_into` ops, then a graph declared with fixed-capacity
//! node storage, planned, and trained in a static arena.
#![no_std]
#![no_main]

use tensile_core::graph::{Exec, StaticGraph, Training};
use tensile_core::ops::Sgd;
use tensile_core::{BinaryOp, DType, ReduceOp, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;

static A: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
static B: [f32; 3] = [0.5, 1.5, 1.0];

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut out = [0.0f32; 6];
    let mut sums = [0.0f32; 3];
    let mut prod = [0.0f32; 4];
    let ok = run(&mut out, &mut sums, &mut prod).is_ok();
    let loss = train().unwrap_or(f32::NAN);
    // Keep the results observable so nothing is optimised away.
    core::hint::black_box((ok, out, sums, prod, loss));
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

/// Logistic regression `sigmoid(x w + b)` trained with SGD, from a stack graph and arena.
fn train() -> tensile_core::Result<f32> {
    let mut g = StaticGraph::<40>::new_static();
    let x = g.input("x", DType::F32, &[4, 2])?;
    let t = g.input("t", DType::F32, &[4, 1])?;
    let w = g.param("w", DType::F32, &[2, 1])?;
    let b = g.param("b", DType::F32, &[1])?;
    let z = g.matmul(x, w)?;
    let z = g.add(z, b)?;
    let p = g.sigmoid(z)?;
    let loss = g.mse(p, t)?;
    g.backward(loss)?;
    g.plan(&[loss], Training::Sgd(Sgd::default()))?;
    let mut arena = [0u8; 4096];
    let mut s = Exec::new(&g, Cpu, &mut arena[..])?;
    s.input_mut::<f32>(x)?.copy_from_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
    s.input_mut::<f32>(t)?.copy_from_slice(&[0., 0., 0., 1.]);
    s.set_lr(1.0)?;
    for _ in 0..10 {
        s.train_step()?;
    }
    s.read::<f32>(loss)?.get(&[])
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
