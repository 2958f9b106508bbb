//! Times recovery from a data directory (snapshot load, then log replay), as
//! the server does at start: `cargo run --release --example load_snapshot -- DATADIR LOGDIR`
//! (the directories that hold `version-2`). Uses the server's allocator.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (data, log) = (
        std::path::Path::new(&args[1]),
        std::path::Path::new(&args[2]),
    );
    let started = std::time::Instant::now();
    let r = corral::storage::recovery::recover(
        &data.join("version-2"),
        &log.join("version-2"),
        false,
        8 << 20,
    )
    .expect("recover");
    println!(
        "{} nodes, {} txns replayed in {:?}",
        r.tree.node_count(),
        r.txns_replayed,
        started.elapsed()
    );
}
