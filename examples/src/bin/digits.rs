//! Trains multinomial logistic regression and a 64-32-10 MLP on the shipped digits data with
//! a static graph (declared once, planned once, no allocation per step), with SGD and with
//! Adam; prints the loss per epoch and the held-out accuracy, and writes the loss curves to
//! `digits_loss.svg`.
//!
//! Run with `cargo run --release -p tensile-examples --bin digits`.

use indicatif::{ProgressBar, ProgressStyle};
use tensile_core::graph::{Graph, NodeId, Training};
use tensile_core::ops::{Adam, Sgd};
use tensile_core::{DType, Extremum, Result, Rng};
use tensile_examples::{load_digits, split, Digits};
use tensile_hal_cpu::Cpu;

const BATCH: usize = 64;
const CLASSES: usize = 10;
const FEATURES: usize = 64;

/// The model's nodes in one graph.
struct Model {
    x: NodeId,
    labels: NodeId,
    params: Vec<(NodeId, usize)>, // (node, fan_in)
    logits: NodeId,
}

/// Declares `logits = mlp(x)` (or logistic regression when `hidden` is `None`).
fn declare(g: &mut Graph, batch: usize, hidden: Option<usize>) -> Result<Model> {
    let x = g.input("x", DType::F32, &[batch, FEATURES])?;
    let labels = g.input("labels", DType::I32, &[batch])?;
    let mut params = Vec::new();
    let mut linear = |g: &mut Graph, h: NodeId, fan_in: usize, fan_out: usize| -> Result<NodeId> {
        let w = g.param("w", DType::F32, &[fan_in, fan_out])?;
        let b = g.param("b", DType::F32, &[fan_out])?;
        params.push((w, fan_in));
        params.push((b, fan_in));
        let y = g.matmul(h, w)?;
        g.add(y, b)
    };
    let logits = match hidden {
        None => linear(g, x, FEATURES, CLASSES)?,
        Some(hd) => {
            let h = linear(g, x, FEATURES, hd)?;
            let h = g.relu(h)?;
            linear(g, h, hd, CLASSES)?
        }
    };
    Ok(Model {
        x,
        labels,
        params,
        logits,
    })
}

fn fill_batch(d: &Digits, rows: &[usize], x: &mut [f32], y: &mut [i32]) {
    for (k, &i) in rows.iter().enumerate() {
        for (dst, &p) in x[k * FEATURES..(k + 1) * FEATURES]
            .iter_mut()
            .zip(d.image(i))
        {
            *dst = p as f32 / 16.0;
        }
        y[k] = d.labels[i] as i32;
    }
}

struct Run {
    name: String,
    losses: Vec<f64>,
    accuracy: f64,
}

fn train(d: &Digits, hidden: Option<usize>, opt: Training, lr: f64, epochs: usize) -> Result<Run> {
    let (train_rows, test_rows) = split(d.len());
    let mut g = Graph::new();
    let m = declare(&mut g, BATCH, hidden)?;
    let loss = g.cross_entropy(m.logits, m.labels)?;
    g.backward(loss)?;
    let stats = g.plan(&[loss], opt)?;
    let mut s = g.session(Cpu)?;
    // PyTorch's nn.Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    let mut r = Rng::seed(7);
    for &(p, fan_in) in &m.params {
        let bound = 1.0 / (fan_in as f64).sqrt();
        for v in s.param_mut::<f32>(p)? {
            *v = ((2.0 * r.uniform() - 1.0) * bound) as f32;
        }
    }
    s.set_lr(lr)?;
    let name = format!(
        "{} + {}",
        if hidden.is_some() {
            "MLP 64-32-10"
        } else {
            "logistic regression"
        },
        match opt {
            Training::Adam(_) => "Adam",
            _ => "SGD",
        }
    );
    println!(
        "\n{name}: plan {} bytes (without reuse {} bytes)",
        stats.bytes, stats.unplanned_bytes
    );
    let bar = ProgressBar::new(epochs as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut losses = Vec::new();
    let mut order = train_rows.clone();
    let mut shuffle = Rng::seed(99);
    for epoch in 0..epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, shuffle.below(i + 1));
        }
        let (mut total, mut batches) = (0.0, 0);
        for rows in order.chunks_exact(BATCH) {
            let mut xb = [0f32; BATCH * FEATURES];
            let mut yb = [0i32; BATCH];
            fill_batch(d, rows, &mut xb, &mut yb);
            s.input_mut::<f32>(m.x)?.copy_from_slice(&xb);
            s.input_mut::<i32>(m.labels)?.copy_from_slice(&yb);
            s.train_step()?;
            total += s.read::<f32>(loss)?.get(&[])? as f64;
            batches += 1;
        }
        let mean = total / batches as f64;
        losses.push(mean);
        bar.set_message(format!("loss {mean:.4}"));
        bar.inc(1);
        if (epoch + 1) % 10 == 0 || epoch == 0 {
            let line = format!("  epoch {:>3}  loss {mean:.4}", epoch + 1);
            if bar.is_hidden() {
                println!("{line}"); // not a terminal: no bar, plain lines
            } else {
                bar.println(line);
            }
        }
    }
    bar.finish_and_clear();

    // Evaluate with an inference graph over the whole test set, sharing the trained weights.
    let mut eg = Graph::new();
    let em = declare(&mut eg, test_rows.len(), hidden)?;
    let pred = eg.extreme(Extremum::Max, em.logits, Some(-1), false, true)?;
    let istats = eg.plan(&[pred], Training::Inference)?;
    let mut g64 = Graph::new();
    let m64 = declare(&mut g64, BATCH, hidden)?;
    let i64stats = g64.plan(&[m64.logits], Training::Inference)?;
    println!(
        "{name}: inference plan {} bytes at batch {BATCH}, {} bytes for the {}-image test batch",
        i64stats.bytes,
        istats.bytes,
        test_rows.len()
    );
    let mut es = eg.session(Cpu)?;
    for (&(p, _), &(q, _)) in m.params.iter().zip(&em.params) {
        let w: Vec<f32> = s.read::<f32>(p)?.iter().collect();
        es.param_mut::<f32>(q)?.copy_from_slice(&w);
    }
    let mut xt = vec![0f32; test_rows.len() * FEATURES];
    let mut yt = vec![0i32; test_rows.len()];
    fill_batch(d, &test_rows, &mut xt, &mut yt);
    es.input_mut::<f32>(em.x)?.copy_from_slice(&xt);
    es.forward()?;
    let correct = es
        .read::<i64>(pred)?
        .iter()
        .zip(&yt)
        .filter(|(p, y)| *p == **y as i64)
        .count();
    let accuracy = correct as f64 / yt.len() as f64;
    println!(
        "{name}: final loss {:.4}, test accuracy {:.2}% ({correct}/{})",
        losses[losses.len() - 1],
        100.0 * accuracy,
        yt.len()
    );
    Ok(Run {
        name,
        losses,
        accuracy,
    })
}

fn plot(runs: &[Run], path: &str) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let epochs = runs.iter().map(|r| r.losses.len()).max().unwrap_or(1);
    let top = runs
        .iter()
        .flat_map(|r| r.losses.iter().copied())
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .caption("digits: training loss per epoch", ("sans-serif", 20))
        .build_cartesian_2d(1..epochs, 0.0..top * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("cross-entropy")
        .draw()?;
    let colors = [RED, BLUE, GREEN, MAGENTA];
    for (r, c) in runs.iter().zip(colors) {
        chart
            .draw_series(LineSeries::new(
                r.losses.iter().enumerate().map(|(i, &l)| (i + 1, l)),
                c,
            ))?
            .label(r.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> Result<()> {
    let d = load_digits().map_err(|_| {
        tensile_core::Error::new(
            tensile_core::ErrorKind::InvalidData,
            "load_digits",
            tensile_core::Context::Message("examples/data/digits/digits.csv.gz unreadable"),
        )
    })?;
    let (tr, te) = split(d.len());
    println!(
        "digits: {} images, {} train / {} test (deterministic split)",
        d.len(),
        tr.len(),
        te.len()
    );
    let sgd = Training::Sgd(Sgd {
        momentum: 0.9,
        ..Sgd::default()
    });
    let adam = Training::Adam(Adam::default());
    let runs = vec![
        train(&d, None, sgd, 0.05, 40)?,
        train(&d, None, adam, 0.01, 40)?,
        train(&d, Some(32), sgd, 0.05, 40)?,
        train(&d, Some(32), adam, 0.005, 40)?,
    ];
    println!("\nsummary");
    for r in &runs {
        println!("  {:<32} test accuracy {:.2}%", r.name, 100.0 * r.accuracy);
    }
    match plot(&runs, "digits_loss.svg") {
        Ok(()) => println!("loss curves written to digits_loss.svg"),
        Err(e) => println!("could not write the plot: {e}"),
    }
    Ok(())
}
