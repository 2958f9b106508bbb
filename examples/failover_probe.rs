//! Failover probe: SIGKILLs an ensemble's leader and measures how long until a
//! client, reconnecting at once to any survivor, has a write acknowledged.
//!
//!     failover_probe <leader-pid> <survivor host:port>[,<host:port>...] <znode path>
//!
//! The clock starts just before `kill(2)`. The client then tries the survivors
//! in turn without pausing: connect (a new session), create `<znode path>`; a
//! member that is electing or syncing closes the connection or fails the
//! request, and the next try follows at once. Prints one line of JSON:
//! `{"failover_ms": <ms>, "attempts": <n>, "via": "<host:port>"}`.
//! Gives up (exit 1) after 60 s: a hang guard, not a measurement.

use corral::client::Client;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: failover_probe <leader-pid> <survivors host:port,...> <znode path>");
        std::process::exit(2);
    }
    let pid: i32 = args[1].parse().expect("leader pid");
    let survivors: Vec<&str> = args[2].split(',').collect();
    let path = &args[3];
    let started = Instant::now();
    // SAFETY: kill(2) on a pid the caller named; no memory involved.
    if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
        eprintln!("kill {pid}: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    let mut attempts = 0u64;
    loop {
        for addr in &survivors {
            attempts += 1;
            if try_write(addr, path) {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "{{\"failover_ms\": {ms:.2}, \"attempts\": {attempts}, \"via\": \"{addr}\"}}"
                );
                return;
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            eprintln!("no write acknowledged within 60 s after the kill");
            std::process::exit(1);
        }
    }
}

/// One try: a new session on `addr`, then a create. False on any failure.
fn try_write(addr: &str, path: &str) -> bool {
    let Ok(mut c) = Client::connect(addr, 30_000, Duration::from_secs(5)) else {
        return false;
    };
    let ok = c.create(path, b"after failover", 0).is_ok();
    let _ = c.close();
    ok
}
