//! ACLs and authentication: digest auth, NoAuth on reads and writes, CREATE/DELETE checked on
//! the parent, ADMIN for setACL and unredacted getACL, the `auth` scheme, ip ACLs with CIDR,
//! world, invalid ACLs, auth failure and the super digest.

mod common;

use common::raw::{Session, err, op, perm, req};
use common::{Server, digest_id, mk};
use zookeeper_client as zk;

/// `(perms, scheme, id)` entries of one raw ACL list.
type RawAcls<'a> = &'a [(i32, &'a str, &'a str)];

fn acl(perms: zk::Permission, scheme: &str, id: &str) -> zk::Acl {
    zk::Acl::new(perms, zk::AuthId::new(scheme, id))
}

async fn digest_client(server: &Server, user: &str, password: &str) -> zk::Client {
    let c = server.client().await;
    c.auth(
        "digest".to_string(),
        format!("{user}:{password}").into_bytes(),
    )
    .await
    .unwrap();
    c
}

async fn create_with_acl(c: &zk::Client, path: &str, acls: &[zk::Acl]) {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(acls));
    c.create(path, b"secret", &opts)
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

#[tokio::test]
async fn digest_acl_admits_the_authenticated_user_only() {
    let server = Server::start();
    let alice = digest_client(&server, "alice", "secret").await;
    let anon = server.client().await;
    let mallory = digest_client(&server, "alice", "wrong").await;
    let path = server.unique_path("acl-digest");
    create_with_acl(
        &alice,
        &path,
        &[acl(
            zk::Permission::ALL,
            "digest",
            &digest_id("alice", "secret"),
        )],
    )
    .await;

    assert_eq!(alice.get_data(&path).await.unwrap().0, b"secret");
    alice.set_data(&path, b"mine", None).await.unwrap();
    for (who, c) in [("anonymous", &anon), ("wrong password", &mallory)] {
        assert_eq!(
            c.get_data(&path).await,
            Err(zk::Error::NoAuth),
            "{who} getData"
        );
        assert_eq!(
            c.set_data(&path, b"x", None).await,
            Err(zk::Error::NoAuth),
            "{who} setData"
        );
        assert_eq!(
            c.list_children(&path).await,
            Err(zk::Error::NoAuth),
            "{who} getChildren"
        );
        assert_eq!(
            c.get_children(&path).await,
            Err(zk::Error::NoAuth),
            "{who} getChildren2"
        );
        assert_eq!(
            c.get_acl(&path).await,
            Err(zk::Error::NoAuth),
            "{who} getACL"
        );
        assert_eq!(
            c.create(&format!("{path}/kid"), b"", &common::persistent())
                .await,
            Err(zk::Error::NoAuth),
            "{who} create child"
        );
    }
    assert_eq!(
        alice.get_data(&path).await.unwrap().0,
        b"mine",
        "nothing changed"
    );
    alice.delete(&path, None).await.unwrap();
}

/// exists checks READ since 3.9.2 (ZOOKEEPER-2590); before that it answered anyone.
#[tokio::test]
async fn exists_needs_read_permission() {
    if common::skip_on_zk38("exists_needs_read_permission", "3.8 exists ignores ACLs") {
        return;
    }
    let server = Server::start();
    let alice = digest_client(&server, "alice", "secret").await;
    let anon = server.client().await;
    let path = server.unique_path("acl-exists");
    create_with_acl(
        &alice,
        &path,
        &[acl(
            zk::Permission::ALL,
            "digest",
            &digest_id("alice", "secret"),
        )],
    )
    .await;
    assert_eq!(anon.check_stat(&path).await, Err(zk::Error::NoAuth));
    assert!(alice.check_stat(&path).await.unwrap().is_some());
    // A missing node is simply missing.
    assert_eq!(anon.check_stat(&format!("{path}-nope")).await, Ok(None));
    alice.delete(&path, None).await.unwrap();
}

#[tokio::test]
async fn create_and_delete_are_checked_on_the_parent() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("acl-parent");
    create_with_acl(
        &c,
        &root,
        &[acl(
            zk::Permission::READ
                | zk::Permission::WRITE
                | zk::Permission::DELETE
                | zk::Permission::ADMIN,
            "world",
            "anyone",
        )],
    )
    .await;
    assert_eq!(
        c.create(&format!("{root}/kid"), b"", &common::persistent())
            .await,
        Err(zk::Error::NoAuth),
        "CREATE is needed on the parent"
    );

    // The child grants nothing, the parent grants DELETE: the delete goes through.
    let open = server.unique_path("acl-parent-open");
    mk(&c, &open).await;
    let locked = format!("{open}/locked");
    create_with_acl(&c, &locked, &[acl(zk::Permission::NONE, "world", "anyone")]).await;
    assert_eq!(c.get_data(&locked).await, Err(zk::Error::NoAuth));
    c.delete(&locked, None).await.unwrap();

    // The child grants everything, the parent lacks DELETE: refused.
    let kid = format!("{open}/kid");
    mk(&c, &kid).await;
    let no_delete = zk::Permission::READ
        | zk::Permission::WRITE
        | zk::Permission::CREATE
        | zk::Permission::ADMIN;
    c.set_acl(&open, &[acl(no_delete, "world", "anyone")], None)
        .await
        .unwrap();
    assert_eq!(c.delete(&kid, None).await, Err(zk::Error::NoAuth));
    c.set_acl(&open, &[acl(zk::Permission::ALL, "world", "anyone")], None)
        .await
        .unwrap();
    c.delete(&kid, None).await.unwrap();
    c.delete(&open, None).await.unwrap();
    c.set_acl(&root, &[acl(zk::Permission::ALL, "world", "anyone")], None)
        .await
        .unwrap();
    c.delete(&root, None).await.unwrap();
}

#[tokio::test]
async fn set_acl_needs_admin() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("acl-admin");
    let all_but_admin = zk::Permission::READ
        | zk::Permission::WRITE
        | zk::Permission::CREATE
        | zk::Permission::DELETE;
    create_with_acl(&c, &path, &[acl(all_but_admin, "world", "anyone")]).await;
    let open = [acl(zk::Permission::ALL, "world", "anyone")];
    assert_eq!(c.set_acl(&path, &open, None).await, Err(zk::Error::NoAuth));
    // Data writes are still fine: WRITE is granted.
    c.set_data(&path, b"w", None).await.unwrap();

    let admin_only = server.unique_path("acl-admin-only");
    create_with_acl(
        &c,
        &admin_only,
        &[acl(zk::Permission::ADMIN, "world", "anyone")],
    )
    .await;
    assert_eq!(c.get_data(&admin_only).await, Err(zk::Error::NoAuth));
    let stat = c.set_acl(&admin_only, &open, Some(0)).await.unwrap();
    assert_eq!(stat.aversion, 1);
    assert_eq!(c.get_data(&admin_only).await.unwrap().0, b"secret");
    c.delete(&admin_only, None).await.unwrap();
    c.delete(&path, None).await.unwrap();
}

/// getACL needs READ or ADMIN; without ADMIN the digest hashes are masked as `user:x`.
#[tokio::test]
async fn get_acl_masks_digests_for_callers_without_admin() {
    let server = Server::start();
    let alice = digest_client(&server, "alice", "secret").await;
    let anon = server.client().await;
    let path = server.unique_path("acl-getacl");
    let alice_id = digest_id("alice", "secret");
    let acls = [
        acl(zk::Permission::READ, "world", "anyone"),
        acl(zk::Permission::ALL, "digest", &alice_id),
    ];
    create_with_acl(&alice, &path, &acls).await;
    let (seen_by_alice, _) = alice.get_acl(&path).await.unwrap();
    assert_eq!(seen_by_alice, acls);
    let (seen_by_anon, _) = anon.get_acl(&path).await.unwrap();
    assert_eq!(
        seen_by_anon,
        vec![
            acl(zk::Permission::READ, "world", "anyone"),
            acl(zk::Permission::ALL, "digest", "alice:x")
        ]
    );
    alice.delete(&path, None).await.unwrap();
}

#[tokio::test]
async fn auth_scheme_acl_needs_an_authenticated_identity() {
    let server = Server::start();
    let anon = server.client().await;
    let path = server.unique_path("acl-auth");
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    assert_eq!(
        anon.create(&path, b"", &opts).await,
        Err(zk::Error::InvalidAcl),
        "ip is not an authenticated identity"
    );
    assert_eq!(anon.check_stat(&path).await, Ok(None));

    let alice = digest_client(&server, "alice", "secret").await;
    alice.create(&path, b"", &opts).await.unwrap();
    let (acls, _) = alice.get_acl(&path).await.unwrap();
    assert_eq!(
        acls,
        vec![acl(
            zk::Permission::ALL,
            "digest",
            &digest_id("alice", "secret")
        )],
        "auth: expands to the creator's ids"
    );
    assert_eq!(anon.get_data(&path).await, Err(zk::Error::NoAuth));
    alice.delete(&path, None).await.unwrap();
}

#[tokio::test]
async fn ip_acl_matches_addresses_and_cidr_ranges() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("acl-ip");
    mk(&c, &root).await;
    let cases = [
        ("exact", "127.0.0.1", true),
        ("cidr8", "127.0.0.0/8", true),
        ("cidr24", "127.0.0.0/24", true),
        ("other-net", "10.0.0.0/8", false),
        ("other-host", "127.0.0.2", false),
    ];
    for (name, id, allowed) in cases {
        let path = format!("{root}/{name}");
        create_with_acl(
            &c,
            &path,
            &[acl(zk::Permission::READ | zk::Permission::ADMIN, "ip", id)],
        )
        .await;
        let got = c.get_data(&path).await.map(|(d, _)| d);
        if allowed {
            assert_eq!(got, Ok(b"secret".to_vec()), "ip:{id}");
        } else {
            assert_eq!(got, Err(zk::Error::NoAuth), "ip:{id}");
        }
    }
    common::rmr(&c, &root).await;
}

#[tokio::test]
async fn world_read_acl_allows_reads_and_refuses_writes() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("acl-world");
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_read());
    c.create(&path, b"ro", &opts).await.unwrap();
    assert_eq!(c.get_data(&path).await.unwrap().0, b"ro");
    assert!(c.list_children(&path).await.unwrap().is_empty());
    assert_eq!(c.set_data(&path, b"x", None).await, Err(zk::Error::NoAuth));
    assert_eq!(
        c.create(&format!("{path}/k"), b"", &common::persistent())
            .await,
        Err(zk::Error::NoAuth)
    );
    // Deleting the node itself is decided by the (open) parent.
    c.delete(&path, None).await.unwrap();
}

#[test]
fn invalid_acls_are_refused() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("acl-invalid");
    let cases: [(&str, RawAcls); 6] = [
        ("empty list", &[]),
        ("unknown scheme", &[(perm::ALL, "nosuch", "x")]),
        ("digest id without hash", &[(perm::ALL, "digest", "alice")]),
        (
            "world id other than anyone",
            &[(perm::ALL, "world", "someone")],
        ),
        ("bad ip", &[(perm::ALL, "ip", "300.1.1.1")]),
        ("auth without identity", &[(perm::ALL, "auth", "")]),
    ];
    for (name, acls) in cases {
        let reply = s.request(op::CREATE, &req::create_acl(&path, b"", acls, 0));
        assert_eq!(reply.err, err::INVALID_ACL, "{name}");
    }
    assert_eq!(s.exists(&path, false).err, err::NO_NODE);
    // Permission bits 0 are a valid (if useless) ACL.
    s.request(
        op::CREATE,
        &req::create_acl(&path, b"", &[(0, "world", "anyone")], 0),
    )
    .ok();
    assert_eq!(s.get_data(&path, false).err, err::NO_AUTH);
    s.delete(&path, -1).ok();
    s.close();
}

#[test]
fn auth_with_unknown_scheme_fails_and_closes_the_connection() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    s.send(-4, op::AUTH, &req::auth("nosuchscheme", b"whatever"));
    let reply = s.reply_for(-4).expect("auth failure is answered");
    assert_eq!(reply.err, err::AUTH_FAILED);
    assert!(s.conn.frames_until_closed().is_empty());
}

#[tokio::test]
async fn auth_failure_is_reported_to_the_client() {
    let server = Server::start();
    let c = server.client().await;
    let got = common::guard("auth", c.auth("nosuchscheme".to_string(), b"x".to_vec())).await;
    assert_eq!(got, Err(zk::Error::AuthFailed));
}

#[test]
fn digest_auth_reply_uses_the_auth_xid() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    s.send(-4, op::AUTH, &req::auth("digest", b"alice:secret"));
    let reply = s.reply_for(-4).expect("answered");
    assert_eq!(reply.err, 0);
    let path = server.unique_path("acl-rawauth");
    let id = digest_id("alice", "secret");
    s.request(
        op::CREATE,
        &req::create_acl(&path, b"", &[(perm::ALL, "digest", &id)], 0),
    )
    .ok();
    s.get_data(&path, false).ok();
    s.delete(&path, -1).ok();
    s.close();
}

#[tokio::test]
async fn super_digest_user_bypasses_acls() {
    let super_id = digest_id("super", "hunter2");
    let Some(server) = Server::start_dedicated(
        "super_digest_user_bypasses_acls",
        &[(
            "DigestAuthenticationProvider.superDigest",
            super_id.as_str(),
        )],
    ) else {
        return;
    };
    let alice = digest_client(&server, "alice", "secret").await;
    let root_user = digest_client(&server, "super", "hunter2").await;
    let anon = server.client().await;
    let path = "/private";
    create_with_acl(
        &alice,
        path,
        &[acl(
            zk::Permission::ALL,
            "digest",
            &digest_id("alice", "secret"),
        )],
    )
    .await;
    assert_eq!(anon.get_data(path).await, Err(zk::Error::NoAuth));
    assert_eq!(root_user.get_data(path).await.unwrap().0, b"secret");
    root_user.set_data(path, b"overridden", None).await.unwrap();
    let open = [acl(zk::Permission::ALL, "world", "anyone")];
    root_user.set_acl(path, &open, None).await.unwrap();
    assert_eq!(anon.get_data(path).await.unwrap().0, b"overridden");
    // A wrong super password is just another digest identity.
    let impostor = digest_client(&server, "super", "guess").await;
    impostor
        .set_acl(
            path,
            &[acl(
                zk::Permission::READ,
                "digest",
                &digest_id("alice", "secret"),
            )],
            None,
        )
        .await
        .unwrap();
    assert_eq!(impostor.get_data(path).await, Err(zk::Error::NoAuth));
    assert_eq!(root_user.get_data(path).await.unwrap().0, b"overridden");
}
