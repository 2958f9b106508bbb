//! Runs one parsed zkCli command against the session and prints what zkCli
//! prints: results on stdout, `Created ...` and errors on stderr, in the
//! order zkCli writes them. Each function mirrors one `*Command.exec()` of
//! ZooKeeper 3.8 and the client call under it (`ZooKeeper.create`,
//! `ZKUtil.visitSubTreeDFS`, `ZKUtil.deleteRecursive`, ...), including the
//! client-side checks (path rules, empty ACLs) that fail before any request.

use super::commands::{CliError, Cmd, Failure, Fatal, usage_line};
use super::format;
use super::session::{CallError, Session, WatchOnReply};
use super::watches::{self, Kind};
use crate::proto::request::{CreateRequest, MultiResult};
use crate::proto::{Acl, ErrorCode, Id, OpCode, Request, Response, Stat, ZData};
use std::collections::VecDeque;

type Done = Result<(), Failure>;

/// `EphemeralType.TTL.maxValue()`.
const TTL_MAX_MS: i64 = 0xFF_FFFF_FFFF;

fn server_err(e: CallError, path: &str) -> Failure {
    Failure::Cli(CliError::new(format::cli_error(e.code(), Some(path))))
}

fn bad_path(path: &str) -> Result<(), Failure> {
    format::validate_path(path).map_err(|m| Failure::Cli(CliError::new(m)))
}

/// `Integer.parseInt`, whose failure no command catches.
fn java_int(s: &str) -> Result<i32, Failure> {
    s.parse::<i32>().map_err(|_| {
        Failure::Fatal(Fatal(format!(
            "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"{s}\""
        )))
    })
}

fn print_stat(s: &Stat) {
    print!("{}", format::stat(s));
}

pub fn run(s: &mut Session, cmd: Cmd) -> Done {
    match cmd {
        Cmd::Create { .. } => create(s, cmd),
        Cmd::Get { stat, watch, path } => get(s, stat, watch, &path),
        Cmd::Set {
            stat,
            version,
            path,
            data,
        } => set(s, stat, version, &path, data),
        Cmd::Stat { watch, path } => stat_cmd(s, watch, &path),
        Cmd::Ls {
            stat,
            watch,
            recursive,
            help,
            path,
        } => ls(s, stat, watch, recursive, help, path),
        Cmd::Delete { version, path } => delete(s, version, &path),
        Cmd::DeleteAll { batch, path } => delete_all(s, batch, &path),
        Cmd::GetAcl { stat, path } => get_acl(s, stat, &path),
        Cmd::SetAcl {
            stat,
            version,
            recursive,
            path,
            acl,
        } => set_acl(s, stat, version, recursive, &path, &acl),
        Cmd::AddAuth { scheme, auth } => {
            s.add_auth(&scheme, auth.map(bytes::Bytes::from).unwrap_or_default());
            Ok(())
        }
        Cmd::Sync { path } => sync(s, &path),
        Cmd::AddWatch { recursive, path } => add_watch(s, recursive, &path),
        Cmd::RemoveWatches { path, kind, local } => remove_watches(s, &path, kind, local),
        Cmd::GetEphemerals { path } => get_ephemerals(s, path),
        Cmd::GetAllChildrenNumber { path } => all_children_number(s, path),
        Cmd::WhoAmI => who_am_i(s),
        Cmd::Config {
            client,
            watch,
            stat,
        } => config(s, client, watch, stat),
        Cmd::Close => {
            s.close();
            Ok(())
        }
        Cmd::Version => {
            println!(
                "ZooKeeper CLI version: corral {} (zkCli 3.8 commands)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Cmd::Unsupported(c) => Err(Failure::Cli(CliError::new(format!(
            "{c}: not supported by corral cli (usage: {})",
            usage_line(&c)
        )))),
    }
}

/// `AclParser.parse`: complaints about bad entries go to stderr as it goes.
fn parse_acl(text: &str) -> Vec<Acl> {
    let mut out = Vec::new();
    for a in text.split(',') {
        let (Some(first), Some(last)) = (a.find(':'), a.rfind(':')) else {
            eprintln!("{a} does not have the form scheme:id:perm");
            continue;
        };
        if first == last {
            eprintln!("{a} does not have the form scheme:id:perm");
            continue;
        }
        let mut perms = 0;
        for c in a[last + 1..].chars() {
            match c {
                'r' => perms |= 1,
                'w' => perms |= 2,
                'c' => perms |= 4,
                'd' => perms |= 8,
                'a' => perms |= 16,
                other => eprintln!("Unknown perm type: {other}"),
            }
        }
        out.push(Acl {
            perms,
            id: Id::new(&a[..first], &a[first + 1..last]),
        });
    }
    out
}

/// `CreateCommand.exec`'s checks of the flags, in its order; the `CreateMode` flags and TTL.
fn create_mode(
    e: bool,
    sq: bool,
    c: bool,
    ttl: Option<&str>,
) -> Result<(i32, Option<i64>), Failure> {
    let err = |m: &str| Failure::Cli(CliError::new(m));
    if c && (e || sq) {
        return Err(err(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ));
    }
    let ttl_ms = ttl
        .map(|t| t.parse::<i64>())
        .transpose()
        .map_err(|_| err("-t argument must be a long value"))?;
    let has_ttl = ttl_ms.is_some();
    if has_ttl && e {
        return Err(err("TTLs cannot be used with Ephemeral znodes"));
    }
    if has_ttl && c {
        return Err(err("TTLs cannot be used with Container znodes"));
    }
    // CreateMode flags: 0 persistent, 1 ephemeral, 2/3 sequential, 4 container, 5/6 TTL.
    let flags = match (e, sq, c) {
        (true, true, _) => 3,
        (true, false, _) => 1,
        (false, true, _) if has_ttl => 6,
        (false, true, _) => 2,
        (false, false, true) => 4,
        (false, false, false) if has_ttl => 5,
        (false, false, false) => 0,
    };
    if let Some(t) = ttl_ms
        && (t > TTL_MAX_MS || t <= 0)
    {
        return Err(err(&format!(
            "ttl must be positive and cannot be larger than: {TTL_MAX_MS}"
        )));
    }
    Ok((flags, ttl_ms))
}

fn create(s: &mut Session, cmd: Cmd) -> Done {
    let Cmd::Create {
        ephemeral,
        sequential,
        container,
        ttl,
        path,
        data,
        acl,
    } = cmd
    else {
        return Ok(());
    };
    let (flags, ttl_ms) = create_mode(ephemeral, sequential, container, ttl.as_deref())?;
    let data = data.map_or(ZData::null(), |d| ZData::from(d.into_bytes()));
    let acl = acl.as_deref().map_or_else(Acl::open_unsafe, parse_acl);
    // ZooKeeper.create checks a sequential path as if its counter were already there.
    bad_path(&if sequential {
        format!("{path}1")
    } else {
        path.clone()
    })?;
    if acl.is_empty() {
        eprintln!("KeeperErrorCode = InvalidACL");
        return Err(Failure::Cli(CliError::new("Acl is not valid : null")));
    }
    let op = match flags {
        5 | 6 => OpCode::CreateTtl,
        4 => OpCode::CreateContainer,
        _ => OpCode::Create,
    };
    let req = Request::Create {
        op,
        req: CreateRequest {
            path: s.server_path(&path).as_str().into(),
            data,
            acl,
            flags,
            ttl_ms: ttl_ms.unwrap_or(-1),
        },
    };
    match s.call(&req, None) {
        Ok(Response::Path(p) | Response::PathStat(p, _)) => {
            eprintln!("Created {}", s.client_path(p.as_str()));
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            if e == CallError::Server(Ok(ErrorCode::InvalidAcl)) {
                // CreateCommand prints the KeeperException itself before wrapping it.
                eprintln!("{}", format::keeper_message(e.code(), Some(&path)));
            }
            Err(server_err(e, &path))
        }
    }
}

fn get_data(s: &Session, watch: bool, path: &str) -> Result<(ZData, Stat), CallError> {
    let w = watch.then(|| WatchOnReply {
        path: path.to_string(),
        on_ok: watches::DATA,
        on_no_node: 0,
    });
    let req = Request::GetData {
        path: s.server_path(path).as_str().into(),
        watch,
    };
    match s.call(&req, w)? {
        Response::Data(d, st) => Ok((d, st)),
        _ => Err(CallError::Server(Ok(ErrorCode::MarshallingError))),
    }
}

fn get(s: &mut Session, stat: bool, watch: bool, path: &str) -> Done {
    bad_path(path)?;
    let (data, st) = get_data(s, watch, path).map_err(|e| server_err(e, path))?;
    match data.as_option() {
        None => println!("null"),
        Some(d) => println!("{}", String::from_utf8_lossy(d)),
    }
    if stat {
        print_stat(&st);
    }
    Ok(())
}

fn set(s: &mut Session, stat: bool, version: Option<String>, path: &str, data: String) -> Done {
    let version = version.as_deref().map(java_int).transpose()?.unwrap_or(-1);
    bad_path(path)?;
    let req = Request::SetData {
        path: s.server_path(path).as_str().into(),
        data: ZData::from(data.into_bytes()),
        version,
    };
    match s.call(&req, None) {
        Ok(Response::Stat(st)) if stat => {
            print_stat(&st);
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(server_err(e, path)),
    }
}

fn stat_cmd(s: &mut Session, watch: bool, path: &str) -> Done {
    bad_path(path)?;
    let w = watch.then(|| WatchOnReply {
        path: path.to_string(),
        on_ok: watches::DATA,
        on_no_node: watches::EXIST,
    });
    let req = Request::Exists {
        path: s.server_path(path).as_str().into(),
        watch,
    };
    match s.call(&req, w) {
        Ok(Response::Stat(st)) => {
            print_stat(&st);
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(server_err(e, path)),
    }
}

fn children(
    s: &Session,
    path: &str,
    watch: bool,
    with_stat: bool,
) -> Result<(Vec<String>, Option<Stat>), CallError> {
    let w = watch.then(|| WatchOnReply {
        path: path.to_string(),
        on_ok: watches::CHILD,
        on_no_node: 0,
    });
    let p = s.server_path(path).as_str().into();
    let req = if with_stat {
        Request::GetChildren2 { path: p, watch }
    } else {
        Request::GetChildren { path: p, watch }
    };
    let (mut names, st): (Vec<String>, _) = match s.call(&req, w)? {
        Response::Children(c) => (c.iter().map(|z| z.to_string()).collect(), None),
        Response::Children2(c, st) => (c.iter().map(|z| z.to_string()).collect(), Some(st)),
        _ => return Err(CallError::Server(Ok(ErrorCode::MarshallingError))),
    };
    // Java sorts by UTF-16 units; equal to byte order for paths in the BMP.
    names.sort();
    Ok((names, st))
}

fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// `ZKUtil.visitSubTreeDFS`: the node, then each level's children before their subtrees.
fn visit_dfs(s: &Session, path: &str, watch: bool, each: &mut dyn FnMut(&str)) -> Done {
    bad_path(path)?;
    get_data(s, watch, path).map_err(|e| server_err(e, path))?;
    each(path);
    visit_children(s, path, watch, each)
}

fn visit_children(s: &Session, path: &str, watch: bool, each: &mut dyn FnMut(&str)) -> Done {
    let names = match children(s, path, watch, false) {
        Ok((names, _)) => names,
        Err(CallError::Server(Ok(ErrorCode::NoNode))) => return Ok(()),
        Err(e) => return Err(server_err(e, path)),
    };
    for n in &names {
        each(&join(path, n));
    }
    for n in &names {
        visit_children(s, &join(path, n), watch, each)?;
    }
    Ok(())
}

fn ls(
    s: &mut Session,
    stat: bool,
    watch: bool,
    recursive: bool,
    help: bool,
    path: Option<String>,
) -> Done {
    if help {
        println!("usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch");
    }
    let Some(path) = path else {
        return Err(Failure::Cli(CliError::new(usage_line("ls"))));
    };
    if recursive {
        return visit_dfs(s, &path, watch, &mut |p| println!("{p}"));
    }
    bad_path(&path)?;
    let (names, st) = children(s, &path, watch, stat).map_err(|e| server_err(e, &path))?;
    println!("[{}]", names.join(", "));
    if let Some(st) = st {
        print_stat(&st);
    }
    Ok(())
}

fn delete(s: &mut Session, version: Option<String>, path: &str) -> Done {
    let version = version.as_deref().map(java_int).transpose()?.unwrap_or(-1);
    bad_path(path)?;
    let req = Request::Delete {
        path: s.server_path(path).as_str().into(),
        version,
    };
    s.call(&req, None)
        .map(|_| ())
        .map_err(|e| server_err(e, path))
}

/// `ZKUtil.listSubTreeBFS`.
fn subtree_bfs(s: &Session, root: &str) -> Result<Vec<String>, Failure> {
    let mut tree = vec![root.to_string()];
    let mut queue = VecDeque::from([root.to_string()]);
    while let Some(node) = queue.pop_front() {
        let (names, _) = children(s, &node, false, false).map_err(|e| server_err(e, &node))?;
        for n in names {
            let p = join(&node, &n);
            queue.push_back(p.clone());
            tree.push(p);
        }
    }
    Ok(tree)
}

/// `ZKUtil.deleteRecursive`: deepest first, in multis of `batch` deletes; stops at the first
/// failed multi.
fn delete_all(s: &mut Session, batch: Option<String>, path: &str) -> Done {
    let batch: i64 = match batch {
        Some(b) => b
            .parse::<i32>()
            .map(i64::from)
            .map_err(|_| Failure::Cli(CliError::new("-b argument must be an int value")))?,
        None => 1000,
    };
    bad_path(path)?;
    let tree = subtree_bfs(s, path)?;
    let mut ops = Vec::new();
    let mut ok = true;
    for (i, p) in tree.iter().enumerate().rev() {
        ops.push(Request::Delete {
            path: s.server_path(p).as_str().into(),
            version: -1,
        });
        if ops.len() as i64 == batch || i == 0 {
            if !ok {
                break;
            }
            let multi = Request::Multi(std::mem::take(&mut ops));
            ok = match s.call(&multi, None) {
                Ok(Response::Multi(results)) => {
                    !results.iter().any(|r| matches!(r, MultiResult::Error(_)))
                }
                Ok(_) => true,
                Err(_) => false,
            };
        }
    }
    if !ok {
        eprintln!("Failed to delete some node(s) in the subtree!");
    }
    Ok(())
}

fn get_acl(s: &mut Session, stat: bool, path: &str) -> Done {
    bad_path(path)?;
    let req = Request::GetAcl {
        path: s.server_path(path).as_str().into(),
    };
    if let Response::Acl(acls, st) = s.call(&req, None).map_err(|e| server_err(e, path))? {
        for a in &acls {
            println!("{}", format::acl_line(a));
        }
        if stat {
            print_stat(&st);
        }
    }
    Ok(())
}

fn set_acl_once(s: &Session, path: &str, acl: &[Acl], version: i32) -> Result<Stat, CallError> {
    if acl.is_empty() {
        return Err(CallError::Server(Ok(ErrorCode::InvalidAcl)));
    }
    let req = Request::SetAcl {
        path: s.server_path(path).as_str().into(),
        acl: acl.to_vec(),
        version,
    };
    match s.call(&req, None)? {
        Response::Stat(st) => Ok(st),
        _ => Ok(Stat::default()),
    }
}

fn set_acl(
    s: &mut Session,
    stat: bool,
    version: Option<String>,
    recursive: bool,
    path: &str,
    acl_text: &str,
) -> Done {
    let acl = parse_acl(acl_text);
    let version = version.as_deref().map(java_int).transpose()?.unwrap_or(-1);
    if recursive {
        let sess: &Session = s;
        return visit_dfs(sess, path, false, &mut |p| {
            if let Err(e) = set_acl_once(sess, p, &acl, version) {
                // zkCli prints these with print, not println: one run-on line.
                let shown = if acl.is_empty() { None } else { Some(p) };
                print!("{}", format::keeper_message(e.code(), shown));
            }
        });
    }
    bad_path(path)?;
    if acl.is_empty() {
        return Err(Failure::Cli(CliError::new(format::cli_error(
            Ok(ErrorCode::InvalidAcl),
            None,
        ))));
    }
    let st = set_acl_once(s, path, &acl, version).map_err(|e| server_err(e, path))?;
    if stat {
        print_stat(&st);
    }
    Ok(())
}

fn sync(s: &mut Session, path: &str) -> Done {
    bad_path(path)?;
    let req = Request::Sync {
        path: s.server_path(path).as_str().into(),
    };
    match s.call(&req, None) {
        Ok(_) => println!("Sync is OK"),
        Err(e) => println!(
            "Sync has failed. rc={}",
            e.code().map_or_else(|c| c, ErrorCode::as_i32)
        ),
    }
    Ok(())
}

fn add_watch(s: &mut Session, recursive: bool, path: &str) -> Done {
    bad_path(path)?;
    let w = WatchOnReply {
        path: path.to_string(),
        on_ok: if recursive {
            watches::RECURSIVE
        } else {
            watches::PERSISTENT
        },
        on_no_node: 0,
    };
    let req = Request::AddWatch {
        path: s.server_path(path).as_str().into(),
        mode: if recursive { 1 } else { 0 },
    };
    s.call(&req, Some(w))
        .map(|_| ())
        .map_err(|e| server_err(e, path))
}

/// `ZooKeeper.removeAllWatches`: the server is asked, then the client's own table decides
/// (`ZKWatchManager.removeWatcher`): no local watch is NoWatcher whatever the server said.
fn remove_watches(s: &mut Session, path: &str, kind: Kind, local: bool) -> Done {
    bad_path(path)?;
    let req = Request::RemoveWatches {
        path: s.server_path(path).as_str().into(),
        kind: kind.wire(),
    };
    let answer = s.call(&req, None);
    if !s.has_watch(path, kind) {
        return Err(server_err(
            CallError::Server(Ok(ErrorCode::NoWatcher)),
            path,
        ));
    }
    if let Err(e) = answer
        && !local
    {
        return Err(server_err(e, path));
    }
    s.forget_watches(path, kind);
    Ok(())
}

fn get_ephemerals(s: &mut Session, path: Option<String>) -> Done {
    let prefix = path.unwrap_or_else(|| "/".to_string());
    bad_path(&prefix)?;
    let req = Request::GetEphemerals {
        prefix: s.server_path(&prefix).as_str().into(),
    };
    match s.call(&req, None).map_err(|e| server_err(e, &prefix))? {
        Response::Strings(list) => {
            let shown: Vec<String> = list.iter().map(|p| p.to_string()).collect();
            println!("[{}]", shown.join(", "));
        }
        _ => println!("[]"),
    }
    Ok(())
}

fn all_children_number(s: &mut Session, path: Option<String>) -> Done {
    let Some(path) = path else {
        return Err(Failure::Cli(CliError::new(usage_line(
            "getAllChildrenNumber",
        ))));
    };
    bad_path(&path)?;
    let req = Request::GetAllChildrenNumber {
        path: s.server_path(&path).as_str().into(),
    };
    match s.call(&req, None).map_err(|e| server_err(e, &path))? {
        Response::Int(n) => println!("{n}"),
        _ => println!("0"),
    }
    Ok(())
}

fn who_am_i(s: &mut Session) -> Done {
    match s.call(&Request::WhoAmI, None) {
        Ok(Response::WhoAmI(list)) => {
            println!("Auth scheme: User");
            for c in list {
                println!("{}: {}", c.auth_scheme, c.user);
            }
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::Cli(CliError::new(format::keeper_message(
            e.code(),
            None,
        )))),
    }
}

/// `config`: the data of /zookeeper/config, never under the chroot (`ZooKeeper.getConfig`).
fn config(s: &mut Session, client: bool, watch: bool, stat: bool) -> Done {
    const CONFIG_NODE: &str = "/zookeeper/config";
    let w = watch.then(|| WatchOnReply {
        path: s.client_path(CONFIG_NODE),
        on_ok: watches::DATA,
        on_no_node: 0,
    });
    let req = Request::GetData {
        path: CONFIG_NODE.into(),
        watch,
    };
    let (data, st) = match s.call(&req, w) {
        Ok(Response::Data(d, st)) => (d, st),
        Ok(_) => (ZData::null(), Stat::default()),
        Err(e) => {
            return Err(Failure::Cli(CliError::new(format::cli_error(
                e.code(),
                Some(CONFIG_NODE),
            ))));
        }
    };
    let text = match data.as_option() {
        None => "null".to_string(),
        Some(d) => String::from_utf8_lossy(d).into_owned(),
    };
    if client {
        println!("{}", client_config(&text));
    } else {
        println!("{text}");
    }
    if stat {
        print_stat(&st);
    }
    Ok(())
}

/// `ConfigUtils.getClientConfigStr`: `version host:port,host:port` from a dynamic config.
fn client_config(text: &str) -> String {
    let mut version = "";
    let mut hosts = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "version" {
            version = v;
        }
        if !k.starts_with("server.") {
            continue;
        }
        if let Some((quorum, client)) = v.split_once(';') {
            let host = quorum.split(':').next().unwrap_or("");
            match client.rsplit_once(':') {
                Some((h, p)) => hosts.push(format!("{h}:{p}")),
                None => hosts.push(format!("{host}:{client}")),
            }
        }
    }
    format!("{version} {}", hosts.join(","))
}
