#!/usr/bin/env python3
"""kazoo from the host through the ports the compose files publish on 127.0.0.1: the client
side of docker_check.sh. The shell script starts and kills the containers; this file only
talks to them as a client.

Usage:
  dockerclient.py single ADDR
      create, get, set with a data watch firing, an ephemeral-sequential candidate: through
      the single member's published port. Leaves /docker/host holding "from-the-host-2".
  dockerclient.py failover --hosts ADDR,ADDR,ADDR --dir DIR
      Long-running: a session on the ensemble's three ports, a write and an ephemeral node;
      writes DIR/ready and waits for DIR/go, which the shell writes once it has killed the
      leader's container and another member leads. Then: the same session (same id) still
      has its ephemeral, reads the write made before the kill, and writes again through the
      survivors. Writes DIR/checked and exits.
  dockerclient.py get ADDR PATH
      sync, then print the data of PATH through ADDR alone.

Every wait is a hang guard of WAIT_S seconds (DOCKER_WAIT_S), never a timed assertion.
Exit status 0 only when every check passed; a failed check says what it expected.
"""

import os
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType

WAIT_S = float(os.environ.get("DOCKER_WAIT_S", "90"))
# Long enough that the session outlives an election; the members cap it at their
# maxSessionTimeout (20 ticks of 2000 ms: 40 s).
SESSION_TIMEOUT_S = 30.0


class CheckFailed(Exception):
    pass


def log(msg):
    print(f"    dockerclient: {msg}", flush=True)


def check(cond, what):
    if not cond:
        raise CheckFailed(what)
    log(f"ok: {what}")


def wait_file(path):
    deadline = time.monotonic() + 3 * WAIT_S
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise CheckFailed(f"hang guard: {path} did not appear within {3 * WAIT_S:.0f}s")
        time.sleep(0.1)


def connect(hosts):
    zk = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT_S, randomize_hosts=False)
    zk.start(timeout=WAIT_S)
    return zk


def cmd_single(addr):
    zk = connect(addr)
    try:
        zk.create("/docker/host", b"from-the-host", makepath=True)
        data, stat = zk.get("/docker/host")
        check(data == b"from-the-host" and stat.version == 0, "create and get /docker/host")

        fired = threading.Event()
        events = []

        def watcher(event):
            events.append(event)
            fired.set()

        zk.get("/docker/host", watch=watcher)
        zk.set("/docker/host", b"from-the-host-2")
        fired.wait(WAIT_S)
        check(
            [(e.type, e.path) for e in events] == [(EventType.CHANGED, "/docker/host")],
            "the data watch fires once on set",
        )

        zk.ensure_path("/docker/election")
        me = zk.create("/docker/election/n_", b"host", ephemeral=True, sequence=True)
        check(me == "/docker/election/n_0000000000", f"ephemeral-sequential candidate {me}")
        check(zk.get_children("/docker/election") == ["n_0000000000"], "ls /docker/election")
    finally:
        zk.stop()
        zk.close()
    zk = connect(addr)
    try:
        check(zk.get_children("/docker/election") == [], "the candidate left with its session")
    finally:
        zk.stop()
        zk.close()
    return 0


def cmd_failover(hosts, work):
    zk = connect(hosts)
    try:
        zk.ensure_path("/docker-ensemble")
        zk.create("/docker-ensemble/before", b"written before the kill")
        zk.create("/docker-ensemble/mine", b"", ephemeral=True)
        session_id = zk.client_id[0]
        log(f"session 0x{session_id:x}, an ephemeral and /docker-ensemble/before written")
        with open(os.path.join(work, "ready"), "w") as f:
            f.write("ready\n")
        wait_file(os.path.join(work, "go"))

        zk.sync("/docker-ensemble")
        check(zk.client_id[0] == session_id, "the same session after the leader's kill")
        check(zk.exists("/docker-ensemble/mine") is not None, "its ephemeral is still there")
        data, _ = zk.get("/docker-ensemble/before")
        check(data == b"written before the kill", "reads the write made before the kill")
        zk.create("/docker-ensemble/after", b"written after the kill")
        zk.set("/docker-ensemble/before", b"changed after the kill")
        data, stat = zk.get("/docker-ensemble/before")
        check(data == b"changed after the kill" and stat.version == 1, "writes go on")
        with open(os.path.join(work, "checked"), "w") as f:
            f.write("checked\n")
    finally:
        zk.stop()
        zk.close()
    return 0


def cmd_get(addr, path):
    zk = connect(addr)
    try:
        zk.sync(path)
        data, _ = zk.get(path)
        print(data.decode())
    finally:
        zk.stop()
        zk.close()
    return 0


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "single":
            return cmd_single(argv[2])
        if len(argv) == 6 and argv[1] == "failover" and argv[2] == "--hosts" and argv[4] == "--dir":
            return cmd_failover(argv[3], argv[5])
        if len(argv) == 4 and argv[1] == "get":
            return cmd_get(argv[2], argv[3])
    except CheckFailed as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
