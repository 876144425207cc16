//! The services: what the server runs besides answering requests. They
//! start and stop every background part — webhook and PostgreSQL delivery,
//! the push receiver, the collectors, push presence and the command expiry
//! sweep — under one [`Shutdown`] token and one [`Changes`] signal, and
//! offer the use cases the API calls (register a device, clear a log
//! safely, …). `http` parses, calls these and answers; it starts nothing.

mod attendance;
mod devices;
pub mod people_import;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use serde_json::Value;

pub use crate::collect::run::ReadError;
pub use crate::collect::CollectSettings;
pub use crate::delivery::DeliveryStats;
pub use crate::postgres::PgSettings;
pub use attendance::Cleared;
pub use devices::Touched;

use crate::collect::run::Collector;
use crate::delivery::Delivery;
use crate::journal::Journal;
use crate::live::Live;
use crate::ops::{Budget, Terminals};
use crate::people::engine::PeopleSync;
use crate::postgres::PgDelivery;
use crate::push::commands::ExpirySweep;
use crate::push::presence::Presence;
use crate::push::receiver::{PushSettings, Receiver};
use crate::registry::Registry;
use crate::signal::{Changes, Shutdown};

/// How the services are set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Waits and limits of terminal operations.
    pub budget: Budget,
    /// How often a watched terminal's log is read without an event.
    pub reconcile_interval: Duration,
    /// Webhook for every terminal without its own (`--webhook`).
    pub webhook: Option<String>,
    /// Where delivered webhook positions are kept (none: in memory).
    pub state_file: Option<PathBuf>,
    /// The `--demo` terminals (`POST /demo/punch`); none otherwise.
    pub demo: Option<Arc<crate::demo::Terminals>>,
    /// The punch journal (none: push terminals and `source=journal` are off).
    pub journal: Option<Arc<Journal>>,
    /// Where every push terminal's `/iclock` exchanges are relayed (`--push-forward`).
    pub push_forward: Option<String>,
    /// The push receiver's settings (used when a journal is open).
    pub push: PushSettings,
    /// Which pull terminals are collected into the journal, and how often.
    pub collect: CollectSettings,
    /// Delivery into PostgreSQL (`--postgres`; needs the journal).
    pub postgres: Option<PgSettings>,
    /// Between two full checks of a pull terminal against the staff list
    /// (`--people-interval`).
    pub people_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            budget: Budget::default(),
            reconcile_interval: Duration::from_secs(60),
            webhook: None,
            state_file: None,
            demo: None,
            journal: None,
            push_forward: None,
            push: PushSettings::default(),
            collect: CollectSettings::default(),
            postgres: None,
            people_interval: crate::people::engine::DEFAULT_INTERVAL,
        }
    }
}

/// The running services of one server.
pub struct Services {
    /// The configured terminals.
    pub registry: Arc<Registry>,
    /// Runtime state of the terminals and the limits of their operations.
    pub terminals: Arc<Terminals>,
    /// Live punches: watchers and their feeds.
    pub live: Arc<Live>,
    /// The `--demo` terminals, if started with `--demo`.
    pub demo: Option<Arc<crate::demo::Terminals>>,
    /// The punch journal, if one is open.
    pub journal: Option<Arc<Journal>>,
    /// Where every push terminal's `/iclock` exchanges are relayed (`--push-forward`).
    pub push_forward: Option<String>,
    /// The push receiver (`/iclock`), when a journal is open.
    pub push: Option<Arc<Receiver>>,
    /// The staff list's sync engine for pull terminals, when a journal is open.
    pub people: Option<Arc<PeopleSync>>,
    delivery: Arc<Delivery>,
    collect: CollectSettings,
    collector: Option<Arc<Collector>>,
    postgres: Option<Arc<PgDelivery>>,
    presence: Option<Presence>,
    command_expiry: Option<ExpirySweep>,
    shutdown: Shutdown,
}

impl Services {
    /// Starts every background part over `registry` as `settings` say.
    pub fn start(registry: Arc<Registry>, settings: Settings) -> Arc<Services> {
        // The journal's signal, when there is one, is the server's one
        // change signal: stored punches wake streams and deliveries.
        let changes = settings
            .journal
            .as_ref()
            .map_or_else(Changes::new, |j| j.changes());
        let shutdown = Shutdown::new(&changes);
        let terminals = Arc::new(Terminals::new(settings.budget));
        let live = Live::new(
            registry.clone(),
            terminals.clone(),
            settings.reconcile_interval,
            shutdown.clone(),
            changes,
        );
        if let Some(journal) = &settings.journal {
            live.follow_journal(journal.clone());
        }
        let delivery = Delivery::new(live.clone(), settings.state_file, settings.webhook);
        delivery.start();
        let command_expiry = settings.journal.clone().map(|journal| {
            ExpirySweep::start(
                journal,
                crate::push::commands::SWEEP_INTERVAL,
                Arc::new(crate::time::now),
                shutdown.clone(),
            )
        });
        let push = settings.journal.as_ref().map(|j| {
            Arc::new(Receiver::new(
                j.clone(),
                registry.clone(),
                settings.push.clone(),
            ))
        });
        let collector = settings.journal.as_ref().map(|journal| {
            Collector::start(
                registry.clone(),
                terminals.clone(),
                live.clone(),
                journal.clone(),
                settings.collect,
            )
        });
        let people = settings.journal.as_ref().map(|journal| {
            PeopleSync::start(
                journal.clone(),
                terminals.clone(),
                registry.clone(),
                settings.people_interval,
                shutdown.clone(),
            )
        });
        let presence = push
            .as_ref()
            .map(|receiver| Presence::start(receiver.clone(), registry.clone(), live.clone()));
        let postgres = settings
            .postgres
            .zip(settings.journal.clone())
            .map(|(pg, journal)| {
                let states = device_states(&registry, &live, push.clone(), collector.clone());
                let delivery = Arc::new(PgDelivery::new(pg, journal, states, shutdown.clone()));
                delivery.start();
                delivery
            });
        Arc::new(Services {
            registry,
            terminals,
            live,
            demo: settings.demo,
            journal: settings.journal,
            push_forward: settings.push_forward,
            push,
            people,
            delivery,
            collect: settings.collect,
            collector,
            postgres,
            presence,
            command_expiry,
            shutdown,
        })
    }

    /// Stops every background part: streams, watchers, webhooks and
    /// PostgreSQL end, the sweep and presence threads are waited for, and
    /// the push contacts are saved (idempotent; a graceful stop calls it
    /// before waiting for requests in flight).
    pub fn stop(&self) {
        if self.shutdown.is_stopping() {
            return;
        }
        self.shutdown.stop();
        if let Some(people) = &self.people {
            people.stop();
        }
        if let Some(sweep) = &self.command_expiry {
            sweep.join();
        }
        if let Some(presence) = &self.presence {
            presence.join();
        }
        if let Some(push) = &self.push {
            push.save(true);
        }
    }

    /// Whether pull terminal `device`'s punches are collected.
    pub fn collected(&self, device: &crate::registry::Device) -> bool {
        self.collect.collected(device)
    }

    /// Whether `device`'s punches are kept in the journal (push terminals,
    /// collected pull terminals).
    pub fn journaled(&self, device: &crate::registry::Device) -> bool {
        self.collect.journaled(device)
    }

    /// Each webhook's counters with its device id (for `/metrics`).
    pub fn webhook_stats(&self) -> Vec<(Arc<DeliveryStats>, String)> {
        self.delivery
            .ids()
            .into_iter()
            .map(|id| (self.delivery.stats(&id), id))
            .collect()
    }

    /// Where PostgreSQL delivery stands in words (with `--postgres`): the
    /// connection named when `detailed`, else only ok/conectando/error.
    pub fn database_health(&self, detailed: bool) -> Option<String> {
        let postgres = self.postgres.as_ref()?;
        Some(if detailed {
            postgres.health()
        } else {
            postgres.public_health().to_string()
        })
    }

    /// Where PostgreSQL delivery stands for terminal `id` (with
    /// `--postgres`); the connection only when `detailed`.
    pub fn database_status_of(&self, id: &str, detailed: bool) -> Option<Value> {
        let postgres = self.postgres.as_ref()?;
        Some(if detailed {
            postgres.status_of(id)
        } else {
            postgres.public_status_of(id)
        })
    }

    /// What `/metrics` shows of delivery into PostgreSQL (with `--postgres`).
    pub fn database_metrics(&self, out: &mut String) {
        if let Some(postgres) = &self.postgres {
            postgres.render_metrics(out);
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The terminals' rows for `zk_devices`: registry entries with what the
/// watchers (pull) and the push contacts know of them.
fn device_states(
    registry: &Arc<Registry>,
    live: &Arc<Live>,
    push: Option<Arc<Receiver>>,
    collector: Option<Arc<Collector>>,
) -> crate::postgres::DeviceStates {
    let (registry, live) = (registry.clone(), live.clone());
    Arc::new(move || {
        registry
            .all()
            .iter()
            .map(|d| {
                let (online, last_seen) = if d.config.is_push() {
                    let contact = push.as_ref().and_then(|p| Some((p, p.contact_of(d)?)));
                    match contact {
                        Some((p, c)) => (
                            Some(p.is_online(&c)),
                            chrono::Local.from_local_datetime(&c.last_seen).earliest(),
                        ),
                        None => (None, None),
                    }
                } else if let Some(read) = collector.as_ref().and_then(|c| c.last_read(&d.id)) {
                    (Some(read.ok), read.last_ok)
                } else {
                    let online = live.status_of(&d.id).map(|s| s.online);
                    let seen = online.filter(|o| *o).map(|_| chrono::Local::now());
                    (online, seen)
                };
                crate::postgres::DeviceRow {
                    device_id: d.id.clone(),
                    name: d.config.name.clone(),
                    mode: d.config.mode.as_str().to_string(),
                    serial: d.config.sn.clone(),
                    online,
                    last_seen,
                }
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A journal in a folder of its own, removed afterwards.
    struct Scratch(PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn one_stop_ends_every_background_part_at_once_and_stored_punches_wake_waiters() {
        let dir =
            Scratch(std::env::temp_dir().join(format!("zkserver-services-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).expect("temp dir");
        let journal = Arc::new(Journal::open(dir.0.join("punches.db")).expect("journal"));
        let settings = Settings {
            journal: Some(journal.clone()),
            ..Settings::default()
        };
        let services = Services::start(Arc::new(Registry::in_memory(vec![])), settings);
        assert!(services.push.is_some() && services.presence.is_some());
        // The journal's commits wake whoever waits on the live runtime.
        let mut seen = services.live.changes();
        let punch = crate::journal::NewPunch {
            user_id: "7".into(),
            time: chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .expect("a date"),
            status: 0,
            punch: 0,
            workcode: None,
        };
        let now = crate::time::now();
        journal.insert_punches("a", &[punch], now).expect("stored");
        let started = Instant::now();
        services
            .live
            .wait_change(&mut seen, Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(20), "no wake-up");
        let stopping = Instant::now();
        services.stop();
        services.stop();
        assert!(services.live.stopping());
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "the stop waited for a sleeping part"
        );
    }
}
