//! Fingerprint templates as named conversations: read them all (with the
//! owners and the algorithm version they need), write many, delete one.
//! Every write runs with the terminal disabled (`zk::Disabled`).

use super::{Mode, OpError, Terminals};
use crate::registry::Device;
use crate::zk::records::{Template, User, UserFormat};
use crate::zk::TemplateCapacity;

/// A terminal's templates with what is needed to copy them elsewhere.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    /// `~ZKFPVersion`'s major version (`None` when the terminal does not say):
    /// templates only work on a terminal of the same version.
    pub fp_version: Option<u16>,
    /// The fingerprint counters.
    pub capacity: TemplateCapacity,
    /// The users (owners by uid), in the terminal's layout.
    pub users: Vec<User>,
    /// That layout (`None` when the terminal holds no user).
    pub user_format: Option<UserFormat>,
    /// Every template, in the terminal's order.
    pub templates: Vec<Template>,
}

impl Terminals {
    /// Reads `device`'s templates, users, version and counters (lock, disabled).
    pub fn read_templates(&self, device: &Device) -> Result<TemplateSet, OpError> {
        self.run(device, Mode::Disabled, "read templates", |s| {
            let fp_version = s.fp_version()?;
            let capacity = s.template_capacity()?;
            let (users, user_format) = s.users()?;
            let templates = s.templates()?;
            Ok(TemplateSet {
                fp_version,
                capacity,
                users,
                user_format,
                templates,
            })
        })
    }

    /// Writes `templates` in one batch with their owners' full records
    /// `users` in `format` (lock, disabled).
    pub fn write_templates(
        &self,
        device: &Device,
        users: &[User],
        format: UserFormat,
        templates: &[Template],
    ) -> Result<(), OpError> {
        self.run(device, Mode::Plain, "write templates", |s| {
            let mut disabled = s.disable()?;
            disabled.write_templates(users, format, templates)?;
            disabled.finish()?;
            Ok(())
        })
    }

    /// Deletes finger `finger` of uid `uid`; `false` when there was none
    /// (lock, disabled).
    pub fn delete_template(&self, device: &Device, uid: u16, finger: u8) -> Result<bool, OpError> {
        self.run(device, Mode::Plain, "delete template", |s| {
            let mut disabled = s.disable()?;
            let deleted = disabled.delete_template(uid, finger)?;
            disabled.finish()?;
            Ok(deleted)
        })
    }
}
