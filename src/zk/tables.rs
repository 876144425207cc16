//! The terminal's tables through buffered reads and writes: users,
//! fingerprint templates, the attendance log, enrolment.

use super::error::Result;
use super::records::{self, AttFormat, Attendance, Template, User, UserFormat};
use super::session::Session;
use super::tail::LogPosition;
use super::wire::cmd;

/// The attendance log as read from a terminal.
#[derive(Debug, Clone)]
pub struct AttendanceLog {
    /// Record layout found on the wire.
    pub format: AttFormat,
    /// Records in device order, user ids resolved.
    pub records: Vec<Attendance>,
    /// The position at the end of the log.
    pub position: LogPosition,
}

impl Session {
    /// Reads and parses users, with the layout the terminal uses (`None`
    /// when its table is empty). `count_hint` is the user count from
    /// GET_FREE_SIZES.
    pub fn read_users(&mut self, count_hint: u32) -> Result<(Vec<User>, Option<UserFormat>)> {
        let Some(data) = self.read_table(cmd::USERTEMP_RRQ, 5, count_hint)? else {
            return Ok((Vec::new(), None));
        };
        let (body, mismatch) = records::dataset_body(&data)?;
        if let Some(announced) = mismatch {
            log::warn!(
                "user dataset announces {announced} bytes but carries {}",
                body.len()
            );
        }
        match records::infer_user_format(body, count_hint)? {
            Some(format) => Ok((records::parse_users(body, format), Some(format))),
            None => Ok((Vec::new(), None)),
        }
    }

    /// Reads all users, with the layout the terminal uses (`None` when it
    /// holds none).
    pub fn users(&mut self) -> Result<(Vec<User>, Option<UserFormat>)> {
        let sizes = self.sizes()?;
        self.read_users(sizes.users)
    }

    /// Writes (creates or replaces, by uid) a user in the given layout, then
    /// asks the terminal to apply it.
    pub fn write_user(&mut self, user: &User, format: UserFormat) -> Result<()> {
        self.command(cmd::USER_WRQ, &records::encode_user(user, format))?;
        self.command(cmd::REFRESH_DATA, &[]).map(|_| ())
    }

    /// Deletes the user in slot `uid` (and its templates).
    pub fn delete_user(&mut self, uid: u16) -> Result<()> {
        self.command(cmd::DELETE_USER, &uid.to_le_bytes())?;
        self.command(cmd::REFRESH_DATA, &[]).map(|_| ())
    }

    /// Reads every fingerprint template entry.
    pub fn templates(&mut self) -> Result<Vec<Template>> {
        let sizes = self.sizes()?;
        let Some(data) = self.read_table(cmd::DB_RRQ, 2, sizes.fingers)? else {
            return Ok(Vec::new());
        };
        let (body, _) = records::dataset_body(&data)?;
        Ok(records::parse_templates(body)?)
    }

    /// Puts the terminal in enrolment mode for `user_id`'s finger (0–9): the
    /// person then presents the finger three times on the terminal.
    pub fn start_enroll(&mut self, user_id: &str, finger: u8) -> Result<()> {
        let _ = self.command(cmd::CANCEL_CAPTURE, &[]);
        let payload = if self.transport.is_udp() {
            let mut p = user_id.parse::<u32>().unwrap_or(0).to_le_bytes().to_vec();
            p.push(finger);
            p
        } else {
            let mut p = vec![0u8; 24];
            let id = user_id.as_bytes();
            p[..id.len().min(24)].copy_from_slice(&id[..id.len().min(24)]);
            p.extend_from_slice(&[finger, 1]);
            p
        };
        self.command(cmd::START_ENROLL, &payload).map(|_| ())
    }

    /// Erases the attendance log (run it while disabled), then asks the
    /// terminal to reload its data; a failed reload is only logged.
    pub fn clear_attendance(&mut self) -> Result<()> {
        self.command(cmd::CLEAR_ATTLOG, &[])?;
        self.refresh_data_quietly("CLEAR_ATTLOG");
        Ok(())
    }

    /// Asks the terminal to apply changed data (REFRESHDATA). Some firmware
    /// refuses it where it is not needed, so a failure is only logged.
    pub fn refresh_data_quietly(&mut self, after: &str) {
        if let Err(e) = self.command(cmd::REFRESH_DATA, &[]) {
            log::debug!("REFRESHDATA after {after} failed: {e}");
        }
    }

    /// Reads the whole attendance log (run it while disabled). Users are only
    /// read when the record format carries uids instead of user ids (8 bytes).
    pub fn read_attendance(&mut self) -> Result<AttendanceLog> {
        let sizes = self.sizes()?;
        let Some(data) = self.read_table(cmd::ATTLOG_RRQ, 0, sizes.records)? else {
            return Ok(AttendanceLog {
                format: AttFormat::Full40,
                records: Vec::new(),
                position: LogPosition::empty(AttFormat::Full40),
            });
        };
        let (body, mismatch) = records::dataset_body(&data)?;
        if let Some(announced) = mismatch {
            log::warn!(
                "attendance dataset announces {announced} bytes but carries {}",
                body.len()
            );
        }
        let format = records::infer_attendance_format(body, sizes.records)?;
        let size = format.size();
        if body.len() % size != 0 {
            log::warn!(
                "attendance dataset has {} trailing bytes",
                body.len() % size
            );
        }
        if sizes.records as usize != body.len() / size {
            log::info!(
                "terminal reported {} records, dataset holds {}",
                sizes.records,
                body.len() / size
            );
        }
        let mut recs = records::parse_attendance(body, format);
        let position = LogPosition::end_of(body, format);
        drop(data);
        if format == AttFormat::Uid8 {
            let (users, _) = self.read_users(sizes.users)?;
            records::resolve_user_ids(&mut recs, &users);
        }
        for r in recs.iter().filter(|r| !r.time.is_valid()) {
            log::warn!(
                "record of user {} has an impossible date {}",
                r.user_id,
                r.time
            );
        }
        Ok(AttendanceLog {
            format,
            records: recs,
            position,
        })
    }
}
