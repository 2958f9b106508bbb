//! Data operations through an unmodified Rust ZooKeeper client (`zookeeper-client`): stats,
//! create modes, error codes, children, ACL versions, ephemerals, counts, sync and whoAmI.

mod common;

use std::time::Duration;

use common::{Server, guard, mk, persistent};
use zookeeper_client as zk;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn create_set_delete_track_versions_and_zxids() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("stat");
    let root_created = mk(&c, &root).await;
    let node = format!("{root}/n");

    let (created, _) = c.create(&node, b"v0", &persistent()).await.unwrap();
    assert!(created.czxid > root_created.czxid, "zxids increase");
    assert_eq!(
        created.mzxid, created.czxid,
        "a new node's mzxid is its czxid"
    );
    assert_eq!(
        created.pzxid, created.czxid,
        "a new node's pzxid is its czxid"
    );
    assert_eq!(
        (created.version, created.cversion, created.aversion),
        (0, 0, 0)
    );
    assert_eq!(created.data_length, 2);
    assert_eq!(created.num_children, 0);
    assert_eq!(created.ephemeral_owner, 0);
    assert_eq!(created.ctime, created.mtime);
    assert!(created.ctime > 0);

    let (data, stat) = c.get_data(&node).await.unwrap();
    assert_eq!(data, b"v0");
    assert_eq!(stat, created, "getData returns the stat create2 returned");

    let set1 = c.set_data(&node, b"v11", Some(0)).await.unwrap();
    assert_eq!(set1.version, 1);
    assert!(set1.mzxid > created.mzxid);
    assert_eq!(set1.czxid, created.czxid);
    assert_eq!(set1.pzxid, created.pzxid, "setData leaves pzxid alone");
    assert_eq!(set1.data_length, 3);
    assert!(set1.mtime >= set1.ctime);

    assert_eq!(
        c.set_data(&node, b"stale", Some(0)).await,
        Err(zk::Error::BadVersion)
    );
    let set2 = c.set_data(&node, b"", None).await.unwrap();
    assert_eq!(set2.version, 2, "version -1 matches any version");
    assert_eq!(set2.data_length, 0);

    let (_, parent) = c.get_data(&root).await.unwrap();
    assert_eq!(parent.num_children, 1);
    assert_eq!(parent.cversion, 1);
    assert_eq!(
        parent.pzxid, created.czxid,
        "parent pzxid = zxid of the child's create"
    );
    assert_eq!(
        parent.version, 0,
        "a child create does not change the parent's data version"
    );
    assert_eq!(parent.mzxid, root_created.mzxid);

    assert_eq!(c.delete(&node, Some(1)).await, Err(zk::Error::BadVersion));
    c.delete(&node, Some(2)).await.unwrap();
    assert_eq!(c.get_data(&node).await, Err(zk::Error::NoNode));
    let (_, parent) = c.get_data(&root).await.unwrap();
    assert_eq!(parent.num_children, 0);
    assert_eq!(parent.cversion, 2, "a child delete bumps cversion too");
    assert!(
        parent.pzxid > set2.mzxid,
        "parent pzxid = zxid of the child's delete"
    );

    c.delete(&root, None).await.unwrap();
}

#[tokio::test]
async fn create2_stat_matches_exists_and_get_data() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("create2");
    let (created, seq) = c.create(&root, b"hello", &persistent()).await.unwrap();
    assert_eq!(seq.into_i64(), -1, "no sequence for a plain node");
    assert_eq!(c.check_stat(&root).await.unwrap(), Some(created));
    assert_eq!(
        c.get_data(&root).await.unwrap(),
        (b"hello".to_vec(), created)
    );
    c.delete(&root, None).await.unwrap();
}

#[tokio::test]
async fn exists_on_missing_node_returns_none() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("missing");
    assert_eq!(c.check_stat(&path).await.unwrap(), None);
    assert_eq!(c.check_stat(&format!("{path}/deeper")).await.unwrap(), None);
}

#[tokio::test]
async fn ephemeral_node_is_owned_by_the_session() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("eph");
    let opts = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let (stat, _) = c.create(&path, b"", &opts).await.unwrap();
    assert_eq!(stat.ephemeral_owner, c.session_id().0);
    assert_ne!(stat.ephemeral_owner, 0);
    c.delete(&path, None).await.unwrap();
}

/// ZooKeeper keeps a per-parent count of child creates; the sequential suffix is that count, while
/// the cversion clients see is `2 * creates - children` (creates plus deletes, `DataNode.copyStat`).
#[tokio::test]
async fn sequential_suffix_counts_child_creates_in_ten_digits() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("seq");
    mk(&c, &root).await;
    // Two creates and one delete: two creates so far, visible cversion 3.
    mk(&c, &format!("{root}/a")).await;
    mk(&c, &format!("{root}/b")).await;
    c.delete(&format!("{root}/a"), None).await.unwrap();
    assert_eq!(c.check_stat(&root).await.unwrap().unwrap().cversion, 3);

    let seq_opts = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (stat, seq) = c
        .create(&format!("{root}/s-"), b"", &seq_opts)
        .await
        .unwrap();
    assert_eq!(seq.into_i64(), 2);
    assert_eq!(stat.ephemeral_owner, 0);
    let eseq_opts = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let (estat, eseq) = c
        .create(&format!("{root}/e-"), b"", &eseq_opts)
        .await
        .unwrap();
    assert_eq!(eseq.into_i64(), 3);
    assert_eq!(estat.ephemeral_owner, c.session_id().0);

    let (children, parent) = c.get_children(&root).await.unwrap();
    assert_eq!(sorted(children), vec!["b", "e-0000000003", "s-0000000002"]);
    assert_eq!(
        parent.cversion,
        2 * 4 - 3,
        "visible cversion = creates + deletes"
    );
    common::rmr(&c, &root).await;
}

#[tokio::test]
async fn sequential_suffix_is_shared_by_all_prefixes_under_a_parent() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("seqshared");
    mk(&c, &root).await;
    let seq_opts = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let mut got = Vec::new();
    for prefix in ["x-", "y-", "x-", "lock-"] {
        let (_, seq) = c
            .create(&format!("{root}/{prefix}"), b"", &seq_opts)
            .await
            .unwrap();
        got.push(seq.into_i64());
    }
    assert_eq!(got, vec![0, 1, 2, 3]);
    let children = sorted(c.list_children(&root).await.unwrap());
    assert_eq!(
        children,
        vec![
            "lock-0000000003",
            "x-0000000000",
            "x-0000000002",
            "y-0000000001"
        ]
    );
    common::rmr(&c, &root).await;
}

/// Containers and TTL nodes are marked in the stored ephemeralOwner, but clients are shown 0
/// (`DataNode.getClientEphemeralOwner`).
#[tokio::test]
async fn container_node_shows_clients_no_ephemeral_owner() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("container");
    let opts = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    let (stat, _) = c.create(&path, b"", &opts).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(stat.czxid, stat.mzxid);
    assert_eq!(c.check_stat(&path).await.unwrap(), Some(stat));
    // It takes children like a persistent node.
    mk(&c, &format!("{path}/child")).await;
    assert_eq!(c.list_children(&path).await.unwrap(), vec!["child"]);
    common::rmr(&c, &path).await;
}

#[tokio::test]
async fn empty_container_is_removed_after_its_last_child_goes() {
    let Some(server) = Server::start_dedicated(
        "empty_container_is_removed_after_its_last_child_goes",
        &[("znode.container.checkIntervalMs", "100")],
    ) else {
        return;
    };
    let c = server.client().await;
    let path = "/container";
    let opts = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    c.create(path, b"", &opts).await.unwrap();
    mk(&c, "/container/child").await;
    c.delete("/container/child", None).await.unwrap();
    guard("container removal", async {
        while c.check_stat(path).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // A container that never had a child stays.
    c.create("/fresh-container", b"", &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(c.check_stat("/fresh-container").await.unwrap().is_some());
}

async fn create_ttl_or_skip(
    c: &zk::Client,
    path: &str,
    ttl: Duration,
    test: &str,
) -> Option<zk::Stat> {
    let opts = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(ttl);
    match c.create(path, b"", &opts).await {
        Ok((stat, _)) => Some(stat),
        Err(zk::Error::Unimplemented) if common::is_external() => {
            common::skip(test, "external server has extendedTypesEnabled=false");
            None
        }
        Err(e) => panic!("TTL create: {e}"),
    }
}

#[tokio::test]
async fn ttl_node_is_created_and_shows_clients_no_ephemeral_owner() {
    let server = Server::start_with(&[("extendedTypesEnabled", "true")]);
    let c = server.client().await;
    let path = server.unique_path("ttl");
    let test = "ttl_node_is_created_and_shows_clients_no_ephemeral_owner";
    let Some(stat) = create_ttl_or_skip(&c, &path, Duration::from_millis(600_000), test).await
    else {
        return;
    };
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!(c.check_stat(&path).await.unwrap(), Some(stat));
    let seq_opts = zk::CreateMode::PersistentSequential
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_millis(600_000));
    let (seq_stat, seq) = c
        .create(&format!("{path}/s-"), b"", &seq_opts)
        .await
        .unwrap();
    assert_eq!(seq.into_i64(), 0);
    assert_eq!(seq_stat.ephemeral_owner, 0);
    common::rmr(&c, &path).await;
}

#[tokio::test]
async fn expired_ttl_node_without_children_is_removed() {
    let Some(server) = Server::start_dedicated(
        "expired_ttl_node_without_children_is_removed",
        &[
            ("extendedTypesEnabled", "true"),
            ("znode.container.checkIntervalMs", "100"),
        ],
    ) else {
        return;
    };
    let c = server.client().await;
    let opts = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_millis(200));
    c.create("/ttl", b"", &opts).await.unwrap();
    guard("TTL node removal", async {
        while c.check_stat("/ttl").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn ttl_create_is_unimplemented_without_extended_types() {
    let Some(server) =
        Server::start_dedicated("ttl_create_is_unimplemented_without_extended_types", &[])
    else {
        return;
    };
    let c = server.client().await;
    let opts = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_secs(10));
    assert_eq!(
        c.create("/ttl", b"", &opts).await,
        Err(zk::Error::Unimplemented)
    );
    assert_eq!(c.check_stat("/ttl").await.unwrap(), None);
}

#[tokio::test]
async fn error_codes_for_missing_existing_and_nonempty_nodes() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("errors");
    mk(&c, &root).await;
    let child = format!("{root}/child");
    mk(&c, &child).await;

    assert_eq!(
        c.get_data(&format!("{root}/nope")).await,
        Err(zk::Error::NoNode)
    );
    assert_eq!(
        c.set_data(&format!("{root}/nope"), b"", None).await,
        Err(zk::Error::NoNode)
    );
    assert_eq!(
        c.delete(&format!("{root}/nope"), None).await,
        Err(zk::Error::NoNode)
    );
    assert_eq!(
        c.list_children(&format!("{root}/nope")).await,
        Err(zk::Error::NoNode)
    );
    assert_eq!(
        c.create(&format!("{root}/nope/x"), b"", &persistent())
            .await,
        Err(zk::Error::NoNode),
        "create under a missing parent"
    );
    assert_eq!(
        c.create(&child, b"", &persistent()).await,
        Err(zk::Error::NodeExists)
    );
    assert_eq!(c.delete(&root, None).await, Err(zk::Error::NotEmpty));
    assert_eq!(
        c.set_data(&child, b"", Some(7)).await,
        Err(zk::Error::BadVersion)
    );
    assert_eq!(c.delete(&child, Some(7)).await, Err(zk::Error::BadVersion));

    let eph = format!("{root}/eph");
    let eph_opts = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c.create(&eph, b"", &eph_opts).await.unwrap();
    assert_eq!(
        c.create(&format!("{eph}/x"), b"", &persistent()).await,
        Err(zk::Error::NoChildrenForEphemerals)
    );
    let seq_opts = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    assert_eq!(
        c.create(&format!("{eph}/x-"), b"", &seq_opts).await,
        Err(zk::Error::NoChildrenForEphemerals)
    );
    // Nothing of the failed calls changed the tree.
    let (children, stat) = c.get_children(&root).await.unwrap();
    assert_eq!(sorted(children), vec!["child", "eph"]);
    assert_eq!(stat.cversion, 2);
    common::rmr(&c, &root).await;
}

#[tokio::test]
async fn get_children_and_get_children2_list_direct_children_only() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("children");
    mk(&c, &root).await;
    for name in ["a", "b", "c"] {
        mk(&c, &format!("{root}/{name}")).await;
    }
    mk(&c, &format!("{root}/a/deep")).await;

    assert_eq!(
        sorted(c.list_children(&root).await.unwrap()),
        vec!["a", "b", "c"]
    );
    let (children, stat) = c.get_children(&root).await.unwrap();
    assert_eq!(sorted(children), vec!["a", "b", "c"]);
    assert_eq!(stat.num_children, 3);
    assert_eq!(stat.cversion, 3);
    assert_eq!(stat, c.check_stat(&root).await.unwrap().unwrap());
    assert!(
        c.list_children(&format!("{root}/b"))
            .await
            .unwrap()
            .is_empty()
    );
    common::rmr(&c, &root).await;
}

#[tokio::test]
async fn get_acl_and_set_acl_track_aversion() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("acl");
    mk(&c, &path).await;
    let (acl, stat) = c.get_acl(&path).await.unwrap();
    assert_eq!(
        acl,
        vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())]
    );
    assert_eq!(stat.aversion, 0);

    let rwa = zk::Permission::READ | zk::Permission::WRITE | zk::Permission::ADMIN;
    let new_acl = vec![zk::Acl::new(rwa, zk::AuthId::anyone())];
    let set = c.set_acl(&path, &new_acl, Some(0)).await.unwrap();
    assert_eq!(set.aversion, 1);
    assert_eq!(set.version, 0, "setACL leaves the data version alone");
    assert_eq!(
        c.set_acl(&path, &new_acl, Some(0)).await,
        Err(zk::Error::BadVersion)
    );
    let (acl, stat) = c.get_acl(&path).await.unwrap();
    assert_eq!(acl, new_acl);
    assert_eq!(stat.aversion, 1);
    assert_eq!(
        c.set_acl(&format!("{path}/nope"), &new_acl, None).await,
        Err(zk::Error::NoNode)
    );
    c.delete(&path, None).await.unwrap();
}

#[tokio::test]
async fn get_ephemerals_lists_only_this_sessions_ephemerals_under_the_prefix() {
    let server = Server::start();
    let c = server.client().await;
    let other = server.client().await;
    let root = server.unique_path("ephemerals");
    mk(&c, &root).await;
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c.create(&format!("{root}/e1"), b"", &eph).await.unwrap();
    c.create(&format!("{root}/e2"), b"", &eph).await.unwrap();
    mk(&c, &format!("{root}/p")).await;
    other
        .create(&format!("{root}/theirs"), b"", &eph)
        .await
        .unwrap();

    let mine = sorted(c.list_ephemerals(&root).await.unwrap());
    assert_eq!(mine, vec![format!("{root}/e1"), format!("{root}/e2")]);
    let theirs = other.list_ephemerals(&root).await.unwrap();
    assert_eq!(theirs, vec![format!("{root}/theirs")]);
    drop(other);
    common::rmr(&c, &root).await;
}

#[tokio::test]
async fn get_all_children_number_counts_every_descendant() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("count");
    mk(&c, &root).await;
    for p in ["a", "a/b", "a/c", "d", "a/b/e"] {
        mk(&c, &format!("{root}/{p}")).await;
    }
    assert_eq!(c.count_descendants_number(&root).await.unwrap(), 5);
    assert_eq!(
        c.count_descendants_number(&format!("{root}/a"))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        c.count_descendants_number(&format!("{root}/d"))
            .await
            .unwrap(),
        0
    );
    common::rmr(&c, &root).await;
}

#[tokio::test]
async fn sync_then_read_sees_another_sessions_write() {
    let server = Server::start();
    let writer = server.client().await;
    let reader = server.client().await;
    let path = server.unique_path("sync");
    writer.create(&path, b"w", &persistent()).await.unwrap();
    reader.sync(&path).await.unwrap();
    assert_eq!(reader.get_data(&path).await.unwrap().0, b"w");
    writer.delete(&path, None).await.unwrap();
}

#[tokio::test]
async fn who_am_i_reports_ip_and_digest_identities() {
    let server = Server::start();
    let c = server.client().await;
    let users = c.list_auth_users().await.unwrap();
    assert_eq!(users, vec![zk::AuthUser::new("ip", "127.0.0.1")]);
    c.auth("digest".to_string(), b"alice:secret".to_vec())
        .await
        .unwrap();
    let mut users = c.list_auth_users().await.unwrap();
    users.sort_by(|a, b| a.scheme().cmp(b.scheme()));
    assert_eq!(
        users,
        vec![
            zk::AuthUser::new("digest", "alice"),
            zk::AuthUser::new("ip", "127.0.0.1")
        ]
    );
}

#[tokio::test]
async fn check_op_in_multi_guards_the_write() {
    let server = Server::start();
    let c = server.client().await;
    let path = server.unique_path("check");
    mk(&c, &path).await;
    let target = format!("{path}/t");
    mk(&c, &target).await;

    let mut w = c.new_check_writer(&path, Some(0)).unwrap();
    w.add_set_data(&target, b"guarded", None).unwrap();
    let results = w.commit().await.unwrap();
    assert!(
        matches!(results.as_slice(), [zk::MultiWriteResult::SetData { stat }] if stat.version == 1)
    );

    let mut w = c.new_check_writer(&path, Some(5)).unwrap();
    w.add_set_data(&target, b"blocked", None).unwrap();
    match w.commit().await {
        Err(zk::CheckWriteError::CheckFailed { source }) => {
            assert_eq!(source, zk::Error::BadVersion)
        }
        other => panic!("expected the check to fail, got {other:?}"),
    }
    assert_eq!(c.get_data(&target).await.unwrap().0, b"guarded");

    let mut w = c.new_check_writer(&format!("{path}/nope"), None).unwrap();
    w.add_set_data(&target, b"blocked", None).unwrap();
    match w.commit().await {
        Err(zk::CheckWriteError::CheckFailed { source }) => assert_eq!(source, zk::Error::NoNode),
        other => panic!("expected the check to fail, got {other:?}"),
    }
    common::rmr(&c, &path).await;
}
