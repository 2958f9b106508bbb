//! The codecs against what Apache ZooKeeper's own classes write and decide:
//! `tests/fixtures/quorum/golden.txt`, printed by `Golden.java` (run
//! `gen.sh` to regenerate; these tests need no Java). Each record has an
//! expectation here and each expectation a record, so neither side can
//! drift alone. Where corral knowingly differs from Java, the case is named
//! in a `DIVERGES` list with the reason.

use super::config::java_long_hash;
use super::*;
use crate::proto::types::ZString;

const GOLDEN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/quorum/golden.txt"
));

/// The records of one kind, as their space-separated fields after the kind.
fn records(kind: &str) -> Vec<Vec<&'static str>> {
    GOLDEN
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(|f| f[0] == kind)
        .map(|f| f[1..].to_vec())
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn text(s: &str) -> String {
    String::from_utf8(unhex(s)).unwrap()
}

/// The expectation named `name`; fails if there is none.
fn expected<'a, T>(table: &'a [(&str, T)], name: &str) -> &'a T {
    &table
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no expectation for {name}"))
        .1
}

fn assert_same_names<T>(kind: &str, table: &[(&str, T)]) {
    let mut golden: Vec<&str> = records(kind).iter().map(|f| f[0]).collect();
    let mut ours: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    golden.sort();
    ours.sort();
    assert_eq!(golden, ours, "{kind} records and expectations differ");
}

fn packet(kind: PacketType, zxid: i64, data: Option<Bytes>, auth: Option<Vec<Id>>) -> QuorumPacket {
    QuorumPacket {
        kind: kind.as_i32(),
        zxid,
        data,
        auth,
    }
}

const NEWLEADER_CONFIG: &str = "server.1=127.0.0.1:2888:3888:participant\nversion=0";

#[test]
fn packets_encode_to_zookeepers_bytes_and_decode_back() {
    let request = RequestBody {
        session_id: SessionId(0x1000abcdef0001),
        cxid: 7,
        op: 2,
        body: Bytes::from_static(&[0, 0, 0, 2, b'/', b'a', 0xff, 0xff, 0xff, 0xff]),
    };
    let table = [
        (
            "ping_null",
            packet(PacketType::Ping, 0x1_0000_0003, None, None),
        ),
        (
            "ack_empty_data_empty_auth",
            packet(
                PacketType::Ack,
                0x2_0000_0001,
                Some(Bytes::new()),
                Some(vec![]),
            ),
        ),
        (
            "request_with_auth",
            packet(
                PacketType::Request,
                -1,
                Some(request.encode()),
                Some(vec![
                    Id::new("ip", "127.0.0.1"),
                    Id::new("digest", "bob:XyZ="),
                ]),
            ),
        ),
        (
            "auth_non_ascii",
            packet(
                PacketType::Request,
                -1,
                Some(Bytes::from_static(&[1])),
                Some(vec![Id::new("sasl", "zoë@例え.jp")]),
            ),
        ),
        (
            "leaderinfo",
            packet(
                PacketType::LeaderInfo,
                0x5_0000_0000,
                Some(
                    LeaderInfoBody {
                        protocol_version: ZAB_PROTOCOL_VERSION,
                    }
                    .encode(),
                ),
                None,
            ),
        ),
        (
            "ackepoch_minus_one",
            packet(
                PacketType::AckEpoch,
                0x4_0000_0007,
                Some(
                    AckEpochBody {
                        current_epoch: AckEpochBody::NOT_AN_ACK,
                    }
                    .encode(),
                ),
                None,
            ),
        ),
        (
            "newleader_config",
            packet(
                PacketType::NewLeader,
                0x5_0000_0000,
                Some(Bytes::from_static(NEWLEADER_CONFIG.as_bytes())),
                None,
            ),
        ),
        (
            "null_data_with_auth",
            packet(
                PacketType::Sync,
                0,
                None,
                Some(vec![Id {
                    scheme: ZString::default(),
                    id: ZString::default(),
                }]),
            ),
        ),
    ];
    assert_same_names("packet", &table);
    for rec in records("packet") {
        let (name, bytes) = (rec[0], unhex(rec[1]));
        let want = expected(&table, name);
        assert_eq!(&want.encode_to_bytes()[..], &bytes[..], "{name}");
        let mut buf = BytesMut::from(&bytes[..]);
        let got = QuorumPacket::decode_stream(&mut buf, DATA_BYTES_MAX_DEFAULT).unwrap();
        assert_eq!(got.as_ref(), Some(want), "{name}");
        assert!(buf.is_empty(), "{name}");
    }
    // And the bodies read back from ZooKeeper's bytes.
    let mut buf = BytesMut::from(
        &unhex(
            records("packet")
                .iter()
                .find(|r| r[0] == "request_with_auth")
                .unwrap()[1],
        )[..],
    );
    let p = QuorumPacket::decode_stream(&mut buf, 1024)
        .unwrap()
        .unwrap();
    assert_eq!(RequestBody::decode(p.data.as_ref().unwrap()), Ok(request));
}

#[test]
fn learner_info_matches_zookeepers_record() {
    let table = [
        ("sid3", LearnerInfo::new(3, 0)),
        ("big", LearnerInfo::new(i64::MAX, 0x1_0000_0000)),
    ];
    assert_same_names("learnerinfo", &table);
    for rec in records("learnerinfo") {
        let want = expected(&table, rec[0]);
        assert_eq!(&want.encode()[..], &unhex(rec[1])[..], "{}", rec[0]);
        assert_eq!(LearnerInfo::decode(&unhex(rec[1])), *want);
    }
}

#[test]
fn notifications_match_build_msg() {
    let note = |state, leader, zxid, election_epoch, peer_epoch, version, config: &'static str| {
        Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version,
            config: Bytes::from_static(config.as_bytes()),
        }
    };
    let config = "server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nversion=0";
    let table = [
        (
            "looking_with_config",
            note(PeerState::Looking, 2, 0x3_0000_0005, 7, 3, 2, config),
        ),
        (
            "observer_min",
            note(PeerState::Observing, i64::MIN, i64::MIN, 1, i64::MIN, 2, ""),
        ),
        (
            "leading_empty_config",
            note(
                PeerState::Leading,
                5,
                0x1_0000_0000,
                0x7fff_ffff_ffff,
                1,
                2,
                "",
            ),
        ),
        // buildMsg's 40-byte form writes version 1, which receivers never read.
        (
            "forty_bytes",
            note(PeerState::Following, 9, 0x2_0000_0003, 4, 2, 0, ""),
        ),
    ];
    assert_same_names("notification", &table);
    for rec in records("notification") {
        let (name, bytes) = (rec[0], unhex(rec[1]));
        let want = expected(&table, name);
        assert_eq!(Notification::decode(&bytes).as_ref(), Some(want), "{name}");
        if bytes.len() != 40 {
            assert_eq!(&want.encode()[..], &bytes[..], "{name}");
        }
    }
}

/// Java's text with each run of lines whose sids share a `HashMap` bucket
/// sorted by sid: Java orders within a bucket by its `Properties` order,
/// which no renderer can know (see `java_hash_map_order`).
fn sorted_within_buckets(java: &str, members: usize) -> String {
    let mut buckets = 16;
    while members > buckets / 4 * 3 {
        buckets *= 2;
    }
    let (lines, version) = java.rsplit_once('\n').unwrap();
    let sid = |line: &str| -> u64 {
        line["server.".len()..line.find('=').unwrap()]
            .parse()
            .unwrap()
    };
    let mut lines: Vec<&str> = lines.split('\n').collect();
    lines
        .chunk_by_mut(|a, b| java_long_hash(sid(a)) % buckets == java_long_hash(sid(b)) % buckets)
        .for_each(|run| run.sort_by_key(|l| sid(l)));
    format!("{}\n{version}", lines.join("\n"))
}

#[test]
fn config_text_parses_and_renders_as_zookeeper_does() {
    // Java accepts hierarchical configs (QuorumHierarchical); corral has
    // majority quorums only, and says so.
    const DIVERGES: [&str; 1] = ["hierarchical"];
    // Sids that share a HashMap bucket print in Java's Properties order.
    const BUCKET_ORDER: [&str; 2] = ["hash_order_16", "hash_order_32"];
    let all = records("config");
    assert!(all.len() >= 30);
    for rec in all {
        let (name, input) = (rec[0], text(rec[1]));
        let ours = parse_config(&input);
        if DIVERGES.contains(&name) {
            assert!(ours.is_err(), "{name}");
            continue;
        }
        match rec[2] {
            "ok" => {
                let (members, version) = ours.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(version.to_string(), rec[3], "{name}");
                let mut java = text(rec[4]);
                if BUCKET_ORDER.contains(&name) {
                    java = sorted_within_buckets(&java, members.len());
                }
                assert_eq!(render_config(&members, version), java, "{name}");
            }
            "err" => assert!(
                ours.is_err(),
                "{name}: Java threw {}, we read {ours:?}",
                rec[3]
            ),
            other => panic!("bad verdict {other}"),
        }
    }
}

#[test]
fn newleader_config_reads_back() {
    let (members, version) = parse_config(NEWLEADER_CONFIG).unwrap();
    assert_eq!(version, 0);
    assert_eq!(
        members,
        [QuorumMember {
            sid: 1,
            host: "127.0.0.1".into(),
            quorum_port: 2888,
            election_port: 3888,
            observer: false,
            client: None,
        }]
    );
}

#[test]
fn initial_messages_are_read_as_quorum_cnx_manager_reads_them() {
    // Integer.parseInt takes any Unicode decimal digit; we take ASCII only.
    const DIVERGES: [&str; 1] = ["port_unicode_digits"];
    let all = records("initial");
    assert!(all.len() >= 40);
    for rec in all {
        let (name, input) = (rec[0], unhex(rec[1]));
        let mut buf = BytesMut::from(&input[..]);
        let ours = InitialMessage::decode_stream(&mut buf);
        if DIVERGES.contains(&name) {
            assert!(ours.is_err(), "{name}");
            continue;
        }
        match rec[2] {
            "ok" => {
                let m = ours
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .unwrap_or_else(|| panic!("{name}: incomplete"));
                assert_eq!(m.sid.to_string(), rec[3], "{name}");
                let addrs = text(rec[4]);
                let want: Vec<&str> = if addrs.is_empty() {
                    vec![]
                } else {
                    addrs.split('|').collect()
                };
                assert_eq!(m.addrs, want, "{name}");
                let consumed = input.len() - buf.len();
                assert_eq!(
                    consumed,
                    if input[0] < 0x80 { 8 } else { input.len() },
                    "{name}"
                );
            }
            "err" => assert!(
                ours.is_err(),
                "{name}: Java threw {}, we read {ours:?}",
                rec[3]
            ),
            other => panic!("bad verdict {other}"),
        }
    }
}
