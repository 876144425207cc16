//! Online and offline for push terminals. A push terminal has no link to
//! watch: it is online while it keeps in contact (see
//! [`Receiver::is_online`]). This thread looks at every push device's last
//! contact once a second and, when the answer changes, sets the device's
//! live status, which event streams send as `event: status`.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::receiver::Receiver;
use crate::live::{Live, Status};
use crate::registry::Registry;

/// How often last contacts are looked at.
const TICK: Duration = Duration::from_secs(1);

/// The running presence thread; the server's stop (the live runtime's
/// [`crate::signal::Shutdown`]) wakes it at once.
pub struct Presence {
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Presence {
    /// Starts following the push devices of `registry` until `live` stops.
    pub fn start(receiver: Arc<Receiver>, registry: Arc<Registry>, live: Arc<Live>) -> Presence {
        let thread = std::thread::Builder::new()
            .name("push-presence".into())
            .spawn(move || {
                let mut known: HashMap<String, bool> = HashMap::new();
                loop {
                    look(&receiver, &registry, &live, &mut known);
                    if live.shutdown().sleep(TICK) {
                        break;
                    }
                }
            })
            .ok();
        if thread.is_none() {
            log::error!("could not start the push presence thread: no online/offline events");
        }
        Presence {
            thread: Mutex::new(thread),
        }
    }

    /// Waits for the thread to end, once the server's stop was given
    /// (idempotent).
    pub fn join(&self) {
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// One look: a status for every push device whose state changed (and for
/// each the first time it is seen).
fn look(receiver: &Receiver, registry: &Registry, live: &Live, known: &mut HashMap<String, bool>) {
    let mut changed = false;
    for device in registry.all().iter().filter(|d| d.config.is_push()) {
        let online = receiver
            .contact_of(device)
            .is_some_and(|c| receiver.is_online(&c));
        if known.insert(device.id.clone(), online) == Some(online) {
            continue;
        }
        log::info!(
            "push terminal '{}' is {}",
            device.id,
            if online { "online" } else { "offline" }
        );
        let status = Status {
            online,
            error: None,
        };
        changed |= live.device(&device.id).feed.set_status(status);
    }
    if changed {
        live.notify();
    }
}
