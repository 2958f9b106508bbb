#!/usr/bin/env bash
# restart.sh - restart time with a large tree, corral vs Apache ZooKeeper 3.8, on the same files.
#
#   perf/restart.sh [NODES] [TXNS] [ROUNDS]      (defaults 1000000 100000 3)
#
# Generates (once, examples/gen_datadir) a ZooKeeper-format data directory: a snapshot of NODES
# znodes of 100 B and a log of TXNS setData txns after it. Each round copies it fresh and starts
# each server on the copy, timing from launch until a getData of a snapshot node answers
# (perf/serving_probe.py). Prints per-round times and medians. Needs java and Debian's zookeeper
# package. Stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh  # free_port
NODES=${1:-1000000}
TXNS=${2:-100000}
ROUNDS=${3:-3}
WORK=$(mktemp -d /tmp/corral-restart.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

cargo build --release --quiet --bin corral --example gen_datadir
RELEASE=$(cargo_target_dir .)/release
SRC=$WORK/src
"$RELEASE"/examples/gen_datadir "$SRC" "$NODES" "$TXNS"
PROBE_PATH=/bench/p0000/n00000

run_corral() {
  local dir=$WORK/run port; port=$(free_port)
  rm -rf "$dir"; cp -r "$SRC" "$dir"; sync
  local start; start=$(date +%s.%N)
  "$RELEASE"/corral serve --override clientPort="$port" --override clientPortAddress=127.0.0.1 \
    --override dataDir="$dir/data" --override dataLogDir="$dir/log" >"$WORK/corral.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  python3 perf/serving_probe.py 127.0.0.1 "$port" "$PROBE_PATH" "$start"
  echo "  rss_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)" >&2
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
}

run_zk() {
  local dir=$WORK/run port; port=$(free_port)
  rm -rf "$dir"; cp -r "$SRC" "$dir"; sync
  cat >"$WORK/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
dataLogDir=$dir/log
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
CFG
  local start; start=$(date +%s.%N)
  java -Xmx2g -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
    org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/zoo.cfg" >"$WORK/zk.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  python3 perf/serving_probe.py 127.0.0.1 "$port" "$PROBE_PATH" "$start"
  echo "  rss_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)" >&2
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
C=(); Z=()
for r in $(seq 1 "$ROUNDS"); do
  c=$(run_corral); echo "round $r corral: ${c}s"; C+=("$c")
  z=$(run_zk); echo "round $r zookeeper: ${z}s"; Z+=("$z")
done
mc=$(printf '%s\n' "${C[@]}" | median); mz=$(printf '%s\n' "${Z[@]}" | median)
echo "median corral: ${mc}s  zookeeper: ${mz}s  ratio corral/zookeeper: $(python3 -c "print(f'{$mc/$mz:.3f}')")"
