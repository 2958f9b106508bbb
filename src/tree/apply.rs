//! Applying one committed txn to the tree.

use super::{DataTree, Trigger};
use crate::proto::txn::{Txn, TxnHeader};
use crate::proto::{ErrorCode, Response};

impl DataTree {
    /// Applies a committed txn (the next zxid) and returns the client reply it
    /// produces; pushes the watch triggers it fires onto `triggers`.
    pub fn apply(
        &mut self,
        hdr: &TxnHeader,
        txn: &Txn,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Response, ErrorCode> {
        let _ = (hdr, txn, triggers);
        todo!()
    }
}
