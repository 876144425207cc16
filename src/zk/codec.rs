//! Small codecs shared by the client and the simulator: checked integer
//! reads, the packed ZK time, and the comm-key token.

use std::fmt;

/// Little-endian u32 at `offset`, if the slice is long enough.
pub fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    match bytes.get(offset..offset.checked_add(4)?)? {
        [a, b, c, d] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Little-endian u16 at `offset`, if the slice is long enough.
pub fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    match bytes.get(offset..offset.checked_add(2)?)? {
        [a, b] => Some(u16::from_le_bytes([*a, *b])),
        _ => None,
    }
}

/// Bytes of a fixed-width NUL-padded field up to the first NUL.
pub fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|b| *b == 0) {
        Some(i) => &bytes[..i],
        None => bytes,
    }
}

/// A device wall-clock time as stored by the terminal (no zone). Components
/// are kept raw, so an impossible date (Feb 31) survives decoding and printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZkTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl ZkTime {
    /// Decodes the packed u32 form (spec §3.6): never fails, may be impossible.
    pub fn decode(mut v: u32) -> ZkTime {
        // Each remainder is below 60, so it always fits a byte.
        let mut field = |modulus: u32| {
            let part = u8::try_from(v % modulus).unwrap_or(u8::MAX);
            v /= modulus;
            part
        };
        let second = field(60);
        let minute = field(60);
        let hour = field(24);
        let day = field(31) + 1;
        let month = field(12) + 1;
        ZkTime {
            // At most 2000 + u32::MAX / (60·60·24·31·12) = 2133.
            year: u16::try_from(v + 2000).unwrap_or(u16::MAX),
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    /// Encodes to the packed u32 form (year taken modulo 100, as devices do).
    pub fn encode(&self) -> u32 {
        let y = u32::from(self.year % 100);
        let days = y * 12 * 31
            + u32::from(self.month.saturating_sub(1)) * 31
            + u32::from(self.day.saturating_sub(1));
        days * 86400
            + (u32::from(self.hour) * 60 + u32::from(self.minute)) * 60
            + u32::from(self.second)
    }

    /// Builds a time from components (no validation).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> ZkTime {
        ZkTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    /// The 6-byte realtime-event form `YY MM DD hh mm ss`.
    pub fn from_event_bytes(b: [u8; 6]) -> ZkTime {
        ZkTime::new(2000 + u16::from(b[0]), b[1], b[2], b[3], b[4], b[5])
    }

    /// From a chrono local time.
    pub fn from_naive(t: &chrono::NaiveDateTime) -> ZkTime {
        use chrono::{Datelike, Timelike};
        let small = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
        ZkTime::new(
            u16::try_from(t.year().clamp(0, 9999)).unwrap_or(0),
            small(t.month()),
            small(t.day()),
            small(t.hour()),
            small(t.minute()),
            small(t.second()),
        )
    }

    /// True when the date exists in the calendar and the time of day is valid.
    pub fn is_valid(&self) -> bool {
        self.to_naive().is_some()
    }

    /// As a chrono local time; `None` for an impossible date or time.
    pub fn to_naive(&self) -> Option<chrono::NaiveDateTime> {
        chrono::NaiveDate::from_ymd_opt(
            i32::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )?
        .and_hms_opt(
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(self.second),
        )
    }

    /// A sortable key (lexicographic on the components).
    pub fn sort_key(&self) -> u64 {
        ((u64::from(self.year) * 100 + u64::from(self.month)) * 100 + u64::from(self.day))
            * 1_000_000
            + u64::from(self.hour) * 10_000
            + u64::from(self.minute) * 100
            + u64::from(self.second)
    }

    /// Writes `YYYY-MM-DD HH:MM:SS` into a fixed buffer (fast path for big logs).
    pub fn write_to(&self, out: &mut [u8; 19]) {
        fn two(out: &mut [u8], v: u8) {
            out[0] = b'0' + (v / 10) % 10;
            out[1] = b'0' + v % 10;
        }
        let y = self.year.min(9999);
        out[0] = b'0' + (y / 1000) as u8;
        out[1] = b'0' + (y / 100 % 10) as u8;
        out[2] = b'0' + (y / 10 % 10) as u8;
        out[3] = b'0' + (y % 10) as u8;
        out[4] = b'-';
        two(&mut out[5..7], self.month);
        out[7] = b'-';
        two(&mut out[8..10], self.day);
        out[10] = b' ';
        two(&mut out[11..13], self.hour);
        out[13] = b':';
        two(&mut out[14..16], self.minute);
        out[16] = b':';
        two(&mut out[17..19], self.second);
    }
}

impl fmt::Display for ZkTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 19];
        self.write_to(&mut buf);
        // write_to only emits ASCII.
        f.write_str(std::str::from_utf8(&buf).unwrap_or("0000-00-00 00:00:00"))
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` into a valid time (the one rule of
/// [`crate::time::parse`]).
pub fn parse_timestamp(s: &str) -> Option<ZkTime> {
    crate::time::parse(s).map(|t| ZkTime::from_naive(&t))
}

/// The 4-byte comm-key token sent with CMD_AUTH (spec §3.1, `make_commkey`).
pub fn commkey(key: u32, session: u16, ticks: u8) -> [u8; 4] {
    let k = key.reverse_bits().wrapping_add(u32::from(session));
    let b = k.to_le_bytes();
    let c = [b[0] ^ b'Z', b[1] ^ b'K', b[2] ^ b'S', b[3] ^ b'O'];
    // Swap 16-bit halves: c2 c3 c0 c1; then XOR with ticks, byte 2 := ticks.
    [c[2] ^ ticks, c[3] ^ ticks, ticks, c[1] ^ ticks]
}

/// `n` as a u32 length or count, saturating: the protocol's lengths and
/// counts are u32, and no buffer this client builds comes near 4 GiB.
pub fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::wire::hex;
    use proptest::prelude::*;

    #[test]
    fn commkey_vectors() {
        assert_eq!(commkey(12, 0x45CF, 0x32).to_vec(), hex("614d323c"));
        assert_eq!(commkey(45, 0x45CF, 0x32).to_vec(), hex("61c9323c"));
        assert_eq!(commkey(0, 0x45CF, 0x32).to_vec(), hex("617d323c"));
        assert_eq!(commkey(123456, 0x1234, 0x32).to_vec(), hex("267f32eb"));
        assert_eq!(commkey(12, 0x45CF, 0x99).to_vec(), hex("cae69997"));
    }

    #[test]
    fn time_vectors_section_h() {
        let rows: &[(&str, &str)] = &[
            ("6bb36823", "2018-06-25 17:50:35"),
            ("c29b6823", "2018-06-25 16:09:38"),
            ("b8ebc929", "2021-10-24 13:42:16"),
            ("a8eba71e", "2016-01-01 19:02:00"),
            ("d2414624", "2018-12-07 19:09:06"),
            ("00000000", "2000-01-01 00:00:00"),
            ("fff792bf", "2099-12-31 23:59:59"),
        ];
        for (wire, text) in rows {
            let v = u32_at(&hex(wire), 0).unwrap();
            let t = ZkTime::decode(v);
            assert_eq!(t.to_string(), *text);
            assert_eq!(t.encode(), v, "{text}");
            assert_eq!(parse_timestamp(text), Some(t));
        }
        assert_eq!(ZkTime::decode(u32::MAX).to_string(), "2133-08-18 06:28:15");
        assert_eq!(
            ZkTime::from_event_bytes([0x12, 0x0c, 0x07, 0x13, 0x09, 0x06]).to_string(),
            "2018-12-07 19:09:06"
        );
    }

    #[test]
    fn impossible_dates_are_kept_raw() {
        let feb31 = ZkTime::new(2026, 2, 31, 8, 0, 0);
        let t = ZkTime::decode(feb31.encode());
        assert_eq!(t.to_string(), "2026-02-31 08:00:00");
        assert!(!t.is_valid());
        assert!(ZkTime::new(2024, 2, 29, 0, 0, 0).is_valid());
    }

    #[test]
    fn integer_reads_are_checked() {
        assert_eq!(u16_at(&[1, 0, 2], 0), Some(1));
        assert_eq!(u32_at(&[1, 2, 3], 0), None);
        assert_eq!(u16_at(&[1, 2], usize::MAX), None);
    }

    proptest! {
        #[test]
        fn time_round_trips(v in 0u32..=0xBF92_F7FF) {
            let t = ZkTime::decode(v);
            prop_assert_eq!(t.encode(), v);
        }

        #[test]
        fn sort_key_orders_like_text(a: u32, b: u32) {
            let (ta, tb) = (ZkTime::decode(a), ZkTime::decode(b));
            prop_assert_eq!(ta.sort_key().cmp(&tb.sort_key()), ta.to_string().cmp(&tb.to_string()));
        }
    }
}
