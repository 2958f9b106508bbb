//! `corral cli` against a real corral server: each command's output and error messages as
//! Apache's zkCli 3.8 prints them, one-shot exit codes, piped stdin, a watch firing, a chroot,
//! a server list whose first member is down, and a session that survives a server restart.
//! (`tests/interop/cli_diff.sh` checks the same output against zkCli itself, line by line.)

mod common;

use common::Server;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Hang guard for waiting on a line from a running cli. Never an assertion about speed.
const LINE_WAIT: Duration = Duration::from_secs(60);

fn cli_binary() -> &'static str {
    env!("CARGO_BIN_EXE_corral")
}

/// Runs `corral cli -server SERVER ARGS...` with `stdin` as its input; waits for it to exit.
fn cli(server: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(cli_binary())
        .arg("cli")
        .arg("-server")
        .arg(server)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn corral cli");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let deadline = Instant::now() + LINE_WAIT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("corral cli {args:?} did not exit within {LINE_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}

#[track_caller]
fn assert_line(out: &str, line: &str) {
    assert!(has_line(out, line), "no line {line:?} in:\n{out}");
}

/// A one-shot command: (stdout, stderr, exit code).
fn oneshot(server: &str, args: &[&str]) -> (String, String, i32) {
    let o = cli(server, args, "");
    (
        text(&o.stdout),
        text(&o.stderr),
        o.status.code().unwrap_or(-1),
    )
}

/// A cli reading commands from a pipe that stays open, its stdout read line by line.
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Live {
    fn start(server: &str) -> Live {
        let mut child = Command::new(cli_binary())
            .args(["cli", "-server", server])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn corral cli");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Live {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to cli");
        stdin.flush().expect("flush");
    }

    /// Waits until `line` has been printed (at any time since the start).
    #[track_caller]
    fn wait_for(&mut self, line: &str) {
        let deadline = Instant::now() + LINE_WAIT;
        while !self.seen.iter().any(|l| l == line) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "no line {line:?} within {LINE_WAIT:?}; saw:\n{:#?}",
                    self.seen
                ),
            }
        }
    }

    fn quit(mut self) -> i32 {
        self.send("quit");
        drop(self.stdin.take());
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("corral cli did not quit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn one_shot_commands_print_as_zkcli_and_exit_with_its_codes() {
    let server = Server::start();
    let base = server.unique_path("cli-oneshot");
    let addr = server.addr();

    let (out, err, code) = oneshot(addr, &["create", &base, "some data"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_line(&out, &format!("Connecting to {addr}"));
    assert_line(&out, "WatchedEvent state:SyncConnected type:None path:null");
    assert_eq!(err, format!("Created {base}\n"));

    let (out, _, code) = oneshot(addr, &["get", &base]);
    assert_eq!(code, 0);
    assert_line(&out, "some data");

    let (_, err, code) = oneshot(addr, &["create", &base]);
    assert_eq!(
        (err.as_str(), code),
        (&*format!("Node already exists: {base}\n"), 1)
    );

    let missing = format!("{base}/missing");
    let (_, err, code) = oneshot(addr, &["get", &missing]);
    assert_eq!(
        (err.trim_end(), code),
        (&*format!("Node does not exist: {missing}"), 1)
    );

    let (_, err, code) = oneshot(addr, &["set", &base]);
    assert_eq!(
        (err.trim_end(), code),
        ("set [-s] [-v version] path data", 1)
    );

    let (_, err, code) = oneshot(addr, &["frobnicate"]);
    assert_eq!(code, 127);
    assert!(err.starts_with("ZooKeeper -server host:port"), "{err}");
    assert_line(&err, "\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]");
    assert_line(&err, "Command not found: Command not found frobnicate");
}

#[test]
fn piped_stdin_runs_every_command_without_a_prompt() {
    let server = Server::start();
    let base = server.unique_path("cli-piped");
    let script = format!(
        "create {base} \"two words\"\n\
         create -s {base}/seq- x\n\
         create -e {base}/eph\n\
         get -s {base}\n\
         set -s -v 0 {base} changed\n\
         set -v 0 {base} stale\n\
         stat {base}/seq-0000000000\n\
         ls -s {base}\n\
         ls -R {base}\n\
         getAcl {base}\n\
         setAcl {base}/eph world:anyone:r\n\
         getAcl -s {base}/eph\n\
         getEphemerals {base}\n\
         delete {base}/eph\n\
         getAllChildrenNumber {base}\n\
         sync {base}\n\
         whoami\n\
         addauth digest alice:pw\n\
         whoami\n\
         addWatch {base}\n\
         removewatches {base}\n\
         removewatches {base}\n\
         printwatches\n\
         history\n\
         redo 0\n\
         create relative\n\
         deleteall {base}\n\
         ls {base}\n"
    );
    let o = cli(server.addr(), &[], &script);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    let all = format!("{out}{err}");
    assert!(!all.contains("[zk:"), "a prompt on a pipe:\n{all}");
    assert_line(&out, "Welcome to ZooKeeper!");
    assert_line(&err, &format!("Created {base}"));
    assert_line(&err, &format!("Created {base}/seq-0000000000"));
    assert_line(&out, "two words");
    assert_line(&out, "dataVersion = 1");
    assert_line(&err, &format!("version No is not valid : {base}"));
    assert_line(&out, "[eph, seq-0000000000]");
    assert_line(&out, &format!("{base}/seq-0000000000"));
    assert_line(&out, "'world,'anyone");
    assert_line(&out, ": cdrwa");
    assert_line(&out, ": r");
    assert_line(&out, "aclVersion = 1");
    assert_line(&out, "1");
    assert_line(&out, &format!("[{base}/eph]"));
    assert_line(&out, "Sync is OK");
    assert_line(&out, "Auth scheme: User");
    assert_line(&out, "ip: 127.0.0.1");
    assert_line(&out, "digest: alice");
    assert_line(
        &out,
        &format!("WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:{base}"),
    );
    assert_line(
        &err,
        &format!("KeeperErrorCode = No such watcher for {base}"),
    );
    assert_line(&out, "printwatches is on");
    // history: the last ten lines and itself, numbered from 0.
    assert_line(&out, &format!("13 - delete {base}/eph"));
    assert_line(&out, "22 - printwatches");
    assert_line(&out, "23 - history");
    assert!(
        !out.contains("\n12 - "),
        "history shows more than ten:\n{out}"
    );
    assert_line(&err, &format!("Node already exists: {base}"));
    assert_line(&err, "Path must start with / character");
    assert_line(&err, &format!("Node does not exist: {base}"));
    // Without quit the exit code is the last command's (ls of the deleted node).
    assert_eq!(o.status.code(), Some(1), "{all}");
}

#[test]
fn a_data_watch_fires_and_prints_as_zkcli() {
    let server = Server::start();
    let path = server.unique_path("cli-watch");
    let (_, _, code) = oneshot(server.addr(), &["create", &path, "v1"]);
    assert_eq!(code, 0);
    let mut live = Live::start(server.addr());
    live.send(&format!("get -w {path}"));
    live.wait_for("v1");
    let (_, _, code) = oneshot(server.addr(), &["set", &path, "v2"]);
    assert_eq!(code, 0);
    live.wait_for(&format!(
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:{path}"
    ));
    live.send(&format!("ls -w {path}"));
    live.send(&format!("create {path}/kid"));
    live.wait_for(&format!(
        "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:{path}"
    ));
    assert_eq!(live.quit(), 0);
}

#[test]
fn a_chroot_in_the_connect_string_scopes_every_path() {
    let server = Server::start();
    let base = server.unique_path("cli-chroot");
    assert_eq!(oneshot(server.addr(), &["create", &base]).2, 0);
    let chrooted = format!("{}{base}", server.addr());

    let (_, err, code) = oneshot(&chrooted, &["create", "-s", "/n-", "x"]);
    assert_eq!((err.trim_end(), code), ("Created /n-0000000000", 0));
    let (out, _, _) = oneshot(&chrooted, &["ls", "/"]);
    assert_line(&out, "[n-0000000000]");
    let (out, _, _) = oneshot(server.addr(), &["ls", &base]);
    assert_line(&out, "[n-0000000000]");
    let (_, err, _) = oneshot(&chrooted, &["get", "/nope"]);
    assert_eq!(err.trim_end(), "Node does not exist: /nope");

    let mut live = Live::start(&chrooted);
    live.send("stat -w /later");
    live.wait_for("Node does not exist: /later");
    assert_eq!(
        oneshot(server.addr(), &["create", &format!("{base}/later")]).2,
        0
    );
    live.wait_for("WatchedEvent state:SyncConnected type:NodeCreated path:/later");
    assert_eq!(
        live.quit(),
        1,
        "quit keeps the exit code of the stat before it"
    );
}

#[test]
fn a_server_list_whose_first_member_is_down_connects_to_the_next() {
    let server = Server::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let list = format!("{dead_addr},{}", server.addr());
    let (out, err, code) = oneshot(&list, &["ls", "/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_line(&out, &format!("Connecting to {list}"));
    assert!(
        out.lines()
            .any(|l| l.starts_with('[') && l.contains("zookeeper")),
        "{out}"
    );

    let (out, err, code) = oneshot(&dead_addr.to_string(), &["-timeout", "2000", "ls", "/"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.trim_end(), "KeeperErrorCode = ConnectionLoss for /");
}

#[test]
fn wait_for_connection_gives_up_after_the_timeout() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr").to_string();
    drop(dead);
    let o = Command::new(cli_binary())
        .args(["cli", "-server", &dead_addr, "-timeout", "1000"])
        .args(["-waitforconnection", "ls", "/"])
        .stdin(Stdio::null())
        .output()
        .expect("run corral cli");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("KeeperErrorCode = ConnectionLoss"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn close_and_connect_end_and_open_sessions() {
    let server = Server::start();
    let o = cli(
        server.addr(),
        &[],
        "close\nls /\nconnect\nls /zookeeper\nquit\n",
    );
    let out = text(&o.stdout);
    assert_line(&out, "WatchedEvent state:Closed type:None path:null");
    assert_line(&out, "Not connected");
    assert_line(&out, "[config, quota]");
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
}

#[test]
fn the_session_and_its_ephemeral_survive_a_server_restart() {
    let Some(mut server) = Server::start_dedicated("cli-restart", &[]) else {
        return;
    };
    let path = server.unique_path("cli-restart");
    let mut live = Live::start(server.addr());
    live.send(&format!("create -e {path} mine"));
    live.wait_for(&format!("Created {path}"));
    server.restart();
    live.wait_for("WatchedEvent state:Disconnected type:None path:null");
    live.send(&format!("get {path}"));
    live.wait_for("mine");
    let (_, _, code) = oneshot(server.addr(), &["stat", &path]);
    assert_eq!(code, 0, "the ephemeral node outlived the restart");
    assert_eq!(live.quit(), 0);
    let (_, err, _) = oneshot(server.addr(), &["stat", &path]);
    assert_eq!(err.trim_end(), format!("Node does not exist: {path}"));
}

#[test]
fn a_lost_member_hands_the_session_to_the_next_one_in_the_list() {
    if common::is_external() {
        common::skip(
            "a_lost_member_hands_the_session_to_the_next_one_in_the_list",
            "starts an ensemble of its own",
        );
        return;
    }
    let mut ens = common::ensemble::Ensemble::start(3, &[]);
    let leader = ens.wait_serving();
    // The cli connects to the first member it is given: a follower, so that its loss costs
    // no election.
    let first = ens.others(leader)[0];
    let mut order = vec![first];
    order.extend(ens.ids().into_iter().filter(|id| *id != first));
    let list = ens.connect_string_of(&order);
    let mut live = Live::start(&list);
    live.send("create -e /cli-failover mine");
    live.wait_for("Created /cli-failover");
    ens.kill9(first);
    live.wait_for("WatchedEvent state:Disconnected type:None path:null");
    // Same session on another member: its ephemeral node is still there, and still its own.
    live.send("get /cli-failover");
    live.wait_for("mine");
    live.send("getEphemerals");
    live.wait_for("[/cli-failover]");
    assert_eq!(live.quit(), 0);
}
