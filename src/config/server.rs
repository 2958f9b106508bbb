//! `server.N=host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`
//!
//! Parses and checks one ensemble member line the way ZooKeeper's
//! `QuorumPeer.QuorumServer` reads it. Hosts stay strings: resolving names is
//! the ensemble's job at connect time, not the parser's.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Whether a member votes (participant) or only follows (observer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    Participant,
    Observer,
}

impl ServerRole {
    /// ZooKeeper's `LearnerType` ordinal, as the `conf` word prints it.
    pub fn ordinal(self) -> u8 {
        match self {
            ServerRole::Participant => 0,
            ServerRole::Observer => 1,
        }
    }

    /// Parses `participant` / `observer`, case-insensitively.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "participant" => Ok(ServerRole::Participant),
            "observer" => Ok(ServerRole::Observer),
            _ => Err(format!(
                "unknown peer type {:?} (expected participant or observer)",
                s.trim()
            )),
        }
    }
}

impl fmt::Display for ServerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerRole::Participant => "participant",
            ServerRole::Observer => "observer",
        })
    }
}

/// A host (name or IP literal, without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// The host as an IP address, if it is a literal (or `localhost`).
    pub fn ip(&self) -> Option<IpAddr> {
        parse_ip(&self.host)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", delimited_host(&self.host), self.port)
    }
}

/// One member of the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    /// Host for both quorum (learner ↔ leader) and election traffic.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub role: ServerRole,
    /// The client address given after `;` in the line, if any (host defaults
    /// to `0.0.0.0` when only a port is given).
    pub client_addr: Option<HostPort>,
}

impl ServerSpec {
    /// Parses the value of a `server.<id>` key.
    pub fn parse(id: u64, value: &str) -> Result<Self, String> {
        let parts: Vec<&str> = value.split(';').collect();
        if parts.len() > 2 {
            return Err(wrong_format());
        }
        let server_part = parts[0].trim();
        if server_part.contains('|') {
            return Err(
                "several addresses per server (multiAddress) are not supported by corral".into(),
            );
        }
        let fields = split_host_and_port(server_part)?;
        if fields.len() < 3 || fields.len() > 4 {
            return Err(wrong_format());
        }
        let host = fields[0].clone();
        if host.is_empty() {
            return Err(format!("empty host in {server_part:?}"));
        }
        let quorum_port = parse_port(&fields[1])?;
        let election_port = parse_port(&fields[2])?;
        if quorum_port == election_port {
            return Err(format!(
                "quorum port and election port must differ (both {quorum_port})"
            ));
        }
        let role = match fields.get(3) {
            Some(t) => ServerRole::parse(t)?,
            None => ServerRole::Participant,
        };
        let client_addr = match parts.get(1) {
            None => None,
            Some(client) => {
                let fields = split_host_and_port(client.trim())?;
                match fields.as_slice() {
                    [port] => Some(HostPort {
                        host: "0.0.0.0".into(),
                        port: parse_port(port)?,
                    }),
                    [host, port] if !host.is_empty() => Some(HostPort {
                        host: host.clone(),
                        port: parse_port(port)?,
                    }),
                    _ => return Err(wrong_format()),
                }
            }
        };
        Ok(ServerSpec {
            id,
            host,
            quorum_port,
            election_port,
            role,
            client_addr,
        })
    }

    pub fn quorum_addr(&self) -> HostPort {
        HostPort {
            host: self.host.clone(),
            port: self.quorum_port,
        }
    }

    pub fn election_addr(&self) -> HostPort {
        HostPort {
            host: self.host.clone(),
            port: self.election_port,
        }
    }

    /// Every address this member listens on (quorum, election, client).
    pub fn addresses(&self) -> Vec<HostPort> {
        let mut v = vec![self.quorum_addr(), self.election_addr()];
        v.extend(self.client_addr.clone());
        v
    }
}

/// Renders the value part as ZooKeeper's `QuorumServer.toString` does
/// (`host:q:e:participant[;clientHost:clientPort]`).
impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            delimited_host(&self.host),
            self.quorum_port,
            self.election_port,
            self.role
        )?;
        if let Some(c) = &self.client_addr {
            write!(f, ";{c}")?;
        }
        Ok(())
    }
}

fn wrong_format() -> String {
    "expected host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]".into()
}

/// A host as ZooKeeper prints it: IPv6 literals in brackets.
pub(super) fn delimited_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Splits `host:p1:p2...` where the host may be a bracketed IPv6 literal.
fn split_host_and_port(s: &str) -> Result<Vec<String>, String> {
    if let Some(inner) = s.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(format!("{s:?}: IPv6 address lacks a closing ']'"));
        };
        let host = &inner[..close];
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address"));
        }
        let rest = &inner[close + 1..];
        let mut out = vec![host.to_string()];
        if !rest.is_empty() {
            let Some(rest) = rest.strip_prefix(':') else {
                return Err(format!("{s:?}: expected ':' after ']'"));
            };
            out.extend(rest.split(':').map(|p| p.trim().to_string()));
        }
        Ok(out)
    } else {
        Ok(s.split(':').map(|p| p.trim().to_string()).collect())
    }
}

/// A TCP port, 1..=65535.
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{:?} is not a port (1..65535)", s.trim())),
        Ok(p) => Ok(p),
    }
}

/// An IP literal (IPv6 with or without brackets), or `localhost` as 127.0.0.1.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_is_a_participant_without_client_address() {
        let s = ServerSpec::parse(1, "127.0.0.1:2888:3888");
        assert_eq!(
            s,
            Ok(ServerSpec {
                id: 1,
                host: "127.0.0.1".into(),
                quorum_port: 2888,
                election_port: 3888,
                role: ServerRole::Participant,
                client_addr: None,
            })
        );
    }

    #[test]
    fn observer_with_client_port_only_listens_on_all_addresses() {
        let s = ServerSpec::parse(4, "zk4.example:2888:3888:observer;2184");
        let s = s.as_ref();
        assert_eq!(s.map(|s| s.role), Ok(ServerRole::Observer));
        assert_eq!(s.map(|s| s.host.as_str()), Ok("zk4.example"));
        assert_eq!(
            s.map(|s| s.client_addr.clone()),
            Ok(Some(HostPort {
                host: "0.0.0.0".into(),
                port: 2184
            }))
        );
    }

    #[test]
    fn participant_type_and_client_host_port_are_read() {
        let s = ServerSpec::parse(2, "10.0.0.2:2889:3889:PARTICIPANT;10.0.0.2:2182");
        assert_eq!(s.as_ref().map(|s| s.role), Ok(ServerRole::Participant));
        assert_eq!(
            s.as_ref().map(|s| s.to_string()),
            Ok("10.0.0.2:2889:3889:participant;10.0.0.2:2182".to_string())
        );
    }

    #[test]
    fn bracketed_ipv6_hosts_are_read_and_rendered_with_brackets() {
        let s = ServerSpec::parse(3, "[::1]:2888:3888;[::1]:2181");
        assert_eq!(s.as_ref().map(|s| s.host.as_str()), Ok("::1"));
        assert_eq!(
            s.map(|s| s.to_string()),
            Ok("[::1]:2888:3888:participant;[::1]:2181".to_string())
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "127.0.0.1:2888",                      // no election port
            "127.0.0.1:2888:3888:participant:x",   // too many fields
            "127.0.0.1:2888:2888",                 // same port twice
            "127.0.0.1:2888:99999",                // port out of range
            "127.0.0.1:0:3888",                    // port zero
            "127.0.0.1:x:3888",                    // not a number
            "127.0.0.1:2888:3888:voter",           // unknown type
            "127.0.0.1:2888:3888;a:b:c",           // bad client part
            "127.0.0.1:2888:3888;2181;2182",       // two client parts
            ":2888:3888",                          // empty host
            "[::1:2888:3888",                      // unclosed bracket
            "a:2888:3888|b:2888:3888",             // multi-address
            "127.0.0.1:2888:3888;127.0.0.1:65536", // client port out of range
        ] {
            assert!(ServerSpec::parse(1, bad).is_err(), "accepted {bad:?}");
        }
    }
}
