#!/usr/bin/env python3
"""The client load of scripts/rolling-migration.sh: kazoo sessions spread over a 3-member
ensemble that write, read, watch and hold ephemerals while the shell replaces the members
one at a time, and the final checks on every member. The shell starts and stops members;
this file is only a client.

Usage:
  rolling_migration_load.py --members ADDR,ADDR,ADDR --dir DIR [--sessions N]

Per session i (its connect string lists its home member first, then the others, in order,
so the sessions start spread over the members and move when theirs restarts):
  * an ephemeral /mig/eph/sI, held for the whole run;
  * a writer: creates /mig/w/sI/NNNNNN with a unique value (every create that returns is an
    acknowledged write, recorded), reads it back at once (the session must see its own
    write), every 10th write syncs and reads another session's latest acknowledged node,
    and every 5th write sets /mig/tick/sI (the acknowledged versions are recorded);
  * a watcher: a data watch on every other session's tick node, re-armed with a read after
    each event. kazoo 2.11 drops its watches on a disconnect (it fires a NONE event and
    sends no SetWatches), so after each reconnect this client sends SetWatches itself with
    the last zxid seen before the drop, as the Java client does: the member the session
    lands on must fire what changed meanwhile and keep the rest.

Files the shell and this client exchange in DIR:
  ready              written once every session is connected, its ephemeral made, its
                     watches set and the writers running
  checkpoint-K       written by the shell after each replacement; the writers stop setting
                     tick nodes, each sets its own once more (acknowledged), and every
                     watcher must then see every tick node at that version (a hang guard,
                     never a timed assertion); a watcher that does not counts one lost watch
                     per missed change. Answered with checkpoint-K.done (a stats line).
  stop               written by the shell at the end: the writers stop, a last checkpoint
                     runs, then the checks on every member, each through a session of its
                     own after a sync: every acknowledged create present with its value at
                     version 0, every tick node at or past its last acknowledged version,
                     every load session still connected with the id it started with and
                     its ephemeral present with that owner.
  result             the summary line, also printed:
                     acknowledged=N lost=N sessions_expired=N watches_lost=N ...
Exit status 0 only when lost, sessions_expired, watches_lost, errors and stale_reads are 0.

What counts as an error: any exception from an operation other than ConnectionLoss (kazoo's
ConnectionLoss covers a request in flight when the member went away); a SUSPENDED state is
expected, a LOST state is an expired session.
"""

import argparse
import os
import queue
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import ConnectionLoss, NoNodeError, SessionExpiredError
from kazoo.protocol.states import EventType

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "interop"))
import zkwire  # noqa: E402  (tests/interop/zkwire.py: SetWatches over kazoo's connection)

WAIT_S = float(os.environ.get("ENSEMBLE_WAIT_S", "90"))
# Long enough that no session expires while a member restarts or a leader is elected; the
# members cap it at maxSessionTimeout (the script's zoo.cfg allows 60 s).
SESSION_TIMEOUT_S = float(os.environ.get("MIGRATION_SESSION_TIMEOUT_S", "30"))
# Pause of each writer between writes: the load is modest on purpose (2 shared cores).
WRITE_PAUSE_S = float(os.environ.get("MIGRATION_WRITE_PAUSE_S", "0.01"))
TICK_EVERY = 5
READ_OTHER_EVERY = 10
ROOT = "/mig"


def log(msg):
    print(f"load: {msg}", flush=True)


class Stats:
    """Counters shared by every thread; `note` keeps the first few examples of each kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.n = {}
        self.examples = {}

    def add(self, key, k=1):
        with self.lock:
            self.n[key] = self.n.get(key, 0) + k

    def note(self, key, what):
        with self.lock:
            self.n[key] = self.n.get(key, 0) + 1
            ex = self.examples.setdefault(key, [])
            if len(ex) < 5:
                ex.append(what)
        log(f"{key}: {what}")

    def get(self, key):
        with self.lock:
            return self.n.get(key, 0)


STATS = Stats()


class Session:
    """One kazoo session of the load with its writer and watcher threads."""

    def __init__(self, i, members, n_sessions):
        self.i = i
        self.name = f"s{i}"
        home = i % len(members)
        hosts = members[home:] + members[:home]
        self.zk = KazooClient(
            hosts=",".join(hosts),
            timeout=SESSION_TIMEOUT_S,
            randomize_hosts=False,
            connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0},
        )
        self.states = []
        self.zk.add_listener(self._on_state)
        self.zk.start(timeout=WAIT_S)
        self.session_id, self.password = self.zk.client_id
        self.watched = [f"{ROOT}/tick/s{j}" for j in range(n_sessions) if j != i]
        self.observed = {p: -1 for p in self.watched}  # max version read after an event
        self.observed_cond = threading.Condition()
        self.rearm = queue.Queue()
        self.restore_from = None  # last zxid seen before a drop, until SetWatches succeeds
        self.restore_lock = threading.Lock()
        self.acked = []  # (path, value) of every acknowledged create
        self.acked_lock = threading.Lock()
        self.tick_acked_version = -1
        self.tick_changes = 0
        self.ticks_paused = threading.Event()
        self.tick_lock = threading.Lock()  # held by the writer while it sets its tick node
        self.stop_writer = threading.Event()
        self.stop = threading.Event()
        self.threads = []

    # ---- connection state -----------------------------------------------------------------

    def _on_state(self, state):
        self.states.append(state)
        if state == KazooState.LOST:
            STATS.note("sessions_expired", f"{self.name}: LOST (0x{self.zk.client_id[0]:x}?)")
        elif state == KazooState.SUSPENDED:
            STATS.add("suspended")
            with self.restore_lock:
                if self.restore_from is None:
                    self.restore_from = self.zk.last_zxid
        elif state == KazooState.CONNECTED and len(self.states) > 1:
            # Listeners run on kazoo's connection thread: restore from another thread.
            threading.Thread(target=self._restore_watches, daemon=True).start()

    def _restore_watches(self):
        """SetWatches for every watched path, relative to the last zxid seen before the drop."""
        while not self.stop.is_set():
            with self.restore_lock:
                rel = self.restore_from
            if rel is None:
                return
            for p in self.watched:
                self.zk._data_watchers[p].add(self._on_watch)
            try:
                zkwire.call(self.zk, zkwire.SetWatches(rel, self.watched, [], []), WAIT_S)
            except ConnectionLoss:
                return  # the next CONNECTED tries again, from the same zxid
            except Exception as e:  # noqa: BLE001 - counted, reported
                STATS.note("errors", f"{self.name}: SetWatches: {e!r}")
                return
            with self.restore_lock:
                if self.restore_from == rel:
                    self.restore_from = None
            STATS.add("watch_restores")
            return

    def wait_connected(self):
        deadline = time.monotonic() + WAIT_S
        while self.zk.state != KazooState.CONNECTED:
            if self.zk.state == KazooState.LOST or time.monotonic() > deadline:
                raise SessionExpiredError(f"{self.name}: not connected within {WAIT_S:.0f}s")
            time.sleep(0.05)

    def call(self, what, fn, *args, retry=False, **kw):
        """Runs one operation. ConnectionLoss: None (retry=False) or again once connected.
        Any other exception is counted as an error and re-raised."""
        while True:
            self.wait_connected()
            try:
                return fn(*args, **kw)
            except ConnectionLoss:
                STATS.add("connection_loss")
                if not retry:
                    return None
            except NoNodeError:
                raise
            except SessionExpiredError as e:
                STATS.note("sessions_expired", f"{self.name}: {what}: {e!r}")
                raise
            except Exception as e:
                STATS.note("errors", f"{self.name}: {what}: {e!r}")
                raise

    # ---- watcher --------------------------------------------------------------------------

    def _on_watch(self, event):
        if event.type == EventType.NONE:
            return  # kazoo's own signal of the drop; SetWatches restores the watch
        STATS.add("watch_events")
        self.rearm.put(event.path)

    def _arm(self, path):
        data, stat = self.call(f"get -w {path}", self.zk.get, path, watch=self._on_watch,
                               retry=True)
        with self.observed_cond:
            if stat.version > self.observed[path]:
                self.observed[path] = stat.version
            self.observed_cond.notify_all()

    def _watcher(self):
        while not self.stop.is_set():
            try:
                path = self.rearm.get(timeout=0.2)
            except queue.Empty:
                continue
            self._arm(path)

    # ---- writer ---------------------------------------------------------------------------

    def _tick(self, n):
        stat = self.call("set tick", self.zk.set, f"{ROOT}/tick/{self.name}", str(n).encode())
        if stat is not None:
            self.tick_acked_version = max(self.tick_acked_version, stat.version)
            self.tick_changes += 1
            STATS.add("acknowledged")

    def _writer(self, sessions):
        n = 0
        while not self.stop_writer.is_set():
            n += 1
            try:
                self._write(n, sessions)
            except SessionExpiredError:
                return  # counted; the session is gone
            except Exception:  # noqa: BLE001 - counted as an error by call(); go on
                pass
            time.sleep(WRITE_PAUSE_S)

    def _write(self, n, sessions):
        path = f"{ROOT}/w/{self.name}/{n:06d}"
        value = f"{self.name}-{n}-{self.session_id:x}".encode()
        if self.call("create", self.zk.create, path, value) is not None:
            with self.acked_lock:
                self.acked.append((path, value))
            STATS.add("acknowledged")
            try:
                got, _ = self.call("get own", self.zk.get, path, retry=True)
            except NoNodeError:
                got = None
            if got != value:
                STATS.note("stale_reads", f"{self.name}: own {path} read {got!r}")
        if n % READ_OTHER_EVERY == 0:
            self._read_other(sessions[(self.i + n // READ_OTHER_EVERY) % len(sessions)])
        if n % TICK_EVERY == 0:
            with self.tick_lock:
                if not self.ticks_paused.is_set():
                    self._tick(n)

    def _read_other(self, other):
        with other.acked_lock:
            last = other.acked[-1] if other.acked else None
        if last is None:
            return
        self.call("sync", self.zk.sync, f"{ROOT}/w/{other.name}", retry=True)
        try:
            data, _ = self.call("get other", self.zk.get, last[0], retry=True)
        except NoNodeError:
            STATS.note("stale_reads", f"{self.name}: {last[0]} missing after sync")
            return
        if data != last[1]:
            STATS.note("stale_reads", f"{self.name}: {last[0]} read {data!r}")
        STATS.add("reads")

    def start(self, sessions):
        for target, args in ((self._writer, (sessions,)), (self._watcher, ())):
            t = threading.Thread(target=target, args=args, daemon=True)
            t.start()
            self.threads.append(t)


def setup(sessions):
    zk = sessions[0].zk
    for s in sessions:
        zk.ensure_path(f"{ROOT}/w/{s.name}")
        zk.ensure_path(f"{ROOT}/tick/{s.name}")
    zk.ensure_path(f"{ROOT}/eph")
    for s in sessions:
        s.zk.create(f"{ROOT}/eph/{s.name}", s.name.encode(), ephemeral=True)
        s.zk.sync(ROOT)
        for p in s.watched:
            s._arm(p)


def checkpoint(sessions, tag):
    """Ticks paused, one last acknowledged tick each, then every watcher must catch up."""
    for s in sessions:
        s.ticks_paused.set()
    for s in sessions:
        with s.tick_lock:  # a tick set in flight has returned
            pass
    for s in sessions:
        stat = s.call("final tick", s.zk.set, f"{ROOT}/tick/{s.name}", tag.encode(), retry=True)
        s.tick_acked_version = max(s.tick_acked_version, stat.version)
        s.tick_changes += 1
        STATS.add("acknowledged")
    target = {f"{ROOT}/tick/{s.name}": s.tick_acked_version for s in sessions}
    lost = 0
    deadline = time.monotonic() + WAIT_S  # one hang guard for all the watchers
    for s in sessions:
        with s.observed_cond:
            caught_up = s.observed_cond.wait_for(
                lambda: all(s.observed[p] >= target[p] for p in s.watched),
                timeout=max(0.0, deadline - time.monotonic()))
            behind = {p: s.observed[p] for p in s.watched if s.observed[p] < target[p]}
        if not caught_up:
            for p, v in behind.items():
                missed = target[p] - v
                lost += missed
                STATS.note("watches_lost", f"{tag}: {s.name} saw {p} at version {v}, "
                           f"it is at {target[p]} ({missed} change(s) with no event)")
                s._arm(p)  # count this loss once, not again at every later checkpoint
    for s in sessions:
        s.ticks_paused.clear()
    return lost


def check_member(addr, sessions):
    """The final checks through a session of its own on `addr` alone (after a sync)."""
    zk = KazooClient(hosts=addr, timeout=SESSION_TIMEOUT_S,
                     connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0})
    zk.start(timeout=WAIT_S)
    lost = 0
    try:
        zk.sync(ROOT)
        for s in sessions:
            with s.acked_lock:
                acked = list(s.acked)
            pending = [(path, value, zk.get_async(path)) for path, value in acked]
            for path, value, res in pending:
                try:
                    data, stat = res.get(timeout=WAIT_S)
                except NoNodeError:
                    lost += 1
                    STATS.note("lost_detail", f"{addr}: acknowledged {path} missing")
                    continue
                if data != value or stat.version != 0:
                    lost += 1
                    STATS.note("lost_detail", f"{addr}: {path} holds {data!r} at version "
                               f"{stat.version}, acknowledged {value!r} at version 0")
            _, stat = zk.get(f"{ROOT}/tick/{s.name}")
            if stat.version < s.tick_acked_version:
                lost += s.tick_acked_version - stat.version
                STATS.note("lost_detail", f"{addr}: tick/{s.name} at version {stat.version}, "
                           f"version {s.tick_acked_version} was acknowledged")
            eph = zk.exists(f"{ROOT}/eph/{s.name}")
            if eph is None or eph.ephemeralOwner != s.session_id:
                STATS.note("sessions_expired", f"{addr}: ephemeral of {s.name} "
                           f"(0x{s.session_id:x}) is {eph and hex(eph.ephemeralOwner)}")
    finally:
        zk.stop()
        zk.close()
    log(f"checked {addr}: {lost} acknowledged write(s) missing or different")
    return lost


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--sessions", type=int, default=6)
    a = ap.parse_args()
    members = a.members.split(",")

    sessions = [Session(i, members, a.sessions) for i in range(a.sessions)]
    for s in sessions:
        log(f"{s.name}: session 0x{s.session_id:x} on {s.zk.hosts[0][0]}:{s.zk.hosts[0][1]}")
    setup(sessions)
    for s in sessions:
        s.start(sessions)
    open(os.path.join(a.dir, "ready"), "w").close()
    log(f"ready: {len(sessions)} sessions writing, reading, watching")

    watches_lost = 0
    k = 0
    stop = os.path.join(a.dir, "stop")
    while not os.path.exists(stop):
        nxt = os.path.join(a.dir, f"checkpoint-{k + 1}")
        if not os.path.exists(nxt):
            time.sleep(0.1)
            continue
        k += 1
        watches_lost += checkpoint(sessions, f"checkpoint-{k}")
        line = (f"checkpoint-{k}: acknowledged={STATS.get('acknowledged')} "
                f"connection_loss={STATS.get('connection_loss')} "
                f"watch_events={STATS.get('watch_events')} watches_lost={watches_lost}")
        log(line)
        with open(nxt + ".done.tmp", "w") as f:
            f.write(line + "\n")
        os.rename(nxt + ".done.tmp", nxt + ".done")

    for s in sessions:
        s.stop_writer.set()
    for s in sessions:
        s.threads[0].join(WAIT_S)
    watches_lost += checkpoint(sessions, "final")
    for s in sessions:
        s.stop.set()

    for s in sessions:
        if s.zk.client_id[0] != s.session_id or s.zk.state != KazooState.CONNECTED:
            STATS.note("sessions_expired", f"{s.name}: now 0x{s.zk.client_id[0]:x} "
                       f"{s.zk.state}, started as 0x{s.session_id:x}")
    lost = max(check_member(m, sessions) for m in members)

    watch_changes = sum(o.tick_changes for s in sessions for o in sessions if o is not s)
    result = (f"acknowledged={STATS.get('acknowledged')} lost={lost} "
              f"sessions_expired={STATS.get('sessions_expired')} watches_lost={watches_lost} "
              f"errors={STATS.get('errors')} stale_reads={STATS.get('stale_reads')} "
              f"connection_loss={STATS.get('connection_loss')} "
              f"suspended={STATS.get('suspended')} watch_restores={STATS.get('watch_restores')} "
              f"watch_changes={watch_changes} watch_events={STATS.get('watch_events')} "
              f"reads={STATS.get('reads')} sessions={len(sessions)}")
    for s in sessions:
        s.zk.stop()
        s.zk.close()
    with open(os.path.join(a.dir, "result"), "w") as f:
        f.write(result + "\n")
    print(result, flush=True)
    bad = lost + STATS.get("sessions_expired") + watches_lost + STATS.get("errors") \
        + STATS.get("stale_reads")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
