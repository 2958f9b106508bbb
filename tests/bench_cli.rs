//! `corral bench` end to end: the load generator runs for about a second
//! against a real server process and reports a JSON line with work done and
//! no errors. No assertion about speed: the figures belong in perf/.

mod common;

use common::Server;
use std::process::Command;

/// The number after `"key":` in a flat JSON line.
fn json_number(line: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let at = line
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
        + pat.len();
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {line}"))
}

/// Runs `corral bench` with `extra` arguments and returns its JSON line.
fn run_bench(server: &Server, root: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("out.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_corral"))
        .args(["bench", "--servers", server.addr(), "--root", root])
        .args([
            "--warmup",
            "0.3",
            "--duration",
            "1",
            "--keys",
            "200",
            "--quiet",
        ])
        .arg("--json")
        .arg(&json)
        .args(extra)
        .output()
        .expect("run corral bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "corral bench failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let text = std::fs::read_to_string(&json).expect("JSON file written");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line per run: {text}");
    lines[0].to_string()
}

#[test]
fn bench_with_every_op_kind_completes_ops_without_errors() {
    let server = Server::start();
    let root = server.unique_path("bench");
    let line = run_bench(
        &server,
        &root,
        &[
            "--sessions",
            "4",
            "--inflight",
            "4",
            "--threads",
            "2",
            "--ratio",
            "1:1",
            "--reads",
            "get,exists,children",
            "--writes",
            "set,create,ephemeral,multi,watch",
        ],
    );
    assert!(json_number(&line, "ops") > 0.0, "{line}");
    assert_eq!(json_number(&line, "errors"), 0.0, "{line}");
    assert!(json_number(&line, "ops_watch") > 0.0, "{line}");
    // The key space is removed afterwards.
    let mut s = common::raw::Session::connect(server.addr(), 30_000);
    assert_eq!(
        s.exists(&root, false).err,
        common::raw::err::NO_NODE,
        "{root} left behind"
    );
}

#[test]
fn fixed_rate_bench_completes_ops_without_errors() {
    let server = Server::start();
    let root = server.unique_path("bench-rate");
    let line = run_bench(&server, &root, &["--rate", "2000", "--sessions", "2"]);
    assert!(json_number(&line, "ops") > 0.0, "{line}");
    assert_eq!(json_number(&line, "errors"), 0.0, "{line}");
}
