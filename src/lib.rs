//! corral: a ZooKeeper-compatible coordination server, thread-per-core on glommio.
//!
//! The crate is layered as `docs/architecture.md` describes. Everything above
//! [`server`] is sans-I/O: plain data structures and state machines that take
//! inputs (requests, txns, ticks with `now` as a value) and return outputs
//! (replies, txns, watch triggers). [`server`] is the glommio glue.

pub mod admin;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod metrics;
pub mod proto;
pub mod sasl;
pub mod sequencer;
pub mod server;
pub mod session;
pub mod state;
pub mod storage;
pub mod tls;
pub mod tree;
pub mod watch;
pub mod zab;
