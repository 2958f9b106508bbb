//! Watches: one-shot data / exists / child watches, NodeDeleted to every watcher of a deleted
//! node, persistent and persistent-recursive watches, checkWatches / removeWatches, the
//! watch-before-data ordering guarantee and the zxid carried by notifications.

mod common;

use common::raw::{self, Session, err, event, op, req, watcher_type};
use common::{Server, guard, mk, persistent};
use zookeeper_client as zk;

#[tokio::test]
async fn data_watch_fires_node_data_changed() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("w-data");
    mk(&c, &path).await;
    let (_, _, watcher) = c.get_and_watch_data(&path).await.unwrap();
    let stat = c.set_data(&path, b"new", None).await.unwrap();
    let ev = guard("NodeDataChanged", watcher.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeDataChanged);
    assert_eq!(ev.path, path);
    if !common::is_zk38() {
        assert_eq!(ev.zxid, stat.mzxid);
    }
    c.delete(&path, None).await.unwrap();
}

/// Standard watches are one-shot: two changes after one getData(watch) deliver one event.
#[test]
fn data_watch_is_one_shot() {
    let server = Server::start();
    let mut a = Session::connect(server.addr(), 30_000);
    let mut b = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("w-oneshot");
    a.create(&path, b"", 0).ok();
    a.get_data(&path, true).ok();
    b.set_data(&path, b"1", -1).ok();
    b.set_data(&path, b"2", -1).ok();
    // Everything the server sent A before this reply is now in A's queue.
    let data = a.get_data(&path, false).ok();
    assert_eq!(data.reader().bytes(), Some(b"2".to_vec()));
    let events: Vec<_> = a.events.drain(..).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type, event::NODE_DATA_CHANGED);
    assert_eq!(events[0].state, 3, "notifications carry SyncConnected");
    assert_eq!(events[0].path, path);
    b.set_data(&path, b"3", -1).ok();
    a.exists(&path, false).ok();
    assert!(
        a.events.is_empty(),
        "no event after the watch fired: {:?}",
        a.events
    );
    b.delete(&path, -1).ok();
    a.close();
    b.close();
}

/// A getData watch and an exists watch of one session on one path fire as one event.
#[test]
fn data_and_exists_watch_on_one_path_fire_one_event() {
    let server = Server::start();
    let mut a = Session::connect(server.addr(), 30_000);
    let mut b = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("w-dedup");
    a.create(&path, b"", 0).ok();
    a.get_data(&path, true).ok();
    a.exists(&path, true).ok();
    b.set_data(&path, b"x", -1).ok();
    a.exists(&path, false).ok();
    assert_eq!(a.events.len(), 1, "{:?}", a.events);
    a.delete(&path, -1).ok();
    a.close();
    b.close();
}

#[tokio::test]
async fn exists_watch_on_missing_node_fires_node_created() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("w-created");
    let (stat, watcher) = c.check_and_watch_stat(&path).await.unwrap();
    assert_eq!(stat, None);
    let (created, _) = c.create(&path, b"", &persistent()).await.unwrap();
    let ev = guard("NodeCreated", watcher.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeCreated);
    assert_eq!(ev.path, path);
    if !common::is_zk38() {
        assert_eq!(ev.zxid, created.czxid);
    }
    c.delete(&path, None).await.unwrap();
}

#[tokio::test]
async fn child_watch_fires_node_children_changed_on_create_and_delete() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("w-child");
    mk(&c, &root).await;
    let (_, watcher) = c.list_and_watch_children(&root).await.unwrap();
    // Data changes of the parent do not fire a child watch.
    c.set_data(&root, b"parent data", None).await.unwrap();
    mk(&c, &format!("{root}/kid")).await;
    let ev = guard("NodeChildrenChanged on create", watcher.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    assert_eq!(ev.path, root);

    let (_, _, watcher) = c.get_and_watch_children(&root).await.unwrap();
    c.set_data(&format!("{root}/kid"), b"child data", None)
        .await
        .unwrap();
    c.delete(&format!("{root}/kid"), None).await.unwrap();
    let ev = guard("NodeChildrenChanged on delete", watcher.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    assert_eq!(ev.path, root);
    c.delete(&root, None).await.unwrap();
}

#[tokio::test]
async fn delete_fires_node_deleted_to_data_and_child_watchers() {
    let server = Server::start();
    let c = server.client().await;
    let other = server.client().await;
    let root = server.unique_path("w-deleted");
    mk(&c, &root).await;
    let node = format!("{root}/n");
    mk(&c, &node).await;
    let (_, _, data_w) = c.get_and_watch_data(&node).await.unwrap();
    let (_, child_w) = other.list_and_watch_children(&node).await.unwrap();
    let (_, exists_w) = other.check_and_watch_stat(&node).await.unwrap();
    let (_, parent_w) = c.list_and_watch_children(&root).await.unwrap();
    c.delete(&node, None).await.unwrap();

    for (name, w) in [("data", data_w), ("child", child_w), ("exists", exists_w)] {
        let ev = guard(name, w.changed()).await;
        assert_eq!(ev.event_type, zk::EventType::NodeDeleted, "{name} watcher");
        assert_eq!(ev.path, node, "{name} watcher");
    }
    let ev = guard("parent", parent_w.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    assert_eq!(ev.path, root);
    c.delete(&root, None).await.unwrap();
}

#[tokio::test]
async fn persistent_watch_fires_repeatedly() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("w-persistent");
    let mut w = c.watch(&root, zk::AddWatchMode::Persistent).await.unwrap();
    mk(&c, &root).await;
    c.set_data(&root, b"1", None).await.unwrap();
    c.set_data(&root, b"2", None).await.unwrap();
    mk(&c, &format!("{root}/kid")).await;
    // A grandchild is not this watch's business.
    mk(&c, &format!("{root}/kid/grandkid")).await;
    c.set_data(&format!("{root}/kid"), b"k", None)
        .await
        .unwrap();
    c.delete(&format!("{root}/kid/grandkid"), None)
        .await
        .unwrap();
    c.delete(&format!("{root}/kid"), None).await.unwrap();
    c.delete(&root, None).await.unwrap();
    let expected = [
        zk::EventType::NodeCreated,
        zk::EventType::NodeDataChanged,
        zk::EventType::NodeDataChanged,
        zk::EventType::NodeChildrenChanged,
        zk::EventType::NodeChildrenChanged,
        zk::EventType::NodeDeleted,
    ];
    for (i, want) in expected.iter().enumerate() {
        let ev = guard("persistent event", w.changed()).await;
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (*want, root.as_str()),
            "event #{i}"
        );
    }
    // Still armed after the node is gone.
    mk(&c, &root).await;
    let ev = guard("persistent event after re-create", w.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeCreated);
    c.delete(&root, None).await.unwrap();
}

#[tokio::test]
async fn persistent_recursive_watch_fires_for_descendants() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("w-recursive");
    mk(&c, &root).await;
    let mut w = c
        .watch(&root, zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let a = format!("{root}/a");
    let ab = format!("{root}/a/b");
    mk(&c, &a).await;
    mk(&c, &ab).await;
    c.set_data(&ab, b"x", None).await.unwrap();
    c.delete(&ab, None).await.unwrap();
    c.set_data(&root, b"r", None).await.unwrap();
    // Recursive watches report node events only, never NodeChildrenChanged.
    let expected = [
        (zk::EventType::NodeCreated, &a),
        (zk::EventType::NodeCreated, &ab),
        (zk::EventType::NodeDataChanged, &ab),
        (zk::EventType::NodeDeleted, &ab),
        (zk::EventType::NodeDataChanged, &root),
    ];
    for (i, (kind, path)) in expected.iter().enumerate() {
        let ev = guard("recursive event", w.changed()).await;
        assert_eq!((ev.event_type, &ev.path), (*kind, *path), "event #{i}");
    }
    common::rmr(&c, &root).await;
}

#[test]
fn check_and_remove_watches_report_no_watcher_when_none() {
    let server = Server::start();
    let mut a = Session::connect(server.addr(), 30_000);
    let mut b = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("w-remove");
    a.create(&path, b"", 0).ok();
    let check = |s: &mut Session, kind: i32| {
        s.request(op::CHECK_WATCHES, &req::path_type(&path, kind))
            .err
    };
    let remove = |s: &mut Session, kind: i32| {
        s.request(op::REMOVE_WATCHES, &req::path_type(&path, kind))
            .err
    };

    assert_eq!(check(&mut a, watcher_type::ANY), err::NO_WATCHER);
    assert_eq!(remove(&mut a, watcher_type::ANY), err::NO_WATCHER);
    a.get_data(&path, true).ok();
    assert_eq!(check(&mut a, watcher_type::DATA), err::OK);
    assert_eq!(check(&mut a, watcher_type::ANY), err::OK);
    assert_eq!(check(&mut a, watcher_type::CHILDREN), err::NO_WATCHER);
    if !common::is_zk38() {
        // 3.8 answered for any session's watch on the path (fixed by ZOOKEEPER-4466 in 3.9).
        assert_eq!(
            check(&mut b, watcher_type::DATA),
            err::NO_WATCHER,
            "watches are per session"
        );
    }
    assert_eq!(remove(&mut a, watcher_type::CHILDREN), err::NO_WATCHER);
    assert_eq!(remove(&mut a, watcher_type::DATA), err::OK);
    assert_eq!(check(&mut a, watcher_type::DATA), err::NO_WATCHER);

    // A removed watch never fires, and removal itself sends nothing.
    b.set_data(&path, b"x", -1).ok();
    a.exists(&path, false).ok();
    assert!(a.events.is_empty(), "{:?}", a.events);

    a.get_children(&path, true).ok();
    assert_eq!(check(&mut a, watcher_type::CHILDREN), err::OK);
    assert_eq!(remove(&mut a, watcher_type::ANY), err::OK);
    assert_eq!(check(&mut a, watcher_type::ANY), err::NO_WATCHER);
    a.delete(&path, -1).ok();
    a.close();
    b.close();
}

/// 3.9 accepts WatcherType Persistent(4) / PersistentRecursive(5) in checkWatches and
/// removeWatches (ZOOKEEPER-4471/4472).
#[test]
fn remove_watches_by_persistent_type() {
    if common::skip_on_zk38(
        "remove_watches_by_persistent_type",
        "WatcherType 4/5 are 3.9",
    ) {
        return;
    }
    let server = Server::start();
    let mut a = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("w-remove-p");
    a.request(op::ADD_WATCH, &req::path_type(&path, 0)).ok();
    a.request(op::ADD_WATCH, &req::path_type(&path, 1)).ok();
    let check = |s: &mut Session, kind: i32| {
        s.request(op::CHECK_WATCHES, &req::path_type(&path, kind))
            .err
    };
    let remove = |s: &mut Session, kind: i32| {
        s.request(op::REMOVE_WATCHES, &req::path_type(&path, kind))
            .err
    };
    assert_eq!(check(&mut a, 4), err::OK);
    assert_eq!(check(&mut a, 5), err::OK);
    assert_eq!(check(&mut a, watcher_type::DATA), err::NO_WATCHER);
    assert_eq!(remove(&mut a, 4), err::OK);
    assert_eq!(check(&mut a, 4), err::NO_WATCHER);
    assert_eq!(check(&mut a, 5), err::OK);
    assert_eq!(remove(&mut a, 5), err::OK);
    assert_eq!(check(&mut a, watcher_type::ANY), err::NO_WATCHER);
    a.create(&path, b"", 0).ok();
    assert!(a.events.is_empty(), "{:?}", a.events);
    a.delete(&path, -1).ok();
    a.close();
}

/// Guarantee 3: the event reaches A no later than the reply to A's first read that observes
/// the change (repeated to give a race a chance to show). An event may arrive earlier, even
/// with replies that still show the old value; it may never arrive later.
#[test]
fn watch_event_arrives_before_the_read_that_observes_the_change() {
    let server = Server::start();
    let mut a = Session::connect(server.addr(), 30_000);
    let mut b = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("w-order");
    a.create(&path, b"0", 0).ok();
    for round in 1..=30 {
        a.get_data(&path, true).ok();
        let value = round.to_string();
        // B's write is pipelined with A's reads: A keeps reading until it sees the new value.
        let xid = b.take_xid();
        b.send(
            xid,
            op::SET_DATA,
            &req::set_data(&path, value.as_bytes(), -1),
        );
        loop {
            let reply = a.get_data(&path, false).ok();
            let data = reply.reader().bytes().unwrap_or_default();
            if data == value.as_bytes() {
                let events: Vec<_> = a.events.drain(..).collect();
                assert_eq!(
                    events.len(),
                    1,
                    "round {round}: the read saw the change but the event had not arrived: {events:?}"
                );
                assert_eq!(events[0].event_type, event::NODE_DATA_CHANGED);
                break;
            }
        }
        let Some(raw::Incoming::Reply(r)) = b.read_incoming() else {
            panic!("B's setData reply");
        };
        assert_eq!(r.err, 0);
    }
    a.delete(&path, -1).ok();
    a.close();
    b.close();
}

/// A session's own write: the event precedes the write's reply.
#[test]
fn own_write_delivers_the_event_before_the_reply() {
    let server = Server::start();
    let mut a = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("w-own");
    a.create(&path, b"", 0).ok();
    a.get_data(&path, true).ok();
    let reply = a.set_data(&path, b"mine", -1).ok();
    assert_eq!(a.events.len(), 1, "{:?}", a.events);
    if !common::is_zk38() {
        let stat = reply.reader().stat();
        assert_eq!(a.events[0].zxid, stat.mzxid);
    }
    a.delete(&path, -1).ok();
    a.close();
}

/// 3.9 puts the zxid of the triggering txn in the notification header (ZOOKEEPER-4655); 3.8
/// sent -1.
#[test]
fn watch_event_zxid_is_the_zxid_of_the_change() {
    if common::skip_on_zk38(
        "watch_event_zxid_is_the_zxid_of_the_change",
        "3.8 sends zxid -1",
    ) {
        return;
    }
    let server = Server::start();
    let mut a = Session::connect(server.addr(), 30_000);
    let mut b = Session::connect(server.addr(), 30_000);
    let root = server.unique_path("w-zxid");
    a.create(&root, b"", 0).ok();
    a.get_data(&root, true).ok();
    let set = b.set_data(&root, b"v", -1).ok();
    let set_stat = set.reader().stat();
    assert_eq!(a.next_event().zxid, set_stat.mzxid);

    a.get_children(&root, true).ok();
    let created = b
        .request(op::CREATE2, &req::create(&format!("{root}/c"), b"", 0))
        .ok();
    let mut r = created.reader();
    r.string();
    let child = r.stat();
    let ev = a.next_event();
    assert_eq!(
        (ev.event_type, ev.zxid),
        (event::NODE_CHILDREN_CHANGED, child.czxid)
    );

    a.exists(&format!("{root}/c"), true).ok();
    b.delete(&format!("{root}/c"), -1).ok();
    let ev = a.next_event();
    // The parent's pzxid is the zxid of the delete.
    let parent = a.exists(&root, false).ok().reader().stat();
    assert_eq!(
        (ev.event_type, ev.zxid),
        (event::NODE_DELETED, parent.pzxid)
    );
    a.delete(&root, -1).ok();
    a.close();
    b.close();
}
