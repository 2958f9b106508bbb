//! `4lw.commands.whitelist`: which four-letter words the client port answers.
//!
//! Semantics of ZooKeeper's `FourLetterCommands.isEnabled`: unset means only
//! `srvr`; a comma list enables the words named (blanks around each are
//! ignored); `*` anywhere enables every known word; `srvr` is always enabled
//! because `zkServer.sh status` depends on it.

use std::collections::BTreeSet;

/// The four-letter words ZooKeeper knows (what `*` enables).
pub const KNOWN_FOUR_LETTER_WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "icfg", "sysp", "hash",
];

/// The parsed whitelist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterWhitelist {
    /// `*`: every known word.
    All,
    /// The words listed (possibly none: the default, `srvr` only).
    Only(BTreeSet<String>),
}

impl Default for FourLetterWhitelist {
    fn default() -> Self {
        FourLetterWhitelist::Only(BTreeSet::new())
    }
}

impl FourLetterWhitelist {
    /// Parses the property value. Never fails: unknown words are kept (they
    /// simply never match a command the server implements).
    pub fn parse(value: &str) -> Self {
        let mut words = BTreeSet::new();
        for word in value.split(',').map(str::trim) {
            if word == "*" {
                return FourLetterWhitelist::All;
            }
            if !word.is_empty() {
                words.insert(word.to_string());
            }
        }
        FourLetterWhitelist::Only(words)
    }

    /// Whether `word` may be answered. `srvr` always may.
    pub fn allows(&self, word: &str) -> bool {
        if word == "srvr" {
            return true;
        }
        match self {
            FourLetterWhitelist::All => KNOWN_FOUR_LETTER_WORDS.contains(&word),
            FourLetterWhitelist::Only(words) => words.contains(word),
        }
    }
}
