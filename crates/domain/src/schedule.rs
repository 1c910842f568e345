//! Weekly hours: when a contact person works, when an offer is available, when help is wanted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub const ALL: [Weekday; 7] =
        [Self::Monday, Self::Tuesday, Self::Wednesday, Self::Thursday, Self::Friday, Self::Saturday, Self::Sunday];

    /// 0 for Monday to 6 for Sunday: how services store a day.
    pub fn index(self) -> u8 {
        self as u8
    }
}

/// Minutes after midnight, 0 to 1440 (1440 is the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub fn new(hour: u16, minute: u16) -> Result<Self, Invalid> {
        if minute > 59 || hour > 24 || (hour == 24 && minute > 0) {
            return Err(Invalid::new(format!("{hour:02}:{minute:02} is not a time of day")));
        }
        Ok(Self(hour * 60 + minute))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for TimeOfDay {
    type Err = Invalid;
    /// "09:00", "9:30", "24:00".
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new(format!("{} is not a time (HH:MM)", crate::error::shown(s)));
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        Self::new(h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// One stretch of time on one day of the week; `start` is before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeSlot {
    pub day: Weekday,
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

/// A time slot as the services store it in events and read models: day 0 (Monday) to 6, minutes
/// after midnight. Made from a checked [`TimeSlot`]; read back as it was stored. (Matching's read
/// models of before named the minutes `start` and `end`; those still read.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Slot {
    pub day: u8,
    #[serde(alias = "start")]
    pub start_minutes: u16,
    #[serde(alias = "end")]
    pub end_minutes: u16,
}

impl From<TimeSlot> for Slot {
    fn from(s: TimeSlot) -> Self {
        Slot { day: s.day.index(), start_minutes: s.start.minutes(), end_minutes: s.end.minutes() }
    }
}

/// Minutes per week both lists of slots cover.
pub fn overlap_minutes(a: &[Slot], b: &[Slot]) -> u32 {
    let mut total = 0;
    for x in a {
        for y in b.iter().filter(|y| y.day == x.day) {
            let (start, end) = (x.start_minutes.max(y.start_minutes), x.end_minutes.min(y.end_minutes));
            if start < end {
                total += u32::from(end - start);
            }
        }
    }
    total
}

/// Minutes per week the slots cover.
pub fn total_minutes(slots: &[Slot]) -> u32 {
    slots.iter().map(|s| u32::from(s.end_minutes.saturating_sub(s.start_minutes))).sum()
}

/// A problem with one slot as received: its index, the part that is wrong (`"day"`, `"start"`,
/// `"end"`, or `""` for the slot as a whole) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotProblem {
    pub index: usize,
    pub part: &'static str,
    pub why: Invalid,
}

impl SlotProblem {
    /// Where the problem is, under `field`: `field[2].start`, or `field[2]` for the whole slot.
    pub fn field(&self, field: &str) -> String {
        if self.part.is_empty() {
            format!("{field}[{}]", self.index)
        } else {
            format!("{field}[{}].{}", self.index, self.part)
        }
    }
}

/// Time slots of a week, sorted, none inverted or overlapping another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklyHours {
    slots: Vec<TimeSlot>,
}

impl WeeklyHours {
    /// Checks every slot; the error names the first slot (by its index in `slots`) that is wrong.
    pub fn new(slots: Vec<TimeSlot>) -> Result<Self, (usize, Invalid)> {
        for (i, s) in slots.iter().enumerate() {
            if s.start >= s.end {
                return Err((i, Invalid::new(format!("{:?} {}-{} ends before it starts", s.day, s.start, s.end))));
            }
        }
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_by_key(|&i| slots[i]);
        for w in order.windows(2) {
            let (a, b) = (slots[w[0]], slots[w[1]]);
            if a.day == b.day && b.start < a.end {
                let why = format!("{:?} {}-{} overlaps {}-{}", b.day, b.start, b.end, a.start, a.end);
                return Err((w[0].max(w[1]), Invalid::new(why)));
            }
        }
        let mut slots = slots;
        slots.sort();
        Ok(Self { slots })
    }

    /// Slots as received — a day (`None`: not given) and "HH:MM" times — checked: every part that
    /// does not parse, or else the first slot that is inverted or overlaps another.
    pub fn parse<S: AsRef<str>>(raw: &[(Option<Weekday>, S, S)]) -> Result<Self, Vec<SlotProblem>> {
        let mut problems = Vec::new();
        let mut slots = Vec::new();
        for (index, (day, start, end)) in raw.iter().enumerate() {
            let problem = |part, why| SlotProblem { index, part, why };
            // Every part of a slot is checked, so a caller hears of all that is wrong with it.
            match (day, start.as_ref().parse::<TimeOfDay>(), end.as_ref().parse::<TimeOfDay>()) {
                (Some(day), Ok(start), Ok(end)) => slots.push(TimeSlot { day: *day, start, end }),
                (day, start, end) => {
                    if day.is_none() {
                        problems.push(problem("day", Invalid::new("must be a weekday, Monday to Sunday")));
                    }
                    problems.extend(start.err().map(|e| problem("start", e)));
                    problems.extend(end.err().map(|e| problem("end", e)));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Self::new(slots).map_err(|(index, why)| vec![SlotProblem { index, part: "", why }])
    }

    pub fn slots(&self) -> &[TimeSlot] {
        &self.slots
    }

    /// The slots as the services store them.
    pub fn stored(&self) -> Vec<Slot> {
        self.slots.iter().map(|s| Slot::from(*s)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Minutes per week that both schedules cover.
    pub fn overlap_minutes(&self, other: &WeeklyHours) -> u32 {
        let mut total = 0;
        for a in &self.slots {
            for b in other.slots.iter().filter(|b| b.day == a.day) {
                let start = a.start.max(b.start);
                let end = a.end.min(b.end);
                if start < end {
                    total += u32::from(end.minutes() - start.minutes());
                }
            }
        }
        total
    }

    pub fn total_minutes(&self) -> u32 {
        self.slots.iter().map(|s| u32::from(s.end.minutes() - s.start.minutes())).sum()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn slot(day: Weekday, start: &str, end: &str) -> TimeSlot {
        TimeSlot { day, start: start.parse().unwrap(), end: end.parse().unwrap() }
    }

    #[test]
    fn inverted_and_overlapping_slots_are_refused_with_their_index() {
        let inverted =
            WeeklyHours::new(vec![slot(Weekday::Monday, "09:00", "12:00"), slot(Weekday::Monday, "14:00", "13:00")]);
        assert_eq!(inverted.unwrap_err().0, 1);
        let overlapping = WeeklyHours::new(vec![
            slot(Weekday::Tuesday, "13:00", "17:00"),
            slot(Weekday::Monday, "09:00", "12:00"),
            slot(Weekday::Tuesday, "09:00", "13:30"),
        ]);
        let (i, why) = overlapping.unwrap_err();
        assert_eq!(i, 2);
        assert!(why.0.contains("overlaps"), "{why}");
        // Touching is not overlapping.
        assert!(
            WeeklyHours::new(vec![slot(Weekday::Friday, "09:00", "12:00"), slot(Weekday::Friday, "12:00", "24:00")])
                .is_ok()
        );
    }

    #[test]
    fn times_parse_strictly() {
        assert_eq!("9:30".parse::<TimeOfDay>().unwrap().to_string(), "09:30");
        for bad in ["24:01", "12:60", "1230", "12:5", ":30", "ab:cd"] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn overlap_counts_shared_minutes() {
        let a =
            WeeklyHours::new(vec![slot(Weekday::Monday, "09:00", "12:00"), slot(Weekday::Wednesday, "13:00", "17:00")])
                .unwrap();
        let b =
            WeeklyHours::new(vec![slot(Weekday::Monday, "11:00", "15:00"), slot(Weekday::Thursday, "13:00", "17:00")])
                .unwrap();
        assert_eq!(a.overlap_minutes(&b), 60);
        assert_eq!(a.overlap_minutes(&a), a.total_minutes());
    }

    proptest! {
        #[test]
        fn overlap_is_symmetric_and_bounded(
            xs in prop::collection::vec((0usize..7, 0u16..1440, 1u16..240), 0..6),
            ys in prop::collection::vec((0usize..7, 0u16..1440, 1u16..240), 0..6),
        ) {
            let build = |v: &[(usize, u16, u16)]| {
                let slots = v.iter().map(|&(d, s, len)| TimeSlot {
                    day: Weekday::ALL[d],
                    start: TimeOfDay(s),
                    end: TimeOfDay((s + len).min(1440)),
                }).filter(|s| s.start < s.end).collect();
                WeeklyHours::new(slots).ok()
            };
            if let (Some(a), Some(b)) = (build(&xs), build(&ys)) {
                prop_assert_eq!(a.overlap_minutes(&b), b.overlap_minutes(&a));
                prop_assert!(a.overlap_minutes(&b) <= a.total_minutes().min(b.total_minutes()));
            }
        }
    }
}
