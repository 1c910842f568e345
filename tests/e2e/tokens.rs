//! Callers signed in at their organisation's own identity provider: tokens made here the way a
//! provider makes them (signed with ring, not with the library that verifies them), checked
//! against a JWKS file — and every way a token can be wrong, forged or replayed elsewhere.

use std::time::Duration;

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use samenspel_domain::ManualClock;
use samenspel_e2e::TestNode;
use samenspel_e2e::world::help_request;
use samenspel_kit::{Outcome, Role};
use samenspel_node::IdentityProviderConfig;
use samenspel_node::tokens::Providers;
use samenspel_proto::v1 as pb;
use serde_json::{Value, json};
use tonic::Code;

const ISSUER: &str = "https://login.wijkteam.example/realms/zorg";
const AUDIENCE: &str = "samenspel-node-centrum";
const ORG: &str = "0123456789abcdef0123456789abcdef";
/// 2026-12-01 12:00 UTC.
const NOW: i64 = 1_796_126_400;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An identity provider: its signing keys and the key set it publishes.
struct Idp {
    rng: SystemRandom,
    es: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    dir: tempfile::TempDir,
}

impl Idp {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let es =
            EcdsaKeyPair::from_pkcs8(alg, EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap().as_ref(), &rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
        let idp = Self { rng, es, ed, dir: tempfile::tempdir().unwrap() };
        idp.publish(&[idp.es_jwk("es-1"), idp.ed_jwk("ed-1")]);
        idp
    }

    fn es_jwk(&self, kid: &str) -> Value {
        let point = self.es.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]), "kid": kid, "use": "sig", "alg": "ES256"})
    }

    fn ed_jwk(&self, kid: &str) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(self.ed.public_key().as_ref()), "kid": kid})
    }

    fn jwks(&self) -> std::path::PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// Writes the key set as a provider's rotation does: a new file in place of the old.
    fn publish(&self, keys: &[Value]) {
        let next = self.dir.path().join("jwks.json.next");
        std::fs::write(&next, json!({"keys": keys}).to_string()).unwrap();
        std::fs::rename(next, self.jwks()).unwrap();
    }

    fn config(&self) -> IdentityProviderConfig {
        IdentityProviderConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks: self.jwks().to_str().unwrap().into(),
            organisation: ORG.into(),
            ..Default::default()
        }
    }

    fn signed(&self, header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let signature = sign(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    fn es256(&self, claims: &Value) -> String {
        self.signed(json!({"alg": "ES256", "typ": "JWT", "kid": "es-1"}), claims, |m| {
            self.es.sign(&self.rng, m).unwrap().as_ref().to_vec()
        })
    }

    fn eddsa(&self, claims: &Value) -> String {
        self.signed(json!({"alg": "EdDSA", "kid": "ed-1"}), claims, |m| self.ed.sign(m).as_ref().to_vec())
    }
}

/// The claims of a coordinator's token, valid for an hour from `now` (seconds).
fn claims(now: i64) -> Value {
    json!({
        "iss": ISSUER, "aud": ["account", AUDIENCE], "sub": "f3a1c2d4-medewerker-17",
        "iat": now, "exp": now + 3600, "samenspel_role": "coordinator",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

#[test]
fn a_token_of_the_configured_provider_names_its_organisation_role_and_user() {
    let idp = Idp::new();
    let providers = Providers::new(&[idp.config()]).unwrap();
    let at = NOW * 1_000_000;
    for token in [idp.es256(&claims(NOW)), idp.eddsa(&claims(NOW))] {
        let signed = providers.verify(&token, at).unwrap();
        assert_eq!(signed.organisation, ORG);
        assert_eq!(signed.role, Role::Coordinator);
        assert_eq!(signed.user, "f3a1c2d4-medewerker-17");
        assert!(signed.credential.starts_with("jwt:") && signed.credential.len() == 20, "{}", signed.credential);
        assert_eq!(signed.expires_micros, (NOW + 3600 + 60) * 1_000_000, "exp, with a minute's leeway");
    }
    // A nested role claim, as Keycloak puts roles in realm_access.roles, among roles of its own.
    let nested = IdentityProviderConfig { role_claim: "realm_access.roles".into(), ..idp.config() };
    let providers = Providers::new(&[nested]).unwrap();
    let keycloak = with(
        without(claims(NOW), "samenspel_role"),
        "realm_access",
        json!({"roles": ["offline_access", "intake_worker", "uma_authorization"]}),
    );
    assert_eq!(providers.verify(&idp.es256(&keycloak), at).unwrap().role, Role::IntakeWorker);
}

#[test]
fn every_wrong_token_is_refused_with_its_reason() {
    let idp = Idp::new();
    let other = Idp::new();
    let providers = Providers::new(&[idp.config()]).unwrap();
    let at = NOW * 1_000_000;
    let refused = |token: &str| providers.verify(token, at).unwrap_err();
    let c = claims(NOW);

    // Signed by another provider's key under the same kid: a forgery.
    assert_eq!(refused(&other.es256(&c)), "the token's signature does not verify with its provider's key");
    // Claims changed after signing.
    let token = idp.es256(&c);
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = b64(with(c.clone(), "samenspel_role", json!("admin")).to_string().as_bytes());
    assert_eq!(refused(&parts.join(".")), "the token's signature does not verify with its provider's key");
    // No signature at all, or a shared-secret one.
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(c.to_string().as_bytes()));
    assert!(providers.verify(&none, at).is_err());
    let hs = idp.signed(json!({"alg": "HS256", "kid": "es-1"}), &c, |_| vec![0; 32]);
    assert!(refused(&hs).contains("shared secret"), "{}", refused(&hs));
    // The EC key's token relabelled as EdDSA: the algorithm is the key's, not the token's choice.
    let confused =
        idp.signed(json!({"alg": "EdDSA", "kid": "es-1"}), &c, |m| idp.es.sign(&idp.rng, m).unwrap().as_ref().to_vec());
    assert_eq!(refused(&confused), "the key that signed the token is not in its identity provider's key set");
    let unknown_kid =
        idp.signed(json!({"alg": "ES256", "kid": "es-9"}), &c, |m| idp.es.sign(&idp.rng, m).unwrap().as_ref().to_vec());
    assert_eq!(refused(&unknown_kid), "the key that signed the token is not in its identity provider's key set");

    // Time: expired (past the minute's leeway), not yet valid, no expiry at all.
    assert_eq!(refused(&idp.es256(&claims(NOW - 3661))), "the token expired");
    assert!(providers.verify(&idp.es256(&claims(NOW - 3630)), at).is_ok(), "within the leeway");
    assert_eq!(refused(&idp.es256(&with(c.clone(), "nbf", json!(NOW + 600)))), "the token is not valid yet (`nbf`)");
    assert_eq!(refused(&idp.es256(&without(c.clone(), "exp"))), "the token has no expiry (`exp`)");
    // For another node or another issuer.
    let elsewhere = with(c.clone(), "aud", json!("samenspel-node-noord"));
    assert_eq!(refused(&idp.es256(&elsewhere)), "the token is not for this node (its `aud` does not name it)");
    let stranger = with(c.clone(), "iss", json!("https://login.elders.example"));
    assert_eq!(refused(&idp.es256(&stranger)), "no identity provider is configured for the token's issuer");
    // Roles: none, unknown, two, and admin (which a provider grants only when configured to).
    assert!(refused(&idp.es256(&without(c.clone(), "samenspel_role"))).contains("names no samenspel role"));
    assert_eq!(
        refused(&idp.es256(&with(c.clone(), "samenspel_role", json!("superuser")))),
        "the token's role is no samenspel role"
    );
    let two = with(c.clone(), "samenspel_role", json!(["coordinator", "auditor"]));
    assert_eq!(refused(&idp.es256(&two)), "the token names more than one samenspel role");
    let admin = with(c.clone(), "samenspel_role", json!("admin"));
    assert_eq!(refused(&idp.es256(&admin)), "the token's role is not one its identity provider may grant on this node");
    let only = IdentityProviderConfig { roles: vec!["volunteer_platform".into()], ..idp.config() };
    let narrow = Providers::new(&[only]).unwrap();
    assert!(narrow.verify(&idp.es256(&c), at).is_err(), "a coordinator's token where only platforms may sign in");
    // No user.
    assert!(refused(&idp.es256(&without(c.clone(), "sub"))).contains("names no user"));
    // Nothing of the token comes back in a reason.
    for reason in [refused(&other.es256(&c)), refused(&idp.es256(&elsewhere))] {
        assert!(!reason.contains("medewerker") && !reason.contains("noord"), "{reason}");
    }
}

#[test]
fn a_rotated_key_set_is_read_again_and_a_bad_one_is_a_config_error() {
    let idp = Idp::new();
    let providers = Providers::new(&[idp.config()]).unwrap();
    let at = NOW * 1_000_000;
    let old = idp.es256(&claims(NOW));
    assert!(providers.verify(&old, at).is_ok());
    // The provider drops the EC key: its tokens stop working once the file is looked at again.
    idp.publish(&[idp.ed_jwk("ed-1")]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(providers.verify(&old, at).is_err(), "a key taken out of the set signs nothing any more");
    assert!(providers.verify(&idp.eddsa(&claims(NOW)), at).is_ok());
    // A file that breaks keeps the keys read before.
    std::fs::write(idp.jwks(), "{not json").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(providers.verify(&idp.eddsa(&claims(NOW)), at).is_ok());

    // At start-up, every bad entry is named.
    let config = |tweak: fn(&mut IdentityProviderConfig)| {
        let mut c = idp.config();
        tweak(&mut c);
        Providers::new(&[c]).unwrap_err().to_string()
    };
    assert!(config(|c| c.jwks = "/nonexistent/jwks.json".into()).contains("identity_providers[0].jwks"));
    assert!(config(|c| c.organisation = "wijkteam".into()).contains("identity_providers[0].organisation"));
    assert!(config(|c| c.audience = String::new()).contains("identity_providers[0].audience"));
    assert!(config(|c| c.roles = vec!["chef".into()]).contains("identity_providers[0].roles"));
    let shared = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(shared.path(), r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hs"}]}"#).unwrap();
    let c = IdentityProviderConfig { jwks: shared.path().to_str().unwrap().into(), ..idp.config() };
    assert!(Providers::new(&[c]).unwrap_err().to_string().contains("no public key"));
}

/// An RSA key as most providers sign with (RS256), made by openssl as an operator would.
fn rsa_key() -> ring::rsa::KeyPair {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rsa.der");
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "DER", "-out"])
        .arg(&path)
        .output()
        .expect("openssl, to make an RSA key");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    // openssl writes an RSA key as DER in PKCS#1 form.
    ring::rsa::KeyPair::from_der(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_is_the_user_of_the_call_in_the_access_log_until_the_token_expires() {
    let idp = Idp::new();
    let rsa = rsa_key();
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public());
    idp.publish(&[
        idp.es_jwk("es-1"),
        json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e), "kid": "rsa-1", "alg": "RS256", "use": "sig"}),
    ]);
    let rs256 = |claims: &Value| {
        idp.signed(json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}), claims, |m| {
            let mut out = vec![0; rsa.public().modulus_len()];
            rsa.sign(&signature::RSA_PKCS1_SHA256, &idp.rng, m, &mut out).unwrap();
            out
        })
    };
    let clock = std::sync::Arc::new(ManualClock::at(NOW * 1_000_000));
    let provider = idp.config();
    let node = TestNode::start_with_clock(clock.clone(), |c| c.api.identity_providers = vec![provider.clone()]).await;
    let request = help_request(&node, 0).await;

    // A coordinator of the organisation reads the request: one access record names the user.
    let coordinator = rs256(&claims(NOW));
    let mut intake = pb::intake_client::IntakeClient::new(node.channel_with(&coordinator).await);
    let mut call = tonic::Request::new(pb::GetHelpRequestRequest { id: request.clone() });
    call.metadata_mut().insert("user", "iemand-anders".parse().unwrap());
    intake.get_help_request(call).await.unwrap();
    let record = node.access_records().await.into_iter().last().unwrap();
    assert_eq!(record.rpc, "/samenspel.v1.Intake/GetHelpRequest");
    assert!(record.credential.starts_with("jwt:"), "{record:?}");
    assert_eq!((record.organisation.as_deref(), record.role), (Some(ORG), Role::Coordinator));
    assert_eq!(record.user, "f3a1c2d4-medewerker-17", "the token's user, whatever the call's metadata says");
    assert_eq!(record.outcome, Outcome::Allowed);

    // Its role is a coordinator's: erasing a subject is not.
    let mut privacy = pb::privacy_client::PrivacyClient::new(node.channel_with(&coordinator).await);
    let denied = privacy.erase_subject(pb::EraseSubjectRequest::default()).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // A forged token, and one for another node, get nothing, and say why.
    let forged = Idp::new().es256(&claims(NOW));
    let mut stranger = pb::intake_client::IntakeClient::new(node.channel_with(&forged).await);
    let refused = stranger.get_help_request(pb::GetHelpRequestRequest { id: request.clone() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "the token's signature does not verify with its provider's key");
    let elsewhere = idp.es256(&with(claims(NOW), "aud", json!("samenspel-node-noord")));
    let mut other = pb::intake_client::IntakeClient::new(node.channel_with(&elsewhere).await);
    assert_eq!(
        other.get_help_request(pb::GetHelpRequestRequest { id: request.clone() }).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // An open watch ends when its token expires; the token is refused after.
    let short = rs256(&with(claims(NOW), "exp", json!(NOW + 120)));
    let mut watcher = pb::intake_client::IntakeClient::new(node.channel_with(&short).await);
    let mut changes = watcher.watch(pb::WatchHelpRequestsRequest { from_position: 0 }).await.unwrap().into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), changes.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.kind, "intake.request.submitted");
    clock.advance(Duration::from_secs(240));
    // Any change of the credentials makes open streams look again at once (else within 10 s).
    node.issue(Role::Auditor, None);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match changes.message().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream ends");
    assert_eq!(ended.unwrap_err().code(), Code::Unauthenticated);
    let again = watcher.get_help_request(pb::GetHelpRequestRequest { id: request }).await.unwrap_err();
    assert_eq!(again.message(), "the token expired");
}
