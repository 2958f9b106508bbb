#!/usr/bin/env bash
# fuzz.sh - corral's fuzz targets (fuzz/, cargo-fuzz): builds them all once, then runs each
# for a bounded time from its checked-in seed corpus; fails when any target crashes.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  run time of each target (default 20)
#   TARGET   only these targets (default: every one `cargo fuzz list` names)
#
# Every target feeds arbitrary bytes to one decoder of outside input (client frames and the
# handshake, quorum packets and election messages, log and snapshot records, zoo.cfg, JAAS,
# the four-letter-word sniff; fuzz/README.md lists them). Stable Rust: no sanitizer
# (`-s none`); built the cargo-fuzz way, optimised with debug assertions and overflow checks.
# Each run reads fuzz/corpus/<target>/ and writes what it finds to a scratch copy, so the
# checked-in corpus never changes. A crash (a panic, an input that runs over -timeout
# seconds, an allocation over libFuzzer's limit) fails the script; its input is kept in
# fuzz/artifacts/<target>/ and printed in hex, and `cargo fuzz run -s none <target> <file>`
# replays it.
#
# Installs what it uses when missing: a C++ compiler (libFuzzer is C++; apt) and cargo-fuzz
# (`cargo install cargo-fuzz --locked`).
#
# Environment:
#   CARGO_TARGET_DIR  honoured (a relative one is taken from the repository root); else the
#                     fuzz crate's own fuzz/target
#   FUZZ_TIMEOUT_S    libFuzzer's -timeout: one input running longer is a crash (default 10)
#   FUZZ_ARGS         more libFuzzer flags for every run (e.g. "-rss_limit_mb=4096")
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh
REPO=$(pwd)

SECONDS_PER_TARGET=${1:-20}
if [ $# -gt 0 ]; then shift; fi
case $SECONDS_PER_TARGET in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
TIMEOUT_S=${FUZZ_TIMEOUT_S:-10}

say() { echo "==> fuzz.sh: $*"; }

if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  case $CARGO_TARGET_DIR in /*) ;; *) CARGO_TARGET_DIR=$REPO/$CARGO_TARGET_DIR ;; esac
  export CARGO_TARGET_DIR
fi

# ---- tools ----------------------------------------------------------------------------
command -v c++ >/dev/null || apt_ensure g++
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi
[ ${#TARGETS[@]} -gt 0 ] || { say "no fuzz targets"; exit 1; }

WORK=$(mktemp -d /dev/shm/corral-fuzz.XXXXXX 2>/dev/null || mktemp -d /tmp/corral-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Files the targets' decoders read or write (fuzz/src/lib.rs: scratch_dir).
export CORRAL_FUZZ_SCRATCH=$WORK/scratch
mkdir -p "$CORRAL_FUZZ_SCRATCH"

# ---- build ----------------------------------------------------------------------------
say "building ${#TARGETS[@]} targets (cargo fuzz build -s none)"
started=$SECONDS
if [ $# -gt 0 ]; then
  for t in "${TARGETS[@]}"; do cargo fuzz build -s none "$t"; done
else
  cargo fuzz build -s none
fi
say "built in $((SECONDS - started)) s"

# ---- runs -----------------------------------------------------------------------------
# final_stat NAME LOG - the value of libFuzzer's final "stat::NAME:" line, or "?".
final_stat() {
  sed -n "s/^stat::$1: *//p" "$2" | tail -n 1 | grep -a . || echo "?"
}

# last FIELD LOG - FIELD's value ("cov", "ft", "corp") on libFuzzer's last status line
# ("#1234 REDUCE cov: 56 ft: 78 corp: 9/1234b ...").
last() {
  grep -aE '^#[0-9]+' "$2" | grep -aoE " $1: [^ ]+" | tail -n 1 | sed "s/^ $1: //" | grep -a . || echo "?"
}

FAILED=()
SUMMARY=()
started=$SECONDS
for t in "${TARGETS[@]}"; do
  corpus=$WORK/corpus/$t
  log=$WORK/$t.log
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  say "$t: ${SECONDS_PER_TARGET} s"
  rc=0
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags on purpose
  cargo fuzz run -s none "$t" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT_S" -print_final_stats=1 \
    ${FUZZ_ARGS:-} >"$log" 2>&1 </dev/null || rc=$?
  line=$(printf '%-26s runs %-10s exec/s %-7s cov %-6s ft %-6s corpus %-10s peak RSS %s MB' \
    "$t" "$(final_stat number_of_executed_units "$log")" "$(final_stat average_exec_per_sec "$log")" \
    "$(last cov "$log")" "$(last ft "$log")" "$(last corp "$log")" "$(final_stat peak_rss_mb "$log")")
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("ok     $line")
  else
    SUMMARY+=("CRASH  $line")
    FAILED+=("$t")
    echo "---- $t: libFuzzer exited $rc"
    grep -a -m 1 -A 8 'panicked at' "$log" || true
    echo "---- the end of its log:"
    grep -av '^ *[0-9]*: \|^ *at ' "$log" | tail -n 25
    for f in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log"); do
      echo "---- input $f ($(wc -c <"$f") bytes), hex:"
      od -An -tx1 -v "$f" | head -n 64
    done
  fi
done
say "ran ${#TARGETS[@]} targets in $((SECONDS - started)) s"

echo
for s in "${SUMMARY[@]}"; do echo "fuzz: $s"; done
if [ ${#FAILED[@]} -gt 0 ]; then
  say "FAILED: ${FAILED[*]} crashed (inputs in fuzz/artifacts/)"
  exit 1
fi
say "OK: ${#TARGETS[@]} targets, no crash in ${SECONDS_PER_TARGET} s each"
