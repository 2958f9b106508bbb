//! corral's own small ZooKeeper client, built for the load generator
//! (`corral bench`): cheap per op and many sessions per thread. `corral cli`
//! (`crate::cli`) drives the same codec for its reconnecting shell session.
//!
//! [`SessionCodec`] is the whole protocol side of a session without I/O —
//! handshake (new or resumed session), pipelined requests with xids, pings,
//! replies matched in FIFO order, `auth`/`setWatches` answers, watch events —
//! reusing `proto` for every byte. The caller owns the
//! socket: `bench` drives hundreds of codecs from one epoll loop per thread;
//! [`blocking::Client`] drives one over a blocking `TcpStream` for setup and
//! teardown. It never decides anything about server semantics.

pub mod blocking;
pub mod codec;
pub mod response;

pub use blocking::{Client, ClientError};
pub use codec::{CodecError, Incoming, Reply, SessionCodec, WatchEvent};
pub use response::decode_response;
