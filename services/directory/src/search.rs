//! Searching offers: an inverted index per criterion, so a query touches only the offers that
//! can match; then a ranking with named reasons. The index lives only in memory and is rebuilt
//! from the offers when a snapshot is restored.

use std::collections::{BTreeSet, HashMap};

use crate::offer::Offer;

/// Ranges wider than this many postcode areas are not spread over the per-area buckets.
const WIDE: u16 = 200;
const AREAS: usize = 9000;

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
pub(crate) struct Hit {
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

#[derive(Debug)]
pub(crate) struct OfferIndex {
    by_function: HashMap<String, BTreeSet<String>>,
    by_kind: HashMap<String, BTreeSet<String>>,
    by_language: HashMap<String, BTreeSet<String>>,
    by_word: HashMap<String, BTreeSet<String>>,
    /// Offers serving each postcode area (index: area - 1000), for narrow ranges.
    by_area: Vec<BTreeSet<String>>,
    /// Offers with a range wider than [`WIDE`]: checked one by one.
    wide: BTreeSet<String>,
}

impl Default for OfferIndex {
    fn default() -> Self {
        Self {
            by_function: HashMap::new(),
            by_kind: HashMap::new(),
            by_language: HashMap::new(),
            by_word: HashMap::new(),
            by_area: vec![BTreeSet::new(); AREAS],
            wide: BTreeSet::new(),
        }
    }
}

impl OfferIndex {
    fn entries<'a>(offer: &'a Offer) -> impl Iterator<Item = (Bucket, String)> + 'a {
        let f = &offer.fields;
        let text = words(&format!("{} {}", f.title, f.description));
        f.functions
            .iter()
            .map(|c| (Bucket::Function, c.clone()))
            .chain(f.kinds.iter().map(|c| (Bucket::Kind, c.clone())))
            .chain(f.languages.iter().map(|c| (Bucket::Language, c.clone())))
            .chain(text.into_iter().map(|w| (Bucket::Word, w)))
    }

    fn map(&mut self, bucket: Bucket) -> &mut HashMap<String, BTreeSet<String>> {
        match bucket {
            Bucket::Function => &mut self.by_function,
            Bucket::Kind => &mut self.by_kind,
            Bucket::Language => &mut self.by_language,
            Bucket::Word => &mut self.by_word,
        }
    }

    /// Adds an offer that is not archived.
    pub(crate) fn insert(&mut self, offer: &Offer) {
        if offer.archived {
            return;
        }
        for (bucket, key) in Self::entries(offer) {
            self.map(bucket).entry(key).or_default().insert(offer.id.clone());
        }
        for &(a, b) in &offer.fields.area.ranges {
            if b - a + 1 > WIDE {
                self.wide.insert(offer.id.clone());
            } else {
                for area in a..=b {
                    self.by_area[usize::from(area - 1000)].insert(offer.id.clone());
                }
            }
        }
    }

    pub(crate) fn remove(&mut self, offer: &Offer) {
        for (bucket, key) in Self::entries(offer) {
            let map = self.map(bucket);
            if let Some(set) = map.get_mut(&key) {
                set.remove(&offer.id);
                if set.is_empty() {
                    map.remove(&key);
                }
            }
        }
        for &(a, b) in &offer.fields.area.ranges {
            if b - a + 1 > WIDE {
                self.wide.remove(&offer.id);
            } else {
                for area in a..=b {
                    self.by_area[usize::from(area - 1000)].remove(&offer.id);
                }
            }
        }
    }

    /// Ids of offers that can match `q` on the indexed criteria; `None` when `q` has none.
    pub(crate) fn candidates<'a>(
        &'a self,
        q: &Query,
        offer: impl Fn(&str) -> Option<&'a Offer>,
    ) -> Option<BTreeSet<String>> {
        let empty = BTreeSet::new();
        let lookup = |map: &'a HashMap<String, BTreeSet<String>>, key: &str| map.get(key).unwrap_or(&empty);
        let mut sets: Vec<&BTreeSet<String>> = Vec::new();
        if let Some(f) = &q.function {
            sets.push(lookup(&self.by_function, f));
        }
        if let Some(k) = &q.kind {
            sets.push(lookup(&self.by_kind, k));
        }
        if let Some(l) = &q.language {
            sets.push(lookup(&self.by_language, l));
        }
        for w in &q.words {
            sets.push(lookup(&self.by_word, w));
        }
        let served: BTreeSet<String>;
        if let Some(area) = q.area {
            let wide =
                self.wide.iter().filter(|id| offer(id).is_some_and(|o| o.fields.area.covering_width(area).is_some()));
            served = self.by_area[usize::from(area - 1000)].iter().chain(wide).cloned().collect();
            sets.push(&served);
        }
        // Start from the smallest set: the intersection costs at most its size in lookups.
        sets.sort_by_key(|s| s.len());
        let (first, rest) = sets.split_first()?;
        Some(first.iter().filter(|id| rest.iter().all(|s| s.contains(*id))).cloned().collect())
    }
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
    let text = words(&format!("{} {}", f.title, f.description));
    !offer.archived
        && q.function.as_ref().is_none_or(|c| f.functions.contains(c))
        && q.kind.as_ref().is_none_or(|c| f.kinds.contains(c))
        && q.language.as_ref().is_none_or(|c| f.languages.contains(c))
        && q.words.iter().all(|w| text.binary_search(w).is_ok())
        && q.area.is_none_or(|a| f.area.covering_width(a).is_some())
        && q.formal.is_none_or(|formal| offer.formal == formal)
}

/// The ranking: named factors that add up, each with a reason a coordinator can read.
pub(crate) fn score(offer: &Offer, q: &Query) -> Hit {
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
    if f.capacity == 0 {
        score -= 1.0;
        reasons.push("no capacity left".into());
    } else {
        reasons.push(format!("can take {} more", f.capacity));
    }
    Hit { offer: offer.clone(), score, reasons }
}

/// Best first; ties by id, so the order is stable.
pub(crate) fn rank(mut hits: Vec<Hit>, limit: usize) -> Vec<Hit> {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.offer.id.cmp(&b.offer.id)));
    hits.truncate(limit);
    hits
}
