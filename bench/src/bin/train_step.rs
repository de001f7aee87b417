//! Training-step time, side by side in one process with the same inputs: Tensile's static
//! graph on the CPU device, candle-core's autograd (CPU), and a hand-written loop with no
//! framework (the floor). Cases: logistic regression 64x784 -> 10, and the digits MLP
//! 64-32-10 on a batch of 64. Step = forward, cross-entropy, backward, SGD update.

use candle_core::{DType as CDType, Device as CDevice, Tensor as CTensor, Var};
use tensile_bench::{data, machine, median};
use tensile_core::graph::{Graph, Training};
use tensile_core::ops::Sgd;
use tensile_core::DType;
use tensile_hal_cpu::Cpu;

const LR: f64 = 0.01;

struct Shape {
    name: &'static str,
    batch: usize,
    input: usize,
    hidden: Option<usize>,
    classes: usize,
}

fn labels(n: usize, classes: usize) -> Vec<usize> {
    (0..n).map(|i| (i * 7 + 3) % classes).collect()
}

/// Layers as (fan_in, fan_out).
fn layers(s: &Shape) -> Vec<(usize, usize)> {
    match s.hidden {
        None => vec![(s.input, s.classes)],
        Some(h) => vec![(s.input, h), (h, s.classes)],
    }
}

fn init(i: usize, o: usize, k: usize) -> Vec<f32> {
    let scale = 1.0 / (i as f32).sqrt();
    data(i * o, 10 + k as u64)
        .iter()
        .map(|v| v * scale)
        .collect()
}

fn tensile(s: &Shape, steps: usize, iters: usize) -> (f64, f32) {
    let mut g = Graph::new();
    let x = g.input("x", DType::F32, &[s.batch, s.input]).unwrap();
    let y = g.input("y", DType::I32, &[s.batch]).unwrap();
    let mut h = x;
    let mut params = Vec::new();
    let ls = layers(s);
    for (k, &(i, o)) in ls.iter().enumerate() {
        let w = g.param("w", DType::F32, &[i, o]).unwrap();
        let b = g.param("b", DType::F32, &[o]).unwrap();
        params.push((w, b, i, o));
        h = g.matmul(h, w).unwrap();
        h = g.add(h, b).unwrap();
        if k + 1 < ls.len() {
            h = g.relu(h).unwrap();
        }
    }
    let loss = g.cross_entropy(h, y).unwrap();
    g.backward(loss).unwrap();
    g.plan(&[loss], Training::Sgd(Sgd::default())).unwrap();
    let mut sess = g.session(Cpu).unwrap();
    sess.input_mut::<f32>(x)
        .unwrap()
        .copy_from_slice(&data(s.batch * s.input, 1));
    for (dst, l) in sess
        .input_mut::<i32>(y)
        .unwrap()
        .iter_mut()
        .zip(labels(s.batch, s.classes))
    {
        *dst = l as i32;
    }
    for (k, &(w, b, i, o)) in params.iter().enumerate() {
        sess.param_mut::<f32>(w)
            .unwrap()
            .copy_from_slice(&init(i, o, k));
        sess.param_mut::<f32>(b).unwrap().fill(0.0);
    }
    sess.set_lr(LR).unwrap();
    // The same number of steps as the others before reading the loss (for the cross-check).
    for _ in 0..steps + 1 {
        sess.train_step().unwrap();
    }
    let l = sess.read::<f32>(loss).unwrap().get(&[]).unwrap();
    let t = median(10, iters, || sess.train_step().unwrap());
    (t.as_secs_f64(), l)
}

fn candle(s: &Shape, steps: usize, iters: usize) -> (f64, f32) {
    let dev = CDevice::Cpu;
    let x = CTensor::from_vec(data(s.batch * s.input, 1), (s.batch, s.input), &dev).unwrap();
    let mut hot = vec![0f32; s.batch * s.classes];
    for (r, l) in labels(s.batch, s.classes).into_iter().enumerate() {
        hot[r * s.classes + l] = 1.0;
    }
    let hot = CTensor::from_vec(hot, (s.batch, s.classes), &dev).unwrap();
    let params: Vec<(Var, Var)> = layers(s)
        .iter()
        .enumerate()
        .map(|(k, &(i, o))| {
            (
                Var::from_tensor(&CTensor::from_vec(init(i, o, k), (i, o), &dev).unwrap()).unwrap(),
                Var::zeros(o, CDType::F32, &dev).unwrap(),
            )
        })
        .collect();
    let n = params.len();
    let step = || -> f32 {
        let mut h = x.clone();
        for (k, (w, b)) in params.iter().enumerate() {
            h = h
                .matmul(w.as_tensor())
                .unwrap()
                .broadcast_add(b.as_tensor())
                .unwrap();
            if k + 1 < n {
                h = h.relu().unwrap();
            }
        }
        let m = h.max_keepdim(1).unwrap().detach();
        let shifted = h.broadcast_sub(&m).unwrap();
        let lse = shifted
            .exp()
            .unwrap()
            .sum_keepdim(1)
            .unwrap()
            .log()
            .unwrap();
        let lsm = shifted.broadcast_sub(&lse).unwrap();
        let loss = ((lsm * &hot).unwrap().sum_all().unwrap() * (-1.0 / s.batch as f64)).unwrap();
        let grads = loss.backward().unwrap();
        for (w, b) in &params {
            for v in [w, b] {
                let g = grads.get(v.as_tensor()).unwrap();
                v.set(&(v.as_tensor() - (g * LR).unwrap()).unwrap())
                    .unwrap();
            }
        }
        loss.to_scalar::<f32>().unwrap()
    };
    let mut l = 0.0;
    for _ in 0..steps + 1 {
        l = step();
    }
    let t = median(10, iters, || {
        step();
    });
    (t.as_secs_f64(), l)
}

/// The floor: the same step as plain loops over slices, no framework, buffers allocated once.
fn by_hand(s: &Shape, steps: usize, iters: usize) -> (f64, f32) {
    let x = data(s.batch * s.input, 1);
    let y = labels(s.batch, s.classes);
    let ls = layers(s);
    let mut w: Vec<Vec<f32>> = ls
        .iter()
        .enumerate()
        .map(|(k, &(i, o))| init(i, o, k))
        .collect();
    let mut b: Vec<Vec<f32>> = ls.iter().map(|&(_, o)| vec![0.0; o]).collect();
    let mut acts: Vec<Vec<f32>> = ls.iter().map(|&(i, _)| vec![0.0; s.batch * i]).collect();
    let mut outs: Vec<Vec<f32>> = ls.iter().map(|&(_, o)| vec![0.0; s.batch * o]).collect();
    let mut gout: Vec<Vec<f32>> = ls.iter().map(|&(_, o)| vec![0.0; s.batch * o]).collect();
    let mut gw: Vec<Vec<f32>> = ls.iter().map(|&(i, o)| vec![0.0; i * o]).collect();
    let n = s.batch;
    let c = s.classes;
    let mut step = || {
        acts[0].copy_from_slice(&x);
        for (k, &(fi, fo)) in ls.iter().enumerate() {
            for r in 0..n {
                let row = &mut outs[k][r * fo..(r + 1) * fo];
                row.copy_from_slice(&b[k]);
                for p in 0..fi {
                    let av = acts[k][r * fi + p];
                    for (yv, &wv) in row.iter_mut().zip(&w[k][p * fo..(p + 1) * fo]) {
                        *yv += av * wv;
                    }
                }
            }
            if k + 1 < ls.len() {
                let (lo, hi) = acts.split_at_mut(k + 1);
                let _ = lo;
                for (a, &o) in hi[0].iter_mut().zip(&outs[k]) {
                    *a = o.max(0.0);
                }
            }
        }
        let top = ls.len() - 1;
        let mut loss = 0.0;
        for r in 0..n {
            let row = &outs[top][r * c..(r + 1) * c];
            let m = row.iter().copied().fold(f32::MIN, f32::max);
            let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
            for j in 0..c {
                let p = (row[j] - m).exp() / z;
                gout[top][r * c + j] = (p - (j == y[r]) as i32 as f32) / n as f32;
            }
            loss -= (row[y[r]] - m) - z.ln();
        }
        let mean = loss / n as f32;
        for k in (0..ls.len()).rev() {
            let (fi, fo) = ls[k];
            gw[k].fill(0.0);
            for r in 0..n {
                for p in 0..fi {
                    let av = acts[k][r * fi + p];
                    let grow = &gout[k][r * fo..(r + 1) * fo];
                    for (d, &gv) in gw[k][p * fo..(p + 1) * fo].iter_mut().zip(grow) {
                        *d += av * gv;
                    }
                }
            }
            if k > 0 {
                let (lo, hi) = gout.split_at_mut(k);
                for r in 0..n {
                    for p in 0..fi {
                        let mut acc = 0.0;
                        for j in 0..fo {
                            acc += hi[0][r * fo + j] * w[k][p * fo + j];
                        }
                        // relu'(pre-activation) is 1 exactly where the activation is > 0
                        lo[k - 1][r * fi + p] = if acts[k][r * fi + p] > 0.0 { acc } else { 0.0 };
                    }
                }
            }
            for j in 0..fo {
                let db: f32 = (0..n).map(|r| gout[k][r * fo + j]).sum();
                b[k][j] -= LR as f32 * db;
            }
            for (wv, &d) in w[k].iter_mut().zip(&gw[k]) {
                *wv -= LR as f32 * d;
            }
        }
        mean
    };
    let mut l = 0.0;
    for _ in 0..steps + 1 {
        l = step();
    }
    let t = median(10, iters, || {
        step();
    });
    (t.as_secs_f64(), l)
}

fn main() {
    println!("machine: {}", machine());
    println!("training step = forward + cross-entropy + backward + SGD (lr {LR}), f32, 1 thread, median\n");
    println!("| case | Tensile | candle-core | hand-written (floor) | candle / Tensile | Tensile / floor |");
    println!("|---|---|---|---|---|---|");
    let cases = [
        Shape {
            name: "logistic regression 64x784 -> 10",
            batch: 64,
            input: 784,
            hidden: None,
            classes: 10,
        },
        Shape {
            name: "digits MLP 64-32-10, batch 64",
            batch: 64,
            input: 64,
            hidden: Some(32),
            classes: 10,
        },
    ];
    for s in &cases {
        let (steps, iters) = (5, 400);
        let (tt, lt) = tensile(s, steps, iters);
        let (tc, lc) = candle(s, steps, iters);
        let (th, lh) = by_hand(s, steps, iters);
        // All three train the same model: after the same steps their losses agree.
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3 * b.abs().max(1.0);
        assert!(close(lt, lh), "{}: tensile {lt} vs hand {lh}", s.name);
        assert!(close(lc, lh), "{}: candle {lc} vs hand {lh}", s.name);
        println!(
            "| {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.2}x | {:.2}x |",
            s.name,
            tt * 1e6,
            tc * 1e6,
            th * 1e6,
            tc / tt,
            tt / th
        );
    }
}
