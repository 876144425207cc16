//! Who is inside now: people whose last punch of the current workday is
//! an entry by pairing order (an odd count), with since when and where —
//! the evacuation list. Each terminal's current workday follows its own
//! clock: its UTC offset applied to now.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::day::{subjects, Filter, Person};
use super::rules::{DayStart, Rules};
use super::workday::{in_order, Punch};
use crate::time::{at_offset, WallTime};

/// A terminal as presence names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// The device id.
    pub id: String,
    /// The device's name for people.
    pub name: String,
    /// Its UTC offset in minutes.
    pub offset_minutes: i32,
}

/// Someone inside, in the contract's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceRow {
    /// The PIN.
    pub user_id: String,
    /// The list's name (null off the list).
    pub name: Option<String>,
    /// The entry's time, in its terminal's local time.
    pub since: WallTime,
    /// Where they entered.
    pub device_id: String,
    /// That device's name (its id when no longer configured).
    pub device_name: String,
}

/// The local times that hold every terminal's current workday at
/// `now_utc`: from the earliest workday start to the latest next one
/// (`None` without terminals). The journal query for presence.
pub fn current_period(
    terminals: &[Terminal],
    now_utc: NaiveDateTime,
    day_start: DayStart,
) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let periods = terminals.iter().filter_map(|t| {
        let today = day_start.workday_of(at_offset(now_utc, t.offset_minutes)?);
        Some(day_start.period(today, today))
    });
    periods.fold(None, |acc, (from, to)| match acc {
        None => Some((from, to)),
        Some((f, t)) => Some((f.min(from), t.max(to))),
    })
}

/// Whether `p` is in its terminal's current workday at `now_utc`.
fn in_current_workday(p: &Punch, now_utc: NaiveDateTime, day_start: DayStart) -> bool {
    at_offset(now_utc, p.offset_minutes)
        .is_some_and(|now| day_start.workday_of(now) == day_start.workday_of(p.time.naive()))
}

/// Who is inside at `now_utc` (UTC): people of the list first (matching
/// `filter`), then anyone else, as [`subjects`] orders them.
pub fn inside(
    now_utc: NaiveDateTime,
    terminals: &[Terminal],
    people: &[Person],
    punches: &[Punch],
    rules: &Rules,
    filter: &Filter,
) -> Vec<PresenceRow> {
    let mut by_person: HashMap<&str, Vec<&Punch>> = HashMap::new();
    for p in punches {
        if in_current_workday(p, now_utc, rules.day_start) {
            by_person.entry(p.user_id.as_str()).or_default().push(p);
        }
    }
    let names: HashMap<&str, &str> = terminals
        .iter()
        .map(|t| (t.id.as_str(), t.name.as_str()))
        .collect();
    let punched: Vec<&str> = by_person.keys().copied().collect();
    let mut rows = Vec::new();
    for subject in subjects(people, punched, filter) {
        let Some(own) = by_person.remove(subject.user_id) else {
            continue;
        };
        let ordered = in_order(own, rules.double_punch);
        let Some(last) = ordered.last().filter(|_| !ordered.len().is_multiple_of(2)) else {
            continue;
        };
        rows.push(PresenceRow {
            user_id: subject.user_id.to_string(),
            name: subject.name(),
            since: last.time,
            device_id: last.device_id.clone(),
            device_name: names
                .get(last.device_id.as_str())
                .map_or_else(|| last.device_id.clone(), |n| (*n).to_string()),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn punch(user: &str, device: &str, offset: i32, time: &str) -> Punch {
        Punch {
            device_id: device.into(),
            user_id: user.into(),
            time: WallTime::parse(time).unwrap(),
            offset_minutes: offset,
        }
    }

    fn at(text: &str) -> NaiveDateTime {
        crate::time::parse(text).unwrap()
    }

    fn terminals() -> Vec<Terminal> {
        vec![
            Terminal {
                id: "madrid".into(),
                name: "Oficina Madrid".into(),
                offset_minutes: 60,
            },
            Terminal {
                id: "canarias".into(),
                name: "Almacén Canarias".into(),
                offset_minutes: 0,
            },
        ]
    }

    fn people() -> Vec<Person> {
        ["Ana", "Luis", "Eva"]
            .iter()
            .enumerate()
            .map(|(i, name)| Person {
                user_id: (i + 1).to_string(),
                name: (*name).to_string(),
                areas: vec![],
                schedule: None,
            })
            .collect()
    }

    #[test]
    fn who_is_inside_by_pairing_order() {
        // Now 2026-12-07 12:00 UTC = 13:00 Madrid, 12:00 Canarias.
        // Ana: in 08:00, out 10:00, in 10:30 (odd: inside since 10:30);
        // Luis: in 08:00, out 11:00 (even: out); Eva: in yesterday only
        // (not today's workday: out); PIN 9 (off the list): in 11:00 at
        // Canarias and a double 11:00:30 (one punch: inside since 11:00).
        let p = [
            punch("1", "madrid", 60, "2026-12-07 08:00:00"),
            punch("1", "madrid", 60, "2026-12-07 10:00:00"),
            punch("1", "madrid", 60, "2026-12-07 10:30:00"),
            punch("2", "madrid", 60, "2026-12-07 08:00:00"),
            punch("2", "madrid", 60, "2026-12-07 11:00:00"),
            punch("3", "madrid", 60, "2026-12-06 21:00:00"),
            punch("9", "canarias", 0, "2026-12-07 11:00:00"),
            punch("9", "canarias", 0, "2026-12-07 11:00:30"),
        ];
        let now = at("2026-12-07 12:00:00");
        let rows = inside(
            now,
            &terminals(),
            &people(),
            &p,
            &Rules::default(),
            &Filter::default(),
        );
        assert_eq!(
            serde_json::to_value(&rows).unwrap(),
            json!([
                {"user_id": "1", "name": "Ana", "since": "2026-12-07 10:30:00",
                 "device_id": "madrid", "device_name": "Oficina Madrid"},
                {"user_id": "9", "name": null, "since": "2026-12-07 11:00:00",
                 "device_id": "canarias", "device_name": "Almacén Canarias"}
            ])
        );
    }

    #[test]
    fn each_terminal_follows_its_own_clock() {
        // Now 2026-12-07 23:30 UTC = 00:30 on the 8th in Madrid, still
        // 23:30 on the 7th in Canarias. Ana entered in Madrid at 23:50 on
        // the 7th: Madrid's workday is now the 8th, so she is not counted.
        // Luis entered in Canarias at 23:00 on the 7th: inside.
        let p = [
            punch("1", "madrid", 60, "2026-12-07 23:50:00"),
            punch("2", "canarias", 0, "2026-12-07 23:00:00"),
        ];
        let now = at("2026-12-07 23:30:00");
        let rows = inside(
            now,
            &terminals(),
            &people(),
            &p,
            &Rules::default(),
            &Filter::default(),
        );
        let who: Vec<&str> = rows.iter().map(|r| r.user_id.as_str()).collect();
        assert_eq!(who, ["2"]);
        // The query covers both terminals' workdays: [7th 00:00, 9th 00:00).
        assert_eq!(
            current_period(&terminals(), now, DayStart::default()),
            Some((at("2026-12-07 00:00:00"), at("2026-12-09 00:00:00")))
        );
        assert_eq!(current_period(&[], now, DayStart::default()), None);
    }

    #[test]
    fn a_night_shift_is_inside_after_midnight_with_a_day_start() {
        // Day start 06:00, now 03:00 on the 8th (Canarias, UTC): Luis
        // entered at 22:00 on the 7th, in the same workday (the 7th).
        let p = [punch("2", "canarias", 0, "2026-12-07 22:00:00")];
        let rules = Rules {
            day_start: DayStart::parse("06:00").unwrap(),
            ..Rules::default()
        };
        let now = at("2026-12-08 03:00:00");
        let rows = inside(now, &terminals(), &people(), &p, &rules, &Filter::default());
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].since,
            WallTime::parse("2026-12-07 22:00:00").unwrap()
        );
    }
}
