//! Four-letter words on the client port, in Apache ZooKeeper 3.9's output
//! formats (monitoring tools parse them: go-zookeeper's `srvr` regex,
//! kazoo's `envi`, Prometheus exporters' `mntr`).
//!
//! Reads snapshots of server state (counters, connection infos, the tree's
//! size); never changes anything but statistics (`crst`, `srst`).

pub mod commands;
pub mod http;
pub(crate) mod json;
mod monitor;
pub mod prometheus;

use crate::state::Shared;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// The ZooKeeper release corral speaks for. `built on` uses the
/// `MM/dd/yyyy HH:mm GMT` form that go-zookeeper's `srvr` parser expects.
pub const ZK_VERSION: &str = concat!(
    "3.9.3-corral-",
    env!("CARGO_PKG_VERSION"),
    ", built on 01/01/2026 00:00 GMT"
);

const WORDS: [&str; 18] = [
    "ruok", "srvr", "stat", "conf", "envi", "mntr", "cons", "crst", "srst", "wchs", "wchc", "wchp",
    "dump", "dirs", "isro", "gtmk", "stmk", "hash",
];

/// The command a connection's first four bytes name, if any.
pub fn four_letter_word(code: u32) -> Option<&'static str> {
    let bytes = code.to_be_bytes();
    WORDS.iter().copied().find(|w| w.as_bytes() == bytes)
}

/// Runs a (whitelisted) command and returns its text.
pub fn execute(cmd: &str, shared: &Shared) -> String {
    match cmd {
        "ruok" => "imok".to_string(),
        "srvr" => server_stats(shared),
        "stat" => stat(shared),
        "conf" => shared.config.render_conf(
            dir_size(&shared.config.data_dir),
            dir_size(&shared.config.data_log_dir),
        ),
        "envi" => environment(),
        "mntr" => monitor(shared),
        "cons" => connections(shared, true),
        "crst" => {
            reset_connection_stats(shared);
            "Connection stats reset.\n".to_string()
        }
        "srst" => {
            reset_server_stats(shared);
            "Server stats reset.\n".to_string()
        }
        "wchs" => watch_summary(shared),
        "wchc" => watches_by_session(shared),
        "wchp" => watches_by_path(shared),
        "dump" => dump(shared),
        "dirs" => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            dir_size(&shared.config.data_dir),
            dir_size(&shared.config.data_log_dir)
        ),
        // ZooKeeper's IsroCommand: `null` while no server runs (electing,
        // syncing), `rw` otherwise (read-only mode is not built).
        "isro" => match shared.serving() {
            Some(_) => "rw".to_string(),
            None => "null".to_string(),
        },
        "gtmk" => "0\n".to_string(),
        "stmk" => "0\n".to_string(),
        "hash" => "Digest in history is disabled\n".to_string(),
        _ => String::new(),
    }
}

struct Totals {
    received: u64,
    sent: u64,
    outstanding: u64,
    lat_min_us: u64,
    lat_max_us: u64,
    lat_total_us: u64,
    lat_count: u64,
    connections: usize,
}

impl Totals {
    /// The mean request latency in ms, rounded to 4 places as ZooKeeper
    /// reports it; 0 before any request.
    fn avg_ms(&self) -> f64 {
        if self.lat_count == 0 {
            return 0.0;
        }
        let avg = self.lat_total_us as f64 / self.lat_count as f64 / 1000.0;
        (avg * 10000.0).round() / 10000.0
    }
}

fn totals(shared: &Shared) -> Totals {
    let mut t = Totals {
        received: 0,
        sent: 0,
        outstanding: shared.outstanding_requests(),
        lat_min_us: 0,
        lat_max_us: 0,
        lat_total_us: 0,
        lat_count: 0,
        connections: 0,
    };
    for s in &shared.shards {
        let st = &s.stats;
        t.received += st.packets_received.load(Relaxed);
        t.sent += st.packets_sent.load(Relaxed);
        let min = st.latency_min_us.load(Relaxed);
        if min > 0 && (t.lat_min_us == 0 || min < t.lat_min_us) {
            t.lat_min_us = min;
        }
        t.lat_max_us = t.lat_max_us.max(st.latency_max_us.load(Relaxed));
        t.lat_total_us += st.latency_total_us.load(Relaxed);
        t.lat_count += st.latency_count.load(Relaxed);
        t.connections += s.conns.lock().len();
    }
    t
}

/// Java prints doubles as `0.0`, `1.5`, `0.3333333333333333`.
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// ZooKeeper reports latencies in milliseconds.
fn latency_line(t: &Totals) -> String {
    format!(
        "Latency min/avg/max: {}/{}/{}\n",
        t.lat_min_us / 1000,
        java_double(t.avg_ms()),
        t.lat_max_us / 1000
    )
}

/// What the monitoring words answer while the member serves no client
/// (ZooKeeper's `NOT_RUNNING`, for every word that needs a running server).
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

fn server_stats(shared: &Shared) -> String {
    let Some(mode) = shared.serving() else {
        return NOT_SERVING.to_string();
    };
    let t = totals(shared);
    let tree = shared.tree.read();
    let mut out = format!("Zookeeper version: {ZK_VERSION}\n");
    out += &latency_line(&t);
    let _ = write!(
        out,
        "Received: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        t.received,
        t.sent,
        t.connections,
        t.outstanding,
        tree.last_zxid().0,
        mode.as_str(),
        zk_node_count(&tree)
    );
    if mode == crate::sequencer::Mode::Leader {
        let (last, min, max) = proposal_sizes(shared);
        let _ = writeln!(out, "Proposal sizes last/min/max: {last}/{min}/{max}");
    }
    out
}

/// A leader's `Proposal sizes last/min/max` (-1 before its first proposal).
fn proposal_sizes(shared: &Shared) -> (i64, i64, i64) {
    match *shared.proposal_sizes.lock() {
        Some(s) => (s.last, s.min, s.max),
        None => (-1, -1, -1),
    }
}

fn stat(shared: &Shared) -> String {
    if shared.serving().is_none() {
        return NOT_SERVING.to_string();
    }
    let srvr = server_stats(shared);
    let (first, rest) = srvr.split_once('\n').unwrap_or((&srvr, ""));
    let mut out = format!("{first}\nClients:\n");
    out += &connections(shared, false);
    out.push('\n');
    out += rest;
    out
}

fn connections(shared: &Shared, full: bool) -> String {
    let mut out = String::new();
    for s in &shared.shards {
        for c in s.conns.lock().values() {
            let _ = write!(
                out,
                " /{}:{}[1](queued={},recved={},sent={}",
                c.peer.ip(),
                c.peer.port(),
                c.outstanding.load(Relaxed).max(0),
                c.received.load(Relaxed),
                c.sent.load(Relaxed)
            );
            if full {
                let est = c
                    .established
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                let count = c.lat_count.load(Relaxed);
                let avg = c.lat_total_us.load(Relaxed).checked_div(count).unwrap_or(0) / 1000;
                let session = c.session.load(Relaxed);
                if session != 0 {
                    let _ = write!(
                        out,
                        ",sid=0x{:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                        session,
                        *c.last_op.lock(),
                        est,
                        c.timeout_ms.load(Relaxed),
                        c.last_cxid.load(Relaxed),
                        c.last_zxid.load(Relaxed),
                        c.last_response_ms.load(Relaxed),
                        c.last_latency_us.load(Relaxed) / 1000,
                        c.lat_min_us.load(Relaxed) / 1000,
                        avg,
                        c.lat_max_us.load(Relaxed) / 1000
                    );
                }
            }
            out.push_str(")\n");
        }
    }
    if full {
        out.push('\n');
    }
    out
}

fn environment() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let user = std::env::var("USER").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "Environment:\nzookeeper.version={ZK_VERSION}\nhost.name={}\njava.version=corral (Rust)\njava.vendor=corral\njava.home=\njava.class.path=\njava.library.path=\njava.io.tmpdir=/tmp\njava.compiler=<NA>\nos.name=Linux\nos.arch={}\nos.version={}\nuser.name={user}\nuser.home={home}\nuser.dir={cwd}\nos.memory.free=0MB\nos.memory.max=0MB\nos.memory.total=0MB\n",
        host.trim(),
        std::env::consts::ARCH,
        os.trim()
    )
}

fn monitor(shared: &Shared) -> String {
    match monitor::gather(shared) {
        Some(m) => m.mntr(),
        None => NOT_SERVING.to_string(),
    }
}

/// ZooKeeper's DataTree stores the root twice (under "" and "/"), so its
/// node count is one more than the number of znodes; tools compare it.
fn zk_node_count(tree: &crate::tree::DataTree) -> usize {
    tree.node_count() + 1
}

fn session_of(shared: &Shared, conn: crate::watch::ConnId) -> i64 {
    shared
        .shards
        .iter()
        .find_map(|s| s.conns.lock().get(&conn).map(|c| c.session.load(Relaxed)))
        .unwrap_or(0)
}

/// Connections watching, paths watched, watches: summed over the shards.
fn watch_totals(shared: &Shared) -> (usize, usize, usize) {
    let (mut conns, mut paths, mut total) = (0, 0, 0);
    for s in &shared.shards {
        let w = s.watches.lock();
        conns += w.conn_count();
        paths += w.path_count();
        total += w.watch_count();
    }
    (conns, paths, total)
}

fn watch_summary(shared: &Shared) -> String {
    let (conns, paths, total) = watch_totals(shared);
    format!("{conns} connections watching {paths} paths\nTotal watches:{total}\n")
}

/// `crst`: every connection's counters.
fn reset_connection_stats(shared: &Shared) {
    for s in &shared.shards {
        for c in s.conns.lock().values() {
            c.reset();
        }
    }
}

/// `srst`: the server's counters (and a leader's proposal sizes).
fn reset_server_stats(shared: &Shared) {
    for s in &shared.shards {
        s.stats.reset();
    }
    if shared.serving() == Some(crate::sequencer::Mode::Leader) {
        *shared.proposal_sizes.lock() = None;
    }
}

fn watches_by_session(shared: &Shared) -> String {
    let mut out = String::new();
    for s in &shared.shards {
        let by_conn = s.watches.lock().by_conn();
        for (conn, paths) in by_conn {
            let _ = writeln!(out, "0x{:x}", session_of(shared, conn));
            for p in paths {
                let _ = writeln!(out, "\t{p}");
            }
        }
    }
    out
}

fn watches_by_path(shared: &Shared) -> String {
    let mut out = String::new();
    for s in &shared.shards {
        let by_path = s.watches.lock().by_path();
        for (path, conns) in by_path {
            let _ = writeln!(out, "{path}");
            for c in conns {
                let _ = writeln!(out, "\t0x{:x}", session_of(shared, c));
            }
        }
    }
    out
}

fn dump(shared: &Shared) -> String {
    let tree = shared.tree.read();
    let mut out = format!(
        "SessionTracker dump:\nGlobal Sessions({}):\n",
        shared.sessions_count.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        tree.ephemerals().len()
    );
    let mut sessions: Vec<_> = tree.ephemerals().iter().collect();
    sessions.sort_by_key(|(id, _)| id.0);
    for (id, paths) in sessions {
        let _ = writeln!(out, "0x{:x}:", id.0);
        let mut paths: Vec<_> = paths.iter().collect();
        paths.sort();
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    out += &connections(shared, false);
    out
}

fn dir_size(dir: &std::path::Path) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        match std::fs::read_dir(p) {
            Ok(entries) => entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum(),
            Err(_) => 0,
        }
    }
    walk(&dir.join("version-2"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_letter_words_are_recognised_by_their_bytes() {
        assert_eq!(four_letter_word(u32::from_be_bytes(*b"ruok")), Some("ruok"));
        assert_eq!(four_letter_word(u32::from_be_bytes(*b"mntr")), Some("mntr"));
        assert_eq!(
            four_letter_word(44),
            None,
            "a 44-byte handshake length is not a word"
        );
    }

    #[test]
    fn version_line_matches_go_zookeeper_srvr_regex_shape() {
        let (ver, built) = ZK_VERSION.split_once(", built on ").unwrap();
        assert!(ver.starts_with("3.9."));
        assert!(
            ver.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        );
        let b = built.as_bytes();
        assert_eq!((b[2], b[5], b[10], b[13]), (b'/', b'/', b' ', b':'));
    }

    #[test]
    fn java_doubles_keep_a_fraction_digit() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.25), "1.25");
    }
}
