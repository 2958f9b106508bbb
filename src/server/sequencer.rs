//! The sequencer task: the only writer of the tree. It gathers what every
//! shard queued and preps writes into txns; the batch is written to the txn
//! log as one group commit (one synced write, on the log's own io_uring ring,
//! from this executor) and, once durable, applied under the tree's write
//! lock, with replies and watch triggers routed back to the shards — triggers
//! queued before the lock is released, so no shard can read a change whose
//! events are not yet queued for it. While one batch is being written the
//! next one gathers in the shards' queues, and goes out as one write the
//! moment the first returns.

use super::bell::Bell;
use super::messages::{Batch, Reply, ShardId, ToSequencer};
use super::shared::{QUEUE_CAPACITY, SequencerWiring, Shared, now_ms};
use crate::proto::request::Request;
use crate::proto::txn::{Txn, TxnHeader};
use crate::proto::{ConnectResponse, ErrorCode, Response, SessionId, Zxid};
use crate::sequencer::prep::{Prep, PrepConfig, Prepped, WriteRequest};
use crate::session::{SessionTracker, password};
use crate::storage::format::encode_log_record;
use crate::storage::log::TxnLog;
use crate::tree::Trigger;
use crate::watch::ConnId;
use bytes::{Bytes, BytesMut};
use glommio::channels::local_channel;
use glommio::channels::shared_channel::ConnectedSender;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Duration;

/// A group commit stops taking new requests once its records pass this many
/// bytes (the rest wait for the next write). Bounds one log write, and so
/// what recovery may treat as a torn tail.
pub const GROUP_COMMIT_BYTES: usize = 4 << 20;

/// What the sequencer needs from storage.
pub struct Storage {
    /// The txn log, appended to from the sequencer's executor.
    pub log: TxnLog,
    /// Sessions recovered from disk, with their timeouts.
    pub sessions: BTreeMap<SessionId, i32>,
    /// Where snapshots go (`dataDir/version-2`).
    pub snap_dir: PathBuf,
}

/// The longest the sequencer (and a shard's dispatcher) waits for a bell
/// before looking at its queues anyway.
pub const SAFETY_POLL_MS: i64 = 50;

/// One unit of work in a batch, in arrival order.
enum Step {
    Txn {
        shard: ShardId,
        conn: Option<ConnId>,
        xid: i32,
        hdr: TxnHeader,
        txn: Txn,
        then: AfterApply,
    },
    Failed {
        shard: ShardId,
        conn: ConnId,
        xid: i32,
        err: ErrorCode,
    },
    Read {
        shard: ShardId,
        conn: ConnId,
        xid: i32,
        req: WriteRequest,
    },
    Local {
        shard: ShardId,
        conn: ConnId,
        xid: i32,
        req: Request,
    },
    /// A handshake that cannot be served: answered as an expired session.
    Refuse { shard: ShardId, conn: ConnId },
    Reattach {
        shard: ShardId,
        conn: ConnId,
        session: SessionId,
        passwd: Bytes,
        timeout_ms: i32,
    },
}

/// Bookkeeping a txn needs once applied.
enum AfterApply {
    Reply,
    SessionCreated { timeout_ms: i32 },
    SessionClosed { session: SessionId },
}

struct Owner {
    shard: ShardId,
    conn: ConnId,
}

struct Sequencer {
    shared: Arc<Shared>,
    prep: Prep,
    sessions: SessionTracker,
    owners: HashMap<SessionId, Owner>,
    to_shards: Vec<ConnectedSender<()>>,
    next_container_check_ms: i64,
    log: LogLink,
    snap: Snapshots,
    /// The sequencer's own bell (what the shards ring).
    wake: Rc<local_channel::LocalSender<()>>,
    /// How long the last round's vectors got: the next round allocates
    /// them at that size at once instead of growing them step by step
    /// (each growth copies; ~10 per round cost ~400 instructions per write).
    sizes: BatchSizes,
}

#[derive(Default)]
struct BatchSizes {
    steps: usize,
    triggers: usize,
    /// Per shard.
    replies: Vec<usize>,
}

/// The txn log and what its next write needs.
struct LogLink {
    txn_log: TxnLog,
    /// The round's txns encoded as log records (one buffer, reused).
    records: BytesMut,
    /// A snapshot began: the next write starts a new segment.
    roll_before: bool,
}

impl LogLink {
    /// Appends the log records of the txns among `steps`.
    fn encode(&mut self, steps: &[Step]) {
        for step in steps {
            if let Step::Txn { hdr, txn, .. } = step {
                encode_log_record(&mut self.records, hdr, txn);
            }
        }
    }
}

/// When to snapshot, and whether one is being taken.
struct Snapshots {
    dir: PathBuf,
    txns_since: u64,
    /// `snapCount/2 + rand(snapCount/2)`, drawn after each snapshot.
    threshold: u64,
    running: Arc<AtomicBool>,
}

fn snapshot_threshold(snap_count: u32) -> u64 {
    let half = (snap_count as u64 / 2).max(1);
    half + rand::random::<u64>() % half
}

pub async fn run(
    shared: Arc<Shared>,
    wiring: SequencerWiring,
    storage: Storage,
) -> anyhow::Result<()> {
    // Every shard's bell, and the sequencer's own ringer (used to come back
    // at once after a capped batch), wake this one task. The relays are
    // spawned before the senders connect: `connect` waits for the peer.
    let (bell, wake_tx) = Bell::new(wiring.from_shards);
    let mut to_shards = Vec::new();
    for tx in wiring.to_shards {
        to_shards.push(tx.connect().await);
    }
    let cfg = &shared.config;
    let last_zxid = shared.tree.read().last_zxid();
    let unpin = shared.tree.write().unpin();
    if let Some(unpin) = unpin {
        glommio::spawn_local(unpin_tree(shared.clone(), unpin)).detach();
    }
    let now = now_ms();
    let mut sessions = SessionTracker::new(shared.server_id, cfg.tick_time_ms as i64, now);
    for (&id, &timeout_ms) in &storage.sessions {
        sessions.add(id, timeout_ms, now);
    }
    let mut seq = Sequencer {
        log: LogLink {
            txn_log: storage.log,
            records: BytesMut::with_capacity(1 << 16),
            roll_before: false,
        },
        snap: Snapshots {
            dir: storage.snap_dir,
            txns_since: 0,
            threshold: snapshot_threshold(cfg.snap_count),
            running: Arc::new(AtomicBool::new(false)),
        },
        prep: Prep::new(
            PrepConfig {
                extended_types_enabled: cfg.extended_types_enabled,
                eager_acl_check: cfg.eager_acl_check,
                reconfig_enabled: cfg.reconfig_enabled,
                jute_max_buffer: cfg.jute_max_buffer,
            },
            last_zxid,
        ),
        sessions,
        wake: wake_tx.clone(),
        owners: HashMap::new(),
        to_shards,
        next_container_check_ms: now + cfg.container_check_interval_ms as i64,
        shared: shared.clone(),
        sizes: BatchSizes::default(),
    };
    loop {
        let now = now_ms();
        let next_deadline = seq
            .sessions
            .next_expiry_ms()
            .unwrap_or(now + 1000)
            .min(seq.next_container_check_ms);
        // Never sleep long on the bell alone: a cross-core wakeup that goes
        // missing costs at most this much latency, never a stuck request.
        let wait_ms = (next_deadline - now).clamp(1, SAFETY_POLL_MS) as u64;
        // Rung or not: the round looks at everything due either way.
        let _ = bell.wait(Duration::from_millis(wait_ms)).await;
        seq.round().await;
    }
}

impl Sequencer {
    /// One round: gather what is queued (plus due expiries and container
    /// checks) into a batch, write its txns to the log, apply it.
    async fn round(&mut self) {
        let now = now_ms();
        let mut steps = Vec::with_capacity(self.sizes.steps);
        let mut more = false;
        let mut encoded = 0;
        {
            let shared = self.shared.clone();
            let tree = shared.tree.read();
            'shards: for shard in &shared.shards {
                while let Some(msg) = shard.outbound.pop() {
                    self.admit(&tree, msg, now, &mut steps);
                    self.log.encode(&steps[encoded..]);
                    encoded = steps.len();
                    if self.log.records.len() > GROUP_COMMIT_BYTES {
                        more = true;
                        break 'shards;
                    }
                }
            }
            // Expiries and container deletions stay within the batch size
            // too (recovery's torn-tail reach assumes it); what is left over
            // goes into the next round.
            while self.log.records.len() <= GROUP_COMMIT_BYTES {
                let Some(session) = self.sessions.expire_next(now) else {
                    break;
                };
                tracing::info!("Expiring session {session}, timeout exceeded");
                self.close_session(&tree, session, 0, None, now, &mut steps);
                self.log.encode(&steps[encoded..]);
                encoded = steps.len();
            }
            if self.sessions.next_expiry_ms().is_some_and(|t| t <= now) {
                more = true;
            }
            if now >= self.next_container_check_ms && self.log.records.len() <= GROUP_COMMIT_BYTES {
                self.next_container_check_ms =
                    now + self.shared.config.container_check_interval_ms as i64;
                // Cut short by the size, the rest waits for the next check
                // (as it would for `znode.container.maxPerMinute`).
                self.check_containers(&tree, now, &mut steps);
                encoded = steps.len();
            }
        }
        self.log.encode(&steps[encoded..]);
        self.sizes.steps = steps.len();
        self.commit(steps).await;
        if more {
            // Left in the queues by the size cap: come back at once.
            let _ = self.wake.try_send(());
        }
    }

    /// Writes the gathered batch to the log (one synced write) and applies
    /// it; a batch without txns (reads and refusals ordered behind nothing)
    /// is applied at once. The write blocks this executor: meanwhile the
    /// shards keep queueing, and all of it is the next group commit. (A
    /// separate log-writer executor was measured: two more cross-core
    /// wakeups per batch cost 2.8 µs of server CPU per write here.)
    async fn commit(&mut self, steps: Vec<Step>) {
        let first_zxid = steps.iter().find_map(|s| match s {
            Step::Txn { hdr, .. } => Some(hdr.zxid),
            _ => None,
        });
        let Some(first_zxid) = first_zxid else {
            if !steps.is_empty() {
                self.wait_for_room().await;
                self.apply(steps, now_ms());
            }
            return;
        };
        if std::mem::take(&mut self.log.roll_before) {
            self.log.txn_log.roll();
        }
        let result = self.log.txn_log.append(first_zxid, &self.log.records);
        self.log.records.clear();
        self.written(steps, result).await;
    }

    /// The batch's log write returned: apply it, or refuse its writes.
    async fn written(&mut self, steps: Vec<Step>, result: std::io::Result<()>) {
        match result {
            Ok(()) => {
                let txns = steps
                    .iter()
                    .filter(|s| matches!(s, Step::Txn { .. }))
                    .count() as u64;
                self.wait_for_room().await;
                self.apply(steps, now_ms());
                self.snap.txns_since += txns;
                self.maybe_snapshot();
            }
            Err(e) => {
                tracing::error!(
                    "Writing the txn log failed: {e}. The writes of this batch are refused \
                     (SystemError); reads go on; writes resume once the log can be written."
                );
                // Nothing else was prepped on top of the batch (the next one
                // gathers only after this returns): forget its outstanding
                // changes, so its zxids are handed out again.
                self.prep.rollback();
                let now = now_ms();
                let refused = self.refuse_txns(steps, now);
                self.wait_for_room().await;
                self.apply(refused, now);
            }
        }
    }

    /// Turns the txns of a batch whose log write failed into refusals; the
    /// rest of the batch (reads, handshakes) is served as usual.
    fn refuse_txns(&mut self, steps: Vec<Step>, now: i64) -> Vec<Step> {
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            let Step::Txn {
                shard,
                conn,
                xid,
                hdr,
                then,
                ..
            } = step
            else {
                out.push(step);
                continue;
            };
            match then {
                AfterApply::SessionCreated { .. } => {
                    self.sessions.remove(hdr.session_id);
                    self.owners.remove(&hdr.session_id);
                    if let Some(conn) = conn {
                        out.push(Step::Refuse { shard, conn });
                    }
                    continue;
                }
                AfterApply::SessionClosed { session } => self.sessions.reopen(session, now),
                AfterApply::Reply => {}
            }
            // Server-initiated txns (expiry, container deletion) have no one
            // to answer; they are tried again later.
            if let Some(conn) = conn {
                out.push(Step::Failed {
                    shard,
                    conn,
                    xid,
                    err: ErrorCode::SystemError,
                });
            }
        }
        out
    }

    /// After snapCount/2 + rand(snapCount/2) txns: roll the log and write a
    /// fuzzy snapshot on a thread of its own (the sequencer never waits).
    fn maybe_snapshot(&mut self) {
        if self.snap.txns_since < self.snap.threshold || self.snap.running.load(SeqCst) {
            return;
        }
        self.snap.txns_since = 0;
        self.snap.threshold = snapshot_threshold(self.shared.config.snap_count);
        self.log.roll_before = true;
        self.snap.running.store(true, SeqCst);
        let sessions: Vec<(SessionId, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        let (walk, first, zxid) = {
            let tree = self.shared.tree.read();
            let zxid = tree.last_zxid();
            let (walk, first) = crate::storage::snapshot::Walk::start(&tree, &sessions, zxid);
            (walk, first, zxid)
        };
        // The file is written by a thread of its own; the walk runs here, on
        // the sequencer, a chunk at a time between rounds (`walk_snapshot`).
        let (chunks, inbox) = crossbeam::channel::bounded::<Bytes>(SNAPSHOT_QUEUE_CHUNKS);
        let (dir, running) = (self.snap.dir.clone(), self.snap.running.clone());
        let spawned = std::thread::Builder::new()
            .name("corral-snapshot".into())
            .spawn(move || {
                background_priority();
                let started = std::time::Instant::now();
                match write_snapshot(&dir, zxid, inbox) {
                    Ok(Some((path, bytes))) => tracing::info!(
                        "Snapshot {} written: {bytes} bytes in {} ms",
                        path.display(),
                        started.elapsed().as_millis()
                    ),
                    Ok(None) => tracing::error!("Snapshot at zxid {zxid} abandoned"),
                    Err(e) => tracing::error!("Snapshot at zxid {zxid} failed: {e}"),
                }
                running.store(false, SeqCst);
            });
        match spawned {
            Ok(_) => {
                glommio::spawn_local(walk_snapshot(self.shared.clone(), walk, first, chunks))
                    .detach();
            }
            Err(e) => {
                tracing::error!("Could not start a snapshot: {e}");
                self.snap.running.store(false, SeqCst);
            }
        }
    }

    fn admit(
        &mut self,
        tree: &crate::tree::DataTree,
        msg: ToSequencer,
        now: i64,
        steps: &mut Vec<Step>,
    ) {
        match msg {
            ToSequencer::Request {
                shard,
                conn,
                xid,
                req,
            } => match &req.request {
                Request::CloseSession => {
                    let session = req.session;
                    self.close_session(tree, session, xid, Some((shard, conn)), now, steps);
                }
                Request::Sync { .. }
                | Request::Exists { .. }
                | Request::GetData { .. }
                | Request::GetChildren { .. }
                | Request::GetChildren2 { .. }
                | Request::GetAcl { .. }
                | Request::GetEphemerals { .. }
                | Request::GetAllChildrenNumber { .. }
                | Request::MultiRead(_) => {
                    steps.push(Step::Read {
                        shard,
                        conn,
                        xid,
                        req,
                    });
                }
                Request::AddWatch { .. }
                | Request::CheckWatches { .. }
                | Request::RemoveWatches { .. }
                | Request::WhoAmI => {
                    steps.push(Step::Local {
                        shard,
                        conn,
                        xid,
                        req: req.request,
                    });
                }
                _ => match self.prep.prep(tree, &req, now) {
                    Prepped::Txn { hdr, txn } => steps.push(Step::Txn {
                        shard,
                        conn: Some(conn),
                        xid,
                        hdr,
                        txn,
                        then: AfterApply::Reply,
                    }),
                    Prepped::Failed(err) => steps.push(Step::Failed {
                        shard,
                        conn,
                        xid,
                        err,
                    }),
                },
            },
            ToSequencer::CreateSession {
                shard,
                conn,
                timeout_ms,
            } => {
                let session = self.sessions.next_id();
                self.sessions.add(session, timeout_ms, now);
                self.owners.insert(session, Owner { shard, conn });
                match self.prep.prep_create_session(session, timeout_ms, now) {
                    Prepped::Txn { hdr, txn } => steps.push(Step::Txn {
                        shard,
                        conn: Some(conn),
                        xid: 0,
                        hdr,
                        txn,
                        then: AfterApply::SessionCreated { timeout_ms },
                    }),
                    Prepped::Failed(err) => {
                        // Only at zxid exhaustion: refuse the handshake rather
                        // than leave the connection waiting for an answer.
                        tracing::error!("createSession prep failed: {err:?}");
                        self.sessions.remove(session);
                        self.owners.remove(&session);
                        steps.push(Step::Refuse { shard, conn });
                    }
                }
            }
            ToSequencer::Reattach {
                shard,
                conn,
                session,
                passwd,
                timeout_ms,
            } => {
                steps.push(Step::Reattach {
                    shard,
                    conn,
                    session,
                    passwd,
                    timeout_ms,
                });
            }
            ToSequencer::Touch { sessions } => {
                for s in sessions {
                    self.sessions.touch(s, now);
                }
            }
            ToSequencer::Disconnected { conn, session } => {
                if self.owners.get(&session).is_some_and(|o| o.conn == conn) {
                    self.owners.remove(&session);
                }
            }
        }
    }

    fn close_session(
        &mut self,
        tree: &crate::tree::DataTree,
        session: SessionId,
        xid: i32,
        from: Option<(ShardId, ConnId)>,
        now: i64,
        steps: &mut Vec<Step>,
    ) {
        self.sessions.set_closing(session);
        match self.prep.prep_close_session(tree, session, xid, now) {
            Prepped::Txn { hdr, txn } => {
                let (shard, conn) = match from {
                    Some((s, c)) => (s, Some(c)),
                    None => (0, None),
                };
                steps.push(Step::Txn {
                    shard,
                    conn,
                    xid,
                    hdr,
                    txn,
                    then: AfterApply::SessionClosed { session },
                });
            }
            Prepped::Failed(err) => {
                if let Some((shard, conn)) = from {
                    steps.push(Step::Failed {
                        shard,
                        conn,
                        xid,
                        err,
                    });
                }
            }
        }
    }

    /// ContainerManager: empty containers that once had children, and TTL
    /// nodes past their TTL with no children, are deleted by the server.
    /// Queues deletes of empty containers and expired TTL nodes, each
    /// encoded into the batch's records as it goes (stopping once the batch
    /// is full).
    fn check_containers(&mut self, tree: &crate::tree::DataTree, now: i64, steps: &mut Vec<Step>) {
        let mut candidates: Vec<crate::proto::ZString> = Vec::new();
        for path in tree.containers() {
            if let Some(n) = tree.get(path)
                && n.children.is_empty()
                && n.cversion > 0
            {
                candidates.push(path.clone());
            }
        }
        for path in tree.ttls() {
            if let Some(n) = tree.get(path) {
                let ttl_ms = crate::tree::node::ttl_of(n.ephemeral_owner);
                if n.children.is_empty() && now - n.mtime > ttl_ms {
                    candidates.push(path.clone());
                }
            }
        }
        let max = self.shared.config.container_max_per_minute.max(1) as usize;
        for path in candidates.into_iter().take(max) {
            if self.log.records.len() > GROUP_COMMIT_BYTES {
                break;
            }
            if let Prepped::Txn { hdr, txn } = self.prep.prep_delete_container(tree, &path, now) {
                steps.push(Step::Txn {
                    shard: 0,
                    conn: None,
                    xid: 0,
                    hdr,
                    txn,
                    then: AfterApply::Reply,
                });
                self.log.encode(&steps[steps.len() - 1..]);
            }
        }
    }

    /// Waits until every shard can take one more batch, so that publishing
    /// never has to wait while holding the tree's write lock.
    async fn wait_for_room(&self) {
        for shard in &self.shared.shards {
            while shard.inbound.len() >= QUEUE_CAPACITY - 1 {
                glommio::timer::sleep(Duration::from_micros(200)).await;
            }
        }
    }

    fn apply(&mut self, steps: Vec<Step>, now: i64) {
        let shards = self.shared.shards.len();
        let mut triggers: Vec<Trigger> = Vec::with_capacity(self.sizes.triggers);
        let mut replies: Vec<Vec<(usize, Reply)>> = (0..shards)
            .map(|i| Vec::with_capacity(self.sizes.replies.get(i).copied().unwrap_or(0)))
            .collect();
        let mut tree = self.shared.tree.write();
        for step in steps {
            match step {
                Step::Txn {
                    shard,
                    conn,
                    xid,
                    hdr,
                    txn,
                    then,
                } => {
                    let result = tree.apply(&hdr, &txn, &mut triggers);
                    self.prep.applied(hdr.zxid);
                    let at = triggers.len();
                    if let AfterApply::SessionClosed { session } = then {
                        self.sessions.remove(session);
                        if let Some(owner) = self.owners.remove(&session)
                            && Some(owner.conn) != conn
                        {
                            replies[owner.shard].push((at, Reply::Close { conn: owner.conn }));
                        }
                    }
                    let Some(conn) = conn else { continue };
                    let reply = match then {
                        AfterApply::SessionCreated { timeout_ms } => Reply::Connected {
                            conn,
                            response: Some(connect_response(hdr.session_id, timeout_ms)),
                        },
                        AfterApply::Reply | AfterApply::SessionClosed { .. } => Reply::Done {
                            conn,
                            xid,
                            zxid: hdr.zxid,
                            result,
                            watches: Vec::new(),
                        },
                    };
                    replies[shard].push((at, reply));
                }
                Step::Failed {
                    shard,
                    conn,
                    xid,
                    err,
                } => {
                    replies[shard].push((
                        triggers.len(),
                        Reply::Done {
                            conn,
                            xid,
                            zxid: tree.last_zxid(),
                            result: Err(err),
                            watches: Vec::new(),
                        },
                    ));
                }
                Step::Read {
                    shard,
                    conn,
                    xid,
                    req,
                } => {
                    let (result, watches) = match &req.request {
                        Request::Sync { path } => (Ok(Response::Path(path.clone())), Vec::new()),
                        other => {
                            let o =
                                crate::tree::read::execute(&tree, other, &req.auth, req.session);
                            let watches = o.watches().cloned().collect();
                            (o.result, watches)
                        }
                    };
                    replies[shard].push((
                        triggers.len(),
                        Reply::Done {
                            conn,
                            xid,
                            zxid: tree.last_zxid(),
                            result,
                            watches,
                        },
                    ));
                }
                Step::Local {
                    shard,
                    conn,
                    xid,
                    req,
                } => {
                    replies[shard].push((
                        triggers.len(),
                        Reply::Local {
                            conn,
                            xid,
                            zxid: tree.last_zxid(),
                            request: req,
                        },
                    ));
                }
                Step::Refuse { shard, conn } => {
                    replies[shard].push((
                        triggers.len(),
                        Reply::Connected {
                            conn,
                            response: None,
                        },
                    ));
                }
                Step::Reattach {
                    shard,
                    conn,
                    session,
                    passwd,
                    timeout_ms,
                } => {
                    // ZooKeeper drops the connection currently holding the
                    // session before it checks the password.
                    if let Some(old) = self.owners.remove(&session)
                        && old.conn != conn
                    {
                        replies[old.shard].push((triggers.len(), Reply::Close { conn: old.conn }));
                    }
                    let valid = passwd.as_ref() == password(session).as_slice()
                        && self.sessions.touch(session, now);
                    let response = if valid {
                        self.owners.insert(session, Owner { shard, conn });
                        let timeout_ms = self
                            .sessions
                            .get(session)
                            .map(|s| s.timeout_ms)
                            .unwrap_or(timeout_ms);
                        Some(connect_response(session, timeout_ms))
                    } else {
                        tracing::info!("Invalid session {session} for client, probably expired");
                        None
                    };
                    replies[shard].push((triggers.len(), Reply::Connected { conn, response }));
                }
            }
        }
        self.shared
            .sessions_count
            .store(self.sessions.len() as u64, Relaxed);
        self.sizes.triggers = triggers.len();
        self.sizes.replies.resize(shards, 0);
        for (size, r) in self.sizes.replies.iter_mut().zip(&replies) {
            *size = r.len();
        }
        // Publish: queue every shard's batch (triggers go to all shards),
        // ring, and only then release the write lock.
        let triggers = Arc::new(triggers);
        for (shard, replies) in replies.into_iter().enumerate() {
            if replies.is_empty() && triggers.is_empty() {
                continue;
            }
            let batch = Batch {
                triggers: triggers.clone(),
                replies,
            };
            if self.shared.shards[shard].inbound.push(batch).is_err() {
                // wait_for_room guarantees space; the sequencer is the only producer.
                unreachable!("shard inbound queue full after wait_for_room");
            }
            let _ = self.to_shards[shard].try_send(());
        }
        drop(tree);
    }
}

/// The handshake answer for a live session (the readOnly byte is set by the
/// shard, which knows whether the client sent one).
fn connect_response(session: SessionId, timeout_ms: i32) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id: session,
        passwd: Bytes::copy_from_slice(&password(session)),
        read_only: None,
    }
}

/// Lowers the calling thread to nice 19: writing a snapshot file is
/// background work sharing the cores with the executors, which must win
/// every wakeup. (It holds no lock the executors need: the walk of the
/// tree runs on the sequencer.)
fn background_priority() {
    // SAFETY: plain syscalls on the calling thread's own id.
    let done = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
    };
    if done != 0 {
        tracing::debug!(
            "snapshot thread keeps its priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Snapshot chunks queued between the walk and the writing thread (at
/// most this many times [`crate::storage::snapshot::WRITE_CHUNK_BYTES`]).
const SNAPSHOT_QUEUE_CHUNKS: usize = 64;

/// Walks the tree for a snapshot on the sequencer's executor: one chunk of
/// nodes per turn, then a timer sleep so that the executor polls its rings
/// (the shards' bells) and the sequencer's rounds go first. The sequencer
/// and the walk share a thread, so the sequencer's write lock never waits
/// for the walk. An empty chunk after the last one tells the writer the
/// walk is complete.
async fn walk_snapshot(
    shared: Arc<Shared>,
    mut walk: crate::storage::snapshot::Walk,
    mut buf: BytesMut,
    chunks: crossbeam::channel::Sender<Bytes>,
) {
    use crate::storage::snapshot::WRITE_CHUNK_BYTES;
    loop {
        let stepped = std::time::Instant::now();
        let step = walk.step(&shared.tree.read(), &mut buf);
        let took = stepped.elapsed();
        if step == crate::storage::snapshot::Step::Replaced {
            // The tree was replaced under the walk: hanging up abandons the
            // file rather than mix two trees in it.
            return;
        }
        let more = step == crate::storage::snapshot::Step::More;
        if buf.len() >= WRITE_CHUNK_BYTES || !more {
            let mut chunk = buf.split().freeze();
            loop {
                match chunks.try_send(chunk) {
                    Ok(()) => break,
                    Err(crossbeam::channel::TrySendError::Full(back)) => {
                        chunk = back;
                        glommio::timer::sleep(Duration::from_millis(1)).await;
                    }
                    // The writer failed and said why.
                    Err(crossbeam::channel::TrySendError::Disconnected(_)) => return,
                }
            }
        }
        if !more {
            // The end: an empty chunk (a real one never is).
            while let Err(crossbeam::channel::TrySendError::Full(_)) = chunks.try_send(Bytes::new())
            {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
            return;
        }
        // At most half of this executor's time: the rest is the
        // sequencer's and, on a shared core, the shard's.
        glommio::timer::sleep(took.max(Duration::from_micros(50))).await;
    }
}

/// Nodes the unpin pass visits per step, under the tree's write lock.
const UNPIN_NODES_PER_STEP: usize = 64;

/// Copies the nodes recovery loaded out of the mapped snapshot file
/// ([`crate::tree::Unpin`]), a step at a time between the sequencer's rounds,
/// as a snapshot walk runs, but at most a third of this executor's time:
/// nothing waits for it, and at half the p99.9 of client requests during the
/// pass was up to 2.5x that after it (`perf/unpin-latency.sh`).
async fn unpin_tree(shared: Arc<Shared>, mut unpin: crate::tree::Unpin) {
    let started = std::time::Instant::now();
    loop {
        let stepped = std::time::Instant::now();
        let more = unpin.step(&mut shared.tree.write(), UNPIN_NODES_PER_STEP);
        if !more {
            break;
        }
        glommio::timer::sleep((2 * stepped.elapsed()).max(Duration::from_micros(100))).await;
    }
    tracing::info!(
        "Snapshot file released: data of {} nodes copied out in {} ms",
        unpin.copied(),
        started.elapsed().as_millis()
    );
}

/// The writing end of a snapshot: chunks until an empty one (complete: the
/// file is sealed and renamed into place) or a hang-up (abandoned: the
/// unfinished `tmp.` file is left for the next start to remove).
fn write_snapshot(
    dir: &std::path::Path,
    zxid: Zxid,
    inbox: crossbeam::channel::Receiver<Bytes>,
) -> std::io::Result<Option<(PathBuf, u64)>> {
    let mut out = crate::storage::snapshot::SnapshotWriter::create(dir, zxid)?;
    for chunk in inbox {
        if chunk.is_empty() {
            return out.finish().map(Some);
        }
        out.write(&chunk)?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn background_priority_lowers_only_the_calling_thread() {
        // SAFETY: getpriority reads the calling thread's nice value.
        let nice_here =
            || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        let before = nice_here();
        let inside = std::thread::spawn(move || {
            super::background_priority();
            nice_here()
        })
        .join()
        .unwrap();
        assert_eq!(inside, 19);
        assert_eq!(nice_here(), before);
    }
}
