//! NIR faces as named conversations (templates-protocol.md §2.8): read a
//! user's faces, delete them all by PIN. Both run with the terminal
//! disabled (`zk::Disabled`), like the fingerprint templates. There is no
//! write: CMD 151 is unverified.

use super::{Mode, OpError, Terminals};
use crate::registry::Device;
use crate::zk::faces::Face;

impl Terminals {
    /// Reads every face of uid `uid` on `device` (lock, disabled); empty
    /// when it has none.
    pub fn read_faces(&self, device: &Device, uid: u16) -> Result<Vec<Face>, OpError> {
        self.run(device, Mode::Disabled, "read faces", |s| {
            Ok(s.read_faces(uid)?)
        })
    }

    /// Deletes every face of the user with PIN `pin` on `device`; `false`
    /// when the terminal refused or has no face commands (lock, disabled).
    pub fn delete_faces(&self, device: &Device, pin: &str) -> Result<bool, OpError> {
        self.run(device, Mode::Plain, "delete faces", |s| {
            let mut disabled = s.disable()?;
            let deleted = disabled.delete_faces(pin)?;
            disabled.finish()?;
            Ok(deleted)
        })
    }
}
