//! Micro-benchmarks of the read path's pieces: decoding a getData request,
//! encoding its reply, and looking a node up in trees of 10k znodes.
//! Run: `cargo bench --bench hot_path`. Results go to perf/ with the machine.

use bytes::{Bytes, BytesMut};
use corral::proto::request::encode_request;
use corral::proto::txn::{Txn, TxnHeader};
use corral::proto::{Acl, OpCode, Reader, Request, Response, SessionId, Stat, Writer, Zxid};
use corral::tree::DataTree;
use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn tree_with(n: usize) -> DataTree {
    let mut tree = DataTree::new();
    let mut triggers = Vec::new();
    for i in 0..n {
        let hdr = TxnHeader {
            session_id: SessionId(1),
            cxid: i as i32,
            zxid: Zxid(i as i64 + 1),
            time_ms: 0,
            op: 1,
        };
        let txn = Txn::Create {
            op: OpCode::Create,
            path: format!("/node-{i:08}").into(),
            data: Bytes::from(vec![b'x'; 100]).into(),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: i as i32 + 1,
        };
        let _ = tree.apply(&hdr, &txn, &mut triggers);
        triggers.clear();
    }
    tree
}

fn codec(c: &mut Criterion) {
    let mut b = BytesMut::new();
    encode_request(
        &mut Writer::new(&mut b),
        &Request::GetData {
            path: "/node-00001234".into(),
            watch: false,
        },
    );
    let frame = b.freeze();
    c.bench_function("decode getData request", |bench| {
        bench.iter(|| Request::decode(OpCode::GetData, &mut Reader::new(black_box(frame.clone()))))
    });
    let resp = Response::Data(Bytes::from(vec![b'x'; 100]).into(), Stat::default());
    let mut out = BytesMut::with_capacity(1 << 16);
    c.bench_function("encode getData reply", |bench| {
        bench.iter(|| {
            out.clear();
            let mut w = Writer::new(&mut out);
            let at = w.begin_frame();
            black_box(&resp).encode(&mut w);
            w.end_frame(at);
        })
    });
}

fn tree_get(c: &mut Criterion) {
    let tree = tree_with(10_000);
    c.bench_function("tree get 10k znodes", |bench| {
        bench.iter(|| tree.get(black_box("/node-00004321")).map(|n| n.stat()))
    });
}

criterion_group!(benches, codec, tree_get);
criterion_main!(benches);
