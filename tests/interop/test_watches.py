"""Persistent and persistent-recursive watches (addWatch), removeWatches, notification zxids.

kazoo 2.11 has no addWatch, so these send raw requests over kazoo's connection (zkwire) and
read the notification frames with a WatchTap. "Did not fire" is proven with a sentinel:
notifications to one session arrive in txn order, so once the notification for a later
change has arrived, any notification for an earlier change would already be there.
"""

import pytest
from kazoo.exceptions import NoWatcherError
from kazoo.security import make_digest_acl

import zkwire
from conftest import DIGEST_USERS, Recorder, zk39
from zkwire import (
    EVENT_NODE_CHILDREN_CHANGED,
    EVENT_NODE_CREATED,
    EVENT_NODE_DATA_CHANGED,
    EVENT_NODE_DELETED,
)


@pytest.fixture
def tapped(make_client):
    """A client whose notification frames are recorded, and its tap."""
    client = make_client(start=False)
    tap = zkwire.WatchTap(client)
    client.start(timeout=30)
    return client, tap


def _kinds(events):
    return [(zkwire.EVENT_NAMES[e.type], e.path) for e in events]


def test_persistent_watch_fires_on_every_change_of_the_node_and_its_child_list(tapped, zk2, root):
    client, tap = tapped
    path = f"{root}/p"
    zkwire.call(client, zkwire.AddWatch(path, zkwire.ADD_WATCH_PERSISTENT))

    zk2.create(path, b"0")  # the watch may be added before the node exists
    tap.wait_for(EVENT_NODE_CREATED, path)
    zk2.set(path, b"1")
    zk2.set(path, b"2")
    zk2.create(f"{path}/child", b"c")
    zk2.set(f"{path}/child", b"c2")  # a child's data is not the watched node's business
    zk2.delete(f"{path}/child")
    zk2.delete(path)
    tap.wait_for(EVENT_NODE_DELETED, path)

    assert _kinds(tap.events()) == [
        ("NodeCreated", path),
        ("NodeDataChanged", path),
        ("NodeDataChanged", path),
        ("NodeChildrenChanged", path),
        ("NodeChildrenChanged", path),
        ("NodeDeleted", path),
    ]

    # Still armed after the node was deleted: it fires again when it comes back.
    zk2.create(path, b"again")
    # (wait_for would return at once: the first NodeCreated is already there.)
    assert len(tap.wait_for_count(EVENT_NODE_CREATED, path, 2)) == 2


def test_persistent_recursive_watch_fires_for_descendants_without_child_events(tapped, zk2, root):
    client, tap = tapped
    base = f"{root}/r"
    zk2.create(base, b"")
    zkwire.call(client, zkwire.AddWatch(base, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE))

    zk2.create(f"{base}/a", b"a")
    zk2.create(f"{base}/a/b", b"b")
    zk2.set(f"{base}/a/b", b"b1")
    zk2.set(f"{base}/a/b", b"b2")
    zk2.delete(f"{base}/a/b")
    zk2.set(base, b"top")
    zk2.create(f"{root}/outside", b"")  # not under the watch
    zk2.create(f"{base}/sentinel", b"")
    tap.wait_for(EVENT_NODE_CREATED, f"{base}/sentinel")

    assert _kinds(tap.events()) == [
        ("NodeCreated", f"{base}/a"),
        ("NodeCreated", f"{base}/a/b"),
        ("NodeDataChanged", f"{base}/a/b"),
        ("NodeDataChanged", f"{base}/a/b"),
        ("NodeDeleted", f"{base}/a/b"),
        ("NodeDataChanged", base),
        ("NodeCreated", f"{base}/sentinel"),
    ]
    assert tap.matching(EVENT_NODE_CHILDREN_CHANGED) == []


def test_persistent_recursive_watch_and_one_shot_watch_coexist(tapped, zk2, root):
    client, tap = tapped
    base = f"{root}/mix"
    zk2.create(f"{base}/x", b"0", makepath=True)
    zkwire.call(client, zkwire.AddWatch(base, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE))
    one_shot = Recorder()
    client.get(f"{base}/x", watch=one_shot)

    zk2.set(f"{base}/x", b"1")
    one_shot.wait_for(lambda e: True, what="the one-shot data watch")
    tap.wait_for(EVENT_NODE_DATA_CHANGED, f"{base}/x")
    zk2.set(f"{base}/x", b"2")
    zk2.create(f"{base}/sentinel")
    tap.wait_for(EVENT_NODE_CREATED, f"{base}/sentinel")
    # The persistent watch saw both sets; the one-shot watch only the first.
    assert len(tap.matching(EVENT_NODE_DATA_CHANGED, f"{base}/x")) >= 2
    assert len(one_shot.snapshot()) == 1


@zk39("watch notifications carry zxid -1 in 3.8, the triggering txn's zxid in 3.9")
def test_watch_notification_carries_the_txn_zxid(tapped, zk2, root):
    client, tap = tapped
    path = f"{root}/z"
    client.create(path, b"0")
    client.get(path, watch=lambda e: None)
    stat = zk2.set(path, b"1")
    event = tap.wait_for(EVENT_NODE_DATA_CHANGED, path)
    assert event.zxid == stat.mzxid

    zkwire.call(client, zkwire.AddWatch(root, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE))
    created = zk2.create(f"{root}/new", b"", include_data=True)[1]
    event = tap.wait_for(EVENT_NODE_CREATED, f"{root}/new")
    assert event.zxid == created.czxid


def test_remove_watches_removes_a_data_watch(tapped, zk2, root):
    client, tap = tapped
    path = f"{root}/rm"
    client.create(path, b"0")
    client.get(path, watch=lambda e: None)
    zkwire.call(client, zkwire.RemoveWatches(path, zkwire.WATCHER_TYPE_DATA))
    with pytest.raises(NoWatcherError):
        zkwire.call(client, zkwire.RemoveWatches(path, zkwire.WATCHER_TYPE_DATA))

    zk2.set(path, b"1")
    client.exists(f"{root}/sentinel", watch=lambda e: None)
    zk2.create(f"{root}/sentinel")
    tap.wait_for(EVENT_NODE_CREATED, f"{root}/sentinel")
    assert tap.matching(path=path) == []


def test_remove_watches_without_a_watch_raises_no_watcher(zk, root):
    with pytest.raises(NoWatcherError):
        zkwire.call(zk, zkwire.RemoveWatches(f"{root}", zkwire.WATCHER_TYPE_CHILDREN))


@zk39("WatcherType Persistent/PersistentRecursive (4/5) in removeWatches is new in 3.9")
def test_remove_watches_removes_a_persistent_recursive_watch(tapped, zk2, root):
    client, tap = tapped
    base = f"{root}/rr"
    zk2.create(base)
    zkwire.call(client, zkwire.AddWatch(base, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE))
    zk2.create(f"{base}/before")
    tap.wait_for(EVENT_NODE_CREATED, f"{base}/before")

    zkwire.call(
        client, zkwire.RemoveWatches(base, zkwire.WATCHER_TYPE_PERSISTENT_RECURSIVE)
    )
    zk2.create(f"{base}/after")
    client.exists(f"{root}/sentinel", watch=lambda e: None)
    zk2.create(f"{root}/sentinel")
    tap.wait_for(EVENT_NODE_CREATED, f"{root}/sentinel")
    assert tap.matching(path=f"{base}/after") == []


def test_persistent_recursive_watch_skips_nodes_the_watcher_cannot_read(tapped, zk2, root):
    """CVE-2024-23944: persistent watchers must not learn about unreadable descendants."""
    client, tap = tapped
    base = f"{root}/guarded"
    zk2.create(base)
    zkwire.call(client, zkwire.AddWatch(base, zkwire.ADD_WATCH_PERSISTENT_RECURSIVE))
    alice_only = [make_digest_acl("alice", DIGEST_USERS["alice"], all=True)]
    zk2.create(f"{base}/secret", b"s", acl=alice_only)
    zk2.create(f"{base}/visible", b"v")
    tap.wait_for(EVENT_NODE_CREATED, f"{base}/visible")
    assert tap.matching(path=f"{base}/secret") == []
