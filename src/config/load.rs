//! From file lines and overrides to a validated [`Config`].
//!
//! Keys are applied one at a time, in order (file first, then overrides), each
//! value checked on its own with its location at hand. Whatever depends on
//! several keys (derived defaults, `myid`, the ensemble) is settled once in
//! [`Builder::finish`], after every key has been read, so the order of lines
//! in a file never matters.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Location, Origin};
use super::keys::{self, Disposition};
use super::properties;
use super::server::{ServerRole, ServerSpec, parse_ip, parse_port};
use crate::tls::{
    ClientAuth, ServerTls, StoreField, StoreSettings, StoreType, TlsError, TlsSettings, TlsVersion,
};

use super::{Config, FourLetterWhitelist, LoadedConfig, MAX_SERVER_ID, MAX_SERVER_ID_EXTENDED};

pub(super) fn load(
    path: Option<&Path>,
    overrides: &[(String, String)],
) -> Result<LoadedConfig, ConfigError> {
    let mut builder = Builder {
        file: path.map(Path::to_path_buf),
        ..Builder::default()
    };
    if let Some(path) = path {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = decode(bytes);
        builder.config.initial_configuration.0 = text.clone();
        let entries = properties::parse(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.line,
            reason: e.reason,
        })?;
        for entry in entries {
            let origin = Origin::File {
                path: path.to_path_buf(),
                line: entry.line,
            };
            builder.apply(origin, &entry.key, &entry.value)?;
        }
    }
    for (key, value) in overrides {
        let text = &mut builder.config.initial_configuration.0;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{}={}\n", key.trim(), value.trim()));
        builder.apply(Origin::Override, key.trim(), value.trim())?;
    }
    // ZooKeeper refuses a file without dataDir; corral has a default for the
    // no-file case and uses it here too, but says so.
    if let Some(path) = path
        && !builder.explicit.contains_key("dataDir")
    {
        builder.warnings.push(format!(
            "{}: dataDir is not set; using {}",
            path.display(),
            builder.config.data_dir.display()
        ));
    }
    builder.finish()
}

/// Config files are ISO-8859-1 to `java.util.Properties`; people write UTF-8.
/// Take UTF-8 when it is valid, else read the bytes as Latin-1.
fn decode(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().into_iter().map(char::from).collect())
}

#[derive(Default)]
struct Builder {
    config: Config,
    warnings: Vec<String>,
    /// The config file, if one was read.
    file: Option<PathBuf>,
    /// Where each canonical key was last set (for cross-key errors).
    explicit: HashMap<String, Location>,
    min_session_timeout_ms: Option<u32>,
    max_session_timeout_ms: Option<u32>,
    data_log_dir: Option<PathBuf>,
    peer_type: Option<ServerRole>,
    servers: BTreeMap<u64, (ServerSpec, Location)>,
    /// The client port's `ssl.*` values by canonical key, settled in
    /// [`Builder::settle_tls`] once every key is read.
    ssl: HashMap<String, String>,
    /// `java.security.auth.login.config`, read in [`Builder::settle_sasl`].
    jaas_file: Option<(PathBuf, Location)>,
    /// `zookeeper.sasl.serverconfig`: the JAAS section of the server's users.
    jaas_section: Option<String>,
    sasl_super_password: Option<String>,
    session_require_sasl: bool,
    enforce_auth_enabled: bool,
    enforce_auth_schemes: Vec<String>,
    /// The `myid` key, settled against `<dataDir>/myid` in
    /// [`Builder::settle_my_id`].
    my_id_key: Option<(u64, Location)>,
    /// Quorum switches corral lacks, switched on (the last setting of each
    /// key): refused if this is an ensemble, else warned about
    /// ([`Builder::settle_quorum_only`]).
    quorum_only: Vec<QuorumOnly>,
    /// `metricsProvider.className`, `.httpHost`, `.httpPort`, settled in
    /// [`Builder::settle_prometheus`].
    metrics_class: Option<String>,
    metrics_host: Option<IpAddr>,
    metrics_port: Option<u16>,
}

/// A [`keys::Disposition::QuorumOnly`] key that is switched on.
struct QuorumOnly {
    at: Location,
    value: String,
    reason: &'static str,
}

/// What `authProvider.N` names for the `sasl` scheme.
const SASL_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
/// Providers ZooKeeper registers anyway (naming them changes nothing).
const BUILT_IN_PROVIDER_CLASSES: &[&str] = &[
    "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
    "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
];
/// The JAAS login module whose `user_<name>` options are DIGEST-MD5 users.
const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

fn invalid(at: &Location, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        at: at.clone(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl Builder {
    fn apply(&mut self, origin: Origin, key: &str, value: &str) -> Result<(), ConfigError> {
        let at = Location {
            origin,
            key: key.to_string(),
        };
        let name = keys::canonical(key);
        // java.util.Properties keeps the last of repeated keys; say so.
        if let Origin::File { .. } = at.origin
            && let Some(prev) = self.explicit.get(name)
            && let Origin::File {
                line: prev_line, ..
            } = prev.origin
            && !name.starts_with("server.")
        {
            self.warnings.push(format!(
                "{at}: set again (first on line {prev_line}); the later value {value:?} wins"
            ));
        }
        if self.apply_quorum_key(&at, name, value)? {
            self.explicit.insert(name.to_string(), at);
            return Ok(());
        }
        let bad = |reason: String| invalid(&at, value, reason);
        let c = &mut self.config;
        match name {
            "tickTime" => c.tick_time_ms = positive_u32(value).map_err(bad)?,
            "initLimit" => c.init_limit = parse_u32(value).map_err(bad)?,
            "syncLimit" => c.sync_limit = parse_u32(value).map_err(bad)?,
            "dataDir" => c.data_dir = parse_dir(value).map_err(bad)?,
            "dataLogDir" => self.data_log_dir = Some(parse_dir(value).map_err(bad)?),
            "clientPort" => c.client_port = Some(parse_port(value).map_err(bad)?),
            "secureClientPort" => c.secure_client_port = Some(parse_port(value).map_err(bad)?),
            "secureClientPortAddress" => {
                let ip = parse_ip(value).ok_or_else(|| {
                    bad("expected an IP address (host names are not resolved)".into())
                })?;
                c.secure_client_port_address = listen_ip(ip);
            }
            "ssl.keyStore.type" | "ssl.trustStore.type" => {
                if !value.is_empty() && StoreType::parse(value).is_none() {
                    return Err(bad("expected PEM, JKS or PKCS12".into()));
                }
                self.ssl.insert(name.to_string(), value.to_string());
            }
            "ssl.clientAuth" => {
                if ClientAuth::parse(value).is_none() {
                    return Err(bad("expected need, want or none".into()));
                }
                self.ssl.insert(name.to_string(), value.to_string());
            }
            "ssl.keyStore.location"
            | "ssl.keyStore.password"
            | "ssl.keyStore.passwordPath"
            | "ssl.trustStore.location"
            | "ssl.trustStore.password"
            | "ssl.trustStore.passwordPath"
            | "ssl.protocol"
            | "ssl.enabledProtocols"
            | "ssl.ciphersuites" => {
                self.ssl.insert(name.to_string(), value.to_string());
            }
            "ssl.authProvider" if value == "x509" => {}
            "X509AuthenticationProvider.superUser" => {
                c.x509_super_user = Some(value.to_string());
            }
            "clientPortAddress" => {
                let ip = parse_ip(value).ok_or_else(|| {
                    bad("expected an IP address (host names are not resolved)".into())
                })?;
                c.client_port_address = listen_ip(ip);
            }
            "clientPortListenBacklog" => {
                c.client_port_listen_backlog = minus_one_or(value, positive_u32).map_err(bad)?
            }
            "maxClientCnxns" => c.max_client_cnxns = parse_u32(value).map_err(bad)?,
            "minSessionTimeout" => {
                self.min_session_timeout_ms = minus_one_or(value, parse_u32).map_err(bad)?
            }
            "maxSessionTimeout" => {
                self.max_session_timeout_ms = minus_one_or(value, parse_u32).map_err(bad)?
            }
            "4lw.commands.whitelist" => {
                c.four_letter_whitelist = FourLetterWhitelist::parse(value);
            }
            "peerType" => self.peer_type = Some(ServerRole::parse(value).map_err(bad)?),
            "quorumListenOnAllIPs" => {
                c.quorum_listen_on_all_ips = parse_bool(value).map_err(bad)?
            }
            "syncEnabled" => c.sync_enabled = parse_bool(value).map_err(bad)?,
            "standaloneEnabled" => c.standalone_enabled = parse_bool(value).map_err(bad)?,
            "electionAlg" => {
                if parse_u32(value).map_err(bad)? != 3 {
                    return Err(bad("only 3 (fast leader election) is supported".into()));
                }
            }
            "globalOutstandingLimit" => {
                c.global_outstanding_limit = positive_u32(value).map_err(bad)?
            }
            "extendedTypesEnabled" => c.extended_types_enabled = parse_bool(value).map_err(bad)?,
            "DigestAuthenticationProvider.superDigest" => {
                match value.split_once(':') {
                    Some((user, digest)) if !user.is_empty() && !digest.is_empty() => {}
                    _ => return Err(bad("expected user:base64digest, e.g. super:<digest>".into())),
                }
                c.super_digest = Some(value.to_string());
            }
            "znode.container.checkIntervalMs" => {
                c.container_check_interval_ms = positive_u64(value).map_err(bad)?
            }
            "znode.container.maxPerMinute" => {
                c.container_max_per_minute = positive_u32(value).map_err(bad)?
            }
            "enableEagerACLCheck" => c.eager_acl_check = parse_bool(value).map_err(bad)?,
            "reconfigEnabled" => c.reconfig_enabled = parse_bool(value).map_err(bad)?,
            "jute.maxbuffer" => {
                let n = positive_u32(value).map_err(bad)?;
                c.jute_max_buffer = usize::try_from(n).map_err(|_| bad("too large".into()))?;
            }
            "forceSync" => c.force_sync = parse_yes_no(value).map_err(bad)?,
            "preAllocSize" => c.pre_alloc_size_kb = positive_u64(value).map_err(bad)?,
            "snapCount" => {
                let n = parse_u32(value).map_err(bad)?;
                if n < 2 {
                    self.warnings.push(format!("{at}: {n} is below 2; using 2"));
                }
                c.snap_count = n.max(2);
            }
            "autopurge.snapRetainCount" => {
                // ZooKeeper resets anything below 3 (negative included) to 3.
                let n = parse_i64(value).map_err(bad)?;
                if n < 3 {
                    self.warnings.push(format!("{at}: {n} is below 3; using 3"));
                }
                c.autopurge_snap_retain_count =
                    u32::try_from(n.max(3)).map_err(|_| bad("too large".into()))?;
            }
            "autopurge.purgeInterval" => {
                // ZooKeeper: zero or negative disables purging.
                let n = parse_i64(value).map_err(bad)?;
                c.autopurge_purge_interval_hours =
                    u32::try_from(n.max(0)).map_err(|_| bad("too large".into()))?;
            }
            "fsync.warningthresholdms" => {
                c.fsync_warning_threshold_ms = parse_u64(value).map_err(bad)?
            }
            "cores" => {
                let n = positive_u64(value).map_err(bad)?;
                c.cores = usize::try_from(n).map_err(|_| bad("too large".into()))?;
            }
            "java.security.auth.login.config" => {
                self.jaas_file = Some((parse_dir(value).map_err(bad)?, at.clone()));
            }
            "sasl.serverconfig" => {
                if value.is_empty() {
                    return Err(bad("empty JAAS section name".into()));
                }
                self.jaas_section = Some(value.to_string());
            }
            "SASLAuthenticationProvider.superPassword" => {
                self.sasl_super_password = Some(value.to_string());
            }
            "allowSaslFailedClients" => {
                c.allow_sasl_failed_clients = parse_bool(value).map_err(bad)?
            }
            "sessionRequireClientSASLAuth" => {
                self.session_require_sasl = parse_bool(value).map_err(bad)?
            }
            "enforce.auth.enabled" => self.enforce_auth_enabled = parse_bool(value).map_err(bad)?,
            "enforce.auth.schemes" => {
                self.enforce_auth_schemes = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            _ if name == "superUser" || name.starts_with("superUser.") => {
                if !value.is_empty() {
                    c.sasl_super_users.push(value.to_string());
                }
            }
            _ if name.starts_with("authProvider.") => {
                if value == SASL_PROVIDER_CLASS {
                    c.sasl_acl_scheme = true;
                } else if !BUILT_IN_PROVIDER_CLASSES.contains(&value) {
                    // ZooKeeper logs "Problems loading" and goes on without it.
                    self.warnings.push(format!(
                        "{at}: authentication provider {value:?} is not available in corral; ignored"
                    ));
                }
            }
            "dynamicConfigFile" => {
                return Err(ConfigError::Unsupported {
                    at,
                    reason: "dynamic config files are not supported; \
                             put the server.N lines in this file"
                        .into(),
                });
            }
            _ if name.starts_with("group.") || name.starts_with("weight.") => {
                return Err(ConfigError::Unsupported {
                    at,
                    reason: "hierarchical quorums (group/weight) are not supported; \
                             corral uses majority quorums"
                        .into(),
                });
            }
            _ if name.starts_with("server.") => {
                let id_text = &name["server.".len()..];
                let id = id_text
                    .parse::<u64>()
                    .map_err(|_| bad(format!("{id_text:?} in the key is not a server id")))?;
                let spec = ServerSpec::parse(id, value).map_err(bad)?;
                if let Some((_, prev)) = self.servers.get(&id)
                    && matches!(at.origin, Origin::File { .. })
                {
                    return Err(ConfigError::Conflict {
                        reason: format!("server id {id} is already defined at {prev}"),
                        at,
                    });
                }
                self.servers.insert(id, (spec, at.clone()));
            }
            _ => match keys::classify(name) {
                Disposition::QuorumOnly(reason) => {
                    // The last setting counts: a later "off" clears an earlier "on".
                    self.quorum_only
                        .retain(|q| keys::canonical(&q.at.key) != name);
                    if keys::is_off(value) {
                        tracing::debug!(%at, value, "unsupported quorum setting left off");
                    } else {
                        self.quorum_only.push(QuorumOnly {
                            at: at.clone(),
                            value: value.to_string(),
                            reason,
                        });
                    }
                }
                Disposition::Ignored => {
                    tracing::debug!(%at, value, "ZooKeeper setting has no effect in corral")
                }
                Disposition::Unsupported if keys::is_off(value) => {
                    tracing::debug!(%at, value, "unsupported ZooKeeper setting left off")
                }
                Disposition::Unsupported => self.warnings.push(format!(
                    "{at}: not supported by corral; ignored (value {value:?})"
                )),
                Disposition::Unknown => self
                    .warnings
                    .push(format!("{at}: unknown key; ignored (value {value:?})")),
            },
        }
        self.explicit.insert(name.to_string(), at);
        Ok(())
    }

    /// The keys of an ensemble (`myid`, and the quorum protocols' tuning
    /// that ZooKeeper reads as `zookeeper.*` system properties or
    /// `QuorumPeerConfig` keys). Returns whether `name` was one of them.
    fn apply_quorum_key(
        &mut self,
        at: &Location,
        name: &str,
        value: &str,
    ) -> Result<bool, ConfigError> {
        let bad = |reason: String| invalid(at, value, reason);
        let c = &mut self.config;
        match name {
            "myid" => {
                let id = value
                    .parse::<u64>()
                    .map_err(|_| bad("expected a server id (a whole number)".into()))?;
                self.my_id_key = Some((id, at.clone()));
            }
            "electionPortBindRetry" => {
                let n = parse_i64(value).map_err(bad)?;
                if n < 0 {
                    self.warnings
                        .push(format!("{at}: {n} is negative; using 3, the default"));
                }
                let n = if n < 0 { 3 } else { n };
                c.election_port_bind_retry =
                    u32::try_from(n).map_err(|_| bad("too large".into()))?;
            }
            "cnxTimeout" => c.cnx_timeout_ms = positive_u32(value).map_err(bad)?,
            "quorumCnxnTimeoutMs" => c.quorum_cnxn_timeout_ms = parse_i64(value).map_err(bad)?,
            "fastleader.minNotificationInterval" => {
                c.fast_leader_min_notification_interval_ms = positive_u32(value).map_err(bad)?
            }
            "fastleader.maxNotificationInterval" => {
                c.fast_leader_max_notification_interval_ms = positive_u32(value).map_err(bad)?
            }
            "commitLogCount" => {
                let n = parse_i64(value).map_err(bad)?;
                if n < 500 {
                    self.warnings
                        .push(format!("{at}: {n} is below 500; using 500"));
                }
                c.commit_log_count =
                    u32::try_from(n.max(500)).map_err(|_| bad("too large".into()))?;
            }
            "forceSnapshotSync" => c.force_snapshot_sync = parse_bool(value).map_err(bad)?,
            "leaderServes" => {
                c.leader_serves = if value.eq_ignore_ascii_case("yes") {
                    true
                } else if value.eq_ignore_ascii_case("no") {
                    false
                } else {
                    return Err(bad(
                        "expected yes or no (ZooKeeper takes every value but no as yes)".into(),
                    ));
                }
            }
            "leader.maxTimeToWaitForEpoch" => {
                let n = parse_i64(value).map_err(bad)?;
                c.leader_max_time_to_wait_for_epoch_ms = u64::try_from(n).ok();
            }
            "tcpKeepAlive" => c.tcp_keep_alive = parse_bool(value).map_err(bad)?,
            "leaderConnectDelayDuringRetryMs" => {
                c.leader_connect_delay_during_retry_ms = parse_u32(value).map_err(bad)?
            }
            "observer.reconnectDelayMs" => {
                c.observer_reconnect_delay_ms = parse_u64(value).map_err(bad)?
            }
            "connectToLearnerMasterLimit" => {
                c.connect_to_learner_master_limit = parse_u32(value).map_err(bad)?
            }
            "digest.enabled" => c.digest_enabled = parse_bool(value).map_err(bad)?,
            "closeSessionTxn.enabled" => {
                c.close_session_txn_enabled = parse_bool(value).map_err(bad)?
            }
            "admin.enableServer" => c.admin_server.enabled = parse_bool(value).map_err(bad)?,
            "admin.serverAddress" => {
                let ip = parse_ip(value).ok_or_else(|| {
                    bad("expected an IP address (host names are not resolved)".into())
                })?;
                c.admin_server.address.set_ip(ip);
            }
            "admin.serverPort" => c
                .admin_server
                .address
                .set_port(parse_port(value).map_err(bad)?),
            "admin.commandURL" => {
                if !value.starts_with('/') {
                    return Err(bad("expected a path starting with /".into()));
                }
                c.admin_server.command_url = value.trim_end_matches('/').to_string();
            }
            "metricsProvider.className" => self.metrics_class = Some(value.to_string()),
            "metricsProvider.httpHost" => {
                self.metrics_host = Some(parse_ip(value).ok_or_else(|| {
                    bad("expected an IP address (host names are not resolved)".into())
                })?)
            }
            "metricsProvider.httpPort" => self.metrics_port = Some(parse_port(value).map_err(bad)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn finish(mut self) -> Result<LoadedConfig, ConfigError> {
        self.derive_defaults()?;
        self.settle_sasl()?;
        self.settle_enforce_auth()?;
        self.settle_my_id()?;
        self.settle_servers()?;
        self.settle_quorum_only()?;
        self.settle_tls()?;
        self.settle_prometheus();
        Ok(LoadedConfig {
            config: self.config,
            warnings: self.warnings,
        })
    }

    /// ZooKeeper's Prometheus provider serves `/metrics` on
    /// `metricsProvider.httpHost` (default 0.0.0.0) and `.httpPort` (default
    /// 7000). Other providers are not built; their metrics stay in `mntr`.
    fn settle_prometheus(&mut self) {
        let Some(class) = self.metrics_class.take() else {
            return;
        };
        if class == crate::config::PROMETHEUS_PROVIDER {
            let host = self.metrics_host.unwrap_or(IpAddr::from([0, 0, 0, 0]));
            self.config.prometheus = Some(SocketAddr::new(host, self.metrics_port.unwrap_or(7000)));
        } else if !class.ends_with(".NullMetricsProvider") {
            self.warnings.push(format!(
                "metricsProvider.className={class} is not supported (only {}); no metrics \
                 endpoint is served",
                crate::config::PROMETHEUS_PROVIDER
            ));
        }
    }

    /// The server id: the `myid` key wins over `<dataDir>/myid` (which
    /// members started with `--override`s only may lack, or keep elsewhere).
    /// A file that disagrees, or does not parse, is then only a warning.
    fn settle_my_id(&mut self) -> Result<(), ConfigError> {
        let from_file = read_my_id(&self.config.data_dir);
        let Some((id, at)) = self.my_id_key.take() else {
            self.config.my_id = from_file?;
            return Ok(());
        };
        let file = self.config.data_dir.join("myid");
        match from_file {
            Ok(Some(file_id)) if file_id != id => self.warnings.push(format!(
                "{at}: {id} differs from {} ({file_id}); using {id}",
                file.display()
            )),
            Ok(_) => {}
            Err(e) => self
                .warnings
                .push(format!("{at}: using {id}; ignoring {e}")),
        }
        self.config.my_id = Some(id);
        Ok(())
    }

    /// Quorum switches corral lacks: an ensemble member that ignored them
    /// would not interoperate with members that honour them, so it refuses
    /// to start; a standalone server (where ZooKeeper runs no quorum code
    /// either) warns. `reconfigEnabled` is implemented for standalone
    /// servers only (they answer reconfig requests as ZooKeeper's do).
    fn settle_quorum_only(&mut self) -> Result<(), ConfigError> {
        let distributed = self.config.is_distributed();
        if distributed && self.config.reconfig_enabled {
            return Err(ConfigError::Unsupported {
                at: self.at("reconfigEnabled"),
                reason: "dynamic reconfiguration of an ensemble is not supported by corral yet; \
                         set reconfigEnabled=false"
                    .into(),
            });
        }
        for q in std::mem::take(&mut self.quorum_only) {
            if distributed {
                return Err(ConfigError::Unsupported {
                    at: q.at,
                    reason: format!(
                        "{} (value {:?}); switch it off or remove it",
                        q.reason, q.value
                    ),
                });
            }
            self.warnings.push(format!(
                "{}: not supported by corral; ignored (value {:?})",
                q.at, q.value
            ));
        }
        Ok(())
    }

    /// ZooKeeper's `ServerCnxnFactory.configureSaslLogin`: with a JAAS file
    /// that has the login section, SASL is on and its `DigestLoginModule`
    /// options `user_<name>` are the users. A file that does not parse stops
    /// the server; a file without the section leaves SASL off.
    fn settle_sasl(&mut self) -> Result<(), ConfigError> {
        let Some((path, _)) = self.jaas_file.take() else {
            if self.jaas_section.is_some() {
                self.warnings.push(
                    "zookeeper.sasl.serverconfig is set but java.security.auth.login.config \
                     is not: SASL is off"
                        .into(),
                );
            }
            return Ok(());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let jaas_error = |reason: String| ConfigError::Jaas {
            path: path.clone(),
            reason,
        };
        let sections = super::jaas::parse(&text).map_err(|e| jaas_error(e.to_string()))?;
        let name = self.jaas_section.as_deref().unwrap_or("Server");
        let Some(section) = sections.into_iter().find(|s| s.name == name) else {
            self.warnings.push(format!(
                "JAAS login configuration {}: no section {name}: SASL is off",
                path.display()
            ));
            return Ok(());
        };
        let mut users = BTreeMap::new();
        for module in section.modules {
            if module.class != DIGEST_LOGIN_MODULE {
                return Err(jaas_error(format!(
                    "section {name}: login module {} is not supported; corral's SASL is \
                     DIGEST-MD5 with {DIGEST_LOGIN_MODULE} (no Kerberos/GSSAPI)",
                    module.class
                )));
            }
            for (key, value) in module.options {
                if let Some(user) = key.strip_prefix("user_") {
                    users.insert(user.to_string(), value);
                }
            }
        }
        self.config.sasl = Some(super::SaslConfig {
            jaas_file: path,
            users,
            super_password: self.sasl_super_password.take(),
        });
        Ok(())
    }

    /// ZooKeeper's `AuthenticationHelper`: `sessionRequireClientSASLAuth=true`
    /// means `enforce.auth.enabled=true` with the `sasl` scheme; an enforced
    /// scheme must exist (`ip`, `digest`, `sasl` with its provider).
    fn settle_enforce_auth(&mut self) -> Result<(), ConfigError> {
        let schemes = if self.session_require_sasl {
            vec!["sasl".to_string()]
        } else if self.enforce_auth_enabled {
            std::mem::take(&mut self.enforce_auth_schemes)
        } else {
            return Ok(());
        };
        let blame = [
            "sessionRequireClientSASLAuth",
            "enforce.auth.schemes",
            "enforce.auth.enabled",
        ]
        .iter()
        .find_map(|k| self.explicit.get(*k))
        .cloned();
        let refuse = |reason: String| match &blame {
            Some(at) => ConfigError::Conflict {
                at: at.clone(),
                reason,
            },
            None => ConfigError::Invalid { reason },
        };
        if schemes.is_empty() {
            return Err(refuse(
                "enforce.auth.enabled is true: enforce.auth.schemes must name a scheme".into(),
            ));
        }
        for scheme in &schemes {
            let available = match scheme.as_str() {
                "ip" | "digest" => true,
                "sasl" => self.config.sasl_acl_scheme,
                _ => false,
            };
            if !available {
                let hint = if scheme == "sasl" {
                    format!(" (it needs authProvider.1={SASL_PROVIDER_CLASS})")
                } else {
                    String::new()
                };
                return Err(refuse(format!(
                    "authentication scheme {scheme} is not available{hint}"
                )));
            }
        }
        self.config.enforce_auth_schemes = schemes;
        Ok(())
    }

    fn derive_defaults(&mut self) -> Result<(), ConfigError> {
        let c = &mut self.config;
        let tick = c.tick_time_ms;
        c.min_session_timeout_ms = self
            .min_session_timeout_ms
            .unwrap_or(tick.saturating_mul(2));
        c.max_session_timeout_ms = self
            .max_session_timeout_ms
            .unwrap_or(tick.saturating_mul(20));
        if c.min_session_timeout_ms > c.max_session_timeout_ms {
            let at = self
                .explicit
                .get("minSessionTimeout")
                .or_else(|| self.explicit.get("maxSessionTimeout"))
                .or_else(|| self.explicit.get("tickTime"))
                .cloned();
            let reason = format!(
                "minSessionTimeout ({} ms) must not be larger than maxSessionTimeout ({} ms)",
                c.min_session_timeout_ms, c.max_session_timeout_ms
            );
            return Err(match at {
                Some(at) => ConfigError::Conflict { at, reason },
                None => ConfigError::Invalid { reason },
            });
        }
        c.data_log_dir = self
            .data_log_dir
            .clone()
            .unwrap_or_else(|| c.data_dir.clone());
        // FastLeaderElection starts at the minimum and caps at the maximum,
        // so a minimum above the maximum only shortens the first wait.
        if c.fast_leader_min_notification_interval_ms > c.fast_leader_max_notification_interval_ms {
            self.warnings.push(format!(
                "fastleader.minNotificationInterval ({} ms) is above \
                 fastleader.maxNotificationInterval ({} ms): election waits {} ms at first, \
                 then {} ms",
                c.fast_leader_min_notification_interval_ms,
                c.fast_leader_max_notification_interval_ms,
                c.fast_leader_min_notification_interval_ms,
                c.fast_leader_max_notification_interval_ms
            ));
        }
        Ok(())
    }

    /// Ensemble checks, in the spirit of ZooKeeper's `parseDynamicConfig`,
    /// `setupClientPort`, `setupPeerType` and `checkValidity`.
    fn settle_servers(&mut self) -> Result<(), ConfigError> {
        let max_id = if self.config.extended_types_enabled {
            MAX_SERVER_ID_EXTENDED
        } else {
            MAX_SERVER_ID
        };
        for (id, (_, at)) in &self.servers {
            if *id == 0 || *id > max_id {
                let why = if self.config.extended_types_enabled {
                    " while extendedTypesEnabled=true"
                } else {
                    ""
                };
                return Err(ConfigError::Conflict {
                    at: at.clone(),
                    reason: format!("server id {id} is outside 1..={max_id}{why}"),
                });
            }
        }
        check_address_clashes(&self.servers)?;

        self.config.servers = self.servers.values().map(|(s, _)| s.clone()).collect();
        let c = &mut self.config;
        let voters = c
            .servers
            .iter()
            .filter(|s| s.role == ServerRole::Participant)
            .count();
        let observers = c.servers.len() - voters;
        if voters == 0 {
            if !c.standalone_enabled && observers == 0 {
                return Err(ConfigError::Invalid {
                    reason: "standaloneEnabled=false needs at least one participant server.N line"
                        .into(),
                });
            }
            if observers > 0 {
                return Err(ConfigError::Invalid {
                    reason: "observers without participants is not a valid ensemble".into(),
                });
            }
        } else if voters == 1 && c.standalone_enabled {
            if observers > 0 {
                return Err(ConfigError::Invalid {
                    reason: "observers without a quorum is not a valid ensemble".into(),
                });
            }
            self.warnings.push(
                "only one server.N line: running standalone (as ZooKeeper does); \
                 set standaloneEnabled=false to run a one-member quorum"
                    .into(),
            );
        } else if voters <= 2 {
            self.warnings
                .push("no server failure will be tolerated: an ensemble needs 3 servers".into());
        } else if voters % 2 == 0 {
            self.warnings.push(format!(
                "{voters} voting servers tolerate no more failures than {}; prefer an odd number",
                voters - 1
            ));
        }

        if c.is_distributed() {
            let limits = [("initLimit", c.init_limit), ("syncLimit", c.sync_limit)];
            self.check_ensemble_limits(limits)?;
            let c = &self.config;
            let Some(my_id) = c.my_id else {
                return Err(ConfigError::Invalid {
                    reason: format!(
                        "{} is missing and myid is not set: an ensemble member needs its \
                         server id (write it to that file, or set myid=N)",
                        c.data_dir.join("myid").display()
                    ),
                });
            };
            if !c.servers.iter().any(|s| s.id == my_id) {
                return Err(ConfigError::Invalid {
                    reason: format!("myid {my_id} has no server.{my_id} line"),
                });
            }
        }

        self.settle_client_port()?;

        let c = &mut self.config;
        if let Some(me) = c.my_server() {
            let role = me.role;
            if let Some(configured) = self.peer_type
                && configured != role
            {
                self.warnings.push(format!(
                    "peerType={configured} but server.{} says {role}; using {role}",
                    me.id
                ));
            }
            c.peer_type = role;
        } else if let Some(configured) = self.peer_type {
            c.peer_type = configured;
        }
        Ok(())
    }

    /// initLimit and syncLimit of an ensemble: above 0. ZooKeeper has no
    /// defaults and refuses an ensemble without them; corral defaults to its
    /// sample's 10 and 5 so that members start from `--override`s alone, and
    /// says so when a config file leaves them out.
    fn check_ensemble_limits(&mut self, limits: [(&str, u32); 2]) -> Result<(), ConfigError> {
        for (key, ticks) in limits {
            if ticks == 0 {
                return Err(ConfigError::Conflict {
                    at: self.at(key),
                    reason: format!("{key} must be above 0 in an ensemble"),
                });
            }
            if let Some(file) = &self.file
                && !self.explicit.contains_key(key)
            {
                self.warnings.push(format!(
                    "{}: {key} is not set; using {ticks} (ZooKeeper refuses an ensemble \
                     without it)",
                    file.display()
                ));
            }
        }
        Ok(())
    }

    /// A client address in this server's own `server.N` line wins over
    /// `clientPort`/`clientPortAddress`, which must then agree with it.
    fn settle_client_port(&mut self) -> Result<(), ConfigError> {
        let c = &mut self.config;
        let Some(line_addr) = c.my_server().and_then(|s| s.client_addr.clone()) else {
            return Ok(());
        };
        let Some(id) = c.my_id else {
            return Ok(());
        };
        let line_at = self.servers.get(&id).map(|(_, at)| at.clone());
        let Some(ip) = line_addr.ip() else {
            return Err(ConfigError::Conflict {
                at: line_at.unwrap_or_else(|| Location {
                    origin: Origin::Override,
                    key: format!("server.{id}"),
                }),
                reason: format!(
                    "this server's client address {:?} must be an IP address \
                     (corral does not resolve names for listening)",
                    line_addr.host
                ),
            });
        };
        let explicit = self
            .explicit
            .get("clientPort")
            .or_else(|| self.explicit.get("clientPortAddress"));
        if let Some(at) = explicit {
            let port_differs = c.client_port != Some(line_addr.port);
            let addr_differs = match c.client_port_address {
                None => false,
                Some(static_ip) => static_ip != ip,
            };
            if port_differs || addr_differs {
                return Err(ConfigError::Conflict {
                    at: at.clone(),
                    reason: format!(
                        "client address {}:{} differs from {line_addr} in server.{id}",
                        c.client_port_address
                            .map_or_else(|| "0.0.0.0".to_string(), |a| a.to_string()),
                        c.client_port.unwrap_or(0)
                    ),
                });
            }
        }
        c.client_port = Some(line_addr.port);
        c.client_port_address = listen_ip(ip);
        Ok(())
    }
}

impl Builder {
    /// Where `key` was set, or a stand-in naming it (for a key that was not
    /// set but should have been).
    fn at(&self, key: &str) -> Location {
        self.explicit.get(key).cloned().unwrap_or_else(|| Location {
            origin: Origin::Override,
            key: key.to_string(),
        })
    }

    /// One store's settings (`ssl.keyStore` or `ssl.trustStore`), if its
    /// location is set.
    fn store(&self, prefix: &str) -> Result<Option<StoreSettings>, ConfigError> {
        let key = |field: &str| format!("{prefix}.{field}");
        let Some(location) = self.ssl.get(&key("location")).filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let location = PathBuf::from(location);
        let store_type = match self.ssl.get(&key("type")).filter(|t| !t.is_empty()) {
            // Checked when the key was read.
            Some(t) => StoreType::parse(t).unwrap_or(StoreType::Jks),
            None => StoreType::from_file_name(&location).ok_or_else(|| ConfigError::Conflict {
                at: self.at(&key("location")),
                reason: format!(
                    "cannot tell the store type from the file name {} \
                     (.pem, .jks or .p12); set {}",
                    location.display(),
                    key("type")
                ),
            })?,
        };
        let password = match (
            self.ssl.get(&key("password")),
            self.ssl.get(&key("passwordPath")),
        ) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(path)) if !path.is_empty() => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unusable {
                    at: self.at(&key("passwordPath")),
                    reason: format!("cannot read {path}: {e}"),
                })?;
                Some(text.trim_end_matches(['\r', '\n']).to_string())
            }
            _ => None,
        };
        Ok(Some(StoreSettings {
            location,
            password,
            store_type,
        }))
    }

    /// `ssl.protocol` / `ssl.enabledProtocols` as ZooKeeper reads them: the
    /// enabled list wins; otherwise TLSv1.3 (the default) also enables
    /// TLSv1.2, as the JDK does, and TLSv1.2 enables only itself.
    fn tls_versions(&mut self) -> Result<Vec<TlsVersion>, ConfigError> {
        if let Some(list) = self.ssl.get("ssl.enabledProtocols").cloned() {
            let mut versions = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                match TlsVersion::from_java_name(name) {
                    Some(v) if !versions.contains(&v) => versions.push(v),
                    Some(_) => {}
                    None => self.warnings.push(format!(
                        "{}: {name} is not offered (corral speaks TLSv1.2 and TLSv1.3)",
                        self.at("ssl.enabledProtocols")
                    )),
                }
            }
            if versions.is_empty() {
                return Err(invalid(
                    &self.at("ssl.enabledProtocols"),
                    &list,
                    "no protocol corral speaks (TLSv1.2, TLSv1.3)",
                ));
            }
            return Ok(versions);
        }
        match self.ssl.get("ssl.protocol").map(|p| p.trim()) {
            None | Some("") | Some("TLSv1.3") | Some("TLS") => {
                Ok(vec![TlsVersion::Tls13, TlsVersion::Tls12])
            }
            Some("TLSv1.2") => Ok(vec![TlsVersion::Tls12]),
            Some(other) => Err(invalid(
                &self.at("ssl.protocol"),
                other,
                "corral speaks TLSv1.2 and TLSv1.3",
            )),
        }
    }

    /// The secure client port: its address rules (ZooKeeper's
    /// `QuorumPeerConfig`), its stores loaded once so that a missing file or
    /// a wrong password stops the server here, naming the key.
    fn settle_tls(&mut self) -> Result<(), ConfigError> {
        if self.config.secure_client_port.is_none() {
            if let Some(at) = self.explicit.get("secureClientPortAddress") {
                return Err(ConfigError::Conflict {
                    at: at.clone(),
                    reason: "secureClientPortAddress is set but secureClientPort is not set".into(),
                });
            }
            return Ok(());
        }
        let plain_explicit = self.explicit.contains_key("clientPort")
            || self
                .config
                .my_server()
                .is_some_and(|s| s.client_addr.is_some());
        if !plain_explicit {
            if let Some(at) = self.explicit.get("clientPortAddress") {
                return Err(ConfigError::Conflict {
                    at: at.clone(),
                    reason: "clientPortAddress is set but clientPort is not set".into(),
                });
            }
            // Only the TLS port, as ZooKeeper does without clientPort.
            self.config.client_port = None;
        }
        let Some(key_store) = self.store("ssl.keyStore")? else {
            return Err(ConfigError::Conflict {
                at: self.at("secureClientPort"),
                reason: "secureClientPort is set but ssl.keyStore.location is not".into(),
            });
        };
        let trust_store = self.store("ssl.trustStore")?;
        let client_auth = self
            .ssl
            .get("ssl.clientAuth")
            .and_then(|v| ClientAuth::parse(v))
            .unwrap_or_default();
        let versions = self.tls_versions()?;
        let cipher_suites = self
            .ssl
            .get("ssl.ciphersuites")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let settings = TlsSettings {
            key_store,
            trust_store,
            client_auth,
            versions,
            cipher_suites,
        };
        if let Err(e) = ServerTls::new(&settings) {
            let field = |f: StoreField| match f {
                StoreField::Location => "location",
                StoreField::Password => "password",
                StoreField::Type => "type",
            };
            let key = match &e {
                TlsError::KeyStore(s) => format!("ssl.keyStore.{}", field(s.field)),
                TlsError::TrustStore(s) => format!("ssl.trustStore.{}", field(s.field)),
                TlsError::NoCipherSuite(_) => "ssl.ciphersuites".into(),
                TlsError::Identity(_) => "ssl.keyStore.location".into(),
                TlsError::Verifier(_) => "ssl.trustStore.location".into(),
                TlsError::NoTrustStore(_) => "ssl.clientAuth".into(),
            };
            // A password that was never set is blamed on the store it opens.
            let key = if self.explicit.contains_key(&key) || !key.ends_with(".password") {
                key
            } else {
                key.replace(".password", ".location")
            };
            return Err(ConfigError::Unusable {
                at: self.at(&key),
                reason: e.to_string(),
            });
        }
        self.config.tls = Some(settings);
        Ok(())
    }
}

/// No two servers may claim the same quorum/election address, nor the same
/// specific client address (ZooKeeper's `checkAddressDuplicate`). Quorum and
/// election addresses are compared on loopback too: on one host they clash.
fn check_address_clashes(
    servers: &BTreeMap<u64, (ServerSpec, Location)>,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<(String, u16), u64> = HashMap::new();
    for (id, (spec, at)) in servers {
        let mut claimed = vec![spec.quorum_addr(), spec.election_addr()];
        if let Some(client) = &spec.client_addr {
            let shared = client
                .ip()
                .is_some_and(|ip| ip.is_loopback() || ip.is_unspecified());
            if !shared {
                claimed.push(client.clone());
            }
        }
        for addr in claimed {
            if addr.ip().is_some_and(|ip| ip.is_unspecified()) {
                continue;
            }
            let k = (addr.host.to_ascii_lowercase(), addr.port);
            if let Some(other) = seen.insert(k, *id)
                && other != *id
            {
                return Err(ConfigError::Conflict {
                    at: at.clone(),
                    reason: format!("{addr} is also used by server.{other}"),
                });
            }
        }
    }
    Ok(())
}

/// Reads `<dataDir>/myid` if it is a file: one line holding the server id.
fn read_my_id(data_dir: &Path) -> Result<Option<u64>, ConfigError> {
    let path = data_dir.join("myid");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let first = text.lines().next().unwrap_or("").trim();
    first
        .parse::<u64>()
        .map(Some)
        .map_err(|_| ConfigError::MyId {
            path,
            reason: format!("{first:?} is not a server id"),
        })
}

/// `clientPortAddress` as stored: `None` for 0.0.0.0, the default, which means
/// every address, IPv6 included (the JVM binds 0.0.0.0 on a dual-stack socket).
/// `::` is kept as given.
fn listen_ip(ip: IpAddr) -> Option<IpAddr> {
    (!(ip.is_ipv4() && ip.is_unspecified())).then_some(ip)
}

fn parse_dir(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        Err("empty path".into())
    } else {
        Ok(PathBuf::from(s))
    }
}

/// Decimal, or hexadecimal with `0x` (Java's `Integer.getInteger` decodes
/// both, and `jute.maxbuffer=0xfffff` is common).
fn parse_u64(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    parsed.map_err(|_| "expected a non-negative whole number".to_string())
}

fn parse_u32(s: &str) -> Result<u32, String> {
    u32::try_from(parse_u64(s)?).map_err(|_| format!("larger than {}", u32::MAX))
}

fn parse_i64(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| "expected a whole number".to_string())
}

fn positive_u32(s: &str) -> Result<u32, String> {
    match parse_u32(s)? {
        0 => Err("must be greater than 0".into()),
        n => Ok(n),
    }
}

fn positive_u64(s: &str) -> Result<u64, String> {
    match parse_u64(s)? {
        0 => Err("must be greater than 0".into()),
        n => Ok(n),
    }
}

/// `-1` means "unset, use the default", as ZooKeeper allows.
fn minus_one_or(s: &str, parse: fn(&str) -> Result<u32, String>) -> Result<Option<u32>, String> {
    if s == "-1" {
        Ok(None)
    } else {
        parse(s).map(Some)
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    if s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".into())
    }
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    if s.eq_ignore_ascii_case("yes") || s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("no") || s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected yes or no".into())
    }
}
