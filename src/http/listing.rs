//! The attendance listing (JSON or CSV), streamed a batch of rows at a
//! time so the whole body is never held in memory.

use std::io::Read;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::response::{Body, Response, JSON};
use crate::ops::Attendance;
use crate::ops::Log;
use crate::punch::{RowWriter, Style, CSV_HEADER};

const CSV: &str = "text/csv; charset=utf-8";

/// One punch ready for output: sort key, record, and which device it came from.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: u64,
    pub rec: Rec,
    pub device: u16,
}

/// A row's record: its own, or one of a downloaded log that several
/// requests share (so a request holds an index, not a copy of the log).
#[derive(Debug, Clone)]
pub enum Rec {
    /// A record of this request only (e.g. read from the journal).
    Owned(Box<Attendance>),
    /// Record `.1` of a shared download.
    Shared(Arc<Log>, u32),
}

impl Row {
    /// A row of its own record.
    pub fn owned(rec: Attendance, device: u16) -> Row {
        Row {
            key: rec.time.sort_key(),
            rec: Rec::Owned(Box::new(rec)),
            device,
        }
    }

    /// A row for record `index` of `log` (a copy if the index does not fit).
    pub fn shared(log: &Arc<Log>, index: usize, device: u16) -> Option<Row> {
        let rec = log.records.get(index)?;
        let key = rec.time.sort_key();
        let rec = match u32::try_from(index) {
            Ok(i) => Rec::Shared(log.clone(), i),
            Err(_) => Rec::Owned(Box::new(rec.clone())),
        };
        Some(Row { key, rec, device })
    }

    /// The record.
    pub fn record(&self) -> Option<&Attendance> {
        match &self.rec {
            Rec::Owned(rec) => Some(rec),
            Rec::Shared(log, i) => log.records.get(*i as usize),
        }
    }
}

/// Everything an attendance listing response carries.
pub struct Listing {
    /// Rows already filtered, sorted and paged.
    pub rows: Vec<Row>,
    /// (id, name) of each device a row can point to.
    pub devices: Vec<(String, String)>,
    /// Count before paging, when paging was asked for.
    pub matched: Option<usize>,
    /// Per-device errors (the all-devices endpoint), in registry order.
    pub errors: Option<Vec<(String, String)>>,
    /// The position after the newest record read (`"cursor"`, `X-Cursor`).
    pub cursor: Option<String>,
    /// With `since`: whether the log no longer continued it (`"reset"`),
    /// and, for several devices, which ones (`"reset_devices"`).
    pub reset: Option<(bool, Option<Vec<String>>)>,
    /// `"source": "journal"` when answered from the journal.
    pub source: Option<&'static str>,
    /// The staff list's names: JSON rows of people it names get `"name"`.
    pub names: Option<crate::journal::PersonNames>,
}

impl Listing {
    /// Streams the listing as JSON (200).
    pub fn into_json(self, pretty: bool) -> Response {
        let reader = ListingReader::new(self, pretty, false);
        Response::new(200, JSON, Body::Stream(Box::new(reader)))
    }

    /// Streams the listing as CSV (200); the cursor and reset flag go in
    /// the `X-Cursor` and `X-Reset` headers.
    pub fn into_csv(self) -> Response {
        let cursor = self.cursor.clone();
        let reset = self.reset.as_ref().map(|r| r.0);
        let source = self.source;
        let reader = ListingReader::new(self, false, true);
        let mut response = Response::new(200, CSV, Body::Stream(Box::new(reader)));
        if let Some(c) = cursor {
            response = response.with_header("X-Cursor", &c);
        }
        if let Some(r) = reset {
            response = response.with_header("X-Reset", if r { "true" } else { "false" });
        }
        if let Some(s) = source {
            response = response.with_header("X-Source", s);
        }
        response
    }
}

/// Produces the body a batch of rows at a time.
struct ListingReader {
    rows: std::vec::IntoIter<Row>,
    /// Writes the rows of the devices they can point to.
    writer: RowWriter,
    buf: Vec<u8>,
    pos: usize,
    first: bool,
    done: bool,
    pretty: bool,
    csv: bool,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl ListingReader {
    fn new(listing: Listing, pretty: bool, csv: bool) -> ListingReader {
        let style = match (csv, pretty) {
            (true, _) => Style::Csv,
            (false, true) => Style::Pretty,
            (false, false) => Style::Compact,
        };
        let mut head = String::new();
        if csv {
            head.push_str(CSV_HEADER);
            head.push_str("\r\n");
        } else {
            let (sep, nl, ind) = if pretty {
                (": ", "\n", "  ")
            } else {
                (":", "", "")
            };
            head.push('{');
            head.push_str(&format!("{nl}{ind}\"success\"{sep}true,"));
            head.push_str(&format!("{nl}{ind}\"total\"{sep}{},", listing.rows.len()));
            if let Some(m) = listing.matched {
                head.push_str(&format!("{nl}{ind}\"matched\"{sep}{m},"));
            }
            if let Some(c) = &listing.cursor {
                head.push_str(&format!("{nl}{ind}\"cursor\"{sep}{},", quote(c)));
            }
            if let Some((reset, devices)) = &listing.reset {
                head.push_str(&format!("{nl}{ind}\"reset\"{sep}{reset},"));
                if let Some(ids) = devices {
                    let list = if pretty {
                        serde_json::to_string_pretty(ids)
                            .unwrap_or_default()
                            .replace('\n', "\n  ")
                    } else {
                        serde_json::to_string(ids).unwrap_or_default()
                    };
                    head.push_str(&format!("{nl}{ind}\"reset_devices\"{sep}{list},"));
                }
            }
            if let Some(source) = listing.source {
                head.push_str(&format!("{nl}{ind}\"source\"{sep}{},", quote(source)));
            }
            if let Some(errors) = &listing.errors {
                let obj: Map<String, Value> = errors
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                let text = if pretty {
                    serde_json::to_string_pretty(&obj)
                        .unwrap_or_default()
                        .replace('\n', "\n  ")
                } else {
                    serde_json::to_string(&obj).unwrap_or_default()
                };
                head.push_str(&format!("{nl}{ind}\"errors\"{sep}{text},"));
            }
            head.push_str(&format!("{nl}{ind}\"data\"{sep}["));
        }
        ListingReader {
            rows: listing.rows.into_iter(),
            writer: RowWriter::new(&listing.devices, style).with_names(listing.names.clone()),
            buf: head.into_bytes(),
            pos: 0,
            first: true,
            done: false,
            pretty,
            csv,
        }
    }

    fn write_row(&mut self, row: &Row) {
        let Some(rec) = row.record() else {
            return;
        };
        if !self.csv && !self.first {
            self.buf.push(b',');
        }
        self.writer
            .write(&mut self.buf, rec, usize::from(row.device));
        self.first = false;
    }

    /// Refills the buffer; false when everything has been produced.
    fn refill(&mut self) -> bool {
        self.buf.clear();
        self.pos = 0;
        if self.done {
            return false;
        }
        while self.buf.len() < 32 * 1024 {
            if let Some(row) = self.rows.next() {
                self.write_row(&row);
            } else {
                if !self.csv {
                    let end: &[u8] = match (self.pretty, self.first) {
                        (true, false) => b"\n  ]\n}\n",
                        (true, true) => b"]\n}\n",
                        (false, _) => b"]}\n",
                    };
                    self.buf.extend_from_slice(end);
                }
                self.done = true;
                break;
            }
        }
        !self.buf.is_empty()
    }
}

impl Read for ListingReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.buf.len() && !self.refill() {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::codec::parse_timestamp;

    fn listing(n: usize, errors: Option<Vec<(String, String)>>) -> Listing {
        let rows = (0..n)
            .map(|i| {
                let rec = Attendance {
                    uid: 1,
                    user_id: format!("u\"{i}"),
                    time: parse_timestamp("2026-03-06 09:15:23").unwrap(),
                    status: 1,
                    punch: i as u8,
                };
                Row::owned(rec, (i % 2) as u16)
            })
            .collect();
        Listing {
            rows,
            devices: vec![
                ("principal".into(), "Entrada Principal".into()),
                ("b".into(), "Bodega, \"Sur\"".into()),
            ],
            matched: Some(9),
            errors,
            cursor: Some("AQ-_x".into()),
            reset: Some((true, Some(vec!["a".into(), "b".into()]))),
            source: Some("journal"),
            names: None,
        }
    }

    fn body(l: Listing, pretty: bool, csv: bool) -> String {
        let mut s = String::new();
        ListingReader::new(l, pretty, csv)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn streamed_json_equals_serde_json_output() {
        for n in [0, 1, 3, 2000] {
            for errors in [
                None,
                Some(vec![]),
                Some(vec![("x".to_string(), "falló".to_string())]),
            ] {
                for pretty in [true, false] {
                    let text = body(listing(n, errors.clone()), pretty, false);
                    let v: Value = serde_json::from_str(&text).unwrap();
                    let again = if pretty {
                        serde_json::to_string_pretty(&v).unwrap()
                    } else {
                        serde_json::to_string(&v).unwrap()
                    };
                    assert_eq!(text.trim_end(), again, "n={n} pretty={pretty}");
                    assert_eq!(v["total"], n);
                    assert_eq!(v["data"].as_array().unwrap().len(), n);
                }
            }
        }
    }

    #[test]
    fn csv_quotes_fields() {
        let text = body(listing(2, None), false, true);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "user_id,timestamp,status,punch,device_id,device_name"
        );
        assert_eq!(
            lines[1],
            "\"u\"\"0\",2026-03-06 09:15:23,1,0,principal,Entrada Principal"
        );
        assert_eq!(
            lines[2],
            "\"u\"\"1\",2026-03-06 09:15:23,1,1,b,\"Bodega, \"\"Sur\"\"\""
        );
    }
}
