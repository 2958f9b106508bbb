//! `corral bench`: a ZooKeeper load generator that measures any server that
//! speaks the protocol (corral, Apache ZooKeeper), the same way.
//!
//! The coordinator (this file) sets up the key space under the bench root,
//! starts one [`driver`] thread per `--threads` (each owning its share of
//! the sessions, spread round-robin over `--servers`), runs warm-up then the
//! measured interval, reads server and client CPU from /proc around exactly
//! that interval, merges the threads' histograms and reports. It removes the
//! key space afterwards. `--echo` points the same load at an in-process
//! [`echo`] server instead: the loopback ceiling.

pub mod driver;
pub mod echo;
pub mod procstat;
pub mod report;
pub mod sys;
pub mod workload;

use crate::client::{Client, ClientError};
use driver::{Control, Live, Measured, PHASE_MEASURE, PHASE_STOP, Plan};
use report::Summary;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use workload::{CHILD_DIRS, Mix, OpList, Ratio, dir_path, key_path};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Servers as host:port, comma separated or repeated; sessions are spread round-robin.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:2181")]
    pub servers: Vec<String>,
    /// Sessions (one TCP connection each).
    #[arg(long, default_value_t = 8)]
    pub sessions: usize,
    /// Requests in flight per session (pipelined).
    #[arg(long, default_value_t = 16)]
    pub inflight: usize,
    /// Reads:writes, e.g. 10:1; 1:0 = reads only, 0:1 = writes only.
    #[arg(long, default_value = "10:1")]
    pub ratio: Ratio,
    /// Read ops with optional weights: get, exists, children (e.g. get=8,exists=1,children=1).
    #[arg(long, default_value = "get")]
    pub reads: OpList,
    /// Write ops with optional weights: set, create (create then delete), ephemeral, multi
    /// (check + setData), watch (getData with a watch, then setData: the watch fires).
    #[arg(long, default_value = "set")]
    pub writes: OpList,
    /// Bytes of each key's value (and of every value written).
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Keys in the key space.
    #[arg(long, default_value_t = 10_000)]
    pub keys: usize,
    /// Children of each getChildren directory.
    #[arg(long, default_value_t = 10)]
    pub children: usize,
    /// Warm-up seconds (not measured).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Load-generator threads (sessions are spread over them).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Fixed rate, ops/s in total: latency counts from each op's intended send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Fixed rate: wake the sender at most once per this many µs (0 = once per op). Each
    /// wakeup costs CPU (tens of µs in a VM); ops due meanwhile go out together and their
    /// lateness is counted in their latency.
    #[arg(long, default_value_t = 0)]
    pub tick_us: u64,
    /// A server process whose CPU (utime+stime) and RSS to report (repeatable).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Append the JSON line to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Print the JSON line on stdout (after the table, which then goes to stderr).
    #[arg(long)]
    pub json_stdout: bool,
    /// A name for this run in the reports.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Where the key space lives (removed before and after the run).
    #[arg(long, default_value = "/corral-bench")]
    pub root: String,
    /// Session timeout asked for, ms.
    #[arg(long, default_value_t = 30_000)]
    pub session_timeout_ms: i32,
    /// Leave the key space in place afterwards.
    #[arg(long)]
    pub keep: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Measure the loopback ceiling: run the same load against a minimal in-process echo
    /// server (canned replies, no tree) instead of --servers.
    #[arg(long)]
    pub echo: bool,
    /// Threads of the echo server (default: online CPUs).
    #[arg(long)]
    pub echo_threads: Option<usize>,
    /// Seed for key and op choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Creates pipelined per round trip during setup.
const SETUP_PIPELINE: usize = 512;

/// Runs the bench; returns the summary (also printed / written as asked).
pub fn run(args: &BenchArgs) -> anyhow::Result<Summary> {
    let mix = Mix::new(args.ratio, &args.reads, &args.writes).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(args.sessions > 0, "--sessions must be at least 1");
    anyhow::ensure!(args.inflight > 0, "--inflight must be at least 1");
    anyhow::ensure!(args.keys > 0, "--keys must be at least 1");
    anyhow::ensure!(args.threads > 0, "--threads must be at least 1");
    anyhow::ensure!(
        args.duration > 0.0 && args.warmup >= 0.0,
        "--duration must be > 0 and --warmup >= 0"
    );
    if let Some(r) = args.rate {
        anyhow::ensure!(r > 0.0 && r.is_finite(), "--rate must be positive");
    }
    anyhow::ensure!(
        args.root.starts_with('/') && args.root.len() > 1 && !args.root.ends_with('/'),
        "--root must be an absolute path other than /"
    );
    let echo = if args.echo {
        let threads = args
            .echo_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Some(echo::EchoServer::start(threads, args.value_size)?)
    } else {
        None
    };
    let servers: Vec<String> = match &echo {
        Some(e) => vec![e.addr.to_string()],
        None => args.servers.clone(),
    };
    anyhow::ensure!(!servers.is_empty(), "--servers is empty");
    if echo.is_none() {
        setup(&servers[0], args)?;
    }
    let result = measure(args, &mix, &servers, echo.as_ref());
    if echo.is_none()
        && !args.keep
        && let Err(e) = teardown(&servers[0], args)
    {
        eprintln!("corral bench: removing {} failed: {e}", args.root);
    }
    if let Some(e) = echo {
        e.stop();
    }
    let summary = result?;
    let table = summary.table();
    if args.json_stdout {
        eprint!("{table}");
        println!("{}", summary.json());
    } else {
        print!("{table}");
    }
    if let Some(path) = &args.json {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{}", summary.json())?;
    }
    Ok(summary)
}

fn setup_client(addr: &str) -> Result<Client, ClientError> {
    Client::connect(addr, 30_000, SETUP_TIMEOUT)
}

/// Creates the key space under the root (after removing any leftover).
fn setup(addr: &str, args: &BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut c = setup_client(addr).map_err(|e| anyhow::anyhow!("setup: connect to {addr}: {e}"))?;
    c.delete_recursive(&args.root)?;
    let root = &args.root;
    // Parents of the root, then the root and its folders.
    let mut parents = Vec::new();
    let mut at = 0;
    while let Some(i) = root[at + 1..].find('/') {
        at += i + 1;
        parents.push(root[..at].to_string());
    }
    for p in parents {
        if let Err(e) = c.create(&p, b"", 0)
            && e.code() != Some(-110)
        {
            anyhow::bail!("setup: create {p}: {e}");
        }
    }
    for p in [
        root.clone(),
        format!("{root}/k"),
        format!("{root}/c"),
        format!("{root}/t"),
    ] {
        c.create(&p, b"", 0)
            .map_err(|e| anyhow::anyhow!("setup: create {p}: {e}"))?;
    }
    let value = crate::proto::ZData::from(vec![b'v'; args.value_size]);
    let mut paths: Vec<String> = (0..args.keys).map(|i| key_path(root, i)).collect();
    for d in 0..CHILD_DIRS {
        let dir = dir_path(root, d);
        paths.push(dir.clone());
        paths.extend((0..args.children).map(|i| format!("{dir}/c{i}")));
    }
    for chunk in paths.chunks(SETUP_PIPELINE) {
        let reqs: Vec<crate::proto::Request> = chunk
            .iter()
            .map(|p| crate::proto::Request::Create {
                op: crate::proto::OpCode::Create,
                req: crate::proto::request::CreateRequest {
                    path: p.as_str().into(),
                    data: value.clone(),
                    acl: crate::proto::Acl::open_unsafe(),
                    flags: 0,
                    ttl_ms: -1,
                },
            })
            .collect();
        let codes = c.pipeline(&reqs)?;
        if let Some((i, code)) = codes.iter().enumerate().find(|(_, c)| **c != 0) {
            anyhow::bail!("setup: create {} answered error {code}", chunk[i]);
        }
    }
    let _ = c.close();
    if !args.quiet {
        eprintln!(
            "corral bench: key space {root}: {} keys of {} B ready in {:.1} s",
            args.keys,
            args.value_size,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn teardown(addr: &str, args: &BenchArgs) -> anyhow::Result<()> {
    let mut c = setup_client(addr)?;
    c.delete_recursive(&args.root)?;
    let _ = c.close();
    Ok(())
}

/// CPU of the watched servers (or the echo threads), µs.
fn server_cpu_us(args: &BenchArgs, echo: Option<&echo::EchoServer>) -> Option<u64> {
    if let Some(e) = echo {
        return e.cpu_us();
    }
    if args.server_pids.is_empty() {
        return None;
    }
    args.server_pids
        .iter()
        .map(|&p| procstat::process_cpu_us(p))
        .sum()
}

fn measure(
    args: &BenchArgs,
    mix: &Mix,
    servers: &[String],
    echo: Option<&echo::EchoServer>,
) -> anyhow::Result<Summary> {
    let control = Arc::new(Control {
        phase: AtomicU8::new(driver::PHASE_WARMUP),
    });
    let threads = args.threads.min(args.sessions);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::new();
    let mut lives = Vec::new();
    for t in 0..threads {
        let session_addrs: Vec<String> = (0..args.sessions)
            .filter(|s| s % threads == t)
            .map(|s| servers[s % servers.len()].clone())
            .collect();
        let plan = Plan {
            thread: t,
            session_addrs,
            inflight: args.inflight,
            rate_per_s: args.rate.map(|r| r / threads as f64),
            tick_us: args.tick_us,
            mix: mix.clone(),
            root: args.root.clone(),
            keys: args.keys,
            value_size: args.value_size,
            session_timeout_ms: args.session_timeout_ms,
            seed: args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (t as u64 + 1),
        };
        let control = control.clone();
        let live = Arc::new(Live::default());
        lives.push(live.clone());
        let tx = ready_tx.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || driver::run(plan, control, live, move |r| drop(tx.send(r))))?,
        );
    }
    drop(ready_tx);
    let mut failure = None;
    for _ in 0..threads {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("a bench thread exited before it was ready".into()),
        }
    }
    let total_ops = || {
        lives
            .iter()
            .map(|l| l.ops.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let total_errors = || {
        lives
            .iter()
            .map(|l| l.errors.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let mut measured = Measured::empty();
    let mut duration_s = 0.0;
    let mut cpu = (None, None, None);
    if failure.is_none() {
        progress(args, "warmup", args.warmup, &total_ops, &total_errors);
        let client0 = procstat::self_cpu_us();
        let server0 = server_cpu_us(args, echo);
        let echo0 = echo.and_then(|e| e.cpu_us());
        let t0 = Instant::now();
        control.phase.store(PHASE_MEASURE, Ordering::Relaxed);
        progress(args, "measure", args.duration, &total_ops, &total_errors);
        control.phase.store(PHASE_STOP, Ordering::Relaxed);
        duration_s = t0.elapsed().as_secs_f64();
        let client1 = procstat::self_cpu_us();
        let server1 = server_cpu_us(args, echo);
        let echo1 = echo.and_then(|e| e.cpu_us());
        cpu = (
            client0.zip(client1).map(|(a, b)| b.saturating_sub(a)),
            server0.zip(server1).map(|(a, b)| b.saturating_sub(a)),
            echo0.zip(echo1).map(|(a, b)| b.saturating_sub(a)),
        );
    } else {
        control.phase.store(PHASE_STOP, Ordering::Relaxed);
    }
    let rss = if args.server_pids.is_empty() {
        echo.and_then(|_| procstat::rss_kib(std::process::id()))
    } else {
        args.server_pids
            .iter()
            .map(|&p| procstat::rss_kib(p))
            .sum::<Option<u64>>()
    };
    for h in handles {
        match h.join() {
            Ok(m) => measured.merge(&m),
            Err(_) => failure = Some("a bench thread panicked".into()),
        }
    }
    if let Some(f) = failure {
        anyhow::bail!("{f}");
    }
    let mut s = Summary {
        label: args.label.clone(),
        target: if echo.is_some() {
            format!("echo {}", servers.join(","))
        } else {
            servers.join(",")
        },
        mode: match args.rate {
            Some(r) if args.tick_us > 0 => format!("rate {r:.0}/s tick {} µs", args.tick_us),
            Some(r) => format!("rate {r:.0}/s"),
            None => "closed".into(),
        },
        sessions: args.sessions,
        inflight: args.inflight,
        threads,
        ratio: args.ratio.to_string(),
        mix: mix.describe(),
        value_size: args.value_size,
        keys: args.keys,
        rate_target: args.rate,
        server_rss_kib: rss,
        ..Summary::default()
    };
    s.fill_from(&measured, duration_s);
    let (client_us, server_us, echo_us) = cpu;
    // With --echo the echo threads live in this process: the client is the rest.
    let client_us = match (client_us, echo_us) {
        (Some(c), Some(e)) => Some(c.saturating_sub(e)),
        (c, _) => c,
    };
    let per_op = |us: u64| {
        if s.ops > 0 {
            us as f64 / s.ops as f64
        } else {
            f64::NAN
        }
    };
    s.client_cpu_us_per_op = client_us.map(per_op);
    s.server_cpu_us_per_op = server_us.map(per_op);
    s.client_cpu_cores = client_us.map(|us| us as f64 / 1e6 / duration_s);
    s.server_cpu_cores = server_us.map(|us| us as f64 / 1e6 / duration_s);
    Ok(s)
}

/// Sleeps through a phase, printing ops/s and errors on stderr each second.
fn progress(
    args: &BenchArgs,
    phase: &str,
    seconds: f64,
    total_ops: &dyn Fn() -> u64,
    total_errors: &dyn Fn() -> u64,
) {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_ops = total_ops();
    let mut last_at = start;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let next = (last_at + Duration::from_secs(1)).min(end);
        std::thread::sleep(next - now);
        let ops = total_ops();
        let at = Instant::now();
        if !args.quiet && at < end + Duration::from_millis(1) {
            let rate = (ops - last_ops) as f64 / (at - last_at).as_secs_f64().max(1e-9);
            let line = format!(
                "[{} {:>4.1}/{:.0} s] {:>9.0} ops/s, errors {}",
                phase,
                (at - start).as_secs_f64(),
                seconds,
                rate,
                total_errors()
            );
            if tty {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
        }
        last_ops = ops;
        last_at = at;
    }
    if tty && !args.quiet {
        eprintln!();
    }
}
