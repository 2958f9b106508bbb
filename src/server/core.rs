//! The sequencer's executor: glue that runs the sans-I/O
//! [`Sequencer`](crate::sequencer::Sequencer). Each turn it gathers the
//! shards' queues, the peers' packets and the log's completion, feeds them
//! in with the time, carries out the actions (log writes, packets, epoch
//! files, snapshots, reloads), and applies what is ready under the tree's
//! write lock — queueing every shard's batch, triggers first, before the
//! lock is released, so no shard reads a change whose events are not yet
//! queued for it.

use super::bell::Bell;
use super::election_net::ElectionNet;
use super::events::{Event, Events};
use super::messages::Batch;
use super::quorum_net::QuorumNet;
use super::shared::{QUEUE_CAPACITY, SequencerWiring, Shared, now_ms};
use crate::proto::{SessionId, Zxid};
use crate::sequencer::apply::Applied;
use crate::sequencer::{Action, Epochs, Input, Now, ProposalSizes, SeqConfig, Sequencer};
use crate::storage::log::TxnLog;
use bytes::{Bytes, BytesMut};
use glommio::channels::shared_channel::ConnectedSender;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

/// What the sequencer starts from.
pub struct Storage {
    pub log: TxnLog,
    pub sessions: BTreeMap<SessionId, i32>,
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    /// The last txns in the log, for the DIFF window.
    pub recent: Vec<(Zxid, Bytes)>,
    pub epochs: Epochs,
}

/// The longest the sequencer (and a shard's dispatcher) waits for a bell
/// before looking at its queues anyway.
pub const SAFETY_POLL_MS: i64 = 50;

/// The clocks the sequencer is given: monotonic for timers, wall for txns.
struct Clock {
    started: Instant,
}

impl Clock {
    fn now(&self) -> Now {
        Now {
            mono_ms: self.started.elapsed().as_millis() as i64,
            wall_ms: now_ms(),
        }
    }
}

struct Core {
    shared: Arc<Shared>,
    seq: Sequencer,
    to_shards: Vec<ConnectedSender<()>>,
    log: TxnLog,
    events: Events,
    snap_dir: PathBuf,
    log_dir: PathBuf,
    snapshot_running: Arc<AtomicBool>,
    /// Set to stop a snapshot walk in progress (its tree is about to change
    /// under rules a snapshot must not capture: uncommitted txns applied on
    /// leaving a role, or a reload).
    snapshot_abort: Arc<AtomicBool>,
    /// Reads the log's completion eventfd and reports [`Event::LogReady`].
    _log_waiter: glommio::Task<()>,
    election: Option<ElectionNet>,
    quorum: Option<QuorumNet>,
    clock: Clock,
    /// When the role's view was last published, and as what.
    view_at_ms: i64,
    view_mode: Option<crate::sequencer::Mode>,
}

/// How stale the role's details in `srvr`/`mntr` may be (the mode itself is
/// published the moment it changes).
const VIEW_PERIOD_MS: i64 = 100;

pub async fn run(
    shared: Arc<Shared>,
    wiring: SequencerWiring,
    storage: Storage,
) -> anyhow::Result<()> {
    // Every shard's bell and this executor's own tasks (peers, the log) wake
    // this loop. The relays are spawned before the senders connect:
    // `connect` waits for the peer.
    let (bell, wake) = Bell::new(wiring.from_shards);
    let mut to_shards = Vec::new();
    for tx in wiring.to_shards {
        to_shards.push(tx.connect().await);
    }
    let events = Events::new(wake);
    let unpin = shared.tree.write().unpin();
    if let Some(unpin) = unpin {
        glommio::spawn_local(unpin_tree(shared.clone(), unpin)).detach();
    }
    let clock = Clock {
        started: Instant::now(),
    };
    let cfg = seq_config(&shared);
    let distributed = cfg.ensemble.is_some();
    let last_zxid = shared.tree.read().last_zxid();
    let mut seq = Sequencer::new(
        cfg,
        last_zxid,
        &storage.sessions,
        storage.recent,
        storage.epochs,
        clock.now(),
    );
    let (election, quorum) = if distributed {
        (
            Some(ElectionNet::start(shared.clone(), events.clone()).await?),
            Some(QuorumNet::new(shared.clone(), events.clone())),
        )
    } else {
        (None, None)
    };
    seq.start(clock.now());
    let log_waiter = log_waiter(&storage.log, events.clone());
    let mut core = Core {
        shared,
        seq,
        to_shards,
        log: storage.log,
        events,
        snap_dir: storage.snap_dir,
        log_dir: storage.log_dir,
        snapshot_running: Arc::new(AtomicBool::new(false)),
        snapshot_abort: Arc::new(AtomicBool::new(false)),
        _log_waiter: log_waiter,
        election,
        quorum,
        clock,
        view_at_ms: i64::MIN / 2,
        view_mode: None,
    };
    loop {
        core.turn().await;
        if !distributed && core.log.in_flight() {
            // A standalone server has nothing to do during its write that
            // cannot wait for it (no peers to send to or hear from), and its
            // next write cannot start before this one ends. Waiting on the
            // device, not on the bell, takes the requests that arrive
            // meanwhile in one turn: woken by each, the loop would prepare
            // them a few at a time and pay a park and a wakeup for each few
            // (2.5x the io_uring entries per write, measured).
            let written = core.log.wait();
            if let Some(result) = written {
                core.events.input(Input::LogWritten(result));
            }
            // The executor's other tasks (the snapshot walk, the relays) get
            // their turn before the loop's next one.
            glommio::executor().yield_task_queue_now().await;
            continue;
        }
        let now = core.clock.now();
        let wait_ms = core
            .seq
            .poll_timeout()
            .map_or(SAFETY_POLL_MS, |t| t - now.mono_ms)
            .clamp(0, SAFETY_POLL_MS);
        if wait_ms > 0 {
            // Rung or not: the turn looks at everything due either way.
            let _ = bell.wait(Duration::from_millis(wait_ms as u64)).await;
        }
    }
}

/// The sequencer's settings, from the server's configuration.
fn seq_config(shared: &Shared) -> SeqConfig {
    let c = &shared.config;
    SeqConfig {
        my_id: crate::zab::ServerId(shared.server_id),
        ensemble: c.is_distributed().then(|| super::ensemble_of(c)),
        tick_ms: c.tick_time_ms as i64,
        init_limit: c.init_limit as i64,
        sync_limit: c.sync_limit as i64,
        prep: crate::sequencer::prep::PrepConfig {
            extended_types_enabled: c.extended_types_enabled,
            eager_acl_check: c.eager_acl_check,
            reconfig_enabled: c.reconfig_enabled,
            jute_max_buffer: c.jute_max_buffer,
        },
        snap_count: c.snap_count,
        container_check_interval_ms: c.container_check_interval_ms as i64,
        container_max_per_minute: c.container_max_per_minute,
        commit_log_count: c.commit_log_count as usize,
        sasl_acl_scheme: c.sasl_acl_scheme,
        max_packet_bytes: c.jute_max_buffer.saturating_mul(2),
        force_snapshot_sync: c.force_snapshot_sync,
        leader_connect_retry_ms: c.leader_connect_delay_during_retry_ms as i64,
        finalize_wait_ms: 200,
        min_notification_interval_ms: c.fast_leader_min_notification_interval_ms as i64,
        max_notification_interval_ms: c.fast_leader_max_notification_interval_ms as i64,
        seed: rand::random(),
        epoch_counter_start: 0,
    }
}

impl Core {
    /// One turn: everything queued and due goes in, actions come out, what
    /// is ready is applied.
    async fn turn(&mut self) {
        let now = self.clock.now();
        let received_snapshot = self.take_inputs(now);
        if let Some(zxid) = received_snapshot {
            self.reload(now, zxid, true).await;
        }
        self.finish_turn(now).await;
    }

    /// Feeds the sequencer everything queued, under the tree's read lock.
    /// A received SNAP stops the feeding: what came after it waits for the
    /// reload (returned here).
    fn take_inputs(&mut self, now: Now) -> Option<Zxid> {
        let shared = self.shared.clone();
        let tree = shared.tree.read();
        for shard in &shared.shards {
            while self.seq.client_room() {
                let Some(msg) = shard.outbound.pop() else {
                    break;
                };
                self.seq.handle_client(now, &tree, msg);
            }
        }
        let mut received_snapshot = None;
        let mut events = self.events.drain().into_iter();
        for event in events.by_ref() {
            match event {
                Event::Core(input) => self.seq.handle(now, &tree, input),
                Event::LogReady => {
                    if let Some(result) = self.log.poll() {
                        self.seq.handle(now, &tree, Input::LogWritten(result));
                    }
                }
                Event::SnapshotReceived { zxid } => {
                    received_snapshot = Some(zxid);
                    break;
                }
            }
        }
        for event in events {
            self.events.push(event);
        }
        self.seq.tick(now, &tree);
        received_snapshot
    }

    async fn finish_turn(&mut self, now: Now) {
        // Apply can make actions (a snapshot), and actions can make more to
        // apply (a standalone write completed): until both are quiet.
        loop {
            let mut acted = false;
            while let Some(action) = self.seq.poll_action() {
                acted = true;
                match action {
                    Action::Truncate { zxid } => self.reload(now, zxid, false).await,
                    action => self.act(action),
                }
            }
            let mut applied = false;
            if self.seq.wants_apply() {
                applied = true;
                self.wait_for_room().await;
                self.apply(now);
            }
            if !acted && !applied {
                break;
            }
        }
        self.publish_view(now);
        if self.seq.client_room() && self.shared.shards.iter().any(|s| !s.outbound.is_empty()) {
            // Left in the queues by the room cap: come back at once.
            self.events.ring();
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::AppendLog {
                first_zxid,
                records,
                txns,
                roll,
            } => {
                self.shared.log_stats.batch_txns.record(txns as u64);
                if roll {
                    self.log.roll();
                }
                // The write goes out now; its completion comes back through
                // the eventfd (`log_waiter`) while this executor goes on.
                if let Err(e) = self.log.submit(first_zxid, &records) {
                    self.events.input(Input::LogWritten(Err(e)));
                }
            }
            Action::SaveEpoch { accepted, current } => {
                let mut result = Ok(());
                if let Some(e) = accepted {
                    result = crate::storage::epoch::save_accepted_epoch(&self.snap_dir, e);
                }
                if let (Some(e), Ok(())) = (current, &result) {
                    result = crate::storage::epoch::save_current_epoch(&self.snap_dir, e);
                }
                match result {
                    Ok(()) => self.events.input(Input::EpochSaved),
                    Err(e) => {
                        // The epoch files are the promise ZAB rests on: a
                        // member that cannot keep it must not go on.
                        tracing::error!("Writing an epoch file failed: {e}; exiting");
                        std::process::exit(1);
                    }
                }
            }
            Action::Truncate { .. } => unreachable!("handled in finish_turn"),
            Action::Snapshot { zxid, sessions } => self.snapshot(zxid, sessions),
            Action::Serving(mode) => {
                if mode.is_none() {
                    // Leaving a role applies the txns logged but never
                    // committed: a snapshot must not capture them.
                    self.snapshot_abort.store(true, SeqCst);
                }
                self.shared.set_serving(mode);
            }
            peers => self.act_on_peers(peers),
        }
    }

    /// The actions that move packets between members (none arrive on a
    /// standalone server, which has no peers).
    fn act_on_peers(&mut self, action: Action) {
        let (Some(q), Some(e)) = (self.quorum.as_mut(), self.election.as_ref()) else {
            return;
        };
        match action {
            Action::ToLearner { peer, bytes } => q.send_to_learner(peer, bytes),
            Action::SnapToLearner {
                peer,
                zxid,
                sessions,
            } => q.snap_to_learner(peer, zxid, sessions),
            Action::CloseLearner { peer } => q.close_learner(peer),
            Action::ListenQuorum(on) => q.listen(on),
            Action::ToLeader { bytes } => q.send_to_leader(bytes),
            Action::ConnectLeader { host, port, .. } => q.connect_leader(&host, port),
            Action::CloseLeader => q.close_leader(),
            Action::Notify { to, msg } => e.notify(to, &msg),
            Action::ConnectAllElection => e.connect_all(),
            other => tracing::error!("not a peer action: {other:?}"),
        }
    }

    /// Cuts the log back to `zxid` (a TRUNC, or the history above a SNAP's
    /// snapshot), reloads the tree from disk and swaps it in.
    async fn reload(&mut self, now: Now, zxid: Zxid, snap: bool) {
        let started = Instant::now();
        // A snapshot being written would land a file of the old tree among
        // the ones the cut decides about: stop it, and wait for its thread.
        self.snapshot_abort.store(true, SeqCst);
        while self.snapshot_running.load(SeqCst) {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        if self.log.in_flight() {
            // The sequencer never asks with a write in flight; should one be
            // there, its outcome comes first.
            while self.log.poll().is_none() {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
        }
        let c = &self.shared.config;
        // A log of its own from here: the old one's segment closes before
        // the files change (the new one opens a segment at its first write).
        self.log = TxnLog::new(
            &self.log_dir,
            super::log_options(c),
            c.fsync_warning_threshold_ms,
        );
        self._log_waiter = log_waiter(&self.log, self.events.clone());
        let cut = if snap {
            crate::storage::truncate::clear_for_snap(&self.snap_dir, &self.log_dir, zxid)
        } else {
            crate::storage::truncate::truncate_to(&self.snap_dir, &self.log_dir, zxid)
        };
        if let Err(e) = cut {
            tracing::error!("Cutting the log back to {zxid} failed: {e}; leaving the leader");
            self.events.input(Input::LeaderClosed);
            return;
        }
        let recovered = match super::recover(&self.shared.config, &self.snap_dir, &self.log_dir) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("Reloading the database failed: {e}; exiting");
                std::process::exit(1);
            }
        };
        let last_zxid = recovered.last_logged;
        let sessions: Vec<(SessionId, i32)> = recovered.sessions.into_iter().collect();
        let recent = recovered.recent;
        let mut tree = recovered.tree;
        let unpin = tree.unpin();
        *self.shared.tree.write() = tree;
        if let Some(unpin) = unpin {
            glommio::spawn_local(unpin_tree(self.shared.clone(), unpin)).detach();
        }
        tracing::info!(
            "Database reloaded at {last_zxid} ({}) in {} ms",
            if snap {
                "snapshot from the leader"
            } else {
                "truncated"
            },
            started.elapsed().as_millis()
        );
        let _ = now;
        self.events.input(Input::Reloaded {
            last_zxid,
            sessions,
            recent,
        });
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

    fn apply(&mut self, now: Now) {
        let shards = self.shared.shards.len();
        let mut tree = self.shared.tree.write();
        let Applied {
            close_all,
            triggers,
            replies,
        } = self.seq.apply(now, &mut tree, shards);
        // Publish: queue every shard's batch (triggers go to all shards),
        // ring, and only then release the write lock.
        let triggers = Arc::new(triggers);
        for (shard, replies) in replies.into_iter().enumerate() {
            if replies.is_empty() && triggers.is_empty() && !close_all {
                continue;
            }
            let batch = Batch {
                close_all,
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

    /// What the monitoring words read: the session count every turn, the
    /// role's details at most every [`VIEW_PERIOD_MS`] or when the role changed.
    fn publish_view(&mut self, now: Now) {
        self.shared
            .sessions_count
            .store(self.seq.sessions().len() as u64, Relaxed);
        let mode = self.seq.serving();
        if mode != self.view_mode && mode == Some(crate::sequencer::Mode::Leader) {
            // A new leadership starts its statistics afresh, as ZooKeeper's
            // new Leader object does.
            *self.shared.proposal_sizes.lock() = None;
        }
        if let Some(new) = self.seq.take_proposal_sizes() {
            ProposalSizes::merge(&mut self.shared.proposal_sizes.lock(), new);
        }
        if mode == self.view_mode && now.mono_ms < self.view_at_ms + VIEW_PERIOD_MS {
            return;
        }
        self.view_mode = mode;
        self.view_at_ms = now.mono_ms;
        *self.shared.view.lock() = self.seq.view();
    }

    /// A fuzzy snapshot: the walk runs here between turns, a thread of its
    /// own writes the file (the sequencer never waits).
    fn snapshot(&mut self, zxid: Zxid, sessions: Vec<(SessionId, i32)>) {
        if self.snapshot_running.load(SeqCst) {
            return;
        }
        self.snapshot_running.store(true, SeqCst);
        self.snapshot_abort.store(false, SeqCst);
        let (walk, first) = {
            let tree = self.shared.tree.read();
            crate::storage::snapshot::Walk::start(&tree, &sessions, zxid)
        };
        let (chunks, inbox) = crossbeam::channel::bounded::<Bytes>(SNAPSHOT_QUEUE_CHUNKS);
        let (dir, running) = (self.snap_dir.clone(), self.snapshot_running.clone());
        let spawned = std::thread::Builder::new()
            .name("corral-snapshot".into())
            .spawn(move || {
                background_priority();
                let started = Instant::now();
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
                let abort = self.snapshot_abort.clone();
                glommio::spawn_local(walk_snapshot(
                    self.shared.clone(),
                    walk,
                    first,
                    chunks,
                    abort,
                ))
                .detach();
            }
            Err(e) => {
                tracing::error!("Could not start a snapshot: {e}");
                self.snapshot_running.store(false, SeqCst);
            }
        }
    }
}

/// Reads the log's completion eventfd (a dup of it: glommio closes what it
/// reads) and reports each completion as [`Event::LogReady`]; the loop then
/// polls the log, as often as it is told (a signal may be spurious).
fn log_waiter(log: &TxnLog, events: Events) -> glommio::Task<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup of a valid fd the log owns; the copy is owned below.
    let fd = unsafe { libc::dup(log.completion_fd()) };
    glommio::spawn_local(async move {
        if fd < 0 {
            tracing::error!("no completion fd for the log; polling it");
        }
        // SAFETY: `fd` is a fresh dup owned by nothing else.
        let file = (fd >= 0).then(|| unsafe { glommio::io::BufferedFile::from_raw_fd(fd) });
        loop {
            match &file {
                Some(f) => {
                    if let Err(e) = f.read_at(0, 8).await {
                        tracing::warn!("reading the log's completion fd: {e}");
                        glommio::timer::sleep(Duration::from_millis(1)).await;
                    }
                }
                None => glommio::timer::sleep(Duration::from_millis(1)).await,
            }
            events.push(Event::LogReady);
        }
    })
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
/// (the shards' bells) and the sequencer's turns go first. The sequencer
/// and the walk share a thread, so the sequencer's write lock never waits
/// for the walk. An empty chunk after the last one tells the writer the
/// walk is complete; a walk whose tree was replaced (a learner's reload)
/// hangs up, and the writer abandons the file.
async fn walk_snapshot(
    shared: Arc<Shared>,
    mut walk: crate::storage::snapshot::Walk,
    mut buf: BytesMut,
    chunks: crossbeam::channel::Sender<Bytes>,
    abort: Arc<AtomicBool>,
) {
    use crate::storage::snapshot::{Step, WRITE_CHUNK_BYTES};
    loop {
        if abort.load(SeqCst) {
            tracing::info!("Snapshot abandoned: the member left its role or reloads");
            return;
        }
        let stepped = Instant::now();
        let step = walk.step(&shared.tree.read(), &mut buf);
        let took = stepped.elapsed();
        if step == Step::Replaced {
            return;
        }
        let more = step == Step::More;
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
/// ([`crate::tree::Unpin`]), a step at a time between the sequencer's turns,
/// as a snapshot walk runs, but at most a third of this executor's time:
/// nothing waits for it, and at half the p99.9 of client requests during the
/// pass was up to 2.5x that after it (`perf/unpin-latency.sh`).
async fn unpin_tree(shared: Arc<Shared>, mut unpin: crate::tree::Unpin) {
    let started = Instant::now();
    loop {
        let stepped = Instant::now();
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
/// unfinished `tmp.` file is removed).
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
    out.abandon();
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
