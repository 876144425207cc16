//! A punch as every client sees it: the attendance listings (JSON and
//! CSV), the live streams and the webhooks all write this one type, so the
//! record's contract (its fields, their order and formats) is defined here
//! once: `user_id`, `timestamp` (`YYYY-MM-DD HH:MM:SS`, the terminal's wall
//! clock), `status`, `punch`, `device_id`, `device_name`.

use std::borrow::Cow;

use serde::{Serialize, Serializer};

use crate::zk::{Attendance, ZkTime};

/// The CSV header row (without the line break).
pub const CSV_HEADER: &str = "user_id,timestamp,status,punch,device_id,device_name";

/// One punch of one terminal, ready for output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Punch<'a> {
    /// The PIN people know.
    pub user_id: Cow<'a, str>,
    /// The terminal's wall-clock time.
    #[serde(serialize_with = "timestamp")]
    pub timestamp: ZkTime,
    /// The verification mode byte (as the original server exposed it).
    pub status: u8,
    /// The punch state byte (check-in, check-out, ...).
    pub punch: u8,
    /// The terminal's id in the registry.
    pub device_id: Cow<'a, str>,
    /// The terminal's name in the registry.
    pub device_name: Cow<'a, str>,
    /// The person's name from the staff list, when the list names them
    /// (absent otherwise: the key is left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
}

fn timestamp<S: Serializer>(t: &ZkTime, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 19];
    t.write_to(&mut buf);
    // write_to only emits ASCII.
    s.serialize_str(std::str::from_utf8(&buf).unwrap_or("0000-00-00 00:00:00"))
}

impl<'a> Punch<'a> {
    /// The punch `record` of terminal `device_id` named `device_name`.
    pub fn of(record: &'a Attendance, device_id: &'a str, device_name: &'a str) -> Punch<'a> {
        Punch {
            user_id: Cow::Borrowed(&record.user_id),
            timestamp: record.time,
            status: record.status,
            punch: record.punch,
            device_id: Cow::Borrowed(device_id),
            device_name: Cow::Borrowed(device_name),
            name: None,
        }
    }

    /// The punch with the person's name from the staff list `names`
    /// (unchanged when the list does not name them).
    pub fn named(mut self, names: Option<&'a crate::journal::PersonNames>) -> Punch<'a> {
        self.name = names
            .and_then(|n| n.get(self.user_id.as_ref()))
            .map(|n| Cow::Borrowed(n.as_str()));
        self
    }

    /// The punch as a JSON value (for answers built with `json!`).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Appends the punch as compact JSON.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        if let Err(e) = serde_json::to_writer(&mut *out, self) {
            log::error!("could not serialize a punch: {e}");
        }
    }

    /// Appends the punch as pretty JSON (2-space steps) whose lines after
    /// the first are indented by `indent`, as when nested in a document.
    pub fn write_json_pretty(&self, out: &mut Vec<u8>, indent: &str) {
        let text = match serde_json::to_vec_pretty(self) {
            Ok(text) => text,
            Err(e) => {
                log::error!("could not serialize a punch: {e}");
                return;
            }
        };
        // JSON strings escape line breaks, so every b'\n' is a line break.
        for b in text {
            out.push(b);
            if b == b'\n' {
                out.extend_from_slice(indent.as_bytes());
            }
        }
    }

    /// Appends the punch as a CSV row (RFC 4180 quoting, CRLF), in the
    /// order of [`CSV_HEADER`].
    pub fn write_csv(&self, out: &mut Vec<u8>) {
        let mut ts = [0u8; 19];
        self.timestamp.write_to(&mut ts);
        csv_field(out, &self.user_id);
        out.push(b',');
        out.extend_from_slice(&ts);
        out.extend_from_slice(format!(",{},{},", self.status, self.punch).as_bytes());
        csv_field(out, &self.device_id);
        out.push(b',');
        csv_field(out, &self.device_name);
        out.extend_from_slice(b"\r\n");
    }
}

/// How a listing writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Compact JSON objects.
    Compact,
    /// Pretty JSON objects nested two levels deep (in a document's array).
    Pretty,
    /// CSV rows.
    Csv,
}

/// Writes many punches of a few terminals: the same bytes as [`Punch`]'s
/// serde output (or [`Punch::write_csv`]), built without a serializer per
/// row: each terminal's fields are escaped once, and a record's own fields
/// go straight into the output buffer (a listing writes 100 000 rows).
#[derive(Debug, Clone)]
pub struct RowWriter {
    style: Style,
    /// Per terminal: everything after `punch`'s value (the device fields
    /// and the closing brace, or the CSV row's end).
    tails: Vec<Vec<u8>>,
    /// The staff list's names: a JSON row of a person it names gets
    /// `"name"` after the device fields (CSV rows keep their columns).
    names: Option<crate::journal::PersonNames>,
}

impl RowWriter {
    /// A writer for punches of `devices` (id, name), addressed by index.
    pub fn new(devices: &[(String, String)], style: Style) -> RowWriter {
        let tails = devices
            .iter()
            .map(|(id, name)| {
                let mut tail = Vec::new();
                match style {
                    Style::Compact => {
                        tail.extend_from_slice(b",\"device_id\":");
                        json_str(&mut tail, id);
                        tail.extend_from_slice(b",\"device_name\":");
                        json_str(&mut tail, name);
                        tail.push(b'}');
                    }
                    Style::Pretty => {
                        tail.extend_from_slice(b",\n      \"device_id\": ");
                        json_str(&mut tail, id);
                        tail.extend_from_slice(b",\n      \"device_name\": ");
                        json_str(&mut tail, name);
                        tail.extend_from_slice(b"\n    }");
                    }
                    Style::Csv => {
                        tail.push(b',');
                        csv_field(&mut tail, id);
                        tail.push(b',');
                        csv_field(&mut tail, name);
                        tail.extend_from_slice(b"\r\n");
                    }
                }
                tail
            })
            .collect();
        RowWriter {
            style,
            tails,
            names: None,
        }
    }

    /// The writer naming people from the staff list `names`.
    pub fn with_names(mut self, names: Option<crate::journal::PersonNames>) -> RowWriter {
        self.names = names;
        self
    }

    /// Appends `record` of the terminal at index `device` (a pretty row
    /// starts with its line break and indentation).
    pub fn write(&self, out: &mut Vec<u8>, record: &Attendance, device: usize) {
        let mut ts = [0u8; 19];
        record.time.write_to(&mut ts);
        let (status, punch) = (record.status, record.punch);
        match self.style {
            Style::Compact => {
                out.extend_from_slice(b"{\"user_id\":");
                json_str(out, &record.user_id);
                out.extend_from_slice(b",\"timestamp\":\"");
                out.extend_from_slice(&ts);
                out.extend_from_slice(b"\",\"status\":");
                decimal(out, status);
                out.extend_from_slice(b",\"punch\":");
                decimal(out, punch);
            }
            Style::Pretty => {
                out.extend_from_slice(b"\n    {\n      \"user_id\": ");
                json_str(out, &record.user_id);
                out.extend_from_slice(b",\n      \"timestamp\": \"");
                out.extend_from_slice(&ts);
                out.extend_from_slice(b"\",\n      \"status\": ");
                decimal(out, status);
                out.extend_from_slice(b",\n      \"punch\": ");
                decimal(out, punch);
            }
            Style::Csv => {
                csv_field(out, &record.user_id);
                out.push(b',');
                out.extend_from_slice(&ts);
                out.push(b',');
                decimal(out, status);
                out.push(b',');
                decimal(out, punch);
            }
        }
        let name = self.names.as_ref().and_then(|n| n.get(&record.user_id));
        match self.tails.get(device) {
            Some(tail) => self.finish(out, tail, name),
            None => self.write_tail(out, "", "", name),
        }
    }

    /// `"name"` as the style writes a field.
    fn write_name(&self, out: &mut Vec<u8>, name: &str) {
        match self.style {
            Style::Compact => out.extend_from_slice(b",\"name\":"),
            Style::Pretty => out.extend_from_slice(b",\n      \"name\": "),
            Style::Csv => return,
        }
        json_str(out, name);
    }

    /// The tail of a row of an unknown terminal (none in a listing).
    fn write_tail(&self, out: &mut Vec<u8>, id: &str, device_name: &str, name: Option<&String>) {
        let one = RowWriter {
            names: None,
            ..RowWriter::new(&[(id.to_string(), device_name.to_string())], self.style)
        };
        self.finish(out, &one.tails[0], name);
    }

    /// Appends a row's `tail`, with the person's `name` before a JSON
    /// row's closing brace (CSV rows keep their columns).
    fn finish(&self, out: &mut Vec<u8>, tail: &[u8], name: Option<&String>) {
        let close = match self.style {
            Style::Compact => 1,
            Style::Pretty => "\n    }".len(),
            Style::Csv => 0,
        };
        match name {
            Some(name) if close > 0 => {
                let (fields, brace) = tail.split_at(tail.len().saturating_sub(close));
                out.extend_from_slice(fields);
                self.write_name(out, name);
                out.extend_from_slice(brace);
            }
            _ => out.extend_from_slice(tail),
        }
    }
}

/// A JSON string as serde_json writes it: plain text is copied as is,
/// anything to escape goes through serde_json.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if let Err(e) = serde_json::to_writer(&mut *out, s) {
        log::error!("could not serialize a string: {e}");
    }
}

/// A byte in decimal.
fn decimal(out: &mut Vec<u8>, v: u8) {
    if v >= 100 {
        out.push(b'0' + v / 100);
    }
    if v >= 10 {
        out.push(b'0' + v / 10 % 10);
    }
    out.push(b'0' + v % 10);
}

/// One CSV field of text origin (a user id, a terminal's id or name),
/// quoted when it holds a separator, a quote or a line break. A leading
/// `=`, `+`, `-`, `@`, tab or CR gets a `'` before it (OWASP's CSV
/// injection rule): a spreadsheet shows the text instead of running it.
fn csv_field(out: &mut Vec<u8>, s: &str) {
    csv_cell(out, s, ',');
}

/// [`csv_field`]'s rules with another `separator` (reports use `;`, which
/// a Spanish-locale spreadsheet opens in columns): the same CSV-injection
/// neutralising, quoted when it holds the separator, a quote or a break.
pub fn csv_cell(out: &mut Vec<u8>, s: &str, separator: char) {
    let neutralised;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        neutralised = format!("'{s}");
        neutralised.as_str()
    } else {
        s
    };
    if s.contains([separator, '"', '\r', '\n']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// A journal punch as a record (its time was read as a real one; the
/// internal slot is unknown: 0).
pub fn attendance_of(stored: &crate::journal::StoredPunch) -> Attendance {
    Attendance {
        uid: 0,
        user_id: stored.user_id.clone(),
        time: ZkTime::from_naive(&stored.time.naive()),
        status: stored.status,
        punch: stored.punch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::codec::parse_timestamp;

    fn record() -> Attendance {
        Attendance {
            uid: 3,
            user_id: "10\"7".into(),
            time: parse_timestamp("2026-03-06 09:15:23").unwrap(),
            status: 1,
            punch: 4,
        }
    }

    #[test]
    fn the_contract_fields_in_order() {
        let r = record();
        let p = Punch::of(&r, "principal", "Entrada, \"Norte\"");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"user_id":"10\"7","timestamp":"2026-03-06 09:15:23","status":1,"punch":4,"device_id":"principal","device_name":"Entrada, \"Norte\""}"#
        );
        let mut compact = Vec::new();
        p.write_json(&mut compact);
        assert_eq!(compact, serde_json::to_vec(&p).unwrap());
        let mut pretty = Vec::new();
        p.write_json_pretty(&mut pretty, "  ");
        let want = serde_json::to_string_pretty(&p)
            .unwrap()
            .replace('\n', "\n  ");
        assert_eq!(String::from_utf8(pretty).unwrap(), want);
        let mut csv = Vec::new();
        p.write_csv(&mut csv);
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "\"10\"\"7\",2026-03-06 09:15:23,1,4,principal,\"Entrada, \"\"Norte\"\"\"\r\n"
        );
        assert_eq!(p.to_value()["timestamp"], "2026-03-06 09:15:23");
    }

    /// Every text cell starting with = + - @ tab or CR is neutralised, the
    /// user id included; numbers and times are the server's own.
    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        let mut r = record();
        for (user, cell) in [
            ("=1+2", "'=1+2"),
            ("+5", "'+5"),
            ("-3", "'-3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
            (
                "=HYPERLINK(\"a\",\"b\")",
                "\"'=HYPERLINK(\"\"a\"\",\"\"b\"\")\"",
            ),
            ("1005", "1005"),
        ] {
            r.user_id = user.into();
            let p = Punch::of(&r, "-dev", "@Entrada");
            let mut csv = Vec::new();
            p.write_csv(&mut csv);
            let want = format!("{cell},2026-03-06 09:15:23,1,4,'-dev,'@Entrada\r\n");
            assert_eq!(String::from_utf8(csv).unwrap(), want);
            let names = [("-dev".to_string(), "@Entrada".to_string())];
            let mut rows = Vec::new();
            RowWriter::new(&names, Style::Csv).write(&mut rows, &r, 0);
            assert_eq!(String::from_utf8(rows).unwrap(), want);
        }
    }

    #[test]
    fn the_row_writer_writes_what_serde_writes() {
        let names = [
            ("principal", "Entrada Principal"),
            ("b", "Bodega, \"Sur\" \\ ñ\u{1}\n\t\u{7f}"),
        ];
        let devices: Vec<(String, String)> = names
            .iter()
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .collect();
        let compact = RowWriter::new(&devices, Style::Compact);
        let pretty = RowWriter::new(&devices, Style::Pretty);
        let csv = RowWriter::new(&devices, Style::Csv);
        for user in ["10", "10\"7", "a\\b", "é\u{0}\r", ""] {
            for (status, punch) in [(0, 0), (1, 9), (15, 100), (255, 10)] {
                for (d, (id, name)) in names.iter().enumerate() {
                    let mut r = record();
                    r.user_id = user.into();
                    (r.status, r.punch) = (status, punch);
                    let p = Punch::of(&r, id, name);
                    let mut want = Vec::new();
                    p.write_json(&mut want);
                    let mut got = Vec::new();
                    compact.write(&mut got, &r, d);
                    assert_eq!(String::from_utf8(got), String::from_utf8(want));
                    let mut want = b"\n    ".to_vec();
                    p.write_json_pretty(&mut want, "    ");
                    let mut got = Vec::new();
                    pretty.write(&mut got, &r, d);
                    assert_eq!(String::from_utf8(got), String::from_utf8(want));
                    let mut want = Vec::new();
                    p.write_csv(&mut want);
                    let mut got = Vec::new();
                    csv.write(&mut got, &r, d);
                    assert_eq!(String::from_utf8(got), String::from_utf8(want));
                }
            }
        }
        let mut got = Vec::new();
        compact.write(&mut got, &record(), 7);
        assert!(got.ends_with(br#""device_id":"","device_name":""}"#));
    }

    /// A person the staff list names gets `"name"` after the device
    /// fields, exactly as serde writes it; others and CSV rows stay as they were.
    #[test]
    fn people_of_the_staff_list_are_named_in_json_rows() {
        let names: crate::journal::PersonNames =
            std::sync::Arc::new([("10\"7".to_string(), "Sofía \"la\" Moreno".to_string())].into());
        let devices = vec![("principal".to_string(), "Entrada".to_string())];
        let mut r = record();
        for (user, named) in [("10\"7", true), ("99", false)] {
            r.user_id = user.into();
            let p = Punch::of(&r, "principal", "Entrada").named(Some(&names));
            assert_eq!(p.name.is_some(), named);
            let value = p.to_value();
            assert_eq!(value.get("name").is_some(), named, "{value}");
            for (style, want) in [
                (Style::Compact, serde_json::to_vec(&p).unwrap()),
                (Style::Pretty, {
                    let mut w = b"\n    ".to_vec();
                    p.write_json_pretty(&mut w, "    ");
                    w
                }),
                (Style::Csv, {
                    let mut w = Vec::new();
                    p.write_csv(&mut w);
                    w
                }),
            ] {
                let writer = RowWriter::new(&devices, style).with_names(Some(names.clone()));
                let mut got = Vec::new();
                writer.write(&mut got, &r, 0);
                assert_eq!(String::from_utf8(got), String::from_utf8(want), "{style:?}");
                let mut unknown = Vec::new();
                writer.write(&mut unknown, &r, 9);
                assert_eq!(
                    String::from_utf8_lossy(&unknown).contains("Moreno"),
                    named && style != Style::Csv
                );
            }
        }
    }
}
