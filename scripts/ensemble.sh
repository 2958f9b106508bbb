#!/usr/bin/env bash
# ensemble.sh - start, stop and query the one-host 3-member ensemble of conf/ensemble-3/, as
# Apache ZooKeeper's zkServer.sh does for one server.
#
# Usage: scripts/ensemble.sh start|stop|status [N]
#   N (1, 2 or 3) acts on member N only; by default on every conf/ensemble-3/nodeN/zoo.cfg.
#
#   start   creates the member's dataDir and dataLogDir (read from its zoo.cfg) and its myid
#           file when missing, then starts `corral serve --config conf/ensemble-3/nodeN/zoo.cfg`
#           in the background, in a session of its own. A member whose recorded pid is alive
#           is left alone ("already running"); a myid file naming another id, or a port of the
#           member that something else listens on, stops the start of that member. After 2 s
#           a member that exited is reported FAILED TO START with the end of its log.
#           Exit 0 when every member asked for runs, 1 otherwise: unlike zkServer.sh, which
#           exits 1 for "already running", a repeated start succeeds.
#   stop    sends TERM to the pid recorded for the member, only if that process is still
#           `corral serve --config <that zoo.cfg>` started from this checkout, waits
#           $ENSEMBLE_STOP_GRACE_S seconds (default 10), then KILL. Removes the pid file.
#           Exit 0.
#   status  prints each member's pid and the Mode line of its `srvr` answer (leader or
#           follower), or that it does not serve requests yet (electing a leader or syncing
#           with it: a member without a quorum of the ensemble stays so). Exit 1 when a member
#           is not running or not serving, as zkServer.sh status does; right after a start the
#           election may still be under way: run status again.
#
# Files, per member N (./data/ is git-ignored):
#   ./data/nodeN/corral.pid   the pid of its corral
#   ./data/nodeN/corral.out   its stdout and stderr (appended across starts)
#   dataDir/myid              its id, N (dataDir and dataLogDir as its zoo.cfg says)
#
# Environment:
#   CORRAL_BIN=path           the corral binary; default release/corral of cargo's target
#                             directory ($CARGO_TARGET_DIR, else ./target), built with
#                             `cargo build --release --bin corral` when missing
#   ENSEMBLE_STOP_GRACE_S=10  seconds between TERM and KILL
#   RUST_LOG                  the members' log filter (default info)
#
# The script changes to the repository root first: the configs' paths are relative to it.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

CONF_DIR=conf/ensemble-3
GRACE_S=${ENSEMBLE_STOP_GRACE_S:-10}

die() { echo "ensemble: $*" >&2; exit 2; }

# cfg_value CFG KEY - the last value of KEY in CFG ('' when absent).
cfg_value() {
  sed -n "s/^[[:space:]]*$2[[:space:]]*[=:][[:space:]]*//p" "$1" | tail -n 1 | sed 's/[[:space:]]*$//'
}

member_cfg() { echo "$CONF_DIR/node$1/zoo.cfg"; }
member_dir() { echo "./data/node$1"; }
pid_file() { echo "$(member_dir "$1")/corral.pid"; }
out_file() { echo "$(member_dir "$1")/corral.out"; }

# all_members - the ids N of every conf/ensemble-3/nodeN/zoo.cfg, in order.
all_members() {
  local cfg
  for cfg in "$CONF_DIR"/node*/zoo.cfg; do
    [ -f "$cfg" ] || continue
    cfg=${cfg#"$CONF_DIR"/node}
    echo "${cfg%/zoo.cfg}"
  done | sort -n
}

# select_members [N] - sets IDS to the members to act on: N alone, or all of them.
select_members() {
  if [ -n "${1:-}" ]; then
    if ! [[ $1 =~ ^[0-9]+$ ]] || [ ! -f "$(member_cfg "$1")" ]; then
      die "no member $1 (members: $(all_members | tr '\n' ' '))"
    fi
    IDS=("$1")
  else
    mapfile -t IDS < <(all_members)
    [ ${#IDS[@]} -gt 0 ] || die "no $CONF_DIR/node*/zoo.cfg"
  fi
}

# running_pid N - prints the recorded pid of member N if that process is alive and is the
# corral this script started for N: `serve --config <its cfg>` among its arguments, and this
# checkout as its working directory. Fails otherwise.
running_pid() {
  local pf pid cfg
  pf=$(pid_file "$1")
  cfg=$(member_cfg "$1")
  [ -f "$pf" ] || return 1
  pid=$(tr -dc '0-9' <"$pf")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" \
    | awk -v cfg="$cfg" 'prev2 == "serve" && prev == "--config" && $0 == cfg { found = 1 }
                         { prev2 = prev; prev = $0 } END { exit !found }' || return 1
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$ROOT" ] || return 1
  echo "$pid"
}

# port_busy PORT - whether something accepts connections on 127.0.0.1:PORT.
port_busy() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# srvr PORT - the answer to the four-letter word srvr on 127.0.0.1:PORT ('' when none).
srvr() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf srvr >&3 && cat <&3" \
    2>/dev/null || true
}

# member_ports N - the client, quorum and election ports of member N, from its zoo.cfg.
member_ports() {
  local cfg line
  cfg=$(member_cfg "$1")
  line=$(cfg_value "$cfg" "server\\.$1")
  line=${line%%;*}
  echo "$(cfg_value "$cfg" clientPort) $(echo "$line" | cut -d: -f2) $(echo "$line" | cut -d: -f3)"
}

# prepare N - creates member N's directories and myid file; fails on a myid naming another id.
prepare() {
  local cfg data_dir log_dir myid
  cfg=$(member_cfg "$1")
  data_dir=$(cfg_value "$cfg" dataDir)
  log_dir=$(cfg_value "$cfg" dataLogDir)
  [ -n "$data_dir" ] || { echo "node$1: $cfg sets no dataDir" >&2; return 1; }
  mkdir -p "$(member_dir "$1")" "$data_dir" "${log_dir:-$data_dir}"
  myid=$data_dir/myid
  if [ ! -f "$myid" ]; then
    echo "$1" >"$myid"
  elif [ "$(tr -d '[:space:]' <"$myid")" != "$1" ]; then
    echo "node$1: $myid says $(head -c 20 "$myid" | tr -d '\n'), not $1; fix or remove it" >&2
    return 1
  fi
}

# launch BIN N - starts member N detached and records its pid.
launch() {
  local bin=$1 n=$2 pf out cfg
  pf=$(pid_file "$n")
  out=$(out_file "$n")
  cfg=$(member_cfg "$n")
  rm -f "$pf"
  echo "==> $(date '+%F %T') starting node$n: $bin serve --config $cfg" >>"$out"
  # A session of its own, so that the caller's terminal or process group ending does not
  # take it along. The inner shell writes its own pid and then execs corral, so the pid
  # file holds corral's pid whether or not setsid had to fork.
  # shellcheck disable=SC2016 # $$ and $@ are the inner shell's
  RUST_LOG=${RUST_LOG:-info} setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' ensemble-launch \
    "$pf" "$bin" serve --config "$cfg" >>"$out" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [ -s "$pf" ] && break; sleep 0.1; done
  [ -s "$pf" ]
}

cmd_start() {
  local bin n pid p rc=0 started=()
  select_members "${1:-}"
  bin=$(corral_bin "$ROOT") || exit 2
  for n in "${IDS[@]}"; do
    if pid=$(running_pid "$n"); then
      echo "node$n: already running as process $pid"
      continue
    fi
    prepare "$n" || { rc=1; continue; }
    local busy=""
    for p in $(member_ports "$n"); do
      port_busy "$p" && busy="$busy $p"
    done
    if [ -n "$busy" ]; then
      echo "node$n: not started: 127.0.0.1 port(s)$busy already in use by another process" >&2
      rc=1
      continue
    fi
    if launch "$bin" "$n"; then
      started+=("$n")
    else
      echo "node$n: FAILED TO START (no pid recorded; see $(out_file "$n"))" >&2
      rc=1
    fi
  done
  [ ${#started[@]} -gt 0 ] && sleep 2
  for n in "${started[@]}"; do
    if pid=$(running_pid "$n"); then
      echo "node$n: STARTED as process $pid (log $(out_file "$n"))"
    else
      echo "node$n: FAILED TO START; its output ($(out_file "$n")):" >&2
      # From this start's marker line on.
      awk '/^==> .* starting node/ { buf = "" } { buf = buf "    " $0 "\n" }
           END { printf "%s", buf }' "$(out_file "$n")" | tail -n 10 >&2
      rm -f "$(pid_file "$n")"
      rc=1
    fi
  done
  return $rc
}

cmd_stop() {
  local n pid pf
  select_members "${1:-}"
  for n in "${IDS[@]}"; do
    pf=$(pid_file "$n")
    if ! pid=$(running_pid "$n"); then
      if [ -f "$pf" ]; then
        echo "node$n: not running (removing stale pid file $pf)"
        rm -f "$pf"
      else
        echo "node$n: not running"
      fi
      continue
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((GRACE_S * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && running_pid "$n" >/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "node$n: killed process $pid (still running ${GRACE_S}s after TERM)"
    else
      echo "node$n: stopped process $pid"
    fi
    rm -f "$pf"
  done
}

cmd_status() {
  local n pid port answer mode rc=0
  select_members "${1:-}"
  for n in "${IDS[@]}"; do
    if ! pid=$(running_pid "$n"); then
      echo "node$n: not running"
      rc=1
      continue
    fi
    port=$(cfg_value "$(member_cfg "$n")" clientPort)
    answer=$(srvr "$port")
    mode=$(echo "$answer" | sed -n 's/^Mode: //p')
    if [ -n "$mode" ]; then
      echo "node$n: pid $pid, client port $port, Mode: $mode"
    elif grep -q 'not currently serving requests' <<<"$answer"; then
      # What ZooKeeper's srvr says while the member elects a leader or syncs with it (a
      # member alone, without a quorum of the ensemble, stays there).
      echo "node$n: pid $pid, client port $port, not serving requests (electing a leader or syncing with it)"
      rc=1
    else
      echo "node$n: pid $pid, client port $port, no answer to srvr on 127.0.0.1:$port"
      rc=1
    fi
  done
  return $rc
}

case "${1:-}" in
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  status) cmd_status "${2:-}" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
esac
