//! corral's configuration: `zoo.cfg`, the `myid` file, `--override key=value`.
//!
//! This module owns turning those inputs into one validated, typed [`Config`]
//! (plus warnings for the caller to log), rendering it back as the `conf`
//! four-letter word does, and handing an ensemble's members to the quorum
//! layer as plain data ([`Config::quorum_members`]). It reads files (the
//! config file, `<dataDir>/myid`) and nothing else: no sockets, no runtime,
//! no name resolution, no logging of its own beyond debug notes. `main` calls
//! [`Config::load`]; every other module receives a `Config`.
//!
//! Standalone servers and ensemble members load alike; whether to run the
//! quorum protocols is [`Config::is_distributed`]'s answer, and `server`'s
//! choice. Quorum features corral lacks are refused in an ensemble, naming
//! the key (`keys`).
//!
//! Apache ZooKeeper 3.9 (`QuorumPeerConfig`, `ServerConfig`) is the reference
//! for key names, defaults and checks. Where corral differs it says so on the
//! field.

mod error;
pub mod jaas;
mod keys;
mod load;
mod properties;
mod quorum;
mod render;
mod server;
mod whitelist;

#[cfg(test)]
mod ensemble_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use error::{ConfigError, Location, Origin};
pub use quorum::{QUORUM_CONFIG_VERSION, QuorumMember};
pub use server::{HostPort, ServerRole, ServerSpec};
pub use whitelist::{FourLetterWhitelist, KNOWN_FOUR_LETTER_WORDS};

/// The largest server id when extended types (TTL nodes) are on: an
/// ephemeral owner whose top byte is 0xff marks a TTL node, so sessions of
/// server 255 would look like one (ZooKeeper's `EphemeralType`).
pub const MAX_SERVER_ID_EXTENDED: u64 = 254;
/// The largest server id otherwise: the id is the top byte of the session ids
/// a server hands out. ZooKeeper documents ids as 1..=255; corral refuses
/// others rather than let session ids collide.
pub const MAX_SERVER_ID: u64 = 255;

/// The whole server configuration. Built by [`Config::load`] (or
/// [`Config::default`] for `corral serve` without arguments); every field is
/// final and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `tickTime`: the basic time unit; session timeouts and limits count in it.
    /// ZooKeeper's built-in default is 3000; its sample `zoo.cfg` (and corral)
    /// use 2000.
    pub tick_time_ms: u32,
    /// `initLimit`, in ticks: how long a follower may take to connect and
    /// sync to the leader. Default 10. ZooKeeper has no default and refuses
    /// an ensemble without it; corral takes the value of ZooKeeper's sample
    /// `zoo.cfg`, so that members start from `--override`s alone (with a
    /// warning when a config file leaves it out). Above 0 in an ensemble.
    pub init_limit: u32,
    /// `syncLimit`, in ticks: how far a follower may lag the leader. Default
    /// 5, like `initLimit`'s.
    pub sync_limit: u32,
    /// `dataDir`: snapshots and `myid`. Relative paths are relative to the
    /// process's working directory, as in ZooKeeper. Default `./data`.
    pub data_dir: PathBuf,
    /// `dataLogDir`: the transaction log; defaults to `data_dir`. Best on a
    /// device of its own.
    pub data_log_dir: PathBuf,
    /// `clientPort`: the plain listener, default 2181. `None` when only
    /// `secureClientPort` is set: as in ZooKeeper, either port may be absent.
    pub client_port: Option<u16>,
    /// `clientPortAddress`: `None` = every address, IPv6 and IPv4 (ZooKeeper's
    /// wildcard; see `server::shard`).
    pub client_port_address: Option<IpAddr>,
    /// `secureClientPort`: the TLS listener; `None` = no TLS port.
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress`: like `client_port_address`, for the TLS port.
    pub secure_client_port_address: Option<IpAddr>,
    /// The `ssl.*` keys, settled and checked when `secureClientPort` is set.
    pub tls: Option<crate::tls::TlsSettings>,
    /// `X509AuthenticationProvider.superUser`: a client whose certificate
    /// subject is this name is also `super` (ZooKeeper's X509 provider).
    pub x509_super_user: Option<String>,
    /// `clientPortListenBacklog`: `None` = the system default.
    pub client_port_listen_backlog: Option<u32>,
    /// `maxClientCnxns`: connections per client IP; 0 = unlimited. Default 60.
    pub max_client_cnxns: u32,
    /// `minSessionTimeout`; default 2 × tickTime.
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout`; default 20 × tickTime.
    pub max_session_timeout_ms: u32,
    /// `4lw.commands.whitelist`; see [`Config::four_letter_allowed`].
    pub four_letter_whitelist: FourLetterWhitelist,
    /// `server.N` lines, sorted by id. Empty for a standalone server.
    pub servers: Vec<ServerSpec>,
    /// `peerType` as configured (the `server.N` line of this server decides;
    /// a mismatch is a warning, as in ZooKeeper).
    pub peer_type: ServerRole,
    /// `quorumListenOnAllIPs`: bind quorum and election ports on 0.0.0.0.
    pub quorum_listen_on_all_ips: bool,
    /// `electionPortBindRetry`: attempts to bind the election port, 1 s
    /// apart, before the process exits; 0 = forever. Default 3. ZooKeeper
    /// (`QuorumCnxManager.Listener`) replaces a negative value by 3; so does
    /// corral, with a warning.
    pub election_port_bind_retry: u32,
    /// `cnxTimeout`: connect timeout of election-port connections. Default
    /// 5000 ms (`QuorumCnxManager`). corral refuses 0, which Java's
    /// `Socket.connect` would take as "wait forever".
    pub cnx_timeout_ms: u32,
    /// `quorumCnxnTimeoutMs` as configured: the SO_TIMEOUT of the election
    /// handshake when above 0. Unset (-1) or ≤ 0 means tickTime × syncLimit;
    /// see [`Config::effective_quorum_cnxn_timeout_ms`].
    pub quorum_cnxn_timeout_ms: i64,
    /// `fastleader.minNotificationInterval`: the first wait for election
    /// notifications, doubled on each timeout. Default 200 ms
    /// (`FastLeaderElection`, equal to its finalizeWait).
    pub fast_leader_min_notification_interval_ms: u32,
    /// `fastleader.maxNotificationInterval`: the cap of that doubling.
    /// Default 60000 ms.
    pub fast_leader_max_notification_interval_ms: u32,
    /// `commitLogCount`: committed proposals kept in memory to sync learners
    /// by DIFF. Default and minimum 500 (`ZKDatabase`; smaller values are
    /// raised with a warning, as there).
    pub commit_log_count: u32,
    /// `forceSnapshotSync`: the leader syncs every learner by SNAP, never
    /// DIFF or TRUNC (`LearnerHandler`; meant for tests). Default false.
    pub force_snapshot_sync: bool,
    /// `leaderServes` (yes/no): whether the leader accepts client
    /// connections. Default yes (`Leader.lead`). ZooKeeper takes every value
    /// but `no` as yes; corral accepts only yes and no.
    pub leader_serves: bool,
    /// `leader.maxTimeToWaitForEpoch`: once a new leader has waited this
    /// long for its learners' epochs, a voter of its election that turns
    /// LOOKING again makes it quit leading (`Leader.reportLookingSid`).
    /// `None` (-1 or any negative, the default) = never for that reason.
    pub leader_max_time_to_wait_for_epoch_ms: Option<u64>,
    /// `tcpKeepAlive`: SO_KEEPALIVE on election-port sockets. Default false
    /// (`QuorumCnxManager.setSockOpts`).
    pub tcp_keep_alive: bool,
    /// `leaderConnectDelayDuringRetryMs`: the pause between a learner's
    /// attempts to connect to the leader. Default 100 ms (`Learner`).
    pub leader_connect_delay_during_retry_ms: u32,
    /// `observer.reconnectDelayMs`: an observer that lost its leader waits a
    /// random time below this before reconnecting. Default 0 = no wait
    /// (`Observer`).
    pub observer_reconnect_delay_ms: u64,
    /// `connectToLearnerMasterLimit`, in ticks: a learner's connect timeout
    /// to the leader when above 0; 0 (the default) = initLimit (`Learner`).
    pub connect_to_learner_master_limit: u32,
    /// `digest.enabled`: txns carry the tree digest after them, and learners
    /// check it (`ZooKeeperServer`). Default true. Changes the txn bytes: it
    /// must be the same on every member.
    pub digest_enabled: bool,
    /// `closeSessionTxn.enabled`: closeSession txns list the session's
    /// ephemerals (`ZooKeeperServer`). Default true. Changes the txn bytes:
    /// it must be the same on every member.
    pub close_session_txn_enabled: bool,
    /// `syncEnabled`: observers log and snapshot like followers. Default true.
    pub sync_enabled: bool,
    /// `standaloneEnabled`: with false, even one server runs the quorum protocol.
    pub standalone_enabled: bool,
    /// `globalOutstandingLimit`: requests in flight before reads of client
    /// sockets pause. Default 1000.
    pub global_outstanding_limit: u32,
    /// `extendedTypesEnabled`: TTL nodes (server ids then at most 254).
    pub extended_types_enabled: bool,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// `znode.container.checkIntervalMs`: how often empty containers and
    /// expired TTL nodes are looked for. Default 60000.
    pub container_check_interval_ms: u64,
    /// `znode.container.maxPerMinute`: deletions per minute at most. Default 10000.
    pub container_max_per_minute: u32,
    /// `enableEagerACLCheck`: check write ACLs before a request is proposed.
    pub eager_acl_check: bool,
    /// `reconfigEnabled`: reconfig requests get past the switch. A standalone
    /// server then answers Unimplemented (it has no quorum to change), as
    /// ZooKeeper's does; off, ReconfigDisabled. Default false. Refused in an
    /// ensemble: corral does not implement dynamic reconfiguration.
    pub reconfig_enabled: bool,
    /// `jute.maxbuffer`: the largest frame, and znode data size, in bytes.
    /// Default 0xfffff.
    pub jute_max_buffer: usize,
    /// `forceSync` (yes/no): sync the log before acknowledging. Default yes.
    pub force_sync: bool,
    /// `preAllocSize`: log segment preallocation step. Default 65536 KiB.
    pub pre_alloc_size_kb: u64,
    /// `snapCount`: transactions between snapshots (at least 2). Default 100000.
    pub snap_count: u32,
    /// `autopurge.snapRetainCount`: snapshots kept (at least 3). Default 3.
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval`: hours between purges; 0 = never. Default 0.
    pub autopurge_purge_interval_hours: u32,
    /// `fsync.warningthresholdms`: warn about syncs slower than this. Default 1000.
    pub fsync_warning_threshold_ms: u64,
    /// `cores` (corral only): executor threads; default the number of CPUs.
    pub cores: usize,
    /// This server's id: the `myid` key if set (corral's addition, for
    /// members started without files: `--override myid=2`), else
    /// `<dataDir>/myid` if that file exists (ZooKeeper's only source). When
    /// both are there and differ, the key wins with a warning.
    pub my_id: Option<u64>,
    /// SASL (DIGEST-MD5) for clients: on when the JAAS file
    /// (`java.security.auth.login.config`) has the login section
    /// (`zookeeper.sasl.serverconfig`, default `Server`), as in ZooKeeper.
    pub sasl: Option<SaslConfig>,
    /// `authProvider.N=org.apache.zookeeper.server.auth.SASLAuthenticationProvider`:
    /// the `sasl` ACL scheme exists (ACLs with it are valid and can match).
    pub sasl_acl_scheme: bool,
    /// `zookeeper.superUser` (and `zookeeper.superUser.<anything>`): SASL
    /// users that are super users once authenticated.
    pub sasl_super_users: Vec<String>,
    /// `allowSaslFailedClients`: a failed SASL exchange keeps the connection
    /// (unless SASL is required). Default false: AuthFailed, then close.
    pub allow_sasl_failed_clients: bool,
    /// Schemes a connection must have authenticated with before any request
    /// but auth and SASL is served: `enforce.auth.enabled` with
    /// `enforce.auth.schemes`, or `sessionRequireClientSASLAuth=true` (= sasl).
    /// Empty: not enforced.
    pub enforce_auth_schemes: Vec<String>,
    /// ZooKeeper's AdminServer: its HTTP commands.
    pub admin_server: AdminServerConfig,
    /// ZooKeeper's Prometheus metrics provider: where `/metrics` is served,
    /// when `metricsProvider.className` names it.
    pub prometheus: Option<SocketAddr>,
    /// The configuration as given: the AdminServer's `initial_configuration`.
    pub initial_configuration: InitialConfiguration,
}

/// The configuration's text as given (the file's, then each override as a
/// `key=value` line). A record of where the settings came from, not a
/// setting: two configurations that mean the same compare equal whatever
/// their texts.
#[derive(Clone, Debug, Default)]
pub struct InitialConfiguration(pub String);

impl PartialEq for InitialConfiguration {
    fn eq(&self, _: &InitialConfiguration) -> bool {
        true
    }
}

impl Eq for InitialConfiguration {}

/// `admin.enableServer` (default true), `admin.serverAddress` (default
/// 0.0.0.0), `admin.serverPort` (default 8080), `admin.commandURL` (default
/// `/commands`), as ZooKeeper's `JettyAdminServer` reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminServerConfig {
    pub enabled: bool,
    pub address: SocketAddr,
    pub command_url: String,
}

impl Default for AdminServerConfig {
    fn default() -> AdminServerConfig {
        AdminServerConfig {
            enabled: true,
            address: SocketAddr::from(([0, 0, 0, 0], 8080)),
            command_url: "/commands".into(),
        }
    }
}

/// ZooKeeper's Prometheus provider class (`metricsProvider.className`).
pub const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// The SASL server's users, from the JAAS login section.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// The JAAS file they came from (for messages).
    pub jaas_file: PathBuf,
    /// `user_<name>="<password>"` options of `DigestLoginModule`.
    pub users: BTreeMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the password of
    /// user `super`, over the JAAS file's.
    pub super_password: Option<String>,
}

impl SaslConfig {
    /// The password `user` authenticates with, if it may.
    pub fn password(&self, user: &str) -> Option<String> {
        if user == "super"
            && let Some(p) = &self.super_password
        {
            return Some(p.clone());
        }
        self.users.get(user).cloned()
    }
}

impl std::fmt::Debug for SaslConfig {
    /// Never prints passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("jaas_file", &self.jaas_file)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field(
                "super_password",
                &self.super_password.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// A loaded configuration and what the caller should log about it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// Unknown or unsupported keys, clamped values, odd ensemble sizes.
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// What `corral serve` runs with no arguments: a standalone server on
    /// port 2181 (all addresses), data in `./data`.
    fn default() -> Self {
        let tick_time_ms = 2000;
        Config {
            tick_time_ms,
            init_limit: 10,
            sync_limit: 5,
            data_dir: PathBuf::from("./data"),
            data_log_dir: PathBuf::from("./data"),
            client_port: Some(2181),
            client_port_address: None,
            secure_client_port: None,
            secure_client_port_address: None,
            tls: None,
            x509_super_user: None,
            client_port_listen_backlog: None,
            max_client_cnxns: 60,
            min_session_timeout_ms: tick_time_ms * 2,
            max_session_timeout_ms: tick_time_ms * 20,
            four_letter_whitelist: FourLetterWhitelist::default(),
            servers: Vec::new(),
            peer_type: ServerRole::Participant,
            quorum_listen_on_all_ips: false,
            election_port_bind_retry: 3,
            cnx_timeout_ms: 5000,
            quorum_cnxn_timeout_ms: -1,
            fast_leader_min_notification_interval_ms: 200,
            fast_leader_max_notification_interval_ms: 60_000,
            commit_log_count: 500,
            force_snapshot_sync: false,
            leader_serves: true,
            leader_max_time_to_wait_for_epoch_ms: None,
            tcp_keep_alive: false,
            leader_connect_delay_during_retry_ms: 100,
            observer_reconnect_delay_ms: 0,
            connect_to_learner_master_limit: 0,
            digest_enabled: true,
            close_session_txn_enabled: true,
            sync_enabled: true,
            standalone_enabled: true,
            global_outstanding_limit: 1000,
            extended_types_enabled: false,
            super_digest: None,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            eager_acl_check: false,
            reconfig_enabled: false,
            jute_max_buffer: 0xfffff,
            force_sync: true,
            pre_alloc_size_kb: 65536,
            snap_count: 100_000,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 0,
            fsync_warning_threshold_ms: 1000,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            my_id: None,
            sasl: None,
            sasl_acl_scheme: false,
            sasl_super_users: Vec::new(),
            allow_sasl_failed_clients: false,
            enforce_auth_schemes: Vec::new(),
            admin_server: AdminServerConfig::default(),
            prometheus: None,
            initial_configuration: InitialConfiguration::default(),
        }
    }
}

impl Config {
    /// Reads `path` (if any), then applies `overrides` in order (later wins),
    /// then derives defaults (session timeouts, `dataLogDir`), reads
    /// `<dataDir>/myid` and validates the whole.
    pub fn load(
        path: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<LoadedConfig, ConfigError> {
        load::load(path, overrides)
    }

    /// Whether the four-letter word `word` may be answered. `srvr` always may.
    pub fn four_letter_allowed(&self, word: &str) -> bool {
        self.four_letter_whitelist.allows(word)
    }

    /// Whether this server runs the quorum protocol: more than one voting
    /// member, or `standaloneEnabled=false` with any. ZooKeeper runs a config
    /// with a single `server.N` line standalone.
    pub fn is_distributed(&self) -> bool {
        let voters = self
            .servers
            .iter()
            .filter(|s| s.role == ServerRole::Participant)
            .count();
        voters > 1 || (!self.standalone_enabled && voters > 0)
    }

    /// Whether a connection SASL-authenticated as `id` is a super user
    /// (`zookeeper.superUser`).
    pub fn is_sasl_super_user(&self, id: &str) -> bool {
        !id.is_empty() && self.sasl_super_users.iter().any(|u| u == id)
    }

    /// This server's own `server.N` line, if it has one.
    pub fn my_server(&self) -> Option<&ServerSpec> {
        let id = self.my_id?;
        self.servers.iter().find(|s| s.id == id)
    }
}

/// The `-D` system properties in JVM flag strings (`SERVER_JVMFLAGS`,
/// `JVMFLAGS`) that configure SASL or the AdminServer, as overrides in order: the JAAS file
/// (`java.security.auth.login.config`) and `zookeeper.*` SASL properties.
/// Other flags (heap sizes, log settings) mean nothing to corral.
pub fn jvm_flag_overrides<'a>(flags: impl IntoIterator<Item = &'a str>) -> Vec<(String, String)> {
    const KEYS: &[&str] = &[
        "java.security.auth.login.config",
        "zookeeper.sasl.serverconfig",
        "zookeeper.superUser",
        "zookeeper.superUser.",
        "zookeeper.authProvider.",
        "zookeeper.sessionRequireClientSASLAuth",
        "zookeeper.allowSaslFailedClients",
        "zookeeper.admin.",
    ];
    let mut out = Vec::new();
    for flags in flags {
        for word in flags.split_whitespace() {
            let Some((key, value)) = word.strip_prefix("-D").and_then(|kv| kv.split_once('='))
            else {
                continue;
            };
            if KEYS
                .iter()
                .any(|k| key == *k || (k.ends_with('.') && key.starts_with(k)))
            {
                out.push((key.to_string(), value.trim_matches('"').to_string()));
            }
        }
    }
    out
}

/// Splits one `--override key=value` argument (for clap's `value_parser`).
/// The key must be non-empty; both halves are trimmed; the value may be empty
/// and may itself contain `=`.
pub fn parse_override(s: &str) -> Result<(String, String), ConfigError> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(ConfigError::BadOverride {
            arg: s.to_string(),
            reason: "expected key=value".into(),
        });
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::BadOverride {
            arg: s.to_string(),
            reason: "empty key".into(),
        });
    }
    Ok((key.to_string(), value.trim().to_string()))
}
