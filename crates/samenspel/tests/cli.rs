//! The `samenspel` binary as an operator uses it: run a node, stop it with SIGTERM, verify the
//! store it left behind, and see damage reported with a non-zero exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use samenspel_proto::v1 as pb;
use samenspel_proto::v1::event_log_client::EventLogClient;

const BIN: &str = env!("CARGO_BIN_EXE_samenspel");

/// Starts `samenspel node` on a free port; returns the child and its address.
fn start_node(data: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args(["node", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("RUST_LOG", "info")
        .env("SAMENSPEL_SHUTDOWN_GRACE_SECS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(addr) = line.split("addr=").nth(1) {
                let _ = tx.send(addr.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("the node did not report its address");
    (child, addr)
}

fn verify(data: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(["verify", "--data"]).arg(data).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn sigterm_flushes_and_the_store_verifies_until_it_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = start_node(&data);
    let mut client = EventLogClient::connect(format!("http://{addr}")).await.unwrap();
    for i in 0..30 {
        let event = pb::NewEvent {
            stream: format!("s{}", i % 3),
            kind: "test.noted".into(),
            payload: vec![i; 10],
            ..Default::default()
        };
        client.append(pb::AppendRequest { events: vec![event] }).await.unwrap();
    }
    drop(client);
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let (code, out) = verify(&data);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("events 30"), "{out}");
    assert!(out.lines().last().unwrap().starts_with("ok:"), "{out}");

    samenspel_eventlog::conformance::damage_header_on_disk(&data, 17).unwrap();
    let (code, out) = verify(&data);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("seq 17"), "the damaged position is named: {out}");
    assert!(out.lines().last().unwrap().starts_with("damaged:"), "{out}");
}

#[test]
fn verify_without_a_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = verify(&dir.path().join("nothing-here"));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no event log"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_subscription_does_not_keep_the_node_from_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = start_node(&data);
    let mut client = EventLogClient::connect(format!("http://{addr}")).await.unwrap();
    let event = pb::NewEvent { stream: "s".into(), kind: "test.noted".into(), ..Default::default() };
    client.append(pb::AppendRequest { events: vec![event] }).await.unwrap();
    // A volunteer platform following the log: this call never ends by itself.
    let mut live =
        client.subscribe(pb::SubscribeRequest { from_position: 1, ..Default::default() }).await.unwrap().into_inner();
    assert!(live.message().await.unwrap().is_some());
    let started = std::time::Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(20), "stopped after the 1 s grace period, not never");
    let (code, out) = verify(&data);
    assert_eq!(code, Some(0), "{out}");
}

fn samenspel(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_sociale_kaart_is_imported_and_exported_as_hsds_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_node(&dir.path().join("data"));
    let node = format!("http://{addr}");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/examples/sociale-kaart.hsds.json");

    let (code, out, err) = samenspel(&["directory", "import", example, "--node", &node]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("organisations    2 created"), "{out}");
    assert!(out.contains("1 skipped (not active)"), "{out}");
    assert!(out.contains("written: all changes appended in one write"), "{out}");

    let mut bad: serde_json::Value = serde_json::from_slice(&std::fs::read(example).unwrap()).unwrap();
    bad[1]["name"] = "".into();
    let bad_file = dir.path().join("bad.json");
    std::fs::write(&bad_file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let (code, out, err) = samenspel(&["directory", "import", bad_file.to_str().unwrap(), "--node", &node]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("organizations[1] organization"), "the rejected row is named: {out}");
    assert!(out.contains("name: must not be empty"), "and why: {out}");
    assert!(out.contains("nothing was written"), "{out}");

    let exported = dir.path().join("kaart.json");
    let (code, out, err) = samenspel(&["directory", "export", "--node", &node, "--out", exported.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let document: serde_json::Value = serde_json::from_slice(&std::fs::read(&exported).unwrap()).unwrap();
    assert_eq!(document["contents"].as_array().unwrap().len(), 2);
    let (code, out, _) = samenspel(&["directory", "import", exported.to_str().unwrap(), "--node", &node]);
    assert_eq!(code, Some(0));
    assert!(out.contains("nothing to write"), "{out}");

    let (code, _, err) = samenspel(&["directory", "import", example, "--node", "http://127.0.0.1:1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot reach the node"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn keys_prints_the_node_id_and_peer_add_writes_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = || Command::new(BIN).args(["keys", "--data"]).arg(&data).output().unwrap();
    let first = keys();
    assert!(first.status.success());
    let id = String::from_utf8(first.stdout).unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "a node id is 64 hex digits: {id}");
    assert_eq!(String::from_utf8(keys().stdout).unwrap().trim(), id, "the key is kept");

    // The sample config writes `peers = []`; adding a peer keeps every other line.
    let config = dir.path().join("samenspel.toml");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/samenspel.toml");
    std::fs::copy(sample, &config).unwrap();
    let add = |id: &str, address: &str| {
        Command::new(BIN)
            .args(["peer", "add", "--id", id, "--address", address, "--name", "steunpunt", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    assert!(add(&id, "10.0.0.5:7401").status.success());
    assert!(add(&id, "10.0.0.6:7401").status.success(), "adding a known peer changes its address");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("# Most events in one message of a pull stream."), "comments stay");
    let parsed: toml::Table = written.parse().unwrap();
    let peers = parsed["federation"]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(peers[0]["address"].as_str(), Some("10.0.0.6:7401"));
    let bad = add("not-a-node-id", "10.0.0.5:7401");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--id"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written, "a refused call writes nothing");
}
