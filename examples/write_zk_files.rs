//! Writes a small txn log (`log.1`) and snapshot (`snapshot.<zxid>`) with
//! corral's own writers (`format::file_header` + `encode_log_record`,
//! `snapshot::take`) into DIR, for Apache ZooKeeper's `TxnLogToolkit` and
//! `SnapshotFormatter` to read (tests/interop/zk_files_check.sh).
//!
//! Usage: cargo run --example write_zk_files -- DIR
//! Prints one line per file: `log PATH RECORDS` and `snapshot PATH NODES`.

use bytes::BytesMut;
use corral::proto::records::Acl;
use corral::proto::txn::{Txn, TxnHeader};
use corral::proto::{OpCode, SessionId, ZData, Zxid, perms};
use corral::storage::format;
use corral::storage::snapshot;
use corral::tree::DataTree;
use parking_lot::RwLock;
use std::path::PathBuf;

const SESSION: SessionId = SessionId(0x100_0000_0000_0001);

fn create(path: &str, data: &'static [u8], acl: Vec<Acl>, ephemeral: bool, pcv: i32) -> Txn {
    Txn::Create {
        op: OpCode::Create,
        path: path.into(),
        data: ZData::from(data),
        acl,
        ephemeral,
        parent_cversion: pcv,
    }
}

/// Every txn type a ZooKeeper 3.8 log can hold, in an order the tree accepts.
fn txns() -> Vec<Txn> {
    let open = Acl::open_unsafe();
    let secret = vec![Acl::new(
        perms::ALL,
        "digest",
        "u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=",
    )];
    vec![
        Txn::CreateSession { timeout_ms: 30_000 },
        create("/app", b"config v1", open.clone(), false, 1),
        create("/app/bin", b"\x00\x01\x02\xff", open.clone(), false, 1),
        Txn::SetData {
            path: "/app".into(),
            data: ZData::from(&b"config v2"[..]),
            version: 1,
        },
        create("/secret", b"s", secret, false, 2),
        create("/app/eph", b"owned", open.clone(), true, 2),
        Txn::CreateContainer {
            path: "/box".into(),
            data: ZData::from(&b""[..]),
            acl: open.clone(),
            parent_cversion: 3,
        },
        Txn::CreateTtl {
            path: "/ttl".into(),
            data: ZData::null(),
            acl: open.clone(),
            parent_cversion: 4,
            ttl_ms: 60_000,
        },
        Txn::Multi(vec![
            Txn::Check {
                path: "/app".into(),
                version: 1,
            },
            create("/app/m", b"multi", open.clone(), false, 3),
            Txn::SetData {
                path: "/app/m".into(),
                data: ZData::from(&b"multi2"[..]),
                version: 1,
            },
        ]),
        Txn::SetAcl {
            path: "/app/m".into(),
            acl: vec![Acl::new(perms::READ, "world", "anyone")],
            version: 0,
        },
        Txn::Delete {
            op: OpCode::Delete,
            path: "/app/m".into(),
        },
        Txn::Error(corral::proto::ErrorCode::NodeExists),
    ]
}

fn main() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("usage: write_zk_files DIR"))?;
    std::fs::create_dir_all(&dir)?;
    let mut tree = DataTree::new();
    let mut log = BytesMut::new();
    log.extend_from_slice(&format::file_header(format::LOG_MAGIC, format::LOG_DBID));
    let txns = txns();
    let mut last = Zxid(0);
    for (i, txn) in txns.iter().enumerate() {
        let zxid = Zxid(i as i64 + 1);
        let hdr = TxnHeader {
            session_id: SESSION,
            cxid: i as i32,
            zxid,
            time_ms: 1_700_000_000_000 + 1000 * i as i64,
            op: txn.op().as_i32(),
        };
        if !matches!(txn, Txn::Error(_)) {
            tree.apply(&hdr, txn, &mut Vec::new())
                .map_err(|e| anyhow::anyhow!("applying {zxid}: {e:?}"))?;
        }
        format::encode_log_record(&mut log, &hdr, txn);
        last = zxid;
    }
    // ZooKeeper pads its logs with zeros; a reader must stop there.
    log.extend_from_slice(&[0u8; 4096]);
    let log_path = dir.join(format::file_name(format::LOG_PREFIX, Zxid(1)));
    std::fs::write(&log_path, &log)?;
    println!("log {} {}", log_path.display(), txns.len());
    let nodes = tree.node_count();
    let tree = RwLock::new(tree);
    let (snap_path, _) = snapshot::take(&tree, &[(SESSION, 30_000)], last, &dir)?;
    println!("snapshot {} {nodes}", snap_path.display());
    Ok(())
}
