//! State every core can see: configuration, the read view of the tree, the
//! cross-core queues, the member's role as the sequencer last reported it,
//! and per-shard and per-connection counters. The runtime (`server`) fills it;
//! the monitoring words (`admin`) only read it — neither imports the other
//! for it.

use crate::config::Config;
use crate::sequencer::messages::{Batch, ToSequencer};
use crate::sequencer::{Mode, ProposalSizes};
use crate::tree::DataTree;
use crate::watch::{ConnId, WatchRegistry};
use crossbeam::queue::ArrayQueue;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime};

/// Bound on queued messages per direction per shard; at the limit the sender
/// waits (backpressure), nothing is dropped.
pub const QUEUE_CAPACITY: usize = 4096;

/// The server's shared state.
pub struct Shared {
    pub config: Config,
    /// The secure client port's TLS configuration, when one is configured.
    pub tls: Option<crate::tls::ServerTls>,
    pub server_id: u64,
    /// The read view. The sequencer is the only writer and holds the write
    /// lock only while it applies one batch (see docs/architecture.md).
    pub tree: RwLock<DataTree>,
    pub shards: Vec<ShardPublic>,
    pub conns_per_ip: Mutex<HashMap<IpAddr, u32>>,
    pub started: Instant,
    pub sessions_count: AtomicU64,
    /// What the member serves as now (`None`: it serves no client — electing,
    /// or syncing with a leader). Set by the sequencer's executor; shards
    /// refuse new connections while it is `None`.
    serving: AtomicU8,
    /// The sequencer's latest report, for the monitoring words.
    pub view: Mutex<crate::sequencer::View>,
    /// A leader's `Proposal sizes last/min/max` (`srst` resets them).
    pub proposal_sizes: Mutex<Option<ProposalSizes>>,
    /// The sequencer's group commits.
    pub log_stats: Arc<crate::metrics::LogStats>,
}

/// One shard's face to the rest of the process.
pub struct ShardPublic {
    /// Sequencer → this shard.
    pub inbound: ArrayQueue<Batch>,
    /// This shard → sequencer.
    pub outbound: ArrayQueue<ToSequencer>,
    pub stats: ShardStats,
    /// This shard's watches; locked by the owning shard on every watch
    /// registration and trigger, by four-letter words rarely.
    pub watches: Mutex<WatchRegistry>,
    pub conns: Mutex<HashMap<ConnId, Arc<ConnInfo>>>,
}

impl Shared {
    /// Shared state around `tree` (recovered from disk), for `cores` shards.
    pub fn new(config: Config, cores: usize, tree: DataTree) -> anyhow::Result<Shared> {
        // A standalone ZooKeeper creates session ids with server id 1
        // (`createSessionTrackerServerId`); an ensemble member uses its myid.
        let server_id = if config.servers.is_empty() {
            1
        } else {
            config.my_id.unwrap_or(1)
        };
        let shards = (0..cores)
            .map(|_| ShardPublic {
                inbound: ArrayQueue::new(QUEUE_CAPACITY),
                outbound: ArrayQueue::new(QUEUE_CAPACITY),
                stats: ShardStats::default(),
                watches: Mutex::new(WatchRegistry::default()),
                conns: Mutex::new(HashMap::new()),
            })
            .collect();
        let tls = match &config.tls {
            Some(settings) => Some(
                crate::tls::ServerTls::new(settings)
                    .map_err(|e| anyhow::anyhow!("secure client port: {e}"))?,
            ),
            None => None,
        };
        let shared = Shared {
            tls,
            config,
            server_id,
            tree: RwLock::new(tree),
            shards,
            conns_per_ip: Mutex::new(HashMap::new()),
            started: Instant::now(),
            sessions_count: AtomicU64::new(0),
            serving: AtomicU8::new(0),
            view: Mutex::new(crate::sequencer::View::default()),
            proposal_sizes: Mutex::new(None),
            log_stats: Arc::default(),
        };
        Ok(shared)
    }

    pub fn set_serving(&self, mode: Option<Mode>) {
        let v = match mode {
            None => 0,
            Some(Mode::Standalone) => 1,
            Some(Mode::Leader) => 2,
            Some(Mode::Follower) => 3,
            Some(Mode::Observer) => 4,
        };
        self.serving.store(v, Relaxed);
    }

    /// What the member serves clients as, if it serves them.
    pub fn serving(&self) -> Option<Mode> {
        match self.serving.load(Relaxed) {
            1 => Some(Mode::Standalone),
            2 => Some(Mode::Leader),
            3 => Some(Mode::Follower),
            4 => Some(Mode::Observer),
            _ => None,
        }
    }

    pub fn outstanding_requests(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.stats.outstanding.load(Relaxed).max(0) as u64)
            .sum()
    }
}

/// Wall-clock milliseconds since the epoch, for txn times (ctime/mtime).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Counters a shard updates with relaxed atomics; summed for srvr/mntr.
#[derive(Default)]
pub struct ShardStats {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub outstanding: AtomicI64,
    pub latency_count: AtomicU64,
    pub latency_total_us: AtomicU64,
    pub latency_min_us: AtomicU64,
    pub latency_max_us: AtomicU64,
    pub auth_failed: AtomicU64,
    /// Requests answered here, and requests that went through the sequencer.
    pub read_latency_us: crate::metrics::Summary,
    pub update_latency_us: crate::metrics::Summary,
}

impl ShardStats {
    pub fn record_latency(&self, us: u64) {
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_total_us.fetch_add(us, Relaxed);
        self.latency_max_us.fetch_max(us, Relaxed);
        let min = self.latency_min_us.load(Relaxed);
        if min == 0 || us < min {
            self.latency_min_us.store(us.max(1), Relaxed);
        }
    }

    pub fn reset(&self) {
        for a in [
            &self.packets_received,
            &self.packets_sent,
            &self.latency_count,
            &self.latency_total_us,
            &self.latency_min_us,
            &self.latency_max_us,
        ] {
            a.store(0, Relaxed);
        }
    }
}

/// What `cons` prints about one connection.
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub established: SystemTime,
    pub session: AtomicI64,
    pub timeout_ms: AtomicI64,
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub last_cxid: AtomicI64,
    pub last_zxid: AtomicI64,
    pub last_op: Mutex<&'static str>,
    pub last_response_ms: AtomicI64,
    pub last_latency_us: AtomicU64,
    pub lat_min_us: AtomicU64,
    pub lat_max_us: AtomicU64,
    pub lat_total_us: AtomicU64,
    pub lat_count: AtomicU64,
    pub outstanding: AtomicI64,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr) -> ConnInfo {
        ConnInfo {
            peer,
            established: SystemTime::now(),
            session: AtomicI64::new(0),
            timeout_ms: AtomicI64::new(0),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            last_cxid: AtomicI64::new(-1),
            last_zxid: AtomicI64::new(-1),
            last_op: Mutex::new("NA"),
            last_response_ms: AtomicI64::new(0),
            last_latency_us: AtomicU64::new(0),
            lat_min_us: AtomicU64::new(0),
            lat_max_us: AtomicU64::new(0),
            lat_total_us: AtomicU64::new(0),
            lat_count: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
        }
    }

    pub fn record_latency(&self, us: u64) {
        self.last_latency_us.store(us, Relaxed);
        self.lat_count.fetch_add(1, Relaxed);
        self.lat_total_us.fetch_add(us, Relaxed);
        self.lat_max_us.fetch_max(us, Relaxed);
        let min = self.lat_min_us.load(Relaxed);
        if min == 0 || us < min {
            self.lat_min_us.store(us.max(1), Relaxed);
        }
    }

    pub fn reset(&self) {
        for a in [
            &self.received,
            &self.sent,
            &self.lat_min_us,
            &self.lat_max_us,
            &self.lat_total_us,
            &self.lat_count,
            &self.last_latency_us,
        ] {
            a.store(0, Relaxed);
        }
        self.last_cxid.store(-1, Relaxed);
        self.last_zxid.store(-1, Relaxed);
        *self.last_op.lock() = "NA";
        self.last_response_ms.store(0, Relaxed);
    }
}
