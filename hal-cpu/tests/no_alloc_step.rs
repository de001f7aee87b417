//! A training step allocates nothing: a counting global allocator watches forward, backward
//! and the optimizer of a planned MLP on the CPU device. (One test per binary, so no other test
//! thread allocates meanwhile.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tensile_core::graph::{Graph, Training};
use tensile_core::ops::Adam;
use tensile_core::DType;
use tensile_hal_cpu::Cpu;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn training_steps_allocate_nothing() {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, &[16, 8]).unwrap();
    let y = g.input("y", DType::I32, &[16]).unwrap();
    let w1 = g.param("w1", DType::F32, &[8, 12]).unwrap();
    let b1 = g.param("b1", DType::F32, &[12]).unwrap();
    let w2 = g.param("w2", DType::F32, &[12, 3]).unwrap();
    let h = g.matmul(x, w1).unwrap();
    let h = g.add(h, b1).unwrap();
    let h = g.relu(h).unwrap();
    let logits = g.matmul(h, w2).unwrap();
    let loss = g.cross_entropy(logits, y).unwrap();
    g.backward(loss).unwrap();
    g.plan(&[loss], Training::Adam(Adam::default())).unwrap();
    let mut s = g.session(Cpu).unwrap();
    for (i, v) in s.param_mut::<f32>(w1).unwrap().iter_mut().enumerate() {
        *v = ((i * 7 % 13) as f32 - 6.0) * 0.05;
    }
    for (i, v) in s.param_mut::<f32>(w2).unwrap().iter_mut().enumerate() {
        *v = ((i * 5 % 11) as f32 - 5.0) * 0.05;
    }
    for (i, v) in s.input_mut::<f32>(x).unwrap().iter_mut().enumerate() {
        *v = ((i * 3 % 17) as f32) / 17.0;
    }
    for (i, v) in s.input_mut::<i32>(y).unwrap().iter_mut().enumerate() {
        *v = (i % 3) as i32;
    }
    s.set_lr(0.01).unwrap();
    s.train_step().unwrap(); // warm-up outside the measurement
    let first = s.read::<f32>(loss).unwrap().get(&[]).unwrap();
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..50 {
        s.train_step().unwrap();
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    let last = s.read::<f32>(loss).unwrap().get(&[]).unwrap();
    assert_eq!(after - before, 0, "allocations during 50 training steps");
    assert!(last < first, "the steps did train: {first} -> {last}");
    assert_eq!(s.step_count().unwrap(), 51);
}
