//! Architecture invariants that a plain check can verify (see ARCHITECTURE.md, "Invariants").
//! Like rust-analyzer's tidy: cheap, textual, and failing with a message that says what to fix.
//! Each check returns the problems it found; `cargo test -p xtask` runs them all, and so does
//! `cargo run -p xtask -- tidy`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn toml(path: &Path) -> toml::Table {
    read(path).parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every workspace member: (directory, parsed Cargo.toml).
fn members() -> Vec<(PathBuf, toml::Table)> {
    let workspace = toml(&root().join("Cargo.toml"));
    let members = workspace["workspace"]["members"].as_array().expect("workspace members");
    members
        .iter()
        .map(|m| {
            let dir = root().join(m.as_str().expect("a member is a path"));
            let manifest = toml(&dir.join("Cargo.toml"));
            (dir, manifest)
        })
        .collect()
}

fn name(manifest: &toml::Table) -> &str {
    manifest["package"]["name"].as_str().expect("a package name")
}

/// Dependency names of one section (`dependencies`, `dev-dependencies`, `build-dependencies`).
fn deps<'a>(manifest: &'a toml::Table, section: &str) -> Vec<(&'a String, &'a toml::Value)> {
    manifest.get(section).and_then(|d| d.as_table()).map(|t| t.iter().collect()).unwrap_or_default()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn services() -> Vec<(PathBuf, toml::Table)> {
    members().into_iter().filter(|(dir, _)| dir.starts_with(root().join("services"))).collect()
}

pub fn every_member_uses_workspace_lints_and_dependencies() -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, manifest) in members() {
        let lints = manifest.get("lints").and_then(|l| l.get("workspace")).and_then(|w| w.as_bool());
        if lints != Some(true) {
            problems.push(format!("{}: add `[lints] workspace = true`", dir.display()));
        }
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            for (dep, spec) in deps(&manifest, section) {
                let shared = spec.get("workspace").and_then(|w| w.as_bool()) == Some(true)
                    || spec.get("path").and_then(|p| p.as_str()) == Some(".");
                if !shared {
                    problems.push(format!("{}: {dep} in [{section}] must be `workspace = true`", dir.display()));
                }
            }
        }
    }
    problems
}

pub fn only_the_event_log_touches_sled() -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, manifest) in members() {
        let uses_sled =
            ["dependencies", "dev-dependencies"].iter().any(|s| deps(&manifest, s).iter().any(|(d, _)| *d == "sled"));
        if uses_sled != (name(&manifest) == "samenspel-eventlog") {
            problems.push(format!("{}: only crates/eventlog may depend on sled", dir.display()));
        }
    }
    problems
}

/// Every service crate has the same shape; one that keeps a read model has all of it: its
/// events, its state and projection, its pure decisions, its commands — and the kit beneath.
pub fn services_never_depend_on_each_other_and_share_one_shape() -> Vec<String> {
    let mut problems = Vec::new();
    let services = services();
    let names: Vec<String> = services.iter().map(|(_, m)| name(m).to_string()).collect();
    for (dir, manifest) in &services {
        for (dep, _) in deps(manifest, "dependencies") {
            if names.contains(dep) {
                problems.push(format!("{}: services talk only through the event log, not to {dep}", dir.display()));
            }
        }
        let src = dir.join("src");
        for file in ["lib.rs", "config.rs", "grpc.rs", "error.rs"] {
            if !src.join(file).exists() {
                problems.push(format!("{}: every service crate has src/{file}", dir.display()));
            }
        }
        if src.join("state.rs").exists() {
            for file in ["events.rs", "decide.rs", "service.rs"] {
                if !src.join(file).exists() {
                    problems.push(format!("{}: a service with a read model has src/{file}", dir.display()));
                }
            }
            if !deps(manifest, "dependencies").iter().any(|(d, _)| *d == "samenspel-kit") {
                problems.push(format!("{}: a service with a read model runs on samenspel-kit", dir.display()));
            }
        }
    }
    problems
}

pub fn generated_protobuf_types_stay_at_the_edge() -> Vec<String> {
    // Domain crates never see prost types; in a service only grpc.rs (and lib.rs re-exports) do.
    let mut problems = Vec::new();
    for (dir, manifest) in members() {
        let uses_proto = deps(&manifest, "dependencies").iter().any(|(d, _)| *d == "samenspel-proto");
        if ["samenspel-eventlog", "samenspel-kit", "samenspel-domain"].contains(&name(&manifest)) && uses_proto {
            problems.push(format!("{}: a domain crate: no protobuf types", dir.display()));
        }
        if !dir.starts_with(root().join("services")) {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let edge = f.ends_with("grpc.rs") || f.ends_with("lib.rs");
            if !edge && read(&f).contains("samenspel_proto") {
                problems.push(format!("{}: protobuf types belong in grpc.rs", f.display()));
            }
        }
    }
    problems
}

pub fn one_error_to_status_mapping_per_service() -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, _) in services() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        let impls: Vec<_> = files.iter().filter(|f| read(f).contains("for Status {")).collect();
        if impls.len() != 1 || !impls[0].ends_with("error.rs") {
            problems.push(format!("{}: one `impl From<Error> for Status`, in error.rs", dir.display()));
        }
        // The log's errors map in one place for every service.
        if impls.first().is_some_and(|f| read(f).contains("Error::Log(") && !read(f).contains("log_status")) {
            problems.push(format!("{}: map the log's errors with samenspel_status::log_status", dir.display()));
        }
    }
    problems
}

pub fn anyhow_only_in_binaries_and_tests() -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, manifest) in members() {
        let in_lib = deps(&manifest, "dependencies").iter().any(|(d, _)| *d == "anyhow");
        let is_binary = dir.join("src/main.rs").exists();
        let has_lib = dir.join("src/lib.rs").exists();
        if in_lib && (!is_binary || has_lib) {
            problems.push(format!("{}: libraries use their own thiserror enum, not anyhow", dir.display()));
        }
    }
    problems
}

/// A library holds no command-line plumbing: clap, progress bars and the allocator belong to
/// the `samenspel` binary.
pub fn libraries_carry_no_cli_dependencies() -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, manifest) in members() {
        if dir.join("src/main.rs").exists() && !dir.join("src/lib.rs").exists() {
            continue;
        }
        for (dep, _) in deps(&manifest, "dependencies") {
            if ["clap", "indicatif", "mimalloc", "tracing-subscriber", "anyhow"].contains(&dep.as_str()) {
                problems.push(format!("{}: {dep} belongs in the binary, not a library", dir.display()));
            }
        }
    }
    problems
}

pub fn every_module_says_what_it_holds() -> Vec<String> {
    let mut files = Vec::new();
    for (dir, _) in members() {
        rust_files(&dir, &mut files);
    }
    files
        .into_iter()
        .filter(|f| !read(f).lines().find(|l| !l.trim().is_empty()).unwrap_or_default().starts_with("//!"))
        .map(|f| format!("{}: start with a `//!` line that says what the module holds", f.display()))
        .collect()
}

pub fn one_tonic_and_one_prost_in_the_tree() -> Vec<String> {
    let lock = toml(&root().join("Cargo.lock"));
    let packages = lock["package"].as_array().expect("packages in Cargo.lock");
    let mut problems = Vec::new();
    for crate_name in ["tonic", "prost", "sled", "ed25519-dalek", "blake3"] {
        let versions: Vec<&str> = packages
            .iter()
            .filter(|p| p["name"].as_str() == Some(crate_name))
            .filter_map(|p| p["version"].as_str())
            .collect();
        if versions.len() != 1 {
            problems.push(format!("{crate_name} appears as {versions:?}: keep one version in the tree"));
        }
    }
    problems
}

/// The modules of a crate directly below `src` (`src/x.rs` or `src/x/mod.rs`) and which of them
/// each one names (`crate::x`).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let module_of = |f: &Path| -> Option<String> {
        let rel = f.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
        let name = first.trim_end_matches(".rs").to_string();
        (!["lib", "main"].contains(&name.as_str())).then_some(name)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for f in &files {
        let Some(from) = module_of(f) else { continue };
        let text = read(f);
        // Only code, not the tests inside it: a test module may use anything.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for to in &modules {
            let named = [
                format!("crate::{to}::"),
                format!("crate::{to};"),
                format!("crate::{to}::{{"),
                format!("crate::{{{to}"),
            ];
            let braced = code.contains("use crate::{")
                && code.split("use crate::{").skip(1).any(|rest| {
                    rest.split('}')
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .any(|part| part.trim().split("::").next() == Some(to))
                });
            if *to != from && (named.iter().any(|n| code.contains(n.as_str())) || braced) {
                graph.get_mut(&from).expect("a module").insert(to.clone());
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one: the modules on it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            return Some(path[at..].to_vec());
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

/// No two modules of a crate depend on each other, directly or around a loop: a crate's modules
/// form layers (decisions below commands and reactions, the read model below the decisions).
pub fn no_module_cycles_inside_a_crate() -> Vec<String> {
    let mut problems = Vec::new();
    for (dir, _) in members() {
        if let Some(c) = cycle(&module_graph(&dir.join("src"))) {
            problems.push(format!("{}: modules depend on each other in a loop: {}", dir.display(), c.join(" → ")));
        }
    }
    problems
}

/// The test names ARCHITECTURE.md's invariants cite, in backticks inside their `*( … )*`.
fn cited_tests(architecture: &str) -> Vec<String> {
    let section = architecture.split("## Invariants").nth(1).unwrap_or_default();
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut cited = Vec::new();
    for part in section.split("*(").skip(1) {
        let part = part.split(")*").next().unwrap_or_default();
        for quoted in part.split('`').skip(1).step_by(2) {
            cited.push(quoted.to_string());
        }
    }
    cited
}

/// Every test ARCHITECTURE.md names as the enforcer of an invariant exists: a `fn` of that name
/// (a path such as `header::tests` names a module, a file path names a file).
pub fn every_test_named_in_architecture_exists() -> Vec<String> {
    let architecture = read(&root().join("ARCHITECTURE.md"));
    let mut files = Vec::new();
    for (dir, _) in members() {
        rust_files(&dir, &mut files);
    }
    let sources: Vec<(PathBuf, String)> = files.into_iter().map(|f| (f.clone(), read(&f))).collect();
    let mut problems = Vec::new();
    let cited = cited_tests(&architecture);
    if cited.len() < 20 {
        problems
            .push(format!("only {} tests cited in ARCHITECTURE.md's invariants: is the section there?", cited.len()));
    }
    for name in cited {
        let name = name.trim_end_matches("!").trim_end_matches("()");
        let found = if name.ends_with(".rs") || name.contains('/') {
            root().join(name.split(':').next().unwrap_or(name)).exists()
        } else {
            let last = name.rsplit("::").next().unwrap_or(name);
            let module = name.rsplit("::").nth(1);
            sources.iter().any(|(path, text)| {
                let as_fn = text.contains(&format!("fn {last}(")) || text.contains(&format!("macro_rules! {last}"));
                let as_module = text.contains(&format!("mod {last}")) || path.file_stem().is_some_and(|s| s == last);
                let in_module = module.is_none_or(|m| {
                    m == "tests"
                        || m == "conformance"
                        || path.file_stem().is_some_and(|s| s == m)
                        || text.contains(&format!("mod {m}"))
                });
                (as_fn || as_module) && in_module
            })
        };
        if !found {
            problems.push(format!("ARCHITECTURE.md names `{name}`, which no test is called"));
        }
    }
    problems
}

/// A check: the problems it found.
pub type Tidy = fn() -> Vec<String>;

/// Every check, by name.
pub fn checks() -> Vec<(&'static str, Tidy)> {
    vec![
        ("every_member_uses_workspace_lints_and_dependencies", every_member_uses_workspace_lints_and_dependencies),
        ("only_the_event_log_touches_sled", only_the_event_log_touches_sled),
        (
            "services_never_depend_on_each_other_and_share_one_shape",
            services_never_depend_on_each_other_and_share_one_shape,
        ),
        ("generated_protobuf_types_stay_at_the_edge", generated_protobuf_types_stay_at_the_edge),
        ("one_error_to_status_mapping_per_service", one_error_to_status_mapping_per_service),
        ("anyhow_only_in_binaries_and_tests", anyhow_only_in_binaries_and_tests),
        ("libraries_carry_no_cli_dependencies", libraries_carry_no_cli_dependencies),
        ("every_module_says_what_it_holds", every_module_says_what_it_holds),
        ("one_tonic_and_one_prost_in_the_tree", one_tonic_and_one_prost_in_the_tree),
        ("no_module_cycles_inside_a_crate", no_module_cycles_inside_a_crate),
        ("every_test_named_in_architecture_exists", every_test_named_in_architecture_exists),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! tidy {
        ($($check:ident),* $(,)?) => {$(
            #[test]
            fn $check() {
                let problems = super::$check();
                assert!(problems.is_empty(), "{}", problems.join("\n"));
            }
        )*};
    }

    tidy!(
        every_member_uses_workspace_lints_and_dependencies,
        only_the_event_log_touches_sled,
        services_never_depend_on_each_other_and_share_one_shape,
        generated_protobuf_types_stay_at_the_edge,
        one_error_to_status_mapping_per_service,
        anyhow_only_in_binaries_and_tests,
        libraries_carry_no_cli_dependencies,
        every_module_says_what_it_holds,
        one_tonic_and_one_prost_in_the_tree,
        no_module_cycles_inside_a_crate,
        every_test_named_in_architecture_exists,
    );

    #[test]
    fn a_cycle_of_modules_is_found_and_layers_are_not() {
        let graph = |edges: &[(&str, &str)]| {
            let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (a, b) in edges {
                g.entry(a.to_string()).or_default().insert(b.to_string());
                g.entry(b.to_string()).or_default();
            }
            g
        };
        assert!(cycle(&graph(&[("service", "decide"), ("reactions", "decide"), ("decide", "state")])).is_none());
        assert!(cycle(&graph(&[("service", "reactions"), ("reactions", "service")])).is_some());
        let three = cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap();
        assert_eq!(three.len(), 3);
        let cited =
            cited_tests("## Invariants\n1. **X.** *(`first_test`, conformance: `second`)*\n## Next\n*(`not_this`)*");
        assert_eq!(cited, ["first_test", "second"]);
    }
}
