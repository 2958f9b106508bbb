//! The path → znode index: a hash table of boxed (path, znode) entries.
//!
//! A slot is one pointer. A map keyed by the path would hold the 32-byte
//! path handle in every slot, and a table stays between 44% and 87% full, so
//! for a million znodes that is 86 MB of slots against 18 MB here; every
//! lookup follows the pointer to the znode anyway, and the path it compares
//! sits in the same allocation. Lookups hash the path as `str`.

use super::PathHasher;
use super::node::Znode;
use crate::proto::ZString;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// One slot's target: a znode with its path.
pub(super) struct Entry {
    pub(super) path: ZString,
    pub(super) node: Znode,
}

#[derive(Default)]
pub struct NodeTable {
    table: HashTable<Box<Entry>>,
    hasher: PathHasher,
}

impl NodeTable {
    fn hash(&self, path: &str) -> u64 {
        self.hasher.hash_one(path)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn clear(&mut self) {
        self.table.clear();
    }

    /// Room for `more` entries without growing.
    pub fn reserve(&mut self, more: usize) {
        let hasher = &self.hasher;
        self.table
            .reserve(more, |e| hasher.hash_one(e.path.as_str()));
    }

    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.get_key_value(path).map(|(_, n)| n)
    }

    pub fn get_key_value(&self, path: &str) -> Option<(&ZString, &Znode)> {
        self.table
            .find(self.hash(path), |e| e.path.as_str() == path)
            .map(|e| (&e.path, &e.node))
    }

    pub fn get_mut(&mut self, path: &str) -> Option<&mut Znode> {
        let hash = self.hash(path);
        self.table
            .find_mut(hash, |e| e.path.as_str() == path)
            .map(|e| &mut e.node)
    }

    /// The node and the path it is kept under; the path may be replaced
    /// only by an equal one.
    pub(super) fn get_entry_mut(&mut self, path: &str) -> Option<(&mut ZString, &mut Znode)> {
        let hash = self.hash(path);
        self.table
            .find_mut(hash, |e| e.path.as_str() == path)
            .map(|e| {
                let Entry { path, node } = &mut **e;
                (path, node)
            })
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Adds or replaces the node at `path`; the replaced node is returned
    /// (the path kept is the one already in the table).
    pub fn insert(&mut self, path: ZString, node: Znode) -> Option<Znode> {
        self.insert_entry(Box::new(Entry { path, node }))
    }

    /// [`NodeTable::insert`] of an entry allocated elsewhere (a loader's
    /// parsing thread).
    pub(super) fn insert_entry(&mut self, entry: Box<Entry>) -> Option<Znode> {
        let hash = self.hash(&entry.path);
        let hasher = &self.hasher;
        match self.table.entry(
            hash,
            |e| e.path == entry.path,
            |e| hasher.hash_one(e.path.as_str()),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().node, entry.node))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(entry);
                None
            }
        }
    }

    pub fn remove_entry(&mut self, path: &str) -> Option<(ZString, Znode)> {
        let hash = self.hash(path);
        let found = self
            .table
            .find_entry(hash, |e| e.path.as_str() == path)
            .ok()?;
        let (entry, _) = found.remove();
        let Entry { path, node } = *entry;
        Some((path, node))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ZString, &Znode)> {
        self.table.iter().map(|e| (&e.path, &e.node))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&ZString, &mut Znode)> {
        self.table.iter_mut().map(|e| {
            let Entry { path, node } = &mut **e;
            (&*path, node)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_version(version: i32) -> Znode {
        Znode {
            version,
            ..Default::default()
        }
    }

    #[test]
    fn behaves_as_a_map_from_path_to_node() {
        let mut t = NodeTable::default();
        assert!(t.insert("/a".into(), with_version(1)).is_none());
        assert!(t.insert("/a/b".into(), with_version(2)).is_none());
        assert_eq!(t.insert("/a".into(), with_version(3)).unwrap().version, 1);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get("/a").unwrap().version, 3);
        assert!(t.contains_key("/a/b") && !t.contains_key("/a/c") && !t.contains_key("/"));
        t.get_mut("/a/b").unwrap().version = 7;
        assert_eq!(t.get_key_value("/a/b").unwrap().1.version, 7);
        let (path, node) = t.remove_entry("/a").unwrap();
        assert_eq!((path.as_str(), node.version), ("/a", 3));
        assert!(t.remove_entry("/a").is_none());
        for (_, n) in t.iter_mut() {
            n.version += 1;
        }
        let all: Vec<(String, i32)> = t
            .iter()
            .map(|(p, n)| (p.as_str().to_owned(), n.version))
            .collect();
        assert_eq!(all, [("/a/b".to_owned(), 8)]);
    }

    #[test]
    fn keeps_every_entry_through_growth_and_removal() {
        let mut t = NodeTable::default();
        for i in 0..10_000 {
            t.insert(format!("/n{i}").into(), with_version(i));
        }
        for i in (0..10_000).step_by(2) {
            assert!(t.remove_entry(&format!("/n{i}")).is_some());
        }
        t.reserve(50_000);
        assert_eq!(t.len(), 5_000);
        for i in 0..10_000 {
            assert_eq!(
                t.get(&format!("/n{i}")).map(|n| n.version),
                (i % 2 == 1).then_some(i)
            );
        }
        t.clear();
        assert_eq!(t.len(), 0);
        assert!(t.get("/n1").is_none());
    }
}
