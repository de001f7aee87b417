//! Every kernel the device can generate compiles with NVRTC. Needs no GPU: NVRTC alone (the
//! `nvidia-cuda-nvrtc-cu12` wheel from PyPI supplies it; `.ci/run` installs it). Without NVRTC
//! the test says so and passes, unless `TENSILE_REQUIRE_NVRTC` is set (as in CI).

use tensile_hal_cuda::codegen::Kernel;
use tensile_hal_cuda::{compile, nvrtc_available};

fn nvrtc_or_skip() -> bool {
    if nvrtc_available() {
        return true;
    }
    assert!(
        std::env::var_os("TENSILE_REQUIRE_NVRTC").is_none(),
        "TENSILE_REQUIRE_NVRTC is set but libnvrtc.so was not found on LD_LIBRARY_PATH"
    );
    eprintln!(
        "skipped: libnvrtc.so not found (pip install nvidia-cuda-nvrtc-cu12, then add its \
         nvidia/cuda_nvrtc/lib to LD_LIBRARY_PATH)"
    );
    false
}

#[test]
fn every_generated_kernel_compiles() {
    if !nvrtc_or_skip() {
        return;
    }
    let all = Kernel::all();
    let mut failed = Vec::new();
    // Ampere and Hopper: the oldest and newest architectures the crate is meant for.
    for arch in ["sm_80", "sm_90"] {
        for k in &all {
            if let Err(e) = compile(&k.source(), arch) {
                failed.push(format!("{} ({arch}): {e}", k.name()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} kernels failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    eprintln!("{} kernels compiled for sm_80 and sm_90", all.len());
}

#[test]
fn a_broken_kernel_is_a_compile_error_not_a_panic() {
    if !nvrtc_or_skip() {
        return;
    }
    let e = compile(
        "extern \"C\" __global__ void broken(float* x) { x[0] = ; }",
        "sm_80",
    )
    .unwrap_err();
    assert_eq!(e.kind(), tensile_core::ErrorKind::Device);
    assert!(e.to_string().contains("nvrtc"), "{e}");
    eprintln!("{e}");
}
