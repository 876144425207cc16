//! Users and fingerprints on a terminal: list, create, update, delete,
//! start an enrolment, list enrolled fingers. On a push terminal the
//! changes are queued as commands (202) and the list is the journal's copy.

use serde_json::{json, Map, Value};

use super::{body, commands};
use super::{Answer, Ctx, Response};
use crate::fields::Fields;
use crate::messages;
use crate::messages::PushLimit;
use crate::ops::users::{self, UserChanges};
use crate::push::commands as push;
use crate::registry::Device;

/// Finger names by index 0–9.
pub const FINGER_NAMES: [&str; 10] = [
    "Pulgar derecho",
    "Indice derecho",
    "Medio derecho",
    "Anular derecho",
    "Menique derecho",
    "Pulgar izquierdo",
    "Indice izquierdo",
    "Medio izquierdo",
    "Anular izquierdo",
    "Menique izquierdo",
];

/// User fields from a request body, validated for type and size.
#[derive(Default)]
struct UserInput {
    user_id: Option<String>,
    changes: UserChanges,
}

fn parse_input(body: &Map<String, Value>) -> Result<UserInput, String> {
    let f = Fields(body);
    let user_id = f.text("user_id", true)?;
    if let Some(id) = &user_id {
        if !crate::fields::valid_user_id(id) {
            return Err(messages::bad_user_id(id));
        }
    }
    let name = f.text("name", true)?;
    if name
        .as_ref()
        .is_some_and(|n| !(1..=crate::fields::MAX_USER_NAME).contains(&n.chars().count()))
    {
        return Err(messages::BAD_USER_NAME.into());
    }
    let password = f.text("password", true)?;
    if let Some(p) = &password {
        if !crate::fields::valid_user_password(p) {
            return Err(messages::BAD_USER_PASSWORD.into());
        }
    }
    let privilege = f
        .int("privilege", 0, 15)?
        .and_then(|v| u8::try_from(v).ok());
    let card = f
        .int("card", 0, i64::from(u32::MAX))?
        .and_then(|v| u32::try_from(v).ok());
    Ok(UserInput {
        user_id,
        changes: UserChanges {
            name,
            password,
            privilege,
            card,
        },
    })
}

fn device_and_body(
    ctx: &Ctx,
    id: &str,
    required: bool,
) -> Result<(std::sync::Arc<Device>, Map<String, Value>), Response> {
    let device = ctx.device(id)?;
    let body = body::json_object(ctx, required)?;
    Ok((device, body))
}

/// `GET /devices/{id}/users` (lock, disable).
pub fn list(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    if device.config.is_push() {
        return commands::list_users(ctx, &device);
    }
    let enc = users::encoding(&device);
    let users = ctx
        .app
        .terminals
        .users(&device)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    let data: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({"uid": u.uid, "user_id": u.user_id, "name": users::display_name(u, enc),
                   "privilege": u.privilege, "card": u.card, "device_id": id})
        })
        .collect();
    Ok(ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    ))
}

/// `POST /devices/{id}/users` (lock, disable; push: queued).
pub fn create(ctx: &Ctx, id: &str) -> Answer {
    let device = ctx.device(id)?;
    let queue = commands::push_queue(ctx, &device)?;
    let body = body::json_object(ctx, true)?;
    let input = parse_input(&body).map_err(|msg| ctx.error(400, &msg))?;
    let (Some(user_id), Some(name)) = (&input.user_id, &input.changes.name) else {
        return Err(ctx.error(400, messages::USER_ID_AND_NAME_REQUIRED));
    };
    if let Some(journal) = queue {
        let text = push::create_user_command(user_id, &input.changes)
            .map_err(|e| commands::bad_field(ctx, &e))?;
        return commands::enqueue(ctx, &device, journal, &text);
    }
    let uid = ctx
        .app
        .terminals
        .create_user(&device, user_id, &input.changes)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": messages::USER_CREATED,
            "data": {"user_id": user_id, "name": name, "device_id": id, "uid": uid}}),
    ))
}

/// `PUT /devices/{id}/users/{user_id}` (lock, disable; push: queued with
/// the journal's copy of the user merged under the changes).
pub fn update(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let device = ctx.device(id)?;
    let queue = commands::push_queue(ctx, &device)?;
    let body = body::json_object(ctx, true)?;
    let input = parse_input(&body).map_err(|msg| ctx.error(400, &msg))?;
    if let Some(journal) = queue {
        let known = commands::known_user(ctx, &device, journal, user_id)?;
        let text = push::update_user_command(&known, &input.changes)
            .map_err(|e| commands::bad_field(ctx, &e))?;
        return commands::enqueue(ctx, &device, journal, &text);
    }
    ctx.app
        .terminals
        .update_user(&device, user_id, &input.changes)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": messages::user_updated(user_id)}),
    ))
}

/// `DELETE /devices/{id}/users/{user_id}` (lock, disable; push: queued).
pub fn delete(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let device = ctx.device(id)?;
    if let Some(journal) = commands::push_queue(ctx, &device)? {
        let known = commands::known_user(ctx, &device, journal, user_id)?;
        let text =
            push::delete_user_command(&known.user_id).map_err(|e| commands::bad_field(ctx, &e))?;
        return commands::enqueue(ctx, &device, journal, &text);
    }
    ctx.app
        .terminals
        .delete_user(&device, user_id)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": messages::user_deleted(user_id)}),
    ))
}

/// `POST /devices/{id}/users/{user_id}/enroll-finger` (lock, disable): the
/// user is looked up while the terminal is disabled; enrolment then starts
/// with the terminal enabled, so the person can present the finger.
pub fn enroll(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let (device, body) = device_and_body(ctx, id, false)?;
    commands::refuse_push(ctx, &device, PushLimit::Enroll)?;
    let finger = Fields(&body)
        .int("finger_index", 0, 9)
        .map_err(|_| ctx.error(400, messages::BAD_FINGER_INDEX))?
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(0);
    ctx.app
        .terminals
        .start_enroll(&device, user_id, finger)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    Ok(ctx.json(
        200,
        &json!({"success": true,
            "message": messages::ENROLL_STARTED,
            "data": {"user_id": user_id, "device_id": id, "finger_index": finger,
                     "finger_name": FINGER_NAMES[usize::from(finger)]}}),
    ))
}

/// `GET /devices/{id}/users/{user_id}/fingers` (lock, disable).
pub fn fingers(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let device = ctx.device(id)?;
    commands::refuse_push(ctx, &device, PushLimit::Fingers)?;
    let enc = users::encoding(&device);
    let (user, mine) = ctx
        .app
        .terminals
        .user_fingers(&device, user_id)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    let data: Vec<Value> = mine
        .iter()
        .map(|t| {
            json!({"finger_index": t.finger,
                   "finger_name": FINGER_NAMES.get(usize::from(t.finger)).copied().unwrap_or("Desconocido"),
                   "valid": t.valid})
        })
        .collect();
    Ok(ctx.json(
        200,
        &json!({"success": true, "user_id": user_id, "name": users::display_name(&user, enc), "device_id": id,
                "total_fingers": data.len(), "data": data}),
    ))
}
