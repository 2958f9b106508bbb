//! The handshake: the body of a client's first frame (`ConnectRequest`, no
//! request header), then the session timeout negotiated from it, as
//! `server::conn` does.
#![no_main]

use bytes::{Bytes, BytesMut};
use corral::proto::{ConnectRequest, Reader, Writer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = ConnectRequest::decode(&mut Reader::new(Bytes::copy_from_slice(data))) else {
        return;
    };
    // tickTime 2000's bounds.
    let timeout_ms = corral::session::negotiate_timeout(req.timeout_ms, 4000, 40_000);
    assert!((4000..=40_000).contains(&timeout_ms));
    // What decodes, re-encoded, decodes to the same request.
    let mut out = BytesMut::new();
    req.encode(&mut Writer::new(&mut out));
    assert_eq!(
        ConnectRequest::decode(&mut Reader::new(out.freeze())),
        Ok(req)
    );
});
