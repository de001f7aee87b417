//! Casts follow Rust's `as` in one step, on the reference device and the CPU device. The
//! expected values are worked out by hand below, not taken from either device.

use tensile_core::{Device, Reference, Tensor};
use tensile_hal_cpu::Cpu;

fn check<D: Device>(dev: &D) {
    // 2^60 + 2^36 + 1 lies just above halfway between the f32 neighbours 2^60 and 2^60 + 2^37,
    // so one rounding gives 2^60 + 2^37. Through f64 the +1 is lost first (f64's spacing there
    // is 2^8), the value is then exactly halfway, and ties-to-even gives 2^60.
    let big = (1i64 << 60) + (1i64 << 36) + 1;
    let x = Tensor::<i64, D>::from_vec_on(vec![big, (1i64 << 32) + 5, -1], [3], dev).unwrap();
    let f = x.cast::<f32>().unwrap().to_vec().unwrap();
    assert_eq!(
        f[0],
        2f32.powi(60) + 2f32.powi(37),
        "i64 -> f32 rounds once"
    );
    // Narrowing integers wrap (keep the low 32 bits: 1, 5, all ones), as `as` and PyTorch do.
    assert_eq!(x.cast::<i32>().unwrap().to_vec().unwrap(), [1, 5, -1]);
    let y = Tensor::<i32, D>::from_vec_on(vec![300, -1, 255], [3], dev).unwrap();
    assert_eq!(y.cast::<u8>().unwrap().to_vec().unwrap(), [44, 255, 255]);
    // Floats to integers truncate and saturate; NaN becomes 0.
    let z = Tensor::<f32, D>::from_vec_on(vec![300.0, -2.7, f32::NAN], [3], dev).unwrap();
    assert_eq!(z.cast::<u8>().unwrap().to_vec().unwrap(), [255, 0, 0]);
    assert_eq!(z.cast::<i32>().unwrap().to_vec().unwrap(), [300, -2, 0]);
}

#[test]
fn casts_are_rusts_as_in_one_step_on_every_host_device() {
    check(&Reference);
    check(&Cpu);
}
