//! A txn log file (`log.<zxid>`) as `corral data log` and recovery read it:
//! the header, then records (checksum, length, txn, 'B') until the zero
//! padding, the first bad record and whether it looks like a torn tail
//! (`LogReader`, `data_after`, via `storage::tool::dump_log`).
//!
//! Each input is read twice: as it is, and with every record's checksum made
//! right, so that mutated records get past the checksum to the txn decoder.
#![no_main]

use bytes::Bytes;
use corral::storage::format::{Adler32, HEADER_LEN};
use corral::storage::tool::{LogOptions, dump_log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    read(Bytes::copy_from_slice(data));
    if let Some(fixed) = with_checksums_fixed(data) {
        read(fixed);
    }
});

fn read(buf: Bytes) {
    let mut out = Vec::new();
    let summary =
        dump_log(buf, "log.100000001", LogOptions::default(), &mut out).expect("writing to a Vec");
    assert!(summary.valid_bytes <= summary.file_bytes);
    assert!(summary.with_digest <= summary.records);
}

/// `data` with the checksum of every record that fits rewritten; `None`
/// when there is nothing to fix.
fn with_checksums_fixed(data: &[u8]) -> Option<Bytes> {
    let mut fixed = data.to_vec();
    let mut pos = HEADER_LEN;
    let mut changed = false;
    while pos + 12 <= fixed.len() {
        let len = i32::from_be_bytes(fixed[pos + 8..pos + 12].try_into().unwrap());
        let Ok(len) = usize::try_from(len) else { break };
        if len == 0 || pos + 12 + len + 1 > fixed.len() {
            break;
        }
        let sum = Adler32::of(&fixed[pos + 12..pos + 12 + len]).to_be_bytes();
        changed |= fixed[pos..pos + 8] != sum;
        fixed[pos..pos + 8].copy_from_slice(&sum);
        pos += 12 + len + 1;
    }
    changed.then(|| Bytes::from(fixed))
}
