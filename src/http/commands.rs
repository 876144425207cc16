//! The command queue of push terminals over HTTP: `202` answers for queued
//! commands, `GET /devices/{id}/commands[/{n}]`, and the checks every
//! command endpoint shares (push terminal, journal open, not forwarded).
//! The command texts come from `push::commands`.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{Answer, Ctx, Response};
use crate::journal::{Command, Journal, JournalError, JournalUser};
use crate::messages;
use crate::push::commands::forward_target;
use crate::push::protocol::{redact_command, CommandError};
use crate::registry::Device;

/// The journal of a push `device` (503 when the server runs without one).
pub fn journal_of<'a>(ctx: &Ctx<'a>, device: &Device) -> Result<&'a Arc<Journal>, Response> {
    ctx.app.journal.as_ref().ok_or_else(|| {
        log::error!(
            "push device {} needs the journal, and none is open",
            device.id
        );
        ctx.error(503, &messages::journal_off(&device.id))
    })
}

/// For a push `device`, the journal its commands are queued in; `None`
/// for a pull device. A forwarded push device takes its commands from its
/// upstream: 409.
pub fn push_queue<'a>(
    ctx: &Ctx<'a>,
    device: &Device,
) -> Result<Option<&'a Arc<Journal>>, Response> {
    if !device.config.is_push() {
        return Ok(None);
    }
    if let Some(upstream) = forward_target(&device.config, ctx.app.push_forward.as_deref()) {
        return Err(ctx.error(409, &messages::commands_from_upstream(&device.id, upstream)));
    }
    journal_of(ctx, device).map(Some)
}

/// The 409 for what a push terminal cannot do (nothing for a pull one).
pub fn refuse_push(ctx: &Ctx, device: &Device, limit: messages::PushLimit) -> Result<(), Response> {
    if device.config.is_push() {
        return Err(ctx.error(409, &messages::push_unsupported(&device.id, limit)));
    }
    Ok(())
}

/// The 503 for a journal that failed, logged with its detail.
pub fn journal_failure(ctx: &Ctx, device: &Device, err: &JournalError) -> Response {
    log::error!("journal failed for device {}: {err}", device.id);
    ctx.error(503, messages::JOURNAL_FAILED)
        .with_header("Retry-After", "5")
}

/// The 400 for a field a push command cannot carry.
pub fn bad_field(ctx: &Ctx, err: &CommandError) -> Response {
    ctx.error(400, &messages::bad_command_field(err))
}

/// Queues `text` for `device` and answers 202 with the command.
pub fn enqueue(ctx: &Ctx, device: &Device, journal: &Journal, text: &str) -> Answer {
    let cmd = journal
        .enqueue_command(&device.id, text, crate::time::now())
        .map_err(|e| journal_failure(ctx, device, &e))?;
    log::info!(
        "queued command {} for push device {}: {}",
        cmd.id,
        device.id,
        command_kind(text)
    );
    Ok(ctx.json(
        202,
        &json!({"success": true, "message": messages::command_queued(&device.id),
            "command": {"id": cmd.id, "status": cmd.status.as_str(), "created_at": cmd.created_at}}),
    ))
}

/// The command's kind for the log (never its fields: they hold passwords).
fn command_kind(text: &str) -> &str {
    let words = if text.starts_with("DATA ") { 3 } else { 2 };
    match text.match_indices(' ').nth(words - 1) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// A command as the API shows it; absent fields are left out.
pub fn command_json(c: &Command) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(c.id));
    // The text as queued, but never a keypad password.
    m.insert("command".into(), json!(redact_command(&c.command)));
    m.insert("status".into(), json!(c.status.as_str()));
    if let Some(code) = c.return_code {
        m.insert("return".into(), json!(code));
    }
    if let Some(msg) = messages::command_outcome(c.status, c.return_code) {
        m.insert("message".into(), json!(msg));
    }
    m.insert("created_at".into(), json!(c.created_at));
    for (key, value) in [("sent_at", &c.sent_at), ("done_at", &c.done_at)] {
        if let Some(v) = value {
            m.insert(key.into(), json!(v));
        }
    }
    Value::Object(m)
}

/// The push device `id` whose commands can be read, with its journal.
fn command_device<'a>(
    ctx: &Ctx<'a>,
    id: &str,
) -> Result<(Arc<Device>, &'a Arc<Journal>), Response> {
    let device = ctx.device(id)?;
    match push_queue(ctx, &device)? {
        Some(journal) => Ok((device, journal)),
        None => Err(ctx.error(409, &messages::pull_has_no_commands(&device.id))),
    }
}

/// `GET /devices/{id}/commands`: every command, newest first.
pub fn list(ctx: &Ctx, id: &str) -> Answer {
    let (device, journal) = command_device(ctx, id)?;
    let commands = journal
        .list_commands(&device.id)
        .map_err(|e| journal_failure(ctx, &device, &e))?;
    let data: Vec<Value> = commands.iter().map(command_json).collect();
    Ok(ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    ))
}

/// `GET /devices/{id}/commands/{n}`.
pub fn show(ctx: &Ctx, id: &str, n: &str) -> Answer {
    let (device, journal) = command_device(ctx, id)?;
    let not_found = || ctx.error(404, &messages::command_not_found(&device.id, n));
    let number = n
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(not_found)?;
    let cmd = journal
        .get_command(&device.id, number)
        .map_err(|e| journal_failure(ctx, &device, &e))?
        .ok_or_else(not_found)?;
    Ok(ctx.json(200, &json!({"success": true, "data": command_json(&cmd)})))
}

/// The journal's copy of `user_id` on push `device`, or the 404 a pull
/// terminal answers for an unknown user.
pub fn known_user(
    ctx: &Ctx,
    device: &Device,
    journal: &Journal,
    user_id: &str,
) -> Result<JournalUser, Response> {
    journal
        .get_user(&device.id, user_id)
        .map_err(|e| journal_failure(ctx, device, &e))?
        .ok_or_else(|| {
            let missing = crate::ops::Rejection::UserNotFound(user_id.to_string());
            ctx.error(404, &messages::rejection(&missing))
        })
}

/// A user of the journal's copy in the shape of `GET /devices/{id}/users`.
pub fn user_json(u: &JournalUser, device_id: &str) -> Value {
    let name = u.name.trim();
    let name = if name.is_empty() {
        format!("NN-{}", u.user_id)
    } else {
        name.to_string()
    };
    // Pull terminals report the card as a number (0: none).
    let card = match u.card.trim() {
        "" => json!(0),
        c => c.parse::<u64>().map_or_else(|_| json!(c), |n| json!(n)),
    };
    json!({"uid": u.uid, "user_id": u.user_id, "name": name,
           "privilege": u.privilege, "card": card, "device_id": device_id})
}

/// `GET /devices/{id}/users` for a push device: the journal's copy.
pub fn list_users(ctx: &Ctx, device: &Device) -> Answer {
    let journal = journal_of(ctx, device)?;
    let users = journal
        .list_users(&device.id)
        .map_err(|e| journal_failure(ctx, device, &e))?;
    let data: Vec<Value> = users.iter().map(|u| user_json(u, &device.id)).collect();
    Ok(ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    ))
}

/// `POST /devices/{id}/users/refresh` (write): a push terminal is asked to
/// upload its users again (`DATA QUERY USERINFO`, answered 202 like every
/// command); they refresh the journal's copy as they arrive. A pull
/// terminal's users are read from it on every request: 409.
pub fn refresh_users(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    let Some(journal) = push_queue(ctx, &device)? else {
        return Err(ctx.error(409, &messages::pull_has_no_commands(&device.id)));
    };
    let text = crate::push::protocol::PushCommand::QueryUsers
        .render()
        .map_err(|e| bad_field(ctx, &e))?;
    enqueue(ctx, &device, journal, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::WallTime;

    #[test]
    fn logs_name_the_command_without_its_fields() {
        assert_eq!(
            command_kind("DATA UPDATE USERINFO PIN=1\tName=A\tPri=0\tPasswd=123\tCard="),
            "DATA UPDATE USERINFO"
        );
        assert_eq!(
            command_kind("DATA DELETE USERINFO PIN=1"),
            "DATA DELETE USERINFO"
        );
        assert_eq!(command_kind("CHECK"), "CHECK");
        assert_eq!(command_kind("CLEAR LOG"), "CLEAR LOG");
    }

    #[test]
    fn commands_show_only_what_they_have() {
        use crate::journal::CommandStatus;
        let mut c = Command {
            id: 3,
            device: "a".into(),
            command: "CHECK".into(),
            status: CommandStatus::Pending,
            return_code: None,
            created_at: WallTime::parse("2026-03-01 08:00:00").unwrap(),
            sent_at: None,
            done_at: None,
        };
        assert_eq!(
            command_json(&c),
            json!({"id": 3, "command": "CHECK", "status": "pendiente", "created_at": "2026-03-01 08:00:00"})
        );
        c.status = CommandStatus::Failed;
        c.return_code = Some(-1002);
        c.sent_at = WallTime::parse("2026-03-01 08:00:05");
        c.done_at = WallTime::parse("2026-03-01 08:00:09");
        let keys: Vec<String> = command_json(&c)
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "id",
                "command",
                "status",
                "return",
                "message",
                "created_at",
                "sent_at",
                "done_at"
            ]
        );
        assert_eq!(command_json(&c)["message"], "No soportado por el terminal.");
    }

    #[test]
    fn copied_users_look_like_pull_users() {
        let u = JournalUser {
            user_id: "9".into(),
            card: "00123".into(),
            ..JournalUser::default()
        };
        assert_eq!(
            user_json(&u, "r"),
            json!({"uid": null, "user_id": "9", "name": "NN-9", "privilege": 0, "card": 123, "device_id": "r"})
        );
    }
}
