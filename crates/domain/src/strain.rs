//! Caregiver strain: the Caregiver Strain Index and EDIZ-plus, and the complexity they imply.

use crate::error::Invalid;

/// Caregiver Strain Index: 13 yes/no items; a score of 7 or more signals high strain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaregiverStrainIndex([bool; 13]);

/// EDIZ-plus (Ervaren Druk door Informele Zorg): 15 items scored 0 or 1; 9 or more is overbelast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdizPlus([bool; 15]);

impl CaregiverStrainIndex {
    pub const ITEMS: usize = 13;
    pub const HIGH_STRAIN: u8 = 7;

    /// From exactly 13 answers, in the order of the questionnaire.
    pub fn new(answers: &[bool]) -> Result<Self, Invalid> {
        let items = answers
            .try_into()
            .map_err(|_| Invalid::new(format!("the Caregiver Strain Index has 13 items, got {}", answers.len())))?;
        Ok(Self(items))
    }

    pub fn score(&self) -> u8 {
        self.0.iter().filter(|&&yes| yes).count() as u8
    }

    pub fn high_strain(&self) -> bool {
        self.score() >= Self::HIGH_STRAIN
    }
}

impl EdizPlus {
    pub const ITEMS: usize = 15;
    pub const OVERBURDENED: u8 = 9;

    pub fn new(answers: &[bool]) -> Result<Self, Invalid> {
        let items =
            answers.try_into().map_err(|_| Invalid::new(format!("EDIZ-plus has 15 items, got {}", answers.len())))?;
        Ok(Self(items))
    }

    pub fn score(&self) -> u8 {
        self.0.iter().filter(|&&yes| yes).count() as u8
    }

    pub fn overburdened(&self) -> bool {
        self.score() >= Self::OVERBURDENED
    }
}

/// How heavy a request is, which decides who may take it (matching's safety rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Complexity {
    /// Informal help alone may take it.
    Low,
    /// Informal help may take it; a professional should stay involved.
    Medium,
    /// Never informal help alone: a formal party leads, alone or with informal support.
    High,
}

impl Complexity {
    /// High when the caregiver is under high strain or overburdened; otherwise what the
    /// professional assessed (Low when nobody did).
    pub fn derive(csi: Option<&CaregiverStrainIndex>, ediz: Option<&EdizPlus>, assessed: Option<Complexity>) -> Self {
        let strained = csi.is_some_and(CaregiverStrainIndex::high_strain) || ediz.is_some_and(EdizPlus::overburdened);
        if strained { Complexity::High } else { assessed.unwrap_or(Complexity::Low) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(n: usize, yes: usize) -> Vec<bool> {
        (0..n).map(|i| i < yes).collect()
    }

    #[test]
    fn thresholds() {
        assert!(!CaregiverStrainIndex::new(&answers(13, 6)).unwrap().high_strain());
        assert!(CaregiverStrainIndex::new(&answers(13, 7)).unwrap().high_strain());
        assert!(!EdizPlus::new(&answers(15, 8)).unwrap().overburdened());
        assert!(EdizPlus::new(&answers(15, 9)).unwrap().overburdened());
    }

    #[test]
    fn wrong_item_counts_are_refused() {
        assert!(CaregiverStrainIndex::new(&answers(12, 0)).unwrap_err().0.contains("13 items, got 12"));
        assert!(EdizPlus::new(&answers(16, 0)).is_err());
    }

    #[test]
    fn strain_makes_a_request_complex() {
        let high = CaregiverStrainIndex::new(&answers(13, 8)).unwrap();
        let low = CaregiverStrainIndex::new(&answers(13, 2)).unwrap();
        assert_eq!(Complexity::derive(Some(&high), None, Some(Complexity::Low)), Complexity::High);
        assert_eq!(Complexity::derive(Some(&low), None, Some(Complexity::Medium)), Complexity::Medium);
        assert_eq!(Complexity::derive(None, None, None), Complexity::Low);
    }
}
