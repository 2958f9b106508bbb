//! Guarantee 2 of docs/architecture.md (FIFO client order) over a raw socket:
//! requests pipelined without waiting are answered in order, and a read sent
//! behind the session's own write observes exactly that write — not a later
//! one that was also already in flight.

mod common;

use common::Server;
use common::raw::{Session, op, req};

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
