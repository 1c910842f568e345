//! Architecture invariants that a plain test can check (see ARCHITECTURE.md, "Invariants").
//! Like rust-analyzer's tidy: cheap, textual, and failing with a message that says what to fix.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every workspace member: (directory, parsed Cargo.toml).
fn members() -> Vec<(PathBuf, toml::Table)> {
    let workspace = toml(&root().join("Cargo.toml"));
    let members = workspace["workspace"]["members"].as_array().unwrap();
    members
        .iter()
        .map(|m| {
            let dir = root().join(m.as_str().unwrap());
            let manifest = toml(&dir.join("Cargo.toml"));
            (dir, manifest)
        })
        .collect()
}

fn name(manifest: &toml::Table) -> &str {
    manifest["package"]["name"].as_str().unwrap()
}

/// Dependency names of one section (`dependencies`, `dev-dependencies`, `build-dependencies`).
fn deps<'a>(manifest: &'a toml::Table, section: &str) -> Vec<(&'a String, &'a toml::Value)> {
    manifest.get(section).and_then(|d| d.as_table()).map(|t| t.iter().collect()).unwrap_or_default()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_member_uses_workspace_lints_and_dependencies() {
    for (dir, manifest) in members() {
        let lints = manifest.get("lints").and_then(|l| l.get("workspace")).and_then(|w| w.as_bool());
        assert_eq!(lints, Some(true), "{}: add `[lints] workspace = true`", dir.display());
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            for (dep, spec) in deps(&manifest, section) {
                let shared = spec.get("workspace").and_then(|w| w.as_bool()) == Some(true)
                    || spec.get("path").and_then(|p| p.as_str()) == Some(".");
                assert!(shared, "{}: {dep} in [{section}] must be `workspace = true`", dir.display());
            }
        }
    }
}

#[test]
fn only_the_event_log_touches_sled() {
    for (dir, manifest) in members() {
        let uses_sled =
            ["dependencies", "dev-dependencies"].iter().any(|s| deps(&manifest, s).iter().any(|(d, _)| *d == "sled"));
        assert_eq!(
            uses_sled,
            name(&manifest) == "samenspel-eventlog",
            "{}: only crates/eventlog may depend on sled",
            dir.display()
        );
    }
}

#[test]
fn services_never_depend_on_each_other_and_share_one_shape() {
    let services: Vec<_> = members().into_iter().filter(|(dir, _)| dir.starts_with(root().join("services"))).collect();
    assert!(!services.is_empty());
    let service_names: Vec<String> = services.iter().map(|(_, m)| name(m).to_string()).collect();
    for (dir, manifest) in &services {
        for (dep, _) in deps(manifest, "dependencies") {
            assert!(
                !service_names.contains(dep),
                "{}: services talk only through the event log, not to {dep}",
                dir.display()
            );
        }
        for file in ["lib.rs", "config.rs", "grpc.rs", "error.rs"] {
            assert!(dir.join("src").join(file).exists(), "{}: every service crate has src/{file}", dir.display());
        }
    }
}

#[test]
fn generated_protobuf_types_stay_at_the_edge() {
    // Domain crates never see prost types; in a service only grpc.rs (and lib.rs re-exports) do.
    for (dir, manifest) in members() {
        let uses_proto = deps(&manifest, "dependencies").iter().any(|(d, _)| *d == "samenspel-proto");
        if name(&manifest) == "samenspel-eventlog" {
            assert!(!uses_proto, "the event log is a domain crate: no protobuf types");
        }
        if !dir.starts_with(root().join("services")) {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let edge = f.ends_with("grpc.rs") || f.ends_with("lib.rs");
            assert!(edge || !text.contains("samenspel_proto"), "{}: protobuf types belong in grpc.rs", f.display());
        }
    }
}

#[test]
fn one_error_to_status_mapping_per_service() {
    for (dir, _) in members().into_iter().filter(|(d, _)| d.starts_with(root().join("services"))) {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        let impls: Vec<_> =
            files.iter().filter(|f| std::fs::read_to_string(f).unwrap().contains("for Status {")).collect();
        assert_eq!(impls.len(), 1, "{}: one `impl From<Error> for Status`, in error.rs", dir.display());
        assert!(impls[0].ends_with("error.rs"));
    }
}

#[test]
fn anyhow_only_in_binaries_and_tests() {
    for (dir, manifest) in members() {
        let in_lib = deps(&manifest, "dependencies").iter().any(|(d, _)| *d == "anyhow");
        let is_binary = dir.join("src/main.rs").exists();
        assert!(!in_lib || is_binary, "{}: libraries use their own thiserror enum, not anyhow", dir.display());
        if is_binary {
            // The binary's own modules (`mod x;` in main.rs, not in lib.rs) are part of the binary.
            let declared = |root: &str| -> Vec<String> {
                let text = std::fs::read_to_string(dir.join("src").join(root)).unwrap_or_default();
                text.lines()
                    .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';').map(|m| format!("{m}.rs")))
                    .collect()
            };
            let (binary, library) = (declared("main.rs"), declared("lib.rs"));
            let mut files = Vec::new();
            rust_files(&dir.join("src"), &mut files);
            for f in files.iter().filter(|f| !f.ends_with("main.rs")) {
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                if binary.contains(&name) && !library.contains(&name) {
                    continue;
                }
                let text = std::fs::read_to_string(f).unwrap();
                assert!(!text.contains("anyhow"), "{}: anyhow belongs in the binary only", f.display());
            }
        }
    }
}

#[test]
fn every_module_says_what_it_holds() {
    let mut files = Vec::new();
    for (dir, _) in members() {
        rust_files(&dir, &mut files);
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
        assert!(first.starts_with("//!"), "{}: start with a `//!` line that says what the module holds", f.display());
    }
}

#[test]
fn one_tonic_and_one_prost_in_the_tree() {
    let lock = toml(&root().join("Cargo.lock"));
    let packages = lock["package"].as_array().unwrap();
    for crate_name in ["tonic", "prost", "sled", "ed25519-dalek", "blake3"] {
        let versions: Vec<&str> = packages
            .iter()
            .filter(|p| p["name"].as_str() == Some(crate_name))
            .map(|p| p["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions.len(), 1, "{crate_name} appears as {versions:?}: keep one version in the tree");
    }
}
