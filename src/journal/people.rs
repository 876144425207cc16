//! The staff list ("personal", API Part 7): one row per person, keyed by
//! the PIN people know (`user_id`), with name, card, keypad password,
//! privilege and areas. A change is a merge (only the given fields
//! change); a delete is a tombstone (`deleted`, `deleted_at`) that keeps
//! the person off terminals offline today, drops the keypad password and
//! turns the person's templates into tombstones. Listings filter in SQL
//! (accent-insensitive search on a folded column, areas, tombstones) and
//! return a bounded page. An export holds everything (passwords and
//! template bytes) for a backup; an import restores one in one transaction.
//!
//! Privacy: the keypad password never appears in a `Debug` output (only
//! `password_set`), an error or a log line. The journal file holding it
//! is private (0600, made so by `Journal::open`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::templates::{self, content_hash, Template};
use super::{count, Journal, JournalError};
use crate::time::WallTime;

/// The area that means "every terminal" (a person's default).
pub const EVERY_AREA: &str = "*";

/// One person of the staff list. `Debug` shows `password_set`, never the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct Person {
    /// The PIN people know: the key on every terminal.
    pub user_id: String,
    /// The name shown on terminals.
    pub name: String,
    /// Card number, if the person has a card.
    pub card: Option<u64>,
    /// Keypad password, if set (secret).
    pub password: Option<String>,
    /// Terminal privilege (0 user, 14 admin).
    pub privilege: u8,
    /// Areas whose terminals hold the person; [`EVERY_AREA`] = all.
    pub areas: Vec<String>,
    /// When the person was last changed (or deleted).
    pub updated_at: WallTime,
    /// When the person was deleted: a tombstone, still to be removed from
    /// the terminals that hold them.
    pub deleted_at: Option<WallTime>,
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("card", &self.card)
            .field("password_set", &self.password_set())
            .field("privilege", &self.privilege)
            .field("areas", &self.areas)
            .field("updated_at", &self.updated_at)
            .field("deleted_at", &self.deleted_at)
            .finish()
    }
}

impl Person {
    /// A new person with the defaults: no name, card or password,
    /// privilege 0, every area.
    pub fn new(user_id: &str, at: WallTime) -> Person {
        Person {
            user_id: user_id.to_string(),
            name: String::new(),
            card: None,
            password: None,
            privilege: 0,
            areas: vec![EVERY_AREA.to_string()],
            updated_at: at,
            deleted_at: None,
        }
    }

    /// Whether a keypad password is set (what the API shows).
    pub fn password_set(&self) -> bool {
        self.password.is_some()
    }

    /// Whether the person is a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// The content hash a terminal's sync state is compared with: what a
    /// terminal holds of the person (name, card, password, privilege).
    pub fn content_hash(&self) -> String {
        let card = self.card.map(|c| c.to_string()).unwrap_or_default();
        content_hash(&[
            self.user_id.as_bytes(),
            self.name.as_bytes(),
            card.as_bytes(),
            &[u8::from(self.password.is_some()), self.privilege],
            self.password.as_deref().unwrap_or_default().as_bytes(),
        ])
    }

    /// Whether the person is on terminals of `area` (or holds every area).
    pub fn in_area(&self, area: &str) -> bool {
        self.areas.iter().any(|a| a == area || a == EVERY_AREA)
    }
}

/// The fields a create or a `PUT` (merge) gives; `None` leaves a field as
/// it is. `card` and `password` are `Some(None)` to remove them. `Debug`
/// never shows the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PersonChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new card, or `Some(None)` for none.
    pub card: Option<Option<u64>>,
    /// A new keypad password, or `Some(None)` for none.
    pub password: Option<Option<String>>,
    /// A new privilege.
    pub privilege: Option<u8>,
    /// New areas.
    pub areas: Option<Vec<String>>,
}

impl fmt::Debug for PersonChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = self
            .password
            .as_ref()
            .map(|p| if p.is_some() { "set" } else { "removed" });
        f.debug_struct("PersonChanges")
            .field("name", &self.name)
            .field("card", &self.card)
            .field("password", &password)
            .field("privilege", &self.privilege)
            .field("areas", &self.areas)
            .finish()
    }
}

impl PersonChanges {
    /// `person` with these changes; the other fields as they were.
    pub fn applied_to(&self, person: &Person) -> Person {
        let mut p = person.clone();
        if let Some(name) = &self.name {
            p.name.clone_from(name);
        }
        if let Some(card) = self.card {
            p.card = card;
        }
        if let Some(password) = &self.password {
            p.password.clone_from(password);
        }
        if let Some(privilege) = self.privilege {
            p.privilege = privilege;
        }
        if let Some(areas) = &self.areas {
            p.areas.clone_from(areas);
        }
        p
    }
}

/// Which people a page holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeopleFilter {
    /// Accent- and case-insensitive search in the PIN and the name.
    pub q: Option<String>,
    /// Only people on terminals of this area (people of [`EVERY_AREA`] are
    /// on every area's terminals).
    pub area: Option<String>,
    /// Tombstones (`true`) still on some terminal, instead of live people.
    pub deleted: bool,
    /// Matches to skip.
    pub offset: u64,
    /// At most this many; `None` = all.
    pub limit: Option<u64>,
}

/// One page of people, by PIN (numeric PINs in numeric order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeoplePage {
    /// Matches in all pages.
    pub total: u64,
    /// This page.
    pub people: Vec<Person>,
}

/// Everything the staff list holds, for a backup or a move: people and
/// templates, tombstones, passwords and bytes included (`Debug` shows none
/// of the secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeopleExport {
    /// Every person, by PIN.
    pub people: Vec<Person>,
    /// Every template, by PIN, kind and index.
    pub templates: Vec<Template>,
}

/// What a restore wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreCounts {
    /// People written.
    pub people: usize,
    /// Templates written.
    pub templates: usize,
}

/// The names of the live people of the staff list, by PIN (people with
/// an empty name left out): what punches are shown with.
pub type PersonNames = Arc<HashMap<String, String>>;

/// The staff list's names as last read, dropped by every write to the
/// people (so a person added through the API is named at once).
/// Its generation counts the forgets: names read while a write committed
/// are not kept.
#[derive(Debug, Default)]
pub(super) struct NameCache(Mutex<(u64, Option<PersonNames>)>);

impl NameCache {
    /// Forgets the names read (the list changed).
    pub(super) fn forget(&self) {
        let mut cache = self.0.lock();
        cache.0 = cache.0.wrapping_add(1);
        cache.1 = None;
    }
}

/// Folds `text` for search: lowercase, and the Spanish accents (á é í ó ú
/// ü ñ, and à è ì ò ù) to their plain letters.
pub fn fold_for_search(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// A `LIKE` pattern that finds `q` anywhere (folded, with `%`, `_` and
/// the escape character taken literally).
fn like_pattern(q: &str) -> String {
    let mut pattern = String::from("%");
    for c in fold_for_search(q).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Columns read by [`person_from_row`].
const COLUMNS: &str = "user_id, name, card, password, privilege, areas, updated_at, deleted_at";

/// A conversion failure of column `i` (a row edited by hand).
fn bad_column(i: usize, detail: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, detail.into())
}

/// Reads a row selected with [`COLUMNS`].
fn person_from_row(r: &Row<'_>) -> rusqlite::Result<Person> {
    let card = match r.get::<_, Option<i64>>(2)? {
        Some(c) => Some(u64::try_from(c).map_err(|_| bad_column(2, format!("card {c}")))?),
        None => None,
    };
    let areas: String = r.get(5)?;
    let areas = serde_json::from_str(&areas)
        .map_err(|e| bad_column(5, format!("areas are not a JSON list of text: {e}")))?;
    Ok(Person {
        user_id: r.get(0)?,
        name: r.get(1)?,
        card,
        password: r.get(3)?,
        privilege: r.get(4)?,
        areas,
        updated_at: r.get(6)?,
        deleted_at: r.get(7)?,
    })
}

/// Every time the rows of `people` store (updates and deletions): what
/// must be checked before they are written.
pub(super) fn stored_times(people: &[Person]) -> impl Iterator<Item = WallTime> + '_ {
    people
        .iter()
        .flat_map(|p| std::iter::once(p.updated_at).chain(p.deleted_at))
}

/// Writes `p` as given (replacing its row) inside `tx`.
pub(super) fn write_person(tx: &Transaction<'_>, p: &Person) -> rusqlite::Result<()> {
    let card = match p.card {
        Some(c) => {
            Some(i64::try_from(c).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?)
        }
        None => None,
    };
    let areas = serde_json::to_string(&p.areas)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let search = fold_for_search(&format!("{} {}", p.user_id, p.name));
    tx.prepare_cached(
        "INSERT INTO people (user_id, name, card, password, privilege, areas, search, hash,
             updated_at, deleted, deleted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (user_id) DO UPDATE SET
             name = excluded.name, card = excluded.card, password = excluded.password,
             privilege = excluded.privilege, areas = excluded.areas, search = excluded.search,
             hash = excluded.hash, updated_at = excluded.updated_at,
             deleted = excluded.deleted, deleted_at = excluded.deleted_at",
    )?
    .execute(params![
        p.user_id,
        p.name,
        card,
        p.password,
        p.privilege,
        areas,
        search,
        p.content_hash(),
        p.updated_at.to_string(),
        p.is_deleted(),
        p.deleted_at.map(|t| t.to_string()),
    ])?;
    Ok(())
}

/// The row of `user_id` (a tombstone too), read inside `tx`.
fn read_person(tx: &Transaction<'_>, user_id: &str) -> rusqlite::Result<Option<Person>> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM people WHERE user_id = ?1"),
        [user_id],
        person_from_row,
    )
    .optional()
}

/// The `WHERE` clause of a listing: `?1` deleted, `?2` the `LIKE`
/// pattern or NULL, `?3` the area or NULL. Tombstones are listed only
/// while some terminal still holds what was written to it (a sync state
/// with a hash): once removed everywhere they are gone from the API.
const LIST_WHERE: &str = "WHERE deleted = ?1
       AND (?1 = 0 OR EXISTS (SELECT 1 FROM people_sync s
             WHERE s.user_id = people.user_id AND s.hash IS NOT NULL))
       AND (?2 IS NULL OR search LIKE ?2 ESCAPE '\\')
       AND (?3 IS NULL OR EXISTS (
             SELECT 1 FROM json_each(people.areas) WHERE value IN (?3, '*')))";

/// Reads one page of `filter` with a reader connection.
fn list_page(conn: &rusqlite::Connection, filter: &PeopleFilter) -> rusqlite::Result<PeoplePage> {
    let pattern = filter.q.as_deref().map(like_pattern);
    let area = filter.area.as_deref();
    let total = conn
        .prepare_cached(&format!("SELECT count(*) FROM people {LIST_WHERE}"))?
        .query_row(params![filter.deleted, pattern, area], |r| count(r, 0))?;
    let limit = filter
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM people {LIST_WHERE}
         ORDER BY length(user_id), user_id LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt.query_map(
        params![filter.deleted, pattern, area, limit, offset],
        person_from_row,
    )?;
    Ok(PeoplePage {
        total,
        people: rows.collect::<rusqlite::Result<_>>()?,
    })
}

impl Journal {
    /// Creates or changes (merges) the person `user_id` at `at`: only the
    /// fields `changes` gives change. A tombstone is re-created from the
    /// defaults (nothing of the deleted person comes back). A merge that
    /// changes nothing writes nothing. Returns the person as stored.
    pub fn upsert_person(
        &self,
        user_id: &str,
        changes: &PersonChanges,
        at: WallTime,
    ) -> Result<Person, JournalError> {
        self.check_time(at)?;
        let written = self.write(
            |conn| {
                let tx = conn.transaction()?;
                let stored = read_person(&tx, user_id)?.filter(|p| !p.is_deleted());
                let base = stored.clone().unwrap_or_else(|| Person::new(user_id, at));
                let mut person = changes.applied_to(&base);
                if stored.as_ref() == Some(&person) {
                    return Ok(person);
                }
                person.updated_at = at;
                write_person(&tx, &person)?;
                tx.commit()?;
                Ok(person)
            },
            "storing a person",
        );
        self.names.forget();
        written.inspect(|_| self.announce_people())
    }

    /// Deletes the person `user_id` at `at`: a tombstone without keypad
    /// password, and tombstones for their templates (bytes dropped).
    /// `false` when there is no such live person.
    pub fn delete_person(&self, user_id: &str, at: WallTime) -> Result<bool, JournalError> {
        self.check_time(at)?;
        let deleted = self.write(
            |conn| {
                let tx = conn.transaction()?;
                let Some(mut person) = read_person(&tx, user_id)?.filter(|p| !p.is_deleted())
                else {
                    return Ok(false);
                };
                person.password = None;
                person.updated_at = at;
                person.deleted_at = Some(at);
                write_person(&tx, &person)?;
                templates::tombstone_all_of(&tx, user_id, &at.to_string())?;
                tx.commit()?;
                Ok(true)
            },
            "deleting a person",
        );
        self.names.forget();
        deleted.inspect(|_| self.announce_people())
    }

    /// The person `user_id`, a tombstone too (see [`Person::is_deleted`]).
    pub fn get_person(&self, user_id: &str) -> Result<Option<Person>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    &format!("SELECT {COLUMNS} FROM people WHERE user_id = ?1"),
                    [user_id],
                    person_from_row,
                )
                .optional()
            },
            "reading a person",
        )
    }

    /// One page of the people `filter` selects, filtered in SQL.
    pub fn list_people(&self, filter: &PeopleFilter) -> Result<PeoplePage, JournalError> {
        self.read(|conn| list_page(conn, filter), "listing people")
    }

    /// Everything the staff list holds (see [`PeopleExport`]), read in one
    /// snapshot.
    pub fn export_people(&self) -> Result<PeopleExport, JournalError> {
        self.read(
            |conn| {
                let snapshot = conn.unchecked_transaction()?;
                let mut stmt = snapshot.prepare(&format!(
                    "SELECT {COLUMNS} FROM people ORDER BY length(user_id), user_id"
                ))?;
                let people = stmt
                    .query_map([], person_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let templates = templates::all_templates(&snapshot)?;
                Ok(PeopleExport { people, templates })
            },
            "exporting people",
        )
    }

    /// Restores an export in one transaction: every person and template
    /// in it replaces the row with its key, exactly as exported (times,
    /// tombstones, passwords, bytes); rows the export does not name stay.
    /// A failure writes nothing.
    pub fn import_people(&self, export: &PeopleExport) -> Result<RestoreCounts, JournalError> {
        let times =
            stored_times(&export.people).chain(export.templates.iter().map(|t| t.updated_at));
        for t in times {
            self.check_time(t)?;
        }
        let restored = self.write(
            |conn| {
                let tx = conn.transaction()?;
                for person in &export.people {
                    write_person(&tx, person)?;
                }
                for template in &export.templates {
                    templates::write_template(&tx, template, false)?;
                }
                tx.commit()?;
                Ok(RestoreCounts {
                    people: export.people.len(),
                    templates: export.templates.len(),
                })
            },
            "importing people",
        );
        self.names.forget();
        restored.inspect(|_| self.announce_people())
    }

    /// The people changed after outbox position `after` (tombstones
    /// included), each once in its latest state, oldest change first, at
    /// most `limit`; with the outbox position of the last one (what
    /// delivery into PostgreSQL follows).
    pub fn people_changed_after(
        &self,
        after: i64,
        limit: u64,
    ) -> Result<(Vec<Person>, Option<i64>), JournalError> {
        self.read(
            |conn| {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS}, c.last FROM people
                       JOIN (SELECT user_id AS pin, max(seq) AS last FROM people_changes
                              WHERE seq > ?1 GROUP BY user_id) c ON c.pin = people.user_id
                      ORDER BY c.last LIMIT ?2"
                ))?;
                let mut last = None;
                let rows = stmt.query_map(params![after, limit], |r| {
                    Ok((person_from_row(r)?, r.get::<_, i64>(8)?))
                })?;
                let mut people = Vec::new();
                for row in rows {
                    let (person, seq) = row?;
                    last = Some(seq);
                    people.push(person);
                }
                Ok((people, last))
            },
            "reading changed people",
        )
    }

    /// The live people's names by PIN (see [`PersonNames`]), read from
    /// the journal once after each change to the list.
    pub fn person_names(&self) -> Result<PersonNames, JournalError> {
        let generation = {
            let cache = self.names.0.lock();
            if let Some(names) = &cache.1 {
                return Ok(names.clone());
            }
            cache.0
        };
        let names: HashMap<String, String> = self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT user_id, name FROM people WHERE deleted = 0 AND name <> ''",
                )?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            },
            "reading people's names",
        )?;
        let names = Arc::new(names);
        let mut cache = self.names.0.lock();
        // A write committed meanwhile: answer, but keep nothing.
        if cache.0 == generation {
            cache.1 = Some(names.clone());
        }
        Ok(names)
    }
}
