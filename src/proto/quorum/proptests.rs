//! Property tests: every quorum decoder takes hostile bytes from a peer.
//! Random input and mutations of valid input must decode to a value, `None`
//! or an error, never a panic; streams cut anywhere must decode to the same
//! packets; what we encode must decode to itself.

use super::*;
use proptest::prelude::*;

fn arb_id() -> impl Strategy<Value = Id> {
    ("[a-z]{0,6}", "\\PC{0,8}").prop_map(|(scheme, id)| Id::new(&scheme, &id))
}

fn arb_packet() -> impl Strategy<Value = QuorumPacket> {
    (
        any::<i32>(),
        any::<i64>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..48)),
        prop::option::of(prop::collection::vec(arb_id(), 0..4)),
    )
        .prop_map(|(kind, zxid, data, auth)| QuorumPacket {
            kind,
            zxid,
            data: data.map(Bytes::from),
            auth,
        })
}

fn arb_state() -> impl Strategy<Value = PeerState> {
    prop::sample::select(vec![
        PeerState::Looking,
        PeerState::Following,
        PeerState::Leading,
        PeerState::Observing,
    ])
}

fn arb_notification() -> impl Strategy<Value = Notification> {
    (arb_state(), any::<[i64; 4]>(), "\\PC{0,40}").prop_map(
        |(state, [leader, zxid, election_epoch, peer_epoch], config)| Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version: NOTIFICATION_VERSION,
            config: Bytes::from(config),
        },
    )
}

/// Decodes packets until the stream needs more or fails; returns them.
fn drain(buf: &mut BytesMut, max_data: usize) -> Result<Vec<QuorumPacket>, DecodeError> {
    let mut out = Vec::new();
    while let Some(p) = QuorumPacket::decode_stream(buf, max_data)? {
        out.push(p);
    }
    Ok(out)
}

fn mutate(
    mut bytes: Vec<u8>,
    flips: Vec<(prop::sample::Index, u8)>,
    cut: Option<prop::sample::Index>,
) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut.index(bytes.len() + 1));
    }
    bytes
}

fn arb_member_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z]{1,5}){0,2}",
        (1u8..=255, any::<[u8; 3]>()).prop_map(|(a, [b, c, d])| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|g| g
            .iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")),
    ]
}

fn arb_members() -> impl Strategy<Value = Vec<QuorumMember>> {
    let member = (
        arb_member_host(),
        any::<u16>(),
        any::<u16>(),
        any::<bool>(),
        prop::option::of((arb_member_host(), any::<u16>())),
    );
    prop::collection::btree_map(any::<u64>(), member, 0..20)
        .prop_map(|m| {
            m.into_iter()
                .map(|(sid, (host, q, e, observer, client))| QuorumMember {
                    sid,
                    host,
                    quorum_port: q,
                    election_port: if e == q { q.wrapping_add(1) } else { e },
                    observer,
                    client,
                })
                .collect::<Vec<_>>()
        })
        .prop_filter("observers need two participants", |m| {
            let observers = m.iter().filter(|m| m.observer).count();
            observers == 0 || m.len() - observers >= 2
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn packets_round_trip(p in arb_packet()) {
        let mut buf = BytesMut::from(&p.encode_to_bytes()[..]);
        prop_assert_eq!(QuorumPacket::decode_stream(&mut buf, 1024)?, Some(p));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn a_stream_cut_anywhere_decodes_to_the_same_packets(
        packets in prop::collection::vec(arb_packet(), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut whole = BytesMut::new();
        for p in &packets {
            p.encode(&mut Writer::new(&mut whole));
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(whole.len() + 1)).collect();
        cuts.push(whole.len());
        cuts.sort();
        let (mut buf, mut got, mut from) = (BytesMut::new(), Vec::new(), 0);
        for to in cuts {
            buf.extend_from_slice(&whole[from..to]);
            from = to;
            got.extend(drain(&mut buf, 1024)?);
        }
        prop_assert_eq!(got, packets);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn random_bytes_never_panic_the_stream_decoders(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        max_data in prop::sample::select(vec![0usize, 8, 64, DATA_BYTES_MAX_DEFAULT]),
    ) {
        let _ = drain(&mut BytesMut::from(&bytes[..]), max_data);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode_election_frame(&mut buf) {}
        let _ = InitialMessage::decode_stream(&mut BytesMut::from(&bytes[..]));
        let _ = Notification::decode(&bytes);
    }

    #[test]
    fn mutated_streams_never_panic(
        packets in prop::collection::vec(arb_packet(), 1..4),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut whole = BytesMut::new();
        for p in &packets {
            p.encode(&mut Writer::new(&mut whole));
        }
        let bytes = mutate(whole.to_vec(), flips, cut);
        let _ = drain(&mut BytesMut::from(&bytes[..]), 64);
    }

    #[test]
    fn huge_lengths_and_counts_are_refused_without_waiting(len in any::<i32>(), count in any::<i32>()) {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(1).i64(0).i32(-1).i32(count);
        let verdict = QuorumPacket::decode_stream(&mut b, 1024);
        if (-1..=1024 / 8).contains(&count) {
            prop_assert!(verdict.is_ok());
        } else {
            prop_assert!(verdict.is_err());
        }
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(1).i64(0).i32(len);
        let verdict = QuorumPacket::decode_stream(&mut b, 1024);
        if (-1..=1024).contains(&len) {
            prop_assert_eq!(verdict, Ok(None));
        } else {
            prop_assert!(verdict.is_err());
        }
    }

    #[test]
    fn notifications_round_trip_and_mutations_never_panic(
        n in arb_notification(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let b = n.encode();
        prop_assert_eq!(Notification::decode(&b), Some(n));
        let _ = Notification::decode(&mutate(b.to_vec(), flips, cut));
    }

    #[test]
    fn election_frames_round_trip(msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 1..5)) {
        let mut buf = BytesMut::new();
        for m in &msgs {
            encode_election_frame(m, &mut buf);
        }
        for m in &msgs {
            let frame = decode_election_frame(&mut buf)?;
            prop_assert_eq!(frame.as_deref(), Some(&m[..]));
        }
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn initial_message_text_never_panics(sid in any::<i64>(), text in "[0-9a-fx:\\[\\]|.+\\-é😀 ]{1,40}") {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i64(PROTOCOL_VERSION_V2).i64(sid).buffer(text.as_bytes());
        if let Ok(Some(m)) = InitialMessage::decode_stream(&mut b) {
            prop_assert_eq!(m.sid, sid);
            prop_assert!(b.is_empty());
        }
    }

    #[test]
    fn config_text_never_panics(text in "[a-z0-9.=:;|\\[\\]#!\\\\ \\n\\r+\\-é😀]{0,80}") {
        let _ = parse_config(&text);
        let _ = parse_config(&format!("server.{text}"));
    }

    #[test]
    fn rendered_configs_parse_back(members in arb_members(), version in 0i64..) {
        let text = render_config(&members, version);
        let (parsed, v) = parse_config(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(v, version);
        prop_assert_eq!(parsed.len(), members.len());
        // Hosts come back as Java prints them; render again to compare.
        prop_assert_eq!(render_config(&parsed, v), text);
    }

    #[test]
    fn body_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let data = Bytes::from(bytes);
        let _ = LearnerInfo::decode(&data);
        let _ = RequestBody::decode(&data);
        let _ = LeaderInfoBody::decode(&data);
        let _ = AckEpochBody::decode(&data);
        let _ = RevalidateRequest::decode(&data);
        let _ = RevalidateReply::decode(&data);
        let _ = decode_ping_touches(&data);
    }

    #[test]
    fn ping_touches_round_trip(touches in prop::collection::vec((any::<i64>(), any::<i32>()), 0..20)) {
        let touches: Vec<(SessionId, i32)> = touches.into_iter().map(|(s, t)| (SessionId(s), t)).collect();
        prop_assert_eq!(decode_ping_touches(&encode_ping_touches(&touches))?, touches);
    }
}
