//! Merkle proofs of a large log: how long a node takes to make an inclusion and a consistency
//! proof, how long an auditor takes to check one, and how large they are, in a sled log of
//! 1,000,000 events (written first, in appends of 1,000).
//!
//! `cargo bench -p samenspel-eventlog --bench proofs` (SAMENSPEL_BENCH_EVENTS sets the size of
//! the log, SAMENSPEL_BENCH_PROOFS the proofs of each kind, default 2,000).

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent};
use samenspel_merkle::{leaf_hash, verify_consistency, verify_inclusion};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// p50, p99 and max of a set of durations, in microseconds.
fn spread(mut d: Vec<Duration>) -> String {
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    format!("p50 {:>8.1} µs  p99 {:>8.1} µs  max {:>8.1} µs", at(0.5), at(0.99), at(1.0))
}

fn main() {
    // `cargo test --benches` passes no --bench and wants a quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let events = if quick { 5_000 } else { env("SAMENSPEL_BENCH_EVENTS", 1_000_000) };
    let proofs = if quick { 50 } else { env("SAMENSPEL_BENCH_PROOFS", 2_000) } as usize;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let log = LocalLog::open(dir.path(), LogConfig::default()).unwrap();
    let origin = log.node_id();
    let start = Instant::now();
    rt.block_on(async {
        let mut n = 0;
        while n < events {
            let batch = (events - n).min(1000);
            let appends = (0..batch).map(|i| NewEvent::new(format!("s{}", i % 100), "bench.noted", vec![7u8; 64]));
            log.append(appends.collect()).await.unwrap();
            n += batch;
        }
    });
    println!("{events} events written in {:.1} s; {proofs} proofs of each kind", start.elapsed().as_secs_f64());
    let mut rng = rand::rngs::StdRng::seed_from_u64(9162);
    let (mut make, mut check, mut largest) = (Vec::new(), Vec::new(), 0);
    let (mut make_c, mut check_c, mut largest_c) = (Vec::new(), Vec::new(), 0);
    rt.block_on(async {
        let sth = log.signed_tree_head().await.unwrap();
        let (size, root) = (sth.head.size, sth.head.root);
        for _ in 0..proofs {
            let seq = rng.random_range(1..=size);
            let leaf = leaf_hash(&log.read(origin, seq, 1).await.unwrap()[0].hash.0);
            let t = Instant::now();
            let path = log.inclusion_proof(origin, seq, size).await.unwrap();
            make.push(t.elapsed());
            let t = Instant::now();
            verify_inclusion(&leaf, seq - 1, size, &path, &root).unwrap();
            check.push(t.elapsed());
            largest = largest.max(path.len() * 32);

            let old = rng.random_range(1..size);
            let old_root = log.tree_root(origin, old).await.unwrap();
            let t = Instant::now();
            let proof = log.consistency_proof(origin, old, size).await.unwrap();
            make_c.push(t.elapsed());
            let t = Instant::now();
            verify_consistency(old, size, &old_root, &root, &proof).unwrap();
            check_c.push(t.elapsed());
            largest_c = largest_c.max(proof.len() * 32);
        }
        let t = Instant::now();
        for _ in 0..100 {
            std::hint::black_box(log.signed_tree_head().await.unwrap());
        }
        println!("signed tree head at {size}: {:.1} µs each", t.elapsed().as_secs_f64() * 1e6 / 100.0);
    });
    println!("inclusion   make   {}", spread(make));
    println!("inclusion   check  {}   largest {largest} bytes", spread(check));
    println!("consistency make   {}", spread(make_c));
    println!("consistency check  {}   largest {largest_c} bytes", spread(check_c));
    rt.block_on(log.close()).unwrap();
}
