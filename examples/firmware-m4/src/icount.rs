//! Workloads for exact instruction counts under QEMU (see `tools/icount.sh`): each binary runs
//! the same setup and differs only in the measured work, so the difference of two runs' totals
//! is the work's instruction count, callees included.

use tensile_core::graph::Exec;
use tensile_core::{Result, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;

use crate::model::{BATCH, FEATURES};
use crate::sizes::TRAIN_ARENA;

/// Matrix size of the matmul measurement (64 × 64 × 64 = 262,144 multiply-adds).
pub const N: usize = 64;

/// What a binary measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Setup only (the baseline).
    None,
    /// Tensile's f32 matmul on the CPU device.
    TensileMatmul,
    /// A plain triple loop, for comparison.
    PlainMatmul,
    /// `steps` training steps of the firmware's model.
    TrainSteps(usize),
}

#[repr(C, align(64))]
struct Arena([u8; TRAIN_ARENA]);
static mut ARENA: Arena = Arena([0; TRAIN_ARENA]);

#[inline(never)]
fn tensile_matmul(a: &[f32], b: &[f32], c: &mut [f32]) -> Result<()> {
    TensorView::new(a, [N, N])?.matmul_into(
        &Cpu,
        &TensorView::new(b, [N, N])?,
        &mut TensorViewMut::new(c, [N, N])?,
    )
}

#[inline(never)]
fn plain_matmul(a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..N {
        for j in 0..N {
            let mut acc = 0.0f32;
            for p in 0..N {
                acc += a[i * N + p] * b[p * N + j];
            }
            c[i * N + j] = acc;
        }
    }
}

/// Runs the setup and then `work`; returns a checksum so nothing is optimised away.
pub fn run(work: Work) -> Result<f32> {
    let mut a = [0f32; N * N];
    let mut b = [0f32; N * N];
    let mut c = [0f32; N * N];
    for (i, v) in a.iter_mut().enumerate() {
        *v = ((i * 7 % 13) as f32 - 6.0) * 0.125;
    }
    for (i, v) in b.iter_mut().enumerate() {
        *v = ((i * 5 % 11) as f32 - 5.0) * 0.25;
    }
    // The training setup runs in every binary, so the baselines match.
    let g = &crate::frozen::TRAIN_GRAPH;
    let m = crate::frozen::TRAIN_MODEL;
    // SAFETY: `run` is called once per boot; nothing else touches the arena.
    let arena = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let mut s = Exec::new(g, Cpu, &mut arena[..])?;
    let x = s.input_mut::<f32>(m.x)?;
    for (i, v) in x.iter_mut().enumerate().take(BATCH * FEATURES) {
        *v = (i % 17) as f32 / 16.0;
    }
    for (i, v) in s.input_mut::<i32>(m.labels)?.iter_mut().enumerate() {
        *v = (i % 10) as i32;
    }
    s.set_lr(0.05)?;
    match core::hint::black_box(work) {
        Work::None => {}
        Work::TensileMatmul => tensile_matmul(&a, &b, &mut c)?,
        Work::PlainMatmul => plain_matmul(&a, &b, &mut c),
        Work::TrainSteps(k) => {
            for _ in 0..k {
                s.train_step()?;
            }
        }
    }
    Ok(c.iter().sum::<f32>() + s.read::<f32>(m.out)?.get(&[])?)
}
