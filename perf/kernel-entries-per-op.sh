#!/usr/bin/env bash
# kernel-entries-per-op.sh - syscalls, io_uring submissions and context switches per
# operation, per thread, of one corral binary under `corral bench` (writes only, 8 x 16 unless
# BENCH_ARGS says otherwise), from perf's tracepoints. Counts, unlike CPU time, hold up on a
# noisy shared box: this is how the standalone write-path regression after the replication
# seam was found (perf/seam-2026-12-07.md).
#
#   perf/kernel-entries-per-op.sh BIN [LABEL]
#
# Needs root and `perf` (linux-perf). A fresh server per run (temp dirs, free port, fsync on).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BIN=$(realpath "$1")
LABEL=${2:-$(basename "$BIN")}
BENCH_ARGS=${BENCH_ARGS:---sessions 8 --inflight 16 --ratio 0:1}
d=$(mktemp -d /tmp/corral-kentries.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$d"; }
trap cleanup EXIT
port=$(free_port)
bench_server_cfg "$d" "$port"
RUST_LOG=warn "$BIN" serve --config "$d/zoo.cfg" >"$d/out.log" 2>&1 &
pid=$!
until four_letter srvr "$port" | grep -q '^Mode: '; do sleep 0.1; done
# shellcheck disable=SC2086
"$BIN" bench --servers "127.0.0.1:$port" --server-pid "$pid" --label "$LABEL" --warmup 1 \
  --duration 7 --json "$d/r.json" --quiet $BENCH_ARGS >/dev/null 2>&1 &
bench=$!
sleep 2
perf stat --per-thread -e raw_syscalls:sys_enter,io_uring:io_uring_submit_req,context-switches \
  -p "$pid" -o "$d/stat.txt" -- sleep 4 >/dev/null 2>&1
wait "$bench"
python3 - "$d/stat.txt" "$d/r.json" "$LABEL" <<'PY'
import collections, json, re, sys
r = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
ops = r["ops_per_s"] * 4  # the 4 s perf counted, at the run's mean rate
per = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    m = re.match(r"\s*(\S+)\s+([\d,]+)\s+(\S+)", line)
    if m:
        thread = re.sub(r"-\d+$", "", m.group(1))
        event = m.group(3).split(":")[-1]
        per[thread][event] = per[thread].get(event, 0) + int(m.group(2).replace(",", ""))
print(f"{sys.argv[3]}: {r['ops_per_s']:,.0f} ops/s, server {r['server_cpu_us_per_op']:.2f} µs/op")
for thread in sorted(per):
    if "shard" in thread or "sequen" in thread:
        counts = " ".join(f"{k}={v / ops:.3f}" for k, v in sorted(per[thread].items()))
        print(f"  {thread:18s} per op: {counts}")
PY
