//! The query of `/iclock/*` requests (`SN`, `table`, `Stamp`, `OpStamp`,
//! `options`, `pushver`, `language`, `INFO`…). Keys are case-exact; the
//! first occurrence of a key wins.

use std::fmt;

/// Longest serial number accepted.
pub const MAX_SERIAL: usize = 32;
/// Longest stamp accepted; longer (or odd) stamps are ignored.
pub const MAX_STAMP: usize = 64;

/// The `table` of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// Punches.
    AttLog,
    /// Operation log and user records.
    OperLog,
    /// The terminal's options (`key=value,…`).
    Options,
    /// Punch photos.
    AttPhoto,
    /// Biometric templates.
    BioData,
    /// Anything else, verbatim.
    Other(String),
}

impl Table {
    /// Parses the `table` value (case-exact, as terminals send it).
    pub fn parse(s: &str) -> Table {
        match s {
            "ATTLOG" => Table::AttLog,
            "OPERLOG" => Table::OperLog,
            "options" => Table::Options,
            "ATTPHOTO" => Table::AttPhoto,
            "BIODATA" => Table::BioData,
            other => Table::Other(other.to_string()),
        }
    }
}

/// What the terminal reports in `getrequest?INFO=<fw>,<users>,<fps>,<logs>,<ip>,…`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// Firmware version.
    pub firmware: String,
    /// Users enrolled.
    pub users: Option<u64>,
    /// Fingerprints enrolled.
    pub fingerprints: Option<u64>,
    /// Punches stored.
    pub logs: Option<u64>,
    /// The terminal's own IP address.
    pub ip: Option<String>,
    /// Further fields, verbatim.
    pub rest: Vec<String>,
}

impl DeviceInfo {
    /// Parses the comma-separated `INFO` value.
    pub fn parse(s: &str) -> DeviceInfo {
        let mut parts = s.split(',').map(str::trim);
        let number = |p: Option<&str>| p.and_then(|v| v.parse::<u64>().ok());
        DeviceInfo {
            firmware: parts.next().unwrap_or_default().to_string(),
            users: number(parts.next()),
            fingerprints: number(parts.next()),
            logs: number(parts.next()),
            ip: parts.next().filter(|v| !v.is_empty()).map(str::to_string),
            rest: parts.map(str::to_string).collect(),
        }
    }
}

/// The parsed query of an `/iclock/*` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IclockQuery {
    /// The terminal's serial number.
    pub sn: String,
    /// `table` of an upload.
    pub table: Option<Table>,
    /// `Stamp` (the upload's resume marker).
    pub stamp: Option<String>,
    /// `OpStamp` (older servers' name for the OPERLOG stamp).
    pub op_stamp: Option<String>,
    /// `PhotoStamp` (older servers' name for the ATTPHOTO stamp).
    pub photo_stamp: Option<String>,
    /// `options` (`all` in a handshake).
    pub options: Option<String>,
    /// `pushver`.
    pub pushver: Option<String>,
    /// `language`.
    pub language: Option<String>,
    /// `pushcommkey`, opaque.
    pub push_comm_key: Option<String>,
    /// `INFO` of a command poll.
    pub info: Option<DeviceInfo>,
}

impl IclockQuery {
    /// True for the handshake (`GET /iclock/cdata?…&options=all`).
    pub fn is_handshake(&self) -> bool {
        self.options.as_deref() == Some("all")
    }

    /// The stamp of an upload under either name (`Stamp`, or `OpStamp` /
    /// `PhotoStamp` for the tables older servers named them for).
    pub fn upload_stamp(&self) -> Option<&str> {
        let older = match self.table {
            Some(Table::OperLog) => self.op_stamp.as_deref(),
            Some(Table::AttPhoto) => self.photo_stamp.as_deref(),
            _ => None,
        };
        self.stamp.as_deref().or(older)
    }
}

/// Why a query is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// No `SN`.
    MissingSerial,
    /// An `SN` that is empty, too long or not `[A-Za-z0-9_-]`.
    BadSerial(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::MissingSerial => f.write_str("no SN in the query"),
            QueryError::BadSerial(sn) => write!(f, "invalid SN {sn:?}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// True for a serial the receiver can use as a key and in logs.
fn valid_serial(sn: &str) -> bool {
    !sn.is_empty()
        && sn.len() <= MAX_SERIAL
        && sn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A stamp worth storing and echoing: short, printable, no spaces.
fn valid_stamp(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_STAMP && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Parses an already split and decoded query.
pub fn parse_query(pairs: &[(String, String)]) -> Result<IclockQuery, QueryError> {
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let stamp = |key: &str| get(key).filter(|s| valid_stamp(s)).map(str::to_string);
    let text = |key: &str| get(key).map(str::to_string);
    let sn = get("SN").ok_or(QueryError::MissingSerial)?;
    if !valid_serial(sn) {
        return Err(QueryError::BadSerial(sn.chars().take(80).collect()));
    }
    Ok(IclockQuery {
        sn: sn.to_string(),
        table: get("table").map(Table::parse),
        stamp: stamp("Stamp"),
        op_stamp: stamp("OpStamp"),
        photo_stamp: stamp("PhotoStamp"),
        options: text("options"),
        pushver: text("pushver"),
        language: text("language"),
        push_comm_key: text("pushcommkey"),
        info: get("INFO").map(DeviceInfo::parse),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn handshake_query() {
        let q = parse_query(&pairs(
            "SN=AB3N191860207&options=all&pushver=2.4.1&language=69&pushcommkey=4a9f",
        ))
        .expect("valid");
        assert_eq!(q.sn, "AB3N191860207");
        assert!(q.is_handshake());
        assert_eq!(q.pushver.as_deref(), Some("2.4.1"));
        assert_eq!(q.language.as_deref(), Some("69"));
        assert_eq!(q.push_comm_key.as_deref(), Some("4a9f"));
        assert_eq!(q.table, None);
    }

    #[test]
    fn upload_queries_and_both_stamp_names() {
        let q = parse_query(&pairs("SN=X1&table=ATTLOG&Stamp=9999")).expect("valid");
        assert_eq!(
            (q.table.clone(), q.upload_stamp()),
            (Some(Table::AttLog), Some("9999"))
        );
        assert!(!q.is_handshake());
        // A real device posted OPERLOG with the older `OpStamp` name.
        let q = parse_query(&pairs("SN=X1&table=OPERLOG&OpStamp=9999")).expect("valid");
        assert_eq!(
            (q.table.clone(), q.upload_stamp()),
            (Some(Table::OperLog), Some("9999"))
        );
        let q = parse_query(&pairs("SN=X1&table=ATTPHOTO&PhotoStamp=5")).expect("valid");
        assert_eq!(q.upload_stamp(), Some("5"));
        let q = parse_query(&pairs("SN=X1&table=options")).expect("valid");
        assert_eq!(q.table, Some(Table::Options));
        let q = parse_query(&pairs("SN=X1&table=BIODATA")).expect("valid");
        assert_eq!(q.table, Some(Table::BioData));
        let q = parse_query(&pairs("SN=X1&table=FOO")).expect("valid");
        assert_eq!(q.table, Some(Table::Other("FOO".into())));
    }

    #[test]
    fn keys_are_case_exact_and_first_wins() {
        let q = parse_query(&pairs("sn=lower&SN=A1&SN=A2&stamp=1&Stamp=2")).expect("valid");
        assert_eq!(q.sn, "A1");
        assert_eq!(q.stamp.as_deref(), Some("2"));
        assert_eq!(parse_query(&pairs("sn=A1")), Err(QueryError::MissingSerial));
    }

    #[test]
    fn bad_serials_and_stamps() {
        for sn in ["", "A B", "A\nB", "ÁB", &"9".repeat(33)] {
            let q = vec![("SN".to_string(), sn.to_string())];
            assert!(
                matches!(parse_query(&q), Err(QueryError::BadSerial(_))),
                "{sn:?}"
            );
        }
        let q = vec![
            ("SN".to_string(), "A1".to_string()),
            ("Stamp".to_string(), "1\nATTLOGStamp=0".to_string()),
        ];
        assert_eq!(
            parse_query(&q).expect("valid").stamp,
            None,
            "stamp with a newline ignored"
        );
    }

    #[test]
    fn info_of_a_poll() {
        let q = parse_query(&pairs(
            "SN=A1&INFO=Ver 8.0.4.2-20210219,12,30,4566,192.168.1.201,10,7,12,12,111",
        ))
        .expect("valid");
        let info = q.info.expect("info");
        assert_eq!(info.firmware, "Ver 8.0.4.2-20210219");
        assert_eq!(
            (info.users, info.fingerprints, info.logs),
            (Some(12), Some(30), Some(4566))
        );
        assert_eq!(info.ip.as_deref(), Some("192.168.1.201"));
        assert_eq!(info.rest.len(), 5);
        assert_eq!(DeviceInfo::parse(""), DeviceInfo::default());
    }

    proptest! {
        #[test]
        fn never_panics(pairs in proptest::collection::vec((".{0,12}", ".{0,40}"), 0..8)) {
            let _ = parse_query(&pairs);
        }
    }
}
