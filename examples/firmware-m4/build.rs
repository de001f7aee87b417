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

    // The same graphs, frozen: declared and planned here, compiled into the firmware as statics
    // in flash, so the device holds no nodes in RAM and links no builder, gradient rule or
    // planner (see tensile_core::graph::Frozen).
    let model = |m: &model::Model| {
        format!(
            "crate::model::Model {{ x: {}, labels: {}, w: {}, b: {}, logits: {}, out: {} }}",
            m.x, m.labels, m.w, m.b, m.logits, m.out
        )
    };
    let (mut tg, mut ig) = (
        tensile_core::graph::Graph::new(),
        tensile_core::graph::Graph::new(),
    );
    let (tm, _) = model::train_graph(&mut tg).expect("training graph");
    let (im, _) = model::infer_graph(&mut ig).expect("inference graph");
    // Both statics carry the union of their op sets as one type: the firmware links one
    // executor, with only the kernels these graphs run.
    let ops = tg.op_set().union(ig.op_set());
    let frozen = format!(
        "{}\
         /// The training graph with its backward pass and SGD plan, frozen by `build.rs`.\n\
         {}\
         /// The training graph's nodes that the firmware reads and writes.\n\
         pub const TRAIN_MODEL: crate::model::Model = {};\n\
         /// The single-sample inference graph, frozen by `build.rs`.\n\
         {}\
         /// The inference graph's nodes that the firmware reads and writes.\n\
         pub const INFER_MODEL: crate::model::Model = {};\n",
        ops.to_rust_kinds("FirmwareOps"),
        tg.to_rust_static("TRAIN_GRAPH", "FirmwareOps")
            .expect("frozen training graph"),
        model(&tm),
        ig.to_rust_static("INFER_GRAPH", "FirmwareOps")
            .expect("frozen inference graph"),
        model(&im),
    );
    fs::write(out.join("frozen.rs"), frozen).expect("frozen.rs");
}
