//! The cooperation monitor: figures over the referrals confirmed in a time window, in total, per
//! receiving organisation, per referring organisation and per pair. The definitions are in
//! `followup.proto` (message `Figures`); each is computed from the referral's own history.

use std::collections::BTreeMap;

use samenspel_domain::LocalDate;

use crate::model::{CheckIn, ClosureCategory, Outcome, Referral, ReferralState};
use crate::state::FollowUpState;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub referrals: u32,
    pub accepted: u32,
    pub declined: u32,
    pub expired: u32,
    pub pending: u32,
    pub acceptance_rate: f64,
    pub with_contact: u32,
    pub median_days_to_first_contact: f64,
    pub with_progress_answer: u32,
    pub going_well_share: f64,
    pub failed: u32,
    pub closures: BTreeMap<ClosureCategory, u32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    pub total: Figures,
    pub receiving: Vec<(String, Figures)>,
    pub referring: Vec<(String, Figures)>,
    pub pairs: Vec<((String, String), Figures)>,
}

/// A referral's referring and receiving organisation and what it adds to the figures.
type Row = (String, String, Facts);

/// What one referral adds to the figures.
struct Facts {
    state: ReferralState,
    accepted: bool,
    days_to_contact: Option<i64>,
    going_well: Option<bool>,
    closure: Option<ClosureCategory>,
}

fn facts(referral: &Referral, check_ins: Vec<&CheckIn>) -> Facts {
    let mut answers: Vec<_> = check_ins.iter().filter_map(|c| c.answer.as_ref()).collect();
    answers.sort_by_key(|a| a.recorded_micros);
    // Contact counts whether the referring organisation's check-in or the receiving
    // organisation's observation reports it.
    let reports = answers.iter().map(|a| (a.outcome, &a.contact_on, a.recorded_micros));
    let observed = referral.observations.iter().map(|o| (o.outcome, &o.contact_on, o.recorded_micros));
    let contact_day = reports
        .chain(observed)
        .filter(|(outcome, contact_on, _)| outcome.reports_contact() || contact_on.is_some())
        .map(|(_, contact_on, recorded)| {
            contact_on
                .as_deref()
                .and_then(|d| d.parse::<LocalDate>().ok())
                .unwrap_or_else(|| LocalDate::of_micros(recorded))
        })
        .min();
    let referred = LocalDate::of_micros(referral.confirmed_micros);
    Facts {
        state: referral.state,
        accepted: referral.accepted_micros > 0,
        days_to_contact: contact_day.map(|d| referred.days_until(d).max(0)),
        going_well: answers.iter().rev().find(|a| a.outcome.about_progress()).map(|a| a.outcome == Outcome::GoingWell),
        closure: referral.closure.as_ref().map(|c| c.category),
    }
}

fn median(mut values: Vec<i64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] as f64 } else { (values[mid - 1] + values[mid]) as f64 / 2.0 }
}

fn figures(all: &[&Facts]) -> Figures {
    let mut f = Figures { referrals: all.len() as u32, ..Figures::default() };
    let mut days = Vec::new();
    let mut going_well = 0u32;
    for x in all {
        match x.state {
            _ if x.accepted => f.accepted += 1,
            ReferralState::Declined => f.declined += 1,
            ReferralState::Expired => f.expired += 1,
            _ => f.pending += 1,
        }
        if x.state == ReferralState::Failed {
            f.failed += 1;
        }
        if let Some(d) = x.days_to_contact {
            days.push(d);
        }
        if let Some(well) = x.going_well {
            f.with_progress_answer += 1;
            going_well += u32::from(well);
        }
        if let Some(c) = x.closure {
            *f.closures.entry(c).or_default() += 1;
        }
    }
    let answered = f.accepted + f.declined + f.expired;
    f.acceptance_rate = if answered == 0 { 0.0 } else { f64::from(f.accepted) / f64::from(answered) };
    f.with_contact = days.len() as u32;
    f.median_days_to_first_contact = median(days);
    f.going_well_share =
        if f.with_progress_answer == 0 { 0.0 } else { f64::from(going_well) / f64::from(f.with_progress_answer) };
    f
}

/// Figures for the referrals confirmed in `[from_micros, to_micros)`. A referral whose request
/// named no asking organisation counts as referred by `home` (the node's own organisation).
pub(crate) fn evaluate(state: &FollowUpState, from_micros: i64, to_micros: i64, home: &str) -> Evaluation {
    let mut rows: Vec<Row> = Vec::new();
    for r in state.referrals().filter(|r| (from_micros..to_micros).contains(&r.confirmed_micros)) {
        let referring =
            if r.referring_organisation_id.is_empty() { home.to_string() } else { r.referring_organisation_id.clone() };
        rows.push((referring, r.receiving_organisation_id.clone(), facts(r, state.check_ins_of(r).collect())));
    }
    let group = |key: &dyn Fn(&Row) -> (String, String)| {
        let mut groups: BTreeMap<(String, String), Vec<&Facts>> = BTreeMap::new();
        for row in &rows {
            groups.entry(key(row)).or_default().push(&row.2);
        }
        groups.into_iter().map(|(k, v)| (k, figures(&v))).collect::<Vec<_>>()
    };
    let single = |v: Vec<((String, String), Figures)>| v.into_iter().map(|((k, _), f)| (k, f)).collect();
    Evaluation {
        total: figures(&rows.iter().map(|r| &r.2).collect::<Vec<_>>()),
        receiving: single(group(&|r| (r.1.clone(), String::new()))),
        referring: single(group(&|r| (r.0.clone(), String::new()))),
        pairs: group(&|r| (r.0.clone(), r.1.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![5, 1, 3]), 3.0);
        assert_eq!(median(vec![4, 1, 2, 8]), 3.0);
    }
}
