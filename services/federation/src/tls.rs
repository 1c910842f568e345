//! Mutual TLS between nodes, bound to node keys: each node presents a self-signed certificate made
//! from its ed25519 node key, so the certificate's public key *is* its node id. A node accepts a
//! connection only from a configured peer, and connects to a peer only when the certificate it is
//! shown carries that peer's id; the TLS handshake proves the other side holds the key. No
//! certificate authority is involved, and a certificate cannot be swapped without the node key.
//! TLS 1.3 and Ed25519 only, with ring as the only crypto provider.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use samenspel_eventlog::{NodeId, NodeKey};

use crate::error::Error;

/// The server name a node connects to; the verifier checks the key, not the name.
pub const SERVER_NAME: &str = "samenspel";

/// DER of an Ed25519 SubjectPublicKeyInfo before its 32 key bytes (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The node id a certificate carries: its Ed25519 public key. `None` for anything else.
pub fn node_id_of(cert: &CertificateDer<'_>) -> Option<NodeId> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    NodeId::from_slice(spki.as_ref().strip_prefix(&ED25519_SPKI_PREFIX[..])?)
}

/// This node's certificate and key, and the configs made from them.
pub struct NodeTls {
    id: NodeId,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls").field("id", &self.id).finish_non_exhaustive()
    }
}

impl NodeTls {
    /// A self-signed certificate for `key`, made anew at each start (it holds nothing but the key).
    pub fn new(key: &NodeKey) -> Result<Self, Error> {
        let tls = |e: rcgen::Error| Error::Tls(e.to_string());
        let pkcs8 = PrivatePkcs8KeyDer::from(key.pkcs8_der());
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519).map_err(tls)?;
        let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()]).map_err(tls)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("samenspel node {}", key.node_id()));
        let cert = params.self_signed(&pair).map_err(tls)?.der().clone();
        Ok(Self { id: key.node_id(), cert, key: pkcs8, provider: Arc::new(rustls::crypto::ring::default_provider()) })
    }

    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// Accepts only clients whose certificate carries one of `peers`.
    pub fn server_config(&self, peers: Vec<NodeId>) -> Result<Arc<ServerConfig>, Error> {
        let verifier = Arc::new(PinnedClients { peers, algorithms: self.provider.signature_verification_algorithms });
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.cert.clone()], PrivateKeyDer::Pkcs8(self.key.clone_key()))
            .map_err(|e| Error::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// Connects only to a server whose certificate carries `peer`.
    pub fn client_config(&self, peer: NodeId) -> Result<Arc<ClientConfig>, Error> {
        let verifier = Arc::new(PinnedServer { peer, algorithms: self.provider.signature_verification_algorithms });
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| Error::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![self.cert.clone()], PrivateKeyDer::Pkcs8(self.key.clone_key()))
            .map_err(|e| Error::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    pub fn server_name() -> ServerName<'static> {
        ServerName::try_from(SERVER_NAME).expect("a valid dns name")
    }
}

fn check(cert: &CertificateDer<'_>, allowed: &[NodeId]) -> Result<(), rustls::Error> {
    match node_id_of(cert) {
        Some(id) if allowed.contains(&id) => Ok(()),
        Some(id) => {
            tracing::warn!(node = %id.short(), "refused a tls peer that is not configured");
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
        None => Err(rustls::Error::InvalidCertificate(CertificateError::BadEncoding)),
    }
}

#[derive(Debug)]
struct PinnedClients {
    peers: Vec<NodeId>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check(end_entity, &self.peers).map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[derive(Debug)]
struct PinnedServer {
    peer: NodeId,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        check(end_entity, &[self.peer]).map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_carries_its_node_id() {
        let key = NodeKey::from_seed([3; 32]);
        let tls = NodeTls::new(&key).unwrap();
        assert_eq!(node_id_of(&tls.cert), Some(key.node_id()));
        assert!(check(&tls.cert, &[key.node_id()]).is_ok());
        assert!(check(&tls.cert, &[NodeKey::from_seed([4; 32]).node_id()]).is_err());
        assert!(node_id_of(&CertificateDer::from(vec![0x30, 0x00])).is_none());
    }
}
