//! Searching offers: an inverted index per criterion, so a query touches only the offers that
//! can match; then a ranking with named reasons. The index lives only in memory and is rebuilt
//! from the offers when a snapshot is restored.

use std::collections::{HashMap, HashSet};

use crate::offer::{Availability, Offer};

/// Ranges wider than this many postcode areas go into blocks of [`BLOCK`] areas instead of into
/// every area's bucket.
const WIDE: u16 = 200;
const AREAS: usize = 9000;
const BLOCK: u16 = 100;

/// What a search asks for; every given criterion must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub function: Option<String>,
    pub kind: Option<String>,
    pub area: Option<u16>,
    pub language: Option<String>,
    pub words: Vec<String>,
    pub formal: Option<bool>,
}

/// One result: the offer, its score, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub offer: Offer,
    pub score: f64,
    pub reasons: Vec<String>,
}

/// Lowercase words of letters and digits, for the text index and text queries.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    out.sort();
    out.dedup();
    out
}

/// Posting lists hold small integer handles rather than string ids: membership tests are hash
/// lookups of a `u32`, so a query costs about the size of its most selective list.
type Postings = HashSet<u32>;

#[derive(Debug)]
pub(crate) struct OfferIndex {
    by_function: HashMap<String, Postings>,
    by_kind: HashMap<String, Postings>,
    by_language: HashMap<String, Postings>,
    by_word: HashMap<String, Postings>,
    /// Offers serving each postcode area (index: area - 1000), for narrow ranges.
    by_area: Vec<Postings>,
    /// Offers with a range wider than [`WIDE`], per block of [`BLOCK`] areas it overlaps; a
    /// query checks the ranges of its block's offers.
    by_block: Vec<Postings>,
    /// Handle → id and service area, and id → handle. Handles are never reused.
    ids: Vec<String>,
    ranges: Vec<Vec<(u16, u16)>>,
    handles: HashMap<String, u32>,
}

fn block(area: u16) -> usize {
    usize::from((area - 1000) / BLOCK)
}

impl Default for OfferIndex {
    fn default() -> Self {
        Self {
            by_function: HashMap::new(),
            by_kind: HashMap::new(),
            by_language: HashMap::new(),
            by_word: HashMap::new(),
            by_area: vec![Postings::new(); AREAS],
            by_block: vec![Postings::new(); AREAS / usize::from(BLOCK)],
            ids: Vec::new(),
            ranges: Vec::new(),
            handles: HashMap::new(),
        }
    }
}

impl OfferIndex {
    fn entries(offer: &Offer) -> impl Iterator<Item = (Bucket, String)> + '_ {
        let f = &offer.fields;
        let text = words(&format!("{} {}", f.title, f.description));
        f.functions
            .iter()
            .map(|c| (Bucket::Function, c.clone()))
            .chain(f.kinds.iter().map(|c| (Bucket::Kind, c.clone())))
            .chain(f.languages.iter().map(|c| (Bucket::Language, c.clone())))
            .chain(text.into_iter().map(|w| (Bucket::Word, w)))
    }

    fn map(&mut self, bucket: Bucket) -> &mut HashMap<String, Postings> {
        match bucket {
            Bucket::Function => &mut self.by_function,
            Bucket::Kind => &mut self.by_kind,
            Bucket::Language => &mut self.by_language,
            Bucket::Word => &mut self.by_word,
        }
    }

    fn handle(&mut self, id: &str) -> u32 {
        if let Some(h) = self.handles.get(id) {
            return *h;
        }
        let h = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.ranges.push(Vec::new());
        self.handles.insert(id.to_string(), h);
        h
    }

    /// Adds an offer that is not archived.
    pub(crate) fn insert(&mut self, offer: &Offer) {
        if offer.archived {
            return;
        }
        let h = self.handle(&offer.id);
        for (bucket, key) in Self::entries(offer) {
            self.map(bucket).entry(key).or_default().insert(h);
        }
        for &(a, b) in &offer.fields.area.ranges {
            if b - a + 1 > WIDE {
                for blk in block(a)..=block(b) {
                    self.by_block[blk].insert(h);
                }
            } else {
                for area in a..=b {
                    self.by_area[usize::from(area - 1000)].insert(h);
                }
            }
        }
        self.ranges[h as usize] = offer.fields.area.ranges.clone();
    }

    pub(crate) fn remove(&mut self, offer: &Offer) {
        let Some(&h) = self.handles.get(&offer.id) else { return };
        for (bucket, key) in Self::entries(offer) {
            let map = self.map(bucket);
            if let Some(set) = map.get_mut(&key) {
                set.remove(&h);
                if set.is_empty() {
                    map.remove(&key);
                }
            }
        }
        for &(a, b) in &offer.fields.area.ranges {
            if b - a + 1 > WIDE {
                for blk in block(a)..=block(b) {
                    self.by_block[blk].remove(&h);
                }
            } else {
                for area in a..=b {
                    self.by_area[usize::from(area - 1000)].remove(&h);
                }
            }
        }
        self.ranges[h as usize].clear();
    }

    /// Ids of offers that can match `q` on the indexed criteria; `None` when `q` has none.
    /// Walks the smallest posting list and checks the others, so the cost follows the most
    /// selective criterion, not the number of offers.
    pub(crate) fn candidates(&self, q: &Query) -> Option<Vec<&str>> {
        let mut sets: Vec<&Postings> = Vec::new();
        for (map, key) in [(&self.by_function, &q.function), (&self.by_kind, &q.kind), (&self.by_language, &q.language)]
        {
            if let Some(key) = key {
                sets.push(postings(map, key));
            }
        }
        sets.extend(q.words.iter().map(|w| postings(&self.by_word, w)));
        sets.sort_by_key(|s| s.len());
        let in_sets = |h: &u32, sets: &[&Postings]| sets.iter().all(|s| s.contains(h));
        let handles: Vec<u32> = match q.area {
            Some(area) => {
                let (narrow, wide) = (&self.by_area[usize::from(area - 1000)], &self.by_block[block(area)]);
                let serves = |h: &u32| self.ranges[*h as usize].iter().any(|(a, b)| (*a..=*b).contains(&area));
                if sets.first().is_some_and(|s| s.len() < narrow.len() + wide.len()) {
                    let (first, rest) = sets.split_first().expect("checked above");
                    first.iter().filter(|h| in_sets(h, rest) && serves(h)).copied().collect()
                } else {
                    narrow
                        .iter()
                        .chain(wide.iter().filter(|h| !narrow.contains(*h) && serves(h)))
                        .filter(|h| in_sets(h, &sets))
                        .copied()
                        .collect()
                }
            }
            None => {
                let (first, rest) = sets.split_first()?;
                first.iter().filter(|h| in_sets(h, rest)).copied().collect()
            }
        };
        Some(handles.into_iter().map(|h| self.ids[h as usize].as_str()).collect())
    }
}

static EMPTY: std::sync::LazyLock<Postings> = std::sync::LazyLock::new(Postings::new);

/// The posting list of `key`, empty when nothing has it.
fn postings<'a>(map: &'a HashMap<String, Postings>, key: &str) -> &'a Postings {
    map.get(key).unwrap_or(&EMPTY)
}

#[derive(Debug, Clone, Copy)]
enum Bucket {
    Function,
    Kind,
    Language,
    Word,
}

/// Whether an offer meets every criterion of `q` (the brute-force definition of a match).
pub(crate) fn matches(offer: &Offer, q: &Query) -> bool {
    let f = &offer.fields;
    let text_matches = || {
        let text = words(&format!("{} {}", f.title, f.description));
        q.words.iter().all(|w| text.binary_search(w).is_ok())
    };
    !offer.archived
        && q.function.as_ref().is_none_or(|c| f.functions.contains(c))
        && q.kind.as_ref().is_none_or(|c| f.kinds.contains(c))
        && q.language.as_ref().is_none_or(|c| f.languages.contains(c))
        && q.area.is_none_or(|a| f.area.covering_width(a).is_some())
        && q.formal.is_none_or(|formal| offer.formal == formal)
        && (q.words.is_empty() || text_matches())
}

/// The score alone, without the words: cheap enough for every match. `taken` is how many of the
/// offer's places matches hold.
fn points(offer: &Offer, q: &Query, taken: u32) -> f64 {
    let mut score = 0.0;
    if q.kind.is_some() {
        score += 2.0;
    }
    if q.function.is_some() {
        score += 1.0;
    }
    if let Some(width) = q.area.and_then(|a| offer.fields.area.covering_width(a)) {
        score += 1.0 / (1.0 + f64::from(width).log10());
    }
    score += 0.5 * q.words.len() as f64;
    score - room_penalty(offer, taken)
}

/// What having no room now costs in the ranking: a full offer or one that takes no one sinks; one
/// with a waiting list sinks half as far (it takes the referral, later).
fn room_penalty(offer: &Offer, taken: u32) -> f64 {
    match offer.fields.availability {
        Availability::NoCapacity => 1.0,
        Availability::Waitlist => 0.5,
        Availability::Available | Availability::AssessmentRequired if offer.fields.capacity <= taken => 1.0,
        Availability::Available | Availability::AssessmentRequired => 0.0,
    }
}

/// Ranks matching offers, best first (ties by id), and explains the best `limit` of them.
/// `taken` says how many places of an offer matches hold.
pub(crate) fn rank_matches<'a>(
    matching: impl Iterator<Item = &'a Offer>,
    q: &Query,
    limit: usize,
    taken: impl Fn(&str) -> u32,
) -> Vec<Hit> {
    let mut ranked: Vec<(f64, &Offer)> = matching.map(|o| (points(o, q, taken(&o.id)), o)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    ranked.into_iter().take(limit).map(|(_, o)| score(o, q, taken(&o.id))).collect()
}

/// The ranking: named factors that add up, each with a reason a coordinator can read. Room is
/// what is left of the capacity once the places matches hold (`taken`) are counted.
pub(crate) fn score(offer: &Offer, q: &Query, taken: u32) -> Hit {
    let f = &offer.fields;
    let mut score = 0.0;
    let mut reasons = Vec::new();
    if let Some(k) = &q.kind {
        score += 2.0;
        reasons.push(format!("offers {k}"));
    }
    if let Some(c) = &q.function {
        score += 1.0;
        reasons.push(format!("covers {c}"));
    }
    if let Some(area) = q.area
        && let Some(width) = f.area.covering_width(area)
    {
        // Local help first: the narrower the area an offer serves, the closer it is.
        let local = 1.0 / (1.0 + f64::from(width).log10());
        score += local;
        reasons.push(if width == 1 {
            format!("serves {area} itself")
        } else {
            format!("serves {area} within {width} postcode areas")
        });
    }
    if let Some(l) = &q.language {
        reasons.push(format!("speaks {l}"));
    }
    if !q.words.is_empty() {
        score += 0.5 * q.words.len() as f64;
        reasons.push(format!("mentions {}", q.words.join(", ")));
    }
    let free = f.capacity.saturating_sub(taken);
    score -= room_penalty(offer, taken);
    match f.availability {
        Availability::NoCapacity => reasons.push("no capacity: its organisation takes no referrals now".to_string()),
        Availability::Waitlist => {
            reasons.push(format!("waiting list: help starts after about {} days", f.expected_wait_days))
        }
        Availability::Available | Availability::AssessmentRequired if free == 0 => reasons.push(match f.capacity {
            0 => "no room: it offers no places".to_string(),
            1 => "no room: its one place is taken".to_string(),
            n => format!("no room: all {n} places taken"),
        }),
        Availability::Available | Availability::AssessmentRequired => {
            reasons.push(format!("can take {free} more ({taken} of {} places taken)", f.capacity))
        }
    }
    if f.availability == Availability::AssessmentRequired {
        reasons.push("its organisation assesses each referral first".to_string());
    }
    Hit { offer: offer.clone(), score, reasons }
}
