//! Txns between prep (or a leader's PROPOSAL) and the tree: each is encoded
//! once — `TxnHeader` + txn, the bytes a PROPOSAL carries and the body of its
//! log record — written to the log in group commits (one write in flight,
//! the next batch gathering meanwhile), committed (by a quorum of acks, a
//! COMMIT, or at once when standalone) and applied in zxid order.
//!
//! A txn is applied only once it is both committed and durable here: what a
//! member has applied (and so may have shown a client) is always in its own
//! log, whatever its role.

use crate::proto::Zxid;
use crate::proto::txn::{Txn, TxnHeader};
use crate::storage::format::{Adler32, END_OF_RECORD};
use crate::zab::quorum::AckSet;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Who is waiting for a txn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A local client's step (see `steps`), answered when the txn is applied.
    Step(u64),
    /// Another member's client (a learner's REQUEST) or a leader's PROPOSAL:
    /// answered elsewhere.
    Remote,
    /// The server itself: a session expiry, a container deletion.
    Server,
}

pub struct Proposal {
    pub hdr: TxnHeader,
    pub txn: Txn,
    /// The encoded txn; empty until the round that prepped it ends
    /// ([`Pipeline::seal`]).
    pub bytes: Bytes,
    pub logged: bool,
    pub committed: bool,
    /// The voters that hold it durably (a leader counts its own write).
    pub acks: AckSet,
    pub origin: Origin,
}

impl Proposal {
    pub fn zxid(&self) -> Zxid {
        self.hdr.zxid
    }
}

/// The txns not yet applied, in zxid order, and the log batching.
pub struct Pipeline {
    /// Unapplied txns; consecutive zxids.
    proposals: VecDeque<Proposal>,
    /// `proposals[..submitted]` are in the write in flight or logged.
    submitted: usize,
    /// How many proposals the write in flight holds (starting at the first
    /// one not logged); `None` when the log is idle.
    in_flight: Option<usize>,
    /// Txns encoded this round, not yet sealed into their proposals.
    fresh: BytesMut,
    /// Where each fresh txn's bytes lie in `fresh`.
    fresh_spans: Vec<(Zxid, usize, usize)>,
    /// Log records of proposals not yet submitted.
    records: BytesMut,
    /// The last zxid in this member's log.
    pub last_logged: Zxid,
    /// The last zxid handed to the log (in flight or logged).
    pub last_submitted: Zxid,
    /// Txns of this epoch or later wait here, unlogged: a learner logs a
    /// new epoch's txns only once that epoch is its current one on disk
    /// (a log ahead of currentEpoch is refused at the next start).
    log_barrier: Option<u32>,
}

/// The most bytes of records one log write takes; the rest waits for the
/// next. Bounds a write, and so what recovery may treat as a torn tail.
pub const GROUP_COMMIT_BYTES: usize = 4 << 20;

impl Pipeline {
    pub fn new(last_logged: Zxid) -> Pipeline {
        Pipeline {
            proposals: VecDeque::new(),
            submitted: 0,
            in_flight: None,
            fresh: BytesMut::new(),
            fresh_spans: Vec::new(),
            records: BytesMut::with_capacity(1 << 16),
            last_logged,
            last_submitted: last_logged,
            log_barrier: None,
        }
    }

    /// Holds back the log writes of txns of `epoch` and later (`None`: none).
    pub fn set_log_barrier(&mut self, epoch: Option<u32>) {
        self.log_barrier = epoch;
    }

    pub fn len(&self) -> usize {
        self.proposals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.proposals.is_empty()
    }

    /// The zxid the next txn must carry to follow on.
    pub fn last_zxid(&self) -> Option<Zxid> {
        self.proposals.back().map(|p| p.zxid())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.iter()
    }

    pub fn get_mut(&mut self, zxid: Zxid) -> Option<&mut Proposal> {
        let first = self.proposals.front()?.zxid();
        if zxid < first {
            return None;
        }
        let i = self.proposals.partition_point(|p| p.zxid() < zxid);
        self.proposals.get_mut(i).filter(|p| p.zxid() == zxid)
    }

    pub fn front(&self) -> Option<&Proposal> {
        self.proposals.front()
    }

    /// A txn this member prepped: encoded now into the round's buffer.
    pub fn push_prepped(&mut self, hdr: TxnHeader, txn: Txn, origin: Origin) {
        self.assert_follows(hdr.zxid);
        let start = self.fresh.len();
        crate::storage::format::encode_txn(&mut self.fresh, &hdr, &txn);
        self.fresh_spans.push((hdr.zxid, start, self.fresh.len()));
        self.proposals.push_back(Proposal {
            hdr,
            txn,
            bytes: Bytes::new(),
            logged: false,
            committed: false,
            acks: AckSet::default(),
            origin,
        });
    }

    /// A txn that arrived encoded (a leader's PROPOSAL or INFORM, a DIFF).
    pub fn push_received(&mut self, hdr: TxnHeader, txn: Txn, bytes: Bytes, committed: bool) {
        self.assert_follows(hdr.zxid);
        append_record(&mut self.records, &bytes);
        self.proposals.push_back(Proposal {
            hdr,
            txn,
            bytes,
            logged: false,
            committed,
            acks: AckSet::default(),
            origin: Origin::Remote,
        });
    }

    fn assert_follows(&self, zxid: Zxid) {
        if let Some(last) = self.proposals.back() {
            assert!(
                zxid > last.zxid(),
                "txns must be pipelined in zxid order: {zxid} after {}",
                last.zxid()
            );
        }
    }

    /// Ends a round: the txns prepped in it get their bytes (one buffer,
    /// sliced) and their log records. Returns the zxids sealed (first, last)
    /// so the caller can send them (a leader's PROPOSALs).
    pub fn seal(&mut self) -> Option<(Zxid, Zxid)> {
        let first = self.fresh_spans.first()?.0;
        let last = self.fresh_spans.last()?.0;
        let buf = self.fresh.split().freeze();
        let spans = std::mem::take(&mut self.fresh_spans);
        for (zxid, start, stop) in spans {
            let bytes = buf.slice(start..stop);
            append_record(&mut self.records, &bytes);
            if let Some(p) = self.get_mut(zxid) {
                p.bytes = bytes;
            }
        }
        Some((first, last))
    }

    /// Applies `f` to each proposal from `first` to `last` (inclusive; a
    /// range may span epochs, so it is walked, never counted).
    pub fn each_mut(&mut self, first: Zxid, last: Zxid, mut f: impl FnMut(&mut Proposal)) {
        let start = self.proposals.partition_point(|p| p.zxid() < first);
        for p in self.proposals.range_mut(start..) {
            if p.zxid() > last {
                break;
            }
            f(p);
        }
    }

    /// The proposals from `first` to `last` (inclusive).
    pub fn range(&self, first: Zxid, last: Zxid) -> impl Iterator<Item = &Proposal> {
        self.proposals
            .iter()
            .skip_while(move |p| p.zxid() < first)
            .take_while(move |p| p.zxid() <= last)
    }

    /// The next log write, when the log is idle and records are waiting:
    /// `(first zxid, records)`. At most [`GROUP_COMMIT_BYTES`] (or one txn).
    pub fn next_write(&mut self) -> Option<(Zxid, Bytes)> {
        if self.in_flight.is_some() || self.submitted == self.proposals.len() {
            return None;
        }
        let first = self.proposals[self.submitted].zxid();
        let mut n = 0;
        let mut len = 0;
        for p in self.proposals.range(self.submitted..) {
            if p.bytes.is_empty() {
                break; // prepped this round, not sealed yet
            }
            if self.log_barrier.is_some_and(|e| p.zxid().epoch() >= e) {
                break;
            }
            let rec = record_len(&p.bytes);
            if n > 0 && len + rec > GROUP_COMMIT_BYTES {
                break;
            }
            n += 1;
            len += rec;
        }
        if n == 0 {
            return None;
        }
        let records = self.records.split_to(len).freeze();
        self.submitted += n;
        self.in_flight = Some(n);
        self.last_submitted = self.proposals[self.submitted - 1].zxid();
        Some((first, records))
    }

    /// Txns in the log write in flight (0: none).
    pub fn txns_in_flight(&self) -> usize {
        self.in_flight.unwrap_or(0)
    }

    pub fn write_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The write in flight is durable: its proposals are logged. Returns
    /// their zxids' range (first, last).
    pub fn written(&mut self) -> Option<(Zxid, Zxid)> {
        let n = self.in_flight.take()?;
        let start = self.submitted - n;
        for p in self.proposals.range_mut(start..self.submitted) {
            p.logged = true;
        }
        let first = self.proposals[start].zxid();
        let last = self.proposals[self.submitted - 1].zxid();
        self.last_logged = last;
        Some((first, last))
    }

    /// The write in flight failed: nothing of it counts. Every proposal not
    /// logged is dropped (standalone hands their zxids out again; a member
    /// of an ensemble gives up its role) and returned.
    pub fn drop_unlogged(&mut self) -> Vec<Proposal> {
        self.in_flight = None;
        let keep = self.proposals.iter().take_while(|p| p.logged).count();
        self.submitted = keep;
        self.records.clear();
        self.fresh.clear();
        self.fresh_spans.clear();
        self.last_submitted = self.last_logged;
        self.proposals.drain(keep..).collect()
    }

    /// The next txn to apply, if it may be: committed and logged.
    pub fn pop_appliable(&mut self) -> Option<Proposal> {
        let p = self.proposals.front()?;
        if !(p.committed && p.logged) {
            return None;
        }
        debug_assert!(
            self.fresh_spans.is_empty(),
            "apply before the round was sealed"
        );
        self.submitted -= 1;
        self.proposals.pop_front()
    }

    /// Marks every logged proposal committed: a member leaving its role
    /// applies everything in its log, as ZooKeeper reloads its database
    /// from disk (the election then votes with the last logged zxid).
    pub fn commit_logged(&mut self) {
        for p in self.proposals.iter_mut().take_while(|p| p.logged) {
            p.committed = true;
        }
    }

    /// Forgets everything (the tree was replaced from disk).
    pub fn reset(&mut self, last_logged: Zxid) {
        assert!(self.in_flight.is_none(), "reset with a log write in flight");
        *self = Pipeline::new(last_logged);
    }
}

/// A log record's size on disk for `bytes` of txn.
fn record_len(bytes: &Bytes) -> usize {
    bytes.len() + 13
}

/// `checksum | length | txn bytes | 'B'` (the txn log's record framing).
fn append_record(out: &mut BytesMut, bytes: &[u8]) {
    out.extend_from_slice(&Adler32::of(bytes).to_be_bytes());
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(&[END_OF_RECORD]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{OpCode, SessionId, ZData};

    fn txn(zxid: i64) -> (TxnHeader, Txn) {
        let txn = Txn::SetData {
            path: "/a".into(),
            data: ZData::from(Bytes::from(vec![7u8; 10])),
            version: zxid as i32,
        };
        let hdr = TxnHeader {
            session_id: SessionId(1),
            cxid: zxid as i32,
            zxid: Zxid(zxid),
            time_ms: 0,
            op: OpCode::SetData.as_i32(),
        };
        (hdr, txn)
    }

    #[test]
    fn records_are_the_log_format_of_the_same_bytes_a_proposal_carries() {
        let mut p = Pipeline::new(Zxid(0));
        for z in 1..=3 {
            let (h, t) = txn(z);
            p.push_prepped(h, t, Origin::Server);
        }
        assert!(p.next_write().is_none(), "nothing sealed yet");
        assert_eq!(p.seal(), Some((Zxid(1), Zxid(3))));
        let (first, records) = p.next_write().unwrap();
        assert_eq!(first, Zxid(1));
        let mut expected = BytesMut::new();
        for z in 1..=3 {
            let (h, t) = txn(z);
            crate::storage::format::encode_log_record(&mut expected, &h, &t);
        }
        assert_eq!(&records[..], &expected[..]);
        let second = p.range(Zxid(2), Zxid(2)).next().unwrap();
        assert_eq!(
            crate::storage::format::decode_txn(second.bytes.clone())
                .unwrap()
                .0
                .zxid,
            Zxid(2)
        );
    }

    #[test]
    fn one_write_in_flight_and_the_next_batch_gathers_meanwhile() {
        let mut p = Pipeline::new(Zxid(0));
        let (h, t) = txn(1);
        p.push_prepped(h, t, Origin::Server);
        p.seal();
        assert!(p.next_write().is_some());
        for z in 2..=4 {
            let (h, t) = txn(z);
            p.push_prepped(h, t, Origin::Server);
        }
        p.seal();
        assert!(p.next_write().is_none(), "the first write is in flight");
        assert_eq!(p.written(), Some((Zxid(1), Zxid(1))));
        let (first, _) = p.next_write().unwrap();
        assert_eq!(first, Zxid(2));
        assert_eq!(p.written(), Some((Zxid(2), Zxid(4))));
        assert_eq!(p.last_logged, Zxid(4));
    }

    #[test]
    fn only_committed_and_logged_txns_are_applied_in_order() {
        let mut p = Pipeline::new(Zxid(0));
        for z in 1..=2 {
            let (h, t) = txn(z);
            p.push_prepped(h, t, Origin::Server);
        }
        p.seal();
        p.get_mut(Zxid(2)).unwrap().committed = true;
        p.next_write();
        p.written();
        assert!(p.pop_appliable().is_none(), "1 is not committed");
        p.get_mut(Zxid(1)).unwrap().committed = true;
        assert_eq!(p.pop_appliable().unwrap().zxid(), Zxid(1));
        assert_eq!(p.pop_appliable().unwrap().zxid(), Zxid(2));
    }

    #[test]
    fn a_failed_write_drops_every_unlogged_txn() {
        let mut p = Pipeline::new(Zxid(0));
        for z in 1..=3 {
            let (h, t) = txn(z);
            p.push_prepped(h, t, Origin::Server);
        }
        p.seal();
        p.next_write();
        let dropped = p.drop_unlogged();
        assert_eq!(dropped.len(), 3);
        assert!(p.is_empty() && p.next_write().is_none());
        assert_eq!(p.last_submitted, Zxid(0));
    }

    #[test]
    fn a_group_commit_stops_at_its_size_cap() {
        let mut p = Pipeline::new(Zxid(0));
        let big = Bytes::from(vec![0u8; GROUP_COMMIT_BYTES / 2]);
        for z in 1..=3 {
            let (h, _) = txn(z);
            let t = Txn::SetData {
                path: "/a".into(),
                data: ZData::from(big.clone()),
                version: 0,
            };
            p.push_prepped(h, t, Origin::Server);
        }
        p.seal();
        let (_, first) = p.next_write().unwrap();
        assert!(first.len() <= GROUP_COMMIT_BYTES);
        p.written();
        let (z, _) = p.next_write().unwrap();
        assert_eq!(z, Zxid(2));
    }
}
