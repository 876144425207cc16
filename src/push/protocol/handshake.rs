//! The handshake answer (the options a terminal runs on, §2 of the
//! protocol reference) and the terminal's own `table=options` uploads.

use std::fmt;

/// The `TimeZone` option: whole hours as hours (`-4`, `8`), other offsets
/// in minutes (`330` for +05:30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushTimeZone {
    minutes: i32,
}

impl PushTimeZone {
    /// UTC (offset 0).
    pub const UTC: PushTimeZone = PushTimeZone { minutes: 0 };

    /// An offset east of UTC in minutes; `None` outside −12:00…+14:00 or
    /// not on a quarter hour (no real zone is).
    pub fn from_minutes(minutes: i32) -> Option<PushTimeZone> {
        ((-12 * 60..=14 * 60).contains(&minutes) && minutes % 15 == 0)
            .then_some(PushTimeZone { minutes })
    }

    /// Parses a `±HH:MM` offset (devices.json's `timezone`).
    pub fn parse_offset(s: &str) -> Option<PushTimeZone> {
        let (sign, rest) = match s.as_bytes().first()? {
            b'+' => (1, s.get(1..)?),
            b'-' => (-1, s.get(1..)?),
            _ => return None,
        };
        let (h, m) = rest.split_once(':')?;
        if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
        if m >= 60 {
            return None;
        }
        PushTimeZone::from_minutes(sign * (h * 60 + m))
    }

    /// Parses the option's value as a terminal reads it.
    pub fn parse_option(s: &str) -> Option<PushTimeZone> {
        let v = s.trim().parse::<i32>().ok()?;
        if (-14..=14).contains(&v) {
            PushTimeZone::from_minutes(v * 60)
        } else {
            PushTimeZone::from_minutes(v)
        }
    }

    /// The offset east of UTC in minutes.
    pub fn minutes(self) -> i32 {
        self.minutes
    }
}

impl fmt::Display for PushTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.minutes % 60 == 0 {
            write!(f, "{}", self.minutes / 60)
        } else {
            write!(f, "{}", self.minutes)
        }
    }
}

/// What the handshake answer tells a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeOptions<'a> {
    /// The terminal's serial (echoed in the first line).
    pub serial: &'a str,
    /// Last accepted ATTLOG stamp (`None` → `None`: send everything).
    pub attlog_stamp: Option<&'a str>,
    /// Last accepted OPERLOG stamp.
    pub operlog_stamp: Option<&'a str>,
    /// Seconds to wait before retrying after a failed exchange.
    pub error_delay: u32,
    /// Seconds between command polls.
    pub delay: u32,
    /// The terminal's time zone.
    pub timezone: PushTimeZone,
    /// Ask for template uploads ([`template_trans_flag`]): only terminals
    /// imported into the staff list are asked (see `push::people`).
    pub templates: bool,
}

/// A stamp safe to echo on its own line, else `None`.
fn stamp(s: Option<&str>) -> &str {
    s.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("None")
}

/// The `TransFlag` the handshake answers today: punches, the operation log
/// and users, and no template (terminals withhold `FP`/`FACE` lines).
pub const TRANS_FLAG: &str = "TransData AttLog\tOpLog\tEnrollUser\tChgUser";

/// The `TransFlag` that also asks for templates
/// (`../shared/protocol/templates-protocol.md` §3.3 **[M]**): [`TRANS_FLAG`]
/// and `EnrollFP`, `ChgFP` (→ `FP` lines) and `FACE` (→ `FACE` lines),
/// sent to the terminals imported into the staff list.
pub fn template_trans_flag() -> String {
    format!("{TRANS_FLAG}\tEnrollFP\tChgFP\tFACE")
}

/// The `TransFlag` of a handshake: with templates or without.
fn trans_flag(templates: bool) -> String {
    if templates {
        template_trans_flag()
    } else {
        TRANS_FLAG.to_string()
    }
}

/// Renders the handshake answer, one `key=value` per line (LF).
pub fn render_handshake(o: &HandshakeOptions<'_>) -> String {
    format!(
        "GET OPTION FROM: {}\n\
         ATTLOGStamp={}\n\
         OPERLOGStamp={}\n\
         ATTPHOTOStamp=None\n\
         ErrorDelay={}\n\
         Delay={}\n\
         TransTimes=00:00;14:05\n\
         TransInterval=1\n\
         TransFlag={}\n\
         TimeZone={}\n\
         Realtime=1\n\
         Encrypt=None\n",
        o.serial,
        stamp(o.attlog_stamp),
        stamp(o.operlog_stamp),
        o.error_delay,
        o.delay,
        trans_flag(o.templates),
        o.timezone
    )
}

/// Parses a handshake answer into its serial and `key=value` options, as
/// a terminal (the simulator) reads it.
pub fn parse_handshake(body: &str) -> (Option<String>, Vec<(String, String)>) {
    let mut serial = None;
    let mut options = Vec::new();
    for line in body.lines() {
        if let Some(sn) = line.strip_prefix("GET OPTION FROM:") {
            serial = Some(sn.trim().to_string());
        } else if let Some((k, v)) = line.split_once('=') {
            options.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (serial, options)
}

/// Parses a `table=options` upload: `key=value` pairs separated by commas
/// or line breaks; entries without `=` are ignored.
pub fn parse_options_body(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split([',', '\n'])
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tz(minutes: i32) -> PushTimeZone {
        PushTimeZone::from_minutes(minutes).expect("valid zone")
    }

    /// The answer to terminal `A1` with no stamps, UTC, asking for
    /// templates or not.
    fn plain_handshake(templates: bool) -> String {
        render_handshake(&HandshakeOptions {
            serial: "A1",
            attlog_stamp: None,
            operlog_stamp: None,
            error_delay: 30,
            delay: 10,
            timezone: tz(0),
            templates,
        })
    }

    #[test]
    fn renders_the_reference_answer() {
        let text = render_handshake(&HandshakeOptions {
            serial: "AB3N191860207",
            attlog_stamp: Some("9999"),
            operlog_stamp: None,
            error_delay: 30,
            delay: 10,
            timezone: tz(-240),
            templates: false,
        });
        assert_eq!(
            text,
            "GET OPTION FROM: AB3N191860207\nATTLOGStamp=9999\nOPERLOGStamp=None\n\
             ATTPHOTOStamp=None\nErrorDelay=30\nDelay=10\nTransTimes=00:00;14:05\n\
             TransInterval=1\nTransFlag=TransData AttLog\tOpLog\tEnrollUser\tChgUser\n\
             TimeZone=-4\nRealtime=1\nEncrypt=None\n"
        );
        let (serial, options) = parse_handshake(&text);
        assert_eq!(serial.as_deref(), Some("AB3N191860207"));
        let get = |k: &str| {
            options
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("ATTLOGStamp"), Some("9999"));
        assert_eq!(get("TimeZone"), Some("-4"));
        assert_eq!(get("Delay"), Some("10"));
    }

    #[test]
    fn the_template_trans_flag_3_3() {
        let flag = template_trans_flag();
        assert_eq!(
            flag,
            "TransData AttLog\tOpLog\tEnrollUser\tChgUser\tEnrollFP\tChgFP\tFACE"
        );
        let (name, rest) = flag.split_once(' ').expect("TransData first");
        assert_eq!(name, "TransData");
        let items: Vec<&str> = rest.split('\t').collect();
        for wanted in [
            "AttLog",
            "OpLog",
            "EnrollUser",
            "ChgUser",
            "EnrollFP",
            "ChgFP",
            "FACE",
        ] {
            assert_eq!(
                items.iter().filter(|i| **i == wanted).count(),
                1,
                "{wanted}"
            );
        }
        // A terminal not imported is asked for no template.
        let text = plain_handshake(false);
        assert!(text.contains(&format!("\nTransFlag={TRANS_FLAG}\n")));
        assert!(
            !text.contains("EnrollFP") && !text.contains("FACE"),
            "{text}"
        );
    }

    #[test]
    fn an_imported_terminal_is_asked_for_templates_3_3() {
        let text = plain_handshake(true);
        assert!(
            text.contains(
                "\nTransFlag=TransData AttLog\tOpLog\tEnrollUser\tChgUser\tEnrollFP\tChgFP\tFACE\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("TransFlag=").count(), 1);
    }

    #[test]
    fn a_stamp_with_a_line_break_is_not_echoed() {
        let text = render_handshake(&HandshakeOptions {
            serial: "A1",
            attlog_stamp: Some("1\nDelay=0"),
            operlog_stamp: Some(""),
            error_delay: 30,
            delay: 10,
            timezone: tz(0),
            templates: false,
        });
        assert!(text.contains("ATTLOGStamp=None\nOPERLOGStamp=None\n"));
        assert_eq!(
            text.matches("Delay=").count(),
            2,
            "ErrorDelay and Delay only"
        );
    }

    #[test]
    fn time_zones() {
        assert_eq!(tz(-240).to_string(), "-4");
        assert_eq!(tz(480).to_string(), "8");
        assert_eq!(tz(330).to_string(), "330");
        assert_eq!(tz(-210).to_string(), "-210");
        assert_eq!(tz(0).to_string(), "0");
        assert_eq!(PushTimeZone::parse_offset("-04:00"), Some(tz(-240)));
        assert_eq!(PushTimeZone::parse_offset("+05:30"), Some(tz(330)));
        assert_eq!(PushTimeZone::parse_offset("+05:45"), Some(tz(345)));
        for bad in [
            "", "04:00", "+4:00", "+05:60", "+15:00", "-13:00", "+05:07", "+0a:00", "-",
        ] {
            assert_eq!(PushTimeZone::parse_offset(bad), None, "{bad:?}");
        }
        assert_eq!(PushTimeZone::parse_option("-4"), Some(tz(-240)));
        assert_eq!(PushTimeZone::parse_option("330"), Some(tz(330)));
    }

    #[test]
    fn options_uploads() {
        let body = b"~DeviceName=SpeedFace-V5L,MAC=00:17:61:12:34:56,TransactionCount=4566,\
                     FWVersion=Ver 8.0.4.2,UserCount=12\n~Platform=ZMM510,IPAddress=192.168.1.201,junk,=x";
        let options = parse_options_body(body);
        assert_eq!(options.len(), 7);
        assert_eq!(
            options[0],
            ("~DeviceName".to_string(), "SpeedFace-V5L".to_string())
        );
        assert_eq!(
            options[6],
            ("IPAddress".to_string(), "192.168.1.201".to_string())
        );
    }

    proptest! {
        #[test]
        fn time_zone_round_trips(q in -48i32..=56) {
            let zone = tz(q * 15);
            prop_assert_eq!(PushTimeZone::parse_option(&zone.to_string()), Some(zone));
        }

        #[test]
        fn handshake_round_trips(serial in "[0-9A-Z]{1,20}", att in proptest::option::of("[0-9]{1,10}"),
                                 error_delay in 1u32..600, delay in 1u32..600, q in -48i32..=56) {
            let o = HandshakeOptions {
                serial: &serial,
                attlog_stamp: att.as_deref(),
                operlog_stamp: None,
                error_delay,
                delay,
                timezone: tz(q * 15),
                templates: false,
            };
            let (sn, options) = parse_handshake(&render_handshake(&o));
            prop_assert_eq!(sn.as_deref(), Some(serial.as_str()));
            let get = |k: &str| options.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            prop_assert_eq!(get("ATTLOGStamp"), Some(att.clone().unwrap_or_else(|| "None".into())));
            prop_assert_eq!(get("Delay"), Some(delay.to_string()));
            prop_assert_eq!(get("ErrorDelay"), Some(error_delay.to_string()));
            prop_assert_eq!(get("TimeZone").and_then(|t| PushTimeZone::parse_option(&t)), Some(o.timezone));
        }

        #[test]
        fn parsers_never_panic(text in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_handshake(&text);
            let _ = parse_options_body(&bytes);
            let _ = PushTimeZone::parse_offset(&text);
            let _ = PushTimeZone::parse_option(&text);
        }
    }
}
