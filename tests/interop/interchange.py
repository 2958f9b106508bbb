#!/usr/bin/env python3
"""Data interchange between corral and Apache ZooKeeper: build a tree, dump it, compare dumps.

Usage:
  interchange.py write HOST:PORT          build the tree under /ic (fails if /ic exists)
  interchange.py dump HOST:PORT FILE      write every node under /ic as JSON to FILE
  interchange.py compare A.json B.json    exit 1 listing every difference
  interchange.py dump HOST:PORT FILE /    the same for the whole tree (root and /zookeeper too)
  interchange.py ephemeral HOST:PORT      create /ic/eph from a session left open (the process
                                          exits without closing it; the session times out
                                          EPHEMERAL_TIMEOUT_S after the server last heard of it)
  interchange.py gone HOST:PORT PATH      wait up to 60s for PATH to disappear; exit 1 if it stays
  interchange.py touch HOST:PORT PATH     create PATH (parents too) with data b"touched"
  interchange.py check HOST:PORT PATH     exit 1 unless PATH exists with data b"touched"

The tree covers what a server has to carry through its snapshot and txn log: nested paths,
binary data (all 256 byte values, and a large value), versions, cversions and aversions
above zero, sequential children with gaps, digest ACLs (explicit and `auth`), deleted
nodes, null and empty data, container and TTL nodes, an ephemeral node of a session left
open, and a multi-op. Every client authenticates as the digest user,
so nodes only that user may read are dumped too.
"""

import json
import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.security import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Permissions, make_digest_acl

import zkwire  # next to this file

ROOT = "/ic"
USER, PASSWORD = "ic-user", "ic-secret"
OTHER, OTHER_PASSWORD = "ic-other", "ic-other-secret"
TOUCHED = b"touched"
EPHEMERAL = f"{ROOT}/eph"
EPHEMERAL_TIMEOUT_S = 10.0


def connect(hosts):
    zk = KazooClient(hosts=hosts, timeout=10.0, connection_retry={"max_tries": 20, "delay": 0.2})
    zk.start(timeout=30)
    zk.add_auth("digest", f"{USER}:{PASSWORD}")
    return zk


def write(hosts):
    zk = connect(hosts)
    try:
        if zk.exists(ROOT):
            raise SystemExit(f"{ROOT} already exists on {hosts}")
        zk.create(ROOT, b"interchange root")
        # Nested paths, each level with its own data.
        zk.create(f"{ROOT}/a", b"a")
        zk.create(f"{ROOT}/a/b", b"b")
        zk.create(f"{ROOT}/a/b/c", b"c")
        zk.create(f"{ROOT}/a/b/c/d", b"deepest")
        # Binary data: every byte value, and a value larger than one log page.
        zk.create(f"{ROOT}/binary", bytes(range(256)))
        zk.create(f"{ROOT}/large", bytes((i * 7) % 256 for i in range(200_000)))
        # Versions > 0.
        zk.create(f"{ROOT}/versions", b"v0")
        for i in range(1, 6):
            zk.set(f"{ROOT}/versions", f"v{i}".encode())
        zk.set(f"{ROOT}/a", b"a, changed")
        # Sequential children, some deleted: the parent's cversion and pzxid count them all.
        zk.create(f"{ROOT}/seq")
        made = [zk.create(f"{ROOT}/seq/n-", f"n{i}".encode(), sequence=True) for i in range(10)]
        for p in made[1::3]:
            zk.delete(p)
        zk.create(f"{ROOT}/seq/n-", b"after deletes", sequence=True)
        # Digest ACLs: an explicit digest ACL, an `auth` ACL (expanded by the server to the
        # session's digest identity), a mixed list, and a setACL (aversion > 0).
        zk.create(f"{ROOT}/digest", b"only ic-user", acl=[make_digest_acl(USER, PASSWORD, all=True)])
        zk.create(f"{ROOT}/digest/child", b"under digest")
        zk.create(f"{ROOT}/auth", b"auth acl", acl=[ACL(Permissions.ALL, Id("auth", ""))])
        zk.create(
            f"{ROOT}/mixed",
            b"mixed acl",
            acl=[
                make_digest_acl(USER, PASSWORD, read=True, write=True),
                make_digest_acl(OTHER, OTHER_PASSWORD, read=True),
            ]
            + list(READ_ACL_UNSAFE),
        )
        zk.create(f"{ROOT}/reacl", b"acl changed twice")
        zk.set_acls(f"{ROOT}/reacl", [make_digest_acl(USER, PASSWORD, all=True)])
        zk.set_acls(f"{ROOT}/reacl", [make_digest_acl(USER, PASSWORD, all=True)] + list(READ_ACL_UNSAFE))
        # Deleted nodes: created then deleted, alone and as a whole subtree.
        zk.create(f"{ROOT}/gone", b"soon gone")
        zk.delete(f"{ROOT}/gone")
        zk.create(f"{ROOT}/gone-tree/x/y", b"y", makepath=True)
        zk.delete(f"{ROOT}/gone-tree", recursive=True)
        # Null data and empty data.
        zk.create(f"{ROOT}/null", None)
        zk.create(f"{ROOT}/empty", b"")
        zk.set(f"{ROOT}/empty", b"")
        # Extended types (the servers run with extendedTypesEnabled): a container with a
        # child (so the reaper leaves it) and a TTL node that outlives the test. Both are told
        # apart by their ephemeralOwner alone, so it must survive as is.
        zkwire.call(
            zk,
            zkwire.CreateContainer(
                f"{ROOT}/container", b"container", OPEN_ACL_UNSAFE, zkwire.CREATE_FLAG_CONTAINER
            ),
        )
        zk.create(f"{ROOT}/container/child", b"keeps the container")
        zkwire.call(
            zk,
            zkwire.CreateTTL(
                f"{ROOT}/ttl", b"ttl", OPEN_ACL_UNSAFE, zkwire.CREATE_FLAG_PERSISTENT_WITH_TTL, 3_600_000
            ),
        )
        # A multi-op: one zxid for several changes.
        tx = zk.transaction()
        tx.create(f"{ROOT}/multi", b"multi")
        tx.create(f"{ROOT}/multi/one", b"1")
        tx.set_data(f"{ROOT}/versions", b"from multi")
        tx.delete(made[0])
        results = tx.commit()
        bad = [r for r in results if isinstance(r, Exception)]
        if bad:
            raise SystemExit(f"multi failed: {results}")
        # A burst of pipelined requests (creates, sets, deletes, children of deleted and
        # re-created nodes) so that snapshots taken by a small snapCount are fuzzy: the
        # server keeps applying while it writes them, and the log replayed over them has to
        # give the same tree.
        zk.create(f"{ROOT}/burst")
        live = set()
        pending = []
        for r in range(6):
            for j in range(40):
                p = f"{ROOT}/burst/k{j}"
                if j not in live:
                    pending.append(zk.create_async(p, f"r{r}".encode()))
                    live.add(j)
                elif (j + r) % 3 == 0:
                    pending.append(zk.delete_async(p))
                    live.discard(j)
                else:
                    pending.append(zk.set_async(p, f"r{r}".encode()))
        for a in pending:
            a.get(timeout=30)
        # Enough further txns that a small snapCount makes a snapshot mid-way.
        zk.create(f"{ROOT}/counter", b"0")
        for i in range(1, 31):
            zk.set(f"{ROOT}/counter", str(i).encode())
        print(f"interchange: wrote the tree under {ROOT} on {hosts}")
    finally:
        zk.stop()
        zk.close()


def acl_json(acl):
    return {"perms": acl.perms, "scheme": acl.id.scheme, "id": acl.id.id}


def node_json(zk, path):
    data, stat = zk.get(path)
    acls, _ = zk.get_acls(path)
    children = sorted(zk.get_children(path))
    return {
        "path": path,
        "data": None if data is None else data.hex(),
        "stat": {
            "czxid": stat.czxid,
            "mzxid": stat.mzxid,
            "pzxid": stat.pzxid,
            "ctime": stat.ctime,
            "mtime": stat.mtime,
            "version": stat.version,
            "cversion": stat.cversion,
            "aversion": stat.aversion,
            "ephemeralOwner": stat.ephemeralOwner,
            "dataLength": stat.dataLength,
            "numChildren": stat.numChildren,
        },
        "acl": [acl_json(a) for a in acls],
        "children": children,
    }


def dump(hosts, out, top=ROOT):
    zk = connect(hosts)
    try:
        nodes = []
        todo = [top]
        while todo:
            path = todo.pop()
            n = node_json(zk, path)
            nodes.append(n)
            base = "" if path == "/" else path
            todo.extend(f"{base}/{c}" for c in reversed(n["children"]))
        nodes.sort(key=lambda n: n["path"])
    finally:
        zk.stop()
        zk.close()
    with open(out, "w") as f:
        json.dump({"nodes": nodes}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"interchange: dumped {len(nodes)} nodes under {top} from {hosts} to {out}")


def short(v):
    s = json.dumps(v, sort_keys=True)
    return s if len(s) <= 120 else s[:117] + "..."


def compare(a_file, b_file):
    with open(a_file) as f:
        a = {n["path"]: n for n in json.load(f)["nodes"]}
    with open(b_file) as f:
        b = {n["path"]: n for n in json.load(f)["nodes"]}
    diffs = []
    for p in sorted(a.keys() - b.keys()):
        diffs.append(f"{p}: only in {a_file}")
    for p in sorted(b.keys() - a.keys()):
        diffs.append(f"{p}: only in {b_file}")
    for p in sorted(a.keys() & b.keys()):
        na, nb = a[p], b[p]
        for key in ("data", "acl", "children"):
            if na[key] != nb[key]:
                diffs.append(f"{p}: {key} {short(na[key])} != {short(nb[key])}")
        for field in sorted(na["stat"].keys() | nb["stat"].keys()):
            va, vb = na["stat"].get(field), nb["stat"].get(field)
            if va != vb:
                diffs.append(f"{p}: stat.{field} {va} != {vb}")
    if diffs:
        print(f"interchange: {len(diffs)} difference(s) between {a_file} and {b_file}:")
        for d in diffs:
            print(f"  {d}")
        return 1
    if not a:
        print(f"interchange: both dumps are empty ({a_file}, {b_file})")
        return 1
    print(f"interchange: {len(a)} nodes identical in {a_file} and {b_file}")
    return 0


def ephemeral(hosts):
    zk = KazooClient(hosts=hosts, timeout=EPHEMERAL_TIMEOUT_S)
    zk.start(timeout=30)
    zk.create(EPHEMERAL, b"owned by an abandoned session", ephemeral=True)
    print(f"interchange: {EPHEMERAL} owned by session 0x{zk.client_id[0]:x} on {hosts}")
    sys.stdout.flush()
    # Leave without closing the session: the server (and the next one to read its data)
    # has to expire it.
    os._exit(0)


def gone(hosts, path):
    zk = connect(hosts)
    try:
        deadline = time.monotonic() + 60
        while zk.exists(path):
            if time.monotonic() > deadline:
                print(f"interchange: {path} still on {hosts} after 60s")
                return 1
            time.sleep(0.2)
    finally:
        zk.stop()
        zk.close()
    print(f"interchange: {path} is gone from {hosts}")
    return 0


def touch(hosts, path):
    zk = connect(hosts)
    try:
        zk.create(path, TOUCHED, makepath=True, acl=OPEN_ACL_UNSAFE)
        print(f"interchange: created {path} on {hosts}")
    finally:
        zk.stop()
        zk.close()


def check(hosts, path):
    zk = connect(hosts)
    try:
        got = zk.exists(path) and zk.get(path)[0]
    finally:
        zk.stop()
        zk.close()
    if got != TOUCHED:
        print(f"interchange: {path} on {hosts}: expected {TOUCHED!r}, got {got!r}")
        return 1
    print(f"interchange: {path} is on {hosts}")
    return 0


def main(argv):
    usage = __doc__.split("\n\n")[1]
    if len(argv) < 2:
        raise SystemExit(usage)
    cmd, args = argv[1], argv[2:]
    if cmd == "write" and len(args) == 1:
        write(args[0])
        return 0
    if cmd == "dump" and len(args) in (2, 3):
        dump(*args)
        return 0
    if cmd == "compare" and len(args) == 2:
        return compare(*args)
    if cmd == "ephemeral" and len(args) == 1:
        ephemeral(args[0])
    if cmd == "gone" and len(args) == 2:
        return gone(*args)
    if cmd == "touch" and len(args) == 2:
        touch(*args)
        return 0
    if cmd == "check" and len(args) == 2:
        return check(*args)
    raise SystemExit(usage)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
