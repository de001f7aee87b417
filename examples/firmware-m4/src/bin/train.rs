//! Trains logistic regression on 640 embedded digits for a few epochs with no allocator, then
//! reports the held-out accuracy, classifies one image with a separate single-sample plan, and
//! reads a window from a (simulated) accelerometer. Logs through defmt over semihosting; exits
//! with success only if the accuracy reaches the floor.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use tensile_core::graph::{Exec, FrozenNodes};
use tensile_core::{ReduceOp, Result, Rng, TensorView, TensorViewMut};
use tensile_firmware_m4::frozen;
use tensile_firmware_m4::model::{Model, BATCH, FEATURES};
use tensile_firmware_m4::sizes::{INFER_ARENA, TRAIN_ARENA, TRAIN_NODES};
use tensile_hal_cpu::Cpu;

/// 640 train + 320 test digits: 4-byte header, then 65-byte records (see data/README.md).
static DATA: &[u8] = include_bytes!("../../data/digits.bin");
const RECORD: usize = FEATURES + 1;
const EPOCHS: usize = 12;
/// The firmware fails (exit code 1) below this held-out accuracy.
const MIN_ACCURACY: f32 = 0.85;

/// 64-byte alignment for the arenas, so no slack is lost at run time.
#[repr(C, align(64))]
struct Arena<const N: usize>([u8; N]);

static mut TRAIN: Arena<TRAIN_ARENA> = Arena([0; TRAIN_ARENA]);
static mut INFER: Arena<INFER_ARENA> = Arena([0; INFER_ARENA]);

fn counts() -> (usize, usize) {
    (
        u16::from_le_bytes([DATA[0], DATA[1]]) as usize,
        u16::from_le_bytes([DATA[2], DATA[3]]) as usize,
    )
}

fn record(i: usize) -> (&'static [u8], u8) {
    let r = &DATA[4 + i * RECORD..4 + (i + 1) * RECORD];
    (&r[..FEATURES], r[FEATURES])
}

/// Casts a batch of u8 pixels (0..=16) to f32 / 16 on the fly, straight into the input buffer.
fn fill(x: &mut [f32], y: Option<&mut [i32]>, first: usize) {
    let mut labels = y;
    for k in 0..x.len() / FEATURES {
        let (pix, label) = record(first + k);
        for (d, &p) in x[k * FEATURES..(k + 1) * FEATURES].iter_mut().zip(pix) {
            *d = p as f32 / 16.0;
        }
        if let Some(l) = labels.as_deref_mut() {
            l[k] = label as i32;
        }
    }
}

fn fill_labels(y: &mut [i32], first: usize) {
    for (k, l) in y.iter_mut().enumerate() {
        *l = record(first + k).1 as i32;
    }
}

fn argmax(row: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in row.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// The device's matmul against a plain triple loop on a ragged shape (full 4 × 4 tiles and
/// edges, and more than one packed panel of k), so a wrong kernel on this target fails the run
/// before training. Its operands live in `scratch` (the training arena, which `Exec::new`
/// zeroes afterwards), not on the stack.
#[inline(never)]
fn check_matmul(scratch: &mut [u8]) -> Result<f32> {
    const M: usize = 6;
    const K: usize = 67;
    const N: usize = 5;
    let need = 4 * (M * K + K * N + M * N);
    let have = scratch.len();
    let words: &mut [f32] = scratch
        .get_mut(..need)
        .and_then(|b| bytemuck::try_cast_slice_mut(b).ok())
        .ok_or(tensile_core::Error::buffer_too_small(
            "matmul check",
            need,
            have,
        ))?;
    let (a, rest) = words.split_at_mut(M * K);
    let (b, c) = rest.split_at_mut(K * N);
    for (i, v) in a.iter_mut().enumerate() {
        *v = ((i * 7 % 13) as f32 - 6.0) * 0.125;
    }
    for (i, v) in b.iter_mut().enumerate() {
        *v = ((i * 5 % 11) as f32 - 5.0) * 0.25;
    }
    TensorView::new(a, [M, K])?.matmul_into(
        &Cpu,
        &TensorView::new(b, [K, N])?,
        &mut TensorViewMut::new(c, [M, N])?,
    )?;
    let mut worst = 0f32;
    for i in 0..M {
        for j in 0..N {
            let want: f32 = (0..K).map(|p| a[i * K + p] * b[p * N + j]).sum();
            worst = worst.max((c[i * N + j] - want).abs());
        }
    }
    Ok(worst)
}

fn run() -> Result<f32> {
    // SAFETY: `run` is called once, from `main`; the training arena is unused until `train`,
    // after this borrow ends.
    let worst = check_matmul(unsafe { &mut (*core::ptr::addr_of_mut!(TRAIN)).0 })?;
    defmt::info!(
        "matmul check: largest difference from a plain loop {=f32}",
        worst
    );
    if worst > 1e-4 {
        return Err(tensile_core::Error::new(
            tensile_core::ErrorKind::Device,
            "matmul",
            tensile_core::Context::Message("the matmul kernel disagrees with a plain loop"),
        ));
    }
    let (mut s, m) = train()?;
    let accuracy = evaluate(&mut s, m)?;
    infer_one(&s, m)?;
    sensor()?;
    Ok(accuracy)
}

/// The training session: the frozen graph's plan over the static arena.
type Session = Exec<'static, FrozenNodes<frozen::FirmwareOps>, Cpu, &'static mut [u8]>;

// The phases are separate frames (not inlined into `run`), so the stack holds one phase's
// locals at a time.

/// Binds the training graph to its arena, initialises the parameters and trains.
#[inline(never)]
fn train() -> Result<(Session, Model)> {
    let (n_train, n_test) = counts();
    defmt::info!(
        "tensile firmware: {=usize} train / {=usize} test digits in flash",
        n_train,
        n_test
    );

    // The graph was declared and planned at build time (`build.rs`, the same `model.rs`) and
    // sits in flash; check that the static arena is what its plan needs.
    let g = &frozen::TRAIN_GRAPH;
    let (m, stats) = (frozen::TRAIN_MODEL, g.plan_stats()?);
    defmt::info!(
        "training plan: {} ({=usize} nodes, arena {=usize} bytes)",
        stats,
        TRAIN_NODES,
        TRAIN_ARENA
    );
    // SAFETY: `run` is called once, from `main`; nothing else touches the arena.
    let arena = unsafe { &mut (*core::ptr::addr_of_mut!(TRAIN)).0 };
    if stats.bytes > arena.len() {
        defmt::error!(
            "arena too small: the plan needs {=usize} bytes, the static has {=usize}",
            stats.bytes,
            arena.len()
        );
        return Err(tensile_core::Error::buffer_too_small(
            "arena",
            stats.bytes,
            arena.len(),
        ));
    }
    let mut s = Exec::new(g, Cpu, &mut arena[..])?;

    // nn.Linear's init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    let mut r = Rng::seed(7);
    let bound = 1.0 / tensile_core::Float::sqrt(FEATURES as f32);
    for p in [m.w, m.b] {
        for v in s.param_mut::<f32>(p)? {
            *v = (2.0 * r.uniform_f32() - 1.0) * bound;
        }
    }
    s.set_lr(0.05)?;

    let batches = n_train / BATCH;
    for epoch in 0..EPOCHS {
        let mut total = 0.0;
        for bi in 0..batches {
            // Straight into the graph's input buffers in the arena: no batch copy on the stack.
            fill(s.input_mut::<f32>(m.x)?, None, bi * BATCH);
            fill_labels(s.input_mut::<i32>(m.labels)?, bi * BATCH);
            s.train_step()?;
            total += s.read::<f32>(m.out)?.get(&[])?;
        }
        defmt::info!(
            "epoch {=usize} loss {=f32}",
            epoch + 1,
            total / batches as f32
        );
    }

    Ok((s, m))
}

/// Held-out accuracy: forward passes of the training graph over the test images.
#[inline(never)]
fn evaluate(s: &mut Session, m: Model) -> Result<f32> {
    let (n_train, n_test) = counts();
    let mut correct = 0usize;
    let mut seen = 0usize;
    for bi in 0..n_test / BATCH {
        let mut yb = [0i32; BATCH];
        fill(s.input_mut::<f32>(m.x)?, None, n_train + bi * BATCH);
        fill_labels(&mut yb, n_train + bi * BATCH);
        s.forward()?;
        let logits = s.read::<f32>(m.logits)?;
        for (k, &label) in yb.iter().enumerate() {
            let row = logits.narrow(0, k, 1)?;
            if argmax(row.iter()) == label as usize {
                correct += 1;
            }
            seen += 1;
        }
    }
    let accuracy = correct as f32 / seen as f32;
    defmt::info!(
        "accuracy {=f32} ({=usize}/{=usize} held-out digits)",
        accuracy,
        correct,
        seen
    );

    Ok(accuracy)
}

/// Single-sample inference with its own small plan, weights copied from training.
#[inline(never)]
fn infer_one(s: &Session, m: Model) -> Result<()> {
    let n_train = counts().0;
    let gi = &frozen::INFER_GRAPH;
    let (mi, istats) = (frozen::INFER_MODEL, gi.plan_stats()?);
    // SAFETY: as above, used once.
    let iarena = unsafe { &mut (*core::ptr::addr_of_mut!(INFER)).0 };
    let mut si = Exec::new(gi, Cpu, &mut iarena[..])?;
    // Arena to arena, with no copy on the stack.
    for (p, q) in [(m.w, mi.w), (m.b, mi.b)] {
        for (d, v) in si
            .param_mut::<f32>(q)?
            .iter_mut()
            .zip(s.read::<f32>(p)?.iter())
        {
            *d = v;
        }
    }
    let (pix, label) = record(n_train);
    // A zero-copy u8 view of the flash bytes, cast into the input by the device.
    let img = TensorView::<u8>::from_bytes(pix, [1, FEATURES])?;
    let mut x1 = [0f32; FEATURES];
    img.cast_into(&Cpu, &mut TensorViewMut::new(&mut x1, [1, FEATURES])?)?;
    for v in x1.iter_mut() {
        *v /= 16.0;
    }
    si.input_mut::<f32>(mi.x)?.copy_from_slice(&x1);
    si.forward()?;
    let class = si.read::<i64>(mi.out)?.get(&[0])?;
    defmt::info!(
        "single image: predicted {=i64}, label {=u8} (inference plan {=usize} bytes)",
        class,
        label,
        istats.bytes
    );

    Ok(())
}

/// The sensor side: a window of 16 samples filled in place by the embedded-hal driver.
#[inline(never)]
fn sensor() -> Result<()> {
    let mut acc = tensile_accel::Accel::new(tensile_firmware_m4::sim::SimAccel::default())
        .map_err(|_| {
            tensile_core::Error::new(
                tensile_core::ErrorKind::Device,
                "accel",
                tensile_core::Context::Message("sensor init failed"),
            )
        })?;
    let mut window = [0f32; 16 * 3];
    let mut wv = TensorViewMut::new(&mut window, [16, 3])?;
    acc.fill_window(&mut wv).map_err(|_| {
        tensile_core::Error::new(
            tensile_core::ErrorKind::Device,
            "accel",
            tensile_core::Context::Message("sensor read failed"),
        )
    })?;
    let mut mean = [0f32; 3];
    TensorView::new(&window, [16, 3])?.reduce_into(
        &Cpu,
        ReduceOp::Mean,
        Some(&[0]),
        &mut TensorViewMut::new(&mut mean, [3])?,
    )?;
    defmt::info!("accelerometer window [16, 3]: mean g = {}", mean);
    Ok(())
}

#[entry]
fn main() -> ! {
    tensile_firmware_m4::paint_stack();
    let result = run();
    defmt::info!(
        "RAM: statics {=usize} bytes (arenas {=usize} + {=usize}), stack high-water mark {=usize} bytes",
        tensile_firmware_m4::static_ram(),
        TRAIN_ARENA,
        INFER_ARENA,
        tensile_firmware_m4::stack_high_water()
    );
    let code = match result {
        Ok(acc) if acc >= MIN_ACCURACY => debug::EXIT_SUCCESS,
        Ok(acc) => {
            defmt::error!(
                "accuracy {=f32} is below the floor {=f32}",
                acc,
                MIN_ACCURACY
            );
            debug::EXIT_FAILURE
        }
        Err(e) => {
            defmt::error!("error: {}", e);
            debug::EXIT_FAILURE
        }
    };
    tensile_firmware_m4::exit(code)
}
