//! Errors of configuration loading, and where a setting came from.
//!
//! Every error that concerns one setting names it the way an operator finds it
//! again: `conf/zoo.cfg:12: tickTime` for a file line, `--override tickTime` for
//! a command-line override.

use std::fmt;
use std::path::PathBuf;

/// Where a key/value pair was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of a config file (1-based; the first line of a continued line).
    File { path: PathBuf, line: usize },
    /// A `--override key=value` argument.
    Override,
}

/// One setting at one origin: what an error or warning points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub origin: Origin,
    /// The key as written (with a `zookeeper.` prefix if it had one).
    pub key: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File { path, line } => write!(f, "{}:{}: {}", path.display(), line, self.key),
            Origin::Override => write!(f, "--override {}", self.key),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file (or a `myid` file) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the file is not a well-formed properties line.
    #[error("{}:{line}: {reason}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// One value does not parse or is out of range.
    #[error("{at}: invalid value {value:?}: {reason}")]
    InvalidValue {
        at: Location,
        value: String,
        reason: String,
    },
    /// A key that corral refuses rather than silently ignoring.
    #[error("{at}: {reason}")]
    Unsupported { at: Location, reason: String },
    /// Values that are fine alone but contradict each other; `at` is the
    /// setting to change.
    #[error("{at}: {reason}")]
    Conflict { at: Location, reason: String },
    /// A setting names something that cannot be used (a key store that
    /// does not open with its password, a file that is not a store).
    #[error("{at}: {reason}")]
    Unusable { at: Location, reason: String },
    /// Something required is missing, or the settings as a whole are invalid
    /// without one line to blame (e.g. an ensemble without `myid`).
    #[error("{reason}")]
    Invalid { reason: String },
    /// The `myid` file exists but does not hold a server id.
    #[error("{}: {reason}", path.display())]
    MyId { path: PathBuf, reason: String },
    /// The JAAS login configuration file does not parse.
    #[error("JAAS login configuration {}: {reason}", path.display())]
    Jaas { path: PathBuf, reason: String },
    /// A `--override` argument is not of the form `key=value`.
    #[error("--override {arg:?}: {reason}")]
    BadOverride { arg: String, reason: String },
}
