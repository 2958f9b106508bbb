"""Container and TTL znodes (createContainer / createTTL), reaped by the server.

kazoo 2.11 cannot create either, so the requests go through zkwire. Apache's container
reaper runs every znode.container.checkIntervalMs (60 s by default, hence the long default
ZK_CONTAINER_WAIT_S); scripts/test.sh starts corral with 200 ms. TTL nodes need
extendedTypesEnabled=true: with ZK_EXTENDED_TYPES=1 they must work, otherwise a server that
answers Unimplemented makes the TTL tests skip.
"""

import pytest
from kazoo.exceptions import BadArgumentsError, UnimplementedError
from kazoo.security import OPEN_ACL_UNSAFE

import zkwire
from conftest import CONTAINER_WAIT_S, EXTENDED_TYPES, Recorder
from kazoo.protocol.states import EventType


def _create_container(client, path, data=b""):
    return zkwire.call(
        client, zkwire.CreateContainer(path, data, OPEN_ACL_UNSAFE, zkwire.CREATE_FLAG_CONTAINER)
    )


def _create_ttl(client, path, ttl_ms, data=b""):
    try:
        return zkwire.call(
            client,
            zkwire.CreateTTL(
                path, data, OPEN_ACL_UNSAFE, zkwire.CREATE_FLAG_PERSISTENT_WITH_TTL, ttl_ms
            ),
        )
    except UnimplementedError:
        if EXTENDED_TYPES:
            raise
        pytest.skip("server runs without extendedTypesEnabled (set ZK_EXTENDED_TYPES=1 to require)")


def test_container_is_reaped_after_its_last_child_goes(zk, zk2, root):
    path = f"{root}/container"
    created, stat = _create_container(zk, path, b"c")
    assert created == path
    # Containers report ephemeralOwner 0 like plain persistent nodes.
    assert stat.ephemeralOwner == 0
    assert zk.get(path)[0] == b"c"

    zk.create(f"{path}/child")
    gone = Recorder()
    assert zk2.exists(path, watch=gone) is not None
    zk.delete(f"{path}/child")

    event = gone.wait_for(
        lambda e: True, timeout_s=CONTAINER_WAIT_S, what="the empty container to be reaped"
    )
    assert event.type == EventType.DELETED
    assert event.path == path
    assert zk.exists(path) is None


def test_container_with_children_is_kept_while_an_empty_one_is_reaped(zk, zk2, root):
    busy = f"{root}/busy"
    _create_container(zk, busy)
    zk.create(f"{busy}/a")
    zk.create(f"{busy}/b")
    zk.delete(f"{busy}/a")

    empty = f"{root}/empty"
    _create_container(zk, empty)
    zk.create(f"{empty}/only")
    gone = Recorder()
    zk2.exists(empty, watch=gone)
    zk.delete(f"{empty}/only")
    gone.wait_for(lambda e: True, timeout_s=CONTAINER_WAIT_S, what="the empty container's reaping")

    # The reaper looked at every container after busy lost a; busy still has b, so it stays.
    assert zk.get_children(busy) == ["b"]


def test_container_never_given_a_child_is_kept(zk, zk2, root):
    fresh = f"{root}/fresh"
    _create_container(zk, fresh)
    witness = f"{root}/witness"
    _create_container(zk, witness)
    zk.create(f"{witness}/c")
    gone = Recorder()
    zk2.exists(witness, watch=gone)
    zk.delete(f"{witness}/c")
    gone.wait_for(lambda e: True, timeout_s=CONTAINER_WAIT_S, what="the witness's reaping")
    # Only containers whose cversion moved are candidates: fresh was never used, so it stays.
    assert zk.exists(fresh) is not None


def test_container_numbers_sequential_children_from_its_creation_count(zk, root):
    path = f"{root}/seqc"
    _create_container(zk, path)
    assert zk.create(f"{path}/s-", sequence=True) == f"{path}/s-0000000000"
    assert zk.create(f"{path}/s-", sequence=True) == f"{path}/s-0000000001"


def test_ttl_node_is_created_and_reaped_after_it_expires(zk, zk2, root):
    path = f"{root}/ttl"
    created, stat = _create_ttl(zk, path, ttl_ms=500, data=b"t")
    assert created == path
    # TTL nodes report ephemeralOwner 0 (the TTL lives in the stored owner field).
    assert stat.ephemeralOwner == 0
    assert zk.get(path)[0] == b"t"

    gone = Recorder()
    assert zk2.exists(path, watch=gone) is not None
    event = gone.wait_for(
        lambda e: True, timeout_s=CONTAINER_WAIT_S, what="the TTL node to be reaped"
    )
    assert event.type == EventType.DELETED
    assert zk.exists(path) is None


def test_ttl_node_with_children_is_kept_while_a_childless_one_is_reaped(zk, zk2, root):
    parent = f"{root}/ttl-parent"
    _create_ttl(zk, parent, ttl_ms=200)
    zk.create(f"{parent}/child")
    lone = f"{root}/ttl-lone"
    _create_ttl(zk, lone, ttl_ms=200)
    gone = Recorder()
    zk2.exists(lone, watch=gone)
    gone.wait_for(lambda e: True, timeout_s=CONTAINER_WAIT_S, what="the childless TTL node's reaping")
    # Both TTLs had run out when the reaper removed lone; parent has a child, so it stays.
    assert zk.get_children(parent) == ["child"]


def test_ttl_must_be_positive(zk, root):
    with pytest.raises((BadArgumentsError, UnimplementedError)) as err:
        zkwire.call(
            zk,
            zkwire.CreateTTL(
                f"{root}/bad-ttl", b"", OPEN_ACL_UNSAFE, zkwire.CREATE_FLAG_PERSISTENT_WITH_TTL, 0
            ),
        )
    if err.type is UnimplementedError and not EXTENDED_TYPES:
        pytest.skip("server runs without extendedTypesEnabled")
    assert err.type is BadArgumentsError
    assert zk.exists(f"{root}/bad-ttl") is None
