//! One connection to the database and what is written through it: batches
//! of punches (one transaction each) and the terminals' rows.

use std::collections::HashMap;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use postgres::Client;

use super::errors;
use super::schema;
use super::target::TlsMode;
use super::PgSettings;
use crate::journal::{DeviceRename, Person, StoredPunch};

/// A terminal's row of `zk_devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Device id (the key of the devices file).
    pub device_id: String,
    /// Its name.
    pub name: String,
    /// `pull` or `push`.
    pub mode: String,
    /// A push terminal's serial number.
    pub serial: Option<String>,
    /// Whether it answers (`None`: not known, e.g. a pull terminal nobody reads).
    pub online: Option<bool>,
    /// When zkserver last heard from it, if known.
    pub last_seen: Option<DateTime<Local>>,
}

/// A row's `last_seen` is rewritten when it moved this much.
const LAST_SEEN_STEP: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// An idle connection is checked this often (so that `/health` tells when
/// the database went away while there was nothing to write).
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a step of delivery failed: [`crate::messages::postgres::failure`]
/// says it to people, [`Failure::detail`] to the log.
#[derive(Debug)]
pub enum Failure {
    /// The database, or the way to it, failed.
    Database {
        /// The driver's error.
        error: postgres::Error,
        /// The database it was about.
        target: Box<super::Target>,
    },
    /// The schema could not be brought up to date.
    Schema {
        /// What failed.
        error: schema::SchemaError,
        /// The database it was about.
        target: Box<super::Target>,
    },
    /// The TLS connector could not be made.
    #[cfg(feature = "tls")]
    Tls(super::tls::TlsError),
    /// A TLS mode in a build without TLS.
    #[cfg(not(feature = "tls"))]
    NoTls,
    /// The connecting thread ended without an answer.
    AttemptEnded,
    /// No answer in time after the TCP connect, from the database at `label`.
    NoAnswer {
        /// `user@host:port/db`.
        label: String,
        /// How long it was waited for.
        waited: std::time::Duration,
    },
    /// The connecting thread could not start.
    Thread(std::io::Error),
    /// The journal could not be read (for a batch) or written (its site).
    Journal {
        /// Whether it was a read of a batch.
        reading: bool,
        /// What failed.
        error: crate::journal::JournalError,
    },
}

impl Failure {
    /// The technical detail, for the log.
    pub fn detail(&self) -> String {
        match self {
            Failure::Database { error, .. } => errors::chain_of(error),
            Failure::Schema { error, .. } => errors::schema_detail(error),
            #[cfg(feature = "tls")]
            Failure::Tls(e) => crate::messages::postgres::tls_error(e),
            #[cfg(not(feature = "tls"))]
            Failure::NoTls => crate::messages::postgres::failure(self),
            Failure::AttemptEnded => "connection thread ended".into(),
            Failure::NoAnswer { waited, .. } => {
                format!("no answer within {waited:?} after the TCP connect")
            }
            Failure::Thread(e) => e.to_string(),
            Failure::Journal { error, .. } => error.to_string(),
        }
    }
}

/// Why a site rename (`--rename-site-from`) was refused, the database
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenameRefused {
    /// The new name has another zkserver's rows.
    NameTaken {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Another journal delivers as the old name now.
    OldNameInUse {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
}

/// An open connection with the schema checked.
pub struct Link {
    client: Client,
    site: String,
    /// The identity of the journal delivered from (see `Journal::id`).
    journal: String,
    target: super::Target,
    /// What `zk_devices` holds for this site, as last written.
    written: HashMap<String, DeviceRow>,
    /// Device names by id (for punches).
    names: HashMap<String, String>,
    /// The staff list's outbox position written through this connection
    /// (0 on a new one: the whole list is upserted again, idempotently).
    people_position: i64,
    /// Whether the rows were written once through this connection.
    synced: bool,
    /// When the database last answered.
    answered: std::time::Instant,
}

const INSERT_PUNCHES: &str = "INSERT INTO zk_punches
       (site, device_id, user_id, punched_at, status, punch, workcode, device_name, received_at)
     SELECT $1, d, u, t::timestamp, s, p, w, n, r::timestamptz
       FROM unnest($2::text[], $3::text[], $4::text[], $5::int2[], $6::int2[], $7::text[],
                   $8::text[], $9::text[]) AS x (d, u, t, s, p, w, n, r)
     ON CONFLICT DO NOTHING";

/// People of the staff list: the row of each PIN replaced by its latest
/// state (areas travel as JSON text, one array per row). No password, no
/// template: the table has no column for them.
const UPSERT_PEOPLE: &str = "INSERT INTO zk_people
       (site, user_id, name, card, areas, deleted, updated_at)
     SELECT $1, u, n, c, ARRAY(SELECT json_array_elements_text(a::json)), d, t::timestamptz
       FROM unnest($2::text[], $3::text[], $4::int8[], $5::text[], $6::bool[], $7::text[])
            AS x (u, n, c, a, d, t)
     ON CONFLICT (site, user_id) DO UPDATE SET
       name = EXCLUDED.name, card = EXCLUDED.card, areas = EXCLUDED.areas,
       deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at";

const RECORD_POSITION: &str = "INSERT INTO zk_sites (site, journal, position, updated_at)
     VALUES ($1, $2, $3, now())
     ON CONFLICT (site) DO UPDATE SET
       journal = EXCLUDED.journal, position = EXCLUDED.position, updated_at = now()";

/// A terminal's rows under its old id move to its new id (a row the new id
/// already has stays where it is: UPDATE alone, no DELETE right needed).
const MOVE_DEVICE_PUNCHES: &str = "UPDATE zk_punches o SET device_id = $3
      WHERE site = $1 AND device_id = $2 AND NOT EXISTS
        (SELECT 1 FROM zk_punches n WHERE n.site = $1 AND n.device_id = $3
            AND n.user_id = o.user_id AND n.punched_at = o.punched_at)";

const MOVE_DEVICE_ROW: &str = "UPDATE zk_devices SET device_id = $3
      WHERE site = $1 AND device_id = $2 AND NOT EXISTS
        (SELECT 1 FROM zk_devices n WHERE n.site = $1 AND n.device_id = $3)";

const UPSERT_DEVICE: &str = "INSERT INTO zk_devices
       (site, device_id, name, mode, serial, online, last_seen, registered, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7::text::timestamptz, true, now())
     ON CONFLICT (site, device_id) DO UPDATE SET
       name = EXCLUDED.name, mode = EXCLUDED.mode, serial = EXCLUDED.serial,
       online = EXCLUDED.online,
       last_seen = coalesce(EXCLUDED.last_seen, zk_devices.last_seen),
       registered = true, updated_at = now()";

const UNREGISTER_OTHERS: &str = "UPDATE zk_devices
        SET registered = false, online = NULL, updated_at = now()
      WHERE site = $1 AND registered AND NOT (device_id = ANY ($2::text[]))";

impl Link {
    /// Connects to the target and brings its schema up to date.
    pub fn open(settings: &PgSettings, journal: &str) -> Result<Link, Failure> {
        let target = &settings.target;
        let mut client = connect(target)?;
        // A batch never waits without end: on a lock (another session's
        // ALTER, say) or on a server too busy to answer.
        client
            .batch_execute("SET lock_timeout = '60s'; SET statement_timeout = '120s'")
            .map_err(|error| Failure::Database {
                error,
                target: Box::new(target.clone()),
            })?;
        let before = schema::prepare(&mut client).map_err(|error| Failure::Schema {
            error,
            target: Box::new(target.clone()),
        })?;
        if before < schema::latest() {
            log::info!(
                "PostgreSQL {}: schema brought from version {before} to {}",
                target.label,
                schema::latest()
            );
        }
        Ok(Link {
            client,
            site: settings.site.clone(),
            journal: journal.to_string(),
            target: target.clone(),
            written: HashMap::new(),
            names: HashMap::new(),
            people_position: 0,
            synced: false,
            answered: std::time::Instant::now(),
        })
    }

    /// Checks that the database still answers, when nothing was exchanged
    /// for [`PING_EVERY`].
    pub fn check_idle(&mut self) -> Result<(), Failure> {
        if self.answered.elapsed() < PING_EVERY {
            return Ok(());
        }
        self.client
            .is_valid(PING_EVERY)
            .map_err(|e| self.failure(e))?;
        self.answered = std::time::Instant::now();
        Ok(())
    }

    fn failure(&self, error: postgres::Error) -> Failure {
        Failure::Database {
            error,
            target: Box::new(self.target.clone()),
        }
    }

    /// Applies `renames` (a terminal's rows move to its new id), inserts
    /// `batch` and records `position` (their last journal position) as
    /// this site's, in one transaction; returns once it is committed.
    pub fn insert(
        &mut self,
        renames: &[DeviceRename],
        batch: &[StoredPunch],
        position: i64,
    ) -> Result<(), Failure> {
        let mut columns = Columns::default();
        for p in batch {
            let name = self.names.get(&p.device).unwrap_or(&p.device);
            columns.push(p, name);
        }
        let result = (|| {
            let mut tx = self.client.transaction()?;
            let mut moved = Vec::new();
            for r in renames {
                let punches = tx.execute(MOVE_DEVICE_PUNCHES, &[&self.site, &r.old, &r.new])?;
                tx.execute(MOVE_DEVICE_ROW, &[&self.site, &r.old, &r.new])?;
                moved.push((r, punches));
            }
            tx.execute(
                INSERT_PUNCHES,
                &[
                    &self.site,
                    &columns.devices,
                    &columns.users,
                    &columns.times,
                    &columns.statuses,
                    &columns.punches,
                    &columns.workcodes,
                    &columns.names,
                    &columns.received,
                ],
            )?;
            tx.execute(RECORD_POSITION, &[&self.site, &self.journal, &position])?;
            tx.commit()?;
            Ok(moved)
        })();
        let moved = result.map_err(|e| self.failure(e))?;
        for (r, punches) in moved {
            log::warn!(
                "PostgreSQL {}: device '{}' is now '{}' (same terminal, SN {}): {punches} row(s) of site '{}' moved to the new id",
                self.target.label,
                r.old,
                r.new,
                r.serial,
                self.site
            );
        }
        self.answered = std::time::Instant::now();
        Ok(())
    }

    /// The position in this journal the database says this site delivered
    /// (`None`: none recorded, e.g. a new database, or one recorded from
    /// another journal).
    pub fn recorded_position(&mut self) -> Result<Option<i64>, Failure> {
        let row = self.client.query_opt(
            "SELECT position FROM zk_sites WHERE site = $1 AND journal = $2",
            &[&self.site, &self.journal],
        );
        row.map(|r| r.map(|r| r.get(0)))
            .map_err(|e| self.failure(e))
    }

    /// The site the database last recorded this journal's delivery under,
    /// if any (for a journal that did not record it itself).
    pub fn site_of_journal(&mut self) -> Result<Option<String>, Failure> {
        let row = self.client.query_opt(
            "SELECT site FROM zk_sites WHERE journal = $1 ORDER BY updated_at DESC LIMIT 1",
            &[&self.journal],
        );
        row.map(|r| r.map(|r| r.get(0)))
            .map_err(|e| self.failure(e))
    }

    /// Moves site `from`'s rows (punches, terminals, position) to this
    /// link's site, in one transaction. `Ok(Err(refused))`: refused, the
    /// database unchanged (the new name is another zkserver's, or `from`
    /// is delivered from another journal now).
    pub fn rename_site(&mut self, from: &str) -> Result<Result<(), RenameRefused>, Failure> {
        let (to, journal) = (self.site.clone(), self.journal.clone());
        let result = (|| {
            let mut tx = self.client.transaction()?;
            // Two renames at once must not both see the names free.
            tx.execute("SELECT pg_advisory_xact_lock(7373657272)", &[])?;
            let owner = |tx: &mut postgres::Transaction<'_>, site: &str| {
                tx.query_opt("SELECT journal FROM zk_sites WHERE site = $1", &[&site])
                    .map(|r| r.map(|r| r.get::<_, String>(0)))
            };
            let to_owner = owner(&mut tx, &to)?;
            let to_used = match &to_owner {
                Some(j) => j != &journal,
                None => tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM zk_punches WHERE site = $1)
                             OR EXISTS (SELECT 1 FROM zk_devices WHERE site = $1)",
                        &[&to],
                    )?
                    .get(0),
            };
            if to_used {
                return Ok(Err(RenameRefused::NameTaken {
                    from: from.to_string(),
                    to: to.clone(),
                }));
            }
            if owner(&mut tx, from)?.is_some_and(|j| j != journal) {
                return Ok(Err(RenameRefused::OldNameInUse {
                    from: from.to_string(),
                    to: to.clone(),
                }));
            }
            // A row already under the new name (a rename cut short, run
            // again) is kept; only UPDATE is needed (the least-privilege role).
            let punches = tx.execute(
                "UPDATE zk_punches o SET site = $2 WHERE site = $1 AND NOT EXISTS
                   (SELECT 1 FROM zk_punches n WHERE n.site = $2 AND n.device_id = o.device_id
                       AND n.user_id = o.user_id AND n.punched_at = o.punched_at)",
                &[&from, &to],
            )?;
            let devices = tx.execute(
                "UPDATE zk_devices o SET site = $2 WHERE site = $1 AND NOT EXISTS
                   (SELECT 1 FROM zk_devices n WHERE n.site = $2 AND n.device_id = o.device_id)",
                &[&from, &to],
            )?;
            tx.execute(
                "UPDATE zk_people o SET site = $2 WHERE site = $1 AND NOT EXISTS
                   (SELECT 1 FROM zk_people n WHERE n.site = $2 AND n.user_id = o.user_id)",
                &[&from, &to],
            )?;
            tx.execute(
                "UPDATE zk_sites SET site = $2, updated_at = now() WHERE site = $1
                   AND NOT EXISTS (SELECT 1 FROM zk_sites WHERE site = $2)",
                &[&from, &to],
            )?;
            tx.commit()?;
            Ok(Ok((punches, devices)))
        })();
        match result.map_err(|e| self.failure(e))? {
            Ok((punches, devices)) => {
                log::warn!(
                    "PostgreSQL {}: site '{from}' renamed to '{to}' (--rename-site-from): {punches} punch row(s) and {devices} terminal row(s) moved in one transaction",
                    self.target.label
                );
                self.answered = std::time::Instant::now();
                Ok(Ok(()))
            }
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// The staff list's outbox position written through this connection.
    pub fn people_position(&self) -> i64 {
        self.people_position
    }

    /// Upserts `people` (their latest state) into `zk_people` in one
    /// transaction and remembers `position` as written.
    pub fn upsert_people(&mut self, people: &[Person], position: i64) -> Result<(), Failure> {
        let mut columns = PeopleColumns::default();
        for p in people {
            columns.push(p);
        }
        let result = (|| {
            let mut tx = self.client.transaction()?;
            tx.execute(
                UPSERT_PEOPLE,
                &[
                    &self.site,
                    &columns.users,
                    &columns.names,
                    &columns.cards,
                    &columns.areas,
                    &columns.deleted,
                    &columns.updated,
                ],
            )?;
            tx.commit()
        })();
        result.map_err(|e| self.failure(e))?;
        self.people_position = position;
        self.answered = std::time::Instant::now();
        Ok(())
    }

    /// Writes the rows of `devices` that changed since last written, and
    /// marks this site's other rows as no longer registered.
    pub fn sync_devices(&mut self, devices: &[DeviceRow]) -> Result<(), Failure> {
        let changed: Vec<&DeviceRow> = devices
            .iter()
            .filter(|d| needs_write(self.written.get(&d.device_id), d))
            .collect();
        let gone = self
            .written
            .keys()
            .any(|id| !devices.iter().any(|d| &d.device_id == id));
        if changed.is_empty() && !gone && self.synced {
            return Ok(());
        }
        let ids: Vec<String> = devices.iter().map(|d| d.device_id.clone()).collect();
        let result = (|| {
            let mut tx = self.client.transaction()?;
            for d in &changed {
                let last_seen = d.last_seen.map(|t| t.to_rfc3339());
                tx.execute(
                    UPSERT_DEVICE,
                    &[
                        &self.site,
                        &clean(&d.device_id),
                        &clean(&d.name),
                        &d.mode,
                        &d.serial.as_deref().map(clean),
                        &d.online,
                        &last_seen,
                    ],
                )?;
            }
            tx.execute(UNREGISTER_OTHERS, &[&self.site, &ids])?;
            tx.commit()
        })();
        result.map_err(|e| self.failure(e))?;
        self.written = devices
            .iter()
            .map(|d| {
                let mut kept = d.clone();
                // A row not rewritten keeps the last_seen it was written with.
                if !changed.iter().any(|c| c.device_id == d.device_id) {
                    kept.last_seen = self
                        .written
                        .get(&d.device_id)
                        .and_then(|w| w.last_seen)
                        .or(d.last_seen);
                }
                (d.device_id.clone(), kept)
            })
            .collect();
        self.names = devices
            .iter()
            .map(|d| (d.device_id.clone(), d.name.clone()))
            .collect();
        self.synced = true;
        Ok(())
    }
}

/// Whether `now` differs from what was `written` enough to rewrite it.
fn needs_write(written: Option<&DeviceRow>, now: &DeviceRow) -> bool {
    let Some(w) = written else {
        return true;
    };
    let moved = match (w.last_seen, now.last_seen) {
        (Some(a), Some(b)) => b - a >= LAST_SEEN_STEP,
        (None, Some(_)) => true,
        _ => false,
    };
    (&w.name, &w.mode, &w.serial, w.online) != (&now.name, &now.mode, &now.serial, now.online)
        || moved
}

/// Connects with the TLS the target asks for.
fn connect(target: &super::Target) -> Result<Client, Failure> {
    let failed = |error: postgres::Error| Failure::Database {
        error,
        target: Box::new(target.clone()),
    };
    if target.tls == TlsMode::Disable {
        return target.config.connect(postgres::NoTls).map_err(failed);
    }
    #[cfg(feature = "tls")]
    {
        let tls = super::tls::RustlsConnect::new(target).map_err(Failure::Tls)?;
        target.config.connect(tls).map_err(failed)
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(Failure::NoTls)
    }
}

/// PostgreSQL text cannot hold NUL: a terminal's stray NUL becomes U+FFFD
/// (a batch that can never be inserted would stop delivery for good).
fn clean(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// A batch as one array per column (one `unnest` insert).
#[derive(Default)]
struct Columns {
    devices: Vec<String>,
    users: Vec<String>,
    times: Vec<String>,
    statuses: Vec<i16>,
    punches: Vec<i16>,
    workcodes: Vec<Option<String>>,
    names: Vec<String>,
    received: Vec<String>,
}

impl Columns {
    fn push(&mut self, p: &StoredPunch, name: &str) {
        self.devices.push(clean(&p.device));
        self.users.push(clean(&p.user_id));
        self.times.push(p.time.to_string());
        self.statuses.push(i16::from(p.status));
        self.punches.push(i16::from(p.punch));
        self.workcodes.push(p.workcode.as_deref().map(clean));
        self.names.push(clean(name));
        self.received.push(local_to_rfc3339(&p.received_at.naive()));
    }
}

/// People as one array per column (one `unnest` upsert); what a row of
/// `zk_people` holds and nothing more.
#[derive(Default)]
struct PeopleColumns {
    users: Vec<String>,
    names: Vec<String>,
    cards: Vec<Option<i64>>,
    areas: Vec<String>,
    deleted: Vec<bool>,
    updated: Vec<String>,
}

impl PeopleColumns {
    fn push(&mut self, p: &Person) {
        self.users.push(clean(&p.user_id));
        self.names.push(clean(&p.name));
        self.cards.push(p.card.and_then(|c| i64::try_from(c).ok()));
        let areas: Vec<String> = p.areas.iter().map(|a| clean(a)).collect();
        self.areas
            .push(serde_json::to_string(&areas).unwrap_or_else(|_| "[]".into()));
        self.deleted.push(p.is_deleted());
        self.updated.push(local_to_rfc3339(&p.updated_at.naive()));
    }
}

/// A journal time (this machine's wall clock) with this machine's UTC
/// offset, for a `timestamptz` column.
fn local_to_rfc3339(naive: &NaiveDateTime) -> String {
    Local
        .from_local_datetime(naive)
        .earliest()
        .map_or_else(|| Local::now().to_rfc3339(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(online: Option<bool>, seen: Option<i64>) -> DeviceRow {
        DeviceRow {
            device_id: "a".into(),
            name: "A".into(),
            mode: "push".into(),
            serial: Some("SN".into()),
            online,
            last_seen: seen.map(|s| Local.timestamp_opt(s, 0).unwrap()),
        }
    }

    #[test]
    fn rows_are_rewritten_on_changes_not_on_every_contact() {
        assert!(needs_write(None, &row(None, None)));
        let w = row(Some(true), Some(1000));
        assert!(!needs_write(Some(&w), &row(Some(true), Some(1010))));
        assert!(needs_write(Some(&w), &row(Some(true), Some(1060))));
        assert!(needs_write(Some(&w), &row(Some(false), Some(1010))));
        let mut renamed = row(Some(true), Some(1000));
        renamed.name = "B".into();
        assert!(needs_write(Some(&w), &renamed));
    }

    #[test]
    fn text_is_made_storable() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        let t = local_to_rfc3339(&crate::time::parse("2026-03-06 09:15:23").unwrap());
        assert!(t.starts_with("2026-03-06T09:15:23"), "{t}");
    }
}
