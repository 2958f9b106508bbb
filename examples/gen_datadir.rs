//! Writes a ZooKeeper-format data directory for restart measurements: a
//! snapshot of N znodes (100 B of data each, under /bench/pXXX/nYYYY) and a
//! txn log of M setData txns after it — the files both corral and Apache
//! ZooKeeper start from. Used by `perf/restart.sh`.
//!
//! `cargo run --release --example gen_datadir -- DIR NODES TXNS`

use bytes::{Bytes, BytesMut};
use corral::proto::records::Acl;
use corral::proto::txn::{Txn, TxnHeader};
use corral::proto::{OpCode, SessionId, ZData, Zxid};
use corral::storage::format::{self, LOG_DBID, LOG_MAGIC, LOG_PREFIX};
use corral::storage::{recovery, snapshot};
use corral::tree::DataTree;
use parking_lot::RwLock;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: gen_datadir DIR NODES TXNS");
        std::process::exit(2);
    }
    let dir = std::path::PathBuf::from(&args[1]);
    let nodes: u64 = args[2].parse().expect("NODES");
    let txns: u64 = args[3].parse().expect("TXNS");
    let snap_dir = recovery::version_dir(&dir.join("data")).unwrap();
    let log_dir = recovery::version_dir(&dir.join("log")).unwrap();
    let mut tree = DataTree::new();
    let mut zxid = 0i64;
    let value = Bytes::from(vec![b'v'; 100]);
    let mut apply = |tree: &mut DataTree, txn: Txn| {
        zxid += 1;
        let hdr = TxnHeader {
            session_id: SessionId(0),
            cxid: 0,
            zxid: Zxid(zxid),
            time_ms: 1_763_000_000_000,
            op: txn.op().as_i32(),
        };
        tree.apply(&hdr, &txn, &mut Vec::new()).unwrap();
        (hdr, txn)
    };
    let create = |path: String, pcv: i32| Txn::Create {
        op: OpCode::Create,
        path: path.into(),
        data: ZData::from(value.clone()),
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_cversion: pcv,
    };
    apply(&mut tree, create("/bench".into(), 2));
    let per_parent = 1000u64;
    let parents = nodes.div_ceil(per_parent);
    for p in 0..parents {
        apply(&mut tree, create(format!("/bench/p{p:04}"), p as i32 + 1));
        for n in 0..per_parent.min(nodes - p * per_parent) {
            apply(
                &mut tree,
                create(format!("/bench/p{p:04}/n{n:05}"), n as i32 + 1),
            );
        }
    }
    let snap_zxid = tree.last_zxid();
    let tree = RwLock::new(tree);
    let (path, size) = snapshot::take(&tree, &[], snap_zxid, &snap_dir).unwrap();
    eprintln!(
        "{}: {} nodes, {size} bytes",
        path.display(),
        tree.read().node_count()
    );
    // The log: setData txns over existing nodes, after the snapshot.
    let mut out = BytesMut::new();
    out.extend_from_slice(&format::file_header(LOG_MAGIC, LOG_DBID));
    let mut t = tree.write();
    for i in 0..txns {
        let p = i % parents;
        let n = (i / parents) % per_parent.min(nodes);
        let path = format!("/bench/p{p:04}/n{n:05}");
        let version = t.get(&path).map(|n| n.version + 1).unwrap_or(1);
        let (hdr, txn) = apply(
            &mut t,
            Txn::SetData {
                path: path.into(),
                data: ZData::from(value.clone()),
                version,
            },
        );
        format::encode_log_record(&mut out, &hdr, &txn);
    }
    out.extend_from_slice(&vec![0u8; 4096]);
    let log = log_dir.join(format::file_name(LOG_PREFIX, snap_zxid.next()));
    std::fs::write(&log, &out).unwrap();
    eprintln!("{}: {txns} txns, {} bytes", log.display(), out.len());
}
