"""multi (kazoo transactions): all-or-nothing with per-operation results."""

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, ZnodeStat

from conftest import Recorder


def test_multi_success_returns_a_result_per_op(zk, root):
    zk.create(f"{root}/old", b"old")
    zk.create(f"{root}/changing", b"v0")

    tx = zk.transaction()
    tx.create(f"{root}/new", b"new")
    tx.create(f"{root}/seq-", b"s", sequence=True)
    tx.set_data(f"{root}/changing", b"v1", version=0)
    tx.check(f"{root}/new", 0)
    tx.delete(f"{root}/old")
    results = tx.commit()

    assert len(results) == 5
    assert results[0] == f"{root}/new"
    assert results[1] == f"{root}/seq-0000000003"
    assert isinstance(results[2], ZnodeStat)
    assert results[2].version == 1
    assert results[3] is True
    assert results[4] is True

    assert zk.get(f"{root}/new")[0] == b"new"
    assert zk.get(f"{root}/changing")[0] == b"v1"
    assert zk.exists(f"{root}/old") is None
    # Every op of one multi is one txn: they share a zxid.
    assert zk.exists(f"{root}/new").czxid == results[2].mzxid


def test_multi_failure_rolls_back_every_op(zk, root):
    zk.create(f"{root}/exists", b"keep")
    zk.create(f"{root}/counter", b"0")

    tx = zk.transaction()
    tx.create(f"{root}/fresh", b"must not survive")
    tx.set_data(f"{root}/counter", b"1")
    tx.create(f"{root}/exists", b"dup")  # fails: NodeExists
    tx.delete(f"{root}/counter")
    results = tx.commit()

    assert len(results) == 4
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], RolledBackError)
    assert isinstance(results[2], NodeExistsError)
    assert isinstance(results[3], RuntimeInconsistency)

    assert zk.exists(f"{root}/fresh") is None
    data, stat = zk.get(f"{root}/counter")
    assert data == b"0"
    assert stat.version == 0
    assert zk.get(f"{root}/exists")[0] == b"keep"


def test_multi_failed_check_version_rolls_back(zk, root):
    zk.create(f"{root}/guard", b"g")
    zk.set(f"{root}/guard", b"g1")  # version 1

    tx = zk.transaction()
    tx.create(f"{root}/a", b"a")
    tx.check(f"{root}/guard", 0)
    results = tx.commit()

    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], BadVersionError)
    assert zk.exists(f"{root}/a") is None


def test_multi_failure_on_missing_parent_reports_no_node(zk, root):
    tx = zk.transaction()
    tx.create(f"{root}/p", b"")
    tx.create(f"{root}/missing/child", b"")
    results = tx.commit()
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], NoNodeError)
    assert zk.exists(f"{root}/p") is None


def test_multi_ops_see_earlier_ops_of_the_same_multi(zk, root):
    tx = zk.transaction()
    tx.create(f"{root}/parent", b"")
    tx.create(f"{root}/parent/child", b"c")
    tx.set_data(f"{root}/parent/child", b"c2", version=0)
    tx.delete(f"{root}/parent/child", version=1)
    results = tx.commit()
    assert results[0] == f"{root}/parent"
    assert results[1] == f"{root}/parent/child"
    assert results[2].version == 1
    assert results[3] is True
    assert zk.get_children(f"{root}/parent") == []


def test_multi_fires_watches_only_on_commit(zk, zk2, root):
    zk.create(f"{root}/w", b"0")
    failed_events = Recorder()
    zk.get(f"{root}/w", watch=failed_events)

    tx = zk2.transaction()
    tx.set_data(f"{root}/w", b"1")
    tx.create(f"{root}/w", b"dup")  # fails, so the set is rolled back
    assert isinstance(tx.commit()[0], RolledBackError)

    tx = zk2.transaction()
    tx.set_data(f"{root}/w", b"2")
    tx.create(f"{root}/w2", b"")
    assert tx.commit()[0].version == 1

    event = failed_events.wait_for(lambda e: True, what="NodeDataChanged after the commit")
    assert event.type == EventType.CHANGED
    assert event.path == f"{root}/w"
    assert zk.get(f"{root}/w")[0] == b"2"
