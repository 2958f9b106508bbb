//! Guarantee 2 of docs/architecture.md (FIFO client order) over a raw socket:
//! requests pipelined without waiting are answered in order, and a read sent
//! behind the session's own write observes exactly that write — not a later
//! one that was also already in flight. The same holds for SetWatches.

mod common;

use common::Server;
use common::raw::{Session, Writer, op, req};

/// getData's reply body starts with the data buffer.
fn data_of(reply: &common::raw::Reply) -> Vec<u8> {
    reply.reader().bytes().unwrap_or_default()
}

#[test]
fn pipelined_reads_see_exactly_the_writes_sent_before_them() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("fifo");
    assert_eq!(s.create(&path, b"v0", 0).err, 0);

    // Send everything before reading any reply.
    let mut sent = Vec::new();
    for round in 1..=20u32 {
        let before = s.take_xid();
        s.send(before, op::GET_DATA, &req::path_watch(&path, false));
        let write = s.take_xid();
        let value = format!("v{round}");
        s.send(
            write,
            op::SET_DATA,
            &req::set_data(&path, value.as_bytes(), -1),
        );
        let after = s.take_xid();
        s.send(after, op::GET_DATA, &req::path_watch(&path, false));
        sent.push((before, write, after, round));
    }
    for (before, write, after, round) in sent {
        let r = s.reply_for(before).expect("answered");
        assert_eq!(r.err, 0);
        assert_eq!(
            data_of(&r),
            format!("v{}", round - 1).into_bytes(),
            "read before write {round} sees the previous value"
        );
        let w = s.reply_for(write).expect("answered");
        assert_eq!(w.err, 0);
        let r = s.reply_for(after).expect("answered");
        assert_eq!(
            data_of(&r),
            format!("v{round}").into_bytes(),
            "read after write {round} sees it and nothing later"
        );
        assert!(
            r.zxid >= w.zxid,
            "a reply never carries a zxid older than an earlier reply's"
        );
    }
    s.close();
}

/// SetWatches pipelined behind the session's own write is answered after
/// that write and sees it, as ZooKeeper orders it with every other request.
/// A client that sends it with an ordinary xid after a reconnect (not the
/// Java client's reserved -8) matches replies to requests in order and drops
/// the connection on a reply out of turn (kazoo: "xids do not match").
#[test]
fn set_watches_behind_a_write_is_answered_after_it_and_sees_it() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let base = server.unique_path("setw");
    for round in 0..20 {
        let path = format!("{base}-{round}");
        let seen = s.exists(&path, false).zxid;
        let create = s.take_xid();
        s.send(create, op::CREATE, &req::create(&path, b"x", 0));
        let set_watches = s.take_xid();
        let body = Writer::new()
            .long(seen)
            .strings(&[&path])
            .strings(&[])
            .strings(&[])
            .into_vec();
        s.send(set_watches, op::SET_WATCHES, &body);
        // reply_for panics on a reply for another xid.
        assert_eq!(s.reply_for(create).expect("create answered").err, 0);
        assert_eq!(s.reply_for(set_watches).expect("answered").err, 0);
        let event = s.next_event();
        assert_eq!(
            (event.event_type, event.path.as_str()),
            (3, path.as_str()),
            "the data watch, restored after the create, fires NodeDataChanged at once \
             (before it, the node did not exist: NodeDeleted)"
        );
    }
    s.close();
}
