//! What a server sends corral's own client (`client::codec::SessionCodec`,
//! used by `corral bench` and the tests): the handshake answer, then reply
//! frames matched to the requests sent, watch events and pings, and each
//! reply body decoded for its request's opcode (`client::response`).
//!
//! Input: one byte `k`, then `k % 8` bytes each choosing the opcode of a
//! request sent before the server's bytes, then the server's bytes.
#![no_main]

use corral::client::codec::{Incoming, SessionCodec};
use corral::proto::Request;
use libfuzzer_sys::fuzz_target;

/// Requests whose replies carry a body of their own shape.
fn request(pick: u8) -> Request {
    let path = || "/a".into();
    match pick % 16 {
        0 => Request::GetData {
            path: path(),
            watch: false,
        },
        1 => Request::Exists {
            path: path(),
            watch: true,
        },
        2 => Request::GetChildren {
            path: path(),
            watch: false,
        },
        3 => Request::GetChildren2 {
            path: path(),
            watch: false,
        },
        4 => Request::GetAcl { path: path() },
        5 => Request::Sync { path: path() },
        6 => Request::SetData {
            path: path(),
            data: Default::default(),
            version: -1,
        },
        7 => Request::Delete {
            path: path(),
            version: -1,
        },
        8 => Request::Multi(vec![Request::Delete {
            path: path(),
            version: -1,
        }]),
        9 => Request::MultiRead(vec![Request::GetData {
            path: path(),
            watch: false,
        }]),
        10 => Request::WhoAmI,
        11 => Request::AddWatch {
            path: path(),
            mode: 0,
        },
        12 => Request::GetEphemerals { prefix: path() },
        13 => Request::GetAllChildrenNumber { path: path() },
        14 => Request::Check {
            path: path(),
            version: 1,
        },
        _ => Request::Create {
            op: corral::proto::OpCode::Create2,
            req: corral::proto::request::CreateRequest {
                path: path(),
                data: Default::default(),
                acl: Vec::new(),
                flags: 0,
                ttl_ms: -1,
            },
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let sent = usize::from(k % 8).min(rest.len());
    let (picks, server) = rest.split_at(sent);
    let mut codec: SessionCodec<()> = SessionCodec::new(10_000);
    for &pick in picks {
        codec.send(&request(pick), ());
    }
    codec.input(server);
    while let Ok(Some(incoming)) = codec.next_incoming() {
        if let Incoming::Reply(reply) = incoming
            && reply.is_ok()
        {
            let _ = reply.decode();
        }
    }
});
