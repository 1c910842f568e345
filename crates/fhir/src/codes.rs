//! The code systems and identifier systems of samenspel's FHIR resources, and the displays of
//! its codes. samenspel's own systems live under one base URL; the others are HL7's.

/// The base of every samenspel code system and naming system.
pub const BASE: &str = "https://samenspel.nl/fhir";

/// The eight basisfuncties mantelzorgondersteuning (ServiceRequest.category).
pub const SUPPORT_FUNCTION: &str = "https://samenspel.nl/fhir/CodeSystem/support-function";
/// Finer kinds of help (ServiceRequest.code and orderDetail).
pub const SUPPORT_KIND: &str = "https://samenspel.nl/fhir/CodeSystem/support-kind";
/// The finer steps of a referral (Task.businessStatus).
pub const REFERRAL_STEP: &str = "https://samenspel.nl/fhir/CodeSystem/referral-step";
/// Why a referral ended (Task.output).
pub const CLOSURE_CATEGORY: &str = "https://samenspel.nl/fhir/CodeSystem/closure-category";
/// What consent lets organisations use a request for (Consent.provision.purpose).
pub const CONSENT_PURPOSE: &str = "https://samenspel.nl/fhir/CodeSystem/consent-purpose";
/// The kinds of organisation of the sociale kaart (Organization.type; a consent scope by kind).
pub const ORGANISATION_KIND: &str = "https://samenspel.nl/fhir/CodeSystem/organisation-kind";
/// How a mantelzorger stands toward the professionals (RelatedPerson.relationship).
pub const MANTELZORGER_ROLE: &str = "https://samenspel.nl/fhir/CodeSystem/mantelzorger-role";
/// Why a Task has the status it has (Task.statusReason).
pub const STATUS_REASON: &str = "https://samenspel.nl/fhir/CodeSystem/task-status-reason";

/// samenspel's urgency of a request (low, normal, high) on a ServiceRequest, beside its
/// `priority`: FHIR's priorities have no step below routine, so low and normal both travel as
/// routine and this extension keeps them apart.
pub const URGENCY_EXTENSION: &str = "https://samenspel.nl/fhir/StructureDefinition/urgency";

/// samenspel's profile of a referral Task (deploy/fhir), which every exported Task claims.
pub const REFERRAL_TASK_PROFILE: &str = "https://samenspel.nl/fhir/StructureDefinition/referral-task";

/// A request for help, by its id on the node that took it in.
pub const HELP_REQUEST_ID: &str = "https://samenspel.nl/fhir/NamingSystem/help-request";
/// A match (one referral of a request to an offer).
pub const MATCH_ID: &str = "https://samenspel.nl/fhir/NamingSystem/match";
/// An organisation of the sociale kaart.
pub const ORGANISATION_ID: &str = "https://samenspel.nl/fhir/NamingSystem/organisation";
/// An offer of the sociale kaart.
pub const OFFER_ID: &str = "https://samenspel.nl/fhir/NamingSystem/offer";
/// A data subject's pseudonymous id: the only identifier of a person samenspel hands out.
pub const SUBJECT_ID: &str = "https://samenspel.nl/fhir/NamingSystem/subject";

/// HL7's Task codes (`fulfill`).
pub const TASK_CODE: &str = "http://hl7.org/fhir/CodeSystem/task-code";
/// HL7's consent scopes (`patient-privacy`).
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
/// LOINC, for the consent's category (59284-0, "Patient Consent").
pub const LOINC: &str = "http://loinc.org";
/// HL7's participation types (`IRCP`, information recipient).
pub const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
/// HL7's role codes for a RelatedPerson (`CAREGIVER`).
pub const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";

/// The Dutch name of a support function's code, for a coding's display.
pub fn function_display(code: &str) -> Option<&'static str> {
    Some(match code {
        "informatie" => "Informatie",
        "advies-en-begeleiding" => "Advies en begeleiding",
        "emotionele-steun" => "Emotionele steun",
        "educatie" => "Educatie",
        "praktische-hulp" => "Praktische hulp",
        "respijtzorg" => "Respijtzorg",
        "financiele-ondersteuning" => "Financiële ondersteuning",
        "materiele-hulp" => "Materiële hulp",
        _ => return None,
    })
}

/// The Dutch name of a kind of help's code.
pub fn kind_display(code: &str) -> Option<&'static str> {
    Some(match code {
        "boodschappen" => "Boodschappen",
        "vervoer" => "Vervoer",
        "maatje" => "Maatje",
        "respijt-aan-huis" => "Respijt aan huis",
        "klusjes" => "Klusjes",
        "administratie" => "Administratie",
        "lotgenotencontact" => "Lotgenotencontact",
        "cursus" => "Cursus",
        _ => return None,
    })
}

/// A coding of `system` with its display where one is known.
pub fn coding(system: &str, code: &str, display: Option<&str>) -> serde_json::Value {
    let mut c = serde_json::json!({ "system": system, "code": code });
    if let Some(d) = display {
        c["display"] = d.into();
    }
    c
}
