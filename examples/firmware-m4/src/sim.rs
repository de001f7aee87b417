//! A simulated LIS3DH on a fake I2C bus: answers WHO_AM_I and streams a slow, deterministic
//! tilt (1 g rotating between z and x), so the firmware exercises the real driver.

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, Operation, SevenBitAddress};

/// The fake bus with the simulated sensor on it.
#[derive(Debug, Default)]
pub struct SimAccel {
    reg: u8,
    t: u32,
}

impl ErrorType for SimAccel {
    type Error = ErrorKind;
}

impl I2c<SevenBitAddress> for SimAccel {
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        if address != tensile_accel::ADDRESS {
            return Err(ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            ));
        }
        for op in ops {
            match op {
                Operation::Write(bytes) => self.reg = bytes.first().copied().unwrap_or(0) & 0x7F,
                Operation::Read(buf) => match self.reg {
                    0x0F => buf.iter_mut().for_each(|b| *b = 0x33),
                    0x28 => {
                        // Quarter turn over 64 samples, in raw 16-bit units (16000 = 1 g).
                        let phase = (self.t % 64) as i32;
                        let x = (16000 * phase / 64) as i16;
                        let z = (16000 - 16000 * phase / 64) as i16;
                        let raw = [x.to_le_bytes(), 0i16.to_le_bytes(), z.to_le_bytes()];
                        for (k, b) in buf.iter_mut().enumerate().take(6) {
                            *b = raw[k / 2][k % 2];
                        }
                        self.t += 1;
                    }
                    _ => buf.iter_mut().for_each(|b| *b = 0),
                },
            }
        }
        Ok(())
    }
}
