//! Durable append throughput of the event log with group commit, against raw sled insert+flush
//! with the batch sizes the group commit formed, measured in the same run on the same disk.
//!
//! `cargo bench -p samenspel-eventlog --bench append` (SAMENSPEL_BENCH_SECS sets the seconds
//! per scenario, default 3; SAMENSPEL_BENCH_ONLY=N runs only scenario N). Prints one row per scenario and the ratio raw sled / log.

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

/// Events per second through the log, and the average events per group commit.
fn run_log(rt: &tokio::runtime::Runtime, dir: &Path, s: &Scenario, secs: Duration) -> (f64, f64) {
    let log = Arc::new(LocalLog::open(dir, LogConfig::default()).unwrap());
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
    let elapsed = start.elapsed().as_secs_f64();
    let after = log.stats();
    rt.block_on(log.close()).unwrap();
    let events = count.load(Ordering::Relaxed) as f64;
    let group = (after.events - before.events) as f64 / (after.commits - before.commits).max(1) as f64;
    (events / elapsed, group)
}

/// Events per second of raw sled: `batch` inserts of the same payload size, then one flush.
fn run_sled(dir: &Path, batch: usize, secs: Duration) -> f64 {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(256 * 1024 * 1024)
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()
        .unwrap();
    let tree = db.open_tree("raw").unwrap();
    let value = vec![7u8; PAYLOAD];
    let mut key = 0u64;
    let start = Instant::now();
    while start.elapsed() < secs {
        for _ in 0..batch {
            key += 1;
            tree.insert(key.to_be_bytes(), value.as_slice()).unwrap();
        }
        db.flush().unwrap();
    }
    key as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs = std::env::var("SAMENSPEL_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let secs = Duration::from_secs_f64(if quick { 0.2 } else { secs });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    println!(
        "durable append, {PAYLOAD}-byte payloads, {:.1} s per scenario, dir {}",
        secs.as_secs_f64(),
        root.path().display()
    );
    println!("{:<34} {:>12} {:>10} {:>14} {:>12}", "scenario", "log ev/s", "ev/commit", "raw sled ev/s", "sled/log");
    let only: Option<usize> = std::env::var("SAMENSPEL_BENCH_ONLY").ok().and_then(|s| s.parse().ok());
    for (i, s) in SCENARIOS.iter().enumerate().filter(|(i, _)| only.is_none_or(|o| o == *i)) {
        let (log_rate, group) = run_log(&rt, &root.path().join(format!("log-{i}")), s, secs);
        let batch = group.round().max(1.0) as usize;
        let sled_rate = run_sled(&root.path().join(format!("sled-{i}")), batch, secs);
        println!(
            "{:<34} {:>12.0} {:>10.1} {:>14.0} {:>11.2}x",
            s.name,
            log_rate,
            group,
            sled_rate,
            sled_rate / log_rate
        );
    }
}
