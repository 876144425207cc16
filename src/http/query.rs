//! Query-string filters of the attendance endpoints: `user_id`, `date`
//! (prefix), `from`/`to`, `limit`/`offset`, `format`. Invalid values are
//! rejected with a Spanish message naming the parameter.

use crate::messages;
use crate::ops::{Attendance, ZkTime};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// Why a query parameter was refused; each names the parameter's value
/// (the catalogue words it: [`QueryError::message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// `date` names a day that does not exist (`2026-02-30`).
    DateDoesNotExist(String),
    /// `date` is not `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    BadDate(String),
    /// `from` or `to` is not a date or a time.
    BadBound {
        /// `from` or `to`.
        name: &'static str,
        /// What was given.
        value: String,
    },
    /// `limit` or `offset` is a number too large to count.
    CountTooLarge {
        /// `limit` or `offset`.
        name: &'static str,
        /// What was given.
        value: String,
    },
    /// `limit` or `offset` is not a whole number.
    BadCount {
        /// `limit` or `offset`.
        name: &'static str,
        /// What was given.
        value: String,
    },
    /// `format` is neither `json` nor `csv`.
    BadFormat(String),
    /// `from` is after `to`.
    FromAfterTo {
        /// What `from` was.
        from: String,
        /// What `to` was.
        to: String,
    },
}

impl QueryError {
    /// The catalogue's sentence for this refusal.
    pub fn message(&self) -> String {
        match self {
            QueryError::DateDoesNotExist(value) => messages::date_does_not_exist(value),
            QueryError::BadDate(value) => messages::bad_date(value),
            QueryError::BadBound { name, value } => messages::bad_bound(name, value),
            QueryError::CountTooLarge { name, value } => {
                messages::count_too_large(name, value, usize::MAX)
            }
            QueryError::BadCount { name, value } => messages::bad_count(name, value),
            QueryError::BadFormat(value) => messages::bad_format(value),
            QueryError::FromAfterTo { from, to } => messages::from_after_to(from, to),
        }
    }
}

/// Parsed attendance filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendanceQuery {
    pub user_id: Option<String>,
    /// Timestamp prefix: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Inclusive lower bound (sort key of a time).
    pub from: Option<u64>,
    /// Inclusive upper bound (sort key of a time).
    pub to: Option<u64>,
    pub limit: Option<usize>,
    pub offset: usize,
    pub format: Format,
}

impl AttendanceQuery {
    /// Reads the filters through `param` (a query-string lookup).
    pub fn parse(param: impl Fn(&str) -> Option<String>) -> Result<AttendanceQuery, QueryError> {
        let get = |name: &str| {
            param(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let date = match get("date") {
            Some(d) if valid_date_prefix(&d) => Some(d),
            Some(d) if is_impossible_day(&d) => return Err(QueryError::DateDoesNotExist(d)),
            Some(d) => return Err(QueryError::BadDate(d)),
            None => None,
        };
        let bound = |name: &'static str, end_of_day: bool| -> Result<Option<u64>, QueryError> {
            match get(name) {
                None => Ok(None),
                Some(v) => match bound_key(&v, end_of_day) {
                    Some(key) => Ok(Some(key)),
                    None => Err(QueryError::BadBound { name, value: v }),
                },
            }
        };
        let count = |name: &'static str| -> Result<Option<usize>, QueryError> {
            match get(name) {
                None => Ok(None),
                Some(v) => match parse_count(&v) {
                    Ok(n) => Ok(Some(n)),
                    Err(true) => Err(QueryError::CountTooLarge { name, value: v }),
                    Err(false) => Err(QueryError::BadCount { name, value: v }),
                },
            }
        };
        let format = match get("format").map(|f| f.to_ascii_lowercase()).as_deref() {
            None | Some("json") => Format::Json,
            Some("csv") => Format::Csv,
            Some(_) => return Err(QueryError::BadFormat(get("format").unwrap_or_default())),
        };
        let (from, to) = (bound("from", false)?, bound("to", true)?);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(QueryError::FromAfterTo {
                    from: get("from").unwrap_or_default(),
                    to: get("to").unwrap_or_default(),
                });
            }
        }
        Ok(AttendanceQuery {
            user_id: get("user_id"),
            date,
            from,
            to,
            limit: count("limit")?,
            offset: count("offset")?.unwrap_or(0),
            format,
        })
    }

    /// True when paging parameters were given (the response adds `matched`).
    pub fn paged(&self) -> bool {
        self.limit.is_some() || self.offset > 0
    }

    /// True when the record passes every filter.
    pub fn matches(&self, rec: &Attendance) -> bool {
        if let Some(u) = &self.user_id {
            if rec.user_id != *u {
                return false;
            }
        }
        if let Some(d) = &self.date {
            let mut text = [0u8; 19];
            rec.time.write_to(&mut text);
            if !text.starts_with(d.as_bytes()) {
                return false;
            }
        }
        let key = rec.time.sort_key();
        self.from.is_none_or(|f| key >= f) && self.to.is_none_or(|t| key <= t)
    }
}

/// A count (`limit`, `offset`): decimal digits. `Err(true)` when it has
/// only digits but is too large, `Err(false)` when it is not a number.
fn parse_count(v: &str) -> Result<usize, bool> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(false);
    }
    v.parse().map_err(|_| true)
}

/// `YYYY-MM-DD` well formed, with a month 01–12 and a day 01–31, that
/// names no day of the calendar (`2026-02-30`, `2025-02-29`, `2026-04-31`).
fn is_impossible_day(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    match (digits(y, 4), digits(m, 2), digits(d, 2)) {
        (Some(y), Some(m), Some(d)) => {
            (1..=12).contains(&m)
                && (1..=31).contains(&d)
                && chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_none()
        }
        _ => false,
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// `YYYY`, `YYYY-MM` with a month 01–12, or `YYYY-MM-DD` naming a day
/// that exists (no February 30).
fn valid_date_prefix(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y] => digits(y, 4).is_some(),
        [y, m] => digits(y, 4).is_some() && digits(m, 2).is_some_and(|m| (1..=12).contains(&m)),
        [y, m, d] => match (digits(y, 4), digits(m, 2), digits(d, 2)) {
            (Some(y), Some(m), Some(d)) => {
                chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_some()
            }
            _ => false,
        },
        _ => false,
    }
}

/// A `from`/`to` bound as a sort key (see [`crate::time::parse_bound`]).
fn bound_key(s: &str, end_of_day: bool) -> Option<u64> {
    crate::time::parse_bound(s, end_of_day).map(|t| ZkTime::from_naive(&t).sort_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<AttendanceQuery, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AttendanceQuery::parse(|k| map.get(k).cloned()).map_err(|e| e.message())
    }

    fn rec(user: &str, t: &str) -> Attendance {
        Attendance {
            uid: 1,
            user_id: user.into(),
            time: crate::zk::codec::parse_timestamp(t).unwrap(),
            status: 1,
            punch: 0,
        }
    }

    #[test]
    fn date_prefixes() {
        for ok in ["2026", "2026-03", "2026-03-06", "2028-02-29", ""] {
            assert!(parse(&[("date", ok)]).is_ok(), "{ok}");
        }
        for bad in [
            "03/06/2026",
            "2026-3",
            "2026-13",
            "2026-03-32",
            "2026-02-30",
            "2025-02-29",
            "20266",
            "2026-03-06x",
            "abcd",
        ] {
            let err = parse(&[("date", bad)]).unwrap_err();
            assert!(err.contains("'date'") && err.contains(bad), "{err}");
        }
        for missing in ["2026-02-30", "2025-02-29", "2026-04-31"] {
            let err = parse(&[("date", missing)]).unwrap_err();
            assert!(err.contains("ese día no existe"), "{err}");
        }
        let err = parse(&[("date", "2026-03-32")]).unwrap_err();
        assert!(err.contains("Use YYYY"), "{err}");
        let q = parse(&[("date", "2026-03")]).unwrap();
        assert!(q.matches(&rec("5", "2026-03-06 09:15:23")));
        assert!(!q.matches(&rec("5", "2026-04-06 09:15:23")));
    }

    #[test]
    fn user_and_range_filters() {
        let q = parse(&[
            ("user_id", "5"),
            ("from", "2026-03-05"),
            ("to", "2026-03-06"),
        ])
        .unwrap();
        assert!(q.matches(&rec("5", "2026-03-06 23:59:59")));
        assert!(q.matches(&rec("5", "2026-03-05 00:00:00")));
        assert!(!q.matches(&rec("5", "2026-03-07 00:00:00")));
        assert!(!q.matches(&rec("55", "2026-03-06 10:00:00")));
        let q = parse(&[("from", "2026-03-05 12:00:00")]).unwrap();
        assert!(!q.matches(&rec("5", "2026-03-05 11:59:59")));
        assert!(parse(&[("from", "yesterday")])
            .unwrap_err()
            .contains("'from'"));
        assert!(parse(&[("to", "2026-02-30")]).unwrap_err().contains("'to'"));
        let err = parse(&[("from", "2026-03-07"), ("to", "2026-03-06")]).unwrap_err();
        assert!(err.contains("'from'") && err.contains("'to'"), "{err}");
        assert!(
            parse(&[("from", "2026-03-06"), ("to", "2026-03-06")]).is_ok(),
            "one day"
        );
    }

    /// Bounds take exactly the documented shapes (the one rule of
    /// `crate::time`): a `T` between date and time too, not one-digit fields.
    #[test]
    fn bounds_take_only_the_documented_shapes() {
        let q = parse(&[("from", "2026-03-05T12:00:00")]).unwrap();
        assert!(!q.matches(&rec("5", "2026-03-05 11:59:59")));
        assert!(q.matches(&rec("5", "2026-03-05 12:00:00")));
        for bad in [
            "2026-3-5",
            "2026-03-05 9:00:00",
            "2026-03-05 12:00",
            "+2026-03-05",
        ] {
            assert!(
                parse(&[("from", bad)]).unwrap_err().contains("'from'"),
                "{bad}"
            );
        }
    }

    #[test]
    fn paging_and_format() {
        let q = parse(&[("limit", "50"), ("offset", "10"), ("format", "csv")]).unwrap();
        assert_eq!(
            (q.limit, q.offset, q.format, q.paged()),
            (Some(50), 10, Format::Csv, true)
        );
        assert!(parse(&[("limit", "-1")]).unwrap_err().contains("'limit'"));
        assert!(parse(&[("offset", "x")]).unwrap_err().contains("'offset'"));
        let err = parse(&[("limit", "99999999999999999999")]).unwrap_err();
        assert!(
            err.contains("demasiado grande") && !err.contains("mayor o igual"),
            "{err}"
        );
        let err = parse(&[("limit", "+5")]).unwrap_err();
        assert!(err.contains("mayor o igual"), "{err}");
        for csv in ["CSV", "Csv", " csv "] {
            assert_eq!(
                parse(&[("format", csv)]).unwrap().format,
                Format::Csv,
                "{csv}"
            );
        }
        assert_eq!(parse(&[("format", "JSON")]).unwrap().format, Format::Json);
        assert!(parse(&[("format", "xml")])
            .unwrap_err()
            .contains("'format'"));
        assert!(!parse(&[]).unwrap().paged());
    }

    proptest::proptest! {
        /// Any values of the filters are either accepted or refused with a
        /// message naming a parameter; never a panic.
        #[test]
        fn any_filter_values_are_judged(
            values in proptest::collection::vec("\\PC{0,24}|[0-9-]{0,12}|[0-9]{15,25}", 7),
        ) {
            let names = ["user_id", "date", "from", "to", "limit", "offset", "format"];
            let pairs: Vec<(&str, &str)> =
                names.iter().copied().zip(values.iter().map(String::as_str)).collect();
            if let Err(msg) = parse(&pairs) {
                proptest::prop_assert!(names.iter().any(|n| msg.contains(&format!("'{n}'"))), "{}", msg);
            }
        }

        /// Counts that fit are read back exactly.
        #[test]
        fn counts_round_trip(n in proptest::num::usize::ANY) {
            let text = n.to_string();
            let q = parse(&[("limit", &text), ("offset", &text)]).unwrap();
            proptest::prop_assert_eq!((q.limit, q.offset), (Some(n), n));
        }
    }
}
