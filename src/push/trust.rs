//! Who may speak for a registered push terminal. A serial number is no
//! password (it is printed on the label), so a request naming a registered
//! serial is accepted only:
//!
//! - from an address in the device's `allow_from` (else in
//!   `--push-allow-from`), when either is set;
//! - with the device's `push_key`, when set: a handshake must carry it as
//!   `pushcommkey`; the other requests (which never carry it) must come from
//!   the address of the last handshake that did;
//! - otherwise from the address the terminal was first heard from after it
//!   was registered, or, for a serial that was pending, the address it was
//!   pending from (its *pin*, kept in the journal). `PUT /devices/{id}`
//!   with `allow_from` (`[]` too) forgets the pin; the next contact pins it
//!   again.
//!
//! The address is the peer's, or what a trusted proxy (`--trusted-proxy`)
//! says the client was (`http::proxy`); a header from anyone else is ignored.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

use crate::ipnet::IpNet;
use crate::journal::{Journal, JournalError, Pin};
use crate::push::protocol::IclockQuery;
use crate::registry::Device;

/// Why a request for a registered serial was refused.
#[derive(Debug)]
pub enum Refusal {
    /// The address is not in `allow_from` / `--push-allow-from`.
    NotAllowed,
    /// `pushcommkey` differs from the device's `push_key`.
    WrongKey,
    /// No `pushcommkey` where one is needed.
    MissingKey,
    /// The terminal is pinned to another address.
    Pinned(String),
    /// The journal could not be read or written.
    Journal(JournalError),
}

impl Refusal {
    /// HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Journal(_) => 503,
            _ => 403,
        }
    }

    /// The answer's text (nothing an intruder could learn from).
    pub fn body(&self) -> String {
        match self {
            Refusal::Journal(_) => "ERROR: journal unavailable, retry later".into(),
            _ => "ERROR: not allowed".into(),
        }
    }

    /// Why, for the admin's log (never the key).
    pub fn reason(&self) -> String {
        match self {
            Refusal::NotAllowed => "address not in allow_from / --push-allow-from".into(),
            Refusal::WrongKey => "wrong pushcommkey (push_key)".into(),
            Refusal::MissingKey => {
                "no pushcommkey, and not from the address that last presented it".into()
            }
            Refusal::Pinned(ip) => format!(
                "the terminal is pinned to {ip} (PUT /devices/{{id}} with allow_from to move it)"
            ),
            Refusal::Journal(e) => format!("journal: {e}"),
        }
    }
}

/// The pins of push devices, read from the journal once and cached.
#[derive(Default)]
pub struct Trust {
    pins: Mutex<HashMap<String, Option<Pin>>>,
}

impl Trust {
    /// Decides whether a request from `ip` with query `q` may speak for
    /// `device`; `global` is `--push-allow-from`. May pin the device.
    pub fn check(
        &self,
        journal: &Journal,
        device: &Device,
        ip: &str,
        q: &IclockQuery,
        global: &[IpNet],
    ) -> Result<(), Refusal> {
        let ip = normalise(ip.parse().map_err(|_| Refusal::NotAllowed)?);
        let own: Vec<IpNet> = device
            .config
            .allow_from
            .iter()
            .filter_map(|t| IpNet::parse(t))
            .collect();
        let allowed = if own.is_empty() { global } else { &own };
        if !allowed.is_empty() && !allowed.iter().any(|net| net.contains(ip)) {
            return Err(Refusal::NotAllowed);
        }
        if let Some(key) = &device.config.push_key {
            return self.check_key(journal, device, key, ip, q);
        }
        if !allowed.is_empty() {
            return Ok(());
        }
        let mut pins = self.pins.lock();
        match pinned(&mut pins, journal, device)? {
            Some(pin) if pin == ip => Ok(()),
            Some(pin) => Err(Refusal::Pinned(pin.to_string())),
            None => {
                set_pin(&mut pins, journal, device, ip)?;
                log::info!(
                    "push terminal '{}' pinned to {ip}, the first address it was heard from",
                    device.id
                );
                Ok(())
            }
        }
    }

    /// The `push_key` rule: the key, or the address that last gave it.
    fn check_key(
        &self,
        journal: &Journal,
        device: &Device,
        key: &str,
        ip: IpAddr,
        q: &IclockQuery,
    ) -> Result<(), Refusal> {
        let mut pins = self.pins.lock();
        match &q.push_comm_key {
            Some(given) if crate::secret::constant_time_eq(given.as_bytes(), key.as_bytes()) => {
                if pinned(&mut pins, journal, device)? != Some(ip) {
                    set_pin(&mut pins, journal, device, ip)?;
                    log::info!("push terminal '{}' presented its key from {ip}", device.id);
                }
                Ok(())
            }
            Some(_) => Err(Refusal::WrongKey),
            None if q.is_handshake() => Err(Refusal::MissingKey),
            None => match pinned(&mut pins, journal, device)? {
                Some(pin) if pin == ip => Ok(()),
                _ => Err(Refusal::MissingKey),
            },
        }
    }

    /// The address `device` is pinned to, if any.
    pub fn pinned(&self, journal: &Journal, device: &Device) -> Option<IpAddr> {
        pinned(&mut self.pins.lock(), journal, device).unwrap_or_else(|e| {
            log::warn!(
                "push: could not read the pin of '{}': {}",
                device.id,
                e.reason()
            );
            None
        })
    }

    /// Pins `device` to `ip` (where its serial was pending from).
    pub fn pin_to(&self, journal: &Journal, device: &Device, ip: IpAddr) -> Result<(), Refusal> {
        set_pin(&mut self.pins.lock(), journal, device, normalise(ip))
    }

    /// Forgets the pin of device `id` (its next contact pins it again).
    pub fn forget(&self, journal: &Journal, id: &str) -> Result<(), JournalError> {
        let mut pins = self.pins.lock();
        journal.clear_pin(id)?;
        pins.remove(id);
        Ok(())
    }
}

/// The pinned address of `device` (cached; a pin for another serial is none).
fn pinned(
    pins: &mut HashMap<String, Option<Pin>>,
    journal: &Journal,
    device: &Device,
) -> Result<Option<IpAddr>, Refusal> {
    let pin = if let Some(pin) = pins.get(&device.id) {
        pin.clone()
    } else {
        let pin = journal.pin(&device.id).map_err(Refusal::Journal)?;
        pins.insert(device.id.clone(), pin.clone());
        pin
    };
    Ok(pin
        .filter(|p| device.config.sn.as_deref() == Some(p.sn.as_str()))
        .and_then(|p| p.ip.parse().ok())
        .map(normalise))
}

/// Pins `device` to `ip`, in the journal first.
fn set_pin(
    pins: &mut HashMap<String, Option<Pin>>,
    journal: &Journal,
    device: &Device,
    ip: IpAddr,
) -> Result<(), Refusal> {
    let sn = device.config.sn.clone().unwrap_or_default();
    let ip = ip.to_string();
    journal
        .set_pin(&device.id, &sn, &ip)
        .map_err(Refusal::Journal)?;
    pins.insert(device.id.clone(), Some(Pin { sn, ip }));
    Ok(())
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
