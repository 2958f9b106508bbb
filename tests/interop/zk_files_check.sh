#!/usr/bin/env bash
# zk_files_check.sh - cross-check corral's readers and writers of ZooKeeper's
# on-disk formats against Apache ZooKeeper 3.8 (Debian's `zookeeper` package).
#
#   1. ZooKeeper writes, corral reads: starts a standalone ZooKeeper on a free
#      port with a temporary dataDir/dataLogDir, makes changes with zkCli
#      (nested paths, binary data, setData, sequential nodes, a digest ACL,
#      delete, ephemerals, a session left open), stops it, restarts it once
#      (which snapshots the full tree), then runs `corral data log` and
#      `corral data snapshot` on every log.* and snapshot.* it wrote. Each must
#      exit 0 and agree with ZooKeeper's own TxnLogToolkit / SnapshotFormatter
#      on the number of txns and nodes.
#   2. corral writes, ZooKeeper reads: the `write_zk_files` example writes a
#      log (every txn type, multi included) and a snapshot with corral's
#      writers; TxnLogToolkit and SnapshotFormatter must read all of it.
#
# Usage: tests/interop/zk_files_check.sh CORRAL_BIN [WRITE_ZK_FILES_BIN]
#   CORRAL_BIN          e.g. target/release/corral
#   WRITE_ZK_FILES_BIN  default: <dir of CORRAL_BIN>/examples/write_zk_files
#                       (cargo build --release --example write_zk_files)
# Needs java and /usr/share/java/zookeeper.jar. Exits non-zero on any failure.
# Only the ZooKeeper and zkCli processes this script starts are ever stopped.
set -euo pipefail

CORRAL=${1:?usage: $0 CORRAL_BIN [WRITE_ZK_FILES_BIN]}
WRITER=${2:-$(dirname "$CORRAL")/examples/write_zk_files}
JAVA=${JAVA:-java}
ZK_JAR=/usr/share/java/zookeeper.jar
SERVER_CP=$ZK_JAR:/usr/share/java/slf4j-nop.jar
CLI_CP=$ZK_JAR:/usr/share/java/slf4j-nop.jar

[ -x "$CORRAL" ] || { echo "not executable: $CORRAL" >&2; exit 2; }
[ -x "$WRITER" ] || {
  echo "not executable: $WRITER (cargo build --release --example write_zk_files)" >&2
  exit 2
}
command -v "$JAVA" >/dev/null || { echo "java not found" >&2; exit 2; }
[ -r "$ZK_JAR" ] || { echo "$ZK_JAR missing (apt-get install zookeeper)" >&2; exit 2; }

WORK=$(mktemp -d -t corral-zkfiles.XXXXXX)
ZK_PID=
CLI_PID=
failures=0

cleanup() {
  [ -n "$CLI_PID" ] && kill "$CLI_PID" 2>/dev/null || true
  [ -n "$ZK_PID" ] && stop_zk
  if [ "$failures" -eq 0 ]; then rm -rf "$WORK"; else echo "files kept in $WORK"; fi
}
trap cleanup EXIT

pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

srvr() { # -> output of the srvr four-letter word
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf srvr >&3; cat <&3" 2>/dev/null || true
}

start_zk() {
  "$JAVA" -Xmx256m -cp "$SERVER_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain \
    "$WORK/zoo.cfg" >>"$WORK/server.out" 2>&1 </dev/null &
  ZK_PID=$!
  for _ in $(seq 1 120); do
    srvr | grep -q '^Mode:' && return 0
    kill -0 "$ZK_PID" 2>/dev/null || break
    sleep 0.25
  done
  echo "ZooKeeper did not start; see $WORK/server.out" >&2
  exit 1
}

stop_zk() {
  kill -TERM "$ZK_PID" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$ZK_PID" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$ZK_PID" 2>/dev/null || true
  wait "$ZK_PID" 2>/dev/null || true
  ZK_PID=
}

cli() { # commands on stdin, one zkCli session
  "$JAVA" -Xmx128m -cp "$CLI_CP" org.apache.zookeeper.ZooKeeperMain -server "127.0.0.1:$PORT"
}

# ---- 1. ZooKeeper writes, corral reads ---------------------------------------
PORT=$(free_port)
mkdir -p "$WORK/data" "$WORK/datalog"
cat >"$WORK/zoo.cfg" <<EOF
tickTime=2000
dataDir=$WORK/data
dataLogDir=$WORK/datalog
clientPort=$PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr
EOF
echo "== ZooKeeper 3.8 on 127.0.0.1:$PORT, files in $WORK"
start_zk
{
  echo "create /x data"
  echo "create /x/y"
  echo "create /x/y/z nested"
  printf 'create /bin \001\002bin\177\n'
  echo "set /x v1"
  echo "set /x v2"
  echo "set /x/y/z v3"
  echo "create -s /x/seq- a"
  echo "create -s /x/seq- b"
  echo "addauth digest u:p"
  echo "create /secret s auth:u:p:cdrwa"
  echo "create /gone tmp"
  echo "delete /gone"
  echo "create -e /eph owner"
  echo "setAcl /x world:anyone:cdrwa"
  echo "quit"
} | cli >"$WORK/cli1.out" 2>&1
grep -q 'Created /secret' "$WORK/cli1.out" || { cat "$WORK/cli1.out"; fail "zkCli session"; exit 1; }
# A session still open when ZooKeeper stops: its ephemeral and the session
# itself go into the snapshot taken at the next start.
mkfifo "$WORK/cli2.in"
cli <"$WORK/cli2.in" >"$WORK/cli2.out" 2>&1 &
CLI_PID=$!
exec 7>"$WORK/cli2.in" # held open so that zkCli waits for more input
echo "create -e /live held" >&7
for _ in $(seq 1 60); do grep -q 'Created /live' "$WORK/cli2.out" && break; sleep 0.25; done
grep -q 'Created /live' "$WORK/cli2.out" || fail "ephemeral in a lingering session"
stop_zk
kill "$CLI_PID" 2>/dev/null || true
wait "$CLI_PID" 2>/dev/null || true
CLI_PID=
exec 7>&-
start_zk # loading the data takes a snapshot of the whole tree
stop_zk

shopt -s nullglob
logs=("$WORK"/datalog/version-2/log.*)
snaps=("$WORK"/data/version-2/snapshot.*)
[ ${#logs[@]} -gt 0 ] || fail "ZooKeeper wrote no log"
[ ${#snaps[@]} -gt 1 ] || fail "ZooKeeper wrote fewer than 2 snapshots"
for f in "${logs[@]}"; do
  name=${f#"$WORK"/}
  rc=0
  "$CORRAL" data log "$f" >"$f.corral.txt" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    fail "corral data log $name: exit $rc ($(grep -E 'BAD|OUT OF ORDER' "$f.corral.txt" | head -1))"
    continue
  fi
  ours=$(sed -n 's/^records: \([0-9]*\).*/\1/p' "$f.corral.txt")
  theirs=$("$JAVA" -cp "$CLI_CP" org.apache.zookeeper.server.persistence.TxnLogToolkit "$f" 2>&1 |
    sed -n 's/^EOF reached after \([0-9]*\) txns.*/\1/p')
  if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
    pass "corral data log $name: $ours txns, as TxnLogToolkit reads"
  else
    fail "corral data log $name: $ours txns, TxnLogToolkit: ${theirs:-?}"
  fi
done
grep -q 'create /secret .*acl=\[digest:u:' "${logs[0]}.corral.txt" || fail "digest ACL in the log dump"
grep -q 'setData /x data\[2\]="v2" version=2' "${logs[0]}.corral.txt" || fail "setData version 2"
grep -q 'create /bin data\[6\]=0x0102' "${logs[0]}.corral.txt" || fail "binary data preview"
grep -q 'closeSession ephemerals=\[/eph\]' "${logs[0]}.corral.txt" || fail "closeSession of /eph"
for f in "${snaps[@]}"; do
  name=${f#"$WORK"/}
  rc=0
  "$CORRAL" data snapshot --data "$f" >"$f.corral.txt" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    fail "corral data snapshot $name: exit $rc ($(grep BAD "$f.corral.txt" | head -1))"
    continue
  fi
  ours=$(sed -n 's/^nodes: \([0-9]*\),.*/\1/p' "$f.corral.txt")
  # SnapshotFormatter's count includes the root twice ("" and "/").
  theirs=$("$JAVA" -cp "$CLI_CP" org.apache.zookeeper.server.SnapshotFormatter "$f" 2>&1 |
    sed -n 's/^ZNode Details (count=\([0-9]*\)).*/\1/p')
  if [ -n "$ours" ] && [ -n "$theirs" ] && [ "$ours" -eq $((theirs - 1)) ]; then
    pass "corral data snapshot $name: $ours nodes, checksums OK, as SnapshotFormatter reads"
  else
    fail "corral data snapshot $name: $ours nodes, SnapshotFormatter count=${theirs:-?}"
  fi
done
last=$(printf '%s\n' "${snaps[@]}" | sort -t. -k2 | tail -1)
for want in '^/x/seq-0000000002$' '^/secret$' '^/bin$' '^  dataVersion = 2$' \
  '^/live$' '^0x[0-9a-f]*, 30000, 1$' '^digest: zxid 0x'; do
  grep -q -- "$want" "$last.corral.txt" || fail "${last#"$WORK"/} dump lacks $want"
done

# ---- 2. corral writes, ZooKeeper reads ---------------------------------------
echo "== corral's writers, read by ZooKeeper's tools"
out=$("$WRITER" "$WORK/corral")
clog=$(echo "$out" | awk '$1 == "log" {print $2}')
ctxns=$(echo "$out" | awk '$1 == "log" {print $3}')
csnap=$(echo "$out" | awk '$1 == "snapshot" {print $2}')
cnodes=$(echo "$out" | awk '$1 == "snapshot" {print $3}')
theirs=$("$JAVA" -cp "$CLI_CP" org.apache.zookeeper.server.persistence.TxnLogToolkit "$clog" 2>&1 |
  tee "$clog.zk.txt" | sed -n 's/^EOF reached after \([0-9]*\) txns.*/\1/p')
if [ "$theirs" = "$ctxns" ] && grep -q ' multi check:' "$clog.zk.txt"; then
  pass "TxnLogToolkit reads corral's log: $theirs of $ctxns txns (multi, container, TTL included)"
else
  fail "TxnLogToolkit on corral's log: ${theirs:-?} of $ctxns txns (see $clog.zk.txt)"
fi
theirs=$("$JAVA" -cp "$CLI_CP" org.apache.zookeeper.server.SnapshotFormatter "$csnap" 2>&1 |
  tee "$csnap.zk.txt" | sed -n 's/^ZNode Details (count=\([0-9]*\)).*/\1/p')
if [ -n "$theirs" ] && [ $((theirs - 1)) -eq "$cnodes" ] &&
  grep -q '^0x100000000000001, 30000, 1$' "$csnap.zk.txt"; then
  pass "SnapshotFormatter reads corral's snapshot: $cnodes nodes, its session and ephemeral"
else
  fail "SnapshotFormatter on corral's snapshot: count=${theirs:-?}, want $((cnodes + 1))"
fi
"$CORRAL" data log "$clog" >/dev/null && "$CORRAL" data snapshot "$csnap" >/dev/null &&
  pass "corral reads its own files back" || fail "corral data on its own files"

if [ "$failures" -eq 0 ]; then echo "all checks passed"; else echo "$failures check(s) failed"; fi
[ "$failures" -eq 0 ]
