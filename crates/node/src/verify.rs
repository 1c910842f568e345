//! Verification of a stopped node's store on disk.

use std::path::Path;

use samenspel_eventlog::{LocalLog, VerifyProgress, VerifyReport};

use crate::error::Result;

/// Verifies the store in `data_dir` (chains and signatures of every origin).
pub fn verify_data_dir(data_dir: &Path) -> Result<VerifyReport> {
    Ok(LocalLog::verify_dir(data_dir)?)
}

/// [`verify_data_dir`], telling `progress` how far it has come as it goes.
pub fn verify_data_dir_with(data_dir: &Path, progress: &mut dyn FnMut(VerifyProgress)) -> Result<VerifyReport> {
    Ok(LocalLog::verify_dir_with(data_dir, progress)?)
}
