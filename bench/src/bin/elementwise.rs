//! f32 broadcast elementwise ops and reductions, one thread: Tensile's CPU device against
//! ndarray and candle-core, in one process, same inputs, outputs preallocated where the library
//! allows. Prints the machine's measured memory bandwidths first (plain copy, non-temporal copy,
//! read), then one table: median time, throughput, each peer's time and best peer / Tensile.

use std::hint::black_box;
use std::time::Instant;

use candle_core::{Device, Tensor as CTensor};
use ndarray::{ArrayView, ArrayView1, ArrayViewMut, Axis, Dimension, Ix1, Ix2, Ix3, Ix4, Zip};
use tensile_bench::{data, machine, median};
use tensile_core::{BinaryOp, Extremum, ReduceOp, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;

/// Seconds each library gets per case (three libraries: about 1.5-3 s a case in all).
const BUDGET: f64 = 0.5;
/// Inputs larger than this (the L3 cache) make a case memory-bound.
const CACHE_BYTES: usize = 32 << 20;
/// The bandwidth buffers: 256 MiB.
const BW_BYTES: usize = 256 << 20;

/// Median seconds per call of `f`. Calls are batched so each timed sample lasts at least
/// 50 µs (tiny cases would otherwise measure the clock), and the sample count is chosen so the
/// whole takes about `BUDGET` seconds (at least 5 samples).
fn time(mut f: impl FnMut()) -> f64 {
    f(); // first touch, cold caches
    let s = Instant::now();
    let mut calls = 0usize;
    while calls == 0 || (s.elapsed().as_secs_f64() < 0.02 && calls < 100_000) {
        f();
        calls += 1;
    }
    let one = (s.elapsed().as_secs_f64() / calls as f64).max(1e-9);
    let batch = ((50e-6 / one).ceil() as usize).max(1);
    let samples = ((BUDGET / (one * batch as f64)) as usize).clamp(5, 500);
    let t = median((samples / 10).max(1), samples, || {
        for _ in 0..batch {
            f();
        }
    });
    t.as_secs_f64() / batch as f64
}

/// One 64-byte cache line of f32: buffers of these are 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Best-of-20 seconds of `f` (bandwidth probes: the best run is the machine's capability;
/// one 256 MiB pass takes about 10 ms, so this is about 0.2 s).
fn best_of(mut f: impl FnMut()) -> f64 {
    f();
    (0..20)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

struct Bandwidth {
    copy: f64,
    nt_copy: f64,
    nt_kind: &'static str,
    read: f64,
    read_kind: &'static str,
}

/// Copy, non-temporal copy and read bandwidth of one core over 256 MiB buffers, in GB/s
/// (copies count read + write bytes).
fn bandwidth() -> Bandwidth {
    let n = BW_BYTES / 4;
    let src = data(n, 7);
    let mut dst = vec![0f32; n];
    let t = best_of(|| {
        black_box(&mut dst[..]).copy_from_slice(black_box(&src[..]));
    });
    let copy = 2.0 * BW_BYTES as f64 / t / 1e9;
    drop(dst);
    let lines = BW_BYTES / 64;
    let mut asrc = vec![Line([0.0; 16]); lines];
    for (l, c) in asrc.iter_mut().zip(src.chunks_exact(16)) {
        l.0.copy_from_slice(c);
    }
    drop(src);
    let mut adst = vec![Line([0.0; 16]); lines];
    let (mut nt_copy, mut nt_kind, mut read, mut read_kind) =
        (0.0, "unavailable", 0.0, "unavailable");
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is available (checked above); both buffers are 64-byte aligned
            // and of equal length.
            let t = best_of(|| unsafe { nt_copy_avx512(black_box(&asrc), black_box(&mut adst)) });
            nt_copy = 2.0 * BW_BYTES as f64 / t / 1e9;
            nt_kind = "AVX-512 _mm512_stream_ps";
            // SAFETY: as above.
            let t = best_of(|| unsafe {
                black_box(read_avx512(black_box(&asrc)));
            });
            read = BW_BYTES as f64 / t / 1e9;
            read_kind = "AVX-512, 16 accumulators";
        } else if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (checked above); the buffers are 64-byte aligned.
            let t = best_of(|| unsafe { nt_copy_avx2(black_box(&asrc), black_box(&mut adst)) });
            nt_copy = 2.0 * BW_BYTES as f64 / t / 1e9;
            nt_kind = "AVX2 _mm256_stream_ps";
            // SAFETY: as above.
            let t = best_of(|| unsafe {
                black_box(read_avx2(black_box(&asrc)));
            });
            read = BW_BYTES as f64 / t / 1e9;
            read_kind = "AVX2, 16 accumulators";
        }
    }
    black_box(&mut adst);
    Bandwidth {
        copy,
        nt_copy,
        nt_kind,
        read,
        read_kind,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn nt_copy_avx512(src: &[Line], dst: &mut [Line]) {
    use std::arch::x86_64::*;
    assert_eq!(src.len(), dst.len());
    for (d, s) in dst.iter_mut().zip(src) {
        _mm512_stream_ps(d.0.as_mut_ptr(), _mm512_load_ps(s.0.as_ptr()));
    }
    _mm_sfence();
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nt_copy_avx2(src: &[Line], dst: &mut [Line]) {
    use std::arch::x86_64::*;
    assert_eq!(src.len(), dst.len());
    for (d, s) in dst.iter_mut().zip(src) {
        let (sp, dp) = (s.0.as_ptr(), d.0.as_mut_ptr());
        _mm256_stream_ps(dp, _mm256_load_ps(sp));
        _mm256_stream_ps(dp.add(8), _mm256_load_ps(sp.add(8)));
    }
    _mm_sfence();
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_avx512(src: &[Line]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); 16];
    for block in src.chunks_exact(16) {
        for (a, l) in acc.iter_mut().zip(block) {
            *a = _mm512_add_ps(*a, _mm512_load_ps(l.0.as_ptr()));
        }
    }
    let mut total = _mm512_setzero_ps();
    for a in acc {
        total = _mm512_add_ps(total, a);
    }
    _mm512_reduce_add_ps(total)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn read_avx2(src: &[Line]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 16];
    for block in src.chunks_exact(8) {
        for (i, l) in block.iter().enumerate() {
            acc[2 * i] = _mm256_add_ps(acc[2 * i], _mm256_load_ps(l.0.as_ptr()));
            acc[2 * i + 1] = _mm256_add_ps(acc[2 * i + 1], _mm256_load_ps(l.0.as_ptr().add(8)));
        }
    }
    let mut total = _mm256_setzero_ps();
    for a in acc {
        total = _mm256_add_ps(total, a);
    }
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), total);
    lanes.iter().sum()
}

/// What a case's throughput is compared against.
#[derive(Clone, Copy)]
enum Bound {
    /// In cache: no memory bound quoted.
    None,
    /// Streams in and out: (read + written) bytes against the non-temporal copy bandwidth.
    NtCopy,
    /// Reads a large input: read bytes against the read bandwidth.
    Read,
}

struct Row {
    name: String,
    read: usize,
    written: usize,
    bound: Bound,
    tensile: f64,
    ndarray: f64,
    candle: f64,
}

fn fail(case: &str, msg: String) -> ! {
    eprintln!("\nMISMATCH in case `{case}`: {msg}");
    std::process::exit(1);
}

/// Aborts unless `got` equals `want` exactly.
fn check_exact<T: PartialEq + std::fmt::Debug>(case: &str, who: &str, got: &[T], want: &[T]) {
    if got.len() != want.len() {
        fail(
            case,
            format!("{who} has {} elements, ndarray {}", got.len(), want.len()),
        );
    }
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        fail(
            case,
            format!("{who}[{i}] = {:?}, ndarray has {:?}", got[i], want[i]),
        );
    }
}

/// Aborts unless every `got` is within 1e-3 relative of `want` (absolute below 1e-3).
fn check_close(case: &str, who: &str, got: &[f32], want: &[f32]) {
    if got.len() != want.len() {
        fail(
            case,
            format!("{who} has {} elements, ndarray {}", got.len(), want.len()),
        );
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let close = (g - w).abs() <= 1e-3 * w.abs().max(1e-3);
        if !close {
            fail(
                case,
                format!("{who}[{i}] = {g}, ndarray has {w} (more than 1e-3 relative)"),
            );
        }
    }
}

fn candle_vec(t: &CTensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
}

/// `out = a op b` with `b` broadcast to `a`'s shape.
fn binary<D: Dimension, E: Dimension>(
    name: &str,
    op: BinaryOp,
    a_dims: D,
    b_dims: E,
    bound: Bound,
) -> Row {
    let (ash, bsh) = (a_dims.slice().to_vec(), b_dims.slice().to_vec());
    let (na, nb) = (a_dims.size(), b_dims.size());
    let a = data(na, 11);
    let b = data(nb, 12);
    // Tensile
    let mut out_t = vec![0f32; na];
    let av = TensorView::new(&a, &ash[..]).unwrap();
    let bv = TensorView::new(&b, &bsh[..]).unwrap();
    let tensile = time(|| {
        let mut ov = TensorViewMut::new(&mut out_t, &ash[..]).unwrap();
        av.binary_into(&Cpu, op, &bv, &mut ov).unwrap();
    });
    // ndarray: Zip into a preallocated output, b broadcast.
    let mut out_n = vec![0f32; na];
    let xa = ArrayView::from_shape(a_dims.clone(), &a).unwrap();
    let xb = ArrayView::from_shape(b_dims, &b).unwrap();
    let ndarray = time(|| {
        let mut o = ArrayViewMut::from_shape(a_dims.clone(), &mut out_n).unwrap();
        let z = Zip::from(&mut o).and(&xa).and_broadcast(&xb);
        match op {
            BinaryOp::Add => z.for_each(|o, &x, &y| *o = x + y),
            BinaryOp::Mul => z.for_each(|o, &x, &y| *o = x * y),
            _ => unreachable!("only add and mul are benchmarked"),
        }
    });
    check_exact(name, "tensile", &out_t, &out_n);
    drop(out_t);
    // candle: allocates its output on every call.
    let p = pool();
    let (candle, got) = p.install(|| {
        let ca = CTensor::from_slice(&a, ash.clone(), &Device::Cpu).unwrap();
        let cb = CTensor::from_slice(&b, bsh.clone(), &Device::Cpu).unwrap();
        let run = || match op {
            BinaryOp::Add => ca.broadcast_add(&cb).unwrap(),
            _ => ca.broadcast_mul(&cb).unwrap(),
        };
        let t = time(|| {
            black_box(run());
        });
        (t, candle_vec(&run()))
    });
    check_exact(name, "candle", &got, &out_n);
    Row {
        name: name.into(),
        read: 4 * (na + nb),
        written: 4 * na,
        bound,
        tensile,
        ndarray,
        candle,
    }
}

fn sum_all(n: usize) -> Row {
    let name = format!("sum of {}M elements", n >> 20);
    let a = data(n, 21);
    let mut out_t = [0f32; 1];
    let av = TensorView::new(&a, [n]).unwrap();
    let tensile = time(|| {
        let mut ov = TensorViewMut::new(&mut out_t, [0usize; 0]).unwrap();
        av.reduce_into(&Cpu, ReduceOp::Sum, None, &mut ov).unwrap();
    });
    let xa = ArrayView1::from(&a[..]);
    let mut out_n = 0f32;
    let ndarray = time(|| out_n = black_box(xa.sum()));
    check_close(&name, "tensile", &out_t, &[out_n]);
    let p = pool();
    let (candle, got) = p.install(|| {
        let ca = CTensor::from_slice(&a, n, &Device::Cpu).unwrap();
        let t = time(|| {
            black_box(ca.sum_all().unwrap());
        });
        (t, ca.sum_all().unwrap().to_scalar::<f32>().unwrap())
    });
    check_close(&name, "candle", &[got], &[out_n]);
    Row {
        name,
        read: 4 * n,
        written: 4,
        bound: Bound::Read,
        tensile,
        ndarray,
        candle,
    }
}

/// Mean of a (5,256,256,3) tensor over `axis` (0 or 3).
fn mean_axis(axis: usize) -> Row {
    let dims = [5usize, 256, 256, 3];
    let label = if axis == 0 { "0" } else { "-1" };
    let name = format!("mean over axis {label} of (5,256,256,3)");
    let n: usize = dims.iter().product();
    let a = data(n, 31);
    let m = n / dims[axis];
    let kept: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != axis)
        .map(|(_, &d)| d)
        .collect();
    let mut out_t = vec![0f32; m];
    let av = TensorView::new(&a, dims).unwrap();
    let ax = [axis as isize];
    let tensile = time(|| {
        let mut ov = TensorViewMut::new(&mut out_t, &kept[..]).unwrap();
        av.reduce_into(&Cpu, ReduceOp::Mean, Some(&ax), &mut ov)
            .unwrap();
    });
    let xa = ArrayView::from_shape(Ix4(5, 256, 256, 3), &a).unwrap();
    let ndarray = time(|| {
        black_box(xa.mean_axis(Axis(axis)).unwrap());
    });
    let want = xa.mean_axis(Axis(axis)).unwrap();
    let want = want.as_slice().unwrap();
    check_close(&name, "tensile", &out_t, want);
    let p = pool();
    let (candle, got) = p.install(|| {
        let ca = CTensor::from_slice(&a, &dims[..], &Device::Cpu).unwrap();
        let t = time(|| {
            black_box(ca.mean(axis).unwrap());
        });
        (t, candle_vec(&ca.mean(axis).unwrap()))
    });
    check_close(&name, "candle", &got, want);
    Row {
        name,
        read: 4 * n,
        written: 4 * m,
        bound: Bound::None,
        tensile,
        ndarray,
        candle,
    }
}

/// Max values and indices over the last axis of (5,256,256,3).
fn max_last() -> Row {
    let name = "max with indices over axis -1 of (5,256,256,3)".to_string();
    let dims = [5usize, 256, 256, 3];
    let n: usize = dims.iter().product();
    let m = n / 3;
    let a = data(n, 41);
    let mut vals_t = vec![0f32; m];
    let mut idx_t = vec![0i64; m];
    let av = TensorView::new(&a, dims).unwrap();
    let tensile = time(|| {
        let mut vv = TensorViewMut::new(&mut vals_t, [5usize, 256, 256]).unwrap();
        let mut iv = TensorViewMut::new(&mut idx_t, [5usize, 256, 256]).unwrap();
        av.extremum_into(&Cpu, Extremum::Max, Some(-1), Some(&mut vv), Some(&mut iv))
            .unwrap();
    });
    // ndarray: a first-index argmax per lane (the map_axis pattern), into preallocated outputs.
    let xa = ArrayView::from_shape(Ix4(5, 256, 256, 3), &a).unwrap();
    let mut vals_n = vec![0f32; m];
    let mut idx_n = vec![0i64; m];
    let ndarray = time(|| {
        let mut vo = ArrayViewMut::from_shape(Ix3(5, 256, 256), &mut vals_n).unwrap();
        let mut io = ArrayViewMut::from_shape(Ix3(5, 256, 256), &mut idx_n).unwrap();
        Zip::from(&mut vo)
            .and(&mut io)
            .and(xa.lanes(Axis(3)))
            .for_each(|v, i, lane| {
                let (mut bi, mut bv) = (0, lane[0]);
                for (j, &x) in lane.iter().enumerate().skip(1) {
                    if x > bv {
                        (bi, bv) = (j, x);
                    }
                }
                *v = bv;
                *i = bi as i64;
            });
    });
    check_exact(&name, "tensile values", &vals_t, &vals_n);
    check_exact(&name, "tensile indices", &idx_t, &idx_n);
    let p = pool();
    let (candle, got_v, got_i) = p.install(|| {
        let ca = CTensor::from_slice(&a, &dims[..], &Device::Cpu).unwrap();
        let t = time(|| {
            black_box(ca.max(3).unwrap());
            black_box(ca.argmax(3).unwrap());
        });
        let gi = ca
            .argmax(3)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<u32>()
            .unwrap();
        (t, candle_vec(&ca.max(3).unwrap()), gi)
    });
    check_exact(&name, "candle values", &got_v, &vals_n);
    let got_i: Vec<i64> = got_i.into_iter().map(i64::from).collect();
    check_exact(&name, "candle indices", &got_i, &idx_n);
    Row {
        name,
        read: 4 * n,
        written: 4 * m + 8 * m,
        bound: Bound::None,
        tensile,
        ndarray,
        candle,
    }
}

/// Unbiased standard deviation over axis 0 of (r, c).
fn std0(r: usize, c: usize) -> Row {
    let name = format!("std over axis 0 of ({r},{c}), correction 1");
    let n = r * c;
    let a = data(n, 51);
    let mut out_t = vec![0f32; c];
    let av = TensorView::new(&a, [r, c]).unwrap();
    let op = ReduceOp::Std { correction: 1 };
    let tensile = time(|| {
        let mut ov = TensorViewMut::new(&mut out_t, [c]).unwrap();
        av.reduce_into(&Cpu, op, Some(&[0]), &mut ov).unwrap();
    });
    let xa = ArrayView::from_shape(Ix2(r, c), &a).unwrap();
    let ndarray = time(|| {
        black_box(xa.std_axis(Axis(0), 1.0));
    });
    let want = xa.std_axis(Axis(0), 1.0);
    let want = want.as_slice().unwrap();
    check_close(&name, "tensile", &out_t, want);
    let p = pool();
    let (candle, got) = p.install(|| {
        let ca = CTensor::from_slice(&a, (r, c), &Device::Cpu).unwrap();
        let run = || ca.var(0).unwrap().sqrt().unwrap();
        let t = time(|| {
            black_box(run());
        });
        (t, candle_vec(&run()))
    });
    check_close(&name, "candle", &got, want);
    Row {
        name,
        read: 4 * n,
        written: 4 * c,
        bound: Bound::Read,
        tensile,
        ndarray,
        candle,
    }
}

fn fmt_time(s: f64) -> String {
    if s < 1e-6 {
        format!("{:.1} ns", s * 1e9)
    } else if s < 1e-3 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

fn main() {
    tensile_hal_cpu::set_num_threads(1);
    println!("machine: {}", machine());
    let bw = bandwidth();
    println!(
        "copy bandwidth (copy_from_slice, 256 MiB, read + write): {:.1} GB/s",
        bw.copy
    );
    println!(
        "non-temporal copy bandwidth ({}, 256 MiB, read + write): {:.1} GB/s",
        bw.nt_kind, bw.nt_copy
    );
    println!(
        "read bandwidth ({}, 256 MiB): {:.1} GB/s\n",
        bw.read_kind, bw.read
    );

    let rows = [
        binary(
            "(256,256,3) * (3,)",
            BinaryOp::Mul,
            Ix3(256, 256, 3),
            Ix1(3),
            Bound::None,
        ),
        binary(
            "(2,256,256,3) * (2,1,1,3)",
            BinaryOp::Mul,
            Ix4(2, 256, 256, 3),
            Ix4(2, 1, 1, 3),
            Bound::None,
        ),
        binary(
            "(6,5) + (1,5)",
            BinaryOp::Add,
            Ix2(6, 5),
            Ix2(1, 5),
            Bound::None,
        ),
        binary(
            "(64,1024,1024) + (1024,)",
            BinaryOp::Add,
            Ix3(64, 1024, 1024),
            Ix1(1024),
            Bound::NtCopy,
        ),
        binary(
            "(4096,4096) + (4096,1)",
            BinaryOp::Add,
            Ix2(4096, 4096),
            Ix2(4096, 1),
            Bound::NtCopy,
        ),
        sum_all(16 << 20),
        mean_axis(0),
        mean_axis(3),
        max_last(),
        std0(4096, 4096),
    ];

    println!("| case | Tensile | GB/s (read + written) | % of bound | ndarray | candle | best peer / Tensile |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let gbs = (r.read + r.written) as f64 / r.tensile / 1e9;
        let pct = match r.bound {
            Bound::None => "-".to_string(),
            Bound::NtCopy => format!("{:.0}% of NT copy", 100.0 * gbs / bw.nt_copy),
            Bound::Read => {
                let read = r.read as f64 / r.tensile / 1e9;
                format!(
                    "{:.0}% of read ({read:.1} GB/s read)",
                    100.0 * read / bw.read
                )
            }
        };
        let best = r.ndarray.min(r.candle);
        println!(
            "| {} | {} | {gbs:.1} | {pct} | {} | {} | {:.2}x |",
            r.name,
            fmt_time(r.tensile),
            fmt_time(r.ndarray),
            fmt_time(r.candle),
            best / r.tensile
        );
    }
    println!(
        "\n(f32, 1 thread for every library, median time per call; bytes count each operand's \
         actual size; >1x = Tensile faster. Inputs over {} MiB (L3) are memory-bound. \
         Tensile and ndarray write into preallocated outputs (ndarray's mean_axis/std_axis \
         allocate theirs); candle allocates every output.)",
        CACHE_BYTES >> 20
    );
}
