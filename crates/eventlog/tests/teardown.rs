//! A runtime that shuts down with several sled-backed logs still open and busy — writers
//! appending, subscribers waiting — ends, and what was acknowledged is there when each log is
//! opened again. Three nodes in one test process once kept a runtime from ever ending (their
//! stores were dropped by two workers at once and sled's flush on drop waited for good, about one
//! convergence run in twenty); this round-trip guards the closing path that replaced it, though it
//! did not itself catch the hang in 300 rounds.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent};

const ROUNDS: usize = 30;
const LOGS: usize = 3;

/// One round: opens `LOGS` logs, keeps them busy, and shuts the runtime down under them.
/// Returns how many events each log acknowledged.
fn busy_round(dirs: &[tempfile::TempDir]) -> Vec<u64> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let acknowledged = rt.block_on(async {
        let mut counters = Vec::new();
        for dir in dirs {
            let log: Arc<dyn EventLog> = Arc::new(LocalLog::open(dir.path(), LogConfig::default()).unwrap());
            let mut feed = log.subscribe_all(Vec::new()).unwrap();
            tokio::spawn(async move { while feed.next().await.is_some() {} });
            let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
            for writer in 0..2 {
                let (log, counter) = (log.clone(), counter.clone());
                tokio::spawn(async move {
                    for i in 0.. {
                        let event = NewEvent::new(format!("s-{writer}"), "test.noted", format!("{i}").into_bytes());
                        if log.append(vec![event]).await.is_err() {
                            return;
                        }
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
            counters.push(counter);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        counters
    });
    // The runtime drops every task, and with them the last handles of every log, unclosed.
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        let _ = done.send(());
    });
    ended.recv_timeout(Duration::from_secs(30)).expect("the runtime did not shut down within 30 s");
    acknowledged.iter().map(|c| c.load(std::sync::atomic::Ordering::SeqCst)).collect()
}

#[test]
fn a_runtime_shut_down_under_busy_logs_ends_and_keeps_what_they_acknowledged() {
    let dirs: Vec<_> = (0..LOGS).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut total = vec![0u64; LOGS];
    for _ in 0..ROUNDS {
        for (t, n) in total.iter_mut().zip(busy_round(&dirs)) {
            *t += n;
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for (dir, acknowledged) in dirs.iter().zip(&total) {
            let log = LocalLog::open(dir.path(), LogConfig::default()).unwrap();
            let held = log.head(log.node_id()).await.unwrap().seq;
            assert!(held >= *acknowledged, "{held} events held, {acknowledged} acknowledged");
            assert!(*acknowledged > 0, "the writers wrote");
            log.close().await.unwrap();
        }
    });
}
