//! The ensemble as the quorum protocols need it: the members, the config
//! text that FastLeaderElection sends, and timeouts whose effective value
//! depends on several keys.
//!
//! Everything here is derived from a validated [`Config`]. It is plain data:
//! the server glue copies it into the protocol layer's own types, and `zab`
//! never imports `config`. Nothing here does I/O or resolves host names.

use std::fmt;

use super::server::delimited_host;
use super::{Config, HostPort, ServerRole};

/// The version of a static quorum configuration. corral does not implement
/// dynamic reconfiguration, so the committed config always has version 0,
/// as a ZooKeeper ensemble without reconfig has.
pub const QUORUM_CONFIG_VERSION: u64 = 0;

/// One `server.N` member, as ZooKeeper's `QuorumPeer.QuorumServer` holds it
/// after `QuorumPeerConfig.setupClientPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumMember {
    /// The `N` of `server.N`.
    pub sid: u64,
    /// Host (name or IP literal, without brackets) of both ports.
    pub host: String,
    /// Learner ↔ leader traffic (ZAB).
    pub quorum_port: u16,
    /// Leader election (FastLeaderElection).
    pub election_port: u16,
    pub role: ServerRole,
    /// Where the member serves clients: the `;[host:]port` part of its line,
    /// or, for this server's own member only when its line has none, the
    /// static `clientPortAddress`/`clientPort` (`None` when only a secure
    /// port is configured). Other members without the part: `None`.
    pub client_addr: Option<HostPort>,
    /// Whether this server's own client address was filled in from the
    /// static `clientPort` (ZooKeeper's `isClientAddrFromStatic`). Such an
    /// address is not part of the member's config text.
    pub client_addr_from_static: bool,
}

/// ZooKeeper's `QuorumServer.toString`: `host:qport:eport:role`, plus
/// `;clientHost:clientPort` only when the client address came from the
/// member's line.
impl fmt::Display for QuorumMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            delimited_host(&self.host),
            self.quorum_port,
            self.election_port,
            self.role
        )?;
        match &self.client_addr {
            Some(client) if !self.client_addr_from_static => write!(f, ";{client}"),
            _ => Ok(()),
        }
    }
}

impl Config {
    /// Every `server.N` member, sorted by id. Empty for a configuration
    /// without server lines.
    pub fn quorum_members(&self) -> Vec<QuorumMember> {
        self.servers
            .iter()
            .map(|s| {
                let own = self.my_id == Some(s.id);
                let (client_addr, client_addr_from_static) = match &s.client_addr {
                    Some(line) => (Some(line.clone()), false),
                    None if own => (self.static_client_addr(), true),
                    None => (None, false),
                };
                QuorumMember {
                    sid: s.id,
                    host: s.host.clone(),
                    quorum_port: s.quorum_port,
                    election_port: s.election_port,
                    role: s.role,
                    client_addr,
                    client_addr_from_static,
                }
            })
            .collect()
    }

    /// The committed quorum configuration as ZooKeeper writes it
    /// (`QuorumMaj.toString`): one `server.N=member` line per member, then
    /// `version=<hex>` without a newline. FastLeaderElection notifications
    /// carry these bytes; a Java peer that parses a different member list at
    /// a higher version restarts its election.
    pub fn quorum_config_text(&self) -> String {
        let mut text = String::new();
        for m in self.quorum_members() {
            text.push_str(&format!("server.{}={m}\n", m.sid));
        }
        text.push_str(&format!("version={QUORUM_CONFIG_VERSION:x}"));
        text
    }

    /// The election handshake's socket timeout: `quorumCnxnTimeoutMs` when
    /// above 0, else tickTime × syncLimit (`QuorumPeer.createCnxnManager`).
    pub fn effective_quorum_cnxn_timeout_ms(&self) -> u64 {
        match u64::try_from(self.quorum_cnxn_timeout_ms) {
            Ok(ms) if ms > 0 => ms,
            _ => u64::from(self.tick_time_ms) * u64::from(self.sync_limit),
        }
    }

    /// `clientPortAddress:clientPort` as ZooKeeper builds it when the line
    /// has no client part: the wildcard 0.0.0.0 when no address is set.
    fn static_client_addr(&self) -> Option<HostPort> {
        let port = self.client_port?;
        let host = self
            .client_port_address
            .map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string());
        Some(HostPort { host, port })
    }
}
