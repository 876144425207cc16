//! OPERLOG upload bodies: `USER PIN=..\tName=..\tPri=..\tPasswd=..\tCard=..\tGrp=..`
//! lines keep the journal's copy of the users; `OPLOG`, `FP`, `FACE`,
//! `USERPIC` and other record lines are accepted and counted.

use super::lines::{check_pin, lines_in, Chunk, SkipReason, Skipped};
use crate::fields;
use crate::text::Encoding;

/// A user as a `USER` line describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushUser {
    /// `PIN`.
    pub pin: String,
    /// `Name` (empty when not sent).
    pub name: String,
    /// `Pri`: 0 user, 14 admin.
    pub privilege: i64,
    /// `Passwd`, when not empty.
    pub password: Option<String>,
    /// `Card` (empty: none).
    pub card: String,
    /// `Grp`, when sent.
    pub group: Option<String>,
}

impl From<PushUser> for crate::journal::JournalUser {
    fn from(u: PushUser) -> Self {
        crate::journal::JournalUser {
            user_id: u.pin,
            uid: None,
            name: u.name,
            privilege: u.privilege,
            card: u.card,
            password: u.password,
            group: u.group,
        }
    }
}

/// A parsed OPERLOG body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OperlogBatch {
    /// `USER` records in body order.
    pub users: Vec<PushUser>,
    /// `OPLOG` lines (accepted, not stored).
    pub oplogs: usize,
    /// Template, face and photo lines (`FP`, `FACE`, `USERPIC`, `BIOPHOTO`, …).
    pub other: usize,
    /// Lines that were not used.
    pub skipped: Vec<Skipped>,
}

impl OperlogBatch {
    /// Lines accepted (the `n` of `OK:<n>`).
    pub fn accepted(&self) -> usize {
        self.users.len() + self.oplogs + self.other
    }
}

/// Record kinds accepted besides `USER` and `OPLOG`.
const OTHER_KINDS: &[&str] = &[
    "FP", "FACE", "USERPIC", "BIOPHOTO", "BIODATA", "FVEIN", "WORKCODE", "SMS", "USER_SMS",
];

/// Parses one chunk of a streamed OPERLOG body written in `encoding` (line
/// numbers count from the start of the body).
pub fn parse_operlog_chunk(chunk: &Chunk<'_>, encoding: Encoding) -> OperlogBatch {
    let mut batch = parse_operlog_in(chunk.bytes, encoding);
    chunk.in_body(&mut batch.skipped);
    batch
}

/// Parses an OPERLOG body written in UTF-8.
pub fn parse_operlog(body: &[u8]) -> OperlogBatch {
    parse_operlog_in(body, Encoding::Utf8)
}

/// Parses an OPERLOG body whose names are in the terminal's `encoding`
/// (the device's `encoding`, as for pull terminals: GBK, Latin-1…).
pub fn parse_operlog_in(body: &[u8], encoding: Encoding) -> OperlogBatch {
    let mut batch = OperlogBatch::default();
    for (n, line) in lines_in(body, encoding) {
        let (kind, rest) = line.split_once([' ', '\t']).unwrap_or((&line, ""));
        match kind {
            "USER" => match parse_user(rest) {
                Ok(u) => batch.users.push(u),
                Err(reason) => batch.skipped.push(Skipped { line: n, reason }),
            },
            "OPLOG" => batch.oplogs += 1,
            k if OTHER_KINDS.contains(&k) => batch.other += 1,
            _ => batch.skipped.push(Skipped {
                line: n,
                reason: SkipReason::UnknownLine,
            }),
        }
    }
    batch
}

/// Longest `Grp` kept.
const MAX_GROUP: usize = 8;

/// Parses the `key=value` fields of a `USER` line, with the users API's
/// limits: a PIN of 1–24 letters or digits (never a space or `=`, which
/// would reach a command line), a name of up to 24 characters without
/// controls, `Pri` 0–15, a password of up to 8 letters or digits, a card
/// number. A line breaking one is skipped (and logged), never stored.
fn parse_user(fields: &str) -> Result<PushUser, SkipReason> {
    let mut user = PushUser::default();
    let mut pin = None;
    for field in fields.split('\t') {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "PIN" => pin = Some(value.to_string()),
            "Name" => user.name = value.to_string(),
            "Pri" if value.is_empty() => {}
            "Pri" => {
                user.privilege = value
                    .parse()
                    .ok()
                    .filter(|p| (0..=15).contains(p))
                    .ok_or(SkipReason::BadPrivilege)?;
            }
            "Passwd" => user.password = Some(value.to_string()).filter(|p| !p.is_empty()),
            "Card" => user.card = value.to_string(),
            "Grp" => user.group = Some(value.to_string()).filter(|g| !g.is_empty()),
            _ => {}
        }
    }
    user.pin = pin.ok_or(SkipReason::EmptyPin)?;
    check_user(&user)?;
    Ok(user)
}

/// Checks a `USER` line's fields against the users API's limits.
fn check_user(user: &PushUser) -> Result<(), SkipReason> {
    check_pin(&user.pin)?;
    if !fields::valid_user_id(&user.pin) {
        return Err(SkipReason::BadPin);
    }
    if !fields::valid_user_name(&user.name) {
        return Err(SkipReason::BadName);
    }
    if !user
        .password
        .as_deref()
        .is_none_or(fields::valid_user_password)
    {
        return Err(SkipReason::BadPassword);
    }
    if !fields::valid_user_card(&user.card) {
        return Err(SkipReason::BadCard);
    }
    let group_ok =
        |g: &String| g.len() <= MAX_GROUP && g.bytes().all(|b| b.is_ascii_alphanumeric());
    if !user.group.as_ref().is_none_or(group_ok) {
        return Err(SkipReason::BadGroup);
    }
    Ok(())
}

/// Renders a `USER` line (as a terminal uploads it), ending in LF.
pub fn render_user_line(u: &PushUser) -> String {
    let mut line = format!(
        "USER PIN={}\tName={}\tPri={}\tPasswd={}\tCard={}",
        u.pin,
        u.name,
        u.privilege,
        u.password.as_deref().unwrap_or(""),
        u.card
    );
    if let Some(g) = &u.group {
        line.push_str("\tGrp=");
        line.push_str(g);
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_read_in_the_terminals_encoding() {
        let mut body = b"USER PIN=8\tName=".to_vec();
        body.extend_from_slice(&[0xD5, 0xC5, 0xC8, 0xFD]); // 张三 in GBK
        body.extend_from_slice(b"\tPri=0\tPasswd=\tCard=\nUSER PIN=9\tName=Jos\xE9\tPri=0\n");
        let gbk = parse_operlog_in(&body, Encoding::Gbk);
        assert_eq!(gbk.users[0].name, "张三");
        let latin1 = parse_operlog_in(
            b"USER PIN=9\tName=Jos\xE9 Mu\xF1oz\tPri=0\n",
            Encoding::Latin1,
        );
        assert_eq!(latin1.users[0].name, "José Muñoz");
        assert_eq!(
            parse_operlog(&body).users[0].name,
            "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn user_oplog_and_template_lines() {
        let body = "USER PIN=1\tName=Ana Pérez\tPri=14\tPasswd=123\tCard=4321\tGrp=1\tTZ=0000000100000000\tVerify=0\r\n\
                    OPLOG 4\t0\t2026-03-01 08:00:00\t0\t0\t0\t0\r\n\
                    USER PIN=2\tName=\tPri=0\tPasswd=\tCard=\tGrp=1\n\
                    FP PIN=1\tFID=6\tSize=1024\tValid=1\tTMP=TVNTUzIxAAAD\n\
                    FACE PIN=1\tFID=0\tSize=100\tValid=1\tTMP=AAAA\n\
                    USERPIC PIN=1\tFileName=1.jpg\tSize=4\tContent=AAAA\n";
        let batch = parse_operlog(body.as_bytes());
        assert!(batch.skipped.is_empty(), "{:?}", batch.skipped);
        assert_eq!(batch.oplogs, 1);
        assert_eq!(batch.other, 3);
        assert_eq!(batch.accepted(), 6);
        assert_eq!(
            batch.users,
            vec![
                PushUser {
                    pin: "1".into(),
                    name: "Ana Pérez".into(),
                    privilege: 14,
                    password: Some("123".into()),
                    card: "4321".into(),
                    group: Some("1".into()),
                },
                PushUser {
                    pin: "2".into(),
                    group: Some("1".into()),
                    ..PushUser::default()
                },
            ]
        );
    }

    #[test]
    fn bad_user_lines_and_unknown_lines_are_skipped() {
        let body =
            "USER PIN=\tName=x\nUSER Name=y\nUSER PIN=3\tPri=admin\nWHAT 1\nUSER PIN=4\tName=ok\n";
        let batch = parse_operlog(body.as_bytes());
        assert_eq!(batch.users.len(), 1);
        assert_eq!(batch.users[0].pin, "4");
        let reasons: Vec<SkipReason> = batch.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [
                SkipReason::EmptyPin,
                SkipReason::EmptyPin,
                SkipReason::BadPrivilege,
                SkipReason::UnknownLine
            ]
        );
    }

    #[test]
    fn user_fields_get_the_users_api_limits() {
        let long = "x".repeat(25);
        for (line, reason) in [
            (
                "USER PIN=78 Pri=14\tName=A\tPri=0".to_string(),
                SkipReason::BadPin,
            ),
            ("USER PIN=7=8\tName=A".into(), SkipReason::BadPin),
            (format!("USER PIN=7\tName={long}"), SkipReason::BadName),
            (
                "USER PIN=7\tName=Jefe\u{2028}Falso".into(),
                SkipReason::BadName,
            ),
            ("USER PIN=7\tName=A\u{2029}B".into(), SkipReason::BadName),
            (
                "USER PIN=7\tName=A\tPri=99".into(),
                SkipReason::BadPrivilege,
            ),
            (
                "USER PIN=7\tName=A\tPasswd=123456789".into(),
                SkipReason::BadPassword,
            ),
            (
                "USER PIN=7\tName=A\tCard=99999999999".into(),
                SkipReason::BadCard,
            ),
            (
                "USER PIN=7\tName=A\tGrp=123456789".into(),
                SkipReason::BadGroup,
            ),
        ] {
            let batch = parse_operlog(line.as_bytes());
            assert!(batch.users.is_empty(), "{line:?}");
            assert_eq!(batch.skipped[0].reason, reason, "{line:?}");
        }
        let ok = parse_operlog(
            "USER PIN=7\tName=Ana Pérez López\tPri=14\tPasswd=1234\tCard=4294967295\tGrp=1"
                .as_bytes(),
        );
        assert_eq!(ok.users.len(), 1, "{:?}", ok.skipped);
    }

    #[test]
    fn a_name_may_hold_equals_signs_and_invalid_bytes() {
        let batch = parse_operlog(b"USER PIN=5\tName=a=b\xb0\xa1\tPri=0\n");
        assert_eq!(batch.users[0].name, "a=b\u{fffd}\u{fffd}");
    }

    fn user() -> impl Strategy<Value = PushUser> {
        (
            "[0-9A-Za-z]{1,24}",
            "[^\\t\\r\\n\\pC\\p{Zl}\\p{Zp}]{0,24}",
            prop_oneof![Just(0i64), Just(14i64)],
            proptest::option::of("[0-9]{1,8}"),
            prop_oneof![
                Just(String::new()),
                any::<u32>().prop_map(|n| n.to_string())
            ],
            proptest::option::of("[0-9]{1,2}"),
        )
            .prop_map(|(pin, name, privilege, password, card, group)| PushUser {
                pin,
                name: name.trim().to_string(),
                privilege,
                password,
                card,
                group,
            })
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_operlog(&body);
        }

        #[test]
        fn never_panics_on_user_like_text(body in "((USER|OPLOG|FP) ([A-Za-z]{0,6}=?[^\\n]{0,10}\\t?){0,8}\\n){0,8}") {
            let _ = parse_operlog(body.as_bytes());
        }

        #[test]
        fn render_then_parse_round_trips(users in proptest::collection::vec(user(), 0..10)) {
            let body: String = users.iter().map(render_user_line).collect();
            let batch = parse_operlog(body.as_bytes());
            prop_assert!(batch.skipped.is_empty());
            prop_assert_eq!(batch.users, users);
        }
    }
}
