//! Shared pieces of the Cortex-M4F firmware: the model (also compiled by `build.rs`), the
//! statics' sizes computed from its plan, and a simulated accelerometer on a fake I2C bus.
#![no_std]

pub mod icount;
pub mod model;
pub mod sim;

use cortex_m_semihosting::debug;

/// Exits QEMU with `code` (semihosting), then sleeps.
pub fn exit(code: debug::ExitStatus) -> ! {
    debug::exit(code);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(debug::EXIT_FAILURE)
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("hard fault");
    exit(debug::EXIT_FAILURE)
}

/// Node counts and arena bytes computed at build time from the plans (see `build.rs`).
pub mod sizes {
    include!(concat!(env!("OUT_DIR"), "/sizes.rs"));
}
