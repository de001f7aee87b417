//! Fails when an op of the table has no conformance case, or a corpus op is unknown to the
//! table (libm's `check_coverage` pattern). Adding an op to `core/src/ops/table.rs` without a
//! case makes this test fail.

use std::collections::BTreeSet;

use tensile_core::{BinaryOp, UnaryOp};

/// Every op name used in an `expr` of the shipped corpus (the first atom after each `(`).
fn corpus_ops() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/public");
    let mut ops = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&path).expect("corpus file");
            for line in text.lines() {
                let case: serde_json::Value = serde_json::from_str(line).expect("json");
                let expr = case["expr"].as_str().expect("expr");
                let mut prev_open = false;
                for tok in expr
                    .replace('(', " ( ")
                    .replace(')', " ) ")
                    .split_whitespace()
                {
                    // "(" after a keyword opens an integer list, whose first atom is a number.
                    if prev_open && tok.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
                        ops.insert(tok.to_string());
                    }
                    prev_open = tok == "(";
                }
            }
        }
    }
    ops
}

/// Table ops the corpus does not use: internal building blocks of gradient rules and one-hot
/// labels, tested by the core's unit tests and the finite-difference gradient checks.
const INTERNAL: &[&str] = &["step", "eq"];

/// Ops that are not table entries but are handled by name in the runner (reductions, matmul,
/// movement ops, cast).
const NON_TABLE: &[&str] = &[
    "sum",
    "mean",
    "var",
    "std",
    "max_values",
    "min_values",
    "argmax",
    "argmin",
    "matmul",
    "reshape",
    "permute",
    "transpose",
    "broadcast_to",
    "unsqueeze",
    "squeeze",
    "cast",
];

#[test]
fn every_table_op_has_a_case_and_every_case_op_is_known() {
    let used = corpus_ops();
    let table: BTreeSet<String> = UnaryOp::ALL
        .iter()
        .map(|o| o.name())
        .chain(BinaryOp::ALL.iter().map(|o| o.name()))
        .map(String::from)
        .collect();
    let missing: Vec<_> = table
        .iter()
        .filter(|n| !used.contains(*n) && !INTERNAL.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "table ops without a conformance case: {missing:?}"
    );
    let known: BTreeSet<String> = table
        .iter()
        .cloned()
        .chain(NON_TABLE.iter().map(|s| s.to_string()))
        .collect();
    let unknown: Vec<_> = used.iter().filter(|n| !known.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "corpus ops the library does not know: {unknown:?}"
    );
    let untested: Vec<_> = NON_TABLE.iter().filter(|n| !used.contains(**n)).collect();
    assert!(
        untested.is_empty(),
        "non-table ops without a case: {untested:?}"
    );
}

#[test]
fn op_names_round_trip() {
    for &op in UnaryOp::ALL {
        assert_eq!(UnaryOp::from_name(op.name()), Some(op));
    }
    for &op in BinaryOp::ALL {
        assert_eq!(BinaryOp::from_name(op.name()), Some(op));
    }
}
