//! Users and fingerprints on a terminal: list, create, update, delete,
//! start an enrolment, list enrolled fingers.

use serde_json::{json, Map, Value};

use super::body;
use super::{Answer, Ctx, Response};
use crate::fields::Fields;
use crate::ops::{Mode, OpError, Rejection};
use crate::registry::Device;
use crate::text::Encoding;
use crate::zk::records::{User, UserFormat};
use crate::zk::Session;

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

fn encoding(device: &Device) -> Encoding {
    Encoding::parse(&device.config.encoding).unwrap_or(Encoding::Utf8)
}

/// The name as the original server showed it (pyzk): decoded, trimmed,
/// `NN-<user_id>` when empty.
fn display_name(user: &User, enc: Encoding) -> String {
    let name = enc.decode(&user.name).trim().to_string();
    if name.is_empty() {
        format!("NN-{}", user.user_id)
    } else {
        name
    }
}

fn not_found(user_id: &str) -> OpError {
    OpError::Rejected(Rejection::NotFound(format!(
        "Usuario '{}' no encontrado.",
        super::messages::echo(user_id)
    )))
}

/// Reads the users while the terminal is disabled and finds `user_id`.
fn find_user(s: &mut Session, user_id: &str) -> Result<(User, Vec<User>, UserFormat), OpError> {
    let (users, format) = s.users()?;
    let user = users
        .iter()
        .find(|u| u.user_id == user_id)
        .cloned()
        .ok_or_else(|| not_found(user_id))?;
    // A user was found, so the table was read and its layout is known.
    Ok((user, users, format.unwrap_or(UserFormat::Long72)))
}

/// User fields from a request body, validated for type and size.
#[derive(Default)]
struct UserInput {
    user_id: Option<String>,
    name: Option<String>,
    password: Option<String>,
    privilege: Option<u8>,
    card: Option<u32>,
}

fn parse_input(body: &Map<String, Value>) -> Result<UserInput, String> {
    let f = Fields(body);
    let user_id = f.text("user_id", true)?;
    if let Some(id) = &user_id {
        if !(1..=24).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "Campo 'user_id' inválido: '{id}'. Use de 1 a 24 letras o números."
            ));
        }
    }
    let name = f.text("name", true)?;
    if let Some(n) = &name {
        if !(1..=24).contains(&n.chars().count()) {
            return Err("Campo 'name' inválido: debe tener de 1 a 24 caracteres.".into());
        }
    }
    let password = f.text("password", true)?;
    if let Some(p) = &password {
        if p.len() > 8 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("Campo 'password' inválido: hasta 8 letras o números.".into());
        }
    }
    Ok(UserInput {
        user_id,
        name,
        password,
        privilege: f.int("privilege", 0, 15)?.map(|v| v as u8),
        card: f.int("card", 0, i64::from(u32::MAX))?.map(|v| v as u32),
    })
}

/// Applies `input` to `user` for a terminal whose user records are in
/// `format`; refuses what the layout cannot hold.
fn apply_input(
    user: &mut User,
    input: &UserInput,
    format: UserFormat,
    enc: Encoding,
) -> Result<(), OpError> {
    let (name_width, password_width) = (format.name_width(), format.password_width());
    if format.numeric_ids() && user.user_id.parse::<u32>().is_err() {
        return Err(OpError::Rejected(Rejection::Invalid(format!(
            "Campo 'user_id' inválido: '{}'. Este terminal solo admite user_id numéricos.",
            user.user_id
        ))));
    }
    if let Some(name) = &input.name {
        let bytes = enc.encode(name);
        if bytes.len() > name_width {
            return Err(OpError::Rejected(Rejection::Invalid(format!(
                "Campo 'name' demasiado largo para este terminal: máximo {name_width} bytes."
            ))));
        }
        user.name = bytes;
    }
    if let Some(p) = &input.password {
        if p.len() > password_width {
            return Err(OpError::Rejected(Rejection::Invalid(format!(
                "Campo 'password' demasiado largo para este terminal: máximo {password_width} caracteres."
            ))));
        }
        user.password = p.as_bytes().to_vec();
    }
    if let Some(p) = input.privilege {
        user.privilege = p;
    }
    if let Some(c) = input.card {
        user.card = c;
    }
    Ok(())
}

/// The next free uid: one past the highest, else the lowest unused.
fn next_uid(users: &[User]) -> Option<u16> {
    let max = users.iter().map(|u| u.uid).max().unwrap_or(0);
    max.checked_add(1)
        .or_else(|| (1..=u16::MAX).find(|uid| !users.iter().any(|u| u.uid == *uid)))
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
    let enc = encoding(&device);
    let users = ctx.operate(&device, Mode::Disabled, "read users", |s| Ok(s.users()?.0))?;
    let data: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({"uid": u.uid, "user_id": u.user_id, "name": display_name(u, enc),
                   "privilege": u.privilege, "card": u.card, "device_id": id})
        })
        .collect();
    Ok(ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    ))
}

/// `POST /devices/{id}/users` (lock, disable).
pub fn create(ctx: &Ctx, id: &str) -> Answer {
    let (device, body) = device_and_body(ctx, id, true)?;
    let input = parse_input(&body).map_err(|msg| ctx.error(400, &msg))?;
    let (Some(user_id), Some(name)) = (input.user_id.clone(), input.name.clone()) else {
        return Err(ctx.error(400, "user_id y name son requeridos."));
    };
    let enc = encoding(&device);
    let udp = device.config.force_udp;
    let uid = ctx.operate(&device, Mode::Disabled, "create user", |s| {
        let (users, format) = s.users()?;
        if users.iter().any(|u| u.user_id == user_id) {
            return Err(OpError::Rejected(Rejection::Conflict(format!(
                "user_id '{user_id}' ya existe."
            ))));
        }
        // An empty table does not tell its layout: guess from the link
        // (UDP-only terminals are the old 28-byte ones).
        let format = format.unwrap_or(if udp {
            UserFormat::Short28
        } else {
            UserFormat::Long72
        });
        let uid = next_uid(&users).ok_or_else(|| {
            Rejection::Conflict("El terminal no tiene espacio para más usuarios.".into())
        })?;
        let mut user = User {
            uid,
            user_id: user_id.clone(),
            ..User::default()
        };
        apply_input(&mut user, &input, format, enc)?;
        s.write_user(&user, format)?;
        Ok(uid)
    })?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": "Usuario registrado.",
            "data": {"user_id": user_id, "name": name, "device_id": id, "uid": uid}}),
    ))
}

/// `PUT /devices/{id}/users/{user_id}` (lock, disable).
pub fn update(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let (device, body) = device_and_body(ctx, id, true)?;
    let input = parse_input(&body).map_err(|msg| ctx.error(400, &msg))?;
    let input = UserInput {
        user_id: None,
        ..input
    };
    let enc = encoding(&device);
    ctx.operate(&device, Mode::Disabled, "update user", |s| {
        let (mut user, _, format) = find_user(s, user_id)?;
        apply_input(&mut user, &input, format, enc)?;
        s.write_user(&user, format)?;
        Ok(())
    })?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": format!("Usuario '{user_id}' actualizado.")}),
    ))
}

/// `DELETE /devices/{id}/users/{user_id}` (lock, disable).
pub fn delete(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let device = ctx.device(id)?;
    ctx.operate(&device, Mode::Disabled, "delete user", |s| {
        let (user, _, _) = find_user(s, user_id)?;
        s.delete_user(user.uid)?;
        Ok(())
    })?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": format!("Usuario '{user_id}' eliminado.")}),
    ))
}

/// `POST /devices/{id}/users/{user_id}/enroll-finger` (lock, disable): the
/// user is looked up while the terminal is disabled; enrolment then starts
/// with the terminal enabled, so the person can present the finger.
pub fn enroll(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let (device, body) = device_and_body(ctx, id, false)?;
    let finger = Fields(&body)
        .int("finger_index", 0, 9)
        .map_err(|_| ctx.error(400, "finger_index debe ser 0-9."))?
        .unwrap_or(0) as u8;
    ctx.operate(&device, Mode::Plain, "start enroll", |s| {
        {
            let mut disabled = s.disable()?;
            let found = find_user(&mut disabled, user_id);
            disabled.finish()?;
            found?;
        }
        s.start_enroll(user_id, finger)?;
        Ok(())
    })?;
    Ok(ctx.json(
        200,
        &json!({"success": true,
            "message": "Modo enrolamiento activado. El usuario debe poner el dedo 3 veces.",
            "data": {"user_id": user_id, "device_id": id, "finger_index": finger,
                     "finger_name": FINGER_NAMES[usize::from(finger)]}}),
    ))
}

/// `GET /devices/{id}/users/{user_id}/fingers` (lock, disable).
pub fn fingers(ctx: &Ctx, id: &str, user_id: &str) -> Answer {
    let device = ctx.device(id)?;
    let enc = encoding(&device);
    let (user, templates) = ctx.operate(&device, Mode::Disabled, "read fingers", |s| {
        let (user, _, _) = find_user(s, user_id)?;
        let templates = s.templates()?;
        Ok((user, templates))
    })?;
    let mut mine: Vec<_> = templates.iter().filter(|t| t.uid == user.uid).collect();
    mine.sort_by_key(|t| t.finger);
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
        &json!({"success": true, "user_id": user_id, "name": display_name(&user, enc), "device_id": id,
                "total_fingers": data.len(), "data": data}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_names() {
        let u = |uid| User {
            uid,
            ..User::default()
        };
        assert_eq!(next_uid(&[]), Some(1));
        assert_eq!(next_uid(&[u(1), u(7)]), Some(8));
        assert_eq!(next_uid(&[u(1), u(65535)]), Some(2));
        let nameless = User {
            user_id: "808".into(),
            ..User::default()
        };
        assert_eq!(display_name(&nameless, Encoding::Utf8), "NN-808");
        let latin = User {
            name: vec![0x4A, 0x6F, 0x73, 0xE9],
            ..User::default()
        };
        assert_eq!(display_name(&latin, Encoding::Latin1), "José");
        assert_eq!(display_name(&latin, Encoding::Utf8), "Jos\u{FFFD}");
    }

    #[test]
    fn layouts_refuse_what_they_cannot_hold() {
        let input = UserInput {
            name: Some("Muñoz Álvarez".into()),
            ..UserInput::default()
        };
        let mut user = User {
            user_id: "12".into(),
            ..User::default()
        };
        assert!(apply_input(&mut user, &input, UserFormat::Long72, Encoding::Utf8).is_ok());
        assert!(matches!(
            apply_input(&mut user, &input, UserFormat::Short28, Encoding::Utf8),
            Err(OpError::Rejected(Rejection::Invalid(_)))
        ));
        let mut alpha = User {
            user_id: "A1".into(),
            ..User::default()
        };
        assert!(
            matches!(apply_input(&mut alpha, &UserInput::default(), UserFormat::Short28, Encoding::Utf8), Err(OpError::Rejected(Rejection::Invalid(m))) if m.contains("user_id"))
        );
    }
}
