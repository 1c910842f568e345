//! The key store's file: an append-only journal of records, each sealed under the wrapping key and
//! bound to its offset. A change appends its records and syncs once (a new key costs one short
//! write, whatever the store holds); a record that held key material is overwritten with zeros in
//! place once an erasure or a new snapshot key supersedes it; the file is rewritten whole only when
//! more than half of it is dead.
//!
//! Frame: `u32` length of the body (little endian) ‖ body; body = 24-byte nonce ‖ XChaCha20-Poly1305
//! of the record's JSON, its associated data the file's magic, the node id and the frame's offset.
//! An overwritten frame keeps its length and has a body of zeros.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use samenspel_eventlog::{NodeId, write_private_file};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::seal::{decrypt, encrypt};

pub(crate) const MAGIC: &[u8; 8] = b"SSKEYS2\n";
/// Below this many dead bytes the journal is never rewritten.
const COMPACT_MIN_BYTES: u64 = 1 << 20;
/// The nonce and the tag: a body shorter than this is no frame.
const BODY_MIN: usize = 24 + 16;

/// Where a frame is: the offset of its length prefix and its whole length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Span {
    pub at: u64,
    pub len: u32,
}

/// One change to the key store, as the journal holds it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "snake_case")]
pub(crate) enum Record {
    /// A subject's key (hex), made here or taken from a peer.
    Key {
        id: String,
        key: String,
        #[serde(default)]
        shared_with: BTreeSet<String>,
    },
    /// The subject's key was given to `peer`.
    Shared { id: String, peer: String },
    /// The subject was erased; `wipe` is the frame of its key, overwritten once this is durable.
    Erased {
        id: String,
        at_micros: i64,
        #[serde(default)]
        wipe: Option<Span>,
    },
    /// The key that seals read-model snapshots; `wipe` is the frame of the one it replaces.
    Snapshot {
        key: String,
        generation: u64,
        #[serde(default)]
        floor: BTreeMap<String, u64>,
        #[serde(default)]
        wipe: Option<Span>,
    },
}

impl Record {
    /// The frame this record supersedes, to be overwritten.
    pub(crate) fn wipes(&self) -> Option<Span> {
        match self {
            Record::Erased { wipe, .. } | Record::Snapshot { wipe, .. } => *wipe,
            _ => None,
        }
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        match self {
            Record::Key { id, .. } => write!(f, "Key({id})"),
            Record::Shared { id, peer } => write!(f, "Shared({id}, {peer})"),
            Record::Erased { id, .. } => write!(f, "Erased({id})"),
            Record::Snapshot { generation, .. } => write!(f, "Snapshot({generation})"),
        }
    }
}

/// The journal file, open for appending and overwriting.
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    wrap: [u8; 32],
    node: NodeId,
    len: u64,
    /// Bytes in frames that no longer count (overwritten, superseded).
    pub(crate) dead: u64,
    pub(crate) compact_min: u64,
}

/// What a journal file holds, read without writing anything.
pub(crate) struct Replayed {
    /// The records that count, in order, with their frames.
    pub records: Vec<(Record, Span)>,
    /// Where an unfinished write at the end begins, to be cut off.
    cut: Option<u64>,
    /// Frames superseded but not yet overwritten (a crash came between).
    rewipe: Vec<Span>,
    dead: u64,
    len: u64,
}

fn aad(node: NodeId, at: u64) -> Vec<u8> {
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(&node.0);
    aad.extend_from_slice(&at.to_be_bytes());
    aad
}

/// The frames of `records` as they are written from offset `start`.
fn frames(wrap: &[u8; 32], node: NodeId, start: u64, records: &[Record]) -> Result<(Vec<u8>, Vec<Span>)> {
    let (mut bytes, mut spans) = (Vec::new(), Vec::with_capacity(records.len()));
    for record in records {
        let at = start + bytes.len() as u64;
        let json = serde_json::to_vec(record).expect("a key store record serialises");
        let (nonce, sealed) = encrypt(wrap, &aad(node, at), &json)?;
        let body = u32::try_from(nonce.len() + sealed.len()).expect("a record far under 4 GiB");
        bytes.extend_from_slice(&body.to_le_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        spans.push(Span { at, len: 4 + body });
    }
    Ok((bytes, spans))
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().read(true).write(true).open(path)
}

impl Journal {
    /// Writes `records` as a new journal at `path` (a temporary file synced and renamed over the
    /// old one, the directory synced), and opens it.
    pub(crate) fn rewrite(path: &Path, wrap: [u8; 32], node: NodeId, records: &[Record]) -> Result<(Self, Vec<Span>)> {
        let (body, spans) = frames(&wrap, node, MAGIC.len() as u64, records)?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&body);
        write_private_file(path, &bytes)?;
        let journal = Self {
            path: path.to_path_buf(),
            file: open_rw(path)?,
            wrap,
            node,
            len: bytes.len() as u64,
            dead: 0,
            compact_min: COMPACT_MIN_BYTES,
        };
        Ok((journal, spans))
    }

    /// Reads the journal in `bytes` (the file at `path`, magic included), writing nothing. An
    /// unfinished write at its end (a crash before the sync that would have acknowledged it) is
    /// left out; a frame in the middle that does not open is damage, and refused.
    pub(crate) fn replay(path: &Path, bytes: &[u8], wrap: [u8; 32], node: NodeId) -> Result<Replayed> {
        let damaged = |why: &str| Error::Unreadable { path: path.display().to_string(), why: why.to_string() };
        // Every frame: its span, and its record if it opens (`None`: zeros, or it does not open).
        let mut found: Vec<(Span, Option<Record>, bool)> = Vec::new();
        let mut at = MAGIC.len();
        let mut cut = None;
        while at < bytes.len() {
            let Some(len) = bytes.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            else {
                cut = Some(at);
                break;
            };
            let Some(body) = bytes.get(at + 4..at + 4 + len).filter(|_| len >= BODY_MIN) else {
                cut = Some(at);
                break;
            };
            let span = Span { at: at as u64, len: (4 + len) as u32 };
            let zeros = body.iter().all(|b| *b == 0);
            let nonce: [u8; 24] = body[..24].try_into().expect("24 bytes");
            let record = (!zeros)
                .then(|| decrypt(&wrap, &nonce, &aad(node, at as u64), &body[24..]))
                .flatten()
                .and_then(|json| serde_json::from_slice::<Record>(&json).ok());
            found.push((span, record, zeros));
            at += 4 + len;
        }
        // A journal begins with a snapshot key: when nothing in it opens, it is another node's
        // (or damaged through and through), and it is left as it is.
        if !found.iter().any(|(_, r, _)| matches!(r, Some(Record::Snapshot { .. }))) {
            return Err(damaged("not this node's, or damaged"));
        }
        let wiped: HashSet<Span> = found.iter().filter_map(|(_, r, _)| r.as_ref().and_then(Record::wipes)).collect();
        let last_open = found.iter().rposition(|(_, r, _)| r.is_some());
        let mut records = Vec::with_capacity(found.len());
        let mut rewipe = Vec::new();
        let mut dead = 0u64;
        for (i, (span, record, zeros)) in found.into_iter().enumerate() {
            if wiped.contains(&span) {
                // Superseded: its erasure or its successor is durable; overwritten if it is not yet.
                dead += u64::from(span.len);
                if !zeros {
                    rewipe.push(span);
                }
                continue;
            }
            match record {
                Some(record) => records.push((record, span)),
                // A hole the crash left inside the last write: it was never acknowledged.
                None if zeros => dead += u64::from(span.len),
                None if last_open.is_none_or(|last| i > last) => {
                    cut = Some(cut.map_or(span.at as usize, |c: usize| c.min(span.at as usize)));
                    break;
                }
                None => return Err(damaged("damaged (a record in it does not open with this node's key)")),
            }
        }
        Ok(Replayed { records, cut: cut.map(|c| c as u64), rewipe, dead, len: bytes.len() as u64 })
    }

    /// Opens the journal `replay` read, for writing: the unfinished write at its end cut off, the
    /// frames an erasure had not yet overwritten overwritten now.
    pub(crate) fn mend(path: &Path, replayed: &Replayed, wrap: [u8; 32], node: NodeId) -> Result<Self> {
        let mut journal = Self {
            path: path.to_path_buf(),
            file: open_rw(path)?,
            wrap,
            node,
            len: replayed.len,
            dead: replayed.dead,
            compact_min: COMPACT_MIN_BYTES,
        };
        if let Some(cut) = replayed.cut {
            tracing::warn!(bytes = replayed.len - cut, "key store: an unfinished write at its end cut off");
            journal.file.set_len(cut)?;
            journal.file.sync_data()?;
            journal.len = cut;
        }
        if !replayed.rewipe.is_empty() {
            journal.overwrite(&replayed.rewipe)?;
        }
        Ok(journal)
    }

    /// Appends `records` and syncs: durable when this returns. Nothing is kept of a failed append.
    pub(crate) fn append(&mut self, records: &[Record]) -> Result<Vec<Span>> {
        let (bytes, spans) = frames(&self.wrap, self.node, self.len, records)?;
        let written = self.file.write_all_at(&bytes, self.len).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ = self.file.set_len(self.len);
            return Err(e.into());
        }
        self.len += bytes.len() as u64;
        Ok(spans)
    }

    /// Overwrites the bodies of `spans` with zeros and syncs.
    pub(crate) fn wipe(&mut self, spans: &[Span]) -> Result<()> {
        self.overwrite(spans)?;
        self.dead += spans.iter().map(|s| u64::from(s.len)).sum::<u64>();
        Ok(())
    }

    fn overwrite(&mut self, spans: &[Span]) -> Result<()> {
        for span in spans {
            let zeros = vec![0u8; span.len as usize - 4];
            self.file.write_all_at(&zeros, span.at + 4)?;
        }
        self.file.sync_data()?;
        Ok(())
    }

    /// Whether enough of the file is dead to rewrite it.
    pub(crate) fn wants_rewrite(&self) -> bool {
        self.dead >= self.compact_min && self.dead * 2 > self.len
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn wrap(&self) -> [u8; 32] {
        self.wrap
    }

    pub(crate) fn node(&self) -> NodeId {
        self.node
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}
