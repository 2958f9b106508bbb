//! Who votes, and when a set of votes is a quorum (ZooKeeper's `QuorumMaj`):
//! a strict majority of the participants. Observers never count.

use super::ServerId;
use bytes::Bytes;

/// One member of the ensemble as the protocol needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: ServerId,
    /// Where its learners connect when it leads (`server.N`'s first port).
    pub quorum_host: String,
    pub quorum_port: u16,
    /// Where its election connections go (`server.N`'s second port).
    pub election_host: String,
    pub election_port: u16,
    pub observer: bool,
}

/// The committed configuration: every member, and the text Apache servers
/// exchange in election notifications and NEWLEADER (`QuorumMaj.toString`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ensemble {
    /// Sorted by id.
    pub members: Vec<Member>,
    pub config_text: Bytes,
    /// The configuration's version (0 unless dynamic reconfiguration is used).
    pub version: i64,
}

impl Ensemble {
    pub fn member(&self, id: ServerId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn is_voter(&self, id: ServerId) -> bool {
        self.member(id).is_some_and(|m| !m.observer)
    }

    pub fn voters(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.members.iter().filter(|m| !m.observer).map(|m| m.id)
    }

    pub fn voter_count(&self) -> usize {
        self.voters().count()
    }

    /// Votes needed for a quorum: a strict majority of the voters.
    pub fn quorum_size(&self) -> usize {
        self.voter_count() / 2 + 1
    }

    /// Whether the voters in `acks` are a quorum (non-voters are ignored).
    pub fn is_quorum(&self, acks: &AckSet) -> bool {
        self.voters().filter(|id| acks.contains(*id)).count() >= self.quorum_size()
    }
}

/// A set of server ids (1..=255), one bit each: the acks of one proposal,
/// the voters that joined an epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AckSet([u64; 4]);

impl AckSet {
    pub fn insert(&mut self, id: ServerId) {
        if id.0 < 256 {
            self.0[(id.0 / 64) as usize] |= 1 << (id.0 % 64);
        }
    }

    pub fn contains(&self, id: ServerId) -> bool {
        id.0 < 256 && self.0[(id.0 / 64) as usize] & (1 << (id.0 % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ensemble(voters: u64, observers: u64) -> Ensemble {
        let members = (1..=voters + observers)
            .map(|i| Member {
                id: ServerId(i),
                quorum_host: "127.0.0.1".into(),
                quorum_port: 2887 + i as u16,
                election_host: "127.0.0.1".into(),
                election_port: 3887 + i as u16,
                observer: i > voters,
            })
            .collect();
        Ensemble {
            members,
            config_text: Bytes::new(),
            version: 0,
        }
    }

    #[test]
    fn a_strict_majority_of_voters_is_a_quorum_and_observers_never_count() {
        let e = ensemble(3, 2);
        let mut acks = AckSet::default();
        acks.insert(ServerId(1));
        acks.insert(ServerId(4));
        acks.insert(ServerId(5));
        assert!(!e.is_quorum(&acks), "one voter and two observers");
        acks.insert(ServerId(3));
        assert!(e.is_quorum(&acks));
        let four = ensemble(4, 0);
        let mut two = AckSet::default();
        two.insert(ServerId(1));
        two.insert(ServerId(2));
        assert!(!four.is_quorum(&two), "half of four is not a majority");
    }

    #[test]
    fn ack_sets_hold_ids_up_to_255() {
        let mut s = AckSet::default();
        for id in [1, 63, 64, 127, 128, 255] {
            s.insert(ServerId(id));
        }
        s.insert(ServerId(256)); // out of range: ignored, never aliased
        assert_eq!(s.len(), 6);
        assert!(s.contains(ServerId(255)) && !s.contains(ServerId(0)));
    }
}
