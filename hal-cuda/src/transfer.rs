//! Large host↔device copies through pinned (page-locked) host memory: the DMA engine reads and
//! writes pinned memory directly, while pageable memory costs the driver an extra staging copy
//! per transfer. Two pinned halves alternate, so the host copies one chunk while the GPU moves
//! the other.

use std::ffi::c_void;

use cudarc::driver::{result as drv, sys};
use tensile_core::Result;

use crate::{driver_err, Cuda};

/// Bytes per pinned half.
const HALF: usize = 4 << 20;

/// Copies of at least this many bytes go through the pinned halves.
pub(crate) const STAGED: usize = 2 * HALF;

/// Two pinned halves and the events that say when the GPU is done with each.
pub(crate) struct Staging {
    host: *mut u8,
    done: [sys::CUevent; 2],
}

// SAFETY: the pinned memory and events belong to this struct alone; it is used under the
// device's mutex.
unsafe impl Send for Staging {}

impl Staging {
    /// Allocates the halves (on the calling thread's bound context).
    pub(crate) fn new() -> Result<Staging> {
        // SAFETY: a plain pinned allocation; only written before being read.
        let host = unsafe { drv::malloc_host(2 * HALF, 0) }
            .map_err(|e| driver_err("pinned alloc", e))? as *mut u8;
        let ev = || drv::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING);
        let done = match (ev(), ev()) {
            (Ok(a), Ok(b)) => [a, b],
            (Err(e), _) | (_, Err(e)) => {
                // SAFETY: allocated just above and not shared.
                let _ = unsafe { drv::free_host(host as *mut c_void) };
                return Err(driver_err("pinned alloc", e));
            }
        };
        Ok(Staging { host, done })
    }

    /// Half `h`, once the GPU no longer reads or writes it.
    fn half(&mut self, h: usize) -> Result<&mut [u8]> {
        // SAFETY: a valid event (an event never recorded completes at once).
        unsafe { drv::event::synchronize(self.done[h]) }.map_err(|e| driver_err("staging", e))?;
        // SAFETY: `host` holds 2 * HALF bytes, and no copy uses half `h` any more.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.host.add(h * HALF), HALF) })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // SAFETY: waits for the GPU to finish with the halves, then frees what `new` made.
        unsafe {
            for e in self.done {
                let _ = drv::event::synchronize(e);
                let _ = drv::event::destroy(e);
            }
            let _ = drv::free_host(self.host as *mut c_void);
        }
    }
}

impl Cuda {
    /// Host → device through the pinned halves (`dst` holds `src.len()` bytes).
    pub(crate) fn htod_staged(&self, st: &mut Staging, dst: u64, src: &[u8]) -> Result<()> {
        for (i, chunk) in src.chunks(HALF).enumerate() {
            let h = i % 2;
            let buf = &mut st.half(h)?[..chunk.len()];
            buf.copy_from_slice(chunk);
            // SAFETY: `dst + i * HALF` holds `chunk.len()` bytes; `buf` is pinned and is not
            // touched again until its event completes.
            unsafe {
                drv::memcpy_htod_async(dst + (i * HALF) as u64, &*buf, self.cu_stream())
                    .map_err(|e| driver_err("upload", e))?;
                drv::event::record(st.done[h], self.cu_stream())
                    .map_err(|e| driver_err("upload", e))?;
            }
        }
        Ok(())
    }

    /// Device → host through the pinned halves, after all queued work.
    pub(crate) fn dtoh_staged(&self, st: &mut Staging, dst: &mut [u8], src: u64) -> Result<()> {
        let n = dst.len().div_ceil(HALF);
        let total = dst.len();
        let len = |i: usize| HALF.min(total - i * HALF);
        for i in 0..=n {
            if i < n {
                let h = i % 2;
                let l = len(i);
                let buf = &mut st.half(h)?[..l];
                // SAFETY: `src + i * HALF` holds `l` bytes; the half is read by the host only
                // after its event completes.
                unsafe {
                    drv::memcpy_dtoh_async(buf, src + (i * HALF) as u64, self.cu_stream())
                        .map_err(|e| driver_err("download", e))?;
                    drv::event::record(st.done[h], self.cu_stream())
                        .map_err(|e| driver_err("download", e))?;
                }
            }
            if i >= 1 {
                let j = i - 1;
                let l = len(j);
                let buf = st.half(j % 2)?;
                dst[j * HALF..j * HALF + l].copy_from_slice(&buf[..l]);
            }
        }
        Ok(())
    }
}
