//! What `corral cli` reads before it talks to a server, as Apache's
//! `ZooKeeperMain` reads it: the command-line words (`-server`, `-timeout`,
//! `-r`, `-waitforconnection`, then an optional one-shot command), a typed
//! line cut into words (quotes as zkCli takes them), and a connection string
//! (`host:port,host:port/chroot`).
//!
//! Pure parsing; nothing here connects or prints.

use regex::Regex;
use std::sync::OnceLock;

/// The port a host without one gets, as in ZooKeeper's `ConnectStringParser`.
const PORT_DEFAULT: u16 = 2181;

/// The command line of `corral cli`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The connection string as given (zkCli prints it in `Connecting to` and the prompt).
    pub server: String,
    pub timeout_ms: String,
    pub read_only: bool,
    pub wait_for_connection: bool,
    /// The words of a one-shot command, its name first.
    pub command: Option<Vec<String>>,
}

/// `ZooKeeperMain.MyCommandOptions.parseOptions`: options in any order until the first word
/// that does not start with `-`, which starts the command. Unknown `-words` are skipped, as
/// zkCli skips them. An option missing its value ends the parse with the message zkCli prints
/// for it; what was read so far stands, as in zkCli.
pub fn parse_options(words: &[String]) -> (Options, Option<String>) {
    let mut o = Options {
        server: "localhost:2181".to_string(),
        timeout_ms: "30000".to_string(),
        read_only: false,
        wait_for_connection: false,
        command: None,
    };
    let mut it = words.iter();
    while let Some(word) = it.next() {
        if matches!(
            word.as_str(),
            "-server" | "-timeout" | "-client-configuration"
        ) {
            let Some(value) = it.next().cloned() else {
                return (
                    o,
                    Some(format!("Error: no argument found for option {word}")),
                );
            };
            match word.as_str() {
                "-server" => o.server = value,
                "-timeout" => o.timeout_ms = value,
                // Read and ignored: no client properties file (docs/cli.md).
                _ => {}
            }
            continue;
        }
        match word.as_str() {
            "-r" => o.read_only = true,
            "-waitforconnection" => o.wait_for_connection = true,
            _ => {}
        }
        if !word.starts_with('-') {
            let mut command = vec![word.clone()];
            command.extend(it.cloned());
            o.command = Some(command);
            break;
        }
    }
    (o, None)
}

/// `MyCommandOptions.parseCommand`: the words of a typed line. A word is a run of
/// non-blanks, or text between matching quotes (the quotes dropped).
pub fn split_line(line: &str) -> Vec<String> {
    static WORD: OnceLock<Regex> = OnceLock::new();
    static QUOTED: OnceLock<Regex> = OnceLock::new();
    // Java's \s is ASCII whitespace only; the regex crate's is Unicode.
    let word = WORD.get_or_init(|| {
        Regex::new(r#"[ \t\n\x0B\f\r]*([^"'][^ \t\n\x0B\f\r]*|"[^"]*"|'[^']*')[ \t\n\x0B\f\r]*"#)
            .expect("static regex")
    });
    let quoted =
        QUOTED.get_or_init(|| Regex::new(r#"^(?s)(?:"(.*)"|'(.*)')$"#).expect("static regex"));
    word.captures_iter(line)
        .filter_map(|c| c.get(1))
        .map(|m| {
            let w = m.as_str();
            match quoted.captures(w) {
                Some(q) => q
                    .get(1)
                    .or_else(|| q.get(2))
                    .map_or(String::new(), |m| m.as_str().to_string()),
                None => w.to_string(),
            }
        })
        .collect()
}

/// A parsed connection string: where to connect, in order, and the chroot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectString {
    pub hosts: Vec<(String, u16)>,
    /// `None` for no chroot (or `/`).
    pub chroot: Option<String>,
}

/// `ConnectStringParser`: `host[:port][,host[:port]...][/chroot]`; `[v6addr]:port` too.
pub fn parse_connect_string(s: &str) -> Result<ConnectString, String> {
    let (hosts_part, chroot) = match s.find('/') {
        Some(at) => {
            let c = &s[at..];
            if c.len() == 1 {
                (&s[..at], None)
            } else {
                super::format::validate_path(c)?;
                (&s[..at], Some(c.to_string()))
            }
        }
        None => (s, None),
    };
    let mut hosts = Vec::new();
    for h in hosts_part
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        let (host, port) = if let Some(rest) = h.strip_prefix('[') {
            let (addr, tail) = rest
                .split_once(']')
                .ok_or_else(|| format!("invalid IPv6 address: {h}"))?;
            (addr.to_string(), tail.strip_prefix(':').unwrap_or(""))
        } else {
            match h.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), port),
                None => (h.to_string(), ""),
            }
        };
        let port = if port.is_empty() {
            PORT_DEFAULT
        } else {
            port.parse()
                .map_err(|_| format!("For input string: \"{port}\""))?
        };
        hosts.push((host, port));
    }
    if hosts.is_empty() {
        return Err("A HostProvider may not be empty!".to_string());
    }
    Ok(ConnectString { hosts, chroot })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_come_before_the_one_shot_command() {
        let (o, _) = parse_options(&strings(&["-server", "h:1", "-r", "get", "-s", "/a"]));
        assert_eq!(o.server, "h:1");
        assert!(o.read_only);
        assert_eq!(o.command, Some(strings(&["get", "-s", "/a"])));
        assert_eq!(
            parse_options(&strings(&["-timeout"])).1.as_deref(),
            Some("Error: no argument found for option -timeout")
        );
    }

    #[test]
    fn lines_split_into_words_with_quotes_dropped() {
        assert_eq!(
            split_line(r#"create /a "two words" 'x y' z"#),
            strings(&["create", "/a", "two words", "x y", "z"])
        );
        assert_eq!(split_line(r#"set /a """#), strings(&["set", "/a", ""]));
        // An unmatched quote is skipped over, as Java's Matcher.find() does.
        assert_eq!(split_line(r#"set /a "b"#), strings(&["set", "/a", "b"]));
        // As Java's regex does: blanks only are one word of one blank; a lone quote is none.
        assert_eq!(split_line("   "), strings(&[" "]));
        assert_eq!(split_line("\""), Vec::<String>::new());
    }

    #[test]
    fn connect_strings_give_hosts_in_order_and_the_chroot() {
        let c = parse_connect_string("a:1,b,[::1]:3/app/x").unwrap();
        assert_eq!(
            c.hosts,
            vec![
                ("a".to_string(), 1),
                ("b".to_string(), 2181),
                ("::1".to_string(), 3)
            ]
        );
        assert_eq!(c.chroot.as_deref(), Some("/app/x"));
        assert_eq!(parse_connect_string("a:1/").unwrap().chroot, None);
        assert!(parse_connect_string("a:1/bad/").is_err());
    }
}
