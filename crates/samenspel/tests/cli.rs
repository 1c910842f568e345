//! The `samenspel` binary as an operator uses it: run a node, stop it with SIGTERM, verify the
//! store it left behind, and see damage reported with a non-zero exit.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use samenspel_proto::v1 as pb;
use samenspel_proto::v1::event_log_client::EventLogClient;

const BIN: &str = env!("CARGO_BIN_EXE_samenspel");

/// Issues a credential with `samenspel credentials issue`; returns its secret (the last line).
fn issue(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN).args(["credentials", "issue", "--data"]).arg(data).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().to_string()
}

/// An admin credential for the node in `data`.
fn admin(data: &std::path::Path) -> String {
    issue(data, &["--role", "admin", "--label", "test"])
}

/// A channel whose calls carry a credential and a purpose.
type Authed = tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

#[derive(Clone)]
struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        if !r.metadata().contains_key("purpose") {
            r.metadata_mut().insert("purpose", "support".parse().unwrap());
        }
        Ok(r)
    }
}

/// A channel to the node at `addr` whose calls carry `secret`.
async fn authed(addr: &str, secret: &str) -> Authed {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    Authed::new(channel, Bearer(format!("Bearer {secret}").parse().unwrap()))
}

/// A log client of the node at `addr` whose calls carry `secret`.
async fn log_client(addr: &str, secret: &str) -> EventLogClient<Authed> {
    EventLogClient::new(authed(addr, secret).await)
}

/// Starts `samenspel node` on a free port; returns the child and its address.
/// A node process that is killed when the test lets go of it, also when the test fails: a node
/// left running would keep the test's output pipe open.
struct Node(std::process::Child);

impl std::ops::Deref for Node {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Node {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_node(data: &std::path::Path) -> (Node, String) {
    let (child, addr, _) = start_node_saying(data);
    (child, addr)
}

/// [`start_node`], and what the node logged before it said where it listens.
fn start_node_saying(data: &std::path::Path) -> (Node, String, Vec<String>) {
    start_node_with(data, &[("SAMENSPEL_SHUTDOWN_GRACE_SECS", "1")])
}

/// [`start_node_saying`], with `env` set for the node.
fn start_node_with(data: &std::path::Path, env: &[(&str, &str)]) -> (Node, String, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(["node", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut before = Vec::new();
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(addr) = line.split("addr=").nth(1) {
                let addr = addr.split_whitespace().next().unwrap_or_default().to_string();
                let _ = tx.send((addr, std::mem::take(&mut before)));
            } else {
                before.push(line);
            }
        }
    });
    let child = Node(child);
    let (addr, before) = rx.recv_timeout(Duration::from_secs(30)).expect("the node did not report its address");
    (child, addr, before)
}

fn verify(data: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(["verify", "--data"]).arg(data).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn sigterm_flushes_and_the_store_verifies_until_it_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = admin(&data);
    let (mut child, addr) = start_node(&data);
    let mut client = log_client(&addr, &secret).await;
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
    assert!(out.contains("events 30"), "only the appends: none of them was a read, nothing else is on record: {out}");
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
    let secret = admin(&data);
    // The default grace period (10 s): an open stream must not hold the stop for it.
    let (mut child, addr, _) = start_node_with(&data, &[]);
    let mut client = log_client(&addr, &secret).await;
    let event = pb::NewEvent { stream: "s".into(), kind: "test.noted".into(), ..Default::default() };
    client.append(pb::AppendRequest { events: vec![event] }).await.unwrap();
    // A volunteer platform following the log: this call never ends by itself.
    let mut live =
        client.subscribe(pb::SubscribeRequest { from_position: 1, ..Default::default() }).await.unwrap().into_inner();
    assert!(live.message().await.unwrap().is_some());
    let started = std::time::Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    // The stream ends with UNAVAILABLE (resume from the last position), not a cut connection.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match live.message().await {
                Ok(Some(_)) => continue, // the access records of this very stream
                other => return other,
            }
        }
    });
    let ended = ended.await.expect("the stream ended");
    assert_eq!(ended.unwrap_err().code(), tonic::Code::Unavailable);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "stopped at once, not after the grace period: {took:?}");
    let (code, out) = verify(&data);
    assert_eq!(code, Some(0), "{out}");
}

fn samenspel(args: &[&str]) -> (Option<i32>, String, String) {
    samenspel_with(args, &[])
}

fn samenspel_with(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).args(args).envs(env.iter().copied()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_sociale_kaart_is_imported_and_exported_as_hsds_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let secret = admin(&dir.path().join("data"));
    let (mut child, addr) = start_node(&dir.path().join("data"));
    let node = format!("http://{addr}");
    let samenspel = |args: &[&str]| samenspel_with(args, &[("SAMENSPEL_CREDENTIAL", secret.as_str())]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_issued_listed_and_revoked_while_the_node_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr, said) = start_node_saying(&data);
    assert!(
        said.iter().any(|l| l.contains("samenspel credentials issue --data <data dir> --role admin")),
        "a first start says how to get in: {said:?}"
    );
    let ask = |secret: String| {
        let addr = addr.clone();
        async move { log_client(&addr, &secret).await.list_origins(pb::ListOriginsRequest::default()).await }
    };
    let refused = ask(format!("samenspel_c0000000000000000_{}", "0".repeat(64))).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "no anonymous mode, not even on loopback");

    // Issued while the node runs: taken within a second.
    let out = Command::new(BIN)
        .args(["credentials", "issue", "--role", "admin", "--label", "beheer", "--expires", "90d", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.lines().last().unwrap().to_string();
    assert!(secret.starts_with("samenspel_c") && !secret.contains(' '), "the secret alone on the last line: {stdout}");
    assert_eq!(stdout.matches(&secret).count(), 1, "shown once");
    let stored = std::fs::read_to_string(data.join("credentials.json")).unwrap();
    assert!(!stored.contains(&secret[28..]), "only its hash is stored");
    let started = std::time::Instant::now();
    while ask(secret.clone()).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(3), "the running node takes a new credential");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = secret.split('_').nth(1).unwrap().to_string();

    let (code, listed, _) = samenspel(&["credentials", "list", "--data", data.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(listed.contains(&id) && listed.contains("role admin") && listed.contains("label \"beheer\""), "{listed}");
    assert!(!listed.contains(&secret[28..]), "never a secret");
    let (code, _, err) =
        samenspel(&["credentials", "issue", "--role", "coordinator", "--data", data.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--organisation"), "{err}");
    let (code, _, err) = samenspel(&["credentials", "issue", "--role", "superuser", "--data", data.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown role"), "{err}");

    // Revoked while the node runs: refused within a second, no restart.
    let (code, out, _) = samenspel(&["credentials", "revoke", "--data", data.to_str().unwrap(), &id]);
    assert_eq!(code, Some(0), "{out}");
    let started = std::time::Instant::now();
    loop {
        match ask(secret.clone()).await {
            Err(s) if s.code() == tonic::Code::Unauthenticated => break,
            _ => assert!(started.elapsed() < Duration::from_secs(3), "the running node refuses a revoked credential"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, listed, _) = samenspel(&["credentials", "list", "--data", data.to_str().unwrap()]);
    assert!(listed.contains("revoked"), "{listed}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// An answered read of personal data has a durable access record: the node killed with SIGKILL
/// while sixteen clients read, again and again, loses the record of no read it answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answered_read_loses_its_access_record_when_the_node_is_killed() {
    use samenspel_proto::v1::audit_client::AuditClient;
    use samenspel_proto::v1::intake_client::IntakeClient;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = admin(&data);
    let auditor = issue(&data, &["--role", "auditor"]);
    let (mut child, mut addr) = start_node(&data);
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Client.into(),
        client: Some(pb::Person { name: "Mevrouw Bakker".into(), ..Default::default() }),
        support_kinds: vec!["boodschappen".into()],
        postcode: "6411 AB".into(),
        ..Default::default()
    };
    let submit = pb::SubmitHelpRequestRequest { fields: Some(fields), ..Default::default() };
    let id = IntakeClient::new(authed(&addr, &secret).await).submit_help_request(submit).await.unwrap().into_inner().id;
    let answered: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    for round in 0..5 {
        let mut readers = Vec::new();
        for reader in 0..16 {
            let (addr, secret, id, answered) = (addr.clone(), secret.clone(), id.clone(), answered.clone());
            readers.push(tokio::spawn(async move {
                let mut intake = IntakeClient::new(authed(&addr, &secret).await);
                for n in 0.. {
                    let user = format!("reader-{round}-{reader}-{n}");
                    let mut request = tonic::Request::new(pb::GetHelpRequestRequest { id: id.clone() });
                    request.metadata_mut().insert("user", user.parse().unwrap());
                    match intake.get_help_request(request).await {
                        Ok(_) => answered.lock().unwrap().insert(user),
                        Err(_) => return,
                    };
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 50 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for r in readers {
            r.await.unwrap();
        }
        (child, addr) = start_node(&data);
        // Every answered read is on record.
        let mut audit = AuditClient::new(authed(&addr, &auditor).await);
        let mut recorded = BTreeSet::new();
        let mut token = String::new();
        loop {
            let mut request = tonic::Request::new(pb::ListAccessRequest {
                subject: format!("request/{id}"),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            });
            request.metadata_mut().insert("purpose", "audit".parse().unwrap());
            let page = audit.list_access(request).await.unwrap().into_inner();
            recorded.extend(page.entries.into_iter().map(|e| e.user));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let answered = answered.lock().unwrap().clone();
        assert!(answered.len() > 16 * (round as usize + 1), "round {round}: reads were answered ({})", answered.len());
        let lost: Vec<&String> = answered.difference(&recorded).collect();
        assert!(lost.is_empty(), "round {round}: answered without a durable record: {lost:?}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, out) = verify(&data);
    assert_eq!(code, Some(0), "{out}");
}

#[tokio::test]
async fn a_stopped_node_is_backed_up_and_restored_and_a_running_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = admin(&data);
    let (mut child, addr) = start_node(&data);
    let mut client = log_client(&addr, &secret).await;
    let event =
        pb::NewEvent { stream: "s".into(), kind: "test.noted".into(), payload: vec![1; 10], ..Default::default() };
    client.append(pb::AppendRequest { events: vec![event] }).await.unwrap();
    drop(client);
    let backup = dir.path().join("backup");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (code, _, err) = samenspel(&["backup", "--data", &path(&data), "--to", &path(&backup)]);
    assert_ne!(code, Some(0), "not while the node runs");
    assert!(err.contains("is a node running on it?"), "{err}");
    assert!(!backup.exists() || std::fs::read_dir(&backup).unwrap().next().is_none(), "nothing half copied");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success());

    let (code, out, err) = samenspel(&["backup", "--data", &path(&data), "--to", &path(&backup)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("the copy verifies"), "{out}");
    for file in ["node.key", "subject-keys", "credentials.json"] {
        assert!(backup.join(file).is_file(), "{file} in the backup");
    }
    let (code, _, err) = samenspel(&["backup", "--data", &path(&data), "--to", &path(&backup)]);
    assert_ne!(code, Some(0));
    assert!(err.contains("is not empty"), "{err}");

    let (code, _, err) = samenspel(&["restore", "--from", &path(&backup), "--data", &path(&data)]);
    assert_ne!(code, Some(0), "not over a data directory without --replace");
    assert!(err.contains("--replace"), "{err}");
    let (code, out, err) = samenspel(&["restore", "--from", &path(&backup), "--data", &path(&data), "--replace"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("set the old data directory aside"), "{out}");
    let (code, out) = verify(&data);
    assert_eq!(code, Some(0), "{out}");
    let (mut child, _) = start_node(&data);
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "the restored node runs and stops: {status}");
}

/// Each person taken in gets a key before anything is sealed under it: killed in the middle of
/// many intakes, the node still reads every request it acknowledged, names included — no sealed
/// payload outlives its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_request_loses_its_key_when_the_node_is_killed() {
    use samenspel_proto::v1::intake_client::IntakeClient;
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = admin(&data);
    let (mut child, mut addr) = start_node(&data);
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    for round in 0..3 {
        let mut writers = Vec::new();
        for writer in 0..8 {
            let (addr, secret, acknowledged) = (addr.clone(), secret.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                let mut intake = IntakeClient::new(authed(&addr, &secret).await);
                for n in 0.. {
                    let name = format!("Mevrouw Bakker {round}-{writer}-{n}");
                    let fields = pb::HelpRequestFields {
                        asked_by: pb::Asker::Client.into(),
                        client: Some(pb::Person {
                            subject_id: format!("c-{round}-{writer}-{n}"),
                            name: name.clone(),
                            ..Default::default()
                        }),
                        support_kinds: vec!["boodschappen".into()],
                        postcode: "6411 AB".into(),
                        ..Default::default()
                    };
                    let submit = pb::SubmitHelpRequestRequest { fields: Some(fields), ..Default::default() };
                    match intake.submit_help_request(submit).await {
                        Ok(r) => acknowledged.lock().unwrap().push((r.into_inner().id, name)),
                        Err(_) => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(400 + 100 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        for w in writers {
            w.await.unwrap();
        }
        (child, addr) = start_node(&data);
        let mut intake = IntakeClient::new(authed(&addr, &secret).await);
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(
            acknowledged.len() > 8 * (round as usize + 1),
            "round {round}: requests were taken in ({})",
            acknowledged.len()
        );
        for (id, name) in &acknowledged {
            let r = intake.get_help_request(pb::GetHelpRequestRequest { id: id.clone() }).await.unwrap().into_inner();
            assert_eq!(&r.fields.unwrap().client.unwrap().name, name, "round {round}: request {id} lost its key");
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, out) = verify(&data);
    assert_eq!(code, Some(0), "{out}");
}

/// Appends `n` raw events as the admin.
async fn append_raw(addr: &str, secret: &str, tag: &str, n: usize) {
    let mut client = log_client(addr, secret).await;
    let events = (0..n)
        .map(|i| pb::NewEvent {
            stream: format!("audit-test/{tag}"),
            kind: "test.noted".into(),
            payload: format!("{tag} {i}").into_bytes(),
            ..Default::default()
        })
        .collect();
    client.append(pb::AppendRequest { events }).await.unwrap();
}

/// An auditor keeps a tree head, later fetches proofs, and checks them with nothing but the
/// files and the node id; a changed proof, a forged head, another node's key and a log rewritten
/// under the same key (a node restarted on other events) all fail the check.
#[tokio::test]
async fn an_auditor_keeps_a_tree_head_and_checks_proofs_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = admin(&data);
    let auditor = issue(&data, &["--role", "auditor", "--label", "inspectie"]);
    let (code, key, _) = samenspel(&["keys", "--data", data.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    let key = key.trim().to_string();
    let (mut child, addr) = start_node(&data);
    let node = format!("http://{addr}");
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let as_auditor = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--node", &node]);
        samenspel_with(&all, &[("SAMENSPEL_CREDENTIAL", auditor.as_str())])
    };
    append_raw(&addr, &secret, "before", 100).await;
    let (code, out, err) = as_auditor(&["audit", "tree-head", "--out", &file("old.json")]);
    assert_eq!(code, Some(0), "{out}{err}");
    append_raw(&addr, &secret, "after", 50).await;
    for (args, name) in [
        (vec!["audit", "tree-head"], "new.json"),
        (
            vec!["audit", "prove-consistency", "--from", &file("old.json"), "--to", &file("new.json")],
            "consistency.json",
        ),
        (vec!["audit", "prove-inclusion", "--seq", "42", "--head", &file("old.json")], "inclusion.json"),
    ] {
        let mut args = args.clone();
        let out_file = file(name);
        args.extend(["--out", &out_file]);
        let (code, out, err) = as_auditor(&args);
        assert_eq!(code, Some(0), "{args:?}: {out}{err}");
    }
    let head: serde_json::Value = serde_json::from_slice(&std::fs::read(file("old.json")).unwrap()).unwrap();
    assert!(head["tree_size"].as_u64().unwrap() >= 100);
    // A request this node never took in has an empty timeline; a malformed id is named.
    let (code, out, err) = as_auditor(&["audit", "timeline", "--request", &"0".repeat(32)]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    let (code, _, err) = as_auditor(&["audit", "timeline", "--request", "not an id!"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("request_id"), "{err}");
    // Without the node: the checks need nothing but the files and the key.
    child.kill().unwrap();
    child.wait().unwrap();
    let check = |head: &str, proof: &str, old: Option<&str>, key: &str| {
        let mut args = vec!["audit", "check-proof", "--key", key, "--head", head, "--proof", proof];
        if let Some(old) = old {
            args.extend(["--old-head", old]);
        }
        samenspel(&args)
    };
    let (code, out, err) = check(&file("new.json"), &file("consistency.json"), Some(&file("old.json")), &key);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("none of its first"), "{out}");
    let (code, out, err) = check(&file("old.json"), &file("inclusion.json"), None, &key);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("ok: event 42"), "{out}");

    // A changed path, a forged head, another key.
    let mut proof: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("consistency.json")).unwrap()).unwrap();
    proof["path"][0] = serde_json::Value::String("00".repeat(32));
    std::fs::write(file("bad-proof.json"), proof.to_string()).unwrap();
    let (code, out, _) = check(&file("new.json"), &file("bad-proof.json"), Some(&file("old.json")), &key);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("proof fails:"), "{out}");
    let mut forged = head.clone();
    forged["root_hash"] = serde_json::Value::String("11".repeat(32));
    std::fs::write(file("forged.json"), forged.to_string()).unwrap();
    let (code, out, _) = check(&file("forged.json"), &file("inclusion.json"), None, &key);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("signature does not verify"), "{out}");
    let other = samenspel_eventlog::NodeKey::from_seed([9; 32]).node_id().to_string();
    let (code, out, _) = check(&file("old.json"), &file("inclusion.json"), None, &other);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("another log"), "{out}");

    // The same node key on a log with other events: its head is signed, but it does not extend
    // the head the auditor kept.
    let rewritten = dir.path().join("rewritten");
    std::fs::create_dir_all(&rewritten).unwrap();
    std::fs::copy(data.join("node.key"), rewritten.join("node.key")).unwrap();
    let secret = admin(&rewritten);
    let auditor_b = issue(&rewritten, &["--role", "auditor", "--label", "inspectie"]);
    let (mut child, addr) = start_node(&rewritten);
    let node = format!("http://{addr}");
    append_raw(&addr, &secret, "rewritten", 200).await;
    let env = [("SAMENSPEL_CREDENTIAL", auditor_b.as_str())];
    let (code, out, err) =
        samenspel_with(&["audit", "tree-head", "--node", &node, "--out", &file("rewritten-head.json")], &env);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = samenspel_with(
        &[
            "audit",
            "prove-consistency",
            "--node",
            &node,
            "--from",
            &file("old.json"),
            "--out",
            &file("rewritten-proof.json"),
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{out}{err}");
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, out, _) =
        check(&file("rewritten-head.json"), &file("rewritten-proof.json"), Some(&file("old.json")), &key);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("changed before the older head"), "{out}");
}

/// `samenspel audit verify` has the running node check every log it holds: a store that is fine
/// passes; a payload and a checkpoint changed on disk while the node was stopped are reported at
/// their positions. (A header changed on disk stops the node from starting at all: it says the
/// store is damaged, and `samenspel verify` names the position, as tested above.)
#[tokio::test]
async fn audit_verify_reports_a_damaged_payload_and_checkpoint_at_their_positions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = admin(&data);
    let auditor = issue(&data, &["--role", "auditor", "--label", "inspectie"]);
    let (mut child, addr) = start_node(&data);
    for i in 0..3 {
        append_raw(&addr, &secret, &format!("verify-{i}"), 10).await;
    }
    let env = [("SAMENSPEL_CREDENTIAL", auditor.as_str())];
    let (code, out, err) = samenspel_with(&["audit", "verify", "--node", &format!("http://{addr}")], &env);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.lines().last().unwrap().starts_with("ok:"), "{out}");
    child.kill().unwrap();
    child.wait().unwrap();

    samenspel_eventlog::conformance::damage_payload_on_disk(&data, 7).unwrap();
    samenspel_eventlog::conformance::damage_checkpoint_on_disk(&data, 20).unwrap();
    let (_child, addr) = start_node(&data);
    let (code, out, err) = samenspel_with(&["audit", "verify", "--node", &format!("http://{addr}")], &env);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("seq 7: payload does not match its hash (payload_mismatch)"), "{out}");
    assert!(out.contains("seq 20: checkpoint signature does not verify (bad_signature)"), "{out}");
    assert!(out.lines().last().unwrap().starts_with("damaged: 2 problems"), "{out}");
}

#[tokio::test]
async fn a_referral_bundle_goes_in_once_and_comes_out_as_fhir_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let secret = admin(&dir.path().join("data"));
    let (mut child, addr) = start_node(&dir.path().join("data"));
    let node = format!("http://{addr}");
    let samenspel = |args: &[&str]| samenspel_with(args, &[("SAMENSPEL_CREDENTIAL", secret.as_str())]);
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": { "system": "urn:oid:2.16.528.1.1007.3.3.1234", "value": "verwijzing-7" },
        "entry": [
            { "fullUrl": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000001", "resource": {
                "resourceType": "ServiceRequest", "status": "active", "intent": "order",
                "code": { "coding": [{ "system": "https://samenspel.nl/fhir/CodeSystem/support-kind", "code": "klusjes" }] },
                "subject": { "reference": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000002" } } },
            { "fullUrl": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000002", "resource": {
                "resourceType": "Patient", "name": [{ "text": "Mevrouw Smeets" }], "address": [{ "postalCode": "6411 AB" }] } }
        ]
    });
    let file = dir.path().join("verwijzing.json");
    std::fs::write(&file, bundle.to_string()).unwrap();
    let (code, out, err) = samenspel(&["fhir", "import", file.to_str().unwrap(), "--node", &node]);
    assert_eq!(code, Some(0), "{out}{err}");
    let id = out.trim().strip_prefix("taken in as request ").expect("the request's id").to_string();
    let (code, out, _) = samenspel(&["fhir", "import", file.to_str().unwrap(), "--node", &node]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), format!("taken in before as request {id}: nothing written"));

    let exported = dir.path().join("out.json");
    let (code, out, err) =
        samenspel(&["fhir", "export", "--request", &id, "--node", &node, "--out", exported.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&exported).unwrap()).unwrap();
    assert_eq!((b["resourceType"].as_str(), b["type"].as_str()), (Some("Bundle"), Some("collection")));
    assert_eq!(b["entry"][0]["resource"]["code"]["coding"][0]["code"], "klusjes");
    let (code, out, _) = samenspel(&["fhir", "export", "--request", &id, "--receiver", "--node", &node]);
    assert_eq!(code, Some(0));
    assert!(!out.contains("Smeets"), "the receiver's Bundle holds no name: {out}");

    let mut bad = bundle.clone();
    bad["entry"][1]["resource"]["address"][0]["postalCode"] = "6411".into();
    bad["identifier"]["value"] = "verwijzing-8".into();
    std::fs::write(&file, bad.to_string()).unwrap();
    let (code, out, _) = samenspel(&["fhir", "import", file.to_str().unwrap(), "--node", &node]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("  Bundle.entry[1].resource.address[0].postalCode: "), "{out}");
    let (code, out, _) = samenspel(&["fhir", "export", "--request", &"0".repeat(32), "--node", &node]);
    assert_eq!(code, Some(2), "{out}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_commands_on_a_nodes_files_use_the_configs_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("samenspel.toml"), "data_dir = \"store\"\n").unwrap();
    let run = |args: &[&str]| Command::new(BIN).args(args).current_dir(dir.path()).output().unwrap();
    let made = run(&["keys"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let id = String::from_utf8(made.stdout).unwrap().trim().to_string();
    assert!(dir.path().join("store/node.key").is_file(), "the key is made where the config says");
    assert!(!dir.path().join("samenspel-data").exists(), "not in the default directory");
    assert_eq!(String::from_utf8(run(&["keys"]).stdout).unwrap().trim(), id, "the same key again");
    let issued = run(&["credentials", "issue", "--role", "admin", "--label", "ops"]);
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));
    assert!(dir.path().join("store/credentials.json").is_file());
    let listed = String::from_utf8(run(&["credentials", "list"]).stdout).unwrap();
    assert!(listed.contains("ops"), "{listed}");
    // verify reads the same directory: no log there yet, and it says where it looked.
    let verified = run(&["verify"]);
    assert_eq!(verified.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&verified.stderr).contains("store"), "{verified:?}");
    // --config names the file from anywhere, and --data still wins.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = dir.path().join("samenspel.toml");
    let named =
        Command::new(BIN).args(["keys", "--config"]).arg(&config).current_dir(elsewhere.path()).output().unwrap();
    assert!(named.status.success());
    assert!(
        elsewhere.path().join("store/node.key").is_file(),
        "a relative data_dir is the working directory's, as for `node`"
    );
    let other = Command::new(BIN).args(["keys", "--data", "other"]).current_dir(dir.path()).output().unwrap();
    assert_ne!(String::from_utf8(other.stdout).unwrap().trim(), id);
}

#[test]
fn an_unusable_data_directory_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    for data in [file.clone(), file.join("below")] {
        let out = Command::new(BIN).args(["node", "--listen", "127.0.0.1:0", "--data"]).arg(&data).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let said = String::from_utf8_lossy(&out.stderr);
        let line = said.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
        assert!(line.contains(&data.display().to_string()), "the path is named: {said}");
        assert!(line.contains("data directory"), "{said}");
        assert_eq!(line.matches("os error").count(), 1, "the cause once: {line}");
    }
}

#[test]
fn a_listen_address_may_be_a_host_name_and_logs_may_be_json() {
    let dir = tempfile::tempdir().unwrap();
    // A host without a port is refused, saying what to give.
    let bad = Command::new(BIN).args(["node", "--memory", "--listen", "localhost"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("host:port"), "{bad:?}");
    let mut child = Node(
        Command::new(BIN)
            .args(["node", "--memory", "--listen", "localhost:0", "--log-format", "json", "--data"])
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut serving = None;
    for line in stderr.lines().map_while(Result::ok).take(200) {
        let object: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(object["level"].is_string() && object["fields"]["message"].is_string(), "{line}");
        if object["fields"]["message"] == "node serving" {
            serving = Some(object);
            break;
        }
    }
    let serving = serving.expect("the node said it serves");
    let addr = serving["fields"]["addr"].as_str().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "localhost resolved to its IPv4 address: {addr}");
}
