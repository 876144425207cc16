//! The staff list's API (API Part 7): `GET/POST /people`,
//! `GET/PUT/DELETE /people/{user_id}`, templates per person, export and
//! restore. Writes need the API key (checked by the router); anything
//! that returns template bytes or keypad passwords (the templates read,
//! the export) needs it even when reads are open. The person JSON and the
//! export document are built in `services::people`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{auth, body, query::AttendanceQuery, Answer, Ctx, Response};
use crate::journal::{
    Journal, JournalError, PeopleFilter, Person, ScheduleScope, Template, TemplateKind,
    TemplateWrite,
};
use crate::messages::{self, people as msg};
use crate::reports::rules::Schedule;
use crate::services::people::{self as svc, TemplateRefusal};
use crate::services::people_input::{self, Mode};
use crate::time::WallTime;

/// Largest `POST /people/import` body (an export with its templates).
pub const MAX_IMPORT_BODY: usize = 16 * 1024 * 1024;

/// Whether a request target (normalized, with its query) is the import.
pub fn is_import(target: &str) -> bool {
    target == "/people/import" || target.starts_with("/people/import?")
}

/// The journal, or 503 when the server runs without one.
fn journal<'a>(ctx: &'a Ctx) -> Result<&'a Journal, Response> {
    ctx.app
        .journal
        .as_deref()
        .ok_or_else(|| ctx.error(503, messages::NO_JOURNAL))
}

/// 503 for a journal that failed (logged in detail, never a secret).
fn failure(ctx: &Ctx, doing: &str, e: &JournalError) -> Response {
    log::error!("people: {doing} failed: {e}");
    ctx.error(503, messages::JOURNAL_FAILED)
}

/// Now, on this machine's clock.
fn now() -> WallTime {
    WallTime::new(crate::time::now())
}

/// A text parameter of 1–64 characters, if given.
fn text_param(ctx: &Ctx, name: &str) -> Result<Option<String>, Response> {
    match ctx.req.get_param(name) {
        None => Ok(None),
        Some(v) if (1..=64).contains(&v.trim().chars().count()) => Ok(Some(v.trim().to_string())),
        Some(_) => Err(ctx.error(400, &msg::bad_text_param(name))),
    }
}

/// The listing's filter from `q`, `area`, `deleted`, `limit`, `offset`.
fn filter(ctx: &Ctx) -> Result<PeopleFilter, Response> {
    let paging = AttendanceQuery::parse(|name| match name {
        "limit" | "offset" => ctx.req.get_param(name),
        _ => None,
    })
    .map_err(|e| ctx.error(400, &e.message()))?;
    let deleted = match ctx.req.get_param("deleted").as_deref() {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => return Err(ctx.error(400, &msg::bad_deleted(other))),
    };
    Ok(PeopleFilter {
        q: text_param(ctx, "q")?,
        area: text_param(ctx, "area")?,
        deleted,
        offset: paging.offset as u64,
        limit: paging.limit.map(|l| l as u64),
    })
}

/// The person's view with templates and terminals read from the journal.
fn view(ctx: &Ctx, journal: &Journal, person: &Person) -> Result<Value, Response> {
    let templates = journal
        .list_templates(&person.user_id)
        .map_err(|e| failure(ctx, "listing templates", &e))?;
    let rows = journal
        .person_sync_states(&person.user_id)
        .map_err(|e| failure(ctx, "reading sync states", &e))?;
    let rows = rows.into_iter().map(|r| (r.device.clone(), r)).collect();
    let terminals = svc::terminal_states(person, &ctx.app.registry, Some(&rows));
    let mut view = svc::person_view(person, &templates, terminals);
    add_schedule(ctx, journal, person, &mut view)?;
    Ok(view)
}

/// Adds the person's own working schedule (Part 8; `null` without one).
fn add_schedule(
    ctx: &Ctx,
    journal: &Journal,
    person: &Person,
    view: &mut Value,
) -> Result<(), Response> {
    let schedule = journal
        .schedule(&ScheduleScope::Person(person.user_id.clone()))
        .map_err(|e| failure(ctx, "reading a schedule", &e))?;
    if let Some(map) = view.as_object_mut() {
        // Before `updated_at`, which stays last as in the contract.
        let updated_at = map.remove("updated_at");
        map.insert("schedule".into(), schedule.unwrap_or(Value::Null));
        if let Some(updated_at) = updated_at {
            map.insert("updated_at".into(), updated_at);
        }
    }
    Ok(())
}

/// A body's `schedule`, taken out of it: absent (`None`), `null` to
/// remove the person's own, or a schedule checked as
/// `PUT /reports/schedule` checks it.
fn take_schedule(
    ctx: &Ctx,
    body: &mut Map<String, Value>,
) -> Result<Option<Option<Value>>, Response> {
    match body.remove("schedule") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => Schedule::from_json(&value)
            .map(|s| Some(Some(s.to_json())))
            .map_err(|e| ctx.error(400, &messages::reports::rule_error(&e))),
    }
}

/// Stores (or removes) the person's own schedule, when the body gave one.
fn store_schedule(
    ctx: &Ctx,
    journal: &Journal,
    user_id: &str,
    schedule: Option<Option<Value>>,
) -> Result<(), Response> {
    let Some(schedule) = schedule else {
        return Ok(());
    };
    let scope = ScheduleScope::Person(user_id.to_string());
    journal
        .set_schedule(&scope, schedule.as_ref(), now())
        .map_err(|e| failure(ctx, "storing a schedule", &e))?;
    Ok(())
}

/// `GET /people`.
pub fn list(ctx: &Ctx) -> Answer {
    let journal = journal(ctx)?;
    let filter = filter(ctx)?;
    let page = journal
        .list_people(&filter)
        .map_err(|e| failure(ctx, "listing people", &e))?;
    let states = svc::sync_states(journal, &ctx.app.registry)
        .map_err(|e| failure(ctx, "reading sync states", &e))?;
    let mut data = Vec::with_capacity(page.people.len());
    for person in &page.people {
        let templates = journal
            .list_templates(&person.user_id)
            .map_err(|e| failure(ctx, "listing templates", &e))?;
        let terminals =
            svc::terminal_states(person, &ctx.app.registry, states.get(&person.user_id));
        let mut view = svc::person_view(person, &templates, terminals);
        add_schedule(ctx, journal, person, &mut view)?;
        data.push(view);
    }
    let mut answer = json!({"success": true, "total": data.len(), "data": data});
    if filter.limit.is_some() || filter.offset > 0 {
        answer["matched"] = Value::from(page.total);
    }
    Ok(ctx.json(200, &answer))
}

/// The live person `user_id`, or a tombstone still on a terminal; else 404.
fn listed_person(ctx: &Ctx, journal: &Journal, user_id: &str) -> Result<Person, Response> {
    let not_found = || ctx.error(404, &msg::person_not_found(user_id));
    let person = journal
        .get_person(user_id)
        .map_err(|e| failure(ctx, "reading a person", &e))?
        .ok_or_else(not_found)?;
    if person.is_deleted() {
        let rows = journal
            .person_sync_states(user_id)
            .map_err(|e| failure(ctx, "reading sync states", &e))?;
        if !rows.iter().any(|r| r.hash.is_some()) {
            return Err(not_found());
        }
    }
    Ok(person)
}

/// The live person `user_id`, or 404.
fn live_person(ctx: &Ctx, journal: &Journal, user_id: &str) -> Result<Person, Response> {
    journal
        .get_person(user_id)
        .map_err(|e| failure(ctx, "reading a person", &e))?
        .filter(|p| !p.is_deleted())
        .ok_or_else(|| ctx.error(404, &msg::person_not_found(user_id)))
}

/// `GET /people/{user_id}`.
pub fn show(ctx: &Ctx, user_id: &str) -> Answer {
    let journal = journal(ctx)?;
    let person = listed_person(ctx, journal, user_id)?;
    let data = view(ctx, journal, &person)?;
    Ok(ctx.json(200, &json!({"success": true, "data": data})))
}

/// `POST /people` → 201, or 409 when the PIN is in the list.
pub fn create(ctx: &Ctx) -> Answer {
    let journal = journal(ctx)?;
    let mut body = body::json_object(ctx, true)?;
    let schedule = take_schedule(ctx, &mut body)?;
    let user_id = match body.get("user_id") {
        None | Some(Value::Null) => return Err(ctx.error(400, msg::USER_ID_REQUIRED)),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(ctx.error(400, &messages::bad_user_id(""))),
    };
    if !crate::fields::valid_user_id(&user_id) {
        return Err(ctx.error(400, &messages::bad_user_id(&user_id)));
    }
    let changes = people_input::changes(&body, Mode::Create).map_err(|m| ctx.error(400, &m))?;
    let existing = journal
        .get_person(&user_id)
        .map_err(|e| failure(ctx, "reading a person", &e))?;
    if existing.is_some_and(|p| !p.is_deleted()) {
        return Err(ctx.error(409, &msg::person_exists(&user_id)));
    }
    let person = journal
        .upsert_person(&user_id, &changes, now())
        .map_err(|e| failure(ctx, "storing a person", &e))?;
    store_schedule(ctx, journal, &user_id, schedule)?;
    log::info!("people: {user_id} added ({changes:?})");
    let data = view(ctx, journal, &person)?;
    Ok(ctx.json(
        201,
        &json!({"success": true, "message": msg::person_created(&user_id), "data": data}),
    ))
}

/// `PUT /people/{user_id}`: a merge (only the given fields change).
pub fn update(ctx: &Ctx, user_id: &str) -> Answer {
    let journal = journal(ctx)?;
    let mut body = body::json_object(ctx, true)?;
    let schedule = take_schedule(ctx, &mut body)?;
    if let Some(id) = body.get("user_id").filter(|v| !v.is_null()) {
        let same = id.as_str().map(str::trim) == Some(user_id)
            || id.as_u64().map(|n| n.to_string()).as_deref() == Some(user_id);
        if !same {
            return Err(ctx.error(400, msg::USER_ID_IN_BODY));
        }
    }
    let changes = people_input::changes(&body, Mode::Update).map_err(|m| ctx.error(400, &m))?;
    live_person(ctx, journal, user_id)?;
    let person = journal
        .upsert_person(user_id, &changes, now())
        .map_err(|e| failure(ctx, "storing a person", &e))?;
    store_schedule(ctx, journal, user_id, schedule)?;
    log::info!("people: {user_id} changed ({changes:?})");
    let data = view(ctx, journal, &person)?;
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": msg::person_updated(user_id), "data": data}),
    ))
}

/// `DELETE /people/{user_id}`: offboarding, a tombstone.
pub fn delete(ctx: &Ctx, user_id: &str) -> Answer {
    let journal = journal(ctx)?;
    let deleted = journal
        .delete_person(user_id, now())
        .map_err(|e| failure(ctx, "deleting a person", &e))?;
    if !deleted {
        return Err(ctx.error(404, &msg::person_not_found(user_id)));
    }
    // Someone who left has no working day to report against.
    store_schedule(ctx, journal, user_id, Some(None))?;
    log::info!("people: {user_id} deleted (tombstone)");
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": msg::person_deleted(user_id)}),
    ))
}

/// `GET /people/{user_id}/templates`: bytes in base64; needs the key even
/// when reads are open.
pub fn templates(ctx: &Ctx, user_id: &str) -> Answer {
    auth::check(ctx, true)?;
    let journal = journal(ctx)?;
    live_person(ctx, journal, user_id)?;
    let list = journal
        .person_templates(user_id)
        .map_err(|e| failure(ctx, "reading templates", &e))?;
    let data: Vec<Value> = list.iter().map(svc::template_with_data).collect();
    Ok(ctx
        .json(
            200,
            &json!({"success": true, "user_id": user_id, "total": data.len(), "data": data}),
        )
        .with_header("Cache-Control", "no-store"))
}

/// The kind and index of a template path, or 400.
fn slot(ctx: &Ctx, kind: &str, index: &str) -> Result<(TemplateKind, u8), Response> {
    let kind_ =
        TemplateKind::parse(kind).ok_or_else(|| ctx.error(400, &msg::bad_template_kind(kind)))?;
    let max = svc::max_index(kind_);
    let index_ = index
        .parse::<u8>()
        .ok()
        .filter(|i| *i <= max && index.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ctx.error(400, &msg::bad_template_index(kind, index, max)))?;
    Ok((kind_, index_))
}

/// The template's bytes, version and flag from a `PUT` body, or the 400/413.
fn template_input(
    ctx: &Ctx,
    kind: TemplateKind,
    body: &Map<String, Value>,
) -> Result<(Vec<u8>, String, u8), Response> {
    let data = match body.get("data") {
        None | Some(Value::Null) => return Err(ctx.error(400, msg::TEMPLATE_DATA_REQUIRED)),
        Some(Value::String(s)) => s,
        Some(_) => return Err(ctx.error(400, msg::TEMPLATE_NOT_BASE64)),
    };
    let bytes = STANDARD
        .decode(data.trim())
        .map_err(|_| ctx.error(400, msg::TEMPLATE_NOT_BASE64))?;
    let given = match body.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(ctx.error(400, msg::BAD_TEMPLATE_VERSION)),
    };
    let version = svc::template_version(kind, &bytes, given.as_deref()).map_err(|r| match r {
        TemplateRefusal::TooSmall(n) => {
            ctx.error(400, &msg::template_too_small(n, svc::MIN_TEMPLATE_BYTES))
        }
        TemplateRefusal::TooLarge(n) => {
            ctx.error(413, &msg::template_too_large(n, svc::max_bytes(kind)))
        }
        TemplateRefusal::BadVersion => ctx.error(400, msg::BAD_TEMPLATE_VERSION),
        TemplateRefusal::UnknownVersion => ctx.error(400, msg::TEMPLATE_VERSION_UNKNOWN),
        TemplateRefusal::Mismatch { given, found } => {
            ctx.error(400, &msg::template_version_mismatch(&given, found))
        }
    })?;
    let flag = match body.get("flag") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(f @ (0 | 1 | 3)) => f as u8,
            _ => return Err(ctx.error(400, msg::BAD_TEMPLATE_FLAG)),
        },
    };
    Ok((bytes, version, flag))
}

/// `PUT /people/{user_id}/templates/{kind}/{index}` `{"data", "version"?, "flag"?}`.
pub fn put_template(ctx: &Ctx, user_id: &str, kind: &str, index: &str) -> Answer {
    let journal = journal(ctx)?;
    let (kind, index) = slot(ctx, kind, index)?;
    let body = body::json_object(ctx, true)?;
    let (data, version, flag) = template_input(ctx, kind, &body)?;
    live_person(ctx, journal, user_id)?;
    let template = Template {
        user_id: user_id.to_string(),
        kind,
        index,
        version,
        flag,
        data,
        updated_at: now(),
        deleted: false,
    };
    let written = journal
        .put_template(&template)
        .map_err(|e| failure(ctx, "storing a template", &e))?;
    let name = kind.as_str();
    if written == TemplateWrite::Older {
        return Err(ctx.error(409, &msg::template_older(user_id, name, index)));
    }
    log::info!("people: {user_id} template {name} {index} stored ({template:?})");
    let summary = json!({"kind": name, "index": index, "version": template.version,
                         "size": template.data.len(), "updated_at": template.updated_at});
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": msg::template_stored(user_id, name, index),
                "data": summary}),
    ))
}

/// `DELETE /people/{user_id}/templates/{kind}/{index}`: a tombstone.
pub fn delete_template(ctx: &Ctx, user_id: &str, kind: &str, index: &str) -> Answer {
    let journal = journal(ctx)?;
    let (kind, index) = slot(ctx, kind, index)?;
    live_person(ctx, journal, user_id)?;
    let name = kind.as_str();
    let outcome = journal
        .delete_template(user_id, kind, index, now())
        .map_err(|e| failure(ctx, "deleting a template", &e))?;
    match outcome {
        TemplateWrite::Missing => {
            Err(ctx.error(404, &msg::template_not_found(user_id, name, index)))
        }
        TemplateWrite::Older => Err(ctx.error(409, &msg::template_older(user_id, name, index))),
        TemplateWrite::Stored => {
            log::info!("people: {user_id} template {name} {index} deleted (tombstone)");
            Ok(ctx.json(
                200,
                &json!({"success": true, "message": msg::template_deleted(user_id, name, index)}),
            ))
        }
    }
}

/// `GET /people/export`: everything, passwords and template bytes
/// included; needs the key even when reads are open.
pub fn export(ctx: &Ctx) -> Answer {
    auth::check(ctx, true)?;
    let journal = journal(ctx)?;
    let export = journal
        .export_people()
        .map_err(|e| failure(ctx, "exporting people", &e))?;
    log::info!(
        "people: exported {} person(s) and {} template(s)",
        export.people.len(),
        export.templates.len()
    );
    Ok(ctx
        .json(200, &svc::export_document(&export, now()))
        .with_header("Cache-Control", "no-store")
        .with_header(
            "Content-Disposition",
            "attachment; filename=\"zkserver-personal.json\"",
        ))
}

/// `POST /people/import`: `{"device_id"}` takes a terminal's users and
/// templates into the list; a body exported by `GET /people/export`
/// restores it.
pub fn import(ctx: &Ctx) -> Answer {
    let body = body::json_object_up_to(ctx, true, MAX_IMPORT_BODY)?;
    if body.contains_key("device_id") {
        return super::people_push::import(ctx, &body);
    }
    if !body.contains_key("people") {
        return Err(ctx.error(400, msg::IMPORT_BODY));
    }
    restore(ctx, &body)
}

/// Restores an export document in one transaction.
fn restore(ctx: &Ctx, body: &Map<String, Value>) -> Answer {
    let journal = journal(ctx)?;
    let export = svc::read_export(body).map_err(|m| ctx.error(400, &m))?;
    let counts = journal
        .import_people(&export)
        .map_err(|e| failure(ctx, "restoring people", &e))?;
    log::info!(
        "people: restored {} person(s) and {} template(s)",
        counts.people,
        counts.templates
    );
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": msg::restored(counts.people, counts.templates),
                "people": counts.people, "templates": counts.templates}),
    ))
}
