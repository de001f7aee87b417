//! The model, declared once and compiled twice: by `build.rs` on the host (to size the
//! firmware's statics from the plan) and by the firmware itself.

use tensile_core::graph::{GraphBase, NodeId, NodeStore, PlanStats, Training};
use tensile_core::ops::Sgd;
use tensile_core::{DType, Extremum, Result};

/// Images per training step.
pub const BATCH: usize = 32;
/// Pixels per image.
pub const FEATURES: usize = 64;
/// Digit classes.
pub const CLASSES: usize = 10;

/// The nodes a caller needs.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    /// `[batch, 64]` pixels / 16.
    pub x: NodeId,
    /// `[batch]` labels (training graph only; the inference graph reuses `x`).
    pub labels: NodeId,
    /// `[64, 10]` weights.
    pub w: NodeId,
    /// `[10]` bias.
    pub b: NodeId,
    /// `[batch, 10]` logits.
    pub logits: NodeId,
    /// Mean cross-entropy (training graph), or the predicted class (inference graph).
    pub out: NodeId,
}

fn linear<S: NodeStore>(
    g: &mut GraphBase<S>,
    batch: usize,
) -> Result<(NodeId, NodeId, NodeId, NodeId)> {
    let x = g.input("x", DType::F32, &[batch, FEATURES])?;
    let w = g.param("w", DType::F32, &[FEATURES, CLASSES])?;
    let b = g.param("b", DType::F32, &[CLASSES])?;
    let z = g.matmul(x, w)?;
    Ok((x, w, b, g.add(z, b)?))
}

/// Logistic regression with cross-entropy, its backward, and an SGD plan.
pub fn train_graph<S: NodeStore>(g: &mut GraphBase<S>) -> Result<(Model, PlanStats)> {
    let (x, w, b, logits) = linear(g, BATCH)?;
    let labels = g.input("labels", DType::I32, &[BATCH])?;
    let loss = g.cross_entropy(logits, labels)?;
    g.backward(loss)?;
    let sgd = Sgd {
        momentum: 0.9,
        ..Sgd::default()
    };
    let stats = g.plan(&[loss, logits], Training::Sgd(sgd))?;
    Ok((
        Model {
            x,
            labels,
            w,
            b,
            logits,
            out: loss,
        },
        stats,
    ))
}

/// Single-sample inference: the predicted class of one image.
pub fn infer_graph<S: NodeStore>(g: &mut GraphBase<S>) -> Result<(Model, PlanStats)> {
    let (x, w, b, logits) = linear(g, 1)?;
    let class = g.extreme(Extremum::Max, logits, Some(-1), false, true)?;
    let stats = g.plan(&[class, logits], Training::Inference)?;
    Ok((
        Model {
            x,
            labels: x,
            w,
            b,
            logits,
            out: class,
        },
        stats,
    ))
}
