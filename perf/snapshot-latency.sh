#!/usr/bin/env bash
# snapshot-latency.sh - write latency while fuzzy snapshots of a large tree are taken, vs none.
#
#   perf/snapshot-latency.sh [NODES] [RATE] [SECONDS] [ROUNDS]   (defaults 1000000 5000 20 2)
#   SNAP_BASE=/dev/shm perf/snapshot-latency.sh ...   dataDir (snapshots) on another device
#
# Starts corral on a data directory holding NODES znodes of 100 B (examples/gen_datadir), runs
# `corral bench` writes-only (setData of 100 B) at a fixed RATE for SECONDS, once with
# snapCount=20000 (a snapshot every 10k-20k txns, so snapshots of the whole tree run for much
# of the measurement) and once with snapCount=100000000 (none), alternating, ROUNDS times.
# Prints the bench lines, how many snapshots each run wrote, and the latency percentiles.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh  # free_port
NODES=${1:-1000000}; RATE=${2:-5000}; SECS=${3:-20}; ROUNDS=${4:-2}
WORK=$(mktemp -d /tmp/corral-snaplat.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cargo build --release --quiet --bin corral --example gen_datadir
RELEASE=$(cargo_target_dir .)/release
"$RELEASE"/examples/gen_datadir "$WORK/src" "$NODES" 0
run() {  # label snapCount
  local label=$1 snap=$2 dir=$WORK/run port; port=$(free_port)
  rm -rf "$dir"; cp -r "$WORK/src" "$dir"; sync
  local data=$dir/data
  if [ -n "${SNAP_BASE:-}" ]; then  # snapshots on another device (e.g. /dev/shm)
    data=$SNAP_BASE/corral-snaplat-data; rm -rf "$data"; cp -r "$dir/data" "$data"
  fi
  "$RELEASE"/corral serve --override clientPort="$port" --override clientPortAddress=127.0.0.1 \
    --override dataDir="$data" --override dataLogDir="$dir/log" --override snapCount="$snap" \
    >"$WORK/$label.log" 2>&1 &
  PID=$!
  python3 perf/serving_probe.py 127.0.0.1 "$port" /bench/p0000/n00000 "$(date +%s.%N)" >/dev/null
  "$RELEASE"/corral bench --servers "127.0.0.1:$port" --sessions 8 --inflight 4 \
    --ratio 0:1 --writes set --rate "$RATE" --warmup 3 --duration "$SECS" --server-pid "$PID" \
    --label "$label" --json "$WORK/out.jsonl" --quiet 2>&1 | grep -E "p99|ops/s|label|latency" || true
  echo "$label: $(grep -c 'Snapshot .* written' "$WORK/$label.log" || true) snapshots written"
  grep 'Snapshot .* written' "$WORK/$label.log" | head -3 || true
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
}
for r in $(seq 1 "$ROUNDS"); do
  run "snapshots-r$r" 20000
  run "none-r$r" 100000000
done
echo "---- JSON lines"
cat "$WORK/out.jsonl"
