//! Executing read requests against the tree: what a shard does without
//! leaving its core. Returns the reply and the watch the read arms (ZooKeeper
//! arms an exists watch even when the node is missing).
//!
//! Mirrors `FinalRequestProcessor` of ZooKeeper 3.9: the ACL check comes
//! before the read, and a watch is armed only when the read succeeds (exists
//! on a missing node being the one exception). Besides the reply, a read
//! allocates nothing: paths are looked up as borrowed `&str`, data and names
//! are shared `Bytes`.

use super::acl::{self, AuthContext};
use super::{DataTree, ROOT};
use crate::proto::request::{MultiResult, SetWatches};
use crate::proto::{
    ErrorCode, EventType, Request, Response, SessionId, WatcherEvent, ZString, keeper_state, perms,
};
use crate::watch::WatchKind;

pub struct ReadOutcome {
    pub result: Result<Response, ErrorCode>,
    /// A watch to register for the requesting connection, if the request asked for one.
    pub watch: Option<(ZString, WatchKind)>,
    /// The watches a multiRead's ops arm (empty, and unallocated, otherwise).
    pub more_watches: Vec<(ZString, WatchKind)>,
}

impl ReadOutcome {
    fn single(result: Result<Response, ErrorCode>, watch: Option<(ZString, WatchKind)>) -> Self {
        ReadOutcome {
            result,
            watch,
            more_watches: Vec::new(),
        }
    }

    /// Every watch to register, whichever field holds it.
    pub fn watches(&self) -> impl Iterator<Item = &(ZString, WatchKind)> {
        self.watch.iter().chain(self.more_watches.iter())
    }
}

type Armed = Option<(ZString, WatchKind)>;

/// Executes getData, exists, getChildren, getChildren2, getACL, getEphemerals
/// (for `session`), getAllChildrenNumber and multiRead. Any other request is
/// the caller's to handle and gets `Unimplemented`.
pub fn execute(
    tree: &DataTree,
    req: &Request,
    auth: &AuthContext,
    session: SessionId,
) -> ReadOutcome {
    match req {
        Request::GetData { path, watch } => {
            let (r, w) = get_data(tree, path, *watch, auth);
            ReadOutcome::single(r.map(|(d, s)| Response::Data(d, s)), w)
        }
        Request::Exists { path, watch } => {
            let (r, w) = exists(tree, path, *watch, auth);
            ReadOutcome::single(r, w)
        }
        Request::GetChildren { path, watch } => {
            let (r, w) = get_children(tree, path, *watch, auth);
            ReadOutcome::single(r.map(|(c, _)| Response::Children(c)), w)
        }
        Request::GetChildren2 { path, watch } => {
            let (r, w) = get_children(tree, path, *watch, auth);
            ReadOutcome::single(r.map(|(c, s)| Response::Children2(c, s)), w)
        }
        Request::GetAcl { path } => ReadOutcome::single(get_acl(tree, path, auth), None),
        Request::GetEphemerals { prefix } => {
            ReadOutcome::single(Ok(get_ephemerals(tree, prefix, session)), None)
        }
        Request::GetAllChildrenNumber { path } => {
            ReadOutcome::single(get_all_children_number(tree, path, auth), None)
        }
        Request::MultiRead(ops) => multi_read(tree, ops, auth),
        _ => ReadOutcome::single(Err(ErrorCode::Unimplemented), None),
    }
}

/// ZooKeeper's DataTree keeps the root under `""` as well as `"/"`, and
/// getData and exists look the path up as sent: `""` reads the root. (A
/// watch armed there stays on `""`, where no event ever fires, as in
/// ZooKeeper.)
fn root_if_empty(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn arm(watch: bool, path: &ZString, kind: WatchKind) -> Armed {
    watch.then(|| (path.clone(), kind))
}

fn get_data(
    tree: &DataTree,
    path: &ZString,
    watch: bool,
    auth: &AuthContext,
) -> (
    Result<(crate::proto::ZData, crate::proto::Stat), ErrorCode>,
    Armed,
) {
    let Some(n) = tree.get(root_if_empty(path)) else {
        return (Err(ErrorCode::NoNode), None);
    };
    if let Err(e) = acl::check(tree.acl(n), perms::READ, auth) {
        return (Err(e), None);
    }
    (
        Ok((n.data.clone(), n.stat())),
        arm(watch, path, WatchKind::Data),
    )
}

fn exists(
    tree: &DataTree,
    path: &ZString,
    watch: bool,
    auth: &AuthContext,
) -> (Result<Response, ErrorCode>, Armed) {
    // The one read that validates its path (FinalRequestProcessor).
    if path.as_bytes().contains(&0) {
        return (Err(ErrorCode::BadArguments), None);
    }
    match tree.get(root_if_empty(path)) {
        Some(n) => {
            if let Err(e) = acl::check(tree.acl(n), perms::READ, auth) {
                return (Err(e), None);
            }
            (
                Ok(Response::Stat(n.stat())),
                arm(watch, path, WatchKind::Data),
            )
        }
        None => (Err(ErrorCode::NoNode), arm(watch, path, WatchKind::Exist)),
    }
}

type Children = (Vec<ZString>, crate::proto::Stat);

fn get_children(
    tree: &DataTree,
    path: &ZString,
    watch: bool,
    auth: &AuthContext,
) -> (Result<Children, ErrorCode>, Armed) {
    let Some(n) = tree.get(path) else {
        return (Err(ErrorCode::NoNode), None);
    };
    if let Err(e) = acl::check(tree.acl(n), perms::READ, auth) {
        return (Err(e), None);
    }
    let children = n.children.iter().map(ZString::from).collect();
    (Ok((children, n.stat())), arm(watch, path, WatchKind::Child))
}

/// READ or ADMIN lets a client see the ACL; without ADMIN digest hashes are
/// masked (`user:x`), as in ZooKeeper 3.9.
fn get_acl(tree: &DataTree, path: &str, auth: &AuthContext) -> Result<Response, ErrorCode> {
    let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
    let acls = tree.acl(n);
    acl::check(acls, perms::READ | perms::ADMIN, auth)?;
    let shown = if acl::check(acls, perms::ADMIN, auth).is_ok() {
        acls.to_vec()
    } else {
        acl::mask_digests(acls)
    };
    Ok(Response::Acl(shown, n.stat()))
}

/// The session's ephemerals whose path starts with `prefix` (all of them for
/// an empty or `/` prefix, after Java's `trim`). Sorted; ZooKeeper's order is
/// a hash set's.
fn get_ephemerals(tree: &DataTree, prefix: &ZString, session: SessionId) -> Response {
    let trimmed = prefix.trim_matches(|c: char| c <= ' ');
    let all = trimmed.is_empty() || trimmed == ROOT;
    let mut paths: Vec<ZString> = tree
        .ephemerals_of(session)
        .map(|set| {
            set.iter()
                .filter(|p| all || p.starts_with(prefix.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    paths.sort_unstable();
    Response::Strings(paths)
}

/// Every node below `path` (not counting it), READ on `path` required.
fn get_all_children_number(
    tree: &DataTree,
    path: &str,
    auth: &AuthContext,
) -> Result<Response, ErrorCode> {
    let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check(tree.acl(n), perms::READ, auth)?;
    let mut count: u64 = 0;
    let mut stack: Vec<String> = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        let Some(node) = tree.get(&p) else { continue };
        for child in node.children.iter() {
            count += 1;
            let child_path = if p == ROOT {
                format!("/{child}")
            } else {
                format!("{p}/{child}")
            };
            if tree
                .get(&child_path)
                .is_some_and(|c| !c.children.is_empty())
            {
                stack.push(child_path);
            }
        }
    }
    Ok(Response::Int(i32::try_from(count).unwrap_or(i32::MAX)))
}

/// Each op succeeds or fails on its own; any op other than getData and
/// getChildren fails the whole request as ZooKeeper's IOException does.
fn multi_read(tree: &DataTree, ops: &[Request], auth: &AuthContext) -> ReadOutcome {
    let mut results = Vec::with_capacity(ops.len());
    let mut watches = Vec::new();
    for op in ops {
        let (result, armed) = match op {
            Request::GetData { path, watch } => {
                let (r, w) = get_data(tree, path, *watch, auth);
                (r.map(|(d, s)| MultiResult::GetData(d, s)), w)
            }
            Request::GetChildren { path, watch } => {
                let (r, w) = get_children(tree, path, *watch, auth);
                (r.map(|(c, _)| MultiResult::GetChildren(c)), w)
            }
            _ => return ReadOutcome::single(Err(ErrorCode::MarshallingError), None),
        };
        results.push(result.unwrap_or_else(MultiResult::Error));
        watches.extend(armed);
    }
    ReadOutcome {
        result: Ok(Response::Multi(results)),
        watch: None,
        more_watches: watches,
    }
}

/// What a reconnecting client's setWatches does (`DataTree.setWatches`, 3.9):
/// the events to send now for watched nodes that changed after
/// `sw.relative_zxid` (sent with zxid -1, ZooKeeper's `NO_ZXID`), and the
/// watches to register for the rest. Persistent watches are always
/// registered and fire nothing here.
pub fn set_watches(
    tree: &DataTree,
    sw: &SetWatches,
) -> (Vec<WatcherEvent>, Vec<(ZString, WatchKind)>) {
    let relative = sw.relative_zxid.0;
    let mut fire = Vec::new();
    let mut register = Vec::with_capacity(
        sw.data.len()
            + sw.exist.len()
            + sw.child.len()
            + sw.persistent.len()
            + sw.persistent_recursive.len(),
    );
    let event = |event_type, path: &ZString| WatcherEvent {
        event_type,
        state: keeper_state::SYNC_CONNECTED,
        path: path.clone(),
    };
    for path in &sw.data {
        match tree.get(path) {
            None => fire.push(event(EventType::NodeDeleted, path)),
            Some(n) if n.mzxid > relative => fire.push(event(EventType::NodeDataChanged, path)),
            Some(_) => register.push((path.clone(), WatchKind::Data)),
        }
    }
    for path in &sw.exist {
        match tree.get(path) {
            Some(_) => fire.push(event(EventType::NodeCreated, path)),
            None => register.push((path.clone(), WatchKind::Exist)),
        }
    }
    for path in &sw.child {
        match tree.get(path) {
            None => fire.push(event(EventType::NodeDeleted, path)),
            Some(n) if n.pzxid > relative => fire.push(event(EventType::NodeChildrenChanged, path)),
            Some(_) => register.push((path.clone(), WatchKind::Child)),
        }
    }
    for path in &sw.persistent {
        register.push((path.clone(), WatchKind::Persistent));
    }
    for path in &sw.persistent_recursive {
        register.push((path.clone(), WatchKind::PersistentRecursive));
    }
    (fire, register)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::txn::{Txn, TxnHeader};
    use crate::proto::{Acl, Id, OpCode, Zxid};
    use bytes::Bytes;

    const ME: SessionId = SessionId(0x10);

    fn anyone() -> AuthContext {
        AuthContext::for_ip("127.0.0.1".parse().unwrap())
    }

    fn apply(t: &mut DataTree, zxid: i64, session: SessionId, txn: Txn) {
        let hdr = TxnHeader {
            session_id: session,
            cxid: 0,
            zxid: Zxid(zxid),
            time_ms: 1000 + zxid,
            op: 0,
        };
        t.apply(&hdr, &txn, &mut Vec::new()).unwrap();
    }

    fn create_acl(t: &mut DataTree, zxid: i64, path: &str, data: &'static [u8], acl: Vec<Acl>) {
        apply(
            t,
            zxid,
            ME,
            Txn::Create {
                op: OpCode::Create,
                path: path.into(),
                data: Bytes::from_static(data).into(),
                acl,
                ephemeral: false,
                parent_cversion: -1,
            },
        );
    }

    fn create_ephemeral(t: &mut DataTree, zxid: i64, path: &str, session: SessionId) {
        apply(
            t,
            zxid,
            session,
            Txn::Create {
                op: OpCode::Create,
                path: path.into(),
                data: Bytes::new().into(),
                acl: Acl::open_unsafe(),
                ephemeral: true,
                parent_cversion: -1,
            },
        );
    }

    /// `/a` (data "va", open), `/a/b`, `/a/c`, `/secret` (digest-only).
    fn tree() -> DataTree {
        let mut t = DataTree::new();
        create_acl(&mut t, 1, "/a", b"va", Acl::open_unsafe());
        create_acl(&mut t, 2, "/a/b", b"", Acl::open_unsafe());
        create_acl(&mut t, 3, "/a/c", b"", Acl::open_unsafe());
        let digest = acl::digest("user:password");
        create_acl(
            &mut t,
            4,
            "/secret",
            b"s",
            vec![
                Acl::new(perms::ALL, "digest", &digest),
                Acl::new(perms::READ, "ip", "10.0.0.0/8"),
            ],
        );
        t
    }

    fn run(t: &DataTree, req: Request, auth: &AuthContext) -> ReadOutcome {
        execute(t, &req, auth, ME)
    }

    fn get_data(path: &str, watch: bool) -> Request {
        Request::GetData {
            path: path.into(),
            watch,
        }
    }

    #[test]
    fn get_data_returns_data_and_stat_and_arms_data_watch() {
        let t = tree();
        let out = run(&t, get_data("/a", true), &anyone());
        let n = t.get("/a").unwrap();
        assert_eq!(
            out.result,
            Ok(Response::Data(Bytes::from_static(b"va").into(), n.stat()))
        );
        assert_eq!(out.watch, Some(("/a".into(), WatchKind::Data)));
        let out = run(&t, get_data("/a", false), &anyone());
        assert!(out.watch.is_none());
    }

    #[test]
    fn get_data_of_missing_or_invalid_path_is_no_node_without_watch() {
        let t = tree();
        for p in ["/nope", "/a/", "a", "/a//b"] {
            let out = run(&t, get_data(p, true), &anyone());
            assert_eq!(out.result, Err(ErrorCode::NoNode), "{p:?}");
            assert!(out.watch.is_none());
        }
    }

    #[test]
    fn get_data_of_the_empty_path_reads_the_root() {
        let t = tree();
        let root = run(&t, get_data("/", false), &anyone());
        let empty = run(&t, get_data("", false), &anyone());
        assert!(empty.result.is_ok());
        assert_eq!(empty.result, root.result);
    }

    #[test]
    fn acl_failure_is_no_auth_and_arms_nothing() {
        let t = tree();
        let out = run(&t, get_data("/secret", true), &anyone());
        assert_eq!(out.result, Err(ErrorCode::NoAuth));
        assert!(out.watch.is_none());
        let out = run(
            &t,
            Request::GetChildren {
                path: "/secret".into(),
                watch: true,
            },
            &anyone(),
        );
        assert_eq!(out.result, Err(ErrorCode::NoAuth));
        assert!(out.watch.is_none());
        let out = run(
            &t,
            Request::Exists {
                path: "/secret".into(),
                watch: true,
            },
            &anyone(),
        );
        assert_eq!(out.result, Err(ErrorCode::NoAuth));
        assert!(out.watch.is_none());
    }

    #[test]
    fn ip_in_cidr_and_digest_user_may_read_protected_node() {
        let t = tree();
        let lan = AuthContext::for_ip("10.9.8.7".parse().unwrap());
        assert!(run(&t, get_data("/secret", false), &lan).result.is_ok());
        let mut user = anyone();
        user.add_digest_auth(b"user:password", None).unwrap();
        assert!(run(&t, get_data("/secret", false), &user).result.is_ok());
    }

    #[test]
    fn exists_arms_exist_watch_on_missing_node() {
        let t = tree();
        let out = run(
            &t,
            Request::Exists {
                path: "/later".into(),
                watch: true,
            },
            &anyone(),
        );
        assert_eq!(out.result, Err(ErrorCode::NoNode));
        assert_eq!(out.watch, Some(("/later".into(), WatchKind::Exist)));
    }

    #[test]
    fn exists_on_present_node_returns_stat_and_arms_data_watch() {
        let t = tree();
        let out = run(
            &t,
            Request::Exists {
                path: "/a".into(),
                watch: true,
            },
            &anyone(),
        );
        assert_eq!(out.result, Ok(Response::Stat(t.get("/a").unwrap().stat())));
        assert_eq!(out.watch, Some(("/a".into(), WatchKind::Data)));
    }

    #[test]
    fn exists_with_nul_in_path_is_bad_arguments() {
        let t = tree();
        let out = run(
            &t,
            Request::Exists {
                path: "/a\0b".into(),
                watch: true,
            },
            &anyone(),
        );
        assert_eq!(out.result, Err(ErrorCode::BadArguments));
        assert!(out.watch.is_none());
    }

    #[test]
    fn get_children_lists_names_and_arms_child_watch() {
        let t = tree();
        let out = run(
            &t,
            Request::GetChildren2 {
                path: "/a".into(),
                watch: true,
            },
            &anyone(),
        );
        let Ok(Response::Children2(mut names, stat)) = out.result else {
            panic!("{:?}", out.result)
        };
        names.sort();
        assert_eq!(names, vec![ZString::from("b"), ZString::from("c")]);
        assert_eq!(stat, t.get("/a").unwrap().stat());
        assert_eq!(out.watch, Some(("/a".into(), WatchKind::Child)));
        let out = run(
            &t,
            Request::GetChildren {
                path: "/a/b".into(),
                watch: false,
            },
            &anyone(),
        );
        assert_eq!(out.result, Ok(Response::Children(vec![])));
    }

    #[test]
    fn get_acl_masks_digests_without_admin() {
        let t = tree();
        let lan = AuthContext::for_ip("10.0.0.1".parse().unwrap());
        let out = run(
            &t,
            Request::GetAcl {
                path: "/secret".into(),
            },
            &lan,
        );
        let Ok(Response::Acl(acls, _)) = out.result else {
            panic!("{:?}", out.result)
        };
        assert_eq!(acls[0].id, Id::new("digest", "user:x"));
        let mut admin = anyone();
        admin.add_digest_auth(b"user:password", None).unwrap();
        let out = run(
            &t,
            Request::GetAcl {
                path: "/secret".into(),
            },
            &admin,
        );
        let Ok(Response::Acl(acls, stat)) = out.result else {
            panic!("{:?}", out.result)
        };
        assert_eq!(acls[0].id, Id::new("digest", &acl::digest("user:password")));
        assert_eq!(stat, t.get("/secret").unwrap().stat());
        // Neither READ nor ADMIN: refused.
        let out = run(
            &t,
            Request::GetAcl {
                path: "/secret".into(),
            },
            &anyone(),
        );
        assert_eq!(out.result, Err(ErrorCode::NoAuth));
        let out = run(&t, Request::GetAcl { path: "/x".into() }, &anyone());
        assert_eq!(out.result, Err(ErrorCode::NoNode));
    }

    #[test]
    fn get_ephemerals_filters_by_string_prefix_for_own_session() {
        let mut t = tree();
        create_ephemeral(&mut t, 10, "/a/e2", ME);
        create_ephemeral(&mut t, 11, "/a/e1", ME);
        create_ephemeral(&mut t, 12, "/ab", ME);
        create_ephemeral(&mut t, 13, "/a/other", SessionId(0x99));
        let get = |prefix: &str| {
            run(
                &t,
                Request::GetEphemerals {
                    prefix: prefix.into(),
                },
                &anyone(),
            )
            .result
        };
        let strings = |v: &[&str]| {
            Ok(Response::Strings(
                v.iter().map(|s| ZString::from(*s)).collect(),
            ))
        };
        assert_eq!(get("/"), strings(&["/a/e1", "/a/e2", "/ab"]));
        assert_eq!(get(" "), strings(&["/a/e1", "/a/e2", "/ab"]));
        assert_eq!(get("/a/"), strings(&["/a/e1", "/a/e2"]));
        // A string prefix, not a path prefix, as in ZooKeeper.
        assert_eq!(get("/a"), strings(&["/a/e1", "/a/e2", "/ab"]));
        assert_eq!(get("/z"), strings(&[]));
    }

    #[test]
    fn get_all_children_number_counts_every_descendant() {
        let mut t = tree();
        create_acl(&mut t, 20, "/a/b/deep", b"", Acl::open_unsafe());
        let count = |p: &str| {
            run(
                &t,
                Request::GetAllChildrenNumber { path: p.into() },
                &anyone(),
            )
            .result
        };
        assert_eq!(count("/a"), Ok(Response::Int(3)));
        assert_eq!(count("/a/b/deep"), Ok(Response::Int(0)));
        // Everything but the root, /zookeeper's three included (ZooKeeper's size - 2).
        assert_eq!(count("/"), Ok(Response::Int(t.node_count() as i32 - 1)));
        assert_eq!(count("/missing"), Err(ErrorCode::NoNode));
        assert_eq!(count("/secret"), Err(ErrorCode::NoAuth));
    }

    #[test]
    fn multi_read_gives_independent_results_and_collects_watches() {
        let t = tree();
        let out = run(
            &t,
            Request::MultiRead(vec![
                get_data("/a", true),
                get_data("/missing", true),
                get_data("/secret", true),
                Request::GetChildren {
                    path: "/a/b".into(),
                    watch: true,
                },
            ]),
            &anyone(),
        );
        let a = t.get("/a").unwrap();
        assert_eq!(
            out.result,
            Ok(Response::Multi(vec![
                MultiResult::GetData(Bytes::from_static(b"va").into(), a.stat()),
                MultiResult::Error(ErrorCode::NoNode),
                MultiResult::Error(ErrorCode::NoAuth),
                MultiResult::GetChildren(vec![]),
            ]))
        );
        let watches: Vec<_> = out.watches().cloned().collect();
        assert_eq!(
            watches,
            vec![
                ("/a".into(), WatchKind::Data),
                ("/a/b".into(), WatchKind::Child)
            ]
        );
        let out = run(
            &t,
            Request::MultiRead(vec![Request::GetAcl { path: "/a".into() }]),
            &anyone(),
        );
        assert_eq!(out.result, Err(ErrorCode::MarshallingError));
    }

    #[test]
    fn non_read_request_is_unimplemented_here() {
        let t = tree();
        let out = run(&t, Request::Sync { path: "/".into() }, &anyone());
        assert_eq!(out.result, Err(ErrorCode::Unimplemented));
    }

    #[test]
    fn set_watches_fires_for_changes_after_relative_zxid() {
        let mut t = tree();
        // /a: mzxid 1, pzxid 3. /a/b: mzxid 2, pzxid 2. Then /a/b changes at 7.
        apply(
            &mut t,
            7,
            ME,
            Txn::SetData {
                path: "/a/b".into(),
                data: Bytes::from_static(b"x").into(),
                version: 1,
            },
        );
        let sw = SetWatches {
            relative_zxid: Zxid(5),
            data: vec!["/a".into(), "/a/b".into(), "/gone".into()],
            exist: vec!["/a".into(), "/notyet".into()],
            child: vec!["/a".into(), "/gone".into()],
            persistent: vec!["/p".into()],
            persistent_recursive: vec!["/a".into()],
        };
        let (fire, register) = set_watches(&t, &sw);
        let fired: Vec<(String, EventType)> = fire
            .iter()
            .map(|e| (e.path.to_string(), e.event_type))
            .collect();
        assert_eq!(
            fired,
            vec![
                ("/a/b".into(), EventType::NodeDataChanged),
                ("/gone".into(), EventType::NodeDeleted),
                ("/a".into(), EventType::NodeCreated),
                ("/gone".into(), EventType::NodeDeleted),
            ]
        );
        assert!(fire.iter().all(|e| e.state == keeper_state::SYNC_CONNECTED));
        assert_eq!(
            register,
            vec![
                ("/a".into(), WatchKind::Data),
                ("/notyet".into(), WatchKind::Exist),
                ("/a".into(), WatchKind::Child),
                ("/p".into(), WatchKind::Persistent),
                ("/a".into(), WatchKind::PersistentRecursive),
            ]
        );
    }

    #[test]
    fn set_watches_child_fires_when_pzxid_is_newer() {
        let t = tree();
        let sw = SetWatches {
            relative_zxid: Zxid(2),
            child: vec!["/a".into()],
            ..Default::default()
        };
        let (fire, register) = set_watches(&t, &sw);
        assert_eq!(fire.len(), 1);
        assert_eq!(fire[0].event_type, EventType::NodeChildrenChanged);
        assert!(register.is_empty());
    }
}
