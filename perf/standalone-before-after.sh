#!/usr/bin/env bash
# standalone-before-after.sh - two corral binaries, standalone, side by side with `corral bench`:
# the same cells alternating between them, ROUNDS times, medians printed as a table.
#
#   perf/standalone-before-after.sh BEFORE_BIN AFTER_BIN [ROUNDS]   (default 3 rounds)
#
# Both run as bench-vs-zookeeper.sh runs corral (tickTime 2000, fsync on, dataLogDir apart,
# maxClientCnxns=0, loopback, free ports). Cells: 1 session x 1 in flight (10:1), 8 x 16 (10:1),
# reads only, writes only. The server CPU per op comes from /proc/<pid>/stat. Stops only the
# processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BEFORE=$(realpath "$1")
AFTER=$(realpath "$2")
ROUNDS=${3:-3}
WORK=$(mktemp -d /tmp/corral-before-after.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
BENCH=$AFTER

start() {  # name bin -> sets PORT_<name> PID_<name>
  local name=$1 bin=$2 port d
  port=$(free_port); d=$WORK/$name
  bench_server_cfg "$d" "$port"
  RUST_LOG=warn "$bin" serve --config "$d/zoo.cfg" >"$d/out.log" 2>&1 &
  PIDS+=($!)
  eval "PORT_$name=$port PID_$name=$!"
  local deadline=$((SECONDS + 30))
  until four_letter srvr "$port" | grep -q '^Mode: '; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "$name does not serve" >&2; exit 1; }
    sleep 0.2
  done
}

start before "$BEFORE"
start after "$AFTER"
RESULTS=$WORK/results.jsonl
cells=("s1x1:--sessions 1 --inflight 1" "s8x16:--sessions 8 --inflight 16"
       "reads:--sessions 8 --inflight 16 --ratio 1:0" "writes:--sessions 8 --inflight 16 --ratio 0:1")
for round in $(seq 1 "$ROUNDS"); do
  for cell in "${cells[@]}"; do
    name=${cell%%:*}; args=${cell#*:}
    order="before after"; [ $((round % 2)) -eq 0 ] && order="after before"
    for who in $order; do
      port=$(eval echo "\$PORT_$who"); pid=$(eval echo "\$PID_$who")
      # shellcheck disable=SC2086
      "$BENCH" bench --servers "127.0.0.1:$port" --server-pid "$pid" --label "$name/$who" \
        --warmup 2 --duration 6 --json "$RESULTS" --quiet $args >/dev/null 2>&1 || echo "$name/$who failed" >&2
    done
  done
done
python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(cell, who, key):
    v = [r[key] for r in rows if r["label"] == f"{cell}/{who}" and r.get(key) is not None]
    return statistics.median(v) if v else float("nan")
print("| cell | before ops/s | after ops/s | after/before | before server µs/op | after server µs/op |")
print("|---|---:|---:|---:|---:|---:|")
for cell in ["s1x1", "s8x16", "reads", "writes"]:
    b, a = med(cell, "before", "ops_per_s"), med(cell, "after", "ops_per_s")
    bc, ac = med(cell, "before", "server_cpu_us_per_op"), med(cell, "after", "server_cpu_us_per_op")
    print(f"| {cell} | {b:,.0f} | {a:,.0f} | {a/b:.2f}x | {bc:.2f} | {ac:.2f} |")
EOF
