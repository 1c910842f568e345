//! Backups of a stopped node: its data directory (the log, the node key, the key store, the
//! credentials) copied whole and checked. A backup holds the subject keys as they were when it
//! was made; a node restored from it erases again, before it serves, whatever was erased since
//! (the erasures come back from its peers with the rest of its own log, `serve`).

use std::path::{Path, PathBuf};

use samenspel_eventlog::VerifyReport;

use crate::error::{Error, Result};

/// What a backup or a restore copied.
#[derive(Debug)]
pub struct Copied {
    pub files: usize,
    pub bytes: u64,
    /// The copy's store, as `verify` sees it.
    pub report: VerifyReport,
}

fn copy_tree(from: &Path, to: &Path, copied: &mut (usize, u64)) -> Result<()> {
    std::fs::create_dir_all(to).map_err(Error::io("cannot create", to))?;
    for entry in std::fs::read_dir(from).map_err(Error::io("cannot read", from))? {
        let entry = entry.map_err(Error::io("cannot read", from))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(Error::io("cannot read", &source))?.is_dir() {
            copy_tree(&source, &target, copied)?;
        } else {
            copied.1 += std::fs::copy(&source, &target).map_err(Error::io("cannot copy to", &target))?;
            sync(&target)?;
            copied.0 += 1;
        }
    }
    sync(to)
}

fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(Error::io("cannot sync", path))
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    Ok(!dir.exists() || std::fs::read_dir(dir).map_err(Error::io("cannot read", dir))?.next().is_none())
}

/// Checks that `dir` holds a whole store that verifies; opening it also proves no node is
/// running on it (the store is locked while one does).
fn checked(dir: &Path, what: &str) -> Result<VerifyReport> {
    let report = crate::verify_data_dir(dir).map_err(|e| {
        Error::Config(format!("{what} {} cannot be read (is a node running on it?): {e}", dir.display()))
    })?;
    if !report.is_ok() {
        return Err(Error::Config(format!("{what} {} does not verify: run `samenspel verify`", dir.display())));
    }
    if !dir.join("node.key").is_file() {
        return Err(Error::Config(format!("{what} {} holds no node.key", dir.display())));
    }
    Ok(report)
}

/// Copies the stopped node's `data_dir` to `to`, which must be empty or not exist yet.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Copied> {
    checked(data_dir, "the data directory")?;
    if !is_empty_dir(to)? {
        return Err(Error::Config(format!("{} is not empty: a backup goes to a new directory", to.display())));
    }
    let mut copied = (0, 0);
    copy_tree(data_dir, to, &mut copied)?;
    let report = checked(to, "the backup")?;
    Ok(Copied { files: copied.0, bytes: copied.1, report })
}

/// Puts the backup `from` in place as the data directory `data_dir`: refused unless `data_dir` is
/// empty, or `replace` says to set its contents aside (renamed, not deleted).
pub fn restore(from: &Path, data_dir: &Path, replace: bool) -> Result<(Copied, Option<PathBuf>)> {
    checked(from, "the backup")?;
    let mut set_aside = None;
    if !is_empty_dir(data_dir)? {
        if !replace {
            return Err(Error::Config(format!(
                "{} is not empty: restore into an empty directory, or pass --replace to set it aside",
                data_dir.display()
            )));
        }
        let aside = data_dir.with_extension(format!("before-restore-{}", std::process::id()));
        std::fs::rename(data_dir, &aside).map_err(Error::io("cannot set aside", data_dir))?;
        set_aside = Some(aside);
    }
    let mut copied = (0, 0);
    copy_tree(from, data_dir, &mut copied)?;
    let report = checked(data_dir, "the restored data directory")?;
    Ok((Copied { files: copied.0, bytes: copied.1, report }, set_aside))
}
