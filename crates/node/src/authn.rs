//! Who is calling: a bearer credential the node issued (`authorization: Bearer samenspel_…`,
//! checked against the hash in `credentials.json`, which is read again when it changes), or a TLS
//! client certificate on the client port, known by its fingerprint or subject (as UZI server
//! certificates and PKIoverheid certificates identify Dutch care organisations), or a JWT of an
//! organisation's own identity provider (`tokens`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use samenspel_domain::Clock;
use samenspel_kit::Role;
use tokio::sync::watch;

use crate::config::ApiClientConfig;
use crate::credentials::{Credential, CredentialFile, hash_of, id_of_secret};
use crate::error::{Error, Result};
use crate::tokens::{IdentityProviderConfig, Providers};

/// How often the credentials file is looked at, at most: a revocation holds within this.
const LOOK_AGAIN: Duration = Duration::from_millis(250);

/// An authenticated caller: its credential id, organisation and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub credential: String,
    pub organisation: Option<String>,
    pub role: Role,
    /// The user a token names (a bearer credential or certificate leaves it to the `user`
    /// metadata of the call).
    pub user: Option<String>,
    /// When the credential stops being valid, if it says so itself (a token's `exp`).
    pub expires_micros: Option<i64>,
}

/// Why a call is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credential at all.
    Missing,
    /// A credential that is not one of this node's, or not valid any more.
    Invalid(&'static str),
}

/// What tells that the credentials file changed: it is replaced whole (a rename), so its inode
/// changes with every change; its modification time and length besides.
type Stamp = (SystemTime, u64, u64);

fn stamp_of(m: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0;
    (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), inode)
}

#[derive(Debug, Default)]
struct Loaded {
    by_id: HashMap<String, Credential>,
    /// The file's stamp when read.
    stamp: Option<Stamp>,
    looked: Option<Instant>,
}

/// A configured certificate caller.
#[derive(Debug, Clone)]
struct CertCaller {
    /// `sha256` of the certificate's DER, lowercase hex; empty to match by subject.
    fingerprint: String,
    /// The subject distinguished name as x509 prints it (`CN=…, O=…, C=NL`); empty to match by
    /// fingerprint.
    subject: String,
    organisation: Option<String>,
    role: Role,
}

/// The node's view of who may call it.
pub struct Authenticator {
    file: CredentialFile,
    loaded: RwLock<Loaded>,
    clock: Arc<dyn Clock>,
    certs: Vec<CertCaller>,
    providers: Providers,
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("file", &self.file.path()).field("certs", &self.certs.len()).finish()
    }
}

impl Authenticator {
    /// The authenticator of a node with `file`, the configured certificate callers and identity
    /// providers.
    pub fn new(
        file: CredentialFile,
        clients: &[ApiClientConfig],
        providers: &[IdentityProviderConfig],
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let providers = Providers::new(providers)?;
        let mut certs = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            let role: Role = c.role.parse().map_err(|e| Error::Config(format!("api.clients[{i}].role: {e}")))?;
            let fingerprint = c.fingerprint.trim().trim_start_matches("sha256:").replace(':', "").to_ascii_lowercase();
            if fingerprint.is_empty() == c.subject.trim().is_empty() {
                return Err(Error::Config(format!("api.clients[{i}]: give a fingerprint or a subject")));
            }
            if !fingerprint.is_empty()
                && (fingerprint.len() != 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(Error::Config(format!(
                    "api.clients[{i}].fingerprint: the sha256 of the certificate, 64 hex digits"
                )));
            }
            let organisation = Some(c.organisation.trim().to_string()).filter(|o| !o.is_empty());
            if role.needs_organisation() && !organisation.as_deref().is_some_and(samenspel_kit::is_id) {
                return Err(Error::Config(format!("api.clients[{i}].organisation: a directory id, for a {role}")));
            }
            certs.push(CertCaller { fingerprint, subject: c.subject.trim().to_string(), organisation, role });
        }
        let auth = Self {
            file,
            loaded: RwLock::new(Loaded::default()),
            clock,
            certs,
            providers,
            changes: watch::channel(0).0,
        };
        auth.look_again(true)?;
        Ok(auth)
    }

    /// Whether any credential was ever issued here, or a certificate caller or identity provider
    /// configured.
    pub fn has_any(&self) -> bool {
        !self.certs.is_empty()
            || !self.providers.is_empty()
            || !self.loaded.read().expect("credentials lock").by_id.is_empty()
    }

    /// Changes whenever the credentials change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Reads the credentials file again when it changed (looked at at most every 250 ms, unless
    /// `now`).
    pub fn look_again(&self, now: bool) -> Result<()> {
        {
            let loaded = self.loaded.read().expect("credentials lock");
            if !now && loaded.looked.is_some_and(|t| t.elapsed() < LOOK_AGAIN) {
                return Ok(());
            }
        }
        let stamp = std::fs::metadata(self.file.path()).ok().map(|m| stamp_of(&m));
        let mut loaded = self.loaded.write().expect("credentials lock");
        loaded.looked = Some(Instant::now());
        if loaded.stamp == stamp {
            return Ok(());
        }
        let all = self.file.load()?;
        loaded.by_id = all.into_iter().map(|c| (c.id.clone(), c)).collect();
        loaded.stamp = stamp;
        drop(loaded);
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Looks at the credentials file every 250 ms until `stopping`, so that a revocation reaches
    /// the open streams of its credential (they end) without waiting for a call.
    pub fn watch_file(self: &Arc<Self>, mut stopping: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let auth = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(LOOK_AGAIN) => {}
                    _ = stopping.wait_for(|s| *s) => return,
                }
                let Some(auth) = auth.upgrade() else { return };
                if let Err(e) = auth.look_again(false) {
                    tracing::warn!(error = %e, "credentials cannot be read");
                }
            }
        })
    }

    /// Whether credential `id` is valid now (a certificate caller always is, while configured; a
    /// token until its own expiry, which the session checks).
    pub fn valid(&self, id: &str) -> bool {
        if id.starts_with("cert:") || id.starts_with("jwt:") {
            return true;
        }
        let _ = self.look_again(false);
        let now = self.clock.now_micros();
        self.loaded.read().expect("credentials lock").by_id.get(id).is_some_and(|c| c.valid_at(now))
    }

    /// The caller of a bearer secret: a credential issued here, or a provider's token.
    pub fn bearer(&self, secret: &str) -> std::result::Result<Identity, Refusal> {
        let Some(id) = id_of_secret(secret) else {
            if crate::tokens::looks_like_token(secret) {
                return self.token(secret);
            }
            return Err(Refusal::Invalid("not a credential of a samenspel node"));
        };
        if let Err(e) = self.look_again(false) {
            tracing::error!(error = %e, "credentials cannot be read");
        }
        // One issued a moment ago: the file is looked at again now (a stat; read only when it
        // changed), so a new credential works at once.
        if !self.loaded.read().expect("credentials lock").by_id.contains_key(id)
            && let Err(e) = self.look_again(true)
        {
            tracing::error!(error = %e, "credentials cannot be read");
        }
        let loaded = self.loaded.read().expect("credentials lock");
        let Some(c) = loaded.by_id.get(id) else { return Err(Refusal::Invalid("unknown credential")) };
        // Compared as blake3 hashes: equal length, and an unknown secret learns nothing from timing.
        let presented = blake3::Hash::from_hex(hash_of(secret)).map_err(|_| Refusal::Invalid("malformed"))?;
        let stored = blake3::Hash::from_hex(&c.hash).map_err(|_| Refusal::Invalid("malformed credential"))?;
        if presented != stored {
            return Err(Refusal::Invalid("unknown credential"));
        }
        if c.revoked_micros.is_some() {
            return Err(Refusal::Invalid("the credential was revoked"));
        }
        if !c.valid_at(self.clock.now_micros()) {
            return Err(Refusal::Invalid("the credential expired"));
        }
        Ok(Identity {
            credential: c.id.clone(),
            organisation: c.organisation.clone(),
            role: c.role,
            user: None,
            expires_micros: None,
        })
    }

    /// The caller a provider's token signs in.
    fn token(&self, token: &str) -> std::result::Result<Identity, Refusal> {
        let signed = self.providers.verify(token, self.clock.now_micros()).map_err(Refusal::Invalid)?;
        Ok(Identity {
            credential: signed.credential,
            organisation: Some(signed.organisation),
            role: signed.role,
            user: Some(signed.user),
            expires_micros: Some(signed.expires_micros),
        })
    }

    /// The node's clock, in µs since the epoch.
    pub fn now_micros(&self) -> i64 {
        self.clock.now_micros()
    }

    /// The caller of a verified TLS client certificate (DER), when it is a configured one.
    pub fn certificate(&self, der: &[u8]) -> std::result::Result<Identity, Refusal> {
        let fingerprint = hex::encode(ring::digest::digest(&ring::digest::SHA256, der));
        let subject = x509_parser::parse_x509_certificate(der).ok().map(|(_, cert)| cert.subject().to_string());
        let found = self.certs.iter().find(|c| {
            (!c.fingerprint.is_empty() && c.fingerprint == fingerprint)
                || (!c.subject.is_empty() && subject.as_deref() == Some(c.subject.as_str()))
        });
        match found {
            Some(c) => Ok(Identity {
                credential: format!("cert:{}", &fingerprint[..16]),
                organisation: c.organisation.clone(),
                role: c.role,
                user: None,
                expires_micros: None,
            }),
            None => Err(Refusal::Invalid("a client certificate no caller is configured for")),
        }
    }
}
