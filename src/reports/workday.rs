//! One person's working day: which workday a punch belongs to, doubles
//! merged, punches paired in order (in, out, in, out…), minutes worked,
//! the day's state and, with a schedule, minutes late and left early.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::Serialize;

use super::rules::{DayStart, DoublePunch, Rules, Schedule};
use crate::journal::StoredPunch;
use crate::time::WallTime;

/// A punch as reports read it: who, where, and the terminal's local time
/// with the terminal's UTC offset (to order and measure across zones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Punch {
    /// The device (terminal) id.
    pub device_id: String,
    /// The PIN people know.
    pub user_id: String,
    /// The terminal's local wall-clock time, as the journal stores it.
    pub time: WallTime,
    /// The terminal's UTC offset in minutes (`60` for +01:00).
    pub offset_minutes: i32,
}

impl Punch {
    /// A journal row, at its terminal's offset.
    pub fn from_stored(p: &StoredPunch, offset_minutes: i32) -> Punch {
        Punch {
            device_id: p.device.clone(),
            user_id: p.user_id.clone(),
            time: p.time,
            offset_minutes,
        }
    }

    /// The same moment in UTC.
    pub fn instant(&self) -> NaiveDateTime {
        self.time.naive() - TimeDelta::minutes(i64::from(self.offset_minutes))
    }
}

/// What a workday was for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Every entry has its exit (an even number of punches, at least two).
    Completo,
    /// The last entry has no exit (an odd number of punches).
    Incompleto,
    /// No punch on a working day.
    Ausente,
    /// No punch on a day the schedule does not work.
    Libre,
}

/// One person's workday, computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workday {
    /// The punches after merging doubles, in order.
    pub punches: Vec<WallTime>,
    /// The first punch (`None` when absent).
    pub first_in: Option<WallTime>,
    /// The last punch when it closes a pair (`None` when absent or open).
    pub last_out: Option<WallTime>,
    /// Minutes between each entry and its exit, summed.
    pub worked: u32,
    /// Completo, incompleto, ausente or libre.
    pub state: State,
    /// Minutes late past the tolerance (`None` without a schedule for
    /// the day or without a punch).
    pub late_minutes: Option<u32>,
    /// Minutes left early past the tolerance (`None` without a schedule
    /// for the day or unless completo).
    pub early_leave_minutes: Option<u32>,
    /// The devices punched at, in order of first use.
    pub devices: Vec<String>,
}

/// Groups punches by person and workday (each by its own terminal's
/// local time); each group is in order, doubles merged.
pub fn by_person_and_day<'a>(
    punches: &'a [Punch],
    rules: &Rules,
) -> BTreeMap<(&'a str, NaiveDate), Vec<&'a Punch>> {
    let mut groups: BTreeMap<(&str, NaiveDate), Vec<&Punch>> = BTreeMap::new();
    for p in punches {
        let day = rules.day_start.workday_of(p.time.naive());
        groups.entry((p.user_id.as_str(), day)).or_default().push(p);
    }
    for group in groups.values_mut() {
        *group = in_order(std::mem::take(group), rules.double_punch);
    }
    groups
}

/// One person's punches in the order they happened (UTC, then local
/// time, then device), a repeat within `double` of the last kept punch
/// merged into it (the first counts).
pub fn in_order(mut punches: Vec<&Punch>, double: DoublePunch) -> Vec<&Punch> {
    punches.sort_by(|a, b| {
        (a.instant(), a.time, &a.device_id).cmp(&(b.instant(), b.time, &b.device_id))
    });
    let mut kept: Vec<&Punch> = Vec::with_capacity(punches.len());
    for p in punches {
        match kept.last() {
            Some(last) if p.instant() - last.instant() <= double.window() => {}
            _ => kept.push(p),
        }
    }
    kept
}

/// The workday `date` of a person whose punches of that workday are
/// `punches` (in order, doubles merged: see [`in_order`]), under
/// `schedule` (the narrowest that applies, if any).
pub fn workday(
    date: NaiveDate,
    punches: &[&Punch],
    schedule: Option<&Schedule>,
    day_start: DayStart,
) -> Workday {
    let pairs = punches.chunks_exact(2);
    let worked_seconds: i64 = pairs
        .map(|pair| (pair[1].instant() - pair[0].instant()).num_seconds())
        .sum();
    let closed = punches.len().is_multiple_of(2);
    let first_in = punches.first().map(|p| p.time);
    let last_out = punches.last().filter(|_| closed).map(|p| p.time);
    let working = schedule.filter(|s| s.works_on(date));
    let state = match (punches.is_empty(), closed) {
        (true, _) if schedule.is_some() && working.is_none() => State::Libre,
        (true, _) => State::Ausente,
        (false, true) => State::Completo,
        (false, false) => State::Incompleto,
    };
    let shift = working.map(|s| (s.shift(date, day_start), s.tolerance));
    let late_minutes = shift
        .zip(first_in)
        .map(|(((start, _), tolerance), first)| past_tolerance(first.naive() - start, tolerance));
    let early_leave_minutes = shift
        .zip(last_out)
        .map(|(((_, end), tolerance), last)| past_tolerance(end - last.naive(), tolerance));
    Workday {
        punches: punches.iter().map(|p| p.time).collect(),
        first_in,
        last_out,
        worked: whole_minutes(worked_seconds),
        state,
        late_minutes,
        early_leave_minutes,
        devices: devices_of(punches),
    }
}

/// The whole minutes of `delay` when they exceed `tolerance`, else 0
/// (08:12 against 08:00 with 10 min → 12; 08:09 → 0).
fn past_tolerance(delay: TimeDelta, tolerance: u32) -> u32 {
    let minutes = whole_minutes(delay.num_seconds());
    if minutes > tolerance {
        minutes
    } else {
        0
    }
}

/// Whole minutes of `seconds` (0 when negative).
fn whole_minutes(seconds: i64) -> u32 {
    u32::try_from(seconds.max(0) / 60).unwrap_or(u32::MAX)
}

/// The devices of `punches`, each once, in order of first use.
fn devices_of(punches: &[&Punch]) -> Vec<String> {
    let mut devices: Vec<String> = Vec::new();
    for p in punches {
        if !devices.contains(&p.device_id) {
            devices.push(p.device_id.clone());
        }
    }
    devices
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn punch(device: &str, offset: i32, time: &str) -> Punch {
        Punch {
            device_id: device.into(),
            user_id: "7".into(),
            time: WallTime::parse(time).unwrap(),
            offset_minutes: offset,
        }
    }

    fn date(text: &str) -> NaiveDate {
        crate::time::parse_date(text).unwrap()
    }

    fn wall(text: &str) -> WallTime {
        WallTime::parse(text).unwrap()
    }

    fn schedule(value: &serde_json::Value) -> Schedule {
        Schedule::from_json(value).unwrap()
    }

    fn office() -> Schedule {
        schedule(&json!({"start": "08:00", "end": "17:00", "tolerance": 10, "days": [1,2,3,4,5]}))
    }

    fn rules(day_start: &str) -> Rules {
        Rules {
            day_start: DayStart::parse(day_start).unwrap(),
            ..Rules::default()
        }
    }

    /// The one workday of `punches` on `day`.
    fn compute(punches: &[Punch], rules: &Rules, day: &str, s: Option<&Schedule>) -> Workday {
        let groups = by_person_and_day(punches, rules);
        let empty = Vec::new();
        let group = groups.get(&("7", date(day))).unwrap_or(&empty);
        workday(date(day), group, s, rules.day_start)
    }

    #[test]
    fn an_office_day_late_beyond_tolerance_and_leaving_early() {
        // Monday 2026-12-07: in 08:12, out 13:00, in 14:00, out 16:45.
        // worked = (13:00-08:12) + (16:45-14:00) = 288 + 165 = 453 min;
        // late 12 > 10 → 12; early 17:00-16:45 = 15 > 10 → 15.
        let p = [
            punch("a", 60, "2026-12-07 08:12:00"),
            punch("a", 60, "2026-12-07 13:00:00"),
            punch("a", 60, "2026-12-07 14:00:00"),
            punch("a", 60, "2026-12-07 16:45:00"),
        ];
        let day = compute(&p, &rules("00:00"), "2026-12-07", Some(&office()));
        assert_eq!(day.worked, 453);
        assert_eq!(day.state, State::Completo);
        assert_eq!(day.first_in, Some(wall("2026-12-07 08:12:00")));
        assert_eq!(day.last_out, Some(wall("2026-12-07 16:45:00")));
        assert_eq!(
            (day.late_minutes, day.early_leave_minutes),
            (Some(12), Some(15))
        );
        assert_eq!(day.devices, vec!["a".to_string()]);
    }

    #[test]
    fn late_and_early_within_tolerance_count_zero() {
        // 08:09:59 is 9 whole minutes late ≤ 10 → 0; 08:10:59 is 10 → 0;
        // 16:51 leaves 9 minutes early ≤ 10 → 0.
        for first in ["2026-12-07 08:09:59", "2026-12-07 08:10:59"] {
            let p = [punch("a", 0, first), punch("a", 0, "2026-12-07 16:51:00")];
            let day = compute(&p, &rules("00:00"), "2026-12-07", Some(&office()));
            assert_eq!(
                (day.late_minutes, day.early_leave_minutes),
                (Some(0), Some(0))
            );
        }
        // 08:11:00 is 11 > 10 → 11; early on time, leaving at 17:30 → 0.
        let p = [
            punch("a", 0, "2026-12-07 08:11:00"),
            punch("a", 0, "2026-12-07 17:30:00"),
        ];
        let day = compute(&p, &rules("00:00"), "2026-12-07", Some(&office()));
        assert_eq!(
            (day.late_minutes, day.early_leave_minutes),
            (Some(11), Some(0))
        );
    }

    #[test]
    fn a_forgotten_exit_leaves_the_day_open() {
        // in 08:00, out 12:00, in 13:00, (no exit): worked = 240 min from
        // the one closed pair; last_out null; early leave not computed.
        let p = [
            punch("a", 0, "2026-12-07 08:00:00"),
            punch("a", 0, "2026-12-07 12:00:00"),
            punch("a", 0, "2026-12-07 13:00:00"),
        ];
        let day = compute(&p, &rules("00:00"), "2026-12-07", Some(&office()));
        assert_eq!((day.worked, day.state), (240, State::Incompleto));
        assert_eq!(
            (day.first_in, day.last_out),
            (Some(wall("2026-12-07 08:00:00")), None)
        );
        assert_eq!((day.late_minutes, day.early_leave_minutes), (Some(0), None));
    }

    #[test]
    fn a_double_punch_counts_once_the_first() {
        // 08:00:00 and 08:00:40 (40 s ≤ 60 s: one punch, the first), then
        // 08:01:30 (90 s after the kept one: a new punch, the exit).
        // worked = 08:01:30 - 08:00:00 = 1.5 min → 1; a 30 s window keeps all three.
        let p = [
            punch("a", 0, "2026-12-07 08:00:40"),
            punch("b", 0, "2026-12-07 08:00:00"),
            punch("a", 0, "2026-12-07 08:01:30"),
        ];
        let day = compute(&p, &rules("00:00"), "2026-12-07", None);
        assert_eq!(
            day.punches,
            vec![wall("2026-12-07 08:00:00"), wall("2026-12-07 08:01:30")]
        );
        assert_eq!((day.worked, day.state), (1, State::Completo));
        assert_eq!(day.devices, vec!["b".to_string(), "a".to_string()]);
        let strict = Rules {
            double_punch: DoublePunch::from_seconds(30).unwrap(),
            ..Rules::default()
        };
        let day = compute(&p, &strict, "2026-12-07", None);
        assert_eq!((day.punches.len(), day.state), (3, State::Incompleto));
    }

    #[test]
    fn a_night_shift_belongs_to_the_day_it_started() {
        // Night schedule 22:00-06:00, tolerance 5, day start 06:00.
        // Monday 22:07 in, Tuesday 05:40 out: both in workday Monday.
        // worked = 22:07 → 05:40 = 1 h 53 + 5 h 40 = 453 min;
        // late 7 > 5 → 7; early 06:00 - 05:40 = 20 > 5 → 20.
        let night = schedule(&json!({"start": "22:00", "end": "06:00", "tolerance": 5}));
        let p = [
            punch("a", 0, "2026-12-07 22:07:00"),
            punch("a", 0, "2026-12-08 05:40:00"),
        ];
        let day = compute(&p, &rules("06:00"), "2026-12-07", Some(&night));
        assert_eq!((day.worked, day.state), (453, State::Completo));
        assert_eq!(
            (day.late_minutes, day.early_leave_minutes),
            (Some(7), Some(20))
        );
        assert_eq!(day.last_out, Some(wall("2026-12-08 05:40:00")));
        // Tuesday's workday starts at 06:00: nothing of this shift.
        let tuesday = compute(&p, &rules("06:00"), "2026-12-08", Some(&night));
        assert_eq!(
            (tuesday.state, tuesday.late_minutes),
            (State::Ausente, None)
        );
        // With the day starting at midnight the shift splits in two open days.
        let monday = compute(&p, &rules("00:00"), "2026-12-07", Some(&night));
        assert_eq!((monday.state, monday.worked), (State::Incompleto, 0));
    }

    #[test]
    fn two_terminals_in_two_time_zones() {
        // In at Madrid (+01:00) 08:05 local = 07:05 UTC; out at Canarias
        // (+00:00) 15:05 local = 15:05 UTC: worked 8 h = 480 min (not the
        // 420 the two local clocks would suggest). Late against each
        // terminal's own clock: 08:05 is 5 ≤ 10 → 0; early: 17:00 - 15:05
        // = 115 min → 115.
        let p = [
            punch("madrid", 60, "2026-12-07 08:05:00"),
            punch("canarias", 0, "2026-12-07 15:05:00"),
        ];
        let day = compute(&p, &rules("00:00"), "2026-12-07", Some(&office()));
        assert_eq!((day.worked, day.state), (480, State::Completo));
        assert_eq!(
            (day.late_minutes, day.early_leave_minutes),
            (Some(0), Some(115))
        );
        assert_eq!(
            day.devices,
            vec!["madrid".to_string(), "canarias".to_string()]
        );
        // Order follows the moments: Canarias 07:30 (07:30 UTC) is after
        // Madrid 08:20 (07:20 UTC) though its local clock reads earlier.
        let p = [
            punch("canarias", 0, "2026-12-07 07:30:00"),
            punch("madrid", 60, "2026-12-07 08:20:00"),
        ];
        let day = compute(&p, &rules("00:00"), "2026-12-07", None);
        assert_eq!(day.first_in, Some(wall("2026-12-07 08:20:00")));
        assert_eq!(day.worked, 10);
    }

    #[test]
    fn no_punch_is_absent_on_a_working_day_and_free_on_the_weekend() {
        let saturday = compute(&[], &rules("00:00"), "2026-12-12", Some(&office()));
        assert_eq!(saturday.state, State::Libre);
        assert_eq!(
            (saturday.late_minutes, saturday.early_leave_minutes),
            (None, None)
        );
        let monday = compute(&[], &rules("00:00"), "2026-12-07", Some(&office()));
        assert_eq!(
            (monday.state, monday.first_in, monday.worked),
            (State::Ausente, None, 0)
        );
        // Without a schedule every day is a working day.
        let unscheduled = compute(&[], &rules("00:00"), "2026-12-12", None);
        assert_eq!(unscheduled.state, State::Ausente);
        // Punches on a free day count, with no late or early minutes.
        let p = [
            punch("a", 0, "2026-12-12 10:00:00"),
            punch("a", 0, "2026-12-12 12:30:00"),
        ];
        let worked = compute(&p, &rules("00:00"), "2026-12-12", Some(&office()));
        assert_eq!(
            (worked.state, worked.worked, worked.late_minutes),
            (State::Completo, 150, None)
        );
    }

    #[test]
    fn states_serialize_in_spanish_lowercase() {
        let names: Vec<String> = [
            State::Completo,
            State::Incompleto,
            State::Ausente,
            State::Libre,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            names,
            ["\"completo\"", "\"incompleto\"", "\"ausente\"", "\"libre\""]
        );
    }
}
