//! SASL (DIGEST-MD5) against a server configured as ZooKeeper is: a JAAS file with a `Server`
//! section of `DigestLoginModule` users, `authProvider.1=…SASLAuthenticationProvider`. A real
//! SASL client (zookeeper-client's DIGEST-MD5, built on rsasl) authenticates; `sasl` ACLs admit
//! the user only; a wrong password is refused with AuthFailed and a closed connection;
//! `zookeeper.superUser` makes a SASL user super; `sessionRequireClientSASLAuth` turns
//! unauthenticated requests away with SessionClosedRequireSaslAuth and closes the connection.

mod common;

use common::raw::{Session, err};
use common::{IO_GUARD, SESSION_TIMEOUT, Server, digest_id};
use zookeeper_client as zk;

const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
const OP_SASL: i32 = 102;
const OP_WHO_AM_I: i32 = 107;

/// A JAAS file of its own (kept alive with the server) and the overrides naming it.
struct Sasl {
    _dir: tempfile::TempDir,
    jaas: String,
}

impl Sasl {
    fn new() -> Sasl {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("jaas.conf");
        std::fs::write(
            &path,
            "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
             user_super=\"super_secret\"\n  user_bob=\"bob_pw\"\n  user_carol=\"carol_pw\";\n};\n",
        )
        .expect("write jaas");
        Sasl {
            jaas: path.display().to_string(),
            _dir: dir,
        }
    }

    fn start(&self, test: &str, extra: &[(&str, &str)]) -> Option<Server> {
        let mut all = vec![
            ("java.security.auth.login.config", self.jaas.as_str()),
            ("authProvider.1", SASL_PROVIDER),
        ];
        all.extend_from_slice(extra);
        Server::start_dedicated(test, &all)
    }
}

async fn sasl_connect(
    server: &Server,
    user: &str,
    password: &str,
) -> Result<zk::Client, zk::Error> {
    let mut connector = zk::Client::connector();
    connector.session_timeout(SESSION_TIMEOUT);
    connector.sasl(zk::SaslOptions::digest_md5(
        user.to_string(),
        password.to_string(),
    ));
    match tokio::time::timeout(IO_GUARD, connector.connect(server.addr())).await {
        Ok(result) => result,
        Err(_) => panic!(
            "SASL connect to {}: nothing within {IO_GUARD:?}",
            server.addr()
        ),
    }
}

/// A `GetSASLRequest` body.
fn sasl_token(token: &[u8]) -> Vec<u8> {
    common::raw::Writer::new().bytes(token).into_vec()
}

fn sasl_acl(user: &str) -> zk::Acl {
    zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("sasl", user))
}

#[tokio::test]
async fn sasl_user_authenticates_and_sasl_acl_admits_only_that_user() {
    let sasl = Sasl::new();
    let Some(server) = sasl.start("sasl_acl", &[]) else {
        return;
    };
    let bob = sasl_connect(&server, "bob", "bob_pw")
        .await
        .expect("bob authenticates");
    let carol = sasl_connect(&server, "carol", "carol_pw")
        .await
        .expect("carol authenticates");
    let anon = server.client().await;
    let path = server.unique_path("sasl-acl");
    let acls = [sasl_acl("bob")];
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acls));
    bob.create(&path, b"bob's", &opts)
        .await
        .expect("create with sasl ACL");

    assert_eq!(bob.get_data(&path).await.expect("bob reads").0, b"bob's");
    assert_eq!(carol.get_data(&path).await, Err(zk::Error::NoAuth));
    assert_eq!(anon.get_data(&path).await, Err(zk::Error::NoAuth));
    let (acl, _) = bob.get_acl(&path).await.expect("bob's getACL");
    assert_eq!(acl, vec![sasl_acl("bob")]);

    // whoAmI names the SASL id beside the ip one.
    let who = bob.list_auth_users().await.expect("whoAmI");
    assert!(who.contains(&zk::AuthUser::new("sasl", "bob")), "{who:?}");
    bob.delete(&path, None).await.expect("bob deletes");
}

#[tokio::test]
async fn wrong_password_gets_auth_failed_and_a_closed_connection() {
    let sasl = Sasl::new();
    let Some(server) = sasl.start("sasl_wrong_password", &[]) else {
        return;
    };
    // A real client: connecting, or its first request, fails with AuthFailed.
    match sasl_connect(&server, "bob", "not-bobs").await {
        Err(e) => assert_eq!(e, zk::Error::AuthFailed),
        Ok(c) => assert_eq!(
            c.get_data("/").await.map(|_| ()),
            Err(zk::Error::AuthFailed)
        ),
    }

    // On the wire: the challenge names ZooKeeper's realm; a bad response is answered with
    // err AuthFailed, zxid 0 and a null token, then the connection closes.
    let mut s = Session::connect(server.addr(), 10_000);
    let challenge = s.request(OP_SASL, &sasl_token(b""));
    assert_eq!(challenge.err, 0);
    assert_eq!(challenge.zxid, 0);
    let token = challenge.reader().bytes().expect("a challenge token");
    let text = String::from_utf8(token).expect("text");
    assert!(text.starts_with("realm=\"zk-sasl-md5\",nonce=\""), "{text}");
    assert!(
        text.ends_with(",charset=utf-8,algorithm=md5-sess"),
        "{text}"
    );
    let bad =
        sasl_token(b"username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"x\",cnonce=\"y\",response=00");
    let reply = s.request(OP_SASL, &bad);
    assert_eq!((reply.err, reply.zxid), (err::AUTH_FAILED, 0));
    assert_eq!(reply.reader().bytes(), None, "null token");
    assert!(
        s.read_incoming().is_none(),
        "connection closed after the failure"
    );
}

#[tokio::test]
async fn sasl_super_user_passes_every_acl() {
    let sasl = Sasl::new();
    let Some(server) = sasl.start("sasl_super_user", &[("zookeeper.superUser", "carol")]) else {
        return;
    };
    let digest_owner = server.client().await;
    digest_owner
        .auth("digest".to_string(), b"dave:pw".to_vec())
        .await
        .expect("digest auth");
    let path = server.unique_path("sasl-super");
    let acl = zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("digest", &digest_id("dave", "pw")),
    );
    let acls = [acl];
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acls));
    digest_owner
        .create(&path, b"dave's", &opts)
        .await
        .expect("create");

    let carol = sasl_connect(&server, "carol", "carol_pw")
        .await
        .expect("carol authenticates");
    let bob = sasl_connect(&server, "bob", "bob_pw")
        .await
        .expect("bob authenticates");
    assert_eq!(
        carol.get_data(&path).await.expect("super reads").0,
        b"dave's"
    );
    assert_eq!(bob.get_data(&path).await, Err(zk::Error::NoAuth));
}

#[tokio::test]
async fn required_sasl_refuses_unauthenticated_requests_and_closes_the_connection() {
    let sasl = Sasl::new();
    let Some(server) = sasl.start(
        "sasl_required",
        &[("zookeeper.sessionRequireClientSASLAuth", "true")],
    ) else {
        return;
    };
    // Authenticated, everything works.
    let bob = sasl_connect(&server, "bob", "bob_pw")
        .await
        .expect("bob authenticates");
    assert!(bob.get_data("/").await.is_ok());

    // Not authenticated: the first request is answered SessionClosedRequireSaslAuth (zxid 0),
    // then the connection is closed.
    let mut s = Session::connect(server.addr(), 10_000);
    let who = s.request(OP_WHO_AM_I, &[]);
    assert_eq!(
        (who.err, who.zxid),
        (err::SESSION_CLOSED_REQUIRE_SASL_AUTH, 0)
    );
    assert!(s.read_incoming().is_none(), "connection closed");

    // A failed exchange is answered with the same code.
    let mut s = Session::connect(server.addr(), 10_000);
    assert_eq!(s.request(OP_SASL, &sasl_token(b"")).err, 0, "challenge");
    let reply = s.request(OP_SASL, &sasl_token(b"bogus"));
    assert_eq!(reply.err, err::SESSION_CLOSED_REQUIRE_SASL_AUTH);
    assert!(s.read_incoming().is_none(), "connection closed");
}

#[tokio::test]
async fn allow_sasl_failed_clients_keeps_the_connection_unauthenticated() {
    let sasl = Sasl::new();
    let Some(server) = sasl.start("sasl_allow_failed", &[("allowSaslFailedClients", "true")])
    else {
        return;
    };
    let mut s = Session::connect(server.addr(), 10_000);
    assert_eq!(s.request(OP_SASL, &sasl_token(b"")).err, 0, "challenge");
    let reply = s.request(OP_SASL, &sasl_token(b"bogus"));
    assert_eq!((reply.err, reply.reader().bytes()), (0, None));
    let who = s.request(OP_WHO_AM_I, &[]);
    assert_eq!(who.err, 0, "the connection still serves");
    let mut r = who.reader();
    let n = r.int();
    let schemes: Vec<String> = (0..n)
        .map(|_| {
            let scheme = r.string().unwrap_or_default();
            let _user = r.string();
            scheme
        })
        .collect();
    assert!(!schemes.iter().any(|s| s == "sasl"), "{schemes:?}");
}
