//! The in-memory backend: a sorted map. Durable for the life of the process only.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::{Entry, Store, WriteBatch};
use crate::error::Result;

#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Store for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.read().expect("store lock").get(key).cloned())
    }

    fn scan(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<Entry>> {
        let map = self.map.read().expect("store lock");
        Ok(map.range(from.to_vec()..to.to_vec()).take(limit).map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn last(&self, from: &[u8], to: &[u8]) -> Result<Option<Entry>> {
        let map = self.map.read().expect("store lock");
        Ok(map.range(from.to_vec()..to.to_vec()).next_back().map(|(k, v)| (k.clone(), v.clone())))
    }

    fn apply(&self, batch: WriteBatch) -> Result<()> {
        let mut map = self.map.write().expect("store lock");
        for (k, v) in batch.ops {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
