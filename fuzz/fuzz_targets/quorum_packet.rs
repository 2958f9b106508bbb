//! The quorum port's stream: `QuorumPacket`s back to back with no length
//! prefix (`QuorumPacket::decode_stream`, as `server::quorum_net` reads a
//! leader or a learner), then each packet's data as the sequencer reads it for
//! its type: LearnerInfo, LEADERINFO, ACKEPOCH, REVALIDATE both ways, a PING's
//! session touches, a forwarded REQUEST and its client request, a PROPOSAL's
//! or INFORM's txn.
#![no_main]

use bytes::{Bytes, BytesMut};
use corral::proto::quorum::{
    AckEpochBody, DATA_BYTES_MAX_DEFAULT, LeaderInfoBody, LearnerInfo, PacketType, QuorumPacket,
    RequestBody, RevalidateReply, RevalidateRequest, decode_ping_touches,
};
use corral::proto::{OpCode, Reader, Request};
use corral::storage::format::decode_txn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match QuorumPacket::decode_stream(&mut buf, DATA_BYTES_MAX_DEFAULT) {
            Ok(Some(packet)) => {
                assert!(buf.len() < before, "a packet was decoded from nothing");
                round_trip(&packet);
                read_data(&packet);
            }
            Ok(None) => {
                // "Not all of it is here yet, and nothing was consumed."
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        }
    }
});

/// A packet, encoded again, decodes to itself (and all of it is taken).
fn round_trip(packet: &QuorumPacket) {
    let mut again = BytesMut::from(&packet.encode_to_bytes()[..]);
    let decoded = QuorumPacket::decode_stream(&mut again, DATA_BYTES_MAX_DEFAULT);
    assert_eq!(decoded, Ok(Some(packet.clone())));
    assert!(again.is_empty());
}

fn read_data(packet: &QuorumPacket) {
    let data = packet.data.clone().unwrap_or_default();
    let Some(kind) = packet.packet_type() else {
        return;
    };
    match kind {
        PacketType::FollowerInfo | PacketType::ObserverInfo => {
            let _ = LearnerInfo::decode(&data);
        }
        PacketType::LeaderInfo => {
            let _ = LeaderInfoBody::decode(&data);
        }
        PacketType::AckEpoch => {
            let _ = AckEpochBody::decode(&data);
        }
        PacketType::Revalidate => {
            let _ = RevalidateRequest::decode(&data);
            let _ = RevalidateReply::decode(&data);
        }
        PacketType::Ping => {
            if let Ok(touches) = decode_ping_touches(&data) {
                assert_eq!(touches.len() * 12, data.len());
            }
        }
        PacketType::Request => forwarded_request(&data),
        PacketType::Proposal | PacketType::Inform => {
            if let Some(d) = &packet.data {
                let _ = decode_txn(d.clone());
            }
        }
        _ => {}
    }
}

/// `Leader`'s reading of a learner's REQUEST: the header, then the client's
/// request body for its opcode (a createSession's timeout is its first int).
fn forwarded_request(data: &Bytes) {
    let Ok(body) = RequestBody::decode(data) else {
        return;
    };
    match OpCode::from_i32(body.op) {
        Some(OpCode::CreateSession) => {
            let _ = body.body.get(..4);
        }
        Some(op) => {
            let _ = Request::decode(op, &mut Reader::new(body.body.clone()));
        }
        None => {}
    }
}
