//! `samenspel status` against two `samenspel node` processes: the table and `-o json` tell the
//! peer, its replication and every read model; the admin address comes from `--admin` or from the
//! config's `[admin] listen`; a peer that is killed shows as not connected; a node without an
//! admin port is a clear error.

mod support;

use std::process::Command;

use support::*;

fn status(args: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("status").args(args).output().unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = status(&[args, &["-o", "json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_peers_read_models_and_check_ins_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    // Witness rounds (which tell a peer's head) often, so the test need not wait out the default.
    let mut nodes = federation_of(dir.path(), &["wijkteam", "vrijwilligers"], "witness_every_millis = 200\n");
    let mut admins = Vec::new();
    for node in &nodes {
        let port = free_port();
        let mut config = std::fs::read_to_string(&node.config).unwrap();
        config.push_str(&format!("\n[admin]\nlisten = \"127.0.0.1:{port}\"\n"));
        std::fs::write(&node.config, config).unwrap();
        admins.push(format!("127.0.0.1:{port}"));
    }
    for node in &mut nodes {
        node.start();
    }
    let wijkteam = nodes[0].channel().await;
    nodes[1].channel().await;
    let org =
        organisation(&wijkteam, "Wijkteam Statusregel", samenspel_proto::v1::OrganisationKind::SociaalWijkteam).await;

    // The volunteers' node replicates the wijkteam's log, and its status says so.
    let admin = format!("http://{}", admins[1]);
    let seen = eventually("the wijkteam's log held on the volunteers' node", || async {
        let s = json(&["--admin", &admin]);
        let peer = s["peers"][0].clone();
        (peer["connected"] == true && peer["behind"] == 0 && peer["held_here"].as_u64() > Some(0)).then_some(s)
    })
    .await;
    assert_eq!(seen["peers"][0]["name"], "wijkteam");
    assert!(seen["read_models"].as_array().unwrap().iter().any(|r| r["name"] == "matching"), "{seen}");
    assert_eq!(seen["check_ins"], serde_json::json!({"due": 0, "overdue": 0, "escalated": 0}));

    // The same as tables, the address taken from the config's [admin] listen.
    let out = status(&["--config", nodes[1].config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    for expected in ["PEER", "STATE", "BEHIND", "READ MODEL", "CHECK-INS", "wijkteam", "connected", "this node"] {
        assert!(table.contains(expected), "{expected} in\n{table}");
    }
    assert!(!table.contains("Statusregel") && !table.contains(&org), "{table}");

    // The wijkteam's node gone: not connected.
    nodes[0].kill();
    eventually("the peer shows as not connected", || async {
        (json(&["--admin", &admins[1]])["peers"][0]["connected"] == false).then_some(())
    })
    .await;

    // No admin port configured: said plainly.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "listen = \"127.0.0.1:1\"\n").unwrap();
    let out = status(&["--config", bare.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[admin] listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let closed = format!("127.0.0.1:{}", free_port());
    let out = status(&["--admin", &closed]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
