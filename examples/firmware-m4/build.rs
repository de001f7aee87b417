//! Puts the memory map on the linker path and computes, on the host, the exact node counts
//! and arena bytes of the firmware's graphs (the same `model.rs` the firmware compiles), so the
//! statics are sized by the plan itself.
use std::{env, fs, path::PathBuf};

#[path = "src/model.rs"]
#[allow(dead_code)]
mod model;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    // One memory map per QEMU machine: lm3s6965evb (Cortex-M3) for thumbv7m, else mps2-an386.
    let target = env::var("TARGET").unwrap_or_default();
    let map = if target.starts_with("thumbv7m-") {
        "memory/lm3s6965evb.x"
    } else {
        "memory/mps2-an386.x"
    };
    fs::copy(map, out.join("memory.x")).expect("memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=src/model.rs");

    let mut train = tensile_core::graph::Graph::new();
    let (_, t) = model::train_graph(&mut train).expect("training graph");
    let mut infer = tensile_core::graph::Graph::new();
    let (_, i) = model::infer_graph(&mut infer).expect("inference graph");
    let consts = format!(
        "/// Nodes of the training graph.\npub const TRAIN_NODES: usize = {};\n\
         /// Arena bytes of the training plan (plus alignment slack).\npub const TRAIN_ARENA: usize = {};\n\
         /// Nodes of the single-sample inference graph.\npub const INFER_NODES: usize = {};\n\
         /// Arena bytes of the inference plan (plus alignment slack).\npub const INFER_ARENA: usize = {};\n",
        train.nodes().len(),
        t.bytes + tensile_core::graph::ARENA_ALIGN - 1,
        infer.nodes().len(),
        i.bytes + tensile_core::graph::ARENA_ALIGN - 1,
    );
    fs::write(out.join("sizes.rs"), consts).expect("sizes.rs");
}
