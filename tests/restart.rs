//! A server killed with SIGKILL and restarted on the same data directory keeps every
//! acknowledged write (guarantee 5), and its zxids keep increasing. Needs a spawned server.

mod common;

use common::raw::{Session, op, req};
use common::{Server, free_port};

#[test]
fn acknowledged_writes_survive_kill9_and_restart() {
    let Some(mut server) =
        Server::start_dedicated("acknowledged_writes_survive_kill9_and_restart", &[])
    else {
        return;
    };
    let mut s = Session::connect(server.addr(), 30_000);
    s.create("/durable", b"v0", 0).ok();
    for i in 0..20 {
        s.create(&format!("/durable/n{i}"), b"", 0).ok();
    }
    let last = s.set_data("/durable", b"v1", -1).ok().reader().stat();
    drop(s);

    server.restart();
    let mut s = Session::connect(server.addr(), 30_000);
    let reply = s.get_data("/durable", false).ok();
    let mut r = reply.reader();
    assert_eq!(r.bytes(), Some(b"v1".to_vec()));
    let stat = r.stat();
    assert_eq!(stat, last, "the stat is restored exactly");
    assert_eq!(stat.num_children, 20);
    let next = s
        .request(op::CREATE2, &req::create("/after-restart", b"", 0))
        .ok();
    let mut r = next.reader();
    r.string();
    assert!(
        r.stat().czxid > last.mzxid,
        "zxids keep increasing after a restart"
    );
    s.close();
}

#[test]
fn session_can_be_reattached_after_a_restart() {
    let Some(mut server) =
        Server::start_dedicated("session_can_be_reattached_after_a_restart", &[])
    else {
        return;
    };
    let mut s = Session::connect(server.addr(), 4_000);
    s.create("/eph", b"", 1).ok();
    let creds = s.resp.clone();
    drop(s);
    server.restart();
    let mut back = Session::connect_with(
        server.addr(),
        &common::raw::ConnectRequest::reattach(&creds, 4_000),
    )
    .expect("answered");
    assert!(
        back.resp.timeout_ms > 0,
        "a live session survives the restart"
    );
    let stat = back.exists("/eph", false).ok().reader().stat();
    assert_eq!(stat.ephemeral_owner, creds.session_id);
    back.close();
}

/// A member of a 3-member ensemble started alone has no quorum: it must not
/// serve clients (a database of its own would diverge from the others'). It
/// answers four-letter words, refuses sessions, and writes nothing but its
/// initial snapshot and epoch files.
#[test]
fn a_lone_ensemble_member_serves_no_client() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("myid"), "1\n").unwrap();
    let port = free_port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n\
             server.1=127.0.0.1:{}:{}\nserver.2=127.0.0.1:{}:{}\n\
             server.3=127.0.0.1:{}:{}\n",
            data.display(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let mut answer = String::new();
    for _ in 0..400 {
        if let Some(a) = common::try_four_letter(&addr, "srvr", std::time::Duration::from_secs(2)) {
            answer = a;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let refused = common::try_handshake_session(&addr).is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        answer, "This ZooKeeper instance is not currently serving requests\n",
        "srvr of a member without a quorum"
    );
    assert!(refused, "a member without a quorum gave a client a session");
    // No txn was logged.
    let logs: Vec<_> = std::fs::read_dir(data.join("version-2"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("log."))
        .collect();
    assert!(logs.is_empty(), "logged: {logs:?}");
}

/// Snapshot files in `data/version-2`, sealed ones only (not `tmp.`).
fn snapshots_in(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let dir = data_dir.join("version-2");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("snapshot."))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn snapshots_taken_while_writing_are_sealed_and_restore_every_node() {
    // A small snapCount: snapshots are walked on the sequencer between the
    // rounds of this write load, several times over.
    let Some(mut server) = Server::start_dedicated(
        "snapshots_taken_while_writing_are_sealed_and_restore_every_node",
        &[("snapCount", "40")],
    ) else {
        return;
    };
    let data_dir = server.data_dir().expect("spawned");
    let mut s = Session::connect(server.addr(), 30_000);
    s.create("/snap", b"", 0).ok();
    for i in 0..400 {
        s.create(&format!("/snap/n{i}"), format!("data-{i}").as_bytes(), 0)
            .ok();
    }
    drop(s);
    // Written in the background: wait (generously) for more than the
    // initial snapshot.0 to be sealed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while snapshots_in(&data_dir).len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let snapshots = snapshots_in(&data_dir);
    assert!(snapshots.len() >= 3, "snapshots sealed: {snapshots:?}");
    for snap in &snapshots {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_corral"))
            .args(["data", "snapshot", "--summary"])
            .arg(snap)
            .output()
            .expect("corral data snapshot");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("checksum: OK"), "{}: {text}", snap.display());
    }
    assert!(
        !server.log_tail().contains("Snapshot at zxid"),
        "no snapshot failed or was abandoned: {}",
        server.log_tail()
    );

    server.restart();
    let mut s = Session::connect(server.addr(), 30_000);
    for i in 0..400 {
        let reply = s.get_data(&format!("/snap/n{i}"), false).ok();
        assert_eq!(
            reply.reader().bytes(),
            Some(format!("data-{i}").into_bytes()),
            "/snap/n{i}"
        );
    }
    s.close();
}
