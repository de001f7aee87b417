//! The CUDA device against the card's measured limits, in one run: a device-to-device copy
//! (bandwidth, bytes read + written) and cuBLAS called directly through cudarc, then Tensile's
//! elementwise, broadcasting, reductions and matmul as ratios of those, and the training steps
//! eager vs replayed from a captured CUDA graph. Without a GPU it says so and exits.
//!
//! Run: cargo run --release --manifest-path bench/Cargo.toml --bin cuda

use std::time::Instant;

use cudarc::cublas::{sys::cublasOperation_t as Op, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::CudaContext;
use tensile_bench::data;
use tensile_core::graph::{Graph, Training};
use tensile_core::ops::{Adam, Sgd};
use tensile_core::{DType, Result, Tensor};
use tensile_hal_cuda::Cuda;

/// Median seconds per run of `f` (which must leave the GPU idle), after warm-up.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() -> Result<()> {
    let cuda = match Cuda::new(0) {
        Ok(c) => c,
        Err(e) => {
            println!("no GPU: {e}");
            return Ok(());
        }
    };
    println!("# {} ({})", cuda.device_name()?, cuda.arch());

    // The card's limits, measured with cudarc directly.
    let ctx = CudaContext::new(0).expect("context");
    let stream = ctx.new_stream().expect("stream");
    let n = 64 << 20;
    let src = stream.alloc_zeros::<f32>(n).expect("alloc");
    let mut dst = stream.alloc_zeros::<f32>(n).expect("alloc");
    let copy_s = time(20, || {
        stream.memcpy_dtod(&src, &mut dst).expect("copy");
        stream.synchronize().expect("sync");
    });
    let bw = 2.0 * (n * 4) as f64 / copy_s;
    println!("device-to-device copy: {:.0} GB/s (read + write)", bw / 1e9);
    let blas = CudaBlas::new(stream.clone()).expect("cublas");
    let m = 4096;
    let a = stream.clone_htod(&data(m * m, 1)).expect("upload");
    let b = stream.clone_htod(&data(m * m, 2)).expect("upload");
    let mut c = stream.alloc_zeros::<f32>(m * m).expect("alloc");
    let cfg = GemmConfig {
        transa: Op::CUBLAS_OP_N,
        transb: Op::CUBLAS_OP_N,
        m: m as i32,
        n: m as i32,
        k: m as i32,
        alpha: 1.0f32,
        lda: m as i32,
        ldb: m as i32,
        beta: 0.0,
        ldc: m as i32,
    };
    let blas_s = time(20, || {
        // SAFETY: three m×m device buffers, column-major with leading dimension m.
        unsafe { blas.gemm(cfg, &a, &b, &mut c) }.expect("gemm");
        stream.synchronize().expect("sync");
    });
    let flops = 2.0 * (m * m * m) as f64;
    println!("cuBLAS sgemm {m}²: {:.1} TFLOP/s", flops / blas_s / 1e12);

    println!("\n| case | Tensile | limit | ratio |\n|---|---|---|---|");
    let row = |name: &str, s: f64, bytes: f64| {
        let gbs = bytes / s / 1e9;
        println!("| {name} | {gbs:.0} GB/s | {:.0} GB/s copy | {:.2} |", bw / 1e9, gbs * 1e9 / bw);
    };
    let up = |dims: &[usize], seed| -> Result<Tensor<f32, Cuda>> {
        Tensor::<f32>::from_vec(data(dims.iter().product(), seed), dims)?.to(&cuda)
    };
    let x = up(&[64, 1024, 1024], 3)?;
    let v = up(&[1024], 4)?;
    let s = time(20, || {
        let _y = (&x + &v).expect("add");
        cuda.sync().expect("sync");
    });
    row("(64,1024,1024) + (1024,)", s, 2.0 * (x.numel() * 4) as f64);
    let x2 = up(&[4096, 4096], 5)?;
    let col = up(&[4096, 1], 6)?;
    let s = time(20, || {
        let _y = (&x2 + &col).expect("add");
        cuda.sync().expect("sync");
    });
    row("(4096,4096) + (4096,1)", s, 2.0 * (x2.numel() * 4) as f64);
    let x3 = up(&[16 << 20], 7)?;
    let s = time(20, || {
        let _y = (&x3 * &x3).expect("mul");
        cuda.sync().expect("sync");
    });
    row("16M * 16M (same tensor)", s, 2.0 * (x3.numel() * 4) as f64);
    let s = time(20, || {
        let _y = x.sum_all().expect("sum");
        cuda.sync().expect("sync");
    });
    row("sum of 64M", s, (x.numel() * 4) as f64);
    let s = time(20, || {
        let _y = x2.sum(&[0], false).expect("sum");
        cuda.sync().expect("sync");
    });
    row("sum over axis 0 of (4096,4096)", s, (x2.numel() * 4) as f64);
    let s = time(20, || {
        let _y = x2.sum(&[1], false).expect("sum");
        cuda.sync().expect("sync");
    });
    row("sum over axis 1 of (4096,4096)", s, (x2.numel() * 4) as f64);
    let s = time(20, || {
        let _y = x2.std(&[0], 1, false).expect("std");
        cuda.sync().expect("sync");
    });
    row("std over axis 0 of (4096,4096) (two passes)", s, (x2.numel() * 4) as f64);
    let (ta, tb) = (up(&[m, m], 1)?, up(&[m, m], 2)?);
    let s = time(20, || {
        let _y = ta.matmul(&tb).expect("matmul");
        cuda.sync().expect("sync");
    });
    println!(
        "| matmul {m}² f32 | {:.1} TFLOP/s | {:.1} TFLOP/s cuBLAS | {:.2} |",
        flops / s / 1e12,
        flops / blas_s / 1e12,
        blas_s / s
    );

    // Training steps: eager launches vs one replayed graph per step.
    println!("\n| training step | eager | replayed | speed-up |\n|---|---|---|---|");
    for (name, hidden, opt) in [
        ("logistic regression 64x784 -> 10, SGD", None, Training::Sgd(Sgd::default())),
        ("MLP 64-32-10 on digits, Adam", Some(32), Training::Adam(Adam::default())),
    ] {
        let (batch, features) = if hidden.is_none() { (64, 784) } else { (64, 64) };
        let mut g = Graph::new();
        let xi = g.input("x", DType::F32, &[batch, features])?;
        let yi = g.input("y", DType::I32, &[batch])?;
        let mut h = xi;
        let mut width = features;
        if let Some(hd) = hidden {
            let w = g.param("w1", DType::F32, &[features, hd])?;
            let z = g.matmul(h, w)?;
            h = g.relu(z)?;
            width = hd;
        }
        let w = g.param("w", DType::F32, &[width, 10])?;
        let bias = g.param("b", DType::F32, &[10])?;
        let z = g.matmul(h, w)?;
        let logits = g.add(z, bias)?;
        let loss = g.cross_entropy(logits, yi)?;
        g.backward(loss)?;
        g.plan(&[loss], opt)?;
        let mut sess = cuda.session(&g)?;
        sess.write(xi, &data(batch * features, 8))?;
        sess.write(yi, &(0..batch as i32).map(|i| i % 10).collect::<Vec<_>>())?;
        sess.set_lr(0.01)?;
        sess.train_step()?;
        let steps = 500;
        let eager = time(7, || {
            for _ in 0..steps {
                sess.train_step().expect("step");
            }
            cuda.sync().expect("sync");
        }) / steps as f64;
        let replay = cuda.capture(&mut sess, |s| s.train_step())?;
        let replayed = time(7, || {
            for _ in 0..steps {
                replay.run(&mut sess).expect("replay");
            }
            cuda.sync().expect("sync");
        }) / steps as f64;
        println!(
            "| {name} | {:.1} µs | {:.1} µs | {:.1}x |",
            eager * 1e6,
            replayed * 1e6,
            eager / replayed
        );
    }
    Ok(())
}
