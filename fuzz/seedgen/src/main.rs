//! Writes the seed corpus of every fuzz target, `fuzz/corpus/<target>/<name>`:
//! a handful of small valid inputs each, made by corral's own encoders or
//! taken from bytes Apache ZooKeeper wrote (`tests/fixtures/quorum/golden.txt`,
//! `src/storage/testdata/java-3.8.0.snapstream`) and from the repository's
//! configuration files. Files are overwritten by name; nothing else in a
//! corpus directory is touched.
//!
//! Run it after a format change:
//! `cargo run --manifest-path fuzz/Cargo.toml -p corral-fuzz-seedgen`

use bytes::{Bytes, BytesMut};
use corral::proto::quorum::{
    AckEpochBody, InitialMessage, LeaderInfoBody, LearnerInfo, Notification, PacketType, PeerState,
    QuorumPacket, RequestBody, RevalidateRequest, encode_election_frame, encode_ping_touches,
};
use corral::proto::request::{CreateRequest, MultiResult, SetWatches, encode_request};
use corral::proto::txn::{Txn, TxnHeader};
use corral::proto::{
    Acl, ConnectRequest, ConnectResponse, ErrorCode, Id, OpCode, ReplyHeader, Request,
    RequestHeader, Response, SessionId, Stat, Writer, ZData, Zxid, perms,
};
use corral::sasl::{Exchange, Outcome};
use corral::storage::format::{
    Adler32, LOG_DBID, LOG_MAGIC, encode_log_record, encode_txn, file_header,
};
use corral::storage::snap_stream::snap_stream_signature;
use corral::storage::snapshot::{SnapshotWriter, Step, Walk};
use corral::tree::DataTree;
use md5::{Digest, Md5};
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().expect("the repository root");
    let mut seeds = Seeds {
        corpus: root.join("fuzz/corpus"),
        written: 0,
    };
    let golden = std::fs::read_to_string(root.join("tests/fixtures/quorum/golden.txt"))
        .expect("tests/fixtures/quorum/golden.txt");
    four_letter_word(&mut seeds);
    connect_request(&mut seeds);
    client_request(&mut seeds);
    sasl_digest_md5(&mut seeds);
    client_reply(&mut seeds);
    quorum_packet(&mut seeds, &golden);
    election_initial_message(&mut seeds, &golden);
    election_notification(&mut seeds, &golden);
    quorum_config(&mut seeds, &golden);
    txn(&mut seeds);
    txn_log(&mut seeds);
    snapshots(&mut seeds, &root);
    zoo_cfg(&mut seeds, &root);
    jaas(&mut seeds);
    tls_subject(&mut seeds, &root);
    tls_client_cert(&mut seeds, &root);
    println!(
        "{} seeds written under {}",
        seeds.written,
        seeds.corpus.display()
    );
}

struct Seeds {
    corpus: PathBuf,
    written: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let dir = self.corpus.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(name), bytes).expect("seed file");
        self.written += 1;
    }
}

fn encoded(f: impl FnOnce(&mut Writer)) -> Bytes {
    let mut b = BytesMut::new();
    f(&mut Writer::new(&mut b));
    b.freeze()
}

/// A frame with its length prefix.
fn framed(f: impl FnOnce(&mut Writer)) -> Bytes {
    encoded(|w| {
        let at = w.begin_frame();
        f(w);
        w.end_frame(at);
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// `(name, bytes)` of golden.txt's lines of `kind` (`<kind> <name> <hex> ...`).
fn golden_lines<'a>(golden: &'a str, kind: &str) -> Vec<(&'a str, Vec<u8>)> {
    golden
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            (words.next()? == kind).then_some(())?;
            let name = words.next()?;
            Some((name, unhex(words.next()?)))
        })
        .collect()
}

// ---- the client port ------------------------------------------------------------------

fn four_letter_word(s: &mut Seeds) {
    for word in [
        "ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "dump", "isro",
    ] {
        s.put("four_letter_word", word, word);
    }
    // Not a word: the length prefix of a 45-byte handshake.
    s.put("four_letter_word", "handshake_length", 45u32.to_be_bytes());
}

fn connect_request(s: &mut Seeds) {
    let new_session = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: Zxid(0),
        timeout_ms: 30_000,
        session_id: SessionId(0),
        passwd: Bytes::from_static(&[0; 16]),
        read_only: Some(false),
    };
    let reattach = ConnectRequest {
        last_zxid_seen: Zxid(0x1_0000_0042),
        timeout_ms: 4000,
        session_id: SessionId(0x1000_0000_0000_0001),
        passwd: Bytes::from_static(b"0123456789abcdef"),
        read_only: Some(true),
        ..new_session.clone()
    };
    let old_client = ConnectRequest {
        read_only: None,
        ..new_session.clone()
    };
    for (name, req) in [
        ("new_session", new_session),
        ("reattach_read_only", reattach),
        ("no_read_only_byte", old_client),
    ] {
        s.put("connect_request", name, encoded(|w| req.encode(w)));
    }
}

fn create(op: OpCode, path: &str, acl: Vec<Acl>, flags: i32, ttl_ms: i64) -> Request {
    Request::Create {
        op,
        req: CreateRequest {
            path: path.into(),
            data: ZData::from(&b"hello"[..]),
            acl,
            flags,
            ttl_ms,
        },
    }
}

fn client_request(s: &mut Seeds) {
    let open = Acl::open_unsafe();
    let digest = vec![
        Acl::new(perms::ALL, "digest", "bob:XyZ="),
        Acl::new(perms::READ, "world", "anyone"),
    ];
    let watches = SetWatches {
        relative_zxid: Zxid(7),
        data: vec!["/a".into()],
        exist: vec!["/b".into()],
        child: vec!["/".into()],
        persistent: vec!["/p".into()],
        persistent_recursive: vec!["/r".into()],
    };
    let requests: Vec<(&str, i32, Request)> = vec![
        (
            "create",
            1,
            create(OpCode::Create, "/a", open.clone(), 0, -1),
        ),
        (
            "create2_sequential",
            2,
            create(OpCode::Create2, "/a/s-", digest.clone(), 2, -1),
        ),
        (
            "create_container",
            3,
            create(OpCode::CreateContainer, "/c", open.clone(), 4, -1),
        ),
        (
            "create_ttl",
            4,
            create(OpCode::CreateTtl, "/t", open.clone(), 5, 60_000),
        ),
        (
            "delete",
            5,
            Request::Delete {
                path: "/a".into(),
                version: -1,
            },
        ),
        (
            "exists",
            6,
            Request::Exists {
                path: "/a".into(),
                watch: true,
            },
        ),
        (
            "get_data",
            7,
            Request::GetData {
                path: "/zookeeper/config".into(),
                watch: false,
            },
        ),
        (
            "set_data",
            8,
            Request::SetData {
                path: "/a".into(),
                data: ZData::from(&b"v2"[..]),
                version: 3,
            },
        ),
        ("get_acl", 9, Request::GetAcl { path: "/a".into() }),
        (
            "set_acl",
            10,
            Request::SetAcl {
                path: "/a".into(),
                acl: digest.clone(),
                version: 0,
            },
        ),
        (
            "get_children",
            11,
            Request::GetChildren {
                path: "/".into(),
                watch: true,
            },
        ),
        (
            "get_children2",
            12,
            Request::GetChildren2 {
                path: "/a".into(),
                watch: false,
            },
        ),
        ("sync", 13, Request::Sync { path: "/".into() }),
        ("ping", -2, Request::Ping),
        (
            "multi",
            14,
            Request::Multi(vec![
                create(OpCode::Create, "/m", open.clone(), 0, -1),
                Request::SetData {
                    path: "/m".into(),
                    data: ZData::from(&b"x"[..]),
                    version: 0,
                },
                Request::Check {
                    path: "/m".into(),
                    version: 1,
                },
                Request::Delete {
                    path: "/m".into(),
                    version: -1,
                },
            ]),
        ),
        (
            "multi_read",
            15,
            Request::MultiRead(vec![
                Request::GetData {
                    path: "/a".into(),
                    watch: false,
                },
                Request::GetChildren {
                    path: "/".into(),
                    watch: false,
                },
            ]),
        ),
        (
            "reconfig",
            16,
            Request::Reconfig {
                joining: Some("server.4=127.0.0.1:2891:3891:participant;2184".into()),
                leaving: Some("3".into()),
                new_members: None,
                cur_config_id: -1,
            },
        ),
        (
            "check_watches",
            17,
            Request::CheckWatches {
                path: "/a".into(),
                kind: 1,
            },
        ),
        (
            "remove_watches",
            18,
            Request::RemoveWatches {
                path: "/a".into(),
                kind: 3,
            },
        ),
        (
            "auth_digest",
            -4,
            Request::Auth {
                kind: 0,
                scheme: "digest".into(),
                auth: Bytes::from_static(b"bob:bobsecret"),
            },
        ),
        (
            "auth_super",
            -4,
            Request::Auth {
                kind: 0,
                scheme: "digest".into(),
                auth: Bytes::from_static(b"super:test"),
            },
        ),
        ("set_watches2", -8, Request::SetWatches(Box::new(watches))),
        (
            "sasl",
            19,
            Request::Sasl {
                token: Bytes::from_static(b""),
            },
        ),
        (
            "get_ephemerals",
            20,
            Request::GetEphemerals {
                prefix: "/e".into(),
            },
        ),
        (
            "get_all_children_number",
            21,
            Request::GetAllChildrenNumber { path: "/".into() },
        ),
        (
            "add_watch_recursive",
            22,
            Request::AddWatch {
                path: "/w".into(),
                mode: 1,
            },
        ),
        ("who_am_i", 23, Request::WhoAmI),
        ("close_session", 24, Request::CloseSession),
    ];
    for (name, xid, req) in requests {
        let bytes = encoded(|w| {
            RequestHeader {
                xid,
                op: req.op().as_i32(),
            }
            .encode(w);
            encode_request(w, &req);
        });
        s.put("client_request", name, bytes);
    }
}

/// The nonce of an `Exchange::new([7; 30])`, which the sasl target uses.
fn sasl_nonce() -> String {
    corral::sasl::digest_md5::nonce_from([7; 30])
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A client's digest-response (RFC 2831 §2.1.2) for `user` with `password`.
fn digest_response(user: &str, password: &str, authzid: Option<&str>) -> String {
    let (realm, uri, cnonce, nonce) = (
        "zk-sasl-md5",
        "zookeeper/zk-sasl-md5",
        "OA6MHXh6VqTrRk",
        sasl_nonce(),
    );
    let mut h = Md5::new();
    h.update(format!("{user}:{realm}:{password}"));
    let urp = h.finalize();
    let mut a1: Vec<u8> = urp.to_vec();
    a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
    if let Some(a) = authzid {
        a1.extend_from_slice(format!(":{a}").as_bytes());
    }
    let ha1 = md5_hex(&[&a1]);
    let ha2 = md5_hex(&[format!("AUTHENTICATE:{uri}").as_bytes()]);
    let response = md5_hex(&[format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}").as_bytes()]);
    let authz = authzid
        .map(|a| format!(",authzid=\"{a}\""))
        .unwrap_or_default();
    format!(
        "charset=utf-8,username=\"{user}\",realm=\"{realm}\",nonce=\"{nonce}\",nc=00000001,\
         cnonce=\"{cnonce}\",digest-uri=\"{uri}\",maxbuf=65536,response={response},qop=auth{authz}"
    )
}

fn sasl_digest_md5(s: &mut Seeds) {
    let good = digest_response("bob", "bobsecret", None);
    // The seed must authenticate, or the fuzzer starts from nothing.
    let mut ex = Exchange::new([7; 30]);
    ex.evaluate(&[], |_| None).expect("challenge");
    let outcome = ex.evaluate(good.as_bytes(), |u| {
        (u == "bob").then(|| "bobsecret".to_string())
    });
    assert!(
        matches!(outcome, Ok(Outcome::Authenticated { .. })),
        "{outcome:?}"
    );
    s.put("sasl_digest_md5", "bob", &good);
    s.put(
        "sasl_digest_md5",
        "super_with_authzid",
        digest_response("super", "adminsecret", Some("bob")),
    );
    s.put(
        "sasl_digest_md5",
        "wrong_password",
        digest_response("bob", "nope", None),
    );
    s.put(
        "sasl_digest_md5",
        "unknown_user",
        digest_response("mallory", "x", None),
    );
}

fn client_reply(s: &mut Seeds) {
    let connected = framed(|w| {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 10_000,
            session_id: SessionId(0x1000_0000_0000_0001),
            passwd: Bytes::from_static(&[1; 16]),
            read_only: Some(false),
        }
        .encode(w)
    });
    let stat = Stat {
        czxid: 2,
        mzxid: 3,
        version: 1,
        data_length: 5,
        ..Stat::default()
    };
    let reply = |xid: i32, zxid: i64, err: i32, body: Response| {
        framed(|w| {
            ReplyHeader { xid, zxid, err }.encode(w);
            body.encode(w);
        })
    };
    let event = framed(|w| {
        ReplyHeader {
            xid: -1,
            zxid: 9,
            err: 0,
        }
        .encode(w);
        w.i32(3).i32(3).ustring("/a");
    });
    let pong = framed(|w| {
        ReplyHeader {
            xid: -2,
            zxid: 9,
            err: 0,
        }
        .encode(w)
    });
    // picks (see the target): 0 getData, 8 multi, 3 getChildren2, 10 whoAmI.
    let mut stream = vec![4u8, 0, 8, 3, 10];
    stream.extend_from_slice(&connected);
    stream.extend_from_slice(&reply(
        1,
        5,
        0,
        Response::Data(ZData::from(&b"hello"[..]), stat),
    ));
    stream.extend_from_slice(&event);
    stream.extend_from_slice(&reply(
        2,
        6,
        0,
        Response::Multi(vec![
            MultiResult::Create("/m".into()),
            MultiResult::SetData(stat),
            MultiResult::Error(ErrorCode::NoNode),
        ]),
    ));
    stream.extend_from_slice(&pong);
    stream.extend_from_slice(&reply(
        3,
        6,
        0,
        Response::Children2(vec!["a".into(), "b".into()], stat),
    ));
    stream.extend_from_slice(&reply(
        4,
        6,
        0,
        Response::WhoAmI(vec![corral::proto::ClientInfo {
            auth_scheme: "ip".into(),
            user: "127.0.0.1".into(),
        }]),
    ));
    s.put("client_reply", "session", &stream);
    let mut refused = vec![1u8, 5];
    refused.extend_from_slice(&connected);
    refused.extend_from_slice(&reply(1, 5, ErrorCode::NoNode.as_i32(), Response::Empty));
    s.put("client_reply", "error_reply", &refused);
}

// ---- the quorum and election ports ----------------------------------------------------

fn sample_txn() -> (TxnHeader, Txn) {
    let hdr = TxnHeader {
        session_id: SessionId(0x1000_0000_0000_0001),
        cxid: 3,
        zxid: Zxid(0x1_0000_0002),
        time_ms: 1_700_000_000_000,
        op: OpCode::Create.as_i32(),
    };
    let txn = Txn::Create {
        op: OpCode::Create,
        path: "/a".into(),
        data: ZData::from(&b"hello"[..]),
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_cversion: 1,
    };
    (hdr, txn)
}

fn quorum_packet(s: &mut Seeds, golden: &str) {
    let mut stream = Vec::new();
    for (name, bytes) in golden_lines(golden, "packet") {
        stream.extend_from_slice(&bytes);
        s.put("quorum_packet", &format!("java_{name}"), bytes);
    }
    s.put("quorum_packet", "java_all_in_one_stream", &stream);

    let (hdr, txn) = sample_txn();
    let mut txn_bytes = BytesMut::new();
    encode_txn(&mut txn_bytes, &hdr, &txn);
    let set_data = encoded(|w| {
        encode_request(
            w,
            &Request::SetData {
                path: "/a".into(),
                data: ZData::from(&b"v"[..]),
                version: -1,
            },
        )
    });
    let forwarded = RequestBody {
        session_id: SessionId(0x1000_0000_0000_0001),
        cxid: 4,
        op: OpCode::SetData.as_i32(),
        body: set_data,
    };
    let create_session = RequestBody {
        session_id: SessionId(0x2000_0000_0000_0001),
        cxid: 0,
        op: OpCode::CreateSession.as_i32(),
        body: Bytes::copy_from_slice(&30_000i32.to_be_bytes()),
    };
    let with_auth = QuorumPacket {
        auth: Some(vec![
            Id::new("digest", "bob:XyZ="),
            Id::new("ip", "127.0.0.1"),
        ]),
        ..QuorumPacket::new(PacketType::Request, 0, Some(forwarded.encode()))
    };
    let packets = [
        (
            "followerinfo",
            QuorumPacket::new(
                PacketType::FollowerInfo,
                0x1_0000_0000,
                Some(LearnerInfo::new(2, 0).encode()),
            ),
        ),
        (
            "leaderinfo",
            QuorumPacket::new(
                PacketType::LeaderInfo,
                0x2_0000_0000,
                Some(
                    LeaderInfoBody {
                        protocol_version: 0x10000,
                    }
                    .encode(),
                ),
            ),
        ),
        (
            "ackepoch",
            QuorumPacket::new(
                PacketType::AckEpoch,
                0x1_0000_0002,
                Some(AckEpochBody { current_epoch: 1 }.encode()),
            ),
        ),
        (
            "proposal",
            QuorumPacket::new(
                PacketType::Proposal,
                0x1_0000_0002,
                Some(txn_bytes.freeze()),
            ),
        ),
        (
            "commit",
            QuorumPacket::new(PacketType::Commit, 0x1_0000_0002, None),
        ),
        ("request_set_data", with_auth),
        (
            "request_create_session",
            QuorumPacket::new(PacketType::Request, 0, Some(create_session.encode())),
        ),
        (
            "ping_touches",
            QuorumPacket::new(
                PacketType::Ping,
                0x1_0000_0002,
                Some(encode_ping_touches(&[
                    (SessionId(5), 30_000),
                    (SessionId(6), 4000),
                ])),
            ),
        ),
        (
            "revalidate",
            QuorumPacket::new(
                PacketType::Revalidate,
                0,
                Some(
                    RevalidateRequest {
                        session_id: SessionId(5),
                        timeout_ms: 30_000,
                    }
                    .encode(),
                ),
            ),
        ),
        (
            "uptodate",
            QuorumPacket::new(PacketType::UpToDate, -1, None),
        ),
    ];
    let mut stream = Vec::new();
    for (name, packet) in packets {
        let bytes = packet.encode_to_bytes();
        stream.extend_from_slice(&bytes);
        s.put("quorum_packet", name, bytes);
    }
    s.put("quorum_packet", "sync_stream", &stream);
}

fn election_initial_message(s: &mut Seeds, golden: &str) {
    for (name, bytes) in golden_lines(golden, "initial") {
        s.put("election_initial_message", &format!("java_{name}"), bytes);
    }
    s.put(
        "election_initial_message",
        "pre_3_5_sid",
        3i64.to_be_bytes(),
    );
    s.put(
        "election_initial_message",
        "v1_ipv6",
        InitialMessage::encode_v1(2, "[::1]:3888"),
    );
}

fn election_notification(s: &mut Seeds, golden: &str) {
    let frame = |msg: &[u8]| {
        let mut b = BytesMut::new();
        encode_election_frame(msg, &mut b);
        b
    };
    for (name, bytes) in golden_lines(golden, "notification") {
        s.put(
            "election_notification",
            &format!("java_{name}"),
            frame(&bytes),
        );
    }
    let v2 = Notification {
        state: PeerState::Looking,
        leader: 3,
        zxid: 0x1_0000_0005,
        election_epoch: 2,
        peer_epoch: 1,
        version: 2,
        config: Bytes::from_static(
            b"server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\n\
              server.3=127.0.0.1:2890:3890:participant\nversion=0",
        ),
    }
    .encode();
    // Version 1: the v2 header with version 1 and no config length.
    let mut v1 = v2[..40].to_vec();
    v1.extend_from_slice(&1i32.to_be_bytes());
    let following = Notification {
        state: PeerState::Following,
        leader: 3,
        zxid: 0x1_0000_0005,
        election_epoch: 2,
        peer_epoch: 1,
        version: 2,
        config: Bytes::new(),
    }
    .encode();
    s.put(
        "election_notification",
        "v2_looking_with_config",
        frame(&v2),
    );
    s.put("election_notification", "v1_44_bytes", frame(&v1));
    s.put("election_notification", "v0_40_bytes", frame(&v2[..40]));
    s.put(
        "election_notification",
        "pre_3_4_6_28_bytes",
        frame(&v2[..28]),
    );
    // An election: 2 and 3 vote for 3, then 9 (not a voter) says it follows 3.
    let mut round = BytesMut::new();
    for msg in [&v2[..], &v2[..], &following[..]] {
        encode_election_frame(msg, &mut round);
    }
    s.put("election_notification", "round", round);
}

fn quorum_config(s: &mut Seeds, golden: &str) {
    for (name, bytes) in golden_lines(golden, "config") {
        s.put("quorum_config", &format!("java_{name}"), bytes);
    }
}

// ---- the disk -------------------------------------------------------------------------

fn txns() -> Vec<(&'static str, TxnHeader, Txn)> {
    let (hdr, create) = sample_txn();
    let at = |op: OpCode, zxid: i64| TxnHeader {
        op: op.as_i32(),
        zxid: Zxid(zxid),
        ..hdr
    };
    let digest_acl = vec![Acl::new(perms::ALL, "digest", "bob:XyZ=")];
    vec![
        ("create", hdr, create.clone()),
        (
            "create2_ephemeral",
            at(OpCode::Create2, 0x1_0000_0003),
            Txn::Create {
                op: OpCode::Create2,
                path: "/e".into(),
                data: ZData::from(None),
                acl: digest_acl.clone(),
                ephemeral: true,
                parent_cversion: 2,
            },
        ),
        (
            "create_container",
            at(OpCode::CreateContainer, 0x1_0000_0004),
            Txn::CreateContainer {
                path: "/c".into(),
                data: ZData::from(&b""[..]),
                acl: Acl::open_unsafe(),
                parent_cversion: 3,
            },
        ),
        (
            "create_ttl",
            at(OpCode::CreateTtl, 0x1_0000_0005),
            Txn::CreateTtl {
                path: "/t".into(),
                data: ZData::from(&b"t"[..]),
                acl: Acl::open_unsafe(),
                parent_cversion: 4,
                ttl_ms: 60_000,
            },
        ),
        (
            "delete",
            at(OpCode::Delete, 0x1_0000_0006),
            Txn::Delete {
                op: OpCode::Delete,
                path: "/a".into(),
            },
        ),
        (
            "set_data",
            at(OpCode::SetData, 0x1_0000_0007),
            Txn::SetData {
                path: "/c".into(),
                data: ZData::from(&b"\x00\xffbin"[..]),
                version: 1,
            },
        ),
        (
            "set_acl",
            at(OpCode::SetAcl, 0x1_0000_0008),
            Txn::SetAcl {
                path: "/c".into(),
                acl: digest_acl,
                version: 1,
            },
        ),
        (
            "create_session",
            at(OpCode::CreateSession, 0x1_0000_0009),
            Txn::CreateSession { timeout_ms: 30_000 },
        ),
        (
            "close_session",
            at(OpCode::CloseSession, 0x1_0000_000a),
            Txn::CloseSession {
                paths_to_delete: vec!["/e".into()],
            },
        ),
        (
            "error",
            at(OpCode::Error, 0x1_0000_000b),
            Txn::Error(ErrorCode::NodeExists),
        ),
        (
            "multi",
            at(OpCode::Multi, 0x1_0000_000c),
            Txn::Multi(vec![
                create,
                Txn::Check {
                    path: "/a".into(),
                    version: 0,
                },
                Txn::Delete {
                    op: OpCode::Delete,
                    path: "/a".into(),
                },
            ]),
        ),
    ]
}

fn txn(s: &mut Seeds) {
    for (name, hdr, txn) in txns() {
        let mut b = BytesMut::new();
        encode_txn(&mut b, &hdr, &txn);
        s.put("txn", name, &b);
        if name == "create" {
            // ZooKeeper 3.6+ appends a TxnDigest { version, treeDigest }.
            b.extend_from_slice(&2i32.to_be_bytes());
            b.extend_from_slice(&0x1234_5678_9abci64.to_be_bytes());
            s.put("txn", "create_with_digest", &b);
        }
    }
    // A closeSession logged without its CloseSessionTxn (before 3.6).
    let (hdr, _) = sample_txn();
    let bare = encoded(|w| {
        TxnHeader {
            op: OpCode::CloseSession.as_i32(),
            ..hdr
        }
        .encode(w)
    });
    s.put("txn", "close_session_pre_3_6", bare);
}

fn txn_log(s: &mut Seeds) {
    let mut log = BytesMut::from(&file_header(LOG_MAGIC, LOG_DBID)[..]);
    for (_, hdr, txn) in txns().into_iter().take(4) {
        encode_log_record(&mut log, &hdr, &txn);
    }
    let records_end = log.len();
    // The zero padding FileTxnLog preallocates.
    log.extend_from_slice(&[0; 64]);
    s.put("txn_log", "four_records_padded", &log);
    // A torn last append: the tail of a record cut off.
    s.put("txn_log", "torn_tail", &log[..records_end - 7]);
    s.put("txn_log", "header_only", file_header(LOG_MAGIC, LOG_DBID));
}

/// A small tree as corral would snapshot it: nodes with data, ACLs, an
/// ephemeral, a container and a TTL node.
fn sample_tree() -> DataTree {
    let mut tree = DataTree::new();
    let mut zxid = 0x1_0000_0000;
    for (_, hdr, txn) in txns() {
        if matches!(
            txn,
            Txn::Delete { .. } | Txn::Multi(_) | Txn::Error(_) | Txn::CloseSession { .. }
        ) {
            continue;
        }
        zxid += 1;
        let hdr = TxnHeader {
            zxid: Zxid(zxid),
            ..hdr
        };
        let _ = tree.apply(&hdr, &txn, &mut Vec::new());
    }
    tree
}

/// The SNAP stream body of `tree` (sessions, ACL table, nodes, end marker).
fn snapshot_body(tree: &DataTree) -> BytesMut {
    let sessions = [(SessionId(0x1000_0000_0000_0001), 30_000)];
    let (mut walk, mut body) = Walk::start(tree, &sessions, tree.last_zxid());
    while walk.step(tree, &mut body) == Step::More {}
    body
}

/// The bytes of a snapshot file `SnapshotWriter` makes of `body`.
fn snapshot_file(body: &[u8]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("corral-seedgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut w = SnapshotWriter::create(&dir, Zxid(1)).expect("snapshot writer");
    w.write(body).expect("write");
    let (path, _) = w.finish().expect("finish");
    let bytes = std::fs::read(&path).expect("read back");
    std::fs::remove_dir_all(&dir).expect("remove temp dir");
    bytes
}

/// A sealed section after a snapshot's seal, as ZooKeeper 3.6+ writes them.
fn seal_section(file: &mut Vec<u8>, section: &[u8]) {
    file.extend_from_slice(section);
    let sum = Adler32::of(file);
    file.extend_from_slice(&sum.to_be_bytes());
    file.extend_from_slice(&encoded(|w| {
        w.ustring("/");
    }));
}

fn snapshots(s: &mut Seeds, root: &Path) {
    let tree = sample_tree();
    let body = snapshot_body(&tree);
    let file = snapshot_file(&body);
    s.put("snapshot", "corral", &file);
    // ZooKeeper 3.9's: the digest, then lastProcessedZxid, each sealed.
    let mut zk39 = file.clone();
    let digest = encoded(|w| {
        w.i64(0x1_0000_0005).i32(2).i64(0x0123_4567_89ab);
    });
    seal_section(&mut zk39, &digest);
    seal_section(&mut zk39, &0x1_0000_0005i64.to_be_bytes());
    s.put("snapshot", "with_digest_and_last_zxid", &zk39);

    let java = std::fs::read(root.join("src/storage/testdata/java-3.8.0.snapstream"))
        .expect("src/storage/testdata/java-3.8.0.snapstream");
    s.put("snap_stream", "java_3_8_0", &java);
    let mut stream = body.clone();
    snap_stream_signature(&mut stream);
    s.put("snap_stream", "corral", &stream);
    // The Java stream's body (all but the signature) as a file.
    let signature = encoded(|w| {
        w.ustring(corral::storage::snap_stream::SIGNATURE);
    });
    let java_body = java
        .strip_suffix(&signature[..])
        .expect("the Java stream ends in its signature");
    s.put("snapshot", "java_3_8_0", snapshot_file(java_body));
}

// ---- configuration files --------------------------------------------------------------

fn zoo_cfg(s: &mut Seeds, root: &Path) {
    let read = |p: &str| std::fs::read(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    s.put("zoo_cfg", "conf_zoo_cfg", read("conf/zoo.cfg"));
    s.put(
        "zoo_cfg",
        "conf_ensemble_3_node1",
        read("conf/ensemble-3/node1/zoo.cfg"),
    );
    s.put(
        "zoo_cfg",
        "ensemble_member",
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/nonexistent/corral-fuzz/data\n\
         myid=2\nserver.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n\
         server.3=[::1]:2890:3890:observer;2183\nquorumListenOnAllIPs=false\n",
    );
    s.put(
        "zoo_cfg",
        "knobs",
        "clientPort=2181\nclientPortAddress=127.0.0.1\ndataDir=/nonexistent/corral-fuzz/data\n\
         minSessionTimeout=4000\nmaxSessionTimeout=60000\nmaxClientCnxns=0\n\
         4lw.commands.whitelist=*\nzookeeper.extendedTypesEnabled=true\njute.maxbuffer=1048575\n\
         autopurge.snapRetainCount=3\nautopurge.purgeInterval=1\nenforce.auth.enabled=true\n\
         enforce.auth.schemes=digest\nglobalOutstandingLimit=1000\nsnapCount=100000\n",
    );
    // Properties syntax: ':' and blank separators, escapes, a continued line, Latin-1.
    s.put(
        "zoo_cfg",
        "properties_syntax",
        b"! a comment\ntickTime : 3000\ndataDir /nonexistent/corral-\\\n    fuzz\n\
          4lw.commands.whitelist=ruok,\\u0073rvr\nclientPort=2181\n# caf\xe9\n"
            .as_slice(),
    );
}

fn jaas(s: &mut Seeds) {
    s.put(
        "jaas",
        "server_users",
        "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
         user_super=\"super_secret\"\n  user_bob=\"bob_pw\"\n  user_carol=\"carol_pw\";\n};\n",
    );
    s.put(
        "jaas",
        "server_and_client_comments",
        "// ZooKeeper's sample\n/* both sides */\nServer {\n  \
         org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_bob=\"bobsecret\";\n};\n\
         # the client's\nClient {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
         username=\"bob\"\n  password=\"bobsecret\";\n};\n",
    );
    s.put(
        "jaas",
        "kerberos",
        "Server {\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=true\n  \
         keyTab=\"/etc/zk.keytab\"\n  storeKey=true\n  principal=\"zookeeper/host@EXAMPLE.COM\";\n};\n",
    );
}

/// A self-signed X.509 v1 certificate (P-256, `O=corral fuzz, CN=v1 client`, valid
/// 2026-12-07 to 2126-11-13), made once with
/// `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`,
/// `openssl req -new -key key.pem -subj "/O=corral fuzz/CN=v1 client" -out csr.pem`,
/// `openssl x509 -req -in csr.pem -signkey key.pem -days 36500 -outform DER`.
const V1_SELF_SIGNED_HEX: &str = concat!(
    "308201503081f7021413aa43ef4f737be752696d9d77757b739f9a9b7a300a06082a8648ce3d040302302a31",
    "143012060355040a0c0b636f7272616c2066757a7a3112301006035504030c09763120636c69656e74302017",
    "0d3236313230373230323235345a180f32313236313131333230323235345a302a31143012060355040a0c0b",
    "636f7272616c2066757a7a3112301006035504030c09763120636c69656e743059301306072a8648ce3d0201",
    "06082a8648ce3d03010703420004a4b42252e66e0c2e3d181255d6ea0d2ab060136429f4502a01c950807a21",
    "328f94b881697472eaacbce96cb0dd760683167e8e8e9febf7b85f30d6caeada85fe300a06082a8648ce3d04",
    "0302034800304502200bffc4e05af0211df1c6e66c430b19071ad0aa1426bec5b75bb29e9667d6693a022100",
    "a8e31168bec90e297b4d95b452e90517212eb74b2edfa2a2e49addb84fedad33",
);

/// The DER of a PEM certificate in tests/fixtures/tls/.
fn fixture_der(root: &Path, name: &str) -> Vec<u8> {
    use base64::Engine as _;
    let pem =
        std::fs::read_to_string(root.join("tests/fixtures/tls").join(name)).expect("certificate");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64")
}

fn tls_subject(s: &mut Seeds, root: &Path) {
    for name in ["ca.crt", "client.crt"] {
        s.put(
            "tls_subject",
            &name.replace('.', "_"),
            fixture_der(root, name),
        );
    }
    let odd =
        std::fs::read(root.join("src/tls/testdata/odd-subject.der")).expect("odd-subject.der");
    s.put("tls_subject", "odd_subject", odd);
    s.put("tls_subject", "v1_self_signed", unhex(V1_SELF_SIGNED_HEX));
}

/// The tls_client_cert target's input: a u16 length, the anchor, the leaf.
fn anchor_and_leaf(anchor: &[u8], leaf: &[u8]) -> Vec<u8> {
    let mut b = u16::try_from(anchor.len())
        .expect("a small anchor")
        .to_be_bytes()
        .to_vec();
    b.extend_from_slice(anchor);
    b.extend_from_slice(leaf);
    b
}

fn tls_client_cert(s: &mut Seeds, root: &Path) {
    let v1 = unhex(V1_SELF_SIGNED_HEX);
    let (ca, client) = (fixture_der(root, "ca.crt"), fixture_der(root, "client.crt"));
    // A v1 leaf its anchor signed: verified here, all the way to the signature.
    s.put(
        "tls_client_cert",
        "v1_leaf_signed_by_anchor",
        anchor_and_leaf(&v1, &v1),
    );
    // A v1 leaf no anchor signed.
    s.put(
        "tls_client_cert",
        "v1_leaf_unknown_issuer",
        anchor_and_leaf(&ca, &v1),
    );
    // A v3 leaf: handed to rustls's verifier.
    s.put("tls_client_cert", "v3_leaf", anchor_and_leaf(&ca, &client));
}
