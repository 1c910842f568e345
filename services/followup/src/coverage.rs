//! Open demand against offers per postcode area and need in a region: where requests wait and how
//! many offers, with how many free places, serve them — so a municipality sees where support is
//! missing. A need is a support function or kind code; a request or offer counts under each of its
//! codes.

use std::collections::{BTreeMap, BTreeSet};

use crate::state::FollowUpState;

/// The widest region one report covers, in postcode areas.
pub(crate) const MAX_AREAS: u16 = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// `None` in a total over the region.
    pub area: Option<u16>,
    pub need: String,
    pub open_requests: u32,
    pub offers: u32,
    pub free_places: u32,
}

impl Row {
    fn new(area: Option<u16>, need: &str) -> Self {
        Row { area, need: need.to_string(), ..Row::default() }
    }

    /// More open requests than free places.
    pub fn gap(&self) -> bool {
        self.open_requests > self.free_places
    }
}

/// Rows per area and need (only where something is asked or offered), and totals per need.
pub(crate) fn coverage(state: &FollowUpState, from: u16, to: u16, need: Option<&str>) -> (Vec<Row>, Vec<Row>) {
    let wanted = |code: &String| need.is_none_or(|n| n == code);
    let codes = |functions: &[String], kinds: &[String]| -> BTreeSet<String> {
        functions.iter().chain(kinds).filter(|c| wanted(c)).cloned().collect()
    };
    let mut rows: BTreeMap<(u16, String), Row> = BTreeMap::new();
    let mut totals: BTreeMap<String, Row> = BTreeMap::new();
    for r in state.requests().filter(|r| r.open) {
        let Some(area) = r.area.filter(|a| (from..=to).contains(a)) else { continue };
        for code in codes(&r.functions, &r.kinds) {
            rows.entry((area, code.clone())).or_insert_with(|| Row::new(Some(area), &code)).open_requests += 1;
            totals.entry(code.clone()).or_insert_with(|| Row::new(None, &code)).open_requests += 1;
        }
    }
    for (id, o) in state.live_offers() {
        let served: BTreeSet<u16> = o.ranges.iter().flat_map(|&(a, b)| a.max(from)..=b.min(to)).collect();
        if served.is_empty() {
            continue;
        }
        let free = o.capacity.saturating_sub(state.used(id));
        for code in codes(&o.functions, &o.kinds) {
            for &area in &served {
                let row = rows.entry((area, code.clone())).or_insert_with(|| Row::new(Some(area), &code));
                row.offers += 1;
                row.free_places += free;
            }
            let total = totals.entry(code.clone()).or_insert_with(|| Row::new(None, &code));
            total.offers += 1;
            total.free_places += free;
        }
    }
    (rows.into_values().collect(), totals.into_values().collect())
}
