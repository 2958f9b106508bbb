//! ZooKeeper's AdminServer: its commands over HTTP, answered in JSON with
//! ZooKeeper's names and fields (`org.apache.zookeeper.server.admin.Commands`).
//!
//! `GET <commandURL>` lists the commands; `GET <commandURL>/<name>` runs one
//! by its primary name or an alias (the four-letter word). Every answer is a
//! JSON object with the command's fields, `command` (the name asked for) and
//! `error` (null, or why it failed). Unknown commands and commands that need
//! a serving member when none is served answer 200 with the error set, as
//! ZooKeeper's do.

use super::http::{Handler, Request, Response};
use super::json::Json;
use super::{
    ZK_VERSION, dir_size, monitor, proposal_sizes, reset_connection_stats, reset_server_stats,
    session_of, totals, watch_totals, zk_node_count,
};
use crate::sequencer::Mode;
use crate::state::{ConnInfo, Shared};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

type Run = fn(&Shared, &Request, &mut Json);

struct Command {
    /// The primary name first, then the aliases.
    names: &'static [&'static str],
    /// Whether it answers only while the member serves clients.
    needs_server: bool,
    run: Run,
}

const COMMANDS: &[Command] = &[
    cmd(&["configuration", "conf", "config"], true, configuration),
    cmd(&["connection_stat_reset", "crst"], true, |s, _, _| {
        reset_connection_stats(s)
    }),
    cmd(&["connections", "cons"], true, |s, _, r| {
        r.put("connections", connections(s, true));
        r.put("secure_connections", Json::Array(vec![]));
    }),
    cmd(&["dirs"], true, |s, _, r| {
        r.put("datadir_size", dir_size(&s.config.data_dir));
        r.put("logdir_size", dir_size(&s.config.data_log_dir));
    }),
    cmd(&["dump"], true, dump),
    cmd(&["environment", "env", "envi"], false, environment),
    cmd(&["get_trace_mask", "gtmk"], false, |_, _, r| {
        r.put("tracemask", 0i64);
    }),
    cmd(&["hash"], true, |_, _, r| {
        r.put("digests", Json::Array(vec![]))
    }),
    cmd(&["initial_configuration", "icfg"], true, |s, _, r| {
        r.put(
            "initial_configuration",
            s.config.initial_configuration.0.as_str(),
        );
    }),
    cmd(&["is_read_only", "isro"], true, |_, _, r| {
        r.put("read_only", false)
    }),
    cmd(&["last_snapshot", "lsnp"], true, last_snapshot),
    cmd(&["leader", "lead"], true, leader),
    cmd(
        &["monitor", "mntr"],
        false,
        |s, _, r| match monitor::gather(s) {
            Some(m) => {
                for (k, v) in m.flat() {
                    r.put(k, v);
                }
            }
            None => r.put("error", NOT_SERVING),
        },
    ),
    cmd(
        &["observer_connection_stat_reset", "orst"],
        true,
        |_, _, _| {},
    ),
    cmd(&["observers", "obsr"], true, |s, _, r| {
        let view = s.view.lock();
        let synced = if s.serving() == Some(Mode::Leader) {
            view.synced_observers
        } else {
            0
        };
        r.put("synced_observers", synced);
        r.put("observers", Json::Array(vec![]));
    }),
    cmd(&["ruok"], true, |_, _, _| {}),
    cmd(&["server_stats", "srvr"], true, server_stats),
    cmd(&["set_trace_mask", "stmk"], false, set_trace_mask),
    cmd(&["stat_reset", "srst"], true, |s, _, _| {
        reset_server_stats(s)
    }),
    cmd(&["stats", "stat"], true, |s, req, r| {
        server_stats(s, req, r);
        r.put("connections", connections(s, false));
        r.put("secure_connections", Json::Array(vec![]));
    }),
    cmd(&["system_properties", "sysp"], false, system_properties),
    cmd(&["voting_view"], true, voting_view),
    cmd(&["watch_summary", "wchs"], true, |s, _, r| {
        let (conns, paths, total) = watch_totals(s);
        r.put("num_connections", conns);
        r.put("num_paths", paths);
        r.put("num_total_watches", total);
    }),
    cmd(&["watches", "wchc"], true, |s, _, r| {
        let mut out = Json::object();
        for shard in &s.shards {
            for (conn, paths) in shard.watches.lock().by_conn() {
                let paths = paths.iter().map(|p| Json::from(p.to_string())).collect();
                out.put(session_of(s, conn).to_string(), Json::Array(paths));
            }
        }
        r.put("session_id_to_watched_paths", out);
    }),
    cmd(&["watches_by_path", "wchp"], true, |s, _, r| {
        let mut out = Json::object();
        for shard in &s.shards {
            for (path, conns) in shard.watches.lock().by_path() {
                let mut ids = match out.get(path.as_ref()) {
                    Some(Json::Array(ids)) => ids.clone(),
                    _ => Vec::new(),
                };
                ids.extend(conns.into_iter().map(|c| Json::Int(session_of(s, c))));
                out.put(path.to_string(), Json::Array(ids));
            }
        }
        r.put("path_to_session_ids", out);
    }),
    cmd(&["zabstate"], false, zabstate),
];

const fn cmd(names: &'static [&'static str], needs_server: bool, run: Run) -> Command {
    Command {
        names,
        needs_server,
        run,
    }
}

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The handler for the AdminServer's port: `command_url` and below.
pub fn handler(shared: Arc<Shared>, command_url: String) -> Handler {
    Arc::new(move |req: &Request| route(&shared, &command_url, req))
}

fn route(shared: &Shared, base: &str, req: &Request) -> Response {
    let path = req.path.as_str();
    if path == base || path.strip_prefix(base) == Some("/") {
        return Response::new(200, "text/html;charset=utf-8", list(base));
    }
    let Some(name) = path
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|n| !n.is_empty() && !n.contains('/'))
    else {
        return Response::new(
            404,
            "text/html;charset=iso-8859-1",
            "<html><body><h2>HTTP ERROR 404 Not Found</h2></body></html>\n",
        );
    };
    let body = run(shared, name, req).pretty();
    Response::new(200, "application/json", body)
}

/// The listing at `commandURL`: a link per primary name, sorted.
fn list(base: &str) -> String {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.names[0]).collect();
    names.sort_unstable();
    names
        .iter()
        .map(|n| format!("<a href=\"{base}/{n}\">{n}</a>\n<br/>\n"))
        .collect()
}

/// Runs the command `name` (a primary name or an alias).
pub fn run(shared: &Shared, name: &str, req: &Request) -> Json {
    let mut r = Json::object();
    match COMMANDS.iter().find(|c| c.names.contains(&name)) {
        None => r.put("error", format!("Unknown command: {name}")),
        Some(c) if c.needs_server && shared.serving().is_none() => r.put("error", NOT_SERVING),
        Some(c) => (c.run)(shared, req, &mut r),
    }
    r.put("command", name);
    if r.get("error").is_none() {
        r.put("error", Json::Null);
    }
    r
}

fn configuration(s: &Shared, _: &Request, r: &mut Json) {
    let c = &s.config;
    r.put("client_port", c.client_port.map_or(-1, i64::from));
    r.put(
        "data_dir",
        c.data_dir.join("version-2").display().to_string(),
    );
    r.put(
        "data_log_dir",
        c.data_log_dir.join("version-2").display().to_string(),
    );
    r.put("tick_time", c.tick_time_ms);
    r.put("max_client_cnxns", c.max_client_cnxns);
    r.put("min_session_timeout", c.min_session_timeout_ms);
    r.put("max_session_timeout", c.max_session_timeout_ms);
    // A standalone ZooKeeper reports server id 0.
    let id = if c.is_distributed() { s.server_id } else { 0 };
    r.put("server_id", id);
    r.put(
        "client_port_listen_backlog",
        c.client_port_listen_backlog.map_or(-1, i64::from),
    );
}

fn connection(c: &ConnInfo, full: bool) -> Json {
    let mut o = Json::object();
    o.put(
        "remote_socket_address",
        format!("{}:{}", c.peer.ip(), c.peer.port()),
    );
    o.put("interest_ops", 1i64);
    o.put("outstanding_requests", c.outstanding.load(Relaxed).max(0));
    o.put("packets_received", c.received.load(Relaxed));
    o.put("packets_sent", c.sent.load(Relaxed));
    let session = c.session.load(Relaxed);
    if full && session != 0 {
        let count = c.lat_count.load(Relaxed);
        o.put("session_id", session);
        o.put("last_operation", *c.last_op.lock());
        o.put(
            "established",
            c.established
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        );
        o.put("session_timeout", c.timeout_ms.load(Relaxed));
        o.put("last_cxid", c.last_cxid.load(Relaxed));
        o.put("last_zxid", c.last_zxid.load(Relaxed));
        o.put("last_response_time", c.last_response_ms.load(Relaxed));
        o.put("last_latency", c.last_latency_us.load(Relaxed) / 1000);
        o.put("min_latency", c.lat_min_us.load(Relaxed) / 1000);
        o.put(
            "avg_latency",
            c.lat_total_us.load(Relaxed).checked_div(count).unwrap_or(0) / 1000,
        );
        o.put("max_latency", c.lat_max_us.load(Relaxed) / 1000);
    }
    o
}

fn connections(s: &Shared, full: bool) -> Json {
    let mut out = Vec::new();
    for shard in &s.shards {
        out.extend(shard.conns.lock().values().map(|c| connection(c, full)));
    }
    Json::Array(out)
}

fn dump(s: &Shared, _: &Request, r: &mut Json) {
    // Session deadlines live in the sequencer's session tracker, which
    // corral does not copy out for monitoring: the map is left empty.
    r.put("expiry_time_to_session_ids", Json::object());
    let tree = s.tree.read();
    let mut sessions: Vec<_> = tree.ephemerals().iter().collect();
    sessions.sort_by_key(|(id, _)| id.0);
    let mut out = Json::object();
    for (id, paths) in sessions {
        let mut paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        paths.sort();
        out.put(
            id.0.to_string(),
            Json::Array(paths.into_iter().map(Json::from).collect()),
        );
    }
    r.put("session_id_to_ephemeral_paths", out);
}

fn environment(_: &Shared, _: &Request, r: &mut Json) {
    for line in super::environment().lines().skip(1) {
        if let Some((k, v)) = line.split_once('=') {
            r.put(k, v);
        }
    }
}

fn last_snapshot(s: &Shared, _: &Request, r: &mut Json) {
    // The newest snapshot file: its zxid (from the name) and mtime in seconds.
    let newest = std::fs::read_dir(s.config.data_dir.join("version-2"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let zxid = i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()?;
            let mtime = e.metadata().ok()?.modified().ok()?;
            Some((zxid, mtime))
        })
        .max_by_key(|(zxid, _)| *zxid);
    let (zxid, secs) = match newest {
        Some((zxid, mtime)) => (
            format!("{zxid:x}"),
            mtime
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        ),
        None => ("ffffffffffffffff".into(), -1),
    };
    r.put("zxid", zxid);
    r.put("timestamp", secs);
}

fn leader(s: &Shared, _: &Request, r: &mut Json) {
    if !s.config.is_distributed() {
        r.put("error", "server is not initialized");
        return;
    }
    let view = s.view.lock();
    r.put("is_leader", s.serving() == Some(Mode::Leader));
    let leader = if s.serving() == Some(Mode::Leader) {
        Some(s.server_id)
    } else {
        view.leader.map(|id| id.0)
    };
    r.put("leader_id", leader.map_or(-1, |id| id as i64));
    let ip = leader
        .and_then(|id| s.config.servers.iter().find(|m| m.id == id))
        .map_or(String::new(), |m| m.host.clone());
    r.put("leader_ip", ip);
}

fn server_stats(s: &Shared, _: &Request, r: &mut Json) {
    let t = totals(s);
    let mode = s.serving();
    let mut client_response = Json::object();
    client_response.put("last_buffer_size", -1i64);
    client_response.put("min_buffer_size", -1i64);
    client_response.put("max_buffer_size", -1i64);
    let mut st = Json::object();
    st.put("packets_sent", t.sent);
    st.put("packets_received", t.received);
    st.put("fsync_threshold_exceed_count", 0i64);
    st.put("client_response_stats", client_response.clone());
    st.put("data_dir_size", dir_size(&s.config.data_dir));
    st.put("log_dir_size", dir_size(&s.config.data_log_dir));
    st.put("provider_null", false);
    st.put("server_state", mode.map_or("", |m| m.as_str()));
    st.put("last_processed_zxid", s.tree.read().last_zxid().0);
    st.put("outstanding_requests", t.outstanding);
    st.put("avg_latency", t.avg_ms());
    st.put("max_latency", t.lat_max_us / 1000);
    st.put("min_latency", t.lat_min_us / 1000);
    st.put("num_alive_client_connections", t.connections);
    st.put("uptime", s.started.elapsed().as_millis() as u64);
    let auth_failed: u64 = s
        .shards
        .iter()
        .map(|x| x.stats.auth_failed.load(Relaxed))
        .sum();
    st.put("auth_failed_count", auth_failed);
    st.put("non_mtlsremote_conn_count", 0i64);
    st.put("non_mtlslocal_conn_count", 0i64);
    r.put("version", ZK_VERSION);
    r.put("read_only", false);
    r.put("server_stats", st);
    r.put("client_response", client_response);
    if mode == Some(Mode::Leader) {
        let (last, min, max) = proposal_sizes(s);
        let mut p = Json::object();
        p.put("last_buffer_size", last);
        p.put("min_buffer_size", min);
        p.put("max_buffer_size", max);
        r.put("proposal_stats", p);
    }
    r.put("node_count", zk_node_count(&s.tree.read()));
}

fn set_trace_mask(_: &Shared, req: &Request, r: &mut Json) {
    let Some((_, v)) = req.query.iter().find(|(k, _)| k == "traceMask") else {
        r.put("error", "setTraceMask requires long traceMask argument");
        return;
    };
    match v.parse::<i64>() {
        // corral has no trace log; the mask is accepted and has no effect.
        Ok(mask) => r.put("tracemask", mask),
        Err(_) => r.put(
            "error",
            format!("setTraceMask requires long traceMask argument, got {v}"),
        ),
    }
}

/// ZooKeeper lists the JVM's system properties; corral has none, and lists
/// the few that describe its process the same way.
fn system_properties(_: &Shared, _: &Request, r: &mut Json) {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let props = [
        ("file.separator", "/".to_string()),
        ("java.io.tmpdir", "/tmp".to_string()),
        ("java.version", "corral (Rust)".to_string()),
        ("line.separator", "\n".to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("os.name", "Linux".to_string()),
        ("os.version", os.trim().to_string()),
        ("path.separator", ":".to_string()),
        ("user.dir", cwd),
        ("user.home", env("HOME")),
        ("user.name", env("USER")),
    ];
    for (k, v) in props {
        r.put(k, v);
    }
}

fn voting_view(s: &Shared, _: &Request, r: &mut Json) {
    let mut view = Json::object();
    if s.config.is_distributed() {
        let mut members: Vec<_> = s.config.servers.iter().collect();
        members.sort_by_key(|m| m.id);
        for m in members {
            let mut o = Json::object();
            let quorum = format!("{}:{}", m.host, m.quorum_port);
            let election = format!("{}:{}", m.host, m.election_port);
            o.put("server_addresses", Json::Array(vec![quorum.into()]));
            o.put("election_addresses", Json::Array(vec![election.into()]));
            if let Some(c) = &m.client_addr {
                o.put("client_address", format!("{}:{}", c.host, c.port));
            }
            o.put("learner_type", m.role.to_string());
            view.put(m.id.to_string(), o);
        }
    }
    r.put("current_config", view);
}

/// The member's ZAB phase; in an ensemble also who it is and where
/// (ZooKeeper prints its address objects as Jackson sees them).
fn zabstate(s: &Shared, _: &Request, r: &mut Json) {
    let distributed = s.config.is_distributed();
    let me = s.config.my_server().filter(|_| distributed);
    let state = match (me, s.serving()) {
        (None, _) => "",
        (Some(_), Some(_)) => "broadcast",
        (Some(_), None) => "election",
    };
    if let Some(m) = me {
        let zxid = s.tree.read().last_zxid();
        r.put("myid", m.id);
        r.put("is_leader", s.serving() == Some(Mode::Leader));
        r.put("quorum_address", addresses(&m.host, m.quorum_port));
        r.put("election_address", addresses(&m.host, m.election_port));
        if let Some(c) = &m.client_addr {
            r.put("client_address", format!("{}:{}", c.host, c.port));
        }
        r.put("last_zxid", format!("0x{:x}", zxid.0));
        r.put("zab_epoch", zxid.epoch());
        r.put("zab_counter", zxid.counter());
    }
    r.put(
        "voting",
        me.is_some_and(|m| m.role == crate::config::ServerRole::Participant),
    );
    r.put("zabstate", state);
}

/// ZooKeeper's `MultipleAddresses` of one address, as its AdminServer prints it.
fn addresses(host: &str, port: u16) -> Json {
    let one = Json::from(format!("{host}:{port}"));
    let all = Json::Array(vec![one.clone()]);
    let mut o = Json::object();
    o.put("empty", false);
    o.put("all_addresses", all.clone());
    o.put("all_reachable_addresses", all.clone());
    o.put("one", one.clone());
    o.put("reachable_address", one.clone());
    o.put(
        "wildcard_addresses",
        Json::Array(vec![format!("0.0.0.0:{port}").into()]),
    );
    o.put("all_ports", Json::Array(vec![u32::from(port).into()]));
    o.put("all_host_strings", Json::Array(vec![host.into()]));
    o.put("all_reachable_addresses_or_all", all);
    o.put("reachable_or_one", one);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_the_list_links_primary_names() {
        let mut all: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|c| c.names.iter().copied())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a name is registered twice");
        let html = list("/commands");
        assert!(html.contains("<a href=\"/commands/watches_by_path\">watches_by_path</a>"));
        assert!(
            !html.contains("\"/commands/wchp\""),
            "aliases are not listed"
        );
    }
}
