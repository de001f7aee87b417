//! The conformance corpus on every device (`harness = false`).
//!
//! `cargo test -p tensile-conformance --test conformance [-- ID_SUBSTRING...]` runs every case
//! (or those whose id contains one of the arguments) through each front (eager, graph) on each
//! device, prints per-file and per-device counts for each front and every failure, and ends
//! with one line `N passed, N failed, N skipped` over all fronts and devices. It exits non-zero
//! if a case failed. `TENSILE_CONFORMANCE_DIR` overrides the corpus directory.

use std::process::ExitCode;

use tensile_conformance::{corpus_dir, load_corpus, quiet_panics, run_corpus, Front, Totals};
use tensile_core::Reference;
use tensile_hal_cpu::Cpu;
use tensile_hal_cuda::Cuda;

fn main() -> ExitCode {
    // Arguments cargo's harness would take (`--nocapture`, `--quiet`, ...) are ignored; the
    // others select cases by id substring.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    quiet_panics();
    let dir = corpus_dir();
    let corpus = match load_corpus(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "conformance corpus {} ({} files, {} cases)",
        corpus.dir.display(),
        corpus.files.len(),
        corpus.len()
    );

    // The GPU runs where there is one (TENSILE_REQUIRE_GPU makes a missing one a failure).
    // Without one, the CUDA device's kernels run on the CPU emulator instead (the same
    // generated CUDA C, compiled by g++), so the GPU code paths are still checked.
    let cuda = match Cuda::new(0) {
        Ok(c) => Some(c),
        Err(e) if std::env::var_os("TENSILE_REQUIRE_GPU").is_some() => {
            eprintln!("conformance: TENSILE_REQUIRE_GPU is set but {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            println!("cuda: no GPU ({e})");
            match Cuda::emulated() {
                Ok(c) => {
                    println!("cuda: running the generated kernels on the CPU emulator");
                    Some(c)
                }
                Err(e) => {
                    println!("cuda: skipped ({e})");
                    None
                }
            }
        }
    };

    // Every device runs the same generic runner; a new device is one more line here.
    let mut reports = Vec::new();
    for &front in Front::ALL {
        reports.push(run_corpus(front, &Reference, &corpus, &filters));
        reports.push(run_corpus(front, &Cpu, &corpus, &filters));
        if let Some(c) = &cuda {
            reports.push(run_corpus(front, c, &corpus, &filters));
        }
    }

    let mut all = Totals::default();
    for r in &reports {
        print!("{r}");
        println!("{}  total  {}", r.label(), r.totals());
        all += r.totals();
    }
    println!("{all}");
    if all.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
