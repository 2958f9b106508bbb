"""Shared fixtures for the interop suite: the server address, clients, a private root per test.

Environment:
  ZK_HOSTS            host:port of the server under test (required; never defaults to 2181)
  ZK_REF_38=1         the server is Apache ZooKeeper 3.8: tests of 3.9-only behaviour xfail
  ZK_EXTENDED_TYPES=1 the server runs with extendedTypesEnabled=true (TTL tests must pass;
                      otherwise a TTL test that gets Unimplemented is skipped)
  ZK_CONTAINER_WAIT_S how long to wait for the container reaper (default 150: Apache's
                      default znode.container.checkIntervalMs is 60000)

Every test gets `root`, a fresh znode under one suite-wide parent, removed afterwards
together with everything under it. Clients made by `make_client` are closed afterwards.
"""

import os
import threading
import time
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError, NotEmptyError

ZK_REF_38 = os.environ.get("ZK_REF_38") == "1"
EXTENDED_TYPES = os.environ.get("ZK_EXTENDED_TYPES") == "1"
CONTAINER_WAIT_S = float(os.environ.get("ZK_CONTAINER_WAIT_S", "150"))
WAIT_S = 30.0

# Digest identities the suite uses; the cleanup client authenticates as all of them so it
# can read and remove children of ACL-restricted nodes.
DIGEST_USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def zk39(reason):
    """Mark a test that asserts 3.9 behaviour 3.8 lacks: xfail (strict) when ZK_REF_38=1."""
    return pytest.mark.xfail(
        ZK_REF_38, reason=f"3.9 behaviour, Apache ZooKeeper 3.8 differs: {reason}", strict=True
    )


def wait_until(predicate, timeout_s=WAIT_S, what="condition"):
    """Poll `predicate` until it is truthy; fail the test with `what` if it never is."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


class Recorder:
    """Thread-safe list of things callbacks saw, with a blocking wait."""

    def __init__(self):
        self._cond = threading.Condition()
        self.items = []

    def __call__(self, *args):
        with self._cond:
            self.items.append(args[0] if len(args) == 1 else args)
            self._cond.notify_all()

    def snapshot(self):
        with self._cond:
            return list(self.items)

    def wait_for(self, predicate, timeout_s=WAIT_S, what="an item"):
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(predicate(x) for x in self.items), timeout=timeout_s
            )
            seen = list(self.items)
        assert ok, f"timed out after {timeout_s}s waiting for {what}; saw {seen}"
        return next(x for x in seen if predicate(x))


@pytest.fixture(scope="session")
def zk_hosts():
    hosts = os.environ.get("ZK_HOSTS")
    if not hosts:
        pytest.exit("ZK_HOSTS is not set (e.g. ZK_HOSTS=127.0.0.1:40123)", returncode=2)
    return hosts


def _new_client(hosts, **kwargs):
    kwargs.setdefault("timeout", 10.0)
    kwargs.setdefault("connection_retry", {"max_tries": -1, "delay": 0.1, "max_delay": 1})
    return KazooClient(hosts=hosts, **kwargs)


def _delete_tree(client, path):
    """Remove `path` and its subtree; tolerate nodes vanishing and unreadable leaves."""
    try:
        children = client.get_children(path)
    except NoNodeError:
        return
    except NoAuthError:
        children = []
    for child in children:
        _delete_tree(client, f"{path}/{child}")
    try:
        client.delete(path)
    except NoNodeError:
        pass
    except NotEmptyError:
        _delete_tree(client, path)


@pytest.fixture(scope="session")
def admin(zk_hosts):
    """A long-lived client for setup and cleanup, authenticated as every suite identity."""
    client = _new_client(zk_hosts)
    client.start(timeout=30)
    for user, password in DIGEST_USERS.items():
        client.add_auth("digest", f"{user}:{password}")
    yield client
    client.stop()
    client.close()


@pytest.fixture(scope="session")
def suite_root(admin):
    path = f"/corral-interop-{uuid.uuid4().hex[:12]}"
    admin.create(path)
    yield path
    _delete_tree(admin, path)


@pytest.fixture
def root(admin, suite_root, request):
    name = request.node.name.replace("[", "_").replace("]", "").replace("/", "_")
    path = f"{suite_root}/{name}-{uuid.uuid4().hex[:6]}"
    admin.create(path)
    yield path
    _delete_tree(admin, path)


@pytest.fixture
def make_client(zk_hosts):
    """Factory for started KazooClients (extra kwargs go to KazooClient); all closed after."""
    clients = []

    def factory(hosts=None, start=True, **kwargs):
        client = _new_client(hosts or zk_hosts, **kwargs)
        clients.append(client)
        if start:
            client.start(timeout=30)
        return client

    yield factory
    for client in clients:
        try:
            client.stop()
            client.close()
        except Exception:  # noqa: BLE001 - cleanup must not mask the test's own failure
            pass


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def zk2(make_client):
    return make_client()
