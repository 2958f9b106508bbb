//! A cross-core bell heard on one executor: the sequencer rings a shard (and
//! each shard the sequencer) through glommio shared channels, and the hearing
//! task waits for a ring *or* a safety period. Owns only that wait; never
//! carries data.
//!
//! Why not race `ConnectedReceiver::recv` against a timer directly: glommio
//! 0.9's shared channel stores a fresh clone of the task's waker on every
//! poll of `recv` that finds the channel empty, and releases those clones only
//! as messages arrive (at most one per message). A `recv` that loses to the
//! timer and is dropped leaves its clones behind, two per period; after about
//! 32767 of them the task's 16-bit reference count overflows and glommio
//! panics. At a 50 ms period an idle shard died after ~14 minutes (found by
//! Curator's test suite, whose servers live that long).
//!
//! So one relay task per cross-core receiver polls it only when it is woken
//! (never more than one clone outstanding), relaying each ring into a local
//! channel, whose waiters unregister when dropped.

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::SharedReceiver;
use std::rc::Rc;
use std::time::Duration;

/// What ended a [`Bell::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// The far side rang (one or more times).
    Rang,
    /// The period ran out first.
    Quiet,
    /// The far side is gone and every ring was heard.
    Closed,
}

pub struct Bell {
    local: LocalReceiver<()>,
}

impl Bell {
    /// A bell rung by any of `remotes` and by the returned local ringer,
    /// with one relay task per remote spawned on the current executor. Each
    /// relay connects its receiver itself: `connect` waits for the peer, so
    /// the caller's own connects go on meanwhile. The bell says
    /// [`Ring::Closed`] once every remote is gone and the ringer dropped.
    pub fn new(remotes: Vec<SharedReceiver<()>>) -> (Bell, Rc<LocalSender<()>>) {
        let (tx, local) = local_channel::new_bounded::<()>(1);
        let tx = Rc::new(tx);
        for remote in remotes {
            let tx = tx.clone();
            glommio::spawn_local(async move {
                let remote = remote.connect().await;
                while remote.recv().await.is_some() {
                    // Full means a ring is already pending: nothing to add.
                    let _ = tx.try_send(());
                }
            })
            .detach();
        }
        (Bell { local }, tx)
    }

    /// Waits for a ring, at most `period`.
    pub async fn wait(&self, period: Duration) -> Ring {
        let heard = glommio::timer::timeout(period, async { Ok(self.local.recv().await) }).await;
        match heard {
            Ok(Some(())) => Ring::Rang,
            Ok(None) => Ring::Closed,
            Err(_) => Ring::Quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::channels::shared_channel;
    use glommio::{LocalExecutorBuilder, Placement};

    /// More quiet periods than a 16-bit waker count survives when each one
    /// leaves clones behind (the failure this module exists to avoid).
    const QUIET_PERIODS: u32 = 40_000;

    #[test]
    fn many_quiet_periods_do_not_exhaust_the_waiting_task() {
        let (tx, rx) = shared_channel::new_bounded::<()>(1);
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let ringer = LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(move || async move {
                let tx = tx.connect().await;
                // Ring once the listener has sat through its quiet periods.
                let _ = go_rx.recv();
                tx.send(()).await.is_ok()
            })
            .map_err(|e| e.to_string());
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let listener = LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(move || async move {
                let (bell, ringer) = Bell::new(vec![rx]);
                drop(ringer);
                let mut quiet = 0;
                for _ in 0..QUIET_PERIODS {
                    if bell.wait(Duration::from_micros(1)).await == Ring::Quiet {
                        quiet += 1;
                    }
                }
                let _ = go_tx.send(());
                let after = bell.wait(Duration::from_secs(3600)).await;
                // The ringer's executor then ends, dropping its sender.
                let closed = bell.wait(Duration::from_secs(3600)).await;
                let _ = done_tx.send((quiet, after, closed));
            })
            .map_err(|e| e.to_string());
        if let Err(e) = listener {
            panic!("the listening executor did not start: {e}");
        }
        // A hang guard, not a timing check: the broken wait strands its task
        // (glommio swallows the overflow panic in a waker call), so waiting
        // for the result unbounded would hang instead of failing. The loop
        // takes about a second here.
        let result = done_rx.recv_timeout(Duration::from_secs(300));
        let (quiet, after, closed) = match result {
            Ok(v) => v,
            Err(e) => panic!("the waiting task never finished its quiet periods: {e}"),
        };
        let rang = match ringer {
            Ok(r) => r.join().map_err(|e| e.to_string()),
            Err(e) => panic!("the ringing executor did not start: {e}"),
        };
        assert_eq!(rang, Ok(true));
        assert_eq!(quiet, QUIET_PERIODS, "no ring was sent during these");
        assert_eq!(after, Ring::Rang);
        assert_eq!(closed, Ring::Closed);
    }
}
