//! zkCli's command table: each command's name, its usage line (zkCli prints
//! the usage line when the arguments do not fit) and its options, and the
//! parse of a command's words into a [`Cmd`], with the messages zkCli prints
//! on the way (the `'get path [watch]' has been deprecated` notices).
//!
//! Pure: words in, [`Cmd`] or [`CliError`] out. `exec` runs a [`Cmd`];
//! the shell's own commands (`connect`, `history`, `redo`, `printwatches`,
//! `quit`) are the shell's (`mod.rs`).

use super::getopt::{self, Opt, Parsed, flag, valued};

/// An error as zkCli reports it: the message on stderr and the exit code
/// (`CliException`: 1; `CommandNotFoundException`: 127).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: 1,
        }
    }
}

/// What ends zkCli at once: an exception no command catches (a number that does not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal(pub String);

#[derive(Debug)]
pub enum Failure {
    Cli(CliError),
    Fatal(Fatal),
}

impl From<CliError> for Failure {
    fn from(e: CliError) -> Failure {
        Failure::Cli(e)
    }
}

/// Every command zkCli 3.8 knows, with its usage options, in `usage()`'s sorted order.
pub const USAGE: &[(&str, &str)] = &[
    (
        "addWatch",
        "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    ),
    ("addauth", "scheme auth"),
    ("close", ""),
    ("config", "[-c] [-w] [-s]"),
    ("connect", "host:port"),
    ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "[-v version] path"),
    ("deleteall", "path [-b batch size]"),
    ("delquota", "[-n|-b|-N|-B] path"),
    ("get", "[-s] [-w] path"),
    ("getAcl", "[-s] path"),
    ("getAllChildrenNumber", "path"),
    ("getEphemerals", "path"),
    ("history", ""),
    ("listquota", "path"),
    ("ls", "[-s] [-w] [-R] path"),
    ("printwatches", "on|off"),
    ("quit", ""),
    (
        "reconfig",
        "[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]",
    ),
    ("redo", "cmdno"),
    ("removewatches", "path [-c|-d|-a] [-l]"),
    ("set", "[-s] [-v version] path data"),
    ("setAcl", "[-s] [-v version] [-R] path acl"),
    ("setquota", "-n|-b|-N|-B val path"),
    ("stat", "[-w] path"),
    ("sync", "path"),
    ("version", ""),
    ("whoami", ""),
];

pub fn is_known(cmd: &str) -> bool {
    USAGE.iter().any(|(c, _)| *c == cmd)
}

/// `ZooKeeperMain.usage()`.
pub fn usage_text() -> String {
    let mut s = String::from(
        "ZooKeeper -server host:port -client-configuration properties-file cmd args\n",
    );
    for (cmd, opts) in USAGE {
        s.push_str(&format!("\t{cmd} {opts}\n"));
    }
    s
}

/// `CliCommand.getUsageStr()`.
pub fn usage_line(cmd: &str) -> String {
    let opts = USAGE
        .iter()
        .find(|(c, _)| *c == cmd)
        .map_or("", |(_, o)| *o);
    format!("{cmd} {opts}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Create {
        ephemeral: bool,
        sequential: bool,
        container: bool,
        ttl: Option<String>,
        path: String,
        data: Option<String>,
        acl: Option<String>,
    },
    Get {
        stat: bool,
        watch: bool,
        path: String,
    },
    Set {
        stat: bool,
        version: Option<String>,
        path: String,
        data: String,
    },
    Stat {
        watch: bool,
        path: String,
    },
    Ls {
        stat: bool,
        watch: bool,
        recursive: bool,
        help: bool,
        path: Option<String>,
    },
    Delete {
        version: Option<String>,
        path: String,
    },
    DeleteAll {
        batch: Option<String>,
        path: String,
    },
    GetAcl {
        stat: bool,
        path: String,
    },
    SetAcl {
        stat: bool,
        version: Option<String>,
        recursive: bool,
        path: String,
        acl: String,
    },
    AddAuth {
        scheme: String,
        auth: Option<String>,
    },
    Sync {
        path: String,
    },
    AddWatch {
        recursive: bool,
        path: String,
    },
    RemoveWatches {
        path: String,
        kind: super::watches::Kind,
        local: bool,
    },
    GetEphemerals {
        path: Option<String>,
    },
    GetAllChildrenNumber {
        path: Option<String>,
    },
    WhoAmI,
    Config {
        client: bool,
        watch: bool,
        stat: bool,
    },
    Close,
    Version,
    /// Known to zkCli, not offered by corral's cli (quotas, reconfig).
    Unsupported(String),
}

fn opts(table: &[Opt], words: &[String]) -> Result<Parsed, CliError> {
    getopt::parse(table, words).map_err(CliError::new)
}

fn need(p: &Parsed, n: usize, cmd: &str) -> Result<(), CliError> {
    if p.args.len() < n {
        return Err(CliError::new(usage_line(cmd)));
    }
    Ok(())
}

/// The `retainCompatibility` of get, stat and ls: a third word means "watch". As zkCli does,
/// the third *word* of the line becomes `-w`, whatever it was, and the line is parsed again.
fn old_watch_form(
    table: &[Opt],
    words: &[String],
    p: Parsed,
    notice: &str,
) -> Result<Parsed, CliError> {
    if p.args.len() <= 2 {
        return Ok(p);
    }
    let mut words = words.to_vec();
    words[2] = "-w".to_string();
    eprintln!("{notice}");
    opts(table, &words)
}

fn arg(p: &Parsed, i: usize) -> String {
    p.args[i].clone()
}

/// Parses the words of a command zkCli's `CommandFactory` knows (its name first).
pub fn parse(words: &[String]) -> Result<Cmd, CliError> {
    let cmd = words[0].as_str();
    Ok(match cmd {
        "create" => {
            let p = opts(&[flag('e'), flag('s'), flag('c'), valued('t')], words)?;
            need(&p, 2, cmd)?;
            Cmd::Create {
                ephemeral: p.has('e'),
                sequential: p.has('s'),
                container: p.has('c'),
                ttl: p.has('t').then(|| p.value('t').unwrap_or("").to_string()),
                path: arg(&p, 1),
                data: p.args.get(2).cloned(),
                acl: p.args.get(3).cloned(),
            }
        }
        "get" => {
            let table = [flag('s'), flag('w')];
            let p = opts(&table, words)?;
            need(&p, 2, cmd)?;
            let notice =
                "'get path [watch]' has been deprecated. Please use 'get [-s] [-w] path' instead.";
            let p = old_watch_form(&table, words, p, notice)?;
            Cmd::Get {
                stat: p.has('s'),
                watch: p.has('w'),
                path: arg(&p, 1),
            }
        }
        "set" => {
            let p = opts(&[flag('s'), valued('v')], words)?;
            need(&p, 3, cmd)?;
            Cmd::Set {
                stat: p.has('s'),
                version: p.value('v').map(String::from),
                path: arg(&p, 1),
                data: arg(&p, 2),
            }
        }
        "stat" => {
            let table = [flag('w')];
            let p = opts(&table, words)?;
            need(&p, 2, cmd)?;
            let notice =
                "'stat path [watch]' has been deprecated. Please use 'stat [-w] path' instead.";
            let p = old_watch_form(&table, words, p, notice)?;
            Cmd::Stat {
                watch: p.has('w'),
                path: arg(&p, 1),
            }
        }
        "ls" => {
            let table = [flag('?'), flag('s'), flag('w'), flag('R')];
            let p = opts(&table, words)?;
            let notice =
                "'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead.";
            let p = old_watch_form(&table, words, p, notice)?;
            Cmd::Ls {
                stat: p.has('s'),
                watch: p.has('w'),
                recursive: p.has('R'),
                help: p.has('?'),
                path: p.args.get(1).cloned(),
            }
        }
        _ => parse_more(words)?,
    })
}

fn parse_more(words: &[String]) -> Result<Cmd, CliError> {
    let cmd = words[0].as_str();
    Ok(match cmd {
        "delete" => parse_delete(words)?,
        "deleteall" => {
            let p = opts(&[valued('b')], words)?;
            need(&p, 2, "deleteall")?;
            Cmd::DeleteAll {
                batch: p.value('b').map(String::from),
                path: arg(&p, 1),
            }
        }
        "getAcl" => {
            let p = opts(&[flag('s')], words)?;
            need(&p, 2, cmd)?;
            Cmd::GetAcl {
                stat: p.has('s'),
                path: arg(&p, 1),
            }
        }
        "setAcl" => {
            let p = opts(&[flag('s'), valued('v'), flag('R')], words)?;
            need(&p, 3, cmd)?;
            Cmd::SetAcl {
                stat: p.has('s'),
                version: p.value('v').map(String::from),
                recursive: p.has('R'),
                path: arg(&p, 1),
                acl: arg(&p, 2),
            }
        }
        _ => parse_rest(words)?,
    })
}

fn parse_delete(words: &[String]) -> Result<Cmd, CliError> {
    let p = opts(&[valued('v')], words)?;
    need(&p, 2, "delete")?;
    if p.args.len() > 2 {
        eprintln!(
            "'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead."
        );
    }
    Ok(Cmd::Delete {
        version: p.value('v').map(String::from),
        path: arg(&p, 1),
    })
}

fn parse_rest(words: &[String]) -> Result<Cmd, CliError> {
    use super::watches::Kind;
    let cmd = words[0].as_str();
    Ok(match cmd {
        "addauth" => {
            let p = opts(&[], words)?;
            need(&p, 2, cmd)?;
            Cmd::AddAuth {
                scheme: arg(&p, 1),
                auth: p.args.get(2).cloned(),
            }
        }
        "sync" => {
            let p = opts(&[], words)?;
            need(&p, 2, cmd)?;
            Cmd::Sync { path: arg(&p, 1) }
        }
        "addWatch" => {
            let p = opts(&[valued('m')], words)?;
            if p.args.len() != 2 {
                return Err(CliError::new(usage_line(cmd)));
            }
            let recursive = match p.value('m').map(str::to_uppercase).as_deref() {
                None | Some("PERSISTENT_RECURSIVE") => true,
                Some("PERSISTENT") => false,
                Some(_) => return Err(CliError::new(usage_line(cmd))),
            };
            Cmd::AddWatch {
                recursive,
                path: arg(&p, 1),
            }
        }
        "removewatches" => {
            let p = opts(&[flag('c'), flag('d'), flag('a'), flag('l')], words)?;
            need(&p, 2, cmd)?;
            let kind = if p.has('c') {
                Kind::Children
            } else if p.has('d') {
                Kind::Data
            } else {
                Kind::Any
            };
            Cmd::RemoveWatches {
                path: arg(&p, 1),
                kind,
                local: p.has('l'),
            }
        }
        "getEphemerals" => Cmd::GetEphemerals {
            path: opts(&[], words)?.args.get(1).cloned(),
        },
        "getAllChildrenNumber" => Cmd::GetAllChildrenNumber {
            path: opts(&[], words)?.args.get(1).cloned(),
        },
        "whoami" => Cmd::WhoAmI,
        "config" => {
            let p = opts(&[flag('s'), flag('w'), flag('c')], words)?;
            Cmd::Config {
                client: p.has('c'),
                watch: p.has('w'),
                stat: p.has('s'),
            }
        }
        "close" => Cmd::Close,
        "version" => {
            let p = opts(&[], words)?;
            if p.args.len() > 1 {
                return Err(CliError::new(usage_line(cmd)));
            }
            Cmd::Version
        }
        other => Cmd::Unsupported(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn too_few_arguments_give_the_usage_line() {
        assert_eq!(
            parse(&words("set /a")).unwrap_err().message,
            "set [-s] [-v version] path data"
        );
        assert_eq!(
            parse(&words("get")).unwrap_err().message,
            "get [-s] [-w] path"
        );
        assert!(
            parse(&words("addWatch -m bogus /a"))
                .unwrap_err()
                .message
                .starts_with("addWatch [-m mode] path")
        );
    }

    #[test]
    fn the_old_watch_form_rewrites_the_third_word() {
        assert_eq!(
            parse(&words("get /a 1")).unwrap(),
            Cmd::Get {
                stat: false,
                watch: true,
                path: "/a".into()
            }
        );
        // zkCli rewrites the third word, even when it was the path.
        assert_eq!(
            parse(&words("get -s /a x")).unwrap(),
            Cmd::Get {
                stat: true,
                watch: true,
                path: "x".into()
            }
        );
    }

    #[test]
    fn create_reads_flags_path_data_and_acl() {
        assert_eq!(
            parse(&words("create -e -s /a d world:anyone:r")).unwrap(),
            Cmd::Create {
                ephemeral: true,
                sequential: true,
                container: false,
                ttl: None,
                path: "/a".into(),
                data: Some("d".into()),
                acl: Some("world:anyone:r".into())
            }
        );
    }
}
