//! The `conf` four-letter word's text, rendered from a [`Config`].
//!
//! Keys and order follow ZooKeeper's `ZooKeeperServer.dumpConf` (standalone),
//! plus `QuorumZooKeeperServer.dumpConf`'s quorum lines when this server runs
//! in an ensemble. Directory sizes come from the caller: measuring them is I/O
//! this module does not do.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::Config;

/// ZooKeeper keeps logs and snapshots in a `version-2` subdirectory and
/// `conf` prints that directory.
const VERSION_DIR: &str = "version-2";

/// ZooKeeper only implements fast leader election, algorithm 3.
const ELECTION_ALG: u32 = 3;

impl Config {
    /// Renders the settings as ZooKeeper's `conf` word does (`key=value`
    /// lines, `\n`-terminated). The sizes fill the `dataDirSize` and
    /// `dataLogSize` lines as given. (ZooKeeper 3.9 measures the log directory
    /// for `dataDirSize` and the snapshot directory for `dataLogSize`; a caller
    /// that wants that quirk swaps the arguments.)
    pub fn render_conf(&self, data_dir_size_bytes: u64, data_log_size_bytes: u64) -> String {
        let mut out = String::new();
        let mut line = |key: &str, value: &dyn std::fmt::Display| {
            let _ = writeln!(out, "{key}={value}");
        };
        // ZooKeeper prints -1 for a port it does not listen on.
        let port = |p: Option<u16>| p.map_or(-1, i32::from);
        line("clientPort", &port(self.client_port));
        line("secureClientPort", &port(self.secure_client_port));
        line("dataDir", &version_dir(&self.data_dir).display());
        line("dataDirSize", &data_dir_size_bytes);
        line("dataLogDir", &version_dir(&self.data_log_dir).display());
        line("dataLogSize", &data_log_size_bytes);
        line("tickTime", &self.tick_time_ms);
        line("maxClientCnxns", &self.max_client_cnxns);
        line("minSessionTimeout", &self.min_session_timeout_ms);
        line("maxSessionTimeout", &self.max_session_timeout_ms);
        let backlog = self.client_port_listen_backlog.map_or(-1, i64::from);
        line("clientPortListenBacklog", &backlog);

        let me = self.my_server().filter(|_| self.is_distributed());
        let Some(me) = me else {
            // A standalone ZooKeeper server always reports id 0.
            line("serverId", &0);
            return out;
        };
        line("serverId", &me.id);
        line("initLimit", &self.init_limit);
        line("syncLimit", &self.sync_limit);
        line("electionAlg", &ELECTION_ALG);
        line("electionPort", &me.election_port);
        line("quorumPort", &me.quorum_port);
        line("peerType", &me.role.ordinal());
        out.push_str("membership: \n");
        // As in ZooKeeper, the last line (`version=0`) has no newline.
        out.push_str(&self.quorum_config_text());
        out
    }
}

/// `<dir>/version-2`, absolute as Java's `getAbsolutePath` would print it.
fn version_dir(dir: &Path) -> PathBuf {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .join(VERSION_DIR)
}
