//! The key store of a samenspel node (BRIEF rule 7, crypto-shredding).
//!
//! Personal data in payloads is sealed under its data subject's own key before the payload is
//! hashed and stored. The keys live here, in a journal file of their own outside the sled log, each
//! record wrapped by a key derived from the node key: a change is an append and a sync, and an
//! erased key's record is overwritten with zeros where it was. Destroying a subject's key
//! erases every copy of its data at once — in the log's store, its window of recent events, read
//! model snapshots, replicas and backups — while every header, hash and signature stays.

mod error;
mod journal;
mod seal;
mod store;

pub use error::{Error, Result};
pub use seal::{SEALED_SUBJECT_KEY, Sealed};
pub use store::{Erasure, KeyStore, SharedKey, SubjectRef};
