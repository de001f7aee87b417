//! A small, seedable, `no_std` random generator (SplitMix64 for seeding, xoshiro256++ for the
//! stream). Numbers are made on the host and uploaded, so every device sees the same values for
//! the same seed.

use crate::dtype::Elem;

/// The generator behind `rand`/`randn`.
///
/// ```
/// use tensile_core::Rng;
/// let mut a = Rng::seed(7);
/// let mut b = Rng::seed(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let u = a.uniform();
/// assert!((0.0..1.0).contains(&u));
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn seed(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
            spare: None,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, 1)` with 24 random bits, in f32 arithmetic only (no soft-float f64 on
    /// a microcontroller).
    pub fn uniform_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as u32) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: log is finite
        let u2 = self.uniform();
        let r = libm::sqrt(-2.0 * libm::log(u1));
        let (s, c) = libm::sincos(2.0 * core::f64::consts::PI * u2);
        self.spare = Some(r * s);
        r * c
    }

    /// An index uniform in `0..n` (`n > 0`), e.g. for shuffling.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Fills `out` with uniform values in `[0, 1)`.
    pub fn fill_uniform<E: Elem>(&mut self, out: &mut [E]) {
        for v in out {
            *v = E::from_f64(self.uniform());
        }
    }

    /// Fills `out` with standard normal values.
    pub fn fill_normal<E: Elem>(&mut self, out: &mut [E]) {
        for v in out {
            *v = E::from_f64(self.normal());
        }
    }
}
