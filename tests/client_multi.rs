//! multi and multiRead: per-op results, all-or-nothing rollback with ZooKeeper's per-op error
//! codes (PROTOCOL.md §4.1), check ops that see earlier ops of the same multi, and multiRead's
//! independent results. Client-level tests use `zookeeper-client`; wire-level ones the raw
//! session from `common::raw`.

mod common;

use common::raw::{self, MultiResult, Session, err, op, req};
use common::{Server, mk, persistent};
use zookeeper_client as zk;

#[tokio::test]
async fn multi_success_returns_each_ops_result() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("multi-ok");
    mk(&c, &root).await;
    let (a, b) = (format!("{root}/a"), format!("{root}/b"));

    let mut w = c.new_multi_writer();
    w.add_create(&a, b"one", &persistent()).unwrap();
    w.add_create(&b, b"", &persistent()).unwrap();
    w.add_set_data(&a, b"two", Some(0)).unwrap();
    w.add_check_version(&b, 0).unwrap();
    w.add_delete(&b, Some(0)).unwrap();
    let results = w.commit().await.unwrap();
    assert_eq!(results.len(), 5, "{results:?}");

    let (_, a_now) = c.get_data(&a).await.unwrap();
    assert!(matches!(&results[0], zk::MultiWriteResult::Create { path, .. } if *path == a));
    assert!(matches!(&results[1], zk::MultiWriteResult::Create { path, .. } if *path == b));
    match &results[2] {
        zk::MultiWriteResult::SetData { stat } => assert_eq!(*stat, a_now),
        other => panic!("expected SetData, got {other:?}"),
    }
    assert_eq!(results[3], zk::MultiWriteResult::Check);
    assert_eq!(results[4], zk::MultiWriteResult::Delete);

    assert_eq!(c.get_data(&a).await.unwrap().0, b"two");
    assert_eq!(a_now.version, 1);
    assert_eq!(
        a_now.czxid, a_now.mzxid,
        "every op of a multi carries the same zxid"
    );
    assert_eq!(c.check_stat(&b).await.unwrap(), None);
    common::rmr(&c, &root).await;
}

/// 3.9 answers a create2 inside multi with a Create2Response (ZOOKEEPER-4026); 3.8 drops the stat.
#[tokio::test]
async fn multi_create2_result_carries_the_real_stat() {
    if common::skip_on_zk38(
        "multi_create2_result_carries_the_real_stat",
        "3.8 returns no stat (ZOOKEEPER-4026)",
    ) {
        return;
    }
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("multi-stat");
    mk(&c, &root).await;
    let a = format!("{root}/a");
    let mut w = c.new_multi_writer();
    w.add_create(&a, b"abc", &persistent()).unwrap();
    let results = w.commit().await.unwrap();
    let (_, stat) = c.get_data(&a).await.unwrap();
    match &results[..] {
        [
            zk::MultiWriteResult::Create {
                path,
                stat: created,
            },
        ] => {
            assert_eq!(path, &a);
            assert_eq!(*created, stat);
            assert_eq!(created.data_length, 3);
        }
        other => panic!("unexpected results {other:?}"),
    }
    common::rmr(&c, &root).await;
}

#[tokio::test]
async fn multi_failure_rolls_back_every_op() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("multi-rollback");
    mk(&c, &root).await;
    let existing = format!("{root}/existing");
    mk(&c, &existing).await;
    let (_, parent_before) = c.get_data(&root).await.unwrap();

    let mut w = c.new_multi_writer();
    w.add_create(&format!("{root}/x"), b"", &persistent())
        .unwrap();
    w.add_set_data(&existing, b"changed", None).unwrap();
    w.add_delete(&format!("{root}/missing"), None).unwrap();
    w.add_create(&format!("{root}/y"), b"", &persistent())
        .unwrap();
    match w.commit().await {
        Err(zk::MultiWriteError::OperationFailed { index, source }) => {
            assert_eq!(index, 2);
            assert_eq!(source, zk::Error::NoNode);
        }
        other => panic!("expected op 2 to fail, got {other:?}"),
    }
    assert_eq!(c.check_stat(&format!("{root}/x")).await.unwrap(), None);
    assert_eq!(c.check_stat(&format!("{root}/y")).await.unwrap(), None);
    let (data, stat) = c.get_data(&existing).await.unwrap();
    assert_eq!((data.as_slice(), stat.version), (&b""[..], 0));
    let (_, parent_after) = c.get_data(&root).await.unwrap();
    assert_eq!(parent_after, parent_before, "the parent is untouched");
    common::rmr(&c, &root).await;
}

#[test]
fn multi_failure_reports_ok_then_the_error_then_runtime_inconsistency() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let root = server.unique_path("multi-codes");
    s.create(&root, b"", 0).ok();
    let a = format!("{root}/a");
    s.create(&a, b"", 0).ok();

    let body = req::multi(&[
        (op::CREATE, req::create(&format!("{root}/x"), b"", 0)),
        (op::SET_DATA, req::set_data(&a, b"v", -1)),
        (op::CHECK, req::check(&a, 42)),
        (op::CREATE, req::create(&format!("{root}/y"), b"", 0)),
        (op::DELETE, req::delete(&a, -1)),
    ]);
    let reply = s.request(op::MULTI, &body);
    assert_eq!(
        reply.err, 0,
        "a failed multi still answers err 0 in the header"
    );
    let results = raw::parse_multi(&reply.body);
    assert_eq!(
        results,
        vec![
            MultiResult::Error { err: err::OK },
            MultiResult::Error { err: err::OK },
            MultiResult::Error {
                err: err::BAD_VERSION
            },
            MultiResult::Error {
                err: err::RUNTIME_INCONSISTENCY
            },
            MultiResult::Error {
                err: err::RUNTIME_INCONSISTENCY
            },
        ]
    );
    assert_eq!(s.exists(&format!("{root}/x"), false).err, err::NO_NODE);
    let a_stat = s.exists(&a, false).ok().reader().stat();
    assert_eq!(a_stat.version, 0);
    for p in [a.as_str(), root.as_str()] {
        s.delete(p, -1).ok();
    }
    s.close();
}

#[test]
fn multi_check_sees_the_effects_of_earlier_ops_in_the_same_multi() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let root = server.unique_path("multi-check");
    s.create(&root, b"", 0).ok();
    let z = format!("{root}/z");
    let body = req::multi(&[
        (op::CREATE, req::create(&z, b"", 0)),
        (op::CHECK, req::check(&z, 0)),
        (op::SET_DATA, req::set_data(&z, b"1", 0)),
        (op::CHECK, req::check(&z, 1)),
        (op::SET_DATA, req::set_data(&z, b"2", 1)),
    ]);
    let reply = s.request(op::MULTI, &body).ok();
    let results = raw::parse_multi(&reply.body);
    assert_eq!(results.len(), 5);
    assert_eq!(
        results[0],
        MultiResult::Create {
            path: z.clone(),
            stat: None
        }
    );
    assert_eq!(results[1], MultiResult::Check);
    assert_eq!(results[3], MultiResult::Check);
    let MultiResult::SetData { stat } = results[4] else {
        panic!("expected SetData, got {:?}", results[4]);
    };
    assert_eq!(stat.version, 2);
    assert_eq!(stat.czxid, stat.mzxid, "one zxid for the whole multi");
    assert!(
        reply.zxid >= stat.mzxid,
        "the reply header carries the last processed zxid"
    );
    let data = s.get_data(&z, false).ok();
    assert_eq!(data.reader().bytes(), Some(b"2".to_vec()));

    // A check that fails because an earlier op of the same multi changed the version.
    let body = req::multi(&[
        (op::SET_DATA, req::set_data(&z, b"3", -1)),
        (op::CHECK, req::check(&z, 2)),
    ]);
    let results = raw::parse_multi(&s.request(op::MULTI, &body).ok().body);
    assert_eq!(
        results,
        vec![
            MultiResult::Error { err: err::OK },
            MultiResult::Error {
                err: err::BAD_VERSION
            }
        ]
    );
    for p in [z.as_str(), root.as_str()] {
        s.delete(p, -1).ok();
    }
    s.close();
}

#[test]
fn multi_create2_op_answers_with_create2_response() {
    if common::skip_on_zk38(
        "multi_create2_op_answers_with_create2_response",
        "3.8 answers create (ZOOKEEPER-4026)",
    ) {
        return;
    }
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let root = server.unique_path("multi-c2");
    let body = req::multi(&[
        (op::CREATE2, req::create(&root, b"xy", 0)),
        (op::CREATE, req::create(&format!("{root}/c"), b"", 0)),
    ]);
    let results = raw::parse_multi(&s.request(op::MULTI, &body).ok().body);
    let stat = s.exists(&root, false).ok().reader().stat();
    match &results[..] {
        [
            MultiResult::Create {
                path,
                stat: Some(created),
            },
            MultiResult::Create {
                path: child,
                stat: None,
            },
        ] => {
            assert_eq!(path, &root);
            assert_eq!(created.czxid, stat.czxid);
            assert_eq!(created.data_length, 2);
            assert_eq!(child, &format!("{root}/c"));
        }
        other => panic!("unexpected results {other:?}"),
    }
    s.delete(&format!("{root}/c"), -1).ok();
    s.delete(&root, -1).ok();
    s.close();
}

#[test]
fn empty_multi_succeeds_with_no_results() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let reply = s.request(op::MULTI, &req::multi(&[])).ok();
    assert!(raw::parse_multi(&reply.body).is_empty());
    s.close();
}

#[test]
fn multi_mixing_reads_and_writes_is_a_marshalling_error() {
    let server = Server::start();
    let mut s = Session::connect(server.addr(), 30_000);
    let root = server.unique_path("multi-mixed");
    let body = req::multi(&[
        (op::CREATE, req::create(&root, b"", 0)),
        (op::GET_DATA, req::path_watch("/", false)),
    ]);
    let reply = s.request(op::MULTI, &body);
    assert_eq!(reply.err, err::MARSHALLING_ERROR);
    assert_eq!(
        s.exists(&root, false).err,
        err::NO_NODE,
        "nothing was applied"
    );
    s.ping();
    s.close();
}

#[tokio::test]
async fn multi_read_returns_independent_per_op_results() {
    let server = Server::start();
    let c = server.client().await;
    let root = server.unique_path("multi-read");
    c.create(&root, b"root-data", &persistent()).await.unwrap();
    mk(&c, &format!("{root}/k1")).await;
    mk(&c, &format!("{root}/k2")).await;

    let mut r = c.new_multi_reader();
    r.add_get_data(&root).unwrap();
    r.add_get_children(&root).unwrap();
    r.add_get_data(&format!("{root}/missing")).unwrap();
    r.add_get_children(&format!("{root}/k1")).unwrap();
    let results = r.commit().await.unwrap();
    assert_eq!(results.len(), 4);
    let (_, root_stat) = c.get_data(&root).await.unwrap();
    match &results[0] {
        zk::MultiReadResult::Data { data, stat } => {
            assert_eq!(data, b"root-data");
            assert_eq!(*stat, root_stat);
        }
        other => panic!("expected Data, got {other:?}"),
    }
    match &results[1] {
        zk::MultiReadResult::Children { children } => {
            let mut children = children.clone();
            children.sort();
            assert_eq!(children, vec!["k1", "k2"]);
        }
        other => panic!("expected Children, got {other:?}"),
    }
    assert!(
        matches!(
            &results[2],
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(&results[3], zk::MultiReadResult::Children { children } if children.is_empty())
    );
    common::rmr(&c, &root).await;
}
