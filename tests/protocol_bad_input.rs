//! Hostile and malformed input on the client port, over raw sockets: oversized and negative
//! frames, truncated headers and bodies, garbage handshakes, unknown opcodes, invalid paths, the
//! per-IP connection limit, reconfig and SASL on a standalone server. After every abuse the
//! server must still serve other clients.
//!
//! The expected answers are Apache ZooKeeper's (read from its sources and checked against a
//! 3.8 server).

mod common;

use common::Server;
use common::raw::{
    Conn, ConnectRequest, Incoming, Session, Writer, decode_incoming, err, op, perm, req,
};

/// jute.maxbuffer default: 0xfffff.
const MAX_BUFFER: i32 = 0xfffff;

/// Proves the server still works for a fresh client.
fn assert_serves_others(server: &Server) {
    let mut s = Session::connect(server.addr(), 30_000);
    assert_eq!(s.exists("/", false).err, 0);
    s.close();
}

fn session(server: &Server) -> Session {
    Session::connect(server.addr(), 30_000)
}

#[test]
fn frame_longer_than_jute_maxbuffer_closes_the_connection() {
    let server = Server::start();
    let mut s = session(&server);
    let mut bytes = (MAX_BUFFER + 1).to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 64]);
    s.conn.send_raw(&bytes);
    assert!(s.conn.frames_until_closed().is_empty());
    assert_serves_others(&server);
}

#[test]
fn oversized_handshake_frame_closes_the_connection() {
    let server = Server::start();
    let mut conn = Conn::open(server.addr());
    conn.send_raw(&2_000_000i32.to_be_bytes());
    assert!(conn.frames_until_closed().is_empty());
    assert_serves_others(&server);
}

#[test]
fn negative_frame_length_closes_the_connection() {
    let server = Server::start();
    let mut s = session(&server);
    s.conn.send_raw(&(-5i32).to_be_bytes());
    assert!(s.conn.frames_until_closed().is_empty());

    let mut conn = Conn::open(server.addr());
    conn.send_raw(&(-7i32).to_be_bytes());
    assert!(
        conn.frames_until_closed().is_empty(),
        "before the handshake too"
    );
    assert_serves_others(&server);
}

#[test]
fn frame_shorter_than_a_request_header_closes_the_connection() {
    let server = Server::start();
    let mut s = session(&server);
    s.conn.send_frame(b"abc");
    assert!(s.conn.frames_until_closed().is_empty());
    assert_serves_others(&server);
}

/// A complete frame whose body does not decode is answered with MarshallingError (-5) by
/// ZooKeeper (reads in FinalRequestProcessor, writes in PrepRequestProcessor); the connection
/// and the session stay usable.
#[test]
fn truncated_request_body_is_a_marshalling_error_and_the_connection_survives() {
    let server = Server::start();
    let mut s = session(&server);
    let path = server.unique_path("trunc");
    // A path length of 100 followed by 3 bytes.
    let truncated = Writer::new().int(100).raw(b"abc").into_vec();
    for code in [
        op::GET_DATA,
        op::EXISTS,
        op::SET_DATA,
        op::CREATE,
        op::DELETE,
    ] {
        let reply = s.request(code, &truncated);
        assert_eq!(reply.err, err::MARSHALLING_ERROR, "opcode {code}");
    }
    s.create(&path, b"", 0).ok();
    assert_eq!(s.exists(&path, false).err, 0);
    s.delete(&path, -1).ok();
    s.close();
    assert_serves_others(&server);
}

#[test]
fn garbage_handshake_is_dropped_without_an_answer() {
    let server = Server::start();
    let mut conn = Conn::open(server.addr());
    conn.send_frame(b"0123456789");
    assert!(conn.frames_until_closed().is_empty());

    // A handshake whose password claims 5000 bytes.
    let mut conn = Conn::open(server.addr());
    let body = Writer::new()
        .int(0)
        .long(0)
        .int(30_000)
        .long(0)
        .int(5000)
        .into_vec();
    conn.send_frame(&body);
    assert!(conn.frames_until_closed().is_empty());
    assert_serves_others(&server);
}

#[test]
fn request_before_handshake_is_dropped() {
    let server = Server::start();
    let mut conn = Conn::open(server.addr());
    let mut payload = Writer::new().int(1).int(op::EXISTS).into_vec();
    payload.extend_from_slice(&req::path_watch("/", false));
    conn.send_frame(&payload);
    assert!(conn.frames_until_closed().is_empty());
    assert_serves_others(&server);
}

/// ZooKeeper answers an unknown opcode with Unimplemented (-6, reply zxid -1) and then closes
/// the connection (`UnimplementedRequestProcessor`); the session survives and can be
/// reattached. So do opcodes a client may not send (a notification's).
#[test]
fn unknown_opcode_is_answered_unimplemented_then_the_connection_closes() {
    let server = Server::start();
    for code in [999, 200, 0] {
        let mut s = session(&server);
        let path = server.unique_path("unknown-op");
        assert_eq!(s.create(&path, b"", 1).err, 0);
        let xid = s.take_xid();
        s.send(xid, code, &[]);
        let frames = s.conn.frames_until_closed();
        assert_eq!(frames.len(), 1, "opcode {code}: one reply, then the close");
        let Incoming::Reply(reply) = decode_incoming(&frames[0]) else {
            panic!("opcode {code}: an event instead of the reply");
        };
        assert_eq!(
            (reply.xid, reply.zxid, reply.err),
            (xid, -1, err::UNIMPLEMENTED)
        );
        assert!(reply.body.is_empty());
        let mut again =
            Session::connect_with(server.addr(), &ConnectRequest::reattach(&s.resp, 30_000))
                .expect("the session is reattached");
        assert_eq!(again.session_id(), s.session_id());
        assert_eq!(
            again.exists(&path, false).err,
            0,
            "its ephemeral is still there"
        );
        again.close();
    }
    assert_serves_others(&server);
}

/// 3.9.3 forbids a stand-alone check (ZOOKEEPER-2623) and answers Unimplemented (3.8 hangs
/// on it). corral answers Unimplemented like any unsupported opcode and keeps the connection.
#[test]
fn standalone_check_op_is_unimplemented() {
    if common::skip_on_zk38(
        "standalone_check_op_is_unimplemented",
        "3.8 never answers a stand-alone check",
    ) {
        return;
    }
    let server = Server::start();
    let mut s = session(&server);
    let xid = s.take_xid();
    s.send(xid, op::CHECK, &req::check("/", -1));
    let reply = s.reply_for(xid).expect("answered");
    assert_eq!(reply.err, err::UNIMPLEMENTED);
    assert_eq!(s.ping().err, 0, "the connection still serves");
    s.close();
    assert_serves_others(&server);
}

#[test]
fn ping_is_answered_with_xid_minus_two() {
    let server = Server::start();
    let mut s = session(&server);
    let reply = s.ping();
    assert_eq!((reply.xid, reply.err), (-2, 0));
    assert!(reply.body.is_empty());
    s.close();
}

/// What ZooKeeper answers for malformed paths, op by op. Writes validate in
/// PrepRequestProcessor, but create looks up the parent first (so `/p//b` is NoNode) and delete
/// only rejects paths without `/` or with NUL; reads do no validation at all except exists,
/// which rejects NUL.
#[test]
fn invalid_paths_get_zookeepers_error_codes() {
    let server = Server::start();
    let mut s = session(&server);
    let base = server.unique_path("paths");
    s.create(&base, b"", 0).ok();
    const BAD: i32 = err::BAD_ARGUMENTS;
    const NONODE: i32 = err::NO_NODE;
    // (path suffix after base or whole path, create, setData, delete, getData, exists)
    let cases: [(String, [i32; 5]); 9] = [
        ("foo".to_string(), [BAD, BAD, BAD, NONODE, NONODE]),
        (format!("{base}/"), [BAD, BAD, NONODE, NONODE, NONODE]),
        (format!("{base}/."), [BAD, BAD, NONODE, NONODE, NONODE]),
        (format!("{base}/.."), [BAD, BAD, NONODE, NONODE, NONODE]),
        (format!("{base}/a\u{0}b"), [BAD, BAD, BAD, NONODE, BAD]),
        (
            format!("{base}/a\u{1}b"),
            [BAD, BAD, NONODE, NONODE, NONODE],
        ),
        (format!("{base}//b"), [NONODE, BAD, NONODE, NONODE, NONODE]),
        (format!("{base}/./b"), [NONODE, BAD, NONODE, NONODE, NONODE]),
        (
            format!("{base}/../b"),
            [NONODE, BAD, NONODE, NONODE, NONODE],
        ),
    ];
    for (path, want) in &cases {
        let got = [
            s.create(path, b"", 0).err,
            s.set_data(path, b"", -1).err,
            s.delete(path, -1).err,
            s.get_data(path, false).err,
            s.exists(path, false).err,
        ];
        assert_eq!(
            &got, want,
            "path {path:?}: [create, setData, delete, getData, exists]"
        );
    }
    // Nothing was created by any of them.
    let children = s.get_children(&base, false).ok();
    assert!(children.reader().strings().is_empty());
    s.delete(&base, -1).ok();
    s.close();
}

#[test]
fn sequential_create_under_a_trailing_slash_gets_a_numbered_child() {
    // "/base/" + sequence is a valid path: ZooKeeper appends the suffix before validating.
    let server = Server::start();
    let mut s = session(&server);
    let base = server.unique_path("seqslash");
    s.create(&base, b"", 0).ok();
    let reply = s.create(&format!("{base}/"), b"", 2).ok();
    assert_eq!(reply.reader().string(), Some(format!("{base}/0000000000")));
    s.delete(&format!("{base}/0000000000"), -1).ok();
    s.delete(&base, -1).ok();
    s.close();
}

#[test]
fn connections_beyond_max_client_cnxns_are_closed() {
    let Some(server) = Server::start_dedicated(
        "connections_beyond_max_client_cnxns_are_closed",
        &[("maxClientCnxns", "5")],
    ) else {
        return;
    };
    let mut sessions: Vec<Session> = (0..5).map(|_| session(&server)).collect();
    for _ in 0..2 {
        let mut extra = Conn::open(server.addr());
        assert!(
            extra
                .handshake(&ConnectRequest::new_session(30_000))
                .is_none(),
            "the 6th connection is refused"
        );
    }
    for s in sessions.iter_mut() {
        assert_eq!(s.exists("/", false).err, 0, "the first five keep working");
    }
    // Freeing a slot lets a new client in: once the server has finished closing the first
    // connection, which it does after the closeSession reply has gone out (hang-guarded).
    let first = sessions.remove(0);
    first.close();
    let guard = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut newcomer = loop {
        if let Some(s) = Session::connect_with(server.addr(), &ConnectRequest::new_session(30_000))
        {
            break s;
        }
        assert!(
            std::time::Instant::now() < guard,
            "the closed session's slot never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(newcomer.exists("/", false).err, 0, "the newcomer is served");
    newcomer.close();
    for s in sessions {
        s.close();
    }
}

fn reconfig_body() -> Vec<u8> {
    Writer::new()
        .string("")
        .string("")
        .string("server.1=127.0.0.1:2888:3888")
        .long(-1)
        .into_vec()
}

#[test]
fn reconfig_on_standalone_is_reconfig_disabled() {
    let server = Server::start();
    let mut s = session(&server);
    let reply = s.request(op::RECONFIG, &reconfig_body());
    assert_eq!(reply.err, err::RECONFIG_DISABLED);
    s.ping();
    s.close();
}

/// kazoo's harness starts ZooKeeper with reconfigEnabled=true; a standalone ZooKeeper then
/// answers reconfig with Unimplemented (`PrepRequestProcessor`: the server is no leader).
#[test]
fn reconfig_on_standalone_with_reconfig_enabled_is_unimplemented() {
    let Some(server) = Server::start_dedicated(
        "reconfig_on_standalone_with_reconfig_enabled_is_unimplemented",
        &[("reconfigEnabled", "true")],
    ) else {
        return;
    };
    let mut s = session(&server);
    let reply = s.request(op::RECONFIG, &reconfig_body());
    assert_eq!(reply.err, err::UNIMPLEMENTED);
    s.ping();
    s.close();
}

/// A standalone server without SASL configured answers a SASL token with err 0 and a null
/// token (its SASL server object is absent; `ZooKeeperServer.processSasl` swallows that).
#[test]
fn sasl_without_sasl_configured_answers_a_clear_error() {
    // corral's contract (the issue): a clear error, not Apache ZooKeeper's empty token.
    if common::skip_on_zk38(
        "sasl_without_sasl_configured_answers_a_clear_error",
        "Apache ZooKeeper answers err 0 with a null token",
    ) {
        return;
    }
    let server = Server::start();
    let mut s = session(&server);
    let reply = s.request(op::SASL, &Writer::new().bytes(b"").into_vec());
    assert_eq!(reply.err, err::AUTH_FAILED);
    assert!(reply.body.is_empty());
    assert_eq!(s.ping().err, 0, "the connection still serves");
    s.close();
}

#[test]
fn four_letter_word_after_the_handshake_is_just_a_bad_frame() {
    // "ruok" read as a frame length is 0x72756f6b > jute.maxbuffer: the session's connection closes.
    let server = Server::start();
    let mut s = session(&server);
    s.conn.send_raw(b"ruok");
    assert!(s.conn.frames_until_closed().is_empty());
    assert_serves_others(&server);
}

/// Pipelined behind a closeSession, nothing takes effect: ZooKeeper answers the closeSession,
/// closes the connection and applies neither create (a request that got past the session check
/// is answered SessionExpired just before the close). Before the fix corral created both, and
/// the ephemeral outlived its session for good.
#[test]
fn requests_pipelined_behind_close_session_take_no_effect() {
    let server = Server::start();
    let eph = server.unique_path("after-close-eph");
    let pers = server.unique_path("after-close-pers");
    let mut s = session(&server);
    let close = s.take_xid();
    let (c1, c2) = (s.take_xid(), s.take_xid());
    let mut burst = Vec::new();
    for (xid, code, body) in [
        (close, op::CLOSE_SESSION, Vec::new()),
        (c1, op::CREATE, req::create(&eph, b"", 1)),
        (c2, op::CREATE, req::create(&pers, b"", 0)),
    ] {
        let mut payload = Writer::new().int(xid).int(code).into_vec();
        payload.extend_from_slice(&body);
        burst.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        burst.extend_from_slice(&payload);
    }
    s.conn.send_raw(&burst);
    let replies: Vec<_> = s
        .conn
        .frames_until_closed()
        .iter()
        .map(|f| match decode_incoming(f) {
            Incoming::Reply(r) => (r.xid, r.err),
            Incoming::Event(e) => panic!("an event: {e:?}"),
        })
        .collect();
    assert_eq!(
        replies.first(),
        Some(&(close, 0)),
        "closeSession answered first: {replies:?}"
    );
    for &(xid, e) in &replies[1..] {
        assert_eq!(
            e,
            err::SESSION_EXPIRED,
            "xid {xid} behind the closeSession: {replies:?}"
        );
    }
    let mut other = session(&server);
    assert_eq!(
        other.exists(&eph, false).err,
        err::NO_NODE,
        "the ephemeral was not created"
    );
    assert_eq!(
        other.exists(&pers, false).err,
        err::NO_NODE,
        "the persistent node was not created"
    );
    other.close();
}

/// A malformed auth or sasl packet ends the connection without a reply
/// (`ZooKeeperServer.processPacket` lets the decoding error close it); the session itself lives on.
#[test]
fn undecodable_auth_and_sasl_packets_close_the_connection_without_a_reply() {
    let server = Server::start();
    for (code, xid) in [(op::AUTH, -4), (op::SASL, 7)] {
        let mut s = session(&server);
        s.send(xid, code, b"abc");
        assert!(
            s.conn.frames_until_closed().is_empty(),
            "op {code}: closed, unanswered"
        );
        let mut again =
            Session::connect_with(server.addr(), &ConnectRequest::reattach(&s.resp, 30_000))
                .expect("the session is reattached");
        assert_eq!(again.ping().err, 0);
        again.close();
    }
    assert_serves_others(&server);
}

/// ZooKeeper's DataTree keeps the root under "" too, and getData and exists look the path up
/// as sent: "" reads the root. A null path (length -1) is a MarshallingError.
#[test]
fn get_data_and_exists_of_the_empty_path_read_the_root() {
    let server = Server::start();
    let mut s = session(&server);
    let root = s.get_data("/", false).ok();
    let empty = s.get_data("", false).ok();
    assert_eq!(
        empty.body, root.body,
        "getData \"\" is the root's data and stat"
    );
    let root = s.exists("/", false).ok();
    let empty = s.exists("", false).ok();
    assert_eq!(empty.body, root.body, "exists \"\" is the root's stat");
    let null_path = Writer::new().null().boolean(false).into_vec();
    for code in [op::GET_DATA, op::EXISTS] {
        assert_eq!(
            s.request(code, &null_path).err,
            err::MARSHALLING_ERROR,
            "op {code}"
        );
    }
    assert_eq!(s.ping().err, 0, "the connection still serves");
    s.close();
}

/// Only the server's container manager deletes containers: a client's deleteContainer is
/// BadArguments, whatever its body, and the container stays.
#[test]
fn delete_container_from_a_client_is_bad_arguments() {
    let server = Server::start();
    let mut s = session(&server);
    let ctr = server.unique_path("ctr");
    assert_eq!(
        s.request(op::CREATE_CONTAINER, &req::create(&ctr, b"", 4))
            .err,
        0
    );
    let missing = server.unique_path("no-ctr");
    for path in [&ctr, &missing] {
        assert_eq!(
            s.request(op::DELETE_CONTAINER, &req::path(path)).err,
            err::BAD_ARGUMENTS,
            "{path}"
        );
    }
    assert_eq!(s.exists(&ctr, false).err, 0, "the container is still there");
    assert_eq!(s.delete(&ctr, -1).err, 0);
    s.close();
}

/// A watch mode or watcher type ZooKeeper does not know throws in FinalRequestProcessor, whose
/// catch-all answers MarshallingError; the connection stays.
#[test]
fn unknown_watch_modes_and_watcher_types_are_marshalling_errors() {
    let server = Server::start();
    let mut s = session(&server);
    let bad_mode = Writer::new().string("/").int(7).into_vec();
    assert_eq!(
        s.request(op::ADD_WATCH, &bad_mode).err,
        err::MARSHALLING_ERROR
    );
    for code in [op::REMOVE_WATCHES, op::CHECK_WATCHES] {
        assert_eq!(
            s.request(code, &req::path_type("/", 9)).err,
            err::MARSHALLING_ERROR,
            "op {code}"
        );
    }
    assert_eq!(s.ping().err, 0, "the connection still serves");
    s.close();
}

/// jute reads any negative count as a list that is done at once (-1 is null): an ACL list of
/// -1 or -5 entries is empty, which create and setACL refuse as InvalidACL.
#[test]
fn negative_acl_counts_are_invalid_acls() {
    let server = Server::start();
    let mut s = session(&server);
    let path = server.unique_path("neg-acl");
    for count in [-1, -5] {
        let body = Writer::new()
            .string(&path)
            .bytes(b"")
            .int(count)
            .int(0)
            .into_vec();
        assert_eq!(
            s.request(op::CREATE, &body).err,
            err::INVALID_ACL,
            "create, count {count}"
        );
    }
    assert_eq!(s.create(&path, b"", 0).err, 0);
    for count in [-1, -5] {
        let body = Writer::new().string(&path).int(count).int(-1).into_vec();
        assert_eq!(
            s.request(op::SET_ACL, &body).err,
            err::INVALID_ACL,
            "setACL, count {count}"
        );
    }
    let acl = s.request(op::GET_ACL, &req::path(&path)).ok();
    let mut r = acl.reader();
    assert_eq!(r.int(), 1, "the node keeps its one ACL");
    assert_eq!(r.int(), perm::ALL);
    s.close();
}
