//! Which data directory a command that works on a node's files uses: `--data`, else the
//! config's `data_dir` (the file `--config` names, or `./samenspel.toml`, and `SAMENSPEL_*`), as
//! `samenspel node` reads it, so both work on the same node.

use std::path::PathBuf;

use samenspel_node::NodeConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Data directory of the node (default: the config's `data_dir`, else ./samenspel-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// TOML config file whose `data_dir` is used (default: ./samenspel.toml if it exists).
    #[arg(long, env = "SAMENSPEL_CONFIG")]
    pub config: Option<PathBuf>,
}

impl DataArgs {
    /// The data directory, as `samenspel node` would use it with the same config.
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.data {
            Some(dir) => Ok(dir.clone()),
            None => Ok(NodeConfig::load(self.config.as_deref())?.data_dir),
        }
    }
}
