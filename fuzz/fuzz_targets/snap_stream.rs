//! The snapshot a leader streams after SNAP, as a follower takes it: a
//! `SnapReceiver` fed the bytes (whole records at a time, up to the
//! "BenWasHere" signature) writes a snapshot file, which is then loaded as
//! recovery loads one (`snapshot::load`: the mapped file, the node count, the
//! parser and inserter threads).
//!
//! The stream is fed twice, all at once and in small pieces: both must take
//! the same records; and a loaded file holds what the receiver counted.
#![no_main]

use bytes::BytesMut;
use corral::proto::Zxid;
use corral::storage::snap_stream::{Progress, Received, SnapReceiver};
use corral::storage::snapshot;
use corral::tree::DataTree;
use corral_fuzz::scratch_dir;
use libfuzzer_sys::fuzz_target;

/// Largest record the receiver waits for (a node's path, data and stat).
const RECORD_BYTES_MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let whole = receive(data, data.len().max(1));
    let piece = 1 + data.len() % 7;
    let pieces = receive(data, piece);
    assert_eq!(whole, pieces, "fed whole and in {piece}-byte pieces");
});

/// What the receiver made of `data` fed `step` bytes at a time: `None` after
/// an error, else whether it completed and the records it took.
fn receive(data: &[u8], step: usize) -> Option<(bool, Received)> {
    let dir = scratch_dir();
    let zxid = Zxid(0x1_0000_0001);
    let mut rx =
        SnapReceiver::new(dir, zxid, RECORD_BYTES_MAX).expect("a receiver in the scratch dir");
    let mut buf = BytesMut::new();
    let mut complete = false;
    for chunk in data.chunks(step) {
        buf.extend_from_slice(chunk);
        match rx.feed(&mut buf) {
            Ok(Progress::Complete) => {
                complete = true;
                break;
            }
            Ok(Progress::NeedMore) => {}
            Err(_) => return None,
        }
    }
    let received = rx.received();
    if !complete {
        return Some((false, received));
    }
    let path = rx.finish().expect("finishing a complete stream");
    let mut tree = DataTree::new();
    if let Ok(info) = snapshot::load(&path, &mut tree) {
        assert_eq!(info.nodes as u64, received.nodes);
        assert_eq!(info.sessions.len() as u64, received.sessions);
        assert_eq!(info.acl_entries as u64, received.acl_entries);
    }
    std::fs::remove_file(&path).expect("removing the received snapshot");
    Some((true, received))
}
