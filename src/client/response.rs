//! Client-side decoding of success bodies: the inverse of
//! [`Response::encode`](crate::proto::Response::encode), keyed by the opcode
//! of the request the reply answers (the reply itself does not say).

use crate::proto::request::MultiResult;
use crate::proto::{
    DecodeError, ErrorCode, MultiHeader, OpCode, Reader, Response, Stat, decode_acls,
    decode_strings,
};

/// Decodes the body of a successful reply to a request of type `op`.
pub fn decode_response(op: OpCode, r: &mut Reader) -> Result<Response, DecodeError> {
    use OpCode as O;
    Ok(match op {
        O::Create | O::Sync => Response::Path(r.read_ustring()?),
        O::Create2 | O::CreateContainer | O::CreateTtl => {
            Response::PathStat(r.read_ustring()?, Stat::decode(r)?)
        }
        O::Exists | O::SetData | O::SetAcl | O::Check => Response::Stat(Stat::decode(r)?),
        O::GetData | O::Reconfig => Response::Data(r.read_data()?, Stat::decode(r)?),
        O::GetAcl => Response::Acl(decode_acls(r)?, Stat::decode(r)?),
        O::GetChildren => Response::Children(decode_strings(r)?),
        O::GetChildren2 => Response::Children2(decode_strings(r)?, Stat::decode(r)?),
        O::GetEphemerals => Response::Strings(decode_strings(r)?),
        O::GetAllChildrenNumber => Response::Int(r.read_i32()?),
        O::Multi | O::MultiRead => Response::Multi(decode_multi(r)?),
        O::WhoAmI => Response::WhoAmI(r.read_vec(8, |r| {
            Ok(crate::proto::ClientInfo {
                auth_scheme: r.read_ustring()?,
                user: r.read_ustring()?,
            })
        })?),
        // addWatch answers an ErrorResponse{err=0}; the rest answer nothing.
        O::AddWatch => {
            if r.remaining() >= 4 {
                r.read_i32()?;
            }
            Response::Empty
        }
        _ => Response::Empty,
    })
}

fn decode_multi(r: &mut Reader) -> Result<Vec<MultiResult>, DecodeError> {
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(out);
        }
        let bad = DecodeError::BadValue {
            what: "multi result type",
            value: h.op as i64,
        };
        let op = OpCode::from_i32(h.op).ok_or(bad.clone())?;
        out.push(match op {
            OpCode::Create => MultiResult::Create(r.read_ustring()?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                MultiResult::Create2(r.read_ustring()?, Stat::decode(r)?)
            }
            OpCode::SetData => MultiResult::SetData(Stat::decode(r)?),
            OpCode::Delete => MultiResult::Delete,
            OpCode::Check => MultiResult::Check,
            OpCode::GetData => MultiResult::GetData(r.read_data()?, Stat::decode(r)?),
            OpCode::GetChildren => MultiResult::GetChildren(decode_strings(r)?),
            OpCode::Error => {
                let code = r.read_i32()?;
                MultiResult::Error(ErrorCode::from_i32(code).ok_or(DecodeError::BadValue {
                    what: "error code",
                    value: code as i64,
                })?)
            }
            _ => return Err(bad),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Writer, ZString};
    use bytes::{Bytes, BytesMut};

    fn round_trip(op: OpCode, resp: Response) {
        let mut b = BytesMut::new();
        resp.encode(&mut Writer::new(&mut b));
        let mut r = Reader::new(b.freeze());
        assert_eq!(decode_response(op, &mut r).unwrap(), resp);
        r.finish().unwrap();
    }

    #[test]
    fn server_encodings_decode_back() {
        let stat = Stat {
            version: 3,
            ..Stat::default()
        };
        round_trip(
            OpCode::GetData,
            Response::Data(Bytes::from_static(b"v").into(), stat),
        );
        round_trip(OpCode::Exists, Response::Stat(stat));
        round_trip(
            OpCode::GetChildren,
            Response::Children(vec![ZString::from("a"), ZString::from("b")]),
        );
        round_trip(OpCode::Create, Response::Path("/x".into()));
        round_trip(
            OpCode::Multi,
            Response::Multi(vec![
                MultiResult::Check,
                MultiResult::SetData(stat),
                MultiResult::Create("/y".into()),
                MultiResult::Delete,
            ]),
        );
        round_trip(
            OpCode::Multi,
            Response::Multi(vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::NoNode),
            ]),
        );
    }
}
