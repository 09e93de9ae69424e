#!/bin/sh
# Runs a libFuzzer target for a while on a scratch copy of the seed corpus,
# so that the source tree is never written. The fuzzer's exit status is the
# result: a crash or a sanitizer report fails the test, and the input that
# caused it is kept and printed.
#
# usage: run-fuzz.sh FUZZER SEED_DIR [DICT] [SECONDS]
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

fuzzer=$1
seeds=$2
dict=${3:-}
seconds=${FA_FUZZ_SECONDS:-${4:-20}}

work=$(mktemp -d "${TMPDIR:-/tmp}/fa-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"

# UBSan only warns unless told to stop; GSlice would hide use-after-free
# from ASan. The fuzzer sets its own ASan options rather than the test
# suite's: full unwinding on every malloc would cut its throughput.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export G_SLICE=always-malloc

# libFuzzer's own failure status is 77, which meson reads as "skipped".
set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/"
if [ -n "$dict" ]; then
  set -- "$@" -dict="$dict"
fi

status=0
"$fuzzer" "$@" "$work/corpus" || status=$?
# Whatever else ends the run with 77 must not pass for a skip either.
if [ "$status" -eq 77 ]; then
  status=1
fi

if [ "$status" -ne 0 ]; then
  keep=${FA_TEST_BUILDDIR:-.}
  for artifact in "$work"/artifacts/*; do
    [ -e "$artifact" ] || continue
    cp "$artifact" "$keep/" || true
    echo "fuzz: failing input kept as $keep/$(basename "$artifact"); base64:" >&2
    base64 "$artifact" >&2 || true
  done
  echo "fuzz: $fuzzer exited with status $status" >&2
fi
exit "$status"
