//! Instruction-count workload: `TrainSteps(2)` (see `src/icount.rs` and `tools/icount.sh`).
#![no_std]
#![no_main]

use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use tensile_firmware_m4::icount::{run, Work};

#[cortex_m_rt::entry]
fn main() -> ! {
    let code = match run(Work::TrainSteps(2)) {
        Ok(sum) => {
            defmt::info!("checksum {=f32}", sum);
            debug::EXIT_SUCCESS
        }
        Err(e) => {
            defmt::error!("error: {}", e);
            debug::EXIT_FAILURE
        }
    };
    tensile_firmware_m4::exit(code)
}
