//! The quorum configuration text that election notifications and NEWLEADER
//! carry, and a `zoo.cfg.dynamic` holds (`parse_config`, Java's
//! `parseDynamicConfig`), and the text corral renders from what it parsed.
#![no_main]

use corral::proto::quorum::{QuorumMember, parse_config, render_config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok((members, version)) = parse_config(&text) else {
        return;
    };
    // A negative version prints as Java's `Long.toHexString` (`ffffffffffffffff`
    // for -1), which `Long.parseLong(_, 16)` refuses: Java's own texts do not
    // round-trip there, and corral's follow them.
    if version < 0 {
        return;
    }
    // Hosts that are not host names or IP literals (a `[` inside brackets, a
    // NUL) are kept and printed as Java keeps and prints them, and the printed
    // text need not read back: only real hosts are held to the round trip.
    let plain = |h: &str| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:%".contains(&b))
    };
    if !members
        .iter()
        .all(|m| plain(&m.host) && m.client.as_ref().is_none_or(|c| plain(&c.0)))
    {
        return;
    }
    // What corral renders it parses: the same members, ports and roles at the
    // same version (host text may change: it is printed as Java prints it).
    let rendered = render_config(&members, version);
    let reparsed = parse_config(&rendered);
    let Ok((members2, version2)) = reparsed else {
        panic!("rendered config does not parse: {reparsed:?}\n{rendered}");
    };
    assert_eq!(version2, version);
    let shape = |m: &QuorumMember| {
        (
            m.sid,
            m.quorum_port,
            m.election_port,
            m.observer,
            m.client.as_ref().map(|c| c.1),
        )
    };
    assert_eq!(
        members2.iter().map(shape).collect::<Vec<_>>(),
        members.iter().map(shape).collect::<Vec<_>>(),
        "{rendered}"
    );
});
