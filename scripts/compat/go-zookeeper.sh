#!/usr/bin/env bash
# go-zookeeper.sh - run go-zookeeper's own test suite (github.com/go-zookeeper/zk) against corral,
# or with --zookeeper against Apache ZooKeeper 3.8 (the Debian `zookeeper` package), for comparison.
#
# NOT a CI step: CI has no GitHub access and the suite's code is not in this repository. Get a
# checkout yourself and pass its path (or set GO_ZK_SRC).
#
# Usage:
#   scripts/compat/go-zookeeper.sh [--zookeeper] [--with-ensembles] [--run REGEX] [GO_ZK_SRC]
#
#   --zookeeper       run against Apache ZooKeeper 3.8 instead of corral (baseline)
#   --with-ensembles  also run the tests that start more than one server; against corral they
#                     only show how independent standalone servers behave (corral has no quorum)
#   --run REGEX       only tests matching REGEX (go test -run)
#
# How it works: the suite starts every server as `$ZOOKEEPER_BIN_PATH/zkServer.sh start-foreground
# <zoo.cfg>` with `SERVER_JVMFLAGS=-Dzookeeper.k=v ...` in the environment and stops it with
# SIGKILL. This script points ZOOKEEPER_BIN_PATH at a temp dir holding a zkServer.sh that execs
# `corral serve --config <zoo.cfg> --override k=v ...` (or ZooKeeper's QuorumPeerMain with the same
# flags). The checkout is copied to a temp dir first (left untouched); one file is added there:
# an init() that seeds math/rand, because Go 1.19 (Debian's) does not, and the suite picks its
# server ports with math/rand: unseeded, every run would use the same ports.
#
# Environment:
#   CORRAL_BIN   corral binary (default: target/release/corral, built when missing)
#   GO_TEST_ARGS extra `go test` arguments
#   KEEP_TMP=1   keep the temp dir (server logs are in the go test output with -v)
#   ZK_VERSION   the server version the suite is told (its reconfig tests need >= 3.5);
#                default 3.8.0 for --zookeeper, 3.9.3 for corral
#
# Output: the go test -v log, then a summary (PASS/FAIL/SKIP per test) in $OUT_DIR (default: a
# temp dir; printed at the end). Exit status 0 when no test failed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
. "$REPO/scripts/lib.sh"
TARGET=corral
WITH_ENSEMBLES=0
RUN_REGEX=""
SRC=${GO_ZK_SRC:-}

while [ $# -gt 0 ]; do
  case $1 in
    --zookeeper) TARGET=zookeeper ;;
    --with-ensembles) WITH_ENSEMBLES=1 ;;
    --run) RUN_REGEX=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    -*) echo "go-zookeeper.sh: unknown option $1" >&2; exit 2 ;;
    *) SRC=$1 ;;
  esac
  shift
done

say() { echo "==> go-zookeeper.sh: $*"; }
die() { echo "go-zookeeper.sh: $*" >&2; exit 1; }

[ -n "$SRC" ] || die "give the go-zookeeper checkout path (argument or GO_ZK_SRC)"
[ -f "$SRC/go.mod" ] && grep -q 'module github.com/go-zookeeper/zk' "$SRC/go.mod" \
  || die "$SRC is not a go-zookeeper checkout (no go.mod for github.com/go-zookeeper/zk)"

need_apt=()
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
if [ "$TARGET" = zookeeper ] && [ ! -f /usr/share/java/zookeeper.jar ]; then
  need_apt+=(zookeeper)
fi
[ ${#need_apt[@]} -eq 0 ] || apt_ensure "${need_apt[@]}"

if [ "$TARGET" = corral ]; then
  CORRAL_BIN=$(corral_bin "$REPO")
fi

WORK=$(mktemp -d /tmp/go-zk-compat.XXXXXX)
OUT_DIR=${OUT_DIR:-$WORK/out}
mkdir -p "$OUT_DIR"
cleanup() {
  if [ "${KEEP_TMP:-0}" = 1 ]; then
    say "kept $WORK"
  else
    # keep the results directory when it lives inside WORK
    case $OUT_DIR in
      "$WORK"/*) find "$WORK" -mindepth 1 -maxdepth 1 ! -name "$(basename "$OUT_DIR")" \
                   -exec rm -rf {} + ;;
      *) rm -rf "$WORK" ;;
    esac
  fi
}
trap cleanup EXIT

# A copy of the suite, plus the rand seed (see the header).
mkdir -p "$WORK/src"
cp -a "$SRC"/. "$WORK/src/"
rm -rf "$WORK/src/.git" "$WORK/src/zookeeper"
cat > "$WORK/src/zz_compat_seed_test.go" <<'EOF'
package zk

import (
	"math/rand"
	"time"
)

// Added by corral's scripts/compat/go-zookeeper.sh: Go before 1.20 does not seed math/rand.
func init() { rand.Seed(time.Now().UnixNano()) }
EOF

# ZooKeeper baseline only: the harness waits for `srvr` output that FLWSrvr can parse, and
# FLWSrvr only knows the pre-3.7 header ("built on MM/dd/yyyy HH:mm GMT"). ZooKeeper 3.7+ says
# "built on yyyy-MM-dd HH:mm UTC" (and Debian's 3.8.0 jar "3.8.0-${mvngit.commit.id}"), so against
# it every StartTestCluster times out. For the baseline the wait accepts any `srvr` answer with a
# Mode: line (a server that is up and serving). corral's header parses, so its run is unpatched.
if [ "$TARGET" = zookeeper ]; then
  old='_, ok := FLWSrvr(serverAddrs, time.Second)'
  grep -qF "$old" "$WORK/src/server_help_test.go" \
    || die "server_help_test.go changed: cannot adapt waitForStart for the ZooKeeper baseline"
  sed -i "s/$old/ok := compatSrvrServing(serverAddrs)/" "$WORK/src/server_help_test.go"
  cat > "$WORK/src/zz_compat_srvr_test.go" <<'EOF'
package zk

import (
	"strings"
	"time"
)

// Added by corral's scripts/compat/go-zookeeper.sh for the ZooKeeper 3.8 baseline (see there).
func compatSrvrServing(servers []string) bool {
	for _, s := range FormatServers(servers) {
		out, err := fourLetterWord(s, "srvr", time.Second)
		if err != nil || !strings.Contains(string(out), "\nMode: ") {
			return false
		}
	}
	return true
}
EOF
fi

# The zkServer.sh the suite runs.
BIN=$WORK/bin
mkdir -p "$BIN"
if [ "$TARGET" = corral ]; then
  cat > "$BIN/zkServer.sh" <<EOF
#!/usr/bin/env bash
# zkServer.sh start-foreground CFG -> corral serve, SERVER_JVMFLAGS -Dzookeeper.k=v -> --override k=v
set -euo pipefail -f
[ "\${1:-}" = start-foreground ] || { echo "only start-foreground is supported" >&2; exit 2; }
args=(serve --config "\$2")
for flag in \${SERVER_JVMFLAGS:-}; do
  case \$flag in
    -Dzookeeper.*=*) kv=\${flag#-Dzookeeper.}; args+=(--override "\$kv") ;;
    *) echo "zkServer.sh (corral): ignoring JVM flag \$flag" >&2 ;;
  esac
done
exec "$CORRAL_BIN" "\${args[@]}"
EOF
else
  cat > "$BIN/zkServer.sh" <<'EOF'
#!/usr/bin/env bash
# zkServer.sh start-foreground CFG -> Apache ZooKeeper 3.8 QuorumPeerMain (Debian package jars)
set -euo pipefail
[ "${1:-}" = start-foreground ] || { echo "only start-foreground is supported" >&2; exit 2; }
# shellcheck disable=SC2086  # SERVER_JVMFLAGS is a list of flags
exec java -Xmx256m -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn ${SERVER_JVMFLAGS:-} \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$2"
EOF
fi
chmod +x "$BIN/zkServer.sh"
export ZOOKEEPER_BIN_PATH=$BIN
# The reconfig tests skip themselves unless ZK_VERSION (upstream's Makefile variable) is >= 3.5.
if [ "$TARGET" = zookeeper ]; then
  export ZK_VERSION=${ZK_VERSION:-3.8.0}
else
  export ZK_VERSION=${ZK_VERSION:-3.9.3}
fi

cd "$WORK/src"
# the suite has no module dependencies: nothing to download
export GOPROXY=off

# Tests that start more than one server (StartTestCluster(t, N) with N > 1).
ENSEMBLE_TESTS=$(awk '
  /^func Test/ { name = $2; sub(/\(.*/, "", name) }
  /StartTestCluster\(t, *[2-9]/ && name != "" { print name }
' ./*_test.go | sort -u)

ALL_TESTS=$(go test -list "${RUN_REGEX:-.*}" . | grep '^Test' | sort || true)
SELECTED=$ALL_TESTS
if [ "$TARGET" = corral ] && [ "$WITH_ENSEMBLES" = 0 ]; then
  SELECTED=$(comm -23 <(echo "$ALL_TESTS") <(echo "$ENSEMBLE_TESTS"))
  say "not run against corral (start more than one server; corral is standalone only):"
  comm -12 <(echo "$ALL_TESTS") <(echo "$ENSEMBLE_TESTS") | sed 's/^/      /'
fi
[ -n "$SELECTED" ] || die "no tests selected"
REGEX="^($(echo "$SELECTED" | paste -sd'|'))\$"

say "target=$TARGET, $(echo "$SELECTED" | wc -l) tests, log in $OUT_DIR/go-test.log"
set +e
# shellcheck disable=SC2086  # GO_TEST_ARGS is a list of arguments
go test -count=1 -v -timeout 1800s -run "$REGEX" ${GO_TEST_ARGS:-} . > "$OUT_DIR/go-test.log" 2>&1
rc=$?
set -e

# Top-level results only (subtests are indented).
grep -E '^--- (PASS|FAIL|SKIP): ' "$OUT_DIR/go-test.log" \
  | sed -E 's/^--- ([A-Z]+): ([^ ]+).*/\2 \1/' | sort > "$OUT_DIR/summary.txt" || true
pass=$(grep -c ' PASS$' "$OUT_DIR/summary.txt" || true)
fail=$(grep -c ' FAIL$' "$OUT_DIR/summary.txt" || true)
skip=$(grep -c ' SKIP$' "$OUT_DIR/summary.txt" || true)
# A test that panicked or timed out has no --- line.
missing=$(comm -23 <(echo "$SELECTED") <(cut -d' ' -f1 "$OUT_DIR/summary.txt"))
cat "$OUT_DIR/summary.txt"
say "target=$TARGET: pass=$pass fail=$fail skip=$skip go-test-exit=$rc"
if [ -n "$missing" ]; then
  say "no result (panic or timeout; see the log):"
  echo "$missing" | sed 's/^/      /'
fi
say "results in $OUT_DIR"
[ "$rc" = 0 ]
