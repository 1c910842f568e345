//! TLS on the client port: the server's certificate and key from PEM files, and — when a client
//! CA is configured — client certificates verified against it (PKIoverheid, UZI), optional so that
//! a caller with a bearer credential needs none. Plaintext only on a loopback address, unless the
//! operator says a proxy in front terminates TLS.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::ApiConfig;
use crate::error::{Error, Result};

fn config_error(what: &str, path: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("api.{what} ({path}): {e}"))
}

fn certificates(what: &str, path: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(Path::new(path))
        .map_err(|e| config_error(what, path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(what, path, e))?;
    if certs.is_empty() {
        return Err(config_error(what, path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The client port's TLS settings, or `None` for plaintext; refuses plaintext on a non-loopback
/// address unless `allow_plaintext`, and a half-configured TLS.
pub fn server_config(api: &ApiConfig, listen: SocketAddr) -> Result<Option<Arc<ServerConfig>>> {
    let (cert, key) = (api.tls_cert.trim(), api.tls_key.trim());
    if cert.is_empty() != key.is_empty() {
        return Err(Error::Config("api.tls_cert and api.tls_key go together: give both or neither".into()));
    }
    if cert.is_empty() {
        if !api.client_ca.trim().is_empty() || !api.clients.is_empty() {
            return Err(Error::Config(
                "api.client_ca and api.clients need TLS: set api.tls_cert and api.tls_key".into(),
            ));
        }
        if !listen.ip().is_loopback() && !api.allow_plaintext {
            return Err(Error::Config(format!(
                "refusing to serve plaintext on {listen}, which is not a loopback address: set api.tls_cert and \
                 api.tls_key, or api.allow_plaintext = true when a proxy in front terminates TLS"
            )));
        }
        return Ok(None);
    }
    let chain = certificates("tls_cert", cert)?;
    let key = PrivateKeyDer::from_pem_file(Path::new(key)).map_err(|e| config_error("tls_key", key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("api tls: {e}")))?;
    let builder = match api.client_ca.trim() {
        "" => builder.with_no_client_auth(),
        ca => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certificates("client_ca", ca)? {
                roots.add(c).map_err(|e| config_error("client_ca", ca, e))?;
            }
            // Optional: a caller with a bearer credential needs no certificate; one that presents
            // a certificate must present one the CA signed.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| config_error("client_ca", ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| config_error("tls_key", &api.tls_key, e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_on_loopback_unless_allowed() {
        let api = ApiConfig::default();
        assert!(server_config(&api, "127.0.0.1:7400".parse().unwrap()).unwrap().is_none());
        assert!(server_config(&api, "[::1]:7400".parse().unwrap()).unwrap().is_none());
        let refused = server_config(&api, "0.0.0.0:7400".parse().unwrap()).unwrap_err().to_string();
        assert!(refused.contains("refusing to serve plaintext"), "{refused}");
        let allowed = ApiConfig { allow_plaintext: true, ..ApiConfig::default() };
        assert!(server_config(&allowed, "10.0.0.5:7400".parse().unwrap()).unwrap().is_none());
        let half = ApiConfig { tls_cert: "cert.pem".into(), ..ApiConfig::default() };
        assert!(server_config(&half, "127.0.0.1:7400".parse().unwrap()).is_err());
    }
}
