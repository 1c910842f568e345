//! Who may call what: the roles of the people and systems that call a node, the one matrix of
//! every client RPC × every role (and whether a role acts only for its own organisation), which
//! RPCs hand out personal data (and so need a purpose, and leave an access record), and the
//! caller a request carries once the node has authenticated it. The node enforces the matrix at
//! its edge (a tower layer); a handler asks the caller only where a resource decides the scope.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a credential lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes requests for help in and keeps them up to date.
    IntakeWorker,
    /// Matches requests to offers and confirms; follows up.
    Coordinator,
    /// A volunteer organisation's system: its own matches, their answers and observations.
    VolunteerPlatform,
    /// Follows referrals up: check-ins, answers, closure.
    FollowUpWorker,
    /// Keeps its own organisation's part of the sociale kaart.
    DirectoryEditor,
    /// Reads the audit trail and the access log; no care data.
    Auditor,
    /// The functionaris gegevensbescherming: erases data subjects and shows which nodes
    /// confirmed; no care data.
    PrivacyOfficer,
    /// Runs the node: everything, every call logged as anyone's is.
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::IntakeWorker,
        Role::Coordinator,
        Role::VolunteerPlatform,
        Role::FollowUpWorker,
        Role::DirectoryEditor,
        Role::Auditor,
        Role::PrivacyOfficer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::IntakeWorker => "intake_worker",
            Role::Coordinator => "coordinator",
            Role::VolunteerPlatform => "volunteer_platform",
            Role::FollowUpWorker => "followup_worker",
            Role::DirectoryEditor => "directory_editor",
            Role::Auditor => "auditor",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Admin => "admin",
        }
    }

    /// Whether a credential of this role needs an organisation it acts for.
    pub fn needs_organisation(self) -> bool {
        !matches!(self, Role::Admin | Role::Auditor | Role::PrivacyOfficer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role; known: {}", known.join(", "))
        })
    }
}

/// For whom a role may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// For any organisation.
    Any,
    /// For the caller's own organisation only: the handler checks the resource's organisation.
    Own,
}

/// What personal data an RPC hands out: the kind of data an access record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// A request for help: the client, the people involved, strain, consent.
    HelpRequest,
    /// A contact person of the sociale kaart (smoelenboek): name, phone, e-mail.
    ContactPerson,
    /// A match with the client's contact details, as the receiving organisation sees it.
    MatchContact,
    /// A referral with its check-ins, answers and observations.
    Referral,
    /// Raw events of the log, payloads included.
    Events,
    /// The access log itself.
    AccessLog,
}

impl DataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::HelpRequest => "help_request",
            DataKind::ContactPerson => "contact_person",
            DataKind::MatchContact => "match_contact",
            DataKind::Referral => "referral",
            DataKind::Events => "events",
            DataKind::AccessLog => "access_log",
        }
    }
}

/// One RPC's rule: who may call it, for whom, and what personal data it hands out.
#[derive(Debug)]
pub struct Rule {
    /// `/samenspel.v1.Intake/GetHelpRequest`.
    pub path: &'static str,
    /// The roles allowed besides the admin, and their scope.
    pub roles: &'static [(Role, Scope)],
    /// The personal data it returns, when it does: the call needs a purpose and leaves an access
    /// record with the subjects its answer concerns.
    pub personal: Option<DataKind>,
    /// Its answer is a stream: each item is recorded as it is sent, not the call as a whole.
    pub streams: bool,
}

impl Rule {
    /// The scope `role` has here; `None` when it may not call it.
    pub fn scope_of(&self, role: Role) -> Option<Scope> {
        if role == Role::Admin {
            return Some(Scope::Any);
        }
        self.roles.iter().find(|(r, _)| *r == role).map(|(_, s)| *s)
    }
}

use DataKind as D;
use Role::{
    Auditor as AU, Coordinator as CO, DirectoryEditor as DE, FollowUpWorker as FU, IntakeWorker as IW,
    PrivacyOfficer as PO, VolunteerPlatform as VP,
};
use Scope::{Any as A, Own as O};

const EVERYONE: &[(Role, Scope)] = &[(IW, A), (CO, A), (VP, A), (FU, A), (DE, A), (AU, A)];
const EDITOR: &[(Role, Scope)] = &[(DE, O)];
const INTAKE: &[(Role, Scope)] = &[(IW, A), (CO, A)];
const INTAKE_READ: &[(Role, Scope)] = &[(IW, A), (CO, A), (FU, A)];
const COORDINATOR: &[(Role, Scope)] = &[(CO, A)];
const ANSWER: &[(Role, Scope)] = &[(VP, O)];
const MATCH_READ: &[(Role, Scope)] = &[(CO, A), (FU, A), (VP, O)];
const FOLLOW_UP: &[(Role, Scope)] = &[(FU, A), (CO, A)];
const OBSERVE: &[(Role, Scope)] = &[(VP, O), (FU, A)];
const FIGURES: &[(Role, Scope)] = &[(CO, A), (FU, A), (AU, A)];
const AUDIT: &[(Role, Scope)] = &[(AU, A)];
const ERASE: &[(Role, Scope)] = &[(PO, A)];
const ERASURES: &[(Role, Scope)] = &[(PO, A), (AU, A)];
const ADMIN_ONLY: &[(Role, Scope)] = &[];

const fn rule(path: &'static str, roles: &'static [(Role, Scope)]) -> Rule {
    Rule { path, roles, personal: None, streams: false }
}

const fn personal(path: &'static str, roles: &'static [(Role, Scope)], data: DataKind) -> Rule {
    Rule { path, roles, personal: Some(data), streams: false }
}

const fn streamed(path: &'static str, roles: &'static [(Role, Scope)], data: Option<DataKind>) -> Rule {
    Rule { path, roles, personal: data, streams: true }
}

/// Every client RPC × every role. The admin may call everything (its personal-data reads are
/// logged like anyone's); a role not named for an RPC gets `PERMISSION_DENIED`.
pub const MATRIX: &[Rule] = &[
    // The raw log: its payloads are everyone's data, so only the admin and the auditor read it.
    rule("/samenspel.v1.EventLog/Append", ADMIN_ONLY),
    personal("/samenspel.v1.EventLog/Read", AUDIT, D::Events),
    personal("/samenspel.v1.EventLog/ReadStream", AUDIT, D::Events),
    streamed("/samenspel.v1.EventLog/Subscribe", AUDIT, Some(D::Events)),
    rule("/samenspel.v1.EventLog/GetHead", AUDIT),
    rule("/samenspel.v1.EventLog/ListOrigins", AUDIT),
    rule("/samenspel.v1.EventLog/ListForks", AUDIT),
    // The sociale kaart: everyone reads it; each organisation keeps its own part.
    rule("/samenspel.v1.Directory/CreateOrganisation", ADMIN_ONLY),
    rule("/samenspel.v1.Directory/GetOrganisation", EVERYONE),
    rule("/samenspel.v1.Directory/ListOrganisations", EVERYONE),
    rule("/samenspel.v1.Directory/UpdateOrganisation", EDITOR),
    rule("/samenspel.v1.Directory/ArchiveOrganisation", EDITOR),
    personal("/samenspel.v1.Directory/CreateContactPerson", EDITOR, D::ContactPerson),
    personal("/samenspel.v1.Directory/GetContactPerson", EVERYONE, D::ContactPerson),
    personal("/samenspel.v1.Directory/ListContactPersons", EVERYONE, D::ContactPerson),
    personal("/samenspel.v1.Directory/UpdateContactPerson", EDITOR, D::ContactPerson),
    personal("/samenspel.v1.Directory/ArchiveContactPerson", EDITOR, D::ContactPerson),
    rule("/samenspel.v1.Directory/VerifyOrganisation", EDITOR),
    personal("/samenspel.v1.Directory/VerifyContactPerson", EDITOR, D::ContactPerson),
    personal("/samenspel.v1.Directory/ListStale", &[(DE, A)], D::ContactPerson),
    rule("/samenspel.v1.Directory/CreateOffer", EDITOR),
    rule("/samenspel.v1.Directory/GetOffer", EVERYONE),
    rule("/samenspel.v1.Directory/ListOffers", EVERYONE),
    rule("/samenspel.v1.Directory/UpdateOffer", EDITOR),
    rule("/samenspel.v1.Directory/ArchiveOffer", EDITOR),
    rule("/samenspel.v1.Directory/SearchOffers", EVERYONE),
    streamed("/samenspel.v1.Directory/Watch", EVERYONE, Some(D::ContactPerson)),
    rule("/samenspel.v1.Directory/ImportHsds", ADMIN_ONLY),
    // Recorded whole before its first chunk goes out.
    personal("/samenspel.v1.Directory/ExportHsds", EVERYONE, D::ContactPerson),
    // Requests for help: the care data itself.
    personal("/samenspel.v1.Intake/SubmitHelpRequest", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/GetHelpRequest", INTAKE_READ, D::HelpRequest),
    personal("/samenspel.v1.Intake/ListHelpRequests", INTAKE_READ, D::HelpRequest),
    personal("/samenspel.v1.Intake/AmendHelpRequest", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/StartMatching", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/MarkMatched", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/ReopenHelpRequest", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/CloseHelpRequest", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/WithdrawHelpRequest", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/RecordStrain", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/OpenCaregiverRequest", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/ChangeConsent", INTAKE, D::HelpRequest),
    personal("/samenspel.v1.Intake/WithdrawConsent", INTAKE, D::HelpRequest),
    rule("/samenspel.v1.Intake/GetShareableSummary", INTAKE),
    streamed("/samenspel.v1.Intake/Watch", INTAKE, Some(D::HelpRequest)),
    // A referral sent as a FHIR Bundle: taken in like a submitted request.
    personal("/samenspel.v1.Intake/ImportFhirReferral", INTAKE, D::HelpRequest),
    // Matching: proposals carry no personal data; a partner's match may carry contact details.
    rule("/samenspel.v1.Matching/GetProposals", COORDINATOR),
    rule("/samenspel.v1.Matching/ConfirmProposal", COORDINATOR),
    rule("/samenspel.v1.Matching/PickOffer", COORDINATOR),
    personal("/samenspel.v1.Matching/AcceptMatch", ANSWER, D::MatchContact),
    personal("/samenspel.v1.Matching/DeclineMatch", ANSWER, D::MatchContact),
    personal("/samenspel.v1.Matching/GetMatch", MATCH_READ, D::MatchContact),
    streamed("/samenspel.v1.Matching/WatchMatches", MATCH_READ, Some(D::MatchContact)),
    rule("/samenspel.v1.Matching/AssignBacklog", COORDINATOR),
    // Follow-up.
    personal("/samenspel.v1.FollowUp/ListDue", FOLLOW_UP, D::Referral),
    streamed("/samenspel.v1.FollowUp/WatchDue", FOLLOW_UP, Some(D::Referral)),
    personal("/samenspel.v1.FollowUp/GetCheckIn", FOLLOW_UP, D::Referral),
    personal("/samenspel.v1.FollowUp/RecordOutcome", FOLLOW_UP, D::Referral),
    personal("/samenspel.v1.FollowUp/GetReferral", &[(FU, A), (CO, A), (VP, O)], D::Referral),
    personal("/samenspel.v1.FollowUp/RecordObservation", OBSERVE, D::Referral),
    personal("/samenspel.v1.FollowUp/CloseReferral", FOLLOW_UP, D::Referral),
    rule("/samenspel.v1.FollowUp/GetEvaluation", FIGURES),
    rule("/samenspel.v1.FollowUp/GetCoverage", FIGURES),
    // FHIR views: a request's Bundle is the request itself; a Task names the referral; the
    // notifications carry ids and statuses only.
    personal("/samenspel.v1.Fhir/ExportReferral", INTAKE_READ, D::HelpRequest),
    personal("/samenspel.v1.Fhir/GetTask", INTAKE_READ, D::Referral),
    streamed("/samenspel.v1.Fhir/WatchTasks", INTAKE_READ, None),
    // Who read what (NEN 7513): the auditor's.
    personal("/samenspel.v1.Audit/ListAccess", AUDIT, D::AccessLog),
    // A request's history: kinds, times and positions, recorded as a read about the request.
    personal("/samenspel.v1.Audit/GetTimeline", AUDIT, D::AccessLog),
    // The same as FHIR Provenance and AuditEvent resources.
    personal("/samenspel.v1.Audit/ExportAuditTrail", AUDIT, D::AccessLog),
    // The check of every log held: positions and hashes only.
    streamed("/samenspel.v1.Audit/VerifyIntegrity", AUDIT, None),
    // Tree heads and proofs: hashes only, nothing personal.
    rule("/samenspel.v1.Audit/GetTreeHead", AUDIT),
    rule("/samenspel.v1.Audit/GetInclusionProof", AUDIT),
    rule("/samenspel.v1.Audit/GetConsistencyProof", AUDIT),
    rule("/samenspel.v1.Audit/ListEquivocations", AUDIT),
    // Erasure (AVG art. 17): the privacy officer's; an auditor sees which nodes confirmed.
    rule("/samenspel.v1.Privacy/EraseSubject", ERASE),
    rule("/samenspel.v1.Privacy/GetErasure", ERASURES),
];

/// The services a node serves to clients, whose RPCs the matrix must cover.
pub const CLIENT_SERVICES: [&str; 8] = [
    "samenspel.v1.EventLog",
    "samenspel.v1.Directory",
    "samenspel.v1.Intake",
    "samenspel.v1.Matching",
    "samenspel.v1.FollowUp",
    "samenspel.v1.Audit",
    "samenspel.v1.Privacy",
    "samenspel.v1.Fhir",
];

/// The matrix as the Markdown table ARCHITECTURE.md shows (a test keeps the two equal): one
/// row per RPC, one column per role — `yes` for any organisation, `own` for the caller's own —
/// and the personal data it hands out.
pub fn matrix_table() -> String {
    let mut out = String::from("| RPC |");
    for role in Role::ALL {
        out += &format!(" {role} |");
    }
    out += " personal data |\n|---|";
    out += &"---|".repeat(Role::ALL.len() + 1);
    out += "\n";
    for rule in MATRIX {
        out += &format!("| `{}` |", rule.path.trim_start_matches("/samenspel.v1."));
        for role in Role::ALL {
            out += match rule.scope_of(role) {
                Some(Scope::Any) => " yes |",
                Some(Scope::Own) => " own |",
                None => " |",
            };
        }
        let data = rule.personal.map_or(String::new(), |d| {
            if rule.streams { format!("{} (each item)", d.as_str()) } else { d.as_str().to_string() }
        });
        out += &if data.is_empty() { " |\n".to_string() } else { format!(" {data} |\n") };
    }
    out
}

/// The rule of an RPC path; `None` for a path no client RPC has.
pub fn rule_of(path: &str) -> Option<&'static Rule> {
    MATRIX.iter().find(|r| r.path == path)
}

/// Paths served to anyone: health checks and reflection.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// Why a call is for a purpose: the reasons NEN 7513 asks a reader to give.
/// `directory` is keeping the sociale kaart (its contact persons); `support` is the node's own
/// operators solving a problem.
pub const PURPOSES: [&str; 9] =
    ["care", "matching", "follow_up", "evaluation", "audit", "complaint", "erasure", "directory", "support"];

/// An authenticated caller, as a request carries it into its handler.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The credential's id (`cred_…`, or `cert:` and a fingerprint prefix).
    pub credential: String,
    /// The organisation it acts for; `None` for the admin and the auditor.
    pub organisation: Option<String>,
    pub role: Role,
    /// The user named in the call (metadata `user`), when given.
    pub user: String,
    /// The purpose given (metadata `purpose`).
    pub purpose: Option<String>,
    /// Where the call came from.
    pub peer: Option<SocketAddr>,
    /// The scope this role has for the RPC called.
    pub scope: Scope,
}

impl Caller {
    /// Whether the caller may act for `organisation`: any, when its scope is unrestricted; its
    /// own otherwise.
    pub fn may_act_for(&self, organisation: &str) -> bool {
        self.scope == Scope::Any || self.organisation.as_deref() == Some(organisation)
    }

    /// Whether the caller may act for at least one of `organisations`.
    pub fn may_act_for_any<'a>(&self, organisations: impl IntoIterator<Item = &'a str>) -> bool {
        self.scope == Scope::Any || organisations.into_iter().any(|o| self.organisation.as_deref() == Some(o))
    }
}

/// The subjects (pseudonymous ids) whose personal data an answer holds, as a handler declares
/// them in the response's extensions; the edge writes the access record from them.
#[derive(Debug, Clone, Default)]
pub struct Accessed {
    pub subjects: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_and_the_admin_may_do_everything() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("superuser".parse::<Role>().is_err());
        for rule in MATRIX {
            assert_eq!(rule.scope_of(Role::Admin), Some(Scope::Any), "{}", rule.path);
            assert!(rule_of(rule.path).is_some());
        }
        let paths: std::collections::HashSet<&str> = MATRIX.iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), MATRIX.len(), "one rule per RPC");
        assert_eq!(rule_of("/samenspel.v1.Intake/GetHelpRequest").unwrap().scope_of(Role::Auditor), None);
    }
}
