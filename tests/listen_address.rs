//! Which addresses the client port listens on. With `clientPortAddress` unset (or 0.0.0.0)
//! ZooKeeper's JVM binds the wildcard on a dual-stack socket, so clients reach it over IPv6 as
//! well as IPv4 (the C client's `testIPV6` connects to `::1`); IPv4 clients of that socket must
//! still count as their IPv4 address for ip ACLs, per-address limits and `cons`.

mod common;

use common::Server;
use common::raw::{Session, err, op, perm, req};

/// The settings of a server whose client port is the wildcard, like ZooKeeper's default (the
/// harness pins 127.0.0.1 otherwise).
const WILDCARD: &[(&str, &str)] = &[("clientPortAddress", "0.0.0.0")];

/// False (after a skip note) when this host has no IPv6 loopback to test with.
fn ipv6_loopback_available(test: &str) -> bool {
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        return true;
    }
    common::skip(test, "this host has no IPv6 loopback (::1)");
    false
}

#[test]
fn wildcard_client_port_serves_ipv6_and_ipv4_clients() {
    let test = "wildcard_client_port_serves_ipv6_and_ipv4_clients";
    if !ipv6_loopback_available(test) {
        return;
    }
    let Some(server) = Server::start_dedicated(test, WILDCARD) else {
        return;
    };
    let path = server.unique_path("ipv6");

    let mut v6 = Session::connect(&format!("[::1]:{}", server.port()), 30_000);
    assert_eq!(
        v6.create(&path, b"over ipv6", 0).err,
        err::OK,
        "create over ::1"
    );

    let mut v4 = Session::connect(&format!("127.0.0.1:{}", server.port()), 30_000);
    let got = v4.get_data(&path, false);
    assert_eq!(got.err, err::OK, "read back over 127.0.0.1");
    assert_eq!(got.reader().bytes().as_deref(), Some(&b"over ipv6"[..]));
    v6.close();
    v4.close();
}

#[test]
fn ipv4_clients_of_the_wildcard_port_keep_their_ipv4_address() {
    let test = "ipv4_clients_of_the_wildcard_port_keep_their_ipv4_address";
    let Some(server) = Server::start_dedicated(test, WILDCARD) else {
        return;
    };
    let addr = format!("127.0.0.1:{}", server.port());
    let path = server.unique_path("ip-acl");

    // An ip ACL for 127.0.0.1 admits an IPv4 loopback client only if the server sees it as
    // 127.0.0.1 and not as ::ffff:127.0.0.1.
    let mut owner = Session::connect(&addr, 30_000);
    let created = owner.request(
        op::CREATE,
        &req::create_acl(&path, b"v4 only", &[(perm::ALL, "ip", "127.0.0.1")], 0),
    );
    assert_eq!(created.err, err::OK, "create with ip:127.0.0.1");
    let mut reader = Session::connect(&addr, 30_000);
    assert_eq!(
        reader.get_data(&path, false).err,
        err::OK,
        "read as 127.0.0.1"
    );

    let cons = server.four_letter("cons");
    assert!(
        cons.contains("/127.0.0.1:"),
        "cons lists IPv4 clients by their IPv4 address:\n{cons}"
    );
    assert!(
        !cons.contains("::ffff:"),
        "no IPv4-mapped addresses in cons:\n{cons}"
    );
    owner.close();
    reader.close();
}

/// Shards bind the client port with SO_REUSEPORT, which alone would let a second corral of
/// the same user bind a port the first one serves and take half its connections: a second
/// server on a port in use must refuse to start, naming the port, and the first keeps all.
#[test]
fn a_second_server_on_a_client_port_in_use_refuses_to_start() {
    let test = "a_second_server_on_a_client_port_in_use_refuses_to_start";
    let Some(first) = Server::start_dedicated(test, &[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("second.log");
    let mut child = std::process::Command::new(common::server_binary())
        .arg("serve")
        .arg("--override")
        .arg(format!("clientPort={}", first.port()))
        .arg("--override")
        .arg("clientPortAddress=127.0.0.1")
        .arg("--override")
        .arg(format!("dataDir={}", dir.path().join("data").display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("second.err")).unwrap())
        .spawn()
        .expect("run a second corral");
    // A hang guard, not a timing: a server that starts never exits by itself.
    let mut status = None;
    for _ in 0..400 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap_or_default()
        + &std::fs::read_to_string(dir.path().join("second.err")).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the second server started on the first one's port:\n{text}"
    );
    assert!(
        text.contains(&format!("{}", first.port())) && text.contains("client port"),
        "the refusal does not name the client port:\n{text}"
    );
    // The first one still answers.
    assert_eq!(first.four_letter("ruok"), "imok");
}
