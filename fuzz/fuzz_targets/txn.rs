//! One txn's bytes (`storage::format::decode_txn`): a txn log record's body
//! and a PROPOSAL's or INFORM's data, header and record and the optional
//! digest; then the line `corral data log` prints for it.
#![no_main]

use bytes::{Bytes, BytesMut};
use corral::storage::format::{decode_txn, encode_txn};
use corral::storage::tool::{txn_summary, write_txn_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((hdr, txn, _digest)) = decode_txn(Bytes::copy_from_slice(data)) else {
        return;
    };
    let mut line = Vec::new();
    write_txn_line(&mut line, &hdr, &txn).expect("writing to a Vec");
    let _ = txn_summary(&txn, hdr.session_id);
    // The txn, encoded as corral logs it, decodes to itself.
    let mut out = BytesMut::new();
    encode_txn(&mut out, &hdr, &txn);
    match decode_txn(out.freeze()) {
        Ok((hdr2, txn2, None)) => assert_eq!((hdr2, txn2), (hdr, txn)),
        other => panic!("re-encoded txn reads back as {other:?}"),
    }
});
