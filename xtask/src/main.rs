//! `cargo run -p xtask -- tidy`: the workspace's architecture checks (`tidy.rs`), each with the
//! problems it found; exits 1 when there are any. `cargo test -p xtask` runs the same checks.

mod tidy;

use std::process::ExitCode;

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    if task != "tidy" {
        eprintln!("usage: cargo run -p xtask -- tidy");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for (name, check) in tidy::checks() {
        let problems = check();
        println!("{} {name}", if problems.is_empty() { "ok    " } else { "FAILED" });
        for p in &problems {
            println!("       {p}");
        }
        failed |= !problems.is_empty();
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
