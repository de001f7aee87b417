//! f32 matmul: Tensile's CPU device against faer, gemm, matrixmultiply, ndarray and candle-core,
//! in one process, same inputs, outputs preallocated where the library allows. Prints the
//! machine's measured FMA peak first, then GFLOP/s per library and Tensile / best peer.

use std::num::NonZeroUsize;

use tensile_bench::{data, machine, median};
use tensile_core::{TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;

/// Peak f32 GFLOP/s of one core: independent FMA chains in the widest registers available.
fn fma_peak() -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is available (checked above).
            return unsafe { peak_avx512() };
        }
    }
    0.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn peak_avx512() -> f64 {
    use std::arch::x86_64::*;
    let iters = 20_000_000u64;
    let mut acc = [_mm512_set1_ps(0.0); 16];
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    let t = std::time::Instant::now();
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let s = t.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    (iters * 16 * 16 * 2) as f64 / s / 1e9
}

struct Row {
    name: String,
    results: Vec<(&'static str, f64)>,
}

fn gflops(m: usize, n: usize, k: usize, secs: f64) -> f64 {
    2.0 * (m * n * k) as f64 / secs / 1e9
}

/// One product, every library reading the same buffers: row-major, or column-major (`col`,
/// faer's own `Mat` layout). Results are cross-checked in row-major order.
fn case(m: usize, k: usize, n: usize, threads: usize, col: bool) -> Row {
    let a = data(m * k, 1);
    let b = data(k * n, 2);
    // The same matrices stored column-major.
    let a_col: Vec<f32> = (0..m * k).map(|x| a[(x % m) * k + x / m]).collect();
    let b_col: Vec<f32> = (0..k * n).map(|x| b[(x % k) * n + x / k]).collect();
    // Element strides (row, column) of A, B and C in the chosen order.
    let (sa, sb, sc) = if col {
        ((1, m), (1, k), (1, m))
    } else {
        ((k, 1), (n, 1), (n, 1))
    };
    let (abuf, bbuf) = if col { (&a_col, &b_col) } else { (&a, &b) };
    let strided = |d: [usize; 2], s: (usize, usize)| {
        tensile_core::Layout::new(tensile_core::Shape::new(&d).unwrap(), &[s.0, s.1], 0).unwrap()
    };
    let row_major = |x: &[f32]| -> Vec<f32> {
        if col {
            (0..m * n).map(|i| x[(i % n) * m + i / n]).collect()
        } else {
            x.to_vec()
        }
    };
    let iters = (2e9 / (2.0 * (m * n * k) as f64)).clamp(5.0, 2000.0) as usize;
    let warm = (iters / 10).max(2);
    let mut results = Vec::new();
    // Tensile
    tensile_hal_cpu::set_num_threads(threads);
    let mut out = vec![0f32; m * n];
    let av = TensorView::with_layout(abuf, strided([m, k], sa)).unwrap();
    let bv = TensorView::with_layout(bbuf, strided([k, n], sb)).unwrap();
    let t = median(warm, iters, || {
        let mut ov = TensorViewMut::with_layout(&mut out, strided([m, n], sc)).unwrap();
        av.matmul_into(&Cpu, &bv, &mut ov).unwrap();
    });
    let check = row_major(&out);
    results.push(("tensile", gflops(m, n, k, t.as_secs_f64())));
    // faer
    let (fa, fb) = if col {
        (
            faer::MatRef::from_column_major_slice(&a_col, m, k),
            faer::MatRef::from_column_major_slice(&b_col, k, n),
        )
    } else {
        (
            faer::MatRef::from_row_major_slice(&a, m, k),
            faer::MatRef::from_row_major_slice(&b, k, n),
        )
    };
    let mut fc = faer::Mat::<f32>::zeros(m, n);
    let par = if threads > 1 {
        faer::Par::Rayon(NonZeroUsize::new(threads).unwrap())
    } else {
        faer::Par::Seq
    };
    let t = median(warm, iters, || {
        faer::linalg::matmul::matmul(fc.as_mut(), faer::Accum::Replace, fa, fb, 1.0f32, par);
    });
    results.push(("faer", gflops(m, n, k, t.as_secs_f64())));
    let worst = (0..m * n)
        .map(|x| (fc[(x / n, x % n)] - check[x]).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-3 * (k as f32).sqrt(),
        "tensile and faer disagree by {worst}"
    );
    // gemm
    let mut gc = vec![0f32; m * n];
    let gp = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let t = median(warm, iters, || {
        // SAFETY: row-major m×k, k×n and m×n buffers with the strides given.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                gc.as_mut_ptr(),
                sc.1 as isize,
                sc.0 as isize,
                false,
                abuf.as_ptr(),
                sa.1 as isize,
                sa.0 as isize,
                bbuf.as_ptr(),
                sb.1 as isize,
                sb.0 as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gp,
            );
        }
    });
    results.push(("gemm", gflops(m, n, k, t.as_secs_f64())));
    // matrixmultiply (its thread count comes from MATMUL_NUM_THREADS, read once)
    if threads == 1 {
        let mut mc = vec![0f32; m * n];
        let t = median(warm, iters, || {
            // SAFETY: buffers with the strides given.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    abuf.as_ptr(),
                    sa.0 as isize,
                    sa.1 as isize,
                    bbuf.as_ptr(),
                    sb.0 as isize,
                    sb.1 as isize,
                    0.0,
                    mc.as_mut_ptr(),
                    sc.0 as isize,
                    sc.1 as isize,
                );
            }
        });
        results.push(("matrixmultiply", gflops(m, n, k, t.as_secs_f64())));
    }
    // ndarray (matrixmultiply inside; single thread)
    if threads == 1 {
        use ndarray::ShapeBuilder;
        let na = ndarray::Array2::from_shape_vec((m, k).set_f(col), abuf.clone()).unwrap();
        let nb = ndarray::Array2::from_shape_vec((k, n).set_f(col), bbuf.clone()).unwrap();
        let mut nc = ndarray::Array2::<f32>::zeros((m, n).set_f(col));
        let t = median(warm, iters, || {
            ndarray::linalg::general_mat_mul(1.0, &na, &nb, 0.0, &mut nc);
        });
        results.push(("ndarray", gflops(m, n, k, t.as_secs_f64())));
    }
    // candle (allocates its output; threads via rayon's global pool; row-major tensors only)
    if col {
        return Row {
            name: format!("{m}x{k} @ {k}x{n} column-major, {threads} thread"),
            results,
        };
    }
    let ca = candle_core::Tensor::from_vec(a.clone(), (m, k), &candle_core::Device::Cpu).unwrap();
    let cb = candle_core::Tensor::from_vec(b.clone(), (k, n), &candle_core::Device::Cpu).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let t = pool.install(|| {
        median(warm, iters, || {
            std::hint::black_box(ca.matmul(&cb).unwrap());
        })
    });
    results.push(("candle", gflops(m, n, k, t.as_secs_f64())));
    Row {
        name: format!(
            "{m}x{k} @ {k}x{n}, {threads} thread{}",
            if threads > 1 { "s" } else { "" }
        ),
        results,
    }
}

fn main() {
    println!("machine: {}", machine());
    let peak = fma_peak();
    println!(
        "measured f32 FMA peak: {peak:.1} GFLOP/s per core (AVX-512, 16 independent chains)\n"
    );
    let rows: Vec<Row> = pool_cases();
    let names = [
        "tensile",
        "faer",
        "gemm",
        "matrixmultiply",
        "ndarray",
        "candle",
    ];
    println!(
        "| case | {} | Tensile / best peer | Tensile / peak |",
        names.join(" | ")
    );
    println!("|---|{}---|---|", "---|".repeat(names.len()));
    for r in rows {
        let get = |n: &str| r.results.iter().find(|x| x.0 == n).map(|x| x.1);
        let ours = get("tensile").unwrap_or(0.0);
        let best = r
            .results
            .iter()
            .filter(|x| x.0 != "tensile")
            .map(|x| x.1)
            .fold(0.0, f64::max);
        let threads = if r.name.ends_with("2 threads") {
            2.0
        } else {
            1.0
        };
        let cells: Vec<String> = names
            .iter()
            .map(|n| get(n).map(|g| format!("{g:.1}")).unwrap_or("-".into()))
            .collect();
        println!(
            "| {} | {} | {:.2}x | {:.0}% |",
            r.name,
            cells.join(" | "),
            ours / best,
            100.0 * ours / (peak * threads)
        );
    }
    println!("\n(GFLOP/s; '-' = that library has no thread control here)");
}

fn pool_cases() -> Vec<Row> {
    let mut rows = Vec::new();
    for s in [256, 1024, 2048] {
        for t in [1, 2] {
            rows.push(case(s, s, s, t, false));
        }
    }
    rows.push(case(1024, 1024, 1024, 1, true));
    rows.push(case(64, 784, 10, 1, false));
    rows.push(case(64, 784, 10, 1, true));
    rows.push(case(4096, 64, 4096, 1, false));
    rows.push(case(4096, 64, 4096, 2, false));
    rows
}
