#!/usr/bin/env bash
# tools/bench/cuda-resources.sh: what the compiler says about the CUDA
# kernels, without a GPU. Compiles every kernels/cuda/*.cu for sm_80 and
# sm_90a with -Xptxas -v (same flags as kernels/cuda/meson.build, one arch at
# a time), prints per kernel its registers, stack frame, spills and static
# shared memory, then counts the tensor-core (HMMA, HGMMA), ldmatrix (LDSM),
# cp.async (LDGSTS), local-memory (LDL/STL) and FFMA instructions in the SASS
# of the attention kernels (cuobjdump -sass).
#
# Usage: tools/bench/cuda-resources.sh [file.cu …]   (default: all of them)
# Dynamic shared memory is chosen at launch and is not in ptxas's report:
# the flash kernels' sizes are in tools/bench/NOTES.md.
# SPDX-License-Identifier: GPL-3.0-or-later
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$(command -v nvcc || echo "$CUDA_HOME/bin/nvcc")}
# cuobjdump is not in every toolkit install (this machine's has none): set
# CUOBJDUMP to another one (pip's nvidia-cuda-cuobjdump, or the copy a
# triton wheel carries in triton/backends/nvidia/bin/).
CUOBJDUMP=${CUOBJDUMP:-$(command -v cuobjdump || echo "$CUDA_HOME/bin/cuobjdump")}
CUFILT=${CUFILT:-$(command -v cu++filt || command -v c++filt || echo cat)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ $# -gt 0 ]; then
  sources=("$@")
else
  sources=("$ROOT"/kernels/cuda/*.cu)
fi

# shellcheck disable=SC2054 # the commas belong to one -Xcompiler argument
flags=(-O3 -std=c++17 -Xcompiler -fPIC,-Wall,-Wextra,-fno-exceptions,-fno-threadsafe-statics
  -I"$ROOT/kernels/cuda" -I"$ROOT/kernels" -Xptxas -v)
arches=("sm_80:-gencode=arch=compute_80,code=sm_80" "sm_90a:-gencode=arch=compute_90a,code=sm_90a")

demangle () {
  "$CUFILT"
}

# ptxas -v prints, per entry: "Compiling entry function 'NAME' for 'sm_XX'",
# "N bytes stack frame, N bytes spill stores, N bytes spill loads",
# "Used N registers, … N bytes smem, …". One table line per entry.
summarise () {
  awk '
    /Compiling entry function/ { match ($0, /\x27[^\x27]*\x27/); name = substr ($0, RSTART + 1, RLENGTH - 2); stack = "?"; st = "?"; ld = "?" }
    /bytes stack frame/ { stack = $1; st = $5; ld = $9 }
    /Used [0-9]+ registers/ {
      regs = $0; sub (/.*Used /, "", regs); sub (/ registers.*/, "", regs)
      smem = 0; if (match ($0, /[0-9]+ bytes smem/)) smem = substr ($0, RSTART, RLENGTH - 11)
      printf "%5s %6s %6s %6s %6s  %s\n", regs, smem, stack, st, ld, name
    }'
}

status=0
for entry in "${arches[@]}"; do
  arch=${entry%%:*}
  gencode=${entry#*:}
  printf '\n==== %s: registers, static smem (B), stack (B), spill stores / loads (B) ====\n' "$arch"
  printf '%5s %6s %6s %6s %6s  %s\n' regs smem stack spillS spillL kernel
  for src in "${sources[@]}"; do
    base=$(basename "$src" .cu)
    obj=$WORK/$base.$arch.o
    if ! "$NVCC" "${flags[@]}" "$gencode" -c "$src" -o "$obj" > "$WORK/$base.$arch.log" 2>&1; then
      echo "FAIL: $src ($arch)"
      cat "$WORK/$base.$arch.log"
      status=1
      continue
    fi
    summarise < "$WORK/$base.$arch.log" | demangle |
      sed -e 's/(anonymous namespace):: *//g' -e 's/fa_cuda:://g' -e 's/(.*)$//'
  done

  printf '\n---- %s: SASS instruction counts in the attention kernels ----\n' "$arch"
  printf '%6s %6s %6s %6s %6s %6s %6s  %s\n' HMMA HGMMA LDSM LDGSTS LDL STL FFMA kernel
  if [ ! -x "$CUOBJDUMP" ]; then
    echo "no cuobjdump ($CUOBJDUMP): set CUOBJDUMP to count SASS instructions"
    continue
  fi
  for obj in "$WORK"/fa-cuda-attention*."$arch".o; do
    [ -f "$obj" ] || continue
    "$CUOBJDUMP" -sass "$obj" > "$obj.sass" 2>/dev/null || { echo "cuobjdump failed: $obj"; status=1; continue; }
    awk '
      function report () {
        if (name != "")
          printf "%6d %6d %6d %6d %6d %6d %6d  %s\n", c["HMMA"], c["HGMMA"], c["LDSM"], c["LDGSTS"], c["LDL"], c["STL"], c["FFMA"], name
      }
      /Function : / { report (); name = $3; delete c; next }
      /\/\*[0-9a-f]+\*\// {
        line = $0; sub (/^[ \t]*\/\*[0-9a-f]+\*\/[ \t]*/, "", line)
        sub (/^@!?U?P[0-9T] +/, "", line)
        split (line, w, /[ .;]/); op = w[1]
        if (op ~ /^(HMMA|HGMMA|LDSM|LDGSTS|LDL|STL|FFMA)$/) c[op]++
      }
      END { report () }' "$obj.sass" | demangle |
      sed -e 's/(anonymous namespace):: *//g' -e 's/fa_cuda:://g' -e 's/(.*)$//'
  done
done
exit $status
