//! # tensile-conformance
//!
//! Runs the conformance corpus (`conformance/FORMAT.md`) against any [`tensile_core::Device`]:
//! the same generic code for every device, so a new device only needs one line in
//! `tests/conformance.rs`.
//!
//! - [`load_corpus`]: every `*.jsonl` file of a directory, sorted ([`corpus_dir`] picks the
//!   directory: `conformance/public`, or `$TENSILE_CONFORMANCE_DIR`).
//! - [`sexpr`]: the expression language; [`eval`]: evaluation by dtype on a device (the eager
//!   front, whose gradients come from the core's eager autograd, `tensile_core::Var`);
//!   [`graph`]: the same expression as a static graph, with gradients (the graph front).
//! - [`value`]: JSON tensors, the dynamic [`Value`], and the comparison rule.
//! - [`run_corpus`] / [`run_case`]: outcomes and per-file, per-device, per-front reports.

mod autograd;
pub mod eval;
pub mod graph;
mod run;
pub mod sexpr;
pub mod value;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

pub use run::{
    quiet_panics, run_case, run_corpus, DeviceReport, Evaluated, FileReport, Front, Outcome, Totals,
};
pub use value::{compare, HostData, HostTensor, Value};

/// The environment variable that overrides the corpus directory.
pub const DIR_VAR: &str = "TENSILE_CONFORMANCE_DIR";

/// What a case expects.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// The value of the expression.
    Value(HostTensor),
    /// The error kind evaluating it must raise (`shape_mismatch`, ...).
    Error(String),
}

/// One corpus case, parsed and checked against the schema of `FORMAT.md` §2.
#[derive(Clone, Debug)]
pub struct Case {
    /// The case id (`<area>.<template>.<n>`).
    pub id: String,
    /// The expression source.
    pub src: String,
    /// The parsed expression.
    pub expr: sexpr::Expr,
    /// The inputs by name.
    pub inputs: Vec<(String, HostTensor)>,
    /// The expected value or error.
    pub expect: Expect,
    /// The inputs to differentiate with respect to (empty without `grads`).
    pub wrt: Vec<String>,
    /// The expected gradients by input name (§7), if the case has `grads`.
    pub grads: Option<Vec<(String, HostTensor)>>,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

/// A line that is not a valid case: it fails on every device.
#[derive(Clone, Debug)]
pub struct BadCase {
    /// The case id if it could be read, else `file:line`.
    pub id: String,
    /// Why it could not be parsed.
    pub reason: String,
}

/// The cases of one `*.jsonl` file, in file order.
#[derive(Clone, Debug)]
pub struct CorpusFile {
    /// The file name (`elementwise.jsonl`).
    pub name: String,
    /// Each line as a case, or why it is not one.
    pub cases: Vec<Result<Case, BadCase>>,
}

/// A whole corpus directory.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// Its `*.jsonl` files, sorted by name.
    pub files: Vec<CorpusFile>,
}

impl Corpus {
    /// The number of lines (cases, valid or not) over all files.
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.cases.len()).sum()
    }
    /// Whether the corpus has no cases.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The corpus directory: `$TENSILE_CONFORMANCE_DIR` if set, else `conformance/public` of the
/// workspace.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os(DIR_VAR) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/public");
            d.canonicalize().unwrap_or(d)
        }
    }
}

/// Loads every `*.jsonl` file of `dir` (sorted). Fails if the directory cannot be read or holds
/// no such file; a malformed line becomes a [`BadCase`].
pub fn load_corpus(dir: &Path) -> Result<Corpus, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|x| x == "jsonl") && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(format!("no *.jsonl files in {}", dir.display()));
    }
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let cases = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                parse_case(l).map_err(|(id, reason)| BadCase {
                    id: id.unwrap_or_else(|| format!("{name}:{}", i + 1)),
                    reason,
                })
            })
            .collect();
        files.push(CorpusFile { name, cases });
    }
    Ok(Corpus {
        dir: dir.to_path_buf(),
        files,
    })
}

fn tensors(j: Option<&Json>, what: &str) -> Result<Vec<(String, HostTensor)>, String> {
    let Some(j) = j else { return Ok(Vec::new()) };
    let obj = j.as_object().ok_or(format!("`{what}` is not an object"))?;
    obj.iter()
        .map(|(k, v)| {
            HostTensor::from_json(v)
                .map(|t| (k.clone(), t))
                .map_err(|e| format!("{what}.{k}: {e}"))
        })
        .collect()
}

/// Parses one JSON line into a case; on failure returns the id (if readable) and the reason.
pub fn parse_case(line: &str) -> Result<Case, (Option<String>, String)> {
    let j: Json = serde_json::from_str(line).map_err(|e| (None, format!("invalid JSON: {e}")))?;
    let id = j.get("id").and_then(Json::as_str).map(str::to_string);
    let fail = |m: String| (id.clone(), m);
    let id_s = id.clone().ok_or_else(|| fail("no string `id`".into()))?;
    let src = j
        .get("expr")
        .and_then(Json::as_str)
        .ok_or_else(|| fail("no string `expr`".into()))?
        .to_string();
    let expr = sexpr::parse(&src).map_err(|e| fail(format!("{e} in `{src}`")))?;
    let inputs = match j.get("inputs") {
        Some(i) => tensors(Some(i), "inputs").map_err(fail)?,
        None => return Err(fail("no `inputs`".into())),
    };
    let expect = match (j.get("expect"), j.get("expect_error")) {
        (Some(e), None) => {
            Expect::Value(HostTensor::from_json(e).map_err(|e| fail(format!("expect: {e}")))?)
        }
        (None, Some(k)) => Expect::Error(
            k.as_str()
                .ok_or_else(|| fail("`expect_error` is not a string".into()))?
                .to_string(),
        ),
        _ => {
            return Err(fail(
                "needs exactly one of `expect` / `expect_error`".into(),
            ))
        }
    };
    let grads = match j.get("grads") {
        None => None,
        g => Some(tensors(g, "grads").map_err(fail)?),
    };
    let wrt = match j.get("wrt") {
        None => Vec::new(),
        Some(w) => w
            .as_array()
            .and_then(|a| a.iter().map(|n| n.as_str().map(str::to_string)).collect())
            .ok_or_else(|| fail("`wrt` is not a list of names".into()))?,
    };
    let tol = |k: &str| {
        j.get(k)
            .and_then(Json::as_f64)
            .filter(|t| *t >= 0.0)
            .ok_or_else(|| fail(format!("no non-negative number `{k}`")))
    };
    Ok(Case {
        id: id_s,
        src,
        expr,
        inputs,
        expect,
        wrt,
        grads,
        rtol: tol("rtol")?,
        atol: tol("atol")?,
    })
}
