//! Sessions: ids, passwords, negotiated timeouts and expiry.
//!
//! The sequencer owns the one [`SessionTracker`]; shards report which of their
//! sessions showed activity (as ZooKeeper followers report session touches in
//! PINGs), and the tracker decides expiry from `now` values it is given.
//! Never reads a clock or a socket.

use crate::proto::SessionId;
