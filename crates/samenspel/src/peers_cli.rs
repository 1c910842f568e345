//! `samenspel keys` and `samenspel peer add`: the node's identity, and the peers it replicates with.

use std::path::Path;

use anyhow::{Context, bail};
use samenspel_eventlog::{NodeId, NodeKey};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

/// Prints the node id of the node in `data` (making its key on first use): what its peers put in
/// their `federation.peers`.
pub fn keys(data: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let path = data.join("node.key");
    let existed = path.exists();
    let key = NodeKey::load_or_create(&path)?;
    println!("{}", key.node_id());
    eprintln!(
        "{} {}; give the id above to the peers, with this node's federation address",
        if existed { "node key in" } else { "made a new node key in" },
        path.display()
    );
    Ok(())
}

/// Adds a peer to the config file (made if missing), or updates the address of a known one; the
/// rest of the file, comments included, stays as it was.
pub fn add(config: &Path, id: &str, address: &str, name: &str) -> anyhow::Result<()> {
    let Some(id) = NodeId::from_hex(id.trim()) else {
        bail!("--id must be a node id: 64 hex digits, as `samenspel keys` prints")
    };
    let address = address.trim();
    if address.is_empty() || address.parse::<std::net::SocketAddr>().is_err() && !address.contains(':') {
        bail!("--address must be host:port of the peer's federation port");
    }
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", config.display())),
    };
    let mut doc: DocumentMut = text.parse().with_context(|| format!("{} is no valid TOML", config.display()))?;
    let federation = doc.entry("federation").or_insert_with(|| Item::Table(Table::new()));
    let Some(federation) = federation.as_table_like_mut() else {
        bail!("[federation] in {} is no table", config.display())
    };
    let peers = federation.entry("peers").or_insert(Item::Value(Value::Array(Array::new())));
    let hex = id.to_hex();
    let mut entry = InlineTable::new();
    entry.insert("id", hex.clone().into());
    entry.insert("address", address.into());
    if !name.trim().is_empty() {
        entry.insert("name", name.trim().into());
    }
    let updated = if let Some(tables) = peers.as_array_of_tables_mut() {
        // Written as [[federation.peers]] tables.
        let existing = tables.iter_mut().find(|t| t.get("id").and_then(Item::as_str) == Some(hex.as_str()));
        let updated = existing.is_some();
        let table = match existing {
            Some(t) => t,
            None => {
                tables.push(Table::new());
                tables.iter_mut().last().expect("just pushed")
            }
        };
        for (k, v) in entry.iter() {
            table[k] = Item::Value(v.clone());
        }
        updated
    } else if let Some(list) = peers.as_array_mut() {
        // Written inline, as the sample config does: one peer per line.
        let at = list
            .iter()
            .position(|v| v.as_inline_table().and_then(|t| t.get("id")).and_then(Value::as_str) == Some(hex.as_str()));
        let mut value = Value::InlineTable(entry);
        value.decor_mut().set_prefix("\n  ");
        match at {
            Some(i) => {
                list.replace(i, value);
            }
            None => list.push_formatted(value),
        }
        list.set_trailing("\n");
        list.set_trailing_comma(true);
        at.is_some()
    } else {
        bail!("federation.peers in {} is no list of peers", config.display());
    };
    std::fs::write(config, doc.to_string()).with_context(|| format!("cannot write {}", config.display()))?;
    println!("{} peer {} at {address} in {}", if updated { "updated" } else { "added" }, id.short(), config.display());
    Ok(())
}
