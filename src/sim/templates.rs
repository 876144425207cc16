//! The simulated terminal's fingerprint templates (templates-protocol.md
//! §5.1): single reads as large data (or inline in v9 mode), the upload
//! buffer with the firmware's reply-id rule, the buffer hash, the batch save
//! (110/12, silent stop at capacity), the single write (87) and deletes
//! (19, 134).

pub use super::answer::Answer;
use super::{SimConfig, State};
use crate::zk::codec::{u16_at, u32_at, until_nul};
use crate::zk::records::{self, Template};
use crate::zk::templates::{hashpjw, BATCH_SUBCODE, DB_FINGER_LIMIT, DB_NO_USER};
use crate::zk::wire::cmd;

/// Largest upload the simulated terminal allocates.
const MAX_UPLOAD: usize = 16 << 20;

/// A connection's upload buffer (PREPARE_DATA … DATA).
#[derive(Debug, Default)]
pub struct Upload {
    /// Bytes received so far.
    pub data: Vec<u8>,
    /// Size announced by PREPARE_DATA.
    pub expected: usize,
    /// Reply id of the last PREPARE_DATA or DATA accepted.
    pub last_id: u16,
    /// Whether a DATA piece was appended yet.
    pub appended: bool,
}

/// Whether `command` (with `data`) is a template command this module answers.
pub fn is_template_command(command: u16, data: &[u8]) -> bool {
    matches!(
        command,
        cmd::PREPARE_DATA
            | cmd::DATA
            | cmd::HASH_DATA
            | cmd::USERTEMP_EX_RRQ
            | cmd::USERTEMP_EX_WRQ
            | cmd::UPDATE_FIRMWARE
            | cmd::DELETE_USERTEMP
            | cmd::SSR_DELETE_USERTEMP
            | cmd::USERFACE_RRQ
            | cmd::DELETE_USERFACE
    ) || (command == cmd::USERTEMP_RRQ && data.len() == 3)
}

/// Answers one template command.
pub fn answer(
    config: &SimConfig,
    st: &mut State,
    upload: &mut Option<Upload>,
    command: u16,
    reply_id: u16,
    data: &[u8],
) -> Answer {
    match command {
        cmd::PREPARE_DATA => prepare_upload(upload, reply_id, data),
        cmd::DATA => append_upload(upload, reply_id, data),
        cmd::HASH_DATA => match upload {
            Some(u) => Answer::Ok(hashpjw(&u.data).to_le_bytes().to_vec()),
            None => Answer::Error(1),
        },
        cmd::USERTEMP_EX_RRQ | cmd::USERTEMP_RRQ => read_one(st, command, data),
        cmd::USERTEMP_EX_WRQ => write_one(config, st, upload.as_ref(), data),
        cmd::UPDATE_FIRMWARE => match (u32_at(data, 0), upload.take()) {
            (Some(BATCH_SUBCODE), Some(u)) => {
                apply_batch(config, st, &u.data);
                Answer::Ok(Vec::new())
            }
            (Some(BATCH_SUBCODE), None) => Answer::Error(1),
            _ => Answer::Error(5),
        },
        cmd::DELETE_USERTEMP => delete_one(st, data),
        cmd::USERFACE_RRQ => super::faces::read(st, data),
        cmd::DELETE_USERFACE => super::faces::delete(st, data),
        _ => delete_by_pin(st, data),
    }
}

fn prepare_upload(upload: &mut Option<Upload>, reply_id: u16, data: &[u8]) -> Answer {
    match u32_at(data, 0).map(|n| n as usize) {
        Some(expected) if expected <= MAX_UPLOAD => {
            *upload = Some(Upload {
                data: Vec::with_capacity(expected),
                expected,
                last_id: reply_id,
                appended: false,
            });
            Answer::Ok(Vec::new())
        }
        _ => Answer::Error(0),
    }
}

/// Appends a piece only when its reply id follows the last one and it fits;
/// the same reply id again repeats the last answer without appending.
fn append_upload(upload: &mut Option<Upload>, reply_id: u16, data: &[u8]) -> Answer {
    let Some(u) = upload.as_mut() else {
        return Answer::Error(0);
    };
    if u.appended && reply_id == u.last_id {
        return Answer::Ok(Vec::new());
    }
    let next = if u.last_id >= 65534 { 0 } else { u.last_id + 1 };
    if reply_id != next || u.data.len() + data.len() > u.expected {
        return Answer::Error(0);
    }
    u.data.extend_from_slice(data);
    u.last_id = reply_id;
    u.appended = true;
    Answer::Ok(Vec::new())
}

/// CMD 88 (template + valid byte) or 9 (template only); ACK_ERROR when absent.
fn read_one(st: &State, command: u16, data: &[u8]) -> Answer {
    let (Some(uid), Some(&finger)) = (u16_at(data, 0), data.get(2)) else {
        return Answer::Error(0);
    };
    match st
        .templates
        .iter()
        .find(|t| t.uid == uid && t.finger == finger)
    {
        Some(t) => {
            let mut payload = t.data.clone();
            if command == cmd::USERTEMP_EX_RRQ {
                payload.push(t.valid);
            }
            Answer::Large(payload)
        }
        None => Answer::Error(0),
    }
}

/// CMD 87: the first `len` bytes of the upload buffer become the template of
/// (uid, finger); the user must exist; flag 0 is stored as 1, else `& 3`.
fn write_one(config: &SimConfig, st: &mut State, upload: Option<&Upload>, data: &[u8]) -> Answer {
    let (Some(uid), Some(&finger), Some(&valid), Some(len)) =
        (u16_at(data, 0), data.get(2), data.get(3), u16_at(data, 4))
    else {
        return Answer::Error(0);
    };
    let Some(bytes) = upload.and_then(|u| u.data.get(..usize::from(len))) else {
        return Answer::Error(0);
    };
    if !st.users.iter().any(|u| u.uid == uid) {
        return Answer::Error(DB_NO_USER);
    }
    let valid = if valid == 0 { 1 } else { valid & 3 };
    let t = Template {
        uid,
        finger,
        valid,
        data: bytes.to_vec(),
    };
    if store(config, st, t) {
        Answer::Ok(Vec::new())
    } else {
        Answer::Error(DB_FINGER_LIMIT)
    }
}

/// Replaces the template of the same uid and finger, or appends it when
/// there is room; false when full.
fn store(config: &SimConfig, st: &mut State, t: Template) -> bool {
    if let Some(old) = st
        .templates
        .iter_mut()
        .find(|o| o.uid == t.uid && o.finger == t.finger)
    {
        *old = t;
        return true;
    }
    if st.templates.len() >= config.finger_capacity as usize {
        return false;
    }
    st.templates.push(t);
    true
}

/// CMD 110 subcode 12 (`BatchOPUserData`, §2.6.1): users by uid (overwrite
/// replaces the record), template rows not checked against users,
/// `FingerID & 0x0F` for adds, exact or 0xFF for deletes, a silent stop at
/// capacity. Malformed parts are skipped, as the reply is ACK_OK anyway.
fn apply_batch(config: &SimConfig, st: &mut State, buffer: &[u8]) {
    if !config.batch_delay.is_zero() {
        std::thread::sleep(config.batch_delay);
    }
    let lens = [0, 4, 8].map(|at| u32_at(buffer, at).map_or(0, |n| n as usize));
    let users_end = 12 + lens[0];
    let table_end = users_end + lens[1];
    let users = buffer.get(12..users_end).unwrap_or_default();
    let table = buffer.get(users_end..table_end).unwrap_or_default();
    let area = buffer
        .get(table_end..table_end + lens[2])
        .unwrap_or_default();
    let format = config.user_format;
    for entry in users.chunks_exact(format.size() + 1) {
        if let Some(user) = records::parse_user_record(&entry[1..], format) {
            match st.users.iter_mut().find(|u| u.uid == user.uid) {
                Some(existing) => *existing = user,
                None => st.users.push(user),
            }
        }
    }
    for row in table.chunks_exact(8) {
        let (op, uid, finger) = (row[0], u16::from_le_bytes([row[1], row[2]]), row[3]);
        if op == 0 {
            st.templates
                .retain(|t| !(t.uid == uid && (finger == 0xFF || t.finger == finger)));
            continue;
        }
        let Some(data) = u32_at(row, 4).and_then(|at| template_at(area, at as usize)) else {
            continue;
        };
        let t = Template {
            uid,
            finger: finger & 0x0F,
            valid: 1,
            data: data.to_vec(),
        };
        if !store(config, st, t) {
            st.stats.batch_capacity_stops += 1;
        }
    }
}

/// The template whose u16 length field is at `at` of the templates area.
fn template_at(area: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16_at(area, at)?);
    area.get(at + 2..at + 2 + len)
}

/// CMD 19: one finger by uid; ACK_ERROR code 2 when absent.
fn delete_one(st: &mut State, data: &[u8]) -> Answer {
    let (Some(uid), Some(&finger)) = (u16_at(data, 0), data.get(2)) else {
        return Answer::Error(0);
    };
    let before = st.templates.len();
    st.templates
        .retain(|t| !(t.uid == uid && t.finger == finger));
    if st.templates.len() < before {
        Answer::Ok(Vec::new())
    } else {
        Answer::Error(2)
    }
}

/// CMD 134: 24-byte PIN and finger (13 = all); ACK_OK even when none.
fn delete_by_pin(st: &mut State, data: &[u8]) -> Answer {
    let (Some(pin), Some(&finger)) = (data.get(..24), data.get(24)) else {
        return Answer::Error(0);
    };
    let pin = String::from_utf8_lossy(until_nul(pin)).into_owned();
    if let Some(uid) = st.users.iter().find(|u| u.user_id == pin).map(|u| u.uid) {
        st.templates
            .retain(|t| !(t.uid == uid && (finger == 13 || t.finger == finger)));
    }
    Answer::Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::records::{encode_user, User, UserFormat};

    fn state() -> State {
        State {
            users: super::super::data::users(20),
            punches: Vec::new(),
            templates: Vec::new(),
            faces: Vec::new(),
            enrolling: None,
            disabled: false,
            clock_offset: 0,
            faults: super::super::Faults::default(),
            stats: super::super::Stats::default(),
            link_generation: 0,
            offline: false,
            encoded_punches: None,
        }
    }

    fn template(uid: u16, finger: u8) -> Template {
        Template {
            uid,
            finger,
            valid: 1,
            data: vec![u8::try_from(uid).unwrap_or(0); 900],
        }
    }

    #[test]
    fn upload_follows_the_firmware_reply_id_rule() {
        let mut upload = None;
        assert_eq!(
            prepare_upload(&mut upload, 10, &4u32.to_le_bytes()),
            Answer::Ok(Vec::new())
        );
        // Out of order: refused, nothing appended.
        assert_eq!(append_upload(&mut upload, 12, &[1, 2]), Answer::Error(0));
        assert_eq!(
            append_upload(&mut upload, 11, &[1, 2]),
            Answer::Ok(Vec::new())
        );
        // The same reply id again repeats the answer without appending.
        assert_eq!(
            append_upload(&mut upload, 11, &[1, 2]),
            Answer::Ok(Vec::new())
        );
        // Overflow: refused.
        assert_eq!(append_upload(&mut upload, 12, &[3, 4, 5]), Answer::Error(0));
        assert_eq!(
            append_upload(&mut upload, 12, &[3, 4]),
            Answer::Ok(Vec::new())
        );
        assert_eq!(upload.map(|u| u.data), Some(vec![1, 2, 3, 4]));
        assert_eq!(append_upload(&mut None, 1, &[1]), Answer::Error(0));
    }

    #[test]
    fn single_write_refuses_a_missing_user_and_a_full_terminal() {
        let config = SimConfig {
            finger_capacity: 1,
            ..SimConfig::default()
        };
        let mut st = state();
        let upload = Upload {
            data: vec![7; 900],
            expected: 900,
            last_id: 0,
            appended: true,
        };
        let req = |uid: u16, finger: u8, valid: u8| {
            let mut r = uid.to_le_bytes().to_vec();
            r.extend_from_slice(&[finger, valid]);
            r.extend_from_slice(&900u16.to_le_bytes());
            r
        };
        assert_eq!(
            write_one(&config, &mut st, Some(&upload), &req(999, 1, 1)),
            Answer::Error(DB_NO_USER)
        );
        assert_eq!(
            write_one(&config, &mut st, Some(&upload), &req(1, 1, 0)),
            Answer::Ok(Vec::new())
        );
        assert_eq!(st.templates[0].valid, 1, "flag 0 is stored as 1");
        assert_eq!(
            write_one(&config, &mut st, Some(&upload), &req(1, 1, 7)),
            Answer::Ok(Vec::new())
        );
        assert_eq!(st.templates[0].valid, 3, "flag & 3, overwritten in place");
        assert_eq!(
            write_one(&config, &mut st, Some(&upload), &req(2, 1, 1)),
            Answer::Error(DB_FINGER_LIMIT)
        );
        assert_eq!(
            write_one(&config, &mut st, None, &req(1, 1, 1)),
            Answer::Error(0)
        );
    }

    #[test]
    fn batch_stops_silently_at_capacity_and_deletes_exactly() {
        let config = SimConfig {
            finger_capacity: 2,
            batch_delay: std::time::Duration::ZERO,
            ..SimConfig::default()
        };
        let mut st = state();
        let users: Vec<User> = st.users[..3].to_vec();
        let three: Vec<Template> = users.iter().map(|u| template(u.uid, 1)).collect();
        let buffer =
            crate::zk::templates::encode_batch(&users, UserFormat::Long72, &three).unwrap();
        apply_batch(&config, &mut st, &buffer);
        assert_eq!(st.templates, three[..2]);
        assert_eq!(st.stats.batch_capacity_stops, 1);
        // A DEL row: exact finger, or 0xFF for all.
        let mut del = vec![0u8; 12];
        del[4] = 8;
        del.extend_from_slice(&[0]);
        del.extend_from_slice(&users[0].uid.to_le_bytes());
        del.extend_from_slice(&[2, 0, 0, 0, 0]);
        apply_batch(&config, &mut st, &del);
        assert_eq!(st.templates.len(), 2, "finger 2 is not finger 1");
        del[15] = 0xFF;
        apply_batch(&config, &mut st, &del);
        assert_eq!(st.templates, three[1..2]);
        // A user record replaced whole, by uid.
        let mut renamed = users[1].clone();
        renamed.name = b"Otro Nombre".to_vec();
        let mut buffer = vec![73, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        buffer.extend(encode_user(&renamed, UserFormat::Long72));
        apply_batch(&config, &mut st, &buffer);
        assert!(st.users.contains(&renamed));
        // Garbage never panics.
        apply_batch(&config, &mut st, &[0xFF; 40]);
    }

    #[test]
    fn deletes_answer_as_the_firmware() {
        let mut st = state();
        st.templates = vec![template(1, 1), template(1, 2), template(2, 1)];
        assert_eq!(delete_one(&mut st, &[1, 0, 2]), Answer::Ok(Vec::new()));
        assert_eq!(delete_one(&mut st, &[1, 0, 2]), Answer::Error(2));
        let mut pin = st.users[0].user_id.clone().into_bytes();
        pin.resize(24, 0);
        pin.push(13);
        assert_eq!(delete_by_pin(&mut st, &pin), Answer::Ok(Vec::new()));
        assert_eq!(st.templates, [template(2, 1)]);
        assert_eq!(delete_by_pin(&mut st, &[1, 2]), Answer::Error(0));
    }
}
