//! A `zoo.cfg` as `corral serve --config` reads it (`Config::load`): the
//! properties syntax (UTF-8 or Latin-1), every key's value, the settling of
//! keys that depend on each other (session timeouts, the ensemble, `myid`,
//! enforced auth, the secure port); then what corral derives from a loaded
//! config: the `conf` four-letter word's text and the quorum configuration it
//! sends its peers, which must parse as peers parse it (when its hosts are
//! host names or IP literals).
//!
//! The keys that make the loader read another file (the JAAS file, key and
//! trust stores, password files) are skipped: a mutated path could name a
//! device that never ends. JAAS files have their own target (`jaas`).
#![no_main]

use corral::config::Config;
use corral::proto::quorum::parse_config;
use corral_fuzz::{config_text, scratch_dir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if names_another_file(&config_text(data)) {
        return;
    }
    let path = scratch_dir().join("zoo.cfg");
    std::fs::write(&path, data).expect("writing the scratch zoo.cfg");
    let Ok(loaded) = Config::load(Some(&path), &[]) else {
        return;
    };
    let config = loaded.config;
    let _ = config.render_conf(0, 0);
    let text = config.quorum_config_text();
    // Only hosts that are host names or IP literals: zoo.cfg keeps any other
    // text as a host (a backslash, a control character), which no peer's
    // parser reads back as the same host.
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-:%=;[]\n".contains(&b));
    if config.is_distributed() && plain {
        let parsed = parse_config(&text);
        let Ok((members, _)) = parsed else {
            panic!("the quorum config corral sends does not parse: {parsed:?}\n{text}");
        };
        assert_eq!(members.len(), config.quorum_members().len());
    }
});

/// Whether any key that names a file to read may be set, however the
/// properties syntax spells it (escapes, continued lines, any case).
fn names_another_file(text: &str) -> bool {
    let flat: String = unescape_unicode(text)
        .chars()
        .filter(|c| *c != '\\' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    ["login.config", "store.location", "passwordpath"]
        .iter()
        .any(|key| flat.contains(key))
}

/// `\uXXXX` escapes replaced by their characters (the rest left as is).
fn unescape_unicode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\u") {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 2..at + 6);
        match hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 6..];
            }
            None => {
                out.push_str("\\u");
                rest = &rest[at + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}
