#!/usr/bin/env bash
# rolling-migration.sh - replace the members of a running Apache ZooKeeper 3-member ensemble by
# corral one at a time, in place, under a client load, then back to Apache ZooKeeper, and
# check that nothing was lost.
#
# Usage: scripts/rolling-migration.sh [--replacement corral|zookeeper]
#
#   1. Three Apache ZooKeeper 3.8 members (Debian's zookeeper package, QuorumPeerMain) on
#      free ports, each with a zoo.cfg, dataDir (with myid) and dataLogDir in a temp dir.
#   2. A client load (scripts/rolling_migration_load.py, kazoo): sessions spread over the
#      three members write (each acknowledged write recorded), read, hold ephemerals and
#      keep data watches armed (restored with SetWatches after each reconnect).
#   3. Each member in turn, followers first and the leader last, is stopped (SIGTERM) and
#      the replacement started on the same zoo.cfg: same dataDir, dataLogDir, myid and ports.
#      Before the next one: the ensemble has one leader and two followers again and the new
#      member's zxid (srvr) has reached the leader's; then the load checks that every
#      watcher saw every change so far (a checkpoint).
#   4. The same back: each member replaced by Apache ZooKeeper again, followers first.
#   5. The load stops and checks every member: every acknowledged write present (value and
#      version), every session alive with its id and its ephemeral, no client saw worse than
#      ConnectionLoss (no expired session), no watch lost.
#   Prints: acknowledged=N lost=N sessions_expired=N watches_lost=N (and more counters),
#   and, for the record, how the members synced (DIFF/SNAP/TRUNC, from their logs) and how
#   often an Apache learner's sync failed with ZooKeeper 3.8's own NullPointerException
#   (ZOOKEEPER-4394), by the kind of leader it synced with. Under an Apache leader that is
#   Apache's behaviour (the learner retries); under a corral leader it fails the run
#   (corral sends uncommitted txns after NEWLEADER so that it cannot happen).
#   Exit 0 only when lost, sessions_expired, watches_lost (and errors, stale_reads) are 0.
#
#   --replacement zookeeper replaces every member by Apache ZooKeeper both ways: an
#   all-Apache rolling restart under the same load, to tell Apache's own behaviour apart.
#
# Environment:
#   CORRAL_BIN=path              the corral binary (default release/corral of cargo's target
#                                dir, built when missing; scripts/lib.sh corral_bin)
#   PYTHON=...                   python with kazoo (default target/interop-venv/bin/python,
#                                made from tests/interop/requirements.txt when missing)
#   MIGRATION_SESSIONS=6         load sessions (2 per member)
#   MIGRATION_SETTLE_S=4         seconds the load runs after each replacement has synced
#   MIGRATION_DOWN_S=2           seconds each member stays stopped before its replacement
#                                starts: it comes back hundreds of txns behind, past the
#                                leader's in-memory window (commitLogCount, 500), so syncs
#                                by SNAP (or a DIFF read from the leader's log) happen too
#   MIGRATION_STOP=term          how a member is stopped: term (SIGTERM, then SIGKILL after
#                                10 s) or kill (SIGKILL at once: a crash, whatever the
#                                member had not written yet is gone)
#   MIGRATION_ZOO_CFG_EXTRA='k=v ...'  extra zoo.cfg lines for every member (e.g.
#                                forceSnapshotSync=true: every learner synced by SNAP)
#   MIGRATION_KEEP=1             keep the temp dir (configs, data, member logs, load log)
#   ENSEMBLE_WAIT_S=90           hang guard of every wait (never a timed assertion)
#   JAVA=java ZK_JAR_DIR=/usr/share/java
#
# Only processes this script started are signalled (by pid).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
REPLACEMENT=corral
while [ $# -gt 0 ]; do
  case $1 in
    --replacement) [ $# -ge 2 ] || usage; REPLACEMENT=$2; shift 2 ;;
    *) usage ;;
  esac
done
case $REPLACEMENT in corral | zookeeper) ;; *) usage ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
CORRAL=$(corral_bin "$ROOT")
if [ -z "${PYTHON:-}" ]; then
  PYTHON=$ROOT/target/interop-venv/bin/python
  if ! "$PYTHON" -c 'import kazoo' 2>/dev/null; then
    echo "==> migration: making target/interop-venv (kazoo)"
    python3 -m venv "$ROOT/target/interop-venv"
    "$ROOT/target/interop-venv/bin/pip" install --quiet --disable-pip-version-check \
      -r "$ROOT/tests/interop/requirements.txt"
  fi
fi
NAME=migration
KEEP_VAR=MIGRATION_KEEP
# shellcheck source=tests/interop/ensemble/common.sh
. "$ROOT/tests/interop/ensemble/common.sh"
for f in "$JAR_DIR/zookeeper.jar" "$JAR_DIR/slf4j-simple.jar"; do
  [ -r "$f" ] || fail "$f missing (Debian's zookeeper package: apt-get install zookeeper libslf4j-java)"
done
command -v "$JAVA" >/dev/null || fail "no $JAVA (default-jre-headless)"
SETTLE_S=${MIGRATION_SETTLE_S:-4}
DOWN_S=${MIGRATION_DOWN_S:-2}

read -r -a P <<<"$(distinct_free_ports 9)"
C=("" "${P[0]}" "${P[1]}" "${P[2]}")
Q=("" "${P[3]}" "${P[4]}" "${P[5]}")
E=("" "${P[6]}" "${P[7]}" "${P[8]}")

write_cfg() {  # N -> $WORK/mN/zoo.cfg, with MIGRATION_ZOO_CFG_EXTRA's lines
  # shellcheck disable=SC2086 # MIGRATION_ZOO_CFG_EXTRA is a list of key=value words
  mixed_member_cfg "$1" ${MIGRATION_ZOO_CFG_EXTRA:-}
}

# start_as NAME KIND - member NAME (mN) as KIND (zookeeper|corral) on $WORK/mN/zoo.cfg; both
# kinds append to $WORK/mN.log.
start_as() {
  local name=$1 cfg=$WORK/$1/zoo.cfg
  echo "==== $(date -u +%T) starting $name as $2" >>"$WORK/$name.log"
  case $2 in
    zookeeper) java_member "$name" "$cfg" ;;
    corral) start_member "$name" corral "${C[${name#m}]}" "$WORK/$name.log" "$WORK" \
      "$CORRAL" serve --config "$cfg" ;;
  esac
}

zxid_of() {  # member -> its srvr Zxid as a decimal number, or nothing
  local z
  z=$(srvr "${CPORT[$1]}" | sed -n 's/^Zxid: 0x//p')
  [ -n "$z" ] && echo $((16#$z))
}

# wait_caught_up NAME - until NAME's zxid reaches the leader's as it was when NAME first
# followed (the load keeps writing, so later zxids do not matter here).
wait_caught_up() {
  local target z deadline=$((SECONDS + WAIT_S))
  target=$(zxid_of "$LEADER")
  [ -n "$target" ] || fail "the leader $LEADER gave no zxid"
  while :; do
    z=$(zxid_of "$1")
    [ -n "$z" ] && [ "$z" -ge "$target" ] && break
    alive "$1" || fail "$1 exited (see ${LOG[$1]})"
    [ "$SECONDS" -lt "$deadline" ] || fail "hang guard: $1 at zxid ${z:-?} < $target after ${WAIT_S}s"
    sleep 0.2
  done
  printf '    %s caught up: zxid 0x%x >= the leader'\''s 0x%x\n' "$1" "$z" "$target"
}

LOAD=$WORK/load
CHECKPOINT=0
LOAD_PID=""
# checkpoint - the load checks every watcher saw every change so far (see the load's doc).
checkpoint() {
  CHECKPOINT=$((CHECKPOINT + 1))
  touch "$LOAD/checkpoint-$CHECKPOINT"
  wait_client_file "$LOAD_PID" "$LOAD/checkpoint-$CHECKPOINT.done" "checkpoint $CHECKPOINT"
  echo "    $(cat "$LOAD/checkpoint-$CHECKPOINT.done")"
}

# npe_tally KIND - Apache learner syncs that failed on ZOOKEEPER-4394's NullPointerException
# since the last tally, counted against a leader of KIND (the leader of that interval: a
# follower's replacement keeps the leader; a leader's replacement elects one of the kind
# already replaced, and Apache members sync with nothing else meanwhile).
declare -A NPE_UNDER=([zookeeper]=0 [corral]=0)
NPE_SEEN=0
npe_tally() {
  local n
  n=$(cat "$WORK"/m[123].log | grep -c 'NullPointerException: Cannot read field "hdr"' || true)
  NPE_UNDER[$1]=$((NPE_UNDER[$1] + n - NPE_SEEN))
  NPE_SEEN=$n
}

# replace NAME KIND - stop member NAME, start it as KIND in place, wait until it follows and
# has caught up, then a load checkpoint.
replace() {
  local name=$1 was=${KIND[$1]}
  npe_tally "${KIND[$LEADER]}"
  say "$(date -u +%T) replacing $name ($was, $(mode_of "$name")) by $2 in place"
  case ${MIGRATION_STOP:-term} in
    kill) kill9_member "$name" ;;
    *) stop_member "$name" ;;
  esac
  sleep "$DOWN_S"
  start_as "$name" "$2"
  wait_roles m1 m2 m3
  wait_caught_up "$name"
  checkpoint
  pass "$name: $was -> $2; the ensemble has a leader ($LEADER, ${KIND[$LEADER]}) and $name follows"
  sleep "$SETTLE_S"
}

# pass_to KIND - replace every member by KIND: the followers first, then the leader.
pass_to() {
  local n order=()
  for n in m1 m2 m3; do [ "$n" = "$LEADER" ] || order+=("$n"); done
  order+=("$LEADER")
  say "to $1, in the order ${order[*]} (followers first, the leader $LEADER last)"
  for n in "${order[@]}"; do replace "$n" "$1"; done
}

for i in 1 2 3; do write_cfg "$i"; done
say "$(date -u +%T) three Apache ZooKeeper 3.8 members"
for i in 1 2 3; do start_as "m$i" zookeeper; done
wait_roles m1 m2 m3

mkdir -p "$LOAD"
say "the client load ($WORK/load.log)"
"$PYTHON" "$ROOT/scripts/rolling_migration_load.py" \
  --members "$(addr m1),$(addr m2),$(addr m3)" --dir "$LOAD" \
  --sessions "${MIGRATION_SESSIONS:-6}" >"$WORK/load.log" 2>&1 &
LOAD_PID=$!
CLEANUP_PIDS+=("$LOAD_PID")
wait_client_file "$LOAD_PID" "$LOAD/ready" "its sessions, ephemerals and watches"
sleep "$SETTLE_S"
checkpoint

pass_to "$REPLACEMENT"
pass_to zookeeper

say "$(date -u +%T) stopping the load; its checks on every member"
touch "$LOAD/stop"
rc=0
wait "$LOAD_PID" || rc=$?
grep -E '^load: (sessions_expired|watches_lost|errors|stale_reads|lost_detail):' \
  "$WORK/load.log" | head -n 20 || true
RESULT=$(cat "$LOAD/result" 2>/dev/null || true)
[ -n "$RESULT" ] || { tail -n 30 "$WORK/load.log"; fail "the load ended (exit $rc) without a result"; }
echo "$RESULT"
# sync_report - how learners were synced, and the Apache learner syncs that failed with
# ZooKeeper 3.8's NullPointerException by the leader's kind.
sync_report() {
  local logs=("$WORK"/m[123].log) kind n
  for kind in "Getting a diff" "Getting a snapshot" "Truncating log"; do
    n=$(cat "${logs[@]}" | grep -c "$kind" || true)
    printf '    learner syncs "%s": %s\n' "$kind" "$n"
  done
  npe_tally "${KIND[$LEADER]}"
  echo "    Apache learner syncs failed on ZOOKEEPER-4394's NullPointerException:" \
    "${NPE_UNDER[zookeeper]} under an Apache leader (ZooKeeper's own), ${NPE_UNDER[corral]} under a corral leader"
}
sync_report
[ "${NPE_UNDER[corral]}" -eq 0 ] \
  || fail "an Apache learner's sync with a corral leader failed (ZOOKEEPER-4394): a COMMIT" \
    "between NEWLEADER and UPTODATE for a PROPOSAL sent before NEWLEADER"
[ "$rc" -eq 0 ] || fail "the rolling migration lost something (see above; load log $WORK/load.log)"
pass "rolling migration zookeeper -> $REPLACEMENT -> zookeeper: nothing acknowledged lost," \
  "no session expired, no watch lost"
