//! The sequencer of a standalone server driven directly, without the glue:
//! a tree of its own, a clock the test moves, and a log whose writes complete
//! as soon as they are asked for. For the rules that sit between prep and
//! the session table, which the real-process tests can only race.

use super::messages::{Reply, ToSequencer};
use super::prep::{PrepConfig, WriteRequest};
use super::{Action, Epochs, Input, Now, SeqConfig, Sequencer};
use crate::proto::request::CreateRequest;
use crate::proto::{Acl, ErrorCode, OpCode, Request, SessionId, Zxid};
use crate::tree::DataTree;
use crate::tree::acl::AuthContext;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;

const TICK_MS: i64 = 100;
const CONN: u64 = 7;

struct Standalone {
    seq: Sequencer,
    tree: DataTree,
    now: Now,
    replies: Vec<Reply>,
}

impl Standalone {
    fn new() -> Standalone {
        let cfg = SeqConfig {
            my_id: crate::zab::ServerId(1),
            ensemble: None,
            tick_ms: TICK_MS,
            init_limit: 10,
            sync_limit: 5,
            prep: PrepConfig {
                extended_types_enabled: false,
                eager_acl_check: false,
                reconfig_enabled: false,
                jute_max_buffer: 0xfffff,
            },
            snap_count: 100_000,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            commit_log_count: 500,
            sasl_acl_scheme: false,
            max_packet_bytes: 2 * 0xfffff,
            force_snapshot_sync: false,
            leader_connect_retry_ms: 100,
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 1_600,
            seed: 1,
            epoch_counter_start: 0,
        };
        let now = Now {
            mono_ms: 1_000,
            wall_ms: 1_700_000_000_000,
        };
        let mut seq = Sequencer::new(
            cfg,
            Zxid::ZERO,
            &BTreeMap::new(),
            Vec::new(),
            Epochs::default(),
            now,
        );
        seq.start(now);
        Standalone {
            seq,
            tree: DataTree::new(),
            now,
            replies: Vec::new(),
        }
    }

    /// Runs actions and applies until nothing is left: every log write is
    /// durable at once.
    fn settle(&mut self) {
        loop {
            let mut busy = false;
            while let Some(action) = self.seq.poll_action() {
                busy = true;
                if let Action::AppendLog { .. } = action {
                    self.seq
                        .handle(self.now, &self.tree, Input::LogWritten(Ok(())));
                }
            }
            if self.seq.wants_apply() {
                busy = true;
                let applied = self.seq.apply(self.now, &mut self.tree, 1);
                self.replies
                    .extend(applied.replies.into_iter().flatten().map(|(_, r)| r));
            }
            if !busy {
                return;
            }
        }
    }

    fn create_session(&mut self, timeout_ms: i32) -> SessionId {
        let msg = ToSequencer::CreateSession {
            shard: 0,
            conn: CONN,
            timeout_ms,
        };
        self.seq.handle_client(self.now, &self.tree, msg);
        self.settle();
        self.replies
            .drain(..)
            .find_map(|r| match r {
                Reply::Connected {
                    response: Some(r), ..
                } => Some(r.session_id),
                _ => None,
            })
            .expect("the session is created")
    }

    fn send(&mut self, session: SessionId, xid: i32, request: Request) {
        let req = WriteRequest {
            session,
            cxid: xid,
            request,
            auth: Arc::new(AuthContext::for_ip("127.0.0.1".parse().unwrap())),
        };
        let msg = ToSequencer::Request {
            shard: 0,
            conn: CONN,
            xid,
            req,
        };
        self.seq.handle_client(self.now, &self.tree, msg);
    }

    fn answer(&self, xid: i32) -> Option<Result<(), ErrorCode>> {
        self.replies.iter().find_map(|r| match r {
            Reply::Done { xid: x, result, .. } if *x == xid => Some(result.clone().map(|_| ())),
            _ => None,
        })
    }
}

fn create(path: &str, flags: i32) -> Request {
    Request::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Bytes::new().into(),
            acl: Acl::open_unsafe(),
            flags,
            ttl_ms: -1,
        },
    }
}

const EPHEMERAL: i32 = 1;

#[test]
fn writes_behind_a_close_session_are_session_expired_and_take_no_effect() {
    let mut s = Standalone::new();
    let session = s.create_session(30_000);
    s.send(session, 1, Request::CloseSession);
    s.send(session, 2, create("/eph", EPHEMERAL));
    s.send(session, 3, create("/pers", 0));
    s.settle();
    assert_eq!(s.answer(1), Some(Ok(())));
    assert_eq!(s.answer(2), Some(Err(ErrorCode::SessionExpired)));
    assert_eq!(s.answer(3), Some(Err(ErrorCode::SessionExpired)));
    assert!(s.tree.get("/eph").is_none());
    assert!(s.tree.get("/pers").is_none());
    assert!(s.seq.sessions().get(session).is_none());
}

#[test]
fn an_ephemeral_create_after_the_expiry_is_decided_is_session_expired() {
    let mut s = Standalone::new();
    let session = s.create_session(2 * TICK_MS as i32);
    // Past the deadline: the tick marks the session closing and preps its
    // closeSession; a create that reaches the sequencer after that, before
    // the closeSession is durable and applied, must not be prepped.
    s.now.mono_ms += 10 * TICK_MS;
    s.now.wall_ms += 10 * TICK_MS;
    s.seq.tick(s.now, &s.tree);
    s.send(session, 1, create("/late", EPHEMERAL));
    s.settle();
    assert_eq!(s.answer(1), Some(Err(ErrorCode::SessionExpired)));
    assert!(
        s.tree.get("/late").is_none(),
        "an ephemeral of an expired session"
    );
    assert!(s.seq.sessions().get(session).is_none());
}

#[test]
fn an_ephemeral_prepped_before_the_close_goes_with_the_session() {
    let mut s = Standalone::new();
    let session = s.create_session(30_000);
    s.send(session, 1, create("/early", EPHEMERAL));
    s.send(session, 2, Request::CloseSession);
    s.settle();
    assert_eq!(s.answer(1), Some(Ok(())));
    assert_eq!(s.answer(2), Some(Ok(())));
    assert!(
        s.tree.get("/early").is_none(),
        "deleted by the closeSession"
    );
}
