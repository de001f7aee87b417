//! Running cases on a device and reporting (`FORMAT.md` §9).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tensile_core::{ArenaAlloc, Device};

use crate::autograd::eager_grads;
use crate::eval::{eval, EvalError};
use crate::graph::eval_graph;
use crate::value::{compare, HostTensor, Value};
use crate::{Case, Corpus, Expect};

/// The result of one case on one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the case checks passed.
    Pass,
    /// Something failed; the reason is one line.
    Fail(String),
    /// Part of the case could not be checked yet (it is never counted as passed).
    Skip(String),
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

thread_local! {
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the panic hook with one that prints nothing and records where the panic happened,
/// so a panicking case shows up as one failure line (`panicked at file:line: message`) instead
/// of a backtrace in the middle of the report.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| l.to_string());
        PANIC_AT.with(|p| *p.borrow_mut() = at);
    }));
}

/// How a case's expression is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// Eagerly, op by op, on owned tensors ([`crate::eval`]); gradients through `Var`s.
    Eager,
    /// As a static graph, planned and run in a session ([`crate::graph`]).
    Graph,
}

impl Front {
    /// Every front, in report order.
    pub const ALL: &'static [Front] = &[Front::Eager, Front::Graph];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Front::Eager => "eager",
            Front::Graph => "graph",
        }
    }
}

/// What a front computed for a case.
#[derive(Clone, Debug)]
pub struct Evaluated {
    /// The value of the expression, on the host.
    pub value: HostTensor,
    /// ∂L/∂input for each `wrt` input (§7), or `None` if the front computed no gradients.
    pub grads: Option<Vec<(String, HostTensor)>>,
}

/// Evaluates `case` with `front` on `dev` and checks it. A panic in the library is caught and
/// fails the case.
pub fn run_case<D: Device + ArenaAlloc>(front: Front, dev: &D, case: &Case) -> Outcome {
    PANIC_AT.with(|p| p.borrow_mut().take());
    match catch_unwind(AssertUnwindSafe(|| {
        let result = match front {
            Front::Eager => eval_eager(dev, case),
            Front::Graph => eval_graph(dev, case),
        };
        judge(case, result)
    })) {
        Ok(o) => o,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            let at = PANIC_AT
                .with(|p| p.borrow_mut().take())
                .map_or_else(String::new, |l| format!(" at {l}"));
            Outcome::Fail(format!("panicked{at}: {}", one_line(msg)))
        }
    }
}

/// The eager front: uploads the inputs, evaluates the expression on owned tensors and reads
/// the value back; for a case with `grads`, the gradients come from a second evaluation on
/// the core's eager autograd ([`crate::autograd`]).
fn eval_eager<D: Device + ArenaAlloc>(dev: &D, case: &Case) -> Result<Evaluated, EvalError> {
    let mut env = HashMap::new();
    for (name, t) in &case.inputs {
        let v = t
            .upload(dev)
            .map_err(|e| EvalError::Transfer(format!("uploading input `{name}` failed: {e}")))?;
        env.insert(name.clone(), v);
    }
    let v: Value<D> = eval(&case.expr, &env)?;
    let value = v
        .download()
        .map_err(|e| EvalError::Transfer(format!("downloading the result failed: {e}")))?;
    let grads = eager_grads(case, &env)?;
    Ok(Evaluated { value, grads })
}

/// Checks what a front computed against the case (§6, §7, §8).
fn judge(case: &Case, result: Result<Evaluated, EvalError>) -> Outcome {
    match (&case.expect, result) {
        (Expect::Error(kind), Ok(v)) => Outcome::Fail(format!(
            "expected error {kind}, got a result ({} {:?})",
            v.value.dtype(),
            v.value.shape
        )),
        (Expect::Error(kind), Err(EvalError::Lib(e))) if e.kind().name() == kind => Outcome::Pass,
        (Expect::Error(kind), Err(e)) => Outcome::Fail(format!("expected error {kind}, got {e}")),
        (Expect::Value(_), Err(e)) => Outcome::Fail(format!("unexpected error: {e}")),
        (Expect::Value(want), Ok(got)) => {
            if let Err(m) = compare(&got.value, want, case.rtol, case.atol) {
                return Outcome::Fail(m);
            }
            let Some(want_grads) = &case.grads else {
                return Outcome::Pass;
            };
            let Some(got_grads) = got.grads else {
                return Outcome::Fail("the front computed no gradients".to_string());
            };
            for (name, want) in want_grads {
                let Some((_, got)) = got_grads.iter().find(|(n, _)| n == name) else {
                    return Outcome::Fail(format!("no gradient for `{name}`"));
                };
                // A gradient has the dtype and shape of its input (§7), which `want` has.
                if let Err(m) = compare(got, want, case.rtol, case.atol) {
                    return Outcome::Fail(format!("grad `{name}`: {m}"));
                }
            }
            Outcome::Pass
        }
    }
}

/// Counts over some cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases that were skipped.
    pub skipped: usize,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The results of one file on one device.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    /// The file name.
    pub file: String,
    /// The counts.
    pub totals: Totals,
    /// Each failing case id with its reason.
    pub failures: Vec<(String, String)>,
    /// How many cases were skipped, by reason.
    pub skips: BTreeMap<String, usize>,
}

/// The results of a corpus on one device through one front.
#[derive(Clone, Debug)]
pub struct DeviceReport {
    /// The front name (`eager`, `graph`).
    pub front: String,
    /// The device name.
    pub device: String,
    /// One report per corpus file, in corpus order.
    pub files: Vec<FileReport>,
}

impl DeviceReport {
    /// `front  device`, the prefix of every report line.
    pub fn label(&self) -> String {
        format!("{}  {}", self.front, self.device)
    }

    /// The counts over all files.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for f in &self.files {
            t += f.totals;
        }
        t
    }
}

/// Runs every case of `corpus` whose id contains one of `filters` (all cases if `filters` is
/// empty) with `front` on `dev`.
pub fn run_corpus<D: Device + ArenaAlloc>(
    front: Front,
    dev: &D,
    corpus: &Corpus,
    filters: &[String],
) -> DeviceReport {
    let selected = |id: &str| filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()));
    let files = corpus
        .files
        .iter()
        .map(|file| {
            let mut r = FileReport {
                file: file.name.clone(),
                ..FileReport::default()
            };
            for case in &file.cases {
                let (id, outcome) = match case {
                    Ok(c) if selected(&c.id) => (c.id.clone(), run_case(front, dev, c)),
                    Err(bad) if selected(&bad.id) => (
                        bad.id.clone(),
                        Outcome::Fail(format!("cannot parse case: {}", bad.reason)),
                    ),
                    _ => continue,
                };
                match outcome {
                    Outcome::Pass => r.totals.passed += 1,
                    Outcome::Fail(m) => {
                        r.totals.failed += 1;
                        r.failures.push((id, m));
                    }
                    Outcome::Skip(why) => {
                        r.totals.skipped += 1;
                        *r.skips.entry(why).or_default() += 1;
                    }
                }
            }
            r
        })
        .collect();
    DeviceReport {
        front: front.name().to_string(),
        device: dev.name().to_string(),
        files,
    }
}

/// One line per file (`graph  reference  elementwise.jsonl  42 passed, 0 failed, 0 skipped`),
/// each failing case with its reason, and the skip reasons with counts.
impl fmt::Display for DeviceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.files.iter().map(|r| r.file.len()).max().unwrap_or(0);
        let mut skips: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.files {
            writeln!(f, "{}  {:width$}  {}", self.label(), r.file, r.totals)?;
            for (id, why) in &r.failures {
                writeln!(f, "    FAIL {id}: {why}")?;
            }
            for (why, n) in &r.skips {
                *skips.entry(why).or_default() += n;
            }
        }
        for (why, n) in skips {
            writeln!(f, "{}  skipped {n}: {why}", self.label())?;
        }
        Ok(())
    }
}
