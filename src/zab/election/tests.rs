//! Rule-by-rule tests of one `Election`, then whole elections over a seeded
//! in-test network (`Sim`).

use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

fn sid(n: u64) -> ServerId {
    ServerId(n)
}

fn ids(list: &[u64]) -> BTreeSet<ServerId> {
    list.iter().copied().map(ServerId).collect()
}

fn config_text(voters: &[u64], observers: &[u64]) -> Bytes {
    let mut text = String::new();
    for &v in voters {
        text += &format!(
            "server.{v}=127.0.0.1:{}:{}:participant\n",
            2880 + v,
            3880 + v
        );
    }
    for &o in observers {
        text += &format!("server.{o}=127.0.0.1:{}:{}:observer\n", 2880 + o, 3880 + o);
    }
    text += "version=0";
    Bytes::from(text)
}

fn config(me: u64, voters: &[u64], observers: &[u64]) -> ElectionConfig {
    ElectionConfig::new(
        sid(me),
        ids(voters),
        ids(observers),
        config_text(voters, observers),
    )
}

/// A voter of `voters` with election connections to every other voter.
fn connected(me: u64, voters: &[u64]) -> Election {
    let mut e = Election::new(config(me, voters, &[]));
    for &v in voters {
        e.peer_connected(sid(v));
    }
    e
}

fn note(state: PeerState, leader: i64, zxid: i64, round: i64, peer_epoch: i64) -> Notification {
    Notification {
        state,
        leader,
        zxid,
        election_epoch: round,
        peer_epoch,
        version: 2,
        config: Bytes::new(),
    }
}

fn looking(leader: i64, zxid: i64, round: i64, peer_epoch: i64) -> Notification {
    note(PeerState::Looking, leader, zxid, round, peer_epoch)
}

fn vote(leader: i64, zxid: i64, round: i64, peer_epoch: i64) -> Vote {
    Vote {
        leader,
        zxid,
        election_epoch: round,
        peer_epoch,
    }
}

fn drain(e: &mut Election) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn sends(outs: &[Output]) -> Vec<(ServerId, Notification)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn decision(outs: &[Output]) -> Option<(PeerState, ServerId, Vote)> {
    outs.iter().find_map(|o| match o {
        Output::Decided {
            state,
            leader,
            vote,
        } => Some((*state, *leader, *vote)),
        _ => None,
    })
}

/// The four vote fields and the state of a sent notification.
fn fields(n: &Notification) -> (PeerState, i64, i64, i64, i64) {
    (n.state, n.leader, n.zxid, n.election_epoch, n.peer_epoch)
}

// ---- start, proposals and what is sent ----

#[test]
fn start_proposes_ourselves_to_every_other_voter_with_the_config() {
    let mut e = connected(1, &[1, 2, 3]);
    e.start(0, 0x1_0000_0005, 1);
    let out = drain(&mut e);
    let sent = sends(&out);
    assert_eq!(
        sent.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        [sid(2), sid(3)]
    );
    for (_, n) in &sent {
        assert_eq!(fields(n), (PeerState::Looking, 1, 0x1_0000_0005, 1, 1));
        assert_eq!(n.version, 2);
        assert_eq!(n.config, config_text(&[1, 2, 3], &[]));
    }
    assert_eq!(e.logical_clock(), 1);
    assert_eq!(e.state(), PeerState::Looking);
    assert_eq!(e.proposal(), vote(1, 0x1_0000_0005, 1, 1));
    assert_eq!(decision(&out), None);
}

#[test]
fn each_start_is_a_new_round() {
    let mut e = connected(1, &[1, 2, 3]);
    e.start(0, 5, 1);
    e.start(10, 5, 1);
    assert_eq!(e.logical_clock(), 2);
    let last = sends(&drain(&mut e)).pop().unwrap().1;
    assert_eq!(last.election_epoch, 2);
}

#[test]
fn an_ensemble_of_one_leads_at_once() {
    let mut e = Election::new(config(7, &[7], &[]));
    e.start(0, 9, 2);
    let out = drain(&mut e);
    assert_eq!(sends(&out), []);
    assert_eq!(
        decision(&out),
        Some((PeerState::Leading, sid(7), vote(7, 9, 1, 2)))
    );
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn total_order_is_epoch_then_zxid_then_sid_and_non_voters_never_win() {
    let e = Election::new(config(1, &[1, 2, 3], &[4]));
    let c = |leader, zxid, peer_epoch| Candidate {
        leader,
        zxid,
        peer_epoch,
    };
    assert!(
        e.beats(c(1, 0, 2), c(3, 100, 1)),
        "higher epoch wins over zxid and sid"
    );
    assert!(
        e.beats(c(1, 101, 1), c(3, 100, 1)),
        "same epoch: higher zxid wins over sid"
    );
    assert!(
        e.beats(c(3, 100, 1), c(2, 100, 1)),
        "same epoch and zxid: higher sid"
    );
    assert!(!e.beats(c(2, 100, 1), c(2, 100, 1)), "equal is not better");
    assert!(
        !e.beats(c(4, 999, 9), Candidate::NONE),
        "an observer never wins"
    );
    assert!(
        !e.beats(c(9, 999, 9), Candidate::NONE),
        "nor an unknown sid"
    );
    assert!(!e.beats(c(i64::MIN, 0, 0), Candidate::NONE));
}

// ---- rounds ----

#[test]
fn lower_round_is_dropped_and_answered_with_our_proposal_and_round() {
    let mut e = connected(1, &[1, 2, 3]);
    e.start(0, 0x100, 1);
    e.start(1, 0x100, 1);
    drain(&mut e);
    // Better than our vote, but of round 1 while we are in round 2.
    e.receive(2, sid(2), &looking(2, 0x900, 1, 1));
    let sent = sends(&drain(&mut e));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, sid(2));
    assert_eq!(fields(&sent[0].1), (PeerState::Looking, 1, 0x100, 2, 1));
    assert_eq!(e.proposal(), vote(1, 0x100, 2, 1));
    assert!(!e.recvset.contains_key(&sid(2)));
}

#[test]
fn higher_round_is_adopted_with_the_better_of_it_and_our_initial_vote() {
    let mut e = connected(1, &[1, 2, 3, 4, 5]);
    e.start(0, 0x100, 1);
    e.receive(1, sid(3), &looking(3, 0x300, 1, 1));
    assert_eq!(e.proposal().leader, 3);
    drain(&mut e);

    // Round 5 brings a vote for 2: worse than our proposal (3), better than
    // our initial vote (1). ZooKeeper compares with the initial vote.
    e.receive(2, sid(2), &looking(2, 0x200, 5, 1));
    assert_eq!(e.logical_clock(), 5);
    assert_eq!(e.proposal(), vote(2, 0x200, 5, 1));
    let sent = sends(&drain(&mut e));
    assert_eq!(sent.len(), 4);
    assert!(
        sent.iter()
            .all(|(_, n)| fields(n) == (PeerState::Looking, 2, 0x200, 5, 1))
    );
    // Round 1's votes are gone; ours and 2's are of round 5.
    assert_eq!(
        e.recvset.keys().copied().collect::<Vec<_>>(),
        [sid(1), sid(2)]
    );
    assert_eq!(
        e.poll_timeout(),
        Some(2 + MIN_NOTIFICATION_INTERVAL_MS),
        "no quorum yet"
    );
}

#[test]
fn a_higher_round_that_is_not_better_is_dropped_during_the_finalize_wait() {
    let mut e = connected(1, &[1, 2, 3]);
    e.start(0, 0x100, 1);
    e.receive(1, sid(3), &looking(3, 0x300, 1, 1));
    assert_eq!(e.poll_timeout(), Some(1 + FINALIZE_WAIT_MS));
    drain(&mut e);
    // ZooKeeper's wait only looks for a better vote; this one is dropped.
    e.receive(2, sid(2), &looking(2, 0x200, 5, 1));
    assert_eq!(e.logical_clock(), 1);
    assert_eq!(sends(&drain(&mut e)), []);
    assert_eq!(e.poll_timeout(), Some(2 + FINALIZE_WAIT_MS));
    e.handle_timeout(2 + FINALIZE_WAIT_MS);
    assert_eq!(decision(&drain(&mut e)).map(|d| d.1), Some(sid(3)));
}

#[test]
fn higher_round_with_a_worse_vote_keeps_our_initial_vote() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    drain(&mut e);
    e.receive(1, sid(1), &looking(1, 0x100, 4, 1));
    assert_eq!(e.logical_clock(), 4);
    assert_eq!(e.proposal(), vote(3, 0x300, 4, 1));
    let sent = sends(&drain(&mut e));
    assert!(
        sent.iter()
            .all(|(_, n)| fields(n) == (PeerState::Looking, 3, 0x300, 4, 1))
    );
}

#[test]
fn same_round_better_vote_is_adopted_and_sent_worse_one_only_counted() {
    let mut e = connected(2, &[1, 2, 3]);
    e.start(0, 0x200, 1);
    drain(&mut e);
    e.receive(1, sid(1), &looking(1, 0x100, 1, 1));
    assert_eq!(
        sends(&drain(&mut e)),
        [],
        "a worse vote changes nothing we send"
    );
    assert_eq!(e.proposal().leader, 2);
    e.receive(2, sid(3), &looking(3, 0x200, 1, 1));
    assert_eq!(e.proposal().leader, 3);
    assert_eq!(sends(&drain(&mut e)).len(), 2);
}

#[test]
fn minus_one_zxids_are_ignored_in_looking_votes() {
    // Their zxid is -1: not adopted, not counted.
    let mut e = connected(1, &[1, 2, 3]);
    e.start(0, 0x100, 1);
    e.receive(1, sid(3), &looking(3, -1, 1, 5));
    assert_eq!(e.proposal().leader, 1);
    assert!(!e.recvset.contains_key(&sid(3)));

    // Our zxid is -1: every LOOKING vote is ignored, our own too.
    let mut e = connected(1, &[1, 2, 3]);
    e.start(0, -1, 1);
    e.receive(1, sid(3), &looking(3, 0x300, 1, 1));
    e.receive(1, sid(2), &looking(3, 0x300, 1, 1));
    assert_eq!(e.proposal().leader, 1);
    assert!(e.recvset.is_empty());
    assert_eq!(decision(&drain(&mut e)), None);
    // A running ensemble can still be joined.
    e.receive(2, sid(2), &note(PeerState::Following, 3, 0x300, 1, 1));
    e.receive(2, sid(3), &note(PeerState::Leading, 3, 0x300, 1, 1));
    assert_eq!(e.state(), PeerState::Following);
}

// ---- finalizeWait ----

#[test]
fn finalize_wait_ends_at_once_when_every_connected_voter_answered() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    drain(&mut e);
    e.receive(5, sid(1), &looking(3, 0x300, 1, 1));
    // 1 and we agree on 3: a quorum; 2 is connected and silent.
    assert_eq!(decision(&drain(&mut e)), None);
    assert_eq!(e.poll_timeout(), Some(5 + FINALIZE_WAIT_MS));
    // 2's own (worse) vote: every connected voter has now spoken.
    e.receive(7, sid(2), &looking(2, 0x200, 1, 1));
    let out = drain(&mut e);
    assert_eq!(
        decision(&out),
        Some((PeerState::Leading, sid(3), vote(3, 0x300, 1, 1)))
    );
    assert_eq!(e.state(), PeerState::Leading);
    assert_eq!(e.current_vote(), vote(3, 0x300, 1, 1));
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn finalize_wait_runs_to_its_deadline_while_a_connected_voter_is_silent() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    e.receive(5, sid(1), &looking(3, 0x300, 1, 1));
    drain(&mut e);
    assert_eq!(e.poll_timeout(), Some(205));
    e.handle_timeout(204);
    assert_eq!(decision(&drain(&mut e)), None);
    // A repeated vote is not better: ZooKeeper polls anew for finalizeWait.
    e.receive(100, sid(1), &looking(3, 0x300, 1, 1));
    assert_eq!(e.poll_timeout(), Some(300));
    e.handle_timeout(299);
    assert_eq!(e.state(), PeerState::Looking);
    e.handle_timeout(300);
    let out = drain(&mut e);
    assert_eq!(
        decision(&out),
        Some((PeerState::Leading, sid(3), vote(3, 0x300, 1, 1)))
    );
}

#[test]
fn finalize_wait_ends_when_the_silent_voter_disconnects() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    e.receive(5, sid(1), &looking(3, 0x300, 1, 1));
    assert_eq!(decision(&drain(&mut e)), None);
    e.peer_disconnected(sid(2));
    assert_eq!(
        decision(&drain(&mut e)).map(|d| d.0),
        Some(PeerState::Leading)
    );
}

#[test]
fn a_voter_of_an_older_round_has_not_answered_yet() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    e.start(1, 0x300, 1);
    e.receive(5, sid(2), &looking(2, 0x200, 1, 1)); // round 1: answered and dropped
    e.receive(6, sid(1), &looking(3, 0x300, 2, 1)); // quorum in round 2
    assert_eq!(decision(&drain(&mut e)), None);
    // A settled voter has answered: it proposes nothing until it looks again.
    e.receive(7, sid(2), &note(PeerState::Following, 1, 0x100, 1, 1));
    assert_eq!(
        decision(&drain(&mut e)).map(|d| d.0),
        Some(PeerState::Leading)
    );
}

#[test]
fn better_vote_during_finalize_wait_changes_the_outcome() {
    let mut e = connected(1, &[1, 2, 3]);
    e.start(0, 0x100, 1);
    e.receive(1, sid(2), &looking(2, 0x100, 1, 1));
    // 2 and we agree on 2; 3 is connected and silent: waiting.
    assert_eq!(e.proposal().leader, 2);
    assert_eq!(e.poll_timeout(), Some(1 + FINALIZE_WAIT_MS));
    drain(&mut e);
    e.receive(2, sid(3), &looking(3, 0x100, 1, 1));
    let out = drain(&mut e);
    let sent = sends(&out);
    assert_eq!(sent.len(), 2, "the better vote is adopted and sent");
    assert!(sent.iter().all(|(_, n)| n.leader == 3));
    // 3 and we agree on 3, and 2 and 3 have both spoken in this round.
    assert_eq!(
        decision(&out),
        Some((PeerState::Following, sid(3), vote(3, 0x100, 1, 1)))
    );
}

// ---- non-voters and observers ----

#[test]
fn non_voter_senders_are_answered_at_once_and_never_counted() {
    let mut e = Election::new(config(1, &[1, 2, 3], &[4]));
    e.peer_connected(sid(2));
    e.peer_connected(sid(4));
    e.start(0, 0x100, 1);
    drain(&mut e);
    // An observer, then an unknown server, each sending our exact vote.
    for from in [4, 9] {
        e.receive(1, sid(from), &looking(1, 0x100, 1, 1));
        let sent = sends(&drain(&mut e));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, sid(from));
        // currentVote (the startup vote until a decision) with logicalclock.
        assert_eq!(fields(&sent[0].1), (PeerState::Looking, 1, 0x100, 1, 1));
    }
    assert_eq!(e.recvset.keys().copied().collect::<Vec<_>>(), [sid(1)]);
    assert!(e.heard.is_empty());
    assert!(!e.connected.contains(&sid(4)), "only voters can answer");
    assert_eq!(e.poll_timeout(), Some(200), "no quorum, no finalize wait");
}

#[test]
fn votes_for_non_voters_are_ignored_but_their_senders_answered() {
    let mut e = Election::new(config(1, &[1, 2, 3], &[4]));
    e.start(0, 0x100, 1);
    e.start(1, 0x100, 1);
    drain(&mut e);
    e.receive(2, sid(2), &looking(4, 0x900, 1, 9));
    assert_eq!(sends(&drain(&mut e)).len(), 1, "2 lags behind: answered");
    e.receive(3, sid(2), &looking(4, 0x900, 2, 9));
    assert_eq!(sends(&drain(&mut e)), []);
    assert_eq!(e.proposal().leader, 1);
    assert!(!e.recvset.contains_key(&sid(2)));
}

#[test]
fn an_observer_proposes_nothing_and_never_leads() {
    let mut e = Election::new(config(4, &[1, 2, 3], &[4]));
    e.peer_connected(sid(1));
    e.start(0, 0x900, 9);
    let sent = sends(&drain(&mut e));
    assert_eq!(
        sent.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        [sid(1), sid(2), sid(3)]
    );
    let min = i64::MIN;
    assert!(
        sent.iter()
            .all(|(_, n)| fields(n) == (PeerState::Looking, min, min, 1, min))
    );
    // A vote naming the observer is ignored.
    e.receive(1, sid(1), &looking(4, 0x900, 1, 9));
    assert_eq!(e.proposal().leader, min);
    assert!(
        e.recvset.is_empty(),
        "an observer's own vote is never counted"
    );
    // Voters' votes are adopted, and their quorum makes it OBSERVING.
    e.receive(2, sid(1), &looking(2, 0x200, 1, 1));
    e.receive(2, sid(2), &looking(2, 0x200, 1, 1));
    let out = drain(&mut e);
    assert_eq!(
        decision(&out),
        Some((PeerState::Observing, sid(2), vote(2, 0x200, 1, 1)))
    );
}

// ---- joining a settled ensemble: outofelection and checkLeader ----

#[test]
fn newcomer_follows_a_quorum_only_once_the_leader_says_it_leads() {
    let mut e = connected(5, &[1, 2, 3, 4, 5]);
    // Our log is ahead of the leader's: it does not matter when joining.
    e.start(0, 0x5_0000_0000, 5);
    drain(&mut e);
    let following = note(PeerState::Following, 3, 0x2_0000_0007, 7, 2);
    for from in [1, 2, 4] {
        e.receive(1, sid(from), &following);
    }
    // A quorum follows 3, but 3 has not said it leads: keep looking.
    assert_eq!(e.state(), PeerState::Looking);
    assert_eq!(decision(&drain(&mut e)), None);
    e.handle_timeout(201);
    assert_eq!(
        sends(&drain(&mut e)).len(),
        4,
        "re-sent on the notification timeout"
    );
    e.receive(
        250,
        sid(3),
        &note(PeerState::Leading, 3, 0x2_0000_0007, 7, 2),
    );
    let out = drain(&mut e);
    let joined = vote(3, 0x2_0000_0007, 7, 2);
    assert_eq!(decision(&out), Some((PeerState::Following, sid(3), joined)));
    assert_eq!(e.logical_clock(), 7, "the leader's round is adopted");
    assert_eq!(e.current_vote(), joined);
}

#[test]
fn a_quorum_in_our_round_still_needs_the_leaders_own_leading_word() {
    let mut e = connected(2, &[1, 2, 3, 4, 5]);
    e.start(0, 0x100, 1);
    e.receive(1, sid(3), &looking(3, 0x300, 1, 1));
    // We, 3 (LOOKING) and 1 (FOLLOWING) agree on 3 in round 1: a quorum of
    // five, but 3 has not said it leads (checkLeader).
    e.receive(2, sid(1), &note(PeerState::Following, 3, 0x300, 1, 1));
    assert_eq!(e.state(), PeerState::Looking);
    e.receive(3, sid(3), &note(PeerState::Leading, 3, 0x300, 1, 1));
    assert_eq!(
        decision(&drain(&mut e)),
        Some((PeerState::Following, sid(3), vote(3, 0x300, 1, 1)))
    );
}

#[test]
fn settled_votes_must_agree_on_the_peer_epoch() {
    let mut e = connected(2, &[1, 2, 3]);
    e.start(0, 0x100, 1);
    e.receive(1, sid(1), &note(PeerState::Following, 3, 0x300, 7, 2));
    e.receive(1, sid(3), &note(PeerState::Leading, 3, 0x300, 7, 3));
    assert_eq!(e.state(), PeerState::Looking, "epochs 2 and 3 do not agree");
    // Zxid and round may differ (ZOOKEEPER-1805): only leader and epoch count.
    e.receive(2, sid(1), &note(PeerState::Following, 3, 0x2ff, 6, 3));
    assert_eq!(decision(&drain(&mut e)).map(|d| d.1), Some(sid(3)));
}

#[test]
fn a_version_0_vote_agrees_on_the_leader_alone() {
    let mut e = connected(2, &[1, 2, 3]);
    e.start(0, 0x100, 1);
    let mut old = note(PeerState::Following, 3, 0x300, 7, 2);
    old.version = 0; // a 40-byte notification
    e.receive(1, sid(1), &old);
    e.receive(1, sid(3), &note(PeerState::Leading, 3, 0x300, 7, 3));
    assert_eq!(
        decision(&drain(&mut e)),
        Some((PeerState::Following, sid(3), vote(3, 0x300, 7, 3)))
    );
}

#[test]
fn same_round_settled_votes_in_recvset_match_on_the_leader_alone() {
    // recvset keeps settled votes with version 0, so against a version-2
    // notification only the leader is compared (outofelection would need the
    // epochs to agree).
    let mut e = connected(2, &[1, 2, 3]);
    for t in 0..7 {
        e.start(t, 0x100, 1);
    }
    assert_eq!(e.logical_clock(), 7);
    e.receive(10, sid(1), &note(PeerState::Following, 3, 0x300, 7, 2));
    assert_eq!(e.state(), PeerState::Looking);
    e.receive(10, sid(3), &note(PeerState::Leading, 3, 0x300, 7, 3));
    assert_eq!(decision(&drain(&mut e)).map(|d| d.1), Some(sid(3)));
}

#[test]
fn vote_equality_follows_zookeeper() {
    let b = |state, version, v: Vote| Ballot {
        vote: v,
        state,
        version,
    };
    let (looking, following, leading) =
        (PeerState::Looking, PeerState::Following, PeerState::Leading);
    let v = vote(3, 0x300, 7, 2);
    let other_zxid_round = vote(3, 0x2ff, 6, 2);
    let other_epoch = vote(3, 0x300, 7, 3);
    assert!(b(looking, 0, v).agrees(&b(looking, 0, v)));
    assert!(
        !b(looking, 0, v).agrees(&b(following, 2, other_zxid_round)),
        "LOOKING compares all"
    );
    assert!(b(following, 2, v).agrees(&b(leading, 2, other_zxid_round)));
    assert!(!b(following, 2, v).agrees(&b(leading, 2, other_epoch)));
    assert!(
        b(following, 0, v).agrees(&b(leading, 2, other_epoch)),
        "one version 0: leader only"
    );
    assert!(
        !b(following, 0, v).agrees(&b(leading, 0, other_epoch)),
        "both version 0"
    );
}

#[test]
fn votes_naming_us_count_only_in_our_own_round() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    e.receive(1, sid(1), &note(PeerState::Following, 3, 0x300, 4, 1));
    e.receive(1, sid(2), &note(PeerState::Following, 3, 0x300, 4, 1));
    assert_eq!(
        e.state(),
        PeerState::Looking,
        "checkLeader: the vote names us, of round 4, we are in 1"
    );
    for t in 2..5 {
        e.start(t, 0x300, 1);
    }
    e.receive(6, sid(1), &note(PeerState::Following, 3, 0x300, 4, 1));
    e.receive(6, sid(2), &note(PeerState::Following, 3, 0x300, 4, 1));
    assert_eq!(e.state(), PeerState::Leading);
}

// ---- replies outside LOOKING ----

#[test]
fn after_a_decision_looking_voters_get_our_vote_and_state() {
    let mut e = connected(2, &[1, 2, 3]);
    e.start(0, 0x100, 1);
    e.receive(1, sid(1), &note(PeerState::Following, 3, 0x300, 7, 2));
    e.receive(1, sid(3), &note(PeerState::Leading, 3, 0x300, 7, 2));
    assert_eq!(e.state(), PeerState::Following);
    drain(&mut e);

    e.receive(2, sid(1), &looking(1, 0x100, 9, 1));
    let sent = sends(&drain(&mut e));
    assert_eq!(sent.len(), 1);
    // The vote's own round, not the sender's.
    assert_eq!(fields(&sent[0].1), (PeerState::Following, 3, 0x300, 7, 2));

    e.update_vote_epoch(3);
    e.receive(3, sid(1), &looking(1, 0x100, 9, 1));
    assert_eq!(
        fields(&sends(&drain(&mut e))[0].1),
        (PeerState::Following, 3, 0x300, 7, 3)
    );

    e.receive(4, sid(3), &note(PeerState::Leading, 3, 0x300, 7, 3));
    assert_eq!(drain(&mut e), [], "settled senders get no reply");

    e.receive(5, sid(9), &note(PeerState::Observing, 3, 0x300, 7, 3));
    let sent = sends(&drain(&mut e));
    assert_eq!(
        fields(&sent[0].1),
        (PeerState::Following, 3, 0x300, 7, 3),
        "non-voters: logicalclock"
    );
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn a_leader_reports_looking_voters() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    e.receive(1, sid(1), &looking(3, 0x300, 1, 1));
    e.receive(1, sid(2), &looking(3, 0x300, 1, 1));
    assert_eq!(e.state(), PeerState::Leading);
    drain(&mut e);
    e.receive(2, sid(1), &looking(1, 0x100, 2, 1));
    let out = drain(&mut e);
    assert_eq!(out[0], Output::VoterLooking { sid: sid(1) });
    assert_eq!(
        fields(&sends(&out)[0].1),
        (PeerState::Leading, 3, 0x300, 1, 1)
    );
}

#[test]
fn notifications_before_start_count_in_the_coming_round() {
    let mut e = connected(1, &[1, 2, 3]);
    e.receive(0, sid(2), &looking(2, 0x200, 1, 1));
    e.receive(0, sid(3), &looking(2, 0x200, 1, 1));
    assert_eq!(drain(&mut e), [], "a LOOKING server answers only laggards");
    assert_eq!(e.poll_timeout(), None);
    e.start(1, 0x100, 1);
    let out = drain(&mut e);
    assert_eq!(
        decision(&out),
        Some((PeerState::Following, sid(2), vote(2, 0x200, 1, 1)))
    );
}

#[test]
fn after_the_role_ends_the_next_start_is_a_new_round() {
    let mut e = connected(3, &[1, 2, 3]);
    e.start(0, 0x300, 1);
    e.receive(1, sid(1), &looking(3, 0x300, 1, 1));
    e.receive(1, sid(2), &looking(3, 0x300, 1, 1));
    assert_eq!(e.state(), PeerState::Leading);
    e.role_ended();
    assert_eq!(e.state(), PeerState::Looking);
    assert_eq!(e.poll_timeout(), None);
    e.receive(2, sid(1), &looking(1, 0x300, 2, 2));
    e.start(3, 0x2_0000_0000, 2);
    assert_eq!(e.logical_clock(), 2);
    assert!(e.recvset.contains_key(&sid(1)), "kept from between the two");
}

// ---- the notification timer ----

#[test]
fn notification_timeout_doubles_to_the_max_and_connects_all_without_peers() {
    let mut e = Election::new(config(1, &[1, 2, 3], &[]));
    e.start(0, 0x100, 1);
    drain(&mut e);
    let mut now = 0;
    let mut gaps = Vec::new();
    for _ in 0..11 {
        let deadline = e.poll_timeout().unwrap();
        gaps.push(deadline - now);
        now = deadline;
        e.handle_timeout(now);
        assert_eq!(drain(&mut e), [Output::ConnectAll]);
    }
    assert_eq!(
        gaps,
        [
            200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000
        ]
    );
    // With a voter connected the vote is re-sent to every voter instead.
    e.peer_connected(sid(2));
    now = e.poll_timeout().unwrap();
    e.handle_timeout(now);
    let out = drain(&mut e);
    assert_eq!(sends(&out).len(), 2);
    assert!(!out.contains(&Output::ConnectAll));
    // A notification restarts the timer at the current interval.
    e.receive(now + 10, sid(2), &looking(1, 0x100, 0, 1));
    assert_eq!(e.poll_timeout(), Some(now + 10 + 60_000));
}

// ---- the simulated network ----

/// A message on its way; the body waits in `Sim::bodies` under `seq`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Flight {
    at: i64,
    seq: u64,
    from: ServerId,
    to: ServerId,
    link_generation: u64,
}

/// Servers in one thread over per-connection FIFO links with seeded
/// latencies, lost messages and dropped connections. A connection comes up
/// when a live server sends to another live one (as `toSend` connects) or
/// asks for `ConnectAll`; what is in flight on a connection that drops is lost.
struct Sim {
    now: i64,
    rng: StdRng,
    nodes: BTreeMap<ServerId, Election>,
    /// (last zxid, current epoch) each server starts a round with.
    logs: BTreeMap<ServerId, (i64, i64)>,
    voters: BTreeSet<ServerId>,
    alive: BTreeSet<ServerId>,
    /// Up connections, keyed by (lower, higher) sid, with their generation.
    links: BTreeMap<(ServerId, ServerId), u64>,
    generation: u64,
    flights: BinaryHeap<Reverse<Flight>>,
    bodies: BTreeMap<u64, Notification>,
    last_arrival: BTreeMap<(ServerId, ServerId), i64>,
    seq: u64,
    latency_max_ms: i64,
    loss_percent: u32,
    flap_per_mille: u32,
    faults_until_ms: i64,
    decided_at: BTreeMap<ServerId, i64>,
}

impl Sim {
    /// `voters` as (sid, last zxid, epoch); `observers` as sids.
    fn new(seed: u64, voters: &[(u64, i64, i64)], observers: &[u64]) -> Self {
        let voter_ids: Vec<u64> = voters.iter().map(|v| v.0).collect();
        let mut nodes = BTreeMap::new();
        let mut logs = BTreeMap::new();
        for &(id, zxid, epoch) in voters {
            nodes.insert(sid(id), Election::new(config(id, &voter_ids, observers)));
            logs.insert(sid(id), (zxid, epoch));
        }
        for &id in observers {
            nodes.insert(sid(id), Election::new(config(id, &voter_ids, observers)));
            logs.insert(sid(id), (0, 0));
        }
        Sim {
            now: 0,
            rng: StdRng::seed_from_u64(seed),
            alive: nodes.keys().copied().collect(),
            nodes,
            logs,
            voters: ids(&voter_ids),
            links: BTreeMap::new(),
            generation: 0,
            flights: BinaryHeap::new(),
            bodies: BTreeMap::new(),
            last_arrival: BTreeMap::new(),
            seq: 0,
            latency_max_ms: 5,
            loss_percent: 0,
            flap_per_mille: 0,
            faults_until_ms: 0,
            decided_at: BTreeMap::new(),
        }
    }

    fn node(&self, id: u64) -> &Election {
        &self.nodes[&sid(id)]
    }

    fn start(&mut self, id: ServerId) {
        let (zxid, epoch) = self.logs[&id];
        let now = self.now;
        let node = self.nodes.get_mut(&id).unwrap();
        if node.state() != PeerState::Looking {
            node.role_ended();
        }
        node.start(now, zxid, epoch);
        self.decided_at.remove(&id);
    }

    /// Every live server starts a round now, in a seeded order.
    fn start_all(&mut self) {
        let mut order: Vec<ServerId> = self.alive.iter().copied().collect();
        for i in (1..order.len()).rev() {
            order.swap(i, self.rng.gen_range(0..=i));
        }
        for id in order {
            self.start(id);
            self.pump();
        }
    }

    fn kill(&mut self, id: u64) {
        let id = sid(id);
        let linked: Vec<_> = self
            .links
            .keys()
            .copied()
            .filter(|&(a, b)| a == id || b == id)
            .collect();
        for (a, b) in linked {
            self.disconnect(a, b);
        }
        self.alive.remove(&id);
        self.decided_at.remove(&id);
    }

    fn faulty(&self) -> bool {
        self.now < self.faults_until_ms
    }

    fn connect(&mut self, a: ServerId, b: ServerId) -> Option<u64> {
        if !self.alive.contains(&a) || !self.alive.contains(&b) {
            return None;
        }
        let key = (a.min(b), a.max(b));
        if let Some(&generation) = self.links.get(&key) {
            return Some(generation);
        }
        self.generation += 1;
        self.links.insert(key, self.generation);
        self.nodes.get_mut(&a).unwrap().peer_connected(b);
        self.nodes.get_mut(&b).unwrap().peer_connected(a);
        Some(self.generation)
    }

    fn disconnect(&mut self, a: ServerId, b: ServerId) {
        if self.links.remove(&(a.min(b), a.max(b))).is_some() {
            self.nodes.get_mut(&a).unwrap().peer_disconnected(b);
            self.nodes.get_mut(&b).unwrap().peer_disconnected(a);
        }
    }

    fn transmit(&mut self, from: ServerId, to: ServerId, msg: Notification) {
        let Some(link_generation) = self.connect(from, to) else {
            return;
        };
        if self.faulty() && self.rng.gen_range(0..100) < self.loss_percent {
            return;
        }
        let latency = self.rng.gen_range(0..=self.latency_max_ms);
        let last = self.last_arrival.entry((from, to)).or_insert(0);
        let at = (self.now + latency).max(*last);
        *last = at;
        self.seq += 1;
        self.bodies.insert(self.seq, msg);
        self.flights.push(Reverse(Flight {
            at,
            seq: self.seq,
            from,
            to,
            link_generation,
        }));
    }

    /// Carry out every server's outputs until none is left.
    fn pump(&mut self) {
        loop {
            let mut any = false;
            let ids: Vec<ServerId> = self.nodes.keys().copied().collect();
            for id in ids {
                while let Some(out) = self.nodes.get_mut(&id).unwrap().poll_output() {
                    any = true;
                    match out {
                        Output::Send { to, msg } => {
                            assert_ne!(to, id, "never sent to ourselves");
                            self.transmit(id, to, msg);
                        }
                        Output::ConnectAll => {
                            for v in self.voters.clone() {
                                if v != id {
                                    self.connect(id, v);
                                }
                            }
                        }
                        Output::Decided { state, .. } => {
                            assert_eq!(state, self.nodes[&id].state());
                            self.decided_at.insert(id, self.now);
                        }
                        Output::VoterLooking { .. } => {}
                    }
                }
            }
            if !any {
                return;
            }
        }
    }

    /// One event: the earliest timer or message. False when nothing is left.
    fn step(&mut self) -> bool {
        self.pump();
        if self.faulty()
            && !self.links.is_empty()
            && self.rng.gen_range(0..1000) < self.flap_per_mille
        {
            let pick = self.rng.gen_range(0..self.links.len());
            let (a, b) = *self.links.keys().nth(pick).unwrap();
            self.disconnect(a, b);
            self.pump();
        }
        let timer = self
            .alive
            .iter()
            .filter_map(|id| self.nodes[id].poll_timeout())
            .min();
        let flight = self.flights.peek().map(|f| f.0.at);
        match (timer, flight) {
            (None, None) => return false,
            (Some(t), f) if f.is_none_or(|f| t <= f) => {
                self.now = self.now.max(t);
                for id in self.alive.clone() {
                    let node = self.nodes.get_mut(&id).unwrap();
                    if node.poll_timeout().is_some_and(|d| d <= self.now) {
                        node.handle_timeout(self.now);
                    }
                }
            }
            _ => {
                let f = self.flights.pop().unwrap().0;
                let msg = self.bodies.remove(&f.seq).unwrap();
                self.now = self.now.max(f.at);
                let key = (f.from.min(f.to), f.from.max(f.to));
                if self.links.get(&key) == Some(&f.link_generation) {
                    self.nodes
                        .get_mut(&f.to)
                        .unwrap()
                        .receive(self.now, f.from, &msg);
                }
            }
        }
        self.pump();
        self.check_bounds();
        true
    }

    fn check_bounds(&self) {
        for e in self.nodes.values() {
            let n = self.voters.len();
            assert!(e.recvset.len() <= n && e.outofelection.len() <= n);
            assert!(e.heard.len() <= n && e.pending.len() <= n && e.connected.len() <= n);
        }
    }

    /// Run until nothing is left to do or `horizon_ms` passed; true if quiet.
    fn run_for(&mut self, horizon_ms: i64) -> bool {
        let limit = self.now + horizon_ms;
        while self.now <= limit {
            if !self.step() {
                return true;
            }
        }
        false
    }

    fn run(&mut self) {
        assert!(
            self.run_for(3_600_000),
            "no quiet within an hour of simulated time"
        );
    }

    /// What ZAB would do after the election: a leader without a quorum of
    /// followers, and a follower whose leader does not lead, look again.
    /// True if anyone had to.
    fn supervise(&mut self) -> bool {
        let mut again = Vec::new();
        for &id in &self.alive {
            let e = &self.nodes[&id];
            let leader = e.current_vote().leader;
            let backed = |l: i64| {
                self.alive
                    .iter()
                    .filter(|v| self.voters.contains(v))
                    .filter(|v| self.nodes[v].state() != PeerState::Looking)
                    .filter(|v| self.nodes[v].current_vote().leader == l)
                    .count()
                    > self.voters.len() / 2
            };
            let ok = match e.state() {
                PeerState::Looking => true,
                PeerState::Leading => backed(leader),
                PeerState::Following | PeerState::Observing => self.nodes.iter().any(|(l, n)| {
                    i64::try_from(l.0) == Ok(leader)
                        && self.alive.contains(l)
                        && n.state() == PeerState::Leading
                }),
            };
            if !ok {
                again.push(id);
            }
        }
        for &id in &again {
            self.start(id);
        }
        !again.is_empty()
    }

    /// Exactly one leader; every other live server follows (or observes) it
    /// with the same vote. Returns the leader.
    fn one_leader(&self) -> ServerId {
        let leaders: Vec<ServerId> = self
            .alive
            .iter()
            .copied()
            .filter(|id| self.nodes[id].state() == PeerState::Leading)
            .collect();
        assert_eq!(leaders.len(), 1, "leaders: {leaders:?}");
        let leader = leaders[0];
        let theirs = self.nodes[&leader].current_vote();
        for id in &self.alive {
            let e = &self.nodes[id];
            let role = if *id == leader {
                PeerState::Leading
            } else if self.voters.contains(id) {
                PeerState::Following
            } else {
                PeerState::Observing
            };
            assert_eq!(e.state(), role, "server {id}");
            let v = e.current_vote();
            assert_eq!(
                (v.leader, v.zxid, v.peer_epoch),
                (theirs.leader, theirs.zxid, theirs.peer_epoch),
                "server {id}"
            );
        }
        leader
    }
}

/// Random logs with many ties: epochs 1..=2, zxids of few values.
fn random_voters(rng: &mut StdRng, n: u64) -> Vec<(u64, i64, i64)> {
    (1..=n)
        .map(|id| {
            let epoch = rng.gen_range(1..=2);
            (id, (epoch << 32) | rng.gen_range(0..3), epoch)
        })
        .collect()
}

/// The voter with the highest (epoch, zxid, sid).
fn best(voters: &[(u64, i64, i64)]) -> ServerId {
    sid(voters
        .iter()
        .max_by_key(|&&(id, zxid, epoch)| (epoch, zxid, id))
        .unwrap()
        .0)
}

fn elect_the_best(size: u64, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        let voters = random_voters(&mut rng, size);
        let mut sim = Sim::new(seed, &voters, &[]);
        sim.start_all();
        sim.run();
        let leader = sim.one_leader();
        assert_eq!(leader, best(&voters), "seed {seed}: {voters:?}");
        let (zxid, epoch) = sim.logs[&leader];
        assert_eq!(sim.nodes[&leader].current_vote().zxid, zxid);
        assert_eq!(sim.nodes[&leader].current_vote().peer_epoch, epoch);
    }
}

#[test]
fn three_voters_elect_the_highest_epoch_zxid_sid() {
    elect_the_best(3, 0..300);
}

#[test]
fn five_voters_elect_the_highest_epoch_zxid_sid() {
    elect_the_best(5, 0..300);
}

#[test]
fn lost_messages_and_dropped_connections_still_end_with_one_leader() {
    for size in [3, 5] {
        for seed in 0..150 {
            let mut rng = StdRng::seed_from_u64(seed);
            let voters = random_voters(&mut rng, size);
            let mut sim = Sim::new(seed, &voters, &[]);
            sim.loss_percent = 30;
            sim.flap_per_mille = 50;
            sim.faults_until_ms = 2_000;
            sim.start_all();
            let mut rounds = 0;
            loop {
                let quiet = sim.run_for(120_000);
                rounds += 1;
                assert!(rounds < 20, "seed {seed}: no stable leader");
                if !sim.supervise() && quiet {
                    break;
                }
            }
            sim.one_leader();
        }
    }
}

#[test]
fn failover_decides_well_within_finalize_wait() {
    for seed in 0..100 {
        let voters = [
            (1, 0x1_0000_0005, 1),
            (2, 0x1_0000_0005, 1),
            (3, 0x1_0000_0005, 1),
        ];
        let mut sim = Sim::new(seed, &voters, &[]);
        sim.start_all();
        sim.run();
        assert_eq!(sim.one_leader(), sid(3));
        // The leader crashes; its peers see the connections close and look.
        sim.now += 1_000;
        sim.kill(3);
        let down = sim.now;
        sim.start(sid(1));
        sim.start(sid(2));
        sim.run();
        assert_eq!(sim.one_leader(), sid(2));
        let slowest = sim.decided_at.values().max().unwrap() - down;
        // Two message delays (5 ms each at most), not finalizeWait's 200 ms.
        assert!(
            slowest <= 2 * sim.latency_max_ms,
            "seed {seed}: {slowest} ms"
        );
    }
}

#[test]
fn a_late_voter_joins_the_running_leader_through_outofelection() {
    for seed in 0..50 {
        let voters = [
            (1, 0x1_0000_0004, 1),
            (2, 0x1_0000_0009, 1),
            (3, 0x1_0000_0005, 1),
        ];
        let mut sim = Sim::new(seed, &voters, &[]);
        sim.alive.remove(&sid(2));
        sim.start_all();
        sim.run();
        assert_eq!(sim.one_leader(), sid(3));
        // A second election moves the running servers to round 2, and the
        // sync after it gives them epoch 2.
        sim.start(sid(1));
        sim.start(sid(3));
        sim.run();
        assert_eq!(sim.one_leader(), sid(3));
        for id in [1, 3] {
            sim.nodes.get_mut(&sid(id)).unwrap().update_vote_epoch(2);
        }
        // 2 has the longest log, but a leader runs: it follows 3.
        sim.alive.insert(sid(2));
        sim.start(sid(2));
        assert_eq!(sim.node(2).logical_clock(), 1);
        sim.run();
        assert_eq!(sim.one_leader(), sid(3));
        assert_eq!(sim.node(2).current_vote(), vote(3, 0x1_0000_0005, 2, 2));
        assert_eq!(sim.node(2).logical_clock(), 2);
    }
}

#[test]
fn three_voters_and_an_observer_elect_a_voter() {
    for seed in 0..100 {
        let mut rng = StdRng::seed_from_u64(seed);
        let voters = random_voters(&mut rng, 3);
        let mut sim = Sim::new(seed, &voters, &[4]);
        // The observer's log is the longest; it still only observes.
        sim.logs.insert(sid(4), (0x9_0000_0000, 9));
        sim.start_all();
        sim.run();
        assert_eq!(sim.one_leader(), best(&voters), "seed {seed}");
        assert_eq!(sim.node(4).state(), PeerState::Observing);
    }
}

#[test]
fn after_a_failover_the_observer_finds_the_new_leader() {
    for seed in 0..100 {
        let voters = [
            (1, 0x1_0000_0005, 1),
            (2, 0x1_0000_0005, 1),
            (3, 0x1_0000_0005, 1),
        ];
        let mut sim = Sim::new(seed, &voters, &[4]);
        sim.start_all();
        sim.run();
        assert_eq!(sim.one_leader(), sid(3));
        sim.now += 1_000;
        sim.kill(3);
        for id in [1, 2, 4] {
            sim.start(sid(id));
        }
        // Voters answer a LOOKING observer with the vote of their last
        // decision until they decide again, so it may first settle on the
        // dead leader; as with ZooKeeper, failing to connect sends it back.
        for _ in 0..5 {
            sim.run();
            if !sim.supervise() {
                break;
            }
        }
        assert_eq!(sim.one_leader(), sid(2));
        assert_eq!(sim.node(4).current_vote().leader, 2);
    }
}
