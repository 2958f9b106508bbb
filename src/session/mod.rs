//! Sessions: ids, passwords, negotiated timeouts and expiry.
//!
//! The sequencer owns the one [`SessionTracker`]; shards report which of their
//! sessions showed activity (as ZooKeeper followers report session touches in
//! PINGs), and the tracker decides expiry from `now` values it is given.
//! Never reads a clock or a socket, and never closes a session itself: it
//! reports expired ids, and the caller turns each into a closeSession txn and
//! calls [`SessionTracker::remove`] once that txn is applied.
//!
//! Ids and passwords follow Apache ZooKeeper bit for bit
//! (`SessionTrackerImpl.initializeNextSessionId`, `ZooKeeperServer.generatePasswd`)
//! so that a session created here can reattach to a ZooKeeper server of the
//! same ensemble and the other way round. Expiry follows ZooKeeper's
//! `ExpiryQueue`: deadlines are rounded up to the next multiple of the tick, so
//! sessions expire in batches, never before their timeout has passed and at
//! most one tick after.

use crate::proto::SessionId;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The owner value ZooKeeper reserves for container nodes
/// (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`); never handed out as a session id.
const CONTAINER_OWNER: i64 = i64::MIN;

/// `ZooKeeperServer.superSecret`, mixed into every session password seed.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// One tracked session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    /// The negotiated timeout the session was created with.
    pub timeout_ms: i32,
    /// A closeSession is in flight (asked for, or the session expired): the
    /// session can no longer be touched and is not reported as expired again.
    pub closing: bool,
    /// The expiry bucket the session sits in; meaningless once `closing`.
    pub expires_at_ms: i64,
}

/// The session table with ZooKeeper's bucketed expiry.
pub struct SessionTracker {
    /// Width of an expiry bucket: ZooKeeper uses the tick time.
    tick_ms: i64,
    next_session_id: i64,
    sessions: HashMap<SessionId, SessionInfo>,
    /// Expiry time → sessions due then. Holds only sessions that are not
    /// closing; empty buckets are dropped at once so the first key is the next
    /// real deadline. Ordered sets: sessions expire in id order, so the
    /// closeSession txns of one tick get the same zxids on every run.
    buckets: BTreeMap<i64, BTreeSet<SessionId>>,
}

impl SessionTracker {
    /// A tracker for server `server_id` whose buckets are `tick_ms` wide.
    ///
    /// `now_ms` seeds the session id counter. ZooKeeper uses its elapsed-time
    /// clock here; wall-clock milliseconds make a repeat across restarts less
    /// likely. Only the low 8 bits of `server_id` fit the id layout.
    pub fn new(server_id: u64, tick_ms: i64, now_ms: i64) -> SessionTracker {
        assert!(tick_ms > 0, "tick time must be positive, got {tick_ms}");
        SessionTracker {
            tick_ms,
            next_session_id: initial_session_id(server_id, now_ms),
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// The next unused session id (the caller then [`add`](Self::add)s it).
    pub fn next_id(&mut self) -> SessionId {
        loop {
            let id = self.next_session_id;
            self.next_session_id = id.wrapping_add(1);
            // 0 means "no session" on the wire; the container marker is an
            // ephemeral owner value that must never name a real session.
            // Sessions recovered from disk keep their ids.
            if id != 0 && id != CONTAINER_OWNER && !self.sessions.contains_key(&SessionId(id)) {
                return SessionId(id);
            }
        }
    }

    /// Starts tracking a session, or re-arms the expiry of one already known
    /// (ZooKeeper's `trackSession`: a known session keeps its timeout). Used
    /// both for new sessions and for sessions recovered from disk. Returns
    /// whether the session was new.
    pub fn add(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64) -> bool {
        let added = !self.sessions.contains_key(&id);
        let info = self.sessions.entry(id).or_insert(SessionInfo {
            id,
            timeout_ms,
            closing: false,
            expires_at_ms: 0,
        });
        if !info.closing {
            let expires_at_ms =
                round_to_next_tick(now_ms.saturating_add(timeout_ms.into()), self.tick_ms);
            let previous_ms = std::mem::replace(&mut info.expires_at_ms, expires_at_ms);
            if !added {
                unbucket(&mut self.buckets, id, previous_ms);
            }
            self.buckets.entry(expires_at_ms).or_default().insert(id);
        }
        added
    }

    /// Records activity: pushes the session's expiry to `now + timeout`
    /// (rounded up to a tick). False if the session is unknown or closing.
    pub fn touch(&mut self, id: SessionId, now_ms: i64) -> bool {
        let Some(info) = self.sessions.get_mut(&id) else {
            return false;
        };
        if info.closing {
            return false;
        }
        let expires_at_ms =
            round_to_next_tick(now_ms.saturating_add(info.timeout_ms.into()), self.tick_ms);
        if expires_at_ms != info.expires_at_ms {
            unbucket(&mut self.buckets, id, info.expires_at_ms);
            info.expires_at_ms = expires_at_ms;
            self.buckets.entry(expires_at_ms).or_default().insert(id);
        }
        true
    }

    /// Gives every live session a whole timeout from `now_ms`: a new leader
    /// takes over sessions whose touches went to the old one
    /// (`LeaderSessionTracker` starts every known session afresh).
    pub fn touch_all(&mut self, now_ms: i64) {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.touch(id, now_ms);
        }
    }

    /// A closeSession for this session is in flight: it can no longer be
    /// touched and will not be reported by [`expired`](Self::expired).
    pub fn set_closing(&mut self, id: SessionId) {
        if let Some(info) = self.sessions.get_mut(&id)
            && !info.closing
        {
            info.closing = true;
            unbucket(&mut self.buckets, id, info.expires_at_ms);
        }
    }

    /// A closeSession that never reached the log (the write failed): the
    /// session lives on, due to expire `timeout` from now.
    pub fn reopen(&mut self, id: SessionId, now_ms: i64) {
        if let Some(info) = self.sessions.get_mut(&id)
            && info.closing
        {
            info.closing = false;
            let expires_at_ms =
                round_to_next_tick(now_ms.saturating_add(info.timeout_ms.into()), self.tick_ms);
            info.expires_at_ms = expires_at_ms;
            self.buckets.entry(expires_at_ms).or_default().insert(id);
        }
    }

    /// Forgets a session (its closeSession was applied).
    pub fn remove(&mut self, id: SessionId) {
        if let Some(info) = self.sessions.remove(&id)
            && !info.closing
        {
            unbucket(&mut self.buckets, id, info.expires_at_ms);
        }
    }

    pub fn get(&self, id: SessionId) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    /// The sessions whose bucket is due at `now_ms`. Each is marked closing, so
    /// it is reported once; the caller closes it and then calls
    /// [`remove`](Self::remove).
    pub fn expired(&mut self, now_ms: i64) -> Vec<SessionId> {
        std::iter::from_fn(|| self.expire_next(now_ms)).collect()
    }

    /// One session whose deadline has passed at `now_ms`, marked closing and
    /// taken out of the expiry buckets; `None` when none is due. (The
    /// sequencer takes them one at a time to keep a batch within its size.)
    pub fn expire_next(&mut self, now_ms: i64) -> Option<SessionId> {
        loop {
            let mut entry = self.buckets.first_entry()?;
            if *entry.key() > now_ms {
                return None;
            }
            let Some(&id) = entry.get().iter().next() else {
                entry.remove();
                continue;
            };
            entry.get_mut().remove(&id);
            if entry.get().is_empty() {
                entry.remove();
            }
            if let Some(info) = self.sessions.get_mut(&id) {
                info.closing = true;
            }
            return Some(id);
        }
    }

    /// When the next bucket falls due (possibly already past): the time to
    /// call [`expired`](Self::expired) next. None while no session can expire.
    pub fn next_expiry_ms(&self) -> Option<i64> {
        self.buckets.keys().next().copied()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &SessionInfo> {
        self.sessions.values()
    }

    /// Expiry time → sessions due then, in time order (the `dump` four-letter
    /// word and the admin `dump` command). Rarely called; allocates.
    pub fn expiry_buckets(&self) -> Vec<(i64, Vec<SessionId>)> {
        self.buckets
            .iter()
            .map(|(at_ms, ids)| {
                let mut ids: Vec<SessionId> = ids.iter().copied().collect();
                ids.sort();
                (*at_ms, ids)
            })
            .collect()
    }
}

/// `((now << 24) >>> 8) | (server_id << 56)`: the server id in the top byte,
/// 40 bits of the clock below it and a zero 16-bit counter at the bottom.
fn initial_session_id(server_id: u64, now_ms: i64) -> i64 {
    let id = (((now_ms as u64) << 24) >> 8) | (server_id << 56);
    let id = id as i64;
    if id == CONTAINER_OWNER { id + 1 } else { id }
}

/// `ExpiryQueue.roundToNextInterval`: the first bucket boundary strictly after `time_ms`.
fn round_to_next_tick(time_ms: i64, tick_ms: i64) -> i64 {
    (time_ms / tick_ms)
        .saturating_add(1)
        .saturating_mul(tick_ms)
}

fn unbucket(buckets: &mut BTreeMap<i64, BTreeSet<SessionId>>, id: SessionId, at_ms: i64) {
    if let Some(set) = buckets.get_mut(&at_ms) {
        set.remove(&id);
        if set.is_empty() {
            buckets.remove(&at_ms);
        }
    }
}

/// The password of a session, exactly as ZooKeeper derives it:
/// `new java.util.Random(id ^ superSecret).nextBytes(new byte[16])`.
pub fn password(id: SessionId) -> [u8; 16] {
    let mut random = JavaRandom::new(id.0 ^ SUPER_SECRET);
    let mut out = [0u8; 16];
    random.next_bytes(&mut out);
    out
}

/// ZooKeeper's `checkPasswd`: session 0 never matches.
pub fn check_password(id: SessionId, passwd: &[u8]) -> bool {
    id.0 != 0 && passwd == password(id).as_slice()
}

/// The timeout a session gets: the request clamped to `[min_ms, max_ms]`, the
/// lower bound applied first as `ZooKeeperServer.processConnectRequest` does
/// (so `max_ms` wins if the bounds are inverted).
pub fn negotiate_timeout(requested_ms: i32, min_ms: i32, max_ms: i32) -> i32 {
    let mut timeout_ms = requested_ms;
    if timeout_ms < min_ms {
        timeout_ms = min_ms;
    }
    if timeout_ms > max_ms {
        timeout_ms = max_ms;
    }
    timeout_ms
}

/// `java.util.Random`: a 48-bit linear congruential generator, as specified in
/// its Javadoc (Knuth, TAOCP vol. 2, §3.2.1).
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const ADDEND: u64 = 0xB;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> JavaRandom {
        JavaRandom {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    /// `next(bits)`: the top `bits` of the advanced 48-bit state.
    fn next(&mut self, bits: u32) -> i32 {
        self.seed = self
            .seed
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::ADDEND)
            & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `nextBytes`: each `nextInt()` supplies up to 4 bytes, low byte first.
    fn next_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(4) {
            let bytes = self.next_int().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK_MS: i64 = 2000;

    // Expected bytes printed by Java 17 (OpenJDK 17.0.15), a single-file program
    // run as `java Pw.java` doing, for each id,
    //   Random r = new Random(id ^ 0xB3415C00L); byte[] p = new byte[16]; r.nextBytes(p);
    // — the body of ZooKeeperServer.generatePasswd — and printing p as hex.
    // (0x0100000000000001 and 1 give the same bytes: Random keeps 48 seed bits.)
    #[test]
    fn password_matches_java_generate_passwd() {
        let cases: [(u64, [u8; 16]); 7] = [
            (
                0x0100_0000_0000_0001,
                [
                    0x05, 0x4c, 0xc7, 0x4a, 0x37, 0x32, 0x7d, 0xb2, 0x15, 0xe7, 0x02, 0xe2, 0x0c,
                    0x73, 0xf0, 0x05,
                ],
            ),
            (
                0x0000_0000_0000_1234,
                [
                    0x3c, 0x18, 0xab, 0xe0, 0x5b, 0x0e, 0x61, 0x82, 0x74, 0x1d, 0x62, 0x5d, 0x12,
                    0x7c, 0x15, 0xb0,
                ],
            ),
            (
                0x0000_0000_0000_0001,
                [
                    0x05, 0x4c, 0xc7, 0x4a, 0x37, 0x32, 0x7d, 0xb2, 0x15, 0xe7, 0x02, 0xe2, 0x0c,
                    0x73, 0xf0, 0x05,
                ],
            ),
            (
                0x0100_017f_3a2b_0000,
                [
                    0x57, 0xb2, 0xb9, 0xb5, 0x98, 0x4a, 0x14, 0xdd, 0x8d, 0x1e, 0xc9, 0x98, 0xa1,
                    0xf8, 0xb2, 0xc4,
                ],
            ),
            (
                0x72ab_9c3d_4000_0005,
                [
                    0x51, 0x90, 0xcb, 0x64, 0xb7, 0x20, 0x4b, 0xd2, 0xea, 0xb2, 0x81, 0x5a, 0x5a,
                    0x56, 0xe1, 0x6e,
                ],
            ),
            (
                0xffff_ffff_ffff_ffff,
                [
                    0x20, 0xf6, 0x2c, 0xb5, 0x64, 0x8d, 0xc2, 0xd7, 0x71, 0x47, 0x1c, 0x8a, 0x24,
                    0x86, 0xa9, 0xee,
                ],
            ),
            (
                0x0000_0000_0000_0000,
                [
                    0xf2, 0x2a, 0xcd, 0x4a, 0x97, 0xe6, 0x9d, 0x6d, 0x20, 0xa4, 0x9b, 0xb6, 0x38,
                    0xea, 0xdb, 0x38,
                ],
            ),
        ];
        for (id, expected) in cases {
            assert_eq!(password(SessionId(id as i64)), expected, "session 0x{id:x}");
        }
    }

    #[test]
    fn password_ignores_seed_bits_above_48_like_java() {
        // Java printed the same bytes for 0x8000000000000001 as for 1.
        assert_eq!(
            password(SessionId(0x8000_0000_0000_0001_u64 as i64)),
            password(SessionId(1))
        );
    }

    #[test]
    fn check_password_rejects_session_zero_and_wrong_bytes() {
        let id = SessionId(0x0100_017f_3a2b_0000);
        assert!(check_password(id, &password(id)));
        assert!(!check_password(id, &[0u8; 16]));
        assert!(!check_password(id, &password(id)[..15]));
        assert!(!check_password(SessionId(0), &password(SessionId(0))));
    }

    #[test]
    fn session_id_has_server_id_in_top_byte_and_clock_below() {
        let now_ms: i64 = 0x017f_3a2b_c0de;
        let mut t = SessionTracker::new(7, TICK_MS, now_ms);
        let first = t.next_id();
        // (now << 24) >>> 8 keeps the low 40 bits of the clock in bits 16..56.
        assert_eq!(
            first.0 as u64,
            (7u64 << 56) | ((now_ms as u64 & 0xff_ffff_ffff) << 16)
        );
        assert_eq!((first.0 as u64) >> 56, 7);
        assert_eq!(first.0 & 0xffff, 0);
        assert_eq!(t.next_id().0, first.0 + 1);
    }

    #[test]
    fn server_id_bits_never_mix_with_the_clock() {
        // Clock bit 39 lands in bit 63 after `<< 24`; the unsigned `>>> 8`
        // must not smear it over the server byte (ZOOKEEPER-1622).
        let now_ms: i64 = (1 << 39) | 0x1234;
        let mut t = SessionTracker::new(1, TICK_MS, now_ms);
        let id = t.next_id().0 as u64;
        assert_eq!(id >> 56, 1);
        assert_eq!(id, (1 << 56) | (1 << 55) | (0x1234 << 16));
        let mut t0 = SessionTracker::new(0, TICK_MS, -1);
        assert_eq!((t0.next_id().0 as u64) >> 56, 0);
    }

    #[test]
    fn container_marker_is_never_a_session_id() {
        // server 0x80 with a clock whose low 40 bits are zero lands exactly on the marker.
        let mut t = SessionTracker::new(0x80, TICK_MS, 1 << 40);
        let id = t.next_id();
        assert_ne!(id.0, CONTAINER_OWNER);
        assert_eq!(id.0, CONTAINER_OWNER + 1);
        // and the counter skips it on the way past as well
        t.next_session_id = i64::MAX;
        assert_eq!(t.next_id().0, i64::MAX);
        assert_eq!(t.next_id().0, CONTAINER_OWNER + 1);
    }

    #[test]
    fn expiry_is_rounded_up_to_the_next_tick_bucket() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        let a = SessionId(1);
        let b = SessionId(2);
        t.add(a, 5000, 10_100); // 15_100 → bucket 16_000
        t.add(b, 5000, 10_900); // 15_900 → bucket 16_000
        assert_eq!(t.get(a).map(|s| s.expires_at_ms), Some(16_000));
        assert_eq!(t.next_expiry_ms(), Some(16_000));
        assert!(t.expired(15_999).is_empty());
        let mut due = t.expired(16_000);
        due.sort();
        assert_eq!(due, vec![a, b]);
    }

    #[test]
    fn due_sessions_come_out_one_at_a_time_across_buckets() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        let (a, b, c, late) = (SessionId(1), SessionId(2), SessionId(3), SessionId(4));
        t.add(a, 4000, 0);
        t.add(b, 4000, 0);
        t.add(c, 4000, 4000);
        t.add(late, 40_000, 0);
        let mut due = Vec::new();
        while let Some(id) = t.expire_next(12_000) {
            assert_eq!(t.get(id).map(|i| i.closing), Some(true));
            due.push(id);
        }
        due.sort();
        assert_eq!(due, vec![a, b, c]);
        // Emptied buckets are gone: the next deadline is the late session's.
        assert!(t.next_expiry_ms().is_some_and(|ms| ms > 12_000));
        assert_eq!(t.expire_next(12_000), None);
    }

    #[test]
    fn exact_boundary_deadline_goes_to_the_following_bucket() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        t.add(SessionId(1), 4000, 2000); // 6000 is a boundary: ZooKeeper rounds to 8000
        assert_eq!(t.next_expiry_ms(), Some(8000));
        assert!(t.expired(7999).is_empty());
        assert_eq!(t.expired(8000), vec![SessionId(1)]);
    }

    #[test]
    fn expired_session_is_reported_once_and_marked_closing() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        let s = SessionId(9);
        t.add(s, 4000, 0);
        assert_eq!(t.expired(100_000), vec![s]);
        assert!(t.expired(200_000).is_empty());
        assert_eq!(t.get(s).map(|i| i.closing), Some(true));
        assert!(
            !t.touch(s, 200_000),
            "an expiring session cannot be revived"
        );
        assert_eq!(t.next_expiry_ms(), None);
        assert_eq!(
            t.len(),
            1,
            "still tracked until its closeSession is applied"
        );
        t.remove(s);
        assert!(t.is_empty());
    }

    #[test]
    fn touch_pushes_expiry_to_a_later_bucket() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        let s = SessionId(3);
        t.add(s, 4000, 0); // bucket 6000
        assert!(t.touch(s, 3000)); // 7000 → bucket 8000
        assert_eq!(t.next_expiry_ms(), Some(8000));
        assert!(t.expired(6000).is_empty());
        assert!(t.expired(7999).is_empty());
        assert_eq!(t.expired(8000), vec![s]);
    }

    #[test]
    fn touch_of_unknown_or_closing_session_is_refused() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        assert!(!t.touch(SessionId(42), 0));
        t.add(SessionId(5), 4000, 0);
        t.set_closing(SessionId(5));
        assert!(!t.touch(SessionId(5), 1000));
    }

    #[test]
    fn closing_session_is_not_reported_as_expired() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        t.add(SessionId(1), 4000, 0);
        t.add(SessionId(2), 4000, 0);
        t.set_closing(SessionId(1));
        assert_eq!(t.expired(1_000_000), vec![SessionId(2)]);
    }

    #[test]
    fn removed_session_leaves_no_deadline_behind() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        t.add(SessionId(1), 4000, 0);
        t.add(SessionId(2), 20_000, 0);
        t.remove(SessionId(1));
        assert_eq!(t.next_expiry_ms(), Some(22_000));
        assert!(t.get(SessionId(1)).is_none());
        assert_eq!(t.expired(1_000_000), vec![SessionId(2)]);
    }

    #[test]
    fn late_call_collects_every_overdue_bucket() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        t.add(SessionId(1), 4000, 0);
        t.add(SessionId(2), 10_000, 0);
        t.add(SessionId(3), 60_000, 0);
        let mut due = t.expired(30_000);
        due.sort();
        assert_eq!(due, vec![SessionId(1), SessionId(2)]);
        assert_eq!(t.next_expiry_ms(), Some(62_000));
    }

    #[test]
    fn re_adding_a_known_session_keeps_its_timeout_and_rearms_expiry() {
        let mut t = SessionTracker::new(1, TICK_MS, 0);
        assert!(t.add(SessionId(1), 4000, 0));
        assert!(!t.add(SessionId(1), 30_000, 10_000));
        let info = t.get(SessionId(1)).cloned();
        assert_eq!(info.as_ref().map(|i| i.timeout_ms), Some(4000));
        assert_eq!(info.map(|i| i.expires_at_ms), Some(42_000));
        assert_eq!(t.expiry_buckets(), vec![(42_000, vec![SessionId(1)])]);
    }

    #[test]
    fn negotiate_clamps_to_min_and_max() {
        assert_eq!(negotiate_timeout(1000, 4000, 40_000), 4000);
        assert_eq!(negotiate_timeout(100_000, 4000, 40_000), 40_000);
        assert_eq!(negotiate_timeout(10_000, 4000, 40_000), 10_000);
        assert_eq!(negotiate_timeout(-5, 4000, 40_000), 4000);
        // inverted bounds: the max check runs last, as in ZooKeeperServer
        assert_eq!(negotiate_timeout(1000, 9000, 5000), 5000);
    }
}
