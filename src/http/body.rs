//! Reading JSON request bodies: bounded size, clear Spanish errors naming
//! the problem.

use serde_json::{Map, Value};

use super::{Ctx, Response};
use crate::messages;

/// Largest accepted request body (the connection refuses larger ones
/// before reading them).
pub const MAX_BODY: usize = 64 * 1024;

/// Reads the body as a JSON object. With `required` false an empty body is
/// an empty object.
pub fn json_object(ctx: &Ctx, required: bool) -> Result<Map<String, Value>, Response> {
    json_object_up_to(ctx, required, MAX_BODY)
}

/// [`json_object`] for a route whose bodies may hold up to `max` bytes
/// (the connection's limit for that route, see `conn::body_limit`).
pub fn json_object_up_to(
    ctx: &Ctx,
    required: bool,
    max: usize,
) -> Result<Map<String, Value>, Response> {
    let bytes = ctx.req.body();
    if bytes.len() > max {
        return Err(ctx.error(413, super::head::BODY_TOO_LARGE.1));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(ctx.error(400, messages::BODY_REQUIRED))
        } else {
            Ok(Map::new())
        };
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ctx.error(400, messages::BODY_NOT_OBJECT)),
        Err(e) => Err(ctx.error(400, &messages::bad_json_body(e.line(), e.column()))),
    }
}
