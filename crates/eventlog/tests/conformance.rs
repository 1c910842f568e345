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
