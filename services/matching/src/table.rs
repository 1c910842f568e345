//! A table of entries by id in which each id also has a small integer handle, so the hot path of
//! matching (every candidate of every request) looks entries up by position instead of comparing
//! strings. Saved in snapshots as a map from id to entry, the shape a `BTreeMap` has.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone)]
pub(crate) struct Table<T> {
    ids: Vec<String>,
    entries: Vec<Option<T>>,
    handle_of: HashMap<String, u32>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self { ids: Vec::new(), entries: Vec::new(), handle_of: HashMap::new() }
    }
}

impl<T> Table<T> {
    /// The handle of `id`, given out now if `id` had none; an id keeps its handle for the life of
    /// the table, also before it has an entry (an offer may name an organisation not yet seen).
    pub(crate) fn handle(&mut self, id: &str) -> u32 {
        if let Some(h) = self.handle_of.get(id) {
            return *h;
        }
        let h = u32::try_from(self.ids.len()).expect("fewer than 2^32 entries");
        self.ids.push(id.to_string());
        self.entries.push(None);
        self.handle_of.insert(id.to_string(), h);
        h
    }

    pub(crate) fn find(&self, id: &str) -> Option<u32> {
        self.handle_of.get(id).copied()
    }

    pub(crate) fn at(&self, handle: u32) -> Option<&T> {
        self.entries.get(handle as usize)?.as_ref()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.at(self.find(id)?)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        let h = self.find(id)?;
        self.entries[h as usize].as_mut()
    }

    /// Stores `entry` under `id`; returns its handle and the entry it replaced.
    pub(crate) fn insert(&mut self, id: &str, entry: T) -> (u32, Option<T>) {
        let h = self.handle(id);
        (h, self.entries[h as usize].replace(entry))
    }

    /// Entries with their handles, in the order their ids were first seen.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.entries.iter().enumerate().filter_map(|(h, e)| Some((h as u32, e.as_ref()?)))
    }
}

impl<T: Serialize> Serialize for Table<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sorted: BTreeMap<&str, &T> =
            self.ids.iter().zip(&self.entries).filter_map(|(id, e)| Some((id.as_str(), e.as_ref()?))).collect();
        sorted.serialize(s)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, T>::deserialize(d)?;
        let mut table = Table::default();
        for (id, entry) in map {
            table.insert(&id, entry);
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_stay_and_the_saved_shape_is_a_map() {
        let mut t: Table<u32> = Table::default();
        let b = t.handle("b");
        assert_eq!(t.insert("a", 1), (1, None));
        assert_eq!(t.insert("b", 2), (b, None));
        assert_eq!(t.insert("b", 3), (b, Some(2)));
        t.handle("c");
        assert_eq!((t.get("b"), t.get("c"), t.at(1)), (Some(&3), None, Some(&1)));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"a":1,"b":3}"#);
        let back: Table<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![1, 3]);
        let old: BTreeMap<String, u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&old).unwrap(), json, "snapshots keep their shape");
    }
}
