//! Last contact of each push terminal (by serial): when, from where, with
//! what firmware, and what its options/INFO reported. Kept in memory — a
//! poll never writes to disk (a Raspberry Pi's SD card wears out) — and
//! saved at most every few minutes and at shutdown to a small JSON file
//! beside the journal; pending serials are refreshed in the journal then.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use super::Exchange;
use crate::journal::{Journal, PendingSighting};
use crate::push::protocol::DeviceInfo;

/// Most options kept per terminal (a hostile upload cannot grow memory).
const MAX_OPTIONS: usize = 64;
/// Longest option key or value kept.
const MAX_OPTION_LEN: usize = 128;
/// Most serials remembered (registered or pending; the oldest go first).
const MAX_CONTACTS: usize = 4096;

/// What is known of one terminal's last contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Serial number.
    pub sn: String,
    /// Address of the last request.
    pub ip: String,
    /// `User-Agent` of the last request.
    pub user_agent: String,
    /// `pushver` of the last handshake.
    pub pushver: Option<String>,
    /// `pushcommkey` of the last handshake (opaque, recorded only).
    pub push_comm_key: Option<String>,
    /// When it was last heard from (monotonic; none when only loaded from
    /// disk, too long ago to count).
    pub seen: Option<Instant>,
    /// The server's wall time of the last contact.
    pub last_seen: NaiveDateTime,
    /// The server's wall time of the first contact (this run or saved).
    pub first_seen: NaiveDateTime,
    /// `key=value` options from `table=options` uploads and INFO replies.
    pub options: BTreeMap<String, String>,
    /// The last `INFO=` of a command poll.
    pub info: Option<DeviceInfo>,
}

impl Contact {
    /// A terminal first heard from at `now`: nothing known of it yet.
    pub fn first(sn: &str, now: NaiveDateTime) -> Contact {
        Contact {
            sn: sn.to_string(),
            ip: String::new(),
            user_agent: String::new(),
            pushver: None,
            push_comm_key: None,
            seen: None,
            last_seen: now,
            first_seen: now,
            options: BTreeMap::new(),
            info: None,
        }
    }

    /// Time since the last contact (`None`: not this run).
    pub fn age(&self) -> Option<Duration> {
        self.seen.map(|s| s.elapsed())
    }

    /// Adds reported options (bounded).
    pub fn merge_options(&mut self, options: &[(String, String)]) {
        for (k, v) in options {
            if k.len() > MAX_OPTION_LEN {
                continue;
            }
            if self.options.len() >= MAX_OPTIONS && !self.options.contains_key(k) {
                break;
            }
            self.options
                .insert(k.clone(), crate::text::cut(v, MAX_OPTION_LEN).clone());
        }
    }

    /// Firmware: from INFO, else the options (`FWVersion`, `FirmVer`).
    pub fn firmware(&self) -> Option<String> {
        self.info
            .as_ref()
            .map(|i| i.firmware.clone())
            .filter(|f| !f.is_empty())
            .or_else(|| self.options.get("FWVersion").cloned())
            .or_else(|| self.options.get("FirmVer").cloned())
    }

    /// A count an INFO reply or options upload reported (`UserCount`…).
    fn count_option(&self, key: &str) -> Option<u64> {
        self.options.get(key).and_then(|v| v.trim().parse().ok())
    }

    /// The contact as JSON (for `/status` and the contacts file).
    pub fn to_json(&self) -> Value {
        let info = self.info.as_ref();
        json!({
            "sn": self.sn,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "pushver": self.pushver,
            "last_seen": fmt(&self.last_seen),
            "first_seen": fmt(&self.first_seen),
            "firmware": self.firmware(),
            "users": info.and_then(|i| i.users).or_else(|| self.count_option("UserCount")),
            "fingerprints": info.and_then(|i| i.fingerprints).or_else(|| self.count_option("FPCount")),
            "records": info.and_then(|i| i.logs).or_else(|| self.count_option("AttLogCount")),
            "options": self.options,
        })
    }

    /// A contact read back from the contacts file.
    fn from_json(sn: &str, v: &Value) -> Option<Contact> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let time = |k: &str| text(k).and_then(|t| crate::time::parse(&t));
        let last_seen = time("last_seen")?;
        let count = |k: &str| v.get(k).and_then(Value::as_u64);
        let options = v
            .get("options")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .take(MAX_OPTIONS)
                    .collect()
            })
            .unwrap_or_default();
        let info = DeviceInfo {
            firmware: text("firmware").unwrap_or_default(),
            users: count("users"),
            fingerprints: count("fingerprints"),
            logs: count("records"),
            ip: None,
            rest: Vec::new(),
        };
        Some(Contact {
            sn: sn.to_string(),
            ip: text("ip").unwrap_or_default(),
            user_agent: text("user_agent").unwrap_or_default(),
            pushver: text("pushver"),
            push_comm_key: None,
            seen: None,
            last_seen,
            first_seen: time("first_seen").unwrap_or(last_seen),
            options,
            info: Some(info),
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS`.
fn fmt(t: &NaiveDateTime) -> String {
    crate::time::format(t)
}

#[derive(Default)]
struct Inner {
    by_serial: HashMap<String, Contact>,
    pending: HashSet<String>,
}

/// Every terminal's last contact.
#[derive(Default)]
pub struct Contacts {
    inner: Mutex<Inner>,
}

impl Contacts {
    /// Contacts saved in `file` (none, or unreadable: start empty).
    pub fn load(file: Option<&Path>) -> Contacts {
        let contacts = Contacts::default();
        let Some(path) = file else {
            return contacts;
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return contacts;
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            log::warn!("{}: not a contacts file, ignored", path.display());
            return contacts;
        };
        let mut inner = contacts.inner.lock();
        for (sn, v) in map.iter().take(MAX_CONTACTS) {
            if let Some(c) = Contact::from_json(sn, v) {
                inner.by_serial.insert(sn.clone(), c);
            }
        }
        drop(inner);
        contacts
    }

    /// Records a request from `sn`; true on its first contact this run.
    pub fn touch(&self, sn: &str, ex: &Exchange<'_>, pushver: Option<&str>) -> bool {
        let now = crate::time::now();
        let mut inner = self.inner.lock();
        if inner.by_serial.len() >= MAX_CONTACTS && !inner.by_serial.contains_key(sn) {
            evict_oldest(&mut inner.by_serial);
        }
        let c = inner
            .by_serial
            .entry(sn.to_string())
            .or_insert_with(|| Contact::first(sn, now));
        let first = c.seen.is_none();
        c.seen = Some(Instant::now());
        c.last_seen = now;
        c.ip = crate::text::cut(&ex.ip, 64).clone();
        c.user_agent = crate::text::cut(&ex.user_agent, 128).clone();
        if let Some(v) = pushver {
            c.pushver = Some(crate::text::cut(v, 32).clone());
        }
        first
    }

    /// Changes the contact of `sn` (if known).
    pub fn update(&self, sn: &str, f: impl FnOnce(&mut Contact)) {
        if let Some(c) = self.inner.lock().by_serial.get_mut(sn) {
            f(c);
        }
    }

    /// The contact of `sn`.
    pub fn get(&self, sn: &str) -> Option<Contact> {
        self.inner.lock().by_serial.get(sn).cloned()
    }

    /// Whether `sn` is known as pending this run.
    pub fn is_pending(&self, sn: &str) -> bool {
        self.inner.lock().pending.contains(sn)
    }

    /// Remembers `sn` as pending.
    pub fn mark_pending(&self, sn: &str) {
        self.inner.lock().pending.insert(sn.to_string());
    }

    /// Forgets that `sn` is pending (it was adopted).
    pub fn adopted(&self, sn: &str) {
        self.unmark_pending(sn);
    }

    /// Forgets that `sn` is pending (adopted, removed, expired or evicted):
    /// its next request is looked at as a new one.
    pub fn unmark_pending(&self, sn: &str) {
        self.inner.lock().pending.remove(sn);
    }

    /// Saves every contact to `file`, the last contact of each terminal
    /// heard from this run in the journal, and refreshes the pending
    /// serials' last contact there.
    pub fn save(&self, file: Option<&Path>, journal: &Journal) {
        let (doc, pending, heard) = {
            let inner = self.inner.lock();
            let mut doc = Map::new();
            for (sn, c) in &inner.by_serial {
                doc.insert(sn.clone(), c.to_json());
            }
            let pending: Vec<Contact> = inner
                .pending
                .iter()
                .filter_map(|sn| inner.by_serial.get(sn).cloned())
                .collect();
            // Heard from this run: their last contact goes to the journal.
            let heard: Vec<(String, String, NaiveDateTime)> = inner
                .by_serial
                .values()
                .filter(|c| c.seen.is_some() && !inner.pending.contains(&c.sn))
                .map(|c| (c.sn.clone(), c.ip.clone(), c.last_seen))
                .collect();
            (doc, pending, heard)
        };
        if let Err(e) = journal.save_contacts(&heard) {
            log::warn!("push: could not save last contacts in the journal: {e}");
        }
        for c in pending {
            let sighting = PendingSighting {
                sn: c.sn.clone(),
                ip: c.ip.clone(),
                user_agent: c.user_agent.clone(),
                pushver: c.pushver.clone().unwrap_or_default(),
                seen_at: c.last_seen,
            };
            if let Err(e) = journal.record_pending(&sighting) {
                log::warn!("push: could not refresh pending serial {}: {e}", c.sn);
            }
        }
        let Some(path) = file else {
            return;
        };
        let text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
        if let Err(e) = crate::atomic_file::write(path, text.as_bytes(), 0o600) {
            log::warn!("push: could not save contacts to {}: {e}", path.display());
        }
    }
}

/// Drops the contact heard from longest ago.
fn evict_oldest(map: &mut HashMap<String, Contact>) {
    if let Some(sn) = map
        .values()
        .min_by_key(|c| c.last_seen)
        .map(|c| c.sn.clone())
    {
        map.remove(&sn);
    }
}
