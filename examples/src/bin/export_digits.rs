//! Writes the digits subset the Cortex-M firmware embeds in flash:
//! `cargo run -p tensile-examples --bin export_digits -- examples/firmware-m4/data/digits.bin`.
//!
//! Format: `u16` train count, `u16` test count (little-endian), then one 65-byte record per
//! image (64 pixels 0..=16, then the label), train records first. Same split as `digits`.

use std::io::Write;

const TRAIN: usize = 640;
const TEST: usize = 320;

fn main() -> Result<(), String> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: export_digits OUT.bin")?;
    let d = tensile_examples::load_digits()?;
    let (train, test) = tensile_examples::split(d.len());
    let mut out = Vec::new();
    out.extend_from_slice(&(TRAIN as u16).to_le_bytes());
    out.extend_from_slice(&(TEST as u16).to_le_bytes());
    for &i in train.iter().take(TRAIN).chain(test.iter().take(TEST)) {
        out.extend_from_slice(d.image(i));
        out.push(d.labels[i]);
    }
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&out))
        .map_err(|e| format!("{path}: {e}"))?;
    println!(
        "wrote {path}: {TRAIN} train + {TEST} test images, {} bytes",
        out.len()
    );
    Ok(())
}
