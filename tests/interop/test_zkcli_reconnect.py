"""Apache's Java client across a reconnect: SetWatches / SetWatches2 sent by the real client.

zkCli runs interactively through a TcpProxy; the test cuts its TCP connection, changes
nodes while it is away, lets it reconnect to the same session, and reads zkCli's output for
the watch events the server must deliver after the client's SetWatches (ordinary watches)
and SetWatches2 (persistent-recursive watch from addWatch).
"""

import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import WAIT_S
from tcpproxy import TcpProxy

ZKCLI_CP = os.environ.get(
    "ZKCLI_CP", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar"
)
JAVA = os.environ.get("JAVA", "java")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(ZKCLI_CP.split(":")[0]) and shutil.which(JAVA)),
    reason="zkCli (Debian package zookeeper) and java are needed",
)


class ZkCli:
    """One interactive zkCli session; its output is collected line by line."""

    def __init__(self, server):
        self._lines = []
        self._cond = threading.Condition()
        self._proc = subprocess.Popen(
            [JAVA, "-Xmx128m", "-cp", ZKCLI_CP, "org.apache.zookeeper.ZooKeeperMain",
             "-server", server],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self._proc.stdout:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def send(self, command):
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()

    def count(self, line):
        with self._cond:
            return self._lines.count(line)

    def wait_line(self, line, count=1, timeout_s=WAIT_S):
        with self._cond:
            ok = self._cond.wait_for(lambda: self._lines.count(line) >= count, timeout=timeout_s)
            tail = self._lines[-25:]
        assert ok, f"zkCli never printed {line!r} (x{count}) within {timeout_s}s; last lines: {tail}"

    def close(self):
        try:
            self.send("quit")
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


CONNECTED = "WatchedEvent state:SyncConnected type:None path:null"
DISCONNECTED = "WatchedEvent state:Disconnected type:None path:null"


def _event(kind, path):
    return f"WatchedEvent state:SyncConnected type:{kind} path:{path}"


@pytest.fixture
def proxy(zk_hosts):
    host, port = zk_hosts.split(",")[0].rsplit(":", 1)
    p = TcpProxy(host, int(port))
    yield p
    p.close()


@pytest.fixture
def zkcli(proxy):
    cli = ZkCli(proxy.address)
    cli.wait_line(CONNECTED)
    yield cli
    cli.close()


def _bounce(cli, proxy, zk, root, while_away=None):
    """Cut zkCli's connection, run `while_away`, let it back in, wait for the reconnect.

    zkCli prints SyncConnected when the connect response arrives, before the server has
    handled the SetWatches the client sends next; a read answered on the new connection
    comes after it, so the test waits for one before changing anything.
    """
    probe = f"{root}-probe"
    marker = f"probe-{time.monotonic_ns()}"
    if zk.exists(probe) is None:
        zk.create(probe, marker.encode())
    else:
        zk.set(probe, marker.encode())
    connected_before = cli.count(CONNECTED)
    proxy.block()
    proxy.sever()
    cli.wait_line(DISCONNECTED)
    if while_away:
        while_away()
    proxy.unblock()
    cli.wait_line(CONNECTED, count=connected_before + 1)
    cli.send(f"get {probe}")
    cli.wait_line(marker)


def test_java_client_watches_survive_reconnect_via_set_watches(zkcli, proxy, zk, root):
    zk.create(f"{root}/missed", b"m0")
    zk.create(f"{root}/later", b"l0")
    zkcli.send(f"get -w {root}/missed")
    zkcli.wait_line("m0")
    zkcli.send(f"get -w {root}/later")
    zkcli.wait_line("l0")
    zkcli.send(f"ls -w {root}")
    zkcli.wait_line("[later, missed]")
    zkcli.send(f"stat -w {root}/absent")
    zkcli.wait_line(f"Node does not exist: {root}/absent")

    def change_while_away():
        zk.set(f"{root}/missed", b"m1")

    _bounce(zkcli, proxy, zk, root, change_while_away)
    # Changed while away: the server fires it in answer to the client's SetWatches.
    zkcli.wait_line(_event("NodeDataChanged", f"{root}/missed"))
    # Unchanged ones were re-armed and fire on the next change.
    assert zkcli.count(_event("NodeDataChanged", f"{root}/later")) == 0
    zk.set(f"{root}/later", b"l1")
    zkcli.wait_line(_event("NodeDataChanged", f"{root}/later"))
    zk.create(f"{root}/absent")
    zkcli.wait_line(_event("NodeCreated", f"{root}/absent"))
    zkcli.wait_line(_event("NodeChildrenChanged", root))


def test_java_client_persistent_recursive_watch_survives_reconnect(zkcli, proxy, zk, root):
    base = f"{root}/tree"
    zk.create(base)
    zkcli.send(f"addWatch -m PERSISTENT_RECURSIVE {base}")
    # addWatch prints nothing; a following read proves the request was answered.
    zkcli.send(f"ls {base}")
    zkcli.wait_line("[]")
    zk.create(f"{base}/before")
    zkcli.wait_line(_event("NodeCreated", f"{base}/before"))

    _bounce(zkcli, proxy, zk, root)
    zk.create(f"{base}/after")
    zk.set(f"{base}/before", b"x")
    zkcli.wait_line(_event("NodeCreated", f"{base}/after"))
    zkcli.wait_line(_event("NodeDataChanged", f"{base}/before"))


def test_java_client_session_and_ephemeral_survive_reconnect(zkcli, proxy, zk, root):
    zkcli.send(f"create -e {root}/eph java")
    zkcli.wait_line(f"Created {root}/eph")
    owner = zk.exists(f"{root}/eph").ephemeralOwner
    _bounce(zkcli, proxy, zk, root)
    stat = zk.exists(f"{root}/eph")
    assert stat is not None
    assert stat.ephemeralOwner == owner
    zkcli.send(f"get {root}/eph")
    zkcli.wait_line("java")
