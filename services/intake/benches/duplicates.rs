//! How well the person fingerprint finds the same person taken in twice, on a generated set of
//! Dutch names: missed matches per kind of difference (a spelling variant, a typo, a format, a
//! move), and false matches among distinct people who share a postcode and birth year.
//! Deterministic (a fixed seed): `cargo bench -p samenspel-intake --bench duplicates`.

use samenspel_intake::{Fingerprint, FingerprintKey, Strength, fingerprints};

const FIRST: &[&str] = &[
    "Jan",
    "Piet",
    "Kees",
    "Henk",
    "Wim",
    "Johannes",
    "Cornelis",
    "Gerrit",
    "Hendrik",
    "Willem",
    "Maria",
    "Anna",
    "Johanna",
    "Elisabeth",
    "Cornelia",
    "Wilhelmina",
    "Geertruida",
    "Sanne",
    "Femke",
    "Daan",
    "Sem",
    "Lotte",
    "Noor",
    "Ruud",
    "Joop",
    "Truus",
    "Riet",
    "Mien",
    "Bep",
    "Fatima",
    "Mohamed",
    "Aylin",
    "Mehmet",
    "Yusuf",
    "Priya",
];
const LAST: &[&str] = &[
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Broek",
    "de Bruijn",
    "de Bruin",
    "van der Heijden",
    "Schouten",
    "van Beek",
    "Willems",
    "van Vliet",
    "van de Ven",
    "Hoekstra",
    "Maas",
    "Verhoeven",
    "Koster",
    "van Dam",
    "van der Wal",
    "Prins",
    "Blom",
    "Huisman",
    "Peeters",
    "Schmidt",
    "Kuipers",
    "Philips",
    "Claassen",
    "Yilmaz",
    "El Amrani",
    "Öztürk",
    "Ruijters",
    "Gerritsen",
];

/// A small deterministic generator (xorshift), so the figures are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone)]
struct Person {
    first: String,
    last: String,
    birth: String,
    postcode: String,
}

impl Person {
    fn name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

/// The surname without its tussenvoegsels, and them.
fn split(last: &str) -> (String, String) {
    let words: Vec<&str> = last.split(' ').collect();
    let (particles, rest) = words.split_at(words.len() - 1);
    (particles.join(" "), rest.join(" "))
}

fn spelling_variant(r: &mut Rng, last: &str) -> Option<String> {
    let swaps = [
        ("ij", "y"),
        ("y", "ij"),
        ("ss", "s"),
        ("s", "ss"),
        ("ph", "f"),
        ("c", "k"),
        ("k", "c"),
        ("ui", "uy"),
        ("ee", "e"),
        ("dt", "d"),
    ];
    let start = r.below(swaps.len());
    // A "c" of "ch"/"sch" is no "k": "Skhouten" is nobody's way of writing Schouten.
    (0..swaps.len())
        .map(|i| swaps[(start + i) % swaps.len()])
        .find(|(a, _)| last.contains(a) && !(*a == "c" && last.contains("ch")))
        .map(|(a, b)| last.replacen(a, b, 1))
}

fn typo(r: &mut Rng, last: &str) -> String {
    let (particles, core) = split(last);
    let mut chars: Vec<char> = core.chars().collect();
    let i = 1 + r.below(chars.len().saturating_sub(1).max(1));
    let i = i.min(chars.len() - 1);
    match r.below(3) {
        0 if chars.len() > 3 => {
            chars.remove(i);
        }
        1 if i + 1 < chars.len() => chars.swap(i, i + 1),
        _ => chars[i] = (b'a' + r.below(26) as u8) as char,
    }
    let core: String = chars.into_iter().collect();
    if particles.is_empty() { core } else { format!("{particles} {core}") }
}

fn main() {
    let key = vec![FingerprintKey::from_hex("bench", &"5a".repeat(32)).unwrap()];
    let all = |p: &Person, name: &str| fingerprints(&key, name, &p.birth, &p.postcode);
    let of =
        |fps: Vec<Fingerprint>, strength: Strength| fps.into_iter().find(|f| f.strength == strength).map(|f| f.value);
    let fp = |p: &Person, name: &str| of(all(p, name), Strength::Name);
    let loose = |p: &Person, name: &str| of(all(p, name), Strength::Initial);
    let mut r = Rng(0x5eed_cafe_f00d_1234);
    let n = 20_000;
    // 40 postcodes of one town, births over 30 years: many share a postcode and a year.
    let people: Vec<Person> = (0..n)
        .map(|_| Person {
            first: FIRST[r.below(FIRST.len())].to_string(),
            last: LAST[r.below(LAST.len())].to_string(),
            birth: format!("{}-{:02}-{:02}", 1935 + r.below(30), 1 + r.below(12), 1 + r.below(28)),
            postcode: format!(
                "64{:02} {}{}",
                11 + r.below(40),
                (b'A' + r.below(3) as u8) as char,
                (b'A' + r.below(3) as u8) as char
            ),
        })
        .collect();

    let mut rows: Vec<(&str, usize, usize, usize)> = Vec::new();
    let mut count = |what: &'static str, pairs: Vec<(Person, String)>| {
        let missed = pairs.iter().filter(|(p, name)| fp(p, name) != fp(p, &p.name())).count();
        let missed_loose = pairs.iter().filter(|(p, name)| loose(p, name) != loose(p, &p.name())).count();
        rows.push((what, pairs.len(), missed, missed_loose));
    };
    count("the name as written the first time", people.iter().map(|p| (p.clone(), p.name())).collect());
    count(
        "initial instead of first name",
        people.iter().map(|p| (p.clone(), format!("{}. {}", &p.first[..1], p.last))).collect(),
    );
    count(
        "surname first (\"Vries, Jan de\")",
        people
            .iter()
            .map(|p| {
                let (particles, core) = split(&p.last);
                (p.clone(), format!("{core}, {} {particles}", p.first).trim().to_string())
            })
            .collect(),
    );
    count(
        "tussenvoegsel left out",
        people
            .iter()
            .filter(|p| p.last.contains(' '))
            .map(|p| (p.clone(), format!("{} {}", p.first, split(&p.last).1)))
            .collect(),
    );
    let mut r2 = Rng(0x0dd5_eed5);
    count(
        "a spelling variant (ij/y, s/ss, ph/f, c/k, …)",
        people
            .iter()
            .filter_map(|p| spelling_variant(&mut r2, &p.last).map(|l| (p.clone(), format!("{} {l}", p.first))))
            .collect(),
    );
    let mut r3 = Rng(0x7e57_7e57);
    count(
        "a typo in the surname (a letter dropped, swapped or wrong)",
        people.iter().map(|p| (p.clone(), format!("{} {}", p.first, typo(&mut r3, &p.last)))).collect(),
    );
    // A move: the same person at another postcode is not the same fingerprint (by design).
    let moved = people.iter().filter(|p| {
        let mut q = (*p).clone();
        q.postcode = "6500 ZZ".into();
        of(all(&q, &p.name()), Strength::Name) == fp(p, &p.name())
    });
    let moved_found = moved.count();

    // False matches: distinct people (by name, birth or postcode) with one fingerprint.
    let false_matches = |strength: Strength| {
        let mut by_fp: std::collections::HashMap<Option<String>, Vec<usize>> = Default::default();
        for (i, p) in people.iter().enumerate() {
            by_fp.entry(of(all(p, &p.name()), strength)).or_default().push(i);
        }
        let mut false_pairs = 0usize;
        let mut same_person_pairs = 0usize;
        for ids in by_fp.values() {
            for (a, &i) in ids.iter().enumerate() {
                for &j in &ids[a + 1..] {
                    let (p, q) = (&people[i], &people[j]);
                    if p.name() == q.name() && p.birth == q.birth && p.postcode == q.postcode {
                        same_person_pairs += 1; // generated twice: the same person by every field
                    } else {
                        false_pairs += 1;
                    }
                }
            }
        }
        (false_pairs, same_person_pairs)
    };
    let (false_pairs, same_person_pairs) = false_matches(Strength::Name);
    let (false_loose, _) = false_matches(Strength::Initial);
    let mut same_name_elsewhere = 0usize;
    let mut flagged_elsewhere = 0usize;
    for (i, p) in people.iter().enumerate().take(5_000) {
        for q in people.iter().skip(i + 1) {
            if p.name() == q.name() && p.birth == q.birth && p.postcode != q.postcode {
                same_name_elsewhere += 1;
                if fp(p, &p.name()) == fp(q, &q.name()) {
                    flagged_elsewhere += 1;
                }
            }
        }
    }

    println!("person fingerprints on {n} generated Dutch people (seeded; 40 postcodes, births 1935-1964)");
    println!("{:<60} {:>7} {:>15} {:>20}", "the same person, written", "pairs", "missed by name", "missed by initial");
    for (what, pairs, missed, missed_loose) in &rows {
        let pct = |m: usize| 100.0 * m as f64 / (*pairs).max(1) as f64;
        println!(
            "{what:<60} {pairs:>7} {missed:>7} {:>6.1}% {missed_loose:>12} {:>6.1}%",
            pct(*missed),
            pct(*missed_loose)
        );
    }
    println!(
        "{:<60} {:>7} {:>7} {:>7.1}%",
        "moved to another postcode (missed by design)",
        n,
        n - moved_found,
        100.0 * (n - moved_found) as f64 / n as f64
    );
    let all_pairs = n * (n - 1) / 2;
    println!(
        "false matches by name: {false_pairs} of {all_pairs} pairs of distinct people ({:.5}%); by initial: {false_loose} ({:.5}%); {same_person_pairs} pairs generated identical",
        100.0 * false_pairs as f64 / all_pairs as f64,
        100.0 * false_loose as f64 / all_pairs as f64
    );
    println!("same name and birth date at another postcode: {same_name_elsewhere} pairs, {flagged_elsewhere} flagged");
}
