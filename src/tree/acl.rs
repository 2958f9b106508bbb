//! ACLs: the reference-counted ACL table, the authentication schemes corral
//! knows (`world`, `ip`, `digest`, `super`, and `sasl` when its provider is
//! configured), the permission check every op
//! goes through, and the rewriting of a client's ACL list before it is stored.
//!
//! Pure functions over values: no I/O, no configuration lookups (the super
//! digest is passed in by the caller). Numbering and matching follow Apache
//! ZooKeeper 3.9 (`ReferenceCountedACLCache`, `ZooKeeperServer.checkACL`,
//! `PrepRequestProcessor.fixupACL`, `DigestAuthenticationProvider`,
//! `IPAuthenticationProvider`, `SASLAuthenticationProvider`).

use crate::proto::{Acl, ErrorCode, Id};
use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

/// ZooKeeper's `OPEN_UNSAFE_ACL_ID` (-1 as a Java long): a node whose ACL id
/// is -1 has `OPEN_ACL_UNSAFE` without an entry in the table. Snapshot code
/// converts with `id as i64` / `v as u64`.
pub const OPEN_UNSAFE_ACL_ID: u64 = u64::MAX;

struct AclEntry {
    acls: Arc<[Acl]>,
    refs: u64,
}

/// ZooKeeper's `ReferenceCountedACLCache`: nodes refer to ACL lists by a `u64`
/// id, so a million nodes with the same ACL share one list (and snapshots
/// store the table once). Ids are handed out from 1 upwards in the order
/// lists are first seen, as ZooKeeper does, so a tree built by the same txns
/// numbers its ACLs the same way on either server.
pub struct AclCache {
    by_id: foldhash::HashMap<u64, AclEntry>,
    by_acl: foldhash::HashMap<Arc<[Acl]>, u64>,
    /// The last id handed out (`aclIndex`), compared as a Java long.
    last_id: i64,
    open_unsafe: Arc<[Acl]>,
}

impl Default for AclCache {
    fn default() -> Self {
        AclCache {
            by_id: foldhash::HashMap::default(),
            by_acl: foldhash::HashMap::default(),
            last_id: 0,
            open_unsafe: Acl::open_unsafe().into(),
        }
    }
}

impl AclCache {
    /// The list behind `id`; `OPEN_ACL_UNSAFE` for [`OPEN_UNSAFE_ACL_ID`].
    /// An unknown id (only a corrupt snapshot has one; ZooKeeper fails the
    /// request) yields the empty list.
    pub fn get(&self, id: u64) -> &[Acl] {
        if id == OPEN_UNSAFE_ACL_ID {
            return &self.open_unsafe;
        }
        self.by_id.get(&id).map(|e| &e.acls[..]).unwrap_or(&[])
    }

    /// Like [`AclCache::get`], as a shared handle (carried by watch triggers).
    pub fn get_shared(&self, id: u64) -> Arc<[Acl]> {
        if id == OPEN_UNSAFE_ACL_ID {
            return self.open_unsafe.clone();
        }
        self.by_id
            .get(&id)
            .map(|e| e.acls.clone())
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// `convertAcls`: the id of `acls` (a new one if the list is new), with
    /// one more usage counted.
    pub fn convert(&mut self, acls: &[Acl]) -> u64 {
        let id = match self.by_acl.get(acls) {
            Some(&id) => id,
            None => {
                self.last_id += 1;
                let id = self.last_id as u64;
                let shared = detached(acls);
                self.by_acl.insert(shared.clone(), id);
                self.by_id.insert(
                    id,
                    AclEntry {
                        acls: shared,
                        refs: 0,
                    },
                );
                id
            }
        };
        self.add_usage(id);
        id
    }

    /// One more node uses `id` (ignored for -1 and unknown ids, as ZooKeeper does).
    pub fn add_usage(&mut self, id: u64) {
        if let Some(e) = self.by_id.get_mut(&id) {
            e.refs += 1;
        }
    }

    /// One node fewer uses `id`; the entry goes when nobody does.
    pub fn remove_usage(&mut self, id: u64) {
        let Some(e) = self.by_id.get_mut(&id) else {
            return;
        };
        e.refs = e.refs.saturating_sub(1);
        if e.refs == 0 {
            self.drop_entry(id);
        }
    }

    fn drop_entry(&mut self, id: u64) {
        if let Some(e) = self.by_id.remove(&id)
            && self.by_acl.get(&e.acls[..]) == Some(&id)
        {
            self.by_acl.remove(&e.acls[..]);
        }
    }

    /// Adds an entry read from a snapshot: no usages yet (loading the nodes
    /// adds them, then [`AclCache::purge_unused`] drops the unused), and later
    /// ids continue after the largest id seen.
    pub fn insert_with_id(&mut self, id: u64, acls: Vec<Acl>) {
        let shared = detached(&acls);
        self.by_acl.insert(shared.clone(), id);
        self.by_id.insert(
            id,
            AclEntry {
                acls: shared,
                refs: 0,
            },
        );
        self.last_id = self.last_id.max(id as i64);
    }

    /// Drops entries no node uses (`purgeUnused`, after a snapshot load).
    pub fn purge_unused(&mut self) {
        let unused: Vec<u64> = self
            .by_id
            .iter()
            .filter(|(_, e)| e.refs == 0)
            .map(|(&id, _)| id)
            .collect();
        for id in unused {
            self.drop_entry(id);
        }
    }

    /// Every entry, in no particular order (what a snapshot writes).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[Acl])> {
        self.by_id.iter().map(|(&id, e)| (id, &e.acls[..]))
    }

    /// How many nodes use `id` (0 for -1 and unknown ids).
    pub fn ref_count(&self, id: u64) -> u64 {
        self.by_id.get(&id).map_or(0, |e| e.refs)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// What a connection has proven about itself: its ids (`ip:127.0.0.1`,
/// `digest:user:hash`, `sasl:user`, …), whether one of them is the super
/// user, and whether the server has the `sasl` scheme (ZooKeeper registers it
/// only with `authProvider.N=…SASLAuthenticationProvider`; without it `sasl`
/// ACLs are invalid and never match).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthContext {
    pub ids: Vec<Id>,
    pub is_super: bool,
    pub sasl_scheme: bool,
}

impl AuthContext {
    /// The context every connection starts with: `ip:<remote address>`, in
    /// Java's `getHostAddress` form (IPv4-mapped IPv6 shown as IPv4, IPv6 as
    /// eight uncompressed hex groups).
    pub fn for_ip(ip: IpAddr) -> AuthContext {
        AuthContext {
            ids: vec![Id::new("ip", &java_host_address(ip))],
            is_super: false,
            sasl_scheme: false,
        }
    }

    /// The same, on a server where the `sasl` scheme exists or not.
    pub fn with_sasl_scheme(mut self, on: bool) -> AuthContext {
        self.sasl_scheme = on;
        self
    }

    /// Adds an id unless the connection already has it (ZooKeeper keeps a set).
    pub fn add_id(&mut self, id: Id) {
        if id.scheme.as_str() == "super" {
            self.is_super = true;
        }
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
    }

    /// `addauth digest user:password`: adds `digest:user:<hash>`, and
    /// `super:` when that id equals `super_digest`
    /// (`zookeeper.DigestAuthenticationProvider.superDigest`, `super:<hash>`).
    pub fn add_digest_auth(
        &mut self,
        auth: &[u8],
        super_digest: Option<&str>,
    ) -> Result<Id, ErrorCode> {
        let id = authenticate_digest(auth)?;
        if super_digest == Some(id.id.as_str()) {
            self.add_id(Id::new("super", ""));
        }
        self.add_id(id.clone());
        Ok(id)
    }
}

/// Whether `id` reads as an X.500 name in RFC 2253 form: `type=value`
/// parts separated by unescaped `,` or `+` (ZooKeeper asks `X500Principal`).
fn x500_name_is_valid(id: &str) -> bool {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in id.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' | '+' => {
                parts.push(&id[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&id[start..]);
    !id.is_empty()
        && parts
            .iter()
            .all(|p| p.split_once('=').is_some_and(|(t, _)| !t.trim().is_empty()))
}

fn java_host_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!(
                    "{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
                    s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
                )
            }
        },
    }
}

/// `generateDigest`: `user:base64(sha1("user:password"))`. The user is what
/// precedes the first `:` (all of it when there is none).
pub fn digest(user_password: &str) -> String {
    let user = user_password
        .split_once(':')
        .map_or(user_password, |(u, _)| u);
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The id that `addauth digest <auth>` proves. ZooKeeper accepts any bytes
/// (decoded as UTF-8 with replacement), so this only fails if that ever
/// changes; the `Result` is the contract for schemes that can fail.
pub fn authenticate_digest(auth: &[u8]) -> Result<Id, ErrorCode> {
    let text = String::from_utf8_lossy(auth);
    Ok(Id::new("digest", &digest(&text)))
}

/// Whether ids of `scheme` stand for a proven identity
/// (`AuthenticationProvider.isAuthenticated`): those are what an `auth` ACL
/// expands to. `ip` is not; `super` and `world` have no provider; `sasl` is
/// when the server has its provider.
pub fn is_authenticated_scheme(scheme: &str, auth: &AuthContext) -> bool {
    scheme == "digest" || scheme == "x509" || (scheme == "sasl" && auth.sasl_scheme)
}

/// Whether `auth` holds `perm` on a node whose ACL is `acl` (`ZooKeeperServer.checkACL`).
pub fn check(acl: &[Acl], perm: i32, auth: &AuthContext) -> Result<(), ErrorCode> {
    if acl.is_empty() || auth.is_super {
        return Ok(());
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        let scheme = a.id.scheme.as_str();
        let expr = a.id.id.as_str();
        if scheme == "world" && expr == "anyone" {
            return Ok(());
        }
        let matcher: fn(&str, &str) -> bool = match scheme {
            "digest" | "x509" => |id, expr| id == expr,
            "ip" => ip_matches,
            "sasl" if auth.sasl_scheme => crate::sasl::acl_matches,
            _ => continue,
        };
        if auth
            .ids
            .iter()
            .any(|id| id.scheme.as_str() == scheme && matcher(id.id.as_str(), expr))
        {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

/// `PrepRequestProcessor.fixupACL`: the ACL list a create or setACL stores.
/// Duplicates go first; `auth` entries become one entry per authenticated id
/// of the connection; every other id must be valid for its scheme. Perms are
/// not checked (ZooKeeper stores any value).
pub fn fix_acls(acls: &[Acl], auth: &AuthContext) -> Result<Vec<Acl>, ErrorCode> {
    let mut seen: HashSet<&Acl> = HashSet::with_capacity(acls.len());
    let mut out = Vec::with_capacity(acls.len());
    for a in acls {
        if !seen.insert(a) {
            continue;
        }
        let scheme = a.id.scheme.as_str();
        if scheme == "world" && a.id.id.as_str() == "anyone" {
            out.push(a.clone());
        } else if scheme == "auth" {
            let before = out.len();
            for id in auth
                .ids
                .iter()
                .filter(|id| is_authenticated_scheme(&id.scheme, auth))
            {
                out.push(Acl {
                    perms: a.perms,
                    id: id.clone(),
                });
            }
            if out.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid_id(scheme, &a.id.id, auth.sasl_scheme) {
            out.push(a.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    if out.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    Ok(out)
}

/// `AuthenticationProvider.isValid` of the schemes corral knows.
fn is_valid_id(scheme: &str, id: &str, sasl_scheme: bool) -> bool {
    match scheme {
        "sasl" => sasl_scheme && kerberos_name_is_valid(id),
        // `id.split(":").length == 2` in Java, which drops trailing empty parts.
        "digest" => java_split_len(id, ':') == 2,
        "ip" => ip_is_valid(id),
        // X509AuthenticationProvider.isValid: an X.500 name.
        "x509" => x500_name_is_valid(id),
        _ => false,
    }
}

/// `SASLAuthenticationProvider.isValid`: `new KerberosName(id)` succeeds. A
/// name without `@` is a bare service name; one with `@` must be
/// `service[/host]@realm` with no further `/` or `@`.
fn kerberos_name_is_valid(id: &str) -> bool {
    let Some((principal, realm)) = id.split_once('@') else {
        return true;
    };
    if realm.contains(['/', '@']) {
        return false;
    }
    match principal.split_once('/') {
        Some((_, host)) => !host.contains('/'),
        None => true,
    }
}

/// `s.split(sep).length` in Java: trailing empty strings are dropped, and a
/// string without a separator is one part (even when empty).
fn java_split_len(s: &str, sep: char) -> usize {
    if s.is_empty() {
        return 1;
    }
    let mut n = s.split(sep).count();
    for part in s.rsplit(sep) {
        if !part.is_empty() {
            break;
        }
        n -= 1;
    }
    n
}

/// `getACL` for a caller without ADMIN: digest ids lose their hash (`user:x`).
pub fn mask_digests(acls: &[Acl]) -> Vec<Acl> {
    acls.iter()
        .map(|a| {
            if a.id.scheme.as_str() == "digest" {
                let user = a.id.id.split_once(':').map(|(u, _)| u);
                match user {
                    Some(u) => Acl {
                        perms: a.perms,
                        id: Id::new("digest", &format!("{u}:x")),
                    },
                    None => a.clone(),
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

/// An address as `IPAuthenticationProvider.addr2Bytes` reads it: 4 or 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct IpBytes {
    b: [u8; 16],
    len: usize,
}

impl IpBytes {
    fn mask(&mut self, bits: usize) {
        // Clear every bit after the first `bits`.
        let start = bits / 8;
        let mut keep = !((1u16 << (8 - bits % 8)) - 1) as u8;
        for byte in self.b.iter_mut().take(self.len).skip(start) {
            *byte &= keep;
            keep = 0;
        }
    }
}

fn parse_ip(s: &str) -> Option<IpBytes> {
    if s.contains(':') {
        parse_v6(s)
    } else if s.contains('.') {
        parse_v4(s)
    } else {
        None
    }
}

fn parse_v4(s: &str) -> Option<IpBytes> {
    let mut out = IpBytes { b: [0; 16], len: 4 };
    let mut n = 0;
    for part in s.split('.') {
        if n == 4 {
            return None;
        }
        // Java's Integer.parseInt accepts a sign, as Rust's parse does.
        let v: i32 = part.parse().ok()?;
        out.b[n] = u8::try_from(v).ok()?;
        n += 1;
    }
    (n == 4).then_some(out)
}

fn parse_v6(s: &str) -> Option<IpBytes> {
    let mut out = IpBytes {
        b: [0; 16],
        len: 16,
    };
    let mut halves = s.split("::");
    let first = halves.next()?;
    match (halves.next(), halves.next()) {
        (None, _) => {
            if first.split(':').count() != 8 {
                return None;
            }
            parse_v6_segments(&mut out.b, 0, first)?;
        }
        (Some(second), None) => {
            let count = |h: &str| {
                if h.is_empty() {
                    0
                } else {
                    h.split(':').count()
                }
            };
            let (n1, n2) = (count(first), count(second));
            if n1 + n2 >= 8 {
                return None;
            }
            if n1 > 0 {
                parse_v6_segments(&mut out.b, 0, first)?;
            }
            if n2 > 0 {
                parse_v6_segments(&mut out.b, 16 - 2 * n2, second)?;
            }
        }
        (Some(_), Some(_)) => return None,
    }
    Some(out)
}

fn parse_v6_segments(b: &mut [u8; 16], mut at: usize, segments: &str) -> Option<()> {
    for seg in segments.split(':') {
        if seg.is_empty() || seg.len() > 4 {
            return None;
        }
        let v = i32::from_str_radix(seg, 16).ok()?;
        b[at] = (v >> 8) as u8;
        b[at + 1] = v as u8;
        at += 2;
    }
    Some(())
}

/// Splits `addr/bits`; the prefix length defaults to the whole address.
fn parse_cidr(expr: &str) -> Option<(IpBytes, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let ip = parse_ip(addr)?;
    let bits = match bits {
        None => ip.len * 8,
        Some(b) => {
            let v: i32 = b.parse().ok()?;
            let v = usize::try_from(v).ok()?;
            if v > ip.len * 8 {
                return None;
            }
            v
        }
    };
    Some((ip, bits))
}

/// `IPAuthenticationProvider.isValid`.
fn ip_is_valid(expr: &str) -> bool {
    parse_cidr(expr).is_some()
}

/// `IPAuthenticationProvider.matches`: `id` is the connection's address,
/// `expr` an ACL's `addr[/bits]`.
fn ip_matches(id: &str, expr: &str) -> bool {
    let Some((mut acl, bits)) = parse_cidr(expr) else {
        return false;
    };
    let Some(mut remote) = parse_ip(id) else {
        return false;
    };
    acl.mask(bits);
    remote.mask(bits);
    remote == acl
}

/// A table entry with strings of its own: ACLs arrive as slices of a request
/// frame or of a whole snapshot file, which an entry living on would pin
/// (measured: a 1M-node snapshot's 195 MB buffer stayed alive through its
/// ACL table).
fn detached(acls: &[Acl]) -> Arc<[Acl]> {
    acls.iter()
        .map(|a| Acl {
            perms: a.perms,
            id: Id {
                scheme: a.id.scheme.detached(),
                id: a.id.id.detached(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::perms::*;

    #[test]
    fn x509_ids_must_read_as_x500_names() {
        assert!(is_valid_id("x509", "CN=client,O=Acme\\, Inc.,C=US", false));
        assert!(is_valid_id("x509", "OU=a+CN=b", false));
        assert!(!is_valid_id("x509", "", false));
        assert!(!is_valid_id("x509", "client", false));
        assert!(!is_valid_id("x509", "CN=a,,O=b", false));
    }

    fn ctx(ids: &[(&str, &str)]) -> AuthContext {
        AuthContext {
            ids: ids.iter().map(|(s, i)| Id::new(s, i)).collect(),
            is_super: false,
            sasl_scheme: false,
        }
    }

    // Expected value computed outside Rust:
    // echo -n user:password | openssl dgst -binary -sha1 | base64
    const USER_PASSWORD_DIGEST: &str = "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=";

    #[test]
    fn digest_of_known_pair_matches_openssl() {
        assert_eq!(digest("user:password"), USER_PASSWORD_DIGEST);
        let id = authenticate_digest(b"user:password").unwrap();
        assert_eq!(id, Id::new("digest", USER_PASSWORD_DIGEST));
    }

    #[test]
    fn digest_user_is_text_before_first_colon() {
        let d = digest("a:b:c");
        assert!(d.starts_with("a:"), "{d}");
        assert_ne!(d, digest("a:b"));
        // Without a colon the whole text is the user, as in ZooKeeper.
        assert!(digest("nocolon").starts_with("nocolon:"));
    }

    #[test]
    fn super_digest_grants_super() {
        let mut a = AuthContext::for_ip("127.0.0.1".parse().unwrap());
        a.add_digest_auth(b"user:password", Some("super:other"))
            .unwrap();
        assert!(!a.is_super);
        let mut s = AuthContext::for_ip("127.0.0.1".parse().unwrap());
        let superd = digest("super:secret");
        s.add_digest_auth(b"super:secret", Some(&superd)).unwrap();
        assert!(s.is_super);
        assert!(s.ids.contains(&Id::new("super", "")));
        assert!(s.ids.contains(&Id::new("digest", &superd)));
        let locked = vec![Acl::new(READ, "digest", USER_PASSWORD_DIGEST)];
        assert_eq!(check(&locked, ADMIN, &s), Ok(()));
        assert_eq!(check(&locked, ADMIN, &a), Err(ErrorCode::NoAuth));
    }

    #[test]
    fn repeated_auth_does_not_duplicate_ids() {
        let mut a = AuthContext::default();
        a.add_digest_auth(b"user:password", None).unwrap();
        a.add_digest_auth(b"user:password", None).unwrap();
        assert_eq!(a.ids.len(), 1);
    }

    #[test]
    fn for_ip_uses_java_address_forms() {
        let v4 = AuthContext::for_ip("10.1.2.3".parse().unwrap());
        assert_eq!(v4.ids, vec![Id::new("ip", "10.1.2.3")]);
        let v6 = AuthContext::for_ip("::1".parse().unwrap());
        assert_eq!(v6.ids, vec![Id::new("ip", "0:0:0:0:0:0:0:1")]);
        let mapped = AuthContext::for_ip("::ffff:192.168.0.9".parse().unwrap());
        assert_eq!(mapped.ids, vec![Id::new("ip", "192.168.0.9")]);
    }

    #[test]
    fn empty_acl_allows_everything() {
        assert_eq!(check(&[], ALL, &AuthContext::default()), Ok(()));
    }

    #[test]
    fn world_anyone_allows_only_its_perms() {
        let acl = vec![Acl::new(READ, "world", "anyone")];
        let a = AuthContext::default();
        assert_eq!(check(&acl, READ, &a), Ok(()));
        assert_eq!(check(&acl, WRITE, &a), Err(ErrorCode::NoAuth));
        // Either bit of a combined mask is enough (getACL asks READ|ADMIN).
        assert_eq!(check(&acl, READ | ADMIN, &a), Ok(()));
        // world with another id matches nobody.
        let odd = vec![Acl::new(ALL, "world", "someone")];
        assert_eq!(check(&odd, READ, &a), Err(ErrorCode::NoAuth));
    }

    #[test]
    fn digest_acl_needs_exact_id() {
        let acl = vec![Acl::new(ALL, "digest", USER_PASSWORD_DIGEST)];
        let ok = ctx(&[("ip", "1.2.3.4"), ("digest", USER_PASSWORD_DIGEST)]);
        assert_eq!(check(&acl, WRITE, &ok), Ok(()));
        let other = ctx(&[("digest", "user:wrong")]);
        assert_eq!(check(&acl, WRITE, &other), Err(ErrorCode::NoAuth));
        // Same id text under another scheme does not count.
        let ip = ctx(&[("ip", USER_PASSWORD_DIGEST)]);
        assert_eq!(check(&acl, WRITE, &ip), Err(ErrorCode::NoAuth));
    }

    #[test]
    fn ip_acl_matches_cidr_ranges() {
        let acl = vec![Acl::new(READ, "ip", "10.0.0.0/8")];
        assert_eq!(check(&acl, READ, &ctx(&[("ip", "10.200.3.4")])), Ok(()));
        assert_eq!(
            check(&acl, READ, &ctx(&[("ip", "11.0.0.1")])),
            Err(ErrorCode::NoAuth)
        );
        assert!(ip_matches("192.168.1.77", "192.168.1.64/26"));
        assert!(!ip_matches("192.168.1.63", "192.168.1.64/26"));
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(!ip_matches("127.0.0.2", "127.0.0.1"));
        assert!(ip_matches("1.2.3.4", "0.0.0.0/0"));
        // Bad prefix lengths and addresses never match.
        assert!(!ip_matches("10.0.0.1", "10.0.0.0/33"));
        assert!(!ip_matches("10.0.0.1", "10.0.0.0/x"));
        assert!(!ip_matches("10.0.0.1", "10.0.0"));
        assert!(!ip_matches("10.0.0.1", "10.0.0.256"));
    }

    #[test]
    fn ip_acl_matches_ipv6_and_never_mixes_families() {
        assert!(ip_matches("0:0:0:0:0:0:0:1", "::1"));
        assert!(ip_matches("fe80:0:0:0:1:2:3:4", "fe80::/10"));
        assert!(!ip_matches("fe00:0:0:0:0:0:0:1", "fe80::/10"));
        assert!(ip_matches("2001:db8:0:0:0:0:0:5", "2001:db8::/32"));
        assert!(!ip_matches("10.0.0.1", "::/0"));
        assert!(!ip_matches("0:0:0:0:0:0:0:1", "0.0.0.0/0"));
        assert!(parse_v6("1:2:3:4:5:6:7").is_none());
        assert!(parse_v6("1::2::3").is_none());
        assert!(parse_v6("1:2:3:4::5:6:7:8").is_none());
        assert!(parse_v6("12345::").is_none());
        assert_eq!(parse_v6("::").map(|b| b.b), Some([0; 16]));
    }

    #[test]
    fn acl_check_skips_entries_without_the_perm() {
        let acl = vec![
            Acl::new(READ, "ip", "127.0.0.1"),
            Acl::new(WRITE, "world", "anyone"),
        ];
        let me = ctx(&[("ip", "127.0.0.1")]);
        assert_eq!(check(&acl, READ, &me), Ok(()));
        assert_eq!(check(&acl, WRITE, &AuthContext::default()), Ok(()));
        assert_eq!(
            check(&acl, DELETE, &me),
            Err(ErrorCode::NoAuth),
            "no entry grants DELETE"
        );
    }

    #[test]
    fn sasl_acls_exist_only_with_the_sasl_provider_and_match_user_or_super() {
        let acl = vec![Acl::new(ALL, "sasl", "bob")];
        let bob = ctx(&[("ip", "127.0.0.1"), ("sasl", "bob")]);
        // Without the provider: invalid to set, never matching.
        assert_eq!(fix_acls(&acl, &bob), Err(ErrorCode::InvalidAcl));
        assert_eq!(check(&acl, READ, &bob), Err(ErrorCode::NoAuth));
        let bob = bob.with_sasl_scheme(true);
        assert_eq!(fix_acls(&acl, &bob), Ok(acl.clone()));
        assert_eq!(check(&acl, READ, &bob), Ok(()));
        let alice = ctx(&[("sasl", "alice")]).with_sasl_scheme(true);
        assert_eq!(check(&acl, READ, &alice), Err(ErrorCode::NoAuth));
        // SASLAuthenticationProvider.matches: the sasl id "super" matches any.
        let sup = ctx(&[("sasl", "super")]).with_sasl_scheme(true);
        assert_eq!(check(&acl, READ, &sup), Ok(()));
        // `auth` expands to the sasl id, as an authenticated scheme.
        let auth = vec![Acl::new(ALL, "auth", "")];
        assert_eq!(fix_acls(&auth, &bob), Ok(acl.clone()));
        // KerberosName validity.
        for (id, valid) in [
            ("bob", true),
            ("bob@EXAMPLE.COM", true),
            ("zk/host@EXAMPLE.COM", true),
            ("a@b@c", false),
            ("a/b/c@R", false),
        ] {
            let got = fix_acls(&[Acl::new(ALL, "sasl", id)], &bob).is_ok();
            assert_eq!(got, valid, "{id}");
        }
    }

    #[test]
    fn fix_acls_rejects_empty_and_unknown_schemes() {
        let a = ctx(&[("ip", "127.0.0.1")]);
        assert_eq!(fix_acls(&[], &a), Err(ErrorCode::InvalidAcl));
        for bad in [
            Acl::new(ALL, "world", "someone"),
            Acl::new(ALL, "sasl", "bob"),
            Acl::new(ALL, "super", ""),
            Acl::new(ALL, "digest", "nohash"),
            Acl::new(ALL, "digest", "a:b:c"),
            Acl::new(ALL, "digest", "user:"),
            Acl::new(ALL, "ip", "10.0.0.0/40"),
            Acl::new(ALL, "ip", "host.example"),
        ] {
            assert_eq!(
                fix_acls(std::slice::from_ref(&bad), &a),
                Err(ErrorCode::InvalidAcl),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn fix_acls_accepts_valid_ids_and_any_perms() {
        let a = AuthContext::default();
        let ok = vec![
            Acl::new(0, "world", "anyone"),
            Acl::new(READ, "ip", "10.0.0.0/8"),
            Acl::new(READ, "ip", "::1"),
            Acl::new(ALL, "digest", USER_PASSWORD_DIGEST),
            // Java's split drops trailing empties, so these have two parts.
            Acl::new(ALL, "digest", "u:h:"),
            Acl::new(ALL, "digest", ":h"),
        ];
        assert_eq!(fix_acls(&ok, &a), Ok(ok.clone()));
    }

    #[test]
    fn fix_acls_expands_auth_to_authenticated_ids_only() {
        let creator = vec![Acl::new(ALL, "auth", "")];
        let anon = ctx(&[("ip", "127.0.0.1")]);
        assert_eq!(fix_acls(&creator, &anon), Err(ErrorCode::InvalidAcl));
        let mut user = AuthContext::for_ip("127.0.0.1".parse().unwrap());
        user.add_digest_auth(b"user:password", None).unwrap();
        user.add_digest_auth(b"other:pw", None).unwrap();
        let fixed = fix_acls(&creator, &user).unwrap();
        assert_eq!(
            fixed,
            vec![
                Acl::new(ALL, "digest", USER_PASSWORD_DIGEST),
                Acl::new(ALL, "digest", &digest("other:pw")),
            ]
        );
    }

    #[test]
    fn fix_acls_removes_duplicates_keeping_first_order() {
        let a = AuthContext::default();
        let acls = vec![
            Acl::new(READ, "ip", "1.2.3.4"),
            Acl::new(ALL, "world", "anyone"),
            Acl::new(READ, "ip", "1.2.3.4"),
        ];
        assert_eq!(
            fix_acls(&acls, &a).unwrap(),
            vec![
                Acl::new(READ, "ip", "1.2.3.4"),
                Acl::new(ALL, "world", "anyone")
            ]
        );
    }

    #[test]
    fn mask_digests_hides_hashes() {
        let acls = vec![
            Acl::new(ALL, "digest", USER_PASSWORD_DIGEST),
            Acl::new(READ, "ip", "1.2.3.4"),
        ];
        assert_eq!(
            mask_digests(&acls),
            vec![
                Acl::new(ALL, "digest", "user:x"),
                Acl::new(READ, "ip", "1.2.3.4")
            ]
        );
    }

    #[test]
    fn acl_cache_numbers_from_one_and_drops_at_zero() {
        let mut c = AclCache::default();
        let open = Acl::open_unsafe();
        let read = vec![Acl::new(READ, "world", "anyone")];
        assert_eq!(c.convert(&read), 1);
        assert_eq!(c.convert(&open), 2);
        assert_eq!(c.convert(&read), 1);
        assert_eq!(c.ref_count(1), 2);
        c.remove_usage(1);
        assert_eq!(c.get(1), &read[..]);
        c.remove_usage(1);
        assert!(c.get(1).is_empty());
        assert_eq!(c.len(), 1);
        // A list seen again after its entry went gets a fresh id.
        assert_eq!(c.convert(&read), 3);
    }

    #[test]
    fn acl_cache_minus_one_is_open_unsafe_without_entry() {
        let mut c = AclCache::default();
        assert_eq!(c.get(OPEN_UNSAFE_ACL_ID), &Acl::open_unsafe()[..]);
        assert_eq!(OPEN_UNSAFE_ACL_ID as i64, -1);
        c.add_usage(OPEN_UNSAFE_ACL_ID);
        c.remove_usage(OPEN_UNSAFE_ACL_ID);
        assert!(c.is_empty());
    }

    #[test]
    fn acl_cache_snapshot_entries_continue_numbering_and_purge() {
        let mut c = AclCache::default();
        c.insert_with_id(7, vec![Acl::new(READ, "ip", "1.1.1.1")]);
        c.insert_with_id(3, vec![Acl::new(READ, "ip", "2.2.2.2")]);
        c.add_usage(3);
        c.purge_unused();
        let ids: Vec<u64> = c.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![3]);
        assert_eq!(c.convert(&[Acl::new(ALL, "ip", "3.3.3.3")]), 8);
        assert_eq!(c.convert(&[Acl::new(READ, "ip", "2.2.2.2")]), 3);
    }

    #[test]
    fn java_split_len_matches_java() {
        assert_eq!(java_split_len("a:b", ':'), 2);
        assert_eq!(java_split_len("a:b:", ':'), 2);
        assert_eq!(java_split_len("a:", ':'), 1);
        assert_eq!(java_split_len("::", ':'), 0);
        assert_eq!(java_split_len(":b", ':'), 2);
        assert_eq!(java_split_len("", ':'), 1);
    }
}
