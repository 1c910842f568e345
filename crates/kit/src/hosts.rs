//! The one rule of the sociale kaart across nodes: an entry is changed only by the node that
//! hosts it. An organisation is hosted by the node that created it; its contact persons and
//! offers by the node hosting the organisation. Every read model that applies the directory's
//! events — the directory's own, matching's, the follow-up's — admits them through [`Hosts`], so
//! they all agree on what the kaart says.

use std::collections::HashMap;

use samenspel_eventlog::NodeId;
use serde::{Deserialize, Serialize};

/// Who hosts which organisation, and which organisation each entry (offer, contact person)
/// belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hosts {
    /// Organisation id → hosting node (hex).
    organisations: HashMap<String, String>,
    /// Entry id → its organisation.
    entries: HashMap<String, String>,
}

impl Hosts {
    /// An organisation created by `origin`: admitted unless another node created it first.
    pub fn organisation_created(&mut self, id: &str, origin: NodeId) -> bool {
        let origin = origin.to_hex();
        match self.organisations.get(id) {
            Some(host) => *host == origin,
            None => {
                self.organisations.insert(id.to_string(), origin);
                true
            }
        }
    }

    /// An entry of `organisation` created by `origin`: admitted when `origin` hosts the
    /// organisation (and the entry is new, or already that organisation's).
    pub fn entry_created(&mut self, id: &str, organisation: &str, origin: NodeId) -> bool {
        if !self.hosts_organisation(organisation, origin) {
            return false;
        }
        match self.entries.get(id) {
            Some(of) => of == organisation,
            None => {
                self.entries.insert(id.to_string(), organisation.to_string());
                true
            }
        }
    }

    /// A change (update, archive, verification) of organisation `id` by `origin`.
    pub fn hosts_organisation(&self, id: &str, origin: NodeId) -> bool {
        self.organisations.get(id).is_some_and(|host| *host == origin.to_hex())
    }

    /// A change of entry `id` by `origin`.
    pub fn hosts_entry(&self, id: &str, origin: NodeId) -> bool {
        self.entries.get(id).is_some_and(|organisation| self.hosts_organisation(organisation, origin))
    }

    /// A change of `id`, an organisation or an entry, by `origin`.
    pub fn hosts(&self, id: &str, origin: NodeId) -> bool {
        self.hosts_organisation(id, origin) || self.hosts_entry(id, origin)
    }

    /// The node hosting organisation or entry `id`.
    pub fn host_of(&self, id: &str) -> Option<NodeId> {
        let organisation = self.entries.get(id).map_or(id, String::as_str);
        self.organisations.get(organisation).and_then(|h| NodeId::from_hex(h))
    }

    /// The organisation an entry belongs to.
    pub fn organisation_of(&self, entry: &str) -> Option<&str> {
        self.entries.get(entry).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_host_changes_an_entry() {
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        let mut hosts = Hosts::default();
        assert!(hosts.organisation_created("org", a));
        assert!(!hosts.organisation_created("org", b), "created again elsewhere");
        assert!(hosts.organisation_created("org", a), "a replay by the host");
        assert!(!hosts.entry_created("offer", "org", b), "an offer of another node's organisation");
        assert!(hosts.entry_created("offer", "org", a));
        assert!(!hosts.entry_created("offer", "other", a), "an entry moves to no other organisation");
        assert!(hosts.hosts_entry("offer", a) && !hosts.hosts_entry("offer", b));
        assert!(hosts.hosts("org", a) && !hosts.hosts("org", b) && !hosts.hosts("unknown", a));
        assert_eq!((hosts.host_of("offer"), hosts.host_of("org"), hosts.host_of("x")), (Some(a), Some(a), None));
        assert_eq!(hosts.organisation_of("offer"), Some("org"));
    }
}
