//! A server killed with SIGKILL and restarted on the same data directory keeps every
//! acknowledged write (guarantee 5), and its zxids keep increasing. Needs a spawned server.

mod common;

use common::Server;
use common::raw::{Session, op, req};

#[test]
fn acknowledged_writes_survive_kill9_and_restart() {
    let Some(mut server) =
        Server::start_dedicated("acknowledged_writes_survive_kill9_and_restart", &[])
    else {
        return;
    };
    let mut s = Session::connect(server.addr(), 30_000);
    s.create("/durable", b"v0", 0).ok();
    for i in 0..20 {
        s.create(&format!("/durable/n{i}"), b"", 0).ok();
    }
    let last = s.set_data("/durable", b"v1", -1).ok().reader().stat();
    drop(s);

    server.restart();
    let mut s = Session::connect(server.addr(), 30_000);
    let reply = s.get_data("/durable", false).ok();
    let mut r = reply.reader();
    assert_eq!(r.bytes(), Some(b"v1".to_vec()));
    let stat = r.stat();
    assert_eq!(stat, last, "the stat is restored exactly");
    assert_eq!(stat.num_children, 20);
    let next = s
        .request(op::CREATE2, &req::create("/after-restart", b"", 0))
        .ok();
    let mut r = next.reader();
    r.string();
    assert!(
        r.stat().czxid > last.mzxid,
        "zxids keep increasing after a restart"
    );
    s.close();
}

#[test]
fn session_can_be_reattached_after_a_restart() {
    let Some(mut server) =
        Server::start_dedicated("session_can_be_reattached_after_a_restart", &[])
    else {
        return;
    };
    let mut s = Session::connect(server.addr(), 4_000);
    s.create("/eph", b"", 1).ok();
    let creds = s.resp.clone();
    drop(s);
    server.restart();
    let mut back = Session::connect_with(
        server.addr(),
        &common::raw::ConnectRequest::reattach(&creds, 4_000),
    )
    .expect("answered");
    assert!(
        back.resp.timeout_ms > 0,
        "a live session survives the restart"
    );
    let stat = back.exists("/eph", false).ok().reader().stat();
    assert_eq!(stat.ephemeral_owner, creds.session_id);
    back.close();
}
