//! Static graphs on the GPU: a session's arena is one device allocation of the plan's size,
//! and a whole step can be captured as a CUDA graph and replayed.

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
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

/// A captured sequence of GPU work (a CUDA graph), replayed with one launch.
pub struct Replay {
    graph: CudaGraph,
    dev: Cuda,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Replay(on {:?})", self.dev)
    }
}

impl Replay {
    /// Queues the captured work again (asynchronously: read results, or call
    /// [`Cuda::sync`], to wait for it).
    pub fn run(&self) -> Result<()> {
        self.graph.launch().map_err(|e| driver_err("replay", e))
    }
}

impl Cuda {
    /// Binds a planned graph to this GPU: one device allocation holds the whole plan (forward,
    /// backward and optimizer state); running it allocates nothing.
    pub fn session<'g, S: NodeStore>(&self, graph: &'g GraphBase<S>) -> Result<CudaSession<'g, S>> {
        graph.session(self.clone())
    }

    /// Captures the GPU work `f` queues (for example a session's `train_step`) into a CUDA
    /// graph instead of running it. Run `f` once normally first, so its kernels are compiled
    /// before capture. `f` must not read results back to the host. Values the work reads from
    /// device memory (inputs, the learning rate and step count) are read again on every replay.
    pub fn capture(&self, f: impl FnOnce() -> Result<()>) -> Result<Replay> {
        self.sync()?;
        self.inner
            .stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
            .map_err(|e| driver_err("capture", e))?;
        let ran = f();
        let ended = self.inner.stream.end_capture(CUgraphInstantiate_flags(0));
        ran?;
        let graph = ended
            .map_err(|e| driver_err("capture", e))?
            .ok_or(dev_err("capture", "nothing was captured"))?;
        Ok(Replay {
            graph,
            dev: self.clone(),
        })
    }
}
