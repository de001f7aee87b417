//! The GPU tour: a 4096² matmul on the CPU and on the GPU, timed properly (warm-up, the GPU
//! synchronised before the clock is read, medians), then the digits MLP trained on the GPU
//! with every step replayed from a captured CUDA graph, and eager steps against replayed ones.
//! Without a GPU it says so and exits cleanly.
//!
//! Run with `cargo run --release -p tensile-examples --bin cuda`.

use std::time::Instant;

use tensile_core::graph::{Graph, Training};
use tensile_core::ops::Adam;
use tensile_core::{DType, Extremum, Result, Rng, Tensor};
use tensile_examples::{load_digits, split};
use tensile_hal_cpu::Cpu;
use tensile_hal_cuda::Cuda;

/// Median seconds of `reps` runs of `f` after one warm-up run.
fn median(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[reps / 2])
}

fn main() -> Result<()> {
    let cuda = match Cuda::new(0) {
        Ok(c) => c,
        Err(e) => {
            println!("no GPU here, nothing to run: {e}");
            return Ok(());
        }
    };
    println!("GPU: {} ({})", cuda.device_name()?, cuda.arch());

    // 1. A large matmul: CPU vs GPU.
    let n = 4096;
    let a: Tensor<f32, Cpu> = Tensor::randn_on(&[n, n], 1, &Cpu)?;
    let b: Tensor<f32, Cpu> = Tensor::randn_on(&[n, n], 2, &Cpu)?;
    let flops = 2.0 * (n * n * n) as f64;
    let cpu_s = median(3, || a.matmul(&b).map(|_| ()))?;
    let (ag, bg) = (a.to(&cuda)?, b.to(&cuda)?);
    let gpu_s = median(10, || {
        let c = ag.matmul(&bg)?;
        cuda.sync()?;
        drop(c);
        Ok(())
    })?;
    println!(
        "matmul {n}x{n}: cpu {:.1} ms ({:.0} GFLOP/s), gpu {:.2} ms ({:.0} GFLOP/s): {:.0}x",
        cpu_s * 1e3,
        flops / cpu_s / 1e9,
        gpu_s * 1e3,
        flops / gpu_s / 1e9,
        cpu_s / gpu_s
    );
    // The same product, checked on a corner against the CPU's.
    let cg: Tensor<f32> = ag.matmul(&bg)?.to(&tensile_core::Reference)?;
    let cc = a.matmul(&b)?;
    let (x, y) = (cg.get(&[5, 7])?, cc.get(&[5, 7])?);
    println!("  c[5,7]: gpu {x:.4}, cpu {y:.4}");

    // 2. The digits MLP on the GPU, each step a replayed CUDA graph.
    let d = load_digits().map_err(|_| {
        tensile_core::Error::new(
            tensile_core::ErrorKind::InvalidData,
            "digits",
            tensile_core::Context::Message("the digits data could not be read"),
        )
    })?;
    const BATCH: usize = 64;
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, &[BATCH, 64])?;
    let labels = g.input("labels", DType::I32, &[BATCH])?;
    let w1 = g.param("w1", DType::F32, &[64, 32])?;
    let b1 = g.param("b1", DType::F32, &[32])?;
    let w2 = g.param("w2", DType::F32, &[32, 10])?;
    let b2 = g.param("b2", DType::F32, &[10])?;
    let h = g.matmul(x, w1)?;
    let h = g.add(h, b1)?;
    let h = g.relu(h)?;
    let l = g.matmul(h, w2)?;
    let logits = g.add(l, b2)?;
    let loss = g.cross_entropy(logits, labels)?;
    let pred = g.extreme(Extremum::Max, logits, Some(-1), false, true)?;
    g.backward(loss)?;
    let stats = g.plan(&[loss, pred], Training::Adam(Adam::default()))?;
    let mut s = cuda.session(&g)?;
    println!(
        "digits MLP: plan {} bytes in one device allocation",
        stats.bytes
    );
    let mut r = Rng::seed(7);
    for (p, fan_in, len) in [(w1, 64, 64 * 32), (b1, 64, 32), (w2, 32, 320), (b2, 32, 10)] {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let v: Vec<f32> = (0..len)
            .map(|_| ((2.0 * r.uniform() - 1.0) * bound) as f32)
            .collect();
        s.write(p, &v)?;
    }
    s.set_lr(0.01)?;
    let (train, test) = split(d.len());
    let batch = |rows: &[usize]| {
        let xs: Vec<f32> = rows
            .iter()
            .flat_map(|&i| d.image(i).iter().map(|&p| p as f32 / 16.0))
            .collect();
        let ys: Vec<i32> = rows.iter().map(|&i| d.labels[i] as i32).collect();
        (xs, ys)
    };
    let (x0, y0) = batch(&train[..BATCH]);
    s.write(x, &x0)?;
    s.write(labels, &y0)?;
    s.train_step()?; // compiles every kernel once
    let step = cuda.capture(&mut s, |s| s.train_step())?;
    for _epoch in 0..30 {
        for rows in train.chunks_exact(BATCH) {
            let (xs, ys) = batch(rows);
            s.write(x, &xs)?; // queued before the replay on the same stream
            s.write(labels, &ys)?;
            step.run(&mut s)?;
        }
    }
    let mut correct = 0;
    for rows in test.chunks_exact(BATCH) {
        let (xs, ys) = batch(rows);
        s.write(x, &xs)?;
        s.forward()?;
        let p = s.fetch::<i64>(pred)?.to_vec()?;
        correct += p.iter().zip(&ys).filter(|(p, y)| **p == **y as i64).count();
    }
    let seen = test.len() / BATCH * BATCH;
    println!(
        "digits MLP, 30 epochs of Adam on the GPU: {} steps, test accuracy {:.2}% ({correct}/{seen})",
        s.step_count()?,
        100.0 * correct as f64 / seen as f64
    );

    // 3. Eager steps (one launch per kernel) against one replay per step.
    let steps = 200;
    let eager = median(5, || {
        for _ in 0..steps {
            s.train_step()?;
        }
        cuda.sync()
    })? / steps as f64;
    let replay = median(5, || {
        for _ in 0..steps {
            step.run(&mut s)?;
        }
        cuda.sync()
    })? / steps as f64;
    println!(
        "training step (batch {BATCH}): eager {:.1} us, replayed graph {:.1} us: {:.1}x",
        eager * 1e6,
        replay * 1e6,
        eager / replay
    );
    Ok(())
}
