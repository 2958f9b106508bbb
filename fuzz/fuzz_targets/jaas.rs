//! A JAAS login configuration file (`config::jaas::parse`), read as the
//! config loader reads the one `java.security.auth.login.config` names
//! (UTF-8), then its `Server` section's `user_<name>` options taken as the
//! loader takes them.
#![no_main]

use corral::config::jaas;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sections) = jaas::parse(text) else {
        return;
    };
    for (i, s) in sections.iter().enumerate() {
        // "Section names must be unique."
        assert!(
            sections[..i].iter().all(|t| t.name != s.name),
            "{} twice",
            s.name
        );
    }
    let users: Vec<(&str, &str)> = sections
        .iter()
        .filter(|s| s.name == "Server")
        .flat_map(|s| &s.modules)
        .flat_map(|m| &m.options)
        .filter_map(|(k, v)| Some((k.strip_prefix("user_")?, v.as_str())))
        .collect();
    let _ = users;
});
