"""The README's seed walkthrough, driven with kazoo.

Each test runs chrooted at its private root, so the paths read exactly as in the walkthrough
(/config, /config/database, /election) while parallel runs on a shared server cannot collide.
"""

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType

from conftest import Recorder


def test_walkthrough_config_create_get_and_data_watch(zk_hosts, root, make_client):
    chroot = f"{zk_hosts}{root}"
    first = make_client(hosts=chroot)
    second = make_client(hosts=chroot)

    assert first.create("/config") == "/config"
    assert first.create("/config/database", b"postgres://db:5432/app") == "/config/database"

    data, stat = first.get("/config/database")
    assert data == b"postgres://db:5432/app"
    assert stat.version == 0
    assert stat.dataLength == len(b"postgres://db:5432/app")
    assert first.get_children("/config") == ["database"]

    events = Recorder()
    data, _ = first.get("/config/database", watch=events)
    assert data == b"postgres://db:5432/app"

    stat = second.set("/config/database", b"postgres://db2:5432/app")
    assert stat.version == 1

    event = events.wait_for(lambda e: True, what="the data watch to fire")
    assert event.type == EventType.CHANGED
    assert event.path == "/config/database"
    assert first.get("/config/database")[0] == b"postgres://db2:5432/app"


def test_walkthrough_ephemeral_vanishes_when_its_session_closes(zk_hosts, root, make_client):
    chroot = f"{zk_hosts}{root}"
    owner = make_client(hosts=chroot)
    observer = make_client(hosts=chroot)
    observer.create("/config")

    owner.create("/config/ephemeral", b"gone when I leave", ephemeral=True)
    stat = observer.exists("/config/ephemeral")
    assert stat is not None
    assert stat.ephemeralOwner == owner.client_id[0]

    deleted = Recorder()
    assert observer.exists("/config/ephemeral", watch=deleted) is not None
    owner.stop()
    owner.close()

    event = deleted.wait_for(lambda e: True, what="NodeDeleted for the ephemeral")
    assert event.type == EventType.DELETED
    assert event.path == "/config/ephemeral"
    assert observer.exists("/config/ephemeral") is None


def test_walkthrough_ephemeral_sequential_election(zk_hosts, root, make_client):
    chroot = f"{zk_hosts}{root}"
    a = make_client(hosts=chroot)
    b = make_client(hosts=chroot)
    watcher = make_client(hosts=chroot)
    watcher.create("/election")

    path_a = a.create("/election/n_", b"a", ephemeral=True, sequence=True)
    path_b = b.create("/election/n_", b"b", ephemeral=True, sequence=True)
    assert path_a == "/election/n_0000000000"
    assert path_b == "/election/n_0000000001"

    children = sorted(watcher.get_children("/election"))
    assert children == ["n_0000000000", "n_0000000001"]
    leader = children[0]
    assert watcher.get(f"/election/{leader}")[0] == b"a"

    # The runner-up watches its predecessor and takes over when the leader goes away.
    gone = Recorder()
    assert b.exists(f"/election/{leader}", watch=gone) is not None
    a.stop()
    a.close()
    event = gone.wait_for(lambda e: True, what="the leader's node to be deleted")
    assert event.type == EventType.DELETED
    assert event.path == "/election/n_0000000000"
    assert sorted(b.get_children("/election")) == ["n_0000000001"]

    # The suffix counts the parent's child creations (two so far); deletes, here the
    # session-close removal of n_0000000000, do not move it: the next one is 2, neither a
    # reuse of 0 nor the child count (1).
    c = make_client(hosts=chroot)
    assert c.create("/election/n_", b"c", ephemeral=True, sequence=True) == "/election/n_0000000002"
    assert sorted(watcher.get_children("/election")) == ["n_0000000001", "n_0000000002"]


def test_walkthrough_missing_node_reports_no_node(zk_hosts, root, make_client):
    client = make_client(hosts=f"{zk_hosts}{root}")
    with pytest.raises(NoNodeError):
        client.get("/config/missing")
    assert client.exists("/config/missing") is None
