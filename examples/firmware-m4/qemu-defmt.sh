#!/bin/sh
# Cargo runner: boots the ELF on QEMU's mps2-an386 (Cortex-M4F) under a timeout, decodes the
# defmt log with defmt-print, and exits with the firmware's own exit code. (No `set -e`: the
# brace group must reach the line that saves the exit code.)
elf="$1"
case "$elf" in
  *thumbv7m-none-eabi*) machine="-cpu cortex-m3 -machine lm3s6965evb" ;;
  *) machine="-cpu cortex-m4 -machine mps2-an386" ;;
esac
{ timeout 120 qemu-system-arm $machine -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf"; echo $? > "$elf.rc"; } \
  | defmt-print -e "$elf"
exit "$(cat "$elf.rc")"
