//! `POST /demo/punch` (only with `--demo`): the demo's simulated terminal
//! records a punch now, so live streams, webhooks and `since=` can be tried
//! on demand instead of waiting for the timed punches.

use serde_json::json;

use super::{body, Answer, Ctx};
use crate::demo::PunchError;
use crate::fields::Fields;
use crate::messages;

/// `POST /demo/punch`, body `{"device_id", "user_id"}`, both optional (the
/// first demo terminal; the next user in turn). 404 without `--demo`.
pub fn punch(ctx: &Ctx) -> Answer {
    let Some(terminals) = &ctx.app.demo else {
        return Err(ctx.error(
            404,
            &messages::route_not_found(ctx.req.method(), &ctx.req.path()),
        ));
    };
    let body = body::json_object(ctx, false)?;
    let fields = Fields(&body);
    let device_id = fields
        .text("device_id", false)
        .map_err(|e| ctx.error(400, &e.to_string()))?;
    let user_id = fields
        .text("user_id", true)
        .map_err(|e| ctx.error(400, &e.to_string()))?;
    let (id, punch) = terminals
        .punch(device_id.as_deref(), user_id.as_deref())
        .map_err(|e| match e {
            PunchError::NoDevice(id) => super::response::error(
                404,
                &messages::device_not_found(&id),
                vec![("disponibles", json!(terminals.ids()))],
                ctx.pretty,
            ),
            PunchError::NoUser(user) => ctx.error(404, &messages::demo_user_not_found(&user)),
        })?;
    let name = ctx
        .app
        .registry
        .get(&id)
        .map_or_else(|| id.clone(), |d| d.config.name.clone());
    log::info!("demo: '{id}' recorded a punch by user {}", punch.user_id);
    Ok(ctx.json(
        200,
        &json!({
            "success": true,
            "message": messages::demo_punch_recorded(&id),
            "data": {
                "user_id": punch.user_id,
                "timestamp": punch.time.to_string(),
                "status": punch.status,
                "punch": punch.punch,
                "device_id": id,
                "device_name": name,
            }
        }),
    ))
}
