//! The watch registry of one shard: which of its connections watch which
//! paths, and which events a [`crate::tree::Trigger`] fires.
//!
//! Registration is a read-path operation, so each shard keeps its own
//! registry; the sequencer broadcasts triggers and each shard matches them
//! here. Never touches the tree or sockets, and never filters events by ACL
//! (ZooKeeper 3.9 drops an event at delivery when the session may not READ the
//! node; that check needs the node's ACL and the connection's auth, which the
//! delivering side has).
//!
//! The observable behaviour is that of ZooKeeper 3.9's `WatchManager` pair in
//! `DataTree`: a *data* table (getData and exists watches, which ZooKeeper
//! does not tell apart, plus persistent and persistent-recursive watches) and
//! a *child* table (getChildren watches plus persistent watches). Here one
//! flag set per (path, connection) stands for both tables; the counts and
//! reports below say which table ZooKeeper would read them from.

use crate::proto::{EventType, WatcherEvent, WatcherType, ZString, keeper_state};
use crate::tree::Trigger;
use std::collections::{HashMap, HashSet};

/// A connection on a shard (unique per server process).
pub type ConnId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// getData on an existing node.
    Data,
    /// exists (node present or not): fires NodeCreated, NodeDataChanged, NodeDeleted.
    Exist,
    /// getChildren / getChildren2.
    Child,
    Persistent,
    PersistentRecursive,
}

/// One-shot data watch (getData or exists): ZooKeeper's data-table STANDARD mode.
const DATA: u8 = 1;
/// One-shot child watch: ZooKeeper's child-table STANDARD mode.
const CHILD: u8 = 2;
/// Persistent watch: in both of ZooKeeper's tables.
const PERSISTENT: u8 = 4;
/// Persistent recursive watch: data table only, so never NodeChildrenChanged.
const RECURSIVE: u8 = 8;

/// Flags that put a (path, connection) pair in ZooKeeper's data table.
const IN_DATA_TABLE: u8 = DATA | PERSISTENT | RECURSIVE;
/// Flags that put a (path, connection) pair in ZooKeeper's child table.
const IN_CHILD_TABLE: u8 = CHILD | PERSISTENT;

impl WatchKind {
    fn flag(self) -> u8 {
        match self {
            WatchKind::Data | WatchKind::Exist => DATA,
            WatchKind::Child => CHILD,
            WatchKind::Persistent => PERSISTENT,
            WatchKind::PersistentRecursive => RECURSIVE,
        }
    }
}

/// The flags a checkWatches / removeWatches `type` covers (`DataTree.containsWatcher`
/// and `removeWatch`): Data covers exists watches too (one table), and Any
/// covers everything on the path, persistent and recursive included.
fn flags_of(kind: WatcherType) -> u8 {
    match kind {
        WatcherType::Children => CHILD,
        WatcherType::Data => DATA,
        WatcherType::Persistent => PERSISTENT,
        WatcherType::PersistentRecursive => RECURSIVE,
        WatcherType::Any => DATA | CHILD | PERSISTENT | RECURSIVE,
    }
}

/// What `wchs` prints (ZooKeeper's `WatchesSummary`, read from the data table only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSummary {
    pub conn_count: usize,
    pub path_count: usize,
    pub watch_count: usize,
}

#[derive(Default)]
pub struct WatchRegistry {
    /// path → connection → watch flags; no empty inner maps, no zero flags.
    paths: HashMap<ZString, HashMap<ConnId, u8>>,
    /// connection → the paths it has flags on (an index for `remove_conn`).
    conns: HashMap<ConnId, HashSet<ZString>>,
    /// Number of (path, connection) pairs with [`RECURSIVE`]: while zero a
    /// trigger never looks at ancestors.
    recursive_count: usize,
}

impl WatchRegistry {
    /// Arms a watch; false if the connection already had this kind on the path
    /// (a getData and an exists watch count as the same kind).
    pub fn add(&mut self, conn: ConnId, path: ZString, kind: WatchKind) -> bool {
        let flag = kind.flag();
        let watchers = self.paths.entry(path.clone()).or_default();
        let flags = watchers.entry(conn).or_insert(0);
        if *flags & flag != 0 {
            return false;
        }
        *flags |= flag;
        if flag == RECURSIVE {
            self.recursive_count += 1;
        }
        self.conns.entry(conn).or_default().insert(path);
        true
    }

    /// The events a change fires, one per watching connection, consuming one-shot watches.
    ///
    /// NodeCreated, NodeDataChanged and NodeDeleted fire the data watches on the
    /// path and the recursive watches on it and on every ancestor; NodeDeleted
    /// also fires the child watches on the path. NodeChildrenChanged fires
    /// child watches on the path only. Persistent watches fire on their path
    /// for all four.
    pub fn trigger(&mut self, trigger: &Trigger, out: &mut Vec<(ConnId, WatcherEvent)>) {
        // (flags that fire, one-shot flags that are consumed, whether
        // recursive watches on ancestors see it)
        let (fires, consumes, to_ancestors) = match trigger.event {
            EventType::NodeCreated | EventType::NodeDataChanged => (IN_DATA_TABLE, DATA, true),
            EventType::NodeDeleted => (IN_DATA_TABLE | IN_CHILD_TABLE, DATA | CHILD, true),
            EventType::NodeChildrenChanged => (IN_CHILD_TABLE, CHILD, false),
            EventType::None
            | EventType::DataWatchRemoved
            | EventType::ChildWatchRemoved
            | EventType::PersistentWatchRemoved => return,
        };
        let event = WatcherEvent {
            event_type: trigger.event,
            state: keeper_state::SYNC_CONNECTED,
            path: trigger.path.clone(),
        };
        let first = out.len();
        let path: &str = &trigger.path;

        if let Some(watchers) = self.paths.get_mut(path) {
            let conns = &mut self.conns;
            watchers.retain(|&conn, flags| {
                if *flags & fires == 0 {
                    return true;
                }
                out.push((conn, event.clone()));
                *flags &= !consumes;
                if *flags != 0 {
                    return true;
                }
                forget_path(conns, conn, path);
                false
            });
            if watchers.is_empty() {
                self.paths.remove(path);
            }
        }

        if !to_ancestors || self.recursive_count == 0 {
            return;
        }
        // Connections already notified by this trigger (built on first need).
        let mut notified: Option<HashSet<ConnId>> = None;
        for ancestor in ancestors(path) {
            let Some(watchers) = self.paths.get(ancestor) else {
                continue;
            };
            for (&conn, &flags) in watchers {
                if flags & RECURSIVE == 0 {
                    continue;
                }
                let seen =
                    notified.get_or_insert_with(|| out[first..].iter().map(|(c, _)| *c).collect());
                if seen.insert(conn) {
                    out.push((conn, event.clone()));
                }
            }
        }
    }

    /// Drops every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnId) {
        let Some(paths) = self.conns.remove(&conn) else {
            return;
        };
        for path in paths {
            let Some(watchers) = self.paths.get_mut(&path) else {
                continue;
            };
            if let Some(flags) = watchers.remove(&conn)
                && flags & RECURSIVE != 0
            {
                self.recursive_count -= 1;
            }
            if watchers.is_empty() {
                self.paths.remove(&path);
            }
        }
    }

    /// checkWatches: whether `conn` has a watch of `kind` on `path`.
    pub fn check(&self, conn: ConnId, path: &str, kind: WatcherType) -> bool {
        self.flags(conn, path) & flags_of(kind) != 0
    }

    /// removeWatches: drops `conn`'s watches of `kind` on `path`; false if it had none.
    pub fn remove(&mut self, conn: ConnId, path: &str, kind: WatcherType) -> bool {
        let Some(watchers) = self.paths.get_mut(path) else {
            return false;
        };
        let Some(flags) = watchers.get_mut(&conn) else {
            return false;
        };
        let removed = *flags & flags_of(kind);
        if removed == 0 {
            return false;
        }
        *flags &= !removed;
        if removed & RECURSIVE != 0 {
            self.recursive_count -= 1;
        }
        if *flags == 0 {
            watchers.remove(&conn);
            if watchers.is_empty() {
                self.paths.remove(path);
            }
            forget_path(&mut self.conns, conn, path);
        }
        true
    }

    fn flags(&self, conn: ConnId, path: &str) -> u8 {
        self.paths
            .get(path)
            .and_then(|w| w.get(&conn))
            .copied()
            .unwrap_or(0)
    }

    /// mntr's `zk_watch_count` (`DataTree.getWatchCount`): watching
    /// (path, connection) pairs in the data table plus those in the child
    /// table, so a persistent watch counts twice and a getData plus an exists
    /// watch once.
    pub fn watch_count(&self) -> usize {
        self.paths
            .values()
            .flat_map(|w| w.values())
            .map(|&f| usize::from(f & IN_DATA_TABLE != 0) + usize::from(f & IN_CHILD_TABLE != 0))
            .sum()
    }

    /// `wchs` (and the admin `watch_summary`): ZooKeeper reads it from the data
    /// table only, so connections and paths with nothing but getChildren
    /// watches do not appear.
    pub fn summary(&self) -> WatchSummary {
        let mut summary = WatchSummary::default();
        let mut conns = HashSet::new();
        for watchers in self.paths.values() {
            let mut on_path = 0;
            for (&conn, &flags) in watchers {
                if flags & IN_DATA_TABLE != 0 {
                    on_path += 1;
                    conns.insert(conn);
                }
            }
            if on_path > 0 {
                summary.path_count += 1;
                summary.watch_count += on_path;
            }
        }
        summary.conn_count = conns.len();
        summary
    }

    /// Paths as `wchs` counts them (data table only; see [`summary`](Self::summary)).
    pub fn path_count(&self) -> usize {
        self.summary().path_count
    }

    /// Connections as `wchs` counts them (data table only; see [`summary`](Self::summary)).
    pub fn conn_count(&self) -> usize {
        self.summary().conn_count
    }

    /// `wchc`: each connection with the paths it watches, sorted. Like
    /// ZooKeeper, only data-table watches are listed (getChildren watches are not).
    pub fn by_conn(&self) -> Vec<(ConnId, Vec<ZString>)> {
        let mut out: Vec<(ConnId, Vec<ZString>)> = self
            .conns
            .iter()
            .map(|(&conn, paths)| {
                let mut listed: Vec<ZString> = paths
                    .iter()
                    .filter(|p| self.flags(conn, p) & IN_DATA_TABLE != 0)
                    .cloned()
                    .collect();
                listed.sort();
                (conn, listed)
            })
            .filter(|(_, paths)| !paths.is_empty())
            .collect();
        out.sort_by_key(|(conn, _)| *conn);
        out
    }

    /// `wchp`: each watched path with its connections, sorted. Like
    /// ZooKeeper, only data-table watches are listed (getChildren watches are not).
    pub fn by_path(&self) -> Vec<(ZString, Vec<ConnId>)> {
        let mut out: Vec<(ZString, Vec<ConnId>)> = self
            .paths
            .iter()
            .map(|(path, watchers)| {
                let mut listed: Vec<ConnId> = watchers
                    .iter()
                    .filter(|(_, f)| **f & IN_DATA_TABLE != 0)
                    .map(|(c, _)| *c)
                    .collect();
                listed.sort();
                (path.clone(), listed)
            })
            .filter(|(_, conns)| !conns.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

fn forget_path(conns: &mut HashMap<ConnId, HashSet<ZString>>, conn: ConnId, path: &str) {
    if let Some(paths) = conns.get_mut(&conn) {
        paths.remove(path);
        if paths.is_empty() {
            conns.remove(&conn);
        }
    }
}

/// The proper ancestors of an absolute path, nearest first, ending with `/`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        if rest == "/" || rest.is_empty() {
            return None;
        }
        rest = match rest.rfind('/') {
            Some(0) => "/",
            Some(i) => &rest[..i],
            None => "",
        };
        (!rest.is_empty()).then_some(rest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Acl, Zxid};
    use std::sync::Arc;

    fn trigger(path: &str, event: EventType, zxid: Zxid) -> Trigger {
        Trigger {
            path: path.into(),
            event,
            zxid,
            acl: Arc::from(Vec::<Acl>::new()),
        }
    }

    fn fire(reg: &mut WatchRegistry, path: &str, event: EventType) -> Vec<(ConnId, EventType)> {
        let mut out = Vec::new();
        let t = trigger(path, event, Zxid(7));
        reg.trigger(&t, &mut out);
        for (_, ev) in &out {
            assert_eq!(ev.path.as_ref(), path);
            assert_eq!(ev.state, keeper_state::SYNC_CONNECTED);
        }
        let mut got: Vec<(ConnId, EventType)> =
            out.into_iter().map(|(c, e)| (c, e.event_type)).collect();
        got.sort_by_key(|(c, _)| *c);
        got
    }

    fn assert_empty(reg: &WatchRegistry) {
        assert!(
            reg.paths.is_empty(),
            "paths left: {:?}",
            reg.paths.keys().collect::<Vec<_>>()
        );
        assert!(reg.conns.is_empty());
        assert_eq!(reg.recursive_count, 0);
        assert_eq!(reg.watch_count(), 0);
        assert_eq!(reg.summary(), WatchSummary::default());
    }

    #[test]
    fn ancestors_walk_up_to_root() {
        assert_eq!(
            ancestors("/a/b/c").collect::<Vec<_>>(),
            vec!["/a/b", "/a", "/"]
        );
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(ancestors("/").count(), 0);
    }

    #[test]
    fn data_watch_is_one_shot() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data);
        assert_eq!(
            fire(&mut reg, "/a", EventType::NodeDataChanged),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert!(fire(&mut reg, "/a", EventType::NodeDataChanged).is_empty());
        assert_empty(&reg);
    }

    #[test]
    fn exist_watch_fires_node_created_once() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/later".into(), WatchKind::Exist);
        assert_eq!(
            fire(&mut reg, "/later", EventType::NodeCreated),
            vec![(1, EventType::NodeCreated)]
        );
        assert!(fire(&mut reg, "/later", EventType::NodeDeleted).is_empty());
        assert_empty(&reg);
    }

    #[test]
    fn get_data_and_exists_on_same_path_give_one_event() {
        let mut reg = WatchRegistry::default();
        assert!(reg.add(1, "/a".into(), WatchKind::Data));
        assert!(
            !reg.add(1, "/a".into(), WatchKind::Exist),
            "same data-table watch"
        );
        assert_eq!(reg.watch_count(), 1);
        assert_eq!(
            fire(&mut reg, "/a", EventType::NodeDataChanged),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert_empty(&reg);
    }

    #[test]
    fn child_watch_fires_on_children_changed_not_on_data_change() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/p".into(), WatchKind::Child);
        assert!(fire(&mut reg, "/p", EventType::NodeDataChanged).is_empty());
        assert!(fire(&mut reg, "/p", EventType::NodeCreated).is_empty());
        assert_eq!(
            fire(&mut reg, "/p", EventType::NodeChildrenChanged),
            vec![(1, EventType::NodeChildrenChanged)]
        );
        assert!(fire(&mut reg, "/p", EventType::NodeChildrenChanged).is_empty());
        assert_empty(&reg);
    }

    #[test]
    fn delete_consumes_data_and_child_watches_with_one_event() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data);
        reg.add(1, "/a".into(), WatchKind::Child);
        reg.add(2, "/a".into(), WatchKind::Child);
        assert_eq!(
            fire(&mut reg, "/a", EventType::NodeDeleted),
            vec![(1, EventType::NodeDeleted), (2, EventType::NodeDeleted)]
        );
        assert_empty(&reg);
    }

    #[test]
    fn children_changed_leaves_data_watch_armed() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data);
        reg.add(1, "/a".into(), WatchKind::Child);
        assert_eq!(
            fire(&mut reg, "/a", EventType::NodeChildrenChanged).len(),
            1
        );
        assert!(reg.check(1, "/a", WatcherType::Data));
        assert!(!reg.check(1, "/a", WatcherType::Children));
        assert_eq!(
            fire(&mut reg, "/a", EventType::NodeDataChanged),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert_empty(&reg);
    }

    #[test]
    fn persistent_watch_stays_after_firing() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/p".into(), WatchKind::Persistent);
        for event in [
            EventType::NodeCreated,
            EventType::NodeDataChanged,
            EventType::NodeChildrenChanged,
            EventType::NodeDeleted,
            EventType::NodeCreated,
        ] {
            assert_eq!(fire(&mut reg, "/p", event), vec![(1, event)]);
        }
        assert!(reg.check(1, "/p", WatcherType::Persistent));
        assert!(
            fire(&mut reg, "/p/child", EventType::NodeCreated).is_empty(),
            "not recursive"
        );
    }

    #[test]
    fn persistent_watch_with_one_shot_gives_one_event_and_consumes_the_one_shot() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/p".into(), WatchKind::Persistent);
        reg.add(1, "/p".into(), WatchKind::Data);
        assert_eq!(
            fire(&mut reg, "/p", EventType::NodeDataChanged),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert!(!reg.check(1, "/p", WatcherType::Data));
        assert!(reg.check(1, "/p", WatcherType::Persistent));
    }

    #[test]
    fn one_shot_added_after_persistent_does_not_downgrade_it() {
        // 3.9 keeps every mode a connection set on a path (WatchStats), so a
        // later getData watch adds a one-shot instead of replacing the mode.
        let mut reg = WatchRegistry::default();
        reg.add(1, "/p".into(), WatchKind::PersistentRecursive);
        reg.add(1, "/p".into(), WatchKind::Persistent);
        assert!(reg.add(1, "/p".into(), WatchKind::Exist));
        assert_eq!(
            fire(&mut reg, "/p", EventType::NodeDeleted),
            vec![(1, EventType::NodeDeleted)]
        );
        assert!(!reg.check(1, "/p", WatcherType::Data));
        assert!(reg.check(1, "/p", WatcherType::Persistent));
        assert!(reg.check(1, "/p", WatcherType::PersistentRecursive));
        assert_eq!(
            fire(&mut reg, "/p/x", EventType::NodeCreated),
            vec![(1, EventType::NodeCreated)]
        );
    }

    #[test]
    fn recursive_watch_covers_descendants_but_not_child_events() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/r".into(), WatchKind::PersistentRecursive);
        assert_eq!(
            fire(&mut reg, "/r/a/b", EventType::NodeCreated),
            vec![(1, EventType::NodeCreated)]
        );
        assert_eq!(
            fire(&mut reg, "/r/a", EventType::NodeDataChanged),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert_eq!(
            fire(&mut reg, "/r/a/b", EventType::NodeDeleted),
            vec![(1, EventType::NodeDeleted)]
        );
        assert_eq!(
            fire(&mut reg, "/r", EventType::NodeDataChanged),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert!(fire(&mut reg, "/r", EventType::NodeChildrenChanged).is_empty());
        assert!(fire(&mut reg, "/r/a", EventType::NodeChildrenChanged).is_empty());
        assert!(fire(&mut reg, "/other", EventType::NodeCreated).is_empty());
        assert!(
            fire(&mut reg, "/rx", EventType::NodeCreated).is_empty(),
            "a name prefix is not an ancestor"
        );
        assert!(reg.check(1, "/r", WatcherType::PersistentRecursive));
    }

    #[test]
    fn recursive_watch_on_root_sees_everything() {
        let mut reg = WatchRegistry::default();
        reg.add(4, "/".into(), WatchKind::PersistentRecursive);
        assert_eq!(
            fire(&mut reg, "/x/y/z", EventType::NodeCreated),
            vec![(4, EventType::NodeCreated)]
        );
        assert_eq!(
            fire(&mut reg, "/", EventType::NodeDataChanged),
            vec![(4, EventType::NodeDataChanged)]
        );
    }

    #[test]
    fn one_event_per_conn_per_trigger() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/".into(), WatchKind::PersistentRecursive);
        reg.add(1, "/a".into(), WatchKind::PersistentRecursive);
        reg.add(1, "/a/b".into(), WatchKind::PersistentRecursive);
        reg.add(1, "/a/b".into(), WatchKind::Data);
        reg.add(1, "/a/b".into(), WatchKind::Persistent);
        reg.add(2, "/a".into(), WatchKind::PersistentRecursive);
        reg.add(2, "/a/b".into(), WatchKind::Exist);
        reg.add(3, "/a/b".into(), WatchKind::Child);
        assert_eq!(
            fire(&mut reg, "/a/b", EventType::NodeDeleted),
            vec![
                (1, EventType::NodeDeleted),
                (2, EventType::NodeDeleted),
                (3, EventType::NodeDeleted)
            ]
        );
        // the one-shots went with it; the persistent ones stayed
        assert!(!reg.check(1, "/a/b", WatcherType::Data));
        assert!(!reg.check(2, "/a/b", WatcherType::Data));
        assert!(!reg.check(3, "/a/b", WatcherType::Children));
        assert!(reg.check(1, "/a/b", WatcherType::PersistentRecursive));
        assert_eq!(
            fire(&mut reg, "/a/b/c", EventType::NodeCreated),
            vec![(1, EventType::NodeCreated), (2, EventType::NodeCreated)]
        );
    }

    #[test]
    fn recursive_count_tracks_adds_and_removes() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/r".into(), WatchKind::PersistentRecursive);
        assert!(!reg.add(1, "/r".into(), WatchKind::PersistentRecursive));
        assert_eq!(reg.recursive_count, 1);
        reg.add(2, "/r".into(), WatchKind::PersistentRecursive);
        assert_eq!(reg.recursive_count, 2);
        assert!(reg.remove(1, "/r", WatcherType::PersistentRecursive));
        assert_eq!(reg.recursive_count, 1);
        reg.remove_conn(2);
        assert_eq!(reg.recursive_count, 0);
        assert!(fire(&mut reg, "/r/x", EventType::NodeCreated).is_empty());
        assert_empty(&reg);
    }

    #[test]
    fn remove_conn_cleans_everything_including_counts() {
        let mut reg = WatchRegistry::default();
        for (path, kind) in [
            ("/a", WatchKind::Data),
            ("/a", WatchKind::Child),
            ("/b", WatchKind::Exist),
            ("/c", WatchKind::Persistent),
            ("/d", WatchKind::PersistentRecursive),
        ] {
            reg.add(1, path.into(), kind);
        }
        reg.add(2, "/a".into(), WatchKind::Data);
        reg.remove_conn(1);
        assert_eq!(reg.watch_count(), 1);
        assert_eq!(reg.by_conn(), vec![(2, vec![ZString::from("/a")])]);
        assert_eq!(reg.recursive_count, 0);
        assert!(fire(&mut reg, "/d/x", EventType::NodeCreated).is_empty());
        assert!(fire(&mut reg, "/c", EventType::NodeDataChanged).is_empty());
        reg.remove_conn(2);
        reg.remove_conn(99); // unknown: no-op
        assert_empty(&reg);
    }

    #[test]
    fn check_watches_per_type() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/e".into(), WatchKind::Exist);
        reg.add(1, "/c".into(), WatchKind::Child);
        reg.add(1, "/p".into(), WatchKind::Persistent);
        reg.add(1, "/r".into(), WatchKind::PersistentRecursive);
        // Data covers exists watches (one table in ZooKeeper)
        assert!(reg.check(1, "/e", WatcherType::Data));
        assert!(!reg.check(1, "/e", WatcherType::Children));
        assert!(reg.check(1, "/c", WatcherType::Children));
        assert!(!reg.check(1, "/c", WatcherType::Data));
        // persistent watches are only found by their own type or Any
        assert!(!reg.check(1, "/p", WatcherType::Data));
        assert!(!reg.check(1, "/p", WatcherType::Children));
        assert!(reg.check(1, "/p", WatcherType::Persistent));
        assert!(!reg.check(1, "/p", WatcherType::PersistentRecursive));
        assert!(reg.check(1, "/r", WatcherType::PersistentRecursive));
        assert!(!reg.check(1, "/r", WatcherType::Persistent));
        for path in ["/e", "/c", "/p", "/r"] {
            assert!(reg.check(1, path, WatcherType::Any), "{path}");
            assert!(
                !reg.check(2, path, WatcherType::Any),
                "{path} for another conn"
            );
        }
        assert!(!reg.check(1, "/none", WatcherType::Any));
        // a recursive watch on an ancestor is not a watch on the descendant
        assert!(!reg.check(1, "/r/x", WatcherType::Any));
    }

    #[test]
    fn remove_watches_per_type() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data);
        reg.add(1, "/a".into(), WatchKind::Child);
        reg.add(1, "/a".into(), WatchKind::Persistent);
        reg.add(1, "/a".into(), WatchKind::PersistentRecursive);

        assert!(reg.remove(1, "/a", WatcherType::Children));
        assert!(!reg.remove(1, "/a", WatcherType::Children), "already gone");
        assert!(reg.check(1, "/a", WatcherType::Data));

        assert!(reg.remove(1, "/a", WatcherType::Data));
        assert!(
            reg.check(1, "/a", WatcherType::Persistent),
            "Data leaves persistent watches"
        );

        assert!(reg.remove(1, "/a", WatcherType::Persistent));
        assert!(!reg.check(1, "/a", WatcherType::Persistent));
        assert!(reg.check(1, "/a", WatcherType::PersistentRecursive));

        assert!(
            !reg.remove(2, "/a", WatcherType::Any),
            "another conn's watches are not ours"
        );
        assert!(reg.remove(1, "/a", WatcherType::PersistentRecursive));
        assert!(!reg.remove(1, "/a", WatcherType::Any));
        assert_empty(&reg);
    }

    #[test]
    fn remove_any_drops_persistent_and_recursive_too() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Exist);
        reg.add(1, "/a".into(), WatchKind::Persistent);
        reg.add(1, "/a".into(), WatchKind::PersistentRecursive);
        reg.add(1, "/b".into(), WatchKind::Data);
        assert!(reg.remove(1, "/a", WatcherType::Any));
        assert!(!reg.check(1, "/a", WatcherType::Any));
        assert_eq!(reg.recursive_count, 0);
        assert!(fire(&mut reg, "/a/x", EventType::NodeCreated).is_empty());
        assert!(
            reg.check(1, "/b", WatcherType::Data),
            "other paths untouched"
        );
    }

    #[test]
    fn removing_a_one_shot_keeps_the_persistent_watch_firing() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data);
        reg.add(1, "/a".into(), WatchKind::Persistent);
        assert!(reg.remove(1, "/a", WatcherType::Data));
        assert_eq!(
            fire(&mut reg, "/a", EventType::NodeDataChanged),
            vec![(1, EventType::NodeDataChanged)]
        );
    }

    #[test]
    fn watch_count_counts_data_and_child_tables_like_zookeeper() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data); // data table
        reg.add(1, "/a".into(), WatchKind::Exist); // same entry
        reg.add(1, "/a".into(), WatchKind::Child); // child table
        reg.add(1, "/p".into(), WatchKind::Persistent); // both tables
        reg.add(2, "/r".into(), WatchKind::PersistentRecursive); // data table
        reg.add(2, "/r".into(), WatchKind::Data); // same data-table entry
        assert_eq!(reg.watch_count(), 5);
    }

    #[test]
    fn reports_list_data_table_watches_only_like_wchc_and_wchp() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data);
        reg.add(1, "/kids".into(), WatchKind::Child);
        reg.add(2, "/a".into(), WatchKind::Exist);
        reg.add(2, "/p".into(), WatchKind::Persistent);
        reg.add(3, "/only-kids".into(), WatchKind::Child);
        assert_eq!(
            reg.by_conn(),
            vec![
                (1, vec![ZString::from("/a")]),
                (2, vec![ZString::from("/a"), ZString::from("/p")]),
            ]
        );
        assert_eq!(
            reg.by_path(),
            vec![
                (ZString::from("/a"), vec![1, 2]),
                (ZString::from("/p"), vec![2])
            ]
        );
        assert_eq!(
            reg.summary(),
            WatchSummary {
                conn_count: 2,
                path_count: 2,
                watch_count: 3
            }
        );
        assert_eq!(reg.conn_count(), 2);
        assert_eq!(reg.path_count(), 2);
        assert_eq!(reg.watch_count(), 6);
    }

    #[test]
    fn non_watch_event_types_fire_nothing() {
        let mut reg = WatchRegistry::default();
        reg.add(1, "/a".into(), WatchKind::Data);
        reg.add(1, "/a".into(), WatchKind::Persistent);
        for event in [
            EventType::None,
            EventType::DataWatchRemoved,
            EventType::PersistentWatchRemoved,
        ] {
            assert!(fire(&mut reg, "/a", event).is_empty());
        }
        assert!(reg.check(1, "/a", WatcherType::Data));
    }

    #[test]
    fn event_carries_trigger_type_path_and_sync_connected() {
        let mut reg = WatchRegistry::default();
        reg.add(9, "/r".into(), WatchKind::PersistentRecursive);
        let mut out = Vec::new();
        let t = trigger(
            "/r/deep/node",
            EventType::NodeDataChanged,
            Zxid(0x1_0000_0005),
        );
        reg.trigger(&t, &mut out);
        assert_eq!(
            out,
            vec![(
                9,
                WatcherEvent {
                    event_type: EventType::NodeDataChanged,
                    state: 3,
                    path: "/r/deep/node".into(),
                }
            )]
        );
    }
}
