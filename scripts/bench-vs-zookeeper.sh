#!/usr/bin/env bash
# bench-vs-zookeeper.sh - measure corral and Apache ZooKeeper side by side with `corral bench`.
#
# Starts Apache ZooKeeper 3.8 (Debian's `zookeeper` package, installed when missing) and corral
# in the same configuration (standalone, temp dataDir + separate dataLogDir, forceSync=yes,
# free loopback ports, maxClientCnxns=0), then runs the same matrix against each, alternating
# (ZK corral ZK corral ... within each cell, ROUNDS times), plus the loopback ceiling
# (`corral bench --echo`, same sessions x in-flight). Medians go to perf/results/<date>.md with
# an SVG chart next to it; the raw JSON lines are kept as perf/results/<date>.jsonl.
#
# Matrix (10:1 reads:writes unless named otherwise; getData/setData of 100 B over 10k keys):
#   s1x1      1 session, 1 in flight             (latency-bound)
#   s8x16     8 sessions x 16 in flight          (saturation)
#   s64x4     64 sessions x 4 in flight
#   reads     8 x 16, reads only
#   writes    8 x 16, writes only
#   mixed     8 x 16, every op kind (get, exists, children; set, create/delete, ephemeral,
#             multi, watch set-and-fire)
#   rate50    8 x 16 at a fixed rate of 50% of ZooKeeper's s8x16 median in this run
#
# Environment:
#   ENSEMBLE=1      each server as the seed's 3-member ensemble on this host (conf/ensemble-3's
#                   shape: tickTime 2000, initLimit 10, syncLimit 5, dataDir and dataLogDir per
#                   member); the bench spreads its sessions over the three members and sums the
#                   three members' CPU; the report is perf/results/<date>-ensemble.*
#   QUICK=1         ~2 minute smoke run (1 round, short cells)
#   ROUNDS=N        rounds per server (default 2; QUICK 1)
#   WARMUP_S / DURATION_S   per cell (default 3 / 8; QUICK 1 / 2)
#   CELLS="s1x1 reads"      run only these cells (rate50 needs s8x16 in the same run)
#   OUT_DIR=perf/results    where the report goes; DATE=YYYY-MM-DD names it (default today)
#   ZK_HEAP=512m    ZooKeeper's -Xmx
#   DISK_PROBE_JSON=file    JSON line of a synced-write probe already run (default: the script
#                   runs examples/disk_probe on the servers' filesystem before the matrix)
#
# Only the processes this script started are ever signalled (trap on exit).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh
REPO=$(pwd)

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  ROUNDS=${ROUNDS:-1}; WARMUP_S=${WARMUP_S:-1}; DURATION_S=${DURATION_S:-2}
else
  ROUNDS=${ROUNDS:-2}; WARMUP_S=${WARMUP_S:-3}; DURATION_S=${DURATION_S:-8}
fi
CELLS=${CELLS:-"s1x1 s8x16 s64x4 reads writes mixed rate50"}
OUT_DIR=${OUT_DIR:-$REPO/perf/results}
DATE=${DATE:-$(date +%F)}
ZK_HEAP=${ZK_HEAP:-512m}
KEYS=${KEYS:-10000}
VALUE_SIZE=${VALUE_SIZE:-100}

say() { echo "==> bench-vs-zookeeper: $*" >&2; }

ENSEMBLE=${ENSEMBLE:-0}
WORK=$(mktemp -d /tmp/corral-vs-zk.XXXXXX)
ZK_PIDS=()
CORRAL_PIDS=()

stop_pid() {  # pid name
  local pid=$1 name=$2 i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for 10s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

on_exit() {
  local rc=$?
  local p
  for p in "${ZK_PIDS[@]}"; do stop_pid "$p" zookeeper; done
  for p in "${CORRAL_PIDS[@]}"; do stop_pid "$p" corral; done
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK"/zk*.log "$WORK"/corral*.log; do
      [ -s "$log" ] && { echo "---- last lines of $log"; tail -n 20 "$log"; }
    done
    say "failed (exit $rc); work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fourlw() {  # word port
  python3 - "$1" "$2" <<'EOF' 2>/dev/null || true
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2)
    s.sendall(sys.argv[1].encode())
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    print(out.decode(errors="replace"), end="")
except OSError:
    pass
EOF
}

wait_ready() {  # name pid port
  local name=$1 pid=$2 port=$3 deadline=$((SECONDS + 60))
  until [ "$(fourlw ruok "$port")" = imok ]; do
    kill -0 "$pid" 2>/dev/null || { say "$name exited before answering ruok"; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { say "$name did not answer ruok within 60s"; exit 1; }
    sleep 0.2
  done
}

# ---- dependencies ---------------------------------------------------------------------------
command -v python3 >/dev/null || { say "python3 is required"; exit 1; }
apt_ensure zookeeper
ZK_JAR=""
for j in /usr/share/java/zookeeper.jar /usr/share/zookeeper/zookeeper.jar; do
  [ -r "$j" ] && { ZK_JAR=$j; break; }
done
[ -n "$ZK_JAR" ] || { say "zookeeper.jar not found"; exit 1; }
SLF4J=/usr/share/java/slf4j-simple.jar
[ -r "$SLF4J" ] || SLF4J=/usr/share/java/slf4j-nop.jar
JAVA=${JAVA:-java}
ZK_VERSION=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo unknown)

say "building corral (release)"
cargo build --release --bin corral --example disk_probe >&2
RELEASE=$(cargo_target_dir "$REPO")/release
CORRAL=$RELEASE/corral

# ---- the disk's limit -----------------------------------------------------------------------
# Synced sequential writes on the filesystem that will hold both servers' logs, the same way
# corral's log writes them (examples/disk_probe; the 4 KiB rate fills the report's column).
if [ -z "${DISK_PROBE_JSON:-}" ]; then
  say "disk probe (synced writes) in $WORK"
  mkdir -p "$WORK/disk-probe"
  DISK_PROBE_JSON=$WORK/disk-probe.json
  "$RELEASE/examples/disk_probe" "$WORK/disk-probe" --runs 3 --run-ms 300 \
    --json "$DISK_PROBE_JSON" >&2
  rm -rf "$WORK/disk-probe"
fi

# ---- servers --------------------------------------------------------------------------------
# One shape for both: standalone, tickTime 2000, fsync on, dataLogDir apart from dataDir,
# no per-IP connection cap (the 64-session cell opens 64 connections from one address).
write_cfg() {  # file port dir
  mkdir -p "$3/data" "$3/log"
  cat >"$1" <<EOF
tickTime=2000
clientPort=$2
clientPortAddress=127.0.0.1
dataDir=$3/data
dataLogDir=$3/log
maxClientCnxns=0
forceSync=yes
4lw.commands.whitelist=*
admin.enableServer=false
autopurge.purgeInterval=0
EOF
}

# wait_serving NAME PORT...: until every member answers srvr with a Mode (an ensemble
# member says "not currently serving" while it elects or syncs).
wait_serving() {
  local name=$1 port deadline=$((SECONDS + 120)); shift
  for port in "$@"; do
    until fourlw srvr "$port" | grep -q "^Mode: "; do
      [ "$SECONDS" -lt "$deadline" ] || { say "$name on $port does not serve after 120s"; exit 1; }
      sleep 0.2
    done
  done
}

if [ "$ENSEMBLE" = 1 ]; then
  # Two ensembles of three members, each member with its own dirs, myid and ports.
  ensemble_cfgs() {  # name -> prints the members' client ports; writes $WORK/<name>/nN/zoo.cfg
    local name=$1 n servers="" ports=()
    for n in 1 2 3; do servers+="server.$n=127.0.0.1:$(free_port):$(free_port)"$'\n'; ports+=("$(free_port)"); done
    for n in 1 2 3; do
      local d=$WORK/$name/n$n
      write_cfg "$d/zoo.cfg" "${ports[$((n - 1))]}" "$d"
      printf 'initLimit=10\nsyncLimit=5\n%s' "$servers" >>"$d/zoo.cfg"
      echo "$n" >"$d/data/myid"
    done
    echo "${ports[*]}"
  }
  read -r -a ZK_PORTS <<<"$(ensemble_cfgs zk)"
  read -r -a CORRAL_PORTS <<<"$(ensemble_cfgs corral)"
  say "starting a 3-member Apache ZooKeeper $ZK_VERSION ensemble on ${ZK_PORTS[*]} (heap $ZK_HEAP each)"
  for n in 1 2 3; do
    "$JAVA" -Xmx"$ZK_HEAP" -Xms"$ZK_HEAP" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
      -Dzookeeper.admin.enableServer=false -cp "$ZK_JAR:$SLF4J" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zk/n$n/zoo.cfg" \
      >"$WORK/zk$n.log" 2>&1 </dev/null &
    ZK_PIDS+=($!)
  done
  say "starting a 3-member corral ensemble on ${CORRAL_PORTS[*]}"
  for n in 1 2 3; do
    RUST_LOG=warn "$CORRAL" serve --config "$WORK/corral/n$n/zoo.cfg" >"$WORK/corral$n.log" 2>&1 </dev/null &
    CORRAL_PIDS+=($!)
  done
else
  ZK_PORTS=("$(free_port)")
  write_cfg "$WORK/zoo-zk.cfg" "${ZK_PORTS[0]}" "$WORK/zk"
  say "starting Apache ZooKeeper $ZK_VERSION on 127.0.0.1:${ZK_PORTS[0]} (heap $ZK_HEAP)"
  "$JAVA" -Xmx"$ZK_HEAP" -Xms"$ZK_HEAP" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -Dzookeeper.admin.enableServer=false \
    -cp "$ZK_JAR:$SLF4J" org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/zoo-zk.cfg" \
    >"$WORK/zk.log" 2>&1 </dev/null &
  ZK_PIDS+=($!)
  CORRAL_PORTS=("$(free_port)")
  while [ "${CORRAL_PORTS[0]}" = "${ZK_PORTS[0]}" ]; do CORRAL_PORTS=("$(free_port)"); done
  write_cfg "$WORK/zoo-corral.cfg" "${CORRAL_PORTS[0]}" "$WORK/corral"
  say "starting corral on 127.0.0.1:${CORRAL_PORTS[0]}"
  RUST_LOG=warn "$CORRAL" serve --config "$WORK/zoo-corral.cfg" >"$WORK/corral.log" 2>&1 </dev/null &
  CORRAL_PIDS+=($!)
fi

wait_serving zookeeper "${ZK_PORTS[@]}"
wait_serving corral "${CORRAL_PORTS[@]}"
servers_of() { local p out=""; for p in "$@"; do out+="${out:+,}127.0.0.1:$p"; done; echo "$out"; }
ZK_SERVERS=$(servers_of "${ZK_PORTS[@]}")
CORRAL_SERVERS=$(servers_of "${CORRAL_PORTS[@]}")
ZK_PID_ARGS=""; for p in "${ZK_PIDS[@]}"; do ZK_PID_ARGS+=" --server-pid $p"; done
CORRAL_PID_ARGS=""; for p in "${CORRAL_PIDS[@]}"; do CORRAL_PID_ARGS+=" --server-pid $p"; done

# ---- matrix ---------------------------------------------------------------------------------
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

cell_args() {  # cell -> bench arguments
  case $1 in
    s1x1) echo "--sessions 1 --inflight 1" ;;
    s8x16) echo "--sessions 8 --inflight 16" ;;
    s64x4) echo "--sessions 64 --inflight 4" ;;
    reads) echo "--sessions 8 --inflight 16 --ratio 1:0" ;;
    writes) echo "--sessions 8 --inflight 16 --ratio 0:1" ;;
    mixed) echo "--sessions 8 --inflight 16 --reads get=8,exists=1,children=1 --writes set,create,ephemeral,multi,watch" ;;
    rate50) echo "--sessions 8 --inflight 16 --rate $RATE50" ;;
    *) say "unknown cell $1"; exit 2 ;;
  esac
}

bench() {  # label target-args...
  local label=$1; shift
  # shellcheck disable=SC2046 # word splitting of cell_args is intended
  if ! "$CORRAL" bench --label "$label" --warmup "$WARMUP_S" --duration "$DURATION_S" \
      --keys "$KEYS" --value-size "$VALUE_SIZE" --json "$RESULTS" --quiet "$@" >&2; then
    say "run $label reported errors or failed (see above); continuing"
  fi
}

run_cell() {  # cell round
  local cell=$1 round=$2 args
  args=$(cell_args "$cell")
  # Alternate which server goes first from round to round.
  local order="zk corral"
  [ $((round % 2)) -eq 0 ] && order="corral zk"
  for who in $order; do
    say "[$cell r$round] $who"
    # shellcheck disable=SC2086
    if [ "$who" = zk ]; then
      bench "$cell/zk/r$round" --servers "$ZK_SERVERS" $ZK_PID_ARGS $args
    else
      bench "$cell/corral/r$round" --servers "$CORRAL_SERVERS" $CORRAL_PID_ARGS $args
    fi
  done
  if [ "$cell" != rate50 ]; then
    say "[$cell r$round] echo ceiling"
    # shellcheck disable=SC2086
    bench "$cell/echo/r$round" --echo $args
  fi
}

started=$SECONDS
closed_cells=""
want_rate=0
for c in $CELLS; do
  if [ "$c" = rate50 ]; then want_rate=1; else closed_cells="$closed_cells $c"; fi
done
for round in $(seq 1 "$ROUNDS"); do
  for cell in $closed_cells; do run_cell "$cell" "$round"; done
done
if [ "$want_rate" = 1 ]; then
  # 50% of ZooKeeper's saturation throughput (median of its s8x16 rounds in this run).
  RATE50=$(python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
v = [json.loads(l)["ops_per_s"] for l in open(sys.argv[1]) if l.strip()
     and json.loads(l)["label"].startswith("s8x16/zk/")]
print(int(statistics.median(v) / 2) if v else "")
EOF
)
  if [ -z "$RATE50" ] || [ "$RATE50" -le 0 ]; then
    say "no s8x16 ZooKeeper figure in this run: skipping rate50"
  else
    say "rate50: fixed rate $RATE50 ops/s (50% of ZooKeeper's s8x16 median)"
    for round in $(seq 1 "$ROUNDS"); do run_cell rate50 "$round"; done
  fi
fi
say "matrix done in $((SECONDS - started)) s"

# ---- report ---------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
[ "$ENSEMBLE" = 1 ] && DATE="$DATE-ensemble"
cp "$RESULTS" "$OUT_DIR/$DATE.jsonl"
MACHINE="$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, Linux $(uname -r)"
python3 "$REPO/scripts/bench_report.py" \
  --jsonl "$OUT_DIR/$DATE.jsonl" \
  --md "$OUT_DIR/$DATE.md" \
  --svg "$OUT_DIR/$DATE.svg" \
  --date "$DATE" \
  --machine "$MACHINE" \
  --zk-version "Apache ZooKeeper $ZK_VERSION (Debian), $("$JAVA" -version 2>&1 | head -1), -Xmx$ZK_HEAP" \
  --corral-version "corral $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet || echo '+dirty')" \
  --command "$( [ "$ENSEMBLE" = 1 ] && echo 'ENSEMBLE=1 ')$( [ "$QUICK" = 1 ] && echo 'QUICK=1 ')./scripts/bench-vs-zookeeper.sh" \
  --settings "$( [ "$ENSEMBLE" = 1 ] && echo '3-member ensembles (sessions spread over the members, CPU summed over them), ')rounds $ROUNDS, warm-up ${WARMUP_S} s, measured ${DURATION_S} s per run, $KEYS keys of $VALUE_SIZE B, 1 bench thread" \
  ${DISK_PROBE_JSON:+--disk-probe "$DISK_PROBE_JSON"}
say "wrote $OUT_DIR/$DATE.md, $OUT_DIR/$DATE.svg, $OUT_DIR/$DATE.jsonl"
