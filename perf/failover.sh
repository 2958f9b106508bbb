#!/usr/bin/env bash
# failover.sh - kill -9 of an ensemble's leader → the first write acknowledged through a survivor,
# corral vs Apache ZooKeeper 3.8, side by side.
#
#   perf/failover.sh [KILLS]          (default 7 kills of each)
#
# Starts two 3-member ensembles on one host, laid out as the seed's conf/ensemble-3 (tickTime
# 2000, initLimit 10, syncLimit 5, dataDir and dataLogDir per member, free loopback ports): one of
# corral, one of Apache ZooKeeper 3.8 (Debian's zookeeper package). Then, alternating between
# them, KILLS times each: find the leader (srvr), run examples/failover_probe, which SIGKILLs it
# and, without pausing, connects to the survivors and creates a znode until one is acknowledged;
# restart the killed member and wait until all three serve again. Prints each kill and the
# medians. Stops only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
KILLS=${1:-7}
WORK=$(mktemp -d /tmp/corral-failover.XXXXXX)
declare -A PID
cleanup() {
  for k in "${!PID[@]}"; do kill -9 "${PID[$k]}" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

apt_ensure zookeeper
cargo build --release --quiet --bin corral --example failover_probe
RELEASE=$(cargo_target_dir .)/release
CORRAL=$RELEASE/corral
PROBE=$RELEASE/examples/failover_probe
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar

# layout KIND: writes $WORK/KIND/nN/zoo.cfg (+ myid) for N=1..3 on free ports.
layout() {
  local kind=$1 n lines=""
  for n in 1 2 3; do
    eval "CPORT_${kind}_$n=$(free_port)"
    lines+="server.$n=127.0.0.1:$(free_port):$(free_port)"$'\n'
  done
  for n in 1 2 3; do
    local d=$WORK/$kind/n$n port
    port=$(eval echo "\$CPORT_${kind}_$n")
    mkdir -p "$d/data" "$d/log"
    echo "$n" >"$d/data/myid"
    cat >"$d/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$d/data
dataLogDir=$d/log
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
$lines
EOF
  done
}

start() {  # kind n
  local kind=$1 n=$2 d=$WORK/$1/n$2
  if [ "$kind" = corral ]; then
    "$CORRAL" serve --config "$d/zoo.cfg" >>"$d/out.log" 2>&1 &
  else
    java -Xmx256m -cp "$ZK_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >>"$d/out.log" 2>&1 &
  fi
  PID[$kind$n]=$!
}

port() { eval echo "\$CPORT_$1_$2"; }

# wait_serving KIND: until all three members serve; echoes the leader's number.
wait_serving() {
  local kind=$1 deadline=$((SECONDS + 120)) n leader
  while :; do
    leader="" ; local up=0
    for n in 1 2 3; do
      case "$(four_letter srvr "$(port "$kind" "$n")")" in
        *"Mode: leader"*) leader=$n; up=$((up + 1)) ;;
        *"Mode: follower"*) up=$((up + 1)) ;;
      esac
    done
    if [ "$up" = 3 ] && [ -n "$leader" ]; then echo "$leader"; return; fi
    [ "$SECONDS" -lt "$deadline" ] || { echo "$kind: not all serving after 120 s" >&2; exit 1; }
    sleep 0.2
  done
}

kill_once() {  # kind round
  local kind=$1 round=$2 leader survivors="" n
  leader=$(wait_serving "$kind")
  for n in 1 2 3; do
    [ "$n" = "$leader" ] || survivors+="${survivors:+,}127.0.0.1:$(port "$kind" "$n")"
  done
  local out
  out=$("$PROBE" "${PID[$kind$leader]}" "$survivors" "/failover-$kind-$round")
  wait "${PID[$kind$leader]}" 2>/dev/null || true
  echo "$kind kill $round (leader $leader): $out" >&2
  echo "$out" | sed -E 's/.*"failover_ms": ([0-9.]+).*/\1/' >>"$WORK/$kind.ms"
  start "$kind" "$leader"
}

for kind in corral zookeeper; do
  layout "$kind"
  for n in 1 2 3; do start "$kind" "$n"; done
done
for kind in corral zookeeper; do wait_serving "$kind" >/dev/null; done
for round in $(seq 1 "$KILLS"); do
  kill_once corral "$round"
  kill_once zookeeper "$round"
done

median() { sort -n "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
range() { sort -n "$1" | awk 'NR==1{min=$1} {max=$1} END {printf "%.1f–%.1f", min, max}'; }
echo
echo "| server | kills | median ms | range ms |"
echo "|---|---:|---:|---|"
for kind in corral zookeeper; do
  echo "| $kind | $(wc -l <"$WORK/$kind.ms") | $(median "$WORK/$kind.ms") | $(range "$WORK/$kind.ms") |"
done
