#!/usr/bin/env bash
# kazoo.sh - kazoo's OWN test suite (the kazoo.tests package, shipped inside kazoo's wheel on
# PyPI) against corral, or against Apache ZooKeeper 3.8 for the baseline.
#
# Usage: scripts/compat/kazoo.sh [--zookeeper] [--all] [CORRAL_BIN] [-- PYTEST_ARGS...]
#
#   CORRAL_BIN    the corral binary (default target/release/corral; built if missing)
#   --zookeeper   run against Apache ZooKeeper 3.8 (Debian's zookeeper package) started by
#                 kazoo's own harness (kazoo.testing.common, `java` with ZOOKEEPER_CLASSPATH)
#   --all         run every test: no deselection (see DESELECT below)
#   PYTEST_ARGS   extra pytest arguments, e.g. -- -k test_lock -x
#
# Against corral, scripts/compat/kazoo_corral_plugin.py (loaded with -p) replaces the harness's
# ZookeeperCluster: kazoo's tests start, stop and restart corral servers through the same
# harness calls, each on a free port and a temp dataDir. One server (ZOOKEEPER_CLUSTER_SIZE=1):
# corral is standalone. Against ZooKeeper the harness starts its own JVM(s) on a free port
# range; `ZOOKEEPER_CLUSTER_SIZE=3 scripts/compat/kazoo.sh --zookeeper --all` is the ensemble
# run kazoo's own CI does.
#
# Unlike the other suites, this one needs no source checkout: `pip install kazoo==<pin>` brings
# kazoo/tests along, so scripts/test.sh runs it in CI (step kazoo-upstream).
#
# Environment:
#   KAZOO_VENV=...        venv (default target/kazoo-upstream-venv); created and filled from
#                         scripts/compat/kazoo-requirements.txt when missing or stale
#   KAZOO_SRC=/path       install kazoo (and so its tests) from this checkout instead of PyPI
#   ZOOKEEPER_CLUSTER_SIZE  ZooKeeper runs only (default 1; corral accepts only 1)
#   ZK_JAR_DIR=...        where Debian's ZooKeeper jars are (default /usr/share/java)
#   CORRAL_KAZOO_KEEP=1   keep each corral server's directory (data + corral.log)
#   KAZOO_JUNIT=FILE      also write pytest's JUnit XML report to FILE
#
# Exit status: pytest's. Only processes started by kazoo's harness or our plugin are signalled
# (by pid, SIGTERM), and they are stopped by them.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"
REPO=$(cd "$HERE/../.." && pwd)
REQS=$HERE/kazoo-requirements.txt
ZK_REQS=$HERE/kazoo-zookeeper-requirements.txt
VENV=${KAZOO_VENV:-$REPO/target/kazoo-upstream-venv}
JAR_DIR=${ZK_JAR_DIR:-/usr/share/java}

say() { echo "==> kazoo.sh: $*"; }
usage() { sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

MODE=corral
ALL=0
CORRAL_BIN=""
PYTEST_EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --zookeeper) MODE=zookeeper ;;
    --all) ALL=1 ;;
    -h | --help) usage ;;
    --) shift; PYTEST_EXTRA=("$@"); break ;;
    -*) echo "kazoo.sh: unknown option $1" >&2; usage ;;
    *) CORRAL_BIN=$1 ;;
  esac
  shift
done

# ---- deselected tests -------------------------------------------------------------------
# Node ids relative to kazoo/tests (pytest's rootdir below). Each needs something corral does
# not claim, or depends on the host rather than the server.
# The same list is deselected in --zookeeper runs so the two counts compare; --all keeps them.
# (docs/compat/kazoo.md has the run that shows each of these failing or skipping, and why.)
DESELECT=(
  # Ensemble only: adds the other two servers of a 3-node cluster to the client's host list,
  # stops the first and expects the client to stay connected to another (also run through the
  # eventlet and gevent handlers).
  test_client.py::TestClient::test_update_host_list
  test_eventlet_handler.py::TestEventletClient::test_update_host_list
  test_gevent_handler.py::TestGeventClient::test_update_host_list
  # Ensemble only: reconfig adds/removes servers of the 3-node cluster. A standalone server
  # (ZooKeeper's or corral's, both started with reconfigEnabled=true) answers Unimplemented.
  test_client.py::TestReconfig
  # Ensemble only: stops 2 of 3 servers and expects read-only mode from the third
  # (readonlymode.enabled); corral has neither the ensemble nor read-only mode.
  test_connection.py::TestReadOnlyMode
  # Kerberos: corral's SASL is DIGEST-MD5 only. Without a test KDC (KRB5_TEST_ENV) these skip
  # on ZooKeeper too; with one, corral refuses the harness's Krb5LoginModule JAAS section.
  test_sasl.py::TestSASLGSSAPIAuthentication
  # Not a server test: connects to the hard-coded 127.0.0.1:2181 and expects it to time out;
  # it fails wherever something listens on 2181 (the shared reference ZooKeeper here).
  test_utils.py::TestCreateTCPConnection::test_slow_connect
)

# ---- system packages --------------------------------------------------------------------
need_pkgs=(python3-venv)
[ "$MODE" = zookeeper ] && need_pkgs+=(zookeeper default-jre-headless)
apt_ensure "${need_pkgs[@]}"

# ---- venv -------------------------------------------------------------------------------
fill_venv() {  # requirements-file...
  local stamp=$VENV/.requirements.sha256 want
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  want=$(cat "$@" | sha256sum | cut -d' ' -f1)${KAZOO_SRC:+-src}
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || [ -n "${KAZOO_SRC:-}" ]; then
    say "installing $(basename -a "$@" | tr '\n' ' ')into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${@/#/-r}"
    if [ -n "${KAZOO_SRC:-}" ]; then
      "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "$KAZOO_SRC"
    fi
    echo "$want" >"$stamp"
  fi
}

if [ "$MODE" = zookeeper ]; then
  fill_venv "$REQS" "$ZK_REQS"
else
  fill_venv "$REQS"
fi
PY=$VENV/bin/python
KAZOO_VERSION=$("$PY" -c 'import kazoo.version; print(kazoo.version.__version__)')
SUITE_DIR=$("$PY" -c 'import kazoo.tests, os; print(os.path.dirname(kazoo.tests.__file__))')
[ -f "$SUITE_DIR/test_client.py" ] || { say "no kazoo/tests in the installed kazoo ($SUITE_DIR)"; exit 2; }

WORK=$(mktemp -d /tmp/kazoo-upstream.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# kazoo's tests read CI (test_build checks ZOOKEEPER_VERSION against the server's `envi`) and
# ZOOKEEPER_VERSION (the harness needs it; CI_ZK_VERSION gates version-dependent tests).
export CI=true
ARGS=(--pyargs kazoo.tests -p no:cacheprovider --timeout 180 -ra -W ignore::DeprecationWarning)
if [ "$MODE" = zookeeper ]; then
  for f in zookeeper.jar slf4j-simple.jar netty-codec.jar netty-resolver.jar; do
    [ -r "$JAR_DIR/$f" ] || { say "$JAR_DIR/$f missing (Debian's zookeeper package)"; exit 2; }
  done
  # zookeeper.jar's manifest misses netty-codec and netty-resolver, which the harness's
  # NettyServerCnxnFactory needs; slf4j-simple makes the server log.
  export ZOOKEEPER_CLASSPATH=$JAR_DIR/zookeeper.jar:$JAR_DIR/slf4j-simple.jar:$JAR_DIR/netty-codec.jar:$JAR_DIR/netty-resolver.jar
  export ZOOKEEPER_VERSION=${ZOOKEEPER_VERSION:-3.8.0}
  export ZOOKEEPER_CLUSTER_SIZE=${ZOOKEEPER_CLUSTER_SIZE:-1}
  # The harness puts server i on ports offset+10i .. offset+10i+4: find a free range.
  ZOOKEEPER_PORT_OFFSET=$("$PY" - "$ZOOKEEPER_CLUSTER_SIZE" <<'EOF'
import random, socket, sys
size = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(30000, 60000 - 10 * size, 10)
    socks = []
    try:
        for port in [base + 10 * i + j for i in range(size) for j in range(5)]:
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", port))
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
else:
    sys.exit("no free port range")
EOF
)
  export ZOOKEEPER_PORT_OFFSET
  say "kazoo $KAZOO_VERSION's tests against Apache ZooKeeper $ZOOKEEPER_VERSION x$ZOOKEEPER_CLUSTER_SIZE (ports from $ZOOKEEPER_PORT_OFFSET)"
else
  CORRAL_BIN=$(corral_bin "$REPO")
  export CORRAL_BIN
  # The ZooKeeper release corral speaks for (its `envi` zookeeper.version); test_build checks it.
  export ZOOKEEPER_VERSION=3.9.3
  export ZOOKEEPER_CLUSTER_SIZE=1
  export PYTHONPATH=$HERE${PYTHONPATH:+:$PYTHONPATH}
  ARGS+=(-p kazoo_corral_plugin)
  say "kazoo $KAZOO_VERSION's tests against corral ($CORRAL_BIN)"
fi

if [ "$ALL" != 1 ]; then
  for t in "${DESELECT[@]}"; do
    ARGS+=(--deselect "$t")
  done
fi
[ -n "${KAZOO_JUNIT:-}" ] && ARGS+=(--junitxml "$KAZOO_JUNIT")

# Run from an empty directory with an empty ini file: no pytest.ini or conftest of ours (nor
# any found above the venv) applies to kazoo's suite, and node ids are relative to kazoo/tests.
cd "$WORK"
: >"$WORK/pytest.ini"
ARGS+=(-c "$WORK/pytest.ini" --rootdir "$SUITE_DIR")
set +e
"$PY" -m pytest "${ARGS[@]}" "${PYTEST_EXTRA[@]}"
rc=$?
set -e
exit "$rc"
