//! The key store: subject keys by subject, the record of erased subjects, whom each key was given
//! to, and the key that seals read-model snapshots; one file, wrapped by the node key, rewritten
//! whole (to a temporary file, synced, renamed over the old one, directory synced) on each change.
//! An erased key's bytes are in no file of the data directory afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use samenspel_eventlog::{NodeId, NodeKey, write_private_file};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::seal::{Sealed, decrypt, encrypt, encrypt_synthetic, random};

const MAGIC: &[u8; 8] = b"SSKEYS1\n";
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
    fn rotate(&mut self, position: ErasedAt) -> Result<()> {
        self.snapshot_key = hex::encode(random::<32>()?);
        self.snapshot_generation += 1;
        if let Some((origin, seq)) = position {
            let floor = self.snapshot_floor.entry(origin.to_hex()).or_default();
            *floor = (*floor).max(seq);
        }
        Ok(())
    }

    /// Whether a snapshot at `positions` has applied every erasure of the origins it follows.
    fn past_floor(&self, positions: &[(NodeId, u64)]) -> bool {
        positions.iter().all(|(o, p)| self.snapshot_floor.get(&o.to_hex()).is_none_or(|floor| p >= floor))
    }
}

/// The node's key store.
pub struct KeyStore {
    /// `None`: kept in memory only (a node on the memory store).
    path: Option<PathBuf>,
    node: NodeKey,
    wrap: [u8; 32],
    contents: Mutex<Contents>,
    /// Keys decoded, for the hot path; filled under the `contents` lock and emptied of a key
    /// under it too, so an erased key is never cached again.
    cache: std::sync::RwLock<std::collections::HashMap<SubjectRef, [u8; 32]>>,
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

impl KeyStore {
    /// Opens the key store at `path`, or makes an empty one there. Blocks on file I/O.
    pub fn open(path: &Path, node: &NodeKey) -> Result<Self> {
        let wrap = node.derive(WRAP_CONTEXT);
        let unreadable = |why: &str| Error::Unreadable { path: path.display().to_string(), why: why.into() };
        let store = match std::fs::read(path) {
            Ok(bytes) => {
                let body = bytes.strip_prefix(MAGIC).ok_or_else(|| unreadable("not a key store"))?;
                if body.len() < 24 {
                    return Err(unreadable("truncated"));
                }
                let nonce: [u8; 24] = body[..24].try_into().expect("24 bytes");
                let plain = decrypt(&wrap, &nonce, &wrap_aad(node.node_id()), &body[24..])
                    .ok_or_else(|| unreadable("not this node's, or damaged"))?;
                let contents = serde_json::from_slice(&plain).map_err(|_| unreadable("damaged contents"))?;
                Self {
                    path: Some(path.to_path_buf()),
                    node: node.clone(),
                    wrap,
                    contents: Mutex::new(contents),
                    cache: Default::default(),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let contents = Contents { snapshot_key: hex::encode(random::<32>()?), ..Contents::default() };
                let store = Self {
                    path: Some(path.to_path_buf()),
                    node: node.clone(),
                    wrap,
                    contents: Mutex::new(contents),
                    cache: Default::default(),
                };
                store.persist(&store.lock())?;
                store
            }
            Err(e) => return Err(e.into()),
        };
        Ok(store)
    }

    /// A key store in memory only, for a node whose log is in memory too.
    pub fn memory(node: &NodeKey) -> Result<Self> {
        let contents = Contents { snapshot_key: hex::encode(random::<32>()?), ..Contents::default() };
        Ok(Self {
            path: None,
            node: node.clone(),
            wrap: node.derive(WRAP_CONTEXT),
            contents: Mutex::new(contents),
            cache: Default::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Contents> {
        self.contents.lock().expect("key store lock")
    }

    fn persist(&self, contents: &Contents) -> Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let plain = serde_json::to_vec(contents).expect("key store contents serialise");
        let (nonce, sealed) = encrypt(&self.wrap, &wrap_aad(self.node.node_id()), &plain)?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + 24 + sealed.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        write_private_file(path, &bytes)?;
        Ok(())
    }

    /// Makes a key for each subject that has none yet, durably, before anything is sealed under
    /// it (a payload must never outlive its key by a crash). Refuses an erased subject. Blocks on
    /// one file rewrite when a key is new.
    pub fn ensure(&self, subjects: &[SubjectRef]) -> Result<()> {
        let mut contents = self.lock();
        let mut added = false;
        for s in subjects {
            let id = s.id();
            if contents.erased.contains_key(&id) {
                return Err(Error::Erased { subject: s.subject.clone() });
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = contents.subjects.entry(id) {
                slot.insert(Entry { key: hex::encode(random::<32>()?), shared_with: BTreeSet::new() });
                added = true;
            }
        }
        if added {
            self.persist(&contents)?;
        }
        Ok(())
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
    /// and one erased before. Returns the nodes the key had been given to. Blocks on one file
    /// rewrite.
    pub fn erase(&self, subject: &SubjectRef, at_micros: i64, position: ErasedAt) -> Result<(Erasure, Vec<NodeId>)> {
        let mut contents = self.lock();
        let id = subject.id();
        if contents.erased.contains_key(&id) {
            return Err(Error::Erased { subject: subject.subject.clone() });
        }
        let entry =
            contents.subjects.remove(&id).ok_or_else(|| Error::UnknownSubject { subject: subject.subject.clone() })?;
        self.uncache(subject);
        let shared = entry.shared_with.iter().filter_map(|h| NodeId::from_hex(h)).collect();
        let erasure = Erasure { at_micros };
        contents.erased.insert(id, erasure);
        contents.rotate(position)?;
        self.persist(&contents)?;
        Ok((erasure, shared))
    }

    /// Destroys this node's copy of a key another node erased (or records the erasure if the key
    /// never came). `false` when it was erased here before. Blocks on one file rewrite.
    pub fn forget(&self, subject: &SubjectRef, at_micros: i64, position: ErasedAt) -> Result<bool> {
        let mut contents = self.lock();
        let id = subject.id();
        if contents.erased.contains_key(&id) {
            return Ok(false);
        }
        contents.subjects.remove(&id);
        self.uncache(subject);
        contents.erased.insert(id, Erasure { at_micros });
        contents.rotate(position)?;
        self.persist(&contents)?;
        Ok(true)
    }

    /// The origins this store holds a key of subject `name` of (its own, and copies from peers).
    pub fn holders_of(&self, name: &str) -> Vec<NodeId> {
        holders(&self.lock(), name)
    }

    /// [`KeyStore::forget`] for several keys at once: each of `subjects`, and every key of a
    /// subject in `named` whatever its origin — one snapshot-key rotation and one file rewrite
    /// for them all. `false` when the first of `subjects` was erased here before.
    pub fn forget_all(
        &self,
        subjects: &[SubjectRef],
        named: &[String],
        at_micros: i64,
        position: ErasedAt,
    ) -> Result<bool> {
        let mut contents = self.lock();
        let mut all: Vec<SubjectRef> = subjects.to_vec();
        for name in named {
            all.extend(holders(&contents, name).into_iter().map(|origin| SubjectRef::new(origin, name.clone())));
        }
        let first = subjects.first().is_some_and(|s| !contents.erased.contains_key(&s.id()));
        let mut changed = false;
        for subject in &all {
            let id = subject.id();
            if contents.erased.contains_key(&id) {
                continue;
            }
            contents.subjects.remove(&id);
            self.uncache(subject);
            contents.erased.insert(id, Erasure { at_micros });
            changed = true;
        }
        if changed {
            contents.rotate(position)?;
            self.persist(&contents)?;
        }
        Ok(first)
    }

    /// The keys of `subjects` sealed for `peer`, which is recorded as holding them (so an erasure
    /// reaches it); a subject this node holds no key of is left out. Blocks on one file rewrite
    /// when a key goes to the peer for the first time.
    pub fn share(&self, subjects: &[SubjectRef], peer: NodeId) -> Result<Vec<SharedKey>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let Some(secret) = self.node.agree(peer, SHARE_CONTEXT) else { return Ok(Vec::new()) };
        let mut contents = self.lock();
        let (mut out, mut new) = (Vec::with_capacity(subjects.len()), false);
        for subject in subjects {
            let Some(entry) = contents.subjects.get_mut(&subject.id()) else { continue };
            let Some(key) = unhex32(&entry.key) else { continue };
            new |= entry.shared_with.insert(peer.to_hex());
            let (nonce, data) = encrypt(&secret, &share_aad(self.node.node_id(), peer, subject), &key)?;
            out.push(SharedKey { subject: subject.clone(), nonce, data });
        }
        if new {
            self.persist(&contents)?;
        }
        Ok(out)
    }

    /// Takes the keys `from` sealed for this node; returns how many were new. A key that is not
    /// for this node, does not open, is of a subject erased here, or is held already is passed
    /// over. Blocks on one file rewrite when any is new.
    pub fn accept(&self, from: NodeId, shared: &[SharedKey]) -> Result<usize> {
        if shared.is_empty() {
            return Ok(0);
        }
        let Some(secret) = self.node.agree(from, SHARE_CONTEXT) else { return Ok(0) };
        let mut contents = self.lock();
        let mut taken = 0;
        for k in shared {
            let aad = share_aad(from, self.node.node_id(), &k.subject);
            let Some(key) = decrypt(&secret, &k.nonce, &aad, &k.data) else { continue };
            let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) else { continue };
            let id = k.subject.id();
            if contents.erased.contains_key(&id) || contents.subjects.contains_key(&id) {
                continue;
            }
            contents.subjects.insert(id, Entry { key: hex::encode(key), shared_with: BTreeSet::new() });
            taken += 1;
        }
        if taken > 0 {
            self.persist(&contents)?;
        }
        Ok(taken)
    }

    /// Seals a read model's snapshot at `positions` under the current snapshot key; `None` when
    /// the snapshot has not applied an erasure yet (it is not written: a later one will be).
    pub fn seal_snapshot(&self, name: &str, positions: &[(NodeId, u64)], data: &[u8]) -> Result<Option<Vec<u8>>> {
        let contents = self.lock();
        if !contents.past_floor(positions) {
            return Ok(None);
        }
        let (generation, key) = (contents.snapshot_generation, unhex32(&contents.snapshot_key).unwrap_or([0; 32]));
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
        let contents = self.lock();
        let (generation, key) = (contents.snapshot_generation, unhex32(&contents.snapshot_key)?);
        if !contents.past_floor(positions) || sealed.len() < 32 || sealed[..8] != generation.to_be_bytes() {
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

fn wrap_aad(node: NodeId) -> Vec<u8> {
    let mut aad = MAGIC.to_vec();
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
        let dir = tempfile::tempdir().unwrap();
        let node = NodeKey::from_seed([5; 32]);
        let path = dir.path().join("subject-keys");
        let store = KeyStore::open(&path, &node).unwrap();
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
