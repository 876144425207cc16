//! The staff list and push terminals: what each people command queued
//! for a push terminal is for (a user, a template, a delete), so that its
//! result moves the terminal's sync state: the hash recorded once the terminal confirmed, `error`
//! when it refused. A command and what it is for are stored in one
//! transaction.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};

use super::{Command, Journal, JournalError, TemplateKind};
use crate::time::WallTime;

/// What a people command queued for a push terminal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleCommandKind {
    /// `DATA UPDATE USERINFO`: writes the person.
    User,
    /// `DATA DELETE USERINFO`: removes the person (and templates).
    UserDelete,
    /// `DATA UPDATE FINGERTMP|FACE|BIODATA`: writes one template.
    Template,
    /// `DATA DELETE FINGERTMP|FACE|BIODATA`: removes one template.
    TemplateDelete,
    /// `DATA QUERY …` or `CHECK` of an import.
    Query,
}

impl PeopleCommandKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeopleCommandKind::User => "user",
            PeopleCommandKind::UserDelete => "user_delete",
            PeopleCommandKind::Template => "template",
            PeopleCommandKind::TemplateDelete => "template_delete",
            PeopleCommandKind::Query => "query",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<PeopleCommandKind> {
        [
            PeopleCommandKind::User,
            PeopleCommandKind::UserDelete,
            PeopleCommandKind::Template,
            PeopleCommandKind::TemplateDelete,
            PeopleCommandKind::Query,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// A people command to queue for a push terminal: its text and what it is
/// for. `Debug` never shows the text (it may hold a template or password).
#[derive(Clone, PartialEq, Eq)]
pub struct PeopleCommand {
    /// The command text (what follows `C:<id>:`).
    pub text: String,
    /// The person it concerns (empty for a query of everyone).
    pub user_id: String,
    /// What it does.
    pub what: PeopleCommandKind,
    /// The template it writes or removes.
    pub template: Option<(TemplateKind, u8)>,
    /// The content hash the terminal holds once it completed the command
    /// (a person's or a template's).
    pub hash: Option<String>,
}

impl std::fmt::Debug for PeopleCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeopleCommand")
            .field("user_id", &self.user_id)
            .field("what", &self.what)
            .field("template", &self.template)
            .field("text_len", &self.text.len())
            .finish()
    }
}

/// What a queued people command was for (read back with its result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeopleCommandTag {
    /// The command's id.
    pub command_id: i64,
    /// Device id.
    pub device: String,
    /// The person.
    pub user_id: String,
    /// What it does.
    pub what: PeopleCommandKind,
    /// The template it writes or removes.
    pub template: Option<(TemplateKind, u8)>,
    /// The hash the terminal holds once done.
    pub hash: Option<String>,
}

impl Journal {
    /// Queues `commands` for push `device` (as `pendiente`, in order) with
    /// what each is for, in one durable transaction; the commands stored.
    pub fn enqueue_people_commands(
        &self,
        device: &str,
        commands: &[PeopleCommand],
        now: WallTime,
    ) -> Result<Vec<i64>, JournalError> {
        self.check_time(now)?;
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let mut ids = Vec::with_capacity(commands.len());
                {
                    let mut queue = tx.prepare_cached(
                        "INSERT INTO commands (device, command, status, created_at)
                         VALUES (?1, ?2, 'pendiente', ?3)",
                    )?;
                    let mut tag = tx.prepare_cached(
                        "INSERT INTO people_push_commands
                             (command_id, device, user_id, what, kind, idx, hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?;
                    for c in commands {
                        queue.execute(params![device, c.text, now.to_string()])?;
                        let id = tx.last_insert_rowid();
                        tag.execute(params![
                            id,
                            device,
                            c.user_id,
                            c.what.as_str(),
                            c.template.map(|(k, _)| k.as_str()),
                            c.template.map(|(_, i)| i),
                            c.hash
                        ])?;
                        ids.push(id);
                    }
                }
                tx.commit()?;
                Ok(ids)
            },
            "queueing people commands",
        )
    }

    /// What command `cmd` was queued for, if it is a people command.
    pub fn people_command_tag(
        &self,
        cmd: &Command,
    ) -> Result<Option<PeopleCommandTag>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT command_id, device, user_id, what, kind, idx, hash
                     FROM people_push_commands WHERE command_id = ?1 AND device = ?2",
                    params![cmd.id, cmd.device],
                    |r| {
                        let what: String = r.get(3)?;
                        let kind: Option<String> = r.get(4)?;
                        let idx: Option<u8> = r.get(5)?;
                        let template = kind.as_deref().and_then(TemplateKind::parse).zip(idx);
                        Ok((
                            what,
                            PeopleCommandTag {
                                command_id: r.get(0)?,
                                device: r.get(1)?,
                                user_id: r.get(2)?,
                                what: PeopleCommandKind::Query,
                                template,
                                hash: r.get(6)?,
                            },
                        ))
                    },
                )
                .optional()
            },
            "reading a people command",
        )
        .map(|found| {
            found.and_then(|(what, tag)| {
                Some(PeopleCommandTag {
                    what: PeopleCommandKind::parse(&what)?,
                    ..tag
                })
            })
        })
    }

    /// The persons of `device` with a people command that changes them
    /// still waiting for the terminal (queued or sent, not done nor
    /// expired; an import's queries do not count).
    pub fn people_in_flight(&self, device: &str) -> Result<HashSet<String>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT DISTINCT p.user_id FROM people_push_commands p
                     JOIN commands c ON c.id = p.command_id
                     WHERE p.device = ?1 AND p.what != 'query'
                       AND c.status IN ('pendiente', 'enviado')",
                )?;
                let rows = stmt.query_map([device], |r| r.get::<_, String>(0))?;
                rows.collect()
            },
            "reading people commands in flight",
        )
    }

    /// The people commands of `device` still waiting for the terminal
    /// (import queries excepted): what each does, and whether the terminal
    /// was never given the person (a write is then an addition).
    pub fn people_commands_in_flight(
        &self,
        device: &str,
    ) -> Result<Vec<(PeopleCommandKind, bool)>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT p.what, s.hash IS NULL FROM people_push_commands p
                     JOIN commands c ON c.id = p.command_id
                     LEFT JOIN people_sync s ON s.device = p.device AND s.user_id = p.user_id
                     WHERE p.device = ?1 AND p.what != 'query'
                       AND c.status IN ('pendiente', 'enviado')",
                )?;
                let rows = stmt.query_map([device], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
                })?;
                let rows: Vec<(String, bool)> = rows.collect::<rusqlite::Result<_>>()?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(what, new)| Some((PeopleCommandKind::parse(&what)?, new)))
                    .collect())
            },
            "reading people commands in flight",
        )
    }
}
