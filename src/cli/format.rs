//! The text zkCli prints, character for character: `StatPrinter`'s stat
//! layout with Java's `Date.toString()` times, ACLs as jute's `Id.toString()`
//! renders them (`'world,'anyone` then a newline), permission strings,
//! `WatchedEvent` lines and the messages of `CliWrapperException` and
//! `KeeperException`. Also `PathUtils.validatePath`, whose messages zkCli
//! prints for a bad path.
//!
//! Pure: values in, strings out. Who prints them and where is `exec`'s and
//! `session`'s business.

use crate::proto::{Acl, ErrorCode, Stat};
use std::fmt::Write as _;

/// `StatPrinter.print`.
pub fn stat(s: &Stat) -> String {
    let mut o = String::with_capacity(320);
    let _ = writeln!(o, "cZxid = 0x{:x}", s.czxid);
    let _ = writeln!(o, "ctime = {}", java_date(s.ctime));
    let _ = writeln!(o, "mZxid = 0x{:x}", s.mzxid);
    let _ = writeln!(o, "mtime = {}", java_date(s.mtime));
    let _ = writeln!(o, "pZxid = 0x{:x}", s.pzxid);
    let _ = writeln!(o, "cversion = {}", s.cversion);
    let _ = writeln!(o, "dataVersion = {}", s.version);
    let _ = writeln!(o, "aclVersion = {}", s.aversion);
    let _ = writeln!(o, "ephemeralOwner = 0x{:x}", s.ephemeral_owner);
    let _ = writeln!(o, "dataLength = {}", s.data_length);
    let _ = writeln!(o, "numChildren = {}", s.num_children);
    o
}

/// `new Date(ms).toString()`: `Mon Dec 07 22:40:43 UTC 2026` in the local time zone.
pub fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r and strftime write only into the buffers given here.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return ms.to_string();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a %b %d %H:%M:%S %Z %Y".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// `ZKUtil.getPermString`: `cdrwa` order.
pub fn perms(p: i32) -> String {
    const LETTERS: [(i32, char); 5] = [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')];
    LETTERS
        .iter()
        .filter(|(bit, _)| p & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// One `getAcl` entry: jute's CSV `Id.toString()` (`'scheme,'id` and a newline), `: `, perms.
pub fn acl_line(a: &Acl) -> String {
    format!("'{},'{}\n: {}", a.id.scheme, a.id.id, perms(a.perms))
}

/// `Watcher.Event.KeeperState` names.
pub fn keeper_state(state: i32) -> &'static str {
    match state {
        0 => "Disconnected",
        1 => "NoSyncConnected",
        3 => "SyncConnected",
        4 => "AuthFailed",
        5 => "ConnectedReadOnly",
        6 => "SaslAuthenticated",
        -112 => "Expired",
        7 => "Closed",
        _ => "Unknown",
    }
}

/// `Watcher.Event.EventType` names.
pub fn event_type(t: i32) -> &'static str {
    match t {
        1 => "NodeCreated",
        2 => "NodeDeleted",
        3 => "NodeDataChanged",
        4 => "NodeChildrenChanged",
        5 => "DataWatchRemoved",
        6 => "ChildWatchRemoved",
        7 => "PersistentWatchRemoved",
        _ => "None",
    }
}

/// What zkCli's watcher prints for an event (3.8's `WatchedEvent.toString()`), with the
/// blank lines `ZooKeeperMain.printMessage` puts before each of its two lines.
pub fn watcher_block(state: i32, event: i32, path: Option<&str>) -> String {
    format!(
        "\nWATCHER::\n\nWatchedEvent state:{} type:{} path:{}\n",
        keeper_state(state),
        event_type(event),
        path.unwrap_or("null")
    )
}

/// `KeeperException.getCodeMessage`.
pub fn code_message(code: Result<ErrorCode, i32>) -> String {
    use ErrorCode as E;
    let Ok(code) = code else {
        return format!("Unknown error {}", code.unwrap_err());
    };
    match code {
        E::Ok => "ok",
        E::SystemError => "SystemError",
        E::RuntimeInconsistency => "RuntimeInconsistency",
        E::DataInconsistency => "DataInconsistency",
        E::ConnectionLoss => "ConnectionLoss",
        E::MarshallingError => "MarshallingError",
        E::NewConfigNoQuorum => "NewConfigNoQuorum",
        E::ReconfigInProgress => "ReconfigInProgress",
        E::Unimplemented => "Unimplemented",
        E::OperationTimeout => "OperationTimeout",
        E::BadArguments => "BadArguments",
        E::ApiError => "APIError",
        E::NoNode => "NoNode",
        E::NoAuth => "NoAuth",
        E::BadVersion => "BadVersion",
        E::NoChildrenForEphemerals => "NoChildrenForEphemerals",
        E::NodeExists => "NodeExists",
        E::InvalidAcl => "InvalidACL",
        E::AuthFailed => "AuthFailed",
        E::NotEmpty => "Directory not empty",
        E::SessionExpired => "Session expired",
        E::InvalidCallback => "Invalid callback",
        E::SessionMoved => "Session moved",
        E::NotReadOnly => "Not a read-only call",
        E::EphemeralOnLocalSession => "Ephemeral node on local session",
        E::NoWatcher => "No such watcher",
        E::ReconfigDisabled => "Reconfig is disabled",
        E::SessionClosedRequireSaslAuth => "Session closed because client failed to authenticate",
        E::QuotaExceeded => "Quota has exceeded",
        E::ThrottledOp => "Op throttled due to high load",
        E::UnknownSession | E::RequestTimeout => return format!("Unknown error {code:?}"),
    }
    .to_string()
}

/// `KeeperException.getMessage()`: `KeeperErrorCode = NoNode for /x`.
pub fn keeper_message(code: Result<ErrorCode, i32>, path: Option<&str>) -> String {
    match path {
        Some(p) if !p.is_empty() => format!("KeeperErrorCode = {} for {p}", code_message(code)),
        _ => format!("KeeperErrorCode = {}", code_message(code)),
    }
}

/// `CliWrapperException`'s message for a server error on `path`.
pub fn cli_error(code: Result<ErrorCode, i32>, path: Option<&str>) -> String {
    use ErrorCode as E;
    let p = path.unwrap_or("null");
    match code {
        Ok(E::NoNode) => format!("Node does not exist: {p}"),
        Ok(E::NoChildrenForEphemerals) => format!("Ephemerals cannot have children: {p}"),
        Ok(E::NodeExists) => format!("Node already exists: {p}"),
        Ok(E::NotEmpty) => format!("Node not empty: {p}"),
        Ok(E::NotReadOnly) => format!("Not a read-only call: {p}"),
        Ok(E::InvalidAcl) => format!("Acl is not valid : {p}"),
        Ok(E::NoAuth) => format!("Insufficient permission : {p}"),
        Ok(E::BadArguments) => format!("Arguments are not valid : {p}"),
        Ok(E::BadVersion) => format!("version No is not valid : {p}"),
        Ok(E::QuotaExceeded) => format!("Quota has exceeded : {p}"),
        Ok(E::ReconfigInProgress) => {
            "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)"
                .to_string()
        }
        _ => keeper_message(code, path),
    }
}

/// `PathUtils.validatePath`, with its messages.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("Path length must be > 0".to_string());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".to_string());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".to_string());
    }
    // Java indexes UTF-16 units; paths outside the BMP are rare enough to index by char.
    let chars: Vec<char> = path.chars().collect();
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        let next_ends = i + 1 == chars.len() || chars[i + 1] == '/';
        let reason = if c == '\0' {
            Some(format!("null character not allowed @{i}"))
        } else if c == '/' && last == '/' {
            Some(format!("empty node name specified @{i}"))
        } else if c == '.'
            && next_ends
            && ((last == '.' && chars[i - 2] == '/') || (last != '.' && chars[i - 1] == '/'))
        {
            Some(format!("relative paths not allowed @{i}"))
        } else if ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
        {
            Some(format!("invalid character @{i}"))
        } else {
            None
        };
        if let Some(r) = reason {
            return Err(format!("Invalid path string \"{path}\" caused by {r}"));
        }
        last = c;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lays_out_as_stat_printer() {
        let s = Stat {
            czxid: 0x1a,
            ephemeral_owner: 0x100_0000_0000_0001,
            data_length: 5,
            ..Stat::default()
        };
        let text = stat(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[0], "cZxid = 0x1a");
        assert_eq!(lines[8], "ephemeralOwner = 0x100000000000001");
        assert_eq!(lines[9], "dataLength = 5");
    }

    #[test]
    fn acls_and_perms_print_as_zkcli() {
        let a = Acl::new(31, "world", "anyone");
        assert_eq!(acl_line(&a), "'world,'anyone\n: cdrwa");
        assert_eq!(perms(1 | 16), "ra");
    }

    #[test]
    fn errors_read_as_cli_wrapper_exception() {
        assert_eq!(
            cli_error(Ok(ErrorCode::NoNode), Some("/x")),
            "Node does not exist: /x"
        );
        assert_eq!(
            cli_error(Ok(ErrorCode::NoWatcher), Some("/x")),
            "KeeperErrorCode = No such watcher for /x"
        );
        assert_eq!(
            cli_error(Ok(ErrorCode::InvalidAcl), None),
            "Acl is not valid : null"
        );
    }

    #[test]
    fn paths_are_checked_as_path_utils_does() {
        assert!(validate_path("/a/b").is_ok());
        assert_eq!(
            validate_path("a").unwrap_err(),
            "Path must start with / character"
        );
        assert_eq!(
            validate_path("/a/").unwrap_err(),
            "Path must not end with / character"
        );
        assert_eq!(
            validate_path("/a//b").unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
        assert_eq!(
            validate_path("/a/./b").unwrap_err(),
            "Invalid path string \"/a/./b\" caused by relative paths not allowed @3"
        );
    }
}
