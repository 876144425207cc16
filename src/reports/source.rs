//! What a report reads from the journal, and only from it (never a
//! terminal): the staff list with each person's schedule, the stored
//! schedules, the users copies' names for PINs off the list, and the
//! punches of one period (one query, whatever the number of people).

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::day::{day_sheet, DayRow, Filter, Person};
use super::month::{month_sheet, MonthSheet};
use super::presence::{current_period, inside, PresenceRow, Terminal};
use super::rules::{DayStart, DoublePunch, Rules, Schedule, Schedules};
use super::workday::Punch;
use crate::journal::{Journal, JournalError, PeopleFilter};

/// The most punches one report reads (a month of 500 people punching four
/// times a day is ~62 000): beyond it the period is refused, never cut.
pub const MAX_PUNCHES: u64 = 5_000_000;

/// Why a report could not be made.
#[derive(Debug)]
pub enum SourceError {
    /// The journal failed.
    Journal(JournalError),
    /// The period holds more than [`MAX_PUNCHES`] punches.
    TooManyPunches,
}

impl From<JournalError> for SourceError {
    fn from(e: JournalError) -> Self {
        SourceError::Journal(e)
    }
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::Journal(e) => write!(f, "{e}"),
            SourceError::TooManyPunches => {
                write!(f, "the period holds more than {MAX_PUNCHES} punches")
            }
        }
    }
}

/// A stored schedule, checked again (one that no longer is valid is
/// logged and left out, never a failed report).
pub fn checked(value: &serde_json::Value) -> Option<Schedule> {
    match Schedule::from_json(value) {
        Ok(s) => Some(s),
        Err(e) => {
            log::error!("report: a stored schedule is not valid ({e}): {value}");
            None
        }
    }
}

/// Everything but the punches: people, rules, names, terminals.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The staff list (live people), with their own schedules.
    pub people: Vec<Person>,
    /// Day start, double punch, the default and areas' schedules.
    pub rules: Rules,
    /// Names from the terminals' users copies, for PINs off the list (and
    /// people of the list without a name).
    pub names: HashMap<String, String>,
    /// The configured terminals with their UTC offsets.
    pub terminals: Vec<Terminal>,
}

impl Inputs {
    /// Reads the list, the schedules and the names (three queries).
    pub fn load(
        journal: &Journal,
        day_start: DayStart,
        double_punch: DoublePunch,
        terminals: Vec<Terminal>,
    ) -> Result<Inputs, JournalError> {
        let stored = journal.schedules()?;
        let own: HashMap<String, Schedule> = stored
            .people
            .iter()
            .filter_map(|(user_id, v)| Some((user_id.clone(), checked(v)?)))
            .collect();
        let names = journal.user_names()?;
        let page = journal.list_people(&PeopleFilter::default())?;
        let people = page
            .people
            .into_iter()
            .map(|p| Person {
                schedule: own.get(&p.user_id).cloned(),
                name: if p.name.is_empty() {
                    names.get(&p.user_id).cloned().unwrap_or_default()
                } else {
                    p.name
                },
                user_id: p.user_id,
                areas: p.areas,
            })
            .collect();
        Ok(Inputs {
            people,
            rules: Rules {
                day_start,
                double_punch,
                schedules: Schedules {
                    default: stored.default.as_ref().and_then(checked),
                    areas: stored
                        .areas
                        .iter()
                        .filter_map(|(area, v)| Some((area.clone(), checked(v)?)))
                        .collect(),
                },
            },
            names,
            terminals,
        })
    }

    /// The UTC offset of device `id` (the server's for one no longer
    /// configured).
    fn offset_of(&self, id: &str) -> i32 {
        self.terminals
            .iter()
            .find(|t| t.id == id)
            .map_or_else(crate::time::server_offset_minutes, |t| t.offset_minutes)
    }

    /// The punches whose terminal time lies in `[from, to)`, of one user
    /// or of everyone, each at its terminal's offset (one query).
    pub fn punches(
        &self,
        journal: &Journal,
        (from, to): (NaiveDateTime, NaiveDateTime),
        user_id: Option<&str>,
    ) -> Result<Vec<Punch>, SourceError> {
        let stored = journal.punches_between(from, to, user_id, MAX_PUNCHES)?;
        if stored.len() as u64 >= MAX_PUNCHES {
            return Err(SourceError::TooManyPunches);
        }
        let offsets: HashMap<&str, i32> = self
            .terminals
            .iter()
            .map(|t| (t.id.as_str(), t.offset_minutes))
            .collect();
        Ok(stored
            .iter()
            .map(|p| {
                let offset = offsets
                    .get(p.device.as_str())
                    .copied()
                    .unwrap_or_else(|| self.offset_of(&p.device));
                Punch::from_stored(p, offset)
            })
            .collect())
    }

    /// The day sheet of workday `date` for `filter`, named (one period
    /// query; the punches are dropped on return).
    pub fn day(
        &self,
        journal: &Journal,
        date: chrono::NaiveDate,
        filter: &Filter,
    ) -> Result<Vec<DayRow>, SourceError> {
        let period = self.rules.day_start.period(date, date);
        let punches = self.punches(journal, period, filter.user_id.as_deref())?;
        let mut rows = day_sheet(date, &self.people, &punches, &self.rules, filter);
        self.name_rows(&mut rows);
        Ok(rows)
    }

    /// The month of workdays `days` (see
    /// [`super::month::month_days`]) for `filter`, named.
    pub fn month(
        &self,
        journal: &Journal,
        days: (chrono::NaiveDate, chrono::NaiveDate),
        filter: &Filter,
    ) -> Result<MonthSheet, SourceError> {
        let period = self.rules.day_start.period(days.0, days.1);
        let punches = self.punches(journal, period, filter.user_id.as_deref())?;
        let mut sheet = month_sheet(days, &self.people, &punches, &self.rules, filter);
        self.name_month(&mut sheet);
        Ok(sheet)
    }

    /// Who is inside at `now_utc` for `filter`, named.
    pub fn presence(
        &self,
        journal: &Journal,
        now_utc: NaiveDateTime,
        filter: &Filter,
    ) -> Result<Vec<PresenceRow>, SourceError> {
        let Some(period) = current_period(&self.terminals, now_utc, self.rules.day_start) else {
            return Ok(Vec::new());
        };
        let punches = self.punches(journal, period, filter.user_id.as_deref())?;
        let (people, rules) = (&self.people, &self.rules);
        let mut rows = inside(now_utc, &self.terminals, people, &punches, rules, filter);
        self.name_presence(&mut rows);
        Ok(rows)
    }

    /// Gives rows of PINs off the list the users copies' names.
    pub fn name_rows(&self, rows: &mut [DayRow]) {
        for row in rows.iter_mut().filter(|r| r.name.is_none()) {
            row.name = self.names.get(&row.user_id).cloned();
        }
    }

    /// Gives presence rows of PINs off the list the users copies' names.
    pub fn name_presence(&self, rows: &mut [PresenceRow]) {
        for row in rows.iter_mut().filter(|r| r.name.is_none()) {
            row.name = self.names.get(&row.user_id).cloned();
        }
    }

    /// Gives a month's rows and totals of PINs off the list the users
    /// copies' names.
    pub fn name_month(&self, month: &mut MonthSheet) {
        self.name_rows(&mut month.data);
        for total in month.totals.iter_mut().filter(|t| t.name.is_none()) {
            total.name = self.names.get(&total.user_id).cloned();
        }
    }
}
