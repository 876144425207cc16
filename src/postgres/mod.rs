//! Delivery into PostgreSQL (`--postgres`): every punch that enters the
//! journal (push terminals, collected pull terminals) is inserted into
//! `zk_punches`, in journal order, in batches of one transaction each
//! (`ON CONFLICT DO NOTHING`), and `zk_devices` is kept current, and so is
//! `zk_people` (the staff list without passwords or templates: each
//! change upserted in the journal's order; a new connection upserts the
//! whole list again, so an outage or a restart loses nothing). The
//! delivered position advances only after a commit and is stored in
//! `<devices file>.postgres.json` (as webhook positions are), so outages of
//! the database and restarts of zkserver lose nothing and duplicate
//! nothing. Failures retry with the webhooks' backoff; each change of state
//! is logged once and shown on `/health`.

pub mod errors;
pub mod schema;
pub mod target;
#[cfg(feature = "tls")]
pub mod tls;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::delivery::{RETRY_MAX, RETRY_MIN};
use crate::journal::Journal;
use crate::signal::Shutdown;
pub use target::{Target, TargetError};
pub use writer::{DeviceRow, Failure, RenameRefused};

/// Most punches in one transaction.
pub const BATCH: usize = 5000;
/// Most people in one transaction.
const PEOPLE_BATCH: u64 = 2000;
/// How often terminal states are compared with what `zk_devices` holds.
const DEVICE_CHECK: Duration = Duration::from_secs(1);

/// Longest wait for a connection with its schema checked. The driver's
/// connect timeout covers the TCP connect only: a server that accepts and
/// then never answers would otherwise hold delivery "connecting" forever.
const OPEN_LIMIT: Duration = Duration::from_secs(30);

/// A connection attempt running in its own thread.
type Attempt = Receiver<Result<writer::Link, Failure>>;

/// The terminals' rows as they are now (supplied by the HTTP layer, which
/// knows the registry, the watchers and the push contacts).
pub type DeviceStates = Arc<dyn Fn() -> Vec<DeviceRow> + Send + Sync>;

/// What `--postgres` and `--site` configure.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// The database.
    pub target: Target,
    /// This zkserver's name in the shared tables.
    pub site: String,
    /// Where the delivered position is kept (none: in memory).
    pub state_file: Option<PathBuf>,
    /// `--rename-site-from`: the site name this journal was delivered as
    /// before; its rows in the database are moved to `site`, once.
    pub rename_from: Option<String>,
}

/// The state of the link to the database, as `/health` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Connecting,
    Ok,
    Failing(String),
    /// Delivery stopped: the journal was delivered under another site name.
    Refused(String),
}

/// How often a refused delivery looks again (the journal's recorded site
/// may have changed).
const REFUSED_CHECK: Duration = Duration::from_secs(5);

/// What the journal's recorded site says about delivering as `--site`.
#[derive(Debug, PartialEq, Eq)]
enum SiteDecision {
    /// The recorded site is ours: deliver.
    Deliver,
    /// Recorded under `from`, and `--rename-site-from` asks to move it.
    Rename(String),
    /// Recorded under another name: delivery stays stopped.
    Refuse(String),
}

/// The delivery of the server's journal into PostgreSQL.
pub struct PgDelivery {
    settings: PgSettings,
    journal: Arc<Journal>,
    states: DeviceStates,
    /// The last journal position committed to the database.
    position: AtomicI64,
    delivered: AtomicU64,
    failures: AtomicU64,
    health: Mutex<Health>,
    shutdown: Shutdown,
}

impl PgDelivery {
    /// Delivery of `journal` as `settings` say, resuming at the stored
    /// position, until `shutdown` (a batch in flight is finished or rolled
    /// back); not started.
    pub fn new(
        settings: PgSettings,
        journal: Arc<Journal>,
        states: DeviceStates,
        shutdown: Shutdown,
    ) -> PgDelivery {
        let position = load_position(&settings, &journal);
        PgDelivery {
            settings,
            journal,
            states,
            position: AtomicI64::new(position),
            delivered: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            health: Mutex::new(Health::Connecting),
            shutdown,
        }
    }

    /// Starts the delivery thread.
    pub fn start(self: &Arc<Self>) {
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("postgres".into())
            .spawn(move || me.run());
        if let Err(e) = spawned {
            log::error!("could not start PostgreSQL delivery: {e}");
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    /// `"ok"`, or what is wrong, in words (for `/health`).
    pub fn health(&self) -> String {
        match &*self.health.lock() {
            Health::Ok => "ok".into(),
            Health::Connecting => format!("conectando con {}", self.settings.target.label),
            Health::Failing(message) | Health::Refused(message) => message.clone(),
        }
    }

    /// The state in a word, without connection details (role, host, port,
    /// database and the sentences that name them): `ok`, `conectando` or
    /// `error`, for requests without the API key.
    pub fn public_health(&self) -> &'static str {
        match &*self.health.lock() {
            Health::Ok => "ok",
            Health::Connecting => "conectando",
            Health::Failing(_) | Health::Refused(_) => "error",
        }
    }

    /// Whether the last exchange with the database worked.
    pub fn is_up(&self) -> bool {
        *self.health.lock() == Health::Ok
    }

    /// The last journal position committed to the database.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    /// Punches inserted since start (duplicates the table already had included).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Failed attempts (connections, batches) since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Journal punches not yet in the database: of `device`, or of all.
    pub fn backlog(&self, device: Option<&str>) -> u64 {
        self.journal
            .count_after(device, self.position())
            .unwrap_or_default()
    }

    /// What `GET /devices/{id}/status` shows of the database for `device`.
    pub fn status_of(&self, device: &str) -> Value {
        json!({
            "site": self.settings.site,
            "database": self.settings.target.label,
            "state": self.health(),
            "position": self.position(),
            "backlog": self.backlog(Some(device)),
        })
    }

    /// `status_of` without connection details (role, host, port, database
    /// and the error sentences that name them): for requests without the
    /// API key. The state is `ok`, `conectando` or `error`.
    pub fn public_status_of(&self, device: &str) -> Value {
        json!({
            "site": self.settings.site,
            "state": self.public_health(),
            "position": self.position(),
            "backlog": self.backlog(Some(device)),
        })
    }

    /// The delivery loop: connect, bring the schema up to date, then insert
    /// what the journal stores, until stopped.
    fn run(&self) {
        log::info!(
            "PostgreSQL delivery to {} as site '{}' from journal position {}",
            self.settings.target.label,
            self.settings.site,
            self.position()
        );
        let mut link: Option<writer::Link> = None;
        let mut attempt: Option<Attempt> = None;
        let mut wait = RETRY_MIN;
        let mut seen = self.journal.stored_commits();
        while !self.stopping() {
            // A connection alone proves nothing (a batch the database
            // refuses fails on every new one): only a step that worked
            // resets the backoff and the state.
            let Some(open) = link.as_mut() else {
                if let Some(refusal) = self.refused_locally() {
                    self.refuse(refusal);
                    continue;
                }
                match self.connect(&mut attempt) {
                    Ok(Some(mut opened)) => match self.agree(&mut opened) {
                        Ok(None) => link = Some(opened),
                        Ok(Some(refusal)) => self.refuse(refusal),
                        Err(failure) => self.retry_later(&failure, &mut wait),
                    },
                    Ok(None) => {}
                    Err(failure) => self.retry_later(&failure, &mut wait),
                }
                continue;
            };
            match self.step(open) {
                Ok(busy) => {
                    wait = RETRY_MIN;
                    self.set_health(Health::Ok, None);
                    if !busy {
                        self.journal.wait_stored(&mut seen, DEVICE_CHECK);
                    }
                }
                Err(failure) => {
                    link = None;
                    self.retry_later(&failure, &mut wait);
                }
            }
        }
        log::info!("PostgreSQL delivery stopped");
    }

    /// On a new connection: the site first (a rename moves the rows and
    /// their recorded position), then the position.
    fn agree(&self, link: &mut writer::Link) -> Result<Option<String>, Failure> {
        if let Some(refusal) = self.agree_site(link)? {
            return Ok(Some(refusal));
        }
        self.agree_position(link)?;
        Ok(None)
    }

    /// Starts from the database's own record of this site when it is behind
    /// ours: restored from a backup, a replica promoted before it had the
    /// last batches, or a new database (no record: the whole journal, rows
    /// it already has are ignored by the key).
    fn agree_position(&self, link: &mut writer::Link) -> Result<(), Failure> {
        let ours = self.position();
        let theirs = link.recorded_position()?.unwrap_or(0);
        if theirs < ours {
            log::warn!(
                "PostgreSQL {}: the database has site '{}' up to journal position {theirs}, not {ours} (a new or restored database): delivering again from there",
                self.settings.target.label,
                self.settings.site
            );
            self.position.store(theirs, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The site decision the journal alone can make (no database needed):
    /// a recorded site that is not ours, with no rename asked for.
    fn refused_locally(&self) -> Option<String> {
        let recorded = self.journal.recorded_site().ok()??;
        match decide_site(&self.settings, &recorded) {
            SiteDecision::Refuse(message) => Some(message),
            _ => None,
        }
    }

    /// Checks (and on first delivery records) the site this journal is
    /// delivered as; moves its rows when `--rename-site-from` says so.
    /// `Some(message)`: delivery must stay stopped.
    fn agree_site(&self, link: &mut writer::Link) -> Result<Option<String>, Failure> {
        let journal_failed = |error| Failure::Journal {
            reading: false,
            error,
        };
        let recorded = if let Some(site) = self.journal.recorded_site().map_err(journal_failed)? {
            site
        } else {
            // A journal delivered before sites were recorded: the
            // database knows which site it was delivered as.
            let site = link
                .site_of_journal()?
                .unwrap_or_else(|| self.settings.site.clone());
            self.journal.record_site(&site).map_err(journal_failed)?;
            log::info!(
                "journal {}: delivered to PostgreSQL as site '{site}'",
                self.journal.id()
            );
            site
        };
        match decide_site(&self.settings, &recorded) {
            SiteDecision::Deliver => Ok(None),
            SiteDecision::Refuse(message) => Ok(Some(message)),
            SiteDecision::Rename(from) => {
                if let Err(refused) = link.rename_site(&from)? {
                    return Ok(Some(crate::messages::postgres::rename_refused(&refused)));
                }
                self.journal
                    .record_site(&self.settings.site)
                    .map_err(journal_failed)?;
                self.store_position(self.position());
                Ok(None)
            }
        }
    }

    /// Shows (and logs once) why delivery is stopped, then waits.
    fn refuse(&self, message: String) {
        self.set_health(Health::Refused(message), None);
        self.sleep(REFUSED_CHECK);
    }

    /// Counts and shows a failure, then waits `wait` (doubled for next time).
    fn retry_later(&self, failure: &Failure, wait: &mut Duration) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let message = crate::messages::postgres::failure(failure);
        self.set_health(Health::Failing(message), Some(&failure.detail()));
        log::debug!("PostgreSQL: retrying in {wait:?}");
        self.sleep(*wait);
        *wait = (*wait * 2).min(RETRY_MAX);
    }

    /// Connects and prepares the schema in a helper thread, waiting at most
    /// [`OPEN_LIMIT`] and not past a stop (`Ok(None)`). An attempt still
    /// running then is waited for again next time, never started twice.
    fn connect(&self, attempt: &mut Option<Attempt>) -> Result<Option<writer::Link>, Failure> {
        let rx = match attempt.take() {
            Some(rx) => rx,
            None => self.start_attempt()?,
        };
        let deadline = Instant::now() + OPEN_LIMIT;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(result) => return result.map(Some),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Failure::AttemptEnded);
                }
                Err(RecvTimeoutError::Timeout) if self.stopping() => {
                    *attempt = Some(rx);
                    return Ok(None);
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    *attempt = Some(rx);
                    return Err(Failure::NoAnswer {
                        label: self.settings.target.label.clone(),
                        waited: OPEN_LIMIT,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Starts connecting in a thread of its own.
    fn start_attempt(&self) -> Result<Attempt, Failure> {
        let (tx, rx) = mpsc::channel();
        let settings = self.settings.clone();
        let journal = self.journal.id().to_string();
        std::thread::Builder::new()
            .name("postgres-connect".into())
            .spawn(move || {
                let _ = tx.send(writer::Link::open(&settings, &journal));
            })
            .map_err(Failure::Thread)?;
        Ok(rx)
    }

    /// Upserts the people changed since the connection last wrote them
    /// (all of them on a new connection). True when some were written.
    fn deliver_people(&self, link: &mut writer::Link) -> Result<bool, Failure> {
        let (people, last) = self
            .journal
            .people_changed_after(link.people_position(), PEOPLE_BATCH)
            .map_err(|error| Failure::Journal {
                reading: true,
                error,
            })?;
        let Some(last) = last else {
            return Ok(false);
        };
        link.upsert_people(&people, last)?;
        log::info!(
            "PostgreSQL: {} person(s) of the staff list written to zk_people",
            people.len()
        );
        Ok(true)
    }

    /// One step: keeps `zk_devices` and `zk_people` current, then inserts
    /// the next batch. True when something was delivered (there may be more).
    fn step(&self, link: &mut writer::Link) -> Result<bool, Failure> {
        link.sync_devices(&(self.states)())?;
        if self.deliver_people(link)? {
            return Ok(true);
        }
        let from = self.position();
        let (batch, renames) =
            self.journal
                .delivery_batch(from, BATCH as u64)
                .map_err(|error| Failure::Journal {
                    reading: true,
                    error,
                })?;
        let last = batch
            .last()
            .map(|p| p.seq)
            .max(renames.last().map(|r| r.seq));
        let Some(last) = last else {
            link.check_idle()?;
            return Ok(false);
        };
        let started = Instant::now();
        link.insert(&renames, &batch, last)?;
        self.position.store(last, Ordering::SeqCst);
        self.store_position(last);
        self.delivered
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        log::info!(
            "PostgreSQL: {} punch(es) committed up to journal position {last} in {:?}",
            batch.len(),
            started.elapsed()
        );
        Ok(true)
    }

    /// Records a new state, logging it once when it changed.
    fn set_health(&self, next: Health, detail: Option<&str>) {
        let mut health = self.health.lock();
        if *health == next {
            return;
        }
        let label = &self.settings.target.label;
        match &next {
            Health::Ok => log::info!(
                "PostgreSQL {label}: connected, delivering as site '{}'",
                self.settings.site
            ),
            Health::Failing(message) => log::error!(
                "PostgreSQL {label}: {message} ({}); retrying with backoff",
                detail.unwrap_or_default()
            ),
            Health::Refused(message) => log::error!(
                "PostgreSQL delivery stopped: {message} (journal {} recorded site differs from --site '{}')",
                self.journal.id(),
                self.settings.site
            ),
            Health::Connecting => {}
        }
        *health = next;
    }

    /// Sleeps `wait`, waking early when stopped.
    fn sleep(&self, wait: Duration) {
        self.shutdown.sleep(wait);
    }

    /// What `/metrics` shows of delivery into PostgreSQL.
    pub fn render_metrics(&self, o: &mut String) {
        use crate::metrics::{family, line};
        let rows: [(&str, &str, &str, u64); 5] = [
            (
                "zkserver_postgres_up",
                "gauge",
                "1 while the last exchange with PostgreSQL worked.",
                u64::from(self.is_up()),
            ),
            (
                "zkserver_postgres_delivered_total",
                "counter",
                "Punches committed to PostgreSQL since start.",
                self.delivered(),
            ),
            (
                "zkserver_postgres_failures_total",
                "counter",
                "Failed connections and batches.",
                self.failures(),
            ),
            (
                "zkserver_postgres_backlog",
                "gauge",
                "Journal punches not yet in PostgreSQL.",
                self.backlog(None),
            ),
            (
                "zkserver_postgres_position",
                "gauge",
                "The last journal position committed to PostgreSQL.",
                u64::try_from(self.position()).unwrap_or(0),
            ),
        ];
        for (name, kind, help, value) in rows {
            let n = family(o, name, kind, help);
            line(o, format_args!("{n} {value}"));
        }
    }

    /// Writes the delivered position to the state file (if any).
    fn store_position(&self, seq: i64) {
        let Some(path) = &self.settings.state_file else {
            return;
        };
        let text = format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "postgres": {
                    "database": self.settings.target.label,
                    "site": self.settings.site,
                    "journal": self.journal.id(),
                    "position": seq,
                }
            }))
            .unwrap_or_default()
        );
        if let Err(e) = crate::atomic_file::write(path, text.as_bytes(), 0o600) {
            log::error!("could not write {}: {e}", path.display());
        }
    }
}

/// What delivering as `settings.site` may do, the journal having been
/// delivered as `recorded`.
fn decide_site(settings: &PgSettings, recorded: &str) -> SiteDecision {
    if recorded == settings.site {
        SiteDecision::Deliver
    } else if settings.rename_from.as_deref() == Some(recorded) {
        SiteDecision::Rename(recorded.to_string())
    } else {
        SiteDecision::Refuse(site_refusal(recorded, &settings.site))
    }
}

/// Why a journal delivered as `recorded` is not delivered as `site`, and
/// the two ways out.
fn site_refusal(recorded: &str, site: &str) -> String {
    format!(
        "entrega a PostgreSQL detenida: este diario ya se entregó como sitio '{recorded}' y ahora el sitio es '{site}' (--site o, sin --site, el nombre del equipo); entregarlo con otro nombre duplicaría todas sus marcaciones. Para seguir como '{recorded}', inicie zkserver con --site {recorded}; para renombrar el sitio (sus filas pasan a '{site}'), inicie una vez con --site {site} --rename-site-from {recorded}"
    )
}

/// The stored position for this database, site and journal; 0 (the whole
/// journal, duplicates ignored by the table's key) when there is none, or it
/// is for another database, site or journal (one replaced or copied from
/// another machine: its positions mean nothing here).
fn load_position(settings: &PgSettings, journal: &Journal) -> i64 {
    let Some(path) = &settings.state_file else {
        return 0;
    };
    crate::atomic_file::remove_stale_temps(path);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
        Err(e) => {
            log::error!(
                "could not read {}: {e}; PostgreSQL delivery starts at the journal's beginning",
                path.display()
            );
            return 0;
        }
    };
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let entry = &value["postgres"];
    // After a rename the entry still names the old site until the move.
    let site = entry["site"].as_str();
    let same = entry["database"].as_str() == Some(settings.target.label.as_str())
        && (site == Some(settings.site.as_str())
            || (site.is_some() && site == settings.rename_from.as_deref()))
        && entry["journal"].as_str() == Some(journal.id());
    let Some(position) = entry["position"].as_i64().filter(|_| same) else {
        log::info!(
            "{}: no position for {} as site '{}' from journal {}; delivering the whole journal",
            path.display(),
            settings.target.label,
            settings.site,
            journal.id()
        );
        return 0;
    };
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(site: &str, rename_from: Option<&str>) -> PgSettings {
        PgSettings {
            target: Target::parse("postgresql://zk@127.0.0.1/zk").unwrap(),
            site: site.into(),
            state_file: None,
            rename_from: rename_from.map(str::to_string),
        }
    }

    #[test]
    fn a_journal_is_delivered_under_its_recorded_site_or_renamed_on_request() {
        assert_eq!(
            decide_site(&settings("norte", None), "norte"),
            SiteDecision::Deliver
        );
        let SiteDecision::Refuse(message) = decide_site(&settings("sur", None), "norte") else {
            panic!("a new name is refused");
        };
        assert!(message.contains("'norte'") && message.contains("'sur'"));
        assert!(message.contains("--rename-site-from norte"), "{message}");
        assert_eq!(
            decide_site(&settings("sur", Some("norte")), "norte"),
            SiteDecision::Rename("norte".into())
        );
        // A rename asked from a name the journal never had is no rename.
        assert!(matches!(
            decide_site(&settings("sur", Some("este")), "norte"),
            SiteDecision::Refuse(_)
        ));
    }
}
