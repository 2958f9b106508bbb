//! The quorum configuration as text: what FLE notifications and NEWLEADER
//! carry, and what a Java peer parses with `QuorumPeer.configFromString`.
//! [`render_config`] prints it as `QuorumMaj.toString` does;
//! [`parse_config`] reads it as `QuorumPeerConfig.parseDynamicConfig` does
//! with Java's defaults (majority quorums, multiAddress off,
//! standaloneEnabled on).

use super::addr::{delimited, host_and_port, java_host_string, java_parse_int, java_split};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One `server.<sid>=` line (`QuorumPeer.QuorumServer`), with one address:
/// corral does not support multiAddress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumMember {
    pub sid: u64,
    /// As configured, without brackets; printed as Java prints it.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
    /// The client address, when the line names one (`;[host:]port`; a bare
    /// port means host `0.0.0.0`). Java prints it unless it came from the
    /// static `clientPort`; `None` prints nothing.
    pub client: Option<(String, u16)>,
}

/// The configuration as `QuorumMaj.toString` prints it: `server.<sid>=`
/// `host:quorumPort:electionPort:participant|observer[;clientHost:port]`,
/// one line each, then `version=<hex>` with no newline. Hosts print as
/// Java's `getHostString` (IP literals normalised, IPv6 in brackets).
///
/// The order is `java.util.HashMap<Long, _>`'s (see [`java_hash_map_order`]):
/// ascending sid for the usual small sids, bucket order for larger ones.
/// Receivers compare parsed members, not text, so the order is cosmetic.
///
/// Panics on duplicate sids (a caller's bug: Java's map cannot hold them).
pub fn render_config(members: &[QuorumMember], version: i64) -> String {
    let sids: Vec<u64> = members.iter().map(|m| m.sid).collect();
    let mut text = String::new();
    for i in java_hash_map_order(&sids) {
        let m = &members[i];
        let host = java_host_string(&m.host);
        let role = if m.observer {
            "observer"
        } else {
            "participant"
        };
        let _ = write!(
            text,
            "server.{}={}:{}:{}:{role}",
            m.sid,
            delimited(&host),
            m.quorum_port,
            m.election_port
        );
        if let Some((client_host, client_port)) = &m.client {
            let _ = write!(
                text,
                ";{}:{client_port}",
                delimited(&java_host_string(client_host))
            );
        }
        text.push('\n');
    }
    let _ = write!(text, "version={version:x}");
    text
}

/// `java.util.HashMap`'s defaults: 16 buckets, resized past 3/4 full; a
/// bucket reaching 9 entries doubles a table under 64 buckets instead of
/// becoming a tree.
const TABLE_BUCKETS_MIN: usize = 16;
const BUCKET_TREEIFY_LEN: usize = 9;
const TABLE_TREEIFY_BUCKETS_MIN: usize = 64;

/// `Long.hashCode` spread as `HashMap.hash` does.
pub(super) fn java_long_hash(v: u64) -> usize {
    let h = (v ^ (v >> 32)) as u32;
    (h ^ (h >> 16)) as usize
}

/// The indices of `sids` in the order a `java.util.HashMap<Long, _>`
/// iterates them: by bucket; within a bucket, insertion order, which in
/// Java is the `Properties` order of the parsed text (it varies with the
/// JDK and with every key of the file). We insert in ascending sid, so
/// sids that share a bucket (only possible for sids ≥ 16) may print in
/// another order than Java's. Buckets of 9+ entries in tables of 64+
/// become trees in Java, whose order is not modelled either.
fn java_hash_map_order(sids: &[u64]) -> Vec<usize> {
    let mut by_sid: Vec<usize> = (0..sids.len()).collect();
    by_sid.sort_by_key(|&i| sids[i]);
    assert!(
        by_sid.windows(2).all(|w| sids[w[0]] != sids[w[1]]),
        "duplicate sid"
    );
    let hash = |i: usize| java_long_hash(sids[i]);
    let resize = |table: Vec<Vec<usize>>| {
        let mut bigger = vec![Vec::new(); table.len() * 2];
        let mask = bigger.len() - 1;
        for i in table.into_iter().flatten() {
            bigger[hash(i) & mask].push(i);
        }
        bigger
    };
    let mut table: Vec<Vec<usize>> = vec![Vec::new(); TABLE_BUCKETS_MIN];
    for (size, i) in by_sid.into_iter().enumerate() {
        let mask = table.len() - 1;
        let bucket = &mut table[hash(i) & mask];
        bucket.push(i);
        if bucket.len() >= BUCKET_TREEIFY_LEN && table.len() < TABLE_TREEIFY_BUCKETS_MIN {
            table = resize(table);
        }
        if size + 1 > table.len() / 4 * 3 {
            table = resize(table);
        }
    }
    table.concat()
}

/// Reads configuration text as a Java peer would: `java.util.Properties`
/// lines (`#`/`!` comments, `=`, `:` or blanks between key and value,
/// leading blanks dropped; backslash escapes are refused), then
/// `server.<sid>` and `version` (hex; 0 when absent) as `QuorumMaj` and
/// `QuorumServer` read them. A later line for the same key wins. Members
/// come back in ascending sid.
///
/// `Err` wherever Java fails, which is also where a Java receiver of this
/// text in a notification ignores it or (for the unchecked exceptions of
/// bad numbers or observer-only configs) loses its receiver thread; and,
/// beyond Java, for hierarchical configs (`group.`/`weight.`), several
/// addresses per server, and negative sids, which corral does not support.
pub fn parse_config(text: &str) -> Result<(Vec<QuorumMember>, i64), String> {
    let mut members = BTreeMap::new();
    let mut version = 0;
    for (key, value) in properties(text)? {
        if let Some(sid) = key.strip_prefix("server.") {
            let sid: u64 = sid.parse().map_err(|_| format!("bad server id in {key}"))?;
            members.insert(sid, parse_member(sid, value)?);
        } else if key == "version" {
            version =
                i64::from_str_radix(value, 16).map_err(|_| format!("bad version {value:?}"))?;
        } else if key.starts_with("group") || key.starts_with("weight") {
            return Err(format!("hierarchical quorums are not supported ({key})"));
        } else {
            return Err(format!("unrecognised parameter {key}"));
        }
    }
    let observers = members
        .values()
        .filter(|m: &&QuorumMember| m.observer)
        .count();
    let participants = members.len() - observers;
    if observers > 0 && participants < 2 {
        return Err(format!(
            "{observers} observers but {participants} participants"
        ));
    }
    Ok((members.into_values().collect(), version))
}

/// `Properties.load`'s key/value pairs, in text order.
fn properties(text: &str) -> Result<Vec<(&str, &str)>, String> {
    const BLANK: [char; 3] = [' ', '\t', '\x0c'];
    let mut pairs = Vec::new();
    for line in text.split(['\n', '\r']) {
        let line = line.trim_start_matches(BLANK);
        if line.is_empty() || line.starts_with(['#', '!']) {
            continue;
        }
        if line.contains('\\') {
            return Err(format!("backslash escapes are not supported: {line:?}"));
        }
        let end = line
            .find(['=', ':', ' ', '\t', '\x0c'])
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(end);
        let rest = rest.trim_start_matches(BLANK);
        let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
        pairs.push((key, rest.trim_start_matches(BLANK)));
    }
    Ok(pairs)
}

/// A port as `InetSocketAddress` takes it.
fn port(s: &str, what: &str) -> Result<u16, String> {
    let n = java_parse_int(s).ok_or_else(|| format!("bad {what} {s:?}"))?;
    u16::try_from(n).map_err(|_| format!("{what} {n} out of range"))
}

/// One `server.<sid>` value (`QuorumServer.initializeWithAddressString`).
fn parse_member(sid: u64, value: &str) -> Result<QuorumMember, String> {
    let wrong = || format!("server.{sid}={value} is not host:port:port[:type][;[host:]port]");
    let server_client = java_split(value, ';');
    let (server, client) = match server_client[..] {
        [server] => (server, None),
        [server, client] => (server, Some(client)),
        _ => return Err(wrong()),
    };
    let client = client.map(parse_client).transpose()?;
    let addrs = java_split(server, '|');
    let [addr] = addrs[..] else {
        return Err(format!(
            "server.{sid}: several addresses (multiAddress) are not supported"
        ));
    };
    let parts = host_and_port(addr).map_err(|()| wrong())?;
    if !(3..=4).contains(&parts.len()) {
        return Err(wrong());
    }
    let quorum_port = port(&parts[1], "quorum port")?;
    let election_port = port(&parts[2], "election port")?;
    if quorum_port == election_port {
        return Err(format!(
            "server.{sid}: quorum and election ports are the same"
        ));
    }
    let observer = match parts.get(3) {
        None => false,
        // String.trim: every char up to ' '.
        Some(kind) => match kind.trim_matches(|c| c <= ' ').to_lowercase().as_str() {
            "observer" => true,
            "participant" => false,
            _ => return Err(format!("server.{sid}: unrecognised peer type {kind:?}")),
        },
    };
    Ok(QuorumMember {
        sid,
        host: parts[0].to_string(),
        quorum_port,
        election_port,
        observer,
        client,
    })
}

/// The client part after `;`: `port` (host 0.0.0.0) or `host:port`.
fn parse_client(text: &str) -> Result<(String, u16), String> {
    let parts = host_and_port(text).map_err(|()| format!("bad client address {text:?}"))?;
    match &parts[..] {
        [p] => Ok(("0.0.0.0".to_string(), port(p, "client port")?)),
        [host, p] => Ok((host.to_string(), port(p, "client port")?)),
        _ => Err(format!("bad client address {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(sid: u64, host: &str, observer: bool, client: Option<(&str, u16)>) -> QuorumMember {
        QuorumMember {
            sid,
            host: host.to_string(),
            quorum_port: 2888,
            election_port: 3888,
            observer,
            client: client.map(|(h, p)| (h.to_string(), p)),
        }
    }

    #[test]
    fn renders_as_quorum_maj_to_string() {
        let members = [
            member(2, "zk2", false, None),
            member(1, "::1", false, Some(("0.0.0.0", 2181))),
            member(3, "10.0.0.3", true, Some(("fe80::1", 2182))),
        ];
        assert_eq!(
            render_config(&members, 0x1_0000_0000),
            "server.1=[0:0:0:0:0:0:0:1]:2888:3888:participant;0.0.0.0:2181\n\
             server.2=zk2:2888:3888:participant\n\
             server.3=10.0.0.3:2888:3888:observer;[fe80:0:0:0:0:0:0:1]:2182\n\
             version=100000000"
        );
        assert_eq!(render_config(&[], -1), "version=ffffffffffffffff");
    }

    #[test]
    fn hash_map_order_is_by_bucket_then_sid() {
        let order = |sids: &[u64]| -> Vec<u64> {
            java_hash_map_order(sids)
                .into_iter()
                .map(|i| sids[i])
                .collect()
        };
        assert_eq!(order(&[3, 1, 2]), [1, 2, 3]);
        assert_eq!(order(&[17, 1, 16, 2]), [16, 1, 17, 2]);
        // 13 entries: 32 buckets, so 17 no longer shares 1's.
        let many: Vec<u64> = (1..=12).chain([17]).collect();
        assert_eq!(order(&many), many);
        // 9 in one of 16 buckets: the table doubles though it is not full.
        let same: Vec<u64> = (0..9).map(|i| i * 16).collect();
        assert_eq!(order(&same), [0, 32, 64, 96, 128, 16, 48, 80, 112]);
        // The high word folds in: 2^32 + 1 hashes to bucket 0.
        assert_eq!(order(&[1, (1 << 32) + 1]), [(1 << 32) + 1, 1]);
    }

    #[test]
    #[should_panic(expected = "duplicate sid")]
    fn rendering_duplicate_sids_is_a_bug() {
        render_config(
            &[member(1, "a", false, None), member(1, "b", false, None)],
            0,
        );
    }

    #[test]
    fn parses_what_it_renders() {
        let members = vec![
            member(1, "zk1", false, Some(("zk1", 2181))),
            member(2, "10.0.0.2", false, None),
            member(3, "0:0:0:0:0:0:0:3", true, None),
        ];
        let text = render_config(&members, 7);
        assert_eq!(parse_config(&text), Ok((members, 7)));
    }

    #[test]
    fn parse_defaults_and_tolerances() {
        let (m, v) = parse_config("server.1=a:1:2\nserver.2=b:1:2;2181").unwrap();
        assert_eq!(v, 0);
        assert!(!m[0].observer && m[0].client.is_none());
        assert_eq!(m[1].client, Some(("0.0.0.0".to_string(), 2181)));
        let (m, v) = parse_config(
            "# c\r\n server.2 : b:1:2: Observer \r\nserver.1 a:+1:2\r\nserver.3=c:1:2\nversion=-a",
        )
        .unwrap();
        assert_eq!(v, -10);
        assert_eq!(
            m.iter().map(|m| (m.sid, m.observer)).collect::<Vec<_>>(),
            [(1, false), (2, true), (3, false)]
        );
        assert_eq!(m[0].quorum_port, 1);
    }

    #[test]
    fn parse_refuses_what_java_refuses() {
        for bad in [
            "server.1=a:1:2\ntickTime=2000",
            "server.x=a:1:2",
            "server.-1=a:1:2",
            "server.1=a:1:1",
            "server.1=a:1",
            "server.1=a:1:2:3:4",
            "server.1=a:1:2:voter",
            "server.1=a:70000:2",
            "server.1=a:1:2;h:3:4",
            "server.1=a:1:2;3;4",
            "server.1=a:1:2|b:1:2",
            "server.1=",
            "server.1=;",
            "version=0x1",
            "version=ffffffffffffffff",
            "version=1 ",
            "server.1=a:1:2 ",
            "server.1=a:1:2:observer",
            "server.1=a:1:2\nserver.2=b:1:2:observer",
            "group.1=1:2:3",
            "server.1=a\\:1:2",
        ] {
            assert!(parse_config(bad).is_err(), "{bad:?}");
        }
    }
}
