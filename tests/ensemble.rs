//! Real ensembles, the happy paths and member loss: 3 `corral serve` processes (5 in the last
//! test) on real sockets and disks, driven through an unmodified Rust ZooKeeper client
//! (`tests/common/ensemble.rs`). Each test proves one property of an ensemble as a client sees
//! it: one leader, writes visible on every member, ephemerals and sessions global, a session
//! and its watches surviving the loss of its member, a quorum surviving minority failures.
//! Faults under load are in `ensemble_faults.rs`, the history check in
//! `ensemble_linearizable.rs`, partitions and the sync kinds in `ensemble_partition.rs`.

mod common;

use std::time::Duration;

use common::ensemble::{Ensemble, Role, assert_same_trees, dump};
use common::{guard, persistent};
use zookeeper_client as zk;

/// Runs a blocking harness call (the waits poll with sleeps) without stalling the runtime's
/// other worker, where the clients' connections live.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn read_after_sync(c: &zk::Client, path: &str) -> Result<Vec<u8>, zk::Error> {
    guard("sync", c.sync(path)).await?;
    guard("get_data", c.get_data(path)).await.map(|(d, _)| d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_one_leader_and_two_followers() {
    let mut ens = Ensemble::start(3, &[]);
    let leader = blocking(|| ens.wait_serving());
    let roles: Vec<Role> = ens.ids().iter().map(|id| ens.role(*id)).collect();
    assert_eq!(
        roles.iter().filter(|r| **r == Role::Leader).count(),
        1,
        "{roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| **r == Role::Follower).count(),
        2,
        "{roles:?}"
    );
    assert_eq!(ens.leader(), Some(leader));
    // Every member took part in one election: the followers follow the member that leads.
    for id in ens.others(leader) {
        let log = ens.log(id);
        assert!(
            log.contains(&format!("FOLLOWING leader {leader}")),
            "server.{id} follows server.{leader}:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_any_member_is_read_on_every_member_after_sync() {
    let mut ens = Ensemble::start(3, &[]);
    let leader = blocking(|| ens.wait_serving());
    let mut clients = Vec::new();
    for id in ens.ids() {
        clients.push((id, ens.client(id).await));
    }
    for (id, c) in &clients {
        let path = format!("/through-{id}");
        let value = format!("written through server.{id} (leader is {leader})");
        let (stat, _) = guard("create", c.create(&path, value.as_bytes(), &persistent()))
            .await
            .unwrap_or_else(|e| panic!("create {path} through server.{id}: {e}"));
        // The stat of a create is the state after the write: it names its own zxid.
        assert_eq!(stat.czxid, stat.mzxid);
        for (reader, rc) in &clients {
            let got = read_after_sync(rc, &path).await;
            assert_eq!(
                got.as_deref(),
                Ok(value.as_bytes()),
                "{path} written through server.{id}, read on server.{reader}"
            );
        }
    }
    // One history: every member holds the same tree, stat for stat.
    let mut dumps = Vec::new();
    for (id, c) in &clients {
        dumps.push((*id, dump(c, "/").await));
    }
    assert_same_trees(&dumps, "after the writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_created_through_a_follower_disappears_everywhere_when_its_session_closes() {
    let mut ens = Ensemble::start(3, &[]);
    let leader = blocking(|| ens.wait_serving());
    let follower = ens.others(leader)[0];
    let owner = ens.client(follower).await;
    let owner_session = owner.session_id().0;
    let path = "/ephemeral";
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    guard("create ephemeral", owner.create(path, b"mine", &eph))
        .await
        .expect("create an ephemeral through a follower");

    // Every member sees it, owned by that session, and watches it.
    let mut watchers = Vec::new();
    let mut observers = Vec::new();
    for id in ens.ids() {
        let c = ens.client(id).await;
        guard("sync", c.sync(path)).await.unwrap();
        let (stat, w) = guard("exists watch", c.check_and_watch_stat(path))
            .await
            .unwrap();
        let stat = stat.unwrap_or_else(|| panic!("server.{id} does not see {path}"));
        assert_eq!(stat.ephemeral_owner, owner_session, "on server.{id}");
        watchers.push((id, w));
        observers.push((id, c));
    }

    // Dropping the last handle closes the session (closeSession goes out).
    drop(owner);

    for (id, w) in watchers {
        let event = guard("the ephemeral's delete event", w.changed()).await;
        assert_eq!(
            event.event_type,
            zk::EventType::NodeDeleted,
            "event on server.{id}: {event:?}"
        );
    }
    for (id, c) in &observers {
        guard("sync", c.sync(path)).await.unwrap();
        assert_eq!(
            guard("exists", c.check_stat(path)).await,
            Ok(None),
            "{path} is gone on server.{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moves_to_another_member_with_its_watches_when_its_member_is_killed() {
    let mut ens = Ensemble::start(3, &[]);
    blocking(|| ens.wait_serving());
    let c = ens.client_any().await;
    let session = c.session_id();
    let home = blocking(|| wait_for_session_home(&ens, session.0, None));
    let (before_move, _) = guard("create", c.create("/a", b"a0", &persistent()))
        .await
        .unwrap();
    guard("create", c.create("/b", b"b0", &persistent()))
        .await
        .unwrap();
    let (_, _, watch_a) = guard("watch /a", c.get_and_watch_data("/a")).await.unwrap();
    let (_, _, watch_b) = guard("watch /b", c.get_and_watch_data("/b")).await.unwrap();
    let mut states = c.state_watcher();

    blocking(|| ens.kill9(home));
    let leader = blocking(|| ens.wait_serving());
    let writer_on = ens.others(home)[0];
    let writer = ens.client(writer_on).await;
    // Most likely while the session is still between members: its watch is re-armed with
    // the zxid it last saw, and fires when it lands.
    guard("set /a", writer.set_data("/a", b"a1", None))
        .await
        .unwrap();

    // The client reconnects on its own, with the same session, to a member still up.
    guard("reconnect", async {
        while c.state() != zk::SessionState::SyncConnected {
            states.changed().await;
        }
    })
    .await;
    assert_eq!(c.session_id(), session);
    let new_home = blocking(|| wait_for_session_home(&ens, session.0, Some(home)));
    assert_ne!(new_home, home);

    let event = guard("watch on /a", watch_a.changed()).await;
    assert_eq!(
        event.event_type,
        zk::EventType::NodeDataChanged,
        "{event:?}"
    );
    guard("set /b", writer.set_data("/b", b"b1", None))
        .await
        .unwrap();
    let event = guard("watch on /b", watch_b.changed()).await;
    assert_eq!(
        event.event_type,
        zk::EventType::NodeDataChanged,
        "{event:?}"
    );

    // The session still writes, and sees its own past and the other session's writes.
    let (after_move, _) = guard("create after the move", c.create("/c", b"", &persistent()))
        .await
        .unwrap_or_else(|e| panic!("the moved session cannot write (leader {leader}): {e}"));
    assert!(after_move.czxid > before_move.czxid);
    let (data, _) = guard("get /b", c.get_data("/b")).await.unwrap();
    assert_eq!(data, b"b1");
    assert_eq!(c.state(), zk::SessionState::SyncConnected);
}

/// Polls `cons` on every member until one lists `session` (and is not `not`).
fn wait_for_session_home(ens: &Ensemble, session: i64, not: Option<u64>) -> u64 {
    let deadline = std::time::Instant::now() + common::ensemble::SERVE_WAIT_MAX;
    loop {
        if let Some(id) = ens.member_holding_session(session)
            && Some(id) != not
        {
            return id;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "no member lists session 0x{session:x} in cons\n{}",
                ens.log_tails()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_serve_with_two_down_and_refuse_writes_with_three_down() {
    let mut ens = Ensemble::start(5, &[]);
    let leader = blocking(|| ens.wait_serving());
    let c = ens.client_any().await;
    guard("create", c.create("/five", b"all up", &persistent()))
        .await
        .unwrap();

    // Lose the leader and one follower: three of five are a quorum.
    let follower = ens.others(leader)[0];
    blocking(|| {
        ens.kill9(leader);
        ens.kill9(follower);
    });
    let new_leader = blocking(|| ens.wait_serving());
    assert!(new_leader != leader && new_leader != follower);
    let survivors = ens.running();
    assert_eq!(survivors.len(), 3);
    for id in &survivors {
        let s = ens.client(*id).await;
        let path = format!("/two-down-{id}");
        guard("create", s.create(&path, b"", &persistent()))
            .await
            .unwrap_or_else(|e| panic!("write through server.{id} with two down: {e}"));
        for reader in &survivors {
            let r = ens.client(*reader).await;
            assert_eq!(read_after_sync(&r, &path).await.as_deref(), Ok(&b""[..]));
            assert_eq!(
                read_after_sync(&r, "/five").await.as_deref(),
                Ok(&b"all up"[..])
            );
        }
    }

    // A third loss leaves two of five: no quorum, no member serves.
    let third = survivors[0];
    blocking(|| ens.kill9(third));
    let last_two = ens.running();
    for id in &last_two {
        blocking(|| ens.wait_not_serving(*id));
        assert!(
            common::try_handshake_session(&ens.member(*id).addr()).is_none(),
            "server.{id} without a quorum gave a client a session"
        );
    }

    // Everyone back: the five agree on one tree holding every acknowledged write.
    for id in [leader, follower, third] {
        ens.restart(id);
    }
    blocking(|| ens.wait_serving());
    let mut dumps = Vec::new();
    for id in ens.ids() {
        let s = ens.client(id).await;
        dumps.push((id, dump(&s, "/").await));
    }
    for id in &survivors {
        assert!(
            dumps[0].1.contains_key(&format!("/two-down-{id}")),
            "acknowledged write lost"
        );
    }
    assert_same_trees(&dumps, "once all five are back");
}

/// The leader's `Proposal sizes last/min/max`, from `srvr`, once it shows `last`.
fn wait_proposal_sizes(ens: &Ensemble, leader: u64, last: i64) -> (i64, i64, i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = ens.four_letter(leader, "srvr").unwrap_or_default();
        let sizes = answer
            .lines()
            .find_map(|l| l.strip_prefix("Proposal sizes last/min/max: "))
            .map(|v| {
                let n: Vec<i64> = v.split('/').map(|x| x.trim().parse().unwrap()).collect();
                (n[0], n[1], n[2])
            });
        match sizes {
            Some(s) if s.0 == last => return s,
            _ if std::time::Instant::now() > deadline => {
                panic!("server.{leader} never showed a last proposal of {last} bytes:\n{answer}")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_reports_its_proposal_sizes_and_srst_resets_them() {
    let mut ens = Ensemble::start(3, &[]);
    let leader = blocking(|| ens.wait_serving());
    let c = ens.client(ens.others(leader)[0]).await;
    // A create's PROPOSAL carries TxnHeader (32 bytes) + CreateTxn: path (4 + 5), data (4 + n),
    // the one world:anyone ACL (4 + 4 + 4 + 5 + 4 + 6), ephemeral (1), parentCVersion (4).
    let create_size = |n: usize| (32 + 9 + 4 + n + 27 + 1 + 4) as i64;
    guard("create", c.create("/big0", &[7u8; 1000], &persistent()))
        .await
        .unwrap();
    guard("create", c.create("/sml0", b"abcd", &persistent()))
        .await
        .unwrap();
    let (last, min, max) = blocking(|| wait_proposal_sizes(&ens, leader, create_size(4)));
    assert_eq!(
        max,
        create_size(1000),
        "the largest was the 1000-byte create"
    );
    assert_eq!(
        (last, min),
        (create_size(4), 32 + 4),
        "the smallest was the session's createSession (its timeOut only)"
    );
    // Only a leader proposes, and only its `srvr` has the line (as ZooKeeper's).
    for id in ens.others(leader) {
        let srvr = ens.four_letter(id, "srvr").unwrap_or_default();
        assert!(!srvr.contains("Proposal sizes"), "server.{id}:\n{srvr}");
    }
    let mntr = ens.four_letter(leader, "mntr").unwrap_or_default();
    assert!(
        mntr.contains(&format!("zk_max_proposal_size\t{}\n", create_size(1000))),
        "{mntr}"
    );

    assert_eq!(
        ens.four_letter(leader, "srst").as_deref(),
        Some("Server stats reset.\n")
    );
    blocking(|| wait_proposal_sizes(&ens, leader, -1));
    guard("create", c.create("/sml1", b"wxyz", &persistent()))
        .await
        .unwrap();
    let sizes = blocking(|| wait_proposal_sizes(&ens, leader, create_size(4)));
    assert_eq!(sizes, (create_size(4), create_size(4), create_size(4)));
}

// ---- a member's client port --------------------------------------------------------------

/// Spawns one member of a 3-member configuration (its peers never start) on `client_port`,
/// logging into `dir/server.log`.
fn spawn_lone_member(dir: &std::path::Path, client_port: u16) -> std::process::Child {
    let mut settings = vec![
        format!("dataDir={}", dir.join("data").display()),
        format!("clientPort={client_port}"),
        "clientPortAddress=127.0.0.1".to_string(),
        "myid=1".to_string(),
        "tickTime=200".to_string(),
        "4lw.commands.whitelist=*".to_string(),
    ];
    for id in 1..=3 {
        let (q, e) = (common::free_port(), common::free_port());
        settings.push(format!("server.{id}=127.0.0.1:{q}:{e}"));
    }
    common::spawn_serve(settings, &dir.join("server.log"))
}

/// Polls `srvr` on `port` until the process exits or answers, for up to 20 s.
fn exit_or_answer(
    child: &mut std::process::Child,
    port: u16,
) -> Result<String, std::process::ExitStatus> {
    let addr = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(status);
        }
        if let Some(a) = common::try_four_letter(&addr, "srvr", Duration::from_secs(2)) {
            return Ok(a);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(String::new())
}

/// A member that cannot listen on its client port must say so and exit, not run on as a
/// member nobody can reach (ZooKeeper exits: "Unable to start ... Address already in use").
#[test]
fn a_member_whose_client_port_is_taken_exits_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut child = spawn_lone_member(dir.path(), port);
    let outcome = exit_or_answer(&mut child, port);
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    match outcome {
        Err(status) => {
            assert!(!status.success(), "exited with {status}:\n{log}");
            assert!(
                log.contains(&format!("{port}")) && log.contains("client port"),
                "the exit does not name the client port:\n{log}"
            );
        }
        Ok(answer) => panic!(
            "still running 20 s after its client port {port} was found taken (srvr on that \
             port: {answer:?}); log:\n{log}"
        ),
    }
}

/// A member restarted on a port that still has connections in TIME_WAIT (from any earlier
/// listener there, e.g. the Apache ZooKeeper it replaces) must listen on it, as ZooKeeper
/// does with SO_REUSEADDR.
#[test]
fn a_member_listens_on_a_client_port_with_connections_in_time_wait() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let earlier = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = earlier.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (served, _) = earlier.accept().unwrap();
        // The server side closes first: its end of the connection waits in TIME_WAIT.
        drop(served);
        std::thread::sleep(Duration::from_millis(50));
        drop(client);
        port
    };
    let mut child = spawn_lone_member(dir.path(), port);
    let outcome = exit_or_answer(&mut child, port);
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert_eq!(
        outcome,
        Ok(format!("{}\n", common::ensemble::NOT_SERVING)),
        "a lone member on port {port}; log:\n{log}"
    );
}
