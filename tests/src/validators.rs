//! The independent validators (Python: `fhir.resources` for FHIR, `jsonschema` against Open
//! Referral's own HSDS schema files), run on what a test exported. They live in a venv of their
//! own, which `.ci/run` makes (`target/validators`); a test whose validator is absent says so by
//! name and passes, unless `SAMENSPEL_REQUIRE_VALIDATORS` is set, as `.ci/run` sets it.

use std::path::PathBuf;
use std::process::Command;

/// The workspace's root (this crate is `tests/`).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python of the validators' venv: `SAMENSPEL_VALIDATOR_PYTHON`, or `target/validators`.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("SAMENSPEL_VALIDATOR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/validators/bin/python"));
    python.exists().then_some(python)
}

fn required() -> bool {
    std::env::var_os("SAMENSPEL_REQUIRE_VALIDATORS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Says that `test` skips its validation, or fails it when validators are required.
fn absent(test: &str, what: &str) -> bool {
    let how = "run .ci/run, or: python3 -m venv target/validators && \
               target/validators/bin/pip install -r tests/validators/requirements.txt";
    assert!(!required(), "{test}: {what} is required (SAMENSPEL_REQUIRE_VALIDATORS) but absent; {how}");
    eprintln!("{test}: skipped validating with {what}: not installed ({how})");
    false
}

/// Runs `script` of `tests/validators` on `documents` (name, JSON), each written to a file: its
/// report when it found a problem; `None` when the validator is absent.
fn check(script: &str, extra: &[String], documents: &[(String, String)]) -> Option<Result<(), String>> {
    let python = python()?;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut files = Vec::new();
    for (name, json) in documents {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, json).expect("write the document");
        files.push(path);
    }
    let output = Command::new(&python)
        .arg(root().join("tests/validators").join(script))
        .args(extra)
        .args(&files)
        .output()
        .expect("run the validator");
    let report = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    if report.contains("ModuleNotFoundError") {
        return None;
    }
    Some(if output.status.success() { Ok(()) } else { Err(report) })
}

/// [`check`], failing `test` with the validator's report; `false` when the validator is absent.
fn run(test: &str, what: &str, script: &str, extra: &[String], documents: &[(String, String)]) -> bool {
    match check(script, extra, documents) {
        None => absent(test, what),
        Some(Ok(())) => true,
        Some(Err(report)) => panic!("{test}: {what} refused what was exported:\n{report}"),
    }
}

/// What the FHIR validator says of `resources`: `None` when it is absent (the validator's own
/// test uses it to show it refuses what FHIR does not allow).
pub fn fhir_report(resources: &[(String, String)]) -> Option<Result<(), String>> {
    check("fhir_r4.py", &[], resources)
}

/// What the HSDS validator says of `organizations`: `None` when it or the schemas are absent.
pub fn hsds_report(organizations: &[(String, String)]) -> Option<Result<(), String>> {
    let schemas = hsds_schemas()?;
    check("hsds.py", &[schemas.display().to_string()], organizations)
}

/// Validates FHIR R4 resources (`fhir.resources`, plus R4's required bindings and references
/// that resolve inside a Bundle). `false` when the validator is absent.
pub fn fhir(test: &str, resources: &[(String, String)]) -> bool {
    run(test, "the FHIR validator (fhir.resources)", "fhir_r4.py", &[], resources)
}

/// The folder of Open Referral's HSDS 3.0 schema files: `SAMENSPEL_HSDS_SCHEMAS`, or
/// `../shared/hsds-3.0/schema` beside the workspace.
pub fn hsds_schemas() -> Option<PathBuf> {
    let dir = std::env::var_os("SAMENSPEL_HSDS_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/hsds-3.0/schema"));
    dir.join("organization.json").exists().then_some(dir)
}

/// Validates HSDS organization documents against the official schemas with `jsonschema`.
/// `false` when the validator or the schema files are absent.
pub fn hsds(test: &str, organizations: &[(String, String)]) -> bool {
    let Some(schemas) = hsds_schemas() else { return absent(test, "the HSDS 3.0 schema files") };
    run(test, "the HSDS validator (jsonschema)", "hsds.py", &[schemas.display().to_string()], organizations)
}
