#!/usr/bin/env bash
# ensemble_script_check.sh - scripts/ensemble.sh start|stop|status, run for real on
# conf/ensemble-3, in a scratch copy of the repository layout (scripts/ensemble.sh,
# scripts/lib.sh, conf/ensemble-3/) so that its ./data/ lands in a temp dir.
#
# Usage: tests/interop/ensemble_script_check.sh CORRAL_BIN
#
#   status before start: exit 1, every member "not running"; start 1: node1 alone runs and
#   status says it does not serve (exit 1); start: exit 0, node1 "already running", two
#   STARTED, the myid files and pid files written; status (polled until every member serves, a hang
#   guard): exit 0, one "Mode: leader" and two "Mode: follower" lines; a second start: exit 0,
#   "already running"; writes through each member are read through every other
#   (ensclient.py mixed); stop N / start N of one member: the others keep serving, it
#   rejoins; stop: exit 0, every process gone, pid files removed; status: exit 1.
#
# Ports (ENSEMBLE_SCRIPT_PORTS):
#   free (default)  the scratch configs' ports are rewritten to free ones (what test.sh runs:
#                   nothing else on the host is disturbed, nothing is skipped)
#   seed            the seed's exact ports, 2181-2183, 2888-2890, 3888-3890: checked free
#                   first; when one is busy the check is skipped with the reason printed
#                   (exit 0). E.g. by hand:
#                   ENSEMBLE_SCRIPT_PORTS=seed tests/interop/ensemble_script_check.sh target/release/corral
#
# Environment: PYTHON, ENSEMBLE_WAIT_S (hang guard, default 90), ENSEMBLE_SCRIPT_KEEP=1 keeps
# the temp dir. Only the members this check started (through ensemble.sh's pid files) are
# stopped, by `ensemble.sh stop` in the scratch copy, on any exit.
set -euo pipefail

[ $# -eq 1 ] || { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
CORRAL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$CORRAL" ] || { echo "ensemble_script_check: $1 is not an executable" >&2; exit 2; }
NAME=ensemble-script
KEEP_VAR=ENSEMBLE_SCRIPT_KEEP
# shellcheck source=tests/interop/ensemble/common.sh
. "$(dirname "$0")/ensemble/common.sh"
EC="$PYTHON $HERE/ensclient.py"
PORTS_MODE=${ENSEMBLE_SCRIPT_PORTS:-free}

SCRATCH=$WORK/repo
mkdir -p "$SCRATCH/scripts"
cp "$REPO/scripts/ensemble.sh" "$REPO/scripts/lib.sh" "$SCRATCH/scripts/"
cp -r "$REPO/conf" "$SCRATCH/conf"
CONF=$SCRATCH/conf/ensemble-3
export CORRAL_BIN=$CORRAL
ENS=$SCRATCH/scripts/ensemble.sh

SEED_PORTS=(2181 2182 2183 2888 2889 2890 3888 3889 3890)
case $PORTS_MODE in
  seed)
    busy=()
    for p in "${SEED_PORTS[@]}"; do
      if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null \
        || ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
        busy+=("$p")
      fi
    done
    if [ ${#busy[@]} -gt 0 ]; then
      echo "SKIP: ensemble.sh on the seed's ports: 127.0.0.1 port(s) ${busy[*]} already in use" \
        "(run with ENSEMBLE_SCRIPT_PORTS=free, the default, to check it on free ports)"
      exit 0
    fi
    say "the seed's ports: clients 2181-2183, quorum 2888-2890, election 3888-3890"
    ;;
  free)
    read -r -a P <<<"$(distinct_free_ports 9)"
    for i in 1 2 3; do
      sed -i -e "s/^clientPort=218$i\$/clientPort=${P[$((i - 1))]}/" \
        -e "s/^server\.\([123]\)=127\.0\.0\.1:\(28[0-9][0-9]\):\(38[0-9][0-9]\)\$/server.\1=127.0.0.1:@q\1@:@e\1@/" \
        "$CONF/node$i/zoo.cfg"
      for j in 1 2 3; do
        sed -i -e "s/@q$j@/${P[$((j + 2))]}/" -e "s/@e$j@/${P[$((j + 5))]}/" "$CONF/node$i/zoo.cfg"
      done
      grep -qxF "clientPort=${P[$((i - 1))]}" "$CONF/node$i/zoo.cfg" \
        || fail "rewriting clientPort in node$i/zoo.cfg"
      [ "$(grep -c "^server\.[123]=127\.0\.0\.1:${P[3]}:${P[6]}\$\|^server\.[123]=127\.0\.0\.1:${P[4]}:${P[7]}\$\|^server\.[123]=127\.0\.0\.1:${P[5]}:${P[8]}\$" "$CONF/node$i/zoo.cfg")" = 3 ] \
        || fail "rewriting the server.N lines of node$i/zoo.cfg"
    done
    say "free ports (clients ${P[*]:0:3}); ENSEMBLE_SCRIPT_PORTS=seed runs the seed's own"
    ;;
  *) fail "ENSEMBLE_SCRIPT_PORTS=$PORTS_MODE: expected free or seed" ;;
esac
for i in 1 2 3; do
  CPORT[node$i]=$(sed -n 's/^clientPort=//p' "$CONF/node$i/zoo.cfg")
  KIND[node$i]=corral
done

# Whatever happens, the members this check started are stopped (ensemble.sh only signals the
# pids of its own pid files, and only while they are still its corral).
stop_scratch_ensemble() {
  if ls "$SCRATCH"/data/node*/corral.pid >/dev/null 2>&1; then
    ENSEMBLE_STOP_GRACE_S=10 "$ENS" stop >/dev/null 2>&1 || true
  fi
}
CLEANUP_HOOK=stop_scratch_ensemble

# shellcheck disable=SC2001 # a prefix on every line of a multi-line value
indent() { sed 's/^/    /' <<<"$1"; }

run_ens() {  # args... -> OUT and RC of `ensemble.sh args`, output echoed indented
  set +e
  OUT=$("$ENS" "$@" 2>&1)
  RC=$?
  set -e
  echo "  \$ scripts/ensemble.sh $* -> exit $RC"
  indent "$OUT"
}

expect_rc() {  # want what
  [ "$RC" = "$1" ] || fail "$2: exit $RC, expected $1"
}

# status_until LEADERS FOLLOWERS - polls `ensemble.sh status` until it shows that many
# "Mode: leader" and "Mode: follower" lines; hang guard ENSEMBLE_WAIT_S.
status_until() {
  local deadline=$((SECONDS + WAIT_S))
  while :; do
    set +e
    OUT=$("$ENS" status 2>&1)
    RC=$?
    set -e
    count_modes
    [ "$LEADERS" = "$1" ] && [ "$FOLLOWERS" = "$2" ] && break
    [ "$SECONDS" -lt "$deadline" ] || { echo "$OUT"; fail "hang guard: status did not show $1 leader and $2 follower lines within ${WAIT_S}s"; }
    sleep 0.5
  done
  echo "  \$ scripts/ensemble.sh status -> exit $RC"
  indent "$OUT"
}

# status_until_serving N... - polls `ensemble.sh status` until it exits 0 (every member has
# a Mode line); hang guard ENSEMBLE_WAIT_S.
status_until_serving() {
  local deadline=$((SECONDS + WAIT_S))
  while :; do
    set +e
    OUT=$("$ENS" status "$@" 2>&1)
    RC=$?
    set -e
    [ "$RC" = 0 ] && break
    [ "$SECONDS" -lt "$deadline" ] || { echo "$OUT"; fail "hang guard: status did not show every member serving within ${WAIT_S}s"; }
    sleep 0.5
  done
  echo "  \$ scripts/ensemble.sh status $* -> exit 0"
  indent "$OUT"
}

count_modes() {  # -> LEADERS FOLLOWERS from OUT
  LEADERS=$(grep -c 'Mode: leader$' <<<"$OUT" || true)
  FOLLOWERS=$(grep -c 'Mode: follower$' <<<"$OUT" || true)
}

say "status before start"
run_ens status
expect_rc 1 "status with nothing running"
[ "$(grep -c '^node[123]: not running$' <<<"$OUT")" = 3 ] || fail "status before start: three 'not running' lines"

say "start 1: a member alone has no quorum"
run_ens start 1
expect_rc 0 "start 1"
grep -q '^node1: STARTED as process [0-9]*' <<<"$OUT" || fail "start 1: no STARTED line"
deadline=$((SECONDS + WAIT_S))
until grep -q '^node1: pid [0-9]*, client port [0-9]*, not serving requests' \
  <<<"$("$ENS" status 1 2>&1 || true)"; do
  [ "$SECONDS" -lt "$deadline" ] || { "$ENS" status 1 || true; fail "hang guard: status 1 never reported node1 alone as not serving"; }
  sleep 0.5
done
run_ens status 1
expect_rc 1 "status of a member alone"
pass "a member alone runs and does not serve; status says so and exits 1"

say "start (the two others)"
run_ens start
expect_rc 0 "start"
grep -q '^node1: already running as process' <<<"$OUT" || fail "start: node1 not 'already running'"
[ "$(grep -c '^node[23]: STARTED as process [0-9]*' <<<"$OUT")" = 2 ] || fail "start: two STARTED lines"
for i in 1 2 3; do
  [ "$(cat "$SCRATCH/data/node$i/data/myid")" = "$i" ] || fail "node$i: no myid file with $i in ./data/node$i/data"
  [ -s "$SCRATCH/data/node$i/corral.pid" ] || fail "node$i: no pid file"
  [ -d "$SCRATCH/data/node$i/log/version-2" ] || fail "node$i: no dataLogDir ./data/node$i/log"
done
pass "start: three members, each with its myid file, pid file, dataDir and dataLogDir"

say "status until every member serves"
status_until_serving
count_modes
if [ "$LEADERS" != 1 ] || [ "$FOLLOWERS" != 2 ]; then
  fail "status: $LEADERS leader and $FOLLOWERS follower lines"
fi
pass "status: one 'Mode: leader' and two 'Mode: follower' lines"

say "start again"
run_ens start
expect_rc 0 "a second start"
[ "$(grep -c '^node[123]: already running as process' <<<"$OUT")" = 3 ] || fail "a second start: three 'already running' lines"
pass "a second start leaves the running members alone"

say "clients through the members ensemble.sh started"
$EC mixed script "corral1=$(addr node1),corral2=$(addr node2),corral3=$(addr node3)" \
  || fail "client checks through the script's ensemble"
pass "writes through each member are read through every member"

status_until_serving
LEADER_NODE=$(sed -n 's/^\(node[123]\): .*Mode: leader$/\1/p' <<<"$OUT")
N=${LEADER_NODE#node}
say "stop $N (the leader), then start $N"
PID_N=$(cat "$SCRATCH/data/node$N/corral.pid")
run_ens stop "$N"
expect_rc 0 "stop $N"
grep -q "^node$N: stopped process $PID_N\$" <<<"$OUT" || fail "stop $N: no 'stopped process $PID_N' line"
! kill -0 "$PID_N" 2>/dev/null || fail "stop $N: process $PID_N still alive"
OTHERS=()
for i in 1 2 3; do [ "$i" = "$N" ] || OTHERS+=("$i"); done
status_until 1 1
expect_rc 1 "status with node$N stopped"
grep -q "^node$N: not running\$" <<<"$OUT" || fail "status: node$N not reported 'not running'"
pass "with node$N stopped the two others elect a leader; status exits 1 and names node$N"
run_ens start "$N"
expect_rc 0 "start $N"
status_until_serving
count_modes
if [ "$LEADERS" != 1 ] || [ "$FOLLOWERS" != 2 ]; then
  fail "status after restarting node$N: $LEADERS leader, $FOLLOWERS follower lines"
fi
grep -q "^node$N: .*Mode: follower\$" <<<"$OUT" || fail "node$N did not rejoin as a follower"
pass "node$N restarted by ensemble.sh rejoins as a follower"

say "stop"
PIDS=$(cat "$SCRATCH"/data/node*/corral.pid)
run_ens stop
expect_rc 0 "stop"
[ "$(grep -c '^node[123]: stopped process [0-9]*$' <<<"$OUT")" = 3 ] || fail "stop: three 'stopped process' lines"
for p in $PIDS; do ! kill -0 "$p" 2>/dev/null || fail "stop: process $p still alive"; done
! ls "$SCRATCH"/data/node*/corral.pid >/dev/null 2>&1 || fail "stop: pid files left behind"
run_ens status
expect_rc 1 "status after stop"
[ "$(grep -c '^node[123]: not running$' <<<"$OUT")" = 3 ] || fail "status after stop: three 'not running' lines"
run_ens stop
expect_rc 0 "stop with nothing running"
pass "stop: every member gone, pid files removed; status exits 1; a second stop exits 0"
say "all ensemble.sh checks passed ($PORTS_MODE ports)"
