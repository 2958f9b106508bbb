#!/usr/bin/env python3
"""kazoo (and zkCli) through a ZooKeeper ensemble: the client side of ensemble_check.sh and
mixed_check.sh. The shell scripts start, kill and restart the members; this file only talks
to them as a client.

Usage:
  ensclient.py workflow ADDR,ADDR,...
      create/get/set, data/child/exists watches, ephemeral, sequential, the Election and Lock
      recipes, with one client on every member and one on the connect string of all: a
      write through one member is read (after sync) through every other.
  ensclient.py failover --leader ADDR --others ADDR,ADDR --dir DIR
      Long-running: opens a kazoo session on the leader (hosts leader first, not shuffled),
      an ephemeral node, a kazoo watch and DataWatch, and a zkCli session (its connection
      relayed to the leader) with a `get -w` watch and an ephemeral of its own; writes
      DIR/ready and waits for DIR/go, which the shell writes once it has killed the leader
      and another member leads (DIR/go holds its address). First a probe of a known corral
      failure (a sync on the new leader before its epoch's first txn; see SYNC_BUG), recorded
      in DIR/known-failures. Then: both sessions reconnect with the same session id, their
      ephemerals are still there, the watches set before the kill fire on the next change,
      writes go on. Writes DIR/checked, waits for DIR/finish (the shell restarts the killed
      member and compares the trees meanwhile), then closes its sessions and checks their
      ephemerals are gone on every member.
  ensclient.py dump ADDR FILE        sync, then every node of the tree (data, Stat, ACL) as JSON
  ensclient.py compare FILE FILE...  exit 1 listing the differences of each dump to the first
  ensclient.py mixed TAG NAME=ADDR,NAME=ADDR,...
      Through each member (NAME starting "corral" or "zk"): a write through each member is
      read on every member; an ephemeral and sequential nodes; a session that moves between
      a corral and an Apache member (same session id and password) keeps its ephemeral.

Every wait is a hang guard of WAIT_S seconds (ENSEMBLE_WAIT_S), never a timed assertion.
Exit status 0 only when every check passed; a failed check says what it expected.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NoAuthError, NoNodeError
from kazoo.protocol.states import EventType

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tcpproxy import TcpProxy  # noqa: E402  (tests/interop/tcpproxy.py)

WAIT_S = float(os.environ.get("ENSEMBLE_WAIT_S", "90"))
# Large enough that no session expires while the ensemble elects a new leader; the members
# cap it at their maxSessionTimeout (the scripts raise that; ZooKeeper's default is 20 ticks).
SESSION_TIMEOUT_S = float(os.environ.get("ENSEMBLE_SESSION_TIMEOUT_S", "30"))
JAVA = os.environ.get("JAVA", "java")
ZKCLI_CP = os.environ.get("ZKCLI_CP", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar")


class CheckFailed(Exception):
    pass


def log(msg):
    print(f"ensclient: {msg}", flush=True)


def check(cond, what):
    if not cond:
        raise CheckFailed(what)
    log(f"ok: {what}")


def wait_until(pred, what, timeout_s=WAIT_S):
    """Poll pred until truthy; a hang guard (fails only after WAIT_S)."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise CheckFailed(f"hang guard: no {what} within {timeout_s:.0f}s")
        time.sleep(0.05)


def wait_file(path, timeout_s):
    wait_until(lambda: os.path.exists(path), f"{path} from the shell", timeout_s)


def client(hosts, randomize=True, **kw):
    zk = KazooClient(
        hosts=hosts,
        timeout=SESSION_TIMEOUT_S,
        randomize_hosts=randomize,
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0},
        command_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0, "deadline": WAIT_S},
        **kw,
    )
    zk.start(timeout=WAIT_S)
    return zk


def synced_get(zk, path):
    zk.sync(path)
    return zk.get(path)


def synced_exists(zk, path):
    parent = path.rsplit("/", 1)[0] or "/"
    zk.sync(parent)
    return zk.exists(path)


def peer(zk):
    """The server address kazoo's connection is on (for the log only)."""
    try:
        return "%s:%d" % zk._connection._socket.getpeername()[:2]
    except Exception:  # noqa: BLE001 - informational
        return "?"


class Events:
    """Thread-safe list of what callbacks saw, with a guarded wait."""

    def __init__(self):
        self.cond = threading.Condition()
        self.items = []

    def __call__(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, pred, what):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(x) for x in self.items), timeout=WAIT_S)
            seen = list(self.items)
        if not ok:
            raise CheckFailed(f"hang guard: no {what} within {WAIT_S:.0f}s; saw {seen}")
        return next(x for x in seen if pred(x))


class ZkCli:
    """One interactive zkCli (Apache's Java client) session; output collected line by line."""

    def __init__(self, server, transcript=None):
        self.lines = []
        self.cond = threading.Condition()
        self.transcript = open(transcript, "a", buffering=1) if transcript else None
        self.proc = subprocess.Popen(
            [JAVA, "-Xmx128m", "-cp", ZKCLI_CP, "org.apache.zookeeper.ZooKeeperMain",
             "-server", server],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if self.transcript:
                self.transcript.write(f"{time.strftime('%H:%M:%S')} {line}")
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def count(self, line):
        with self.cond:
            return self.lines.count(line)

    def wait_line(self, line, count=1):
        with self.cond:
            ok = self.cond.wait_for(lambda: self.lines.count(line) >= count, timeout=WAIT_S)
            tail = self.lines[-25:]
        if not ok:
            raise CheckFailed(f"hang guard: zkCli printed no {line!r} (x{count}) within "
                              f"{WAIT_S:.0f}s; last lines: {tail}")

    def wait_match(self, pred, what):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(x) for x in self.lines), timeout=WAIT_S)
            tail = self.lines[-25:]
        if not ok:
            raise CheckFailed(f"hang guard: zkCli printed no {what}; last lines: {tail}")

    def close(self):
        try:
            self.send("quit")
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


ZKCLI_CONNECTED = "WatchedEvent state:SyncConnected type:None path:null"
ZKCLI_DISCONNECTED = "WatchedEvent state:Disconnected type:None path:null"


def zkcli_event(kind, path):
    return f"WatchedEvent state:SyncConnected type:{kind} path:{path}"


# ---- workflow -----------------------------------------------------------------------------

def cmd_workflow(members):
    addrs = members.split(",")
    root = f"/ens-workflow-{os.getpid()}"
    everyone = client(",".join(addrs))
    per = [client(a) for a in addrs]
    log(f"clients: one on each member {addrs}, one on all of them (now on {peer(everyone)})")
    try:
        everyone.create(root)

        # create / get / set, each write through one member and read through all.
        cfg = f"{root}/config"
        per[0].create(cfg, b"v0")
        for i, zk in enumerate(per):
            data, stat = synced_get(zk, cfg)
            check(data == b"v0" and stat.version == 0, f"member {addrs[i]} reads the create "
                  f"through {addrs[0]}")
        per[1].set(cfg, b"v1", version=0)
        everyone.sync(cfg)
        data, stat = everyone.get(cfg)
        check((data, stat.version) == (b"v1", 1), "the set through member 2 is read through "
              "the connect string of all")
        for i, zk in enumerate(per):
            data, stat = synced_get(zk, cfg)
            check((data, stat.version) == (b"v1", 1), f"member {addrs[i]} reads the set")

        # Watches: set on one member, fired by a write through another.
        ev = Events()
        per[2].get(cfg, watch=ev)
        per[0].set(cfg, b"v2")
        e = ev.wait(lambda x: x.type == EventType.CHANGED, "data watch")
        check(e.path == cfg, f"a data watch on {addrs[2]} fires for a set through {addrs[0]}")
        ev2 = Events()
        per[1].get_children(root, watch=ev2)
        per[2].create(f"{root}/child")
        e = ev2.wait(lambda x: x.type == EventType.CHILD, "child watch")
        check(e.path == root, f"a child watch on {addrs[1]} fires for a create through {addrs[2]}")
        ev3 = Events()
        check(per[0].exists(f"{root}/later", watch=ev3) is None, "exists watch on an absent node")
        per[1].create(f"{root}/later", b"x")
        ev3.wait(lambda x: x.type == EventType.CREATED and x.path == f"{root}/later",
                 "exists watch")
        log(f"ok: an exists watch on {addrs[0]} fires for a create through {addrs[1]}")
        per[2].delete(f"{root}/later")

        # Ephemeral: visible through every member with its owner, gone everywhere on close.
        eph = client(addrs[1])
        sid = eph.client_id[0]
        eph.create(f"{root}/eph", b"mine", ephemeral=True)
        for i, zk in enumerate(per):
            st = synced_exists(zk, f"{root}/eph")
            check(st is not None and st.ephemeralOwner == sid,
                  f"member {addrs[i]} shows the ephemeral with owner 0x{sid:x}")
        eph.stop()
        eph.close()
        for i, zk in enumerate(per):
            check(synced_exists(zk, f"{root}/eph") is None,
                  f"member {addrs[i]}: the ephemeral is gone after its session closed")

        # Sequential: creates alternating between members number in order, without gaps.
        everyone.create(f"{root}/seq")
        made = [per[i % 3].create(f"{root}/seq/n-", str(i).encode(), sequence=True)
                for i in range(9)]
        want = [f"{root}/seq/n-{i:010d}" for i in range(9)]
        check(made == want, f"sequential creates through alternating members are numbered "
              f"0..8 in order (got {[m.rsplit('-', 1)[1] for m in made]})")
        for i, zk in enumerate(per):
            zk.sync(f"{root}/seq")
            check(sorted(zk.get_children(f"{root}/seq")) == [w.rsplit("/", 1)[1] for w in want],
                  f"member {addrs[i]} lists the 9 sequential nodes")

        # Election recipe: contenders on different members, leadership passes in join order.
        elected = Events()
        release = {n: threading.Event() for n in "abc"}
        elections = {}
        threads = []

        def lead(name):
            elected(name)
            release[name].wait(WAIT_S)

        for n, zk in zip("abc", per):
            elections[n] = zk.Election(f"{root}/election", n)
            t = threading.Thread(target=elections[n].run, args=(lead, n), daemon=True)
            t.start()
            threads.append(t)
            if n == "a":
                elected.wait(lambda x: x == "a", "election of the first contender")
            k = len(threads)
            wait_until(lambda: len(elections["a"].contenders()) == k, f"{k} election contenders")
        got = elections["c"].contenders()
        check(got == ["a", "b", "c"] and elected.items == ["a"],
              f"Election: contenders seen through member 3 are a, b, c (got {got}); a leads")
        release["a"].set()
        elected.wait(lambda x: x == "b", "b elected after a leaves")
        check(elected.items[:2] == ["a", "b"], "Election: b (on member 2) leads after a leaves")
        release["b"].set()
        elected.wait(lambda x: x == "c", "c elected after b leaves")
        check(elected.items == ["a", "b", "c"], "Election: c (on member 3) leads last")
        release["c"].set()
        for t in threads:
            t.join(WAIT_S)

        # Lock recipe: mutual exclusion across members; the waiter gets it on release.
        locks = [zk.Lock(f"{root}/lock", f"holder-{i}") for i, zk in enumerate(per)]
        check(locks[0].acquire(timeout=WAIT_S), f"Lock: acquired through {addrs[0]}")
        check(not locks[1].acquire(blocking=False),
              f"Lock: a second client on {addrs[1]} cannot take it meanwhile")
        got = Events()
        t = threading.Thread(target=lambda: got(locks[2].acquire(timeout=WAIT_S)), daemon=True)
        t.start()
        wait_until(lambda: locks[0].contenders() == ["holder-0", "holder-2"],
                   "the waiter's lock node behind the holder's")
        check(not got.items,
              "Lock: the blocked waiter on member 3 queues behind the holder")
        locks[0].release()
        got.wait(lambda x: x is True, "the waiter to get the lock")
        check(locks[2].is_acquired, f"Lock: the waiter on {addrs[2]} holds it after release")
        locks[2].release()
        t.join(WAIT_S)

        everyone.delete(root, recursive=True)
        for i, zk in enumerate(per):
            check(synced_exists(zk, root) is None, f"member {addrs[i]}: the workflow root removed")
        log("PASS: workflow")
    finally:
        for zk in per + [everyone]:
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass


# ---- failover -----------------------------------------------------------------------------

class RetargetableProxy(TcpProxy):
    """A TcpProxy whose new connections can be sent to another server (a virtual address)."""

    def retarget(self, host, port):
        with self._lock:
            self._target = (host, port)


def _hp(addr):
    h, p = addr.rsplit(":", 1)
    return h, int(p)


def cmd_failover(leader, others, work):
    others = others.split(",")
    root = "/failover"
    states = Events()
    # One more session pinned to each member that may lead next, for the probe below.
    pins = {}
    for a in others:
        pins[a] = (client(a), Events())
        pins[a][0].add_listener(pins[a][1])
    zk = client(",".join([leader] + others), randomize=False)
    zk.add_listener(lambda s: states(s))
    check(peer(zk) == leader, f"the kazoo session is on the leader {leader}")
    sid, pwd = zk.client_id
    obs = client(others[0])
    log(f"kazoo session 0x{sid:x} on {peer(zk)}; observer on {peer(obs)}")

    zk.ensure_path(root)
    zk.create(f"{root}/eph-kazoo", b"kazoo", ephemeral=True)
    zk.create(f"{root}/watched", b"before")
    for i in range(20):
        zk.create(f"{root}/before-{i:02d}", str(i).encode())
    raw = Events()
    zk.get(f"{root}/watched", watch=raw)
    datawatch = Events()
    zk.DataWatch(f"{root}/watched", lambda data, stat: datawatch(data))
    datawatch.wait(lambda d: d == b"before", "the DataWatch's first read")

    # zkCli: its only server address is a relay to the leader; after the kill the relay
    # leads to a survivor, so the Java client reconnects (SetWatches, same session) there.
    relay = RetargetableProxy(*_hp(leader))
    cli = ZkCli(relay.address, transcript=os.path.join(work, "zkcli.log"))
    try:
        cli.wait_line(ZKCLI_CONNECTED)
        cli.send(f"create -e {root}/eph-java java")
        cli.wait_line(f"Created {root}/eph-java")
        java_owner = zk.exists(f"{root}/eph-java").ephemeralOwner
        cli.send(f"get -w {root}/watched")
        cli.wait_line("before")
        cli.send(f"ls -w {root}")
        cli.wait_match(lambda x: x.startswith("[") and "watched" in x, f"`ls {root}` answer")
        zk.sync(root)
        with open(os.path.join(work, "ready"), "w") as f:
            f.write(f"0x{sid:x}\n")
        log("ready: the shell may kill the leader")

        wait_file(os.path.join(work, "go"), WAIT_S * 3)
        new_leader = open(os.path.join(work, "go")).read().strip()
        relay.retarget(*_hp(new_leader))
        relay.sever()
        log(f"go: new leader {new_leader}; the zkCli relay now leads there")
        pin, pin_states = pins[new_leader]
        pin_states.wait(lambda st: st == KazooState.SUSPENDED, "the pinned session's drop")
        wait_until(lambda: pin.state == KazooState.CONNECTED, "the pinned session to reconnect")
        probe_leader_sync(pin, new_leader, work)

        states.wait(lambda s: s == KazooState.SUSPENDED, "kazoo to see the connection drop")
        wait_until(lambda: zk.state == KazooState.CONNECTED, "kazoo to reconnect")
        check(zk.client_id == (sid, pwd),
              f"kazoo reconnected (now on {peer(zk)}) with the same session 0x{sid:x}")
        check(KazooState.LOST not in states.items, "kazoo never saw its session LOST "
              f"(states: {[str(s) for s in states.items]})")
        raw.wait(lambda e: e.type == EventType.NONE, "kazoo's NONE event on the drop")
        log("ok: the kazoo watch set before the kill fired (kazoo's NONE event on the drop: "
            "kazoo 2.11 sends no SetWatches)")
        st = synced_exists(obs, f"{root}/eph-kazoo")
        check(st is not None and st.ephemeralOwner == sid,
              "the kazoo session's ephemeral survived the leader's death")
        cli.wait_line(ZKCLI_CONNECTED, count=2)
        cli.send(f"stat {root}/eph-java")
        owner_line = f"ephemeralOwner = 0x{java_owner:x}"
        cli.wait_line(owner_line)
        log(f"ok: the zkCli session reconnected (same session, {owner_line}) after "
            f"{cli.count(ZKCLI_DISCONNECTED)} Disconnected event(s)")

        # The watches set before the kill fire on the first change after it.
        obs.set(f"{root}/watched", b"after")
        datawatch.wait(lambda d: d == b"after", "the DataWatch to read the change")
        log("ok: the kazoo DataWatch (re-armed by kazoo on reconnect) sees the change")
        cli.wait_line(zkcli_event("NodeDataChanged", f"{root}/watched"))
        log("ok: the zkCli `get -w` watch set on the old leader fired on the new one "
            "(SetWatches)")
        obs.create(f"{root}/after-obs")
        cli.wait_line(zkcli_event("NodeChildrenChanged", root))
        log("ok: the zkCli `ls -w` watch fired too")
        for i in range(20):
            zk.create(f"{root}/after-{i:02d}", str(i).encode())
        zk.set(f"{root}/watched", b"after, by the moved session")
        check(synced_get(obs, f"{root}/watched")[0] == b"after, by the moved session",
              "writes through the reconnected kazoo session are read through another member")
        with open(os.path.join(work, "checked"), "w") as f:
            f.write("ok\n")
        log("checked: the shell may restart the killed member and compare the trees")

        wait_file(os.path.join(work, "finish"), WAIT_S * 3)
    finally:
        cli.close()
        relay.close()
    zk.stop()
    zk.close()
    for pin, _ in pins.values():
        pin.stop()
        pin.close()
    for zkc in [obs]:
        check(synced_exists(zkc, f"{root}/eph-kazoo") is None
              and synced_exists(zkc, f"{root}/eph-java") is None,
              "both ephemerals are gone once their sessions closed")
    obs.stop()
    obs.close()
    log("PASS: failover")


def probe_leader_sync(pin, leader, work):
    """A sync through a session that reattached to the new leader before any write of the new
    epoch is answered (corral once waited for the epoch's zxid 0, which names no txn, and
    answered only after the next write; tests/sim has the same case)."""
    what = f"sync on the new leader {leader} before the first txn of its epoch"
    try:
        pin.sync_async("/").get(timeout=WAIT_S)
    except Exception as e:  # noqa: BLE001 - a hang guard's timeout is the check's failure
        raise CheckFailed(f"{what}: {e!r}")
    log(f"ok: {what} answered")


# ---- dump / compare ------------------------------------------------------------------------

STAT_FIELDS = ("czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren")


def dump_tree(zk, top="/"):
    zk.sync(top)
    out = {}

    def walk(path):
        try:
            data, stat = zk.get(path)
            acl, _ = zk.get_acls(path)
            children = zk.get_children(path)
        except NoNodeError:
            return
        except NoAuthError:
            out[path] = {"noauth": True}
            return
        out[path] = {
            "data": (data or b"").hex() if data is not None else None,
            "stat": {f: getattr(stat, f) for f in STAT_FIELDS},
            "acl": sorted(f"{a.id.scheme}:{a.id.id}:{a.perms}" for a in acl),
        }
        if path == "/zookeeper/config":
            # Each member, Apache ZooKeeper's too, stamps this node with its own start time.
            del out[path]["stat"]["mtime"]
        for c in sorted(children):
            walk(("" if path == "/" else path) + "/" + c)

    walk(top)
    return out


def cmd_dump(addr, path, top="/"):
    zk = client(addr)
    try:
        tree = dump_tree(zk, top)
    finally:
        zk.stop()
        zk.close()
    with open(path, "w") as f:
        json.dump(tree, f, indent=1, sort_keys=True)
    log(f"dumped {len(tree)} nodes under {top} from {addr} to {path}")


def diff_trees(a, b, limit=20):
    diffs = []
    for p in sorted(set(a) | set(b)):
        if p not in a:
            diffs.append(f"only in the second: {p}")
        elif p not in b:
            diffs.append(f"only in the first: {p}")
        elif a[p] != b[p]:
            diffs.append(f"differs: {p}: {a[p]} != {b[p]}")
    return diffs[:limit]


def cmd_compare(first, *others):
    with open(first) as f:
        a = json.load(f)
    bad = False
    for o in others:
        with open(o) as f:
            b = json.load(f)
        d = diff_trees(a, b)
        if d:
            bad = True
            print(f"compare: {first} vs {o}: differences:\n  " + "\n  ".join(d))
        else:
            print(f"compare: {o} is identical to {first} ({len(a)} nodes)")
    return 1 if bad else 0


# ---- mixed --------------------------------------------------------------------------------

def cmd_mixed(tag, members):
    named = [m.split("=", 1) for m in members.split(",")]
    names = [n for n, _ in named]
    addr = dict(named)
    root = f"/mixed-{tag}"
    per = {n: client(a) for n, a in named}
    try:
        first = per[names[0]]
        first.ensure_path(root)

        # A write through each member is read through every member.
        for n in names:
            per[n].create(f"{root}/from-{n}", f"written through {n}".encode())
        for r in names:
            for n in names:
                data, _ = synced_get(per[r], f"{root}/from-{n}")
                check(data == f"written through {n}".encode(),
                      f"[{tag}] {r} reads the write through {n}")
        per[names[-1]].set(f"{root}/from-{names[0]}", b"changed")
        for r in names:
            data, st = synced_get(per[r], f"{root}/from-{names[0]}")
            check((data, st.version) == (b"changed", 1),
                  f"[{tag}] {r} reads the set through {names[-1]} (version 1)")

        # Ephemeral, created through each member in turn.
        for n in names:
            e = client(addr[n])
            sid = e.client_id[0]
            e.create(f"{root}/eph-{n}", b"e", ephemeral=True)
            for r in names:
                st = synced_exists(per[r], f"{root}/eph-{n}")
                check(st is not None and st.ephemeralOwner == sid,
                      f"[{tag}] {r} shows the ephemeral made through {n} (owner 0x{sid:x})")
            e.stop()
            e.close()
            for r in names:
                check(synced_exists(per[r], f"{root}/eph-{n}") is None,
                      f"[{tag}] {r}: the ephemeral made through {n} is gone after its close")

        # Sequential, through the members in turn.
        first.ensure_path(f"{root}/seq")
        made = []
        for i in range(2 * len(names)):
            n = names[i % len(names)]
            made.append(per[n].create(f"{root}/seq/s-", n.encode(), sequence=True))
        want = [f"{root}/seq/s-{i:010d}" for i in range(len(made))]
        check(made == want, f"[{tag}] sequential creates through members in turn are numbered "
              f"0..{len(made) - 1} in order (got {[m.rsplit('-', 1)[1] for m in made]})")
        for r in names:
            per[r].sync(f"{root}/seq")
            kids = sorted(per[r].get_children(f"{root}/seq"))
            check(kids == [w.rsplit("/", 1)[1] for w in want],
                  f"[{tag}] {r} lists the {len(want)} sequential nodes")

        # A session moves between a corral and an Apache member and keeps its ephemeral.
        corral = next((n for n in names if n.startswith("corral")), None)
        apache = next((n for n in names if n.startswith("zk")), None)
        if corral and apache:
            session_move(tag, root, per, addr, corral, apache)

        # Every member holds the same tree under root.
        dumps = {r: dump_tree(per[r], root) for r in names}
        for r in names[1:]:
            d = diff_trees(dumps[names[0]], dumps[r])
            check(not d, f"[{tag}] {r} holds the same {len(dumps[r])} nodes under {root} "
                  f"as {names[0]}" + (f": {d}" if d else ""))
        log(f"PASS: mixed {tag}")
    finally:
        for zk in per.values():
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001 - best-effort cleanup
                pass


def session_move(tag, root, per, addr, corral, apache):
    relays = {corral: TcpProxy(*_hp(addr[corral])), apache: TcpProxy(*_hp(addr[apache]))}
    states = Events()
    zk = None
    try:
        zk = client(relays[corral].address)
        zk.add_listener(lambda s: states(s))
        sid, pwd = zk.client_id
        zk.create(f"{root}/moving", b"m", ephemeral=True)
        log(f"[{tag}] session 0x{sid:x} opened on {corral}, with ephemeral {root}/moving")
        hops = [(corral, apache), (apache, corral)]
        for src, dst in hops:
            n_conn = states.items.count(KazooState.CONNECTED)
            zk.set_hosts(relays[dst].address)
            relays[src].block()
            relays[src].sever()
            states.wait(lambda s: s == KazooState.SUSPENDED, "the drop")
            wait_until(lambda: states.items.count(KazooState.CONNECTED) > n_conn,
                       f"the session to reconnect through {dst}")
            relays[src].unblock()
            check(zk.client_id == (sid, pwd) and KazooState.LOST not in states.items,
                  f"[{tag}] the session 0x{sid:x} moved from {src} to {dst} "
                  "(same id and password)")
            zk.sync(root)
            data, st = zk.get(f"{root}/moving")
            check(st.ephemeralOwner == sid,
                  f"[{tag}] on {dst} the session still owns its ephemeral")
            zk.set(f"{root}/moving", f"set on {dst}".encode())
            for r in per:
                d, st = synced_get(per[r], f"{root}/moving")
                check(d == f"set on {dst}".encode() and st.ephemeralOwner == sid,
                      f"[{tag}] {r} reads the moved session's write through {dst}")
        zk.stop()
        zk.close()
        zk = None
        for r in per:
            check(synced_exists(per[r], f"{root}/moving") is None,
                  f"[{tag}] {r}: the moved session's ephemeral is gone after its close")
    finally:
        if zk is not None:
            zk.stop()
            zk.close()
        for r in relays.values():
            r.close()


def main(argv):
    logging.basicConfig(level=logging.WARNING, format="ensclient: (%(name)s) %(message)s")
    # The shell stops a client it gave up on with SIGTERM: unwind, so that `finally` blocks
    # stop the zkCli it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "workflow" and len(args) == 1:
            cmd_workflow(args[0])
        elif cmd == "failover" and len(args) == 6:
            opts = dict(zip(args[::2], args[1::2]))
            cmd_failover(opts["--leader"], opts["--others"], opts["--dir"])
        elif cmd == "dump" and len(args) in (2, 3):
            cmd_dump(*args)
        elif cmd == "compare" and len(args) >= 2:
            return cmd_compare(*args)
        elif cmd == "mixed" and len(args) == 2:
            cmd_mixed(*args)
        else:
            print(__doc__)
            return 2
    except CheckFailed as e:
        print(f"ensclient: FAIL: {e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
