//! The month: one row per person and day of the month, and each person's
//! totals.

use chrono::NaiveDate;
use serde::Serialize;

use super::day::{subject_day, subjects, DayRow, Filter, Person};
use super::rules::Rules;
use super::workday::{by_person_and_day, Punch};

/// A person's totals for the month, in the contract's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// The PIN.
    pub user_id: String,
    /// The list's name (null off the list).
    pub name: Option<String>,
    /// Days with at least one punch.
    pub days_worked: u32,
    /// Minutes worked over the month.
    pub worked: u32,
    /// Days late past the tolerance.
    pub late_count: u32,
    /// Minutes late over the month.
    pub late_minutes: u32,
}

/// The month's rows and totals (`month` is `YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthSheet {
    /// `YYYY-MM`.
    pub month: String,
    /// One row per person and day, person by person, day by day.
    pub data: Vec<DayRow>,
    /// One per person, in the rows' order.
    pub totals: Vec<Totals>,
}

/// The first and last days of month `YYYY-MM` (strictly that shape).
pub fn month_days(text: &str) -> Option<(NaiveDate, NaiveDate)> {
    let b = text.as_bytes();
    let shape = b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(text[..4].parse().ok()?, text[5..].parse().ok()?, 1)?;
    let last = first
        .checked_add_months(chrono::Months::new(1))?
        .pred_opt()?;
    Some((first, last))
}

/// The month of workdays `first ..= last` (see [`month_days`]): `punches`
/// are those of its period (see [`super::rules::DayStart::period`]).
pub fn month_sheet(
    (first, last): (NaiveDate, NaiveDate),
    people: &[Person],
    punches: &[Punch],
    rules: &Rules,
    filter: &Filter,
) -> MonthSheet {
    let groups = by_person_and_day(punches, rules);
    let punched = groups
        .keys()
        .filter(|(_, d)| (first..=last).contains(d))
        .map(|(u, _)| *u);
    let mut sheet = MonthSheet {
        month: first.format("%Y-%m").to_string(),
        data: Vec::new(),
        totals: Vec::new(),
    };
    for subject in subjects(people, punched, filter) {
        let rows: Vec<DayRow> = first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|d| subject_day(d, &subject, &groups, rules))
            .collect();
        sheet
            .totals
            .push(totals(subject.user_id, subject.name(), &rows));
        sheet.data.extend(rows);
    }
    sheet
}

/// Sums a person's day rows.
fn totals(user_id: &str, name: Option<String>, rows: &[DayRow]) -> Totals {
    let late: Vec<u32> = rows
        .iter()
        .filter_map(|r| r.late_minutes)
        .filter(|m| *m > 0)
        .collect();
    Totals {
        user_id: user_id.to_string(),
        name,
        days_worked: count(rows.iter().filter(|r| !r.punches.is_empty())),
        worked: rows.iter().map(|r| r.worked).fold(0, u32::saturating_add),
        late_count: count(late.iter()),
        late_minutes: late.iter().fold(0, |a, m| a.saturating_add(*m)),
    }
}

/// How many items, as a `u32`.
fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::rules::{DayStart, Schedule, Schedules};
    use crate::reports::workday::State;
    use crate::time::WallTime;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn punch(user: &str, time: &str) -> Punch {
        Punch {
            device_id: "entrada".into(),
            user_id: user.into(),
            time: WallTime::parse(time).unwrap(),
            offset_minutes: 0,
        }
    }

    fn rules() -> Rules {
        let office =
            json!({"start": "08:00", "end": "17:00", "tolerance": 10, "days": [1,2,3,4,5]});
        Rules {
            day_start: DayStart::default(),
            double_punch: Default::default(),
            schedules: Schedules {
                default: Some(Schedule::from_json(&office).unwrap()),
                areas: BTreeMap::new(),
            },
        }
    }

    fn ana() -> Person {
        Person {
            user_id: "1".into(),
            name: "Ana".into(),
            areas: vec!["oficina".into()],
            schedule: None,
        }
    }

    #[test]
    fn months_are_strict_yyyy_mm() {
        let d = |t| crate::time::parse_date(t).unwrap();
        assert_eq!(
            month_days("2026-12"),
            Some((d("2026-12-01"), d("2026-12-31")))
        );
        assert_eq!(
            month_days("2028-02"),
            Some((d("2028-02-01"), d("2028-02-29")))
        );
        for bad in [
            "2026-13",
            "2026-1",
            "202612",
            "2026-00",
            "abcd-ef",
            "2026-12-01",
        ] {
            assert_eq!(month_days(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_month_of_31_days_with_totals() {
        // December 2026: 31 days; 23 weekdays (1st is a Tuesday), 8 weekend days.
        // Ana: Tue 1st 08:00-17:00 (540, on time); Wed 2nd 08:15-17:00
        // (525, late 15); Thu 3rd 08:20-12:00 (220, late 20); Fri 4th in
        // 08:05 only (open, 0, late 0); Sat 5th 10:00-12:00 (120, libre day,
        // no late); the other 23 - 4 = 19 weekdays absent, the other 8 - 1 = 7
        // weekend days free.
        // days_worked = 5; worked = 540+525+220+0+120 = 1405;
        // late_count = 2; late_minutes = 15+20 = 35.
        let p = [
            punch("1", "2026-12-01 08:00:00"),
            punch("1", "2026-12-01 17:00:00"),
            punch("1", "2026-12-02 08:15:00"),
            punch("1", "2026-12-02 17:00:00"),
            punch("1", "2026-12-03 08:20:00"),
            punch("1", "2026-12-03 12:00:00"),
            punch("1", "2026-12-04 08:05:00"),
            punch("1", "2026-12-05 10:00:00"),
            punch("1", "2026-12-05 12:00:00"),
        ];
        let month = month_days("2026-12").unwrap();
        let sheet = month_sheet(month, &[ana()], &p, &rules(), &Filter::default());
        assert_eq!(sheet.data.len(), 31);
        assert_eq!(sheet.data[0].date, "2026-12-01");
        assert_eq!(sheet.data[30].date, "2026-12-31");
        let count = |s: State| sheet.data.iter().filter(|r| r.state == s).count();
        assert_eq!(count(State::Completo), 4);
        assert_eq!(count(State::Incompleto), 1);
        assert_eq!(count(State::Ausente), 19);
        assert_eq!(count(State::Libre), 7);
        assert_eq!(
            serde_json::to_value(&sheet.totals).unwrap(),
            json!([{"user_id": "1", "name": "Ana", "days_worked": 5, "worked": 1405,
                    "late_count": 2, "late_minutes": 35}])
        );
        let keys: Vec<String> = serde_json::to_value(&sheet)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["month", "data", "totals"]);
        assert_eq!(sheet.month, "2026-12");
    }

    #[test]
    fn every_person_has_every_day_and_punches_outside_the_month_are_left_out() {
        // Luis never punched: 31 rows, zero totals. Ana's 30 November and
        // 1 January punches are not December's.
        let luis = Person {
            user_id: "2".into(),
            name: "Luis".into(),
            areas: vec![],
            schedule: None,
        };
        let p = [
            punch("1", "2026-11-30 08:00:00"),
            punch("1", "2027-01-01 08:00:00"),
        ];
        let month = month_days("2026-12").unwrap();
        let sheet = month_sheet(month, &[ana(), luis], &p, &rules(), &Filter::default());
        assert_eq!(sheet.data.len(), 62);
        assert_eq!(sheet.data[31].user_id, "2");
        assert!(sheet
            .totals
            .iter()
            .all(|t| t.days_worked == 0 && t.worked == 0));
        assert_eq!(sheet.totals.len(), 2);
    }
}
