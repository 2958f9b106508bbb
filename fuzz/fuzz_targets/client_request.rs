//! A client frame after the handshake, as `server::conn::handle_frame` reads
//! it: the request header, the opcode, the body (`Request::decode`), and for
//! `addauth digest` the credentials (`AuthContext::add_digest_auth`). A learner
//! forwards the same bodies to its leader (see `quorum_packet`).
#![no_main]

use bytes::{Bytes, BytesMut};
use corral::proto::request::encode_request;
use corral::proto::{OpCode, Reader, Request, RequestHeader, Writer};
use corral::tree::acl::AuthContext;
use libfuzzer_sys::fuzz_target;

/// `super:` with password "test" (ZooKeeper's documented example digest).
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(Bytes::copy_from_slice(data));
    let Ok(hdr) = RequestHeader::decode(&mut r) else {
        return;
    };
    let Some(op) = OpCode::from_i32(hdr.op) else {
        return;
    };
    let Ok(Some(req)) = Request::decode(op, &mut r) else {
        return;
    };
    if let Request::Auth { scheme, auth, .. } = &req
        && scheme.as_str() == "digest"
    {
        let _ = AuthContext::default().add_digest_auth(auth, Some(SUPER_DIGEST));
    }
    // `encode_request` is documented as the inverse of `Request::decode`.
    let mut out = BytesMut::new();
    encode_request(&mut Writer::new(&mut out), &req);
    // Under the opcode the encoder implies (a setWatches2 without persistent
    // watches is written as setWatches), as corral's client frames it.
    let again = Request::decode(req.op(), &mut Reader::new(out.freeze()));
    assert_eq!(again, Ok(Some(req)));
});
