//! A 3-axis accelerometer driver (the LIS3DH register protocol) generic over
//! [`embedded_hal::i2c::I2c`], which fills a `[samples, 3]` window tensor in place: the sensor
//! side of a firmware that runs a Tensile model on motion data. `no_std`, no allocation.
//!
//! ```
//! # use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
//! use tensile_accel::{Accel, ADDRESS};
//! let i2c = Mock::new(&[
//!     Transaction::write_read(ADDRESS, vec![0x0F], vec![0x33]), // WHO_AM_I
//!     Transaction::write(ADDRESS, vec![0x20, 0x57]),            // 100 Hz, X/Y/Z on
//!     Transaction::write(ADDRESS, vec![0x23, 0x08]),            // ±2 g, high resolution
//!     Transaction::write_read(ADDRESS, vec![0xA8], vec![0x00, 0x40, 0x00, 0xC0, 0x00, 0x00]),
//! ]);
//! let mut acc = Accel::new(i2c).unwrap();
//! let [x, y, z] = acc.read_g().unwrap(); // 0x4000 = 16384 raw = 1024 mg
//! assert!((x - 1.024).abs() < 1e-6 && (y + 1.024).abs() < 1e-6 && z == 0.0);
//! acc.release().done();
//! ```
#![no_std]
#![deny(missing_docs)]

use embedded_hal::i2c::I2c;
use tensile_core::TensorViewMut;

/// The sensor's 7-bit I2C address (SA0 low).
pub const ADDRESS: u8 = 0x18;
const WHO_AM_I: u8 = 0x0F;
const WHO_AM_I_VALUE: u8 = 0x33;
const CTRL_REG1: u8 = 0x20;
const CTRL_REG4: u8 = 0x23;
const OUT_X_L: u8 = 0x28;
/// Register-address bit that makes the sensor auto-increment over a multi-byte read.
const AUTO_INCREMENT: u8 = 0x80;
/// g per LSB of the left-justified 16-bit sample at ±2 g, high resolution (1 mg per 12-bit LSB).
const G_PER_LSB: f32 = 0.001 / 16.0;

/// What went wrong.
#[derive(Debug, PartialEq)]
pub enum Error<E> {
    /// The bus failed.
    I2c(E),
    /// WHO_AM_I returned something else: not this sensor, or not answering.
    WrongDevice(u8),
    /// The window tensor is not `[samples, 3]` (or not contiguous).
    Window(tensile_core::Error),
}

/// The accelerometer on bus `I`.
#[derive(Debug)]
pub struct Accel<I> {
    i2c: I,
}

impl<I: I2c> Accel<I> {
    /// Checks WHO_AM_I, then starts the sensor at 100 Hz, ±2 g, high resolution.
    pub fn new(mut i2c: I) -> Result<Self, Error<I::Error>> {
        let mut id = [0u8];
        i2c.write_read(ADDRESS, &[WHO_AM_I], &mut id)
            .map_err(Error::I2c)?;
        if id[0] != WHO_AM_I_VALUE {
            return Err(Error::WrongDevice(id[0]));
        }
        i2c.write(ADDRESS, &[CTRL_REG1, 0x57]).map_err(Error::I2c)?;
        i2c.write(ADDRESS, &[CTRL_REG4, 0x08]).map_err(Error::I2c)?;
        Ok(Accel { i2c })
    }

    /// One sample in g (x, y, z).
    pub fn read_g(&mut self) -> Result<[f32; 3], Error<I::Error>> {
        let mut raw = [0u8; 6];
        self.i2c
            .write_read(ADDRESS, &[OUT_X_L | AUTO_INCREMENT], &mut raw)
            .map_err(Error::I2c)?;
        let axis = |k: usize| i16::from_le_bytes([raw[2 * k], raw[2 * k + 1]]) as f32 * G_PER_LSB;
        Ok([axis(0), axis(1), axis(2)])
    }

    /// Fills a `[samples, 3]` window, one sample per row, in place (no buffer of its own).
    pub fn fill_window(
        &mut self,
        window: &mut TensorViewMut<'_, f32>,
    ) -> Result<(), Error<I::Error>> {
        let dims = window.dims();
        if dims.len() != 2 || dims[1] != 3 {
            return Err(Error::Window(tensile_core::Error::new(
                tensile_core::ErrorKind::ShapeMismatch,
                "fill_window",
                tensile_core::Context::Shape(*window.shape()),
            )));
        }
        for s in 0..dims[0] {
            let g = self.read_g()?;
            for (k, &v) in g.iter().enumerate() {
                window.set(&[s, k], v).map_err(Error::Window)?;
            }
        }
        Ok(())
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use std::vec;
    use std::vec::Vec;

    fn init() -> Vec<Transaction> {
        vec![
            Transaction::write_read(ADDRESS, vec![WHO_AM_I], vec![WHO_AM_I_VALUE]),
            Transaction::write(ADDRESS, vec![CTRL_REG1, 0x57]),
            Transaction::write(ADDRESS, vec![CTRL_REG4, 0x08]),
        ]
    }

    fn sample(x: i16, y: i16, z: i16) -> Transaction {
        let mut b = Vec::new();
        for v in [x, y, z] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        Transaction::write_read(ADDRESS, vec![OUT_X_L | AUTO_INCREMENT], b)
    }

    #[test]
    fn fills_a_window_row_by_row() {
        let mut exp = init();
        // 1 g on z at rest, then a tilt: 16000 raw = 1000 mg.
        exp.push(sample(0, 0, 16000));
        exp.push(sample(8000, 0, 13856));
        exp.push(sample(-16000, 0, 0));
        let mut acc = Accel::new(Mock::new(&exp)).unwrap();
        let mut buf = [0f32; 9];
        let mut w = TensorViewMut::new(&mut buf, [3, 3]).unwrap();
        acc.fill_window(&mut w).unwrap();
        let want = [0.0, 0.0, 1.0, 0.5, 0.0, 0.866, -1.0, 0.0, 0.0];
        for (g, w) in buf.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{buf:?}");
        }
        acc.release().done();
    }

    #[test]
    fn wrong_device_is_an_error() {
        let exp = [Transaction::write_read(ADDRESS, vec![WHO_AM_I], vec![0x00])];
        let mut mock = Mock::new(&exp);
        assert_eq!(Accel::new(&mut mock).unwrap_err(), Error::WrongDevice(0));
        mock.done();
    }

    #[test]
    fn a_window_of_the_wrong_shape_is_an_error() {
        let mut acc = Accel::new(Mock::new(&init())).unwrap();
        let mut buf = [0f32; 8];
        let mut w = TensorViewMut::new(&mut buf, [2, 4]).unwrap();
        assert!(matches!(acc.fill_window(&mut w), Err(Error::Window(_))));
        acc.release().done();
    }
}
