//! What the API asks of a push terminal, as queued commands: the command
//! texts for user and clock requests, the meaning of the return codes a
//! terminal reports, the journal's copy of users kept in step with
//! completed user commands, and the sweep that expires commands a terminal
//! never took. No HTTP and no Spanish here (`http::commands` has both).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDateTime;
use parking_lot::Mutex;

use super::protocol::{CommandError, PushCommand};
use crate::journal::{Command, CommandStatus, Journal, JournalError, JournalUser};
use crate::ops::users::UserChanges;
use crate::registry::DeviceConfig;
use crate::signal::Shutdown;

/// Days a command may wait for its terminal before it expires.
pub const MAX_AGE_DAYS: i64 = 7;

/// How often the expiry sweep runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How long a command may wait for its terminal ([`MAX_AGE_DAYS`]).
pub fn max_age() -> chrono::Duration {
    chrono::Duration::days(MAX_AGE_DAYS)
}

/// Where `config`'s `/iclock` exchanges are relayed, if anywhere: its own
/// `push_forward`, else the server-wide `--push-forward`. A forwarded
/// terminal takes its commands from that server, not from zkserver.
pub fn forward_target<'a>(config: &'a DeviceConfig, global: Option<&'a str>) -> Option<&'a str> {
    if !config.is_push() {
        return None;
    }
    config
        .push_forward
        .as_deref()
        .or(global)
        .filter(|url| !url.trim().is_empty())
}

/// Card number as a push terminal writes it: none (0) is empty.
fn card_text(card: u32) -> String {
    if card == 0 {
        String::new()
    } else {
        card.to_string()
    }
}

/// `DATA UPDATE USERINFO` creating `user_id` with `changes` (unset fields
/// take a new user's defaults: privilege 0, no password, no card).
pub fn create_user_command(user_id: &str, changes: &UserChanges) -> Result<String, CommandError> {
    PushCommand::UpdateUser {
        pin: user_id.to_string(),
        name: changes.name.clone().unwrap_or_default(),
        privilege: i64::from(changes.privilege.unwrap_or(0)),
        password: changes.password.clone().unwrap_or_default(),
        card: changes.card.map(card_text).unwrap_or_default(),
    }
    .render()
}

/// `DATA UPDATE USERINFO` for `existing` (the journal's copy) with
/// `changes` merged over it: the terminal replaces the whole record.
pub fn update_user_command(
    existing: &JournalUser,
    changes: &UserChanges,
) -> Result<String, CommandError> {
    PushCommand::UpdateUser {
        pin: existing.user_id.clone(),
        // A copy stored before the API's limits applied never blocks a change.
        name: changes
            .name
            .clone()
            .unwrap_or_else(|| crate::fields::fit_user_name(&existing.name)),
        privilege: changes.privilege.map_or(existing.privilege, i64::from),
        password: changes
            .password
            .clone()
            .or_else(|| existing.password.clone())
            .unwrap_or_default(),
        card: changes
            .card
            .map_or_else(|| existing.card.clone(), card_text),
    }
    .render()
}

/// `DATA DELETE USERINFO` for `user_id`.
pub fn delete_user_command(user_id: &str) -> Result<String, CommandError> {
    PushCommand::DeleteUser {
        pin: user_id.to_string(),
    }
    .render()
}

/// `CHECK`: the terminal handshakes again and sets its clock from the
/// answer's `Date` and `TimeZone`.
pub fn sync_time_command() -> String {
    "CHECK".to_string()
}

/// `REBOOT`: the terminal restarts (and handshakes again).
pub fn reboot_command() -> String {
    "REBOOT".to_string()
}

/// What a terminal's return code means
/// (`../shared/protocol/push-protocol.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnCode {
    /// 0: done.
    Ok,
    /// -1: parameter error, or no data matched.
    ParameterOrNoData,
    /// -3: read/write error on the terminal.
    ReadWrite,
    /// -10: no such PIN.
    NoSuchUser,
    /// -1001: capacity exceeded.
    CapacityExceeded,
    /// -1002: not supported.
    NotSupported,
    /// -1003: timeout on the terminal.
    Timeout,
    /// -1004: data or configuration mismatch.
    Mismatch,
    /// -1005: terminal busy.
    Busy,
    /// -1006: data too long.
    TooLong,
    /// -1007: out of memory.
    OutOfMemory,
    /// A code the protocol reference does not list.
    Other(i64),
}

impl ReturnCode {
    /// The meaning of `code`.
    pub fn from_code(code: i64) -> ReturnCode {
        match code {
            0 => ReturnCode::Ok,
            -1 => ReturnCode::ParameterOrNoData,
            -3 => ReturnCode::ReadWrite,
            -10 => ReturnCode::NoSuchUser,
            -1001 => ReturnCode::CapacityExceeded,
            -1002 => ReturnCode::NotSupported,
            -1003 => ReturnCode::Timeout,
            -1004 => ReturnCode::Mismatch,
            -1005 => ReturnCode::Busy,
            -1006 => ReturnCode::TooLong,
            -1007 => ReturnCode::OutOfMemory,
            other => ReturnCode::Other(other),
        }
    }
}

/// The kind of template a command handles: the same return code means
/// different things for fingerprints, faces and unified templates
/// (`../shared/protocol/templates-protocol.md` §3.5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateTable {
    /// `FINGERTMP` (fingerprints, `FP` lines).
    Finger,
    /// `FACE` (NIR face sets).
    Face,
    /// `BIODATA` (unified templates).
    BioData,
}

impl TemplateTable {
    /// The table of a template command's text (`DATA UPDATE|DELETE|QUERY
    /// FINGERTMP|FACE|BIODATA …`); `None` for other commands.
    pub fn of_command(text: &str) -> Option<TemplateTable> {
        let rest = ["DATA UPDATE ", "DATA DELETE ", "DATA QUERY "]
            .iter()
            .find_map(|verb| text.strip_prefix(verb))?;
        let table = rest.split([' ', '\t']).next().unwrap_or_default();
        match table {
            "FINGERTMP" => Some(TemplateTable::Finger),
            "FACE" => Some(TemplateTable::Face),
            "BIODATA" => Some(TemplateTable::BioData),
            _ => None,
        }
    }
}

/// What a terminal's return code means for a template command
/// (`../shared/protocol/templates-protocol.md` §3.5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateReturnCode {
    /// 0: done.
    Ok,
    /// -1: parameter error (older firmware also for a PIN it does not have).
    ParameterError,
    /// -2 (FACE): the user is not on the terminal.
    FaceUnknownUser,
    /// -3 (FACE): the 15-template set is incomplete.
    FaceSetIncomplete,
    /// -4 (FACE): a template number outside 0–14.
    FaceIndexOutOfRange,
    /// -8 (FACE): no room for more faces.
    FaceCapacity,
    /// -9: `Size` is not the template text's length.
    SizeMismatch,
    /// -10: the PIN is not on the terminal.
    NoSuchUser,
    /// -11: illegal template format (too short or too long).
    BadTemplateFormat,
    /// -12: illegal template.
    BadTemplate,
    /// -21 (FACE): `SIZE` missing or 0.
    FaceSizeMissing,
    /// -30: the template's algorithm version is not the terminal's.
    VersionMismatch,
    /// Any other code, with its general meaning (-3, -1001 capacity, -1002
    /// not supported…).
    General(ReturnCode),
}

impl TemplateReturnCode {
    /// The meaning of `code` for a command on `table`.
    pub fn from_code(table: TemplateTable, code: i64) -> TemplateReturnCode {
        let face = table == TemplateTable::Face;
        match code {
            0 => TemplateReturnCode::Ok,
            -1 => TemplateReturnCode::ParameterError,
            -2 if face => TemplateReturnCode::FaceUnknownUser,
            -3 if face => TemplateReturnCode::FaceSetIncomplete,
            -4 if face => TemplateReturnCode::FaceIndexOutOfRange,
            -8 if face => TemplateReturnCode::FaceCapacity,
            -9 => TemplateReturnCode::SizeMismatch,
            -10 => TemplateReturnCode::NoSuchUser,
            -11 => TemplateReturnCode::BadTemplateFormat,
            -12 => TemplateReturnCode::BadTemplate,
            -21 if face => TemplateReturnCode::FaceSizeMissing,
            -30 => TemplateReturnCode::VersionMismatch,
            other => TemplateReturnCode::General(ReturnCode::from_code(other)),
        }
    }
}

/// How a completed user command changes the journal's copy of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyChange {
    /// Add or replace this user (uid and group are kept from the copy).
    Upsert(JournalUser),
    /// Remove this PIN.
    Delete(String),
}

/// The change a command text makes to the copy of users once the terminal
/// completed it; `None` for commands that do not touch users.
pub fn copy_change(command_text: &str) -> Option<CopyChange> {
    match PushCommand::parse(command_text)? {
        PushCommand::UpdateUser {
            pin,
            name,
            privilege,
            password,
            card,
        } => Some(CopyChange::Upsert(JournalUser {
            user_id: pin,
            name,
            privilege,
            card,
            password: (!password.is_empty()).then_some(password),
            ..JournalUser::default()
        })),
        PushCommand::DeleteUser { pin } => Some(CopyChange::Delete(pin)),
        _ => None,
    }
}

/// Keeps the journal's copy of `command`'s terminal users in step with it
/// once the terminal reported it completed (`Return=0`); other statuses
/// and commands leave the copy alone. The receiver calls it after
/// recording a result.
pub fn apply_completed(
    journal: &Journal,
    command: &Command,
    now: NaiveDateTime,
) -> Result<(), JournalError> {
    if command.status != CommandStatus::Completed {
        return Ok(());
    }
    match copy_change(&command.command) {
        Some(CopyChange::Upsert(mut user)) => {
            if let Some(old) = journal.get_user(&command.device, &user.user_id)? {
                user.uid = old.uid;
                user.group = old.group;
            }
            journal.upsert_users(&command.device, &[user], now)
        }
        Some(CopyChange::Delete(pin)) => journal.delete_user(&command.device, &pin).map(|_| ()),
        None => Ok(()),
    }
}

/// Where the sweep reads the time (tests inject their own).
pub type Clock = Arc<dyn Fn() -> NaiveDateTime + Send + Sync>;

/// Expires every pending command queued more than [`MAX_AGE_DAYS`] before
/// `now`; returns how many.
pub fn expire_due(journal: &Journal, now: NaiveDateTime) -> Result<usize, JournalError> {
    journal.expire_commands(now, max_age())
}

/// A background thread that expires old pending commands every
/// `interval`, and at once when started. The server's stop wakes it at once.
pub struct ExpirySweep {
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ExpirySweep {
    /// Starts sweeping `journal` every `interval`, reading the time from
    /// `clock`, until `shutdown`.
    pub fn start(
        journal: Arc<Journal>,
        interval: Duration,
        clock: Clock,
        shutdown: Shutdown,
    ) -> ExpirySweep {
        let thread = std::thread::Builder::new()
            .name("command-expiry".into())
            .spawn(move || sweep_loop(&journal, interval, &clock, &shutdown))
            .map_err(|e| log::error!("could not start the command expiry sweep: {e}"))
            .ok();
        ExpirySweep {
            thread: Mutex::new(thread),
        }
    }

    /// Waits for the sweep's thread to end, once the server's stop was
    /// given (idempotent).
    pub fn join(&self) {
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

/// One sweep, logged.
fn sweep_once(journal: &Journal, now: NaiveDateTime) {
    match expire_due(journal, now) {
        Ok(0) => {}
        Ok(n) => log::info!(
            "expired {n} push command(s) not taken by their terminal within {MAX_AGE_DAYS} days"
        ),
        Err(e) => log::error!("command expiry sweep failed: {e}"),
    }
}

/// Sweeps until the server stops.
fn sweep_loop(journal: &Journal, interval: Duration, clock: &Clock, shutdown: &Shutdown) {
    loop {
        sweep_once(journal, clock());
        if shutdown.sleep(interval) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_name_the_api_would_refuse_never_blocks_a_change() {
        let stored = JournalUser {
            user_id: "7".into(),
            name: format!("Jefe\u{2028}{}", "x".repeat(1000)),
            ..JournalUser::default()
        };
        let changes = UserChanges {
            privilege: Some(14),
            ..UserChanges::default()
        };
        let text = update_user_command(&stored, &changes).expect("rendered");
        assert!(text.contains("\tPri=14\t"), "{text}");
        assert!(text.len() < 100, "{text}");
    }

    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use chrono::NaiveDate;

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// A journal in a fresh directory, removed on drop.
    struct Scratch {
        dir: PathBuf,
        journal: Arc<Journal>,
    }

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "zkserver-push-commands-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let journal = Arc::new(Journal::open(dir.join("punches.db")).expect("journal"));
            Scratch { dir, journal }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn at(day: u32, h: u32, m: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, day)
            .and_then(|d| d.and_hms_opt(h, m, s))
            .expect("valid time")
    }

    fn status(j: &Journal, id: i64) -> CommandStatus {
        j.get_command("a", id)
            .expect("read")
            .expect("exists")
            .status
    }

    #[test]
    fn a_command_expires_only_when_older_than_seven_days() {
        let s = Scratch::new();
        let j = &s.journal;
        let queued = at(1, 8, 0, 0);
        let old = j.enqueue_command("a", "CHECK", queued).expect("queue").id;
        let sent = j.enqueue_command("a", "INFO", queued).expect("queue").id;
        j.mark_sent("a", &[sent], at(1, 8, 0, 5)).expect("sent");
        let young = j
            .enqueue_command("a", "LOG", at(2, 8, 0, 0))
            .expect("queue")
            .id;

        // Exactly seven days is not yet "older than seven days".
        assert_eq!(expire_due(j, at(8, 8, 0, 0)).expect("sweep"), 0);
        assert_eq!(status(j, old), CommandStatus::Pending);
        assert_eq!(expire_due(j, at(8, 8, 0, 1)).expect("sweep"), 1);
        assert_eq!(status(j, old), CommandStatus::Expired);
        let expired = j.get_command("a", old).expect("read").expect("exists");
        assert_eq!(
            expired.done_at.map(|t| t.to_string()).as_deref(),
            Some("2026-03-08 08:00:01")
        );
        // A sent command waits for its result; a younger one is kept.
        assert_eq!(status(j, sent), CommandStatus::Sent);
        assert_eq!(status(j, young), CommandStatus::Pending);
        // An expired command is not delivered any more.
        let next: Vec<i64> = j
            .next_commands("a", 10)
            .expect("next")
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(next, vec![young]);
    }

    #[test]
    fn the_sweep_runs_at_start_with_its_clock_and_stops_at_once() {
        let s = Scratch::new();
        let id = s
            .journal
            .enqueue_command("a", "CHECK", at(1, 8, 0, 0))
            .expect("queue")
            .id;
        // A clock ten days later; an interval far longer than the test.
        let clock: Clock = Arc::new(|| at(11, 8, 0, 0));
        let shutdown = Shutdown::default();
        let sweep = ExpirySweep::start(
            s.journal.clone(),
            Duration::from_secs(3600),
            clock,
            shutdown.clone(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while status(&s.journal, id) != CommandStatus::Expired {
            assert!(Instant::now() < deadline, "the first sweep never came");
            std::thread::sleep(Duration::from_millis(20));
        }
        let stopping = Instant::now();
        shutdown.stop();
        sweep.join();
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "stop waited for the interval"
        );
        sweep.join();
    }

    #[test]
    fn user_requests_become_userinfo_commands() {
        let changes = UserChanges {
            name: Some("Ana Pérez".into()),
            password: None,
            privilege: Some(14),
            card: Some(998877),
        };
        assert_eq!(
            create_user_command("42", &changes).as_deref(),
            Ok("DATA UPDATE USERINFO PIN=42\tName=Ana Pérez\tPri=14\tPasswd=\tCard=998877")
        );
        let existing = JournalUser {
            user_id: "42".into(),
            uid: Some(3),
            name: "Ana".into(),
            privilege: 0,
            card: "123".into(),
            password: Some("9".into()),
            group: Some("1".into()),
        };
        let rename = UserChanges {
            name: Some("Ana María".into()),
            ..UserChanges::default()
        };
        assert_eq!(
            update_user_command(&existing, &rename).as_deref(),
            Ok("DATA UPDATE USERINFO PIN=42\tName=Ana María\tPri=0\tPasswd=9\tCard=123")
        );
        let clear_card = UserChanges {
            card: Some(0),
            privilege: Some(14),
            ..UserChanges::default()
        };
        assert_eq!(
            update_user_command(&existing, &clear_card).as_deref(),
            Ok("DATA UPDATE USERINFO PIN=42\tName=Ana\tPri=14\tPasswd=9\tCard=")
        );
        assert_eq!(
            delete_user_command("42").as_deref(),
            Ok("DATA DELETE USERINFO PIN=42")
        );
        let tab = UserChanges {
            name: Some("a\tPri=14".into()),
            ..UserChanges::default()
        };
        assert_eq!(
            create_user_command("1", &tab),
            Err(CommandError::ControlCharacter("Name"))
        );
        assert_eq!(sync_time_command(), "CHECK");
    }

    #[test]
    fn return_codes_have_their_meaning() {
        assert_eq!(ReturnCode::from_code(0), ReturnCode::Ok);
        assert_eq!(ReturnCode::from_code(-10), ReturnCode::NoSuchUser);
        assert_eq!(ReturnCode::from_code(-1002), ReturnCode::NotSupported);
        assert_eq!(ReturnCode::from_code(-1007), ReturnCode::OutOfMemory);
        assert_eq!(ReturnCode::from_code(-77), ReturnCode::Other(-77));
    }

    #[test]
    fn template_return_codes_depend_on_the_table() {
        use TemplateReturnCode as T;
        use TemplateTable::{BioData, Face, Finger};
        assert_eq!(T::from_code(Finger, 0), T::Ok);
        assert_eq!(T::from_code(Finger, -9), T::SizeMismatch);
        assert_eq!(T::from_code(Finger, -10), T::NoSuchUser);
        assert_eq!(T::from_code(Finger, -11), T::BadTemplateFormat);
        assert_eq!(T::from_code(Finger, -12), T::BadTemplate);
        assert_eq!(T::from_code(BioData, -30), T::VersionMismatch);
        assert_eq!(T::from_code(Face, -2), T::FaceUnknownUser);
        assert_eq!(T::from_code(Face, -3), T::FaceSetIncomplete);
        assert_eq!(T::from_code(Face, -4), T::FaceIndexOutOfRange);
        assert_eq!(T::from_code(Face, -8), T::FaceCapacity);
        assert_eq!(T::from_code(Face, -21), T::FaceSizeMissing);
        assert_eq!(T::from_code(Finger, -3), T::General(ReturnCode::ReadWrite));
        assert_eq!(T::from_code(Finger, -2), T::General(ReturnCode::Other(-2)));
        assert_eq!(
            T::from_code(BioData, -1001),
            T::General(ReturnCode::CapacityExceeded)
        );
        assert_eq!(
            TemplateTable::of_command("DATA UPDATE FINGERTMP PIN=1\tFID=1"),
            Some(Finger)
        );
        assert_eq!(
            TemplateTable::of_command("DATA DELETE FACE PIN=1"),
            Some(Face)
        );
        assert_eq!(
            TemplateTable::of_command("DATA QUERY BIODATA Type=1"),
            Some(BioData)
        );
        assert_eq!(
            TemplateTable::of_command("DATA UPDATE USERINFO PIN=1"),
            None
        );
        assert_eq!(TemplateTable::of_command("DATA UPDATE FACES PIN=1"), None);
        assert_eq!(TemplateTable::of_command("CHECK"), None);
    }

    #[test]
    fn completed_user_commands_update_the_copy() {
        let s = Scratch::new();
        let j = &s.journal;
        let now = at(1, 9, 0, 0);
        let old = JournalUser {
            user_id: "7".into(),
            uid: Some(7),
            name: "Viejo".into(),
            group: Some("2".into()),
            ..JournalUser::default()
        };
        j.upsert_users("a", &[old], now).expect("copy");
        let text = "DATA UPDATE USERINFO PIN=7\tName=Nuevo\tPri=14\tPasswd=\tCard=55";
        let cmd = j.enqueue_command("a", text, now).expect("queue");
        // Not completed yet: the copy is left alone.
        apply_completed(j, &cmd, now).expect("apply");
        assert_eq!(
            j.get_user("a", "7").expect("read").expect("user").name,
            "Viejo"
        );
        j.mark_sent("a", &[cmd.id], now).expect("sent");
        let done = match j.mark_result("a", cmd.id, 0, now).expect("result") {
            crate::journal::MarkOutcome::Updated(c) => c,
            other => panic!("{other:?}"),
        };
        apply_completed(j, &done, now).expect("apply");
        let user = j.get_user("a", "7").expect("read").expect("user");
        assert_eq!(
            (
                user.name.as_str(),
                user.privilege,
                user.card.as_str(),
                user.uid,
                user.group.as_deref()
            ),
            ("Nuevo", 14, "55", Some(7), Some("2"))
        );
        let del = j
            .enqueue_command("a", "DATA DELETE USERINFO PIN=7", now)
            .expect("queue");
        j.mark_sent("a", &[del.id], now).expect("sent");
        let failed = match j.mark_result("a", del.id, -10, now).expect("result") {
            crate::journal::MarkOutcome::Updated(c) => c,
            other => panic!("{other:?}"),
        };
        apply_completed(j, &failed, now).expect("apply");
        assert!(
            j.get_user("a", "7").expect("read").is_some(),
            "a failed delete keeps the user"
        );
        let del = j
            .enqueue_command("a", "DATA DELETE USERINFO PIN=7", now)
            .expect("queue");
        j.mark_sent("a", &[del.id], now).expect("sent");
        let done = match j.mark_result("a", del.id, 0, now).expect("result") {
            crate::journal::MarkOutcome::Updated(c) => c,
            other => panic!("{other:?}"),
        };
        apply_completed(j, &done, now).expect("apply");
        assert!(j.get_user("a", "7").expect("read").is_none());
    }

    #[test]
    fn forwarding_comes_from_the_device_or_the_flag() {
        let mut push = DeviceConfig::new("x");
        push.mode = crate::registry::DeviceMode::Push;
        assert_eq!(forward_target(&push, None), None);
        assert_eq!(
            forward_target(&push, Some("http://up:8081")),
            Some("http://up:8081")
        );
        push.push_forward = Some("http://own:8081".into());
        assert_eq!(
            forward_target(&push, Some("http://up:8081")),
            Some("http://own:8081")
        );
        let pull = DeviceConfig::new("y");
        assert_eq!(forward_target(&pull, Some("http://up:8081")), None);
    }
}
