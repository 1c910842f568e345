//! Phone numbers, normalised to E.164 ("+31201234567"), with Dutch national formats accepted.

use std::fmt;
use std::str::FromStr;

use crate::error::Invalid;

/// A phone number in E.164 form. Dutch numbers have 9 digits after +31 and no trunk zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The Dutch national form ("020 123 4567" style without spaces: "0201234567"), if Dutch.
    pub fn national(&self) -> Option<String> {
        self.0.strip_prefix("+31").map(|rest| format!("0{rest}"))
    }
}

impl FromStr for PhoneNumber {
    type Err = Invalid;
    /// Accepts "06-12345678", "020 123 4567", "(020) 1234567", "+31 6 1234 5678", "0031612345678"
    /// and other countries in international form ("+32 ...").
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| Invalid::new(format!("{} is not a phone number: {why}", crate::error::shown(s)));
        if !s.chars().all(|c| c.is_ascii_digit() || " -().+".contains(c)) {
            return Err(bad("only digits, spaces, '-', '(', ')' and a leading '+' are allowed"));
        }
        let plus = s.trim_start().starts_with('+');
        if s.matches('+').count() > usize::from(plus) {
            return Err(bad("'+' only at the start"));
        }
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if let Some(rest) = digits.strip_prefix('0') {
            format!("31{rest}")
        } else {
            return Err(bad("a national number starts with 0, an international one with + or 00"));
        };
        if let Some(national) = international.strip_prefix("31") {
            if national.len() != 9 {
                return Err(bad("a Dutch number has 10 digits (06 12345678, 020 1234567)"));
            }
            if national.starts_with('0') {
                return Err(bad("no 0 after the country code +31"));
            }
        } else if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(bad("an international number has 8 to 15 digits after the +"));
        }
        Ok(Self(format!("+{international}")))
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_formats_normalise_to_e164() {
        for (text, e164) in [
            ("06-12345678", "+31612345678"),
            ("020 123 4567", "+31201234567"),
            ("(045) 5 123 456", "+31455123456"),
            ("+31 6 1234 5678", "+31612345678"),
            ("0031612345678", "+31612345678"),
            ("+32 2 123 45 67", "+3221234567"),
        ] {
            assert_eq!(text.parse::<PhoneNumber>().unwrap().as_e164(), e164, "{text}");
        }
        assert_eq!("06-12345678".parse::<PhoneNumber>().unwrap().national().as_deref(), Some("0612345678"));
    }

    #[test]
    fn refuses_what_cannot_be_dialled() {
        for bad in ["0612345", "06123456789", "+31 06 12345678", "12345678", "06-1234567a", "+31+612345678", "", "+1"] {
            assert!(bad.parse::<PhoneNumber>().is_err(), "{bad:?} accepted");
        }
    }
}
