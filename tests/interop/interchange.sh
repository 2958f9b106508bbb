#!/usr/bin/env bash
# interchange.sh - corral and Apache ZooKeeper 3.8 read each other's data directories.
#
# Usage: tests/interop/interchange.sh CORRAL_BIN
#
#   (a) corral writes the tree (interchange.py write) -> dump -> corral stopped ->
#       Apache ZooKeeper started on the same dataDir/dataLogDir -> dump -> the dumps must be
#       identical; then ZooKeeper writes one more node on top and reads it back.
#   (b) the reverse on fresh directories: ZooKeeper writes -> dump -> ZooKeeper stopped ->
#       corral on the same directories -> dump -> identical; corral writes one more node,
#       is restarted, and the node is still there.
#
# Both servers run with extendedTypesEnabled (TTL nodes) and a small snapCount, so the directories hold fuzzy snapshots taken
# mid-way as well as txn logs, and dataDir and dataLogDir are separate directories.
# Apache ZooKeeper is Debian's zookeeper package (/usr/share/java/zookeeper.jar).
#
# Environment:
#   PYTHON=...           python with kazoo (default: target/interop-venv/bin/python)
#   ZK_JAR_DIR=...       where zookeeper.jar and slf4j-simple.jar are (default /usr/share/java)
#   JAVA=...             java binary (default: java on PATH)
#   INTERCHANGE_KEEP=1   keep the temp directory (servers, dumps, logs) after the run
#
# Exit status 0 only if every check passed. Only processes this script started are
# signalled (by pid), SIGTERM first and SIGKILL after 10s.
set -euo pipefail

[ $# -eq 1 ] || { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
CORRAL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$CORRAL" ] || { echo "interchange: $1 is not an executable" >&2; exit 2; }
PYTHON=${PYTHON:-$REPO/target/interop-venv/bin/python}
JAR_DIR=${ZK_JAR_DIR:-/usr/share/java}
JAVA=${JAVA:-java}
ZK_CP=$JAR_DIR/zookeeper.jar:$JAR_DIR/slf4j-simple.jar
for f in "$JAR_DIR/zookeeper.jar" "$JAR_DIR/slf4j-simple.jar"; do
  [ -r "$f" ] || { echo "interchange: $f missing (Debian's zookeeper package)" >&2; exit 2; }
done
IC="$PYTHON $HERE/interchange.py"
SNAP_COUNT=20

WORK=$(mktemp -d /tmp/corral-interchange.XXXXXX)
PID=""        # the one server running now
KIND=""       # corral | zookeeper
LOG=""        # its log
FAILED=0

say() { echo "==> interchange: $*"; }
pass() { echo "PASS: $*"; }

show_logs() {
  local f
  for f in "$WORK"/*.log; do
    [ -s "$f" ] || continue
    echo "---- last 30 lines of $f"
    tail -n 30 "$f" || true
  done
}

fail() {
  echo "FAIL: $*"
  FAILED=1
  exit 1
}

stop_server() {
  [ -n "$PID" ] || return 0
  if kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then
      say "$KIND (pid $PID) ignored SIGTERM for 10s; sending SIGKILL"
      kill -KILL "$PID" 2>/dev/null || true
    fi
  fi
  wait "$PID" 2>/dev/null || true
  say "stopped $KIND (pid $PID)"
  PID=""
}

on_exit() {
  local rc=$?
  stop_server
  if [ "$rc" -ne 0 ]; then
    [ "$FAILED" = 1 ] || echo "FAIL: interchange.sh stopped early (exit $rc)"
    show_logs
  fi
  if [ "${INTERCHANGE_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

srvr() {  # port -> the `srvr` answer, or nothing
  four_letter srvr "$1"
}

wait_serving() {  # port: until `srvr` reports a Mode (both servers answer it once serving)
  local deadline=$((SECONDS + 60))
  until srvr "$1" | grep -q '^Mode:'; do
    kill -0 "$PID" 2>/dev/null || fail "$KIND exited before serving (see $LOG)"
    [ "$SECONDS" -lt "$deadline" ] || fail "$KIND did not serve on port $1 within 60s"
    sleep 0.2
  done
}

start_corral() {  # name data datalog -> sets PORT
  PORT=$(free_port)
  KIND=corral
  LOG=$WORK/$1.log
  "$CORRAL" serve \
    --override "clientPort=$PORT" \
    --override clientPortAddress=127.0.0.1 \
    --override "dataDir=$2" \
    --override "dataLogDir=$3" \
    --override '4lw.commands.whitelist=*' \
    --override "snapCount=$SNAP_COUNT" \
    --override extendedTypesEnabled=true \
    >>"$LOG" 2>&1 </dev/null &
  PID=$!
  say "started corral pid $PID on 127.0.0.1:$PORT (dataDir $2, dataLogDir $3, log $LOG)"
  wait_serving "$PORT"
}

start_zookeeper() {  # name data datalog -> sets PORT
  PORT=$(free_port)
  KIND=zookeeper
  LOG=$WORK/$1.log
  local cfg=$WORK/$1.cfg
  cat >"$cfg" <<EOF
tickTime=2000
dataDir=$2
dataLogDir=$3
clientPort=$PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
snapCount=$SNAP_COUNT
4lw.commands.whitelist=*
autopurge.purgeInterval=0
admin.enableServer=false
EOF
  "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dzookeeper.log.dir="$WORK" \
    -Djava.net.preferIPv4Stack=true \
    -Dzookeeper.extendedTypesEnabled=true \
    -cp "$ZK_CP" org.apache.zookeeper.server.ZooKeeperServerMain "$cfg" \
    >>"$LOG" 2>&1 </dev/null &
  PID=$!
  say "started zookeeper pid $PID on 127.0.0.1:$PORT (dataDir $2, dataLogDir $3, log $LOG)"
  wait_serving "$PORT"
}

files() {  # dir: what a server left in its version-2 directory
  ls "$1/version-2" 2>/dev/null | tr '\n' ' '
}

# One direction: FIRST writes, SECOND reads its directories, writes on top, and FIRST reads
# the mixed directories back.
round_trip() {  # tag first second
  local tag=$1 first=$2 second=$3 d=$WORK/$1
  mkdir -p "$d/data" "$d/datalog"
  say "($tag) $first writes, $second reads"
  "start_$first" "$tag-$first" "$d/data" "$d/datalog"
  $IC write "127.0.0.1:$PORT" || fail "($tag) $first: write"
  $IC ephemeral "127.0.0.1:$PORT" || fail "($tag) $first: ephemeral"
  $IC dump "127.0.0.1:$PORT" "$WORK/$tag-1-$first.json" / || fail "($tag) $first: dump"
  stop_server
  say "($tag) $first left: dataDir $(files "$d/data")| dataLogDir $(files "$d/datalog")"

  "start_$second" "$tag-$second" "$d/data" "$d/datalog"
  $IC dump "127.0.0.1:$PORT" "$WORK/$tag-2-$second.json" / || fail "($tag) $second: dump"
  if $IC compare "$WORK/$tag-1-$first.json" "$WORK/$tag-2-$second.json"; then
    pass "($tag) $second reads $first's snapshots and logs: every node identical (/ic, root, /zookeeper)"
  else
    fail "($tag) $second's view of $first's data differs"
  fi
  $IC gone "127.0.0.1:$PORT" /ic/eph ||
    fail "($tag) $second did not expire the session $first left open"
  pass "($tag) $second expires the session $first left open (and its ephemeral node)"
  $IC touch "127.0.0.1:$PORT" "/ic-after/$second" || fail "($tag) $second: write on top"
  $IC dump "127.0.0.1:$PORT" "$WORK/$tag-3-$second.json" / || fail "($tag) $second: dump"
  stop_server
  say "($tag) now: dataDir $(files "$d/data")| dataLogDir $(files "$d/datalog")"

  "start_$first" "$tag-$first" "$d/data" "$d/datalog"
  $IC check "127.0.0.1:$PORT" "/ic-after/$second" || fail "($tag) $first: lost what $second wrote"
  $IC dump "127.0.0.1:$PORT" "$WORK/$tag-4-$first.json" / || fail "($tag) $first: dump"
  if $IC compare "$WORK/$tag-3-$second.json" "$WORK/$tag-4-$first.json"; then
    pass "($tag) $first reads back what $second wrote on top: every node identical"
  else
    fail "($tag) $first's view of the directories $second wrote on top of differs"
  fi
  stop_server
}

round_trip a corral zookeeper
round_trip b zookeeper corral

# The node corral wrote on top of Apache ZooKeeper's data survives corral's own restart.
start_corral b-corral "$WORK/b/data" "$WORK/b/datalog"
$IC check "127.0.0.1:$PORT" /ic-after/corral || fail "(b) corral: /ic-after/corral lost on restart"
pass "(b) corral keeps what it wrote on top of Apache ZooKeeper's data across a restart"
stop_server

say "all interchange checks passed"
