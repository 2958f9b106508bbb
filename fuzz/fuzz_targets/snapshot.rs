//! A snapshot file (`snapshot.<zxid>`) as `corral data snapshot` reads it:
//! header, sessions, the ACL table, the nodes (loaded into a scratch tree, so
//! a node before its parent or a dangling ACL id is found), the seal and the
//! sections ZooKeeper 3.6+ adds after it (`snapshot::parse` via
//! `storage::tool::dump_snapshot`; the server's `snapshot::load` reads the same
//! records, see `snap_stream`).
//!
//! Where a seal's checksum is wrong the file is read again with it made
//! right, so that mutated files get past the seals to what follows them.
#![no_main]

use bytes::Bytes;
use corral::storage::format::Adler32;
use corral::storage::tool::{SnapshotOptions, dump_snapshot};
use libfuzzer_sys::fuzz_target;

/// A file has at most three seals: after the nodes, the digest and lastProcessedZxid.
const SEALS_MAX: usize = 3;

fuzz_target!(|data: &[u8]| {
    let mut file = data.to_vec();
    for _ in 0..=SEALS_MAX {
        let opts = SnapshotOptions {
            data: true,
            summary_only: false,
        };
        let summary = dump_snapshot(
            Bytes::from(file.clone()),
            "snapshot.100000001",
            opts,
            &mut std::io::sink(),
        )
        .expect("writing to a sink");
        let Some((offset, reason)) = summary.bad else {
            return;
        };
        let Ok(at) = usize::try_from(offset) else {
            return;
        };
        if !reason.contains("checksum mismatch") || at + 8 > file.len() {
            return;
        }
        let sum = Adler32::of(&file[..at]).to_be_bytes();
        file[at..at + 8].copy_from_slice(&sum);
    }
});
