//! 64x784 @ 784x10 in both memory orders: Tensile and faer on row-major data (the same
//! buffers), and on column-major data (faer's own `Mat` layout; Tensile through transposed
//! views of the same column-major buffers).
use tensile_bench::{data, median};
use tensile_core::{Layout, Shape, TensorView, TensorViewMut};
use tensile_hal_cpu::Cpu;

fn main() {
    let (m, k, n) = (64usize, 784usize, 10usize);
    let a = data(m * k, 1);
    let b = data(k * n, 2);
    let only = std::env::args().nth(1);
    let iters = if only.is_some() { 200000 } else { 20000 };
    let warm = 2000;
    let gf = |t: std::time::Duration| 2.0 * (m * n * k) as f64 / t.as_secs_f64() / 1e9;
    tensile_hal_cpu::set_num_threads(1);
    let mut out = vec![0f32; m * n];
    let av = TensorView::new(&a, [m, k]).unwrap();
    let bv = TensorView::new(&b, [k, n]).unwrap();
    let t = median(warm, iters, || {
        let mut ov = TensorViewMut::new(&mut out, [m, n]).unwrap();
        av.matmul_into(&Cpu, &bv, &mut ov).unwrap();
    });
    println!("tensile row-major  {:.1} GFLOP/s", gf(t));
    if only.as_deref() == Some("row") {
        return;
    }
    let mut fc = faer::Mat::<f32>::zeros(m, n);
    let ac: Vec<f32> = (0..m * k).map(|x| a[(x % m) * k + x / m]).collect();
    let bc: Vec<f32> = (0..k * n).map(|x| b[(x % k) * n + x / k]).collect();
    if only.as_deref() != Some("col") {
        let fa = faer::MatRef::from_row_major_slice(&a, m, k);
        let fb = faer::MatRef::from_row_major_slice(&b, k, n);
        let t = median(warm, iters, || {
            faer::linalg::matmul::matmul(
                fc.as_mut(),
                faer::Accum::Replace,
                fa,
                fb,
                1.0f32,
                faer::Par::Seq,
            );
        });
        println!("faer row-major     {:.1} GFLOP/s", gf(t));
        let fa = faer::MatRef::from_column_major_slice(&ac, m, k);
        let fb = faer::MatRef::from_column_major_slice(&bc, k, n);
        let t = median(warm, iters, || {
            faer::linalg::matmul::matmul(
                fc.as_mut(),
                faer::Accum::Replace,
                fa,
                fb,
                1.0f32,
                faer::Par::Seq,
            );
        });
        println!("faer col-major     {:.1} GFLOP/s", gf(t));
        let fam = faer::Mat::<f32>::from_fn(m, k, |i, j| a[i * k + j]);
        let fbm = faer::Mat::<f32>::from_fn(k, n, |i, j| b[i * n + j]);
        let t = median(warm, iters, || {
            faer::linalg::matmul::matmul(
                fc.as_mut(),
                faer::Accum::Replace,
                fam.as_ref(),
                fbm.as_ref(),
                1.0f32,
                faer::Par::Seq,
            );
        });
        println!("faer Mat           {:.1} GFLOP/s", gf(t));
    }
    let acv = TensorView::with_layout(
        &ac,
        Layout::new(Shape::new(&[m, k]).unwrap(), &[1, m], 0).unwrap(),
    )
    .unwrap();
    let bcv = TensorView::with_layout(
        &bc,
        Layout::new(Shape::new(&[k, n]).unwrap(), &[1, k], 0).unwrap(),
    )
    .unwrap();
    let mut oc = vec![0f32; m * n];
    let t = median(warm, iters, || {
        let mut ov = TensorViewMut::with_layout(
            &mut oc,
            Layout::new(Shape::new(&[m, n]).unwrap(), &[1, m], 0).unwrap(),
        )
        .unwrap();
        acv.matmul_into(&Cpu, &bcv, &mut ov).unwrap();
    });
    println!("tensile col-major  {:.1} GFLOP/s", gf(t));
    let worst = (0..m * n)
        .map(|x| (oc[(x % n) * m + x / n] - out[x]).abs())
        .fold(0f32, f32::max);
    println!("col vs row max diff {worst}");
}
