//! The referral walk as a new integrator tries it: three `samenspel node` processes on loopback
//! (a wijkteam that owns the request, a volunteer organisation, a home-care provider), peered with
//! `samenspel keys` and `samenspel peer add`, a referral walked from the sociale kaart to closure,
//! and the volunteer organisation's node killed with SIGKILL between the confirmation and its
//! answer. After its restart it answers; both sides see the owner's decision, its match stream
//! shows it, the place it claimed is freed when the help ends, and every store verifies.
//!
//! `SAMENSPEL_WALK_RUNS` repeats the walk (default 1); the acceptance loop is 20 runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use samenspel_proto::v1 as pb;
use samenspel_proto::v1::directory_client::DirectoryClient;
use samenspel_proto::v1::follow_up_client::FollowUpClient;
use samenspel_proto::v1::intake_client::IntakeClient;
use samenspel_proto::v1::matching_client::MatchingClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry the node admin's credential (issued with `samenspel credentials
/// issue` before the node first starts) and a purpose.
type Authed = InterceptedService<Channel, Admin>;

#[derive(Clone)]
struct Admin(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Admin {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        r.metadata_mut().insert("purpose", "care".parse().unwrap());
        Ok(r)
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_samenspel");

/// One node: its config file, data, ports, and the process while it runs.
struct Node {
    config: PathBuf,
    data: PathBuf,
    api: u16,
    child: Option<Child>,
    /// The admin credential's secret.
    secret: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "samenspel {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

impl Node {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api)
    }

    fn start(&mut self) {
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
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, and wait for a clean exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
            let status = child.wait().unwrap();
            assert!(status.success(), "the node stops cleanly on SIGTERM: {status}");
        }
    }

    async fn channel(&self) -> Authed {
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
fn federation(dir: &Path) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut peers = Vec::new();
    for name in ["wijkteam", "vrijwilligers", "thuiszorg"] {
        let data = dir.join(name);
        let id = run(&["keys", "--data", data.to_str().unwrap()]).trim().to_string();
        let (api, federation) = (free_port(), free_port());
        let config = dir.join(format!("{name}.toml"));
        let text = format!(
            "listen = \"127.0.0.1:{api}\"\ndata_dir = {data:?}\nshutdown_grace_secs = 1\n\n[federation]\n\
             listen = \"127.0.0.1:{federation}\"\nstartup_wait_secs = 2\nreconnect_max_millis = 500\npeers = []\n"
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

async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn organisation(channel: &Authed, name: &str, kind: pb::OrganisationKind) -> String {
    let fields = pb::OrganisationFields {
        name: name.into(),
        kind: kind.into(),
        address: Some(pb::Address { postcode: "6411 AB".into(), city: "Heerlen".into(), ..Default::default() }),
        ..Default::default()
    };
    let request = pb::CreateOrganisationRequest { fields: Some(fields), request_id: String::new() };
    DirectoryClient::new(channel.clone()).create_organisation(request).await.unwrap().into_inner().id
}

async fn offer(channel: &Authed, organisation: &str, title: &str, capacity: u32) -> String {
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

async fn get_match(channel: &Authed, id: &str) -> Option<pb::Match> {
    let request = pb::GetMatchRequest { match_id: id.into() };
    MatchingClient::new(channel.clone()).get_match(request).await.ok().map(|m| m.into_inner())
}

/// The kinds of the notices about `match_id` on `organisation`'s match stream, until `last`.
async fn notices_until(channel: &Authed, organisation: &str, match_id: &str, last: &str) -> Vec<String> {
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

/// What the sociale kaart says of the room of an offer: its last search reason.
async fn room(channel: &Authed, offer: &str) -> Option<String> {
    let search = pb::SearchOffersRequest { support_kind: "boodschappen".into(), ..Default::default() };
    let hits = DirectoryClient::new(channel.clone()).search_offers(search).await.ok()?.into_inner().hits;
    hits.into_iter().find(|h| h.offer.as_ref().is_some_and(|o| o.id == offer))?.reasons.last().cloned()
}

async fn walk(dir: &Path) {
    let mut nodes = federation(dir);
    for node in &mut nodes {
        node.start();
    }
    let w = nodes[0].channel().await;
    let v = nodes[1].channel().await;
    let h = nodes[2].channel().await;

    // The sociale kaart: each organisation on its own node.
    let wijkteam = organisation(&w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam).await;
    let volunteers = organisation(&v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie).await;
    let homecare = organisation(&h, "Thuiszorg Zuid", pb::OrganisationKind::Thuiszorg).await;
    let volunteer_offer = offer(&v, &volunteers, "Boodschappenmaatje", 1).await;
    offer(&h, &homecare, "Hulp bij boodschappen", 2).await;

    // The wijkteam takes a request in, with consent to share it for matching.
    let scope = |k: pb::OrganisationKind| pb::ConsentScope {
        scope: Some(pb::consent_scope::Scope::OrganisationKind(k.into())),
    };
    let consent = pb::Consent {
        scopes: vec![scope(pb::OrganisationKind::Vrijwilligersorganisatie), scope(pb::OrganisationKind::Thuiszorg)],
        purposes: vec![pb::Purpose::Matching.into(), pb::Purpose::FollowUp.into()],
        until: "2099-12-31".into(),
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: wijkteam.clone(),
        client: Some(pb::Person { name: "Mevrouw Jansen".into(), phone: "+31455123456".into(), ..Default::default() }),
        support_kinds: vec!["boodschappen".into()],
        postcode: "6411 AB".into(),
        ..Default::default()
    };
    let submit = pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() };
    let request = IntakeClient::new(w.clone()).submit_help_request(submit).await.unwrap().into_inner().id;
    let proposal = eventually("the volunteers' offer proposed on the wijkteam's node", || async {
        let ask = pb::GetProposalsRequest { request_id: request.clone(), limit: 10 };
        let found = MatchingClient::new(w.clone()).get_proposals(ask).await.ok()?.into_inner();
        found.proposals.into_iter().find(|p| p.offer_id == volunteer_offer && p.support_offer_id.is_empty())
    })
    .await;
    let confirm =
        pb::ConfirmProposalRequest { request_id: request.clone(), token: proposal.token, confirmed_by: "anna".into() };
    let confirmed = MatchingClient::new(w.clone()).confirm_proposal(confirm).await.unwrap().into_inner();
    notices_until(&v, &volunteers, &confirmed.id, "matching.match.confirmed").await;

    // Killed between the confirmation and its answer, and started again.
    nodes[1].kill();
    nodes[1].start();
    let v = nodes[1].channel().await;

    let answer = pb::AnswerMatchRequest {
        match_id: confirmed.id.clone(),
        organisation_id: volunteers.clone(),
        reason: String::new(),
    };
    let answered = eventually("the volunteers accept", || async {
        MatchingClient::new(v.clone()).accept_match(answer.clone()).await.ok().map(|m| m.into_inner())
    })
    .await;
    assert_eq!(answered.status(), pb::MatchStatus::Accepted, "the owner decided on the answer");
    let kinds = notices_until(&v, &volunteers, &confirmed.id, "matching.match.accepted").await;
    assert_eq!(kinds, ["matching.match.confirmed", "matching.match.accepted"]);
    eventually("accepted on the owner's node", || async {
        get_match(&w, &confirmed.id).await.filter(|m| m.status() == pb::MatchStatus::Accepted)
    })
    .await;
    let contact = eventually("contact details on the volunteers' node", || async {
        get_match(&v, &confirmed.id).await?.client_contact
    })
    .await;
    assert_eq!(contact.name, "Mevrouw Jansen");
    assert_eq!(room(&v, &volunteer_offer).await, Some("no room: its one place is taken".into()));

    // The help ends: the wijkteam closes the referral; the place is free again on both nodes.
    let close = pb::CloseReferralRequest {
        match_id: confirmed.id.clone(),
        category: pb::ClosureCategory::GoalReached.into(),
        ..Default::default()
    };
    eventually("the referral closed", || async {
        FollowUpClient::new(w.clone()).close_referral(close.clone()).await.ok()
    })
    .await;
    let ended = notices_until(&v, &volunteers, &confirmed.id, "matching.match.ended").await;
    assert_eq!(ended.last().map(String::as_str), Some("matching.match.ended"));
    for (node, channel) in [("volunteers", &v), ("wijkteam", &w)] {
        eventually(&format!("the place free again on the {node}' node"), || async {
            (room(channel, &volunteer_offer).await.as_deref() == Some("can take 1 more (0 of 1 places taken)"))
                .then_some(())
        })
        .await;
    }
    let coverage = pb::GetCoverageRequest { region: "6411".into(), need: "boodschappen".into() };
    eventually("coverage counts every place free", || async {
        let c = FollowUpClient::new(w.clone()).get_coverage(coverage.clone()).await.ok()?.into_inner();
        c.totals.iter().find(|t| t.need == "boodschappen" && t.free_places == 3).map(|_| ())
    })
    .await;

    // Every store verifies after a clean stop.
    for node in &mut nodes {
        node.stop();
        let out = Command::new(BIN).args(["verify", "--data"]).arg(&node.data).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_survives_the_partner_node_killed_between_confirmation_and_answer() {
    let runs: usize = std::env::var("SAMENSPEL_WALK_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    for run in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        walk(dir.path()).await;
        eprintln!("walk {}/{runs}: {:.1} s", run + 1, started.elapsed().as_secs_f64());
    }
}
