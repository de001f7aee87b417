//! Shared pieces of the Cortex-M4F firmware: the model (also compiled by `build.rs`), the
//! statics' sizes computed from its plan, and a simulated accelerometer on a fake I2C bus.
#![no_std]

pub mod icount;
pub mod model;
pub mod sim;

use cortex_m_semihosting::debug;

extern "C" {
    /// End of the statics (cortex-m-rt's link script): the stack grows down towards it.
    static __sheap: u8;
    /// Top of RAM, where the stack starts.
    static _stack_start: u8;
    static __sbss: u8;
    static __ebss: u8;
    static __sdata: u8;
    static __edata: u8;
}

/// Bytes of static RAM (`.data` + `.bss`).
pub fn static_ram() -> usize {
    // Link-script symbols: only their addresses are taken.
    let a = |s: *const u8| s as usize;
    (a(core::ptr::addr_of!(__ebss)) - a(core::ptr::addr_of!(__sbss)))
        + (a(core::ptr::addr_of!(__edata)) - a(core::ptr::addr_of!(__sdata)))
}

const PAINT: u32 = 0x5EED_C0DE;

/// Fills the free RAM below the current stack frame with a pattern, so that
/// [`stack_high_water`] can tell later how deep the stack went.
pub fn paint_stack() {
    // A link-script symbol: only its address is taken.
    let low = core::ptr::addr_of!(__sheap) as usize;
    // Leave this function's own frame (and a margin) alone.
    let sp = cortex_m::register::msp::read() as usize - 64;
    let mut a = (low + 3) & !3;
    while a + 4 <= sp {
        // SAFETY: between the end of the statics and the live stack: RAM nothing uses yet.
        unsafe { core::ptr::write_volatile(a as *mut u32, PAINT) };
        a += 4;
    }
}

/// The deepest the stack has gone since [`paint_stack`], in bytes.
pub fn stack_high_water() -> usize {
    // Link-script symbols: only their addresses are taken.
    let (low, top) = (
        core::ptr::addr_of!(__sheap) as usize,
        core::ptr::addr_of!(_stack_start) as usize,
    );
    let mut a = (low + 3) & !3;
    // SAFETY: reads of RAM between the statics and the top of the stack.
    while a < top && unsafe { core::ptr::read_volatile(a as *const u32) } == PAINT {
        a += 4;
    }
    top - a
}

/// Exits QEMU with `code` (semihosting), then sleeps.
pub fn exit(code: debug::ExitStatus) -> ! {
    debug::exit(code);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // The location and a literal message only: formatting the message would link `core::fmt`
    // (kilobytes of flash) for a path that should never run.
    let msg = info.message().as_str().unwrap_or("(formatted message)");
    match info.location() {
        Some(l) => defmt::error!("panic at {=str}:{=u32}: {=str}", l.file(), l.line(), msg),
        None => defmt::error!("panic: {=str}", msg),
    }
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

/// The model's graphs, declared and planned at build time, as statics in flash.
pub mod frozen {
    include!(concat!(env!("OUT_DIR"), "/frozen.rs"));
}
