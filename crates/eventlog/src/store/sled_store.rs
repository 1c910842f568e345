//! The sled 0.34 backend: one tree, ordered writes, durable after `flush`.
//!
//! Writes are plain inserts rather than sled's atomic `apply_batch`: sled recovers a prefix of
//! its log after a crash, which is all the log needs (`recover.rs`), and an atomic batch writes and
//! syncs a manifest of its own first — two syncs per group commit instead of one.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Entry, Store, WriteBatch};
use crate::error::{Error, Result};

/// How long an open waits for a file lock held by a store being dropped.
const LOCK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct SledStore {
    /// Always `Some` until the store is dropped, when the closer takes it.
    open: Option<Handles>,
}

#[derive(Debug)]
struct Handles {
    db: sled::Db,
    tree: sled::Tree,
}

/// Closes a store's last handles on a thread of its own, never on the caller's. sled's last drop
/// flushes and syncs — blocking IO that must not run on an async worker — and sled 0.34 can wait
/// in that flush for good when other databases of the process flush meanwhile (seen when a test
/// runtime shut down with three nodes' logs open: two dropping workers waited in sled's
/// `make_stable` forever, and the runtime never ended). On a thread of its own such a wait holds
/// up nothing but a reopening of that same store, which gives up after [`LOCK_WAIT`]; one shared
/// closer thread was tried first, and one stuck drop then held up every later store's.
fn close_apart(handles: Handles) {
    let closing = std::thread::Builder::new().name("sled-closer".into()).spawn(move || {
        if let Err(e) = handles.db.flush() {
            tracing::error!(error = %e, "flushing a store before closing it failed");
        }
        drop(handles);
    });
    if let Err(e) = closing {
        // No thread to be had: sled closes the store on the dropping thread instead.
        tracing::warn!(error = %e, "closing a store on the dropping thread");
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        if let Some(handles) = self.open.take() {
            close_apart(handles);
        }
    }
}

impl SledStore {
    pub(crate) fn open(path: &Path, cache_bytes: u64) -> Result<Self> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // The log flushes itself once per group commit; a timer would only add flushes.
            .flush_every_ms(None);
        // A dropped store's lock is released by its closer thread once its last flush is done,
        // so a store reopened in the same process may briefly find it still held.
        let deadline = Instant::now() + LOCK_WAIT;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e)) if is_lock_error(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(sled::Error::Io(e)) if is_lock_error(&e) => {
                    return Err(Error::Storage(format!("{} is in use by another process", path.display())));
                }
                other => break other?,
            }
        };
        let tree = db.open_tree("log")?;
        Ok(Self { open: Some(Handles { db, tree }) })
    }

    fn handles(&self) -> &Handles {
        self.open.as_ref().expect("a store is open until it is dropped")
    }

    fn tree(&self) -> &sled::Tree {
        &self.handles().tree
    }
}

/// sled reports a held lock as an io error whose text names it (the kind is lost).
fn is_lock_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

fn owned((k, v): (sled::IVec, sled::IVec)) -> Entry {
    (k.to_vec(), v.to_vec())
}

impl Store for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree().get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<Entry>> {
        self.tree().range(from..to).take(limit).map(|r| Ok(owned(r?))).collect()
    }

    fn last(&self, from: &[u8], to: &[u8]) -> Result<Option<Entry>> {
        Ok(self.tree().range(from..to).next_back().transpose()?.map(owned))
    }

    fn apply(&self, batch: WriteBatch) -> Result<()> {
        for (k, v) in batch.ops {
            match v {
                Some(v) => self.tree().insert(k, v)?,
                None => self.tree().remove(k)?,
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.handles().db.flush()?;
        Ok(())
    }
}
