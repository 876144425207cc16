//! Registering, changing and removing a device: the registry write, then
//! what follows it — a push terminal's pinned address forgotten or taken
//! from its pending serial, its webhook's start fixed, and the punches its
//! serial left pending adopted.

use std::sync::Arc;

use super::Services;
use crate::registry::{Device, DeviceConfig, SettingError, WriteError};

/// Which settings a change names (they decide what follows it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Touched {
    /// `allow_from` was given: where the terminal may be was just said.
    pub allow_from: bool,
    /// `sn` was given: a pending serial may now be this device's.
    pub sn: bool,
}

impl Services {
    /// Registers device `id` with `config`; a push terminal then takes over
    /// what its serial left pending (see [`Services::registered`]).
    pub fn register_device(
        &self,
        id: &str,
        config: DeviceConfig,
    ) -> Result<Arc<Device>, WriteError> {
        let device = self.registry.insert(id, config)?;
        log::info!("device '{id}' registered ({})", device.config.describe());
        self.forget_pin(id);
        if let Some(receiver) = &self.push {
            receiver.pin_where_pending(&device);
        }
        self.registered(&device, None);
        Ok(device)
    }

    /// Changes device `id` to `edit(current)`; what `touched` names decides
    /// what follows (a pin forgotten, a pending serial adopted).
    pub fn update_device(
        &self,
        id: &str,
        edit: impl FnOnce(&DeviceConfig) -> Result<DeviceConfig, SettingError>,
        touched: Touched,
    ) -> Result<Arc<Device>, WriteError> {
        let webhook_before = self.delivery.url_for(id);
        let device = self.registry.update(id, edit)?;
        if touched.allow_from {
            // Where the terminal may be was just said: the old pin goes.
            self.forget_pin(id);
        }
        if let Some(receiver) = self.push.as_ref().filter(|_| touched.sn) {
            receiver.pin_where_pending(&device);
        }
        self.registered(&device, webhook_before.as_deref());
        Ok(device)
    }

    /// Removes device `id`; requests already using it finish normally.
    pub fn delete_device(&self, id: &str) -> Result<(), WriteError> {
        self.registry.remove(id)?;
        log::info!("device '{id}' deleted");
        self.forget_pin(id);
        self.forget_people_sync(id);
        Ok(())
    }

    /// Forgets what deleted device `id` was given of the staff list: a
    /// terminal registered again under its id is read afresh.
    fn forget_people_sync(&self, id: &str) {
        let Some(journal) = &self.journal else {
            return;
        };
        let forgotten = journal
            .forget_sync(id)
            .and_then(|_| journal.forget_terminal_marks(id));
        if let Err(e) = forgotten {
            log::error!("device '{id}': could not forget its people sync state: {e}");
        }
    }

    /// Forgets where push device `id` was pinned (see `push::trust`).
    fn forget_pin(&self, id: &str) {
        if let Some(receiver) = &self.push {
            receiver.forget_pin(id);
        }
    }

    /// After `device` was registered or changed (its webhook was
    /// `webhook_before`): its webhook fixes where it starts, then a push
    /// device whose serial was pending takes over its punches.
    ///
    /// The order is what makes adopted punches reach every consumer:
    /// adoption gives them new journal positions, and a consumer starting
    /// "from now on" starts at the newest position it finds. A webhook that
    /// found its start after the adoption started past the adopted punches
    /// and never delivered them (while streams and PostgreSQL, which had
    /// their start already, got them). Fixed first, the start is before them.
    fn registered(&self, device: &Device, webhook_before: Option<&str>) {
        self.delivery.await_start(&device.id, webhook_before);
        self.adopt(device);
    }

    /// A push device whose serial was pending takes over its punches; call
    /// it once the device's consumers know where they start.
    fn adopt(&self, device: &Device) {
        let (Some(journal), Some(sn)) = (&self.journal, device.config.sn.as_deref()) else {
            return;
        };
        if !device.config.is_push() {
            return;
        }
        // Registered under a new id, the terminal keeps the history it had.
        let claimed = crate::push::receiver::claim_serial(journal, &self.registry, &device.id, sn);
        if let Err(e) = claimed {
            log::error!("device '{}': recording serial {sn} failed: {e}", device.id);
        }
        match journal.adopt_pending(sn, &device.id) {
            Ok(o) if o.punches.stored + o.punches.duplicates + o.users > 0 => log::info!(
                "device '{}' adopted pending serial {sn}: {} punch(es) stored, {} already there, {} user(s)",
                device.id,
                o.punches.stored,
                o.punches.duplicates,
                o.users
            ),
            Ok(_) => {}
            Err(e) => log::error!(
                "device '{}': adopting the punches of pending serial {sn} failed (they stay pending): {e}",
                device.id
            ),
        }
        if let Some(r) = &self.push {
            r.contacts().adopted(sn);
        }
    }
}
