#!/usr/bin/env bash
# c-client-zkserver.sh — stands in for zookeeper-client-c/tests/zkServer.sh so that the C client's
# cppunit tests start and stop corral instead of a Java ZooKeeper. scripts/compat/c-client.sh puts
# it where the test binary looks for it (./tests/zkServer.sh, relative to the working directory)
# and runs everything in private network, mount and pid namespaces, so the suite's fixed ports
# (22181, 22182, 22281) and /tmp paths belong to that run alone.
#
#   c-client-zkserver.sh startClean|start|startCleanReadOnly|startRequireSASLAuth|stop [ignored...]
#
# Same contract as the suite's script:
#   - every command first kills (SIGKILL) the server a previous command started, as the original
#     does with its pid file; `stop` does nothing more. corral keeps its data durably, so a later
#     `start` on the same dataDir recovers what was acknowledged before the kill.
#   - startClean / startCleanReadOnly wipe the dataDir first; start keeps it.
#   - ZOOPORT (default 22181) and ZKMAXCNXNS (default 100) come from the environment.
#   - the server runs with extendedTypesEnabled=true and znode.container.checkIntervalMs=100, the
#     two system properties the original passes to the JVM, and the zoo.cfg values of the suite's
#     tests/zoo.cfg that corral reads (tickTime 500, maxClientCnxns, localSessionsEnabled).
#   - the secure client port as the suite's zoo.cfg has it: secureClientPort=22281 with the
#     suite's own stores (/tmp/certs/server.jks, servertrust.jks, password "password"), made by
#     the suite's ssl/gencerts.sh (C_CLIENT_GENCERTS names it) on the first start of a run, as
#     the original makes them; ssl.clientAuth from CLIENT_AUTH (default need), the variable
#     newer suites set for their server-only TLS test.
#   - startCleanReadOnly writes the three server.N lines and myid=1 that put one ZooKeeper peer of
#     an absent ensemble into read-only mode; corral has no read-only mode and is started with
#     that configuration anyway, so whatever it does with it is what the test sees.
#   - startRequireSASLAuth [jaasConf] [readOnly] passes what the original passes to the JVM:
#     sessionRequireClientSASLAuth=true, authProvider.1=SASLAuthenticationProvider, and the JAAS
#     file (java.security.auth.login.config, relative to the working directory) when given.
#     readOnly (readonlymode.enabled) is dropped: corral has no read-only mode.
# It exits 0 once the server answers `ruok` with `imok`, non-zero when the server died or did not
# answer within 60 s (the original prints "NOT started" and exits 0; failing loudly is clearer).
#
# Environment: CORRAL_BIN (required) — the corral binary; CORRAL_ZK_STATE_DIR (default /tmp) —
# where the pid file, dataDir, zoo.cfg and server log live; C_CLIENT_GENCERTS — the suite's
# ssl/gencerts.sh (unset or missing: no secure port).
set -uo pipefail

cmd=${1:-}
if [ -z "$cmd" ]; then
  echo "usage: $0 startClean|start|startCleanReadOnly|startRequireSASLAuth|stop" >&2
  exit 2
fi
: "${CORRAL_BIN:?CORRAL_BIN must name the corral binary}"
port=${ZOOPORT:-22181}
max_cnxns=${ZKMAXCNXNS:-100}
state=${CORRAL_ZK_STATE_DIR:-/tmp}
pid_file=$state/corral-zk.pid
data_dir=$state/zkdata
cfg=$state/corral-zoo.cfg
log=$state/corral-zk.log

kill_previous() {
  [ -r "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  rm -f "$pid_file"
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null || return 0
  # The port must be free before a following start binds it again.
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
}

ruok() {
  local reply
  reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf ruok >&3 && cat <&3" 2>/dev/null)
  [ "$reply" = imok ]
}

kill_previous

extra=()
case $cmd in
  stop)
    exit 0
    ;;
  startClean | startCleanReadOnly)
    rm -rf "$data_dir"
    ;;
  start) ;;
  startRequireSASLAuth)
    extra+=(--override sessionRequireClientSASLAuth=true
      --override authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider)
    if [ -n "${2:-}" ]; then
      extra+=(--override "java.security.auth.login.config=$2")
    fi
    ;;
  *)
    echo "Unknown command $cmd" >&2
    exit 2
    ;;
esac
mkdir -p "$data_dir"

# The suite's TLS material, where its tests look for it (the original regenerates it on every
# start; once per run is enough, and /tmp is the run's own).
certs_dir=/tmp/certs
gencerts=${C_CLIENT_GENCERTS:-}
if [ -n "$gencerts" ] && [ -r "$gencerts" ] && [ ! -s "$certs_dir/servertrust.jks" ]; then
  rm -rf "$certs_dir"
  mkdir -p "$certs_dir"
  cp "$gencerts" "$certs_dir/gencerts.sh"
  (cd "$certs_dir" && bash ./gencerts.sh tests.zookeeper.apache.org >gencerts.stdout 2>gencerts.stderr) ||
    echo -n " (gencerts.sh failed, see $certs_dir/gencerts.stderr)"
fi

{
  echo "tickTime=500"
  echo "initLimit=10"
  echo "syncLimit=5"
  echo "dataDir=$data_dir"
  echo "maxClientCnxns=$max_cnxns"
  echo "localSessionsEnabled=true"
  echo "clientPort=$port"
  # Readiness probe only (ZooKeeper's default whitelist is srvr).
  echo "4lw.commands.whitelist=srvr,ruok"
  if [ -s "$certs_dir/servertrust.jks" ]; then
    echo "secureClientPort=22281"
    echo "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory"
    echo "ssl.clientAuth=${CLIENT_AUTH:-need}"
    echo "ssl.keyStore.location=$certs_dir/server.jks"
    echo "ssl.keyStore.password=password"
    echo "ssl.trustStore.location=$certs_dir/servertrust.jks"
    echo "ssl.trustStore.password=password"
  fi
} >"$cfg"
if [ "$cmd" = startCleanReadOnly ]; then
  {
    echo "server.1=localhost:22881:33881"
    echo "server.2=localhost:22882:33882"
    echo "server.3=localhost:22883:33883"
  } >>"$cfg"
  echo 1 >"$data_dir/myid"
fi

"$CORRAL_BIN" serve --config "$cfg" \
  --override extendedTypesEnabled=true \
  --override znode.container.checkIntervalMs=100 \
  "${extra[@]}" >>"$log" 2>&1 </dev/null &
pid=$!
echo -n "$pid" >"$pid_file"

for _ in $(seq 1 240); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo -n " corral server process failed (see $log)"
    rm -f "$pid_file"
    exit 1
  fi
  if ruok; then
    echo -n " corral server started"
    exit 0
  fi
  sleep 0.25
done
echo -n " corral server NOT started (see $log)"
exit 1
