//! The key store: subject keys by subject, the record of erased subjects, whom each key was given
//! to, and the key that seals read-model snapshots; kept in a journal file wrapped by the node key
//! (`journal.rs`): a change appends and syncs, an erased key's record is overwritten with zeros in
//! place, so an erased key's bytes are in no file of the data directory afterwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use samenspel_eventlog::{NodeId, NodeKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::{self, Journal, Record, Span};
use crate::seal::{Sealed, decrypt, encrypt, encrypt_synthetic, random};

/// The first layout: the whole store as one sealed JSON document. Read, and rewritten as a journal.
const MAGIC_V1: &[u8; 8] = b"SSKEYS1\n";
const WRAP_CONTEXT: &str = "samenspel 2026-12 key store wrapping key v1";
const SHARE_CONTEXT: &str = "samenspel 2026-12 subject key sharing v1";

/// A data subject, as the node that took its data in knows it: subject ids are chosen per node,
/// so the key is that node's (the origin of the events that seal under it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubjectRef {
    pub origin: NodeId,
    pub subject: String,
}

impl SubjectRef {
    pub fn new(origin: NodeId, subject: impl Into<String>) -> Self {
        Self { origin, subject: subject.into() }
    }

    fn id(&self) -> String {
        format!("{}/{}", self.origin.to_hex(), self.subject)
    }

    fn aad(&self, what: &[u8]) -> Vec<u8> {
        let mut aad = what.to_vec();
        aad.extend_from_slice(&self.origin.0);
        aad.extend_from_slice(self.subject.as_bytes());
        aad
    }
}

/// A subject's key as it travels to another node: sealed under the secret the two nodes share.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedKey {
    pub subject: SubjectRef,
    pub nonce: [u8; 24],
    pub data: Vec<u8>,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKey").field("subject", &self.subject.subject).finish_non_exhaustive()
    }
}

/// When a subject was erased on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub at_micros: i64,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    /// Hex of the key.
    key: String,
    /// The nodes it was given to (hex ids).
    #[serde(default)]
    shared_with: BTreeSet<String>,
}

/// What the store holds (and, serialised whole, the first layout's file).
#[derive(Serialize, Deserialize, Default)]
struct Contents {
    subjects: BTreeMap<String, Entry>,
    erased: BTreeMap<String, Erasure>,
    /// Hex of the key that seals read-model snapshots; a new one after every erasure.
    snapshot_key: String,
    snapshot_generation: u64,
    /// Per origin (hex), the position of the latest erasure event: a snapshot that has not applied
    /// it may still hold the erased subject's data, so it is neither sealed nor opened.
    #[serde(default)]
    snapshot_floor: BTreeMap<String, u64>,
}

/// Where an erasure is in the log: its event's origin and position.
pub type ErasedAt = Option<(NodeId, u64)>;

impl Contents {
    /// Whether a snapshot at `positions` has applied every erasure of the origins it follows.
    fn past_floor(&self, positions: &[(NodeId, u64)]) -> bool {
        positions.iter().all(|(o, p)| self.snapshot_floor.get(&o.to_hex()).is_none_or(|floor| p >= floor))
    }
}

/// The contents and, for a store on disk, its journal and where in it each key is.
struct State {
    contents: Contents,
    journal: Option<Journal>,
    /// The frame of each held key's record, overwritten when the key is destroyed.
    key_at: HashMap<String, Span>,
    /// The frame of the current snapshot key's record.
    snapshot_at: Option<Span>,
}

impl std::ops::Deref for State {
    type Target = Contents;
    fn deref(&self) -> &Contents {
        &self.contents
    }
}

impl State {
    fn new(contents: Contents) -> Self {
        Self { contents, journal: None, key_at: HashMap::new(), snapshot_at: None }
    }

    /// Takes a record into the contents (a change being made, or one read back from the
    /// journal); returns the frame it supersedes.
    fn apply(&mut self, record: Record, span: Option<Span>) -> Option<Span> {
        let wipe = record.wipes();
        let c = &mut self.contents;
        match record {
            Record::Key { id, key, shared_with } => {
                if let Some(span) = span {
                    self.key_at.insert(id.clone(), span);
                }
                c.subjects.insert(id, Entry { key, shared_with });
            }
            Record::Shared { id, peer } => {
                if let Some(entry) = c.subjects.get_mut(&id) {
                    entry.shared_with.insert(peer);
                }
            }
            Record::Erased { id, at_micros, .. } => {
                c.subjects.remove(&id);
                self.key_at.remove(&id);
                c.erased.insert(id, Erasure { at_micros });
            }
            Record::Snapshot { key, generation, floor, .. } => {
                (c.snapshot_key, c.snapshot_generation, c.snapshot_floor) = (key, generation, floor);
                self.snapshot_at = span;
            }
        }
        wipe
    }

    /// Makes a change: its records appended to the journal and synced, then taken into the
    /// contents (a failed write changes nothing), then the frames they supersede overwritten.
    fn commit(&mut self, records: Vec<Record>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let spans = match &mut self.journal {
            Some(journal) => journal.append(&records)?.into_iter().map(Some).collect(),
            None => vec![None; records.len()],
        };
        let wipe: Vec<Span> = records.into_iter().zip(spans).filter_map(|(r, span)| self.apply(r, span)).collect();
        let Some(journal) = &mut self.journal else { return Ok(()) };
        if !wipe.is_empty()
            && let Err(e) = journal.wipe(&wipe)
        {
            // The change is durable and in effect; the overwriting is done again when the store
            // is next opened (its records name the frames), so the change is not reported failed.
            tracing::error!(error = %e, "key store: superseded keys not yet overwritten, done at the next start");
        }
        if journal.wants_rewrite()
            && let Err(e) = self.rewrite()
        {
            // The journal as it is still holds everything; the rewrite is tried again later.
            tracing::error!(error = %e, "key store: not rewritten, its dead records kept for now");
        }
        Ok(())
    }

    /// The records that make up the contents: the snapshot key, every key held, every erasure.
    fn records(&self) -> Vec<Record> {
        let c = &self.contents;
        let mut records = Vec::with_capacity(1 + c.subjects.len() + c.erased.len());
        records.push(Record::Snapshot {
            key: c.snapshot_key.clone(),
            generation: c.snapshot_generation,
            floor: c.snapshot_floor.clone(),
            wipe: None,
        });
        records.extend(c.subjects.iter().map(|(id, e)| Record::Key {
            id: id.clone(),
            key: e.key.clone(),
            shared_with: e.shared_with.clone(),
        }));
        records.extend(c.erased.iter().map(|(id, e)| Record::Erased {
            id: id.clone(),
            at_micros: e.at_micros,
            wipe: None,
        }));
        records
    }

    /// Writes the journal anew at `path` with only what counts.
    fn write_whole(&mut self, path: &Path, wrap: [u8; 32], node: NodeId) -> Result<()> {
        let records = self.records();
        let (journal, spans) = Journal::rewrite(path, wrap, node, &records)?;
        self.key_at.clear();
        for (record, span) in records.into_iter().zip(spans) {
            match record {
                Record::Key { id, .. } => {
                    self.key_at.insert(id, span);
                }
                Record::Snapshot { .. } => self.snapshot_at = Some(span),
                _ => {}
            }
        }
        self.journal = Some(journal);
        Ok(())
    }

    fn rewrite(&mut self) -> Result<()> {
        let Some(journal) = &self.journal else { return Ok(()) };
        let (path, wrap, node) = (journal.path().to_path_buf(), journal.wrap(), journal.node());
        let before = journal.len();
        self.write_whole(&path, wrap, node)?;
        tracing::info!(before, after = self.journal.as_ref().map_or(0, Journal::len), "key store rewritten");
        Ok(())
    }

    /// The records of erasing `ids` (each held or not; each once) with a new snapshot key, so
    /// snapshots written before hold nothing readable.
    fn erasing(&self, ids: Vec<String>, at_micros: i64, position: ErasedAt) -> Result<Vec<Record>> {
        let mut records: Vec<Record> =
            ids.into_iter().map(|id| Record::Erased { wipe: self.key_at.get(&id).copied(), id, at_micros }).collect();
        let mut floor = self.contents.snapshot_floor.clone();
        if let Some((origin, seq)) = position {
            let at = floor.entry(origin.to_hex()).or_default();
            *at = (*at).max(seq);
        }
        records.push(Record::Snapshot {
            key: hex::encode(random::<32>()?),
            generation: self.contents.snapshot_generation + 1,
            floor,
            wipe: self.snapshot_at,
        });
        Ok(records)
    }
}

/// The node's key store.
pub struct KeyStore {
    /// `None`: kept in memory only (a node on the memory store).
    path: Option<PathBuf>,
    node: NodeKey,
    state: Mutex<State>,
    /// Keys decoded, for the hot path; filled under the `state` lock and emptied of a key
    /// under it too, so an erased key is never cached again.
    cache: std::sync::RwLock<HashMap<SubjectRef, [u8; 32]>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok().map(|()| out)
}

/// The origins `contents` holds a key of subject `name` of.
fn holders(contents: &Contents, name: &str) -> Vec<NodeId> {
    let suffix = format!("/{name}");
    contents
        .subjects
        .keys()
        .filter_map(|id| id.strip_suffix(&suffix).filter(|o| !o.contains('/')))
        .filter_map(NodeId::from_hex)
        .collect()
}

fn fresh_contents() -> Result<Contents> {
    Ok(Contents { snapshot_key: hex::encode(random::<32>()?), ..Contents::default() })
}

impl KeyStore {
    /// Opens the key store at `path`, or makes an empty one there; a store of the first layout is
    /// rewritten as a journal. Blocks on file I/O. Only the node opens it so: it mends and writes.
    pub fn open(path: &Path, node: &NodeKey) -> Result<Self> {
        Self::open_as(path, node, true)
    }

    /// The key store at `path` as its file holds it now, for reading while the node runs (a
    /// test, a tool): nothing is written to the file, not even mended, and changes made to the
    /// store are kept in memory only.
    pub fn read_only(path: &Path, node: &NodeKey) -> Result<Self> {
        Self::open_as(path, node, false)
    }

    fn open_as(path: &Path, node: &NodeKey, writing: bool) -> Result<Self> {
        let wrap = node.derive(WRAP_CONTEXT);
        let unreadable = |why: &str| Error::Unreadable { path: path.display().to_string(), why: why.into() };
        let state = match std::fs::read(path) {
            Ok(bytes) if bytes.starts_with(journal::MAGIC) => {
                let replayed = Journal::replay(path, &bytes, wrap, node.node_id())?;
                let mut state = State::new(Contents::default());
                if writing {
                    state.journal = Some(Journal::mend(path, &replayed, wrap, node.node_id())?);
                }
                for (record, span) in replayed.records {
                    state.apply(record, Some(span));
                }
                if state.journal.as_ref().is_some_and(Journal::wants_rewrite) {
                    state.rewrite()?;
                }
                state
            }
            Ok(_) if !writing => return Err(unreadable("not a journal (the node rewrites it when it starts)")),
            Ok(bytes) => {
                let body = bytes.strip_prefix(MAGIC_V1).ok_or_else(|| unreadable("not a key store"))?;
                if body.len() < 24 {
                    return Err(unreadable("truncated"));
                }
                let nonce: [u8; 24] = body[..24].try_into().expect("24 bytes");
                let plain = decrypt(&wrap, &nonce, &wrap_aad(node.node_id()), &body[24..])
                    .ok_or_else(|| unreadable("not this node's, or damaged"))?;
                let contents = serde_json::from_slice(&plain).map_err(|_| unreadable("damaged contents"))?;
                let mut state = State::new(contents);
                state.write_whole(path, wrap, node.node_id())?;
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !writing => return Err(e.into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut state = State::new(fresh_contents()?);
                state.write_whole(path, wrap, node.node_id())?;
                state
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            path: Some(path.to_path_buf()),
            node: node.clone(),
            state: Mutex::new(state),
            cache: Default::default(),
        })
    }

    /// A key store in memory only, for a node whose log is in memory too.
    pub fn memory(node: &NodeKey) -> Result<Self> {
        Ok(Self {
            path: None,
            node: node.clone(),
            state: Mutex::new(State::new(fresh_contents()?)),
            cache: Default::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("key store lock")
    }

    /// Makes a key for each subject that has none yet, durably, before anything is sealed under
    /// it (a payload must never outlive its key by a crash). Refuses an erased subject. Blocks on
    /// one append and sync when a key is new.
    pub fn ensure(&self, subjects: &[SubjectRef]) -> Result<()> {
        let mut state = self.lock();
        let mut new = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in subjects {
            let id = s.id();
            if state.erased.contains_key(&id) {
                return Err(Error::Erased { subject: s.subject.clone() });
            }
            if !state.subjects.contains_key(&id) && seen.insert(id.clone()) {
                new.push(Record::Key { id, key: hex::encode(random::<32>()?), shared_with: BTreeSet::new() });
            }
        }
        state.commit(new)
    }
    fn key(&self, subject: &SubjectRef) -> Option<[u8; 32]> {
        if let Some(key) = self.cache.read().expect("key cache lock").get(subject) {
            return Some(*key);
        }
        let contents = self.lock();
        let key = contents.subjects.get(&subject.id()).and_then(|e| unhex32(&e.key))?;
        self.cache.write().expect("key cache lock").insert(subject.clone(), key);
        Some(key)
    }

    /// Drops a key from the cache; called with the `contents` lock held.
    fn uncache(&self, subject: &SubjectRef) {
        self.cache.write().expect("key cache lock").remove(subject);
    }

    /// Seals `plaintext` under the subject's key (made by [`KeyStore::ensure`]), bound to `aad`.
    pub fn seal(&self, subject: &SubjectRef, aad: &[u8], plaintext: &[u8]) -> Result<Sealed> {
        let (short, data) = self.seal_bytes(subject, aad, plaintext)?;
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(&short);
        Ok(Sealed {
            sealed_for: subject.subject.clone(),
            at: Vec::new(),
            nonce: hex::encode(nonce),
            data: hex::encode(data),
        })
    }

    /// As [`KeyStore::seal`], as bytes: the first 16 bytes of the synthetic nonce (its last 8 are
    /// zero, so they need not be stored) and the ciphertext with its tag.
    pub fn seal_bytes(&self, subject: &SubjectRef, aad: &[u8], plaintext: &[u8]) -> Result<([u8; 16], Vec<u8>)> {
        let key = self.key(subject).ok_or_else(|| match self.is_erased(subject) {
            true => Error::Erased { subject: subject.subject.clone() },
            false => Error::UnknownSubject { subject: subject.subject.clone() },
        })?;
        let (nonce, data) = encrypt_synthetic(&key, &subject.aad(aad), plaintext);
        Ok((nonce[..16].try_into().expect("16 of 24 bytes"), data))
    }

    /// What `sealed` holds; `None` when this node has no key for the subject (erased, or never
    /// given it) or the ciphertext is not the one sealed for `aad`.
    pub fn unseal(&self, origin: NodeId, aad: &[u8], sealed: &Sealed) -> Option<Vec<u8>> {
        let mut nonce = [0u8; 24];
        hex::decode_to_slice(&sealed.nonce, &mut nonce).ok()?;
        let subject = SubjectRef::new(origin, sealed.sealed_for.clone());
        decrypt(&self.key(&subject)?, &nonce, &subject.aad(aad), &hex::decode(&sealed.data).ok()?)
    }

    /// As [`KeyStore::unseal`], from what [`KeyStore::seal_bytes`] gave.
    pub fn unseal_bytes(&self, subject: &SubjectRef, aad: &[u8], nonce: &[u8; 16], data: &[u8]) -> Option<Vec<u8>> {
        let mut full = [0u8; 24];
        full[..16].copy_from_slice(nonce);
        decrypt(&self.key(subject)?, &full, &subject.aad(aad), data)
    }

    pub fn has_key(&self, subject: &SubjectRef) -> bool {
        // The cache first: every append with personal data asks, and a cached key is a held one.
        self.cache.read().expect("key cache lock").contains_key(subject)
            || self.lock().subjects.contains_key(&subject.id())
    }

    pub fn is_erased(&self, subject: &SubjectRef) -> bool {
        self.lock().erased.contains_key(&subject.id())
    }

    /// When the subject was erased here.
    pub fn erasure(&self, subject: &SubjectRef) -> Option<Erasure> {
        self.lock().erased.get(&subject.id()).copied()
    }

    /// The subjects of `origin` this store holds a key of.
    pub fn subjects_of(&self, origin: NodeId) -> Vec<String> {
        let prefix = format!("{}/", origin.to_hex());
        let contents = self.lock();
        contents.subjects.keys().filter_map(|id| id.strip_prefix(&prefix)).map(str::to_string).collect()
    }

    /// The nodes the subject's key was given to.
    pub fn shared_with(&self, subject: &SubjectRef) -> Vec<NodeId> {
        let contents = self.lock();
        let Some(entry) = contents.subjects.get(&subject.id()) else { return Vec::new() };
        entry.shared_with.iter().filter_map(|h| NodeId::from_hex(h)).collect()
    }

    /// Destroys the subject's key and records that it was erased; the snapshot key is replaced
    /// too, so snapshots written before hold nothing readable. Refuses a subject without a key,
    /// and one erased before. Returns the nodes the key had been given to. Blocks on two syncs
    /// (the erasure, then the key's record overwritten).
    pub fn erase(&self, subject: &SubjectRef, at_micros: i64, position: ErasedAt) -> Result<(Erasure, Vec<NodeId>)> {
        let mut state = self.lock();
        let id = subject.id();
        if state.erased.contains_key(&id) {
            return Err(Error::Erased { subject: subject.subject.clone() });
        }
        let entry =
            state.subjects.get(&id).ok_or_else(|| Error::UnknownSubject { subject: subject.subject.clone() })?;
        let shared = entry.shared_with.iter().filter_map(|h| NodeId::from_hex(h)).collect();
        let records = state.erasing(vec![id], at_micros, position)?;
        // Out of the cache before the change, while the lock is held: no read uses it after.
        self.uncache(subject);
        state.commit(records)?;
        Ok((Erasure { at_micros }, shared))
    }

    /// Destroys this node's copy of a key another node erased (or records the erasure if the key
    /// never came). `false` when it was erased here before. Blocks on two syncs.
    pub fn forget(&self, subject: &SubjectRef, at_micros: i64, position: ErasedAt) -> Result<bool> {
        self.forget_all(std::slice::from_ref(subject), &[], at_micros, position)
    }

    /// The origins this store holds a key of subject `name` of (its own, and copies from peers).
    pub fn holders_of(&self, name: &str) -> Vec<NodeId> {
        holders(&self.lock(), name)
    }

    /// [`KeyStore::forget`] for several keys at once: each of `subjects`, and every key of a
    /// subject in `named` whatever its origin — one snapshot-key rotation and one append for them
    /// all. `false` when the first of `subjects` was erased here before.
    pub fn forget_all(
        &self,
        subjects: &[SubjectRef],
        named: &[String],
        at_micros: i64,
        position: ErasedAt,
    ) -> Result<bool> {
        let mut state = self.lock();
        let mut all: Vec<SubjectRef> = subjects.to_vec();
        for name in named {
            all.extend(holders(&state, name).into_iter().map(|origin| SubjectRef::new(origin, name.clone())));
        }
        let first = subjects.first().is_some_and(|s| !state.erased.contains_key(&s.id()));
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for subject in &all {
            let id = subject.id();
            if !state.erased.contains_key(&id) && seen.insert(id.clone()) {
                ids.push(id);
            }
        }
        if !ids.is_empty() {
            let records = state.erasing(ids, at_micros, position)?;
            for subject in &all {
                self.uncache(subject);
            }
            state.commit(records)?;
        }
        Ok(first)
    }

    /// The keys of `subjects` sealed for `peer`, which is recorded as holding them (so an erasure
    /// reaches it); a subject this node holds no key of is left out. Blocks on one append and sync
    /// when a key goes to the peer for the first time.
    pub fn share(&self, subjects: &[SubjectRef], peer: NodeId) -> Result<Vec<SharedKey>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let Some(secret) = self.node.agree(peer, SHARE_CONTEXT) else { return Ok(Vec::new()) };
        let mut state = self.lock();
        let (mut out, mut new) = (Vec::with_capacity(subjects.len()), Vec::new());
        let peer_hex = peer.to_hex();
        for subject in subjects {
            let id = subject.id();
            let Some(entry) = state.subjects.get(&id) else { continue };
            let Some(key) = unhex32(&entry.key) else { continue };
            if !entry.shared_with.contains(&peer_hex)
                && !new.iter().any(|r| matches!(r, Record::Shared { id: i, .. } if *i == id))
            {
                new.push(Record::Shared { id, peer: peer_hex.clone() });
            }
            let (nonce, data) = encrypt(&secret, &share_aad(self.node.node_id(), peer, subject), &key)?;
            out.push(SharedKey { subject: subject.clone(), nonce, data });
        }
        // Recorded before the keys leave: an erasure must reach every node that got one.
        state.commit(new)?;
        Ok(out)
    }

    /// Takes the keys `from` sealed for this node; returns how many were new. A key that is not
    /// for this node, does not open, is of a subject erased here, or is held already is passed
    /// over. Blocks on one append and sync when any is new.
    pub fn accept(&self, from: NodeId, shared: &[SharedKey]) -> Result<usize> {
        if shared.is_empty() {
            return Ok(0);
        }
        let Some(secret) = self.node.agree(from, SHARE_CONTEXT) else { return Ok(0) };
        let mut state = self.lock();
        let mut new = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for k in shared {
            let aad = share_aad(from, self.node.node_id(), &k.subject);
            let Some(key) = decrypt(&secret, &k.nonce, &aad, &k.data) else { continue };
            let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else { continue };
            let id = k.subject.id();
            if state.erased.contains_key(&id) || state.subjects.contains_key(&id) || !seen.insert(id.clone()) {
                continue;
            }
            new.push(Record::Key { id, key: hex::encode(key), shared_with: BTreeSet::new() });
        }
        let taken = new.len();
        state.commit(new)?;
        Ok(taken)
    }

    /// Seals a read model's snapshot at `positions` under the current snapshot key; `None` when
    /// the snapshot has not applied an erasure yet (it is not written: a later one will be).
    pub fn seal_snapshot(&self, name: &str, positions: &[(NodeId, u64)], data: &[u8]) -> Result<Option<Vec<u8>>> {
        let state = self.lock();
        if !state.past_floor(positions) {
            return Ok(None);
        }
        let (generation, key) = (state.snapshot_generation, unhex32(&state.snapshot_key).unwrap_or([0; 32]));
        let (nonce, sealed) = encrypt(&key, &snapshot_aad(name, generation), data)?;
        let mut out = generation.to_be_bytes().to_vec();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(Some(out))
    }

    /// A snapshot sealed by [`KeyStore::seal_snapshot`]; `None` when its key was replaced (an
    /// erasure since: the read model is rebuilt from the log instead) or it is from before an
    /// erasure of an origin it follows.
    pub fn open_snapshot(&self, name: &str, positions: &[(NodeId, u64)], sealed: &[u8]) -> Option<Vec<u8>> {
        let state = self.lock();
        let (generation, key) = (state.snapshot_generation, unhex32(&state.snapshot_key)?);
        if !state.past_floor(positions) || sealed.len() < 32 || sealed[..8] != generation.to_be_bytes() {
            return None;
        }
        let nonce: [u8; 24] = sealed[8..32].try_into().expect("24 bytes");
        decrypt(&key, &nonce, &snapshot_aad(name, generation), &sealed[32..])
    }

    /// The bytes of every key this store holds, for tests that scan a data directory for them.
    pub fn key_bytes(&self, subject: &SubjectRef) -> Option<[u8; 32]> {
        self.key(subject)
    }
}

/// The associated data of the first layout's sealed document.
fn wrap_aad(node: NodeId) -> Vec<u8> {
    let mut aad = MAGIC_V1.to_vec();
    aad.extend_from_slice(&node.0);
    aad
}

fn share_aad(from: NodeId, to: NodeId, subject: &SubjectRef) -> Vec<u8> {
    let mut aad = from.0.to_vec();
    aad.extend_from_slice(&to.0);
    aad.extend_from_slice(&subject.aad(b"shared key"));
    aad
}

fn snapshot_aad(name: &str, generation: u64) -> Vec<u8> {
    let mut aad = b"snapshot".to_vec();
    aad.extend_from_slice(&generation.to_be_bytes());
    aad.extend_from_slice(name.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn an_erased_key_is_in_no_file_and_its_data_does_not_open() {
        let (dir, node, path, store) = fresh();
        let client = SubjectRef::new(node.node_id(), "c-1");
        assert!(matches!(store.seal(&client, b"at", b"x"), Err(Error::UnknownSubject { .. })));
        store.ensure(std::slice::from_ref(&client)).unwrap();
        let sealed = store.seal(&client, b"at", b"Jansen").unwrap();
        let key = store.key_bytes(&client).unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert!(!contains(&on_disk, &key) && !contains(&on_disk, hex::encode(key).as_bytes()), "wrapped");

        // It survives a reopen, and opens only where it was sealed.
        let store = KeyStore::open(&path, &node).unwrap();
        assert_eq!(store.unseal(node.node_id(), b"at", &sealed).as_deref(), Some(&b"Jansen"[..]));
        assert_eq!(store.unseal(node.node_id(), b"elsewhere", &sealed), None);
        assert!(KeyStore::open(&path, &NodeKey::from_seed([6; 32])).is_err(), "another node's key does not unwrap it");

        store.erase(&client, 7, None).unwrap();
        assert_eq!(store.unseal(node.node_id(), b"at", &sealed), None);
        assert!(matches!(store.erase(&client, 8, None), Err(Error::Erased { .. })), "erasing twice");
        assert!(
            matches!(store.ensure(std::slice::from_ref(&client)), Err(Error::Erased { .. })),
            "no new key for an erased subject"
        );
        let unknown = SubjectRef::new(node.node_id(), "nobody");
        assert!(matches!(store.erase(&unknown, 8, None), Err(Error::UnknownSubject { .. })));
        let store = KeyStore::open(&path, &node).unwrap();
        assert_eq!(store.unseal(node.node_id(), b"at", &sealed), None, "erased after a reopen too");
        assert_eq!(store.erasure(&client), Some(Erasure { at_micros: 7 }));
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!contains(&bytes, &key) && !contains(&bytes, hex::encode(key).as_bytes()));
        }
    }

    /// A new key store in a directory of its own.
    fn fresh() -> (tempfile::TempDir, NodeKey, PathBuf, KeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeKey::from_seed([5; 32]);
        let path = dir.path().join("subject-keys");
        let store = KeyStore::open(&path, &node).unwrap();
        (dir, node, path, store)
    }

    /// The key's frame in the file as it is now: the bytes an erasure must overwrite.
    fn key_frame(store: &KeyStore, subject: &SubjectRef, file: &[u8]) -> Vec<u8> {
        let span = store.lock().key_at[&subject.id()];
        file[span.at as usize..(span.at + u64::from(span.len)) as usize].to_vec()
    }

    #[test]
    fn a_new_key_is_appended_and_an_erased_one_overwritten_in_place() {
        let (_dir, node, path, store) = fresh();
        let many: Vec<SubjectRef> = (0..500).map(|i| SubjectRef::new(node.node_id(), format!("c-{i}"))).collect();
        store.ensure(&many).unwrap();
        let before = std::fs::read(&path).unwrap();
        let new = SubjectRef::new(node.node_id(), "c-new");
        store.ensure(std::slice::from_ref(&new)).unwrap();
        let after = std::fs::read(&path).unwrap();
        assert!(after.starts_with(&before), "what was there is left as it was");
        assert!(after.len() - before.len() < 300, "one record more: {} bytes", after.len() - before.len());

        // Erasing overwrites the key's frame where it is (the file's other bytes stay), and the
        // frame as it was (a wrapped key the node key would open) is nowhere in the file.
        let victim = &many[250];
        let frame = key_frame(&store, victim, &after);
        let neighbours = [key_frame(&store, &many[249], &after), key_frame(&store, &many[251], &after)];
        store.erase(victim, 1, None).unwrap();
        let erased = std::fs::read(&path).unwrap();
        assert!(!contains(&erased, &frame[4..]), "the erased key's record is overwritten");
        assert_eq!([key_frame(&store, &many[249], &erased), key_frame(&store, &many[251], &erased)], neighbours);
        assert!(erased.len() - after.len() < 600, "the erasure appended: {} bytes", erased.len() - after.len());
        let store = KeyStore::open(&path, &node).unwrap();
        assert!(store.is_erased(victim) && !store.has_key(victim));
        assert!(store.has_key(&many[249]) && store.has_key(&many[251]) && store.has_key(&new));
    }

    #[test]
    fn an_unfinished_write_at_the_end_is_cut_off_and_what_was_acknowledged_kept() {
        let (_dir, node, path, store) = fresh();
        let (a, b) = (SubjectRef::new(node.node_id(), "a"), SubjectRef::new(node.node_id(), "b"));
        store.ensure(std::slice::from_ref(&a)).unwrap();
        let key_a = store.key_bytes(&a).unwrap();
        let acknowledged = std::fs::metadata(&path).unwrap().len();
        store.ensure(std::slice::from_ref(&b)).unwrap();
        drop(store);
        // The crash tore the last write: part of b's record reached the disk.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(acknowledged + 30).unwrap();
        let torn = std::fs::read(&path).unwrap();
        let looking = KeyStore::read_only(&path, &node).unwrap();
        assert!(looking.has_key(&a) && !looking.has_key(&b));
        assert_eq!(std::fs::read(&path).unwrap(), torn, "read only: the torn end is left to the node");
        let store = KeyStore::open(&path, &node).unwrap();
        assert_eq!(store.key_bytes(&a), Some(key_a));
        assert!(!store.has_key(&b), "b was never acknowledged");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), acknowledged, "the torn bytes are cut off");
        // A write after it lands where the torn one was, and reads back.
        store.ensure(std::slice::from_ref(&b)).unwrap();
        let key_b = store.key_bytes(&b).unwrap();
        drop(store);
        // Garbage at the end (a write whose length reached the disk and its body did not).
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&60u32.to_le_bytes());
        bytes.extend_from_slice(&[0x5a; 60]);
        std::fs::write(&path, &bytes).unwrap();
        let store = KeyStore::open(&path, &node).unwrap();
        assert_eq!((store.key_bytes(&a), store.key_bytes(&b)), (Some(key_a), Some(key_b)));
    }

    #[test]
    fn a_damaged_record_in_the_middle_is_refused_not_skipped() {
        let (_dir, node, path, store) = fresh();
        let (a, b) = (SubjectRef::new(node.node_id(), "a"), SubjectRef::new(node.node_id(), "b"));
        store.ensure(std::slice::from_ref(&a)).unwrap();
        store.ensure(std::slice::from_ref(&b)).unwrap();
        let span = store.lock().key_at[&a.id()];
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[span.at as usize + 40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = KeyStore::open(&path, &node).unwrap_err();
        assert!(matches!(err, Error::Unreadable { .. }) && err.to_string().contains("damaged"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "a store refused is left as it is");
        // Nor does another node's key cut anything off it.
        assert!(KeyStore::open(&path, &NodeKey::from_seed([6; 32])).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn an_erasure_the_crash_left_unfinished_is_finished_when_the_store_opens() {
        let (_dir, node, path, store) = fresh();
        let client = SubjectRef::new(node.node_id(), "c-1");
        store.ensure(std::slice::from_ref(&client)).unwrap();
        let before = std::fs::read(&path).unwrap();
        let frame = key_frame(&store, &client, &before);
        let span = store.lock().key_at[&client.id()];
        let snapshot = store.seal_snapshot("intake", &[], b"state").unwrap().unwrap();
        store.erase(&client, 1, None).unwrap();
        drop(store);
        // The crash came after the erasure was synced and before the key's record was overwritten.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[span.at as usize..span.at as usize + frame.len()].copy_from_slice(&frame);
        std::fs::write(&path, &bytes).unwrap();
        let store = KeyStore::open(&path, &node).unwrap();
        assert!(store.is_erased(&client) && !store.has_key(&client));
        assert_eq!(store.open_snapshot("intake", &[], &snapshot), None, "the old snapshot key is gone too");
        assert!(!contains(&std::fs::read(&path).unwrap(), &frame[4..]), "overwritten at open");
    }

    #[test]
    fn a_key_store_of_the_first_layout_is_read_and_kept_as_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeKey::from_seed([5; 32]);
        let path = dir.path().join("subject-keys");
        let key = random::<32>().unwrap();
        let mut contents = fresh_contents().unwrap();
        let id = SubjectRef::new(node.node_id(), "c-1");
        contents.subjects.insert(id.id(), Entry { key: hex::encode(key), shared_with: BTreeSet::new() });
        contents.erased.insert(SubjectRef::new(node.node_id(), "c-0").id(), Erasure { at_micros: 3 });
        let plain = serde_json::to_vec(&contents).unwrap();
        let (nonce, sealed) = encrypt(&node.derive(WRAP_CONTEXT), &wrap_aad(node.node_id()), &plain).unwrap();
        std::fs::write(&path, [MAGIC_V1.as_slice(), &nonce, &sealed].concat()).unwrap();

        let store = KeyStore::open(&path, &node).unwrap();
        assert_eq!(store.key_bytes(&id), Some(key));
        assert_eq!(store.erasure(&SubjectRef::new(node.node_id(), "c-0")), Some(Erasure { at_micros: 3 }));
        assert!(std::fs::read(&path).unwrap().starts_with(journal::MAGIC), "rewritten as a journal");
        drop(store);
        assert_eq!(KeyStore::open(&path, &node).unwrap().key_bytes(&id), Some(key));
    }

    #[test]
    fn the_journal_is_rewritten_when_half_of_it_is_dead() {
        let (_dir, node, path, store) = fresh();
        store.lock().journal.as_mut().unwrap().compact_min = 1024;
        let all: Vec<SubjectRef> = (0..40).map(|i| SubjectRef::new(node.node_id(), format!("c-{i}"))).collect();
        store.ensure(&all).unwrap();
        let keys: Vec<[u8; 32]> = all.iter().map(|s| store.key_bytes(s).unwrap()).collect();
        let (mut len, mut shrank) = (std::fs::metadata(&path).unwrap().len(), 0);
        for s in &all[..30] {
            store.erase(s, 1, None).unwrap();
            let now = std::fs::metadata(&path).unwrap().len();
            shrank += usize::from(now < len);
            len = now;
        }
        assert!(shrank > 0, "rewritten at least once");
        let dead = store.lock().journal.as_ref().unwrap().dead;
        assert!(dead * 2 <= len, "{dead} dead bytes of {len}");
        drop(store);
        let store = KeyStore::open(&path, &node).unwrap();
        for (s, key) in all.iter().zip(&keys).skip(30) {
            assert_eq!(store.key_bytes(s), Some(*key));
        }
        assert!(all[..30].iter().all(|s| store.is_erased(s)));
    }

    #[test]
    fn a_key_shared_with_a_peer_opens_there_only_and_is_remembered_for_erasure() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]), NodeKey::from_seed([3; 32]));
        let owner = KeyStore::open(&dir.path().join("a"), &a).unwrap();
        let partner = KeyStore::open(&dir.path().join("b"), &b).unwrap();
        let other = KeyStore::open(&dir.path().join("c"), &c).unwrap();
        let client = SubjectRef::new(a.node_id(), "c-1");
        owner.ensure(std::slice::from_ref(&client)).unwrap();
        let sealed = owner.seal(&client, b"at", b"06-12345678").unwrap();
        let nobody = SubjectRef::new(a.node_id(), "nobody");
        let shared = owner.share(&[client.clone(), nobody], b.node_id()).unwrap();
        assert_eq!(shared.len(), 1, "no key, nothing shared");
        assert_eq!(other.accept(a.node_id(), &shared).unwrap(), 0, "sealed for b, not c");
        assert_eq!(partner.accept(c.node_id(), &shared).unwrap(), 0, "from a, not c");
        assert_eq!(partner.accept(a.node_id(), &shared).unwrap(), 1);
        assert_eq!(partner.accept(a.node_id(), &shared).unwrap(), 0, "held already");
        assert_eq!(partner.unseal(a.node_id(), b"at", &sealed).as_deref(), Some(&b"06-12345678"[..]));
        assert_eq!(owner.shared_with(&client), vec![b.node_id()]);
        let (_, told) = owner.erase(&client, 1, None).unwrap();
        assert_eq!(told, vec![b.node_id()]);
        assert!(partner.forget(&client, 2, None).unwrap());
        assert_eq!(partner.unseal(a.node_id(), b"at", &sealed), None);
        assert_eq!(partner.accept(a.node_id(), &shared).unwrap(), 0, "an erased subject's key is not taken again");
    }

    #[test]
    fn snapshots_sealed_before_an_erasure_no_longer_open() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeKey::from_seed([5; 32]);
        let store = KeyStore::open(&dir.path().join("k"), &node).unwrap();
        let at = |seq| vec![(node.node_id(), seq)];
        let sealed = store.seal_snapshot("intake", &at(5), b"state").unwrap().unwrap();
        assert_eq!(store.open_snapshot("intake", &at(5), &sealed).as_deref(), Some(&b"state"[..]));
        assert_eq!(store.open_snapshot("matching", &at(5), &sealed), None);
        let client = SubjectRef::new(node.node_id(), "c-1");
        store.ensure(std::slice::from_ref(&client)).unwrap();
        store.erase(&client, 1, Some((node.node_id(), 9))).unwrap();
        assert_eq!(store.open_snapshot("intake", &at(5), &sealed), None, "its key is gone");
        // A read model that has not applied the erasure yet writes no snapshot (it may still hold
        // the subject), and one that has, does.
        assert_eq!(store.seal_snapshot("intake", &at(8), b"not purged yet").unwrap(), None);
        let later = store.seal_snapshot("intake", &at(9), b"purged").unwrap().unwrap();
        assert_eq!(store.open_snapshot("intake", &at(9), &later).as_deref(), Some(&b"purged"[..]));
        let other = NodeKey::from_seed([6; 32]).node_id();
        assert!(store.seal_snapshot("matching", &[(other, 1)], b"another origin").unwrap().is_some());
    }
}
