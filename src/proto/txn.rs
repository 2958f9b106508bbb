//! Transactions as Apache ZooKeeper logs and replicates them (`org.apache.zookeeper.txn`).
//!
//! The sequencer turns a write request into a [`Txn`]; the tree applies it; the
//! log and ZAB carry its encoding. Keeping ZooKeeper's exact records is what lets
//! either server start on the other's data directory.

use super::codec::{DecodeError, Reader, Writer};
use super::error::ErrorCode;
use super::opcode::OpCode;
use super::records::{Acl, decode_acls, decode_strings, encode_acls, encode_strings};
use super::types::{SessionId, ZData, ZString, Zxid};
use bytes::BytesMut;

/// `TxnHeader { clientId, cxid, zxid, time, type }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnHeader {
    pub session_id: SessionId,
    pub cxid: i32,
    pub zxid: Zxid,
    pub time_ms: i64,
    pub op: i32,
}

impl TxnHeader {
    pub fn encode(&self, w: &mut Writer) {
        w.i64(self.session_id.0)
            .i32(self.cxid)
            .i64(self.zxid.0)
            .i64(self.time_ms)
            .i32(self.op);
    }
    pub fn decode(r: &mut Reader) -> Result<TxnHeader, DecodeError> {
        Ok(TxnHeader {
            session_id: SessionId(r.read_i64()?),
            cxid: r.read_i32()?,
            zxid: Zxid(r.read_i64()?),
            time_ms: r.read_i64()?,
            op: r.read_i32()?,
        })
    }
}

/// A txn body; the variant fixes the record, `op` fields keep ZooKeeper's type code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Txn {
    /// `CreateTxn`, logged with type create (1) or create2 (15).
    Create {
        op: OpCode,
        path: ZString,
        data: ZData,
        acl: Vec<Acl>,
        ephemeral: bool,
        parent_cversion: i32,
    },
    CreateContainer {
        path: ZString,
        data: ZData,
        acl: Vec<Acl>,
        parent_cversion: i32,
    },
    CreateTtl {
        path: ZString,
        data: ZData,
        acl: Vec<Acl>,
        parent_cversion: i32,
        ttl_ms: i64,
    },
    /// `DeleteTxn`, type delete (2) or deleteContainer (20).
    Delete {
        op: OpCode,
        path: ZString,
    },
    SetData {
        path: ZString,
        data: ZData,
        version: i32,
    },
    SetAcl {
        path: ZString,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: ZString,
        version: i32,
    },
    CreateSession {
        timeout_ms: i32,
    },
    /// `CloseSessionTxn { paths2Delete }` (absent in logs written before 3.6).
    CloseSession {
        paths_to_delete: Vec<ZString>,
    },
    Error(ErrorCode),
    Multi(Vec<Txn>),
}

impl Txn {
    pub fn op(&self) -> OpCode {
        match self {
            Txn::Create { op, .. } | Txn::Delete { op, .. } => *op,
            Txn::CreateContainer { .. } => OpCode::CreateContainer,
            Txn::CreateTtl { .. } => OpCode::CreateTtl,
            Txn::SetData { .. } => OpCode::SetData,
            Txn::SetAcl { .. } => OpCode::SetAcl,
            Txn::Check { .. } => OpCode::Check,
            Txn::CreateSession { .. } => OpCode::CreateSession,
            Txn::CloseSession { .. } => OpCode::CloseSession,
            Txn::Error(_) => OpCode::Error,
            Txn::Multi(_) => OpCode::Multi,
        }
    }

    pub fn encode(&self, w: &mut Writer) {
        match self {
            Txn::Create {
                path,
                data,
                acl,
                ephemeral,
                parent_cversion,
                ..
            } => {
                w.ustring(path).data(data);
                encode_acls(w, acl);
                w.bool(*ephemeral).i32(*parent_cversion);
            }
            Txn::CreateContainer {
                path,
                data,
                acl,
                parent_cversion,
            } => {
                w.ustring(path).data(data);
                encode_acls(w, acl);
                w.i32(*parent_cversion);
            }
            Txn::CreateTtl {
                path,
                data,
                acl,
                parent_cversion,
                ttl_ms,
            } => {
                w.ustring(path).data(data);
                encode_acls(w, acl);
                w.i32(*parent_cversion).i64(*ttl_ms);
            }
            Txn::Delete { path, .. } => {
                w.ustring(path);
            }
            Txn::SetData {
                path,
                data,
                version,
            } => {
                w.ustring(path).data(data).i32(*version);
            }
            Txn::SetAcl { path, acl, version } => {
                w.ustring(path);
                encode_acls(w, acl);
                w.i32(*version);
            }
            Txn::Check { path, version } => {
                w.ustring(path).i32(*version);
            }
            Txn::CreateSession { timeout_ms } => {
                w.i32(*timeout_ms);
            }
            Txn::CloseSession { paths_to_delete } => encode_strings(w, paths_to_delete),
            Txn::Error(e) => {
                w.i32(e.as_i32());
            }
            Txn::Multi(txns) => {
                w.vec(txns, |w, t| {
                    let mut body = BytesMut::new();
                    t.encode(&mut Writer::new(&mut body));
                    w.i32(t.op().as_i32()).buffer(&body);
                });
            }
        }
    }

    /// Decodes the body of a txn whose header says `op`.
    pub fn decode(op: i32, r: &mut Reader) -> Result<Txn, DecodeError> {
        let bad = || DecodeError::BadValue {
            what: "txn type",
            value: op as i64,
        };
        let code = OpCode::from_i32(op).ok_or_else(bad)?;
        Ok(match code {
            OpCode::Create | OpCode::Create2 => Txn::Create {
                op: code,
                path: r.read_ustring()?,
                data: r.read_data()?,
                acl: decode_acls(r)?,
                ephemeral: r.read_bool()?,
                // CreateTxnV0 (very old logs) has no parentCVersion.
                parent_cversion: if r.is_empty() { -1 } else { r.read_i32()? },
            },
            OpCode::CreateContainer => Txn::CreateContainer {
                path: r.read_ustring()?,
                data: r.read_data()?,
                acl: decode_acls(r)?,
                parent_cversion: r.read_i32()?,
            },
            OpCode::CreateTtl => Txn::CreateTtl {
                path: r.read_ustring()?,
                data: r.read_data()?,
                acl: decode_acls(r)?,
                parent_cversion: r.read_i32()?,
                ttl_ms: r.read_i64()?,
            },
            OpCode::Delete | OpCode::DeleteContainer => Txn::Delete {
                op: code,
                path: r.read_ustring()?,
            },
            OpCode::SetData => Txn::SetData {
                path: r.read_ustring()?,
                data: r.read_data()?,
                version: r.read_i32()?,
            },
            OpCode::SetAcl => Txn::SetAcl {
                path: r.read_ustring()?,
                acl: decode_acls(r)?,
                version: r.read_i32()?,
            },
            OpCode::Check => Txn::Check {
                path: r.read_ustring()?,
                version: r.read_i32()?,
            },
            OpCode::CreateSession => Txn::CreateSession {
                timeout_ms: r.read_i32()?,
            },
            OpCode::CloseSession => Txn::CloseSession {
                paths_to_delete: if r.is_empty() {
                    Vec::new()
                } else {
                    decode_strings(r)?
                },
            },
            OpCode::Error => {
                let v = r.read_i32()?;
                Txn::Error(ErrorCode::from_i32(v).ok_or(DecodeError::BadValue {
                    what: "error code",
                    value: v as i64,
                })?)
            }
            OpCode::Multi => {
                let parts = r.read_vec(8, |r| Ok((r.read_i32()?, r.read_buffer()?)))?;
                let mut txns = Vec::with_capacity(parts.len());
                for (sub_op, body) in parts {
                    let mut sub = Reader::new(body);
                    txns.push(Txn::decode(sub_op, &mut sub)?);
                }
                Txn::Multi(txns)
            }
            _ => return Err(bad()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn round_trip(t: Txn) {
        let mut b = BytesMut::new();
        t.encode(&mut Writer::new(&mut b));
        let mut r = Reader::new(b.freeze());
        assert_eq!(Txn::decode(t.op().as_i32(), &mut r).unwrap(), t);
        r.finish().unwrap();
    }

    #[test]
    fn txns_round_trip() {
        round_trip(Txn::Create {
            op: OpCode::Create2,
            path: "/a".into(),
            data: Bytes::from_static(b"d").into(),
            acl: Acl::open_unsafe(),
            ephemeral: true,
            parent_cversion: 3,
        });
        round_trip(Txn::CreateTtl {
            path: "/t".into(),
            data: Bytes::new().into(),
            acl: vec![],
            parent_cversion: 1,
            ttl_ms: 500,
        });
        round_trip(Txn::Delete {
            op: OpCode::DeleteContainer,
            path: "/c".into(),
        });
        round_trip(Txn::CloseSession {
            paths_to_delete: vec!["/e".into()],
        });
        round_trip(Txn::Multi(vec![
            Txn::SetData {
                path: "/a".into(),
                data: Bytes::from_static(b"v").into(),
                version: 2,
            },
            Txn::Error(ErrorCode::RuntimeInconsistency),
        ]));
    }

    #[test]
    fn txn_header_is_32_bytes() {
        let mut b = BytesMut::new();
        TxnHeader {
            session_id: SessionId(1),
            cxid: 2,
            zxid: Zxid(3),
            time_ms: 4,
            op: 1,
        }
        .encode(&mut Writer::new(&mut b));
        assert_eq!(b.len(), 32);
    }
}
