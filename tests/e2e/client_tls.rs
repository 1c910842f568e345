//! TLS on the client port and callers known by their client certificates, the way UZI server
//! certificates or PKIoverheid certificates identify Dutch care organisations: a certificate the
//! configured CA signed, mapped to an organisation and role by its fingerprint or its subject.
//! A bearer credential works over the same TLS; a certificate of another CA gets no connection.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use samenspel_e2e::TestNode;
use samenspel_e2e::world::organisation;
use samenspel_node::ApiClientConfig;
use samenspel_proto::v1 as pb;
use tonic::Code;

/// A certificate authority: its certificate (PEM) and what signs with it.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn authority(name: &str) -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Authority { pem, issuer: Issuer::new(params, key) }
}

/// A certificate `ca` signs for `names`, with subject `cn`/`o`; its PEM, its key's PEM and the
/// sha256 of its DER.
fn signed(ca: &Authority, names: &[&str], cn: &str, o: &str, client: bool) -> (String, String, String) {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.distinguished_name.push(DnType::OrganizationName, o);
    params.distinguished_name.push(DnType::CountryName, "NL");
    params.extended_key_usages =
        vec![if client { ExtendedKeyUsagePurpose::ClientAuth } else { ExtendedKeyUsagePurpose::ServerAuth }];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let fingerprint = ring_sha256(cert.der());
    (cert.pem(), key.serialize_pem(), fingerprint)
}

fn ring_sha256(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_of_the_configured_ca_identifies_its_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let ca = authority("Test PKIoverheid CA");
    let (server_cert, server_key, _) = signed(&ca, &["localhost"], "samenspel node", "Wijkteam", false);
    let noord = "0123456789abcdef0123456789abcdef";
    let (by_print, by_print_key, fingerprint) = signed(&ca, &[], "platform.noord.nl", "Vrijwilligers Noord", true);
    let (by_subject, by_subject_key, _) = signed(&ca, &[], "coordinator.wijkteam.nl", "Wijkteam Centrum", true);
    let (unknown, unknown_key, _) = signed(&ca, &[], "iemand.nl", "Onbekend", true);
    let stranger = authority("Another CA");
    let (foreign, foreign_key, _) = signed(&stranger, &[], "platform.noord.nl", "Vrijwilligers Noord", true);
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    write("ca.pem", &ca.pem);
    let (cert_file, key_file) = (write("server.pem", &server_cert), write("server.key", &server_key));
    let node = TestNode::start_with(|c| {
        c.api.tls_cert = cert_file.clone();
        c.api.tls_key = key_file.clone();
        c.api.client_ca = dir.path().join("ca.pem").to_str().unwrap().to_string();
        c.api.clients = vec![
            ApiClientConfig {
                fingerprint: fingerprint.clone(),
                organisation: noord.into(),
                role: "volunteer_platform".into(),
                ..Default::default()
            },
            ApiClientConfig {
                subject: "CN=coordinator.wijkteam.nl, O=Wijkteam Centrum, C=NL".into(),
                organisation: noord.into(),
                role: "coordinator".into(),
                ..Default::default()
            },
        ];
    })
    .await;
    assert!(node.url().starts_with("https://"));
    // The admin's bearer credential over TLS.
    organisation(&node, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;

    let with = |cert: &str, key: &str| {
        let endpoint = node.endpoint(Some((cert.as_bytes(), key.as_bytes())));
        async move { endpoint.connect().await }
    };
    let platform = with(&by_print, &by_print_key).await.unwrap();
    let mut directory = pb::directory_client::DirectoryClient::new(platform.clone());
    let listed = directory.list_organisations(pb::ListOrganisationsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.organisations.len(), 1, "the platform reads the kaart");
    let mut intake = pb::intake_client::IntakeClient::new(platform.clone());
    let mut request = tonic::Request::new(pb::GetHelpRequestRequest { id: "f".repeat(32) });
    request.metadata_mut().insert("purpose", "care".parse().unwrap());
    let refused = intake.get_help_request(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "as a volunteer platform: {refused:?}");
    let mut matching = pb::matching_client::MatchingClient::new(platform);
    let mut watch = tonic::Request::new(pb::WatchMatchesRequest { organisation_id: "a".repeat(32), from_position: 0 });
    watch.metadata_mut().insert("purpose", "matching".parse().unwrap());
    let other = matching.watch_matches(watch).await.unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied, "for its own organisation only");
    let denial = node.access_records().await.into_iter().last().unwrap();
    assert!(denial.credential.starts_with("cert:") && denial.credential.len() == 21, "{denial:?}");
    assert_eq!(denial.organisation.as_deref(), Some(noord));

    // Known by its subject: a coordinator.
    let coordinator = with(&by_subject, &by_subject_key).await.unwrap();
    let ask = pb::GetProposalsRequest { request_id: "f".repeat(32), limit: 1 };
    let answer = pb::matching_client::MatchingClient::new(coordinator).get_proposals(ask).await.unwrap_err();
    assert_eq!(answer.code(), Code::NotFound, "taken, and answered for what it asked");

    // Signed by the CA but known to no caller; no certificate and no credential.
    let nobody = with(&unknown, &unknown_key).await.unwrap();
    let refused = pb::directory_client::DirectoryClient::new(nobody)
        .list_organisations(pb::ListOrganisationsRequest::default())
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);
    let bare = node.endpoint(None).connect().await.unwrap();
    let refused = pb::directory_client::DirectoryClient::new(bare)
        .list_organisations(pb::ListOrganisationsRequest::default())
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::Unauthenticated);

    // Another CA's certificate: the handshake fails, whatever its subject says.
    let foreign = match with(&foreign, &foreign_key).await {
        Err(_) => None,
        Ok(channel) => Some(
            pb::directory_client::DirectoryClient::new(channel)
                .list_organisations(pb::ListOrganisationsRequest::default())
                .await,
        ),
    };
    assert!(foreign.is_none_or(|r| r.is_err()), "a foreign certificate gets nothing");
    // And plaintext gets no answer on a TLS port.
    let plain = tonic::transport::Channel::from_shared(format!("http://{}", node.addr)).unwrap().connect().await;
    if let Ok(plain) = plain {
        let r = pb::directory_client::DirectoryClient::new(plain)
            .list_organisations(pb::ListOrganisationsRequest::default())
            .await;
        assert!(r.is_err());
    }
}
