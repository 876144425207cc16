//! Users and fingerprints on a pull terminal: the rules for creating,
//! changing and deleting users (unique ids, the next free slot, what the
//! terminal's record layout can hold), run as locked operations.

use crate::registry::Device;
use crate::text::Encoding;
use crate::zk::records::{Template, User, UserFormat};
use crate::zk::Session;

use super::{Mode, OpError, Rejection, Terminals};

/// Requested values for a user's fields, already checked for type and
/// general shape by the caller; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// Display name (encoded with the device's encoding).
    pub name: Option<String>,
    /// Terminal password (ASCII letters and digits).
    pub password: Option<String>,
    /// Privilege level.
    pub privilege: Option<u8>,
    /// Card number.
    pub card: Option<u32>,
}

/// The text encoding of names on `device` (UTF-8 if the setting is unknown).
pub fn encoding(device: &Device) -> Encoding {
    Encoding::parse(&device.config.encoding).unwrap_or(Encoding::Utf8)
}

/// The name as the original server showed it (pyzk): decoded, trimmed,
/// `NN-<user_id>` when empty.
pub fn display_name(user: &User, enc: Encoding) -> String {
    let name = enc.decode(&user.name).trim().to_string();
    if name.is_empty() {
        format!("NN-{}", user.user_id)
    } else {
        name
    }
}

/// The next free uid: one past the highest, else the lowest unused.
pub fn next_uid(users: &[User]) -> Option<u16> {
    let max = users.iter().map(|u| u.uid).max().unwrap_or(0);
    max.checked_add(1)
        .or_else(|| (1..=u16::MAX).find(|uid| !users.iter().any(|u| u.uid == *uid)))
}

/// Applies `changes` to `user` for a terminal whose user records are in
/// `format`; refuses what the layout cannot hold.
pub fn apply_changes(
    user: &mut User,
    changes: &UserChanges,
    format: UserFormat,
    enc: Encoding,
) -> Result<(), Rejection> {
    if format.numeric_ids() && user.user_id.parse::<u32>().is_err() {
        return Err(Rejection::NumericUserIdsOnly(user.user_id.clone()));
    }
    if let Some(name) = &changes.name {
        let bytes = enc.encode(name);
        if bytes.len() > format.name_width() {
            return Err(Rejection::NameTooLong {
                max_bytes: format.name_width(),
            });
        }
        user.name = bytes;
    }
    if let Some(p) = &changes.password {
        if p.len() > format.password_width() {
            return Err(Rejection::PasswordTooLong {
                max_chars: format.password_width(),
            });
        }
        user.password = p.as_bytes().to_vec();
    }
    if let Some(p) = changes.privilege {
        user.privilege = p;
    }
    if let Some(c) = changes.card {
        user.card = c;
    }
    Ok(())
}

/// Reads the users (the terminal should be disabled) and finds `user_id`,
/// with the layout of the table.
fn find_user(s: &mut Session, user_id: &str) -> Result<(User, UserFormat), OpError> {
    let (users, format) = s.users()?;
    let user = users
        .into_iter()
        .find(|u| u.user_id == user_id)
        .ok_or_else(|| Rejection::UserNotFound(user_id.to_string()))?;
    // A user was found, so the table was read and its layout is known.
    Ok((user, format.unwrap_or(UserFormat::Long72)))
}

impl Terminals {
    /// Every user on `device` (lock, disable).
    pub fn users(&self, device: &Device) -> Result<Vec<User>, OpError> {
        self.run(device, Mode::Disabled, "read users", |s| Ok(s.users()?.0))
    }

    /// Creates `user_id` in the next free slot (lock, disable); answers the uid.
    pub fn create_user(
        &self,
        device: &Device,
        user_id: &str,
        changes: &UserChanges,
    ) -> Result<u16, OpError> {
        let enc = encoding(device);
        let udp = device.config.force_udp;
        self.run(device, Mode::Disabled, "create user", |s| {
            let (users, format) = s.users()?;
            if users.iter().any(|u| u.user_id == user_id) {
                return Err(Rejection::UserExists(user_id.to_string()).into());
            }
            // An empty table does not tell its layout: guess from the link
            // (UDP-only terminals are the old 28-byte ones).
            let format = format.unwrap_or(if udp {
                UserFormat::Short28
            } else {
                UserFormat::Long72
            });
            let uid = next_uid(&users).ok_or(Rejection::UsersFull)?;
            let mut user = User {
                uid,
                user_id: user_id.to_string(),
                ..User::default()
            };
            apply_changes(&mut user, changes, format, enc)?;
            s.write_user(&user, format)?;
            Ok(uid)
        })
    }

    /// Changes `user_id`'s fields (lock, disable).
    pub fn update_user(
        &self,
        device: &Device,
        user_id: &str,
        changes: &UserChanges,
    ) -> Result<(), OpError> {
        let enc = encoding(device);
        self.run(device, Mode::Disabled, "update user", |s| {
            let (mut user, format) = find_user(s, user_id)?;
            apply_changes(&mut user, changes, format, enc)?;
            s.write_user(&user, format)?;
            Ok(())
        })
    }

    /// Deletes `user_id` and its templates (lock, disable).
    pub fn delete_user(&self, device: &Device, user_id: &str) -> Result<(), OpError> {
        self.run(device, Mode::Disabled, "delete user", |s| {
            let (user, _) = find_user(s, user_id)?;
            s.delete_user(user.uid)?;
            Ok(())
        })
    }

    /// `user_id` and its fingerprint templates, by finger (lock, disable).
    pub fn user_fingers(
        &self,
        device: &Device,
        user_id: &str,
    ) -> Result<(User, Vec<Template>), OpError> {
        self.run(device, Mode::Disabled, "read fingers", |s| {
            let (user, _) = find_user(s, user_id)?;
            let mut mine: Vec<Template> = s
                .templates()?
                .into_iter()
                .filter(|t| t.uid == user.uid)
                .collect();
            mine.sort_by_key(|t| t.finger);
            Ok((user, mine))
        })
    }

    /// Starts enrolling `finger` of `user_id`: the user is looked up while the
    /// terminal is disabled; enrolment then starts with the terminal enabled,
    /// so the person can present the finger.
    pub fn start_enroll(&self, device: &Device, user_id: &str, finger: u8) -> Result<(), OpError> {
        self.run(device, Mode::Plain, "start enroll", |s| {
            {
                let mut disabled = s.disable()?;
                let found = find_user(&mut disabled, user_id);
                disabled.finish()?;
                found?;
            }
            s.start_enroll(user_id, finger)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(uid: u16) -> User {
        User {
            uid,
            ..User::default()
        }
    }

    #[test]
    fn next_uid_takes_one_past_the_highest_else_the_lowest_free() {
        assert_eq!(next_uid(&[]), Some(1));
        assert_eq!(next_uid(&[slot(1), slot(7)]), Some(8));
        assert_eq!(next_uid(&[slot(1), slot(65535)]), Some(2));
        let full: Vec<User> = (1..=u16::MAX).map(slot).collect();
        assert_eq!(next_uid(&full), None);
    }

    #[test]
    fn names_are_decoded_and_empty_ones_shown_as_pyzk_did() {
        let nameless = User {
            user_id: "808".into(),
            ..User::default()
        };
        assert_eq!(display_name(&nameless, Encoding::Utf8), "NN-808");
        let latin = User {
            name: vec![0x4A, 0x6F, 0x73, 0xE9],
            ..User::default()
        };
        assert_eq!(display_name(&latin, Encoding::Latin1), "José");
        assert_eq!(display_name(&latin, Encoding::Utf8), "Jos\u{FFFD}");
    }

    #[test]
    fn layouts_refuse_what_they_cannot_hold() {
        let changes = UserChanges {
            name: Some("Muñoz Álvarez".into()),
            ..UserChanges::default()
        };
        let mut user = User {
            user_id: "12".into(),
            ..User::default()
        };
        assert!(apply_changes(&mut user, &changes, UserFormat::Long72, Encoding::Utf8).is_ok());
        assert_eq!(
            apply_changes(&mut user, &changes, UserFormat::Short28, Encoding::Utf8),
            Err(Rejection::NameTooLong { max_bytes: 8 })
        );
        let mut alpha = User {
            user_id: "A1".into(),
            ..User::default()
        };
        assert_eq!(
            apply_changes(
                &mut alpha,
                &UserChanges::default(),
                UserFormat::Short28,
                Encoding::Utf8
            ),
            Err(Rejection::NumericUserIdsOnly("A1".into()))
        );
        let long_password = UserChanges {
            password: Some("123456789".into()),
            ..UserChanges::default()
        };
        assert!(matches!(
            apply_changes(
                &mut user,
                &long_password,
                UserFormat::Short28,
                Encoding::Utf8
            ),
            Err(Rejection::PasswordTooLong { .. })
        ));
    }
}
