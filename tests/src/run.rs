//! Running cases on a device and reporting (`FORMAT.md` §9).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tensile_core::Device;

use crate::eval::{eval, EvalError};
use crate::value::{compare, Value};
use crate::{Case, Corpus, Expect};

/// The reason given for cases with `grads` whose forward value passes.
pub const GRADS_PENDING: &str = "grads pending autograd";

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

/// Evaluates `case` on `dev` and checks it. A panic in the library is caught and fails the
/// case.
pub fn run_case<D: Device>(dev: &D, case: &Case) -> Outcome {
    PANIC_AT.with(|p| p.borrow_mut().take());
    match catch_unwind(AssertUnwindSafe(|| check(dev, case))) {
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

fn check<D: Device>(dev: &D, case: &Case) -> Outcome {
    let mut env = HashMap::new();
    for (name, t) in &case.inputs {
        match t.upload(dev) {
            Ok(v) => {
                env.insert(name.clone(), v);
            }
            Err(e) => return Outcome::Fail(format!("uploading input `{name}` failed: {e}")),
        }
    }
    let result: Result<Value<D>, EvalError> = eval(&case.expr, &env);
    match (&case.expect, result) {
        (Expect::Error(kind), Ok(v)) => {
            Outcome::Fail(format!("expected error {kind}, got a result ({v})"))
        }
        (Expect::Error(kind), Err(EvalError::Lib(e))) if e.kind().name() == kind => Outcome::Pass,
        (Expect::Error(kind), Err(e)) => Outcome::Fail(format!("expected error {kind}, got {e}")),
        (Expect::Value(_), Err(e)) => Outcome::Fail(format!("unexpected error: {e}")),
        (Expect::Value(want), Ok(v)) => {
            let got = match v.download() {
                Ok(h) => h,
                Err(e) => return Outcome::Fail(format!("downloading the result failed: {e}")),
            };
            if let Err(m) = compare(&got, want, case.rtol, case.atol) {
                return Outcome::Fail(m);
            }
            if case.grads.is_some() {
                // Autograd is not implemented yet: the forward value passed, the grads are
                // unchecked, so the case is skipped rather than passed.
                return Outcome::Skip(GRADS_PENDING.to_string());
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

/// The results of a corpus on one device.
#[derive(Clone, Debug)]
pub struct DeviceReport {
    /// The device name.
    pub device: String,
    /// One report per corpus file, in corpus order.
    pub files: Vec<FileReport>,
}

impl DeviceReport {
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
/// empty) on `dev`.
pub fn run_corpus<D: Device>(dev: &D, corpus: &Corpus, filters: &[String]) -> DeviceReport {
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
                    Ok(c) if selected(&c.id) => (c.id.clone(), run_case(dev, c)),
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
        device: dev.name().to_string(),
        files,
    }
}

/// One line per file (`reference  elementwise.jsonl  42 passed, 0 failed, 0 skipped`), each
/// failing case with its reason, and the skip reasons with counts.
impl fmt::Display for DeviceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.files.iter().map(|r| r.file.len()).max().unwrap_or(0);
        let mut skips: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.files {
            writeln!(f, "{}  {:width$}  {}", self.device, r.file, r.totals)?;
            for (id, why) in &r.failures {
                writeln!(f, "    FAIL {id}: {why}")?;
            }
            for (why, n) in &r.skips {
                *skips.entry(why).or_default() += n;
            }
        }
        for (why, n) in skips {
            writeln!(f, "{}  skipped {n}: {why}", self.device)?;
        }
        Ok(())
    }
}
