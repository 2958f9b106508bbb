//! Four-letter words on the client port: the answers operators and monitoring scripts parse.

mod common;

use common::Server;
use common::raw::{self, Session};

fn version_prefix() -> &'static str {
    if common::is_zk38() { "3.8." } else { "3.9." }
}

/// Parses `mntr` output (`zk_key\tvalue` lines) into pairs, asserting the line format.
fn mntr_pairs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("mntr line without a tab: {l:?}"));
            assert!(k.starts_with("zk_"), "mntr key without zk_ prefix: {k:?}");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn mntr_value(pairs: &[(String, String)], key: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("mntr has no {key}"))
}

/// A raw session with a data watch on a fresh ephemeral node, so that the watch words have
/// something to report; closing the session removes both.
fn session_with_watch(server: &Server, tag: &str) -> (Session, String) {
    let mut s = Session::connect(server.addr(), 30_000);
    let path = server.unique_path(tag);
    s.create(&path, b"x", 1).ok();
    s.get_data(&path, true).ok();
    (s, path)
}

#[test]
fn ruok_answers_imok() {
    let server = Server::start();
    assert_eq!(server.four_letter("ruok"), "imok");
}

#[test]
fn srvr_reports_version_mode_and_node_count() {
    let server = Server::start();
    let out = server.four_letter("srvr");
    assert!(
        out.contains(&format!("Zookeeper version: {}", version_prefix())),
        "srvr: {out}"
    );
    assert!(out.contains("Mode: standalone\n"), "srvr: {out}");
    let nodes: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("Node count: "))
        .unwrap_or_else(|| panic!("srvr without Node count: {out}"))
        .trim()
        .parse()
        .expect("node count is a number");
    // The root, /zookeeper, /zookeeper/config and /zookeeper/quota always exist.
    assert!(nodes >= 4, "node count {nodes}");
    for key in [
        "Latency min/avg/max: ",
        "Received: ",
        "Sent: ",
        "Connections: ",
        "Outstanding: ",
        "Zxid: 0x",
    ] {
        assert!(out.contains(key), "srvr without {key:?}: {out}");
    }
}

#[test]
fn stat_lists_connected_clients() {
    let server = Server::start();
    let s = Session::connect(server.addr(), 30_000);
    let out = server.four_letter("stat");
    assert!(
        out.contains(&format!("Zookeeper version: {}", version_prefix())),
        "stat: {out}"
    );
    assert!(out.contains("Clients:\n"), "stat: {out}");
    assert!(out.contains("Mode: standalone\n"), "stat: {out}");
    assert!(out.contains("Node count: "), "stat: {out}");
    // Our own session's connection shows up as " /127.0.0.1:<port>[...](...)".
    let local = s.conn.stream.local_addr().expect("local addr");
    assert!(
        out.contains(&format!("/127.0.0.1:{}[", local.port())),
        "stat does not list our connection {local}: {out}"
    );
    s.close();
}

#[test]
fn conf_reports_port_and_session_limits() {
    let server = Server::start();
    let out = server.four_letter("conf");
    assert!(
        out.contains(&format!("clientPort={}\n", server.port())),
        "conf: {out}"
    );
    let value = |key: &str| -> i64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("conf without {key}: {out}"))
            .trim()
            .parse()
            .expect("number")
    };
    let tick = value("tickTime");
    assert_eq!(value("minSessionTimeout"), 2 * tick);
    assert_eq!(value("maxSessionTimeout"), 20 * tick);
    if server.is_spawned() {
        assert_eq!(tick, 200);
    }
    assert!(out.contains("dataDir="), "conf: {out}");
}

#[test]
fn envi_reports_zookeeper_version() {
    let server = Server::start();
    let out = server.four_letter("envi");
    assert!(out.starts_with("Environment:\n"), "envi: {out}");
    assert!(
        out.contains(&format!("zookeeper.version={}", version_prefix())),
        "envi: {out}"
    );
}

#[test]
fn mntr_reports_version_state_and_counts() {
    let server = Server::start();
    let (s, _path) = session_with_watch(&server, "mntr");
    let pairs = mntr_pairs(&server.four_letter("mntr"));
    assert!(mntr_value(&pairs, "zk_version").starts_with(version_prefix()));
    assert_eq!(mntr_value(&pairs, "zk_server_state"), "standalone");
    let znodes: u64 = mntr_value(&pairs, "zk_znode_count")
        .parse()
        .expect("number");
    assert!(
        znodes >= 5,
        "zk_znode_count {znodes} (4 built-in nodes + ours)"
    );
    let watches: u64 = mntr_value(&pairs, "zk_watch_count")
        .parse()
        .expect("number");
    assert!(watches >= 1, "zk_watch_count {watches} with one watch set");
    let conns: u64 = mntr_value(&pairs, "zk_num_alive_connections")
        .parse()
        .expect("number");
    assert!(conns >= 1, "zk_num_alive_connections {conns}");
    for key in [
        "zk_avg_latency",
        "zk_outstanding_requests",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
    ] {
        mntr_value(&pairs, key);
    }
    s.close();
}

#[test]
fn cons_lists_each_session_with_its_id() {
    let server = Server::start();
    let s = Session::connect(server.addr(), 30_000);
    let out = server.four_letter("cons");
    assert!(
        out.contains(&format!("sid=0x{:x}", s.session_id())),
        "cons does not show session 0x{:x}: {out}",
        s.session_id()
    );
    s.close();
}

#[test]
fn wchs_counts_watches() {
    let server = Server::start();
    let (s, _path) = session_with_watch(&server, "wchs");
    let out = server.four_letter("wchs");
    let total: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("Total watches:"))
        .unwrap_or_else(|| panic!("wchs without Total watches: {out}"))
        .trim()
        .parse()
        .expect("number");
    assert!(total >= 1, "wchs: {out}");
    assert!(out.contains("connections watching"), "wchs: {out}");
    s.close();
}

#[test]
fn wchc_lists_watched_paths_under_the_session() {
    let server = Server::start();
    let (s, path) = session_with_watch(&server, "wchc");
    let out = server.four_letter("wchc");
    let sid = format!("0x{:x}", s.session_id());
    let mut lines = out.lines().skip_while(|l| *l != sid);
    assert_eq!(
        lines.next(),
        Some(sid.as_str()),
        "wchc lacks session {sid}: {out}"
    );
    let paths: Vec<&str> = lines
        .take_while(|l| l.starts_with('\t'))
        .map(str::trim)
        .collect();
    assert!(
        paths.contains(&path.as_str()),
        "wchc lacks {path} under {sid}: {out}"
    );
    s.close();
}

#[test]
fn wchp_lists_sessions_under_the_watched_path() {
    let server = Server::start();
    let (s, path) = session_with_watch(&server, "wchp");
    let out = server.four_letter("wchp");
    let sid = format!("0x{:x}", s.session_id());
    let mut lines = out.lines().skip_while(|l| *l != path);
    assert_eq!(
        lines.next(),
        Some(path.as_str()),
        "wchp lacks {path}: {out}"
    );
    let sessions: Vec<&str> = lines
        .take_while(|l| l.starts_with('\t'))
        .map(str::trim)
        .collect();
    assert!(
        sessions.contains(&sid.as_str()),
        "wchp lacks {sid} under {path}: {out}"
    );
    s.close();
}

#[test]
fn dump_lists_ephemerals_by_session() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("dump");
    s.create(&path, b"", 1).ok();
    let out = server.four_letter("dump");
    assert!(out.contains("Sessions with Ephemerals"), "dump: {out}");
    let sid = format!("0x{:x}:", s.session_id());
    let mut lines = out.lines().skip_while(|l| *l != sid);
    assert_eq!(
        lines.next(),
        Some(sid.as_str()),
        "dump lacks session {sid}: {out}"
    );
    let paths: Vec<&str> = lines
        .take_while(|l| l.starts_with('\t'))
        .map(str::trim)
        .collect();
    assert!(paths.contains(&path.as_str()), "dump lacks {path}: {out}");
    s.close();
}

#[test]
fn dirs_reports_data_and_log_sizes() {
    let server = Server::start();
    let out = server.four_letter("dirs");
    for key in ["datadir_size: ", "logdir_size: "] {
        let v = out
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("dirs without {key}: {out}"));
        v.trim().parse::<u64>().expect("size is a number");
    }
}

#[test]
fn isro_answers_rw_on_a_writable_server() {
    let server = Server::start();
    assert_eq!(server.four_letter("isro"), "rw");
}

#[test]
fn crst_and_srst_acknowledge_the_reset() {
    let server = Server::start();
    assert_eq!(
        server.four_letter("crst").trim_end(),
        "Connection stats reset."
    );
    assert_eq!(server.four_letter("srst").trim_end(), "Server stats reset.");
}

#[test]
fn srst_resets_request_counters() {
    let Some(server) = Server::start_dedicated("srst_resets_request_counters", &[]) else {
        return;
    };
    let mut s = Session::connect(server.addr(), 30_000);
    for _ in 0..5 {
        s.exists("/", false).ok();
    }
    let received = |out: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix("Received: "))
            .expect("Received line")
            .trim()
            .parse()
            .expect("number")
    };
    assert!(received(&server.four_letter("srvr")) >= 5);
    server.four_letter("srst");
    // Only what arrived after the reset is counted (nothing from our idle session).
    assert!(received(&server.four_letter("srvr")) < 5);
    s.close();
}

#[test]
fn non_whitelisted_word_is_refused_with_zookeeper_message() {
    let Some(server) = Server::start_dedicated(
        "non_whitelisted_word_is_refused_with_zookeeper_message",
        &[("4lw.commands.whitelist", "ruok,conf")],
    ) else {
        return;
    };
    assert_eq!(server.four_letter("ruok"), "imok");
    assert_eq!(
        server.four_letter("stat").trim_end(),
        "stat is not executed because it is not in the whitelist."
    );
    assert_eq!(
        server.four_letter("mntr").trim_end(),
        "mntr is not executed because it is not in the whitelist."
    );
    // srvr is always enabled (zkServer.sh status depends on it).
    assert!(server.four_letter("srvr").contains("Mode: standalone"));
}

#[test]
fn four_letter_word_closes_the_connection_after_answering() {
    let server = Server::start();
    let mut conn = raw::Conn::open(server.addr());
    conn.send_raw(b"ruok");
    // No length-prefixed frames: the text, then EOF.
    let mut all = Vec::new();
    use std::io::Read;
    conn.stream.read_to_end(&mut all).expect("read until close");
    assert_eq!(all, b"imok");
}
