//! The credentials a node issues to the people and systems that call it: each one an id, the
//! organisation it acts for, a role, when it expires, and — never the secret — the blake3 hash of
//! its secret. They live in `credentials.json` in the node's data directory, rewritten whole
//! (a temporary file, synced, renamed over the old one, the directory synced) under a lock, so
//! `samenspel credentials` works while the node runs; the node picks changes up within a second.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use samenspel_kit::Role;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file in the data directory.
pub const FILE: &str = "credentials.json";
/// What a secret starts with, so it is recognised (and a scanner for leaked secrets can find it).
pub const PREFIX: &str = "samenspel";

/// One credential, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// `c` and 16 hex digits; part of the secret, so a presented secret is looked up by it.
    pub id: String,
    /// The organisation (a directory id) it acts for; none for the admin and the auditor.
    pub organisation: Option<String>,
    pub role: Role,
    /// What it is for, as its issuer wrote it.
    #[serde(default)]
    pub label: String,
    pub created_micros: i64,
    pub expires_micros: Option<i64>,
    pub revoked_micros: Option<i64>,
    /// blake3 of the whole secret, hex.
    pub hash: String,
}

impl Credential {
    /// Valid at `now`: not revoked, not expired.
    pub fn valid_at(&self, now: i64) -> bool {
        self.revoked_micros.is_none() && self.expires_micros.is_none_or(|e| now < e)
    }
}

/// The credentials file of a data directory.
#[derive(Debug, Clone)]
pub struct CredentialFile {
    path: PathBuf,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Config(format!("{}: {e}", path.display()))
}

/// The id a secret names: `samenspel_{id}_{64 hex}`.
pub fn id_of_secret(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix(PREFIX)?.strip_prefix('_')?;
    let (id, key) = rest.split_once('_')?;
    let well_formed = id.len() == 17
        && id.starts_with('c')
        && id[1..].bytes().all(|b| b.is_ascii_hexdigit())
        && key.len() == 64
        && key.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(id)
}

/// The stored form of a secret.
pub fn hash_of(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

impl CredentialFile {
    pub fn in_dir(data_dir: &Path) -> Self {
        Self { path: data_dir.join(FILE) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every credential; none when the file does not exist yet.
    pub fn load(&self) -> Result<Vec<Credential>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("{}: not a credentials file: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(&self.path, e)),
        }
    }

    /// Issues a credential; returns it and its secret, which is shown once and stored nowhere.
    pub fn issue(
        &self,
        organisation: Option<String>,
        role: Role,
        label: &str,
        expires_micros: Option<i64>,
        now: i64,
    ) -> Result<(Credential, String)> {
        if role.needs_organisation() && organisation.is_none() {
            return Err(Error::Config(format!("a {role} credential acts for an organisation: give --organisation")));
        }
        if let Some(o) = &organisation
            && !samenspel_kit::is_id(o)
        {
            return Err(Error::Config("--organisation is a directory id: 32 lowercase hex digits".into()));
        }
        if expires_micros.is_some_and(|e| e <= now) {
            return Err(Error::Config("--expires lies in the past".into()));
        }
        let mut id_bytes = [0u8; 8];
        let mut key = [0u8; 32];
        getrandom::fill(&mut id_bytes).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        getrandom::fill(&mut key).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
        let id = format!("c{}", hex::encode(id_bytes));
        let secret = format!("{PREFIX}_{id}_{}", hex::encode(key));
        let credential = Credential {
            id,
            organisation,
            role,
            label: label.trim().to_string(),
            created_micros: now,
            expires_micros,
            revoked_micros: None,
            hash: hash_of(&secret),
        };
        self.change(|all| {
            all.push(credential.clone());
            Ok(())
        })?;
        Ok((credential, secret))
    }

    /// Revokes credential `id` (at once at the node: within a second).
    pub fn revoke(&self, id: &str, now: i64) -> Result<Credential> {
        let mut revoked = None;
        self.change(|all| {
            let c = all
                .iter_mut()
                .find(|c| c.id == id)
                .ok_or_else(|| Error::Config(format!("no credential {}", samenspel_kit::shown(id))))?;
            c.revoked_micros.get_or_insert(now);
            revoked = Some(c.clone());
            Ok(())
        })?;
        revoked.ok_or_else(|| Error::Config("no credential".into()))
    }

    /// Changes the file under an exclusive lock, rewriting it whole and durably.
    fn change(&self, f: impl FnOnce(&mut Vec<Credential>) -> Result<()>) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let lock_path = self.path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        lock.lock().map_err(|e| io(&lock_path, e))?;
        let mut all = self.load()?;
        f(&mut all)?;
        let temp = self.path.with_extension("json.new");
        let mut file = File::create(&temp).map_err(|e| io(&temp, e))?;
        let bytes = serde_json::to_vec_pretty(&all).expect("credentials serialise");
        file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| io(&temp, e))?;
        std::fs::rename(&temp, &self.path).map_err(|e| io(&self.path, e))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))?;
        drop(lock);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_shown_once_and_only_its_hash_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = CredentialFile::in_dir(dir.path());
        assert!(file.load().unwrap().is_empty());
        let (admin, secret) = file.issue(None, Role::Admin, "eerste beheerder", None, 1).unwrap();
        assert_eq!(id_of_secret(&secret), Some(admin.id.as_str()));
        let stored = std::fs::read_to_string(file.path()).unwrap();
        assert!(!stored.contains(&secret) && !stored.contains(&secret[27..]), "the secret is not stored");
        assert_eq!(admin.hash, hash_of(&secret));
        let org = "0123456789abcdef0123456789abcdef".to_string();
        let (worker, _) = file.issue(Some(org.clone()), Role::IntakeWorker, "", Some(100), 1).unwrap();
        assert!(file.issue(None, Role::Coordinator, "", None, 1).is_err(), "a coordinator acts for an organisation");
        assert!(file.issue(Some("wijkteam".into()), Role::Coordinator, "", None, 1).is_err());
        assert!(file.issue(Some(org), Role::Coordinator, "", Some(1), 5).is_err(), "expired at once");
        let revoked = file.revoke(&worker.id, 7).unwrap();
        assert_eq!(revoked.revoked_micros, Some(7));
        let all = file.load().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].valid_at(50) && !all[1].valid_at(50));
        assert!(file.revoke("c0000000000000000", 8).is_err());
        assert_eq!(id_of_secret("samenspel_cnothex_00"), None);
    }
}
