//! Attendance (8/16/40/49-byte) and user (28/72-byte) record layouts, the
//! dataset envelope, and record-size inference (spec §3.7.1, §4.2, §4.3).
//! Each layout's byte ranges are named once in [`field`] and shared by the
//! parsers, the encoders, the plausibility check and the users API.
//! Parsers take untrusted bytes and never panic.

use std::ops::Range;

use super::codec::{len_u32, u16_at, u32_at, until_nul, ZkTime};
use super::error::ProtocolError;

/// Byte ranges of every record layout (spec §4.2, §4.3).
pub mod field {
    use std::ops::Range;

    /// 8-byte attendance records (old firmware): a uid, not the PIN.
    pub mod att8 {
        use super::Range;
        pub const UID: Range<usize> = 0..2;
        pub const STATUS: usize = 2;
        pub const PUNCH: usize = 3;
        pub const TIME: Range<usize> = 4..8;
    }

    /// 16-byte attendance records: a numeric PIN.
    pub mod att16 {
        use super::Range;
        pub const USER_ID: Range<usize> = 0..4;
        pub const TIME: Range<usize> = 4..8;
        pub const STATUS: usize = 8;
        pub const PUNCH: usize = 9;
        /// Always zero in real records (used to tell the layout apart).
        pub const RESERVED: Range<usize> = 10..12;
    }

    /// 40-byte attendance records; 49-byte and other wide layouts share
    /// this prefix.
    pub mod att40 {
        use super::Range;
        pub const UID: Range<usize> = 0..2;
        pub const USER_ID: Range<usize> = 2..26;
        pub const STATUS: usize = 26;
        pub const TIME: Range<usize> = 27..31;
        pub const PUNCH: usize = 31;
        /// Shortest record that holds this prefix.
        pub const MIN_LEN: usize = 32;
    }

    /// 28-byte user records (old firmware, numeric PINs).
    pub mod user28 {
        use super::Range;
        pub const UID: Range<usize> = 0..2;
        pub const PRIVILEGE: usize = 2;
        pub const PASSWORD: Range<usize> = 3..8;
        pub const NAME: Range<usize> = 8..16;
        pub const CARD: Range<usize> = 16..20;
        pub const GROUP: usize = 21;
        pub const USER_ID: Range<usize> = 24..28;
    }

    /// 72-byte user records.
    pub mod user72 {
        use super::Range;
        pub const UID: Range<usize> = 0..2;
        pub const PRIVILEGE: usize = 2;
        pub const PASSWORD: Range<usize> = 3..11;
        pub const NAME: Range<usize> = 11..35;
        pub const CARD: Range<usize> = 35..39;
        pub const GROUP: usize = 39;
        pub const USER_ID: Range<usize> = 48..72;
    }
}

/// An attendance record layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttFormat {
    /// 8 bytes: uid, status, punch, time.
    Uid8,
    /// 16 bytes: numeric PIN, time, status, punch.
    Pin16,
    /// 40 bytes: uid, PIN text, status, time, punch, reserved.
    Full40,
    /// 49 bytes: the 40-byte layout plus work code bytes.
    Full49,
    /// Another size of at least 32 bytes, read as the 40-byte prefix.
    Wide(usize),
}

impl AttFormat {
    /// The layouts terminals are known to use.
    pub const KNOWN: [AttFormat; 4] = [
        AttFormat::Uid8,
        AttFormat::Pin16,
        AttFormat::Full40,
        AttFormat::Full49,
    ];

    /// Record size in bytes.
    pub fn size(self) -> usize {
        match self {
            AttFormat::Uid8 => 8,
            AttFormat::Pin16 => 16,
            AttFormat::Full40 => 40,
            AttFormat::Full49 => 49,
            AttFormat::Wide(n) => n,
        }
    }

    /// The layout of records of `size` bytes, if any.
    pub fn from_size(size: usize) -> Option<AttFormat> {
        match size {
            8 => Some(AttFormat::Uid8),
            16 => Some(AttFormat::Pin16),
            40 => Some(AttFormat::Full40),
            49 => Some(AttFormat::Full49),
            n if n >= field::att40::MIN_LEN => Some(AttFormat::Wide(n)),
            _ => None,
        }
    }
}

/// A user record layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserFormat {
    /// 28 bytes, numeric PINs, short names.
    Short28,
    /// 72 bytes.
    Long72,
}

impl UserFormat {
    /// Both layouts.
    pub const ALL: [UserFormat; 2] = [UserFormat::Short28, UserFormat::Long72];

    /// Record size in bytes.
    pub fn size(self) -> usize {
        match self {
            UserFormat::Short28 => 28,
            UserFormat::Long72 => 72,
        }
    }

    /// The layout of records of `size` bytes, if any.
    pub fn from_size(size: usize) -> Option<UserFormat> {
        UserFormat::ALL.into_iter().find(|f| f.size() == size)
    }

    /// Bytes available for the name.
    pub fn name_width(self) -> usize {
        self.layout().name.len()
    }

    /// Bytes available for the password.
    pub fn password_width(self) -> usize {
        self.layout().password.len()
    }

    /// Whether user ids must be numbers (stored as a u32).
    pub fn numeric_ids(self) -> bool {
        self == UserFormat::Short28
    }

    fn layout(self) -> UserLayout {
        match self {
            UserFormat::Short28 => {
                use field::user28::*;
                UserLayout {
                    uid: UID,
                    privilege: PRIVILEGE,
                    password: PASSWORD,
                    name: NAME,
                    card: CARD,
                    group: GROUP,
                    user_id: USER_ID,
                }
            }
            UserFormat::Long72 => {
                use field::user72::*;
                UserLayout {
                    uid: UID,
                    privilege: PRIVILEGE,
                    password: PASSWORD,
                    name: NAME,
                    card: CARD,
                    group: GROUP,
                    user_id: USER_ID,
                }
            }
        }
    }
}

/// The ranges of one user layout, to parse and encode both with one code path.
struct UserLayout {
    uid: Range<usize>,
    privilege: usize,
    password: Range<usize>,
    name: Range<usize>,
    card: Range<usize>,
    group: usize,
    user_id: Range<usize>,
}

/// One punch as stored on the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendance {
    /// Internal user slot (0 when the format does not carry it: 16-byte records).
    pub uid: u16,
    /// The PIN people know; empty for 8-byte records until resolved from users.
    pub user_id: String,
    /// Device wall-clock time, possibly impossible (kept raw).
    pub time: ZkTime,
    /// `status` byte as the original server exposed it (§4.2).
    pub status: u8,
    /// `punch` byte as the original server exposed it (§4.2).
    pub punch: u8,
}

/// One user record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// Internal slot index.
    pub uid: u16,
    /// Privilege byte (bit 0 = disabled, bits 1–3 = level).
    pub privilege: u8,
    /// Password bytes up to the first NUL.
    pub password: Vec<u8>,
    /// Name bytes up to the first NUL, in the terminal's encoding.
    pub name: Vec<u8>,
    /// Card number.
    pub card: u32,
    /// Group byte.
    pub group: u8,
    /// The PIN people know.
    pub user_id: String,
}

/// Splits a dataset into its records body (spec §3.7.1): a u32 byte count then
/// the records. Returns the body and whether the announced count disagreed with
/// the bytes received (the body we actually have is trusted).
pub fn dataset_body(data: &[u8]) -> Result<(&[u8], Option<u32>), ProtocolError> {
    let announced = u32_at(data, 0).ok_or(ProtocolError::DatasetHeader { len: data.len() })?;
    let body = &data[4..];
    let mismatch = (announced as usize != body.len()).then_some(announced);
    Ok((body, mismatch))
}

/// Chooses the attendance layout for `body` given the record count the
/// terminal reported (which may be stale, §4.2.5). Every known layout whose
/// size divides the body is scored by how plausible its records look; the
/// count's own answer wins ties.
pub fn infer_attendance_format(body: &[u8], count_hint: u32) -> Result<AttFormat, ProtocolError> {
    if body.is_empty() {
        return Ok(AttFormat::Full40);
    }
    let from_count = (count_hint > 0 && body.len().is_multiple_of(count_hint as usize))
        .then(|| body.len() / count_hint as usize);
    let mut candidates: Vec<AttFormat> = AttFormat::KNOWN
        .into_iter()
        .filter(|f| body.len().is_multiple_of(f.size()))
        .collect();
    if candidates.is_empty() {
        // pyzk master: an unknown size >= 32 is parsed as the 40-byte prefix.
        return from_count
            .and_then(AttFormat::from_size)
            .filter(|f| matches!(f, AttFormat::Wide(_)))
            .ok_or(ProtocolError::AttendanceSize {
                bytes: body.len(),
                count: count_hint,
            });
    }
    if candidates.len() == 1 {
        return Ok(candidates[0]);
    }
    // Prefer the count's answer, then the common formats.
    let preference = [
        AttFormat::Full40,
        AttFormat::Full49,
        AttFormat::Pin16,
        AttFormat::Uid8,
    ];
    candidates.sort_by_key(|f| {
        (
            Some(f.size()) != from_count,
            preference.iter().position(|x| x == f),
        )
    });
    let mut best = candidates[0];
    let mut best_score = plausibility(body, best);
    for &f in &candidates[1..] {
        let s = plausibility(body, f);
        if s > best_score {
            best = f;
            best_score = s;
        }
    }
    Ok(best)
}

/// Fraction (0..=1000) of sampled records that look like real punches when
/// `body` is read in `format`.
pub(crate) fn plausibility(body: &[u8], format: AttFormat) -> u32 {
    let size = format.size();
    let n = body.len() / size;
    if n == 0 {
        return 0;
    }
    let samples = n.min(512);
    let mut good = 0u32;
    for k in 0..samples {
        let i = k * n / samples;
        let rec = &body[i * size..(i + 1) * size];
        if record_looks_real(rec, format) {
            good += 1;
        }
    }
    good * 1000 / len_u32(samples)
}

fn plausible_time(v: Option<u32>) -> bool {
    // 0 decodes to 2000-01-01, what garbage records hold; the device clock
    // range ends in 2099.
    matches!(v, Some(v) if v > 0 && v <= 0xBF92_F7FF && ZkTime::decode(v).is_valid())
}

/// The little-endian u32 in `range` of `rec`.
fn u32_in(rec: &[u8], range: Range<usize>) -> Option<u32> {
    u32_at(rec.get(range)?, 0)
}

/// The little-endian u16 in `range` of `rec`.
fn u16_in(rec: &[u8], range: Range<usize>) -> Option<u16> {
    u16_at(rec.get(range)?, 0)
}

fn record_looks_real(rec: &[u8], format: AttFormat) -> bool {
    match format {
        AttFormat::Uid8 => {
            use field::att8::*;
            plausible_time(u32_in(rec, TIME)) && rec.get(PUNCH) == Some(&0)
        }
        AttFormat::Pin16 => {
            use field::att16::*;
            plausible_time(u32_in(rec, TIME)) && rec.get(RESERVED) == Some(&[0, 0][..])
        }
        _ => {
            use field::att40::*;
            let text = until_nul(rec.get(USER_ID).unwrap_or(&[]));
            let printable = text.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
            printable && plausible_time(u32_in(rec, TIME))
        }
    }
}

/// Parses attendance records in `format`. Trailing bytes that do not make
/// a whole record are ignored (the caller logs them).
pub fn parse_attendance(body: &[u8], format: AttFormat) -> Vec<Attendance> {
    body.chunks_exact(format.size())
        .filter_map(|rec| parse_attendance_record(rec, format))
        .collect()
}

/// Parses one record in `format`; `None` if it is too short for it.
pub fn parse_attendance_record(rec: &[u8], format: AttFormat) -> Option<Attendance> {
    if rec.len() < format.size() {
        return None;
    }
    match format {
        AttFormat::Uid8 => {
            use field::att8::*;
            Some(Attendance {
                uid: u16_in(rec, UID)?,
                user_id: String::new(),
                status: *rec.get(STATUS)?,
                punch: *rec.get(PUNCH)?,
                time: ZkTime::decode(u32_in(rec, TIME)?),
            })
        }
        AttFormat::Pin16 => {
            use field::att16::*;
            Some(Attendance {
                uid: 0,
                user_id: u32_in(rec, USER_ID)?.to_string(),
                time: ZkTime::decode(u32_in(rec, TIME)?),
                status: *rec.get(STATUS)?,
                punch: *rec.get(PUNCH)?,
            })
        }
        _ => {
            use field::att40::*;
            Some(Attendance {
                uid: u16_in(rec, UID)?,
                user_id: String::from_utf8_lossy(until_nul(rec.get(USER_ID)?)).into_owned(),
                status: *rec.get(STATUS)?,
                time: ZkTime::decode(u32_in(rec, TIME)?),
                punch: *rec.get(PUNCH)?,
            })
        }
    }
}

/// Encodes one attendance record in `format` (used by the simulator).
pub fn encode_attendance(a: &Attendance, format: AttFormat) -> Vec<u8> {
    let mut rec = vec![0u8; format.size()];
    let time = a.time.encode().to_le_bytes();
    match format {
        AttFormat::Uid8 => {
            use field::att8::*;
            rec[UID].copy_from_slice(&a.uid.to_le_bytes());
            rec[STATUS] = a.status;
            rec[PUNCH] = a.punch;
            rec[TIME].copy_from_slice(&time);
        }
        AttFormat::Pin16 => {
            use field::att16::*;
            let id: u32 = a.user_id.parse().unwrap_or(0);
            rec[USER_ID].copy_from_slice(&id.to_le_bytes());
            rec[TIME].copy_from_slice(&time);
            rec[STATUS] = a.status;
            rec[PUNCH] = a.punch;
        }
        _ => {
            use field::att40::*;
            rec[UID].copy_from_slice(&a.uid.to_le_bytes());
            put_str(&mut rec[USER_ID], a.user_id.as_bytes());
            rec[STATUS] = a.status;
            rec[TIME].copy_from_slice(&time);
            rec[PUNCH] = a.punch;
        }
    }
    rec
}

fn put_str(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Chooses the user layout from the body length and the user count;
/// `None` for an empty table (no layout to tell).
pub fn infer_user_format(
    body: &[u8],
    count_hint: u32,
) -> Result<Option<UserFormat>, ProtocolError> {
    if body.is_empty() {
        return Ok(None);
    }
    if count_hint > 0 && body.len().is_multiple_of(count_hint as usize) {
        if let Some(f) = UserFormat::from_size(body.len() / count_hint as usize) {
            return Ok(Some(f));
        }
    }
    UserFormat::ALL
        .into_iter()
        .rev()
        .find(|f| body.len().is_multiple_of(f.size()))
        .map(Some)
        .ok_or(ProtocolError::UserSize {
            bytes: body.len(),
            count: count_hint,
        })
}

/// Parses user records in `format`.
pub fn parse_users(body: &[u8], format: UserFormat) -> Vec<User> {
    body.chunks_exact(format.size())
        .filter_map(|rec| parse_user_record(rec, format))
        .collect()
}

/// Parses one user record in `format`; `None` if it is too short.
pub fn parse_user_record(rec: &[u8], format: UserFormat) -> Option<User> {
    let l = format.layout();
    let user_id = if format.numeric_ids() {
        u32_in(rec, l.user_id.clone())?.to_string()
    } else {
        String::from_utf8_lossy(until_nul(rec.get(l.user_id.clone())?)).into_owned()
    };
    Some(User {
        uid: u16_in(rec, l.uid)?,
        privilege: *rec.get(l.privilege)?,
        password: until_nul(rec.get(l.password)?).to_vec(),
        name: until_nul(rec.get(l.name)?).to_vec(),
        card: u32_in(rec, l.card)?,
        group: *rec.get(l.group)?,
        user_id,
    })
}

/// Encodes a user in `format` (CMD_USER_WRQ payload and the simulator's
/// dataset).
pub fn encode_user(u: &User, format: UserFormat) -> Vec<u8> {
    let l = format.layout();
    let mut rec = vec![0u8; format.size()];
    rec[l.uid].copy_from_slice(&u.uid.to_le_bytes());
    rec[l.privilege] = u.privilege;
    put_str(&mut rec[l.password], &u.password);
    put_str(&mut rec[l.name], &u.name);
    rec[l.card].copy_from_slice(&u.card.to_le_bytes());
    rec[l.group] = u.group;
    if format.numeric_ids() {
        let id: u32 = u.user_id.parse().unwrap_or(0);
        rec[l.user_id].copy_from_slice(&id.to_le_bytes());
    } else {
        put_str(&mut rec[l.user_id], u.user_id.as_bytes());
    }
    rec
}

/// Wraps records in the dataset envelope (u32 byte count + records).
pub fn dataset(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() + 4);
    out.extend_from_slice(&len_u32(records.len()).to_le_bytes());
    out.extend_from_slice(records);
    out
}

/// Fills in `user_id` of records that only carry a uid (8-byte format): the
/// user's PIN when the uid is known, else the uid as text.
pub fn resolve_user_ids(records: &mut [Attendance], users: &[User]) {
    let map: std::collections::HashMap<u16, &str> =
        users.iter().map(|u| (u.uid, u.user_id.as_str())).collect();
    for r in records.iter_mut().filter(|r| r.user_id.is_empty()) {
        r.user_id = match map.get(&r.uid) {
            Some(id) => (*id).to_string(),
            None => r.uid.to_string(),
        };
    }
}

/// One fingerprint template entry (spec §4.4). Its `Debug` (in
/// `zk::templates`) prints the length, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    /// Owner's uid.
    pub uid: u16,
    /// Finger 0–9.
    pub finger: u8,
    /// Validity flag as stored (1 = valid, 3 = duress on some firmware).
    pub valid: u8,
    /// Template bytes.
    pub data: Vec<u8>,
}

/// Parses the template dataset body: repeated `u16 size (incl. the 6-byte
/// header), u16 uid, u8 finger, u8 valid, template`.
pub fn parse_templates(body: &[u8]) -> Result<Vec<Template>, ProtocolError> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let size =
            u16_at(rest, 0).ok_or(ProtocolError::TemplateEntry { size: rest.len() })? as usize;
        let entry = rest
            .get(..size)
            .filter(|_| size >= 6)
            .ok_or(ProtocolError::TemplateEntry { size })?;
        out.push(Template {
            uid: u16_at(entry, 2).unwrap_or(0),
            finger: entry[4],
            valid: entry[5],
            data: entry[6..].to_vec(),
        });
        rest = &rest[size..];
    }
    Ok(out)
}

/// Encodes one template entry (used by the simulator).
pub fn encode_template(t: &Template) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + t.data.len());
    let size = u16::try_from(6 + t.data.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&t.uid.to_le_bytes());
    out.push(t.finger);
    out.push(t.valid);
    out.extend_from_slice(&t.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::wire::hex;
    use proptest::prelude::*;

    #[test]
    fn v17_40_byte_record() {
        let rec = hex("0D 00 39 39 39 31 31 31 33 33 33 00 00 00 00 00
             00 00 00 00 00 00 00 00 00 00 01 6B B3 68 23 00
             00 00 00 00 FF 00 00 00");
        let a = parse_attendance_record(&rec, AttFormat::Full40).unwrap();
        assert_eq!(a.uid, 13);
        assert_eq!(a.user_id, "999111333");
        assert_eq!((a.status, a.punch), (1, 0));
        assert_eq!(a.time.to_string(), "2018-06-25 17:50:35");
    }

    #[test]
    fn v18_40_byte_face_record() {
        let mut rec = hex("0100 3130303336");
        rec.resize(26, 0);
        rec.extend(hex("0f b8ebc929 00 0000000000000000"));
        assert_eq!(rec.len(), 40);
        let a = parse_attendance_record(&rec, AttFormat::Full40).unwrap();
        assert_eq!(
            (a.uid, a.user_id.as_str(), a.status, a.punch),
            (1, "10036", 15, 0)
        );
        assert_eq!(a.time.to_string(), "2021-10-24 13:42:16");
    }

    #[test]
    fn v19_8_byte_records_use_time_at_offset_4() {
        let body = hex("07002800a8eba71e 7b0028004beca71e 7b0028004eeca71e");
        assert_eq!(infer_attendance_format(&body, 3).unwrap(), AttFormat::Uid8);
        let mut recs = parse_attendance(&body, AttFormat::Uid8);
        let users = vec![User {
            uid: 7,
            user_id: "1007".into(),
            ..User::default()
        }];
        resolve_user_ids(&mut recs, &users);
        assert_eq!(recs[0].time.to_string(), "2016-01-01 19:02:00");
        assert_eq!((recs[0].status, recs[0].punch), (0x28, 0));
        assert_eq!(recs[0].user_id, "1007");
        assert_eq!(recs[1].user_id, "123", "unknown uid falls back to the uid");
        assert_eq!(recs[2].time.to_string(), "2016-01-01 19:04:46");
    }

    #[test]
    fn v20_16_byte_records_keep_duplicates() {
        let body = hex("15000000 ec154f23 00 00 0000 00000000
             10000000 95164f23 00 00 0000 00000000
             0b000000 c1194f23 00 00 0000 00000000
             0d000000 521b4f23 00 00 0000 00000000
             0d000000 521b4f23 00 00 0000 00000000
             0c000000 5c1b4f23 00 00 0000 00000000");
        assert_eq!(infer_attendance_format(&body, 6).unwrap(), AttFormat::Pin16);
        let recs = parse_attendance(&body, AttFormat::Pin16);
        assert_eq!(recs.len(), 6);
        assert_eq!(recs[0].user_id, "21");
        assert_eq!(recs[0].time.to_string(), "2018-06-06 07:31:56");
        assert_eq!(recs[3], recs[4]);
        assert_eq!(recs[5].time.to_string(), "2018-06-06 07:55:08");
    }

    #[test]
    fn v21_72_byte_user_and_v11_first_user() {
        let rec = hex("0D 00 00 34 34 34 00 C6 9A 80 7C 4E 65 64 00 00
             00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
             00 00 00 DE 00 00 00 02 01 00 01 00 02 00 00 00
             35 35 35 00 00 00 00 00 00 00 00 00 00 00 00 00
             00 00 00 00 00 00 00 00");
        let u = parse_user_record(&rec, UserFormat::Long72).unwrap();
        assert_eq!(u.uid, 13);
        assert_eq!(u.password, b"444");
        assert_eq!(u.name, b"Ned");
        assert_eq!((u.card, u.group), (222, 2));
        assert_eq!(u.user_id, "555");

        let mut first = hex("0100 0e");
        first.resize(48, 0);
        first.extend(b"808");
        first.resize(72, 0);
        let u = parse_user_record(&first, UserFormat::Long72).unwrap();
        assert_eq!((u.uid, u.privilege, u.user_id.as_str()), (1, 14, "808"));
    }

    #[test]
    fn v12_alphanumeric_user_id() {
        let mut rec = hex("0200 00 0000000000000000 726d656e67616e6f");
        rec.resize(48, 0);
        rec.extend(hex("3232323232326362"));
        rec.resize(72, 0);
        let u = parse_user_record(&rec, UserFormat::Long72).unwrap();
        assert_eq!(
            (u.name.as_slice(), u.user_id.as_str()),
            (&b"rmengano"[..], "222222cb")
        );
    }

    #[test]
    fn field_tables_fit_their_layouts() {
        assert_eq!(field::att8::TIME.end, AttFormat::Uid8.size());
        assert!(field::att16::RESERVED.end <= AttFormat::Pin16.size());
        assert_eq!(field::att40::PUNCH + 1, field::att40::MIN_LEN);
        assert_eq!(field::user28::USER_ID.end, UserFormat::Short28.size());
        assert_eq!(field::user72::USER_ID.end, UserFormat::Long72.size());
        assert_eq!(
            (
                UserFormat::Short28.name_width(),
                UserFormat::Short28.password_width()
            ),
            (8, 5)
        );
        assert_eq!(
            (
                UserFormat::Long72.name_width(),
                UserFormat::Long72.password_width()
            ),
            (24, 8)
        );
    }

    #[test]
    fn dataset_envelope_v13_count() {
        // First u32 of the V13 data: 5040 = 70 × 72.
        let mut data = hex("b0130000");
        data.resize(5044, 0);
        let (body, mismatch) = dataset_body(&data).unwrap();
        assert_eq!((body.len(), mismatch), (5040, None));
        assert_eq!(
            infer_user_format(body, 70).unwrap(),
            Some(UserFormat::Long72)
        );
        assert_eq!(infer_user_format(&[], 0).unwrap(), None);
        assert!(dataset_body(&[1, 2]).is_err());
        let (_, mismatch) = dataset_body(&hex("10000000 aabb")).unwrap();
        assert_eq!(mismatch, Some(16));
    }

    #[allow(clippy::cast_possible_truncation)]
    fn sample(n: usize) -> Vec<Attendance> {
        (0..n)
            .map(|i| Attendance {
                uid: (i % 50 + 1) as u16,
                user_id: format!("{}", i % 50 + 1),
                time: ZkTime::decode(ZkTime::new(2026, 3, 1, 8, 0, 0).encode() + i as u32 * 97),
                status: (i % 3) as u8,
                punch: (i % 2) as u8,
            })
            .collect()
    }

    #[test]
    fn inference_survives_a_stale_count() {
        for format in AttFormat::KNOWN {
            let recs = sample(200);
            let body: Vec<u8> = recs
                .iter()
                .flat_map(|a| encode_attendance(a, format))
                .collect();
            for hint in [0u32, 199, 200, 201, 250, 500, 1000] {
                assert_eq!(
                    infer_attendance_format(&body, hint).unwrap(),
                    format,
                    "{format:?} hint {hint}"
                );
            }
        }
        // An unknown wide size is read when the count says so.
        let wide: Vec<u8> = sample(3)
            .iter()
            .flat_map(|a| encode_attendance(a, AttFormat::Wide(36)))
            .collect();
        assert_eq!(
            infer_attendance_format(&wide, 3).unwrap(),
            AttFormat::Wide(36)
        );
        assert!(infer_attendance_format(&wide[..35], 3).is_err());
    }

    #[test]
    fn template_entries() {
        let t = Template {
            uid: 7,
            finger: 5,
            valid: 1,
            data: vec![1, 2, 3],
        };
        let mut body = encode_template(&t);
        body.extend(encode_template(&Template {
            uid: 8,
            finger: 0,
            valid: 1,
            data: vec![],
        }));
        let back = parse_templates(&body).unwrap();
        assert_eq!(back[0], t);
        assert_eq!((back[1].uid, back[1].finger), (8, 0));
        assert!(parse_templates(&[3, 0, 1]).is_err());
        assert!(parse_templates(&[0, 0]).is_err());
        assert!(parse_templates(&[200, 0, 1, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn attendance_round_trip(format in prop::sample::select(AttFormat::KNOWN.to_vec()),
                                 uid: u16, id in 1u32..4_000_000_000, v in 1u32..0xBF92_F7FF, status: u8, punch: u8) {
            let a = Attendance { uid, user_id: id.to_string(), time: ZkTime::decode(v), status, punch };
            let rec = encode_attendance(&a, format);
            prop_assert_eq!(rec.len(), format.size());
            let mut b = parse_attendance_record(&rec, format).unwrap();
            if format == AttFormat::Uid8 { b.user_id = id.to_string(); }
            if format == AttFormat::Pin16 { b.uid = uid; }
            prop_assert_eq!(b, a);
        }

        #[test]
        fn user_round_trip(format in prop::sample::select(UserFormat::ALL.to_vec()), uid: u16, privilege: u8,
                           card: u32, group: u8, id in 0u32..1_000_000, name in "[a-zA-Z ]{0,8}") {
            let u = User { uid, privilege, password: b"12".to_vec(), name: name.trim_end().as_bytes().to_vec(),
                           card, group, user_id: id.to_string() };
            let back = parse_user_record(&encode_user(&u, format), format).unwrap();
            prop_assert_eq!(back, u);
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), hint: u32) {
            if let Ok((body, _)) = dataset_body(&bytes) {
                if let Ok(f) = infer_attendance_format(body, hint) {
                    let _ = parse_attendance(body, f);
                }
                if let Ok(Some(f)) = infer_user_format(body, hint) {
                    let _ = parse_users(body, f);
                }
                for size in 0..64 {
                    if let Some(f) = AttFormat::from_size(size) {
                        let _ = parse_attendance_record(body, f);
                    }
                }
                let _ = parse_templates(body);
            }
        }
    }
}
