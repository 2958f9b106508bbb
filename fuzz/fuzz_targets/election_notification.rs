//! The election port after the initial message: length-prefixed frames
//! (`decode_election_frame`), each a FastLeaderElection notification in any of
//! the forms Apache servers write (28 and 40 bytes, version 1, version 2 with
//! its config) read by `Notification::decode`, then counted by the election
//! state machine of a 3-voter ensemble (`zab::election`) as
//! `server::election_net` delivers them: from voters 2 and 3 and from an
//! unknown server 9, with time going on between frames.
#![no_main]

use bytes::{Bytes, BytesMut};
use corral::proto::quorum::{NOTIFICATION_VERSION, Notification, decode_election_frame};
use corral::zab::ServerId;
use corral::zab::election::{Election, ElectionConfig};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

const SENDERS: [ServerId; 3] = [ServerId(2), ServerId(3), ServerId(9)];

fuzz_target!(|data: &[u8]| {
    let voters: BTreeSet<ServerId> = [1, 2, 3].into_iter().map(ServerId).collect();
    let config = Bytes::from_static(
        b"server.1=127.0.0.1:2888:3888:participant\n\
          server.2=127.0.0.1:2889:3889:participant\n\
          server.3=127.0.0.1:2890:3890:participant\nversion=0",
    );
    let cfg = ElectionConfig::new(ServerId(1), voters, BTreeSet::new(), config);
    let mut election = Election::new(cfg);
    let mut now_ms = 1_000;
    election.start(now_ms, 0x1_0000_0005, 1);
    drain(&mut election);

    let mut buf = BytesMut::from(data);
    for frame in 0usize.. {
        let before = buf.len();
        let msg = match decode_election_frame(&mut buf) {
            Ok(Some(msg)) => msg,
            Ok(None) => {
                // "Not all here yet, nothing consumed."
                assert_eq!(buf.len(), before);
                break;
            }
            Err(_) => break,
        };
        assert_eq!(buf.len(), before - 4 - msg.len());
        let Some(n) = Notification::decode(&msg) else {
            continue;
        };
        // We write only version 2; what any version decodes to, written
        // again, reads back the same with version 2.
        let again = Notification::decode(&n.encode());
        assert_eq!(
            again,
            Some(Notification {
                version: NOTIFICATION_VERSION,
                ..n.clone()
            })
        );

        now_ms += 50;
        if election.poll_timeout().is_some_and(|at| at <= now_ms) {
            election.handle_timeout(now_ms);
        }
        election.receive(now_ms, SENDERS[frame % SENDERS.len()], &n);
        drain(&mut election);
    }
});

fn drain(election: &mut Election) {
    while election.poll_output().is_some() {}
}
