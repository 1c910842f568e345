//! Ordered key-value storage under the log: one keyspace, atomic batches, explicit flush.
//!
//! The log's logic (sequencing, chaining, signing, verification) is written once against this
//! trait; the in-memory and sled backends only store bytes. Everything one group commit writes
//! goes into one [`WriteBatch`], applied in order; a crash keeps a prefix of it, and the log
//! repairs a torn group when it opens (`recover.rs`).

mod keys;
mod memory;
mod sled_store;

pub(crate) use keys::Key;
pub(crate) use memory::MemoryStore;
pub(crate) use sled_store::SledStore;

use crate::error::Result;

pub(crate) type Entry = (Vec<u8>, Vec<u8>);

/// Puts and removes, applied in order.
#[derive(Debug, Default)]
pub(crate) struct WriteBatch {
    pub(crate) ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }
    pub(crate) fn remove(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

pub(crate) trait Store: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries with `from <= key < to`, in key order, at most `limit`.
    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<Entry>>;
    /// The greatest entry with `from <= key < to`.
    fn last(&self, from: &[u8], to: &[u8]) -> Result<Option<Entry>>;
    /// Applies the operations in order (not yet durable). After a crash, a prefix of the
    /// operations applied since the last flush survives: never a later one without the earlier.
    fn apply(&self, batch: WriteBatch) -> Result<()>;
    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<()>;
}
