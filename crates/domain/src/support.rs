//! What support is about: the eight basisfuncties mantelzorgondersteuning and finer kinds of help.

use std::fmt;
use std::str::FromStr;

use crate::error::Invalid;

/// The basisfuncties mantelzorgondersteuning: the support functions for caregivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SupportFunction {
    /// Informatie.
    Information,
    /// Advies en begeleiding.
    AdviceAndGuidance,
    /// Emotionele steun.
    EmotionalSupport,
    /// Educatie.
    Education,
    /// Praktische hulp.
    PracticalHelp,
    /// Respijtzorg: taking over care so the caregiver can rest.
    RespiteCare,
    /// Financiële ondersteuning.
    FinancialSupport,
    /// Materiële hulp.
    MaterialHelp,
}

/// Finer kinds of help, each belonging to one support function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SupportKind {
    /// Boodschappen: shopping.
    Groceries,
    /// Vervoer: transport to appointments.
    Transport,
    /// Maatje: a buddy for company and outings.
    Buddy,
    /// Respijt aan huis: a volunteer stays with the client at home.
    RespiteAtHome,
    /// Klusjes: odd jobs in and around the house.
    OddJobs,
    /// Administratie: help with paperwork and finances.
    Paperwork,
    /// Lotgenotencontact: peer support between caregivers.
    PeerSupport,
    /// Cursus: training for caregivers.
    Course,
}

const FUNCTIONS: [(SupportFunction, &str); 8] = [
    (SupportFunction::Information, "informatie"),
    (SupportFunction::AdviceAndGuidance, "advies-en-begeleiding"),
    (SupportFunction::EmotionalSupport, "emotionele-steun"),
    (SupportFunction::Education, "educatie"),
    (SupportFunction::PracticalHelp, "praktische-hulp"),
    (SupportFunction::RespiteCare, "respijtzorg"),
    (SupportFunction::FinancialSupport, "financiele-ondersteuning"),
    (SupportFunction::MaterialHelp, "materiele-hulp"),
];

const KINDS: [(SupportKind, &str, SupportFunction); 8] = [
    (SupportKind::Groceries, "boodschappen", SupportFunction::PracticalHelp),
    (SupportKind::Transport, "vervoer", SupportFunction::PracticalHelp),
    (SupportKind::Buddy, "maatje", SupportFunction::EmotionalSupport),
    (SupportKind::RespiteAtHome, "respijt-aan-huis", SupportFunction::RespiteCare),
    (SupportKind::OddJobs, "klusjes", SupportFunction::PracticalHelp),
    (SupportKind::Paperwork, "administratie", SupportFunction::FinancialSupport),
    (SupportKind::PeerSupport, "lotgenotencontact", SupportFunction::EmotionalSupport),
    (SupportKind::Course, "cursus", SupportFunction::Education),
];

impl SupportFunction {
    pub const ALL: [SupportFunction; 8] = [
        Self::Information,
        Self::AdviceAndGuidance,
        Self::EmotionalSupport,
        Self::Education,
        Self::PracticalHelp,
        Self::RespiteCare,
        Self::FinancialSupport,
        Self::MaterialHelp,
    ];

    /// The stable code used in the API and in stored events.
    pub fn code(self) -> &'static str {
        FUNCTIONS.iter().find(|(f, _)| *f == self).map(|(_, c)| *c).expect("every function has a code")
    }
}

impl SupportKind {
    pub const ALL: [SupportKind; 8] = [
        Self::Groceries,
        Self::Transport,
        Self::Buddy,
        Self::RespiteAtHome,
        Self::OddJobs,
        Self::Paperwork,
        Self::PeerSupport,
        Self::Course,
    ];

    pub fn code(self) -> &'static str {
        KINDS.iter().find(|(k, ..)| *k == self).map(|(_, c, _)| *c).expect("every kind has a code")
    }

    /// The support function this kind of help belongs to.
    pub fn function(self) -> SupportFunction {
        KINDS.iter().find(|(k, ..)| *k == self).map(|(.., f)| *f).expect("every kind has a function")
    }
}

impl FromStr for SupportFunction {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        FUNCTIONS.iter().find(|(_, c)| *c == s).map(|(f, _)| *f).ok_or_else(|| {
            let known: Vec<&str> = FUNCTIONS.iter().map(|(_, c)| *c).collect();
            Invalid::new(format!("unknown support function {}; known: {}", crate::error::shown(s), known.join(", ")))
        })
    }
}

impl FromStr for SupportKind {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        KINDS.iter().find(|(_, c, _)| *c == s).map(|(k, ..)| *k).ok_or_else(|| {
            let known: Vec<&str> = KINDS.iter().map(|(_, c, _)| *c).collect();
            Invalid::new(format!("unknown kind of support {}; known: {}", crate::error::shown(s), known.join(", ")))
        })
    }
}

impl fmt::Display for SupportFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for SupportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for f in SupportFunction::ALL {
            assert_eq!(f.code().parse::<SupportFunction>().unwrap(), f);
        }
        for k in SupportKind::ALL {
            assert_eq!(k.code().parse::<SupportKind>().unwrap(), k);
        }
        let mut codes: Vec<&str> = SupportFunction::ALL.iter().map(|f| f.code()).collect();
        codes.extend(SupportKind::ALL.iter().map(|k| k.code()));
        let n = codes.len();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    #[test]
    fn kinds_belong_to_functions_and_unknown_codes_say_what_is_known() {
        assert_eq!(SupportKind::Groceries.function(), SupportFunction::PracticalHelp);
        assert_eq!(SupportKind::RespiteAtHome.function(), SupportFunction::RespiteCare);
        let err = "tuinieren".parse::<SupportKind>().unwrap_err();
        assert!(err.0.contains("boodschappen"), "{err}");
    }
}
