//! Client requests decoded from a frame, and the replies encoded into one.
//!
//! [`Request::decode`] turns an opcode plus body into a typed request; the
//! caller handles unknown opcodes (ZooKeeper answers `Unimplemented`).
//! [`Response::encode`] writes the success body that follows a reply header.

use super::codec::{DecodeError, Reader, Writer};
use super::error::ErrorCode;
use super::opcode::OpCode;
use super::records::*;
use super::types::{ZData, ZString, Zxid};
use bytes::Bytes;

/// The fields of every create flavour (create, create2, createContainer, createTTL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: ZString,
    pub data: ZData,
    pub acl: Vec<Acl>,
    pub flags: i32,
    /// Only createTTL carries a TTL; -1 otherwise.
    pub ttl_ms: i64,
}

/// The watch lists a reconnecting client re-registers (setWatches / setWatches2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetWatches {
    pub relative_zxid: Zxid,
    pub data: Vec<ZString>,
    pub exist: Vec<ZString>,
    pub child: Vec<ZString>,
    pub persistent: Vec<ZString>,
    pub persistent_recursive: Vec<ZString>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// op is one of Create, Create2, CreateContainer, CreateTtl.
    Create {
        op: OpCode,
        req: CreateRequest,
    },
    Delete {
        path: ZString,
        version: i32,
    },
    Exists {
        path: ZString,
        watch: bool,
    },
    GetData {
        path: ZString,
        watch: bool,
    },
    SetData {
        path: ZString,
        data: ZData,
        version: i32,
    },
    GetAcl {
        path: ZString,
    },
    SetAcl {
        path: ZString,
        acl: Vec<Acl>,
        version: i32,
    },
    GetChildren {
        path: ZString,
        watch: bool,
    },
    GetChildren2 {
        path: ZString,
        watch: bool,
    },
    Sync {
        path: ZString,
    },
    Ping,
    Check {
        path: ZString,
        version: i32,
    },
    Multi(Vec<Request>),
    MultiRead(Vec<Request>),
    Reconfig {
        joining: Option<ZString>,
        leaving: Option<ZString>,
        new_members: Option<ZString>,
        cur_config_id: i64,
    },
    CheckWatches {
        path: ZString,
        kind: i32,
    },
    RemoveWatches {
        path: ZString,
        kind: i32,
    },
    Auth {
        kind: i32,
        scheme: ZString,
        auth: Bytes,
    },
    SetWatches(Box<SetWatches>),
    Sasl {
        token: Bytes,
    },
    GetEphemerals {
        prefix: ZString,
    },
    GetAllChildrenNumber {
        path: ZString,
    },
    AddWatch {
        path: ZString,
        mode: i32,
    },
    WhoAmI,
    CloseSession,
}

/// A request's path: jute's null string (length -1) is refused, as ZooKeeper's
/// NullPointerException or "Path cannot be null" is (MarshallingError), where
/// `read_ustring` would make it `""` (which getData and exists read as the root).
fn read_path(r: &mut Reader) -> Result<ZString, DecodeError> {
    r.read_ustring_opt()?.ok_or(DecodeError::BadValue {
        what: "path (null)",
        value: -1,
    })
}

impl Request {
    /// Decodes the body of a request of type `op`. `None` for an opcode a
    /// client may not send (caller answers `Unimplemented`).
    pub fn decode(op: OpCode, r: &mut Reader) -> Result<Option<Request>, DecodeError> {
        use OpCode as O;
        let req = match op {
            O::Create | O::Create2 | O::CreateContainer => {
                let path = read_path(r)?;
                let data = r.read_data()?;
                let acl = decode_acls(r)?;
                let flags = r.read_i32()?;
                Request::Create {
                    op,
                    req: CreateRequest {
                        path,
                        data,
                        acl,
                        flags,
                        ttl_ms: -1,
                    },
                }
            }
            O::CreateTtl => {
                let path = read_path(r)?;
                let data = r.read_data()?;
                let acl = decode_acls(r)?;
                let flags = r.read_i32()?;
                let ttl_ms = r.read_i64()?;
                Request::Create {
                    op,
                    req: CreateRequest {
                        path,
                        data,
                        acl,
                        flags,
                        ttl_ms,
                    },
                }
            }
            O::Delete => Request::Delete {
                path: read_path(r)?,
                version: r.read_i32()?,
            },
            O::Exists => Request::Exists {
                path: read_path(r)?,
                watch: r.read_bool()?,
            },
            O::GetData => Request::GetData {
                path: read_path(r)?,
                watch: r.read_bool()?,
            },
            O::SetData => Request::SetData {
                path: read_path(r)?,
                data: r.read_data()?,
                version: r.read_i32()?,
            },
            O::GetAcl => Request::GetAcl {
                path: read_path(r)?,
            },
            O::SetAcl => Request::SetAcl {
                path: read_path(r)?,
                acl: decode_acls(r)?,
                version: r.read_i32()?,
            },
            O::GetChildren => Request::GetChildren {
                path: read_path(r)?,
                watch: r.read_bool()?,
            },
            O::GetChildren2 => Request::GetChildren2 {
                path: read_path(r)?,
                watch: r.read_bool()?,
            },
            O::Sync => Request::Sync {
                path: read_path(r)?,
            },
            O::Ping => Request::Ping,
            O::Check => Request::Check {
                path: read_path(r)?,
                version: r.read_i32()?,
            },
            O::Multi | O::MultiRead => decode_multi(op, r)?,
            O::Reconfig => Request::Reconfig {
                joining: r.read_ustring_opt()?,
                leaving: r.read_ustring_opt()?,
                new_members: r.read_ustring_opt()?,
                cur_config_id: r.read_i64()?,
            },
            O::CheckWatches => Request::CheckWatches {
                path: read_path(r)?,
                kind: r.read_i32()?,
            },
            O::RemoveWatches => Request::RemoveWatches {
                path: read_path(r)?,
                kind: r.read_i32()?,
            },
            O::Auth => Request::Auth {
                kind: r.read_i32()?,
                scheme: r.read_ustring()?,
                auth: r.read_buffer()?,
            },
            O::SetWatches | O::SetWatches2 => {
                let relative_zxid = Zxid(r.read_i64()?);
                let data = decode_strings(r)?;
                let exist = decode_strings(r)?;
                let child = decode_strings(r)?;
                let (persistent, persistent_recursive) = if op == O::SetWatches2 {
                    (decode_strings(r)?, decode_strings(r)?)
                } else {
                    (Vec::new(), Vec::new())
                };
                Request::SetWatches(Box::new(SetWatches {
                    relative_zxid,
                    data,
                    exist,
                    child,
                    persistent,
                    persistent_recursive,
                }))
            }
            O::Sasl => Request::Sasl {
                token: r.read_buffer()?,
            },
            O::GetEphemerals => Request::GetEphemerals {
                prefix: r.read_ustring()?,
            },
            O::GetAllChildrenNumber => Request::GetAllChildrenNumber {
                path: read_path(r)?,
            },
            O::AddWatch => Request::AddWatch {
                path: read_path(r)?,
                mode: r.read_i32()?,
            },
            O::WhoAmI => Request::WhoAmI,
            O::CloseSession => Request::CloseSession,
            O::Notification | O::DeleteContainer | O::CreateSession | O::Error => return Ok(None),
        };
        Ok(Some(req))
    }

    /// Whether this request changes state (goes through the sequencer).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Check { .. }
                | Request::Multi(_)
                | Request::Reconfig { .. }
                | Request::CloseSession
        )
    }

    /// The opcode a multi sub-op or top-level request was decoded from.
    pub fn op(&self) -> OpCode {
        match self {
            Request::Create { op, .. } => *op,
            Request::Delete { .. } => OpCode::Delete,
            Request::Exists { .. } => OpCode::Exists,
            Request::GetData { .. } => OpCode::GetData,
            Request::SetData { .. } => OpCode::SetData,
            Request::GetAcl { .. } => OpCode::GetAcl,
            Request::SetAcl { .. } => OpCode::SetAcl,
            Request::GetChildren { .. } => OpCode::GetChildren,
            Request::GetChildren2 { .. } => OpCode::GetChildren2,
            Request::Sync { .. } => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check { .. } => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig { .. } => OpCode::Reconfig,
            Request::CheckWatches { .. } => OpCode::CheckWatches,
            Request::RemoveWatches { .. } => OpCode::RemoveWatches,
            Request::Auth { .. } => OpCode::Auth,
            Request::SetWatches(w) => {
                if w.persistent.is_empty() && w.persistent_recursive.is_empty() {
                    OpCode::SetWatches
                } else {
                    OpCode::SetWatches2
                }
            }
            Request::Sasl { .. } => OpCode::Sasl,
            Request::GetEphemerals { .. } => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber { .. } => OpCode::GetAllChildrenNumber,
            Request::AddWatch { .. } => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// The path a request names, if any.
    pub fn path(&self) -> Option<&ZString> {
        match self {
            Request::Create { req, .. } => Some(&req.path),
            Request::Delete { path, .. }
            | Request::Exists { path, .. }
            | Request::GetData { path, .. }
            | Request::SetData { path, .. }
            | Request::GetAcl { path }
            | Request::SetAcl { path, .. }
            | Request::GetChildren { path, .. }
            | Request::GetChildren2 { path, .. }
            | Request::Sync { path }
            | Request::Check { path, .. }
            | Request::CheckWatches { path, .. }
            | Request::RemoveWatches { path, .. }
            | Request::GetAllChildrenNumber { path }
            | Request::AddWatch { path, .. } => Some(path),
            Request::GetEphemerals { prefix } => Some(prefix),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Read,
    Write,
}

fn decode_multi(op: OpCode, r: &mut Reader) -> Result<Request, DecodeError> {
    let mut ops = Vec::new();
    let mut kind: Option<OpKind> = None;
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            break;
        }
        let sub = OpCode::from_i32(h.op).ok_or(DecodeError::BadValue {
            what: "multi op type",
            value: h.op as i64,
        })?;
        let this_kind = match sub {
            OpCode::Create
            | OpCode::Create2
            | OpCode::CreateContainer
            | OpCode::CreateTtl
            | OpCode::Delete
            | OpCode::SetData
            | OpCode::Check => OpKind::Write,
            OpCode::GetChildren | OpCode::GetData => OpKind::Read,
            _ => {
                return Err(DecodeError::BadValue {
                    what: "multi op type",
                    value: h.op as i64,
                });
            }
        };
        // ZooKeeper refuses a multi that mixes reads and writes ("Mixing different kind of ops").
        if kind.is_some_and(|k| k != this_kind) {
            return Err(DecodeError::BadValue {
                what: "multi mixing reads and writes",
                value: h.op as i64,
            });
        }
        kind = Some(this_kind);
        match Request::decode(sub, r)? {
            Some(req) => ops.push(req),
            None => {
                return Err(DecodeError::BadValue {
                    what: "multi op type",
                    value: h.op as i64,
                });
            }
        }
    }
    let wanted = if op == OpCode::MultiRead {
        OpKind::Read
    } else {
        OpKind::Write
    };
    if kind.is_some_and(|k| k != wanted) {
        return Err(DecodeError::BadValue {
            what: "multi op kind",
            value: op.as_i32() as i64,
        });
    }
    Ok(if op == OpCode::MultiRead {
        Request::MultiRead(ops)
    } else {
        Request::Multi(ops)
    })
}

/// One op's outcome inside a multi / multiRead response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    Create(ZString),
    /// create2 / createContainer / createTTL inside a multi.
    Create2(ZString, Stat),
    SetData(Stat),
    Delete,
    Check,
    GetData(ZData, Stat),
    GetChildren(Vec<ZString>),
    Error(ErrorCode),
}

/// The body that follows a successful reply header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Empty,
    Path(ZString),
    PathStat(ZString, Stat),
    Stat(Stat),
    Data(ZData, Stat),
    Acl(Vec<Acl>, Stat),
    Children(Vec<ZString>),
    Children2(Vec<ZString>, Stat),
    Multi(Vec<MultiResult>),
    Strings(Vec<ZString>),
    Int(i32),
    WhoAmI(Vec<ClientInfo>),
}

impl Response {
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Response::Empty => {}
            Response::Path(p) => {
                w.ustring(p);
            }
            Response::PathStat(p, s) => {
                w.ustring(p);
                s.encode(w);
            }
            Response::Stat(s) => s.encode(w),
            Response::Data(d, s) => {
                w.data(d);
                s.encode(w);
            }
            Response::Acl(a, s) => {
                encode_acls(w, a);
                s.encode(w);
            }
            Response::Children(c) | Response::Strings(c) => encode_strings(w, c),
            Response::Children2(c, s) => {
                encode_strings(w, c);
                s.encode(w);
            }
            Response::Multi(results) => {
                for res in results {
                    encode_multi_result(w, res);
                }
                MultiHeader {
                    op: -1,
                    done: true,
                    err: -1,
                }
                .encode(w);
            }
            Response::Int(v) => {
                w.i32(*v);
            }
            Response::WhoAmI(infos) => {
                w.vec(infos, |w, i| {
                    w.ustring(&i.auth_scheme).ustring(&i.user);
                });
            }
        }
    }
}

fn encode_multi_result(w: &mut Writer, res: &MultiResult) {
    let (op, err) = match res {
        MultiResult::Create(_) => (OpCode::Create.as_i32(), 0),
        MultiResult::Create2(..) => (OpCode::Create2.as_i32(), 0),
        MultiResult::SetData(_) => (OpCode::SetData.as_i32(), 0),
        MultiResult::Delete => (OpCode::Delete.as_i32(), 0),
        MultiResult::Check => (OpCode::Check.as_i32(), 0),
        MultiResult::GetData(..) => (OpCode::GetData.as_i32(), 0),
        MultiResult::GetChildren(_) => (OpCode::GetChildren.as_i32(), 0),
        MultiResult::Error(e) => (OpCode::Error.as_i32(), e.as_i32()),
    };
    MultiHeader {
        op,
        done: false,
        err,
    }
    .encode(w);
    match res {
        MultiResult::Create(p) => {
            w.ustring(p);
        }
        MultiResult::Create2(p, s) => {
            w.ustring(p);
            s.encode(w);
        }
        MultiResult::SetData(s) => s.encode(w),
        MultiResult::Delete | MultiResult::Check => {}
        MultiResult::GetData(d, s) => {
            w.data(d);
            s.encode(w);
        }
        MultiResult::GetChildren(c) => encode_strings(w, c),
        MultiResult::Error(e) => {
            w.i32(e.as_i32());
        }
    }
}

/// Encodes a request (client side: `corral bench`, tests). Inverse of [`Request::decode`].
pub fn encode_request(w: &mut Writer, req: &Request) {
    match req {
        Request::Create { op, req } => {
            w.ustring(&req.path).data(&req.data);
            encode_acls(w, &req.acl);
            w.i32(req.flags);
            if *op == OpCode::CreateTtl {
                w.i64(req.ttl_ms);
            }
        }
        Request::Delete { path, version } | Request::Check { path, version } => {
            w.ustring(path).i32(*version);
        }
        Request::Exists { path, watch }
        | Request::GetData { path, watch }
        | Request::GetChildren { path, watch }
        | Request::GetChildren2 { path, watch } => {
            w.ustring(path).bool(*watch);
        }
        Request::SetData {
            path,
            data,
            version,
        } => {
            w.ustring(path).data(data).i32(*version);
        }
        Request::GetAcl { path }
        | Request::Sync { path }
        | Request::GetAllChildrenNumber { path } => {
            w.ustring(path);
        }
        Request::GetEphemerals { prefix } => {
            w.ustring(prefix);
        }
        Request::SetAcl { path, acl, version } => {
            w.ustring(path);
            encode_acls(w, acl);
            w.i32(*version);
        }
        Request::Multi(ops) | Request::MultiRead(ops) => {
            for op in ops {
                MultiHeader {
                    op: op.op().as_i32(),
                    done: false,
                    err: -1,
                }
                .encode(w);
                encode_request(w, op);
            }
            MultiHeader {
                op: -1,
                done: true,
                err: -1,
            }
            .encode(w);
        }
        Request::Reconfig {
            joining,
            leaving,
            new_members,
            cur_config_id,
        } => {
            for s in [joining, leaving, new_members] {
                w.buffer_opt(s.as_ref().map(|s| s.as_bytes().as_ref()));
            }
            w.i64(*cur_config_id);
        }
        Request::CheckWatches { path, kind } | Request::RemoveWatches { path, kind } => {
            w.ustring(path).i32(*kind);
        }
        Request::Auth { kind, scheme, auth } => {
            w.i32(*kind).ustring(scheme).buffer(auth);
        }
        Request::SetWatches(sw) => {
            w.i64(sw.relative_zxid.0);
            encode_strings(w, &sw.data);
            encode_strings(w, &sw.exist);
            encode_strings(w, &sw.child);
            if req.op() == OpCode::SetWatches2 {
                encode_strings(w, &sw.persistent);
                encode_strings(w, &sw.persistent_recursive);
            }
        }
        Request::Sasl { token } => {
            w.buffer(token);
        }
        Request::AddWatch { path, mode } => {
            w.ustring(path).i32(*mode);
        }
        Request::Ping | Request::WhoAmI | Request::CloseSession => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn round_trip(req: Request) {
        let mut b = BytesMut::new();
        encode_request(&mut Writer::new(&mut b), &req);
        let mut r = Reader::new(b.freeze());
        let back = Request::decode(req.op(), &mut r).unwrap().unwrap();
        r.finish().unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn requests_round_trip() {
        round_trip(Request::Create {
            op: OpCode::CreateTtl,
            req: CreateRequest {
                path: "/a".into(),
                data: Bytes::from_static(b"x").into(),
                acl: Acl::open_unsafe(),
                flags: 5,
                ttl_ms: 100,
            },
        });
        round_trip(Request::SetData {
            path: "/a".into(),
            data: Bytes::new().into(),
            version: -1,
        });
        round_trip(Request::Multi(vec![
            Request::Check {
                path: "/a".into(),
                version: 1,
            },
            Request::Delete {
                path: "/a".into(),
                version: -1,
            },
        ]));
        round_trip(Request::SetWatches(Box::new(SetWatches {
            relative_zxid: Zxid(9),
            data: vec!["/d".into()],
            persistent: vec!["/p".into()],
            ..Default::default()
        })));
    }

    #[test]
    fn multi_mixing_reads_and_writes_is_refused() {
        let mut b = BytesMut::new();
        encode_request(
            &mut Writer::new(&mut b),
            &Request::Multi(vec![
                Request::GetData {
                    path: "/a".into(),
                    watch: false,
                },
                Request::Delete {
                    path: "/a".into(),
                    version: -1,
                },
            ]),
        );
        assert!(Request::decode(OpCode::Multi, &mut Reader::new(b.freeze())).is_err());
    }

    #[test]
    fn multi_response_ends_with_done_header() {
        let mut b = BytesMut::new();
        Response::Multi(vec![MultiResult::Delete]).encode(&mut Writer::new(&mut b));
        assert_eq!(b.len(), 9 + 9);
        assert_eq!(
            &b[9..],
            &[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
        );
    }
}
