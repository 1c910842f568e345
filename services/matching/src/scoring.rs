//! Which offers can take a request (the filter), how well each fits (named factors), and the safety
//! rule: a complex request never goes to informal help alone.

use samenspel_domain::Complexity;

use crate::model::{Availability, Factor, Offer, Organisation, Request, overlap_minutes, total_minutes};

/// The weights of the factors; they add up to 1.
pub(crate) const WEIGHTS: [(&str, f64); 6] = [
    ("need_fit", 0.30),
    ("distance", 0.20),
    ("schedule_overlap", 0.15),
    ("load", 0.15),
    ("continuity", 0.10),
    ("local_preference", 0.10),
];
/// In a joint proposal, the lead's score counts this much and the support's the rest.
pub(crate) const LEAD_SHARE: f64 = 0.7;

/// An offer with what matching knows around it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub offer: &'a Offer,
    pub organisation: &'a Organisation,
    /// Open matches holding its capacity.
    pub used: u32,
}

/// Why an offer cannot take the request, in words; `None` when it can.
pub(crate) fn refusal(request: &Request, c: &Candidate<'_>, now_micros: i64) -> Option<&'static str> {
    let offer = c.offer;
    if offer.archived || c.organisation.archived {
        return Some("archived");
    }
    if request.excluded.contains(&offer.id) {
        return Some("declined this request before");
    }
    if offer.covering_width(request.area).is_none() {
        return Some("does not serve the postcode");
    }
    let need = request.kinds.iter().any(|k| offer.kinds.contains(k))
        || request.functions.iter().any(|f| offer.functions.contains(f));
    if !need {
        return Some("does not offer what is needed");
    }
    if !request.languages.is_empty() && !request.languages.iter().any(|l| speaks(offer, l)) {
        return Some("does not speak the language");
    }
    if !request.wanted.is_empty()
        && !offer.schedule.is_empty()
        && overlap_minutes(&request.wanted, &offer.schedule) == 0
    {
        return Some("is not available when help is wanted");
    }
    if offer.availability == Availability::NoCapacity {
        return Some("takes no referrals now (its organisation says so)");
    }
    if offer.availability.needs_room() && c.used >= offer.capacity {
        return Some("has no room");
    }
    if offer.max_complexity < request.complexity() {
        return Some("does not take requests this complex");
    }
    match &request.consent {
        Some(consent) if !request.consent_withdrawn && consent.allows(c.organisation, now_micros) => None,
        _ => Some("is not covered by the consent to share"),
    }
}

/// An offer without languages is taken to speak Dutch.
fn speaks(offer: &Offer, language: &str) -> bool {
    if offer.languages.is_empty() { language == "nl" } else { offer.languages.iter().any(|l| l == language) }
}

/// The factor values of an offer that passed the filter, in the order of [`WEIGHTS`]: cheap, no
/// words, for ranking every candidate.
pub(crate) fn values(request: &Request, c: &Candidate<'_>) -> [f64; 6] {
    let offer = c.offer;
    let (covered, asked) = need(request, offer);
    let need_fit = if asked == 0 { 0.0 } else { covered.len() as f64 / asked as f64 };
    // Postcode-4 numbers run roughly along the country, so their difference stands in for
    // distance; see ARCHITECTURE.md for what this approximation can and cannot do.
    let distance = c.organisation.area.map_or(0.5, |base| 1.0 / (1.0 + f64::from(base.abs_diff(request.area)) / 10.0));
    let overlap = if request.wanted.is_empty() || offer.schedule.is_empty() {
        1.0
    } else {
        let wanted = total_minutes(&request.wanted).max(1);
        (f64::from(overlap_minutes(&request.wanted, &offer.schedule)) / f64::from(wanted)).min(1.0)
    };
    let left = offer.capacity.saturating_sub(c.used);
    // A waiting list has no place free now, however long it is.
    let load = if offer.capacity == 0 || !offer.availability.needs_room() {
        0.0
    } else {
        f64::from(left) / f64::from(offer.capacity)
    };
    let continuity = if request.helped_by.contains(&offer.organisation_id) { 1.0 } else { 0.0 };
    let width = offer.covering_width(request.area).unwrap_or(u16::MAX);
    let local = 1.0 / (1.0 + f64::from(width).log10());
    [need_fit, distance, overlap, load, continuity, local]
}

/// The weighted sum of the factor values.
pub(crate) fn value(request: &Request, c: &Candidate<'_>) -> f64 {
    values(request, c).iter().zip(WEIGHTS).map(|(v, (_, w))| v * w).sum()
}

/// What the offer covers of what is asked (kinds when kinds are asked, else functions), and how
/// much was asked.
fn need<'r>(request: &'r Request, offer: &Offer) -> (Vec<&'r str>, usize) {
    if request.kinds.is_empty() {
        let hit = request.functions.iter().filter(|f| offer.functions.contains(f)).map(String::as_str).collect();
        (hit, request.functions.len())
    } else {
        let hit = request.kinds.iter().filter(|k| offer.kinds.contains(k)).map(String::as_str).collect();
        (hit, request.kinds.len())
    }
}

/// The factors of an offer that passed the filter, explained in words, and their weighted sum.
pub(crate) fn score(request: &Request, c: &Candidate<'_>) -> (f64, Vec<Factor>) {
    let offer = c.offer;
    let v = values(request, c);
    let (covered, asked) = need(request, offer);
    let need_words = if covered.is_empty() {
        format!("covers the support function, none of the {asked} kinds of help asked")
    } else {
        format!("covers {} ({} of {asked} asked)", covered.join(" and "), covered.len())
    };
    let distance_words = match c.organisation.area {
        Some(base) => format!("based in {base}, {} postcode areas from {}", base.abs_diff(request.area), request.area),
        None => "no address known: counted as halfway".to_string(),
    };
    let overlap_words = if request.wanted.is_empty() || offer.schedule.is_empty() {
        "no times asked or no fixed hours: any time fits".to_string()
    } else {
        let both = overlap_minutes(&request.wanted, &offer.schedule);
        format!("available {both} of the {} minutes a week help is wanted", total_minutes(&request.wanted).max(1))
    };
    let free = format!("{} of {} places free", offer.capacity.saturating_sub(c.used), offer.capacity);
    let load_words = match offer.availability {
        Availability::Waitlist => {
            format!("waiting list: help starts after about {} days (no place free now)", offer.expected_wait_days)
        }
        Availability::AssessmentRequired => format!("{free}; its organisation assesses each referral first"),
        Availability::Available | Availability::NoCapacity => free,
    };
    let continuity_words = if v[4] > 0.0 { "helped this person before" } else { "no earlier help for this person" };
    let width = offer.covering_width(request.area).unwrap_or(u16::MAX);
    let local_words = if width <= 1 {
        "works in this very postcode area".to_string()
    } else {
        format!("serves {width} postcode areas around it")
    };
    let words = [need_words, distance_words, overlap_words, load_words, continuity_words.to_string(), local_words];
    let factors: Vec<Factor> = WEIGHTS
        .iter()
        .zip(v.iter().zip(words))
        .map(|((name, weight), (value, explanation))| Factor {
            name: name.to_string(),
            value: *value,
            weight: *weight,
            explanation,
        })
        .collect();
    let total = factors.iter().map(|f| f.value * f.weight).sum();
    (total, factors)
}

/// The factors of a proposal, explained, and its score: their weighted sum. A joint proposal
/// weighs the lead's factors by `LEAD_SHARE` and adds one factor, `joint_support`, whose value
/// is the informal support's own score and whose weight is the rest; so its weights add up to 1
/// and its score is Σ value × weight, as for any other proposal.
pub(crate) fn explain(request: &Request, lead: &Candidate<'_>, support: Option<&Candidate<'_>>) -> (f64, Vec<Factor>) {
    let (lead_score, mut factors) = score(request, lead);
    let Some(support) = support else { return (lead_score, factors) };
    let support_score = value(request, support);
    for f in &mut factors {
        f.weight *= LEAD_SHARE;
    }
    factors.push(Factor {
        name: "joint_support".into(),
        value: support_score,
        weight: 1.0 - LEAD_SHARE,
        explanation: format!(
            "informal support by \"{}\" beside the formal lead, its own score {support_score:.2}",
            support.offer.title
        ),
    });
    let total = factors.iter().map(|f| f.value * f.weight).sum();
    (total, factors)
}

/// A proposal before it gets its token.
#[derive(Debug, Clone)]
pub(crate) struct Scored<'a> {
    pub lead: Candidate<'a>,
    pub support: Option<Candidate<'a>>,
    pub score: f64,
    pub factors: Vec<Factor>,
}

/// Ranked proposals from the candidates that passed the filter, with their values. A complex
/// request gets formal offers alone, and each formal lead joined by the best informal offer of
/// another organisation; never informal help alone. Only the proposals returned are explained.
pub(crate) fn propose<'a>(request: &Request, fit: Vec<(Candidate<'a>, f64)>, limit: usize) -> Vec<Scored<'a>> {
    // (lead, support with its own value, the proposal's value)
    type Ranked<'a> = (Candidate<'a>, Option<(Candidate<'a>, f64)>, f64);
    let mut ranked: Vec<Ranked<'a>> = Vec::new();
    if request.complexity() == Complexity::High {
        let best_support = fit
            .iter()
            .filter(|(c, _)| !c.organisation.formal)
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.offer.id.cmp(&a.0.offer.id)))
            .copied();
        for (lead, score) in fit.iter().filter(|(c, _)| c.organisation.formal) {
            ranked.push((*lead, None, *score));
            if let Some((support, support_score)) = best_support
                && support.organisation.id != lead.organisation.id
            {
                let joint = LEAD_SHARE * score + (1.0 - LEAD_SHARE) * support_score;
                ranked.push((*lead, Some((support, support_score)), joint));
            }
        }
    } else {
        ranked = fit.into_iter().map(|(lead, score)| (lead, None, score)).collect();
    }
    ranked.sort_by(|a, b| {
        b.2.total_cmp(&a.2).then_with(|| a.0.offer.id.cmp(&b.0.offer.id)).then_with(|| {
            let id = |s: &Option<(Candidate<'_>, f64)>| s.map(|(c, _)| c.offer.id.clone());
            id(&a.1).cmp(&id(&b.1))
        })
    });
    ranked.truncate(limit);
    ranked
        .into_iter()
        .map(|(lead, support, _)| {
            let support = support.map(|(c, _)| c);
            let (score, factors) = explain(request, &lead, support.as_ref());
            Scored { lead, support, score, factors }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{Consent, Slot, Strain};

    fn org(id: &str, kind: &str, area: u16) -> Organisation {
        Organisation {
            id: id.into(),
            node: String::new(),
            kind: kind.into(),
            formal: crate::model::is_formal(kind),
            area: Some(area),
            archived: false,
        }
    }

    fn offer(id: &str, org: &str, kinds: &[&str], range: (u16, u16), capacity: u32, max: Complexity) -> Offer {
        Offer {
            id: id.into(),
            organisation_id: org.into(),
            title: id.into(),
            functions: vec!["praktische-hulp".into()],
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            ranges: vec![range],
            schedule: vec![Slot { day: 1, start_minutes: 600, end_minutes: 720 }],
            languages: vec![],
            capacity,
            max_complexity: max,
            availability: Availability::Available,
            expected_wait_days: 0,
            archived: false,
            version: 1,
            source: None,
        }
    }

    fn request(strained: bool) -> Request {
        Request {
            id: "r".into(),
            client_subject_id: "s-1".into(),
            functions: vec!["praktische-hulp".into()],
            kinds: vec!["boodschappen".into(), "vervoer".into()],
            area: 6411,
            urgency: "normal".into(),
            wanted: vec![Slot { day: 1, start_minutes: 600, end_minutes: 660 }],
            languages: vec!["nl".into()],
            assessed: None,
            strain: vec![Strain {
                caregiver_subject_id: "mz".into(),
                csi: (0..13).map(|i| i < if strained { 8 } else { 2 }).collect(),
                ediz_plus: None,
            }],
            consent: Some(Consent {
                organisations: vec![],
                kinds: vec!["vrijwilligersorganisatie".into(), "thuiszorg".into()],
                for_matching: true,
                expires_micros: i64::MAX,
            }),
            consent_withdrawn: false,
            intake_status: "submitted".into(),
            version: 1,
            excluded: BTreeSet::new(),
            helped_by: BTreeSet::new(),
        }
    }

    #[test]
    fn the_filter_names_why_an_offer_cannot_take_a_request() {
        let r = request(false);
        let volunteers = org("v", "vrijwilligersorganisatie", 6411);
        let church = org("k", "kerk_moskee", 6411);
        let good = offer("o", "v", &["boodschappen"], (6400, 6419), 2, Complexity::Low);
        let cases: [(&str, Offer, &Organisation, u32, Option<&str>); 8] = [
            ("fits", good.clone(), &volunteers, 0, None),
            (
                "area",
                offer("o", "v", &["boodschappen"], (6500, 6599), 2, Complexity::Low),
                &volunteers,
                0,
                Some("does not serve the postcode"),
            ),
            ("need", offer("o", "v", &["maatje"], (6400, 6419), 2, Complexity::Low), &volunteers, 0, None),
            ("full", good.clone(), &volunteers, 2, Some("has no room")),
            (
                "language",
                Offer { languages: vec!["en".into()], ..good.clone() },
                &volunteers,
                0,
                Some("does not speak the language"),
            ),
            (
                "schedule",
                Offer { schedule: vec![Slot { day: 4, start_minutes: 600, end_minutes: 720 }], ..good.clone() },
                &volunteers,
                0,
                Some("is not available when help is wanted"),
            ),
            ("consent", good.clone(), &church, 0, Some("is not covered by the consent to share")),
            ("archived", Offer { archived: true, ..good.clone() }, &volunteers, 0, Some("archived")),
        ];
        for (name, o, organisation, used, want) in cases {
            let c = Candidate { offer: &o, organisation, used };
            // "maatje" still shares the support function praktische-hulp with the request.
            assert_eq!(refusal(&r, &c, 0), want, "{name}");
        }
        let mut excluded = request(false);
        excluded.excluded.insert("o".into());
        let c = Candidate { offer: &good, organisation: &volunteers, used: 0 };
        assert_eq!(refusal(&excluded, &c, 0), Some("declined this request before"));
        let mut withdrawn = request(false);
        withdrawn.consent_withdrawn = true;
        assert_eq!(refusal(&withdrawn, &c, 0), Some("is not covered by the consent to share"));
    }

    #[test]
    fn factors_explain_the_score() {
        let r = request(false);
        let near = org("v", "vrijwilligersorganisatie", 6411);
        let far = org("w", "vrijwilligersorganisatie", 6491);
        let both = offer("a", "v", &["boodschappen", "vervoer"], (6411, 6411), 4, Complexity::Low);
        let one = offer("b", "w", &["boodschappen"], (6400, 6499), 4, Complexity::Low);
        let (high, factors) = score(&r, &Candidate { offer: &both, organisation: &near, used: 0 });
        let (low, _) = score(&r, &Candidate { offer: &one, organisation: &far, used: 3 });
        assert!(high > low, "{high} > {low}");
        let names: Vec<&str> = factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["need_fit", "distance", "schedule_overlap", "load", "continuity", "local_preference"]);
        assert_eq!(factors[0].explanation, "covers boodschappen and vervoer (2 of 2 asked)");
        assert_eq!((factors[0].value, factors[1].value, factors[2].value, factors[3].value), (1.0, 1.0, 1.0, 1.0));
        assert!((high - 0.9).abs() < 1e-9, "everything but continuity: {high}");
        let sum: f64 = WEIGHTS.iter().map(|(_, w)| w).sum();
        assert!((sum - 1.0).abs() < 1e-12);
        let mut returning = request(false);
        returning.helped_by.insert("v".into());
        let (again, f) = score(&returning, &Candidate { offer: &both, organisation: &near, used: 0 });
        assert!((again - 1.0).abs() < 1e-9 && f[4].explanation == "helped this person before");
    }

    #[test]
    fn a_complex_request_never_goes_to_informal_help_alone() {
        let volunteers = org("v", "vrijwilligersorganisatie", 6411);
        let homecare = org("t", "thuiszorg", 6412);
        let informal = offer("inf", "v", &["boodschappen"], (6400, 6419), 3, Complexity::High);
        let formal = offer("for", "t", &["boodschappen"], (6400, 6419), 3, Complexity::High);
        for strained in [false, true] {
            let r = request(strained);
            let fit: Vec<_> = [
                Candidate { offer: &informal, organisation: &volunteers, used: 0 },
                Candidate { offer: &formal, organisation: &homecare, used: 0 },
            ]
            .into_iter()
            .filter(|c| refusal(&r, c, 0).is_none())
            .map(|c| {
                let s = value(&r, &c);
                (c, s)
            })
            .collect();
            let proposals = propose(&r, fit, 10);
            let shapes: Vec<(&str, Option<&str>)> =
                proposals.iter().map(|p| (p.lead.offer.id.as_str(), p.support.map(|s| s.offer.id.as_str()))).collect();
            if strained {
                assert_eq!(r.complexity(), Complexity::High);
                assert_eq!(shapes.len(), 2, "{shapes:?}");
                assert!(shapes.contains(&("for", None)) && shapes.contains(&("for", Some("inf"))), "{shapes:?}");
                assert!(proposals.iter().all(|p| p.lead.organisation.formal), "a formal party leads");
            } else {
                assert_eq!(shapes.len(), 2, "{shapes:?}");
                assert!(shapes.iter().all(|(_, support)| support.is_none()));
            }
        }
        // Every proposal's score is the weighted sum of the factors it is explained with, and
        // their weights add up to 1 — joint ones included.
        let r = request(true);
        let fit: Vec<_> = [
            Candidate { offer: &informal, organisation: &volunteers, used: 1 },
            Candidate { offer: &formal, organisation: &homecare, used: 0 },
        ]
        .into_iter()
        .map(|c| (c, value(&r, &c)))
        .collect();
        let proposals = propose(&r, fit, 10);
        assert!(proposals.iter().any(|p| p.support.is_some()));
        for p in &proposals {
            let weights: f64 = p.factors.iter().map(|f| f.weight).sum();
            let sum: f64 = p.factors.iter().map(|f| f.value * f.weight).sum();
            assert!((weights - 1.0).abs() < 1e-12, "weights add up to {weights}");
            assert!((sum - p.score).abs() < 1e-12, "score {} against the sum of its factors {sum}", p.score);
        }
        // Only informal offers and a complex request: nothing is proposed.
        let r = request(true);
        let c = Candidate { offer: &informal, organisation: &volunteers, used: 0 };
        let s = value(&r, &c);
        assert!(propose(&r, vec![(c, s)], 10).is_empty());
    }
}
