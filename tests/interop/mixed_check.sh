#!/usr/bin/env bash
# mixed_check.sh - corral and Apache ZooKeeper 3.8 members in one ensemble.
#
# Usage: tests/interop/mixed_check.sh CORRAL_BIN
#
# Three members with the same zoo.cfg keys (free ports, temp dirs, a myid file in each
# dataDir): zk1 and zk2 are Apache ZooKeeper 3.8 (Debian's zookeeper package,
# QuorumPeerMain), corral3 is corral (`corral serve --config`), server id 3, the highest.
#   (a) zk1 and zk2 start and elect an Apache leader; corral3 joins as its follower.
#   (b) a kazoo and a zkCli session on the Apache leader (ensclient.py failover), then kill -9
#       the Apache leader: zk1 and corral3 elect corral3 (highest id, same zxid), so corral
#       leads with an Apache follower; both sessions reconnect with their ids, ephemerals and
#       watches (the Java client's SetWatches now answered by corral).
#   (c) the killed Apache member restarts and joins as a follower of the corral leader,
#       learning the writes it missed; every member then holds the same tree, Stat for Stat.
# In each layout (tests/interop/ensemble/ensclient.py mixed): a write through each member is
# read on every member, an ephemeral made through each member shows its owner everywhere and
# goes away with its session, sequential creates through the members in turn number in
# order, a session moves from the corral member to an Apache member and back (same session
# id and password) keeping its ephemeral, and every member holds the same nodes. The roles
# srvr reports are printed for each layout.
#
# Environment:
#   PYTHON=...            python with kazoo (default target/interop-venv/bin/python)
#   ENSEMBLE_WAIT_S=90    hang guard of every wait
#   MIXED_KEEP=1          keep the temp directory (configs, member logs)
#   JAVA=java ZK_JAR_DIR=/usr/share/java
#
# Only processes this script started are signalled (by pid).
set -euo pipefail

[ $# -eq 1 ] || { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
CORRAL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$CORRAL" ] || { echo "mixed_check: $1 is not an executable" >&2; exit 2; }
NAME=mixed
KEEP_VAR=MIXED_KEEP
# shellcheck source=tests/interop/ensemble/common.sh
. "$(dirname "$0")/ensemble/common.sh"
EC="$PYTHON $HERE/ensclient.py"
for f in "$JAR_DIR/zookeeper.jar" "$JAR_DIR/slf4j-simple.jar"; do
  [ -r "$f" ] || fail "$f missing (Debian's zookeeper package)"
done
command -v "$JAVA" >/dev/null || fail "no $JAVA (default-jre-headless)"

read -r -a P <<<"$(distinct_free_ports 9)"
C=("" "${P[0]}" "${P[1]}" "${P[2]}")
Q=("" "${P[3]}" "${P[4]}" "${P[5]}")
E=("" "${P[6]}" "${P[7]}" "${P[8]}")

for i in 1 2 3; do mixed_member_cfg "$i"; done

start_zk() { java_member "zk$1" "$WORK/m$1/zoo.cfg"; }
start_corral3() {
  start_member corral3 corral "${C[3]}" "$WORK/corral3.log" "$WORK" \
    "$CORRAL" serve --config "$WORK/m3/zoo.cfg"
}
members_arg() {  # NAME... -> NAME=ADDR,...
  local n out=""
  for n in "$@"; do out="$out${out:+,}$n=$(addr "$n")"; done
  echo "$out"
}
# mixed_checks TAG NAME... - the client checks of one layout.
mixed_checks() {
  local tag=$1
  shift
  $EC mixed "$tag" "$(members_arg "$@")" || fail "($tag) the client checks through $*"
  pass "($tag) writes, ephemerals, sequentials, a moving session through $*"
}

# ---- (a) an Apache leader, corral follows ---------------------------------------------------
say "(a) zk1, zk2 (Apache ZooKeeper 3.8) elect a leader; then corral3 joins"
start_zk 1
start_zk 2
wait_roles zk1 zk2
start_corral3
wait_roles zk1 zk2 corral3
[ "${KIND[$LEADER]}" = zookeeper ] || fail "(a) expected an Apache leader, $LEADER leads"
[ "$(mode_of corral3)" = follower ] || fail "(a) corral3 is not a follower"
pass "(a) corral3 follows the Apache leader $LEADER"
mixed_checks a zk1 zk2 corral3

# ---- (b) corral leads an Apache follower --------------------------------------------------
ZK_LEADER=$LEADER
for n in zk1 zk2; do [ "$n" = "$ZK_LEADER" ] || ZK_OTHER=$n; done
say "(b) kazoo and zkCli sessions on the Apache leader $ZK_LEADER, then kill -9 $ZK_LEADER:" \
  "corral3 (highest id) should take over"
FO=$WORK/failover
mkdir -p "$FO"
$EC failover --leader "$(addr "$ZK_LEADER")" --others "$(addr corral3),$(addr "$ZK_OTHER")" \
  --dir "$FO" &
FO_PID=$!
CLEANUP_PIDS+=("$FO_PID")
wait_client_file "$FO_PID" "$FO/ready" "its sessions, ephemerals and watches on $ZK_LEADER"
kill9_member "$ZK_LEADER"
wait_roles "$ZK_OTHER" corral3
[ "$LEADER" = corral3 ] || fail "(b) expected corral3 to lead after $ZK_LEADER died; $LEADER leads"
pass "(b) corral3 leads, $ZK_OTHER (Apache) follows"
addr corral3 >"$FO/go.tmp" && mv "$FO/go.tmp" "$FO/go"
wait_client_file "$FO_PID" "$FO/checked" "its checks after the failover"
collect_known_failures "$FO/known-failures"
pass "(b) sessions opened on the Apache leader carried on under the corral leader" \
  "(same ids, ephemerals, watches; see the client's lines above)"
mixed_checks b "$ZK_OTHER" corral3

# ---- (c) the Apache member rejoins under the corral leader ---------------------------------
say "(c) restart $ZK_LEADER: it should follow corral3 and learn what it missed"
start_zk "${ZK_LEADER#zk}"
wait_roles zk1 zk2 corral3
[ "$LEADER" = corral3 ] || fail "(c) expected corral3 to keep leading; $LEADER leads"
pass "(c) corral3 leads two Apache followers"
for n in zk1 zk2 corral3; do
  $EC dump "$(addr "$n")" "$WORK/$n.json" || fail "dump of $n"
done
$EC compare "$WORK/corral3.json" "$WORK/zk1.json" "$WORK/zk2.json" \
  || fail "(c) the members' trees differ"
grep -q '"/mixed-b/from-corral3"' "$WORK/$ZK_LEADER.json" \
  || fail "(c) $ZK_LEADER lacks the writes of layout (b)"
grep -q '"/failover/eph-java"' "$WORK/$ZK_LEADER.json" \
  || fail "(c) $ZK_LEADER lacks the ephemeral of the session that survived the failover"
pass "(c) every member holds the same tree, node for node and Stat for Stat ($ZK_LEADER included)"
touch "$FO/finish"
wait "$FO_PID" || fail "the failover client's final checks"
pass "(c) the failover sessions closed; their ephemerals are gone on every member"
mixed_checks c zk1 zk2 corral3
roles zk1 zk2 corral3
say "all mixed-ensemble checks passed"
