//! Shared helpers for the host examples: the shipped digits data set.
#![deny(missing_docs)]

use std::io::Read;

/// The 8×8 handwritten digits (UCI, CC BY 4.0; see `data/digits/README.md`).
#[derive(Debug, Clone)]
pub struct Digits {
    /// Pixels, 64 per image, values 0..=16, row-major.
    pub pixels: Vec<u8>,
    /// Labels 0..=9.
    pub labels: Vec<u8>,
}

impl Digits {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The 64 pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * 64..(i + 1) * 64]
    }
}

/// A deterministic shuffle of the image indices, split 80/20 into (train, test).
pub fn split(n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut r = tensile_core::Rng::seed(2024);
    for i in (1..n).rev() {
        idx.swap(i, r.below(i + 1));
    }
    let test = idx.split_off(n * 4 / 5);
    (idx, test)
}

/// Loads the digits shipped in `examples/data/digits/digits.csv.gz`.
pub fn load_digits() -> Result<Digits, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits/digits.csv.gz");
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{path}: {e}"))?;
    let mut d = Digits {
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let vals: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        if vals.len() != 65 || vals[..64].iter().any(|&p| p > 16) || vals[64] > 9 {
            return Err(format!(
                "{path}:{}: expected 64 pixels in 0..=16 and a label",
                n + 1
            ));
        }
        d.pixels.extend_from_slice(&vals[..64]);
        d.labels.push(vals[64]);
    }
    Ok(d)
}
