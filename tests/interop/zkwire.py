"""Raw ZooKeeper requests that kazoo 2.11 does not expose, sent over kazoo's own connection.

kazoo 2.11 has no addWatch (persistent watches), removeWatches, createContainer, createTTL,
and it never sends SetWatches on reconnect (it fires every watch with a NONE event and
lets recipes re-read instead). The suite still needs to drive those server paths, so this
module defines the request records (jute layout per ZooKeeper's zookeeper.jute) as objects
kazoo's connection can submit (`type`, `serialize()`, `deserialize()`), plus `WatchTap`,
which records every notification frame a client receives, including the zxid in its
reply header (3.9 sends the txn zxid there, 3.8 sends -1).

Nothing here talks to a socket itself; everything goes through `KazooClient._call`.
"""

import struct
import threading
from collections import namedtuple

from kazoo.protocol.serialization import (
    Create2,
    int_struct,
    long_struct,
    write_string,
)

# Watcher.Event.EventType
EVENT_NODE_CREATED = 1
EVENT_NODE_DELETED = 2
EVENT_NODE_DATA_CHANGED = 3
EVENT_NODE_CHILDREN_CHANGED = 4

EVENT_NAMES = {
    -1: "None",
    1: "NodeCreated",
    2: "NodeDeleted",
    3: "NodeDataChanged",
    4: "NodeChildrenChanged",
    5: "DataWatchRemoved",
    6: "ChildWatchRemoved",
    7: "PersistentWatchRemoved",
}

# ZooDefs.AddWatchModes
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1

# Watcher.WatcherType (RemoveWatchesRequest.type); 4 and 5 are 3.9+
WATCHER_TYPE_CHILDREN = 1
WATCHER_TYPE_DATA = 2
WATCHER_TYPE_ANY = 3
WATCHER_TYPE_PERSISTENT = 4
WATCHER_TYPE_PERSISTENT_RECURSIVE = 5

# CreateMode flags
CREATE_FLAG_CONTAINER = 4
CREATE_FLAG_PERSISTENT_WITH_TTL = 5


def _write_acls(acls):
    b = bytearray(int_struct.pack(len(acls)))
    for acl in acls:
        b.extend(
            int_struct.pack(acl.perms)
            + write_string(acl.id.scheme)
            + write_string(acl.id.id)
        )
    return b


def _write_string_vector(paths):
    b = bytearray(int_struct.pack(len(paths)))
    for path in paths:
        b.extend(write_string(path))
    return b


class _NoBody:
    """Mixin: the reply carries nothing the tests need beyond the header's error code."""

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class AddWatch(_NoBody, namedtuple("AddWatch", "path mode")):
    """AddWatchRequest (opcode 106): a persistent or persistent-recursive watch."""

    type = 106

    def serialize(self):
        return bytearray(write_string(self.path) + int_struct.pack(self.mode))


class RemoveWatches(_NoBody, namedtuple("RemoveWatches", "path watcher_type")):
    """RemoveWatchesRequest (opcode 18)."""

    type = 18

    def serialize(self):
        return bytearray(write_string(self.path) + int_struct.pack(self.watcher_type))


class SetWatches(
    _NoBody,
    namedtuple("SetWatches", "relative_zxid data_watches exist_watches child_watches"),
):
    """SetWatches (opcode 101), what Java clients send after reconnecting."""

    type = 101

    def serialize(self):
        b = bytearray(long_struct.pack(self.relative_zxid))
        b += _write_string_vector(self.data_watches)
        b += _write_string_vector(self.exist_watches)
        b += _write_string_vector(self.child_watches)
        return b


class SetWatches2(
    _NoBody,
    namedtuple(
        "SetWatches2",
        "relative_zxid data_watches exist_watches child_watches "
        "persistent_watches persistent_recursive_watches",
    ),
):
    """SetWatches2 (opcode 105), the variant that also restores persistent watches."""

    type = 105

    def serialize(self):
        b = bytearray(long_struct.pack(self.relative_zxid))
        b += _write_string_vector(self.data_watches)
        b += _write_string_vector(self.exist_watches)
        b += _write_string_vector(self.child_watches)
        b += _write_string_vector(self.persistent_watches)
        b += _write_string_vector(self.persistent_recursive_watches)
        return b


class CreateContainer(Create2):
    """createContainer (opcode 19): CreateRequest with flags=4, answered by Create2Response."""

    type = 19


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """createTTL (opcode 21): CreateTTLRequest, answered by Create2Response."""

    type = 21

    def serialize(self):
        b = bytearray(write_string(self.path))
        b += int_struct.pack(len(self.data)) + self.data
        b += _write_acls(self.acl)
        b += int_struct.pack(self.flags)
        b += long_struct.pack(self.ttl)
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return Create2.deserialize(buffer, offset)


def call(client, request, timeout_s=30):
    """Submit a raw request on `client`'s session and wait for its reply.

    Raises the kazoo exception matching the reply's error code.
    """
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout_s)


RawEvent = namedtuple("RawEvent", "type state path zxid")


class WatchTap:
    """Records every watch notification a kazoo client receives, before kazoo dispatches it.

    kazoo only hands a notification to watchers registered for that exact path and drops
    the reply-header zxid; persistent-recursive events arrive for descendants and the
    zxid is what 3.8 and 3.9 disagree on, so the suite reads frames here.
    """

    def __init__(self, client):
        self._cond = threading.Condition()
        self._events = []
        conn = client._connection
        original_read_header = conn._read_header
        original_read_watch_event = conn._read_watch_event
        last_header = {}

        def read_header(timeout):
            header, buffer, offset = original_read_header(timeout)
            last_header["h"] = header
            return header, buffer, offset

        def read_watch_event(buffer, offset):
            event_type, state = struct.unpack_from("!ii", buffer, offset)
            path_len = int_struct.unpack_from(buffer, offset + 8)[0]
            start = offset + 12
            path = bytes(buffer[start : start + path_len]).decode("utf-8")
            header = last_header.get("h")
            zxid = header.zxid if header is not None else None
            with self._cond:
                self._events.append(RawEvent(event_type, state, path, zxid))
                self._cond.notify_all()
            return original_read_watch_event(buffer, offset)

        conn._read_header = read_header
        conn._read_watch_event = read_watch_event

    def events(self):
        with self._cond:
            return list(self._events)

    def wait_for(self, event_type, path, timeout_s=30):
        """Wait for a notification of `event_type` on `path` and return it (the first one)."""

        def find():
            for ev in self._events:
                if ev.type == event_type and ev.path == path:
                    return ev
            return None

        with self._cond:
            self._cond.wait_for(lambda: find() is not None, timeout=timeout_s)
            found = find()
            seen = [(EVENT_NAMES.get(e.type, e.type), e.path) for e in self._events]
        assert found is not None, (
            f"no {EVENT_NAMES.get(event_type, event_type)} notification for {path} "
            f"within {timeout_s}s; received: {seen}"
        )
        return found

    def wait_for_count(self, event_type, path, count, timeout_s=30):
        """Wait until `count` notifications of `event_type` on `path` have arrived; return them."""
        with self._cond:
            self._cond.wait_for(
                lambda: len(self._matching(event_type, path)) >= count, timeout=timeout_s
            )
            found = self._matching(event_type, path)
        assert len(found) >= count, (
            f"{len(found)} of {count} {EVENT_NAMES.get(event_type, event_type)} notifications "
            f"for {path} within {timeout_s}s"
        )
        return found

    def _matching(self, event_type, path):
        return [
            e
            for e in self._events
            if (event_type is None or e.type == event_type) and (path is None or e.path == path)
        ]

    def matching(self, event_type=None, path=None):
        with self._cond:
            return [
                e
                for e in self._events
                if (event_type is None or e.type == event_type)
                and (path is None or e.path == path)
            ]


def _read_string_vector(buffer, offset):
    count = int_struct.unpack_from(buffer, offset)[0]
    offset += 4
    items = []
    for _ in range(max(count, 0)):
        length = int_struct.unpack_from(buffer, offset)[0]
        offset += 4
        items.append(bytes(buffer[offset : offset + length]).decode("utf-8"))
        offset += length
    return items, offset


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    """getAllChildrenNumber (opcode 104): the number of descendants of `path`."""

    type = 104

    def serialize(self):
        return bytearray(write_string(self.path))

    @classmethod
    def deserialize(cls, buffer, offset):
        return int_struct.unpack_from(buffer, offset)[0]


class GetEphemerals(namedtuple("GetEphemerals", "prefix_path")):
    """getEphemerals (opcode 103): this session's ephemeral paths starting with a prefix."""

    type = 103

    def serialize(self):
        return bytearray(write_string(self.prefix_path))

    @classmethod
    def deserialize(cls, buffer, offset):
        return _read_string_vector(buffer, offset)[0]


class WhoAmI:
    """whoAmI (opcode 107): the (scheme, user) pairs the server holds for this session.

    A plain class, not an empty namedtuple: kazoo drops replies to falsy request objects.
    """

    type = 107

    def serialize(self):
        return bytearray()

    @classmethod
    def deserialize(cls, buffer, offset):
        count = int_struct.unpack_from(buffer, offset)[0]
        offset += 4
        infos = []
        for _ in range(max(count, 0)):
            pair = []
            for _ in range(2):
                length = int_struct.unpack_from(buffer, offset)[0]
                offset += 4
                pair.append(bytes(buffer[offset : offset + max(length, 0)]).decode("utf-8"))
                offset += max(length, 0)
            infos.append(tuple(pair))
        return infos
