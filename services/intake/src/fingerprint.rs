//! A person's fingerprint for noticing the same person taken in twice, by two organisations or
//! on two nodes, without sharing who it is: a keyed hash (BLAKE3 keyed with a key the federation
//! shares) of the date of birth, the postcode, the first initial and a Dutch phonetic key of the
//! surname. The phonetic key absorbs the usual ways one name is written differently — `ij`/`y`/
//! `ei`, doubled letters, `ph`/`f`, `c`/`k`, `dt`/`d`/`t`, `z`/`s`, `sch`, accents, tussenvoegsels
//! (`van der`, `de`) and their place — so "Jansen" and "Janssen", "Meijer" and "Meyer", "de Vries"
//! and "Vries, de" give one fingerprint; a typo it does not absorb, or a move to another postcode,
//! is missed (the figures are in BENCHMARKS.md). A node holding the key can test a guessed
//! identity (name, date of birth, postcode) against the fingerprints it holds; it cannot recover
//! one from a fingerprint. So checks are rate-limited per credential and each reported match is
//! in the access log.

use std::fmt;

/// A fingerprint key, by the id the federation gives it (so keys can be rotated: a node computes
/// the fingerprints under every key it is configured with, and two match under any shared one).
#[derive(Clone)]
pub struct FingerprintKey {
    pub id: String,
    key: [u8; 32],
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FingerprintKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl FingerprintKey {
    /// A key from 64 hex digits.
    pub fn from_hex(id: &str, hex_key: &str) -> Result<Self, String> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_key.trim(), &mut key).map_err(|_| format!("key {id:?} is not 64 hex digits"))?;
        if id.trim().is_empty() || id.len() > 64 {
            return Err("a fingerprint key needs an id of 1 to 64 characters".into());
        }
        Ok(Self { id: id.trim().to_string(), key })
    }
}

/// Words that are tussenvoegsels, not the surname itself.
const PARTICLES: &[&str] =
    &["van", "de", "der", "den", "het", "des", "ten", "ter", "te", "op", "in", "la", "le", "du", "von", "zu", "vd"];

/// Lowercase ASCII letters and spaces: accents folded, everything else a space.
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            'ç' => 'c',
            'ñ' => 'n',
            'ĳ' => 'y',
            c if c.is_ascii_lowercase() => c,
            _ => ' ',
        };
        out.push(base);
    }
    out
}

/// The first initial and the surname of a name as written in the Netherlands: "Jan de Vries",
/// "J. de Vries", "Vries, Jan de", "de Vries". The surname is what is left without its
/// tussenvoegsels; the initial is the first letter of the first given name (or none).
fn parts(name: &str) -> (Option<char>, String) {
    // "'t" and "'s" are particles ("van 't Hof", "'s-Gravesande"); alone a letter is an initial.
    let name = name.replace("'t ", " het ").replace("'s-", " des ").replace("'s ", " des ");
    let (given, family) = match name.split_once(',') {
        // "Vries, Jan de": the surname first.
        Some((family, given)) => (fold(given), fold(family)),
        None => {
            let folded = fold(&name);
            let words: Vec<&str> = folded.split_whitespace().collect();
            // The surname is the last word that is no particle; the given names come before the
            // first particle or the surname.
            let last = words.iter().rposition(|w| !PARTICLES.contains(w)).unwrap_or(0);
            let first_particle = words[..last].iter().position(|w| PARTICLES.contains(w)).unwrap_or(last);
            (words[..first_particle].join(" "), words[first_particle..].join(" "))
        }
    };
    let surname: String = family.split_whitespace().filter(|w| !PARTICLES.contains(w)).collect::<Vec<_>>().join("");
    let initial = given.split_whitespace().find(|w| !PARTICLES.contains(w)).and_then(|w| w.chars().next());
    (initial, surname)
}

/// A Dutch phonetic key of a surname (letters only): the spellings of one sound made one, doubled
/// letters single, vowels after the first kept as one vowel class.
pub(crate) fn phonetic(surname: &str) -> String {
    let mut s = surname.to_string();
    for (from, to) in [
        ("sch", "s"),
        ("ij", "y"),
        ("ei", "y"),
        ("ey", "y"),
        ("ie", "i"),
        ("ph", "f"),
        ("th", "t"),
        ("dt", "t"),
        ("ck", "k"),
        ("ch", "g"),
        ("oe", "u"),
        ("ou", "au"),
        ("ae", "a"),
        ("uy", "ui"),
    ] {
        s = s.replace(from, to);
    }
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        let c = match c {
            'c' | 'q' => 'k',
            'z' => 's',
            'd' => 't',
            'v' => 'f',
            'w' => 'f',
            'x' => 'k',
            'y' | 'i' => 'i',
            'h' if i > 0 => continue,
            c => c,
        };
        // Vowels after the first letter fold to one class: "Jansen", "Jenssen" differ in a vowel.
        let c = if i > 0 && "aeou".contains(c) { 'a' } else { c };
        if out.ends_with(c) {
            continue;
        }
        out.push(c);
    }
    out
}

/// How sure a match is: the whole fingerprint (date of birth, postcode, initial and surname), or
/// all but the surname (a surname written with a typo the phonetic key does not absorb).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Date of birth, postcode, initial and the surname's phonetic key.
    Name,
    /// Date of birth, postcode and initial: the surname may be written otherwise.
    Initial,
}

/// One fingerprint: under which key, of which strength, and the keyed hash (hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    pub key_id: String,
    pub strength: Strength,
    pub value: String,
}

/// What is hashed, per strength: the date of birth, the postcode (its 4 digits and letters), the
/// initial, and for `Name` the surname's phonetic key. Empty when a part is missing.
pub(crate) fn normalised(name: &str, birth_date: &str, postcode: &str) -> Vec<(Strength, String)> {
    let (initial, surname) = parts(name);
    let postcode: String =
        postcode.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase();
    if surname.is_empty() || birth_date.len() != 10 || postcode.len() != 6 {
        return Vec::new();
    }
    let base = format!("{birth_date}|{postcode}|{}", initial.unwrap_or('-'));
    vec![
        (Strength::Name, format!("name|{base}|{}", phonetic(&surname))),
        (Strength::Initial, format!("initial|{base}")),
    ]
}

/// The fingerprints of a person under each key, both strengths.
pub fn fingerprints(keys: &[FingerprintKey], name: &str, birth_date: &str, postcode: &str) -> Vec<Fingerprint> {
    let texts = normalised(name, birth_date, postcode);
    keys.iter()
        .flat_map(|k| {
            texts.iter().map(move |(strength, text)| {
                let mut h = blake3::Hasher::new_keyed(&k.key);
                h.update(b"samenspel person fingerprint v1\0");
                h.update(text.as_bytes());
                Fingerprint {
                    key_id: k.id.clone(),
                    strength: *strength,
                    value: hex::encode(&h.finalize().as_bytes()[..16]),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vec<FingerprintKey> {
        vec![FingerprintKey::from_hex("2026", &"ab".repeat(32)).unwrap()]
    }

    /// The name-strength fingerprint.
    fn fp(name: &str, postcode: &str) -> String {
        fingerprints(&key(), name, "1948-03-07", postcode)[0].value.clone()
    }

    #[test]
    fn one_name_written_the_usual_other_ways_is_one_fingerprint() {
        let same = [
            ("Jan de Vries", "6411 AB"),
            ("J. de Vries", "6411AB"),
            ("Vries, Jan de", "6411 ab"),
            ("jan DE VRIES", "6411 AB"),
        ];
        for (name, pc) in same {
            assert_eq!(fp(name, pc), fp("Jan de Vries", "6411 AB"), "{name}");
        }
        for (a, b) in [
            ("Anna Jansen", "Anna Janssen"),
            ("Piet Meijer", "Piet Meyer"),
            ("Piet Meijer", "Piet Meier"),
            ("Kees Schmidt", "Kees Smidt"),
            ("Els van der Berg", "Els Berg"),
            ("Marie Ruijters", "Marie Ruyters"),
            ("Joop Philips", "Joop Filips"),
            ("Sanne Claasen", "Sanne Klaassen"),
            ("Eva Müller", "Eva Muller"),
        ] {
            assert_eq!(fp(a, "6411 AB"), fp(b, "6411 AB"), "{a} / {b}");
        }
    }

    #[test]
    fn another_person_or_place_is_another_fingerprint() {
        let jan = fp("Jan de Vries", "6411 AB");
        assert_ne!(jan, fp("Jan de Vries", "6412 AB"), "the same name at another postcode");
        assert_ne!(jan, fp("Piet de Vries", "6411 AB"), "another initial at the same address");
        assert_ne!(jan, fp("Jan Bakker", "6411 AB"));
        assert_ne!(jan, fingerprints(&key(), "Jan de Vries", "1948-03-08", "6411 AB")[0].value);
        let other_key = vec![FingerprintKey::from_hex("2027", &"cd".repeat(32)).unwrap()];
        assert_ne!(jan, fingerprints(&other_key, "Jan de Vries", "1948-03-07", "6411 AB")[0].value);
        // A typo the phonetic key does not absorb: the initial-strength fingerprint still agrees.
        let (a, b) = (
            fingerprints(&key(), "Jan de Vries", "1948-03-07", "6411 AB"),
            fingerprints(&key(), "Jan de Vrise", "1948-03-07", "6411 AB"),
        );
        assert_ne!(a[0], b[0]);
        assert_eq!((a[1].strength, &a[1].value), (Strength::Initial, &b[1].value));
        assert!(fingerprints(&key(), "Jan de Vries", "", "6411 AB").is_empty(), "no date of birth, no fingerprint");
        assert!(format!("{:?}", key()[0]).contains("2026") && !format!("{:?}", key()[0]).contains("abab"));
    }
}
