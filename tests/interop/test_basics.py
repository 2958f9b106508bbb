"""Plain znode operations through kazoo: stats, sequence numbers, one-shot watches, errors."""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.protocol.states import EventType

from conftest import Recorder


def test_create_and_set_maintain_stat_fields(zk, root):
    path, stat = zk.create(f"{root}/n", b"abc", include_data=True)
    assert path == f"{root}/n"
    assert stat.version == 0
    assert stat.cversion == 0
    assert stat.aversion == 0
    assert stat.dataLength == 3
    assert stat.numChildren == 0
    assert stat.ephemeralOwner == 0
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.czxid > 0

    new_stat = zk.set(f"{root}/n", b"abcdef")
    assert new_stat.version == 1
    assert new_stat.dataLength == 6
    assert new_stat.czxid == stat.czxid
    assert new_stat.mzxid > stat.mzxid
    assert new_stat.mtime >= stat.mtime
    assert new_stat.ctime == stat.ctime

    data, got = zk.get(f"{root}/n")
    assert data == b"abcdef"
    assert got == new_stat


def test_create_with_empty_data_reads_back_empty(zk, root):
    zk.create(f"{root}/empty")
    data, stat = zk.get(f"{root}/empty")
    assert data == b""
    assert stat.dataLength == 0


def test_sequence_suffix_comes_from_parent_cversion(zk, root):
    parent = f"{root}/seq"
    zk.create(parent)
    zk.create(f"{parent}/a")
    zk.create(f"{parent}/b")
    assert zk.exists(parent).cversion == 2

    zk.delete(f"{parent}/a")
    # ZooKeeper stores a count of child creations and derives the reported cversion as
    # creations*2 - numChildren (DataNode.copyStat: every create has a matching delete except
    # for children still present). Sequence suffixes use the stored creation count.
    after_delete = zk.exists(parent)
    assert after_delete.cversion == 3
    assert after_delete.numChildren == 1

    created = zk.create(f"{parent}/s_", sequence=True)
    assert created == f"{parent}/s_0000000002"
    assert zk.create(f"{parent}/s_", sequence=True) == f"{parent}/s_0000000003"
    assert zk.create(f"{parent}/", sequence=True) == f"{parent}/0000000004"
    # 5 creations, 1 delete, 4 children present: reported cversion 5*2-4.
    assert zk.exists(parent).cversion == 6
    assert sorted(zk.get_children(parent)) == [
        "0000000004",
        "b",
        "s_0000000002",
        "s_0000000003",
    ]


def test_sequential_nodes_from_many_clients_are_unique_and_dense(make_client, root):
    clients = [make_client() for _ in range(3)]
    created = []
    for _ in range(5):
        for c in clients:
            created.append(c.create(f"{root}/q-", sequence=True))
    suffixes = sorted(int(p.rsplit("-", 1)[1]) for p in created)
    assert suffixes == list(range(15))


def test_get_children_with_stat(zk, root):
    zk.create(f"{root}/p")
    for name in ("x", "y", "z"):
        zk.create(f"{root}/p/{name}", name.encode())
    children, stat = zk.get_children(f"{root}/p", include_data=True)
    assert sorted(children) == ["x", "y", "z"]
    assert stat.numChildren == 3
    assert stat.cversion == 3
    last_child = zk.exists(f"{root}/p/z")
    assert stat.pzxid == last_child.czxid


def test_exists_watch_on_missing_node_fires_node_created(zk, zk2, root):
    events = Recorder()
    assert zk.exists(f"{root}/later", watch=events) is None
    zk2.create(f"{root}/later", b"now")
    event = events.wait_for(lambda e: True, what="NodeCreated")
    assert event.type == EventType.CREATED
    assert event.path == f"{root}/later"


def test_standard_watch_fires_once(zk, zk2, root):
    zk.create(f"{root}/once", b"0")
    events = Recorder()
    zk.get(f"{root}/once", watch=events)
    zk2.set(f"{root}/once", b"1")
    events.wait_for(lambda e: e.type == EventType.CHANGED, what="first NodeDataChanged")
    zk2.set(f"{root}/once", b"2")
    # A later watch on the same session acts as a barrier: notifications to one session
    # arrive in order, so once this fires the second set's notification (if any) is in.
    barrier = Recorder()
    zk.exists(f"{root}/barrier", watch=barrier)
    zk2.create(f"{root}/barrier")
    barrier.wait_for(lambda e: True, what="barrier NodeCreated")
    assert [e.type for e in events.snapshot()] == [EventType.CHANGED]


def test_child_watch_fires_on_child_create_and_parent_delete(zk, zk2, root):
    zk.create(f"{root}/kids")
    events = Recorder()
    assert zk.get_children(f"{root}/kids", watch=events) == []
    zk2.create(f"{root}/kids/one")
    event = events.wait_for(lambda e: True, what="NodeChildrenChanged")
    assert event.type == EventType.CHILD
    assert event.path == f"{root}/kids"

    zk2.delete(f"{root}/kids/one")
    deleted = Recorder()
    assert zk.get_children(f"{root}/kids", watch=deleted) == []
    zk2.delete(f"{root}/kids")
    event = deleted.wait_for(lambda e: True, what="the child watch to fire on parent delete")
    assert event.type == EventType.DELETED
    assert event.path == f"{root}/kids"


def test_set_with_wrong_version_raises_bad_version(zk, root):
    zk.create(f"{root}/v", b"0")
    zk.set(f"{root}/v", b"1", version=0)
    with pytest.raises(BadVersionError):
        zk.set(f"{root}/v", b"2", version=0)
    assert zk.get(f"{root}/v")[0] == b"1"
    with pytest.raises(BadVersionError):
        zk.delete(f"{root}/v", version=5)
    zk.delete(f"{root}/v", version=1)
    assert zk.exists(f"{root}/v") is None


def test_delete_of_node_with_children_raises_not_empty(zk, root):
    zk.create(f"{root}/full/child", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete(f"{root}/full")
    assert zk.exists(f"{root}/full/child") is not None


def test_missing_nodes_raise_no_node(zk, root):
    with pytest.raises(NoNodeError):
        zk.get(f"{root}/nope")
    with pytest.raises(NoNodeError):
        zk.set(f"{root}/nope", b"x")
    with pytest.raises(NoNodeError):
        zk.delete(f"{root}/nope")
    with pytest.raises(NoNodeError):
        zk.get_children(f"{root}/nope")
    with pytest.raises(NoNodeError):
        zk.create(f"{root}/nope/child")
    assert zk.exists(f"{root}/nope") is None


def test_duplicate_create_raises_node_exists(zk, root):
    zk.create(f"{root}/dup", b"first")
    with pytest.raises(NodeExistsError):
        zk.create(f"{root}/dup", b"second")
    assert zk.get(f"{root}/dup")[0] == b"first"


def test_ephemeral_cannot_have_children(zk, root):
    zk.create(f"{root}/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{root}/eph/child")


def test_large_value_round_trips(zk, root):
    value = bytes(range(256)) * 2048  # 512 KiB, under the 1 MiB jute.maxbuffer default
    zk.create(f"{root}/big", value)
    data, stat = zk.get(f"{root}/big")
    assert data == value
    assert stat.dataLength == len(value)


def test_sync_then_read_sees_other_clients_write(zk, zk2, root):
    zk2.create(f"{root}/synced", b"v")
    zk.sync(f"{root}/synced")
    assert zk.get(f"{root}/synced")[0] == b"v"


def test_four_letter_words_answer(zk):
    assert zk.command(b"ruok") == "imok"
    srvr = zk.command(b"srvr")
    assert "Mode:" in srvr
    assert "Zxid:" in srvr


def test_null_data_is_kept_distinct_from_empty_data(zk, root):
    # ZooKeeper stores null data as null: get returns None (length -1), not b"".
    zk.create(f"{root}/null", None)
    zk.create(f"{root}/empty", b"")
    assert zk.get(f"{root}/null")[0] is None
    assert zk.get(f"{root}/empty")[0] == b""
    zk.set(f"{root}/empty", None)
    assert zk.get(f"{root}/empty")[0] is None
    assert zk.get(f"{root}/null")[1].dataLength == 0
