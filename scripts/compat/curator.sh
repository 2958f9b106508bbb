#!/usr/bin/env bash
# curator.sh - run Apache Curator's own tests (framework + recipes) against corral,
# and optionally against Apache ZooKeeper 3.8 for the baseline.
#
# NOT a CI step: the Curator sources come from GitHub (not committed here) and CI
# has no GitHub access. Run it by hand; see docs/compat/curator.md for results.
#
# Usage:
#   scripts/compat/curator.sh CURATOR_SRC [--server corral|zookeeper|both]
#                             [--class FQCN]... [--out DIR]
#
#   CURATOR_SRC  a checkout of apache/curator at tag apache-curator-5.4.0 (the
#                version Debian bookworm packages; the tests are compiled against
#                Debian's curator jars, so the two must match). Also $CURATOR_SRC.
#   --server     which server(s) to run the suite against (default corral).
#   --class      run only these test classes (repeatable); default: the subset
#                listed in SUBSET below.
#   --out DIR    work/output directory (default /tmp/curator-compat).
#
# Environment: CORRAL_BIN (default target/release/corral, built when missing).
#
# How it works: the tests are compiled with javac against /usr/share/java jars
# (Debian packages libcurator-*-java, zookeeper, junit5, ...). At run time
# scripts/compat/curator/shim/ comes first on the classpath. It holds our own
# org.apache.curator.test.TestingServer, which starts the server as a separate
# process on a free port and a temp dataDir (corral, or Debian's ZooKeeper 3.8
# ZooKeeperServerMain - the same harness for both, so a difference is the
# server's), TestingCluster, which aborts ensemble tests, and a minimal
# org.awaitility (not packaged in Debian). Every server picks its own port; the
# shared reference ZooKeeper on 2181 is never touched.
#
# Output: DIR/<server>/results.txt (one "OUTCOME Class#method" per test),
# DIR/<server>/junit.log, DIR/<server>/server-logs/, and a summary table.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib.sh"  # corral_bin

src=${CURATOR_SRC:-}
server=corral
out=/tmp/curator-compat
classes=()
while [ $# -gt 0 ]; do
  case $1 in
    --server) server=$2; shift 2 ;;
    --class) classes+=("$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) src=$1; shift ;;
  esac
done
[ -n "$src" ] || { echo "usage: $0 CURATOR_SRC [--server corral|zookeeper|both]" >&2; exit 2; }
[ -d "$src/curator-recipes/src/test/java" ] || { echo "$src is not a Curator checkout" >&2; exit 2; }

# The subset: every framework/recipes test class that runs on one standalone
# server and exercises the server. Left out (see docs/compat/curator.md):
#  - ensemble tests (TestWithCluster, TestReconfiguration, TestReadOnly,
#    *Cluster*, TestCuratorCacheConsistency, TestLongNetworkPartition); the two
#    ensemble methods inside TestFrameworkEdges / TestCuratorCacheEdges abort
#    through the TestingCluster shim;
#  - TestLeaderSelectorEdges: injects ChaosMonkeyCnxnFactory into an in-process
#    ZooKeeper server (needs the server inside the test JVM);
#  - client-only tests that never talk to a server or only to a dead one
#    (curator-client's tests, schema, circuit breakers, compression providers,
#    TestNeverConnected, TestEnsembleProvider, TestQueueItem/Sharder helpers).
SUBSET=(
  org.apache.curator.framework.imps.TestFramework
  org.apache.curator.framework.imps.TestFrameworkBackground
  org.apache.curator.framework.imps.TestFrameworkEdges
  org.apache.curator.framework.imps.TestCreate
  org.apache.curator.framework.imps.TestCreateReturningStat
  org.apache.curator.framework.imps.TestDelete
  org.apache.curator.framework.imps.TestExistsBuilder
  org.apache.curator.framework.imps.TestSetData
  org.apache.curator.framework.imps.TestTransactionsNew
  org.apache.curator.framework.imps.TestTransactionsOld
  org.apache.curator.framework.imps.TestCompressionInTransactionNew
  org.apache.curator.framework.imps.TestWatchesBuilder
  org.apache.curator.framework.imps.TestWatcherIdentity
  org.apache.curator.framework.imps.TestWatcherRemovalManager
  org.apache.curator.framework.imps.TestNamespaceFacade
  org.apache.curator.framework.imps.TestTtlNodes
  org.apache.curator.framework.imps.TestEnsureContainers
  org.apache.curator.framework.imps.TestBlockUntilConnected
  org.apache.curator.framework.imps.TestEnabledSessionExpiredState
  org.apache.curator.framework.imps.TestMultiClient
  org.apache.curator.framework.imps.TestTempFramework
  org.apache.curator.framework.imps.TestFailedDeleteManager
  org.apache.curator.framework.recipes.atomic.TestDistributedAtomicLong
  org.apache.curator.framework.recipes.atomic.TestCachedAtomicCounter
  org.apache.curator.framework.recipes.barriers.TestDistributedBarrier
  org.apache.curator.framework.recipes.barriers.TestDistributedDoubleBarrier
  org.apache.curator.framework.recipes.cache.TestNodeCache
  org.apache.curator.framework.recipes.cache.TestPathChildrenCache
  org.apache.curator.framework.recipes.cache.TestPathChildrenCacheEventOrdering
  org.apache.curator.framework.recipes.cache.TestTreeCache
  org.apache.curator.framework.recipes.cache.TestTreeCacheEventOrdering
  org.apache.curator.framework.recipes.cache.TestTreeCacheIteratorAndSize
  org.apache.curator.framework.recipes.cache.TestCuratorCache
  org.apache.curator.framework.recipes.cache.TestCuratorCacheEdges
  org.apache.curator.framework.recipes.cache.TestCuratorCacheEventOrdering
  org.apache.curator.framework.recipes.cache.TestCuratorCacheWrappers
  org.apache.curator.framework.recipes.cache.TestCuratorCacheBridge
  org.apache.curator.framework.recipes.cache.TestWrappedNodeCache
  org.apache.curator.framework.recipes.leader.TestLeaderLatch
  org.apache.curator.framework.recipes.leader.TestLeaderSelector
  org.apache.curator.framework.recipes.leader.TestLeaderAcls
  org.apache.curator.framework.recipes.leader.TestLeaderSelectorParticipants
  org.apache.curator.framework.recipes.leader.TestLeaderSelectorWithExecutor
  org.apache.curator.framework.recipes.locks.TestInterProcessMutex
  org.apache.curator.framework.recipes.locks.TestInterProcessSemaphoreMutex
  org.apache.curator.framework.recipes.locks.TestInterProcessMultiMutex
  org.apache.curator.framework.recipes.locks.TestInterProcessReadWriteLock
  org.apache.curator.framework.recipes.locks.TestInterProcessSemaphore
  org.apache.curator.framework.recipes.locks.TestLockACLs
  org.apache.curator.framework.recipes.locks.TestLockCleanlinessWithFaults
  org.apache.curator.framework.recipes.nodes.TestPersistentNode
  org.apache.curator.framework.recipes.nodes.TestPersistentEphemeralNode
  org.apache.curator.framework.recipes.nodes.TestPersistentEphemeralNodeListener
  org.apache.curator.framework.recipes.nodes.TestPersistentTtlNode
  org.apache.curator.framework.recipes.nodes.TestGroupMember
  org.apache.curator.framework.recipes.queue.TestDistributedQueue
  org.apache.curator.framework.recipes.queue.TestSimpleDistributedQueue
  org.apache.curator.framework.recipes.queue.TestDistributedIdQueue
  org.apache.curator.framework.recipes.queue.TestDistributedPriorityQueue
  org.apache.curator.framework.recipes.queue.TestDistributedDelayQueue
  org.apache.curator.framework.recipes.queue.TestBoundedDistributedQueue
  org.apache.curator.framework.recipes.shared.TestSharedCount
  org.apache.curator.framework.recipes.watch.TestPersistentWatcher
)
[ ${#classes[@]} -gt 0 ] || classes=("${SUBSET[@]}")

# --- dependencies (Debian packages) -----------------------------------------
J=/usr/share/java
need=()
[ -f $J/curator-recipes.jar ] || need+=(libcurator-framework-java libcurator-recipes-java libcurator-client-java)
[ -f $J/curator-test.jar ] || need+=(libcurator-test-java)
[ -f $J/zookeeper.jar ] || need+=(zookeeper libzookeeper-java)
[ -f $J/junit-platform-console-standalone.jar ] || need+=(junit5)
[ -f $J/assertj-core.jar ] || need+=(libassertj-core-java)
[ -f $J/mockito-core.jar ] || need+=(libmockito-java)
[ -f $J/commons-math.jar ] || need+=(libcommons-math-java)
[ -f $J/slf4j-nop.jar ] || need+=(libslf4j-java)
command -v javac >/dev/null || need+=(default-jdk-headless)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

CP=$J/curator-client.jar:$J/curator-framework.jar:$J/curator-recipes.jar:$J/curator-test.jar
CP=$CP:$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/guava.jar:$J/slf4j-api.jar
CP=$CP:$J/junit-jupiter-api.jar:$J/junit-jupiter-params.jar:$J/opentest4j.jar:$J/apiguardian-api.jar
CP=$CP:$J/junit-platform-commons.jar:$J/assertj-core.jar:$J/commons-math.jar
CP=$CP:$J/mockito-core.jar:$J/byte-buddy.jar:$J/byte-buddy-agent.jar:$J/objenesis.jar
CP=$CP:$J/jackson-databind.jar:$J/jackson-core.jar:$J/jackson-annotations.jar
CP=$CP:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-common.jar:$J/netty-buffer.jar

# --- build --------------------------------------------------------------------
mkdir -p "$out"
build=$out/classes
if [ ! -f "$build/.done" ] || [ "$here/curator" -nt "$build/.done" ]; then
  rm -rf "$build" && mkdir -p "$build/shim" "$build/awaitility" "$build/tests"
  echo "== compiling shim"
  javac -nowarn -encoding UTF-8 -d "$build/awaitility" $(find "$here/curator/shim/org/awaitility" -name '*.java')
  javac -nowarn -encoding UTF-8 -d "$build/shim" -cp "$CP" $(find "$here/curator/shim/org/apache" -name '*.java')
  echo "== compiling Curator's framework + recipes tests"
  # against the real curator-test jar (no shim): the shim is swapped in at run time
  find "$src/curator-framework/src/test/java" "$src/curator-recipes/src/test/java" -name '*.java' \
    | grep -v '/schema/TestSchema.java' > "$build/sources.txt"   # needs jackson-dataformat-yaml
  javac -nowarn -encoding UTF-8 -proc:none -d "$build/tests" -cp "$build/awaitility:$CP" @"$build/sources.txt"
  touch "$build/.done"
fi

if [[ $server == corral || $server == both ]]; then
  CORRAL_BIN=$(corral_bin "$repo")
fi

# --- run ----------------------------------------------------------------------
run_one() {  # server
  local kind=$1 dir=$out/$1
  rm -rf "$dir" && mkdir -p "$dir/server-logs" "$dir/reports"
  local select=()
  for c in "${classes[@]}"; do select+=(--select-class "$c"); done
  local props=(-Dcurator.compat.server="$kind" -Dcurator.compat.logdir="$dir/server-logs")
  [ "$kind" = corral ] && props+=(-Dcurator.compat.corral.bin="$CORRAL_BIN")
  echo "== running ${#classes[@]} classes against $kind (log: $dir/junit.log)"
  java -Xmx1g "${props[@]}" -jar $J/junit-platform-console-standalone.jar \
    -cp "$build/shim:$build/awaitility:$build/tests:$CP:$J/slf4j-nop.jar" "${select[@]}" \
    --disable-banner --details=tree --disable-ansi-colors \
    --reports-dir "$dir/reports" > "$dir/junit.log" 2>&1 || true
  python3 - "$dir" <<'PY'
import sys, glob, xml.etree.ElementTree as ET
d = sys.argv[1]
rows = []
for f in glob.glob(d + "/reports/*.xml"):
    for tc in ET.parse(f).getroot().iter("testcase"):
        name = tc.get("classname", "") + "#" + tc.get("name", "").split("(")[0]
        if tc.find("failure") is not None or tc.find("error") is not None:
            outcome = "FAIL"
        elif tc.find("skipped") is not None:
            outcome = "SKIP"
        else:
            outcome = "PASS"
        rows.append((name, outcome))
rows.sort()
with open(d + "/results.txt", "w") as w:
    for name, outcome in rows:
        w.write(f"{outcome} {name}\n")
n = {k: sum(1 for _, o in rows if o == k) for k in ("PASS", "FAIL", "SKIP")}
print(f"{d.rsplit('/', 1)[-1]}: {n['PASS']} passed, {n['FAIL']} failed, {n['SKIP']} skipped")
PY
}

case $server in
  corral|zookeeper) run_one "$server" ;;
  both)
    run_one zookeeper
    run_one corral
    echo "== tests that pass on ZooKeeper 3.8 and do not pass on corral"
    join <(awk '{print $2, $1}' "$out/zookeeper/results.txt" | sort) \
         <(awk '{print $2, $1}' "$out/corral/results.txt" | sort) \
      | awk '$2 == "PASS" && $3 != "PASS" {print "  " $1 " (corral: " $3 ")"}'
    ;;
  *) echo "--server must be corral, zookeeper or both" >&2; exit 2 ;;
esac
