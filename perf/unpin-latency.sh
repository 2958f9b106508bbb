#!/usr/bin/env bash
# unpin-latency.sh - client latency while the unpin pass runs after a restart, vs after it.
#
#   perf/unpin-latency.sh [NODES] [RATE] [ROUNDS]      (defaults 1000000 20000 3)
#
# Restarts corral on a data directory holding NODES znodes of 100 B (examples/gen_datadir) and,
# as soon as it serves, runs `corral bench` (10:1 getData:setData of 100 B over 10k keys, fixed
# RATE ops/s, 8 sessions x 4 in flight, no warm-up) for 2 s, while the sequencer copies the
# loaded nodes out of the mapped snapshot (tree::Unpin, "Snapshot file released" in the log);
# then, once the log says the pass ended, the same 2 s again. Prints both runs' percentiles and
# when the pass ended. ROUNDS restarts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh  # free_port
NODES=${1:-1000000}; RATE=${2:-20000}; ROUNDS=${3:-3}
WORK=$(mktemp -d /tmp/corral-unpinlat.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cargo build --release --quiet --bin corral --example gen_datadir
RELEASE=$(cargo_target_dir .)/release
"$RELEASE"/examples/gen_datadir "$WORK/src" "$NODES" 0
bench() {  # port label
  "$RELEASE"/corral bench --servers "127.0.0.1:$1" --sessions 8 --inflight 4 --ratio 10:1 \
    --rate "$RATE" --warmup 0 --duration 2 --server-pid "$PID" --label "$2" --quiet 2>&1 \
    | grep -E "^ *(reads|writes|all)|ops/s" || true
}
for r in $(seq 1 "$ROUNDS"); do
  dir=$WORK/run; port=$(free_port)
  rm -rf "$dir"; cp -r "$WORK/src" "$dir"; sync
  "$RELEASE"/corral serve --override clientPort="$port" --override clientPortAddress=127.0.0.1 \
    --override dataDir="$dir/data" --override dataLogDir="$dir/log" >"$WORK/corral.log" 2>&1 &
  PID=$!
  python3 perf/serving_probe.py 127.0.0.1 "$port" /bench/p0000/n00000 "$(date +%s.%N)" >/dev/null
  echo "round $r, during the unpin pass:"
  bench "$port" during
  grep -q "Snapshot file released" "$WORK/corral.log" && echo "  (the pass ended before the run did)"
  until grep -q "Snapshot file released" "$WORK/corral.log"; do sleep 0.2; done
  echo "round $r, after it: $(grep -o 'data of .*' "$WORK/corral.log")"
  bench "$port" after
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
