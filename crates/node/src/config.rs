//! Node configuration: defaults, then a TOML file, then `SAMENSPEL_*` environment variables
//! (nested keys with `__`, e.g. `SAMENSPEL_LOG__MAX_PAYLOAD_BYTES`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use samenspel_directory::DirectoryConfig;
use samenspel_eventlog::LogConfig;
use samenspel_federation::FederationConfig;
use samenspel_followup::FollowUpConfig;
use samenspel_intake::IntakeConfig;
use samenspel_log_service::LogServiceConfig;
use samenspel_matching::MatchingConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The config file read when none is named and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "samenspel.toml";

/// Where the node keeps its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Embedded sled store in `data_dir` (the default).
    #[default]
    Sled,
    /// In memory only: gone when the node stops. For trials and tests.
    Memory,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Address of the one gRPC port that serves every service: an IP and port, or a host name
    /// and port (`localhost:7400`), resolved when the config is read.
    #[serde(deserialize_with = "listen_address")]
    pub listen: SocketAddr,
    /// Holds the node key (`node.key`) and the log (`log/`).
    pub data_dir: PathBuf,
    pub store: StoreKind,
    /// Largest gRPC message accepted, in bytes; keep it above `log.max_payload_bytes`.
    pub max_message_bytes: usize,
    /// On shutdown, how long in-flight calls and open connections get before they are closed.
    pub shutdown_grace_secs: u64,
    pub log: LogConfig,
    pub log_service: LogServiceConfig,
    pub directory: DirectoryConfig,
    pub intake: IntakeConfig,
    pub matching: MatchingConfig,
    pub followup: FollowUpConfig,
    pub federation: FederationConfig,
    pub api: ApiConfig,
    pub access: samenspel_audit::AccessConfig,
    pub privacy: samenspel_privacy::PrivacyConfig,
    pub fhir: samenspel_fhir_service::FhirConfig,
    /// Traces exported over OTLP (`crate::telemetry`).
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// The admin port: metrics (`crate::metrics`).
    pub admin: AdminConfig,
}

/// The admin port, apart from the client port so that it can stay on a private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Where `GET /metrics` (OpenMetrics text, for Prometheus) and `GET /status` (JSON, what
    /// `samenspel status` shows) are served, as `127.0.0.1:7402`;
    /// empty: not served. Plain HTTP without credentials: keep it off public networks.
    pub listen: String,
}

/// The client port: TLS, and the callers known by their TLS client certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// PEM file of the server's certificate chain; empty: plaintext, which a node serves on a
    /// loopback address only (unless `allow_plaintext`).
    pub tls_cert: String,
    /// PEM file of the server certificate's private key.
    pub tls_key: String,
    /// PEM file of the certificate authorities whose client certificates identify callers
    /// (PKIoverheid, UZI); empty: callers use bearer credentials only.
    pub client_ca: String,
    /// Serve plaintext on a non-loopback address, as behind a proxy that terminates TLS.
    pub allow_plaintext: bool,
    /// Callers known by a verified client certificate.
    pub clients: Vec<ApiClientConfig>,
    /// Organisations' identity providers whose signed tokens (JWT) callers may send as bearer.
    pub identity_providers: Vec<crate::tokens::IdentityProviderConfig>,
}

/// A caller known by its TLS client certificate: by its sha256 fingerprint, or its subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ApiClientConfig {
    /// sha256 of the certificate (DER), hex (colons and a `sha256:` prefix allowed).
    pub fingerprint: String,
    /// The subject distinguished name, as `CN=…, O=…, C=NL`.
    pub subject: String,
    /// The organisation it acts for (a directory id).
    pub organisation: String,
    pub role: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            data_dir: PathBuf::from("./samenspel-data"),
            store: StoreKind::Sled,
            max_message_bytes: 16 * 1024 * 1024,
            shutdown_grace_secs: 10,
            log: LogConfig::default(),
            log_service: LogServiceConfig::default(),
            directory: DirectoryConfig::default(),
            intake: IntakeConfig::default(),
            matching: MatchingConfig::default(),
            followup: FollowUpConfig::default(),
            federation: FederationConfig::default(),
            api: ApiConfig::default(),
            access: samenspel_audit::AccessConfig::default(),
            privacy: samenspel_privacy::PrivacyConfig::default(),
            fhir: samenspel_fhir_service::FhirConfig::default(),
            telemetry: crate::telemetry::TelemetryConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

impl NodeConfig {
    /// Loads defaults, then `file` (or `samenspel.toml` if it exists), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(NodeConfig::default()));
        match file {
            Some(path) if !path.exists() => return Err(Error::Config(format!("no config file at {}", path.display()))),
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        // Only the config's own keys are read from the environment: other SAMENSPEL_* variables
        // (the CLI's own, SAMENSPEL_CONFIG and SAMENSPEL_NODE, or a typo) are no settings.
        let known = Self::setting_names();
        for (name, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
            let Some(key) = name.strip_prefix("SAMENSPEL_") else { continue };
            if !known.contains(&key.to_ascii_lowercase()) && !CLI_VARIABLES.contains(&key) {
                tracing::warn!(variable = %name, "environment variable is no setting; ignored");
            }
        }
        figment = figment.merge(
            Env::prefixed("SAMENSPEL_")
                .filter(move |key| known.contains(&key.as_str().to_ascii_lowercase()))
                .split("__"),
        );
        figment.extract().map_err(|e| Error::Config(e.to_string()))
    }

    /// Every setting's name as an environment variable spells it after `SAMENSPEL_`, lowercase:
    /// `listen`, `log__max_payload_bytes`, … (a list such as `federation.peers` by its own name).
    pub fn setting_names() -> std::collections::HashSet<String> {
        fn walk(table: &toml::Table, at: &str, out: &mut std::collections::HashSet<String>) {
            for (key, value) in table {
                let name = if at.is_empty() { key.clone() } else { format!("{at}__{key}") };
                match value {
                    toml::Value::Table(inner) => walk(inner, &name, out),
                    _ => {
                        out.insert(name);
                    }
                }
            }
        }
        let mut out = std::collections::HashSet::new();
        if let Ok(defaults) = toml::Table::try_from(NodeConfig::default()) {
            walk(&defaults, "", &mut out);
        }
        out
    }
}

/// The address `text` names: `ip:port`, `[ipv6]:port`, or `host:port` resolved now (an IPv4
/// address first where the host has one, as `localhost` has both).
pub fn resolve_listen(text: &str) -> std::result::Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} is no address: give host:port, as 127.0.0.1:7400 or localhost:7400"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("{text:?} is no address: give host:port, as 127.0.0.1:7400 or localhost:7400"));
    }
    let addrs: Vec<SocketAddr> = text.to_socket_addrs().map_err(|e| format!("cannot resolve {host:?}: {e}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{host:?} resolves to no address"))
}

fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    resolve_listen(&text).map_err(serde::de::Error::custom)
}

/// Variables the `samenspel` command reads itself (after `SAMENSPEL_`).
const CLI_VARIABLES: [&str; 5] = ["CONFIG", "NODE", "CREDENTIAL", "CA", "LOG_FORMAT"];

#[cfg(test)]
// figment's Jail returns its own large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("node.toml", "listen = \"127.0.0.1:9000\"\n[log]\nmax_payload_bytes = 2048\n")?;
            jail.set_env("SAMENSPEL_DATA_DIR", "/srv/samenspel");
            jail.set_env("SAMENSPEL_LOG__SUBSCRIBER_BUFFER", "64");
            let c = NodeConfig::load(Some(Path::new("node.toml"))).unwrap();
            assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
            assert_eq!(c.log.max_payload_bytes, 2048);
            assert_eq!(c.log.subscriber_buffer, 64);
            assert_eq!(c.data_dir, PathBuf::from("/srv/samenspel"));
            assert_eq!(c.log.max_group_events, LogConfig::default().max_group_events);
            Ok(())
        });
    }

    #[test]
    fn the_sample_config_in_deploy_is_complete_and_matches_the_defaults() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/samenspel.toml");
        let written: toml::Table = std::fs::read_to_string(sample).unwrap().parse().unwrap();
        let defaults = toml::Table::try_from(NodeConfig::default()).unwrap();
        assert_eq!(written, defaults, "deploy/samenspel.toml lists every setting with its default");
        figment::Jail::expect_with(|_| {
            assert_eq!(NodeConfig::load(Some(Path::new(sample))).unwrap(), NodeConfig::default());
            Ok(())
        });
    }

    #[test]
    fn only_settings_are_read_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            // The CLI's own variables, and anything else that is no setting, leave the node be.
            jail.set_env("SAMENSPEL_NODE", "http://127.0.0.1:7400");
            jail.set_env("SAMENSPEL_CONFIG_DIR", "/etc/samenspel");
            jail.set_env("SAMENSPEL_TYPO", "1");
            jail.set_env("SAMENSPEL_LOG__MAX_PAYLOAD_BYTES", "2048");
            jail.set_env("SAMENSPEL_MATCHING__ANSWER_TIMEOUT_SECS", "60");
            let c = NodeConfig::load(None).unwrap();
            assert_eq!((c.log.max_payload_bytes, c.matching.answer_timeout_secs), (2048, 60));
            assert!(NodeConfig::setting_names().contains("federation__peers"));
            Ok(())
        });
    }

    #[test]
    fn a_listen_address_may_name_a_host() {
        assert_eq!(resolve_listen("localhost:7400").unwrap(), SocketAddr::from(([127, 0, 0, 1], 7400)));
        assert_eq!(resolve_listen(" [::1]:7400 ").unwrap(), "[::1]:7400".parse().unwrap());
        for bad in ["localhost", ":7400", "localhost:port", "localhost:70000"] {
            assert!(resolve_listen(bad).unwrap_err().contains("host:port"), "{bad}");
        }
        figment::Jail::expect_with(|jail| {
            jail.create_file("node.toml", "listen = \"localhost:9000\"\n")?;
            let c = NodeConfig::load(Some(Path::new("node.toml"))).unwrap();
            assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
            jail.create_file("bad.toml", "listen = \"localhost\"\n")?;
            let err = NodeConfig::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(err.to_string().contains("host:port"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lisen = \"127.0.0.1:9000\"\n")?;
            let err = NodeConfig::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(err.to_string().contains("lisen"), "{err}");
            assert!(NodeConfig::load(Some(Path::new("missing.toml"))).is_err());
            Ok(())
        });
    }
}
