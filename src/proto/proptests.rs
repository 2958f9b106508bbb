//! Property tests: every decoder takes hostile input. Random frames and
//! mutations of valid frames must decode to a value or an error — never a
//! panic, never an allocation beyond what the frame holds.

use super::request::{CreateRequest, SetWatches, encode_request};
use super::txn::{Txn, TxnHeader};
use super::*;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

const OPS: [i32; 33] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 100, 101, 102,
    103, 104, 105, 106, 107, -10, -11, -1,
];

/// Valid encodings of representative requests, to mutate.
fn seeds() -> Vec<(OpCode, Bytes)> {
    let create = CreateRequest {
        path: "/a/b".into(),
        data: Bytes::from_static(b"data").into(),
        acl: vec![
            Acl::new(perms::ALL, "digest", "u:h"),
            Acl::new(perms::READ, "world", "anyone"),
        ],
        flags: 3,
        ttl_ms: 1000,
    };
    let reqs = vec![
        Request::Create {
            op: OpCode::Create2,
            req: create.clone(),
        },
        Request::Create {
            op: OpCode::CreateTtl,
            req: create,
        },
        Request::SetData {
            path: "/x".into(),
            data: Bytes::from_static(b"v").into(),
            version: 3,
        },
        Request::GetChildren2 {
            path: "/".into(),
            watch: true,
        },
        Request::Multi(vec![
            Request::Check {
                path: "/a".into(),
                version: 1,
            },
            Request::Delete {
                path: "/a".into(),
                version: -1,
            },
        ]),
        Request::MultiRead(vec![Request::GetData {
            path: "/a".into(),
            watch: false,
        }]),
        Request::SetWatches(Box::new(SetWatches {
            relative_zxid: Zxid(7),
            data: vec!["/d".into()],
            persistent_recursive: vec!["/r".into()],
            ..Default::default()
        })),
        Request::Auth {
            kind: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"u:p"),
        },
        Request::AddWatch {
            path: "/w".into(),
            mode: 1,
        },
    ];
    reqs.into_iter()
        .map(|r| {
            let mut b = BytesMut::new();
            encode_request(&mut Writer::new(&mut b), &r);
            (r.op(), b.freeze())
        })
        .collect()
}

fn decode_everything(op: i32, frame: Bytes) {
    if let Some(op) = OpCode::from_i32(op) {
        let _ = Request::decode(op, &mut Reader::new(frame.clone()));
    }
    let _ = Txn::decode(op, &mut Reader::new(frame.clone()));
    let _ = ConnectRequest::decode(&mut Reader::new(frame.clone()));
    let _ = ConnectResponse::decode(&mut Reader::new(frame.clone()));
    let _ = RequestHeader::decode(&mut Reader::new(frame.clone()));
    let _ = TxnHeader::decode(&mut Reader::new(frame.clone()));
    let _ = Stat::decode(&mut Reader::new(frame));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_frames_never_panic_any_decoder(op in prop::sample::select(OPS.to_vec()), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_everything(op, Bytes::from(bytes));
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        seed in 0usize..9,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let seeds = seeds();
        let (op, frame) = &seeds[seed % seeds.len()];
        let mut bytes = frame.to_vec();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        decode_everything(op.as_i32(), Bytes::from(bytes));
    }

    #[test]
    fn huge_counts_and_lengths_are_refused_not_allocated(op in prop::sample::select(OPS.to_vec()), len in any::<i32>(), tail in prop::collection::vec(any::<u8>(), 0..16)) {
        // A path of claimed length `len`, then a vector count `len`.
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(len).i32(len);
        b.extend_from_slice(&tail);
        decode_everything(op, b.freeze());
    }
}

#[test]
fn every_seed_round_trips() {
    for (op, frame) in seeds() {
        let mut r = Reader::new(frame.clone());
        let req = Request::decode(op, &mut r).unwrap().unwrap();
        r.finish().unwrap();
        let mut b = BytesMut::new();
        encode_request(&mut Writer::new(&mut b), &req);
        assert_eq!(b.freeze(), frame, "{op:?}");
    }
}
