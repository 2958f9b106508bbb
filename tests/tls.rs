//! The secure client port (`secureClientPort`): a real ZooKeeper session over TLS next to the
//! plain port, four-letter words over TLS, client certificates (`ssl.clientAuth`) and the
//! `x509` identity they give, as ZooKeeper's Netty factory and X509AuthenticationProvider do.
//! The TLS material is tests/fixtures/tls (see its README).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::raw::{self, ConnectRequest, ConnectResponse, Incoming, Reader, err, op, perm, req};
use common::{Server, free_port};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const IO_GUARD: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A server with a plain and a secure port; `client_auth` as `ssl.clientAuth`.
fn tls_server(test: &str, client_auth: &str, secure_port: u16) -> Option<Server> {
    tls_server_with(test, client_auth, secure_port, &[])
}

fn tls_server_with(
    test: &str,
    client_auth: &str,
    secure_port: u16,
    extra: &[(&str, &str)],
) -> Option<Server> {
    let port = secure_port.to_string();
    let key_store = fixture("server.pem").display().to_string();
    let trust_store = fixture("ca.crt").display().to_string();
    let settings: [(&str, &str); 6] = [
        ("secureClientPort", &port),
        (
            "serverCnxnFactory",
            "org.apache.zookeeper.server.NettyServerCnxnFactory",
        ),
        ("ssl.keyStore.location", &key_store),
        // The type is given, as the trust store's file name says nothing.
        ("zookeeper.ssl.trustStore.location", &trust_store),
        ("ssl.trustStore.type", "PEM"),
        ("ssl.clientAuth", client_auth),
    ];
    let all: Vec<(&str, &str)> = settings.iter().chain(extra).copied().collect();
    Server::start_dedicated(test, &all)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `127.0.0.1:port` that trusts the fixture CA, presenting the fixture
/// client certificate when `with_cert`.
fn tls_connect(
    port: u16,
    with_cert: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(fixture("ca.crt")).expect("fixture CA");
    roots.add(ca).expect("CA is a usable root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = if with_cert {
        let chain =
            vec![CertificateDer::from_pem_file(fixture("client.crt")).expect("client cert")];
        let key = PrivateKeyDer::from_pem_file(fixture("client.key")).expect("client key");
        builder
            .with_client_auth_cert(chain, key)
            .expect("client identity")
    } else {
        builder.with_no_client_auth()
    };
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client connection");
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect to the secure port");
    tcp.set_read_timeout(Some(IO_GUARD)).expect("timeout");
    tcp.set_write_timeout(Some(IO_GUARD)).expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn send_frame(s: &mut Tls, payload: &[u8]) -> std::io::Result<()> {
    let mut buf = (payload.len() as i32).to_be_bytes().to_vec();
    buf.extend_from_slice(payload);
    s.write_all(&buf)?;
    s.flush()
}

/// One frame, or `None` when the server closed (or ended the TLS session) instead.
fn read_frame(s: &mut Tls) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// A ZooKeeper session over TLS.
struct TlsSession {
    s: Tls,
    xid: i32,
}

impl TlsSession {
    /// `None` when the server refuses (TLS alert, close) before answering the handshake.
    fn connect(
        port: u16,
        with_cert: bool,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Option<TlsSession> {
        let mut s = tls_connect(port, with_cert, versions);
        send_frame(&mut s, &ConnectRequest::new_session(30_000).encode()).ok()?;
        let resp = ConnectResponse::decode(&read_frame(&mut s)?);
        assert_ne!(resp.session_id, 0, "a new session over TLS");
        Some(TlsSession { s, xid: 0 })
    }

    fn request(&mut self, op: i32, body: &[u8]) -> raw::Reply {
        self.xid += 1;
        let mut payload = raw::Writer::new().int(self.xid).int(op).into_vec();
        payload.extend_from_slice(body);
        send_frame(&mut self.s, &payload).expect("send over TLS");
        loop {
            let frame = read_frame(&mut self.s).expect("server answers over TLS");
            match raw::decode_incoming(&frame) {
                Incoming::Reply(r) if r.xid == self.xid => return r,
                _ => {}
            }
        }
    }

    /// whoAmI: (scheme, user) pairs.
    fn who_am_i(&mut self) -> Vec<(String, String)> {
        let reply = self.request(op::WHO_AM_I, &[]);
        assert_eq!(reply.err, err::OK, "whoAmI");
        let mut r: Reader<'_> = reply.reader();
        let n = r.int();
        (0..n)
            .map(|_| {
                (
                    r.string().unwrap_or_default(),
                    r.string().unwrap_or_default(),
                )
            })
            .collect()
    }
}

const CLIENT_ID: &str = "CN=client,O=corral tests";

#[test]
fn tls_session_creates_and_reads_and_the_plain_port_sees_the_same_tree() {
    let test = "tls_session_creates_and_reads_and_the_plain_port_sees_the_same_tree";
    let secure = free_port();
    let Some(server) = tls_server(test, "need", secure) else {
        return;
    };
    for (versions, tag) in [
        (&[&rustls::version::TLS13][..], "tls13"),
        (&[&rustls::version::TLS12][..], "tls12"),
    ] {
        let path = server.unique_path(tag);
        let mut tls = TlsSession::connect(secure, true, versions).expect("TLS session");
        assert_eq!(
            tls.request(op::CREATE, &req::create(&path, b"secret", 0))
                .err,
            err::OK
        );
        let got = tls.request(op::GET_DATA, &req::path_watch(&path, false));
        assert_eq!(got.err, err::OK);
        assert_eq!(
            got.reader().bytes().as_deref(),
            Some(&b"secret"[..]),
            "{tag}"
        );
        let mut plain = raw::Session::connect(server.addr(), 30_000);
        let seen = plain.get_data(&path, false);
        assert_eq!(
            seen.reader().bytes().as_deref(),
            Some(&b"secret"[..]),
            "{tag}"
        );
    }
}

#[test]
fn client_certificate_gives_the_x509_id_that_x509_acls_match() {
    let test = "client_certificate_gives_the_x509_id_that_x509_acls_match";
    let secure = free_port();
    let Some(server) = tls_server(test, "need", secure) else {
        return;
    };
    let mut tls = TlsSession::connect(secure, true, BOTH).expect("TLS session");
    let ids = tls.who_am_i();
    assert!(
        ids.contains(&("x509".to_string(), CLIENT_ID.to_string())),
        "{ids:?}"
    );
    assert!(ids.iter().any(|(scheme, _)| scheme == "ip"), "{ids:?}");

    let path = server.unique_path("x509-acl");
    let acl = [(perm::ALL, "x509", CLIENT_ID)];
    let created = tls.request(op::CREATE, &req::create_acl(&path, b"mine", &acl, 0));
    assert_eq!(created.err, err::OK);
    let mine = tls.request(op::GET_DATA, &req::path_watch(&path, false));
    assert_eq!(mine.err, err::OK);
    let mut plain = raw::Session::connect(server.addr(), 30_000);
    assert_eq!(plain.get_data(&path, false).err, err::NO_AUTH);
}

#[test]
fn x509_super_user_is_super_over_tls_only() {
    let test = "x509_super_user_is_super_over_tls_only";
    let secure = free_port();
    let extra = [("X509AuthenticationProvider.superUser", CLIENT_ID)];
    let Some(server) = tls_server_with(test, "need", secure, &extra) else {
        return;
    };
    let mut plain = raw::Session::connect(server.addr(), 30_000);
    let path = server.unique_path("not-mine");
    let acl = [(perm::ALL, "x509", "CN=someone else")];
    let created = plain.request(op::CREATE, &req::create_acl(&path, b"theirs", &acl, 0));
    assert_eq!(created.err, err::OK);
    assert_eq!(plain.get_data(&path, false).err, err::NO_AUTH);
    let mut tls = TlsSession::connect(secure, true, BOTH).expect("TLS session");
    let ids = tls.who_am_i();
    assert!(
        ids.contains(&("super".to_string(), CLIENT_ID.to_string())),
        "{ids:?}"
    );
    let got = tls.request(op::GET_DATA, &req::path_watch(&path, false));
    assert_eq!(
        got.err,
        err::OK,
        "super reads a node its x509 id is not in the ACL of"
    );
}

#[test]
fn client_auth_need_refuses_a_client_without_a_certificate_and_want_serves_it() {
    let test = "client_auth_need_refuses_a_client_without_a_certificate_and_want_serves_it";
    let secure = free_port();
    let Some(_need) = tls_server(test, "need", secure) else {
        return;
    };
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        assert!(
            TlsSession::connect(secure, false, versions).is_none(),
            "a session without a client certificate ({versions:?})"
        );
    }
    let secure = free_port();
    let Some(_want) = tls_server(test, "want", secure) else {
        return;
    };
    let mut anonymous = TlsSession::connect(secure, false, BOTH).expect("want serves it");
    let ids = anonymous.who_am_i();
    assert!(ids.iter().all(|(scheme, _)| scheme != "x509"), "{ids:?}");
}

#[test]
fn four_letter_words_are_answered_over_tls() {
    let test = "four_letter_words_are_answered_over_tls";
    let secure = free_port();
    let Some(_server) = tls_server(test, "need", secure) else {
        return;
    };
    let mut s = tls_connect(secure, true, BOTH);
    s.write_all(b"ruok").expect("send ruok");
    s.flush().expect("flush");
    let mut answer = Vec::new();
    // The server closes after answering, with a close_notify: a clean end of stream.
    s.read_to_end(&mut answer)
        .expect("answer then a clean TLS close");
    assert_eq!(answer, b"imok");
}

#[test]
fn secure_port_alone_serves_when_client_port_is_unset() {
    if common::is_external() {
        common::skip(
            "secure_port_alone_serves_when_client_port_is_unset",
            "spawns its own server",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let secure = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg("serve")
        .args([
            "--override",
            &format!("dataDir={}", dir.path().join("data").display()),
        ])
        .args(["--override", &format!("secureClientPort={secure}")])
        .args(["--override", "secureClientPortAddress=127.0.0.1"])
        .args([
            "--override",
            &format!("ssl.keyStore.location={}", fixture("server.pem").display()),
        ])
        .args(["--override", "ssl.clientAuth=none"])
        .args(["--override", "4lw.commands.whitelist=*"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn corral");
    let mut conf = String::new();
    for _ in 0..600 {
        if let Ok(tcp) = TcpStream::connect(("127.0.0.1", secure)) {
            drop(tcp);
            let mut s = tls_connect(secure, false, BOTH);
            if s.write_all(b"conf").is_ok() && s.flush().is_ok() {
                let _ = s.read_to_string(&mut conf);
                break;
            }
        }
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        conf.contains(&format!("secureClientPort={secure}\n")),
        "{conf}"
    );
    assert!(conf.contains("clientPort=-1\n"), "{conf}");
}

#[test]
fn connections_still_in_their_tls_handshake_count_against_max_client_cnxns() {
    let test = "connections_still_in_their_tls_handshake_count_against_max_client_cnxns";
    let secure = free_port();
    let extra = [("maxClientCnxns", "2")];
    let Some(_server) = tls_server_with(test, "need", secure, &extra) else {
        return;
    };
    // Two connections from this address that never start their handshake.
    let silent_one = || {
        let s = TcpStream::connect(("127.0.0.1", secure)).expect("connect");
        s.set_nonblocking(true).expect("nonblocking");
        s
    };
    let mut silent: Vec<TcpStream> = (0..2).map(|_| silent_one()).collect();
    // Each takes its place when it is accepted: give the server time to
    // accept both (a session that gets in before that would prove nothing).
    // Each shard accepts from its own queue, so a session may be accepted
    // before a silent connection made earlier, take its place, and have the
    // silent one refused and closed: a closed one is replaced.
    let deadline = std::time::Instant::now() + IO_GUARD;
    let mut refused = false;
    while !refused && std::time::Instant::now() < deadline {
        refused = TlsSession::connect(secure, true, BOTH).is_none();
        if !refused {
            for s in &mut silent {
                let closed = match s.peek(&mut [0u8; 1]) {
                    Ok(_) => true,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                };
                if closed {
                    *s = silent_one();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(
        refused,
        "a third connection is refused while two sit in their handshake"
    );
    drop(silent);
    // Closed, they give their places back.
    let deadline = std::time::Instant::now() + IO_GUARD;
    let mut served = None;
    while served.is_none() && std::time::Instant::now() < deadline {
        served = TlsSession::connect(secure, true, BOTH);
        if served.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(
        served.is_some(),
        "served once the silent connections closed"
    );
}
