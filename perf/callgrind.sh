#!/usr/bin/env bash
# Instructions (callgrind Ir) and syscalls per op of a corral server under a fixed
# `corral bench` load. Counts, not times: repeatable on a shared, noisy machine.
#
#   perf/callgrind.sh writes   [WINDOW_S]   # setData only, 8 sessions x 16 in flight
#   perf/callgrind.sh mix      [WINDOW_S]   # 10:1 getData:setData, 8 x 16
#   perf/callgrind.sh reads    [WINDOW_S]
#   MODE=strace perf/callgrind.sh writes 5  # syscalls per op (strace -c -f attached to a native server)
#
# The server runs with collection off; once the bench's key space exists and the load has run
# for WARM_S, collection is on for WINDOW_S. The toggles land with a delay, so ops are counted
# in the profile itself: ops = calls of Request::decode, writes = calls of DataTree::apply
# (perf/cg_calls.py). In strace mode ops = delta of srvr's Received over the attach window.
# Output under $OUT (default /tmp/corral-cg.<cell>.<mode>): callgrind.out, inclusive.txt,
# self.txt, tree.txt, calls.txt or strace.txt, and summary.txt.
# It stops only the processes it started.
set -euo pipefail

CELL=${1:-writes}
WINDOW_S=${2:-20}
WARM_S=${WARM_S:-5}
MODE=${MODE:-callgrind}
# valgrind <= 3.19 holds its big lock across a blocking io_uring_enter, which deadlocks glommio;
# a build with io_uring_enter marked SfMayBlock is needed (perf/profile-2026-11-21.md says how).
VG=${VG:-/opt/valgrind-uring/bin}
CORRAL=${CORRAL:-$(cd "$(dirname "$0")/.." && . scripts/lib.sh && corral_bin "$(pwd)")}
OUT=${OUT:-/tmp/corral-cg.$CELL.$MODE}
rm -rf "$OUT"
mkdir -p "$OUT/data" "$OUT/log"

case $CELL in
  writes) ARGS="--ratio 0:1 --writes set" ;;
  mix) ARGS="--ratio 10:1 --reads get --writes set" ;;
  reads) ARGS="--ratio 1:0 --reads get" ;;
  *) echo "unknown cell $CELL" >&2; exit 2 ;;
esac

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$OUT/zoo.cfg" <<EOF
tickTime=2000
clientPort=$PORT
clientPortAddress=127.0.0.1
dataDir=$OUT/data
dataLogDir=$OUT/log
maxClientCnxns=0
forceSync=yes
4lw.commands.whitelist=*
admin.enableServer=false
autopurge.purgeInterval=0
EOF

SERVER_PID=
BENCH_PID=
cleanup() {
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ "$MODE" = callgrind ]; then
  RUST_LOG=warn "$VG/valgrind" --tool=callgrind --instr-atstart=no --separate-threads="${SEPARATE:-no}" \
    --callgrind-out-file="$OUT/callgrind.out" \
    "$CORRAL" serve --config "$OUT/zoo.cfg" >"$OUT/server.log" 2>&1 </dev/null &
else
  RUST_LOG=warn "$CORRAL" serve --config "$OUT/zoo.cfg" >"$OUT/server.log" 2>&1 </dev/null &
fi
SERVER_PID=$!

four() { printf '%s' "$1" | nc -q 2 127.0.0.1 "$PORT" 2>/dev/null || true; }
for _ in $(seq 1 600); do
  [ "$(four ruok)" = imok ] && break
  sleep 0.5
done
[ "$(four ruok)" = imok ] || { echo "server not ready" >&2; cat "$OUT/server.log" >&2; exit 1; }

# shellcheck disable=SC2086 # word splitting of ARGS is intended
"$CORRAL" bench --servers "127.0.0.1:$PORT" --sessions 8 --inflight 16 $ARGS --keys 1000 \
  --warmup 0 --duration 100000 --quiet >"$OUT/bench.log" 2>&1 &
BENCH_PID=$!

# Wait for the key space (1000 keys under /corral-bench) and some load.
for _ in $(seq 1 600); do
  n=$(four srvr | sed -n 's/^Node count: //p')
  [ "${n:-0}" -ge 1001 ] && break
  sleep 1
done
sleep "$WARM_S"

stat_of() { four srvr | sed -n "s/^$1: //p"; }
R0=$(stat_of Received); Z0=$(stat_of Zxid)
if [ "$MODE" = callgrind ]; then
  "$VG/callgrind_control" -i on "$SERVER_PID" >/dev/null
  sleep "$WINDOW_S"
  "$VG/callgrind_control" -i off "$SERVER_PID" >/dev/null
else
  timeout -s INT "$WINDOW_S" strace -c -f -p "$SERVER_PID" -o "$OUT/strace.txt" || true
fi
R1=$(stat_of Received); Z1=$(stat_of Zxid)
kill "$BENCH_PID" 2>/dev/null || true
wait "$BENCH_PID" 2>/dev/null || true
BENCH_PID=
if [ "$MODE" = callgrind ]; then
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
fi

{
  if [ "$MODE" = callgrind ]; then
    # The toggles take effect with a delay, so ops are counted inside the profile itself:
    # requests decoded (every op) and txns applied (every write).
    "$VG/callgrind_annotate" --inclusive=yes "$OUT/callgrind.out" >"$OUT/inclusive.txt" 2>/dev/null
    "$VG/callgrind_annotate" "$OUT/callgrind.out" >"$OUT/self.txt" 2>/dev/null
    "$VG/callgrind_annotate" --tree=caller --inclusive=yes "$OUT/callgrind.out" >"$OUT/tree.txt" 2>/dev/null
    IR=$(sed -n 's/^ *\([0-9,]*\) (100.0%) *PROGRAM TOTALS.*/\1/p' "$OUT/inclusive.txt" | tr -d ,)
    python3 "$(dirname "$0")/cg_calls.py" "$OUT/callgrind.out" \
      '^corral::proto::request::Request::decode$' 'DataTree>::apply$' >"$OUT/calls.txt"
    OPS=$(sed -n 1p "$OUT/calls.txt" | cut -f2)
    WRITES=$(sed -n 2p "$OUT/calls.txt" | cut -f2)
    echo "cell=$CELL mode=callgrind ops=$OPS writes=$WRITES Ir=$IR Ir_per_op=$((IR / OPS))"
  else
    OPS=$((R1 - R0))
    CALLS=$(awk '$NF=="total" {print $4}' "$OUT/strace.txt")
    echo "cell=$CELL mode=strace ops=$OPS writes=$((Z1 - Z0)) syscalls=$CALLS per_op=$(python3 -c "print(round($CALLS/$OPS, 3))")"
    head -25 "$OUT/strace.txt"
  fi
} | tee "$OUT/summary.txt"
