//! Snapshots in ZooKeeper's `FileSnap` format: header, sessions, the ACL
//! table, every node parents-first (root as `""`), the `/` end marker, then
//! the Adler32 seal (`checksum | "/"`) over everything before it. ZooKeeper
//! 3.6+ may follow it with a digest and 3.9 with lastProcessedZxid, each
//! sealed again; `parse` reads and checks them, corral writes neither.
//!
//! Taking one is *fuzzy*, as in ZooKeeper: the tree is walked in small chunks,
//! each under a short read lock, while the sequencer keeps applying. Replaying
//! the log from the snapshot's zxid over it gives the exact tree. Nodes
//! created after the snapshot began are left out (the log recreates them), so
//! every node written refers to an ACL in the table written before it.
//!
//! The same walk makes the body a leader streams after a SNAP packet
//! ([`Walk`]); a walk over a tree that was replaced under it stops
//! ([`Step::Replaced`]). Receiving that stream is `snap_stream`'s.

use super::format::{Adler32, HEADER_LEN, SNAP_DBID, SNAP_MAGIC, check_header, file_header};
use crate::proto::codec::{Reader, Writer};
use crate::proto::records::{Acl, decode_acls, encode_acls};
use crate::proto::{SessionId, ZString, Zxid};
use crate::tree::node::Znode;
use crate::tree::{DataTree, Generation, LoadError, ROOT, ReadyNode};
use bytes::{Bytes, BytesMut};
use parking_lot::RwLock;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Nodes and bytes encoded per read-lock hold: bound how long a snapshot can
/// delay the sequencer's write lock (a few tens of µs).
const NODES_PER_CHUNK: usize = 64;
const CHUNK_BYTES: usize = 256 << 10;

/// The marker path that ends the node list and the seal.
const END_PATH: &str = "/";

/// What a snapshot file held besides the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub zxid: Zxid,
    pub sessions: Vec<(SessionId, i32)>,
    pub acl_entries: usize,
    pub nodes: usize,
    /// ZooKeeper 3.6+ writes `ZxidDigest { zxid, version, digest }` after the seal.
    pub digest: Option<(i64, i32, i64)>,
    /// ZooKeeper 3.9 writes the tree's lastProcessedZxid after that.
    pub last_processed_zxid: Option<Zxid>,
}

/// A snapshot file that cannot be used, with where it went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: offset {offset}: {reason}")]
pub struct SnapshotError {
    pub path: String,
    pub offset: u64,
    pub reason: String,
}

/// A snapshot file being written with its running checksum. It is written
/// under a temporary name ZooKeeper does not read (`tmp.snapshot.<zxid>`)
/// and renamed into place only once complete and synced.
pub struct SnapshotWriter {
    file: io::BufWriter<File>,
    sum: Adler32,
    tmp: PathBuf,
    dest: PathBuf,
    written: u64,
    /// Everything before this offset has been written back to the device.
    synced: u64,
}

/// Snapshot bytes are written back in steps of this size while the snapshot
/// is written (RocksDB's `bytes_per_sync`): the page cache never holds a flood
/// of dirty snapshot data for the log's synced writes to queue behind, and the
/// final fsync has little left to do.
const BYTES_PER_SYNC: u64 = 256 << 10;

impl SnapshotWriter {
    pub fn create(dir: &Path, zxid: Zxid) -> io::Result<SnapshotWriter> {
        let name = super::format::file_name(super::format::SNAPSHOT_PREFIX, zxid);
        let dest = dir.join(&name);
        let tmp = dir.join(format!("tmp.{name}"));
        let file = File::create(&tmp)?;
        let mut w = SnapshotWriter {
            file: io::BufWriter::with_capacity(1 << 20, file),
            sum: Adler32::new(),
            tmp,
            dest,
            written: 0,
            synced: 0,
        };
        w.write(&file_header(SNAP_MAGIC, SNAP_DBID))?;
        Ok(w)
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sum.update(bytes);
        self.written += bytes.len() as u64;
        self.file.write_all(bytes)?;
        if self.written - self.synced >= BYTES_PER_SYNC {
            self.write_back()?;
        }
        Ok(())
    }

    /// Writes back what the buffer and the page cache hold of the file so far
    /// and waits for it (`sync_file_range`; no device flush, no metadata).
    fn write_back(&mut self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        self.file.flush()?;
        let (from, len) = (self.synced, self.written - self.synced);
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: a valid open fd and a byte range within the file; the call
        // only starts and waits for writeback.
        let rc = unsafe {
            libc::sync_file_range(
                self.file.get_ref().as_raw_fd(),
                from as libc::off64_t,
                len as libc::off64_t,
                flags,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.synced = self.written;
        Ok(())
    }

    /// Gives up: closes and removes the temporary file, unflushed bytes and
    /// all (a receiver fed garbage, a walk whose tree was replaced).
    pub fn abandon(self) {
        let (file, _unwritten) = self.file.into_parts();
        drop(file);
        if let Err(e) = std::fs::remove_file(&self.tmp) {
            tracing::warn!("Could not remove {}: {e}", self.tmp.display());
        }
    }

    /// Seals, syncs and renames into place; returns the final path and size.
    pub fn finish(mut self) -> io::Result<(PathBuf, u64)> {
        let mut seal = BytesMut::new();
        Writer::new(&mut seal)
            .i64(self.sum.value())
            .ustring(END_PATH);
        self.file.write_all(&seal)?;
        self.written += seal.len() as u64;
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&self.tmp, &self.dest)?;
        super::logdev::sync_parent_dir(&self.dest)?;
        Ok((self.dest, self.written))
    }
}

fn encode_sessions(out: &mut BytesMut, sessions: &[(SessionId, i32)]) {
    let mut w = Writer::new(out);
    w.i32(sessions.len() as i32);
    for (id, timeout) in sessions {
        w.i64(id.0).i32(*timeout);
    }
}

/// One node's record; `acl` is the ACL id written (see `take`).
fn encode_node(out: &mut BytesMut, path: &str, n: &Znode, acl: u64) {
    let mut w = Writer::new(out);
    w.ustring(path)
        .data(&n.data)
        .i64(acl as i64)
        .i64(n.czxid)
        .i64(n.mzxid)
        .i64(n.ctime)
        .i64(n.mtime)
        .i32(n.version)
        .i32(n.cversion)
        .i32(n.aversion)
        .i64(n.ephemeral_owner)
        .i64(n.pzxid);
}

/// Takes a fuzzy snapshot of `tree` as of `zxid` (the last zxid applied when
/// it was asked for) into `dir`, on the calling thread. `sessions` are the
/// live sessions at that moment. Never holds the read lock for more than one
/// chunk of nodes. (The server walks on its sequencer instead; see [`Walk`].)
pub fn take(
    tree: &RwLock<DataTree>,
    sessions: &[(SessionId, i32)],
    zxid: Zxid,
    dir: &Path,
) -> io::Result<(PathBuf, u64)> {
    let mut out = SnapshotWriter::create(dir, zxid)?;
    let (mut walk, mut buf) = Walk::start(&tree.read(), sessions, zxid);
    loop {
        let step = walk.step(&tree.read(), &mut buf);
        if step == Step::Replaced {
            out.abandon();
            return Err(io::Error::other(
                "the tree was replaced while the snapshot was taken",
            ));
        }
        if buf.len() >= WRITE_CHUNK_BYTES || step == Step::Done {
            out.write(&buf)?;
            buf.clear();
        }
        if step == Step::Done {
            return out.finish();
        }
    }
}

/// Bytes a walk gathers before they go to the file.
pub const WRITE_CHUNK_BYTES: usize = 1 << 16;

/// A fuzzy snapshot in progress: the tree from the root, parents before
/// children as ZooKeeper's loader needs, encoded one chunk of nodes per
/// [`Walk::step`]. The caller holds the tree's read lock for one step only,
/// so the walk can run between the sequencer's rounds on the sequencer
/// itself: then the sequencer never waits for a snapshot holding the lock (a
/// snapshot thread preempted inside its chunk made the sequencer's write
/// lock wait up to 18 ms).
///
/// The bytes are both a snapshot file's body (after its header, before its
/// seal) and the stream a leader sends after a SNAP packet
/// (`SerializeUtils.serializeSnapshot`; the sender appends
/// [`super::snap_stream::snap_stream_signature`] after the last chunk).
pub struct Walk {
    zxid: Zxid,
    /// The tree the walk began on: a step over any other stops the walk.
    generation: Generation,
    replaced: bool,
    /// The ACL ids written in the table.
    acls: std::collections::HashSet<u64>,
    stack: Vec<ZString>,
}

/// What one [`Walk::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A chunk was encoded; more nodes are left.
    More,
    /// The last chunk and the end marker were encoded.
    Done,
    /// The tree is not the one the walk began on (replaced, or emptied for a
    /// load): nothing was encoded, and the bytes so far must be thrown away,
    /// since going on would mix two trees in one snapshot.
    Replaced,
}

impl Walk {
    /// Starts a walk of `tree` as of `zxid`; returns it and the bytes that
    /// follow the file header (sessions, ACL table).
    pub fn start(tree: &DataTree, sessions: &[(SessionId, i32)], zxid: Zxid) -> (Walk, BytesMut) {
        let mut buf = BytesMut::with_capacity(WRITE_CHUNK_BYTES);
        encode_sessions(&mut buf, sessions);
        // The ACL table as of now: any node that could refer to a later
        // entry was created or re-ACLed after `zxid`, and the log replays
        // that change.
        let mut table: Vec<(u64, &[Acl])> = tree.acl_cache().iter().collect();
        table.sort_unstable_by_key(|(id, _)| *id);
        let mut w = Writer::new(&mut buf);
        w.i32(table.len() as i32);
        for (id, acls) in &table {
            w.i64(*id as i64);
            encode_acls(&mut w, acls);
        }
        let walk = Walk {
            zxid,
            generation: tree.generation(),
            replaced: false,
            acls: table.iter().map(|(id, _)| *id).collect(),
            stack: vec![ZString::from_static(ROOT)],
        };
        (walk, buf)
    }

    /// Encodes the next chunk of nodes of `tree` (read-locked by the caller
    /// for this call) into `buf`. After [`Step::Done`] or
    /// [`Step::Replaced`] every later step returns the same.
    ///
    /// Each node's record is encoded straight into the buffer (a copy of its
    /// stat, path and data: no handle cloned). Cloning handles instead would
    /// turn every node's data and name buffers into shared ones on the first
    /// snapshot, 24 bytes more per znode each, for good.
    pub fn step(&mut self, tree: &DataTree, buf: &mut BytesMut) -> Step {
        if self.replaced || !self.generation.is_current(tree) {
            self.replaced = true;
            self.stack.clear();
            return Step::Replaced;
        }
        if self.stack.is_empty() {
            return Step::Done;
        }
        let chunk_start = buf.len();
        let mut nodes = 0;
        while nodes < NODES_PER_CHUNK && buf.len() - chunk_start < CHUNK_BYTES {
            let Some(path) = self.stack.pop() else { break };
            // Deleted since its parent was encoded: the log has the delete.
            let Some(node) = tree.get(&path) else {
                continue;
            };
            // Created after the snapshot began (so is its subtree): the
            // log has it.
            if node.czxid > self.zxid.0 {
                continue;
            }
            nodes += 1;
            // Re-ACLed after the snapshot began to a list the table
            // lacks: the logged setACL puts the right list back.
            let acl = if self.acls.contains(&node.acl) {
                node.acl
            } else {
                crate::tree::acl::OPEN_UNSAFE_ACL_ID
            };
            let is_root = path.as_str() == ROOT;
            encode_node(buf, if is_root { "" } else { path.as_str() }, node, acl);
            for child in node.children.iter() {
                let full = if is_root {
                    format!("/{child}")
                } else {
                    format!("{path}/{child}")
                };
                self.stack.push(ZString::from(full));
            }
        }
        if self.stack.is_empty() {
            Writer::new(buf).ustring(END_PATH);
            return Step::Done;
        }
        Step::More
    }
}

/// Reads a whole snapshot into `tree` (emptied first). Checks the header,
/// every record and the seal; on error the tree is unusable.
pub fn load(path: &Path, tree: &mut DataTree) -> Result<SnapshotInfo, SnapshotError> {
    let failed = |offset: u64, reason: String| SnapshotError {
        path: path.display().to_string(),
        offset,
        reason,
    };
    let buf = super::mapped::read(path).map_err(|e| failed(0, e.to_string()))?;
    let zxid = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| super::format::zxid_from_name(n, super::format::SNAPSHOT_PREFIX))
        .unwrap_or_default();
    let mut load = tree.begin_load();
    // Paths and data stay slices of the file (the tree's `Unpin` copies them
    // out later, see `tree::load`).
    load.borrowing(buf.clone());
    // Two stages on two threads: a parser decodes the file, allocates each
    // znode's entry and cuts its child name; this thread links the entries
    // into the tree.
    let extended_types = load.extended_types();
    let (batches, inbox) = crossbeam::channel::bounded::<Vec<Loaded>>(LOAD_QUEUE_BATCHES);
    let file = buf.clone();
    let (parsed, inserted) = std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let mut batch = Vec::with_capacity(LOAD_BATCH_ITEMS);
            let parsed = parse(buf, |item| {
                batch.push(match item {
                    Item::Node(offset, path, node) => {
                        Loaded::Node(offset, ReadyNode::new(path, node, extended_types))
                    }
                    Item::Acl(id, acls) => Loaded::Acl(id, acls),
                });
                if batch.len() == LOAD_BATCH_ITEMS {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH_ITEMS));
                    // The inserter hung up: it failed and says why.
                    batches.send(full).map_err(|_| "load stopped".to_string())?;
                }
                Ok(())
            });
            if parsed.is_ok() && !batch.is_empty() {
                let _ = batches.send(batch);
            }
            parsed
        });
        // While the parser starts: the node count, so that the path map is
        // built at its final size once instead of grown and rehashed
        // through every power of two (each growth touching fresh memory).
        if let Some(nodes) = count_nodes(&file) {
            load.reserve(nodes);
        }
        let inserted = inbox.into_iter().flatten().try_for_each(|item| match item {
            Loaded::Acl(id, acls) => {
                load.acl(id as u64, acls);
                Ok(())
            }
            Loaded::Node(offset, ready) => ready
                .and_then(|ready| load.ready_node(ready))
                .map_err(|e: LoadError| (offset, e.to_string())),
        });
        (parser.join(), inserted)
    });
    inserted.map_err(|(offset, reason)| failed(offset, reason))?;
    let mut info = parsed
        .map_err(|_| failed(0, "snapshot parser panicked".into()))?
        .map_err(|(offset, reason)| failed(offset, reason))?;
    load.finish(zxid);
    info.zxid = zxid;
    Ok(info)
}

/// What the parsing thread hands the inserting one.
enum Loaded {
    Acl(i64, Vec<Acl>),
    /// Offset and the node.
    Node(u64, Result<ReadyNode, LoadError>),
}

/// The number of node records in a snapshot, by skipping from length to
/// length without decoding; `None` if the bytes do not add up (the parse
/// proper reports where).
fn count_nodes(buf: &[u8]) -> Option<usize> {
    /// acl, czxid, mzxid, ctime, mtime, version, cversion, aversion,
    /// ephemeralOwner, pzxid.
    const NODE_FIXED_BYTES: usize = 8 * 4 + 4 * 3 + 8 * 2 + 8;
    let mut at = HEADER_LEN;
    let int = |at: &mut usize| -> Option<i32> {
        let v = buf.get(*at..*at + 4)?;
        *at += 4;
        Some(i32::from_be_bytes(v.try_into().ok()?))
    };
    // A string or buffer: length (-1 for none) and bytes.
    let skip_bytes = |at: &mut usize| -> Option<usize> {
        let len = usize::try_from(int(at)?.max(0)).ok()?;
        let start = *at;
        *at = at.checked_add(len).filter(|end| *end <= buf.len())?;
        Some(start)
    };
    let sessions = usize::try_from(int(&mut at)?).ok()?;
    at = at.checked_add(sessions.checked_mul(12)?)?;
    let acl_entries = usize::try_from(int(&mut at)?).ok()?;
    for _ in 0..acl_entries {
        at += 8;
        let acls = usize::try_from(int(&mut at)?).ok()?;
        for _ in 0..acls {
            at += 4;
            skip_bytes(&mut at)?;
            skip_bytes(&mut at)?;
        }
    }
    let mut nodes = 0;
    loop {
        let start = skip_bytes(&mut at)?;
        if buf[start..at] == *END_PATH.as_bytes() {
            return Some(nodes);
        }
        skip_bytes(&mut at)?;
        at = at
            .checked_add(NODE_FIXED_BYTES)
            .filter(|end| *end <= buf.len())?;
        nodes += 1;
    }
}

/// Entries per hand-off from the parser to the inserter, and hand-offs
/// queued: enough to keep both threads busy, small enough to stay in cache.
const LOAD_BATCH_ITEMS: usize = 1024;
const LOAD_QUEUE_BATCHES: usize = 8;

/// One entry of a snapshot, in file order.
pub enum Item {
    /// An ACL table entry: id and list.
    Acl(i64, Vec<Acl>),
    /// A node: its offset in the file, path (`""` for the root) and record.
    Node(u64, ZString, Znode),
}

/// Parses snapshot bytes, handing ACL entries and nodes to `on_item` in file
/// order. Errors are `(offset, reason)`.
pub fn parse(
    buf: Bytes,
    mut on_item: impl FnMut(Item) -> Result<(), String>,
) -> Result<SnapshotInfo, (u64, String)> {
    check_header(&buf, SNAP_MAGIC).map_err(|r| (0, r))?;
    let mut r = Reader::new(buf.slice(HEADER_LEN..));
    let at = |r: &Reader| (HEADER_LEN + r.offset()) as u64;
    let mut info = SnapshotInfo::default();
    let count = r.read_i32().map_err(|e| (at(&r), e.to_string()))?;
    if count < 0 || count as usize > r.remaining() / 12 {
        return Err((at(&r), format!("bad session count {count}")));
    }
    for _ in 0..count {
        let id = r.read_i64().map_err(|e| (at(&r), e.to_string()))?;
        let timeout = r.read_i32().map_err(|e| (at(&r), e.to_string()))?;
        info.sessions.push((SessionId(id), timeout));
    }
    let acl_count = r.read_i32().map_err(|e| (at(&r), e.to_string()))?;
    if acl_count < 0 || acl_count as usize > r.remaining() / 12 {
        return Err((at(&r), format!("bad ACL table size {acl_count}")));
    }
    for _ in 0..acl_count {
        let id = r.read_i64().map_err(|e| (at(&r), e.to_string()))?;
        let acls = decode_acls(&mut r).map_err(|e| (at(&r), e.to_string()))?;
        let offset = at(&r);
        on_item(Item::Acl(id, acls)).map_err(|e| (offset, e))?;
        info.acl_entries += 1;
    }
    loop {
        let offset = at(&r);
        let path = r.read_ustring().map_err(|e| (offset, e.to_string()))?;
        if path.as_str() == END_PATH {
            break;
        }
        let node = read_node(&mut r).map_err(|e| (offset, e.to_string()))?;
        on_item(Item::Node(offset, path, node)).map_err(|e| (offset, e))?;
        info.nodes += 1;
    }
    // The seal: the checksum of everything before it, then "/".
    let seal_at = HEADER_LEN + r.offset();
    let stored = r.read_i64().map_err(|e| (seal_at as u64, e.to_string()))?;
    let computed = Adler32::of(&buf[..seal_at]);
    if stored != computed {
        return Err((
            seal_at as u64,
            format!("snapshot checksum mismatch (stored {stored}, computed {computed})"),
        ));
    }
    let end = r.read_ustring().map_err(|e| (at(&r), e.to_string()))?;
    if end.as_str() != END_PATH {
        return Err((at(&r), "seal not followed by \"/\"".into()));
    }
    // ZooKeeper 3.6+ may add sections after the seal, each sealed again
    // (`FileSnap.serialize`): the digest if `zookeeper.digest.enabled`, and
    // since 3.9 lastProcessedZxid if
    // `zookeeper.serializeLastProcessedZxid.enabled` (both on by default).
    // ZooKeeper reads them by its own settings; their lengths tell which
    // are here.
    let (digest, last_zxid) = match r.remaining() {
        n if n == LAST_ZXID_SECTION => (false, true),
        n if n == DIGEST_SECTION + LAST_ZXID_SECTION => (true, true),
        n => (n >= DIGEST_SECTION - SEAL_BYTES, false),
    };
    if digest {
        let z = r.read_i64().unwrap_or_default();
        let v = r.read_i32().unwrap_or_default();
        let d = r.read_i64().unwrap_or_default();
        info.digest = Some((z, v, d));
        check_seal(&buf, &mut r, "digest seal")?;
    }
    if last_zxid {
        let z = r.read_i64().map_err(|e| (at(&r), e.to_string()))?;
        info.last_processed_zxid = Some(Zxid(z));
        check_seal(&buf, &mut r, "lastProcessedZxid seal")?;
    }
    Ok(info)
}

/// A seal: 8 bytes of checksum, then the string "/".
const SEAL_BYTES: usize = 8 + 4 + 1;
/// `ZxidDigest { zxid, digestVersion, digest }` and its seal.
const DIGEST_SECTION: usize = 8 + 4 + 8 + SEAL_BYTES;
/// lastProcessedZxid and its seal.
const LAST_ZXID_SECTION: usize = 8 + SEAL_BYTES;

/// Checks a seal after a section: the checksum of every byte of the file
/// before it, then "/".
fn check_seal(buf: &[u8], r: &mut Reader, what: &str) -> Result<(), (u64, String)> {
    let seal_at = HEADER_LEN + r.offset();
    let bad_seal = |e: String| (seal_at as u64, format!("{what}: {e}"));
    let stored = r.read_i64().map_err(|e| bad_seal(e.to_string()))?;
    let computed = Adler32::of(&buf[..seal_at]);
    if stored != computed {
        return Err(bad_seal(format!(
            "checksum mismatch (stored {stored}, computed {computed})"
        )));
    }
    let end = r.read_ustring().map_err(|e| bad_seal(e.to_string()))?;
    if end.as_str() != END_PATH {
        return Err(bad_seal("not followed by \"/\"".into()));
    }
    Ok(())
}

fn read_node(r: &mut Reader) -> Result<Znode, crate::proto::codec::DecodeError> {
    // A slice of the file, as the path is (see `load`).
    let data = r.read_data()?;
    Ok(Znode {
        data,
        acl: r.read_i64()? as u64,
        czxid: r.read_i64()?,
        mzxid: r.read_i64()?,
        ctime: r.read_i64()?,
        mtime: r.read_i64()?,
        version: r.read_i32()?,
        cversion: r.read_i32()?,
        aversion: r.read_i32()?,
        ephemeral_owner: r.read_i64()?,
        pzxid: r.read_i64()?,
        ..Default::default()
    })
}

/// Whether a snapshot file ends in a seal (`SnapStream.isValidCheckedStream`:
/// the last five bytes are the string "/"). Cheap; a full load checks more.
pub fn looks_complete(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let Ok(len) = f.seek(SeekFrom::End(0)) else {
        return false;
    };
    if len < 10 {
        return false;
    }
    // A ZooKeeper 3.6+ snapshot may end in a digest and a second seal; both
    // seals end in "/".
    let mut tail = [0u8; 5];
    f.seek(SeekFrom::Start(len - 5)).is_ok()
        && f.read_exact(&mut tail).is_ok()
        && tail == [0, 0, 0, 1, b'/']
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::txn::{Txn, TxnHeader};
    use crate::proto::{OpCode, ZData, perms};

    fn apply(tree: &mut DataTree, zxid: i64, txn: Txn) {
        let hdr = TxnHeader {
            session_id: SessionId(5),
            cxid: 1,
            zxid: Zxid(zxid),
            time_ms: 1000 + zxid,
            op: txn.op().as_i32(),
        };
        tree.apply(&hdr, &txn, &mut Vec::new()).unwrap();
    }

    fn create(path: &str, data: &'static [u8], acl: Vec<Acl>, pcv: i32) -> Txn {
        Txn::Create {
            op: OpCode::Create,
            path: path.into(),
            data: ZData::from(data),
            acl,
            ephemeral: false,
            parent_cversion: pcv,
        }
    }

    fn sample() -> DataTree {
        let mut t = DataTree::new();
        let digest = vec![Acl::new(perms::ALL, "digest", "u:abc=")];
        apply(&mut t, 1, create("/a", b"one", Acl::open_unsafe(), 1));
        apply(&mut t, 2, create("/a/b", b"\x00\xff", digest.clone(), 1));
        apply(&mut t, 3, create("/c", b"", digest, 2));
        apply(
            &mut t,
            4,
            Txn::SetData {
                path: "/a".into(),
                data: ZData::from(&b"two"[..]),
                version: 1,
            },
        );
        t
    }

    fn same_tree(a: &DataTree, b: &DataTree) {
        assert_eq!(a.node_count(), b.node_count());
        for (p, n) in a.nodes() {
            let m = b.get(p).unwrap_or_else(|| panic!("{p} missing"));
            assert_eq!(n.stat(), m.stat(), "{p}");
            assert_eq!(n.data, m.data, "{p}");
            assert_eq!(a.acl(n), b.acl(m), "{p}");
        }
    }

    #[test]
    fn node_count_skims_to_the_seal_and_refuses_a_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let tree = RwLock::new(sample());
        let sessions = vec![(SessionId(7), 30_000), (SessionId(8), 4_000)];
        let (path, _) = take(&tree, &sessions, Zxid(4), dir.path()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // "", /zookeeper, /zookeeper/quota, /zookeeper/config, /a, /a/b, /c
        assert_eq!(count_nodes(&bytes), Some(7));
        for cut in [bytes.len() - 20, bytes.len() / 2, HEADER_LEN + 2] {
            assert_eq!(count_nodes(&bytes[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn snapshot_round_trips_tree_sessions_and_acls() {
        let dir = tempfile::tempdir().unwrap();
        let tree = RwLock::new(sample());
        let sessions = vec![(SessionId(0x100_0000_0000_0001), 30_000)];
        let (path, size) = take(&tree, &sessions, Zxid(4), dir.path()).unwrap();
        assert_eq!(path.file_name().unwrap(), "snapshot.4");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        assert!(looks_complete(&path));
        let mut loaded = DataTree::new();
        let info = load(&path, &mut loaded).unwrap();
        assert_eq!(info.zxid, Zxid(4));
        assert_eq!(info.sessions, sessions);
        assert_eq!(loaded.last_zxid(), Zxid(4));
        same_tree(&tree.read(), &loaded);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn loaded_nodes_slice_the_file_until_the_unpin_pass_copies_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = sample();
        let mut zxid = 4;
        let mut both = |t: &mut DataTree, txn: Txn| {
            zxid += 1;
            apply(t, zxid, txn);
        };
        for i in 0..40 {
            let parent = format!("/p{i}");
            both(&mut t, create(&parent, b"parent", Acl::open_unsafe(), -1));
            for j in 0..5 {
                let name = format!("{parent}/a-child-name-longer-than-fifteen-bytes-{j}");
                both(&mut t, create(&name, b"leaf data", Acl::open_unsafe(), -1));
            }
        }
        let mut eph = create("/eph", b"e", Acl::open_unsafe(), -1);
        if let Txn::Create { ephemeral, .. } = &mut eph {
            *ephemeral = true;
        }
        both(&mut t, eph);
        let tree = RwLock::new(t);
        let (path, _) = take(&tree, &[], Zxid(zxid), dir.path()).unwrap();
        let mut expected = tree.into_inner();
        let mut loaded = DataTree::new();
        load(&path, &mut loaded).unwrap();
        let mapped = || {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            maps.contains(path.to_str().unwrap())
        };
        let mut unpin = loaded.unpin().expect("a loaded tree slices its file");
        assert!(loaded.unpin().is_none());
        // Every node but the root, which the pass visits as it begins (its
        // path is kept as `/`, but its empty data was a slice too).
        assert_eq!(unpin.still_in_file(&loaded), loaded.node_count() - 1);
        assert!(mapped());
        // Changes between steps, as the server's rounds make them: a
        // node rewritten, one deleted, one created (none slices the file).
        assert!(unpin.step(&mut loaded, 3));
        let changes = [
            Txn::SetData {
                path: "/p39/a-child-name-longer-than-fifteen-bytes-4".into(),
                data: ZData::from(&b"new"[..]),
                version: 1,
            },
            Txn::Delete {
                op: OpCode::Delete,
                path: "/p38/a-child-name-longer-than-fifteen-bytes-0".into(),
            },
            create("/p37/late", b"late", Acl::open_unsafe(), -1),
        ];
        for txn in changes {
            zxid += 1;
            apply(&mut loaded, zxid, txn.clone());
            apply(&mut expected, zxid, txn);
        }
        let mut steps = 1;
        while unpin.step(&mut loaded, 7) {
            steps += 1;
        }
        assert!(steps > 10, "{steps} steps");
        assert_eq!(unpin.still_in_file(&loaded), 0);
        // Every node with data but the two whose data came after the load.
        let with_data = loaded.nodes().filter(|(_, n)| !n.data.is_empty()).count();
        assert_eq!(unpin.copied(), with_data as u64 - 2);
        same_tree(&expected, &loaded);
        // Nothing else holds the file: the pass was the last to.
        drop(unpin);
        assert!(!mapped(), "the snapshot is still mapped");
    }

    #[test]
    fn nodes_created_after_the_snapshot_zxid_are_left_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let tree = RwLock::new(sample());
        let (path, _) = take(&tree, &[], Zxid(2), dir.path()).unwrap();
        let mut loaded = DataTree::new();
        load(&path, &mut loaded).unwrap();
        assert!(loaded.get("/a/b").is_some());
        assert!(loaded.get("/c").is_none(), "czxid 3 > snapshot zxid 2");
        // Replaying txn 3 and 4 over the fuzzy snapshot gives the same tree.
        let digest = vec![Acl::new(perms::ALL, "digest", "u:abc=")];
        apply(&mut loaded, 3, create("/c", b"", digest, 2));
        let _ = loaded.apply(
            &TxnHeader {
                session_id: SessionId(5),
                cxid: 1,
                zxid: Zxid(4),
                time_ms: 1004,
                op: OpCode::SetData.as_i32(),
            },
            &Txn::SetData {
                path: "/a".into(),
                data: ZData::from(&b"two"[..]),
                version: 1,
            },
            &mut Vec::new(),
        );
        same_tree(&tree.read(), &loaded);
    }

    #[test]
    fn any_flipped_byte_is_reported_with_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let tree = RwLock::new(sample());
        let (path, _) = take(&tree, &[], Zxid(4), dir.path()).unwrap();
        let good = std::fs::read(&path).unwrap();
        for i in (0..good.len() - 5).step_by(7) {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            let r = parse(Bytes::from(bad), |_| Ok(()));
            assert!(r.is_err(), "flip at {i} went unnoticed");
        }
    }

    /// Appends what ZooKeeper 3.6+ writes after the seal: `ZxidDigest`, then
    /// a second seal over the whole file so far.
    fn with_digest(snap: &[u8], zxid: i64, digest: i64) -> Vec<u8> {
        let mut out = BytesMut::from(snap);
        Writer::new(&mut out).i64(zxid).i32(2).i64(digest);
        let sum = Adler32::of(&out);
        Writer::new(&mut out).i64(sum).ustring(END_PATH);
        out.to_vec()
    }

    #[test]
    fn a_digest_after_the_seal_is_read_and_its_own_seal_checked() {
        let dir = tempfile::tempdir().unwrap();
        let tree = RwLock::new(sample());
        let (path, _) = take(&tree, &[], Zxid(4), dir.path()).unwrap();
        let plain = std::fs::read(&path).unwrap();
        let good = with_digest(&plain, 4, 0x1234_5678_9abc);
        std::fs::write(&path, &good).unwrap();
        assert!(looks_complete(&path));
        let info = parse(Bytes::from(good.clone()), |_| Ok(())).unwrap();
        assert_eq!(info.digest, Some((4, 2, 0x1234_5678_9abc)));
        // A flipped digest byte breaks the second seal, found where it starts.
        let mut bad = good.clone();
        bad[plain.len() + 15] ^= 0x01;
        let (offset, reason) = parse(Bytes::from(bad), |_| Ok(())).unwrap_err();
        assert_eq!(offset, plain.len() as u64 + 20);
        assert!(
            reason.contains("digest seal: checksum mismatch"),
            "{reason}"
        );
        // A digest whose seal is cut off is not accepted either.
        let cut = &good[..good.len() - 6];
        assert!(parse(Bytes::copy_from_slice(cut), |_| Ok(())).is_err());
    }

    #[test]
    fn a_walk_stops_once_its_tree_is_replaced_or_emptied_for_a_load() {
        let mut lock = sample();
        for i in 0..200 {
            apply(
                &mut lock,
                5 + i,
                create(&format!("/n{i}"), b"x", Acl::open_unsafe(), -1),
            );
        }
        let (mut walk, mut buf) = Walk::start(&lock, &[], lock.last_zxid());
        assert_eq!(walk.step(&lock, &mut buf), Step::More);
        // Replaced under the lock, as a learner swaps in a recovered tree.
        let old = std::mem::replace(&mut lock, sample());
        let before = buf.len();
        assert_eq!(walk.step(&lock, &mut buf), Step::Replaced);
        assert_eq!(
            walk.step(&old, &mut buf),
            Step::Replaced,
            "stopped for good"
        );
        assert_eq!(buf.len(), before, "nothing encoded after the replacement");
        // Emptied in place for a load: a new generation too.
        let (mut walk, mut buf) = Walk::start(&lock, &[], Zxid(4));
        drop(lock.begin_load());
        assert_eq!(walk.step(&lock, &mut buf), Step::Replaced);
        // The same tree, untouched: the walk runs to the end.
        let tree = sample();
        let (mut walk, mut buf) = Walk::start(&tree, &[], Zxid(4));
        assert_eq!(walk.step(&tree, &mut buf), Step::Done);
        assert_eq!(walk.step(&tree, &mut buf), Step::Done);
    }

    /// Appends ZooKeeper 3.9's lastProcessedZxid section and its seal.
    fn with_last_zxid(snap: &[u8], zxid: i64) -> Vec<u8> {
        let mut out = BytesMut::from(snap);
        Writer::new(&mut out).i64(zxid);
        let sum = Adler32::of(&out);
        Writer::new(&mut out).i64(sum).ustring(END_PATH);
        out.to_vec()
    }

    #[test]
    fn zookeeper_3_9s_last_zxid_section_is_read_with_or_without_a_digest() {
        let dir = tempfile::tempdir().unwrap();
        let tree = RwLock::new(sample());
        let (path, _) = take(&tree, &[], Zxid(4), dir.path()).unwrap();
        let plain = std::fs::read(&path).unwrap();
        // Digest off: the section follows the seal directly.
        let alone = with_last_zxid(&plain, 4);
        let info = parse(Bytes::from(alone.clone()), |_| Ok(())).unwrap();
        assert_eq!(
            (info.digest, info.last_processed_zxid),
            (None, Some(Zxid(4)))
        );
        // Both (ZooKeeper 3.9's defaults).
        let both = with_last_zxid(&with_digest(&plain, 4, 77), 4);
        let info = parse(Bytes::from(both.clone()), |_| Ok(())).unwrap();
        assert_eq!(info.digest, Some((4, 2, 77)));
        assert_eq!(info.last_processed_zxid, Some(Zxid(4)));
        std::fs::write(&path, &both).unwrap();
        assert!(looks_complete(&path));
        assert!(load(&path, &mut DataTree::new()).is_ok());
        for good in [alone, both] {
            let mut bad = good.clone();
            let n = bad.len();
            bad[n - 14] ^= 0x01;
            let (offset, reason) = parse(Bytes::from(bad), |_| Ok(())).unwrap_err();
            assert_eq!(offset, n as u64 - 13);
            assert!(reason.contains("lastProcessedZxid seal"), "{reason}");
        }
    }

    #[test]
    fn truncated_snapshot_is_not_complete() {
        let dir = tempfile::tempdir().unwrap();
        let tree = RwLock::new(sample());
        let (path, _) = take(&tree, &[], Zxid(4), dir.path()).unwrap();
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, &good[..good.len() - 3]).unwrap();
        assert!(!looks_complete(&path));
        assert!(load(&path, &mut DataTree::new()).is_err());
    }
}
