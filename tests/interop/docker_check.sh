#!/usr/bin/env bash
# docker_check.sh - the corral image and the compose files in docker/, under Debian's
# docker.io and docker-compose (v1), as an operator runs them.
#
# Usage: tests/interop/docker_check.sh CORRAL_BIN
#
#   0. Installs docker.io, docker-compose and busybox-static when missing; starts dockerd
#      when no daemon answers (and stops it on exit); builds corral:latest from CORRAL_BIN
#      with scripts/docker-build.sh (FROM scratch, nothing pulled).
#   1. The image under Docker's default seccomp profile: `docker run` with no security
#      option serves (zkServer.sh status inside says standalone), configured by ZOO_TICK_TIME,
#      ZOO_4LW_COMMANDS_WHITELIST and ZOO_CFG_EXTRA (its conf word); `docker stop` ends it with
#      SIGTERM (corral is the container's PID 1), not with the SIGKILL 10 s later.
#   2. docker/docker-compose.yml, the seed's walkthrough verbatim: `cd docker &&
#      docker-compose up -d`, `docker-compose ps`; the zoo.cfg and myid the entrypoint wrote
#      from the ZOO_* variables, the server running as the zookeeper user; then
#      tests/interop/zkcli_walkthrough.sh through `docker exec -i zookeeper bin/zkCli.sh`
#      (configuration management with the watch fired from a second exec, the
#      ephemeral-sequential election); kazoo on the host through the published port, its
#      write read back through zkCli in the container.
#   3. docker/docker-compose.ensemble.yml: three members that find each other by name;
#      one leader and two followers through the published ports; a kazoo session on the
#      host through all three; `docker kill` of the leader's container: another member
#      leads, the session keeps its id and ephemeral and reads and writes through the
#      survivors; the killed container, started again, follows and has the writes it missed.
#   Each compose project runs under a name of its own and is taken down with its volumes
#   (`docker-compose down -v`); client ports are free ones, published on 127.0.0.1 only
#   (CORRAL_CLIENT_PORT, CORRAL_CLIENT_PORT_1..3).
#
# Environment:
#   PYTHON=...          python with kazoo (default target/interop-venv/bin/python)
#   DOCKER_WAIT_S=90    hang guard of every wait
#   DOCKER_KEEP=1       keep the temp directory (dockerd's log, container logs)
#
# Only what this script started is stopped: its containers, networks and volumes (by
# compose project), and dockerd if it started it (by pid).
set -euo pipefail

[ $# -eq 1 ] || { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
CORRAL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$CORRAL" ] || { echo "docker_check: $1 is not an executable" >&2; exit 2; }
NAME=docker
KEEP_VAR=DOCKER_KEEP
export ENSEMBLE_WAIT_S=${DOCKER_WAIT_S:-90}
# shellcheck source=tests/interop/ensemble/common.sh
. "$(dirname "$0")/ensemble/common.sh"
export DOCKER_WAIT_S=$WAIT_S
DC="$PYTHON $INTEROP/docker/dockerclient.py"
COMPOSE_DIR=$REPO/docker

# Debian's docker CLI and daemon (/usr/bin, /usr/sbin) before any other docker on PATH.
export PATH=/usr/sbin:/usr/bin:$PATH
apt_ensure docker.io docker-compose busybox-static

DOCKERD_PID=""
PROJECTS=()      # "project compose-file" pairs this script brought up
SECCOMP_CT=corral-docker-check-seccomp-$$

cleanup_docker() {
  local p project file
  docker rm -f -v "$SECCOMP_CT" >/dev/null 2>&1 || true
  for p in "${PROJECTS[@]}"; do
    read -r project file <<<"$p"
    if [ "$FAILED" = 1 ]; then
      (cd "$COMPOSE_DIR" && docker-compose -p "$project" -f "$file" logs --no-color) \
        >"$WORK/$project.log" 2>&1 || true
    fi
    (cd "$COMPOSE_DIR" && docker-compose -p "$project" -f "$file" down -v) >/dev/null 2>&1 \
      || say "docker-compose -p $project down -v failed"
  done
  if [ -n "$DOCKERD_PID" ]; then
    say "stopping the dockerd this script started (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    local _
    for _ in $(seq 1 300); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
  fi
}
CLEANUP_HOOK=cleanup_docker

# until_true WHAT CMD... - runs CMD until it succeeds (hang guard of WAIT_S).
until_true() {
  local what=$1 deadline=$((SECONDS + WAIT_S))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "hang guard: $what not within ${WAIT_S}s"
    sleep 0.3
  done
}

# ---- 0. the daemon and the image -----------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  say "no docker daemon answers: starting dockerd (log $WORK/dockerd.log)"
  dockerd >"$WORK/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  deadline=$((SECONDS + WAIT_S))
  until docker info >/dev/null 2>&1; do
    kill -0 "$DOCKERD_PID" 2>/dev/null || { FAILED=1; tail -n 30 "$WORK/dockerd.log"; fail "dockerd exited"; }
    [ "$SECONDS" -lt "$deadline" ] || fail "hang guard: dockerd did not answer within ${WAIT_S}s"
    sleep 0.3
  done
fi
say "docker $(docker version -f '{{.Server.Version}}'), storage driver $(docker info -f '{{.Driver}}')"

# The compose files lift RLIMIT_MEMLOCK (ulimits: memlock: -1). A daemon without
# CAP_SYS_RESOURCE (a sandboxed one, as on these VMs) cannot hand a container more than its
# own hard limit: give the files that limit through CORRAL_MEMLOCK.
dockerd_pid=${DOCKERD_PID:-$(cat /var/run/docker.pid 2>/dev/null || true)}
if [ -n "$dockerd_pid" ] && [ -r "/proc/$dockerd_pid/status" ]; then
  cap_eff=$(awk '/^CapEff:/ { print $2 }' "/proc/$dockerd_pid/status")
  memlock_hard=$(awk '/^Max locked memory/ { print $5 }' "/proc/$dockerd_pid/limits")
  if (((0x$cap_eff >> 24) & 1)); then
    :
  elif [ "$memlock_hard" != unlimited ]; then
    export CORRAL_MEMLOCK=$memlock_hard
    say "dockerd lacks CAP_SYS_RESOURCE: CORRAL_MEMLOCK=$CORRAL_MEMLOCK (its hard limit)"
  fi
fi

CORRAL_BIN=$CORRAL "$REPO/scripts/docker-build.sh" corral:latest
pass "corral:latest built FROM scratch: $(docker image inspect -f '{{.Size}}' corral:latest) bytes"

# ---- 1. the default seccomp profile --------------------------------------------------------
say "docker run corral:latest under the default seccomp profile"
docker run -d --name "$SECCOMP_CT" --ulimit "memlock=${CORRAL_MEMLOCK:--1}" \
  -e ZOO_TICK_TIME=1000 -e ZOO_4LW_COMMANDS_WHITELIST=srvr,conf \
  -e ZOO_CFG_EXTRA="maxSessionTimeout=50000 minSessionTimeout=3000" corral:latest >/dev/null
until_true "zkServer.sh status in $SECCOMP_CT" \
  sh -c "docker exec $SECCOMP_CT bin/zkServer.sh status | grep -qx 'Mode: standalone'"
pass "corral serves under Docker's default seccomp profile (io_uring allowed by docker $(docker version -f '{{.Server.Version}}'))"
conf=$(docker exec "$SECCOMP_CT" sh -c 'printf conf | nc -w 3 127.0.0.1 2181')
for line in tickTime=1000 maxSessionTimeout=50000 minSessionTimeout=3000; do
  grep -qxF "$line" <<<"$conf" || { printf '%s\n' "$conf"; fail "the conf four-letter word lacks $line"; }
done
pass "ZOO_TICK_TIME, ZOO_4LW_COMMANDS_WHITELIST and ZOO_CFG_EXTRA reach the server (its conf word)"
# As PID 1, corral must end on docker stop's SIGTERM itself (143), not on the SIGKILL that
# follows ten seconds later (137).
docker stop "$SECCOMP_CT" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$SECCOMP_CT")
[ "$code" = 143 ] || fail "docker stop: exit code $code, not 143 (SIGTERM)"
docker rm -v "$SECCOMP_CT" >/dev/null
pass "docker stop: corral, PID 1 of its container, ends on SIGTERM (exit code 143)"

# ---- 2. docker-compose.yml: the seed's walkthrough -----------------------------------------
if docker ps -a --format '{{.Names}}' | grep -qx zookeeper; then
  fail "a container named zookeeper exists already; docker-compose.yml names its container zookeeper"
fi
export COMPOSE_PROJECT_NAME=corraldockercheck$$
PROJECTS+=("$COMPOSE_PROJECT_NAME docker-compose.yml")
CORRAL_CLIENT_PORT=$(free_port)
export CORRAL_CLIENT_PORT
say "cd docker && docker-compose up -d   (project $COMPOSE_PROJECT_NAME, client port 127.0.0.1:$CORRAL_CLIENT_PORT)"
(cd "$COMPOSE_DIR" && docker-compose up -d)
ps_out=$(cd "$COMPOSE_DIR" && docker-compose ps)
printf '%s\n' "$ps_out"
grep -Eq "^zookeeper +.* Up .*127\.0\.0\.1:$CORRAL_CLIENT_PORT->2181/tcp" <<<"$ps_out" \
  || fail "docker-compose ps does not show zookeeper Up on 127.0.0.1:$CORRAL_CLIENT_PORT"
until_true "Mode: standalone on 127.0.0.1:$CORRAL_CLIENT_PORT" \
  sh -c "printf srvr | nc -w 3 127.0.0.1 $CORRAL_CLIENT_PORT | grep -qx 'Mode: standalone'"
pass "docker-compose up -d: zookeeper is up, standalone, serving on 127.0.0.1:$CORRAL_CLIENT_PORT"

cfg=$(docker exec zookeeper cat /conf/zoo.cfg)
for line in dataDir=/data dataLogDir=/datalog tickTime=2000 initLimit=5 syncLimit=2 \
  'server.1=localhost:2888:3888;2181' 4lw.commands.whitelist=srvr,ruok,stat,mntr,conf \
  standaloneEnabled=true admin.enableServer=true maxClientCnxns=60; do
  grep -qxF "$line" <<<"$cfg" || { printf '%s\n' "$cfg"; fail "/conf/zoo.cfg lacks '$line'"; }
done
[ "$(docker exec zookeeper cat /data/myid)" = 1 ] || fail "/data/myid is not 1"
[ "$(docker exec zookeeper awk '/^Uid:/ { print $2 }' /proc/1/status)" = 1000 ] \
  || fail "the server (pid 1) does not run as the zookeeper user (uid 1000)"
[ "$(docker exec zookeeper stat -c %U /datalog/version-2)" = zookeeper ] \
  || fail "/datalog/version-2 is not the zookeeper user's"
[ "$(docker exec zookeeper pwd)" = /corral ] || fail "the working directory is not /corral"
pass "the entrypoint wrote zoo.cfg and myid from the ZOO_* variables; corral runs as zookeeper in /corral"

say "the walkthrough through docker exec -i zookeeper bin/zkCli.sh"
ZKCLI="docker exec -i zookeeper bin/zkCli.sh" ZK_HOSTS=localhost:2181 ZK_WALK_AT_ROOT=1 \
  ZK_WALK_WAIT_S=$WAIT_S "$INTEROP/zkcli_walkthrough.sh" \
  || fail "the walkthrough through docker exec -i zookeeper bin/zkCli.sh"
pass "the seed's walkthrough through docker exec -i zookeeper bin/zkCli.sh"

say "kazoo on the host through 127.0.0.1:$CORRAL_CLIENT_PORT"
$DC single "127.0.0.1:$CORRAL_CLIENT_PORT" || fail "kazoo through the published port"
out=$(docker exec -i zookeeper bin/zkCli.sh get /docker/host </dev/null 2>&1)
grep -qxF from-the-host-2 <<<"$out" || { printf '%s\n' "$out"; fail "zkCli in the container does not read the host's write"; }
pass "kazoo on the host through the published port; zkCli in the container reads its write"

(cd "$COMPOSE_DIR" && docker-compose down -v)
PROJECTS=()
[ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")" ] \
  || fail "docker-compose down left containers of $COMPOSE_PROJECT_NAME"
pass "docker-compose down -v removed the container, its network and volumes"
unset COMPOSE_PROJECT_NAME

# ---- 3. docker-compose.ensemble.yml: a leader's docker kill -----------------------------------
ENS=corraldockerens$$
EF=docker-compose.ensemble.yml
PROJECTS+=("$ENS $EF")
read -r -a P <<<"$(distinct_free_ports 3)"
export CORRAL_CLIENT_PORT_1=${P[0]} CORRAL_CLIENT_PORT_2=${P[1]} CORRAL_CLIENT_PORT_3=${P[2]}
ens() { (cd "$COMPOSE_DIR" && docker-compose -p "$ENS" -f "$EF" "$@"); }
# Members zoo1..3 as common.sh knows members: kind and published client port.
for i in 1 2 3; do
  KIND[zoo$i]=corral-container
  CPORT[zoo$i]=${P[$((i - 1))]}
done
# common.sh's alive: a member is alive while its container runs.
alive() { [ "$(docker inspect -f '{{.State.Running}}' "$(ens ps -q "$1")" 2>/dev/null)" = true ]; }

say "docker-compose -f $EF up -d   (project $ENS, client ports 127.0.0.1:${P[*]})"
ens up -d
ens ps
wait_roles zoo1 zoo2 zoo3
pass "the members found each other by name: $LEADER leads, two follow"

FO=$WORK/failover
mkdir -p "$FO"
ALL=$(addr zoo1),$(addr zoo2),$(addr zoo3)
$DC failover --hosts "$ALL" --dir "$FO" &
FO_PID=$!
CLEANUP_PIDS+=("$FO_PID")
wait_client_file "$FO_PID" "$FO/ready" "its session and writes"
OLD=$LEADER
OTHERS=()
for n in zoo1 zoo2 zoo3; do [ "$n" = "$OLD" ] || OTHERS+=("$n"); done
say "docker kill of the leader's container ($OLD)"
docker kill "$(ens ps -q "$OLD")" >/dev/null
wait_roles "${OTHERS[@]}"
[ "$LEADER" != "$OLD" ] || fail "the killed $OLD still leads"
pass "after docker kill of $OLD, $LEADER leads"
touch "$FO/go"
wait_client_file "$FO_PID" "$FO/checked" "its checks after the kill"
wait "$FO_PID" || fail "the host's kazoo session across the kill"
pass "the host's kazoo session kept its id and ephemeral, read and wrote through the survivors"
for n in "${OTHERS[@]}"; do
  [ "$($DC get "$(addr "$n")" /docker-ensemble/after)" = "written after the kill" ] \
    || fail "$n alone does not read the write made after the kill"
done

ens start "$OLD"
wait_roles zoo1 zoo2 zoo3
[ "$(mode_of "$OLD")" = follower ] || fail "$OLD did not rejoin as a follower"
[ "$($DC get "$(addr "$OLD")" /docker-ensemble/before)" = "changed after the kill" ] \
  || fail "$OLD, started again, lacks the write it missed"
pass "$OLD, started again, follows $LEADER and has the write it missed"

ens down -v
PROJECTS=()
pass "docker-compose -f $EF down -v"
say "all docker checks passed"
