//! Cursors: a reader's position in a terminal's attendance log, as an
//! opaque, URL-safe text (base64url without padding).
//!
//! A device cursor (26 characters) encodes a version byte, the record size
//! (u16), the record count (u32), the digest of the last record (u64) and a
//! tag of the device id (u32), so a cursor made for one device is refused
//! by another. A composite cursor (for `/attendance/all` and `/events`)
//! lists device ids with their positions.
//!
//! A journal cursor (18 characters) is a position in zkserver's own punch
//! journal (the journal's `seq` of the last punch it covers) with the
//! device's tag; it never needs a reset. Composite cursors may mix both
//! kinds (a mixed composite has its own version byte).
// Untrusted bytes never pass through a truncating `as`: conversions are checked.
#![deny(clippy::cast_possible_truncation)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::zk::{AttFormat, LogPosition};

const DEVICE_VERSION: u8 = 1;
const COMPOSITE_VERSION: u8 = 2;
const POSITION_LEN: usize = 2 + 4 + 8;
const JOURNAL_VERSION: u8 = 3;
const MIXED_COMPOSITE_VERSION: u8 = 4;
const SEQ_LEN: usize = 8;

/// A reader's position of either kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A position in the terminal's own log.
    Log(LogPosition),
    /// A position in the journal: the `seq` of the last punch covered
    /// (0: before every punch).
    Journal(i64),
}

/// Why a cursor was refused (the HTTP layer words it in Spanish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorError {
    /// Not a cursor this server makes.
    Malformed,
    /// A cursor made for another device.
    OtherDevice,
    /// A device cursor where a composite one is needed, or the reverse.
    WrongKind,
}

/// A 32-bit tag of a device id.
fn device_tag(id: &str) -> u32 {
    let [a, b, c, d, ..] = crate::zk::tail::digest(id.as_bytes()).to_le_bytes();
    u32::from_le_bytes([a, b, c, d])
}

/// The record size a cursor stores: a size over 16 bits (no real terminal's)
/// is written as 0, which no reader takes, so its cursor is refused as
/// malformed instead of pointing at another layout.
fn stored_record_size(format: AttFormat) -> u16 {
    u16::try_from(format.size()).unwrap_or(0)
}

/// A device id as a composite cursor stores it: its length in one byte,
/// then at most 255 of its bytes.
fn put_id(out: &mut Vec<u8>, id: &str) {
    let len = u8::try_from(id.len()).unwrap_or(u8::MAX);
    out.push(len);
    out.extend_from_slice(&id.as_bytes()[..usize::from(len)]);
}

fn put_position(out: &mut Vec<u8>, p: &LogPosition) {
    out.extend_from_slice(&stored_record_size(p.format).to_le_bytes());
    out.extend_from_slice(&p.count.to_le_bytes());
    out.extend_from_slice(&p.digest.to_le_bytes());
}

fn get_position(b: &[u8]) -> Result<LogPosition, CursorError> {
    let [s0, s1, c0, c1, c2, c3, d @ ..] = b else {
        return Err(CursorError::Malformed);
    };
    let digest: [u8; 8] = d.try_into().map_err(|_| CursorError::Malformed)?;
    let format = AttFormat::from_size(usize::from(u16::from_le_bytes([*s0, *s1])))
        .ok_or(CursorError::Malformed)?;
    let count = u32::from_le_bytes([*c0, *c1, *c2, *c3]);
    let digest = u64::from_le_bytes(digest);
    if count == 0 && digest != 0 {
        return Err(CursorError::Malformed);
    }
    Ok(LogPosition {
        format,
        count,
        digest,
    })
}

/// The cursor of `position` in device `id`'s log.
pub fn encode(id: &str, position: &LogPosition) -> String {
    let mut b = vec![DEVICE_VERSION];
    put_position(&mut b, position);
    b.extend_from_slice(&device_tag(id).to_le_bytes());
    base64url(&b)
}

/// The position a cursor for device `id` holds.
pub fn decode(id: &str, cursor: &str) -> Result<LogPosition, CursorError> {
    let b = unbase64url(cursor.trim()).ok_or(CursorError::Malformed)?;
    match b.first() {
        Some(&DEVICE_VERSION) => {}
        Some(&COMPOSITE_VERSION | &JOURNAL_VERSION | &MIXED_COMPOSITE_VERSION) => {
            return Err(CursorError::WrongKind)
        }
        _ => return Err(CursorError::Malformed),
    }
    if b.len() != 1 + POSITION_LEN + 4 {
        return Err(CursorError::Malformed);
    }
    let position = get_position(&b[1..=POSITION_LEN])?;
    let tag = u32::from_le_bytes(
        b[1 + POSITION_LEN..]
            .try_into()
            .map_err(|_| CursorError::Malformed)?,
    );
    if tag != device_tag(id) {
        return Err(CursorError::OtherDevice);
    }
    Ok(position)
}

/// A composite cursor: positions of several devices, in order.
pub fn encode_composite(positions: &[(String, LogPosition)]) -> String {
    let mut b = vec![COMPOSITE_VERSION];
    for (id, p) in positions {
        put_id(&mut b, id);
        put_position(&mut b, p);
    }
    base64url(&b)
}

/// The positions of a composite cursor.
pub fn decode_composite(cursor: &str) -> Result<Vec<(String, LogPosition)>, CursorError> {
    let b = unbase64url(cursor.trim()).ok_or(CursorError::Malformed)?;
    match b.first() {
        Some(&COMPOSITE_VERSION) => {}
        Some(&DEVICE_VERSION | &JOURNAL_VERSION | &MIXED_COMPOSITE_VERSION) => {
            return Err(CursorError::WrongKind)
        }
        _ => return Err(CursorError::Malformed),
    }
    let mut rest = &b[1..];
    let mut out = Vec::new();
    while let [len, tail @ ..] = rest {
        let len = usize::from(*len);
        let id = tail.get(..len).ok_or(CursorError::Malformed)?;
        let id = std::str::from_utf8(id).map_err(|_| CursorError::Malformed)?;
        let pos = tail
            .get(len..len + POSITION_LEN)
            .ok_or(CursorError::Malformed)?;
        out.push((id.to_string(), get_position(pos)?));
        rest = &tail[len + POSITION_LEN..];
    }
    Ok(out)
}

/// The journal cursor of position `seq` for device `id`.
pub fn encode_journal(id: &str, seq: i64) -> String {
    let mut b = vec![JOURNAL_VERSION];
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&device_tag(id).to_le_bytes());
    base64url(&b)
}

/// The cursor of `position` (either kind) for device `id`.
pub fn encode_any(id: &str, position: &Position) -> String {
    match position {
        Position::Log(p) => encode(id, p),
        Position::Journal(seq) => encode_journal(id, *seq),
    }
}

/// The position a device cursor of either kind holds for device `id`.
pub fn decode_any(id: &str, cursor: &str) -> Result<Position, CursorError> {
    let b = unbase64url(cursor.trim()).ok_or(CursorError::Malformed)?;
    if b.first() != Some(&JOURNAL_VERSION) {
        return decode(id, cursor).map(Position::Log);
    }
    if b.len() != 1 + SEQ_LEN + 4 {
        return Err(CursorError::Malformed);
    }
    let seq = get_seq(&b[1..=SEQ_LEN])?;
    let tag = u32::from_le_bytes(
        b[1 + SEQ_LEN..]
            .try_into()
            .map_err(|_| CursorError::Malformed)?,
    );
    if tag != device_tag(id) {
        return Err(CursorError::OtherDevice);
    }
    Ok(Position::Journal(seq))
}

fn get_seq(b: &[u8]) -> Result<i64, CursorError> {
    let raw: [u8; 8] = b.try_into().map_err(|_| CursorError::Malformed)?;
    let seq = i64::from_le_bytes(raw);
    if seq < 0 {
        return Err(CursorError::Malformed);
    }
    Ok(seq)
}

/// A composite cursor of positions of either kind; the plain composite
/// form when every position is a log position (so old readers keep it).
pub fn encode_composite_any(positions: &[(String, Position)]) -> String {
    let logs: Option<Vec<(String, LogPosition)>> = positions
        .iter()
        .map(|(id, p)| match p {
            Position::Log(l) => Some((id.clone(), *l)),
            Position::Journal(_) => None,
        })
        .collect();
    if let Some(logs) = logs {
        return encode_composite(&logs);
    }
    let mut b = vec![MIXED_COMPOSITE_VERSION];
    for (id, p) in positions {
        match p {
            Position::Log(l) => {
                b.push(DEVICE_VERSION);
                put_id(&mut b, id);
                put_position(&mut b, l);
            }
            Position::Journal(seq) => {
                b.push(JOURNAL_VERSION);
                put_id(&mut b, id);
                b.extend_from_slice(&seq.to_le_bytes());
            }
        }
    }
    base64url(&b)
}

/// The positions of a composite cursor of either form.
pub fn decode_composite_any(cursor: &str) -> Result<Vec<(String, Position)>, CursorError> {
    let b = unbase64url(cursor.trim()).ok_or(CursorError::Malformed)?;
    match b.first() {
        Some(&MIXED_COMPOSITE_VERSION) => {}
        Some(&COMPOSITE_VERSION) => {
            return decode_composite(cursor).map(|list| {
                list.into_iter()
                    .map(|(id, p)| (id, Position::Log(p)))
                    .collect()
            })
        }
        Some(&DEVICE_VERSION | &JOURNAL_VERSION) => return Err(CursorError::WrongKind),
        _ => return Err(CursorError::Malformed),
    }
    let mut rest = &b[1..];
    let mut out = Vec::new();
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let id = tail.get(..len).ok_or(CursorError::Malformed)?;
        let id = std::str::from_utf8(id).map_err(|_| CursorError::Malformed)?;
        let size = match *kind {
            DEVICE_VERSION => POSITION_LEN,
            JOURNAL_VERSION => SEQ_LEN,
            _ => return Err(CursorError::Malformed),
        };
        let raw = tail.get(len..len + size).ok_or(CursorError::Malformed)?;
        let position = if *kind == DEVICE_VERSION {
            Position::Log(get_position(raw)?)
        } else {
            Position::Journal(get_seq(raw)?)
        };
        out.push((id.to_string(), position));
        rest = &tail[len + size..];
    }
    if !rest.is_empty() {
        return Err(CursorError::Malformed);
    }
    Ok(out)
}

/// The longest cursor text accepted (a composite of many devices).
const MAX_TEXT: usize = 4096;

/// base64url without padding.
fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding, in canonical form only (what
/// [`base64url`] makes: no padding, no stray bits), at most `MAX_TEXT`.
fn unbase64url(text: &str) -> Option<Vec<u8>> {
    if text.len() > MAX_TEXT {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(count: u32) -> LogPosition {
        LogPosition {
            format: AttFormat::Full40,
            count,
            digest: if count == 0 { 0 } else { 0x1234_5678_9abc_def0 },
        }
    }

    #[test]
    fn device_cursors_round_trip_and_know_their_device() {
        for p in [pos(0), pos(1), pos(199_999)] {
            let c = encode("principal", &p);
            assert_eq!(c.len(), 26, "{c}");
            assert!(c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(decode("principal", &c), Ok(p));
            assert_eq!(decode("bodega", &c), Err(CursorError::OtherDevice));
        }
        let wide = LogPosition {
            format: AttFormat::Wide(300),
            ..pos(5)
        };
        assert_eq!(decode("x", &encode("x", &wide)), Ok(wide));
    }

    #[test]
    fn a_record_size_over_16_bits_makes_a_refused_cursor_not_another_layout() {
        let huge = LogPosition {
            format: AttFormat::Wide(usize::from(u16::MAX) + 4465),
            ..pos(5)
        };
        assert_eq!(
            decode("x", &encode("x", &huge)),
            Err(CursorError::Malformed)
        );
        let in_composite = encode_composite(&[("x".to_string(), huge)]);
        assert_eq!(decode_composite(&in_composite), Err(CursorError::Malformed));
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let good = encode("principal", &pos(3));
        for bad in [
            "",
            "x",
            "not a cursor",
            "%%%%",
            &good[..20],
            &format!("{good}AA"),
            "AQAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(decode("principal", bad).is_err(), "{bad:?}");
        }
        // Count 0 with a digest cannot be made by the server.
        let mut b = vec![DEVICE_VERSION];
        put_position(
            &mut b,
            &LogPosition {
                digest: 7,
                ..pos(0)
            },
        );
        b.extend_from_slice(&device_tag("p").to_le_bytes());
        assert_eq!(decode("p", &base64url(&b)), Err(CursorError::Malformed));
    }

    #[test]
    fn composite_cursors() {
        let list = vec![
            ("principal".to_string(), pos(10)),
            ("bodega".to_string(), pos(0)),
        ];
        let c = encode_composite(&list);
        assert_eq!(decode_composite(&c), Ok(list));
        assert_eq!(decode_composite(&encode_composite(&[])), Ok(vec![]));
        assert_eq!(decode("principal", &c), Err(CursorError::WrongKind));
        assert_eq!(
            decode_composite(&encode("principal", &pos(1))),
            Err(CursorError::WrongKind)
        );
        assert!(decode_composite(&c[..c.len() - 3]).is_err());
    }

    #[test]
    fn journal_cursors_know_their_device_and_mix_in_composites() {
        for seq in [0, 1, 1_000_000, i64::MAX] {
            let c = encode_journal("recepcion", seq);
            assert_eq!(c.len(), 18, "{c}");
            assert_eq!(decode_any("recepcion", &c), Ok(Position::Journal(seq)));
            assert_eq!(decode_any("bodega", &c), Err(CursorError::OtherDevice));
            assert_eq!(decode("recepcion", &c), Err(CursorError::WrongKind));
            assert_eq!(decode_composite_any(&c), Err(CursorError::WrongKind));
        }
        let log = encode("principal", &pos(4));
        assert_eq!(decode_any("principal", &log), Ok(Position::Log(pos(4))));
        let mixed = vec![
            ("principal".to_string(), Position::Log(pos(10))),
            ("recepcion".to_string(), Position::Journal(77)),
        ];
        let c = encode_composite_any(&mixed);
        assert_eq!(decode_composite_any(&c), Ok(mixed));
        assert_eq!(decode_composite(&c), Err(CursorError::WrongKind));
        assert!(decode_composite_any(&c[..c.len() - 2]).is_err());
        // All log positions: the plain composite form.
        let plain = vec![("principal".to_string(), Position::Log(pos(1)))];
        let c = encode_composite_any(&plain);
        assert_eq!(decode_composite(&c).unwrap().len(), 1);
        assert_eq!(decode_composite_any(&c), Ok(plain));
        let negative = {
            let mut b = vec![JOURNAL_VERSION];
            b.extend_from_slice(&(-1i64).to_le_bytes());
            b.extend_from_slice(&device_tag("p").to_le_bytes());
            base64url(&b)
        };
        assert_eq!(decode_any("p", &negative), Err(CursorError::Malformed));
    }

    #[test]
    fn base64url_matches_the_rfc_examples() {
        for (raw, text) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
        ] {
            assert_eq!(base64url(raw), text);
            assert_eq!(unbase64url(text).as_deref(), Some(raw));
        }
    }

    #[test]
    fn non_canonical_base64_is_refused() {
        // "Zh" decodes to "f" with stray bits; padding is not ours either.
        assert_eq!(unbase64url("Zh"), None);
        assert_eq!(unbase64url("Zg=="), None);
        assert_eq!(unbase64url("Zm9v+/"), None, "the standard alphabet");
        assert_eq!(unbase64url(&"A".repeat(MAX_TEXT + 4)), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn format() -> impl Strategy<Value = AttFormat> {
            prop_oneof![
                Just(AttFormat::Full40),
                Just(AttFormat::Pin16),
                Just(AttFormat::Uid8),
                (1usize..=u16::MAX as usize)
                    .prop_filter_map("a size this server reads", AttFormat::from_size),
            ]
        }

        fn position() -> impl Strategy<Value = LogPosition> {
            (format(), any::<u32>(), any::<u64>()).prop_map(|(format, count, digest)| LogPosition {
                format,
                count,
                digest: if count == 0 { 0 } else { digest },
            })
        }

        proptest! {
            #[test]
            fn parsing_never_panics(text in ".{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = decode("principal", &text);
                let _ = decode_composite(&text);
                // Any bytes, well encoded: still only Ok or Err.
                let encoded = base64url(&bytes);
                let _ = decode("principal", &encoded);
                let _ = decode_composite(&encoded);
                let _ = decode_any("principal", &encoded);
                let _ = decode_composite_any(&encoded);
                let _ = decode_composite_any(&text);
            }

            #[test]
            fn device_cursors_round_trip(id in "[a-z0-9_-]{1,40}", p in position()) {
                let c = encode(&id, &p);
                prop_assert_eq!(decode(&id, &c), Ok(p));
                prop_assert_eq!(decode_composite(&c), Err(CursorError::WrongKind));
            }

            #[test]
            fn composite_cursors_round_trip(
                list in proptest::collection::vec(("\\PC{0,60}", position()), 0..8)
            ) {
                let c = encode_composite(&list);
                prop_assert_eq!(decode_composite(&c), Ok(list));
            }
        }
    }
}
