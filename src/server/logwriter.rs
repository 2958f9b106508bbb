//! The log writer: an executor of its own that appends each batch the
//! sequencer hands it to the txn log and reports back. It blocks in the
//! write (io_uring, RWF_DSYNC) — nothing else runs on it — while the
//! sequencer gathers the next batch: that is the group commit.

use crate::proto::Zxid;
use crate::storage::log::TxnLog;
use bytes::BytesMut;
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};

/// One group commit: encoded records, first zxid first.
pub struct LogJob {
    pub first_zxid: Zxid,
    pub records: BytesMut,
    /// A snapshot began: these records start a new log segment.
    pub roll_before: bool,
}

/// The outcome of a [`LogJob`]; the buffer comes back for reuse.
pub struct LogDone {
    pub result: std::io::Result<()>,
    pub records: BytesMut,
}

pub async fn run(
    mut log: TxnLog,
    jobs: SharedReceiver<LogJob>,
    done: SharedSender<LogDone>,
) -> anyhow::Result<()> {
    let jobs = jobs.connect().await;
    let done = done.connect().await;
    while let Some(mut job) = jobs.recv().await {
        if job.roll_before {
            log.roll();
        }
        let result = log.append(job.first_zxid, &job.records);
        job.records.clear();
        let reply = LogDone {
            result,
            records: job.records,
        };
        if done.send(reply).await.is_err() {
            break;
        }
    }
    Ok(())
}
