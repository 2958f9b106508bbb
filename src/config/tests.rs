//! Tests of loading as a whole: files, overrides, myid, validation, rendering.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

/// A temp directory holding `zoo.cfg` with `body`, and `data/` as dataDir
/// (the `dataDir` line comes first, so `body` starts on line 2).
pub(super) struct Fixture {
    dir: TempDir,
    pub(super) cfg: PathBuf,
}

impl Fixture {
    pub(super) fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let cfg = dir.path().join("zoo.cfg");
        let text = format!("dataDir={}\n{body}", data.display());
        std::fs::write(&cfg, text).expect("write cfg");
        Fixture { dir, cfg }
    }

    pub(super) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(super) fn write_my_id(&self, text: &str) {
        std::fs::write(self.data_dir().join("myid"), text).expect("write myid");
    }

    pub(super) fn load(&self, overrides: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
        Config::load(Some(&self.cfg), &owned(overrides))
    }
}

pub(super) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn load_ok(f: &Fixture, overrides: &[(&str, &str)]) -> LoadedConfig {
    match f.load(overrides) {
        Ok(loaded) => loaded,
        Err(e) => panic!("config refused: {e}"),
    }
}

pub(super) fn load_err(f: &Fixture, overrides: &[(&str, &str)]) -> String {
    match f.load(overrides) {
        Ok(loaded) => panic!("config accepted: {:?}", loaded.config),
        Err(e) => e.to_string(),
    }
}

pub(super) const ENSEMBLE: &str = "initLimit=10\nsyncLimit=5\n\
    server.1=127.0.0.1:2888:3888\n\
    server.2=127.0.0.1:2889:3889\n\
    server.3=127.0.0.1:2890:3890\n";

// ---- defaults -------------------------------------------------------------

#[test]
fn default_is_a_standalone_server_on_2181_with_data_in_dot_data() {
    let c = Config::default();
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!(c.client_port, Some(2181));
    assert_eq!(c.client_port_address, None);
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (4000, 40000)
    );
    assert_eq!(c.global_outstanding_limit, 1000);
    assert_eq!(c.jute_max_buffer, 1_048_575);
    assert_eq!(c.container_check_interval_ms, 60_000);
    assert_eq!(c.container_max_per_minute, 10_000);
    assert_eq!(c.pre_alloc_size_kb, 65536);
    assert_eq!(c.snap_count, 100_000);
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert_eq!(c.autopurge_purge_interval_hours, 0);
    assert_eq!(c.fsync_warning_threshold_ms, 1000);
    assert!(c.force_sync && c.standalone_enabled && c.sync_enabled);
    assert!(!c.extended_types_enabled && !c.eager_acl_check);
    assert!(c.cores >= 1);
    assert_eq!(c.super_digest, None);
    assert!(c.servers.is_empty() && !c.is_distributed());
    assert_eq!(c.my_id, None);
}

#[test]
fn loading_without_file_gives_the_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().display().to_string();
    let loaded = Config::load(None, &owned(&[("dataDir", &data)])).expect("loads");
    let expected = Config {
        data_dir: dir.path().to_path_buf(),
        data_log_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    assert_eq!(loaded.config, expected);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn session_timeout_defaults_follow_the_final_tick_time() {
    // maxSessionTimeout derives from tickTime even when tickTime comes later.
    let f = Fixture::new("minSessionTimeout=1000\ntickTime=500\n");
    let c = load_ok(&f, &[]).config;
    assert_eq!(c.min_session_timeout_ms, 1000);
    assert_eq!(c.max_session_timeout_ms, 10_000);
}

#[test]
fn data_log_dir_defaults_to_data_dir_and_can_be_set() {
    let f = Fixture::new("");
    assert_eq!(load_ok(&f, &[]).config.data_log_dir, f.data_dir());
    let c = load_ok(&f, &[("dataLogDir", "/var/tmp/log")]).config;
    assert_eq!(c.data_log_dir, PathBuf::from("/var/tmp/log"));
    assert_eq!(c.data_dir, f.data_dir());
}

#[test]
fn relative_data_dir_is_kept_relative_to_the_working_directory() {
    let c = Config::load(None, &owned(&[("dataDir", "rel/dir")]))
        .expect("loads")
        .config;
    assert_eq!(c.data_dir, PathBuf::from("rel/dir"));
}

#[test]
fn file_without_data_dir_warns_and_uses_the_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(&cfg, "clientPort=2999\n").expect("write");
    let loaded = Config::load(Some(&cfg), &[]).expect("loads");
    assert_eq!(loaded.config.data_dir, PathBuf::from("./data"));
    assert!(
        loaded.warnings.iter().any(|w| w.contains("dataDir")),
        "{:?}",
        loaded.warnings
    );
}

// ---- keys, prefixes, overrides ---------------------------------------------

#[test]
fn every_setting_is_read_from_the_file() {
    let f = Fixture::new(
        "tickTime=100\ninitLimit=7\nsyncLimit=3\nclientPort=40123\n\
         clientPortAddress=127.0.0.1\nclientPortListenBacklog=50\nmaxClientCnxns=0\n\
         minSessionTimeout=300\nmaxSessionTimeout=9000\n4lw.commands.whitelist=ruok\n\
         globalOutstandingLimit=5\nextendedTypesEnabled=true\n\
         DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
         znode.container.checkIntervalMs=100\nznode.container.maxPerMinute=7\n\
         enableEagerACLCheck=true\njute.maxbuffer=4096\nforceSync=no\npreAllocSize=1024\n\
         snapCount=10\nautopurge.snapRetainCount=5\nautopurge.purgeInterval=2\n\
         fsync.warningthresholdms=50\ncores=3\nstandaloneEnabled=true\n\
         quorumListenOnAllIPs=true\nsyncEnabled=false\nelectionAlg=3\n",
    );
    let loaded = load_ok(&f, &[]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!((c.tick_time_ms, c.init_limit, c.sync_limit), (100, 7, 3));
    assert_eq!(c.client_port, Some(40123));
    assert_eq!(c.client_port_address, Some(IpAddr::from([127, 0, 0, 1])));
    assert_eq!(c.client_port_listen_backlog, Some(50));
    assert_eq!(c.max_client_cnxns, 0);
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (300, 9000)
    );
    assert!(c.four_letter_allowed("ruok") && !c.four_letter_allowed("stat"));
    assert_eq!(c.global_outstanding_limit, 5);
    assert!(c.extended_types_enabled && c.eager_acl_check);
    assert_eq!(
        c.super_digest.as_deref(),
        Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
    );
    assert_eq!(
        (c.container_check_interval_ms, c.container_max_per_minute),
        (100, 7)
    );
    assert_eq!(c.jute_max_buffer, 4096);
    assert!(!c.force_sync);
    assert_eq!((c.pre_alloc_size_kb, c.snap_count), (1024, 10));
    assert_eq!(
        (
            c.autopurge_snap_retain_count,
            c.autopurge_purge_interval_hours
        ),
        (5, 2)
    );
    assert_eq!((c.fsync_warning_threshold_ms, c.cores), (50, 3));
    assert!(c.quorum_listen_on_all_ips && !c.sync_enabled);
}

#[test]
fn java_property_names_mean_the_same_with_or_without_zookeeper_prefix() {
    let cases = [
        ("extendedTypesEnabled", "true"),
        ("jute.maxbuffer", "2048"),
        ("DigestAuthenticationProvider.superDigest", "super:abc="),
        ("znode.container.checkIntervalMs", "100"),
        ("znode.container.maxPerMinute", "5"),
        ("enableEagerACLCheck", "true"),
        ("reconfigEnabled", "true"),
        ("4lw.commands.whitelist", "*"),
        ("forceSync", "no"),
        ("preAllocSize", "16"),
        ("snapCount", "50"),
        ("fsync.warningthresholdms", "20"),
        ("globalOutstandingLimit", "10"),
    ];
    let f = Fixture::new("");
    let baseline = load_ok(&f, &[]).config;
    for (key, value) in cases {
        let plain = load_ok(&f, &[(key, value)]);
        let prefixed_key = format!("zookeeper.{key}");
        let prefixed = load_ok(&f, &[(prefixed_key.as_str(), value)]);
        assert_eq!(plain.config, prefixed.config, "{key}");
        assert_ne!(plain.config, baseline, "{key} had no effect");
        assert!(prefixed.warnings.is_empty(), "{:?}", prefixed.warnings);
    }
}

#[test]
fn prefixed_keys_in_the_file_are_understood() {
    let f =
        Fixture::new("zookeeper.extendedTypesEnabled=true\nzookeeper.jute.maxbuffer=0xfffff0\n");
    let c = load_ok(&f, &[]).config;
    assert!(c.extended_types_enabled);
    assert_eq!(c.jute_max_buffer, 0xfffff0);
}

#[test]
fn overrides_win_over_the_file_and_later_overrides_over_earlier() {
    let f = Fixture::new("clientPort=3000\ntickTime=1000\n");
    let c = load_ok(
        &f,
        &[
            ("clientPort", "40123"),
            ("tickTime", "200"),
            ("tickTime", "300"),
        ],
    )
    .config;
    assert_eq!(c.client_port, Some(40123));
    assert_eq!(c.tick_time_ms, 300);
    // Derived defaults use the overridden tickTime.
    assert_eq!(c.min_session_timeout_ms, 600);
}

#[test]
fn java_properties_separators_and_whitespace_are_accepted() {
    let f = Fixture::new("  tickTime : 1500  \nclientPort 2999\n! comment\n# comment\n");
    let c = load_ok(&f, &[]).config;
    assert_eq!((c.tick_time_ms, c.client_port), (1500, Some(2999)));
}

#[test]
fn repeated_key_in_file_keeps_the_last_value_with_a_warning() {
    let f = Fixture::new("tickTime=1000\ntickTime=1500\n");
    let loaded = load_ok(&f, &[]);
    assert_eq!(loaded.config.tick_time_ms, 1500);
    assert!(
        loaded.warnings.iter().any(|w| w.contains(":3: tickTime")),
        "{:?}",
        loaded.warnings
    );
}

// ---- errors and warnings -----------------------------------------------------

#[test]
fn bad_value_in_file_names_file_line_and_key() {
    let f = Fixture::new("clientPort=2181\ntickTime=fast\n");
    let msg = load_err(&f, &[]);
    let expected = format!("{}:3: tickTime", f.cfg.display());
    assert!(msg.contains(&expected), "{msg}");
    assert!(msg.contains("\"fast\""), "{msg}");
}

#[test]
fn bad_value_in_override_names_the_override_and_key() {
    let f = Fixture::new("");
    let msg = load_err(&f, &[("maxClientCnxns", "-5")]);
    assert!(msg.starts_with("--override maxClientCnxns"), "{msg}");
    let msg = load_err(&f, &[("zookeeper.forceSync", "maybe")]);
    assert!(msg.starts_with("--override zookeeper.forceSync"), "{msg}");
}

#[test]
fn out_of_range_values_are_refused() {
    let f = Fixture::new("");
    for (key, value) in [
        ("tickTime", "0"),
        ("clientPort", "0"),
        ("clientPort", "65536"),
        ("clientPortAddress", "zk.example.com"),
        ("extendedTypesEnabled", "yes"),
        ("jute.maxbuffer", "0"),
        ("cores", "0"),
        ("electionAlg", "1"),
        ("peerType", "voter"),
        ("DigestAuthenticationProvider.superDigest", "nocolon"),
        ("minSessionTimeout", "-2"),
        ("dataDir", ""),
    ] {
        let msg = load_err(&f, &[(key, value)]);
        assert!(msg.contains(key), "{key}={value}: {msg}");
    }
}

#[test]
fn unknown_key_is_a_warning_naming_where_it_was() {
    let f = Fixture::new("tickTime=2000\nfrobnicate=yes\n");
    let loaded = load_ok(&f, &[("alsoUnknown", "1")]);
    let expected = format!("{}:3: frobnicate", f.cfg.display());
    assert!(
        loaded.warnings.iter().any(|w| w.contains(&expected)),
        "{:?}",
        loaded.warnings
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("--override alsoUnknown")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn known_zookeeper_keys_are_accepted_without_warning() {
    let f = Fixture::new(
        "admin.enableServer=false\nadmin.serverPort=8080\nmetricsProvider.className=org.apache.zookeeper.metrics.impl.NullMetricsProvider\n\
         snapSizeLimitInKb=4194304\nlocalSessionsEnabled=false\nskipACL=no\n\
         jvm.pause.monitor=true\nmaxResponseCacheSize=400\nsslQuorum=false\n",
    );
    let loaded = load_ok(&f, &[]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn unsupported_features_switched_on_are_warned_about() {
    let f = Fixture::new("sslQuorum=true\nskipACL=yes\nreadonlymode.enabled=true\n");
    let loaded = load_ok(&f, &[]);
    for key in ["sslQuorum", "skipACL", "readonlymode.enabled"] {
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.contains(key) && w.contains("not supported")),
            "{key}: {:?}",
            loaded.warnings
        );
    }
}

const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

impl Fixture {
    /// Writes `jaas.conf` with `text` next to zoo.cfg and returns its path.
    fn write_jaas(&self, text: &str) -> String {
        let path = self.dir.path().join("jaas.conf");
        std::fs::write(&path, text).expect("write jaas");
        path.display().to_string()
    }
}

const DIGEST_SERVER: &str = "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
    user_super=\"super_secret\"\n  user_bob=\"bob_pw\";\n};\n";

#[test]
fn jaas_server_section_turns_sasl_on_with_its_users() {
    let f = Fixture::new(&format!("authProvider.1={SASL_PROVIDER}\n"));
    let jaas = f.write_jaas(DIGEST_SERVER);
    let loaded = load_ok(
        &f,
        &[
            ("java.security.auth.login.config", &jaas),
            ("zookeeper.superUser", "bob"),
        ],
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    assert!(c.sasl_acl_scheme);
    let sasl = c.sasl.as_ref().expect("sasl on");
    assert_eq!(sasl.password("bob").as_deref(), Some("bob_pw"));
    assert_eq!(sasl.password("super").as_deref(), Some("super_secret"));
    assert_eq!(sasl.password("eve"), None);
    assert!(c.is_sasl_super_user("bob"));
    assert!(!c.is_sasl_super_user("super"));
    assert!(
        !format!("{sasl:?}").contains("bob_pw"),
        "Debug hides passwords"
    );

    // superPassword overrides the file's password for `super`.
    let loaded = load_ok(
        &f,
        &[
            ("java.security.auth.login.config", &jaas),
            (
                "zookeeper.SASLAuthenticationProvider.superPassword",
                "other",
            ),
        ],
    );
    let sasl = loaded.config.sasl.expect("sasl on");
    assert_eq!(sasl.password("super").as_deref(), Some("other"));
}

#[test]
fn jaas_file_without_the_section_leaves_sasl_off_and_other_section_names_are_honoured() {
    let f = Fixture::new("");
    let jaas = f.write_jaas(&DIGEST_SERVER.replace("Server", "ZkServer"));
    let loaded = load_ok(&f, &[("java.security.auth.login.config", &jaas)]);
    assert_eq!(loaded.config.sasl, None);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("no section Server")),
        "{:?}",
        loaded.warnings
    );
    let loaded = load_ok(
        &f,
        &[
            ("java.security.auth.login.config", &jaas),
            ("zookeeper.sasl.serverconfig", "ZkServer"),
        ],
    );
    assert!(loaded.config.sasl.is_some());
    // An empty JAAS file (kazoo's harness writes one) is not an error.
    let empty = f.write_jaas("");
    let loaded = load_ok(&f, &[("java.security.auth.login.config", &empty)]);
    assert_eq!(loaded.config.sasl, None);
}

#[test]
fn jaas_file_that_does_not_parse_or_asks_for_kerberos_is_refused_naming_it() {
    let f = Fixture::new("");
    let jaas = f.write_jaas("Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule\n};");
    let msg = load_err(&f, &[("java.security.auth.login.config", &jaas)]);
    assert!(msg.contains(&jaas) && msg.contains("line 3"), "{msg}");
    let jaas = f.write_jaas(
        "Server {\n  com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;\n};",
    );
    let msg = load_err(&f, &[("java.security.auth.login.config", &jaas)]);
    assert!(
        msg.contains("Krb5LoginModule") && msg.contains("not supported"),
        "{msg}"
    );
    let missing = f.dir.path().join("nope.conf").display().to_string();
    let msg = load_err(&f, &[("java.security.auth.login.config", &missing)]);
    assert!(msg.contains("nope.conf"), "{msg}");
}

#[test]
fn client_authentication_enforcement_needs_an_available_scheme() {
    let f = Fixture::new("");
    // sasl without its provider is not an available scheme (ZooKeeper: refused at start).
    let msg = load_err(&f, &[("sessionRequireClientSASLAuth", "true")]);
    assert!(msg.contains("scheme sasl is not available"), "{msg}");
    let msg = load_err(&f, &[("enforce.auth.enabled", "true")]);
    assert!(msg.contains("enforce.auth.schemes"), "{msg}");
    let msg = load_err(
        &f,
        &[
            ("enforce.auth.enabled", "true"),
            ("enforce.auth.schemes", "x509"),
        ],
    );
    assert!(msg.contains("scheme x509 is not available"), "{msg}");

    let with_provider = [
        ("zookeeper.authProvider.1", SASL_PROVIDER),
        ("zookeeper.sessionRequireClientSASLAuth", "true"),
    ];
    assert_eq!(
        load_ok(&f, &with_provider).config.enforce_auth_schemes,
        vec!["sasl"]
    );
    let loaded = load_ok(
        &f,
        &[
            ("enforce.auth.enabled", "true"),
            ("enforce.auth.schemes", " digest , ip"),
        ],
    );
    assert_eq!(loaded.config.enforce_auth_schemes, vec!["digest", "ip"]);
    // Switched off, they are harmless.
    let loaded = load_ok(
        &f,
        &[
            ("enforce.auth.enabled", "false"),
            ("enforce.auth.schemes", "sasl"),
            ("sessionRequireClientSASLAuth", "false"),
        ],
    );
    assert!(loaded.config.enforce_auth_schemes.is_empty());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn jvm_flags_name_the_jaas_file_and_sasl_properties_only() {
    let got = jvm_flag_overrides([
        "-Xmx1g -Djava.security.auth.login.config=/etc/zk/jaas.conf -Dzookeeper.log.dir=/x",
        "-Dzookeeper.authProvider.1=Foo -Dzookeeper.superUser=admin",
    ]);
    assert_eq!(
        got,
        owned(&[
            ("java.security.auth.login.config", "/etc/zk/jaas.conf"),
            ("zookeeper.authProvider.1", "Foo"),
            ("zookeeper.superUser", "admin"),
        ])
    );
}

#[test]
fn features_that_would_change_the_quorum_are_refused() {
    let f = Fixture::new("");
    for (key, value) in [
        ("dynamicConfigFile", "zoo.cfg.dynamic"),
        ("group.1", "1:2:3"),
        ("weight.1", "2"),
    ] {
        let msg = load_err(&f, &[(key, value)]);
        assert!(msg.contains(key), "{msg}");
    }
}

#[test]
fn min_session_timeout_above_max_is_refused_at_its_line() {
    let f = Fixture::new("minSessionTimeout=50000\nmaxSessionTimeout=40000\n");
    let msg = load_err(&f, &[]);
    let expected = format!("{}:2: minSessionTimeout", f.cfg.display());
    assert!(msg.contains(&expected), "{msg}");
    assert!(msg.contains("must not be larger"), "{msg}");
}

#[test]
fn explicit_max_below_derived_min_is_refused() {
    // tickTime 5000 → default min 10000 > max 8000.
    let f = Fixture::new("tickTime=5000\n");
    let msg = load_err(&f, &[("maxSessionTimeout", "8000")]);
    assert!(msg.starts_with("--override maxSessionTimeout"), "{msg}");
}

#[test]
fn snapshot_counts_below_zookeepers_minimum_are_raised_with_a_warning() {
    let f = Fixture::new("snapCount=1\nautopurge.snapRetainCount=1\n");
    let loaded = load_ok(&f, &[]);
    assert_eq!(loaded.config.snap_count, 2);
    assert_eq!(loaded.config.autopurge_snap_retain_count, 3);
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
}

#[test]
fn missing_config_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.cfg");
    let msg = match Config::load(Some(&missing), &[]) {
        Ok(_) => panic!("loaded a missing file"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("nope.cfg"), "{msg}");
}

// ---- parse_override --------------------------------------------------------------

#[test]
fn parse_override_splits_at_the_first_equals_sign() {
    let ok = |s: &str| parse_override(s).ok();
    assert_eq!(
        ok("clientPort=40123"),
        Some(("clientPort".into(), "40123".into()))
    );
    assert_eq!(
        ok(" server.1 = 127.0.0.1:2888:3888 "),
        Some(("server.1".into(), "127.0.0.1:2888:3888".into()))
    );
    assert_eq!(
        ok("DigestAuthenticationProvider.superDigest=super:abc="),
        Some((
            "DigestAuthenticationProvider.superDigest".into(),
            "super:abc=".into()
        ))
    );
    assert_eq!(
        ok("4lw.commands.whitelist="),
        Some(("4lw.commands.whitelist".into(), String::new()))
    );
    assert!(parse_override("clientPort").is_err());
    assert!(parse_override("=5").is_err());
}

// ---- four-letter words -------------------------------------------------------------

#[test]
fn unset_whitelist_allows_only_srvr() {
    let c = Config::default();
    assert!(c.four_letter_allowed("srvr"));
    for word in ["ruok", "stat", "mntr", "conf"] {
        assert!(!c.four_letter_allowed(word), "{word}");
    }
}

#[test]
fn star_allows_every_known_word_only() {
    let f = Fixture::new("4lw.commands.whitelist=*\n");
    let c = load_ok(&f, &[]).config;
    for word in KNOWN_FOUR_LETTER_WORDS {
        assert!(c.four_letter_allowed(word), "{word}");
    }
    // ZooKeeper's `*` enables `hash` (DigestCommand) too; found by the four_letter_word fuzz
    // target, which saw it recognised and then refused.
    assert!(c.four_letter_allowed("hash"));
    assert!(!c.four_letter_allowed("xyzw"));
}

#[test]
fn listed_words_with_spaces_are_allowed_and_srvr_always() {
    let f = Fixture::new("4lw.commands.whitelist= stat , ruok,,mntr \n");
    let c = load_ok(&f, &[]).config;
    for word in ["stat", "ruok", "mntr", "srvr"] {
        assert!(c.four_letter_allowed(word), "{word}");
    }
    assert!(!c.four_letter_allowed("conf"));
    assert!(!c.four_letter_allowed(" stat "));
}

#[test]
fn star_anywhere_in_the_list_allows_all() {
    assert_eq!(
        FourLetterWhitelist::parse("ruok, *"),
        FourLetterWhitelist::All
    );
}

// ---- ensemble ------------------------------------------------------------------

#[test]
fn ensemble_lines_are_parsed_sorted_and_myid_is_read() {
    let f = Fixture::new(
        "initLimit=10\nsyncLimit=5\n\
         server.3=127.0.0.1:2890:3890\n\
         server.1=127.0.0.1:2888:3888\n\
         server.2=127.0.0.1:2889:3889\n\
         server.4=127.0.0.1:2891:3891:observer;127.0.0.1:2184\n",
    );
    f.write_my_id("2\n");
    let loaded = load_ok(&f, &[]);
    let c = &loaded.config;
    assert_eq!(c.my_id, Some(2));
    assert!(c.is_distributed());
    let ids: Vec<u64> = c.servers.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    assert_eq!(c.servers[3].role, ServerRole::Observer);
    assert_eq!(
        c.servers[3].client_addr,
        Some(HostPort {
            host: "127.0.0.1".into(),
            port: 2184
        })
    );
    assert_eq!(c.my_server().map(|s| s.quorum_port), Some(2889));
    assert_eq!(c.peer_type, ServerRole::Participant);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn ensemble_without_myid_is_refused() {
    let f = Fixture::new(ENSEMBLE);
    let msg = load_err(&f, &[]);
    assert!(msg.contains("myid"), "{msg}");
}

#[test]
fn myid_without_a_server_line_is_refused() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("7");
    let msg = load_err(&f, &[]);
    assert!(msg.contains("server.7"), "{msg}");
}

#[test]
fn myid_that_is_not_a_number_is_refused() {
    let f = Fixture::new("");
    f.write_my_id("one\n");
    let msg = load_err(&f, &[]);
    assert!(msg.contains("myid") && msg.contains("\"one\""), "{msg}");
}

#[test]
fn standalone_reads_myid_too() {
    let f = Fixture::new("");
    f.write_my_id(" 9 \n");
    let c = load_ok(&f, &[]).config;
    assert_eq!(c.my_id, Some(9));
    assert!(!c.is_distributed());
}

#[test]
fn ensemble_limits_default_to_the_samples_with_a_warning_and_zero_is_refused() {
    let servers = "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n";
    let f = Fixture::new(&format!("syncLimit=3\n{servers}"));
    f.write_my_id("1");
    let loaded = load_ok(&f, &[]);
    assert_eq!(
        (loaded.config.init_limit, loaded.config.sync_limit),
        (10, 3)
    );
    let expected = format!("{}: initLimit is not set; using 10", f.cfg.display());
    assert!(
        loaded.warnings.iter().any(|w| w.starts_with(&expected)),
        "{:?}",
        loaded.warnings
    );
    let msg = load_err(&f, &[("initLimit", "0")]);
    assert!(msg.starts_with("--override initLimit"), "{msg}");
    let msg = load_err(&f, &[("syncLimit", "0")]);
    assert!(msg.starts_with("--override syncLimit"), "{msg}");
    // A standalone server never looks at them.
    assert!(
        load_ok(&Fixture::new("initLimit=0\n"), &[])
            .warnings
            .is_empty()
    );
}

#[test]
fn duplicate_server_id_in_file_is_refused_naming_both_lines() {
    let f = Fixture::new(&format!("{ENSEMBLE}server.01=127.0.0.1:2895:3895\n"));
    f.write_my_id("1");
    let msg = load_err(&f, &[]);
    let expected = format!("{}:7: server.01", f.cfg.display());
    assert!(msg.contains(&expected), "{msg}");
    assert!(msg.contains(":4: server.1"), "{msg}");
}

#[test]
fn override_replaces_a_server_line_of_the_file() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    let c = load_ok(&f, &[("server.3", "127.0.0.1:2990:3990")]).config;
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.servers[2].quorum_port, 2990);
}

#[test]
fn server_ids_are_limited_to_255_or_254_with_extended_types() {
    let f = Fixture::new(ENSEMBLE);
    f.write_my_id("1");
    let c = load_ok(&f, &[("server.255", "127.0.0.1:2899:3899")]);
    assert!(c.config.servers.iter().any(|s| s.id == 255));

    let key = "server.255";
    let msg = load_err(
        &f,
        &[
            (key, "127.0.0.1:2899:3899"),
            ("extendedTypesEnabled", "true"),
        ],
    );
    assert!(msg.starts_with("--override server.255"), "{msg}");
    assert!(msg.contains("extendedTypesEnabled"), "{msg}");

    for bad in ["server.256", "server.0"] {
        let msg = load_err(&f, &[(bad, "127.0.0.1:2899:3899")]);
        assert!(msg.contains(bad), "{msg}");
    }
}

#[test]
fn malformed_server_line_names_file_line_and_key() {
    let f = Fixture::new("initLimit=10\nserver.1=127.0.0.1:2888\n");
    let msg = load_err(&f, &[]);
    let expected = format!("{}:3: server.1", f.cfg.display());
    assert!(msg.contains(&expected), "{msg}");
    let msg = load_err(&Fixture::new("server.x=127.0.0.1:2888:3888\n"), &[]);
    assert!(msg.contains("server.x"), "{msg}");
}

#[test]
fn two_servers_on_the_same_address_are_refused() {
    let f = Fixture::new(
        "initLimit=10\nsyncLimit=5\n\
         server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2888:3889\n\
         server.3=127.0.0.1:2890:3890\n",
    );
    f.write_my_id("1");
    let msg = load_err(&f, &[]);
    assert!(
        msg.contains("127.0.0.1:2888") && msg.contains("server.1"),
        "{msg}"
    );
}

#[test]
fn own_client_address_in_server_line_sets_the_client_port() {
    let f = Fixture::new(
        "initLimit=10\nsyncLimit=5\n\
         server.1=127.0.0.1:2888:3888;127.0.0.1:2191\n\
         server.2=127.0.0.1:2889:3889;2192\n\
         server.3=127.0.0.1:2890:3890;2193\n",
    );
    f.write_my_id("1");
    let c = load_ok(&f, &[]).config;
    assert_eq!(c.client_port, Some(2191));
    assert_eq!(c.client_port_address, Some(IpAddr::from([127, 0, 0, 1])));

    f.write_my_id("2");
    let c = load_ok(&f, &[]).config;
    assert_eq!((c.client_port, c.client_port_address), (Some(2192), None));

    // An explicit clientPort that disagrees is refused at its own location.
    let msg = load_err(&f, &[("clientPort", "2999")]);
    assert!(msg.starts_with("--override clientPort"), "{msg}");
    // One that agrees is fine.
    assert_eq!(
        load_ok(&f, &[("clientPort", "2192")]).config.client_port,
        Some(2192)
    );
}

#[test]
fn observers_and_peer_type_follow_the_server_line() {
    let f = Fixture::new(&format!(
        "{ENSEMBLE}server.4=127.0.0.1:2891:3891:observer\npeerType=participant\n"
    ));
    f.write_my_id("4");
    let loaded = load_ok(&f, &[]);
    assert_eq!(loaded.config.peer_type, ServerRole::Observer);
    assert!(
        loaded.warnings.iter().any(|w| w.contains("peerType")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn single_server_line_runs_standalone_unless_standalone_is_disabled() {
    let f = Fixture::new("initLimit=10\nsyncLimit=5\nserver.1=127.0.0.1:2888:3888\n");
    let loaded = load_ok(&f, &[]);
    assert!(!loaded.config.is_distributed());
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    // A one-member quorum needs its myid like any ensemble member.
    let msg = load_err(&f, &[("standaloneEnabled", "false")]);
    assert!(msg.contains("myid"), "{msg}");
    f.write_my_id("1");
    let c = load_ok(&f, &[("standaloneEnabled", "false")]).config;
    assert!(c.is_distributed());
}

#[test]
fn observers_without_participants_are_refused() {
    let f = Fixture::new("server.1=127.0.0.1:2888:3888:observer\n");
    assert!(load_err(&f, &[]).contains("observers"));
}

#[test]
fn even_or_tiny_ensembles_get_a_warning() {
    let f = Fixture::new(&format!("{ENSEMBLE}server.4=127.0.0.1:2891:3891\n"));
    f.write_my_id("1");
    assert_eq!(load_ok(&f, &[]).warnings.len(), 1);
    let f = Fixture::new(
        "initLimit=10\nsyncLimit=5\n\
         server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n",
    );
    f.write_my_id("1");
    assert_eq!(load_ok(&f, &[]).warnings.len(), 1);
}

// ---- conf output -------------------------------------------------------------------

pub(super) fn abs_version_dir(p: &Path) -> String {
    std::path::absolute(p)
        .expect("absolute")
        .join("version-2")
        .display()
        .to_string()
}

#[test]
fn render_conf_matches_zookeepers_standalone_layout() {
    let f = Fixture::new("clientPort=40123\ndataLogDir=/var/tmp/corral-log\n");
    let c = load_ok(&f, &[]).config;
    let expected = format!(
        "clientPort=40123\nsecureClientPort=-1\ndataDir={}\ndataDirSize=111\n\
         dataLogDir=/var/tmp/corral-log/version-2\ndataLogSize=222\ntickTime=2000\n\
         maxClientCnxns=60\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n\
         clientPortListenBacklog=-1\nserverId=0\n",
        abs_version_dir(&f.data_dir())
    );
    assert_eq!(c.render_conf(111, 222), expected);
}

#[test]
fn render_conf_adds_quorum_lines_in_an_ensemble() {
    let f = Fixture::new(&format!(
        "{ENSEMBLE}server.4=127.0.0.1:2891:3891:observer;2184\n"
    ));
    f.write_my_id("2");
    let c = load_ok(&f, &[]).config;
    let text = c.render_conf(0, 0);
    let tail = "serverId=2\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\nelectionPort=3889\n\
        quorumPort=2889\npeerType=0\nmembership: \n\
        server.1=127.0.0.1:2888:3888:participant\n\
        server.2=127.0.0.1:2889:3889:participant\n\
        server.3=127.0.0.1:2890:3890:participant\n\
        server.4=127.0.0.1:2891:3891:observer;0.0.0.0:2184\n\
        version=0";
    assert!(text.ends_with(tail), "{text}");
    assert!(text.starts_with("clientPort=2181\n"), "{text}");
}

// ---- the shipped samples ---------------------------------------------------------

fn cfg_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            cfg_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "cfg") {
            out.push(path);
        }
    }
}

#[test]
fn every_sample_config_in_conf_loads_without_warnings() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf");
    let mut files = Vec::new();
    cfg_files(&conf, &mut files);
    files.sort();
    assert!(files.len() >= 4, "found only {files:?}");
    for file in files {
        // The samples' dataDirs are relative and hold no myid; give each a
        // temp dataDir with the myid its node directory names.
        let data = tempfile::tempdir().expect("temp dir");
        let node = file
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("node"))
            .map(str::to_string);
        if let Some(id) = &node {
            std::fs::write(data.path().join("myid"), id).expect("write myid");
        }
        let data_dir = data.path().display().to_string();
        let overrides = owned(&[("dataDir", &data_dir)]);
        let loaded = match Config::load(Some(&file), &overrides) {
            Ok(l) => l,
            Err(e) => panic!("{} does not load: {e}", file.display()),
        };
        assert!(
            loaded.warnings.is_empty(),
            "{}: {:?}",
            file.display(),
            loaded.warnings
        );
        let c = loaded.config;
        assert_eq!(c.tick_time_ms, 2000, "{}", file.display());
        assert!(c.four_letter_allowed("ruok"), "{}", file.display());
        if let Some(id) = node {
            assert!(c.is_distributed(), "{}", file.display());
            assert_eq!(c.servers.len(), 3);
            assert_eq!(c.my_id.map(|i| i.to_string()), Some(id.clone()));
            let expected_port = 2180 + c.my_id.unwrap_or(0);
            assert_eq!(c.client_port.map(u64::from), Some(expected_port));
            assert_ne!(c.data_log_dir, c.data_dir);
            assert!(
                c.data_log_dir.ends_with(format!("node{id}/log")),
                "{}",
                c.data_log_dir.display()
            );
        } else {
            assert!(!c.is_distributed());
            assert_eq!(c.client_port, Some(2181));
        }
    }
}

#[test]
fn standalone_sample_uses_dot_data_as_written() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/zoo.cfg");
    // Read the file through the properties layer only: loading it for real
    // would look for ./data/myid in the test's working directory.
    let text = std::fs::read_to_string(&file).expect("read sample");
    let props = properties::parse(&text).expect("parses");
    let get = |k: &str| {
        props
            .iter()
            .rev()
            .find(|p| p.key == k)
            .map(|p| p.value.as_str())
    };
    assert_eq!(get("dataDir"), Some("./data"));
    assert_eq!(get("clientPort"), Some("2181"));
    assert_eq!(get("tickTime"), Some("2000"));
    assert!(get("4lw.commands.whitelist").is_some());
}

// ---- the secure client port ---------------------------------------------------------------

fn tls_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn secure_port_with_a_pem_key_store_is_settled_and_rendered() {
    let key_store = tls_fixture("server.pem");
    let f = Fixture::new(&format!(
        "clientPort=2181\nsecureClientPort=2281\n\
         serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
         ssl.keyStore.location={key_store}\nssl.clientAuth=none\n"
    ));
    let loaded = load_ok(&f, &[]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(
        (c.client_port, c.secure_client_port),
        (Some(2181), Some(2281))
    );
    let tls = c.tls.as_ref().expect("tls settled");
    assert_eq!(tls.key_store.store_type, crate::tls::StoreType::Pem);
    assert_eq!(tls.client_auth, crate::tls::ClientAuth::None);
    assert_eq!(
        tls.versions,
        vec![crate::tls::TlsVersion::Tls13, crate::tls::TlsVersion::Tls12]
    );
    let conf = c.render_conf(0, 0);
    assert!(
        conf.contains("clientPort=2181\nsecureClientPort=2281\n"),
        "{conf}"
    );
}

#[test]
fn secure_port_without_client_port_serves_tls_only() {
    let f = Fixture::new("");
    let c = load_ok(
        &f,
        &[
            ("secureClientPort", "2281"),
            (
                "zookeeper.ssl.keyStore.location",
                &tls_fixture("server.pem"),
            ),
            ("zookeeper.ssl.trustStore.location", &tls_fixture("ca.crt")),
            ("zookeeper.ssl.trustStore.type", "pem"),
            ("zookeeper.ssl.protocol", "TLSv1.2"),
        ],
    )
    .config;
    assert_eq!((c.client_port, c.secure_client_port), (None, Some(2281)));
    let tls = c.tls.as_ref().expect("tls settled");
    assert_eq!(
        tls.client_auth,
        crate::tls::ClientAuth::Need,
        "ZooKeeper's default"
    );
    assert_eq!(tls.versions, vec![crate::tls::TlsVersion::Tls12]);
    assert!(
        c.render_conf(0, 0)
            .starts_with("clientPort=-1\nsecureClientPort=2281\n")
    );
}

#[test]
fn unusable_tls_settings_are_refused_naming_the_key() {
    let f = Fixture::new("");
    let dir = f.dir.path();
    let pem = tls_fixture("server.pem");
    let jks = dir.join("keystore.jks");
    let store = crate::tls::jks::tests::build("apassword", b"not really a key", &[b"x"], &[]);
    std::fs::write(&jks, store).expect("write jks");
    let jks = jks.display().to_string();
    let missing = dir.join("nowhere.jks").display().to_string();
    let txt = dir.join("store.txt");
    std::fs::write(&txt, "x").expect("write");
    let txt = txt.display().to_string();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("ssl.clientAuth", "none")],
            "--override secureClientPort: secureClientPort is set but ssl.keyStore.location is not",
        ),
        (
            &[("ssl.keyStore.location", &missing)],
            "--override ssl.keyStore.location: ssl.keyStore: cannot read",
        ),
        (
            &[
                ("ssl.keyStore.location", &jks),
                ("ssl.keyStore.password", "wrong"),
            ],
            "--override ssl.keyStore.password: ssl.keyStore: keystore password was incorrect",
        ),
        (
            &[("ssl.keyStore.location", &jks)],
            "--override ssl.keyStore.location: ssl.keyStore: cannot recover the key",
        ),
        (
            &[("ssl.keyStore.location", &txt)],
            "--override ssl.keyStore.location: cannot tell the store type",
        ),
        (
            &[
                ("ssl.keyStore.location", &txt),
                ("ssl.keyStore.type", "JKS"),
            ],
            "--override ssl.keyStore.location: ssl.keyStore: not a readable PKCS12",
        ),
        (
            &[("ssl.keyStore.location", &pem)],
            "--override ssl.clientAuth: ssl.clientAuth=Need needs ssl.trustStore.location",
        ),
        (
            &[
                ("ssl.keyStore.location", &pem),
                ("ssl.clientAuth", "want"),
                ("ssl.trustStore.location", &missing),
            ],
            "--override ssl.trustStore.location: ssl.trustStore: cannot read",
        ),
        (
            &[
                ("ssl.keyStore.location", &pem),
                ("ssl.clientAuth", "none"),
                ("ssl.enabledProtocols", "TLSv1,TLSv1.1"),
            ],
            "--override ssl.enabledProtocols: invalid value",
        ),
        (
            &[
                ("ssl.keyStore.location", &pem),
                ("ssl.clientAuth", "none"),
                ("ssl.protocol", "SSLv3"),
            ],
            "--override ssl.protocol: invalid value",
        ),
        (
            &[
                ("ssl.keyStore.location", &pem),
                ("ssl.clientAuth", "none"),
                ("ssl.ciphersuites", "TLS_RSA_WITH_NULL_MD5"),
            ],
            "--override ssl.ciphersuites: ssl.ciphersuites: none of",
        ),
        (
            &[("ssl.clientAuth", "sometimes")],
            "--override ssl.clientAuth: invalid value \"sometimes\"",
        ),
        (
            &[("ssl.keyStore.type", "BCFKS")],
            "--override ssl.keyStore.type: invalid value",
        ),
    ];
    for (overrides, expected) in cases {
        let mut all = vec![("secureClientPort", "2281")];
        all.extend_from_slice(overrides);
        let msg = load_err(&f, &all);
        assert!(
            msg.starts_with(expected),
            "{overrides:?}:\n  got  {msg}\n  want {expected}"
        );
    }
    let msg = load_err(&f, &[("secureClientPortAddress", "127.0.0.1")]);
    assert!(
        msg.contains("secureClientPortAddress is set but secureClientPort is not set"),
        "{msg}"
    );
}

#[test]
fn tls_cipher_suites_and_protocol_lists_use_java_names() {
    let f = Fixture::new("");
    let loaded = load_ok(
        &f,
        &[
            ("secureClientPort", "2281"),
            ("ssl.keyStore.location", &tls_fixture("server.pem")),
            ("ssl.clientAuth", "none"),
            ("ssl.enabledProtocols", "TLSv1.1,TLSv1.2"),
            (
                "ssl.ciphersuites",
                "TLS_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            ),
        ],
    );
    let tls = loaded.config.tls.as_ref().expect("tls settled");
    assert_eq!(tls.versions, vec![crate::tls::TlsVersion::Tls12]);
    assert_eq!(tls.cipher_suites.len(), 2);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("TLSv1.1 is not offered")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn x509_super_user_is_read_and_tls_tuning_keys_are_accepted_quietly() {
    let f = Fixture::new(
        "X509AuthenticationProvider.superUser=CN=admin,O=corral\n\
         ssl.hostnameVerification=false\nssl.handshakeDetectionTimeoutMillis=5000\n\
         ssl.authProvider=x509\n",
    );
    let loaded = load_ok(&f, &[]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        loaded.config.x509_super_user.as_deref(),
        Some("CN=admin,O=corral")
    );
    assert!(loaded.config.tls.is_none());
    // Quorum TLS is another matter.
    let loaded = load_ok(&f, &[("ssl.quorum.keyStore.location", "/x.jks")]);
    assert!(
        loaded.warnings.iter().any(|w| w.contains("not supported")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn the_admin_server_is_on_at_8080_unless_configured_otherwise() {
    let f = Fixture::new("clientPort=40123\n");
    let c = load_ok(&f, &[]).config;
    assert_eq!(c.admin_server, AdminServerConfig::default());
    assert_eq!(c.admin_server.address.to_string(), "0.0.0.0:8080");
    let f = Fixture::new(
        "admin.serverAddress=127.0.0.1\nadmin.serverPort=18080\nadmin.commandURL=/cmds/\n",
    );
    let c = load_ok(&f, &[("zookeeper.admin.enableServer", "false")]).config;
    assert!(!c.admin_server.enabled);
    assert_eq!(c.admin_server.address.to_string(), "127.0.0.1:18080");
    assert_eq!(c.admin_server.command_url, "/cmds");
    assert!(load_err(&f, &[("admin.serverPort", "0")]).contains("admin.serverPort"));
    assert!(load_err(&f, &[("admin.commandURL", "cmds")]).contains("admin.commandURL"));
}

#[test]
fn jvm_flags_configure_the_admin_server() {
    let flags = "-Xmx1g -Dzookeeper.admin.serverPort=9090 -Dzookeeper.admin.enableServer=false";
    assert_eq!(
        jvm_flag_overrides([flags]),
        owned(&[
            ("zookeeper.admin.serverPort", "9090"),
            ("zookeeper.admin.enableServer", "false")
        ])
    );
}

#[test]
fn prometheus_is_served_only_when_its_provider_is_named() {
    let f = Fixture::new("metricsProvider.httpPort=7001\n");
    assert_eq!(load_ok(&f, &[]).config.prometheus, None);
    let loaded = load_ok(&f, &[("metricsProvider.className", PROMETHEUS_PROVIDER)]);
    assert_eq!(
        loaded.config.prometheus.map(|a| a.to_string()).as_deref(),
        Some("0.0.0.0:7001")
    );
    let f = Fixture::new(&format!(
        "metricsProvider.className={PROMETHEUS_PROVIDER}\nmetricsProvider.httpHost=127.0.0.1\n"
    ));
    assert_eq!(
        load_ok(&f, &[])
            .config
            .prometheus
            .map(|a| a.to_string())
            .as_deref(),
        Some("127.0.0.1:7000")
    );
    let other = load_ok(&f, &[("metricsProvider.className", "com.example.Other")]);
    assert_eq!(other.config.prometheus, None);
    assert!(
        other
            .warnings
            .iter()
            .any(|w| w.contains("com.example.Other"))
    );
}

#[test]
fn the_initial_configuration_is_the_file_then_the_overrides() {
    let f = Fixture::new("clientPort=40123");
    let c = load_ok(&f, &[("tickTime", "500")]).config;
    let text = std::fs::read_to_string(&f.cfg).expect("cfg");
    assert_eq!(c.initial_configuration.0, format!("{text}\ntickTime=500\n"));
}
