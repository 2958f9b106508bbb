#!/usr/bin/env bash
# zkcli_walkthrough.sh - the README seed walkthrough, typed into Apache's zkCli.
#
# Drives org.apache.zookeeper.ZooKeeperMain (Debian package `zookeeper`) against ZK_HOSTS:
# one-shot commands for setup and checks, and long-running interactive sessions fed
# through fifos where the walkthrough needs a live session (an ephemeral node, a pending
# watch, election candidates). Exits non-zero with a message on the first mismatch.
#
# Environment:
#   ZK_HOSTS=host:port   server under test (required)
#   ZK_WALK_AT_ROOT=1    run at the real root (/config, /election); the caller vouches the
#                        server is empty. Otherwise the walkthrough runs chrooted under a
#                        fresh /corral-zkcli-* node, which it removes afterwards.
#   ZK_WALK_WAIT_S=60    how long to wait for any expected output
#   JAVA=/usr/bin/java   ZKCLI_CP=<classpath>   how to run Apache's zkCli
#   ZKCLI="cmd args"     run this zkCli instead (split into words; the walkthrough appends
#                        -server ZK_HOSTS and the command), e.g.
#                        ZKCLI="docker exec -i zookeeper bin/zkCli.sh" ZK_HOSTS=localhost:2181
set -euo pipefail

: "${ZK_HOSTS:?set ZK_HOSTS=host:port of the server under test}"
WAIT_S=${ZK_WALK_WAIT_S:-60}
JAVA=${JAVA:-java}
# zookeeper.jar's manifest pulls in jline, netty, jute, ...; slf4j-nop silences logging.
ZKCLI_CP=${ZKCLI_CP:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar}
if [ -n "${ZKCLI:-}" ]; then
  read -r -a ZKCLI_CMD <<<"$ZKCLI"
else
  [ -r "${ZKCLI_CP%%:*}" ] || { echo "zkcli_walkthrough: ${ZKCLI_CP%%:*} not found (apt-get install zookeeper)" >&2; exit 2; }
  ZKCLI_CMD=("$JAVA" -Xmx128m -cp "$ZKCLI_CP" org.apache.zookeeper.ZooKeeperMain)
fi

WORK=$(mktemp -d /tmp/zkcli-walk.XXXXXX)
declare -A SESSION_PID=() SESSION_FD=()
STEP=0

if [ "${ZK_WALK_AT_ROOT:-0}" = 1 ]; then
  BASE=""
else
  BASE="/corral-zkcli-$$-$(date +%s)"
fi
SERVER="${ZK_HOSTS}${BASE}"

log() { echo "zkcli-walkthrough: $*"; }

zkcli_oneshot() {  # server cmd args... -> prints zkCli's output
  local server=$1; shift
  timeout "$WAIT_S" "${ZKCLI_CMD[@]}" -server "$server" "$@" </dev/null 2>&1 || true
}

zk() { zkcli_oneshot "$SERVER" "$@"; }

fail() {
  echo "zkcli-walkthrough: FAIL at step $STEP: $*" >&2
  local f
  for f in "$WORK"/*.out; do
    [ -e "$f" ] || continue
    echo "---- $(basename "$f") (last 25 lines)" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}

step() { STEP=$((STEP + 1)); log "step $STEP: $*"; }

expect_line() {  # output expected-exact-line what
  local out=$1 want=$2 what=$3
  if ! grep -qxF -- "$want" <<<"$out"; then
    printf '%s\n' "$out" >"$WORK/oneshot-step$STEP.out"
    fail "$what: expected a line '$want'"
  fi
}

session_start() {  # name
  local name=$1 fifo="$WORK/$1.in" fd
  mkfifo "$fifo"
  "${ZKCLI_CMD[@]}" -server "$SERVER" <"$fifo" >"$WORK/$name.out" 2>&1 &
  SESSION_PID[$name]=$!
  exec {fd}>"$fifo"
  SESSION_FD[$name]=$fd
  session_wait "$name" 'WatchedEvent state:SyncConnected type:None path:null' 1 "session $name to connect"
}

session_send() {  # name command-line
  printf '%s\n' "$2" >&"${SESSION_FD[$1]}"
}

session_wait() {  # name exact-line min-count what
  local name=$1 want=$2 count=$3 what=$4 deadline=$((SECONDS + WAIT_S)) n
  while :; do
    n=$(grep -cxF -- "$want" "$WORK/$name.out" 2>/dev/null || true)
    [ "${n:-0}" -ge "$count" ] && return 0
    kill -0 "${SESSION_PID[$name]}" 2>/dev/null || fail "zkCli session $name exited while waiting for $what"
    [ "$SECONDS" -ge "$deadline" ] && fail "no line '$want' (x$count) from session $name within ${WAIT_S}s: $what"
    sleep 0.1
  done
}

session_stop() {  # name: `quit` closes the ZooKeeper session cleanly
  local name=$1 pid=${SESSION_PID[$1]} fd=${SESSION_FD[$1]} deadline=$((SECONDS + WAIT_S))
  printf 'quit\n' >&"$fd" 2>/dev/null || true
  exec {fd}>&-
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  unset "SESSION_PID[$name]" "SESSION_FD[$name]"
}

cleanup() {
  local name
  for name in "${!SESSION_PID[@]}"; do session_stop "$name"; done
  if [ -n "$BASE" ]; then
    zkcli_oneshot "$ZK_HOSTS" deleteall "$BASE" >/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "server $ZK_HOSTS${BASE:+ (chroot $BASE)}; zkCli: ${ZKCLI_CMD[*]}"
if [ -n "$BASE" ]; then
  out=$(zkcli_oneshot "$ZK_HOSTS" create "$BASE")
  expect_line "$out" "Created $BASE" "creating the chroot node"
fi

step "create /config"
expect_line "$(zk create /config)" "Created /config" "create /config"

step 'create /config/database "postgres://..."'
DB_URL="postgres://db:5432/app"
DB_URL2="postgres://db2:5432/app"
expect_line "$(zk create /config/database "$DB_URL")" "Created /config/database" "create /config/database"

step "get /config/database"
expect_line "$(zk get /config/database)" "$DB_URL" "get /config/database"

step "create -e /config/ephemeral in a live session"
session_start s1
session_send s1 'create -e /config/ephemeral "gone when I leave"'
session_wait s1 "Created /config/ephemeral" 1 "the ephemeral create"
out=$(zk stat /config/ephemeral)
grep -q '^ephemeralOwner = 0x0*[1-9a-f]' <<<"$out" || { printf '%s\n' "$out" >"$WORK/stat.out"; fail "stat /config/ephemeral shows no ephemeral owner"; }
expect_line "$(zk ls /config)" "[database, ephemeral]" "ls /config with the ephemeral"

step "get -w /config/database in session s1, set from a second zkCli"
session_send s1 "get -w /config/database"
session_wait s1 "$DB_URL" 1 "the watched get to print the data"
zk set /config/database "$DB_URL2" >/dev/null
session_wait s1 "WatchedEvent state:SyncConnected type:NodeDataChanged path:/config/database" 1 \
  "the data watch to fire in s1"
expect_line "$(zk get /config/database)" "$DB_URL2" "get after set"

step "the ephemeral vanishes when s1 quits"
session_stop s1
expect_line "$(zk ls /config)" "[database]" "ls /config after s1 closed"
expect_line "$(zk stat /config/ephemeral)" "Node does not exist: /config/ephemeral" "stat of the gone ephemeral"

step "ephemeral-sequential election under /election from two sessions"
expect_line "$(zk create /election)" "Created /election" "create /election"
session_start e1
session_send e1 'create -e -s /election/n_ "candidate-a"'
session_wait e1 "Created /election/n_0000000000" 1 "e1's candidate node"
session_start e2
session_send e2 'create -e -s /election/n_ "candidate-b"'
session_wait e2 "Created /election/n_0000000001" 1 "e2's candidate node"
expect_line "$(zk ls /election)" "[n_0000000000, n_0000000001]" "ls /election with two candidates"
expect_line "$(zk get /election/n_0000000000)" "candidate-a" "the leader's data"

step "the leader leaves; the runner-up is the only candidate"
session_send e2 "stat -w /election/n_0000000000"
session_wait e2 "ephemeralOwner = $(zk stat /election/n_0000000000 | sed -n 's/^ephemeralOwner = //p')" 1 \
  "e2's watch on the leader"
session_stop e1
session_wait e2 "WatchedEvent state:SyncConnected type:NodeDeleted path:/election/n_0000000000" 1 \
  "e2 to see the leader's node deleted"
expect_line "$(zk ls /election)" "[n_0000000001]" "ls /election after the leader left"
session_stop e2
expect_line "$(zk ls /election)" "[]" "ls /election after both left"

if [ -z "$BASE" ]; then
  zk deleteall /config >/dev/null
  zk deleteall /election >/dev/null
fi
log "PASS: $STEP steps"
