//! `corral cli`: a native zkCli. It takes Apache ZooKeeper's `ZooKeeperMain`
//! arguments (`-server host:port[,host:port...][/chroot]`, `-timeout`, `-r`,
//! `-waitforconnection`, then an optional one-shot command), knows zkCli 3.8's
//! commands and prints what zkCli prints, so scripts written against zkCli's
//! output keep working. Interactive on a terminal (line editing, history,
//! the `[zk: host:port(CONNECTED) N] ` prompt); plain lines, no prompt, when
//! stdin is a pipe, as Debian's zkCli (no JLine) reads them.
//!
//! This file is the shell: the read loop, the shell's own commands
//! (`connect`, `history`, `redo`, `printwatches`, `quit`) and exit codes as
//! `ZooKeeperMain.processCmd` sets them. `args` reads words, `commands` the
//! command table, `exec` runs commands, `format` is zkCli's text, `session`
//! the connection. `tests/cli.rs` and `tests/interop/cli_diff.sh` check it
//! against a real server and against Apache's zkCli.

mod args;
mod commands;
mod exec;
mod format;
mod getopt;
mod session;
mod watches;

use commands::{CliError, Failure};
use session::{Printer, Session};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What ends the shell early: an exit code to leave with.
struct Exit(i32);

struct Shell {
    session: Session,
    printer: Arc<Printer>,
    /// The connection string as typed (the prompt shows it).
    host: String,
    timeout_ms: i32,
    read_only: bool,
    history: HashMap<u64, String>,
    command_count: u64,
    exit_code: i32,
    /// The last line's words: zkCli runs them again for a line of blanks.
    last_words: Vec<String>,
}

/// Runs `corral cli` with its arguments (after `cli`); returns the process exit code.
pub fn run(words: &[String]) -> i32 {
    let (opts, complaint) = args::parse_options(words);
    if let Some(c) = complaint {
        eprintln!("{c}");
    }
    println!("Connecting to {}", opts.server);
    let Ok(timeout_ms) = opts.timeout_ms.parse::<i32>() else {
        eprintln!(
            "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"{}\"",
            opts.timeout_ms
        );
        return 1;
    };
    let printer = Arc::new(Printer {
        print_watches: true.into(),
    });
    let session = match open(&opts.server, timeout_ms, opts.read_only, &printer) {
        Ok(s) => s,
        Err(m) => {
            eprintln!("Exception in thread \"main\" java.lang.IllegalArgumentException: {m}");
            return 1;
        }
    };
    let mut shell = Shell {
        session,
        printer,
        host: opts.server.clone(),
        timeout_ms,
        read_only: opts.read_only,
        history: HashMap::new(),
        command_count: 0,
        exit_code: 0,
        last_words: Vec::new(),
    };
    if opts.wait_for_connection
        && !shell
            .session
            .wait_connected(Duration::from_millis(timeout_ms.max(0) as u64))
    {
        shell.session.close();
        eprintln!(
            "Exception in thread \"main\" java.io.IOException: org.apache.zookeeper.KeeperException$ConnectionLossException: KeeperErrorCode = ConnectionLoss"
        );
        return 1;
    }
    let ended = match opts.command {
        Some(words) => shell.process(&words),
        None => {
            println!("Welcome to ZooKeeper!");
            if std::io::stdin().is_terminal() {
                shell.interactive()
            } else {
                shell.piped()
            }
        }
    };
    let _ = std::io::stdout().flush();
    match ended {
        Err(Exit(code)) => code,
        Ok(()) => shell.exit_code,
    }
}

fn open(
    server: &str,
    timeout_ms: i32,
    read_only: bool,
    printer: &Arc<Printer>,
) -> Result<Session, String> {
    let cs = args::parse_connect_string(server)?;
    Ok(Session::start(
        cs.hosts,
        cs.chroot,
        timeout_ms,
        read_only,
        printer.clone(),
    ))
}

impl Shell {
    fn prompt(&self) -> String {
        format!(
            "[zk: {}({}) {}] ",
            self.host,
            self.session.state().name(),
            self.command_count
        )
    }

    /// Plain lines from a pipe, no prompt (zkCli without JLine).
    fn piped(&mut self) -> Result<(), Exit> {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            self.execute_line(&line)?;
        }
        Ok(())
    }

    /// A terminal: line editing and history (rustyline), the zkCli prompt.
    fn interactive(&mut self) -> Result<(), Exit> {
        let Ok(mut editor) = rustyline::DefaultEditor::new() else {
            return self.piped();
        };
        loop {
            match editor.readline(&self.prompt()) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    self.execute_line(&line)?;
                }
                Err(rustyline::error::ReadlineError::Interrupted) => continue,
                Err(_) => return Ok(()),
            }
        }
    }

    /// `ZooKeeperMain.executeLine`.
    fn execute_line(&mut self, line: &str) -> Result<(), Exit> {
        if line.is_empty() {
            return Ok(());
        }
        let words = args::split_line(line);
        if !words.is_empty() {
            self.last_words = words;
        }
        self.history.insert(self.command_count, line.to_string());
        let words = self.last_words.clone();
        let r = self.process(&words);
        self.command_count += 1;
        r
    }

    /// `ZooKeeperMain.processCmd`: runs one command and keeps its exit code.
    fn process(&mut self, words: &[String]) -> Result<(), Exit> {
        match self.process_zk(words) {
            Ok(Flow::Next) => self.exit_code = 0,
            Ok(Flow::Quit) => return Err(Exit(self.exit_code)),
            Ok(Flow::Exit(code)) => return Err(Exit(code)),
            Err(Failure::Cli(e)) => {
                eprintln!("{}", e.message);
                self.exit_code = e.code;
            }
            Err(Failure::Fatal(f)) => {
                eprintln!("{}", f.0);
                return Err(Exit(1));
            }
        }
        Ok(())
    }

    /// `ZooKeeperMain.processZKCmd`: the shell's own commands, then (connected or not: zkCli
    /// says "Not connected" after `history` too when the session is closed) the command table.
    fn process_zk(&mut self, words: &[String]) -> Result<Flow, Failure> {
        let Some(cmd) = words.first().map(String::as_str) else {
            eprint!("{}", commands::usage_text());
            return Err(CliError::new("No command entered").into());
        };
        if !commands::is_known(cmd) {
            eprint!("{}", commands::usage_text());
            return Err(Failure::Cli(CliError {
                message: format!("Command not found: Command not found {cmd}"),
                code: 127,
            }));
        }
        match cmd {
            "quit" => {
                self.session.close();
                return Ok(Flow::Quit);
            }
            "redo" if words.len() >= 2 => {
                if let Some(code) = self.redo(&words[1])? {
                    return Ok(Flow::Exit(code));
                }
            }
            "history" => {
                let from = self.command_count.saturating_sub(10);
                for i in from..=self.command_count {
                    let line = self.history.get(&i).map_or("null", String::as_str);
                    println!("{i} - {line}");
                }
            }
            "printwatches" => match words.get(1) {
                None => {
                    let on = self.printer.print_watches.load(Ordering::Relaxed);
                    println!("printwatches is {}", if on { "on" } else { "off" });
                }
                Some(v) => self
                    .printer
                    .print_watches
                    .store(v == "on", Ordering::Relaxed),
            },
            "connect" => {
                let host = words.get(1).cloned().unwrap_or_else(|| self.host.clone());
                self.connect(&host)?;
            }
            _ => {}
        }
        if !self.session.state().is_alive() {
            println!("Not connected");
            return Ok(Flow::Next);
        }
        if matches!(
            cmd,
            "quit" | "redo" | "history" | "printwatches" | "connect"
        ) {
            return Ok(Flow::Next);
        }
        let parsed = commands::parse(words)?;
        exec::run(&mut self.session, parsed)?;
        Ok(Flow::Next)
    }

    /// `redo N`: runs history line N again. `Some(code)` when that line ended the shell.
    fn redo(&mut self, n: &str) -> Result<Option<i32>, Failure> {
        let Some(i) = java_decode(n) else {
            return Err(Failure::Fatal(commands::Fatal(format!(
                "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"{n}\""
            ))));
        };
        if i < 0 || self.command_count as i64 <= i {
            return Err(CliError::new("Command index out of range").into());
        }
        let line = self.history.get(&(i as u64)).cloned().unwrap_or_default();
        let words = args::split_line(&line);
        if words.first().map(String::as_str) == Some("redo") {
            return Err(CliError::new("No redoing redos").into());
        }
        self.history.insert(self.command_count, line);
        self.last_words = words.clone();
        Ok(self.process(&words).err().map(|Exit(code)| code))
    }

    /// `connect [host:port]`: a new session (the old one closed first, as zkCli does).
    fn connect(&mut self, host: &str) -> Result<(), Failure> {
        if self.session.state().is_alive() {
            self.session.close();
        }
        self.host = host.to_string();
        self.session = open(host, self.timeout_ms, self.read_only, &self.printer).map_err(|m| {
            Failure::Fatal(commands::Fatal(format!(
                "Exception in thread \"main\" java.lang.IllegalArgumentException: {m}"
            )))
        })?;
        Ok(())
    }
}

enum Flow {
    Next,
    /// `quit`: leave with the exit code of the command before it.
    Quit,
    Exit(i32),
}

/// `Integer.decode`: decimal, `0x`/`#` hex, leading-zero octal, optional sign.
fn java_decode(s: &str) -> Option<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(h) = rest.strip_prefix('#') {
        i64::from_str_radix(h, 16).ok()?
    } else if rest.len() > 1 && rest.starts_with('0') {
        i64::from_str_radix(&rest[1..], 8).ok()?
    } else {
        rest.parse::<i64>().ok()?
    };
    let v = if neg { -v } else { v };
    i32::try_from(v).ok().map(i64::from)
}
