#!/usr/bin/env bash
# Exact instruction counts under QEMU (mps2-an386, Cortex-M4F) with a small TCG plugin
# (tools/insncount.c). Each workload binary runs the same setup; differences of totals give
# the instructions of a 64x64x64 f32 matmul (Tensile's CPU device and a plain triple loop) and
# of one training step of the firmware's model.
set -euo pipefail
cd "$(dirname "$0")/.."
api=2
qemu-system-arm --version | grep -q "version [0-7]\." && api=1
plugin=target/libinsncount.so
mkdir -p target
gcc -O2 -shared -fPIC -fvisibility=hidden -DPLUGIN_API=$api -o "$plugin" tools/insncount.c
cargo build --release --quiet --bins
count() {
  timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
    -semihosting-config enable=on,target=native -plugin "$plugin" \
    -kernel "target/thumbv7em-none-eabihf/release/icount_$1" 2>&1 >/dev/null \
    | sed -n 's/.*insncount: total=\([0-9]*\).*/\1/p'
}
base=$(count base); tensile=$(count tensile); plain=$(count plain); s1=$(count step1); s2=$(count step2)
macs=$((64 * 64 * 64))
awk -v b="$base" -v t="$tensile" -v p="$plain" -v s1="$s1" -v s2="$s2" -v m="$macs" 'BEGIN {
  printf "matmul 64x64x64 f32, Tensile CPU device: %d instructions, %.3f per multiply-add\n", t - b, (t - b) / m
  printf "matmul 64x64x64 f32, plain triple loop:  %d instructions, %.3f per multiply-add\n", p - b, (p - b) / m
  printf "one training step (logistic regression, batch 32): %d instructions\n", s2 - s1
}'
