//! `Audit/GetTimeline`'s work for one request of 100 events in a log of 1,000,000 (written in group commits of 100 events): the request's
//! streams read on every origin, each event checked up to its checkpoint, the causal order.
//!
//! `cargo bench -p samenspel-audit --bench timeline` (SAMENSPEL_BENCH_EVENTS sets the size of
//! the log, default 1,000,000; SAMENSPEL_BENCH_RUNS the timelines read, default 200).

use std::sync::Arc;
use std::time::{Duration, Instant};

use samenspel_audit::Timeline;
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let total = if quick { 5_000 } else { env("SAMENSPEL_BENCH_EVENTS", 1_000_000) };
    let runs = if quick { 5 } else { env("SAMENSPEL_BENCH_RUNS", 200) } as usize;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let log: Arc<dyn EventLog> = Arc::new(LocalLog::open(dir.path(), LogConfig::default()).unwrap());
    // The request's 100 events (40 intake, 30 matching naming a match, 30 follow-up of that
    // match) are spread evenly through the log, among other requests' events, in appends of 100
    // (a group commit, so each checkpoint covers 100 events).
    let every = total / 100;
    let start = Instant::now();
    rt.block_on(async {
        let mut written = 0;
        let mut ours = 0;
        while written < total {
            let batch = 100.min(total - written);
            let mut events: Vec<NewEvent> = (0..batch)
                .map(|i| {
                    let other = format!("intake/request/other-{}", (written + i) % 5000);
                    NewEvent::new(other, "intake.request.amended", vec![7u8; 64])
                })
                .collect();
            if written % every == 0 {
                let (stream, kind, payload): (&str, &str, &[u8]) = match ours % 10 {
                    0..4 => ("intake/request/bench", "intake.request.amended", b"{}"),
                    4..7 => ("matching/request/bench", "matching.match.confirmed", br#"{"match_id":"m1"}"#),
                    _ => ("followup/referral/m1", "followup.checkin.due", b"{}"),
                };
                events[0] = NewEvent::new(stream, kind, payload.to_vec());
                ours += 1;
            }
            log.append(events).await.unwrap();
            written += batch;
        }
    });
    println!("{total} events written in {:.1} s; {runs} timelines of one request", start.elapsed().as_secs_f64());
    let timeline = Timeline::new(log.clone());
    let mut took: Vec<Duration> = Vec::with_capacity(runs);
    let mut steps = 0;
    rt.block_on(async {
        for _ in 0..runs {
            let t = Instant::now();
            steps = timeline.of("bench").await.unwrap().len();
            took.push(t.elapsed());
        }
    });
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!("timeline of {steps} steps: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms", at(0.5), at(0.99), at(1.0));
    rt.block_on(log.close()).unwrap();
}
