//! `samenspel verify`: checks a store on disk and renders what it found for a person.

use std::fmt::Write;
use std::path::Path;

use samenspel_eventlog::{LocalLog, VerifyReport};

use crate::error::Result;

/// Verifies the store in `data_dir` (chains and signatures of every origin).
pub fn verify_data_dir(data_dir: &Path) -> Result<VerifyReport> {
    Ok(LocalLog::verify_dir(data_dir)?)
}

/// A summary per origin, every problem, and a verdict on the last line.
pub fn render(report: &VerifyReport) -> String {
    let mut out = String::new();
    for o in &report.origins {
        let origin = o.origin.map(|o| o.to_hex()).unwrap_or_default();
        let _ = writeln!(
            out,
            "origin {origin}\n  events {}  checkpoints {}  payloads {}  head {} {}",
            o.events,
            o.checkpoints,
            o.payloads,
            o.head.seq,
            o.head.hash.short()
        );
        if o.unverified > 0 {
            let _ = writeln!(out, "  unverifiable below a problem: {}", o.unverified);
        }
    }
    for (origin, seq) in &report.forks {
        let _ = writeln!(out, "fork evidence: origin {} signed two events at seq {seq}", origin.short());
    }
    for p in &report.problems {
        let _ = writeln!(out, "problem: origin {} seq {}: {}", p.origin.short(), p.seq, p.kind);
    }
    let events: u64 = report.origins.iter().map(|o| o.events).sum();
    match report.first_problem() {
        None => {
            let _ =
                writeln!(out, "ok: {} origins, {events} events, chains and signatures verify", report.origins.len());
        }
        Some(p) => {
            let _ = writeln!(
                out,
                "damaged: {} problems; first bad position {}:{}",
                report.problems.len(),
                p.origin.to_hex(),
                p.seq
            );
        }
    }
    out
}
