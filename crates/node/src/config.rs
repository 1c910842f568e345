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
    /// Address of the one gRPC port that serves every service.
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
        // SAMENSPEL_CONFIG names the file itself, it is no setting.
        figment = figment.merge(Env::prefixed("SAMENSPEL_").split("__").ignore(&["config"]));
        figment.extract().map_err(|e| Error::Config(e.to_string()))
    }
}

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
