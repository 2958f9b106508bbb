//! The first bytes on the election port: a connecting server's initial
//! message (`InitialMessage::decode_stream`, as `server::election_net` reads
//! it), pre-3.5 sid, protocol version 1 or 2 with its `host:port` list.
#![no_main]

use bytes::BytesMut;
use corral::proto::quorum::{INITIAL_MESSAGE_MAX_BUFFER, InitialMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let before = buf.len();
    let msg = match InitialMessage::decode_stream(&mut buf) {
        Ok(Some(msg)) => msg,
        Ok(None) => {
            // "Not all here yet, nothing consumed."
            assert_eq!(buf.len(), before);
            return;
        }
        Err(_) => return,
    };
    assert!(buf.len() < before);
    // Addresses come back as Java holds them; read again they stay the same.
    // Except a host with brackets of its own (`[[x]:1` holds host `[x`): Java
    // prints it unbracketed, and neither Java nor corral can read that back.
    let own_brackets = |addr: &str| {
        addr.strip_prefix('[')
            .and_then(|a| a.split_once("]:"))
            .map_or(addr.contains(['[', ']']), |(host, _)| host.contains(['[', ']']))
    };
    if let [addr] = &msg.addrs[..]
        && addr.len() <= INITIAL_MESSAGE_MAX_BUFFER
        && !own_brackets(addr)
    {
        let mut again = BytesMut::from(&InitialMessage::encode_v1(msg.sid, addr)[..]);
        let reread = InitialMessage::decode_stream(&mut again);
        assert_eq!(reread, Ok(Some(msg.clone())));
    }
});
