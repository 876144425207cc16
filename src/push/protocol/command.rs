//! Commands for push terminals: the text after `C:<id>:`, rendered from a
//! typed [`PushCommand`] (refusing values that would inject a field or a
//! line), parsed back (the simulator executes them), and the answer to a
//! command poll.

use std::fmt;

use chrono::NaiveDateTime;

use crate::time;

/// Most commands sent in one poll answer.
pub const MAX_POLL_COMMANDS: usize = 200;
/// Most bytes of command lines in one poll answer.
pub const MAX_POLL_BYTES: usize = 40 * 1024;
/// Longest command id (alphanumerics).
pub const MAX_ID: usize = 16;

/// A command a push terminal executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushCommand {
    /// `DATA UPDATE USERINFO PIN=..\tName=..\tPri=..\tPasswd=..\tCard=..`: add or replace a user.
    UpdateUser {
        /// PIN.
        pin: String,
        /// Name.
        name: String,
        /// Privilege (0 user, 14 admin).
        privilege: i64,
        /// Password (empty: none).
        password: String,
        /// Card number (empty: none).
        card: String,
    },
    /// `DATA DELETE USERINFO PIN=..`: delete a user and templates.
    DeleteUser {
        /// PIN.
        pin: String,
    },
    /// `DATA QUERY ATTLOG StartTime=..\tEndTime=..`: re-upload that range.
    QueryAttlog {
        /// First time.
        start: NaiveDateTime,
        /// Last time.
        end: NaiveDateTime,
    },
    /// `DATA QUERY USERINFO`: upload users as OPERLOG `USER` lines.
    QueryUsers,
    /// `CHECK`: handshake again (options, clock) and upload from stamps.
    Check,
    /// `LOG`: upload new data now.
    Log,
    /// `INFO`: report firmware, model and counts.
    Info,
    /// `CLEAR LOG`: delete the attendance log.
    ClearLog,
    /// `REBOOT`: restart the terminal.
    Reboot,
}

/// Why a command cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The PIN is empty.
    EmptyPin,
    /// A field holds a tab, a line break or another control character.
    ControlCharacter(&'static str),
    /// The PIN holds a space or `=` (it would add fields to the command).
    BadPin,
    /// A command id that is not 1–16 alphanumerics.
    BadId(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::EmptyPin => f.write_str("empty PIN"),
            CommandError::ControlCharacter(field) => {
                write!(f, "{field} holds a tab, line break or control character")
            }
            CommandError::BadId(id) => write!(f, "command id {id:?} is not 1-16 alphanumerics"),
            CommandError::BadPin => f.write_str("PIN holds a space or '='"),
        }
    }
}

impl std::error::Error for CommandError {}

/// True for a command id a terminal accepts.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Refuses values that would break the line or its fields.
fn clean<'a>(field: &'static str, value: &'a str) -> Result<&'a str, CommandError> {
    if value.chars().any(crate::fields::is_control) {
        Err(CommandError::ControlCharacter(field))
    } else {
        Ok(value)
    }
}

/// Checks a PIN for a command.
pub(super) fn pin(value: &str) -> Result<&str, CommandError> {
    let value = clean("PIN", value)?;
    if value.trim().is_empty() {
        Err(CommandError::EmptyPin)
    } else if value.chars().any(|c| c.is_whitespace() || c == '=') {
        Err(CommandError::BadPin)
    } else {
        Ok(value)
    }
}

impl PushCommand {
    /// The command text (what follows `C:<id>:`).
    pub fn render(&self) -> Result<String, CommandError> {
        Ok(match self {
            PushCommand::UpdateUser {
                pin: p,
                name,
                privilege,
                password,
                card,
            } => format!(
                "DATA UPDATE USERINFO PIN={}\tName={}\tPri={privilege}\tPasswd={}\tCard={}",
                pin(p)?,
                clean("Name", name)?,
                clean("Passwd", password)?,
                clean("Card", card)?
            ),
            PushCommand::DeleteUser { pin: p } => format!("DATA DELETE USERINFO PIN={}", pin(p)?),
            PushCommand::QueryAttlog { start, end } => format!(
                "DATA QUERY ATTLOG StartTime={}\tEndTime={}",
                time::format(start),
                time::format(end)
            ),
            PushCommand::QueryUsers => "DATA QUERY USERINFO".to_string(),
            PushCommand::Check => "CHECK".to_string(),
            PushCommand::Log => "LOG".to_string(),
            PushCommand::Info => "INFO".to_string(),
            PushCommand::ClearLog => "CLEAR LOG".to_string(),
            PushCommand::Reboot => "REBOOT".to_string(),
        })
    }

    /// Parses a command text (what follows `C:<id>:`); `None` for commands
    /// this module does not know.
    pub fn parse(text: &str) -> Option<PushCommand> {
        let text = text.trim_end_matches(['\r', '\n']);
        let simple = match text {
            "DATA QUERY USERINFO" => Some(PushCommand::QueryUsers),
            "CHECK" => Some(PushCommand::Check),
            "LOG" => Some(PushCommand::Log),
            "INFO" => Some(PushCommand::Info),
            "CLEAR LOG" => Some(PushCommand::ClearLog),
            "REBOOT" => Some(PushCommand::Reboot),
            _ => None,
        };
        if simple.is_some() {
            return simple;
        }
        if let Some(fields) = text.strip_prefix("DATA UPDATE USERINFO ") {
            let get = field_getter(fields);
            return Some(PushCommand::UpdateUser {
                pin: get("PIN").filter(|p| !p.is_empty())?,
                name: get("Name").unwrap_or_default(),
                privilege: get("Pri").map_or(Some(0), |p| p.parse().ok())?,
                password: get("Passwd").unwrap_or_default(),
                card: get("Card").unwrap_or_default(),
            });
        }
        if let Some(fields) = text.strip_prefix("DATA DELETE USERINFO ") {
            let pin = field_getter(fields)("PIN").filter(|p| !p.is_empty())?;
            return Some(PushCommand::DeleteUser { pin });
        }
        if let Some(fields) = text.strip_prefix("DATA QUERY ATTLOG ") {
            let get = field_getter(fields);
            return Some(PushCommand::QueryAttlog {
                start: time::parse(&get("StartTime")?)?,
                end: time::parse(&get("EndTime")?)?,
            });
        }
        None
    }
}

/// What replaces a keypad password or a biometric template wherever a
/// command is shown or logged.
pub const MASK: &str = "***";

/// The fields whose values never leave a command's text: keypad passwords
/// and templates (`TMP` of FINGERTMP and FACE, `Tmp` of BIODATA).
const SECRET_FIELDS: &[&str] = &["Passwd=", "TMP=", "Tmp="];

/// `text` as it may be shown (API answers, logs): the value of every
/// `Passwd=`, `TMP=` and `Tmp=` field replaced with [`MASK`] (an empty one
/// stays empty). Fields start the text or follow a space or a tab, and end
/// at a tab.
pub fn redact_command(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, key)) = find_secret_field(rest) {
        let value_at = at + key.len();
        out.push_str(&rest[..value_at]);
        let value_len = rest[value_at..].find('\t').unwrap_or(rest.len() - value_at);
        if value_len > 0 {
            out.push_str(MASK);
        }
        rest = &rest[value_at + value_len..];
    }
    out.push_str(rest);
    out
}

/// Where the next secret field of `text` starts (at a field boundary), and its key.
fn find_secret_field(text: &str) -> Option<(usize, &'static str)> {
    SECRET_FIELDS
        .iter()
        .filter_map(|key| {
            text.match_indices(key)
                .map(|(i, _)| i)
                .find(|&i| i == 0 || matches!(text.as_bytes()[i - 1], b' ' | b'\t'))
                .map(|i| (i, *key))
        })
        .min_by_key(|(i, _)| *i)
}

/// Looks up `key=value` fields separated by tabs.
fn field_getter(fields: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| {
        fields
            .split('\t')
            .filter_map(|f| f.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    }
}

/// One command line of a poll answer: `C:<id>:<text>` (no newline).
pub fn command_line(id: &str, text: &str) -> Result<String, CommandError> {
    if !valid_id(id) {
        return Err(CommandError::BadId(id.chars().take(40).collect()));
    }
    // Tabs separate a command's fields; anything else would break the line.
    if text
        .chars()
        .any(|c| crate::fields::is_control(c) && c != '\t')
    {
        return Err(CommandError::ControlCharacter("command"));
    }
    Ok(format!("C:{id}:{text}"))
}

/// Splits a poll answer line `C:<id>:<text>` into id and command.
pub fn parse_command_line(line: &str) -> Option<(String, PushCommand)> {
    let rest = line.trim_end_matches(['\r', '\n']).strip_prefix("C:")?;
    let (id, text) = rest.split_once(':')?;
    valid_id(id).then_some(())?;
    Some((id.to_string(), PushCommand::parse(text)?))
}

/// The answer to a command poll for `commands` (id and text, in queue
/// order): `OK` when there is nothing to send, else one `C:<id>:<text>`
/// line each — at most [`MAX_POLL_COMMANDS`] and [`MAX_POLL_BYTES`], and
/// nothing after a `REBOOT`. Returns the body and the ids it carries (a
/// command whose text cannot be sent is left out; the caller keeps it).
pub fn render_poll(commands: &[(i64, String)]) -> (String, Vec<i64>) {
    let mut body = String::new();
    let mut ids = Vec::new();
    for (id, text) in commands {
        if ids.len() == MAX_POLL_COMMANDS {
            break;
        }
        let Ok(line) = command_line(&id.to_string(), text) else {
            continue;
        };
        if !body.is_empty() && body.len() + line.len() + 1 > MAX_POLL_BYTES {
            break;
        }
        body.push_str(&line);
        body.push('\n');
        ids.push(*id);
        if text == "REBOOT" {
            break;
        }
    }
    if ids.is_empty() {
        body.push_str("OK");
    }
    (body, ids)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pin_never_adds_fields_to_a_command() {
        for pin in ["78 Pri=14", "7=8", "7\u{2028}", " 7"] {
            let cmd = PushCommand::UpdateUser {
                pin: pin.into(),
                name: "A".into(),
                privilege: 0,
                password: String::new(),
                card: String::new(),
            };
            assert!(cmd.render().is_err(), "{pin:?}");
            assert!(PushCommand::DeleteUser { pin: pin.into() }
                .render()
                .is_err());
        }
        assert!(command_line("1", "INFO\u{2028}REBOOT").is_err());
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn passwords_are_masked_wherever_a_command_is_shown() {
        assert_eq!(
            redact_command("DATA UPDATE USERINFO PIN=1\tName=Ana\tPri=0\tPasswd=1234\tCard=9"),
            "DATA UPDATE USERINFO PIN=1\tName=Ana\tPri=0\tPasswd=***\tCard=9"
        );
        assert_eq!(
            redact_command("DATA UPDATE USERINFO PIN=1\tPasswd=1234"),
            "DATA UPDATE USERINFO PIN=1\tPasswd=***"
        );
        assert_eq!(
            redact_command("DATA UPDATE USERINFO Passwd=55\tName=xPasswd=7\tPasswd="),
            "DATA UPDATE USERINFO Passwd=***\tName=xPasswd=7\tPasswd="
        );
        assert_eq!(redact_command("CHECK"), "CHECK");
    }

    #[test]
    fn templates_are_masked_wherever_a_command_is_shown() {
        assert_eq!(
            redact_command("DATA UPDATE FINGERTMP PIN=1\tFID=6\tSize=8\tValid=1\tTMP=TB9TUzIx"),
            "DATA UPDATE FINGERTMP PIN=1\tFID=6\tSize=8\tValid=1\tTMP=***"
        );
        assert_eq!(
            redact_command("DATA UPDATE FACE PIN=1\tFID=0\tSIZE=4\tVALID=1\tTMP=AAAA"),
            "DATA UPDATE FACE PIN=1\tFID=0\tSIZE=4\tVALID=1\tTMP=***"
        );
        assert_eq!(
            redact_command(
                "DATA UPDATE BIODATA Pin=7\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=9\tMajorVer=58\tMinorVer=12\tFormat=0\tTmp=apUBEB=="
            ),
            "DATA UPDATE BIODATA Pin=7\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=9\tMajorVer=58\tMinorVer=12\tFormat=0\tTmp=***"
        );
        // Both kinds in one text, in either order; an empty value stays empty.
        assert_eq!(
            redact_command("X TMP=AAAA\tPasswd=12\tTmp=\tName=xTMP=1"),
            "X TMP=***\tPasswd=***\tTmp=\tName=xTMP=1"
        );
    }

    fn time(s: &str) -> NaiveDateTime {
        time::parse(s).expect("valid time")
    }

    #[test]
    fn renders_the_reference_commands() {
        let user = PushCommand::UpdateUser {
            pin: "1".into(),
            name: "Ana".into(),
            privilege: 0,
            password: String::new(),
            card: "4321".into(),
        };
        let cases = [
            (
                user,
                "DATA UPDATE USERINFO PIN=1\tName=Ana\tPri=0\tPasswd=\tCard=4321",
            ),
            (
                PushCommand::DeleteUser { pin: "7".into() },
                "DATA DELETE USERINFO PIN=7",
            ),
            (
                PushCommand::QueryAttlog {
                    start: time("2026-03-01 00:00:00"),
                    end: time("2026-03-01 23:59:59"),
                },
                "DATA QUERY ATTLOG StartTime=2026-03-01 00:00:00\tEndTime=2026-03-01 23:59:59",
            ),
            (PushCommand::QueryUsers, "DATA QUERY USERINFO"),
            (PushCommand::Check, "CHECK"),
            (PushCommand::Log, "LOG"),
            (PushCommand::Info, "INFO"),
            (PushCommand::ClearLog, "CLEAR LOG"),
            (PushCommand::Reboot, "REBOOT"),
        ];
        for (cmd, text) in cases {
            assert_eq!(cmd.render().as_deref(), Ok(text));
            assert_eq!(PushCommand::parse(text), Some(cmd));
        }
        assert_eq!(command_line("12", "CHECK").as_deref(), Ok("C:12:CHECK"));
        assert_eq!(
            parse_command_line("C:12:CLEAR LOG\r\n"),
            Some(("12".to_string(), PushCommand::ClearLog))
        );
    }

    #[test]
    fn refuses_fields_that_would_inject_fields_or_lines() {
        let inject = |name: &str| PushCommand::UpdateUser {
            pin: "1".into(),
            name: name.into(),
            privilege: 0,
            password: String::new(),
            card: String::new(),
        };
        assert_eq!(
            inject("a\tPri=14").render(),
            Err(CommandError::ControlCharacter("Name"))
        );
        assert_eq!(
            inject("a\nC:9:CLEAR LOG").render(),
            Err(CommandError::ControlCharacter("Name"))
        );
        assert_eq!(
            PushCommand::DeleteUser { pin: " ".into() }.render(),
            Err(CommandError::EmptyPin)
        );
        assert_eq!(
            PushCommand::DeleteUser { pin: "1\r".into() }.render(),
            Err(CommandError::ControlCharacter("PIN"))
        );
        assert!(matches!(
            command_line("a:b", "CHECK"),
            Err(CommandError::BadId(_))
        ));
        assert!(matches!(
            command_line(&"1".repeat(17), "CHECK"),
            Err(CommandError::BadId(_))
        ));
        assert_eq!(
            command_line("1", "CHECK\nREBOOT"),
            Err(CommandError::ControlCharacter("command"))
        );
    }

    #[test]
    fn unknown_or_malformed_commands_do_not_parse() {
        for text in [
            "USER ADD PIN=1",
            "DATA UPDATE USERINFO Name=x",
            "DATA UPDATE USERINFO PIN=1\tPri=x",
            "DATA QUERY ATTLOG StartTime=2026-02-30 00:00:00\tEndTime=2026-03-01 00:00:00",
            "",
        ] {
            assert_eq!(PushCommand::parse(text), None, "{text:?}");
        }
        assert_eq!(parse_command_line("X:1:CHECK"), None);
        assert_eq!(parse_command_line("C:1 2:CHECK"), None);
    }

    #[test]
    fn poll_answers() {
        assert_eq!(render_poll(&[]), ("OK".to_string(), vec![]));
        let cmds = vec![(1, "CHECK".to_string()), (2, "INFO".to_string())];
        assert_eq!(
            render_poll(&cmds),
            ("C:1:CHECK\nC:2:INFO\n".to_string(), vec![1, 2])
        );
        // Nothing after a REBOOT.
        let cmds = vec![(1, "REBOOT".to_string()), (2, "INFO".to_string())];
        assert_eq!(render_poll(&cmds).1, vec![1]);
        // At most 200 commands.
        let many: Vec<(i64, String)> = (1..=300).map(|i| (i, "LOG".to_string())).collect();
        assert_eq!(render_poll(&many).1.len(), MAX_POLL_COMMANDS);
        // At most 40 KB.
        let long = format!("DATA DELETE USERINFO PIN={}", "9".repeat(1000));
        let big: Vec<(i64, String)> = (1..=100).map(|i| (i, long.clone())).collect();
        let (body, ids) = render_poll(&big);
        assert!(
            body.len() <= MAX_POLL_BYTES && ids.len() == 39,
            "{} {}",
            body.len(),
            ids.len()
        );
        // A text that cannot be sent is left out.
        let bad = vec![(1, "A\nB".to_string()), (2, "LOG".to_string())];
        assert_eq!(render_poll(&bad), ("C:2:LOG\n".to_string(), vec![2]));
    }

    fn command() -> impl Strategy<Value = PushCommand> {
        let field = "[^\\t\\pC=]{0,16}";
        prop_oneof![
            (
                "[0-9A-Za-z]{1,24}",
                field,
                prop_oneof![Just(0i64), Just(14i64)],
                "[0-9]{0,8}",
                "[0-9]{0,10}"
            )
                .prop_map(|(pin, name, privilege, password, card)| {
                    PushCommand::UpdateUser {
                        pin,
                        name,
                        privilege,
                        password,
                        card,
                    }
                }),
            "[0-9A-Za-z]{1,24}".prop_map(|pin| PushCommand::DeleteUser { pin }),
            (0i64..300_000_000, 0i64..300_000_000).prop_map(|(a, b)| {
                let base = time("2000-01-01 00:00:00");
                PushCommand::QueryAttlog {
                    start: base + chrono::Duration::seconds(a),
                    end: base + chrono::Duration::seconds(b),
                }
            }),
            Just(PushCommand::QueryUsers),
            Just(PushCommand::Check),
            Just(PushCommand::Log),
            Just(PushCommand::Info),
            Just(PushCommand::ClearLog),
            Just(PushCommand::Reboot),
        ]
    }

    proptest! {
        #[test]
        fn render_then_parse_round_trips(cmd in command(), id in "[0-9A-Za-z]{1,16}") {
            let text = cmd.render().expect("renders");
            let line = command_line(&id, &text).expect("line");
            prop_assert_eq!(parse_command_line(&line), Some((id, cmd)));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,120}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_command_line(&text);
            let _ = PushCommand::parse(&text);
            let _ = parse_command_line(&String::from_utf8_lossy(&bytes));
        }
    }
}
