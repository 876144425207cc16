//! OPERLOG upload bodies: `USER PIN=..\tName=..\tPri=..\tPasswd=..\tCard=..\tGrp=..`
//! lines keep the journal's copy of the users; `OPLOG`, `FP`, `FACE`,
//! `USERPIC` and other record lines are accepted and counted.

use super::lines::{check_pin, lines, Chunk, SkipReason, Skipped};

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

/// Parses one chunk of a streamed OPERLOG body (line numbers count from
/// the start of the body).
pub fn parse_operlog_chunk(chunk: &Chunk<'_>) -> OperlogBatch {
    let mut batch = parse_operlog(chunk.bytes);
    chunk.in_body(&mut batch.skipped);
    batch
}

/// Parses an OPERLOG body.
pub fn parse_operlog(body: &[u8]) -> OperlogBatch {
    let mut batch = OperlogBatch::default();
    for (n, line) in lines(body) {
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

/// Parses the `key=value` fields of a `USER` line.
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
            "Pri" => user.privilege = value.parse().map_err(|_| SkipReason::BadPrivilege)?,
            "Passwd" => user.password = Some(value.to_string()).filter(|p| !p.is_empty()),
            "Card" => user.card = value.to_string(),
            "Grp" => user.group = Some(value.to_string()).filter(|g| !g.is_empty()),
            _ => {}
        }
    }
    user.pin = pin.ok_or(SkipReason::EmptyPin)?;
    check_pin(&user.pin)?;
    Ok(user)
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
    fn a_name_may_hold_equals_signs_and_invalid_bytes() {
        let batch = parse_operlog(b"USER PIN=5\tName=a=b\xb0\xa1\tPri=0\n");
        assert_eq!(batch.users[0].name, "a=b\u{fffd}\u{fffd}");
    }

    fn user() -> impl Strategy<Value = PushUser> {
        (
            "[0-9A-Za-z]{1,24}",
            "[^\\t\\r\\n\\pC]{0,24}",
            prop_oneof![Just(0i64), Just(14i64)],
            proptest::option::of("[0-9]{1,8}"),
            "[0-9]{0,10}",
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
