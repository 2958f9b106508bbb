#!/usr/bin/env bash
# cli_diff.sh - `corral cli` and Apache's zkCli side by side: the same script through both,
# against the same running server, and the two transcripts diffed.
#
# The script is the README's seed walkthrough (one-shot commands, a live session holding an
# ephemeral node and a data watch fired from a second client, ephemeral-sequential election
# candidates in two sessions) and then every zkCli command once, with its error cases, in
# piped sessions (create/get/set/stat/ls/delete/deleteall/getAcl/setAcl/addauth/sync/addWatch/
# removewatches/getEphemerals/getAllChildrenNumber/whoami/config/connect/close/history/redo/
# printwatches/quit). Each client runs chrooted under a fresh node of its own, so both start
# from the same empty tree. One-shot exit codes are part of the transcript.
#
# Before the diff both transcripts lose what differs by nature: banners (`Connecting to`,
# `Welcome to ZooKeeper!`, `JLine support is ...`), the connected event (`WATCHER::` /
# `WatchedEvent state:SyncConnected type:None path:null`, which zkCli prints from another
# thread at a moment of its own), blank lines, each client's chroot name, timestamps
# (ctime/mtime), hex numbers (zxids, session ids) and the JVM's stack frames under an uncaught
# exception; watch events (zkCli prints them from another thread) are compared in their order
# at the end of each one-shot's or session's part. Piped sessions print no prompt.
#
# Usage: cli_diff.sh [CORRAL_BINARY]   (default: corral_bin from scripts/lib.sh)
# Environment:
#   ZK_HOSTS=host:port   server under test (required)
#   CLI_DIFF_WAIT_S=60   hang guard of every wait
#   JAVA=java  ZKCLI_CP=<classpath>   how to run Apache's zkCli
#   CLI_DIFF_KEEP=1      keep the transcripts (printed path) after a pass
set -euo pipefail

: "${ZK_HOSTS:?set ZK_HOSTS=host:port of the server under test}"
cd "$(dirname "$0")/../.."
. scripts/lib.sh
CORRAL=${1:-$(corral_bin "$(pwd)")}
WAIT_S=${CLI_DIFF_WAIT_S:-60}
JAVA=${JAVA:-java}
ZKCLI_CP=${ZKCLI_CP:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar}
[ -r "${ZKCLI_CP%%:*}" ] || { echo "cli_diff: ${ZKCLI_CP%%:*} not found (apt-get install zookeeper)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/cli-diff.XXXXXX)
declare -A SESSION_PID=() SESSION_FD=() SESSION_MARKS=()
CLIENT=""
BASE=""
OUT=""

log() { echo "cli-diff: $*"; }

client_cmd() {  # the command line of $CLIENT, without arguments
  case $CLIENT in
    zkcli) echo "$JAVA -Xmx128m -cp $ZKCLI_CP org.apache.zookeeper.ZooKeeperMain" ;;
    corral) echo "$CORRAL cli" ;;
  esac
}

oneshot() {  # args... : a one-shot command in the chroot; its output and exit code go to $OUT
  local rc=0
  echo "## oneshot: $*" >>"$OUT"
  # shellcheck disable=SC2046 # the client command is a list of words on purpose
  timeout "$WAIT_S" $(client_cmd) -server "$ZK_HOSTS$BASE" "$@" </dev/null >>"$OUT" 2>&1 || rc=$?
  echo "## rc=$rc" >>"$OUT"
}

fail() {
  echo "cli-diff: FAIL ($CLIENT): $*" >&2
  local f
  for f in "$WORK"/*.out; do
    [ -e "$f" ] || continue
    echo "---- $f (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

session_start() {  # name
  local name=$1 fifo="$WORK/$CLIENT-$1.in" fd
  mkfifo "$fifo"
  # shellcheck disable=SC2046
  $(client_cmd) -server "$ZK_HOSTS$BASE" <"$fifo" >"$WORK/$CLIENT-$name.out" 2>&1 &
  SESSION_PID[$name]=$!
  exec {fd}>"$fifo"
  SESSION_FD[$name]=$fd
  SESSION_MARKS[$name]=0
}

# session_send name line: sends the line, then `sync /` as a marker, and waits for the marker's
# answer (or "Not connected"): the line's own output, and every event the server sent before
# the marker's reply, is then in the transcript.
session_send() {
  local name=$1
  printf '%s\nsync /\n' "$2" >&"${SESSION_FD[$name]}"
  SESSION_MARKS[$name]=$((SESSION_MARKS[$name] + 1))
  session_wait "$name" '^(Sync is OK|Not connected)$' "${SESSION_MARKS[$name]}" "the marker after '$2'"
}

session_wait() {  # name regex min-count what
  local name=$1 want=$2 count=$3 what=$4 deadline=$((SECONDS + WAIT_S)) n
  while :; do
    n=$(grep -cE -- "$want" "$WORK/$CLIENT-$name.out" 2>/dev/null || true)
    [ "${n:-0}" -ge "$count" ] && return 0
    kill -0 "${SESSION_PID[$name]}" 2>/dev/null || fail "session $name exited while waiting for $what"
    [ "$SECONDS" -ge "$deadline" ] && fail "no '$want' (x$count) from session $name within ${WAIT_S}s: $what"
    sleep 0.05
  done
}

session_stop() {  # name: quit, wait for the exit, append the transcript and the exit code
  local name=$1 pid=${SESSION_PID[$1]} fd=${SESSION_FD[$1]} deadline=$((SECONDS + WAIT_S)) rc=0
  printf 'quit\n' >&"$fd" 2>/dev/null || true
  exec {fd}>&-
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && { kill "$pid" 2>/dev/null || true; }
  wait "$pid" 2>/dev/null || rc=$?
  { echo "## session $name"; cat "$WORK/$CLIENT-$name.out"; echo "## session $name rc=$rc"; } >>"$OUT"
  unset "SESSION_PID[$name]" "SESSION_FD[$name]"
}

cleanup() {
  local name
  for name in "${!SESSION_PID[@]}"; do kill "${SESSION_PID[$name]}" 2>/dev/null || true; done
  for b in "$WORK"/base.*; do
    [ -e "$b" ] || continue
    timeout "$WAIT_S" "$CORRAL" cli -server "$ZK_HOSTS" deleteall "$(cat "$b")" >/dev/null 2>&1 </dev/null || true
  done
  if [ "${CLI_DIFF_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; else log "transcripts kept in $WORK"; fi
}
trap cleanup EXIT

walkthrough() {
  oneshot create /config
  oneshot create /config/database "postgres://db:5432/app"
  oneshot get /config/database
  session_start s1
  session_send s1 'create -e /config/ephemeral "gone when I leave"'
  oneshot ls /config
  session_send s1 'get -w /config/database'
  oneshot set /config/database "postgres://db2:5432/app"
  session_wait s1 'WatchedEvent state:SyncConnected type:NodeDataChanged path:/config/database' 1 "the data watch"
  session_stop s1
  oneshot ls /config
  oneshot stat /config/ephemeral
  oneshot create /election
  session_start e1
  session_send e1 'create -e -s /election/n_ "candidate-a"'
  session_start e2
  session_send e2 'create -e -s /election/n_ "candidate-b"'
  session_send e2 'stat -w /election/n_0000000000'
  oneshot ls /election
  session_stop e1
  session_wait e2 'WatchedEvent state:SyncConnected type:NodeDeleted path:/election/n_0000000000' 1 "the leader's node deleted"
  session_stop e2
  oneshot ls /election
}

every_command() {
  oneshot create -t 3600000 /ttl
  oneshot create -c /container
  oneshot get /nope
  oneshot nosuchcommand
  oneshot create
  oneshot set -v x /config/database y
  session_start c
  local line
  while IFS= read -r line; do
    session_send c "$line"
  done <<'LINES'
create /c "hello world"
create /c
create -s /c/seq- one
create -e /c/eph
create /c/eph/child
create -c -e /x
create -t abc /x
create -t 100 -e /x
create relative
create /c/acl data world:anyone:cdrwa,nonsense
get -s /c
get /c/seq-0000000000
get
get /c extra
set -s /c "new data"
set -v 99 /c stale
set /missing data
set -x /c d
stat /c
stat -w /missing
create /missing
ls -s /c
ls -R /c
ls /c/
ls
getAcl -s /c
setAcl -s /c world:anyone:cdrwa
setAcl /c nonsense
setAcl -R /c world:anyone:cdrwa
getEphemerals
getEphemerals /c
getAllChildrenNumber /c
getAllChildrenNumber
whoami
addauth digest user:secret
whoami
create /c/mine data auth::cdrwa
getAcl /c/mine
delete /c/mine
config
sync /c
addWatch /c
addWatch -m PERSISTENT /c/seq-0000000000
addWatch -m bogus /c
set /c/seq-0000000000 touched
create /c/under-recursive
removewatches /c
removewatches /c
get -w /c
ls -w /c
removewatches /c -d
removewatches /c -c
delete -v 9 /c/acl
delete /c/acl
delete /c
delete /missing
deleteall /c/eph
printwatches
printwatches off
printwatches
set /c/seq-0000000000 unseen
printwatches on
history
redo 3
redo 999
foo
close
ls /
connect
ls /c
LINES
  session_stop c
  oneshot deleteall /c
  oneshot ls /
}

run_client() {  # client name: the whole script through it, transcript in $WORK/$1.txt
  CLIENT=$1
  OUT=$WORK/$CLIENT.txt
  : >"$OUT"
  BASE="/corral-clidiff-$$-$CLIENT-$(date +%s)"
  echo "$BASE" >"$WORK/base.$CLIENT"
  local out
  out=$(timeout "$WAIT_S" "$CORRAL" cli -server "$ZK_HOSTS" create "$BASE" 2>&1 </dev/null || true)
  grep -qxF "Created $BASE" <<<"$out" || fail "could not create the chroot node $BASE: $out"
  log "$CLIENT under $ZK_HOSTS$BASE"
  walkthrough
  every_command
}

normalize() {  # file base
  # A JVM's uncaught exception is followed by its stack: zkCli's first line is compared.
  grep -vE '^(Connecting to .*|Welcome to ZooKeeper!|JLine support is .*|WATCHER::|WatchedEvent state:SyncConnected type:None path:null|SLF4J: .*|	at .*|	\.\.\. [0-9]+ more|)$' "$1" \
    | sed -E -e "s#$2#<BASE>#g" -e 's/^([cm]time = ).*/\1<TIME>/' -e 's/0x[0-9a-f]+/0x<N>/g' \
    | awk '
      # zkCli prints watch events from its event thread, racing the main thread: events are
      # compared in their order, at the end of their transcript section, not in place.
      /^## / { for (i = 1; i <= n; i++) print ev[i]; n = 0; print; next }
      /^WatchedEvent / { ev[++n] = $0; next }
      { print }
      END { for (i = 1; i <= n; i++) print ev[i] }'
}

run_client zkcli
run_client corral
normalize "$WORK/zkcli.txt" "$(cat "$WORK/base.zkcli")" >"$WORK/zkcli.norm"
normalize "$WORK/corral.txt" "$(cat "$WORK/base.corral")" >"$WORK/corral.norm"
if ! diff -u "$WORK/zkcli.norm" "$WORK/corral.norm" >"$WORK/diff.txt"; then
  echo "cli-diff: FAIL: corral cli's transcript differs from zkCli's (- zkCli, + corral cli):" >&2
  cat "$WORK/diff.txt" >&2
  CLI_DIFF_KEEP=1
  exit 1
fi
log "PASS: $(grep -c '^## oneshot' "$WORK/zkcli.txt") one-shot commands and $(grep -c '^## session .* rc=' "$WORK/zkcli.txt") sessions, $(wc -l <"$WORK/zkcli.norm") lines alike"
