#!/usr/bin/env bash
# ensemble_check.sh - a 3-member corral ensemble, started the seed's ways, under real clients
# and a leader's kill -9.
#
# Usage: tests/interop/ensemble_check.sh CORRAL_BIN
#
#   Members 1 and 2 start with the Kafka-style command line (`corral serve --override
#   dataDir=... --override dataLogDir=... --override clientPort=... --override server.N=...
#   --override 4lw.commands.whitelist=* --override myid=N`): the myid file lies beside the
#   dataDir, not in it, and the dataLogDir does not exist yet. Member 3 starts as
#   conf/ensemble-3/node3/zoo.cfg says (`corral serve --config conf/ensemble-3/node3/zoo.cfg`
#   from a scratch copy of the repository layout, after its myid step), its ports rewritten
#   to free ones. Then:
#   1. srvr shows one leader and two followers;
#   2. kazoo through the ensemble (tests/interop/ensemble/ensclient.py workflow): create,
#      get, set, watches, ephemeral, sequential, Election and Lock, one client per member;
#   3. zkCli given all three addresses: tests/interop/zkcli_walkthrough.sh;
#   4. kill -9 the leader: the two others elect a new leader; a kazoo session (on the old
#      leader) and a zkCli session reconnect with their session ids, their ephemerals and the
#      watches set before the kill (ensclient.py failover); the killed member restarts, rejoins
#      as a follower, and every member holds the same tree, node for node, Stat for Stat
#      (a kazoo dump after sync on each member alone, and zkCli's `ls -R /` on each).
#
# Environment:
#   PYTHON=...            python with kazoo (default target/interop-venv/bin/python)
#   ENSEMBLE_WAIT_S=90    hang guard of every wait
#   ENSEMBLE_KEEP=1       keep the temp directory (member logs, dumps)
#
# Only processes this script started are signalled (by pid).
set -euo pipefail

[ $# -eq 1 ] || { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
CORRAL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$CORRAL" ] || { echo "ensemble_check: $1 is not an executable" >&2; exit 2; }
NAME=ensemble
KEEP_VAR=ENSEMBLE_KEEP
# shellcheck source=tests/interop/ensemble/common.sh
. "$(dirname "$0")/ensemble/common.sh"
EC="$PYTHON $HERE/ensclient.py"
[ -r "${ZKCLI_CP%%:*}" ] || fail "${ZKCLI_CP%%:*} missing (Debian's zookeeper package)"

read -r -a P <<<"$(distinct_free_ports 9)"
C=("" "${P[0]}" "${P[1]}" "${P[2]}")   # client ports of members 1..3
Q=("" "${P[3]}" "${P[4]}" "${P[5]}")   # quorum ports
E=("" "${P[6]}" "${P[7]}" "${P[8]}")   # election ports
SERVERS=()
for i in 1 2 3; do SERVERS+=(--override "server.$i=127.0.0.1:${Q[$i]}:${E[$i]}"); done

# Members 1 and 2: the Kafka-style command line. tickTime=200 keeps elections short; the
# limits in ticks are raised so that a busy CI host does not drop a follower, and
# maxSessionTimeout lets a client's session outlive an election.
start_kafka_style() {  # N
  local i=$1 d=$WORK/node$1
  start_member "n$i" corral "${C[$i]}" "$d/corral.log" "$d" "$CORRAL" serve \
    --override "dataDir=$d/data" \
    --override "dataLogDir=$d/log" \
    --override "clientPort=${C[$i]}" \
    --override clientPortAddress=127.0.0.1 \
    "${SERVERS[@]}" \
    --override tickTime=200 \
    --override initLimit=50 \
    --override syncLimit=25 \
    --override maxSessionTimeout=60000 \
    --override '4lw.commands.whitelist=*' \
    --override "myid=$i"
}

# Member 3: conf/ensemble-3/node3/zoo.cfg in a scratch copy of the repository layout.
SEED=$WORK/seed
start_cfg_member() {
  start_member n3 corral "${C[3]}" "$SEED/node3.log" "$SEED" \
    "$CORRAL" serve --config conf/ensemble-3/node3/zoo.cfg
}

for i in 1 2; do
  mkdir -p "$WORK/node$i/data"
  echo "$i" >"$WORK/node$i/myid"           # beside the dataDir, not in it
done
mkdir -p "$SEED/conf/ensemble-3/node3"
sed -e "s/^clientPort=2183\$/clientPort=${C[3]}/" \
    -e "s/^server\.1=127\.0\.0\.1:2888:3888\$/server.1=127.0.0.1:${Q[1]}:${E[1]}/" \
    -e "s/^server\.2=127\.0\.0\.1:2889:3889\$/server.2=127.0.0.1:${Q[2]}:${E[2]}/" \
    -e "s/^server\.3=127\.0\.0\.1:2890:3890\$/server.3=127.0.0.1:${Q[3]}:${E[3]}/" \
    "$REPO/conf/ensemble-3/node3/zoo.cfg" >"$SEED/conf/ensemble-3/node3/zoo.cfg"
CFG3=$SEED/conf/ensemble-3/node3/zoo.cfg
for want in "clientPort=${C[3]}" "server.1=127.0.0.1:${Q[1]}:${E[1]}" \
  "server.2=127.0.0.1:${Q[2]}:${E[2]}" "server.3=127.0.0.1:${Q[3]}:${E[3]}"; do
  grep -qxF "$want" "$CFG3" || fail "rewriting the ports of conf/ensemble-3/node3/zoo.cfg: no line $want"
done
# The myid step of the config's comments, from the (scratch) repository root.
(cd "$SEED" && mkdir -p ./data/node3/data && echo 3 >./data/node3/data/myid)

say "members: n1, n2 Kafka-style (clientPort ${C[1]}, ${C[2]}), n3 from its zoo.cfg (${C[3]})"
start_kafka_style 1
start_kafka_style 2
start_cfg_member
wait_roles n1 n2 n3
pass "3 corral members, 1 leader ($LEADER) and 2 followers"
for i in 1 2; do
  [ -d "$WORK/node$i/log/version-2" ] || fail "n$i: the dataLogDir $WORK/node$i/log was not created"
  [ ! -e "$WORK/node$i/data/myid" ] || say "note: n$i wrote a myid file into its dataDir"
done
pass "n1, n2 created their missing dataLogDir; ids from --override myid (myid file beside the dataDir)"
ALL=$(addr n1),$(addr n2),$(addr n3)

say "kazoo workflow through the ensemble"
$EC workflow "$ALL" || fail "kazoo workflow through the ensemble"
pass "kazoo: create/get/set, watches, ephemeral, sequential, Election, Lock through the ensemble"

say "zkCli walkthrough with the connect string $ALL"
ZK_HOSTS=$ALL ZK_WALK_AT_ROOT=0 ZK_WALK_WAIT_S=$WAIT_S "$INTEROP/zkcli_walkthrough.sh" \
  || fail "zkCli walkthrough through the ensemble"
pass "zkCli walkthrough through the ensemble"

# ---- kill -9 the leader -------------------------------------------------------------------
FO=$WORK/failover
mkdir -p "$FO"
OLD=$LEADER
OTHERS=()
for n in n1 n2 n3; do [ "$n" = "$OLD" ] || OTHERS+=("$n"); done
say "failover: kazoo and zkCli sessions on the leader $OLD, then kill -9 $OLD"
$EC failover --leader "$(addr "$OLD")" --others "$(addr "${OTHERS[0]}"),$(addr "${OTHERS[1]}")" \
  --dir "$FO" &
FO_PID=$!
CLEANUP_PIDS+=("$FO_PID")

wait_client_file "$FO_PID" "$FO/ready" "its sessions, ephemerals and watches on the leader"
kill9_member "$OLD"
wait_roles "${OTHERS[@]}"
NEW=$LEADER
for n in "${OTHERS[@]}"; do [ "$n" = "$NEW" ] || FOLLOWER=$n; done
pass "after kill -9 of $OLD, $NEW leads and $FOLLOWER follows"
addr "$NEW" >"$FO/go.tmp" && mv "$FO/go.tmp" "$FO/go"
wait_client_file "$FO_PID" "$FO/checked" "its checks after the failover"
collect_known_failures "$FO/known-failures"
pass "kazoo and zkCli sessions carried on across the failover (see the client's lines above)"

say "restarting $OLD the way it was started"
case $OLD in
  n1) start_kafka_style 1 ;;
  n2) start_kafka_style 2 ;;
  n3) start_cfg_member ;;
esac
wait_roles n1 n2 n3
[ "$(mode_of "$OLD")" = follower ] || fail "$OLD did not rejoin as a follower"
pass "$OLD rejoined as a follower of $LEADER"

for n in n1 n2 n3; do
  $EC dump "$(addr "$n")" "$WORK/$n.json" || fail "dump of $n"
done
$EC compare "$WORK/n1.json" "$WORK/n2.json" "$WORK/n3.json" \
  || fail "the members' trees differ after $OLD rejoined"
grep -q '"/failover/after-19"' "$WORK/$OLD.json" || fail "$OLD lacks the writes made while it was down"
pass "every member holds the same tree (every node's data, Stat and ACL), $OLD included"
for n in n1 n2 n3; do
  timeout "$WAIT_S" "$JAVA" -Xmx128m -cp "$ZKCLI_CP" org.apache.zookeeper.ZooKeeperMain \
    -server "$(addr "$n")" ls -R / </dev/null 2>&1 | grep '^/' >"$WORK/$n.ls" || true
  grep -qxF /failover/after-19 "$WORK/$n.ls" || { cat "$WORK/$n.ls"; fail "zkCli ls -R / on $n"; }
done
if ! cmp -s "$WORK/n1.ls" "$WORK/n2.ls" || ! cmp -s "$WORK/n1.ls" "$WORK/n3.ls"; then
  diff "$WORK/n1.ls" "$WORK/n2.ls" || true
  diff "$WORK/n1.ls" "$WORK/n3.ls" || true
  fail "zkCli ls -R / differs between members"
fi
pass "zkCli ls -R / on each member alone: the same $(wc -l <"$WORK/n1.ls") lines"

touch "$FO/finish"
wait "$FO_PID" || fail "the failover client's final checks"
pass "the failover sessions closed; their ephemerals are gone on every member"
roles n1 n2 n3
say "all ensemble checks passed"
