//! The filter's hot path: a compact copy of what [`crate::scoring::refusal`] reads of each offer
//! and organisation — codes as bits, the first few ranges and slots inline — so screening the
//! hundreds of offers near a postcode touches one small record each instead of chasing strings
//! through the heap. It gives the same answer as `refusal`, in the same order of reasons (a
//! property test in `state.rs` holds it to that); an offer it cannot screen on its own (more
//! ranges, slots or distinct codes than fit) is passed to `refusal` itself.

use std::collections::HashMap;

use samenspel_domain::Complexity;

use crate::model::{Offer, Organisation, Request, Slot, overlap_minutes};

/// Ranges and slots kept inline; an offer with more is screened by `refusal`.
const INLINE_RANGES: usize = 2;
const INLINE_SLOTS: usize = 3;

/// Codes of one vocabulary (kinds of help, languages, …), each with its own bit. The 33rd code
/// and later ones get none: offers with such a code are screened by `refusal`. (The domain has
/// eight support functions and eight kinds; 32 keeps a screen within one cache line.)
#[derive(Debug, Default)]
pub(crate) struct Codes {
    bits: HashMap<String, u8>,
}

impl Codes {
    fn bit(&mut self, code: &str) -> Option<u32> {
        if let Some(b) = self.bits.get(code) {
            return Some(1 << b);
        }
        let next = u8::try_from(self.bits.len()).ok().filter(|n| *n < 32)?;
        self.bits.insert(code.to_string(), next);
        Some(1 << next)
    }

    /// The bits of `codes`, and whether one of them got none.
    fn mask(&mut self, codes: &[String]) -> (u32, bool) {
        codes.iter().fold((0, false), |(mask, odd), c| match self.bit(c) {
            Some(b) => (mask | b, odd),
            None => (mask, true),
        })
    }

    /// The bits of the codes already known; one nobody has is in no offer's mask either.
    fn known(&self, codes: &[String]) -> u32 {
        codes.iter().filter_map(|c| self.bits.get(c.as_str())).fold(0, |mask, b| mask | 1 << b)
    }
}

/// One cache line per offer: screening reads one line for each offer near a postcode.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(crate) struct OfferScreen {
    /// Handle of the offer's organisation.
    pub(crate) organisation: u32,
    /// Units of its capacity held by matches.
    pub(crate) used: u32,
    capacity: u32,
    kinds: u32,
    functions: u32,
    /// The languages spoken; Dutch for an offer that names none.
    languages: u32,
    ranges: [(u16, u16); INLINE_RANGES],
    slots: [Slot; INLINE_SLOTS],
    max_complexity: Complexity,
    archived: bool,
    n_ranges: u8,
    n_slots: u8,
    /// A code without a bit, or more ranges or slots than fit: ask `refusal`.
    odd: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OrganisationScreen {
    /// False for a handle given out for an organisation not seen yet.
    present: bool,
    archived: bool,
    kind: u32,
    odd: bool,
}

/// The screens of all offers and organisations, by handle.
#[derive(Debug, Default)]
pub(crate) struct Screens {
    offers: Vec<Option<OfferScreen>>,
    organisations: Vec<OrganisationScreen>,
    kinds: Codes,
    functions: Codes,
    languages: Codes,
    organisation_kinds: Codes,
}

/// What the filter asks of one request, worked out once for all its candidates.
#[derive(Debug)]
pub(crate) struct RequestScreen<'r> {
    pub(crate) request: &'r Request,
    kinds: u32,
    functions: u32,
    languages: u32,
    complexity: Complexity,
    /// Consent for matching, not expired, not withdrawn.
    consent_open: bool,
    consent_organisations: Vec<u32>,
    consent_kinds: u32,
    excluded: Vec<u32>,
}

/// The answer for one offer: refused with a reason, passed, or not decided here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Refused(&'static str),
    Passed,
    /// Ask `refusal` with the whole offer.
    Undecided,
}

impl Screens {
    pub(crate) fn offer(&self, h: u32) -> Option<&OfferScreen> {
        self.offers.get(h as usize)?.as_ref()
    }

    /// Takes a new or changed offer in; `organisation` is its organisation's handle, `used` the
    /// units of its capacity held.
    pub(crate) fn set_offer(&mut self, h: u32, offer: &Offer, organisation: u32, used: u32) {
        let (kinds, odd_kind) = self.kinds.mask(&offer.kinds);
        let (functions, odd_function) = self.functions.mask(&offer.functions);
        let (languages, odd_language) = if offer.languages.is_empty() {
            (self.languages.bit("nl").unwrap_or(0), !self.languages.bits.contains_key("nl"))
        } else {
            self.languages.mask(&offer.languages)
        };
        let mut ranges = [(0, 0); INLINE_RANGES];
        for (to, from) in ranges.iter_mut().zip(&offer.ranges) {
            *to = *from;
        }
        let mut slots = [Slot { day: 0, start_minutes: 0, end_minutes: 0 }; INLINE_SLOTS];
        for (to, from) in slots.iter_mut().zip(&offer.schedule) {
            *to = *from;
        }
        let screen = OfferScreen {
            archived: offer.archived,
            organisation,
            used,
            capacity: offer.capacity,
            max_complexity: offer.max_complexity,
            kinds,
            functions,
            languages,
            ranges,
            slots,
            n_ranges: offer.ranges.len().min(INLINE_RANGES) as u8,
            n_slots: offer.schedule.len().min(INLINE_SLOTS) as u8,
            odd: odd_kind
                || odd_function
                || odd_language
                || offer.ranges.len() > INLINE_RANGES
                || offer.schedule.len() > INLINE_SLOTS
                // Few offers say they have a waiting list or no capacity: `refusal` judges those.
                || offer.availability != crate::model::Availability::Available,
        };
        if self.offers.len() <= h as usize {
            self.offers.resize(h as usize + 1, None);
        }
        self.offers[h as usize] = Some(screen);
    }

    pub(crate) fn set_used(&mut self, h: u32, used: u32) {
        if let Some(Some(o)) = self.offers.get_mut(h as usize) {
            o.used = used;
        }
    }

    pub(crate) fn set_organisation(&mut self, h: u32, organisation: &Organisation) {
        let kind = self.organisation_kinds.bit(&organisation.kind);
        if self.organisations.len() <= h as usize {
            self.organisations.resize(h as usize + 1, OrganisationScreen::default());
        }
        self.organisations[h as usize] = OrganisationScreen {
            present: true,
            archived: organisation.archived,
            kind: kind.unwrap_or(0),
            odd: kind.is_none(),
        };
    }

    /// `request` in the terms of the screens: `organisation` finds an organisation's handle, and
    /// `offer` an offer's.
    pub(crate) fn request<'r>(
        &self,
        request: &'r Request,
        now_micros: i64,
        organisation: impl Fn(&str) -> Option<u32>,
        offer: impl Fn(&str) -> Option<u32>,
    ) -> RequestScreen<'r> {
        let consent = request.consent.as_ref();
        RequestScreen {
            request,
            kinds: self.kinds.known(&request.kinds),
            functions: self.functions.known(&request.functions),
            languages: self.languages.known(&request.languages),
            complexity: request.complexity(),
            consent_open: !request.consent_withdrawn
                && consent.is_some_and(|c| c.for_matching && now_micros < c.expires_micros),
            consent_organisations: consent
                .map_or_else(Vec::new, |c| c.organisations.iter().filter_map(|id| organisation(id)).collect()),
            consent_kinds: consent.map_or(0, |c| self.organisation_kinds.known(&c.kinds)),
            excluded: request.excluded.iter().filter_map(|id| offer(id)).collect(),
        }
    }

    /// What the filter says of offer `h`: the reason `refusal` would give first, or that it
    /// passes; `Undecided` when only `refusal` can tell.
    pub(crate) fn verdict(&self, r: &RequestScreen<'_>, h: u32) -> Verdict {
        let Some(o) = self.offer(h) else { return Verdict::Undecided };
        let Some(org) = self.organisations.get(o.organisation as usize) else { return Verdict::Undecided };
        if o.odd || org.odd || !org.present {
            return Verdict::Undecided;
        }
        let request = r.request;
        if o.archived || org.archived {
            return Verdict::Refused("archived");
        }
        if r.excluded.contains(&h) {
            return Verdict::Refused("declined this request before");
        }
        if !o.ranges[..o.n_ranges as usize].iter().any(|(a, b)| (*a..=*b).contains(&request.area)) {
            return Verdict::Refused("does not serve the postcode");
        }
        if o.kinds & r.kinds == 0 && o.functions & r.functions == 0 {
            return Verdict::Refused("does not offer what is needed");
        }
        if !request.languages.is_empty() && o.languages & r.languages == 0 {
            return Verdict::Refused("does not speak the language");
        }
        let slots = &o.slots[..o.n_slots as usize];
        if !request.wanted.is_empty() && !slots.is_empty() && overlap_minutes(&request.wanted, slots) == 0 {
            return Verdict::Refused("is not available when help is wanted");
        }
        if o.used >= o.capacity {
            return Verdict::Refused("has no room");
        }
        if o.max_complexity < r.complexity {
            return Verdict::Refused("does not take requests this complex");
        }
        let consented =
            r.consent_open && (r.consent_organisations.contains(&o.organisation) || org.kind & r.consent_kinds != 0);
        if consented { Verdict::Passed } else { Verdict::Refused("is not covered by the consent to share") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screen_fits_in_one_cache_line() {
        assert_eq!(size_of::<Option<OfferScreen>>(), 64);
    }
}
