//! Faults against a real server on a real disk (issue 3 §8): SIGKILL under a write load at
//! random moments, a full log disk, and flipped bytes in the log and the snapshot. Every
//! acknowledged write must be there after each restart; corruption must be reported, never
//! skipped.

mod common;

use common::Server;
use common::raw::{Session, err, op, req};
use corral::storage::format::LogReader;
use rand::Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SystemError: what a write gets when the log cannot be written.
const SYSTEM_ERROR: i32 = -1;

fn version2(dir: &Path) -> PathBuf {
    dir.join("version-2")
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{prefix}.")))
        })
        .collect();
    v.sort();
    v
}

fn assert_present(s: &mut Session, acked: &[(String, Vec<u8>)]) {
    assert_present_or(s, acked, &HashMap::new());
}

/// Every acknowledged write is there; a node may instead hold the value of a later write that
/// was in flight (written, never acknowledged) when the server died.
fn assert_present_or(
    s: &mut Session,
    acked: &[(String, Vec<u8>)],
    in_flight: &HashMap<String, Vec<u8>>,
) {
    for (path, data) in acked {
        let reply = s.request(op::GET_DATA, &req::path_watch(path, false));
        assert_eq!(reply.err, 0, "acknowledged {path} is missing");
        let got = reply.reader().bytes().unwrap_or_default();
        assert!(
            &got == data || in_flight.get(path) == Some(&got),
            "{path}: found {:?}, acknowledged {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(data)
        );
    }
}

#[test]
fn acknowledged_writes_survive_repeated_kill9_under_load() {
    let Some(mut server) =
        Server::start_dedicated("acknowledged_writes_survive_repeated_kill9_under_load", &[])
    else {
        return;
    };
    let mut s = Session::connect(server.addr(), 30_000);
    assert_eq!(s.create("/load", b"", 0).err, 0);
    drop(s);
    let acked: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let in_flight: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let mut rng = rand::thread_rng();
    for round in 0..5 {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (addr, acked, stop) = (server.addr().to_string(), acked.clone(), stop.clone());
                let in_flight = in_flight.clone();
                std::thread::spawn(move || {
                    let mut s = Session::connect(&addr, 30_000);
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let path = format!("/load/r{round}-w{w}-{i}");
                        let data = format!("round {round} writer {w} op {i}").into_bytes();
                        let op = if i % 3 == 2 { op::SET_DATA } else { op::CREATE };
                        let (path, body) = if op == op::SET_DATA {
                            let target = format!("/load/r{round}-w{w}-{}", i - 1);
                            let body = req::set_data(&target, &data, -1);
                            (target, body)
                        } else {
                            (path.clone(), req::create(&path, &data, 0))
                        };
                        in_flight.lock().unwrap().insert(path.clone(), data.clone());
                        match s.try_request(op, &body) {
                            Some(r) if r.err == 0 => {
                                acked.lock().unwrap().insert(path, data);
                            }
                            Some(r) => panic!("{path}: err {}", r.err),
                            None => break, // the server died mid-request
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..400)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        server.restart();
        let acked: Vec<_> = acked.lock().unwrap().clone().into_iter().collect();
        assert!(
            !acked.is_empty(),
            "round {round}: some writes were acknowledged"
        );
        let mut s = Session::connect(server.addr(), 30_000);
        assert_present_or(&mut s, &acked, &in_flight.lock().unwrap());
        s.close();
    }
}

/// The log directory on a small ext4 image, mounted for the test; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mb: u64) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let img = dir.path().join("disk.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
        let f = std::fs::File::create(&img).map_err(|e| e.to_string())?;
        f.set_len(mb << 20).map_err(|e| e.to_string())?;
        let run = |cmd: &mut std::process::Command| -> Result<(), String> {
            let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{cmd:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(std::process::Command::new("mkfs.ext4")
            .arg("-q")
            .arg("-F")
            .arg(&img))?;
        run(std::process::Command::new("mount")
            .arg("-o")
            .arg("loop")
            .arg(&img)
            .arg(&mnt))?;
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn free_bytes(&self) -> u64 {
        let c = std::ffi::CString::new(self.path().to_str().unwrap()).unwrap();
        // SAFETY: statvfs fills the zeroed struct; the path is a valid C string.
        unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            assert_eq!(libc::statvfs(c.as_ptr(), &mut st), 0);
            st.f_bavail * st.f_frsize
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.path())
            .status();
    }
}

#[test]
fn a_full_log_disk_refuses_writes_keeps_reads_and_recovers() {
    let disk = match SmallDisk::mount(32) {
        Ok(d) => d,
        Err(why) => {
            common::skip(
                "a_full_log_disk_refuses_writes_keeps_reads_and_recovers",
                &format!("cannot mount a small ext4 image (needs root and loop devices): {why}"),
            );
            return;
        }
    };
    let log_dir = disk.path().join("log");
    let log_dir_s = log_dir.display().to_string();
    let Some(mut server) = Server::start_dedicated(
        "a_full_log_disk_refuses_writes_keeps_reads_and_recovers",
        &[("dataLogDir", &log_dir_s), ("preAllocSize", "1024")],
    ) else {
        return;
    };
    let mut s = Session::connect(server.addr(), 30_000);
    assert_eq!(s.create("/full", b"", 0).err, 0);
    let mut acked = vec![("/full".to_string(), Vec::new())];
    // Leave about 3 MiB free, then write 200 KiB values until the disk is full.
    let filler = disk.path().join("filler");
    let leave = 3 << 20;
    let fill = disk.free_bytes().saturating_sub(leave);
    std::fs::write(&filler, vec![0x55u8; fill as usize]).unwrap();
    let value = vec![0xabu8; 200 << 10];
    let mut refused = Vec::new();
    for i in 0..200 {
        let path = format!("/full/n{i}");
        let r = s.request(op::CREATE, &req::create(&path, &value, 0));
        if r.err == 0 {
            acked.push((path, value.clone()));
        } else {
            assert_eq!(r.err, SYSTEM_ERROR, "a write the log cannot hold");
            refused.push(path);
            if refused.len() >= 3 {
                break;
            }
        }
    }
    assert!(!refused.is_empty(), "the disk never filled up");
    assert!(
        std::fs::read_to_string(server.base_dir().unwrap().join("server.log"))
            .unwrap()
            .contains("No space left on device"),
        "the server log names the cause"
    );
    // Reads keep working, for this session and a new one.
    assert_present(&mut s, &acked);
    let mut other = Session::connect(server.addr(), 30_000);
    assert_present(&mut other, &acked[..2]);
    other.close();
    // Space comes back: writes resume.
    std::fs::remove_file(&filler).unwrap();
    let r = s.request(op::CREATE, &req::create("/full/after", b"back", 0));
    assert_eq!(r.err, 0, "writes resume once there is space");
    acked.push(("/full/after".into(), b"back".to_vec()));
    drop(s);
    // Nothing on disk is corrupt: a restart recovers every acknowledged write and none of
    // the refused ones.
    server.restart();
    let mut s = Session::connect(server.addr(), 30_000);
    assert_present(&mut s, &acked);
    for path in &refused {
        let r = s.request(op::EXISTS, &req::path_watch(path, false));
        assert_eq!(r.err, err::NO_NODE, "refused {path} must not appear");
    }
    s.close();
    drop(server);
}

fn write_some(server: &Server, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut s = Session::connect(server.addr(), 30_000);
    let mut acked = Vec::new();
    for i in 0..n {
        let path = format!("/flip{i}");
        let data = format!("value {i}").into_bytes();
        assert_eq!(s.create(&path, &data, 0).err, 0);
        acked.push((path, data));
    }
    s.close();
    acked
}

#[test]
fn a_flipped_byte_inside_the_log_stops_startup_naming_file_and_offset() {
    let Some(mut server) = Server::start_dedicated(
        "a_flipped_byte_inside_the_log_stops_startup_naming_file_and_offset",
        &[],
    ) else {
        return;
    };
    let acked = write_some(&server, 30);
    server.kill9();
    let dir = version2(&server.data_dir().unwrap());
    let log = files(&dir, "log").pop().expect("a log file");
    let original = std::fs::read(&log).unwrap();
    let entries: Vec<_> = LogReader::new(original.clone().into())
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    let victim = &entries[10];
    let mut bad = original.clone();
    bad[victim.offset as usize + 25] ^= 0x20;
    std::fs::write(&log, &bad).unwrap();
    let why = server
        .try_restart()
        .expect_err("a corrupt record before the tail must stop startup");
    let name = log.file_name().unwrap().to_str().unwrap();
    assert!(why.contains(name), "names the file: {why}");
    assert!(
        why.contains(&format!("offset {}", victim.offset)),
        "names the offset {}: {why}",
        victim.offset
    );
    // Put the byte back: everything is there.
    std::fs::write(&log, &original).unwrap();
    server.try_restart().expect("starts on the repaired log");
    let mut s = Session::connect(server.addr(), 30_000);
    assert_present(&mut s, &acked);
    s.close();
}

#[test]
fn a_damaged_last_record_is_cut_as_a_torn_tail() {
    let Some(mut server) =
        Server::start_dedicated("a_damaged_last_record_is_cut_as_a_torn_tail", &[])
    else {
        return;
    };
    let acked = write_some(&server, 10);
    server.kill9();
    let dir = version2(&server.data_dir().unwrap());
    let log = files(&dir, "log").pop().expect("a log file");
    let mut bytes = std::fs::read(&log).unwrap();
    let last = LogReader::new(bytes.clone().into())
        .unwrap()
        .map(|e| e.unwrap())
        .last()
        .unwrap();
    // The end of the last write never reached the disk.
    let end = (last.offset + last.len) as usize;
    bytes[end - 6..end].fill(0);
    std::fs::write(&log, &bytes).unwrap();
    server.try_restart().expect("a torn tail is cut, not fatal");
    assert!(server.log_tail().contains("torn tail"), "warned");
    let mut s = Session::connect(server.addr(), 30_000);
    // The last record was the 10th create (the session's close never made it or came later).
    let survivors: Vec<_> = acked
        .iter()
        .filter(|(p, _)| {
            let r = s.request(op::EXISTS, &req::path_watch(p, false));
            r.err == 0
        })
        .cloned()
        .collect();
    assert!(survivors.len() >= 9, "only the torn record is lost");
    // And the server writes on after the cut.
    assert_eq!(s.create("/after-cut", b"x", 0).err, 0);
    s.close();
    server.restart();
    let mut s = Session::connect(server.addr(), 30_000);
    assert_present(&mut s, &[("/after-cut".into(), b"x".to_vec())]);
    assert_present(&mut s, &survivors);
    s.close();
}

#[test]
fn a_flipped_byte_in_the_snapshot_is_reported_not_skipped() {
    let Some(mut server) = Server::start_dedicated(
        "a_flipped_byte_in_the_snapshot_is_reported_not_skipped",
        &[],
    ) else {
        return;
    };
    write_some(&server, 5);
    server.kill9();
    let dir = version2(&server.data_dir().unwrap());
    let snap = files(&dir, "snapshot").pop().expect("the initial snapshot");
    let mut bytes = std::fs::read(&snap).unwrap();
    bytes[30] ^= 0x01;
    std::fs::write(&snap, &bytes).unwrap();
    let why = server
        .try_restart()
        .expect_err("the only snapshot is unreadable: no silent empty start");
    let name = snap.file_name().unwrap().to_str().unwrap();
    assert!(why.contains(name), "names the snapshot: {why}");
    assert!(why.contains("offset"), "says where: {why}");
}
