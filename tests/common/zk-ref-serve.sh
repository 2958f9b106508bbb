#!/usr/bin/env bash
# zk-ref-serve.sh — runs Apache ZooKeeper (the Debian package's jar) behind corral's command line,
#   zk-ref-serve.sh serve --override key=value [--override key=value]...
# so that the integration tests' harness can spawn the reference server instead of corral:
#   CORRAL_TEST_BIN=$PWD/tests/common/zk-ref-serve.sh ZK_REF_38=1 cargo test --tests
# Every override becomes a zoo.cfg line (ZooKeeper turns unknown keys into `zookeeper.<key>`
# system properties) and also a plain `-D<key>=<value>` (some settings, e.g.
# znode.container.checkIntervalMs, are read without the prefix). The script execs java, so
# killing its pid stops the server.
set -euo pipefail
[ "${1:-}" = serve ] || { echo "usage: $0 serve --override key=value..." >&2; exit 2; }
shift
declare -a lines=()
declare -a props=()
data_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --override) kv="$2"; shift 2 ;;
    --override=*) kv="${1#--override=}"; shift ;;
    *) echo "zk-ref-serve: unsupported argument $1" >&2; exit 2 ;;
  esac
  key="${kv%%=*}"
  key="${key#zookeeper.}"
  [ "$key" = dataDir ] && data_dir="${kv#*=}"
  lines+=("$key=${kv#*=}")
  props+=("-D$key=${kv#*=}")
done
[ -n "$data_dir" ] || { echo "zk-ref-serve: dataDir override required" >&2; exit 2; }
cfg="$data_dir/../zoo.cfg"
{
  echo "admin.enableServer=false"
  printf '%s\n' "${lines[@]}"
} > "$cfg"
exec "${JAVA:-java}" -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Djava.net.preferIPv4Stack=true "${props[@]}" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel="${ZKREF_LOGLEVEL:-info}" \
  -cp "${ZK_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar}" \
  org.apache.zookeeper.server.ZooKeeperServerMain "$cfg"
