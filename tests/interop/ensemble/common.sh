# shellcheck shell=bash
# common.sh - what ensemble_check.sh, mixed_check.sh and ensemble_script_check.sh share
# (sourced, never run): one temp dir, the member processes they start (by pid, and only
# those), srvr, waits that are hang guards only, and cleanup on any exit.
#
# The sourcing script sets NAME (the temp dir's and messages' prefix) before sourcing, and
# may set KEEP_VAR (the name of an environment variable that, when 1, keeps the temp dir).
#
# Environment:
#   ENSEMBLE_WAIT_S=90   hang guard of every wait (a member to serve, a role to appear)
#   JAVA=java            ZK_JAR_DIR=/usr/share/java   how Apache ZooKeeper members run

: "${NAME:?set NAME before sourcing common.sh}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INTEROP=$(cd "$HERE/.." && pwd)
REPO=$(cd "$INTEROP/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
PYTHON=${PYTHON:-$REPO/target/interop-venv/bin/python}
WAIT_S=${ENSEMBLE_WAIT_S:-90}
export ENSEMBLE_WAIT_S=$WAIT_S
JAVA=${JAVA:-java}
JAR_DIR=${ZK_JAR_DIR:-/usr/share/java}
ZK_SERVER_CP=$JAR_DIR/zookeeper.jar:$JAR_DIR/slf4j-simple.jar
ZKCLI_CP=${ZKCLI_CP:-$JAR_DIR/zookeeper.jar:$JAR_DIR/slf4j-nop.jar}
export ZKCLI_CP JAVA

if ! "$PYTHON" -c 'import kazoo' 2>/dev/null; then
  echo "==> $NAME: $PYTHON cannot import kazoo: run scripts/test.sh (its deps step makes" \
    "target/interop-venv) or set PYTHON" >&2
  exit 2
fi

WORK=$(mktemp -d "/tmp/corral-$NAME.XXXXXX")
declare -A PID=() LOG=() KIND=() CPORT=()
FAILED=0
KNOWN_FAILURES=()

say() { echo "==> $NAME: $*"; }
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  FAILED=1
  exit 1
}
# known_failure WHAT WHY - a check that fails against corral for a reported reason: printed
# (and listed again at the end), not counted as a failure.
known_failure() {
  echo "KNOWN FAILURE: $1 -- $2"
  KNOWN_FAILURES+=("$1 -- $2")
}

# collect_known_failures FILE - known failures a client recorded (lines WHAT<TAB>WHY).
collect_known_failures() {
  local what why
  [ -s "$1" ] || return 0
  while IFS=$'\t' read -r what why; do
    KNOWN_FAILURES+=("$what -- $why")
  done <"$1"
  : >"$1"
}

# distinct_free_ports N - N free ports, all different (the kernel may hand one out twice
# when each socket is closed before the next bind).
distinct_free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

srvr() {  # port -> the `srvr` answer, or nothing
  four_letter srvr "$1"
}

mode_of() {  # member -> leader | follower | standalone | '' (not serving or not answering)
  srvr "${CPORT[$1]}" | sed -n 's/^Mode: //p'
}

alive() { [ -n "${PID[$1]:-}" ] && kill -0 "${PID[$1]}" 2>/dev/null; }

# start_member NAME KIND PORT LOGFILE CWD CMD... - starts CMD in CWD in the background,
# stdout and stderr appended to LOGFILE; records its pid as member NAME.
start_member() {
  local name=$1 kind=$2 port=$3 log=$4 cwd=$5
  shift 5
  (cd "$cwd" && exec "$@") >>"$log" 2>&1 </dev/null &
  PID[$name]=$!
  LOG[$name]=$log
  KIND[$name]=$kind
  CPORT[$name]=$port
  say "started $name ($kind) pid ${PID[$name]}, client port $port, log $log"
}

# java_member NAME CFG - Apache ZooKeeper 3.8 (Debian's jar) as a quorum member.
java_member() {
  local name=$1 cfg=$2 port
  port=$(sed -n 's/^clientPort=//p' "$cfg")
  start_member "$name" zookeeper "$port" "$WORK/$name.log" "$WORK" \
    "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dzookeeper.log.dir="$WORK" \
    -Djava.net.preferIPv4Stack=true \
    -cp "$ZK_SERVER_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
}

stop_member() {  # name: TERM, then KILL after 10s; only the pid this script started
  local name=$1 pid=${PID[$1]:-}
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  PID[$name]=""
}

kill9_member() {  # name
  local pid=${PID[$1]}
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  PID[$1]=""
  say "killed $1 (pid $pid) with SIGKILL"
}

# wait_serving NAME... - until each answers srvr with a Mode line (hang guard).
wait_serving() {
  local deadline=$((SECONDS + WAIT_S)) n pending
  while :; do
    pending=""
    for n in "$@"; do
      alive "$n" || fail "$n exited (see ${LOG[$n]})"
      [ -n "$(mode_of "$n")" ] || pending="$pending $n"
    done
    [ -z "$pending" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || fail "hang guard: not serving after ${WAIT_S}s:$pending"
    sleep 0.2
  done
}

# shellcheck disable=SC2034 # LEADER is for the sourcing script
# wait_roles NAME... - until exactly one of them says leader and all others follower
# (hang guard); prints the roles and sets LEADER.
wait_roles() {
  local deadline=$((SECONDS + WAIT_S)) n m leaders followers line
  while :; do
    leaders=() followers=0 line=""
    for n in "$@"; do
      alive "$n" || fail "$n exited (see ${LOG[$n]})"
      m=$(mode_of "$n")
      line="$line $n=${m:-not-serving}"
      case "$m" in
        leader) leaders+=("$n") ;;
        follower) followers=$((followers + 1)) ;;
      esac
    done
    if [ ${#leaders[@]} -eq 1 ] && [ $((followers + 1)) -eq $# ]; then
      LEADER=${leaders[0]}
      roles "$@"
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "hang guard: no one leader and $(($# - 1)) followers after ${WAIT_S}s:$line"
    sleep 0.2
  done
}

roles() {  # NAME... - prints each member's kind and srvr Mode
  local n
  for n in "$@"; do
    echo "    role: $n (${KIND[$n]}, 127.0.0.1:${CPORT[$n]}): Mode: $(mode_of "$n")"
  done
}

addr() { echo "127.0.0.1:${CPORT[$1]}"; }

# wait_client_file PID FILE WHAT - until the client process PID writes FILE (hang guard);
# fails when the client exits first.
wait_client_file() {
  local deadline=$((SECONDS + 3 * WAIT_S))
  until [ -e "$2" ]; do
    kill -0 "$1" 2>/dev/null || { wait "$1" || true; fail "the client exited before $3"; }
    [ "$SECONDS" -lt "$deadline" ] || fail "hang guard: the client did not get to $3"
    sleep 0.2
  done
}

show_logs() {
  local f
  for f in "$WORK"/*.log "$WORK"/*/*.log; do
    [ -s "$f" ] || continue
    echo "---- last 30 lines of $f"
    tail -n 30 "$f" || true
  done
}

# Extra cleanup a script may add: pids of helpers it started (a client), and a function
# (CLEANUP_HOOK) run first.
CLEANUP_PIDS=()
CLEANUP_HOOK=""

on_exit() {
  local rc=$? n p
  if [ -n "${CLEANUP_HOOK:-}" ]; then "$CLEANUP_HOOK" || true; fi
  for p in "${CLEANUP_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for n in "${!PID[@]}"; do stop_member "$n"; done
  if [ "$rc" -ne 0 ]; then
    [ "$FAILED" = 1 ] || echo "FAIL: $NAME stopped early (exit $rc)"
    show_logs
  fi
  if [ ${#KNOWN_FAILURES[@]} -gt 0 ]; then
    echo "==> $NAME: ${#KNOWN_FAILURES[@]} known failure(s) against corral:"
    printf '    %s\n' "${KNOWN_FAILURES[@]}"
  fi
  if [ "${!KEEP_VAR:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
KEEP_VAR=${KEEP_VAR:-ENSEMBLE_KEEP}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# mixed_member_cfg N [KEY=VALUE...] - writes $WORK/mN/zoo.cfg, and the myid file in its
# dataDir, for member N of a 3-member ensemble on the client, quorum and election ports in the
# arrays C, Q and E (indexed from 1), in the one shape both Apache ZooKeeper and corral read;
# each KEY=VALUE is one more line.
mixed_member_cfg() {
  local i=$1 d=$WORK/m$1
  mkdir -p "$d/data" "$d/log"
  echo "$i" >"$d/data/myid"
  cat >"$d/zoo.cfg" <<EOF
tickTime=200
initLimit=50
syncLimit=25
dataDir=$d/data
dataLogDir=$d/log
clientPort=${C[$i]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
maxSessionTimeout=60000
4lw.commands.whitelist=*
admin.enableServer=false
autopurge.purgeInterval=0
server.1=127.0.0.1:${Q[1]}:${E[1]}
server.2=127.0.0.1:${Q[2]}:${E[2]}
server.3=127.0.0.1:${Q[3]}:${E[3]}
EOF
  shift
  local kv
  for kv in "$@"; do echo "$kv" >>"$d/zoo.cfg"; done
}
