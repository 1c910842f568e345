//! `samenspel verify`: what the check of a store found, rendered for a person.

use std::fmt::Write;

use samenspel_eventlog::VerifyReport;

/// A summary per origin, every problem, and a verdict on the last line.
pub fn render(report: &VerifyReport) -> String {
    let mut out = String::new();
    for o in &report.origins {
        let origin = o.origin.map(|o| o.to_hex()).unwrap_or_default();
        let _ = writeln!(
            out,
            "origin {origin}\n  events {}  checkpoints {}  payloads {}  outlines only {}  head {} {}",
            o.events,
            o.checkpoints,
            o.payloads,
            o.outlines,
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
    for t in &report.unsigned_tails {
        let n = t.last - t.first + 1;
        let _ = writeln!(
            out,
            "note: origin {} has {n} event{} after its last checkpoint (seq {} to {}): the tail of a write \
             that was not acknowledged when the node stopped (a crash); no one was answered for it, and the \
             node removes it when it opens. This is no damage.",
            t.origin.short(),
            if n == 1 { "" } else { "s" },
            t.first,
            t.last
        );
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

#[cfg(test)]
mod tests {
    use samenspel_eventlog::{NodeId, Problem, ProblemKind, UnsignedTail};

    use super::*;

    #[test]
    fn the_tail_a_crash_leaves_is_said_for_what_it_is_and_is_no_damage() {
        let origin = NodeId([7; 32]);
        let tail = UnsignedTail { origin, first: 41, last: 45 };
        let report = VerifyReport { unsigned_tails: vec![tail], ..VerifyReport::default() };
        assert!(report.is_ok(), "`samenspel verify` exits 0");
        let text = render(&report);
        assert!(text.contains("5 events after its last checkpoint (seq 41 to 45)"), "{text}");
        assert!(text.lines().last().unwrap().starts_with("ok:"), "{text}");
        assert!(!text.contains("damaged"), "{text}");

        let problem = Problem { origin, seq: 3, kind: ProblemKind::HashMismatch };
        let damaged = VerifyReport { problems: vec![problem], unsigned_tails: vec![tail], ..VerifyReport::default() };
        assert!(!damaged.is_ok());
        assert!(render(&damaged).lines().last().unwrap().starts_with("damaged: 1 problems"));
    }
}
