//! What the sequencer executor's tasks (peer connections, the log's
//! completion) hand to its loop: the sequencer's inputs, plus the few
//! events only the glue acts on. One queue, one bell: the loop wakes once
//! for any number of them.

use crate::proto::Zxid;
use crate::sequencer::Input;
use glommio::channels::local_channel::LocalSender;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

pub enum Event {
    /// For the sequencer.
    Core(Input),
    /// The log's write may have completed: poll it.
    LogReady,
    /// A leader's SNAP stream is durable as `snapshot.<zxid>`: the glue
    /// clears the history above it and reloads the tree from disk.
    SnapshotReceived { zxid: Zxid },
}

/// The loop's inbox, shared by the tasks of its executor.
#[derive(Clone)]
pub struct Events {
    queue: Rc<RefCell<VecDeque<Event>>>,
    wake: Rc<LocalSender<()>>,
}

impl Events {
    pub fn new(wake: Rc<LocalSender<()>>) -> Events {
        Events {
            queue: Rc::new(RefCell::new(VecDeque::new())),
            wake,
        }
    }

    pub fn push(&self, e: Event) {
        self.queue.borrow_mut().push_back(e);
        let _ = self.wake.try_send(());
    }

    pub fn input(&self, i: Input) {
        self.push(Event::Core(i));
    }

    /// Wakes the loop with nothing new: it looks at everything anyway.
    pub fn ring(&self) {
        let _ = self.wake.try_send(());
    }

    pub fn drain(&self) -> Vec<Event> {
        self.queue.borrow_mut().drain(..).collect()
    }
}
