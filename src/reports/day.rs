//! The day sheet: one row per person of the list (and anyone else who
//! punched) for one workday.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::rules::{Rules, Schedule};
use super::workday::{by_person_and_day, workday, Punch, State, Workday};
use crate::time::WallTime;

/// A person of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The PIN people know.
    pub user_id: String,
    /// Full name.
    pub name: String,
    /// Area names, the narrowest schedule's order.
    pub areas: Vec<String>,
    /// The person's own schedule, if any.
    pub schedule: Option<Schedule>,
}

/// Which people a report shows (`area`, `user_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only people with this area among theirs.
    pub area: Option<String>,
    /// Only this person.
    pub user_id: Option<String>,
}

/// Someone a report has a row for: a person of the list, or a PIN that
/// punched and is not on it (no name, no areas).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The PIN.
    pub user_id: &'a str,
    /// The list's entry, if on the list.
    pub person: Option<&'a Person>,
}

impl Subject<'_> {
    /// The person's name (`None` off the list).
    pub fn name(&self) -> Option<String> {
        self.person.map(|p| p.name.clone())
    }

    /// The person's areas (none off the list).
    pub fn areas(&self) -> Vec<String> {
        self.person.map(|p| p.areas.clone()).unwrap_or_default()
    }
}

/// The people of the list matching `filter`, in the list's order, then
/// anyone else who punched (the PINs of `punched`) and matches it, by PIN.
pub fn subjects<'a>(
    people: &'a [Person],
    punched: impl IntoIterator<Item = &'a str>,
    filter: &Filter,
) -> Vec<Subject<'a>> {
    let wanted = |user_id: &str, areas: &[String]| {
        filter.user_id.as_deref().is_none_or(|u| u == user_id)
            && filter.area.as_ref().is_none_or(|a| {
                areas
                    .iter()
                    .any(|x| x == a || x == crate::journal::EVERY_AREA)
            })
    };
    let listed: HashSet<&str> = people.iter().map(|p| p.user_id.as_str()).collect();
    let others: BTreeSet<&str> = punched
        .into_iter()
        .filter(|u| !listed.contains(u) && wanted(u, &[]))
        .collect();
    people
        .iter()
        .filter(|p| wanted(&p.user_id, &p.areas))
        .map(|p| Subject {
            user_id: &p.user_id,
            person: Some(p),
        })
        .chain(others.into_iter().map(|user_id| Subject {
            user_id,
            person: None,
        }))
        .collect()
}

/// One person's workday as a report row, in the contract's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayRow {
    /// The workday, `YYYY-MM-DD`.
    pub date: String,
    /// The PIN.
    pub user_id: String,
    /// The list's name (null off the list).
    pub name: Option<String>,
    /// The list's areas.
    pub areas: Vec<String>,
    /// The first punch (null when absent).
    pub first_in: Option<WallTime>,
    /// The last punch closing a pair (null when absent or open).
    pub last_out: Option<WallTime>,
    /// The workday's punches after merging doubles.
    pub punches: Vec<WallTime>,
    /// Minutes worked.
    pub worked: u32,
    /// Completo, incompleto, ausente or libre.
    pub state: State,
    /// Minutes late past the tolerance (null without a schedule).
    pub late_minutes: Option<u32>,
    /// Minutes left early past the tolerance (null without a schedule or
    /// unless completo).
    pub early_leave_minutes: Option<u32>,
    /// The devices punched at.
    pub devices: Vec<String>,
}

impl DayRow {
    /// The row of `subject`'s workday `date`.
    pub fn new(date: NaiveDate, subject: &Subject<'_>, day: Workday) -> DayRow {
        DayRow {
            date: date.format("%Y-%m-%d").to_string(),
            user_id: subject.user_id.to_string(),
            name: subject.name(),
            areas: subject.areas(),
            first_in: day.first_in,
            last_out: day.last_out,
            punches: day.punches,
            worked: day.worked,
            state: day.state,
            late_minutes: day.late_minutes,
            early_leave_minutes: day.early_leave_minutes,
            devices: day.devices,
        }
    }
}

/// The workday `date` of `subject`, from punches grouped by person and day.
pub fn subject_day(
    date: NaiveDate,
    subject: &Subject<'_>,
    groups: &BTreeMap<(&str, NaiveDate), Vec<&Punch>>,
    rules: &Rules,
) -> DayRow {
    let person = subject.person;
    let schedule = rules.schedules.for_person(
        person.and_then(|p| p.schedule.as_ref()),
        person.map_or(&[], |p| p.areas.as_slice()),
    );
    let punches = groups
        .get(&(subject.user_id, date))
        .map_or(&[][..], Vec::as_slice);
    DayRow::new(
        date,
        subject,
        workday(date, punches, schedule, rules.day_start),
    )
}

/// The day sheet of workday `date`: `punches` are those of its period
/// (see [`super::rules::DayStart::period`]; others are ignored).
pub fn day_sheet(
    date: NaiveDate,
    people: &[Person],
    punches: &[Punch],
    rules: &Rules,
    filter: &Filter,
) -> Vec<DayRow> {
    let groups = by_person_and_day(punches, rules);
    let punched = groups.keys().filter(|(_, d)| *d == date).map(|(u, _)| *u);
    subjects(people, punched, filter)
        .iter()
        .map(|s| subject_day(date, s, &groups, rules))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::rules::{DayStart, Schedules};
    use serde_json::json;

    fn punch(user: &str, time: &str) -> Punch {
        Punch {
            device_id: "entrada".into(),
            user_id: user.into(),
            time: WallTime::parse(time).unwrap(),
            offset_minutes: 0,
        }
    }

    fn person(user_id: &str, name: &str, areas: &[&str]) -> Person {
        Person {
            user_id: user_id.into(),
            name: name.into(),
            areas: areas.iter().map(|a| (*a).to_string()).collect(),
            schedule: None,
        }
    }

    fn office_rules() -> Rules {
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

    fn monday() -> NaiveDate {
        crate::time::parse_date("2026-12-07").unwrap()
    }

    #[test]
    fn a_row_serializes_with_the_contracts_names_in_order() {
        // Ana: 08:12 → 17:00 = 528 min, late 12 (> 10), early 0.
        let people = [person("1", "Ana", &["oficina"])];
        let p = [
            punch("1", "2026-12-07 08:12:00"),
            punch("1", "2026-12-07 17:00:00"),
        ];
        let rows = day_sheet(monday(), &people, &p, &office_rules(), &Filter::default());
        assert_eq!(
            serde_json::to_string(&rows[0]).unwrap(),
            json!({
                "date": "2026-12-07", "user_id": "1", "name": "Ana", "areas": ["oficina"],
                "first_in": "2026-12-07 08:12:00", "last_out": "2026-12-07 17:00:00",
                "punches": ["2026-12-07 08:12:00", "2026-12-07 17:00:00"],
                "worked": 528, "state": "completo", "late_minutes": 12,
                "early_leave_minutes": 0, "devices": ["entrada"]
            })
            .to_string()
        );
    }

    #[test]
    fn everyone_on_the_list_and_anyone_who_punched_has_a_row() {
        // Ana punched in only at 07:58 (open, on time), Luis did not punch
        // (absent), PIN 99 is not on the list but punched in at 09:00
        // (open; under the default 08:00 schedule 60 > 10 → late 60):
        // three rows, the list first. Ana's Sunday punch is not Monday's.
        let people = [
            person("1", "Ana", &["oficina"]),
            person("2", "Luis", &["almacén"]),
        ];
        let p = [
            punch("99", "2026-12-07 09:00:00"),
            punch("1", "2026-12-07 07:58:00"),
            punch("1", "2026-12-06 09:00:00"),
        ];
        let rows = day_sheet(monday(), &people, &p, &office_rules(), &Filter::default());
        let summary: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.user_id.as_str(),
                    r.name.as_deref(),
                    r.state,
                    r.late_minutes,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("1", Some("Ana"), State::Incompleto, Some(0)),
                ("2", Some("Luis"), State::Ausente, None),
                ("99", None, State::Incompleto, Some(60)),
            ]
        );
        assert_eq!((rows[0].first_in.is_some(), rows[0].last_out), (true, None));
        assert_eq!(rows[1].first_in, None);
    }

    #[test]
    fn area_and_user_filters_pick_rows() {
        let people = [
            person("1", "Ana", &["oficina"]),
            person("2", "Luis", &["almacén"]),
        ];
        let p = [punch("99", "2026-12-07 09:00:00")];
        let by_area = Filter {
            area: Some("almacén".into()),
            user_id: None,
        };
        let rows = day_sheet(monday(), &people, &p, &office_rules(), &by_area);
        assert_eq!(
            rows.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>(),
            ["2"]
        );
        let by_user = Filter {
            area: None,
            user_id: Some("99".into()),
        };
        let rows = day_sheet(monday(), &people, &p, &office_rules(), &by_user);
        assert_eq!(
            rows.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>(),
            ["99"]
        );
    }

    #[test]
    fn a_persons_own_schedule_is_narrower_than_the_default() {
        // Luis starts at 06:00 (tolerance 0): 06:30 is 30 min late;
        // under the default (08:00) he would be on time.
        let mut luis = person("2", "Luis", &[]);
        luis.schedule =
            Some(Schedule::from_json(&json!({"start": "06:00", "end": "14:00"})).unwrap());
        let p = [
            punch("2", "2026-12-07 06:30:00"),
            punch("2", "2026-12-07 14:00:00"),
        ];
        let rows = day_sheet(monday(), &[luis], &p, &office_rules(), &Filter::default());
        assert_eq!(
            (rows[0].late_minutes, rows[0].early_leave_minutes),
            (Some(30), Some(0))
        );
    }
}
