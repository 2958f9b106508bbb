//! Tests of ensemble configuration: the server id (`myid` key and file), the
//! quorum keys with ZooKeeper's defaults, the quorum switches refused in an
//! ensemble, the member list and config text, `conf` as Apache ZooKeeper 3.8
//! prints it for quorum members, and the `conf/ensemble-3` samples.

use std::path::{Path, PathBuf};

use super::tests::{ENSEMBLE, Fixture, abs_version_dir, load_err, load_ok, owned};
use super::*;

fn has_warning(loaded: &LoadedConfig, parts: &[&str]) -> bool {
    loaded
        .warnings
        .iter()
        .any(|w| parts.iter().all(|p| w.contains(p)))
}

/// The `--override`s the project's seed starts member `id` of a one-host
/// ensemble with: no config file, no myid file in dataDir.
fn seed_overrides(base: &Path, id: u64) -> Vec<(String, String)> {
    let node = base.join(format!("node{id}"));
    let data = node.join("data").display().to_string();
    let log = node.join("log").display().to_string();
    let client_port = (2180 + id).to_string();
    let my_id = id.to_string();
    owned(&[
        ("dataDir", &data),
        ("dataLogDir", &log),
        ("clientPort", &client_port),
        ("server.1", "127.0.0.1:2888:3888"),
        ("server.2", "127.0.0.1:2889:3889"),
        ("server.3", "127.0.0.1:2890:3890"),
        ("4lw.commands.whitelist", "*"),
        ("myid", &my_id),
    ])
}

// ---- the server id -----------------------------------------------------------

#[test]
fn myid_key_identifies_a_member_started_without_config_or_myid_file() {
    let base = tempfile::tempdir().expect("temp dir");
    for id in 1..=3 {
        // No initLimit/syncLimit either: corral's defaults (10, 5) apply.
        let overrides = seed_overrides(base.path(), id);
        let loaded = match Config::load(None, &overrides) {
            Ok(l) => l,
            Err(e) => panic!("member {id} refused: {e}"),
        };
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = loaded.config;
        assert_eq!(c.my_id, Some(id));
        assert!(c.is_distributed());
        assert_eq!(c.client_port.map(u64::from), Some(2180 + id));
        assert_eq!(
            c.my_server().map(|s| u64::from(s.quorum_port)),
            Some(2887 + id)
        );
        assert!(c.four_letter_allowed("mntr") && c.four_letter_allowed("conf"));
        assert_eq!((c.init_limit, c.sync_limit), (10, 5));
    }
}

#[test]
fn myid_key_wins_over_a_different_myid_file_with_a_warning() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("2\n");
    let loaded = load_ok(&f, &[("myid", "3")]);
    assert_eq!(loaded.config.my_id, Some(3));
    let file = f.data_dir().join("myid").display().to_string();
    assert!(
        has_warning(&loaded, &["--override myid", &file, "using 3"]),
        "{:?}",
        loaded.warnings
    );

    // Agreeing sources say nothing.
    let loaded = load_ok(&f, &[("myid", "2")]);
    assert_eq!(loaded.config.my_id, Some(2));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    // A file that does not parse is ignored when the key gives the id.
    f.write_my_id("two\n");
    let loaded = load_ok(&f, &[("myid", "1")]);
    assert_eq!(loaded.config.my_id, Some(1));
    assert!(
        has_warning(&loaded, &["myid", "\"two\""]),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn myid_key_is_read_from_the_file_and_with_the_zookeeper_prefix() {
    let f = Fixture::new(&format!("{ENSEMBLE}myid=2\n"));
    assert_eq!(load_ok(&f, &[]).config.my_id, Some(2));
    let loaded = load_ok(&f, &[("zookeeper.myid", "3")]);
    assert_eq!(loaded.config.my_id, Some(3));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn myid_key_that_is_not_a_server_id_is_refused_naming_it() {
    let f = Fixture::new(ENSEMBLE);
    for bad in ["one", "-1", "", "0x2"] {
        let msg = load_err(&f, &[("myid", bad)]);
        assert!(msg.starts_with("--override myid"), "{bad:?}: {msg}");
    }
    // An id without a server line is refused as from the file.
    let msg = load_err(&f, &[("myid", "9")]);
    assert!(msg.contains("server.9"), "{msg}");
}

#[test]
fn ensemble_without_any_server_id_says_both_ways_to_give_one() {
    let f = Fixture::new(ENSEMBLE);
    let msg = load_err(&f, &[]);
    let file = f.data_dir().join("myid").display().to_string();
    assert!(msg.contains(&file) && msg.contains("myid=N"), "{msg}");
}

#[test]
fn missing_data_log_dir_is_created_when_storage_opens() {
    // Config never creates directories; the server's storage opening does
    // (`server::open_storage` → `recovery::version_dir`) for both dirs.
    let base = tempfile::tempdir().expect("temp dir");
    let overrides = seed_overrides(base.path(), 1);
    let c = Config::load(None, &overrides).expect("loads").config;
    assert!(!c.data_log_dir.exists() && !c.data_dir.exists());
    for dir in [&c.data_log_dir, &c.data_dir] {
        let made = crate::storage::recovery::version_dir(dir).expect("created");
        assert_eq!(made, dir.join("version-2"));
        assert!(made.is_dir(), "{}", made.display());
    }
}

// ---- quorum keys ----------------------------------------------------------------

#[test]
fn quorum_keys_have_zookeepers_defaults() {
    let c = Config::default();
    assert_eq!(c.election_port_bind_retry, 3);
    assert_eq!(c.cnx_timeout_ms, 5000);
    assert_eq!(c.quorum_cnxn_timeout_ms, -1);
    assert_eq!(
        (
            c.fast_leader_min_notification_interval_ms,
            c.fast_leader_max_notification_interval_ms
        ),
        (200, 60_000)
    );
    assert_eq!(c.commit_log_count, 500);
    assert!(!c.force_snapshot_sync && c.leader_serves);
    assert_eq!(c.leader_max_time_to_wait_for_epoch_ms, None);
    assert!(!c.tcp_keep_alive && !c.quorum_listen_on_all_ips);
    assert_eq!(c.leader_connect_delay_during_retry_ms, 100);
    assert_eq!(c.observer_reconnect_delay_ms, 0);
    assert_eq!(c.connect_to_learner_master_limit, 0);
    assert!(c.digest_enabled && c.close_session_txn_enabled);
    assert!(!c.reconfig_enabled && c.standalone_enabled && c.sync_enabled);
}

#[test]
fn quorum_keys_mean_the_same_with_or_without_the_zookeeper_prefix() {
    let cases = [
        ("electionPortBindRetry", "0"),
        ("cnxTimeout", "1000"),
        ("quorumCnxnTimeoutMs", "7000"),
        ("fastleader.minNotificationInterval", "100"),
        ("fastleader.maxNotificationInterval", "10000"),
        ("commitLogCount", "1000"),
        ("forceSnapshotSync", "true"),
        ("leaderServes", "no"),
        ("leader.maxTimeToWaitForEpoch", "2000"),
        ("tcpKeepAlive", "true"),
        ("leaderConnectDelayDuringRetryMs", "50"),
        ("observer.reconnectDelayMs", "3000"),
        ("connectToLearnerMasterLimit", "4"),
        ("digest.enabled", "false"),
        ("closeSessionTxn.enabled", "false"),
        ("quorumListenOnAllIPs", "true"),
    ];
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    let baseline = load_ok(&f, &[]).config;
    for (key, value) in cases {
        let plain = load_ok(&f, &[(key, value)]);
        let prefixed_key = format!("zookeeper.{key}");
        let prefixed = load_ok(&f, &[(prefixed_key.as_str(), value)]);
        assert_eq!(plain.config, prefixed.config, "{key}");
        assert_ne!(plain.config, baseline, "{key} had no effect");
        assert!(plain.warnings.is_empty(), "{key}: {:?}", plain.warnings);
    }
    let c = load_ok(
        &f,
        &[
            ("leader.maxTimeToWaitForEpoch", "2000"),
            ("digest.enabled", "false"),
        ],
    )
    .config;
    assert_eq!(c.leader_max_time_to_wait_for_epoch_ms, Some(2000));
    assert!(!c.digest_enabled && c.close_session_txn_enabled);
}

#[test]
fn quorum_cnxn_timeout_is_tick_times_sync_limit_unless_positive() {
    let f = Fixture::new(ENSEMBLE); // tickTime 2000, syncLimit 5
    f.write_my_id("1");
    assert_eq!(
        load_ok(&f, &[]).config.effective_quorum_cnxn_timeout_ms(),
        10_000
    );
    for unset in ["0", "-1", "-30"] {
        let c = load_ok(&f, &[("quorumCnxnTimeoutMs", unset)]).config;
        assert_eq!(c.quorum_cnxn_timeout_ms.to_string(), unset);
        assert_eq!(c.effective_quorum_cnxn_timeout_ms(), 10_000);
    }
    let c = load_ok(&f, &[("quorumCnxnTimeoutMs", "1500")]).config;
    assert_eq!(c.effective_quorum_cnxn_timeout_ms(), 1500);
}

#[test]
fn quorum_values_out_of_range_are_raised_as_zookeeper_does_with_a_warning() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    let loaded = load_ok(
        &f,
        &[
            ("commitLogCount", "100"),
            ("electionPortBindRetry", "-2"),
            ("leader.maxTimeToWaitForEpoch", "-5"),
        ],
    );
    let c = &loaded.config;
    assert_eq!(c.commit_log_count, 500);
    assert_eq!(c.election_port_bind_retry, 3);
    assert_eq!(c.leader_max_time_to_wait_for_epoch_ms, None);
    assert!(has_warning(&loaded, &["commitLogCount", "500"]));
    assert!(has_warning(&loaded, &["electionPortBindRetry", "3"]));
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
}

#[test]
fn quorum_values_that_do_not_parse_are_refused_naming_the_key() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    for (key, value) in [
        ("cnxTimeout", "0"),
        ("cnxTimeout", "-1"),
        ("fastleader.minNotificationInterval", "0"),
        ("fastleader.maxNotificationInterval", "soon"),
        ("quorumCnxnTimeoutMs", "1s"),
        ("leaderServes", "false"),
        ("leaderServes", "maybe"),
        ("digest.enabled", "yes"),
        ("tcpKeepAlive", "1"),
        ("observer.reconnectDelayMs", "-1"),
        ("connectToLearnerMasterLimit", "-1"),
        ("commitLogCount", "many"),
    ] {
        let msg = load_err(&f, &[(key, value)]);
        assert!(
            msg.starts_with(&format!("--override {key}")),
            "{key}={value}: {msg}"
        );
    }
}

#[test]
fn notification_interval_minimum_above_maximum_is_a_warning() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    let loaded = load_ok(
        &f,
        &[
            ("fastleader.minNotificationInterval", "5000"),
            ("fastleader.maxNotificationInterval", "1000"),
        ],
    );
    assert!(has_warning(
        &loaded,
        &["minNotificationInterval", "5000", "1000"]
    ));
}

// ---- quorum switches corral lacks ---------------------------------------------------

/// Each refused switch, a value that turns it on and one that leaves it off.
const QUORUM_SWITCHES: &[(&str, &str, &str)] = &[
    ("sslQuorum", "true", "false"),
    ("portUnification", "true", "false"),
    ("quorum.auth.enableSasl", "true", "false"),
    ("quorum.auth.learnerRequireSasl", "true", "false"),
    ("quorum.auth.serverRequireSasl", "true", "false"),
    ("multiAddress.enabled", "true", "false"),
    ("zookeeper.multiAddress.enabled", "true", "false"),
    ("localSessionsEnabled", "true", "false"),
    ("readonlymode.enabled", "true", "false"),
    ("observerMasterPort", "2191", "0"),
    ("oraclePath", "/var/lib/zookeeper/oracle", ""),
];

#[test]
fn quorum_switches_corral_lacks_are_refused_in_an_ensemble_naming_the_key() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    for (key, on, off) in QUORUM_SWITCHES {
        let msg = load_err(&f, &[(key, on)]);
        assert!(
            msg.starts_with(&format!("--override {key}: ")) && msg.contains("not implemented"),
            "{key}={on}: {msg}"
        );
        let loaded = load_ok(&f, &[(key, off)]);
        assert!(
            loaded.warnings.is_empty(),
            "{key}={off}: {:?}",
            loaded.warnings
        );
    }
    // A file line is named by file and line.
    let f = Fixture::new(&format!("{ENSEMBLE}sslQuorum=true\n"));
    f.write_my_id("1");
    let msg = load_err(&f, &[]);
    let expected = format!("{}:7: sslQuorum", f.cfg.display());
    assert!(msg.starts_with(&expected), "{msg}");
    // The last setting counts: an override may switch it off again.
    assert!(load_ok(&f, &[("sslQuorum", "false")]).warnings.is_empty());
}

#[test]
fn quorum_switches_in_a_standalone_server_are_only_warned_about() {
    let f = Fixture::new("");
    for (key, on, _) in QUORUM_SWITCHES {
        let loaded = load_ok(&f, &[(key, on)]);
        assert!(
            has_warning(&loaded, &[&format!("--override {key}"), "not supported"]),
            "{key}: {:?}",
            loaded.warnings
        );
    }
}

#[test]
fn reconfig_is_refused_in_an_ensemble_but_kept_for_standalone_servers() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    let msg = load_err(&f, &[("reconfigEnabled", "true")]);
    assert!(msg.starts_with("--override reconfigEnabled"), "{msg}");
    assert!(
        !load_ok(&f, &[("reconfigEnabled", "false")])
            .config
            .reconfig_enabled
    );
    let standalone = Fixture::new("reconfigEnabled=true\n");
    assert!(load_ok(&standalone, &[]).config.reconfig_enabled);
}

#[test]
fn one_participant_with_standalone_disabled_is_a_quorum_of_one() {
    let f = Fixture::new(
        "initLimit=10\nsyncLimit=5\nstandaloneEnabled=false\nserver.1=127.0.0.1:2888:3888\n",
    );
    f.write_my_id("1");
    let c = load_ok(&f, &[]).config;
    assert!(c.is_distributed());
    assert_eq!(c.quorum_members().len(), 1);
    assert!(c.render_conf(0, 0).contains("membership: \n"));
}

// ---- members and config text ----------------------------------------------------------

/// The server lines of the second Apache ZooKeeper 3.8.0 ensemble run for
/// these tests: a client address with a host, one with a port only, and an
/// observer without one.
const MIXED_SERVERS: &str = "initLimit=10\nsyncLimit=5\n\
    server.3=127.0.0.1:2890:3890:observer\n\
    server.1=127.0.0.1:2888:3888;127.0.0.1:2181\n\
    server.2=127.0.0.1:2889:3889;2182\n";

/// `membership:` of that ensemble, byte for byte, as `conf` printed it on
/// each of the three members.
const MIXED_MEMBERSHIP: &str = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
    server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
    server.3=127.0.0.1:2890:3890:observer\n\
    version=0";

fn host_port(host: &str, port: u16) -> Option<HostPort> {
    Some(HostPort {
        host: host.into(),
        port,
    })
}

#[test]
fn members_are_sorted_and_say_where_their_client_address_came_from() {
    let f = Fixture::new(&format!("{MIXED_SERVERS}clientPort=2183\n"));
    f.write_my_id("3");
    let c = load_ok(&f, &[]).config;
    let members = c.quorum_members();
    let summary: Vec<_> = members
        .iter()
        .map(|m| (m.sid, m.quorum_port, m.election_port, m.role))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 2888, 3888, ServerRole::Participant),
            (2, 2889, 3889, ServerRole::Participant),
            (3, 2890, 3890, ServerRole::Observer),
        ]
    );
    assert!(members.iter().all(|m| m.host == "127.0.0.1"));
    let clients: Vec<_> = members
        .iter()
        .map(|m| (m.client_addr.clone(), m.client_addr_from_static))
        .collect();
    assert_eq!(
        clients,
        vec![
            (host_port("127.0.0.1", 2181), false),
            (host_port("0.0.0.0", 2182), false),
            // Our own member: no client part, so the static clientPort.
            (host_port("0.0.0.0", 2183), true),
        ]
    );
    assert_eq!(c.quorum_config_text(), MIXED_MEMBERSHIP);

    // Seen from member 1 (whose own line gives its client port, so its
    // file has no clientPort), member 3 has no client address at all.
    let f = Fixture::new(MIXED_SERVERS);
    f.write_my_id("1");
    let c = load_ok(&f, &[]).config;
    assert_eq!(
        c.quorum_members()[0].client_addr,
        host_port("127.0.0.1", 2181)
    );
    let third = &c.quorum_members()[2];
    assert_eq!(
        (third.client_addr.clone(), third.client_addr_from_static),
        (None, false)
    );
    assert_eq!(c.quorum_config_text(), MIXED_MEMBERSHIP);
}

#[test]
fn own_static_client_address_uses_client_port_address_and_stays_out_of_the_text() {
    let f = Fixture::new(&format!("{ENSEMBLE}clientPortAddress=127.0.0.1\n"));
    f.write_my_id("2");
    let c = load_ok(&f, &[]).config;
    let own = &c.quorum_members()[1];
    assert_eq!(own.client_addr, host_port("127.0.0.1", 2181));
    assert!(own.client_addr_from_static);
    assert!(!c.quorum_config_text().contains(';'));
}

#[test]
fn member_text_brackets_ipv6_hosts() {
    let f = Fixture::new(
        "initLimit=10\nsyncLimit=5\n\
         server.1=[::1]:2888:3888;[::1]:2181\nserver.2=[::1]:2889:3889\n",
    );
    f.write_my_id("2");
    let c = load_ok(&f, &[]).config;
    assert_eq!(
        c.quorum_config_text(),
        "server.1=[::1]:2888:3888:participant;[::1]:2181\n\
         server.2=[::1]:2889:3889:participant\nversion=0"
    );
}

// ---- conf as Apache ZooKeeper prints it --------------------------------------------------

/// `printf conf | nc 127.0.0.1 2181` against member 1 of Apache ZooKeeper
/// 3.8.0 (Debian's package) started as a 3-member ensemble on one host, byte
/// for byte. Only the two directories are replaced for the test's.
const APACHE_38_CONF_FOLLOWER: &str = "clientPort=2181
secureClientPort=-1
dataDir=/tmp/zkref-config/node1/data/version-2
dataDirSize=0
dataLogDir=/tmp/zkref-config/node1/datalog/version-2
dataLogSize=1180
tickTime=2000
maxClientCnxns=0
minSessionTimeout=4000
maxSessionTimeout=40000
clientPortListenBacklog=-1
serverId=1
initLimit=10
syncLimit=5
electionAlg=3
electionPort=3888
quorumPort=2888
peerType=0
membership: 
server.1=127.0.0.1:2888:3888:participant
server.2=127.0.0.1:2889:3889:participant
server.3=127.0.0.1:2890:3890:participant
version=0";

/// The same from member 3 of the second ensemble ([`MIXED_SERVERS`],
/// `clientPort=2183`, `peerType=observer`).
const APACHE_38_CONF_OBSERVER: &str = "clientPort=2183
secureClientPort=-1
dataDir=/tmp/cfgwork/zkexp/node3/data/version-2
dataDirSize=0
dataLogDir=/tmp/cfgwork/zkexp/node3/datalog/version-2
dataLogSize=616
tickTime=2000
maxClientCnxns=60
minSessionTimeout=4000
maxSessionTimeout=40000
clientPortListenBacklog=-1
serverId=3
initLimit=10
syncLimit=5
electionAlg=3
electionPort=3890
quorumPort=2890
peerType=1
membership: 
server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181
server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182
server.3=127.0.0.1:2890:3890:observer
version=0";

/// `expected` with Apache's directories (`<apache_node>/data`,
/// `<apache_node>/datalog`) replaced by the fixture's.
fn with_dirs(expected: &str, apache_node: &str, data: &Path, log: &Path) -> String {
    expected
        .replace(
            &format!("{apache_node}/data/version-2"),
            &abs_version_dir(data),
        )
        .replace(
            &format!("{apache_node}/datalog/version-2"),
            &abs_version_dir(log),
        )
}

#[test]
fn conf_of_a_follower_matches_apache_zookeeper_3_8() {
    let log = tempfile::tempdir().expect("temp dir");
    let f = Fixture::new(&format!(
        "tickTime=2000\n{ENSEMBLE}dataLogDir={}\nclientPort=2181\n\
         clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
         autopurge.purgeInterval=0\nadmin.enableServer=false\n",
        log.path().display()
    ));
    f.write_my_id("1");
    let c = load_ok(&f, &[]).config;
    let expected = with_dirs(
        APACHE_38_CONF_FOLLOWER,
        "/tmp/zkref-config/node1",
        &f.data_dir(),
        log.path(),
    );
    assert_eq!(c.render_conf(0, 1180), expected);
}

#[test]
fn conf_of_an_observer_with_client_parts_matches_apache_zookeeper_3_8() {
    let log = tempfile::tempdir().expect("temp dir");
    let f = Fixture::new(&format!(
        "tickTime=2000\n{MIXED_SERVERS}dataLogDir={}\n4lw.commands.whitelist=*\n\
         admin.enableServer=false\nclientPort=2183\npeerType=observer\n",
        log.path().display()
    ));
    f.write_my_id("3");
    let c = load_ok(&f, &[]).config;
    let expected = with_dirs(
        APACHE_38_CONF_OBSERVER,
        "/tmp/cfgwork/zkexp/node3",
        &f.data_dir(),
        log.path(),
    );
    assert_eq!(c.render_conf(0, 616), expected);
}

// ---- conf/ensemble-3 --------------------------------------------------------------------

fn ensemble_3_file(id: u64) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("conf/ensemble-3/node{id}/zoo.cfg"))
}

/// The value of `key` in a sample, as written.
fn sample_value(file: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).expect("read sample");
    let props = properties::parse(&text).expect("sample parses");
    props
        .into_iter()
        .rev()
        .find(|p| p.key == key)
        .map(|p| p.value)
}

/// Loads member `id`'s sample with its directories moved to `base` (the
/// samples' own are relative to the repository root). `my_id_file` writes
/// the myid file as the sample's comments say; otherwise `myid=` is given.
fn load_ensemble_3(id: u64, base: &Path, my_id_file: bool) -> LoadedConfig {
    let data = base.join("data");
    let log = base.join("log");
    std::fs::create_dir_all(&data).expect("data dir");
    let (data_s, log_s, id_s) = (
        data.display().to_string(),
        log.display().to_string(),
        id.to_string(),
    );
    let mut overrides = owned(&[("dataDir", &data_s), ("dataLogDir", &log_s)]);
    if my_id_file {
        std::fs::write(data.join("myid"), format!("{id}\n")).expect("write myid");
    } else {
        overrides.extend(owned(&[("myid", &id_s)]));
    }
    let file = ensemble_3_file(id);
    match Config::load(Some(&file), &overrides) {
        Ok(l) => l,
        Err(e) => panic!("{} does not load: {e}", file.display()),
    }
}

#[test]
fn ensemble_3_samples_use_the_one_host_ports_and_a_directory_per_member() {
    for id in 1..=3u64 {
        let file = ensemble_3_file(id);
        let value = |key: &str| sample_value(&file, key);
        assert_eq!(value("dataDir"), Some(format!("./data/node{id}/data")));
        assert_eq!(value("dataLogDir"), Some(format!("./data/node{id}/log")));
        assert_eq!(value("clientPort"), Some((2180 + id).to_string()));
        for (n, q, e) in [(1, 2888, 3888), (2, 2889, 3889), (3, 2890, 3890)] {
            assert_eq!(
                value(&format!("server.{n}")),
                Some(format!("127.0.0.1:{q}:{e}")),
                "{}",
                file.display()
            );
        }
    }
}

#[test]
fn ensemble_3_samples_load_with_their_myid_file_or_key() {
    let mut texts = Vec::new();
    for id in 1..=3u64 {
        for my_id_file in [true, false] {
            let base = tempfile::tempdir().expect("temp dir");
            let loaded = load_ensemble_3(id, base.path(), my_id_file);
            assert!(
                loaded.warnings.is_empty(),
                "node{id}: {:?}",
                loaded.warnings
            );
            let c = loaded.config;
            assert!(c.is_distributed());
            assert_eq!(c.my_id, Some(id));
            assert_eq!(c.client_port.map(u64::from), Some(2180 + id));
            assert_eq!((c.init_limit, c.sync_limit), (10, 5));
            let own = c.my_server().map(|s| (s.quorum_port, s.election_port));
            let expected_ports = (2887 + id, 3887 + id);
            assert_eq!(
                own.map(|(q, e)| (u64::from(q), u64::from(e))),
                Some(expected_ports)
            );
            texts.push(c.quorum_config_text());
        }
    }
    // Every member describes the same ensemble.
    assert!(texts.iter().all(|t| *t == texts[0]), "{texts:?}");
    assert_eq!(
        texts[0],
        "server.1=127.0.0.1:2888:3888:participant\n\
         server.2=127.0.0.1:2889:3889:participant\n\
         server.3=127.0.0.1:2890:3890:participant\nversion=0"
    );
}
