"""kazoo's recipes against the server: each built from ephemeral-sequential nodes and watches."""

import threading

from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.counter import Counter
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue

from conftest import WAIT_S, Recorder, wait_until


def _run_threads(targets):
    """Run callables in threads; re-raise the first exception any of them hit."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the test below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "worker threads did not finish"
    if errors:
        raise errors[0]


def test_lock_gives_mutual_exclusion_across_clients(make_client, root):
    clients = [make_client() for _ in range(3)]
    clients[0].create(f"{root}/value", b"0")
    inside = []
    inside_lock = threading.Lock()
    overlaps = []
    rounds = 8

    def worker(client, name):
        def run():
            lock = client.Lock(f"{root}/lock", name)
            for _ in range(rounds):
                with lock:
                    with inside_lock:
                        inside.append(name)
                        if len(inside) > 1:
                            overlaps.append(list(inside))
                    # Unversioned read-modify-write: only correct under mutual exclusion.
                    value = int(client.get(f"{root}/value")[0])
                    client.sync(f"{root}/value")
                    client.set(f"{root}/value", str(value + 1).encode())
                    with inside_lock:
                        inside.remove(name)

        return run

    _run_threads([worker(c, f"w{i}") for i, c in enumerate(clients)])
    assert overlaps == []
    assert int(clients[0].get(f"{root}/value")[0]) == rounds * len(clients)
    assert clients[0].get_children(f"{root}/lock") == []


def test_lock_is_not_granted_while_held_and_is_after_release(make_client, root):
    a, b = make_client(), make_client()
    lock_a = a.Lock(f"{root}/lock", "a")
    lock_b = b.Lock(f"{root}/lock", "b")
    assert lock_a.acquire(timeout=WAIT_S)
    assert lock_b.acquire(blocking=False) is False
    assert lock_a.contenders() == ["a"]

    got = threading.Event()

    def contend():
        if lock_b.acquire(timeout=WAIT_S):
            got.set()

    t = threading.Thread(target=contend, daemon=True)
    t.start()
    wait_until(lambda: lock_a.contenders() == ["a", "b"], what="b to queue behind a")
    assert not got.is_set()
    lock_a.release()
    assert got.wait(WAIT_S), "b never got the lock after a released it"
    t.join(WAIT_S)
    assert lock_b.contenders() == ["b"]
    lock_b.release()


def test_lock_holder_losing_its_session_hands_the_lock_over(make_client, root):
    a, b = make_client(), make_client()
    assert a.Lock(f"{root}/lock", "a").acquire(timeout=WAIT_S)
    lock_b = b.Lock(f"{root}/lock", "b")
    assert lock_b.acquire(blocking=False) is False
    a.stop()
    a.close()
    assert lock_b.acquire(timeout=WAIT_S)
    lock_b.release()


def test_read_write_locks_share_reads_and_exclude_writes(make_client, root):
    r1c, r2c, wc = make_client(), make_client(), make_client()
    r1 = r1c.ReadLock(f"{root}/rw", "r1")
    r2 = r2c.ReadLock(f"{root}/rw", "r2")
    w = wc.WriteLock(f"{root}/rw", "w")
    assert r1.acquire(timeout=WAIT_S)
    assert r2.acquire(blocking=False)
    assert w.acquire(blocking=False) is False
    r1.release()
    r2.release()
    assert w.acquire(timeout=WAIT_S)
    assert r1.acquire(blocking=False) is False
    w.release()


def test_semaphore_limits_concurrent_leases(make_client, root):
    clients = [make_client() for _ in range(3)]
    sems = [c.Semaphore(f"{root}/sem", f"s{i}", max_leases=2) for i, c in enumerate(clients)]
    assert sems[0].acquire(timeout=WAIT_S)
    assert sems[1].acquire(timeout=WAIT_S)
    assert sems[2].acquire(blocking=False) is False
    assert sorted(sems[0].lease_holders()) == ["s0", "s1"]
    sems[0].release()
    assert sems[2].acquire(timeout=WAIT_S)
    assert sorted(sems[1].lease_holders()) == ["s1", "s2"]
    sems[1].release()
    sems[2].release()


def test_election_runs_the_second_contender_after_the_first_leaves(make_client, root):
    a, b = make_client(), make_client()
    election_a = a.Election(f"{root}/election", "a")
    election_b = b.Election(f"{root}/election", "b")
    a_leading, a_done, b_leading = threading.Event(), threading.Event(), threading.Event()
    b_done = threading.Event()

    def lead_a():
        a_leading.set()
        a_done.wait(WAIT_S * 4)

    def lead_b():
        b_leading.set()
        b_done.wait(WAIT_S * 4)

    ta = threading.Thread(target=election_a.run, args=(lead_a,), daemon=True)
    ta.start()
    assert a_leading.wait(WAIT_S), "a never became leader"
    tb = threading.Thread(target=election_b.run, args=(lead_b,), daemon=True)
    tb.start()
    wait_until(lambda: election_a.contenders() == ["a", "b"], what="b to join the election")
    assert not b_leading.is_set(), "b led while a was still leader"

    a_done.set()
    ta.join(WAIT_S)
    assert b_leading.wait(WAIT_S), "b did not take over after a left"
    assert election_b.contenders() == ["b"]
    b_done.set()
    tb.join(WAIT_S)


def test_data_watch_recipe_follows_create_change_delete(zk, zk2, root):
    path = f"{root}/watched"
    seen = Recorder()

    @zk.DataWatch(path)
    def changed(data, stat):
        seen((data, stat.version if stat else None))

    seen.wait_for(lambda x: x == (None, None), what="the initial missing-node call")
    zk2.create(path, b"one")
    seen.wait_for(lambda x: x == (b"one", 0), what="the create")
    zk2.set(path, b"two")
    seen.wait_for(lambda x: x == (b"two", 1), what="the set")
    zk2.delete(path)
    wait_until(lambda: seen.snapshot()[-1] == (None, None), what="the delete")
    values = [d for d, _ in seen.snapshot()]
    assert values[0] is None
    assert values.index(b"one") < values.index(b"two")


def test_children_watch_recipe_sees_each_membership(zk, zk2, root):
    parent = f"{root}/members"
    zk.create(parent)
    seen = Recorder()

    @zk.ChildrenWatch(parent)
    def children(names):
        seen(sorted(names))

    seen.wait_for(lambda x: x == [], what="the initial empty list")
    zk2.create(f"{parent}/a")
    seen.wait_for(lambda x: x == ["a"], what="[a]")
    zk2.create(f"{parent}/b")
    seen.wait_for(lambda x: x == ["a", "b"], what="[a, b]")
    zk2.delete(f"{parent}/a")
    seen.wait_for(lambda x: x == ["b"], what="[b]")


def test_queue_is_fifo_within_priority_and_no_item_is_taken_twice(make_client, root):
    producer, c1, c2 = make_client(), make_client(), make_client()
    queue = Queue(producer, f"{root}/queue")
    queue.put(b"low-1", priority=200)
    queue.put(b"first", priority=10)
    queue.put(b"low-2", priority=200)
    queue.put(b"second", priority=10)
    assert len(queue) == 4
    consumer = Queue(c1, f"{root}/queue")
    assert [consumer.get() for _ in range(4)] == [b"first", b"second", b"low-1", b"low-2"]
    assert consumer.get() is None

    items = [f"item-{i}".encode() for i in range(30)]
    for item in items:
        queue.put(item)
    taken = {1: [], 2: []}

    def consume(client, key):
        def run():
            q = Queue(client, f"{root}/queue")
            while True:
                item = q.get()
                if item is None:
                    return
                taken[key].append(item)

        return run

    _run_threads([consume(c1, 1), consume(c2, 2)])
    got = taken[1] + taken[2]
    assert sorted(got) == sorted(items)
    assert len(set(got)) == len(items)


def test_locking_queue_hands_an_item_to_one_consumer_until_consumed(make_client, root):
    producer, c1, c2 = make_client(), make_client(), make_client()
    LockingQueue(producer, f"{root}/lq").put_all([b"job-1", b"job-2"])
    q1 = LockingQueue(c1, f"{root}/lq")
    q2 = LockingQueue(c2, f"{root}/lq")
    assert len(q1) == 2

    assert q1.get(timeout=WAIT_S) == b"job-1"
    assert q1.holds_lock()
    # job-1 is locked by q1, so q2 gets the next one.
    assert q2.get(timeout=WAIT_S) == b"job-2"
    assert q2.release()  # give job-2 back unconsumed
    assert q1.consume()
    assert len(q1) == 1
    assert q1.get(timeout=WAIT_S) == b"job-2"
    assert q1.consume()
    assert len(q2) == 0


def test_counter_sums_concurrent_increments(make_client, root):
    clients = [make_client() for _ in range(4)]
    per_client = 15

    def bump(client):
        def run():
            counter = Counter(client, f"{root}/counter")
            for _ in range(per_client):
                counter += 1

        return run

    _run_threads([bump(c) for c in clients])
    counter = Counter(clients[0], f"{root}/counter")
    assert counter.value == per_client * len(clients)
    counter -= 10
    assert Counter(clients[1], f"{root}/counter").value == per_client * len(clients) - 10


def test_barrier_blocks_waiters_until_removed(make_client, root):
    owner, waiter_client = make_client(), make_client()
    barrier = Barrier(owner, f"{root}/barrier")
    barrier.create()
    released = threading.Event()
    result = []

    def wait():
        result.append(Barrier(waiter_client, f"{root}/barrier").wait(timeout=WAIT_S * 4))
        released.set()

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    # The waiter parks on an exists watch; kazoo records it once the server has answered.
    wait_until(
        lambda: waiter_client._data_watchers.get(f"{root}/barrier"), what="the waiter's watch"
    )
    assert not released.is_set()
    assert barrier.remove()
    assert released.wait(WAIT_S), "waiter was not released"
    assert result == [True]
    assert Barrier(owner, f"{root}/never-created").wait(timeout=1) is True


def test_double_barrier_holds_everyone_until_all_enter_and_all_leave(make_client, root):
    n = 3
    clients = [make_client() for _ in range(n)]
    log = []
    log_lock = threading.Lock()

    def note(entry):
        with log_lock:
            log.append(entry)

    def member(client, i):
        def run():
            barrier = DoubleBarrier(client, f"{root}/double", n, identifier=f"m{i}")
            note(("enter", i))
            barrier.enter()
            note(("entered", i))
            note(("leave", i))
            barrier.leave()
            note(("left", i))

        return run

    _run_threads([member(c, i) for i, c in enumerate(clients)])
    order = [kind for kind, _ in log]
    last_enter = max(i for i, kind in enumerate(order) if kind == "enter")
    first_entered = min(i for i, kind in enumerate(order) if kind == "entered")
    last_leave = max(i for i, kind in enumerate(order) if kind == "leave")
    first_left = min(i for i, kind in enumerate(order) if kind == "left")
    assert last_enter < first_entered, f"someone passed enter() early: {log}"
    assert last_leave < first_left, f"someone passed leave() early: {log}"
    assert order.count("left") == n


def test_party_and_shallow_party_track_members(make_client, root):
    a, b = make_client(), make_client()
    for cls, path in ((Party, f"{root}/party"), (ShallowParty, f"{root}/shallow")):
        pa = cls(a, path, "alpha")
        pb = cls(b, path, "beta")
        pa.join()
        pb.join()
        assert sorted(cls(a, path)) == ["alpha", "beta"]
        assert len(pa) == 2
        pa.leave()
        assert list(cls(b, path)) == ["beta"]
        assert len(pb) == 1

    # Membership is ephemeral: a member whose session ends drops out.
    c = make_client()
    Party(c, f"{root}/party", "gamma").join()
    assert sorted(Party(a, f"{root}/party")) == ["beta", "gamma"]
    c.stop()
    c.close()
    wait_until(lambda: list(Party(a, f"{root}/party")) == ["beta"], what="gamma to drop out")


def test_tree_cache_mirrors_a_subtree(zk, zk2, root):
    base = f"{root}/tree"
    zk2.create(f"{base}/a", b"A", makepath=True)
    cache = TreeCache(zk, base)
    events = Recorder()
    cache.listen(events)
    cache.start()
    try:
        events.wait_for(lambda e: e.event_type == TreeEvent.INITIALIZED, what="initialization")
        assert cache.get_data(f"{base}/a").data == b"A"
        zk2.create(f"{base}/a/b", b"B")
        zk2.set(f"{base}/a", b"A2")
        wait_until(
            lambda: cache.get_data(f"{base}/a/b") is not None
            and cache.get_data(f"{base}/a").data == b"A2",
            what="the cache to see the new node and the change",
        )
        assert sorted(cache.get_children(f"{base}/a")) == ["b"]
        zk2.delete(f"{base}/a/b")
        wait_until(lambda: cache.get_data(f"{base}/a/b") is None, what="the delete")
    finally:
        cache.close()
