//! What reports read besides punches: working schedules (the server
//! default, per area, per person; the narrowest wins) and the names the
//! journal's users copies give people who are not on the staff list.
//!
//! A schedule is kept as its JSON shape (`{"start", "end", "tolerance",
//! "days"}`), checked by `reports::rules::Schedule` before it is stored
//! and when it is read: the journal stays below `reports`.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::{Journal, JournalError};
use crate::time::WallTime;

/// Who a schedule is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScheduleScope {
    /// The server default.
    Default,
    /// Everyone in an area (a person's `areas`).
    Area(String),
    /// One person (`user_id`).
    Person(String),
}

impl ScheduleScope {
    /// The `(scope, name)` key of the row.
    fn key(&self) -> (&'static str, &str) {
        match self {
            ScheduleScope::Default => ("default", ""),
            ScheduleScope::Area(name) => ("area", name),
            ScheduleScope::Person(user_id) => ("person", user_id),
        }
    }

    /// The scope of a stored row (`None`: a scope this build does not know).
    fn of_row(scope: &str, name: String) -> Option<ScheduleScope> {
        match scope {
            "default" => Some(ScheduleScope::Default),
            "area" => Some(ScheduleScope::Area(name)),
            "person" => Some(ScheduleScope::Person(name)),
            _ => None,
        }
    }
}

/// Every stored schedule (its JSON shape), by scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSchedules {
    /// The server default.
    pub default: Option<Value>,
    /// Per area name.
    pub areas: BTreeMap<String, Value>,
    /// Per person (`user_id`).
    pub people: BTreeMap<String, Value>,
}

/// Reads a stored schedule's JSON text (a row that is no JSON is logged
/// and left out, never a failed report).
fn parse_stored(scope: &ScheduleScope, text: &str) -> Option<Value> {
    let parsed = serde_json::from_str(text).ok();
    if parsed.is_none() {
        log::error!("journal: stored schedule for {scope:?} is not JSON: {text}");
    }
    parsed
}

impl Journal {
    /// The schedule stored for exactly `scope` (no narrowing), as its
    /// JSON shape.
    pub fn schedule(&self, scope: &ScheduleScope) -> Result<Option<Value>, JournalError> {
        let (kind, name) = scope.key();
        let text: Option<String> = self.read(
            |conn| {
                conn.prepare_cached(
                    "SELECT schedule FROM report_schedules WHERE scope = ?1 AND name = ?2",
                )?
                .query_row(params![kind, name], |r| r.get(0))
                .optional()
            },
            "reading a schedule",
        )?;
        Ok(text.and_then(|t| parse_stored(scope, &t)))
    }

    /// Sets (`Some`, a schedule's JSON shape already checked by
    /// `reports::rules::Schedule`) or removes (`None`) the schedule of
    /// `scope` at `at`; `true` when something changed.
    pub fn set_schedule(
        &self,
        scope: &ScheduleScope,
        schedule: Option<&Value>,
        at: WallTime,
    ) -> Result<bool, JournalError> {
        self.check_time(at)?;
        let (kind, name) = scope.key();
        let text = schedule.map(Value::to_string);
        self.write(
            |conn| match &text {
                Some(text) => conn
                    .prepare_cached(
                        "INSERT INTO report_schedules (scope, name, schedule, updated_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (scope, name) DO UPDATE
                            SET schedule = excluded.schedule, updated_at = excluded.updated_at",
                    )?
                    .execute(params![kind, name, text, at.to_string()])
                    .map(|n| n > 0),
                None => conn
                    .prepare_cached("DELETE FROM report_schedules WHERE scope = ?1 AND name = ?2")?
                    .execute(params![kind, name])
                    .map(|n| n > 0),
            },
            "storing a schedule",
        )
    }

    /// Every stored schedule (one query).
    pub fn schedules(&self) -> Result<StoredSchedules, JournalError> {
        let rows: Vec<(String, String, String)> = self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT scope, name, schedule FROM report_schedules ORDER BY scope, name",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect()
            },
            "reading schedules",
        )?;
        let mut stored = StoredSchedules::default();
        for (kind, name, text) in rows {
            let Some(scope) = ScheduleScope::of_row(&kind, name) else {
                continue;
            };
            let Some(schedule) = parse_stored(&scope, &text) else {
                continue;
            };
            match scope {
                ScheduleScope::Default => stored.default = Some(schedule),
                ScheduleScope::Area(name) => {
                    stored.areas.insert(name, schedule);
                }
                ScheduleScope::Person(user_id) => {
                    stored.people.insert(user_id, schedule);
                }
            }
        }
        Ok(stored)
    }

    /// A name for every PIN the terminals' users copies know (the most
    /// recently updated non-empty one), in one query: names for people who
    /// punched but are not on the staff list.
    pub fn user_names(&self) -> Result<HashMap<String, String>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT user_id, name FROM users WHERE name <> '' ORDER BY updated_at",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            },
            "reading the users' names",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn journal() -> (tempfile_dir::Dir, Journal) {
        let dir = tempfile_dir::Dir::new();
        let j = Journal::open(dir.path().join("j.db")).expect("open");
        (dir, j)
    }

    mod tempfile_dir {
        /// A private temporary folder removed on drop.
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let path = std::env::temp_dir().join(format!(
                    "zk-schedules-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&path).expect("temp dir");
                Dir(path)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn at() -> WallTime {
        WallTime::parse("2026-12-07 10:00:00").unwrap()
    }

    #[test]
    fn schedules_are_stored_per_scope_replaced_and_removed() {
        let (_dir, j) = journal();
        let office = json!({"start": "08:00", "end": "17:00"});
        let night = json!({"start": "22:00", "end": "06:00"});
        let area = ScheduleScope::Area("almacén".into());
        let person = ScheduleScope::Person("7".into());
        assert_eq!(j.schedule(&ScheduleScope::Default).unwrap(), None);
        assert!(j
            .set_schedule(&ScheduleScope::Default, Some(&office), at())
            .unwrap());
        assert!(j.set_schedule(&area, Some(&office), at()).unwrap());
        assert!(j.set_schedule(&area, Some(&night), at()).unwrap());
        assert!(j.set_schedule(&person, Some(&night), at()).unwrap());
        assert_eq!(j.schedule(&area).unwrap(), Some(night.clone()));
        let all = j.schedules().unwrap();
        assert_eq!(all.default, Some(office.clone()));
        assert_eq!(all.areas.get("almacén"), Some(&night));
        assert_eq!(all.people.get("7"), Some(&night));
        assert!(j.set_schedule(&person, None, at()).unwrap());
        assert!(!j.set_schedule(&person, None, at()).unwrap());
        assert_eq!(j.schedule(&person).unwrap(), None);
        assert!(j.schedules().unwrap().people.is_empty());
    }

    #[test]
    fn user_names_come_from_the_users_copies() {
        let (_dir, j) = journal();
        let users = [
            crate::journal::JournalUser {
                user_id: "9".into(),
                name: "Eva Ruiz".into(),
                ..Default::default()
            },
            crate::journal::JournalUser {
                user_id: "10".into(),
                ..Default::default()
            },
        ];
        j.upsert_users("principal", &users, at().naive())
            .expect("users");
        let names = j.user_names().unwrap();
        assert_eq!(names.get("9").map(String::as_str), Some("Eva Ruiz"));
        assert_eq!(names.get("10"), None);
    }
}
