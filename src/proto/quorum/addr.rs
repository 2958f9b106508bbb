//! How Java reads and prints `host:port` text, for the initial message and
//! the quorum configuration: `String.split`'s dropped trailing empties,
//! `ConfigUtils.getHostAndPort`'s bracket rules, `Integer.parseInt`,
//! `InetSocketAddress`'s port range, `InetAddress`'s IP literals and the
//! host string Java prints back (`getHostString`). Pure text: a hostname
//! that would resolve (by DNS) to a wildcard address is not detected.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `String.split` by one character: no separator gives the whole string
/// (even empty); otherwise trailing empty parts are dropped, so `"a:1:"`
/// is two parts and `"|"` none.
pub(super) fn java_split(s: &str, sep: char) -> Vec<&str> {
    if !s.contains(sep) {
        return vec![s];
    }
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// `ConfigUtils.getHostAndPort`: `[host]` then the rest split on `:`, or
/// the whole string split on `:`. `Err` where Java throws.
///
/// Java's quirks, kept: the character after `]` is skipped unread (so
/// `[::1]x3888` is host `::1`, port 3888), and `[...]` alone comes back as
/// one part with every bracket removed.
pub(super) fn host_and_port(s: &str) -> Result<Vec<Cow<'_, str>>, ()> {
    if !s.starts_with('[') {
        return Ok(java_split(s, ':').into_iter().map(Cow::Borrowed).collect());
    }
    let close = s.find(']').ok_or(())?;
    let after = &s[close + 1..];
    let Some(skipped) = after.chars().next() else {
        return Ok(vec![Cow::Owned(s.replace(['[', ']'], ""))]);
    };
    // Java skips one UTF-16 unit. After half a surrogate pair the next part
    // starts with the other half, and every caller then fails to read it as
    // a port; fail here instead.
    if skipped.len_utf16() != 1 {
        return Err(());
    }
    let rest = &after[skipped.len_utf8()..];
    if rest.is_empty() {
        return Err(());
    }
    let mut parts = vec![Cow::Borrowed(&s[1..close])];
    parts.extend(java_split(rest, ':').into_iter().map(Cow::Borrowed));
    Ok(parts)
}

/// `Integer.parseInt`: an optional sign, then decimal digits, in range.
/// Java also takes non-ASCII decimal digits (`Character.digit`); we do not.
pub(super) fn java_parse_int(s: &str) -> Option<i32> {
    // Rust's parser takes the same ASCII forms: "+80", "-0", no spaces.
    s.parse().ok()
}

/// What `InetAddress.getByName` takes as an IPv4 literal (JDK 17, checked
/// against it): at most 15 characters, 1–4 dot-separated decimal parts,
/// the last filling the remaining bytes (`127.1` is 127.0.0.1).
fn java_ipv4_literal(s: &str) -> Option<Ipv4Addr> {
    if s.is_empty() || s.len() > 15 {
        return None;
    }
    let mut parts = [0u64; 4];
    let mut count = 0;
    for part in s.split('.') {
        if count == 4 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parts[count] = part.parse().ok()?;
        count += 1;
    }
    let (last, leading) = (parts[count - 1], &parts[..count - 1]);
    let last_bits = 8 * (5 - count as u32);
    if leading.iter().any(|&p| p > 255) || last >> last_bits != 0 {
        return None;
    }
    let leading_bits = leading.iter().fold(0u64, |acc, &p| (acc << 8) | p);
    Some(Ipv4Addr::from(((leading_bits << last_bits) | last) as u32))
}

/// The IP address `host` spells, if it is a literal; an IPv4-mapped IPv6
/// literal is IPv4, as Java makes it.
fn ip_literal(host: &str) -> Option<IpAddr> {
    if let Some(v4) = java_ipv4_literal(host) {
        return Some(IpAddr::V4(v4));
    }
    let v6: Ipv6Addr = host.parse().ok()?;
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    })
}

/// A wildcard literal (`0.0.0.0`, `0`, `::`, ...), which
/// `InitialMessage.isWildcardAddress` drops.
pub(super) fn is_wildcard(host: &str) -> bool {
    ip_literal(host).is_some_and(|ip| ip.is_unspecified())
}

/// The host as `InetSocketAddress.getHostString` prints it: an IP literal
/// in Java's form (IPv6 as eight uncompressed lowercase groups), an empty
/// host as `localhost` (Java resolves "" to loopback), anything else as is.
pub(super) fn java_host_string(host: &str) -> Cow<'_, str> {
    if host.is_empty() {
        return Cow::Borrowed("localhost");
    }
    match ip_literal(host) {
        None => Cow::Borrowed(host),
        Some(IpAddr::V4(v4)) => Cow::Owned(v4.to_string()),
        Some(IpAddr::V6(v6)) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            Cow::Owned(groups.join(":"))
        }
    }
}

/// `host` in brackets if it contains `:` (`QuorumServer.delimitedHostString`).
pub(super) fn delimited(host: &str) -> Cow<'_, str> {
    if host.contains(':') {
        Cow::Owned(format!("[{host}]"))
    } else {
        Cow::Borrowed(host)
    }
}

/// The election addresses of an initial message (`InitialMessage.parse`),
/// each as `host:port` in Java's form; wildcards dropped. `Err` names the
/// problem and the entry's index, where Java throws.
pub(super) fn parse_election_addrs(text: &str) -> Result<Vec<String>, (&'static str, usize)> {
    let mut addrs = Vec::new();
    for (i, entry) in java_split(text, '|').into_iter().enumerate() {
        let parts =
            host_and_port(entry).map_err(|()| ("initial message: badly formed address", i))?;
        let [host, port] = &parts[..] else {
            return Err(("initial message: badly formed address", i));
        };
        let port = java_parse_int(port).ok_or(("initial message: bad port number", i))?;
        // Java checks the range only when it builds the address, after
        // dropping wildcards; the check throws IllegalArgumentException,
        // which no caller catches: it ends Java's election listener thread.
        if is_wildcard(host) {
            continue;
        }
        let port = u16::try_from(port).map_err(|_| ("initial message: port out of range", i))?;
        addrs.push(format!("{}:{port}", delimited(&java_host_string(host))));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_drops_trailing_empties_like_java() {
        assert_eq!(java_split("a:1:", ':'), ["a", "1"]);
        assert_eq!(java_split("|", '|'), Vec::<&str>::new());
        assert_eq!(java_split("|a", '|'), ["", "a"]);
        assert_eq!(java_split("", ':'), [""]);
        assert_eq!(java_split("abc", ':'), ["abc"]);
    }

    #[test]
    fn host_and_port_follows_config_utils() {
        let parts =
            |s| host_and_port(s).map(|v| v.into_iter().map(Cow::into_owned).collect::<Vec<_>>());
        assert_eq!(parts("h:1:2"), Ok(vec!["h".into(), "1".into(), "2".into()]));
        assert_eq!(
            parts("[::1]:1:2"),
            Ok(vec!["::1".into(), "1".into(), "2".into()])
        );
        assert_eq!(parts("[::1]x1"), Ok(vec!["::1".into(), "1".into()]));
        assert_eq!(parts("[::1]"), Ok(vec!["::1".into()]));
        assert_eq!(parts("[2181]"), Ok(vec!["2181".into()]));
        assert_eq!(parts("[::1]:"), Err(()));
        assert_eq!(parts("[::1"), Err(()));
        assert_eq!(parts("[::1]é1"), Ok(vec!["::1".into(), "1".into()]));
        assert_eq!(parts("[::1]😀1"), Err(()));
    }

    #[test]
    fn ipv4_literals_take_java_short_forms() {
        let v4 = |s| java_ipv4_literal(s).map(|a| a.to_string());
        assert_eq!(v4("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("1.2.3").as_deref(), Some("1.2.0.3"));
        assert_eq!(v4("1.16777215").as_deref(), Some("1.255.255.255"));
        assert_eq!(v4("4294967295").as_deref(), Some("255.255.255.255"));
        assert_eq!(v4("010.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(v4("0").as_deref(), Some("0.0.0.0"));
        assert_eq!(v4("000000000000001").as_deref(), Some("0.0.0.1"));
        for no in [
            "0000000000000000",
            "256.1",
            "1.16777216",
            "4294967296",
            "1..2",
            "1.2.3.4.",
            ".1",
            "+1.2.3.4",
            "1.2.3.4.5",
            "",
        ] {
            assert_eq!(v4(no), None, "{no}");
        }
    }

    #[test]
    fn host_strings_are_normalised_as_java_prints_them() {
        assert_eq!(java_host_string("::1"), "0:0:0:0:0:0:0:1");
        assert_eq!(java_host_string("FE80::A"), "fe80:0:0:0:0:0:0:a");
        assert_eq!(java_host_string("::ffff:10.0.0.4"), "10.0.0.4");
        assert_eq!(java_host_string("127.1"), "127.0.0.1");
        assert_eq!(java_host_string(""), "localhost");
        assert_eq!(java_host_string("zk1.example"), "zk1.example");
        assert_eq!(delimited("0:0:0:0:0:0:0:1"), "[0:0:0:0:0:0:0:1]");
    }

    #[test]
    fn wildcards_are_dropped_before_the_port_range_is_checked() {
        assert_eq!(parse_election_addrs("0.0.0.0:70000"), Ok(vec![]));
        assert_eq!(parse_election_addrs("[::]:1|0:2"), Ok(vec![]));
        assert_eq!(
            parse_election_addrs("h:70000"),
            Err(("initial message: port out of range", 0))
        );
        assert_eq!(
            parse_election_addrs("h:1|h:-1"),
            Err(("initial message: port out of range", 1))
        );
        assert_eq!(
            parse_election_addrs("0.0.0.0:x"),
            Err(("initial message: bad port number", 0))
        );
    }
}
