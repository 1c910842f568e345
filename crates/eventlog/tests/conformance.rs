//! Runs the event log conformance suite against the in-memory and the sled backend.

use std::sync::Arc;

use samenspel_eventlog::conformance::TestLog;
use samenspel_eventlog::{LocalLog, LogConfig, NodeKey};

fn memory(key: NodeKey) -> TestLog {
    TestLog { log: Arc::new(LocalLog::memory(key, LogConfig::default()).unwrap()), guard: Box::new(()) }
}

fn sled(key: NodeKey) -> TestLog {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { cache_bytes: 16 * 1024 * 1024, ..LogConfig::default() };
    let log = LocalLog::open_with_key(dir.path(), key, config).unwrap();
    TestLog { log: Arc::new(log), guard: Box::new(dir) }
}

mod in_memory {
    use super::*;
    samenspel_eventlog::log_conformance_tests!(memory);
}

mod on_sled {
    use super::*;
    samenspel_eventlog::log_conformance_tests!(sled);
}

/// What only a durable backend can show: state written before a restart is there after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_keeps_events_snapshots_and_idempotency_across_a_reopen() {
    use samenspel_eventlog::{EventLog, NewEvent, Snapshot};
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { cache_bytes: 16 * 1024 * 1024, ..LogConfig::default() };
    let log = LocalLog::open(dir.path(), config.clone()).unwrap();
    let origin = log.node_id();
    let first = log.append(vec![NewEvent::new("s", "test.noted", "a").with_id("id-1")]).await.unwrap()[0];
    log.append(vec![NewEvent::new("s", "test.noted", "b")]).await.unwrap();
    let snapshot = Snapshot { positions: vec![(origin, 2)], data: b"model".to_vec() };
    log.save_snapshot("model", snapshot.clone()).await.unwrap();
    log.close().await.unwrap();
    drop(log);

    let log = LocalLog::open(dir.path(), config).unwrap();
    assert_eq!(log.node_id(), origin, "the node key is kept in the data dir");
    assert_eq!(log.head(origin).await.unwrap().seq, 2);
    assert_eq!(log.load_snapshot("model").await.unwrap(), Some(snapshot));
    let retry = log.append(vec![NewEvent::new("s", "test.noted", "a").with_id("id-1")]).await.unwrap()[0];
    assert_eq!((retry.seq, retry.hash, retry.duplicate), (first.seq, first.hash, true));
    let next = log.append(vec![NewEvent::new("s", "test.noted", "c")]).await.unwrap()[0];
    assert_eq!((next.seq, next.stream_seq), (3, 3), "positions and stream versions continue");
    assert!(log.verify().await.unwrap().is_ok());
}
