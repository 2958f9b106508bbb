//! Times recovery from a data directory (snapshot load, then log replay), as
//! the server does at start: `cargo run --release --example load_snapshot -- DATADIR LOGDIR [--no-drop]`
//! (the directories that hold `version-2`). Uses the server's allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// mimalloc, counting the bytes and blocks live (requested sizes, before the
/// allocator's rounding) so the tree's own footprint shows apart from RSS.
struct Counting;
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
static BY_SIZE: [AtomicUsize; 4097] = [const { AtomicUsize::new(0) }; 4097];
fn slot(n: usize) -> usize {
    n.min(4096)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size(), Relaxed);
        LIVE_BLOCKS.fetch_add(1, Relaxed);
        BY_SIZE[slot(l.size())].fetch_add(l.size(), Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size(), Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Relaxed);
        BY_SIZE[slot(l.size())].fetch_sub(l.size(), Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new, Relaxed);
        LIVE_BYTES.fetch_sub(l.size(), Relaxed);
        BY_SIZE[slot(new)].fetch_add(new, Relaxed);
        BY_SIZE[slot(l.size())].fetch_sub(l.size(), Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (data, log) = (
        std::path::Path::new(&args[1]),
        std::path::Path::new(&args[2]),
    );
    let started = std::time::Instant::now();
    let mut r = corral::storage::recovery::recover(
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
    // The server then copies the loaded paths and data out of the snapshot
    // file, a step at a time between its rounds; here in one go.
    let unpinning = std::time::Instant::now();
    if let Some(mut unpin) = r.tree.unpin() {
        while unpin.step(&mut r.tree, 1 << 20) {}
        println!(
            "data of {} nodes copied out of the file in {:?}",
            unpin.copied(),
            unpinning.elapsed()
        );
    }
    // As the server does after recovery.
    // SAFETY: mi_collect takes no pointers.
    unsafe { libmimalloc_sys::mi_collect(true) };
    println!(
        "rss after load: {} kB; live {} B in {} blocks ({} B and {:.1} blocks per node)",
        rss_kb(),
        LIVE_BYTES.load(Relaxed),
        LIVE_BLOCKS.load(Relaxed),
        LIVE_BYTES.load(Relaxed) / r.tree.node_count().max(1),
        LIVE_BLOCKS.load(Relaxed) as f64 / r.tree.node_count().max(1) as f64
    );
    let mut v: Vec<(usize, usize)> = (0..4097).map(|i| (BY_SIZE[i].load(Relaxed), i)).collect();
    v.sort();
    for (b, i) in v.iter().rev().take(8) {
        println!("size {i}: {b} B live");
    }
    if args.get(3).map(String::as_str) == Some("--no-drop") {
        // For profiles of the load alone: the server never drops its tree.
        std::process::exit(0);
    }
    drop(r);
    println!("rss after dropping the tree: {} kB", rss_kb());
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
