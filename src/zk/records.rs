//! Attendance (8/16/40/49-byte) and user (28/72-byte) record layouts, the
//! dataset envelope, and record-size inference (spec §3.7.1, §4.2, §4.3).
//! Parsers take untrusted bytes and never panic.

use super::codec::{u16_at, u32_at, until_nul, ZkTime};

/// Attendance record sizes this crate understands.
pub const ATTENDANCE_SIZES: [usize; 4] = [8, 16, 40, 49];
/// User record sizes this crate understands.
pub const USER_SIZES: [usize; 2] = [28, 72];

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
pub fn dataset_body(data: &[u8]) -> Result<(&[u8], Option<u32>), String> {
    let announced = u32_at(data, 0)
        .ok_or_else(|| format!("conjunto de datos de {} bytes, sin cabecera", data.len()))?;
    let body = &data[4..];
    let mismatch = (announced as usize != body.len()).then_some(announced);
    Ok((body, mismatch))
}

/// Chooses the attendance record size for `body` given the record count the
/// terminal reported (which may be stale, §4.2.5). Every candidate size that
/// divides the body is scored by how plausible its records look; the count's
/// own answer wins ties.
pub fn infer_attendance_size(body: &[u8], count_hint: u32) -> Result<usize, String> {
    if body.is_empty() {
        return Ok(40);
    }
    let from_count = (count_hint > 0 && body.len().is_multiple_of(count_hint as usize))
        .then(|| body.len() / count_hint as usize);
    let mut candidates: Vec<usize> = ATTENDANCE_SIZES
        .iter()
        .copied()
        .filter(|r| body.len().is_multiple_of(*r))
        .collect();
    if candidates.is_empty() {
        // pyzk master: an unknown size >= 32 is parsed as the 40-byte prefix.
        return match from_count {
            Some(r) if r >= 32 => Ok(r),
            _ => Err(format!(
                "no se pudo deducir el tamaño de registro ({} bytes, {} registros informados)",
                body.len(),
                count_hint
            )),
        };
    }
    if candidates.len() == 1 {
        return Ok(candidates[0]);
    }
    // Prefer the count's answer, then the common formats.
    candidates.sort_by_key(|r| {
        (
            Some(*r) != from_count,
            [40, 49, 16, 8].iter().position(|x| x == r),
        )
    });
    let mut best = candidates[0];
    let mut best_score = plausibility(body, best);
    for &r in &candidates[1..] {
        let s = plausibility(body, r);
        if s > best_score {
            best = r;
            best_score = s;
        }
    }
    Ok(best)
}

/// Fraction (0..=1000) of sampled records that look like real punches when
/// `body` is read with record size `size`.
fn plausibility(body: &[u8], size: usize) -> u32 {
    let n = body.len() / size;
    if n == 0 {
        return 0;
    }
    let samples = n.min(512);
    let mut good = 0u32;
    for k in 0..samples {
        let i = k * n / samples;
        let rec = &body[i * size..(i + 1) * size];
        if record_looks_real(rec, size) {
            good += 1;
        }
    }
    good * 1000 / samples as u32
}

fn plausible_time(v: Option<u32>) -> bool {
    // 0 decodes to 2000-01-01, what garbage records hold; the device clock
    // range ends in 2099.
    matches!(v, Some(v) if v > 0 && v <= 0xBF92_F7FF && ZkTime::decode(v).is_valid())
}

fn record_looks_real(rec: &[u8], size: usize) -> bool {
    match size {
        8 => plausible_time(u32_at(rec, 4)) && rec.get(3) == Some(&0),
        16 => plausible_time(u32_at(rec, 4)) && rec.get(10..12) == Some(&[0, 0][..]),
        _ => {
            let id = rec.get(2..26).unwrap_or(&[]);
            let text = until_nul(id);
            let printable = text.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
            printable && plausible_time(u32_at(rec, 27))
        }
    }
}

/// Parses attendance records of `size` bytes. Trailing bytes that do not make
/// a whole record are ignored (the caller logs them).
pub fn parse_attendance(body: &[u8], size: usize) -> Vec<Attendance> {
    let mut out = Vec::with_capacity(body.len() / size.max(1));
    if size < 8 {
        return out;
    }
    for rec in body.chunks_exact(size) {
        if let Some(a) = parse_attendance_record(rec) {
            out.push(a);
        }
    }
    out
}

/// Parses one record; its length selects the layout (8, 16, or ≥ 32 bytes).
pub fn parse_attendance_record(rec: &[u8]) -> Option<Attendance> {
    match rec.len() {
        8 => Some(Attendance {
            uid: u16_at(rec, 0)?,
            user_id: String::new(),
            status: *rec.get(2)?,
            punch: *rec.get(3)?,
            time: ZkTime::decode(u32_at(rec, 4)?),
        }),
        16 => Some(Attendance {
            uid: 0,
            user_id: u32_at(rec, 0)?.to_string(),
            time: ZkTime::decode(u32_at(rec, 4)?),
            status: *rec.get(8)?,
            punch: *rec.get(9)?,
        }),
        n if n >= 32 => Some(Attendance {
            uid: u16_at(rec, 0)?,
            user_id: String::from_utf8_lossy(until_nul(rec.get(2..26)?)).into_owned(),
            status: *rec.get(26)?,
            time: ZkTime::decode(u32_at(rec, 27)?),
            punch: *rec.get(31)?,
        }),
        _ => None,
    }
}

/// Encodes one attendance record in the given layout (used by the simulator).
pub fn encode_attendance(a: &Attendance, size: usize) -> Vec<u8> {
    let mut rec = vec![0u8; size];
    let time = a.time.encode().to_le_bytes();
    match size {
        8 => {
            rec[0..2].copy_from_slice(&a.uid.to_le_bytes());
            rec[2] = a.status;
            rec[3] = a.punch;
            rec[4..8].copy_from_slice(&time);
        }
        16 => {
            let id: u32 = a.user_id.parse().unwrap_or(0);
            rec[0..4].copy_from_slice(&id.to_le_bytes());
            rec[4..8].copy_from_slice(&time);
            rec[8] = a.status;
            rec[9] = a.punch;
        }
        _ => {
            rec[0..2].copy_from_slice(&a.uid.to_le_bytes());
            put_str(&mut rec[2..26], a.user_id.as_bytes());
            rec[26] = a.status;
            rec[27..31].copy_from_slice(&time);
            rec[31] = a.punch;
        }
    }
    rec
}

fn put_str(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Chooses the user record size from the body length and the user count.
pub fn infer_user_size(body: &[u8], count_hint: u32) -> Result<usize, String> {
    if body.is_empty() {
        return Ok(72);
    }
    if count_hint > 0 && body.len().is_multiple_of(count_hint as usize) {
        let r = body.len() / count_hint as usize;
        if USER_SIZES.contains(&r) {
            return Ok(r);
        }
    }
    USER_SIZES
        .iter()
        .rev()
        .copied()
        .find(|r| body.len().is_multiple_of(*r))
        .ok_or_else(|| {
            format!(
                "no se pudo deducir el tamaño de registro de usuario ({} bytes, {} usuarios)",
                body.len(),
                count_hint
            )
        })
}

/// Parses user records of `size` (28 or 72) bytes.
pub fn parse_users(body: &[u8], size: usize) -> Vec<User> {
    if !USER_SIZES.contains(&size) {
        return Vec::new();
    }
    body.chunks_exact(size)
        .filter_map(parse_user_record)
        .collect()
}

/// Parses one 28- or 72-byte user record.
pub fn parse_user_record(rec: &[u8]) -> Option<User> {
    match rec.len() {
        28 => Some(User {
            uid: u16_at(rec, 0)?,
            privilege: *rec.get(2)?,
            password: until_nul(rec.get(3..8)?).to_vec(),
            name: until_nul(rec.get(8..16)?).to_vec(),
            card: u32_at(rec, 16)?,
            group: *rec.get(21)?,
            user_id: u32_at(rec, 24)?.to_string(),
        }),
        72 => Some(User {
            uid: u16_at(rec, 0)?,
            privilege: *rec.get(2)?,
            password: until_nul(rec.get(3..11)?).to_vec(),
            name: until_nul(rec.get(11..35)?).to_vec(),
            card: u32_at(rec, 35)?,
            group: *rec.get(39)?,
            user_id: String::from_utf8_lossy(until_nul(rec.get(48..72)?)).into_owned(),
        }),
        _ => None,
    }
}

/// Encodes a user in the 28- or 72-byte layout (CMD_USER_WRQ payload and the
/// simulator's dataset).
pub fn encode_user(u: &User, size: usize) -> Vec<u8> {
    let mut rec = vec![0u8; size];
    rec[0..2].copy_from_slice(&u.uid.to_le_bytes());
    rec[2] = u.privilege;
    if size == 28 {
        put_str(&mut rec[3..8], &u.password);
        put_str(&mut rec[8..16], &u.name);
        rec[16..20].copy_from_slice(&u.card.to_le_bytes());
        rec[21] = u.group;
        let id: u32 = u.user_id.parse().unwrap_or(0);
        rec[24..28].copy_from_slice(&id.to_le_bytes());
    } else {
        put_str(&mut rec[3..11], &u.password);
        put_str(&mut rec[11..35], &u.name);
        rec[35..39].copy_from_slice(&u.card.to_le_bytes());
        rec[39] = u.group;
        put_str(&mut rec[48..72], u.user_id.as_bytes());
    }
    rec
}

/// Wraps records in the dataset envelope (u32 byte count + records).
pub fn dataset(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() + 4);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
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

/// One fingerprint template entry (spec §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
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
pub fn parse_templates(body: &[u8]) -> Result<Vec<Template>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let size = u16_at(rest, 0).ok_or("entrada de plantilla truncada")? as usize;
        let entry = rest
            .get(..size)
            .filter(|_| size >= 6)
            .ok_or_else(|| format!("entrada de plantilla de tamaño inválido ({size} bytes)"))?;
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
    out.extend_from_slice(&((6 + t.data.len()) as u16).to_le_bytes());
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
        let a = parse_attendance_record(&rec).unwrap();
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
        let a = parse_attendance_record(&rec).unwrap();
        assert_eq!(
            (a.uid, a.user_id.as_str(), a.status, a.punch),
            (1, "10036", 15, 0)
        );
        assert_eq!(a.time.to_string(), "2021-10-24 13:42:16");
    }

    #[test]
    fn v19_8_byte_records_use_time_at_offset_4() {
        let body = hex("07002800a8eba71e 7b0028004beca71e 7b0028004eeca71e");
        assert_eq!(infer_attendance_size(&body, 3).unwrap(), 8);
        let mut recs = parse_attendance(&body, 8);
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
        assert_eq!(infer_attendance_size(&body, 6).unwrap(), 16);
        let recs = parse_attendance(&body, 16);
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
        let u = parse_user_record(&rec).unwrap();
        assert_eq!(u.uid, 13);
        assert_eq!(u.password, b"444");
        assert_eq!(u.name, b"Ned");
        assert_eq!((u.card, u.group), (222, 2));
        assert_eq!(u.user_id, "555");

        let mut first = hex("0100 0e");
        first.resize(48, 0);
        first.extend(b"808");
        first.resize(72, 0);
        let u = parse_user_record(&first).unwrap();
        assert_eq!((u.uid, u.privilege, u.user_id.as_str()), (1, 14, "808"));
    }

    #[test]
    fn v12_alphanumeric_user_id() {
        let mut rec = hex("0200 00 0000000000000000 726d656e67616e6f");
        rec.resize(48, 0);
        rec.extend(hex("3232323232326362"));
        rec.resize(72, 0);
        let u = parse_user_record(&rec).unwrap();
        assert_eq!(
            (u.name.as_slice(), u.user_id.as_str()),
            (&b"rmengano"[..], "222222cb")
        );
    }

    #[test]
    fn dataset_envelope_v13_count() {
        // First u32 of the V13 data: 5040 = 70 × 72.
        let mut data = hex("b0130000");
        data.resize(5044, 0);
        let (body, mismatch) = dataset_body(&data).unwrap();
        assert_eq!((body.len(), mismatch), (5040, None));
        assert_eq!(infer_user_size(body, 70).unwrap(), 72);
        assert!(dataset_body(&[1, 2]).is_err());
        let (_, mismatch) = dataset_body(&hex("10000000 aabb")).unwrap();
        assert_eq!(mismatch, Some(16));
    }

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
        for size in ATTENDANCE_SIZES {
            let recs = sample(200);
            let body: Vec<u8> = recs
                .iter()
                .flat_map(|a| encode_attendance(a, size))
                .collect();
            for hint in [0u32, 199, 200, 201, 250, 500, 1000] {
                assert_eq!(
                    infer_attendance_size(&body, hint).unwrap(),
                    size,
                    "size {size} hint {hint}"
                );
            }
        }
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
        fn attendance_round_trip(size in prop::sample::select(ATTENDANCE_SIZES.to_vec()),
                                 uid: u16, id in 1u32..4_000_000_000, v in 1u32..0xBF92_F7FF, status: u8, punch: u8) {
            let a = Attendance { uid, user_id: id.to_string(), time: ZkTime::decode(v), status, punch };
            let rec = encode_attendance(&a, size);
            prop_assert_eq!(rec.len(), size);
            let mut b = parse_attendance_record(&rec).unwrap();
            if size == 8 { b.user_id = id.to_string(); }
            if size == 16 { b.uid = uid; }
            prop_assert_eq!(b, a);
        }

        #[test]
        fn user_round_trip(size in prop::sample::select(USER_SIZES.to_vec()), uid: u16, privilege: u8,
                           card: u32, group: u8, id in 0u32..1_000_000, name in "[a-zA-Z ]{0,8}") {
            let u = User { uid, privilege, password: b"12".to_vec(), name: name.trim_end().as_bytes().to_vec(),
                           card, group, user_id: id.to_string() };
            let back = parse_user_record(&encode_user(&u, size)).unwrap();
            prop_assert_eq!(back, u);
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), hint: u32) {
            if let Ok((body, _)) = dataset_body(&bytes) {
                if let Ok(r) = infer_attendance_size(body, hint) {
                    let _ = parse_attendance(body, r);
                }
                if let Ok(r) = infer_user_size(body, hint) {
                    let _ = parse_users(body, r);
                }
                let _ = parse_templates(body);
            }
        }
    }
}
