//! Static graphs on the GPU: a session's arena is one device allocation of the plan's size,
//! and a whole step can be captured as a CUDA graph and replayed.

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cudarc::driver::CudaGraph;
use tensile_core::graph::{GraphBase, NodeStore, Session};
use tensile_core::{ArenaAlloc, Result};

use crate::mem::CudaArena;
use crate::{dev_err, driver_err, Cuda};

/// A planned graph bound to a GPU and its device arena.
pub type CudaSession<'g, S> = Session<'g, S, Cuda>;

impl ArenaAlloc for Cuda {
    type Arena = CudaArena;
    /// Device allocations start 256-byte aligned, so the plan's bytes are enough.
    fn alloc_arena(&self, bytes: usize) -> Result<CudaArena> {
        CudaArena::new(self, bytes)
    }
}

/// A captured step of one session (a CUDA graph), replayed with one launch.
///
/// The captured kernels address the session's arena, so a replay runs only on that session
/// ([`run`](Self::run) takes it, which also keeps the arena alive meanwhile).
pub struct Replay {
    graph: CudaGraph,
    dev: Cuda,
    arena: (u64, usize),
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Replay(on {:?}, arena {:#x})", self.dev, self.arena.0)
    }
}

fn arena_of<S: NodeStore>(s: &CudaSession<'_, S>) -> (u64, usize) {
    let m = s.arena().as_ref();
    (m.addr(), m.len())
}

impl Replay {
    /// Queues the captured step again on `session`, the one it was captured from
    /// (asynchronously: reading results, or [`Cuda::sync`], waits for it). Values the step
    /// reads from device memory (inputs, learning rate, step count) are read afresh.
    pub fn run<S: NodeStore>(&self, session: &mut CudaSession<'_, S>) -> Result<()> {
        if arena_of(session) != self.arena {
            return Err(dev_err(
                "replay",
                "this graph was captured from another session",
            ));
        }
        self.graph.launch().map_err(|e| driver_err("replay", e))
    }
}

impl Cuda {
    /// Binds a planned graph to this GPU: one device allocation holds the whole plan (forward,
    /// backward and optimizer state); running it allocates nothing.
    pub fn session<'g, S: NodeStore>(&self, graph: &'g GraphBase<S>) -> Result<CudaSession<'g, S>> {
        graph.session(self.clone())
    }

    /// Captures the GPU work `f` queues on `session` (for example `|s| s.train_step()`) into a
    /// CUDA graph instead of running it. Run the step once normally first, so its kernels are
    /// compiled before capture. Inside `f`, host transfers (`write`, reads, `set_lr`) are
    /// errors: write inputs before each [`Replay::run`] instead. Work other threads queue on
    /// this device meanwhile would be captured too, so capture from one thread.
    pub fn capture<S: NodeStore>(
        &self,
        session: &mut CudaSession<'_, S>,
        f: impl FnOnce(&mut CudaSession<'_, S>) -> Result<()>,
    ) -> Result<Replay> {
        if !Arc::ptr_eq(&self.inner, &session.device().inner) {
            return Err(dev_err("capture", "the session runs on another device"));
        }
        self.sync()?;
        let gpu = self.gpu()?;
        gpu.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
            .map_err(|e| driver_err("capture", e))?;
        gpu.capturing.store(true, Ordering::Release);
        let ran = f(session);
        gpu.capturing.store(false, Ordering::Release);
        let ended = gpu.stream.end_capture(CUgraphInstantiate_flags(0));
        ran?;
        let graph = ended
            .map_err(|e| driver_err("capture", e))?
            .ok_or(dev_err("capture", "nothing was captured"))?;
        Ok(Replay {
            graph,
            dev: self.clone(),
            arena: arena_of(session),
        })
    }
}
