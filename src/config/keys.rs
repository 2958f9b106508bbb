//! Key names: the `zookeeper.` prefix rule, and what corral does with the many
//! ZooKeeper keys it does not implement.
//!
//! ZooKeeper turns every `zoo.cfg` key it does not know into the Java system
//! property `zookeeper.<key>`, so operators write the same switch either way
//! (`extendedTypesEnabled` or `zookeeper.extendedTypesEnabled`). corral strips
//! the prefix and looks the rest up once. Keys ZooKeeper knows but corral does
//! not implement are accepted: tuning knobs silently (a debug note), switches
//! that change behaviour clients can see with a warning. Switches that would
//! change what ensemble members say to each other, or what the ensemble
//! guarantees, are refused in an ensemble: a member that ignored them would
//! not interoperate with peers that honour them.

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
    /// Known to ZooKeeper, changes the server-to-server wire or the
    /// ensemble's guarantees, not implemented: when switched on, refused in
    /// an ensemble (the reason says what it would change) and a warning in a
    /// standalone server, which ZooKeeper runs without any quorum code.
    QuorumOnly(&'static str),
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
    "fips-mode",
    "flushDelay",
    "forward_learner_requests_to_commit_processor_disabled",
    "intBufferStartingSizeBytes",
    "jute.maxbuffer.extrasize",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
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
    "maxCnxns",
    "skipACL",
    "sslQuorumReloadCertFiles",
];

/// `ssl.` keys other than the client port's (`super::load` reads those):
/// quorum TLS, CRL/OCSP checks, custom context suppliers.
const UNSUPPORTED_PREFIXES: &[&str] = &["quorum.auth.", "ssl."];

/// Quorum switches corral does not implement, and what each would change
/// (ZooKeeper's `QuorumPeerConfig.parseProperties`, `QuorumCnxManager`,
/// `QuorumPeer.run`, `ObserverMaster`).
const QUORUM_ONLY: &[(&str, &str)] = &[
    (
        "sslQuorum",
        "TLS between ensemble members is not implemented; peers would start TLS \
         on the quorum and election ports",
    ),
    (
        "portUnification",
        "TLS between ensemble members (accepting TLS and plaintext on one port) \
         is not implemented",
    ),
    (
        "quorum.auth.enableSasl",
        "SASL between ensemble members is not implemented; it adds \
         authentication packets to the quorum and election handshakes",
    ),
    (
        "quorum.auth.learnerRequireSasl",
        "SASL between ensemble members is not implemented",
    ),
    (
        "quorum.auth.serverRequireSasl",
        "SASL between ensemble members is not implemented",
    ),
    (
        "multiAddress.enabled",
        "several addresses per member are not implemented; it changes the \
         election handshake to its second version",
    ),
    (
        "localSessionsEnabled",
        "local sessions are not implemented; members would disagree on which \
         sessions exist",
    ),
    (
        "readonlymode.enabled",
        "read-only mode (serving reads while out of quorum) is not implemented",
    ),
    (
        "observerMasterPort",
        "followers serving observers (observerMasterPort) are not implemented",
    ),
    (
        "oraclePath",
        "the quorum oracle (QuorumOracleMaj) is not implemented; corral counts \
         plain majorities",
    ),
];

/// Classifies a canonical key that `super::load` does not implement.
pub fn classify(key: &str) -> Disposition {
    if let Some((_, reason)) = QUORUM_ONLY.iter().find(|(k, _)| *k == key) {
        Disposition::QuorumOnly(reason)
    } else if IGNORED.contains(&key) || IGNORED_PREFIXES.iter().any(|p| key.starts_with(p)) {
        Disposition::Ignored
    } else if UNSUPPORTED.contains(&key) || UNSUPPORTED_PREFIXES.iter().any(|p| key.starts_with(p))
    {
        Disposition::Unsupported
    } else {
        Disposition::Unknown
    }
}

/// Whether a value switches a feature off (then an unsupported key is
/// harmless): false/no/empty, or a number not above 0 (a port or path of 0 or
/// -1 is ZooKeeper's "unset").
pub fn is_off(value: &str) -> bool {
    ["false", "no", ""]
        .iter()
        .any(|off| value.eq_ignore_ascii_case(off))
        || value.parse::<i64>().is_ok_and(|n| n <= 0)
}
