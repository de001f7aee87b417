//! Host↔device copies through pinned (page-locked) host memory: the DMA engine reads and
//! writes pinned memory directly (pageable memory costs the driver an extra staging copy), and
//! the caller's buffer is free again as soon as the call returns. Slots rotate, each with an
//! event saying when the GPU is done with it: large copies use two 4 MiB halves, so the host
//! fills one while the GPU moves the other; small ones (graph inputs, the learning rate) a ring
//! of 64 KiB slots, so a write waits only for the copy that used its slot many writes ago.

use std::ffi::c_void;

use cudarc::driver::{result as drv, sys};
use tensile_core::Result;

use crate::{driver_err, Cuda};

/// Bytes per large slot.
const HALF: usize = 4 << 20;

/// Device-to-host copies of at least this many bytes go through the pinned halves (smaller
/// ones are synchronous copies into the caller's buffer).
pub(crate) const STAGED: usize = 2 * HALF;

/// Pinned slots and the events that say when the GPU is done with each.
pub(crate) struct Staging {
    host: *mut u8,
    slot: usize,
    done: Vec<sys::CUevent>,
    next: usize,
}

// SAFETY: the pinned memory and events belong to this struct alone; it is used under the
// device's mutex.
unsafe impl Send for Staging {}

impl Staging {
    /// Two 4 MiB halves for large copies.
    pub(crate) fn large() -> Result<Staging> {
        Staging::new(HALF, 2)
    }

    /// Sixteen 64 KiB slots for small copies.
    pub(crate) fn small() -> Result<Staging> {
        Staging::new(64 << 10, 16)
    }

    /// Bytes per slot.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// `count` slots of `slot` bytes (on the calling thread's bound context).
    fn new(slot: usize, count: usize) -> Result<Staging> {
        // SAFETY: a plain pinned allocation; only written before being read.
        let host = unsafe { drv::malloc_host(slot * count, 0) }
            .map_err(|e| driver_err("pinned alloc", e))? as *mut u8;
        let mut st = Staging {
            host,
            slot,
            done: Vec::with_capacity(count),
            next: 0,
        };
        for _ in 0..count {
            // On failure, dropping `st` frees the memory and the events made so far.
            let e = drv::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
                .map_err(|e| driver_err("pinned alloc", e))?;
            st.done.push(e);
        }
        Ok(st)
    }

    /// The next slot in turn and its index, once the GPU no longer reads or writes it.
    fn next_slot(&mut self) -> Result<(usize, &mut [u8])> {
        let h = self.next;
        self.next = (h + 1) % self.done.len();
        Ok((h, self.half(h)?))
    }

    /// Slot `h`, once the GPU no longer reads or writes it.
    fn half(&mut self, h: usize) -> Result<&mut [u8]> {
        // SAFETY: a valid event (an event never recorded completes at once).
        unsafe { drv::event::synchronize(self.done[h]) }.map_err(|e| driver_err("staging", e))?;
        // SAFETY: `host` holds `slot * count` bytes, and no copy uses slot `h` any more.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.host.add(h * self.slot), self.slot) })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // SAFETY: waits for the GPU to finish with the halves, then frees what `new` made.
        unsafe {
            for &e in &self.done {
                let _ = drv::event::synchronize(e);
                let _ = drv::event::destroy(e);
            }
            let _ = drv::free_host(self.host as *mut c_void);
        }
    }
}

impl Cuda {
    /// Host → device through the pinned slots (`dst` holds `src.len()` bytes).
    pub(crate) fn htod_staged(&self, st: &mut Staging, dst: u64, src: &[u8]) -> Result<()> {
        let step = st.slot();
        for (i, chunk) in src.chunks(step).enumerate() {
            let (h, slot) = st.next_slot()?;
            let buf = &mut slot[..chunk.len()];
            buf.copy_from_slice(chunk);
            // SAFETY: `dst + i * step` holds `chunk.len()` bytes; `buf` is pinned and is not
            // touched again until its event completes.
            unsafe {
                drv::memcpy_htod_async(dst + (i * step) as u64, &*buf, self.cu_stream())
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
