//! The watches this client has set, by path, as the Java client's
//! `ZKWatchManager` keeps them: so that a one-time watch is forgotten when it
//! fires, `removewatches` knows what it removes (and which `*WatchRemoved`
//! events to print), and a reconnect can set them again (`setWatches`).
//!
//! Pure bookkeeping; `session` owns one under its lock.

use std::collections::BTreeMap;

pub const DATA: u8 = 1;
pub const EXIST: u8 = 2;
pub const CHILD: u8 = 4;
pub const PERSISTENT: u8 = 8;
pub const RECURSIVE: u8 = 16;

/// `Watcher.WatcherType` as `removewatches` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Children,
    Data,
    Any,
}

impl Kind {
    pub fn wire(self) -> i32 {
        match self {
            Kind::Children => 1,
            Kind::Data => 2,
            Kind::Any => 3,
        }
    }

    /// Which kinds of watch `containsWatcher` looks at for this type.
    fn seen(self) -> u8 {
        match self {
            Kind::Children => CHILD | PERSISTENT | RECURSIVE,
            Kind::Data => DATA | EXIST | PERSISTENT | RECURSIVE,
            Kind::Any => DATA | EXIST | CHILD | PERSISTENT | RECURSIVE,
        }
    }

    /// Which kinds of watch `removeWatcher` takes away for this type.
    fn removed(self) -> u8 {
        match self {
            Kind::Children => CHILD,
            Kind::Data => DATA | EXIST,
            Kind::Any => DATA | EXIST | CHILD | PERSISTENT | RECURSIVE,
        }
    }
}

#[derive(Default, Debug)]
pub struct Watches {
    by_path: BTreeMap<String, u8>,
}

impl Watches {
    pub fn add(&mut self, path: &str, kinds: u8) {
        *self.by_path.entry(path.to_string()).or_default() |= kinds;
    }

    fn clear(&mut self, path: &str, kinds: u8) -> u8 {
        let Some(k) = self.by_path.get_mut(path) else {
            return 0;
        };
        let gone = *k & kinds;
        *k &= !kinds;
        if *k == 0 {
            self.by_path.remove(path);
        }
        gone
    }

    /// An event of type `event_type` arrived for `path`: the one-time watches it fires are gone
    /// (`ZKWatchManager.materialize`).
    pub fn fired(&mut self, event_type: i32, path: &str) {
        let kinds = match event_type {
            1 | 3 => DATA | EXIST,
            4 => CHILD,
            2 => DATA | EXIST | CHILD,
            _ => 0,
        };
        self.clear(path, kinds);
    }

    pub fn contains(&self, path: &str, kind: Kind) -> bool {
        self.by_path.get(path).is_some_and(|k| k & kind.seen() != 0)
    }

    /// Removes the watches of `kind` on `path`; returns the event types to deliver for them,
    /// in the order zkCli 3.8 prints them (data, child, persistent).
    pub fn remove(&mut self, path: &str, kind: Kind) -> Vec<i32> {
        let gone = self.clear(path, kind.removed());
        let mut events = Vec::new();
        if gone & (DATA | EXIST) != 0 {
            events.push(5);
        }
        if gone & CHILD != 0 {
            events.push(6);
        }
        if gone & (PERSISTENT | RECURSIVE) != 0 {
            events.push(7);
        }
        events
    }

    /// Paths with a watch of any of `kinds`.
    pub fn paths(&self, kinds: u8) -> Vec<String> {
        self.by_path
            .iter()
            .filter(|(_, k)| **k & kinds != 0)
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_change_fires_data_watches_and_keeps_persistent_ones() {
        let mut w = Watches::default();
        w.add("/a", DATA | CHILD | PERSISTENT);
        w.fired(3, "/a");
        assert!(!w.contains("/a", Kind::Data) || w.paths(DATA).is_empty());
        assert_eq!(w.paths(CHILD), vec!["/a".to_string()]);
        assert_eq!(w.remove("/a", Kind::Any), vec![6, 7]);
        assert!(w.is_empty());
    }

    #[test]
    fn removing_data_watches_leaves_child_watches() {
        let mut w = Watches::default();
        w.add("/a", EXIST | CHILD);
        assert!(w.contains("/a", Kind::Data));
        assert_eq!(w.remove("/a", Kind::Data), vec![5]);
        assert!(w.contains("/a", Kind::Children));
        assert!(!w.contains("/b", Kind::Any));
    }
}
