//! ATTLOG upload bodies: one punch per line,
//! `PIN \t YYYY-MM-DD HH:MM:SS \t Status \t Verify \t Workcode \t …` with 4 to
//! 12 fields seen in the wild (extra trailing fields are ignored).
//! `Status` (in/out) is zkserver's `punch`; `Verify` is its `status`.

use chrono::NaiveDateTime;

use super::lines::{check_pin, lines, Chunk, SkipReason, Skipped};
use crate::time;

/// One punch of an ATTLOG upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttlogRecord {
    /// The PIN.
    pub user_id: String,
    /// Terminal wall-clock time.
    pub time: NaiveDateTime,
    /// `Status`: in/out state (255 = no state key pressed).
    pub punch: u8,
    /// `Verify`: how the person was identified.
    pub status: u8,
    /// `Workcode`, when not empty.
    pub workcode: Option<String>,
}

impl From<AttlogRecord> for crate::journal::NewPunch {
    fn from(r: AttlogRecord) -> Self {
        crate::journal::NewPunch {
            user_id: r.user_id,
            time: r.time,
            status: r.status,
            punch: r.punch,
            workcode: r.workcode,
        }
    }
}

/// A parsed ATTLOG body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttlogBatch {
    /// Punches in body order.
    pub records: Vec<AttlogRecord>,
    /// Lines that were not punches.
    pub skipped: Vec<Skipped>,
}

/// Parses an ATTLOG body; bad lines are skipped with their reason.
pub fn parse_attlog(body: &[u8]) -> AttlogBatch {
    let mut batch = AttlogBatch::default();
    for (n, line) in lines(body) {
        match parse_line(&line) {
            Ok(r) => batch.records.push(r),
            Err(reason) => batch.skipped.push(Skipped { line: n, reason }),
        }
    }
    batch
}

/// Parses one chunk of a streamed ATTLOG body (line numbers count from
/// the start of the body).
pub fn parse_attlog_chunk(chunk: &Chunk<'_>) -> AttlogBatch {
    let mut batch = parse_attlog(chunk.bytes);
    chunk.in_body(&mut batch.skipped);
    batch
}

/// Parses one punch line.
fn parse_line(line: &str) -> Result<AttlogRecord, SkipReason> {
    let mut fields = line.split('\t').map(str::trim);
    // At least PIN, time, Status, Verify.
    let (Some(pin), Some(time), Some(status), Some(verify)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(SkipReason::TooFewFields);
    };
    check_pin(pin)?;
    let time = time::parse(time).ok_or(SkipReason::BadTime)?;
    let punch = status.parse::<u8>().map_err(|_| SkipReason::BadStatus)?;
    let status = verify.parse::<u8>().map_err(|_| SkipReason::BadVerify)?;
    let workcode = fields
        .next()
        .filter(|w| !w.is_empty() && !w.chars().any(crate::fields::is_control))
        .map(ToString::to_string);
    Ok(AttlogRecord {
        user_id: pin.to_string(),
        time,
        punch,
        status,
        workcode,
    })
}

/// Renders a punch as an 8-field ATTLOG line (as a SpeedFace sends it),
/// ending in LF.
pub fn render_attlog_line(r: &AttlogRecord) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t0\t0\t0\n",
        r.user_id,
        time::format(&r.time),
        r.punch,
        r.status,
        r.workcode.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn time(s: &str) -> NaiveDateTime {
        time::parse(s).expect("valid time")
    }

    #[test]
    fn the_real_line_from_the_reference() {
        let batch = parse_attlog(b"20156107\t2020-02-22 23:10:05\t255\t1\t\t0\t0\t2\n");
        assert_eq!(
            batch.records,
            vec![AttlogRecord {
                user_id: "20156107".into(),
                time: time("2020-02-22 23:10:05"),
                punch: 255,
                status: 1,
                workcode: None,
            }]
        );
        assert!(batch.skipped.is_empty());
    }

    #[test]
    fn four_to_twelve_fields_crlf_and_no_final_newline() {
        let body = "1\t2026-03-01 08:00:00\t0\t1\r\n\
                    2\t2026-03-01 08:00:01\t1\t15\t7\t0\t0\r\n\
                    3\t2026-03-01 08:00:02\t0\t1\t\t0\t0\t0\r\n\
                    4\t2026-03-01 08:00:03\t0\t1\t\t0\t0\t0\t36.5\t97.7\r\n\
                    5\t2026-03-01 08:00:04\t0\t1\t\t0\t0\t0\t36.5\t97.7\t0\t\r\n\
                    6\t2026-03-01 08:00:05\t4\t2\t0";
        let batch = parse_attlog(body.as_bytes());
        assert!(batch.skipped.is_empty(), "{:?}", batch.skipped);
        let pins: Vec<&str> = batch.records.iter().map(|r| r.user_id.as_str()).collect();
        assert_eq!(pins, ["1", "2", "3", "4", "5", "6"]);
        assert_eq!(batch.records[1].workcode.as_deref(), Some("7"));
        assert_eq!((batch.records[1].punch, batch.records[1].status), (1, 15));
        assert_eq!(batch.records[5].workcode.as_deref(), Some("0"));
    }

    #[test]
    fn bad_lines_are_skipped_and_counted_with_reasons() {
        let body = "1\t2026-02-30 08:00:00\t0\t1\n\
                    \t2026-03-01 08:00:00\t0\t1\n\
                    2\t2026-03-01 08:00:00\t0\n\
                    3\t2026-03-01 8:00:00\t0\t1\n\
                    4\t2026-03-01 08:00:00\tin\t1\n\
                    5\t2026-03-01 08:00:00\t0\t256\n\
                    6\t2026-03-01 24:00:00\t0\t1\n\
                    garbage\n\
                    7\t2026-03-01 08:00:00\t0\t1\n\
                    \n\
                    \r\n";
        let batch = parse_attlog(body.as_bytes());
        assert_eq!(batch.records.len(), 1);
        assert_eq!(batch.records[0].user_id, "7");
        let reasons: Vec<(usize, SkipReason)> =
            batch.skipped.iter().map(|s| (s.line, s.reason)).collect();
        assert_eq!(
            reasons,
            [
                (1, SkipReason::BadTime),
                (2, SkipReason::EmptyPin),
                (3, SkipReason::TooFewFields),
                (4, SkipReason::BadTime),
                (5, SkipReason::BadStatus),
                (6, SkipReason::BadVerify),
                (7, SkipReason::BadTime),
                (8, SkipReason::TooFewFields),
            ]
        );
    }

    #[test]
    fn an_empty_body_has_nothing() {
        assert_eq!(parse_attlog(b""), AttlogBatch::default());
        assert_eq!(parse_attlog(b"\n\r\n  \n"), AttlogBatch::default());
    }

    #[test]
    fn invalid_utf8_in_a_pin_does_not_block_the_batch() {
        let batch =
            parse_attlog(b"\xff\xfe\t2026-03-01 08:00:00\t0\t1\n2\t2026-03-01 08:00:00\t0\t1\n");
        assert_eq!(batch.records.len(), 2);
        assert_eq!(batch.records[0].user_id, "\u{fffd}\u{fffd}");
    }

    fn record() -> impl Strategy<Value = AttlogRecord> {
        (
            "[0-9A-Za-z]{1,24}",
            0i64..(8000 * 365 * 86_400),
            any::<u8>(),
            any::<u8>(),
            proptest::option::of("[0-9]{1,4}"),
        )
            .prop_map(|(user_id, secs, punch, status, workcode)| AttlogRecord {
                user_id,
                time: time("1000-01-01 00:00:00") + chrono::Duration::seconds(secs),
                punch,
                status,
                workcode,
            })
    }

    #[test]
    fn a_body_read_in_chunks_parses_as_a_whole() {
        let mut body = String::new();
        for i in 0..40_000u32 {
            if i % 997 == 0 {
                body.push_str("garbage\n\n");
            }
            body.push_str(&format!(
                "{}\t2026-03-01 {:02}:{:02}:{:02}\t0\t1\t\t0\t0\r\n",
                i,
                i / 3600 % 24,
                i / 60 % 60,
                i % 60
            ));
        }
        assert!(body.len() > 2 * super::super::lines::CHUNK);
        let whole = parse_attlog(body.as_bytes());
        let mut chunks = super::super::lines::LineChunks::new(body.as_bytes());
        let mut streamed = AttlogBatch::default();
        let mut most = 0;
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            let batch = parse_attlog_chunk(&chunk);
            most = most.max(batch.records.len());
            streamed.records.extend(batch.records);
            streamed.skipped.extend(batch.skipped);
        }
        assert_eq!(streamed, whole);
        assert!(most < 20_000, "a chunk held {most} punches");
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let batch = parse_attlog(&body);
            prop_assert!(batch.records.len() + batch.skipped.len() <= body.len() + 1);
        }

        #[test]
        fn never_panics_on_tabbed_text(body in "([0-9\\t :\\-\\r\\n]|\\PC){0,300}") {
            let _ = parse_attlog(body.as_bytes());
        }

        #[test]
        fn render_then_parse_round_trips(records in proptest::collection::vec(record(), 0..20)) {
            let body: String = records.iter().map(render_attlog_line).collect();
            let batch = parse_attlog(body.as_bytes());
            prop_assert!(batch.skipped.is_empty());
            prop_assert_eq!(batch.records, records);
        }
    }
}
