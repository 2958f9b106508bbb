//! Micro-benchmarks of the hot records and the sans-I/O core:
//! * codec: decode/encode of the requests and replies every op touches, the
//!   txn a setData becomes, and the client side (`client::SessionCodec`);
//! * tree: get / setData / create+delete / getChildren at 10k and 1M znodes
//!   (each tree is built once per group; the 1M build takes a few seconds);
//! * prep: `Prep::prep` of setData, create and a two-op multi.
//!
//! Run: `cargo bench --bench core_ops` (`-- tree_1m` for one group). Log
//! append benches belong to the storage issue.

use bytes::{Bytes, BytesMut};
use corral::client::{Incoming, SessionCodec};
use corral::proto::request::{CreateRequest, encode_request};
use corral::proto::txn::{Txn, TxnHeader};
use corral::proto::{
    Acl, ConnectResponse, OpCode, Reader, ReplyHeader, Request, Response, SessionId, Stat, Writer,
    ZString, Zxid,
};
use corral::sequencer::prep::{Prep, PrepConfig, Prepped, WriteRequest};
use corral::tree::DataTree;
use corral::tree::acl::AuthContext;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::sync::Arc;

const VALUE_BYTES: usize = 100;
/// Children of `/dir`, the getChildren target.
const DIR_CHILDREN: usize = 10;

fn value() -> Bytes {
    Bytes::from(vec![b'v'; VALUE_BYTES])
}

fn node_path(i: usize) -> String {
    format!("/node-{i:08}")
}

/// Applies txns to a tree, numbering zxids.
struct Applier {
    tree: DataTree,
    zxid: i64,
    triggers: Vec<corral::tree::Trigger>,
}

impl Applier {
    fn apply(&mut self, txn: Txn) {
        self.zxid += 1;
        let hdr = TxnHeader {
            session_id: SessionId(1),
            cxid: 1,
            zxid: Zxid(self.zxid),
            time_ms: 0,
            op: txn_op(&txn),
        };
        let _ = self.tree.apply(&hdr, &txn, &mut self.triggers);
        self.triggers.clear();
    }
}

fn txn_op(txn: &Txn) -> i32 {
    match txn {
        Txn::Create { .. } => 1,
        Txn::Delete { .. } => 2,
        Txn::SetData { .. } => 5,
        _ => -1,
    }
}

fn create_txn(path: &str, parent_cversion: i32) -> Txn {
    Txn::Create {
        op: OpCode::Create,
        path: path.into(),
        data: value().into(),
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_cversion,
    }
}

/// A tree of `n` znodes of 100 B under the root, plus `/dir` with a few children.
fn build_tree(n: usize) -> Applier {
    let mut a = Applier {
        tree: DataTree::new(),
        zxid: 0,
        triggers: Vec::new(),
    };
    for i in 0..n {
        a.apply(create_txn(&node_path(i), i as i32 + 1));
    }
    a.apply(create_txn("/dir", n as i32 + 1));
    for i in 0..DIR_CHILDREN {
        a.apply(create_txn(&format!("/dir/c{i}"), i as i32 + 1));
    }
    a
}

fn frame_of(req: &Request) -> Bytes {
    let mut b = BytesMut::new();
    encode_request(&mut Writer::new(&mut b), req);
    b.freeze()
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    let set = Request::SetData {
        path: "/corral-bench/k/0000001234".into(),
        data: value().into(),
        version: -1,
    };
    let create = Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: "/corral-bench/t/t0s1-42".into(),
            data: value().into(),
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl_ms: -1,
        },
    };
    let get = Request::GetData {
        path: "/corral-bench/k/0000001234".into(),
        watch: false,
    };
    for (name, op, req) in [
        ("getData", OpCode::GetData, &get),
        ("setData", OpCode::SetData, &set),
        ("create", OpCode::Create, &create),
    ] {
        let frame = frame_of(req);
        g.bench_function(format!("decode {name} request"), |b| {
            b.iter(|| Request::decode(op, &mut Reader::new(black_box(frame.clone()))))
        });
        let mut out = BytesMut::with_capacity(1 << 16);
        g.bench_function(format!("encode {name} request"), |b| {
            b.iter(|| {
                out.clear();
                encode_request(&mut Writer::new(&mut out), black_box(req));
            })
        });
    }
    let stat = Stat {
        czxid: 7,
        mzxid: 9,
        version: 3,
        data_length: VALUE_BYTES as i32,
        ..Stat::default()
    };
    let replies = [
        ("getData", Response::Data(value().into(), stat)),
        ("setData", Response::Stat(stat)),
        (
            "getChildren(10)",
            Response::Children((0..10).map(|i| ZString::from(format!("c{i}"))).collect()),
        ),
    ];
    let mut out = BytesMut::with_capacity(1 << 16);
    for (name, resp) in &replies {
        g.bench_function(
            format!("encode {name} reply (header + body, framed)"),
            |b| {
                b.iter(|| {
                    out.clear();
                    let mut w = Writer::new(&mut out);
                    let at = w.begin_frame();
                    ReplyHeader {
                        xid: 5,
                        zxid: 9,
                        err: 0,
                    }
                    .encode(&mut w);
                    black_box(resp).encode(&mut w);
                    w.end_frame(at);
                })
            },
        );
    }
    // The txn a setData becomes: header + record, as the log will carry it.
    let hdr = TxnHeader {
        session_id: SessionId(0x100),
        cxid: 5,
        zxid: Zxid(0x1_0000_0042),
        time_ms: 1_700_000_000_000,
        op: 5,
    };
    let txn = Txn::SetData {
        path: "/corral-bench/k/0000001234".into(),
        data: value().into(),
        version: 4,
    };
    g.bench_function("encode setData txn (header + record)", |b| {
        b.iter(|| {
            out.clear();
            let mut w = Writer::new(&mut out);
            black_box(&hdr).encode(&mut w);
            black_box(&txn).encode(&mut w);
        })
    });
    out.clear();
    {
        let mut w = Writer::new(&mut out);
        hdr.encode(&mut w);
        txn.encode(&mut w);
    }
    let txn_bytes = out.clone().freeze();
    g.bench_function("decode setData txn (header + record)", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(txn_bytes.clone()));
            let h = TxnHeader::decode(&mut r);
            (h, Txn::decode(5, &mut r))
        })
    });
    g.finish();
}

/// The load generator's per-op client work: frame a getData, then take its reply apart.
fn client(c: &mut Criterion) {
    let mut g = c.benchmark_group("client");
    let mut codec: SessionCodec<u64> = SessionCodec::new(30_000);
    let n = codec.output().len();
    codec.consume_output(n);
    let mut hs = BytesMut::new();
    {
        let mut w = Writer::new(&mut hs);
        let at = w.begin_frame();
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 30_000,
            session_id: SessionId(1),
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        }
        .encode(&mut w);
        w.end_frame(at);
    }
    codec.input(&hs);
    assert!(matches!(
        codec.next_incoming(),
        Ok(Some(Incoming::Connected(_)))
    ));
    let path: ZString = "/corral-bench/k/0000001234".into();
    let stat = Stat::default();
    g.bench_function("send getData + receive and decode its reply", |b| {
        let mut reply = BytesMut::new();
        b.iter(|| {
            let xid = codec.send(
                &Request::GetData {
                    path: path.clone(),
                    watch: false,
                },
                1,
            );
            let n = codec.output().len();
            codec.consume_output(n);
            reply.clear();
            let mut w = Writer::new(&mut reply);
            let at = w.begin_frame();
            ReplyHeader {
                xid: xid.0,
                zxid: 1,
                err: 0,
            }
            .encode(&mut w);
            Response::Data(value().into(), stat).encode(&mut w);
            w.end_frame(at);
            codec.input(&reply);
            match codec.next_incoming() {
                Ok(Some(Incoming::Reply(r))) => black_box(r.decode().is_ok()),
                _ => false,
            }
        })
    });
    g.finish();
}

fn tree_group(c: &mut Criterion, n: usize, label: &str) {
    let mut a = build_tree(n);
    let mut g = c.benchmark_group(label);
    if n >= 1_000_000 {
        g.sample_size(30);
    }
    let probe = node_path(n / 2);
    g.bench_function("get", |b| {
        b.iter(|| a.tree.get(black_box(&probe)).map(|node| a.tree.stat(node)))
    });
    let auth = AuthContext::default();
    let children = Request::GetChildren {
        path: "/dir".into(),
        watch: false,
    };
    g.bench_function("getChildren (10 children)", |b| {
        b.iter(|| corral::tree::read::execute(&a.tree, black_box(&children), &auth, SessionId(1)))
    });
    let target: ZString = probe.as_str().into();
    let data = value();
    g.bench_function("apply setData", |b| {
        b.iter(|| {
            a.apply(Txn::SetData {
                path: target.clone(),
                data: data.clone().into(),
                version: 1,
            })
        })
    });
    let fresh = "/node-new";
    g.bench_function("apply create + delete", |b| {
        b.iter(|| {
            a.apply(create_txn(fresh, 1));
            a.apply(Txn::Delete {
                op: OpCode::Delete,
                path: fresh.into(),
            });
        })
    });
    g.finish();
}

fn tree_10k(c: &mut Criterion) {
    tree_group(c, 10_000, "tree_10k");
}

fn tree_1m(c: &mut Criterion) {
    tree_group(c, 1_000_000, "tree_1m");
}

fn prep(c: &mut Criterion) {
    let a = build_tree(10_000);
    let mut prep = Prep::new(
        PrepConfig {
            extended_types_enabled: false,
            eager_acl_check: false,
            reconfig_enabled: false,
            jute_max_buffer: 1 << 20,
        },
        a.tree.last_zxid(),
    );
    let auth = Arc::new(AuthContext::default());
    let req = |request: Request| WriteRequest {
        session: SessionId(0x100),
        cxid: 1,
        request,
        auth: auth.clone(),
    };
    let set = req(Request::SetData {
        path: node_path(1234).into(),
        data: value().into(),
        version: -1,
    });
    let create = req(Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: "/node-new".into(),
            data: value().into(),
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl_ms: -1,
        },
    });
    let multi = req(Request::Multi(vec![
        Request::Check {
            path: node_path(1).into(),
            version: -1,
        },
        Request::SetData {
            path: node_path(2).into(),
            data: value().into(),
            version: -1,
        },
    ]));
    let mut g = c.benchmark_group("prep");
    for (name, r) in [
        ("setData", &set),
        ("create", &create),
        ("multi(check, setData)", &multi),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                // The change record is forgotten as the apply step would, so
                // the outstanding set stays empty between iterations.
                match prep.prep(&a.tree, black_box(r), 1_700_000_000_000) {
                    Prepped::Txn { hdr, .. } => prep.applied(hdr.zxid),
                    Prepped::Failed(e) => panic!("prep {name}: {e:?}"),
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, codec, client, prep, tree_10k, tree_1m);
criterion_main!(benches);
