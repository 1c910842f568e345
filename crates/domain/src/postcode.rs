//! Dutch postcodes: "1234 AB" (PostNL format), the 4-digit area ("1234") and ranges of areas.

use std::fmt;
use std::str::FromStr;

use crate::error::Invalid;

/// A full Dutch postcode: 4 digits (1000–9999) and 2 letters; SA, SD and SS are never issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode {
    area: Postcode4,
    letters: [u8; 2],
}

/// The 4-digit part of a postcode: the area a request or an offer is placed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode4(u16);

/// An inclusive range of postcode areas, such as 6400–6499.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PostcodeRange {
    pub from: Postcode4,
    pub to: Postcode4,
}

impl Postcode4 {
    pub fn new(n: u16) -> Result<Self, Invalid> {
        if (1000..=9999).contains(&n) {
            Ok(Self(n))
        } else {
            Err(Invalid::new(format!("postcode area must be 1000 to 9999, got {n}")))
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for Postcode4 {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(format!("{} is not a 4-digit postcode area", crate::error::shown(s))));
        }
        Self::new(s.parse().expect("four digits"))
    }
}

impl fmt::Display for Postcode4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Postcode {
    pub fn area(self) -> Postcode4 {
        self.area
    }
}

impl FromStr for Postcode {
    type Err = Invalid;
    /// Accepts "1234AB", "1234 AB" and lower case; stores the normal form.
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = || Invalid::new(format!("{} is not a Dutch postcode (1234 AB)", crate::error::shown(s)));
        if compact.len() != 6 || !compact.is_ascii() {
            return Err(bad());
        }
        let area: Postcode4 = compact[..4].parse().map_err(|_| bad())?;
        let letters = compact[4..].to_ascii_uppercase();
        let letters: [u8; 2] = letters.as_bytes().try_into().map_err(|_| bad())?;
        if !letters.iter().all(u8::is_ascii_uppercase) {
            return Err(bad());
        }
        if matches!(&letters, b"SA" | b"SD" | b"SS") {
            return Err(Invalid::new(format!(
                "{}: postcodes with SA, SD or SS are not issued",
                crate::error::shown(s)
            )));
        }
        Ok(Self { area, letters })
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.area, self.letters[0] as char, self.letters[1] as char)
    }
}

impl PostcodeRange {
    pub fn new(from: Postcode4, to: Postcode4) -> Result<Self, Invalid> {
        if from > to {
            return Err(Invalid::new(format!("postcode range {from}-{to} is inverted")));
        }
        Ok(Self { from, to })
    }

    pub fn contains(&self, area: Postcode4) -> bool {
        (self.from..=self.to).contains(&area)
    }
}

impl FromStr for PostcodeRange {
    type Err = Invalid;
    /// "6400-6499", or a single area "6411".
    fn from_str(s: &str) -> Result<Self, Invalid> {
        match s.split_once('-') {
            Some((a, b)) => Self::new(a.parse()?, b.parse()?),
            None => {
                let area: Postcode4 = s.parse()?;
                Ok(Self { from: area, to: area })
            }
        }
    }
}

impl fmt::Display for PostcodeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to { write!(f, "{}", self.from) } else { write!(f, "{}-{}", self.from, self.to) }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!("6411ab".parse::<Postcode>().unwrap().to_string(), "6411 AB");
        assert_eq!(" 6411 AB ".parse::<Postcode>().unwrap().area().get(), 6411);
        for bad in ["0411 AB", "641 AB", "6411 A", "6411 1B", "6411 SS", "6411 AB C", "", "６４１１ AB"] {
            assert!(bad.parse::<Postcode>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ranges() {
        let r: PostcodeRange = "6400-6499".parse().unwrap();
        assert!(r.contains("6411".parse().unwrap()));
        assert!(!r.contains("6500".parse().unwrap()));
        assert!("6499-6400".parse::<PostcodeRange>().is_err());
        assert_eq!("6411".parse::<PostcodeRange>().unwrap().to_string(), "6411");
    }

    proptest! {
        #[test]
        fn display_parses_back(n in 1000u16..=9999, a in b'A'..=b'Z', b in b'A'..=b'Z') {
            let text = format!("{n}{}{}", a as char, b as char);
            match text.parse::<Postcode>() {
                Ok(p) => prop_assert_eq!(p.to_string().parse::<Postcode>().unwrap(), p),
                Err(_) => prop_assert!(matches!(&[a, b], b"SA" | b"SD" | b"SS")),
            }
        }
    }
}
