//! The ZooKeeper client protocol: jute encoding, records, opcodes, error codes,
//! framing and path rules.
//!
//! This module owns every byte-level fact about Apache ZooKeeper's wire and txn
//! formats; numeric values of opcodes, error codes and flags live here and
//! nowhere else. It never does I/O and depends on nothing else in the crate.
//! Decoders take untrusted input: they return [`DecodeError`], never panic, and
//! never allocate more than the input could justify.

pub mod codec;
pub mod error;
pub mod opcode;
pub mod path;
#[cfg(test)]
mod proptests;
pub mod quorum;
pub mod records;
pub mod request;
pub mod txn;
pub mod types;

pub use codec::{DecodeError, Reader, Writer};
pub use error::ErrorCode;
pub use opcode::OpCode;
pub use records::*;
pub use request::{Request, Response};
pub use types::{SessionId, Xid, ZData, ZString, Zxid};
