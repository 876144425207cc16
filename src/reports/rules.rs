//! The rules of the working day: where a workday starts (`--day-start`),
//! how close two punches count once (`--double-punch`), and schedules
//! (`{"start", "end", "tolerance", "days"}`) with the narrowest one that
//! applies to a person. Parsing returns typed errors; their Spanish is in
//! `messages::reports`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use serde_json::{Map, Value};

/// A rule or schedule that cannot be used, saying which part is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// `--day-start` is not `HH:MM`.
    DayStart(String),
    /// `--double-punch` is not a number of seconds from 0 to 3600.
    DoublePunch(String),
    /// A schedule that is not a JSON object.
    NotAnObject,
    /// A schedule field this version does not know.
    UnknownField(String),
    /// `start` or `end` is missing.
    MissingField(&'static str),
    /// `start` or `end` is not `HH:MM` (the value as JSON text).
    Time {
        /// `start` or `end`.
        field: &'static str,
        /// What was sent.
        value: String,
    },
    /// `tolerance` is not a whole number of minutes from 0 to [`MAX_TOLERANCE`].
    Tolerance(String),
    /// `days` is not a list of distinct ISO weekdays (1 Monday … 7 Sunday).
    Days(String),
    /// `start` equals `end`: a shift of no length.
    EmptyShift,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::DayStart(t) => write!(f, "day start {t:?} is not HH:MM"),
            RuleError::DoublePunch(t) => write!(f, "double punch {t:?} is not 0-3600 seconds"),
            RuleError::NotAnObject => f.write_str("schedule is not a JSON object"),
            RuleError::UnknownField(n) => write!(f, "schedule has an unknown field {n:?}"),
            RuleError::MissingField(n) => write!(f, "schedule lacks {n:?}"),
            RuleError::Time { field, value } => write!(f, "schedule {field} {value} is not HH:MM"),
            RuleError::Tolerance(v) => write!(f, "schedule tolerance {v} is not 0-{MAX_TOLERANCE}"),
            RuleError::Days(v) => write!(f, "schedule days {v} are not distinct ISO weekdays"),
            RuleError::EmptyShift => f.write_str("schedule start equals its end"),
        }
    }
}

impl std::error::Error for RuleError {}

/// The largest `tolerance`, in minutes (two hours).
pub const MAX_TOLERANCE: u32 = 120;

/// The largest `--double-punch`, in seconds (an hour).
pub const MAX_DOUBLE_PUNCH: u32 = 3600;

/// Parses `HH:MM` strictly (two digits each, 00:00–23:59).
fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    let b = text.as_bytes();
    let shape = b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit());
    if !shape {
        return None;
    }
    let hour = text[..2].parse().ok()?;
    let minute = text[3..].parse().ok()?;
    NaiveTime::from_hms_opt(hour, minute, 0)
}

/// `t` as `HH:MM`.
fn hh_mm(t: NaiveTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// Where a workday begins, in each terminal's local time (`--day-start`,
/// default `00:00`): a punch before it belongs to the previous date, so
/// a night shift belongs to the day it started. A site sets it between
/// the latest exit of a night and the earliest entry of a day (a punch at
/// or after it starts the next workday, even a late exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayStart(NaiveTime);

impl DayStart {
    /// The workday starting at `t`.
    pub fn new(t: NaiveTime) -> DayStart {
        DayStart(t)
    }

    /// Parses `HH:MM`.
    pub fn parse(text: &str) -> Result<DayStart, RuleError> {
        parse_hh_mm(text)
            .map(DayStart)
            .ok_or_else(|| RuleError::DayStart(text.to_string()))
    }

    /// The time of day the workday starts.
    pub fn time(self) -> NaiveTime {
        self.0
    }

    /// The workday (its date) a local time belongs to.
    pub fn workday_of(self, t: NaiveDateTime) -> NaiveDate {
        if t.time() < self.0 {
            t.date().pred_opt().unwrap_or(t.date())
        } else {
            t.date()
        }
    }

    /// The local times of the workdays `first ..= last`: `[from, to)`.
    pub fn period(self, first: NaiveDate, last: NaiveDate) -> (NaiveDateTime, NaiveDateTime) {
        let from = first.and_time(self.0);
        let to = last.and_time(self.0) + TimeDelta::days(1);
        (from, to)
    }
}

impl fmt::Display for DayStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hh_mm(self.0))
    }
}

/// Two punches of one person this close count once, the first one
/// (`--double-punch`, default 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoublePunch(TimeDelta);

impl Default for DoublePunch {
    fn default() -> DoublePunch {
        DoublePunch(TimeDelta::seconds(60))
    }
}

impl DoublePunch {
    /// A window of `seconds` (at most [`MAX_DOUBLE_PUNCH`]).
    pub fn from_seconds(seconds: u32) -> Result<DoublePunch, RuleError> {
        if seconds > MAX_DOUBLE_PUNCH {
            return Err(RuleError::DoublePunch(seconds.to_string()));
        }
        Ok(DoublePunch(TimeDelta::seconds(i64::from(seconds))))
    }

    /// Parses a whole number of seconds, `N` or `Ns`.
    pub fn parse(text: &str) -> Result<DoublePunch, RuleError> {
        let digits = text.strip_suffix('s').unwrap_or(text);
        let bad = || RuleError::DoublePunch(text.to_string());
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let seconds = digits.parse().map_err(|_| bad())?;
        DoublePunch::from_seconds(seconds).map_err(|_| bad())
    }

    /// The window itself.
    pub fn window(self) -> TimeDelta {
        self.0
    }
}

/// A working schedule, in the local time of the terminal punched at:
/// `{"start": "08:00", "end": "17:00", "tolerance": 10, "days": [1,2,3,4,5]}`.
/// An `end` before `start` ends the next day (a night schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// When work starts.
    pub start: NaiveTime,
    /// When work ends (the next day when before `start`).
    pub end: NaiveTime,
    /// Minutes of delay (or early leave) that are not counted.
    pub tolerance: u32,
    /// ISO weekdays it applies to (1 Monday … 7 Sunday), sorted.
    pub days: Vec<u8>,
}

impl Schedule {
    /// Reads a schedule from its JSON shape. `start` and `end` are
    /// required; `tolerance` defaults to 0 and `days` to Monday–Friday.
    pub fn from_json(value: &Value) -> Result<Schedule, RuleError> {
        let object = value.as_object().ok_or(RuleError::NotAnObject)?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !["start", "end", "tolerance", "days"].contains(&k.as_str()))
        {
            return Err(RuleError::UnknownField(unknown.clone()));
        }
        let start = time_field(object, "start")?;
        let end = time_field(object, "end")?;
        if start == end {
            return Err(RuleError::EmptyShift);
        }
        Ok(Schedule {
            start,
            end,
            tolerance: tolerance_field(object)?,
            days: days_field(object)?,
        })
    }

    /// The schedule in its JSON shape.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "start": hh_mm(self.start),
            "end": hh_mm(self.end),
            "tolerance": self.tolerance,
            "days": self.days,
        })
    }

    /// Whether `date` is a working day of this schedule.
    pub fn works_on(&self, date: NaiveDate) -> bool {
        let iso = u8::try_from(date.weekday().number_from_monday()).unwrap_or(0);
        self.days.contains(&iso)
    }

    /// The scheduled start and end of workday `date`: the start on the
    /// workday's own local times (the next date when `start` is before
    /// the day start), the end after it (the next day for a night schedule).
    pub fn shift(&self, date: NaiveDate, day_start: DayStart) -> (NaiveDateTime, NaiveDateTime) {
        let mut start = date.and_time(self.start);
        if self.start < day_start.time() {
            start += TimeDelta::days(1);
        }
        let mut end = start.date().and_time(self.end);
        if self.end < self.start {
            end += TimeDelta::days(1);
        }
        (start, end)
    }
}

/// `start` or `end` as `HH:MM`.
fn time_field(object: &Map<String, Value>, field: &'static str) -> Result<NaiveTime, RuleError> {
    let value = object.get(field).ok_or(RuleError::MissingField(field))?;
    value.as_str().and_then(parse_hh_mm).ok_or(RuleError::Time {
        field,
        value: value.to_string(),
    })
}

/// `tolerance`: whole minutes, 0 when absent.
fn tolerance_field(object: &Map<String, Value>) -> Result<u32, RuleError> {
    let Some(value) = object.get("tolerance") else {
        return Ok(0);
    };
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n <= MAX_TOLERANCE)
        .ok_or_else(|| RuleError::Tolerance(value.to_string()))
}

/// `days`: distinct ISO weekdays, Monday–Friday when absent; sorted.
fn days_field(object: &Map<String, Value>) -> Result<Vec<u8>, RuleError> {
    let Some(value) = object.get("days") else {
        return Ok(vec![1, 2, 3, 4, 5]);
    };
    let bad = || RuleError::Days(value.to_string());
    let list = value.as_array().filter(|l| !l.is_empty()).ok_or_else(bad)?;
    let mut days = Vec::with_capacity(list.len());
    for day in list {
        let day = day
            .as_u64()
            .and_then(|d| u8::try_from(d).ok())
            .filter(|d| (1..=7).contains(d) && !days.contains(d))
            .ok_or_else(bad)?;
        days.push(day);
    }
    days.sort_unstable();
    Ok(days)
}

/// The schedules a site sets: the server's default and one per area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedules {
    /// The server default (`PUT /reports/schedule`).
    pub default: Option<Schedule>,
    /// Per area name.
    pub areas: BTreeMap<String, Schedule>,
}

impl Schedules {
    /// The narrowest schedule for a person: their own, else the first of
    /// their areas (in the person's order) that has one, else the default.
    pub fn for_person<'a>(
        &'a self,
        own: Option<&'a Schedule>,
        areas: &[String],
    ) -> Option<&'a Schedule> {
        own.or_else(|| areas.iter().find_map(|a| self.areas.get(a)))
            .or(self.default.as_ref())
    }
}

/// Every rule of the working day together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Where a workday starts.
    pub day_start: DayStart,
    /// Repeats this close count once.
    pub double_punch: DoublePunch,
    /// The server default and the areas' schedules.
    pub schedules: Schedules,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn at(text: &str) -> NaiveDateTime {
        crate::time::parse(text).unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        crate::time::parse_date(text).unwrap()
    }

    fn office() -> Schedule {
        Schedule::from_json(
            &json!({"start": "08:00", "end": "17:00", "tolerance": 10, "days": [1,2,3,4,5]}),
        )
        .unwrap()
    }

    #[test]
    fn a_punch_before_the_day_start_belongs_to_the_previous_date() {
        let six = DayStart::parse("06:00").unwrap();
        assert_eq!(
            six.workday_of(at("2026-12-08 05:59:59")),
            date("2026-12-07")
        );
        assert_eq!(
            six.workday_of(at("2026-12-08 06:00:00")),
            date("2026-12-08")
        );
        assert_eq!(
            DayStart::default().workday_of(at("2026-12-08 00:00:00")),
            date("2026-12-08")
        );
        // Workdays 1 and 2 December with day start 06:00: [1st 06:00, 3rd 06:00).
        assert_eq!(
            six.period(date("2026-12-01"), date("2026-12-02")),
            (at("2026-12-01 06:00:00"), at("2026-12-03 06:00:00"))
        );
        assert_eq!(six.to_string(), "06:00");
        for bad in ["6:00", "24:00", "06:60", "06-00", "", "06:00:00"] {
            assert_eq!(DayStart::parse(bad), Err(RuleError::DayStart(bad.into())));
        }
    }

    #[test]
    fn double_punch_is_whole_seconds_up_to_an_hour() {
        assert_eq!(DoublePunch::default().window(), TimeDelta::seconds(60));
        assert_eq!(
            DoublePunch::parse("90").unwrap().window(),
            TimeDelta::seconds(90)
        );
        assert_eq!(
            DoublePunch::parse("0s").unwrap().window(),
            TimeDelta::zero()
        );
        for bad in ["", "s", "-1", "1.5", "3601", "1m", "99999999999"] {
            assert_eq!(
                DoublePunch::parse(bad),
                Err(RuleError::DoublePunch(bad.into()))
            );
        }
    }

    #[test]
    fn a_schedule_reads_its_json_shape_and_writes_it_back() {
        let s = office();
        assert_eq!((s.start, s.end, s.tolerance), (hm(8, 0), hm(17, 0), 10));
        assert_eq!(s.days, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            s.to_json(),
            json!({"start": "08:00", "end": "17:00", "tolerance": 10, "days": [1,2,3,4,5]})
        );
        let defaults = Schedule::from_json(&json!({"start": "09:00", "end": "13:00"})).unwrap();
        assert_eq!(
            (defaults.tolerance, defaults.days),
            (0, vec![1, 2, 3, 4, 5])
        );
        let weekend =
            Schedule::from_json(&json!({"start": "09:00", "end": "13:00", "days": [7, 6]}));
        assert_eq!(weekend.unwrap().days, vec![6, 7]);
    }

    #[test]
    fn a_bad_schedule_names_what_is_wrong() {
        let cases = [
            (json!([1]), RuleError::NotAnObject),
            (
                json!({"start": "08:00", "end": "17:00", "lunch": 1}),
                RuleError::UnknownField("lunch".into()),
            ),
            (json!({"end": "17:00"}), RuleError::MissingField("start")),
            (
                json!({"start": "8:00", "end": "17:00"}),
                RuleError::Time {
                    field: "start",
                    value: "\"8:00\"".into(),
                },
            ),
            (
                json!({"start": "08:00", "end": 17}),
                RuleError::Time {
                    field: "end",
                    value: "17".into(),
                },
            ),
            (
                json!({"start": "08:00", "end": "17:00", "tolerance": -1}),
                RuleError::Tolerance("-1".into()),
            ),
            (
                json!({"start": "08:00", "end": "17:00", "tolerance": 121}),
                RuleError::Tolerance("121".into()),
            ),
            (
                json!({"start": "08:00", "end": "17:00", "days": [0]}),
                RuleError::Days("[0]".into()),
            ),
            (
                json!({"start": "08:00", "end": "17:00", "days": [1, 1]}),
                RuleError::Days("[1,1]".into()),
            ),
            (
                json!({"start": "08:00", "end": "17:00", "days": []}),
                RuleError::Days("[]".into()),
            ),
            (
                json!({"start": "08:00", "end": "08:00"}),
                RuleError::EmptyShift,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(Schedule::from_json(&value), Err(expected), "{value}");
        }
    }

    #[test]
    fn weekdays_are_iso_and_a_night_schedule_ends_the_next_day() {
        let s = office();
        // 2026-12-07 is a Monday (1), 12th a Saturday (6), 13th a Sunday (7).
        assert!(s.works_on(date("2026-12-07")));
        assert!(!s.works_on(date("2026-12-12")));
        assert!(!s.works_on(date("2026-12-13")));
        let day = DayStart::default();
        assert_eq!(
            s.shift(date("2026-12-07"), day),
            (at("2026-12-07 08:00:00"), at("2026-12-07 17:00:00"))
        );
        let night = Schedule::from_json(&json!({"start": "22:00", "end": "06:00"})).unwrap();
        assert_eq!(
            night.shift(date("2026-12-07"), DayStart::parse("06:00").unwrap()),
            (at("2026-12-07 22:00:00"), at("2026-12-08 06:00:00"))
        );
        // A start before the day start is on the workday's next date.
        let early = Schedule::from_json(&json!({"start": "05:00", "end": "13:00"})).unwrap();
        assert_eq!(
            early.shift(date("2026-12-07"), DayStart::parse("06:00").unwrap()),
            (at("2026-12-08 05:00:00"), at("2026-12-08 13:00:00"))
        );
    }

    #[test]
    fn the_narrowest_schedule_wins() {
        let person = Schedule::from_json(&json!({"start": "07:00", "end": "15:00"})).unwrap();
        let area = Schedule::from_json(&json!({"start": "09:00", "end": "18:00"})).unwrap();
        let mut schedules = Schedules {
            default: Some(office()),
            areas: BTreeMap::from([("almacén".to_string(), area.clone())]),
        };
        let areas = vec!["oficina".to_string(), "almacén".to_string()];
        assert_eq!(schedules.for_person(Some(&person), &areas), Some(&person));
        assert_eq!(schedules.for_person(None, &areas), Some(&area));
        assert_eq!(schedules.for_person(None, &[]), Some(&office()));
        schedules.default = None;
        assert_eq!(schedules.for_person(None, &["oficina".to_string()]), None);
    }
}
