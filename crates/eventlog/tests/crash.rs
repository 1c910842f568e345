//! Durability under SIGKILL: a child process appends concurrently and prints every acknowledged
//! position; it is killed at random moments; after each restart every acknowledged event must be
//! there, with the same hash, the event-id index must still know it, and the store must verify.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent};

const CHILD_DIR: &str = "SAMENSPEL_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "SAMENSPEL_CRASH_CHILD_ROUND";
const ROUNDS: usize = 20;
const APPENDERS: usize = 16;

/// The child: appends until it is killed. Does nothing when run as an ordinary test.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let round: usize = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let log = Arc::new(LocalLog::open(dir.as_ref(), LogConfig::default()).unwrap());
        let mut tasks = Vec::new();
        for w in 0..APPENDERS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let id = format!("r{round}-w{w}-{n}");
                    // Some appenders write batches, so group commits mix both.
                    let batch: Vec<NewEvent> = (0..(1 + w % 3))
                        .map(|b| {
                            NewEvent::new(format!("w{w}"), "crash.test", format!("{id}/{b}"))
                                .with_id(format!("{id}/{b}"))
                        })
                        .collect();
                    let acks = log.append(batch).await.unwrap();
                    let mut out = std::io::stdout().lock();
                    for (b, a) in acks.iter().enumerate() {
                        writeln!(out, "ack {} {} {id}/{b}", a.seq, a.hash).unwrap();
                    }
                    out.flush().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    // seq -> (hash, event id)
    let mut acked: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("ack ") && tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the first acknowledgement, then kill at a random moment.
        let first = rx.recv_timeout(Duration::from_secs(30)).expect("the child acknowledged nothing");
        let kill_at = Instant::now() + Duration::from_millis(rng.random_range(0..300));
        let mut lines = vec![first];
        while Instant::now() < kill_at {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(5)) {
                lines.push(l);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        let before = acked.len();
        for line in lines {
            let mut parts = line.split(' ').skip(1);
            let seq: u64 = parts.next().unwrap().parse().unwrap();
            let hash = parts.next().unwrap().to_string();
            let id = parts.next().unwrap().to_string();
            assert!(acked.insert(seq, (hash, id)).is_none(), "seq {seq} acknowledged twice");
        }
        assert!(acked.len() > before, "round {round} acknowledged nothing");

        rt.block_on(async {
            let log = LocalLog::open(dir.path(), LogConfig::default()).unwrap();
            let origin = log.node_id();
            let head = log.head(origin).await.unwrap();
            let last_acked = *acked.keys().next_back().unwrap();
            assert!(head.seq >= last_acked, "round {round}: head {} is behind acknowledged {last_acked}", head.seq);
            let stored = log.read(origin, 1, usize::MAX).await.unwrap();
            assert_eq!(stored.len() as u64, head.seq, "no gaps");
            for (seq, (hash, _)) in &acked {
                assert_eq!(
                    &stored[(*seq - 1) as usize].hash.to_hex(),
                    hash,
                    "round {round}: event {seq} changed or lost"
                );
            }
            // The idempotency index is durable: retrying an acknowledged id appends nothing.
            let (seq, (_, id)) = acked.iter().nth(rng.random_range(0..acked.len())).unwrap();
            let stream = stored[(*seq - 1) as usize].header.stream.clone();
            let retry =
                log.append(vec![NewEvent::new(stream, "crash.test", id.clone()).with_id(id.clone())]).await.unwrap();
            assert_eq!((retry[0].seq, retry[0].duplicate), (*seq, true));
            let report = log.verify().await.unwrap();
            assert!(report.is_ok(), "round {round}: {:?}", report.problems);
            log.close().await.unwrap();
        });
    }
}
