//! Callers signed in at their own organisation's identity provider (Keycloak, Entra ID, an
//! UZI-pas login): a JWT the provider signed, verified against the provider's key set (a JWKS
//! file the node reads again when it changes, so keys rotate without a restart). The provider
//! speaks for one organisation only, grants only the roles configured for it, and names the user.

use std::sync::RwLock;
use std::time::{Instant, SystemTime};

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use samenspel_kit::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// How long past `exp` (and before `nbf`) a token is still taken: clocks of two machines differ.
const LEEWAY_SECS: u64 = 60;

/// Longest token taken: a JWT of a few claims is well under this.
const MAX_TOKEN: usize = 16 * 1024;

/// Longest user a token may name (as the `user` metadata).
const MAX_USER: usize = 200;

/// An identity provider whose tokens the node takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// The provider's issuer, exactly as its tokens' `iss` spells it.
    pub issuer: String,
    /// What the tokens' `aud` must hold: this node, as the provider knows it.
    pub audience: String,
    /// JSON Web Key Set file of the provider's public keys (its `jwks_uri`, saved).
    pub jwks: String,
    /// The organisation whose staff sign in there (a directory id): the only one it speaks for.
    pub organisation: String,
    /// The claim holding the samenspel role (a string, or a list with one samenspel role in it);
    /// dots go into nested claims, as `realm_access.roles`.
    pub role_claim: String,
    /// The claim naming the user, recorded in the access log as the user of the call.
    pub user_claim: String,
    /// The roles its tokens may carry; empty: every role but `admin`.
    pub roles: Vec<String>,
}

impl IdentityProviderConfig {
    /// The role claim when none is configured.
    pub const DEFAULT_ROLE_CLAIM: &str = "samenspel_role";
    /// The user claim when none is configured.
    pub const DEFAULT_USER_CLAIM: &str = "sub";
}

/// A caller a token signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `jwt:` and 16 hex digits of the issuer's hash: the same for all of a provider's users.
    pub credential: String,
    pub organisation: String,
    pub role: Role,
    pub user: String,
    /// When the token expires (µs since the epoch): an open stream ends then.
    pub expires_micros: i64,
}

/// Why a token is not taken (said to the caller; never the token or its claims' values).
pub type Refused = &'static str;

/// The file's stamp when read: it is replaced whole when keys rotate.
type Stamp = (SystemTime, u64, u64);

#[derive(Debug)]
struct Provider {
    issuer: String,
    audience: String,
    jwks: std::path::PathBuf,
    organisation: String,
    role_claim: Vec<String>,
    user_claim: Vec<String>,
    roles: Vec<Role>,
    credential: String,
    keys: RwLock<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    set: Vec<Jwk>,
    stamp: Option<Stamp>,
    looked: Option<Instant>,
}

fn stamp_of(path: &std::path::Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), inode))
}

fn read_set(path: &std::path::Path) -> std::result::Result<Vec<Jwk>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let set: JwkSet =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a JSON Web Key Set: {e}", path.display()))?;
    // Shared secrets (`oct`) do not identify an organisation: anyone holding the file could sign.
    let keys: Vec<Jwk> =
        set.keys.into_iter().filter(|k| !matches!(k.algorithm, AlgorithmParameters::OctetKey(_))).collect();
    if keys.is_empty() {
        return Err(format!("{}: holds no public key (shared `oct` keys are not taken)", path.display()));
    }
    Ok(keys)
}

impl Provider {
    fn from_config(i: usize, c: &IdentityProviderConfig) -> Result<Self> {
        let field = |name: &str, why: &str| Error::Config(format!("api.identity_providers[{i}].{name}: {why}"));
        if c.issuer.trim().is_empty() {
            return Err(field("issuer", "the provider's issuer, as its tokens' `iss` spells it"));
        }
        if c.audience.trim().is_empty() {
            return Err(field("audience", "what the tokens' `aud` must hold for this node"));
        }
        if !samenspel_kit::is_id(c.organisation.trim()) {
            return Err(field("organisation", "the directory id of the organisation whose staff sign in there"));
        }
        let roles = if c.roles.is_empty() {
            Role::ALL.into_iter().filter(|r| *r != Role::Admin).collect()
        } else {
            c.roles
                .iter()
                .map(|r| r.parse::<Role>().map_err(|e| field("roles", &e.to_string())))
                .collect::<Result<Vec<_>>>()?
        };
        let claim = |value: &str, default: &str| {
            let value = if value.trim().is_empty() { default } else { value.trim() };
            value.split('.').map(str::to_string).collect::<Vec<_>>()
        };
        let jwks = std::path::PathBuf::from(c.jwks.trim());
        let set = read_set(&jwks).map_err(|e| field("jwks", &e))?;
        let issuer = c.issuer.trim().to_string();
        let credential = format!("jwt:{}", &blake3::hash(issuer.as_bytes()).to_hex()[..16]);
        Ok(Self {
            credential,
            issuer,
            audience: c.audience.trim().to_string(),
            keys: RwLock::new(Keys { set, stamp: stamp_of(&jwks), looked: Some(Instant::now()) }),
            jwks,
            organisation: c.organisation.trim().to_string(),
            role_claim: claim(&c.role_claim, IdentityProviderConfig::DEFAULT_ROLE_CLAIM),
            user_claim: claim(&c.user_claim, IdentityProviderConfig::DEFAULT_USER_CLAIM),
            roles,
        })
    }

    /// Reads the key set again when the file changed (looked at at most every 250 ms). A file
    /// that no longer reads keeps the keys last read, and says so in the log.
    fn look_again(&self) {
        {
            let keys = self.keys.read().expect("jwks lock");
            if keys.looked.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(250)) {
                return;
            }
        }
        let stamp = stamp_of(&self.jwks);
        let mut keys = self.keys.write().expect("jwks lock");
        keys.looked = Some(Instant::now());
        if keys.stamp == stamp {
            return;
        }
        match read_set(&self.jwks) {
            Ok(set) => {
                keys.set = set;
                keys.stamp = stamp;
            }
            Err(e) => {
                tracing::error!(error = %e, issuer = %self.issuer, "the identity provider's key set cannot be read; the keys read before stay")
            }
        }
    }

    /// The key that signed a token with `kid` and `alg`.
    fn key(&self, kid: Option<&str>, alg: Algorithm) -> std::result::Result<DecodingKey, Refused> {
        self.look_again();
        let keys = self.keys.read().expect("jwks lock");
        let fits = |k: &&Jwk| {
            let family = matches!(
                (&k.algorithm, alg),
                (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
                    | (AlgorithmParameters::RSA(_), Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512)
                    | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
                    | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
            );
            // A key that names its algorithm is used for that one only.
            let named = k.common.key_algorithm.is_none_or(|a| key_algorithm(a) == Some(alg));
            let signs = !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption));
            family && named && signs
        };
        let found: Vec<&Jwk> = match kid {
            Some(kid) => keys.set.iter().filter(|k| k.common.key_id.as_deref() == Some(kid)).filter(fits).collect(),
            None => keys.set.iter().filter(fits).collect(),
        };
        match found.as_slice() {
            [one] => DecodingKey::from_jwk(one).map_err(|_| "the token's key in its provider's key set is malformed"),
            [] => Err("the key that signed the token is not in its identity provider's key set"),
            _ => Err("the token names no key (`kid`) and its provider has several"),
        }
    }
}

fn key_algorithm(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// A claim at a dotted path.
fn claim<'a>(claims: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(claims, |v, key| v.get(key))
}

/// Whether `text` has the shape of a JWS compact token (three base64url parts).
pub fn looks_like_token(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The identity providers a node takes tokens of.
#[derive(Debug, Default)]
pub struct Providers {
    all: Vec<Provider>,
}

impl Providers {
    /// Every configured provider, its key set read; a bad entry is a config error naming it.
    pub fn new(configs: &[IdentityProviderConfig]) -> Result<Self> {
        let all = configs.iter().enumerate().map(|(i, c)| Provider::from_config(i, c)).collect::<Result<Vec<_>>>()?;
        for (i, p) in all.iter().enumerate() {
            if all[..i].iter().any(|q| q.issuer == p.issuer) {
                return Err(Error::Config(format!("api.identity_providers[{i}].issuer: configured twice")));
            }
        }
        Ok(Self { all })
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The caller `token` signs in, at `now_micros`.
    pub fn verify(&self, token: &str, now_micros: i64) -> std::result::Result<Signed, Refused> {
        if self.all.is_empty() {
            return Err("no identity provider is configured on this node; use a credential it issued");
        }
        if token.len() > MAX_TOKEN || !looks_like_token(token) {
            return Err("not a credential of a samenspel node, nor a JSON Web Token");
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| "a malformed token header")?;
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(
                "a token signed with a shared secret (HS*) is not taken; the provider signs with its private key",
            );
        }
        // The issuer picks the provider, and so the keys; the signature is checked with those.
        let unverified = token.split('.').nth(1).unwrap_or_default();
        let unverified: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(unverified)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("the token's claims are not JSON")?;
        let issuer = unverified.get("iss").and_then(Value::as_str).ok_or("the token names no issuer (`iss`)")?;
        let provider = self
            .all
            .iter()
            .find(|p| p.issuer == issuer)
            .ok_or("no identity provider is configured for the token's issuer")?;
        let key = provider.key(header.kid.as_deref(), header.alg)?;
        let mut validation = Validation::new(header.alg);
        // Time and audience are checked below against the node's clock, with reasons of our own.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|_| "the token's signature does not verify with its provider's key")?
            .claims;
        let now = u64::try_from(now_micros / 1_000_000).unwrap_or(0);
        let exp = claims.get("exp").and_then(Value::as_u64).ok_or("the token has no expiry (`exp`)")?;
        if now > exp.saturating_add(LEEWAY_SECS) {
            return Err("the token expired");
        }
        if claims.get("nbf").and_then(Value::as_u64).is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
            return Err("the token is not valid yet (`nbf`)");
        }
        let for_us = match claims.get("aud") {
            Some(Value::String(a)) => *a == provider.audience,
            Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(provider.audience.as_str())),
            _ => false,
        };
        if !for_us {
            return Err("the token is not for this node (its `aud` does not name it)");
        }
        let role = match claim(&claims, &provider.role_claim) {
            Some(Value::String(r)) => r.parse::<Role>().map_err(|_| "the token's role is no samenspel role")?,
            Some(Value::Array(all)) => {
                let named: Vec<Role> = all.iter().filter_map(|r| r.as_str()?.parse::<Role>().ok()).collect();
                match named.as_slice() {
                    [one] => *one,
                    [] => return Err("the token's roles hold no samenspel role"),
                    _ => return Err("the token names more than one samenspel role"),
                }
            }
            _ => return Err("the token names no samenspel role (its provider's `role_claim`)"),
        };
        if !provider.roles.contains(&role) {
            return Err("the token's role is not one its identity provider may grant on this node");
        }
        let user = match claim(&claims, &provider.user_claim) {
            Some(Value::String(u)) => u.trim().to_string(),
            _ => return Err("the token names no user (its provider's `user_claim`)"),
        };
        if user.is_empty() || user.len() > MAX_USER || !user.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err("the token's user is not 1 to 200 printable ascii characters");
        }
        Ok(Signed {
            credential: provider.credential.clone(),
            organisation: provider.organisation.clone(),
            role,
            user,
            expires_micros: i64::try_from(exp.saturating_add(LEEWAY_SECS))
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000),
        })
    }
}
