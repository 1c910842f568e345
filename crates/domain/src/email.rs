//! E-mail addresses, checked plainly: one '@', something before it, a dotted domain after it.

use std::fmt;
use std::str::FromStr;

use crate::error::Invalid;

/// The longest address accepted.
const MAX_LEN: usize = 200;

/// An e-mail address, trimmed. Deliverability is not checked; obvious typos are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let bad = || Invalid::new(format!("{} is not an e-mail address (name@example.nl)", crate::error::shown(s)));
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let valid = !local.is_empty()
            && !domain.contains('@')
            && domain.split('.').count() >= 2
            && domain.split('.').all(|p| !p.is_empty())
            && !s.chars().any(char::is_whitespace)
            && s.len() <= MAX_LEN;
        if valid { Ok(Self(s.to_string())) } else { Err(bad()) }
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_pass_and_typos_do_not() {
        assert_eq!(" anna@steunpunt.nl ".parse::<EmailAddress>().unwrap().as_str(), "anna@steunpunt.nl");
        for bad in ["anna", "anna@", "@steunpunt.nl", "anna@steunpunt", "anna@@x.nl", "an na@x.nl", "anna@x..nl"] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad}");
        }
    }
}
