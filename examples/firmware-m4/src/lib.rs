//! Shared pieces of the Cortex-M4F firmware: the model (also compiled by `build.rs`), the
//! statics' sizes computed from its plan, and a simulated accelerometer on a fake I2C bus.
#![no_std]

pub mod model;
pub mod sim;

/// Node counts and arena bytes computed at build time from the plans (see `build.rs`).
pub mod sizes {
    include!(concat!(env!("OUT_DIR"), "/sizes.rs"));
}
