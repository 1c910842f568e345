//! What the tests that run `samenspel node` processes share: a node's config, data, ports and
//! process; a federation of nodes peered through the CLI; and the calls a walk makes.
#![allow(dead_code)] // each test binary uses its own part of it

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use samenspel_proto::v1 as pb;
use samenspel_proto::v1::directory_client::DirectoryClient;
use samenspel_proto::v1::matching_client::MatchingClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry the node admin's credential (issued with `samenspel credentials
/// issue` before the node first starts) and a purpose.
pub type Authed = InterceptedService<Channel, Admin>;

#[derive(Clone)]
pub struct Admin(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Admin {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        r.metadata_mut().insert("purpose", "care".parse().unwrap());
        Ok(r)
    }
}

pub const BIN: &str = env!("CARGO_BIN_EXE_samenspel");

/// One node: its config file, data, ports, and the process while it runs.
pub struct Node {
    pub config: PathBuf,
    pub data: PathBuf,
    pub api: u16,
    child: Option<Child>,
    /// The admin credential's secret.
    pub secret: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "samenspel {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

impl Node {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api)
    }

    pub fn start(&mut self) {
        let log = std::fs::File::create(self.data.with_extension("log")).unwrap();
        let child = Command::new(BIN)
            .args(["node", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,sled=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: nothing is shut down, nothing flushed that was not acknowledged.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "the node stops cleanly on SIGTERM: {status}");
        }
    }

    pub async fn channel(&self) -> Authed {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(channel) = Channel::from_shared(self.url()).unwrap().connect().await {
                let health = tonic_health::pb::HealthCheckRequest { service: "samenspel.v1.Matching".into() };
                let mut client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
                if client.check(health).await.is_ok_and(|r| r.into_inner().status == 1) {
                    let bearer = format!("Bearer {}", self.secret).parse().unwrap();
                    return InterceptedService::new(channel, Admin(bearer));
                }
            }
            assert!(Instant::now() < deadline, "node at {} did not become healthy", self.url());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three nodes peered with each other through the CLI, each with its own config file.
pub fn federation(dir: &Path) -> Vec<Node> {
    federation_of(dir, &["wijkteam", "vrijwilligers", "thuiszorg"], "")
}

/// Nodes named `names`, peered with each other, each config ending in `extra` (TOML).
pub fn federation_of(dir: &Path, names: &[&str], extra: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut peers = Vec::new();
    for &name in names {
        let data = dir.join(name);
        let id = run(&["keys", "--data", data.to_str().unwrap()]).trim().to_string();
        let (api, federation) = (free_port(), free_port());
        let config = dir.join(format!("{name}.toml"));
        let text = format!(
            "listen = \"127.0.0.1:{api}\"\ndata_dir = {data:?}\nshutdown_grace_secs = 1\n\n[federation]\n\
             listen = \"127.0.0.1:{federation}\"\nstartup_wait_secs = 2\nreconnect_max_millis = 500\npeers = []\n\n{extra}"
        );
        std::fs::write(&config, text).unwrap();
        peers.push((name, id, federation));
        let issued = run(&["credentials", "issue", "--role", "admin", "--data", data.to_str().unwrap()]);
        let secret = issued.lines().last().unwrap().to_string();
        nodes.push(Node { config, data, api, child: None, secret });
    }
    for (i, node) in nodes.iter().enumerate() {
        for (j, (name, id, port)) in peers.iter().enumerate() {
            if i != j {
                let address = format!("127.0.0.1:{port}");
                let config = node.config.to_str().unwrap();
                run(&["peer", "add", "--id", id, "--address", &address, "--name", name, "--config", config]);
            }
        }
    }
    nodes
}

pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn organisation(channel: &Authed, name: &str, kind: pb::OrganisationKind) -> String {
    let fields = pb::OrganisationFields {
        name: name.into(),
        kind: kind.into(),
        address: Some(pb::Address { postcode: "6411 AB".into(), city: "Heerlen".into(), ..Default::default() }),
        ..Default::default()
    };
    let request = pb::CreateOrganisationRequest { fields: Some(fields), request_id: String::new() };
    DirectoryClient::new(channel.clone()).create_organisation(request).await.unwrap().into_inner().id
}

pub async fn offer(channel: &Authed, organisation: &str, title: &str, capacity: u32) -> String {
    let fields = pb::OfferFields {
        title: title.into(),
        support_kinds: vec!["boodschappen".into()],
        area: Some(pb::ServiceArea { postcode_ranges: vec!["6400-6419".into()], ..Default::default() }),
        capacity,
        max_complexity: pb::Complexity::Medium.into(),
        ..Default::default()
    };
    let request = pb::CreateOfferRequest {
        organisation_id: organisation.into(),
        fields: Some(fields),
        request_id: String::new(),
    };
    DirectoryClient::new(channel.clone()).create_offer(request).await.unwrap().into_inner().id
}

pub async fn get_match(channel: &Authed, id: &str) -> Option<pb::Match> {
    let request = pb::GetMatchRequest { match_id: id.into() };
    MatchingClient::new(channel.clone()).get_match(request).await.ok().map(|m| m.into_inner())
}

/// The kinds of the notices about `match_id` on `organisation`'s match stream, until `last`.
pub async fn notices_until(channel: &Authed, organisation: &str, match_id: &str, last: &str) -> Vec<String> {
    let watch = pb::WatchMatchesRequest { organisation_id: organisation.into(), from_position: 1 };
    let mut stream = MatchingClient::new(channel.clone()).watch_matches(watch).await.unwrap().into_inner();
    let mut kinds = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(n) = stream.message().await.unwrap() {
            if n.r#match.as_ref().is_some_and(|m| m.id == match_id) {
                kinds.push(n.kind.clone());
                if n.kind == last {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert!(found.unwrap_or(false), "the match stream of {organisation} shows {kinds:?}, never {last}");
    kinds
}

/// Consent to share a request for matching and follow-up with organisations of `kinds`.
pub fn consent_for(kinds: &[pb::OrganisationKind]) -> pb::Consent {
    let scope = |k: &pb::OrganisationKind| pb::ConsentScope {
        scope: Some(pb::consent_scope::Scope::OrganisationKind((*k).into())),
    };
    pb::Consent {
        scopes: kinds.iter().map(scope).collect(),
        purposes: vec![pb::Purpose::Matching.into(), pb::Purpose::FollowUp.into()],
        until: "2099-12-31".into(),
    }
}

/// What the sociale kaart says of the room of an offer: its last search reason.
pub async fn room(channel: &Authed, offer: &str) -> Option<String> {
    let search = pb::SearchOffersRequest { support_kind: "boodschappen".into(), ..Default::default() };
    let hits = DirectoryClient::new(channel.clone()).search_offers(search).await.ok()?.into_inner().hits;
    hits.into_iter().find(|h| h.offer.as_ref().is_some_and(|o| o.id == offer))?.reasons.last().cloned()
}
