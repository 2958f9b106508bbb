//! What the load generator sends: the op kinds, the weighted mix with its
//! read:write ratio, the key space under the bench root, and the requests
//! each op turns into.
//!
//! Layout under the root (created by setup, removed afterwards):
//! `<root>/k/<10 digits>` the key space (values of `value_size` bytes),
//! `<root>/c/<dir>/<child>` small directories for getChildren,
//! `<root>/t/` where create/delete and ephemeral ops make their nodes.

use crate::proto::request::CreateRequest;
use crate::proto::{Acl, OpCode, Request, ZData, ZString};
use bytes::Bytes;
use std::fmt;
use std::str::FromStr;

/// Directories getChildren reads.
pub const CHILD_DIRS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// getData of a random key.
    Get,
    /// exists of a random key.
    Exists,
    /// getChildren of a small directory.
    Children,
    /// setData of a random key.
    Set,
    /// create of a session-owned node, then its delete (alternating ops).
    Create,
    /// The same with an ephemeral node.
    Ephemeral,
    /// multi { check(key a), setData(key b) }: two ops, one txn.
    Multi,
    /// getData(key, watch) then setData(key): done when the setData is
    /// answered, the watch event having arrived first.
    Watch,
}

impl OpKind {
    pub const ALL: [OpKind; 8] = [
        OpKind::Get,
        OpKind::Exists,
        OpKind::Children,
        OpKind::Set,
        OpKind::Create,
        OpKind::Ephemeral,
        OpKind::Multi,
        OpKind::Watch,
    ];

    pub fn is_read(self) -> bool {
        matches!(self, OpKind::Get | OpKind::Exists | OpKind::Children)
    }

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Exists => "exists",
            OpKind::Children => "children",
            OpKind::Set => "set",
            OpKind::Create => "create",
            OpKind::Ephemeral => "ephemeral",
            OpKind::Multi => "multi",
            OpKind::Watch => "watch",
        }
    }
}

impl FromStr for OpKind {
    type Err = String;
    fn from_str(s: &str) -> Result<OpKind, String> {
        OpKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown op {s:?} (one of {})", names.join(", "))
            })
    }
}

/// `R:W`, e.g. `10:1`; `1:0` is reads only, `0:1` writes only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ratio {
    pub reads: f64,
    pub writes: f64,
}

impl FromStr for Ratio {
    type Err = String;
    fn from_str(s: &str) -> Result<Ratio, String> {
        let (r, w) = s
            .split_once(':')
            .ok_or_else(|| format!("ratio {s:?}: expected R:W, e.g. 10:1"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("ratio {s:?}: {v:?} is not a non-negative number"))
        };
        let ratio = Ratio {
            reads: parse(r)?,
            writes: parse(w)?,
        };
        if ratio.reads + ratio.writes <= 0.0 {
            return Err(format!("ratio {s:?}: both sides are zero"));
        }
        Ok(ratio)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.reads, self.writes)
    }
}

/// A weighted list of ops of one class: `get=8,exists=1,children=1` or `get,exists`.
#[derive(Clone, Debug, PartialEq)]
pub struct OpList(pub Vec<(OpKind, f64)>);

impl FromStr for OpList {
    type Err = String;
    fn from_str(s: &str) -> Result<OpList, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((n, w)) => (
                    n,
                    w.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && *x > 0.0)
                        .ok_or_else(|| format!("op weight {part:?}: not a positive number"))?,
                ),
                None => (part, 1.0),
            };
            out.push((name.parse()?, weight));
        }
        if out.is_empty() {
            return Err("empty op list".into());
        }
        Ok(OpList(out))
    }
}

/// The op mix: cumulative weights over every op kind, reads and writes scaled
/// so that their totals stand in the requested ratio.
#[derive(Clone, Debug)]
pub struct Mix {
    cumulative: Vec<(f64, OpKind)>,
}

impl Mix {
    pub fn new(ratio: Ratio, reads: &OpList, writes: &OpList) -> Result<Mix, String> {
        for (k, _) in &reads.0 {
            if !k.is_read() {
                return Err(format!("{} is a write; list it under --writes", k.name()));
            }
        }
        for (k, _) in &writes.0 {
            if k.is_read() {
                return Err(format!("{} is a read; list it under --reads", k.name()));
            }
        }
        let total = ratio.reads + ratio.writes;
        let mut cumulative = Vec::new();
        let mut acc = 0.0;
        for (list, share) in [(reads, ratio.reads / total), (writes, ratio.writes / total)] {
            if share <= 0.0 {
                continue;
            }
            let sum: f64 = list.0.iter().map(|(_, w)| w).sum();
            for (k, w) in &list.0 {
                acc += share * w / sum;
                cumulative.push((acc, *k));
            }
        }
        Ok(Mix { cumulative })
    }

    /// The op for a uniform draw `u` in [0, 1).
    pub fn pick(&self, u: f64) -> OpKind {
        let last = self
            .cumulative
            .last()
            .map(|(_, k)| *k)
            .unwrap_or(OpKind::Get);
        self.cumulative
            .iter()
            .find(|(c, _)| u < *c)
            .map(|(_, k)| *k)
            .unwrap_or(last)
    }

    pub fn kinds(&self) -> impl Iterator<Item = OpKind> + '_ {
        self.cumulative.iter().map(|(_, k)| *k)
    }

    /// `get=0.909,set=0.091`: the share of each op, for reports.
    pub fn describe(&self) -> String {
        let mut prev = 0.0;
        let mut parts = Vec::new();
        for (c, k) in &self.cumulative {
            parts.push(format!("{}={:.3}", k.name(), c - prev));
            prev = *c;
        }
        parts.join(",")
    }
}

/// Paths and values, built once per thread so the hot path only clones handles.
pub struct KeySpace {
    pub root: String,
    pub keys: Vec<ZString>,
    pub dirs: Vec<ZString>,
    pub value: ZData,
}

impl KeySpace {
    pub fn new(root: &str, keys: usize, value_size: usize) -> KeySpace {
        KeySpace {
            root: root.to_string(),
            keys: (0..keys).map(|i| key_path(root, i).into()).collect(),
            dirs: (0..CHILD_DIRS).map(|d| dir_path(root, d).into()).collect(),
            value: ZData::from(Bytes::from(vec![b'v'; value_size])),
        }
    }

    pub fn get(&self, key: usize, watch: bool) -> Request {
        Request::GetData {
            path: self.keys[key].clone(),
            watch,
        }
    }

    pub fn exists(&self, key: usize) -> Request {
        Request::Exists {
            path: self.keys[key].clone(),
            watch: false,
        }
    }

    pub fn children(&self, dir: usize) -> Request {
        Request::GetChildren {
            path: self.dirs[dir % self.dirs.len()].clone(),
            watch: false,
        }
    }

    pub fn set(&self, key: usize) -> Request {
        Request::SetData {
            path: self.keys[key].clone(),
            data: self.value.clone(),
            version: -1,
        }
    }

    pub fn multi(&self, check_key: usize, set_key: usize) -> Request {
        Request::Multi(vec![
            Request::Check {
                path: self.keys[check_key].clone(),
                version: -1,
            },
            self.set(set_key),
        ])
    }

    /// A session-owned node under `<root>/t`.
    pub fn temp_path(&self, owner: &str, n: u64) -> ZString {
        format!("{}/t/{owner}-{n}", self.root).into()
    }

    pub fn create(&self, path: ZString, ephemeral: bool) -> Request {
        Request::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path,
                data: self.value.clone(),
                acl: Acl::open_unsafe(),
                flags: if ephemeral { 1 } else { 0 },
                ttl_ms: -1,
            },
        }
    }
}

pub fn key_path(root: &str, i: usize) -> String {
    format!("{root}/k/{i:010}")
}

pub fn dir_path(root: &str, d: usize) -> String {
    format!("{root}/c/d{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_ten_to_one_gives_reads_ten_elevenths() {
        let mix = Mix::new(
            "10:1".parse().unwrap(),
            &"get=8,exists=1,children=1".parse().unwrap(),
            &"set".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(mix.pick(0.0), OpKind::Get);
        assert_eq!(mix.pick(10.0 / 11.0 - 1e-9), OpKind::Children);
        assert_eq!(mix.pick(10.0 / 11.0 + 1e-9), OpKind::Set);
        assert_eq!(mix.pick(0.999_999), OpKind::Set);
    }

    #[test]
    fn reads_only_never_picks_a_write() {
        let mix = Mix::new(
            "1:0".parse().unwrap(),
            &"get".parse().unwrap(),
            &"set".parse().unwrap(),
        )
        .unwrap();
        assert!(mix.kinds().all(|k| k.is_read()));
    }

    #[test]
    fn a_write_in_the_read_list_is_refused() {
        assert!(
            Mix::new(
                "1:1".parse().unwrap(),
                &"set".parse().unwrap(),
                &"set".parse().unwrap()
            )
            .is_err()
        );
        assert!("get=-1".parse::<OpList>().is_err());
        assert!("0:0".parse::<Ratio>().is_err());
    }
}
