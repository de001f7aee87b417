//! The tour: PyTorch's teaching notes on tensors, in Rust, on the CPU device.
//!
//! Run with `cargo run --release -p tensile-examples --bin quickstart`.

use tensile_core::graph::{Graph, Training};
use tensile_core::{DType, Result, TensorView};
use tensile_hal_cpu::{Cpu, Tensor};

fn section(title: &str) {
    println!("\n== {title}");
}

fn main() -> Result<()> {
    section("linspace(0, 1, 5)");
    println!("{}", Tensor::<f32>::linspace(0.0, 1.0, 5)?);

    section("arange(48).reshape(3, 4, 4)");
    let a = Tensor::<i64>::arange(48)?.reshape(&[3, 4, 4])?;
    println!("{a}");

    section("ones(6, 5) + arange(5).reshape(1, 5): broadcasting a row");
    let ones = Tensor::<f32>::ones(&[6, 5])?;
    let row = Tensor::<f32>::arange(5)?.reshape(&[1, 5])?;
    println!("{}", (&ones + &row)?);

    section("an image (256, 256, 3) scaled per channel by [0.5, 1.5, 1]");
    let image = Tensor::<f32>::rand(&[256, 256, 3], 0)?;
    let scale = Tensor::from([0.5f32, 1.5, 1.0]);
    let scaled = (&image * &scale)?;
    println!(
        "image {:?} * scale {:?} -> {:?}",
        image.dims(),
        scale.dims(),
        scaled.dims()
    );
    println!(
        "first pixel: {} -> {}",
        image.narrow(0, 0, 1)?.narrow(1, 0, 1)?.flatten()?,
        scaled.narrow(0, 0, 1)?.narrow(1, 0, 1)?.flatten()?
    );

    section("a batch (2, 256, 256, 3) scaled by a (2, 1, 1, 3) tensor");
    let batch = Tensor::<f32>::rand(&[2, 256, 256, 3], 1)?;
    let per_image = Tensor::from([[0.5f32, 1.5, 1.0], [2.0, 1.0, 0.25]]).reshape(&[2, 1, 1, 3])?;
    let out = (&batch * &per_image)?;
    println!(
        "{:?} * {:?} -> {:?}",
        batch.dims(),
        per_image.dims(),
        out.dims()
    );
    println!("{out}");

    section("mean, std, max, min of [0.5, 1, 3, 4]");
    let v = Tensor::from([0.5f32, 1.0, 3.0, 4.0]);
    println!("mean {}", v.mean_all()?);
    println!("std  {}  (correction = 1, like torch.std)", v.std_all(1)?);
    println!("max  {}", v.max_all()?);
    println!("min  {}", v.min_all()?);

    section("mean of arange(20).reshape(5, 4) along axis 0");
    let m = Tensor::<f32>::arange(20)?.reshape(&[5, 4])?;
    println!("{m}\n-> {}", m.mean(&[0], false)?);

    section("a batch of 5 images (5, 256, 256, 3): mean over the batch and over the channels");
    let images = Tensor::<f32>::rand(&[5, 256, 256, 3], 2)?;
    let over_batch = images.mean(&[0], false)?;
    let over_channels = images.mean(&[-1], false)?;
    println!(
        "over the batch    {:?} -> {:?}",
        images.dims(),
        over_batch.dims()
    );
    println!(
        "over the channels {:?} -> {:?}",
        images.dims(),
        over_channels.dims()
    );
    println!("{over_channels}");

    section("max over the channels, with indices (torch.max(x, dim=-1))");
    let (values, indices) = images.max(-1, false)?;
    println!("values  {values}");
    println!("indices {indices}");

    section("one 8x8 digit from the digits data set (UCI, CC BY 4.0)");
    let digits = tensile_examples::load_digits().map_err(|_| {
        tensile_core::Error::new(
            tensile_core::ErrorKind::InvalidData,
            "load_digits",
            tensile_core::Context::Message("examples/data/digits/digits.csv.gz unreadable"),
        )
    })?;
    // A zero-copy view of the raw bytes, then an owned u8 tensor, then f32.
    let pixels = TensorView::<u8>::from_bytes(digits.image(0), [8, 8])?;
    println!("label {}, as a u8 view:\n{pixels}", digits.labels[0]);
    let as_u8 = Tensor::<u8>::from_slice(digits.image(0), [8, 8])?;
    let as_f32 = (&as_u8.cast::<f32>()? / 16.0)?;
    println!("as f32 / 16:\n{as_f32}");

    section("autograd, eagerly: y = sum(x³), so dy/dx = 3x²");
    let x = Tensor::from([[5.0f32, 8.0], [4.0, 6.0]]).requires_grad();
    let y = x.pow(3.0)?.sum_all()?;
    y.backward()?;
    println!("x      = {}", x.value());
    println!("y      = {}", y.value());
    if let Some(g) = x.grad() {
        println!("x.grad = {g}");
    }

    section("a static graph: logistic regression p = sigmoid(w·x + b), loss = mean((p - t)²)");
    let mut g = Graph::new();
    let xs = g.input("x", DType::F32, &[4, 2])?;
    let t = g.input("t", DType::F32, &[4, 1])?;
    let w = g.param("w", DType::F32, &[2, 1])?;
    let b = g.param("b", DType::F32, &[1])?;
    let z = g.matmul(xs, w)?;
    let z = g.add(z, b)?;
    let p = g.sigmoid(z)?;
    let loss = g.mse(p, t)?;
    g.backward(loss)?; // gradient nodes derived now, once
    let stats = g.plan(&[loss, p], Training::GradsOnly)?;
    println!(
        "{} nodes; the plan needs {} bytes ({} without buffer reuse)",
        g.nodes().len(),
        stats.bytes,
        stats.unplanned_bytes
    );
    let mut s = g.session(Cpu)?; // the only allocation: the arena
    s.input_mut::<f32>(xs)?
        .copy_from_slice(&[0., 0., 0., 1., 1., 0., 1., 1.]);
    s.input_mut::<f32>(t)?.copy_from_slice(&[0., 0., 0., 1.]);
    s.param_mut::<f32>(w)?.copy_from_slice(&[0.5, -0.25]);
    s.param_mut::<f32>(b)?.copy_from_slice(&[0.1]);
    s.forward()?;
    s.backward()?;
    println!("p      = {}", s.read::<f32>(p)?);
    println!("loss   = {}", s.read::<f32>(loss)?);
    println!("dL/dw  = {}", s.grad::<f32>(w)?);
    println!("dL/db  = {}", s.grad::<f32>(b)?);
    Ok(())
}
