//! Durable append throughput of the event log with group commit, against raw sled insert+flush
//! with the batch sizes the group commit formed, measured in the same run on the same disk.
//!
//! A third contender is the same log without its Merkle tree (`merkle_tree = false`): the column
//! `tree cost` is its rate over the log's, the price of keeping the tree on the append path.
//!
//! `cargo bench -p samenspel-eventlog --bench append` (SAMENSPEL_BENCH_SECS sets the seconds
//! per scenario, default 3; SAMENSPEL_BENCH_ONLY=N runs only scenario N). Prints one row per scenario and the ratio raw sled / log.
//! The log and raw sled take turns in short slices, so a change in the load of a shared machine
//! hits both alike.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent};

const PAYLOAD: usize = 256;

struct Scenario {
    name: &'static str,
    appenders: usize,
    batch: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "1 appender, 1 event/append", appenders: 1, batch: 1 },
    Scenario { name: "16 appenders, 1 event/append", appenders: 16, batch: 1 },
    Scenario { name: "256 appenders, 1 event/append", appenders: 256, batch: 1 },
    Scenario { name: "1 appender, 100 events/append", appenders: 1, batch: 100 },
    Scenario { name: "16 appenders, 100 events/append", appenders: 16, batch: 100 },
];

/// Events appended and seconds spent by one slice of the log, and the group commits it took.
struct Slice {
    events: u64,
    secs: f64,
    commits: u64,
}

/// Runs the log for `secs` on an open log; counts only acknowledged (flushed) events.
fn run_log(rt: &tokio::runtime::Runtime, log: &Arc<LocalLog>, s: &Scenario, secs: Duration) -> Slice {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let before = log.stats();
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for a in 0..s.appenders {
            let (log, stop, count) = (log.clone(), stop.clone(), count.clone());
            let batch = s.batch;
            tasks.push(tokio::spawn(async move {
                let stream = format!("stream-{a}");
                while !stop.load(Ordering::Relaxed) {
                    let events =
                        (0..batch).map(|_| NewEvent::new(stream.clone(), "bench.appended", vec![7u8; PAYLOAD]));
                    log.append(events.collect()).await.unwrap();
                    count.fetch_add(batch as u64, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(secs).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
    });
    let secs = start.elapsed().as_secs_f64();
    Slice { events: count.load(Ordering::Relaxed), secs, commits: log.stats().commits - before.commits }
}

/// Raw sled for `secs`: `batch` inserts of the same payload size, then one flush, repeated.
fn run_sled(db: &sled::Db, tree: &sled::Tree, key: &mut u64, batch: usize, secs: Duration) -> Slice {
    let value = vec![7u8; PAYLOAD];
    let (start, first) = (Instant::now(), *key);
    let mut commits = 0;
    while start.elapsed() < secs {
        for _ in 0..batch {
            *key += 1;
            tree.insert(key.to_be_bytes(), value.as_slice()).unwrap();
        }
        db.flush().unwrap();
        commits += 1;
    }
    Slice { events: *key - first, secs: start.elapsed().as_secs_f64(), commits }
}

fn open_sled(dir: &Path) -> sled::Db {
    sled::Config::new()
        .path(dir)
        .cache_capacity(256 * 1024 * 1024)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()
        .unwrap()
}

/// Rounds per scenario: the log and raw sled take turns, so both see the same machine.
const ROUNDS: u32 = 6;

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs = std::env::var("SAMENSPEL_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let secs = Duration::from_secs_f64(if quick { 0.2 } else { secs });
    let rounds = if quick { 1 } else { ROUNDS };
    let slice = secs / rounds;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    println!(
        "durable append, {PAYLOAD}-byte payloads, {:.1} s per scenario and store in {rounds} alternating slices, dir {}",
        secs.as_secs_f64(),
        root.path().display()
    );
    println!(
        "{:<34} {:>12} {:>10} {:>14} {:>12} {:>14} {:>10}",
        "scenario", "log ev/s", "ev/commit", "raw sled ev/s", "sled/log", "no-tree ev/s", "tree cost"
    );
    let only: Option<usize> = std::env::var("SAMENSPEL_BENCH_ONLY").ok().and_then(|s| s.parse().ok());
    for (i, s) in SCENARIOS.iter().enumerate().filter(|(i, _)| only.is_none_or(|o| o == *i)) {
        let log = Arc::new(LocalLog::open(&root.path().join(format!("log-{i}")), LogConfig::default()).unwrap());
        let plain = LogConfig { merkle_tree: false, ..LogConfig::default() };
        let bare = Arc::new(LocalLog::open(&root.path().join(format!("bare-{i}")), plain).unwrap());
        let db = open_sled(&root.path().join(format!("sled-{i}")));
        let tree = db.open_tree("raw").unwrap();
        let empty = || Slice { events: 0, secs: 0.0, commits: 0 };
        let (mut ours, mut raw, mut treeless, mut key) = (empty(), empty(), empty(), 0);
        for round in 0..rounds {
            // The two logs take turns going first, so neither always follows raw sled's flush.
            let early = (round % 2 == 1).then(|| run_log(&rt, &bare, s, slice));
            let l = run_log(&rt, &log, s, slice);
            // Raw sled writes batches of the size the group commit just formed.
            let batch = (l.events as f64 / l.commits.max(1) as f64).round().max(1.0) as usize;
            let r = run_sled(&db, &tree, &mut key, batch, slice);
            let b = early.unwrap_or_else(|| run_log(&rt, &bare, s, slice));
            for (sum, x) in [(&mut ours, l), (&mut raw, r), (&mut treeless, b)] {
                sum.events += x.events;
                sum.secs += x.secs;
                sum.commits += x.commits;
            }
        }
        rt.block_on(log.close()).unwrap();
        rt.block_on(bare.close()).unwrap();
        let (log_rate, sled_rate) = (ours.events as f64 / ours.secs, raw.events as f64 / raw.secs);
        let bare_rate = treeless.events as f64 / treeless.secs;
        println!(
            "{:<34} {:>12.0} {:>10.1} {:>14.0} {:>11.2}x {:>14.0} {:>9.2}x",
            s.name,
            log_rate,
            ours.events as f64 / ours.commits.max(1) as f64,
            sled_rate,
            sled_rate / log_rate,
            bare_rate,
            bare_rate / log_rate
        );
    }
}
