#!/usr/bin/env bash
# cli-startup.sh - start-up time of `corral cli` beside Apache's zkCli: the wall time of a
# one-shot `ls /` (process start, connect, one request, exit) against a corral server on a
# free loopback port, RUNS times each, alternating, and the median / min / max of each.
#
# Usage: perf/cli-startup.sh [RUNS]   (default 20)
# Environment: CORRAL_BIN (see scripts/lib.sh corral_bin), JAVA=java, ZKCLI_CP=<classpath>
# Prints a markdown table (docs/cli.md keeps the recorded one). Stops only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
RUNS=${1:-20}
JAVA=${JAVA:-java}
ZKCLI_CP=${ZKCLI_CP:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar}
CORRAL=$(corral_bin "$(pwd)")
DIR=$(mktemp -d /tmp/cli-startup.XXXXXX)
PORT=$(free_port)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

"$CORRAL" serve --override "clientPort=$PORT" --override "dataDir=$DIR/data" \
  --override clientPortAddress=127.0.0.1 >"$DIR/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for _ in $(seq 1 300); do
  [ "$(four_letter srvr "$PORT" | head -c 9)" = Zookeeper ] && break
  sleep 0.1
done

ms_of() {  # command... : wall milliseconds of one run (output discarded; a failed run aborts)
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 </dev/null || { echo "cli-startup: run failed: $*" >&2; exit 1; }
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

stats() {  # numbers on stdin -> "median min max"
  sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}

: >"$DIR/corral.ms"
: >"$DIR/zkcli.ms"
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) -eq 1 ]; then
    ms_of "$CORRAL" cli -server "127.0.0.1:$PORT" ls / >>"$DIR/corral.ms"
    ms_of "$JAVA" -cp "$ZKCLI_CP" org.apache.zookeeper.ZooKeeperMain -server "127.0.0.1:$PORT" ls / >>"$DIR/zkcli.ms"
  else
    ms_of "$JAVA" -cp "$ZKCLI_CP" org.apache.zookeeper.ZooKeeperMain -server "127.0.0.1:$PORT" ls / >>"$DIR/zkcli.ms"
    ms_of "$CORRAL" cli -server "127.0.0.1:$PORT" ls / >>"$DIR/corral.ms"
  fi
done
read -r c_med c_min c_max < <(stats <"$DIR/corral.ms")
read -r z_med z_min z_max < <(stats <"$DIR/zkcli.ms")
echo "| client | one-shot \`ls /\`, median ms | min ms | max ms | runs |"
echo "|---|---:|---:|---:|---:|"
echo "| \`corral cli -server 127.0.0.1:PORT ls /\` | $c_med | $c_min | $c_max | $RUNS |"
echo "| Apache zkCli 3.8 (\`java -cp zookeeper.jar:slf4j-nop.jar org.apache.zookeeper.ZooKeeperMain -server 127.0.0.1:PORT ls /\`) | $z_med | $z_min | $z_max | $RUNS |"
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $("$JAVA" -version 2>&1 | head -1); $(date -u +%Y-%m-%d)"
