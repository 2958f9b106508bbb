//! One znode: persisted stat fields, data, ACL reference, children names, and
//! what its `ephemeralOwner` means (ZooKeeper's `EphemeralType`).
//!
//! The fields hold ZooKeeper's *persisted* stat (`StatPersisted`, what a
//! snapshot stores); [`Znode::stat`] derives the client-visible `Stat` from it
//! exactly as `DataNode.copyStat` does.

use super::{Name, PathHasher};
use crate::proto::Stat;
use std::collections::HashSet;

/// `ephemeralOwner` of a container node (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// Top byte set: an extended type (`EphemeralType.EXTENDED_MASK`).
const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000_u64 as i64;
/// The two bytes under the top byte name the extended type; 0 is TTL.
const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;
const RESERVED_BITS_SHIFT: u32 = 40;
const EXTENDED_BIT_TTL: i64 = 0;

/// The largest TTL a node may carry: the low 40 bits (about 12,725 days).
pub const TTL_MAX_MS: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);

/// What a node's `ephemeralOwner` says about it (ZooKeeper's `EphemeralType`,
/// with `VOID` and `NORMAL` renamed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// `ephemeralOwner == 0`.
    #[default]
    Persistent,
    /// Owned by the session whose id is the `ephemeralOwner`.
    Ephemeral,
    /// `ephemeralOwner == i64::MIN`: deleted by the container manager once empty.
    Container,
    /// `0xff` top byte, TTL in the low 40 bits; needs `extendedTypesEnabled`.
    Ttl,
}

impl NodeKind {
    /// Classifies an `ephemeralOwner` as `EphemeralType.get` does. With
    /// extended types disabled (ZooKeeper's default) an owner with the `0xff`
    /// top byte is an ordinary session id (server id 255).
    pub fn of(owner: i64, extended_types_enabled: bool) -> NodeKind {
        if extended_types_enabled && owner & EXTENDED_MASK == EXTENDED_MASK {
            // ZooKeeper throws on an unknown extended type; such an owner can
            // only come from a corrupt snapshot, so it is left as an owner id.
            return if (owner & RESERVED_BITS_MASK) >> RESERVED_BITS_SHIFT == EXTENDED_BIT_TTL {
                NodeKind::Ttl
            } else {
                NodeKind::Ephemeral
            };
        }
        match owner {
            CONTAINER_OWNER => NodeKind::Container,
            0 => NodeKind::Persistent,
            _ => NodeKind::Ephemeral,
        }
    }
}

/// The `ephemeralOwner` of a TTL node (`EphemeralType.TTL.toEphemeralOwner`);
/// `None` when the TTL is not in `1..=TTL_MAX_MS`.
pub fn ttl_owner(ttl_ms: i64) -> Option<i64> {
    if ttl_ms <= 0 || ttl_ms > TTL_MAX_MS {
        return None;
    }
    Some(EXTENDED_MASK | (EXTENDED_BIT_TTL << RESERVED_BITS_SHIFT) | ttl_ms)
}

/// The TTL carried by a TTL node's `ephemeralOwner`.
pub fn ttl_of(owner: i64) -> i64 {
    owner & TTL_MAX_MS
}

#[derive(Clone, Debug, Default)]
pub struct Znode {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// The persisted cversion: how many children were ever created under this
    /// node (deletes do not count). It is what the next sequential suffix is
    /// made of; clients see `2 * cversion - numChildren` (see [`Znode::stat`]).
    pub cversion: i32,
    pub aversion: i32,
    /// 0, an owning session id, the container marker or a TTL (see [`NodeKind`]).
    pub ephemeral_owner: i64,
    pub pzxid: i64,
    pub data: crate::proto::ZData,
    /// Index into the tree's [`super::AclCache`] (ZooKeeper's `Long` ACL ids;
    /// [`super::acl::OPEN_UNSAFE_ACL_ID`] is ZooKeeper's -1).
    pub acl: u64,
    /// Child names (last path segment only).
    pub children: Children,
    /// What `ephemeral_owner` means, fixed when the node enters the tree.
    pub kind: NodeKind,
}

impl Znode {
    /// The stat a client sees (`DataNode.copyStat`): cversion translated from
    /// "creates" to "changes" (each create counts once, each delete once), and
    /// the owner hidden for containers and TTL nodes.
    pub fn stat(&self) -> Stat {
        let num_children = self.children.len() as i32;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            // Java int arithmetic: wraps rather than overflowing.
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: self.aversion,
            ephemeral_owner: match self.kind {
                NodeKind::Container | NodeKind::Ttl => 0,
                NodeKind::Persistent | NodeKind::Ephemeral => self.ephemeral_owner,
            },
            data_length: self.data.len() as i32,
            num_children,
            pzxid: self.pzxid,
        }
    }
}

/// A node's child names (last path segments, see [`Name`]). Most znodes are
/// leaves, so the set lives in a box made at the first child: 8 bytes in
/// every node instead of an inline set's 40. Once made it stays, as
/// ZooKeeper's does (a lock or queue parent empties and fills again and again).
#[derive(Clone, Debug, Default)]
pub struct Children(Option<Box<ChildSet>>);

type ChildSet = HashSet<Name, PathHasher>;

impl Children {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().flat_map(|s| s.iter()).map(Name::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(name))
    }

    /// Adds a name; false if it was there.
    pub fn insert(&mut self, name: &str) -> bool {
        self.0.get_or_insert_default().insert(Name::from(name))
    }

    /// Removes a name; false if it was not there.
    pub fn remove(&mut self, name: &str) -> bool {
        self.0.as_mut().is_some_and(|s| s.remove(name))
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Adds many names, with room made for all of them first.
    pub fn extend(&mut self, names: impl ExactSizeIterator<Item = Name>) {
        if names.len() == 0 {
            return;
        }
        let set = self.0.get_or_insert_default();
        set.reserve(names.len());
        set.extend(names);
    }
}

impl<'a> FromIterator<&'a str> for Children {
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> Children {
        let set: ChildSet = names.into_iter().map(Name::from).collect();
        Children((!set.is_empty()).then(|| Box::new(set)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_owner_sets_top_byte_and_keeps_ttl_in_low_40_bits() {
        let owner = ttl_owner(1000).unwrap();
        assert_eq!(owner as u64, 0xff00_0000_0000_03e8);
        assert_eq!(ttl_of(owner), 1000);
        assert_eq!(NodeKind::of(owner, true), NodeKind::Ttl);
        assert_eq!(TTL_MAX_MS, (1 << 40) - 1);
        assert_eq!(ttl_owner(0), None);
        assert_eq!(ttl_owner(-5), None);
        assert_eq!(ttl_owner(TTL_MAX_MS + 1), None);
        assert!(ttl_owner(TTL_MAX_MS).is_some());
    }

    #[test]
    fn owner_classification_follows_ephemeral_type() {
        assert_eq!(NodeKind::of(0, true), NodeKind::Persistent);
        assert_eq!(NodeKind::of(i64::MIN, false), NodeKind::Container);
        assert_eq!(
            NodeKind::of(0x0100_0000_0000_0001, true),
            NodeKind::Ephemeral
        );
        // Without extended types, a 0xff.. owner is a session of server 255.
        let owner = ttl_owner(5).unwrap();
        assert_eq!(NodeKind::of(owner, false), NodeKind::Ephemeral);
        // An extended owner with a non-TTL type byte is not a TTL.
        assert_eq!(
            NodeKind::of(0xff00_0100_0000_0005_u64 as i64, true),
            NodeKind::Ephemeral
        );
    }

    #[test]
    fn children_start_unallocated_and_behave_as_a_set() {
        let mut c = Children::default();
        assert!(c.is_empty() && c.0.is_none());
        assert!(!c.remove("a"));
        assert!(c.insert("a"));
        assert!(!c.insert("a"));
        c.extend(["b".into(), "c".into()].into_iter());
        assert_eq!(c.len(), 3);
        assert!(c.contains("b") && c.contains("c") && !c.contains("d"));
        assert!(c.remove("a"));
        let mut names: Vec<&str> = c.iter().collect();
        names.sort();
        assert_eq!(names, ["b", "c"]);
        let empty: Children = std::iter::empty().collect();
        assert!(empty.0.is_none());
        assert!(std::mem::size_of::<Children>() == 8);
    }

    #[test]
    fn client_stat_translates_cversion_and_hides_special_owners() {
        let mut n = Znode {
            cversion: 3,
            ephemeral_owner: CONTAINER_OWNER,
            kind: NodeKind::Container,
            ..Default::default()
        };
        n.children.insert("a");
        let s = n.stat();
        // 3 creates, 1 child left: 3 creates + 2 deletes = 5 changes.
        assert_eq!(s.cversion, 5);
        assert_eq!(s.num_children, 1);
        assert_eq!(s.ephemeral_owner, 0);
        n.kind = NodeKind::Ephemeral;
        n.ephemeral_owner = 42;
        assert_eq!(n.stat().ephemeral_owner, 42);
    }
}
