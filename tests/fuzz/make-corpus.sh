#!/bin/sh
# Regenerates the seed corpus: a few tiny valid and damaged safetensors
# files. The fuzzer mutates from these; run-fuzz.sh never writes here.
#
# usage: tests/fuzz/make-corpus.sh [DIR]   (default: corpus/ beside this script)
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu
export LC_ALL=C

dir=${1:-$(dirname "$0")/corpus}
mkdir -p "$dir"

# 8-byte little-endian length, as octal escapes for printf.
le64 () {
  n=$1
  i=0
  while [ $i -lt 8 ]; do
    printf "\\$(printf '%03o' $((n % 256)))"
    n=$((n / 256))
    i=$((i + 1))
  done
}

# seed NAME HEADER DATA_BYTES [PAD]: header (space-padded to 8 when PAD is
# set), then DATA_BYTES bytes counting up.
seed () {
  name=$1 header=$2 data=$3 pad=${4:-}
  if [ -n "$pad" ]; then
    while [ $((${#header} % 8)) -ne 0 ]; do header="$header "; done
  fi
  {
    le64 ${#header}
    printf '%s' "$header"
    i=0
    while [ $i -lt "$data" ]; do
      printf "\\$(printf '%03o' $((i % 256)))"
      i=$((i + 1))
    done
  } > "$dir/$name.safetensors"
}

seed valid-f32 '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 16 pad
seed valid-mixed '{"__metadata__":{"format":"pt"},"a.bf16":{"dtype":"BF16","shape":[3],"data_offsets":[1,7]},"b.f8":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[8,12]},"c.ids":{"dtype":"I64","shape":[2],"data_offsets":[13,29]},"d.empty":{"dtype":"F16","shape":[0,4],"data_offsets":[29,29]},"e.f64":{"dtype":"F64","shape":[1],"data_offsets":[29,37]}}' 40
seed valid-5d '{"s":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"x":{"dtype":"F16","shape":[1,2,1,2,1],"data_offsets":[1,9]},"y":{"dtype":"BOOL","shape":[3],"data_offsets":[9,12]}}' 12 pad
seed valid-none '{}' 0 pad
seed bad-overlap '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}' 24
seed bad-dtype '{"w":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}' 4
seed bad-size '{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}}' 24
seed bad-range '{"w":{"dtype":"I32","shape":[200],"data_offsets":[0,800]}}' 64
seed bad-metadata '{"__metadata__":{"epoch":3},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' 1
seed bad-json '{"w":{"dtype":"F32","shape":[1],' 4
{ le64 4096; printf '{}'; } > "$dir/bad-header-length.safetensors"
printf '\001\000\000' > "$dir/bad-short.safetensors"
