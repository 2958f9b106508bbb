"""Sessions across connections: expiry, takeover, reconnect, and SetWatches after reconnect.

A TcpProxy sits between a client and the server so a test can cut the TCP connection while
the session lives on in the server, and keep the client away until the session expires.

kazoo 2.11 never sends SetWatches: after a reconnect it fires every watch with a NONE event
and its recipes read again. The SetWatches tests therefore send SetWatches / SetWatches2
themselves on the reconnected session, which is what the Java client (zkCli, Curator) does.
"""

import socket

import pytest
from kazoo.protocol.states import EventType, KazooState

import zkwire
from conftest import WAIT_S, Recorder, wait_until
from tcpproxy import TcpProxy
from zkwire import (
    EVENT_NODE_CHILDREN_CHANGED,
    EVENT_NODE_CREATED,
    EVENT_NODE_DATA_CHANGED,
    EVENT_NODE_DELETED,
)

# Apache clamps a requested session timeout to [2, 20] ticks; 4 s is within that range for
# tickTime 200..2000 ms, so the server gives (about) what is asked for.
SHORT_SESSION_S = 4.0
# Expiry needs the timeout plus up to one expiration tick; the reference server ticks 2 s.
EXPIRY_WAIT_S = 60.0


@pytest.fixture
def proxy(zk_hosts):
    host, port = zk_hosts.split(",")[0].rsplit(":", 1)
    p = TcpProxy(host, int(port))
    yield p
    p.close()


def _states(client):
    seen = Recorder()
    client.add_listener(seen)
    return seen


def _break_until_suspended(client, proxy, states):
    proxy.block()
    proxy.sever()
    states.wait_for(lambda s: s == KazooState.SUSPENDED, what="the client to notice the cut")


def _restore_and_reconnect(client, proxy, states, session_id):
    before = len(states.snapshot())
    proxy.unblock()
    wait_until(
        lambda: KazooState.CONNECTED in states.snapshot()[before:],
        timeout_s=WAIT_S,
        what="the client to reconnect",
    )
    assert client.client_id[0] == session_id, "the reconnect created a new session"


def test_session_expiry_removes_ephemerals_and_fires_their_watches(
    make_client, proxy, root
):
    owner = make_client(hosts=proxy.address, timeout=SHORT_SESSION_S)
    observer = make_client()
    states = _states(owner)
    old_session = owner.client_id[0]
    owner.create(f"{root}/eph", b"mine", ephemeral=True)
    owner.create(f"{root}/persistent", b"stays")

    deleted = Recorder()
    assert observer.exists(f"{root}/eph", watch=deleted) is not None
    children = Recorder()
    assert sorted(observer.get_children(root, watch=children)) == ["eph", "persistent"]

    # Cut the connection and keep the client out: the session times out in the server.
    _break_until_suspended(owner, proxy, states)
    event = deleted.wait_for(lambda e: True, timeout_s=EXPIRY_WAIT_S, what="NodeDeleted")
    assert event.type == EventType.DELETED
    assert event.path == f"{root}/eph"
    child_event = children.wait_for(lambda e: True, what="NodeChildrenChanged on the parent")
    assert child_event.type == EventType.CHILD
    assert observer.exists(f"{root}/eph") is None
    assert observer.get(f"{root}/persistent")[0] == b"stays"

    # When it gets back, the server tells the client its session is gone.
    proxy.unblock()
    states.wait_for(lambda s: s == KazooState.LOST, what="the client to learn of the expiry")
    # kazoo then starts a fresh session by itself.
    wait_until(lambda: owner.connected, what="a new session")
    assert owner.client_id[0] != old_session
    assert owner.exists(f"{root}/eph") is None


def test_closing_the_session_from_a_second_connection_removes_ephemerals(
    make_client, proxy, root
):
    owner = make_client(hosts=proxy.address, timeout=10.0)
    states = _states(owner)
    observer = make_client()
    owner.create(f"{root}/eph", b"", ephemeral=True)
    session_id, password = owner.client_id
    deleted = Recorder()
    observer.exists(f"{root}/eph", watch=deleted)

    # Keep the owner away (else it would take the session back), then attach to the same
    # session id and password from another connection and close it cleanly.
    _break_until_suspended(owner, proxy, states)
    thief = make_client(client_id=(session_id, password), timeout=10.0)
    assert thief.client_id[0] == session_id
    assert thief.exists(f"{root}/eph").ephemeralOwner == session_id
    thief.stop()
    thief.close()

    event = deleted.wait_for(lambda e: True, what="NodeDeleted after the session closed")
    assert event.type == EventType.DELETED
    assert observer.exists(f"{root}/eph") is None
    proxy.unblock()
    states.wait_for(lambda s: s == KazooState.LOST, what="the owner to find its session gone")


def test_wrong_session_password_is_refused(make_client, zk_hosts, root):
    owner = make_client()
    owner.create(f"{root}/eph", b"", ephemeral=True)
    session_id, password = owner.client_id
    bad = bytes(b ^ 0xFF for b in password)
    # The server answers a bad password with timeOut 0; kazoo treats that as an expired
    # session and immediately opens a new one.
    owner_states = _states(owner)
    intruder = make_client(start=False, client_id=(session_id, bad), timeout=SHORT_SESSION_S)
    intruder.start_async()
    new_id = wait_until(
        lambda: intruder.client_id and intruder.client_id[0], what="the intruder to connect"
    )
    assert new_id != session_id
    # Apache closes the connection currently holding the session before it checks the
    # password (ZooKeeperServer.processConnectRequest), so the owner has to reconnect; its
    # session and ephemeral survive.
    owner_states.wait_for(lambda s: s == KazooState.SUSPENDED, what="the owner to be cut off")
    wait_until(
        lambda: owner_states.snapshot()[-1] == KazooState.CONNECTED and owner.connected,
        what="the owner to reconnect",
    )
    assert owner.client_id[0] == session_id
    assert owner.exists(f"{root}/eph").ephemeralOwner == session_id


def test_session_survives_a_connection_break_with_its_ephemerals(make_client, proxy, root):
    client = make_client(hosts=proxy.address, timeout=10.0)
    states = _states(client)
    session_id = client.client_id[0]
    client.create(f"{root}/eph", b"", ephemeral=True)
    _break_until_suspended(client, proxy, states)
    _restore_and_reconnect(client, proxy, states, session_id)
    stat = client.exists(f"{root}/eph")
    assert stat is not None
    assert stat.ephemeralOwner == session_id


def test_data_watch_recipe_keeps_working_across_a_socket_break(make_client, zk2, root):
    client = make_client(timeout=10.0)
    states = _states(client)
    session_id = client.client_id[0]
    zk2.create(f"{root}/cfg", b"v0")
    seen = Recorder()
    client.DataWatch(f"{root}/cfg", lambda data, stat: seen(data))
    seen.wait_for(lambda d: d == b"v0", what="the initial value")

    # Break the TCP connection under kazoo; it reconnects with the same session.
    client._connection._socket.shutdown(socket.SHUT_RDWR)
    states.wait_for(lambda s: s == KazooState.SUSPENDED, what="the break to be noticed")
    wait_until(lambda: client.connected, what="the reconnect")
    assert client.client_id[0] == session_id

    zk2.set(f"{root}/cfg", b"v1")
    seen.wait_for(lambda d: d == b"v1", what="the change made after the reconnect")


def test_set_watches_after_reconnect_fires_for_changes_missed_while_away(
    make_client, proxy, zk2, root
):
    client = make_client(hosts=proxy.address, start=False, timeout=10.0)
    tap = zkwire.WatchTap(client)
    client.start(timeout=30)
    states = _states(client)
    session_id = client.client_id[0]

    for name in ("changed", "unchanged", "deleted", "parent"):
        zk2.create(f"{root}/{name}", b"0")
    client.sync(root)
    for name in ("changed", "unchanged", "deleted"):
        client.get(f"{root}/{name}")
    client.get_children(f"{root}/parent")
    relative_zxid = client.last_zxid
    assert relative_zxid > 0

    _break_until_suspended(client, proxy, states)
    # Changes the client misses while it is away.
    zk2.set(f"{root}/changed", b"1")
    zk2.delete(f"{root}/deleted")
    zk2.create(f"{root}/appeared", b"")
    zk2.create(f"{root}/parent/kid", b"")
    _restore_and_reconnect(client, proxy, states, session_id)

    zkwire.call(
        client,
        zkwire.SetWatches(
            relative_zxid,
            data_watches=[f"{root}/changed", f"{root}/unchanged", f"{root}/deleted"],
            exist_watches=[f"{root}/appeared", f"{root}/absent"],
            child_watches=[f"{root}/parent"],
        ),
    )
    # Missed changes fire at once.
    tap.wait_for(EVENT_NODE_DATA_CHANGED, f"{root}/changed")
    tap.wait_for(EVENT_NODE_DELETED, f"{root}/deleted")
    tap.wait_for(EVENT_NODE_CREATED, f"{root}/appeared")
    tap.wait_for(EVENT_NODE_CHILDREN_CHANGED, f"{root}/parent")
    # The others were re-armed and fire on the next change.
    assert tap.matching(path=f"{root}/unchanged") == []
    assert tap.matching(path=f"{root}/absent") == []
    zk2.set(f"{root}/unchanged", b"1")
    zk2.create(f"{root}/absent", b"")
    tap.wait_for(EVENT_NODE_DATA_CHANGED, f"{root}/unchanged")
    tap.wait_for(EVENT_NODE_CREATED, f"{root}/absent")


def test_set_watches2_restores_a_persistent_recursive_watch(make_client, proxy, zk2, root):
    client = make_client(hosts=proxy.address, start=False, timeout=10.0)
    tap = zkwire.WatchTap(client)
    client.start(timeout=30)
    states = _states(client)
    session_id = client.client_id[0]
    base = f"{root}/tree"
    zk2.create(base)
    zkwire.call(client, zkwire.AddWatch(base, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE))
    zk2.create(f"{base}/before")
    tap.wait_for(EVENT_NODE_CREATED, f"{base}/before")
    relative_zxid = client.last_zxid

    _break_until_suspended(client, proxy, states)
    _restore_and_reconnect(client, proxy, states, session_id)
    zkwire.call(
        client,
        zkwire.SetWatches2(
            relative_zxid,
            data_watches=[],
            exist_watches=[],
            child_watches=[],
            persistent_watches=[],
            persistent_recursive_watches=[base],
        ),
    )
    zk2.create(f"{base}/after")
    zk2.set(f"{base}/before", b"x")
    tap.wait_for(EVENT_NODE_CREATED, f"{base}/after")
    tap.wait_for(EVENT_NODE_DATA_CHANGED, f"{base}/before")
