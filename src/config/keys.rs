//! Key names: the `zookeeper.` prefix rule, and what corral does with the many
//! ZooKeeper keys it does not implement.
//!
//! ZooKeeper turns every `zoo.cfg` key it does not know into the Java system
//! property `zookeeper.<key>`, so operators write the same switch either way
//! (`extendedTypesEnabled` or `zookeeper.extendedTypesEnabled`). corral strips
//! the prefix and looks the rest up once. Keys ZooKeeper knows but corral does
//! not implement are accepted: tuning knobs silently (a debug note), switches
//! that change behaviour clients can see with a warning.

/// The key without a leading `zookeeper.`.
pub fn canonical(key: &str) -> &str {
    key.strip_prefix("zookeeper.").unwrap_or(key)
}

/// What to do with a key `super::load` does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Known to ZooKeeper, no observable effect worth a warning: a debug note.
    Ignored,
    /// Known to ZooKeeper, changes behaviour, not implemented: a warning unless
    /// the value turns it off.
    Unsupported,
    /// Not a ZooKeeper key at all: a warning.
    Unknown,
}

/// Tuning knobs of ZooKeeper's JVM implementation that have no counterpart
/// (or no observable effect) in corral.
const IGNORED: &[&str] = &[
    "audit.enable",
    "bitHashCacheSize",
    "clientCnxnSocket",
    "clientTcpKeepAlive",
    "closeSessionTxn.enabled",
    "cnxTimeout",
    "commitLogCount",
    "connectToLearnerMasterLimit",
    "digest.enabled",
    "electionPortBindRetry",
    "fips-mode",
    "flushDelay",
    "forward_learner_requests_to_commit_processor_disabled",
    "intBufferStartingSizeBytes",
    "jute.maxbuffer.extrasize",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "leaderServes",
    "localSessionsUpgradingEnabled",
    "maxBatchSize",
    "maxConcurrentDiffSyncs",
    "maxConcurrentSnapSyncs",
    "maxGetChildrenResponseCacheSize",
    "maxInProcessingDeadWatchers",
    "maxResponseCacheSize",
    "maxWriteQueuePollTime",
    "outstandingHandshake.limit",
    "quorum.cnxn.threads.size",
    "quorumCnxnTimeoutMs",
    "request_stale_connection_check",
    "request_stale_latency_check",
    "serializeLastProcessedZxid.enabled",
    "serverCnxnFactory",
    "snapSizeLimitInKb",
    // The server never checks client host names (ZooKeeper's ClientX509Util
    // does not either); the rest tune the JDK's TLS engine.
    "ssl.allowReverseDnsLookup",
    "ssl.clientHostnameVerification",
    "ssl.handshakeDetectionTimeoutMillis",
    "ssl.hostnameVerification",
    "ssl.sslProvider",
    "tcpKeepAlive",
    "throttledOpWaitTime",
    "traceFile",
    "txnLogSizeLimitInKb",
    "version",
    "watchManagerName",
    "watcherCleanIntervalInSeconds",
    "watcherCleanThreadsNum",
    "watcherCleanThreshold",
];

const IGNORED_PREFIXES: &[&str] = &[
    "admin.",
    "commitProcessor.",
    "connection_throttle_",
    "fastleader.",
    "follower.",
    "jvm.pause.",
    "kerberos.",
    "leader.",
    "learner.",
    "messageTracker.",
    "metricsProvider.",
    "multiAddress.",
    "netty.",
    "nio.",
    "observer.",
    "request_throttle_",
    "snapshot.",
];

/// Features corral does not have yet; setting them would change what clients
/// or operators see, so the operator hears about it.
const UNSUPPORTED: &[&str] = &[
    "DigestAuthenticationProvider.digestAlg",
    "emulate353TTLNodes",
    "localSessionsEnabled",
    "maxCnxns",
    "observerMasterPort",
    "oraclePath",
    "portUnification",
    "readonlymode.enabled",
    "skipACL",
    "sslQuorum",
    "sslQuorumReloadCertFiles",
];

/// `ssl.` keys other than the client port's (`super::load` reads those):
/// quorum TLS, CRL/OCSP checks, custom context suppliers.
const UNSUPPORTED_PREFIXES: &[&str] = &["quorum.auth.", "ssl."];

/// Classifies a canonical key that `super::load` does not implement.
pub fn classify(key: &str) -> Disposition {
    if IGNORED.contains(&key) || IGNORED_PREFIXES.iter().any(|p| key.starts_with(p)) {
        Disposition::Ignored
    } else if UNSUPPORTED.contains(&key) || UNSUPPORTED_PREFIXES.iter().any(|p| key.starts_with(p))
    {
        Disposition::Unsupported
    } else {
        Disposition::Unknown
    }
}

/// Whether a value switches a feature off (then an unsupported key is harmless).
pub fn is_off(value: &str) -> bool {
    ["false", "no", "0", ""]
        .iter()
        .any(|off| value.eq_ignore_ascii_case(off))
}
