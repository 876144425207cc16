//! The working day (API Part 8): `GET /reports/day`, `/reports/presence`,
//! `/reports/month` in JSON, CSV or xlsx, and the schedules
//! (`GET`/`PUT`/`DELETE /reports/schedule`). Answered from the journal
//! only: no terminal is spoken to, so they answer while terminals are
//! offline.

use serde_json::{json, Value};

use super::response::Body;
use super::{Answer, Ctx, Response};
use crate::journal::{Journal, ScheduleScope};
use crate::messages;
use crate::messages::reports as text;
use crate::reports::day::Filter;
use crate::reports::export::{self, Sheet};
use crate::reports::month::month_days;
use crate::reports::presence::Terminal;
use crate::reports::rules::Schedule;
use crate::reports::source::{Inputs, SourceError, MAX_PUNCHES};

/// Content type of a workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What a report is answered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Xlsx,
}

/// The `format` parameter: `json` (default), `csv` or, when `xlsx` is
/// allowed, `xlsx`; anything else a 400 naming it.
fn format_param(ctx: &Ctx, xlsx: bool) -> Result<Format, Response> {
    let value = ctx.req.get_param("format").unwrap_or_default();
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        "xlsx" if xlsx => Ok(Format::Xlsx),
        _ => {
            let allowed = if xlsx {
                "json, csv o xlsx"
            } else {
                "json o csv"
            };
            Err(ctx.error(400, &text::bad_format(&value, allowed)))
        }
    }
}

/// A non-empty, trimmed query parameter.
fn param(ctx: &Ctx, name: &str) -> Option<String> {
    ctx.req
        .get_param(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `area` and `user_id` filters.
fn filter(ctx: &Ctx) -> Filter {
    Filter {
        area: param(ctx, "area"),
        user_id: param(ctx, "user_id"),
    }
}

/// The journal (503 without one).
fn journal<'a>(ctx: &'a Ctx) -> Result<&'a Journal, Response> {
    ctx.app
        .journal
        .as_deref()
        .ok_or_else(|| ctx.error(503, messages::NO_JOURNAL))
}

/// The configured terminals with their UTC offsets (each terminal's own
/// `timezone`, else the server's).
fn terminals(ctx: &Ctx) -> Vec<Terminal> {
    ctx.app
        .registry
        .all()
        .iter()
        .map(|d| Terminal {
            id: d.id.clone(),
            name: d.config.name.clone(),
            offset_minutes: d
                .config
                .timezone
                .as_deref()
                .and_then(crate::registry::parse_utc_offset)
                .unwrap_or_else(crate::time::server_offset_minutes),
        })
        .collect()
}

/// The journal and the report inputs.
fn inputs<'a>(ctx: &'a Ctx) -> Result<(&'a Journal, Inputs), Response> {
    let journal = journal(ctx)?;
    let rules = ctx.app.workday;
    let inputs = Inputs::load(journal, rules.day_start, rules.double_punch, terminals(ctx))
        .map_err(|e| failure(ctx, &SourceError::Journal(e)))?;
    Ok((journal, inputs))
}

/// The answer for a report that could not be read (logged in detail).
fn failure(ctx: &Ctx, e: &SourceError) -> Response {
    match e {
        SourceError::TooManyPunches => ctx.error(413, &text::too_many_punches(MAX_PUNCHES)),
        SourceError::Journal(e) => {
            log::error!("report: journal read failed: {e}");
            ctx.error(503, messages::JOURNAL_FAILED)
        }
    }
}

/// A file download.
fn file(content_type: &str, name: &str, bytes: Vec<u8>) -> Response {
    Response::new(200, content_type, Body::Bytes(bytes)).with_header(
        "Content-Disposition",
        &format!("attachment; filename=\"{name}\""),
    )
}

/// `sheets` as the CSV or xlsx file `stem`.
fn export_file(format: Format, stem: &str, sheets: Vec<Sheet>) -> Answer {
    match format {
        Format::Xlsx => Ok(file(XLSX, &format!("{stem}.xlsx"), export::xlsx(sheets))),
        Format::Csv | Format::Json => Ok(file(
            "text/csv; charset=utf-8",
            &format!("{stem}.csv"),
            export::csv(&sheets),
        )),
    }
}

/// `GET /reports/day?date=YYYY-MM-DD`.
pub fn day(ctx: &Ctx) -> Answer {
    let raw = ctx.req.get_param("date").unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(ctx.error(400, &text::missing_param("date")));
    }
    let date =
        crate::time::parse_date(raw.trim()).ok_or_else(|| ctx.error(400, &text::bad_date(&raw)))?;
    let format = format_param(ctx, true)?;
    let filter = filter(ctx);
    let (journal, inputs) = inputs(ctx)?;
    let rows = inputs
        .day(journal, date, &filter)
        .map_err(|e| failure(ctx, &e))?;
    let day = date.format("%Y-%m-%d").to_string();
    if format == Format::Json {
        let body = json!({"success": true, "date": day, "total": rows.len(), "data": rows});
        return Ok(ctx.json(200, &body));
    }
    export_file(format, &format!("dia-{day}"), export::day_sheets(&rows))
}

/// `GET /reports/month?month=YYYY-MM`.
pub fn month(ctx: &Ctx) -> Answer {
    let raw = ctx.req.get_param("month").unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(ctx.error(400, &text::missing_param("month")));
    }
    let days = month_days(raw.trim()).ok_or_else(|| ctx.error(400, &text::bad_month(&raw)))?;
    let format = format_param(ctx, true)?;
    let filter = filter(ctx);
    let (journal, inputs) = inputs(ctx)?;
    let sheet = inputs
        .month(journal, days, &filter)
        .map_err(|e| failure(ctx, &e))?;
    drop(inputs);
    if format == Format::Json {
        let body = json!({"success": true, "month": sheet.month, "data": sheet.data,
                          "totals": sheet.totals});
        return Ok(ctx.json(200, &body));
    }
    let stem = format!("mes-{}", sheet.month);
    // The sheet's rows become the file's cells: the rows are freed first.
    let sheets = export::month_sheets(&sheet);
    drop(sheet);
    export_file(format, &stem, sheets)
}

/// `GET /reports/presence`: who is inside now, each terminal's current
/// workday by its own clock.
pub fn presence(ctx: &Ctx) -> Answer {
    let format = format_param(ctx, true)?;
    let filter = filter(ctx);
    let (journal, inputs) = inputs(ctx)?;
    let now = chrono::Utc::now().naive_utc();
    let rows = inputs
        .presence(journal, now, &filter)
        .map_err(|e| failure(ctx, &e))?;
    if format == Format::Json {
        let body = json!({"success": true, "total": rows.len(), "data": rows});
        return Ok(ctx.json(200, &body));
    }
    export_file(format, "presentes", export::presence_sheets(&rows))
}

/// The scope a schedule request names: `?area=` or `?user_id=`, else the
/// server default.
fn scope(ctx: &Ctx) -> Result<ScheduleScope, Response> {
    let area = ctx.req.get_param("area").map(|v| v.trim().to_string());
    let user = ctx.req.get_param("user_id").map(|v| v.trim().to_string());
    match (area, user) {
        (Some(_), Some(_)) => Err(ctx.error(400, text::SCHEDULE_TWO_SCOPES)),
        (Some(a), None) if a.is_empty() => Err(ctx.error(400, &text::empty_scope("area"))),
        (None, Some(u)) if u.is_empty() => Err(ctx.error(400, &text::empty_scope("user_id"))),
        (Some(a), None) => Ok(ScheduleScope::Area(a)),
        (None, Some(u)) => Ok(ScheduleScope::Person(u)),
        (None, None) => Ok(ScheduleScope::Default),
    }
}

/// The scope's keys in an answer.
fn scope_json(scope: &ScheduleScope) -> (&'static str, Value) {
    match scope {
        ScheduleScope::Default => ("scope", json!("default")),
        ScheduleScope::Area(a) => ("area", json!(a)),
        ScheduleScope::Person(u) => ("user_id", json!(u)),
    }
}

/// A map of stored schedules as JSON (each normalised when still valid).
fn schedules_json<'a>(items: impl Iterator<Item = (&'a String, &'a Value)>) -> Value {
    Value::Object(items.map(|(k, v)| (k.clone(), normalised(v))).collect())
}

/// A stored schedule in its normal shape (as stored when not valid).
fn normalised(value: &Value) -> Value {
    Schedule::from_json(value).map_or_else(|_| value.clone(), |s| s.to_json())
}

/// `GET /reports/schedule`: every stored schedule.
pub fn list_schedules(ctx: &Ctx) -> Answer {
    let stored = journal(ctx)?
        .schedules()
        .map_err(|e| failure(ctx, &SourceError::Journal(e)))?;
    let rules = ctx.app.workday;
    Ok(ctx.json(
        200,
        &json!({
            "success": true,
            "day_start": rules.day_start.to_string(),
            "double_punch": rules.double_punch.window().num_seconds(),
            "default": stored.default.as_ref().map(normalised),
            "areas": schedules_json(stored.areas.iter()),
            "people": schedules_json(stored.people.iter()),
        }),
    ))
}

/// `PUT /reports/schedule` (`?area=` / `?user_id=`): body the schedule.
pub fn put_schedule(ctx: &Ctx) -> Answer {
    let scope = scope(ctx)?;
    let body = super::body::json_object(ctx, true)?;
    let schedule = Schedule::from_json(&Value::Object(body))
        .map_err(|e| ctx.error(400, &text::rule_error(&e)))?;
    journal(ctx)?
        .set_schedule(
            &scope,
            Some(&schedule.to_json()),
            crate::time::WallTime::new(crate::time::now()),
        )
        .map_err(|e| failure(ctx, &SourceError::Journal(e)))?;
    let name = text::scope_name(&scope);
    log::info!("report schedule {name} set to {}", schedule.to_json());
    let (key, value) = scope_json(&scope);
    let mut body = serde_json::Map::new();
    body.insert("success".into(), json!(true));
    body.insert("message".into(), json!(text::schedule_saved(&name)));
    body.insert(key.into(), value);
    body.insert("schedule".into(), schedule.to_json());
    Ok(ctx.json(200, &Value::Object(body)))
}

/// `DELETE /reports/schedule` (`?area=` / `?user_id=`).
pub fn delete_schedule(ctx: &Ctx) -> Answer {
    let scope = scope(ctx)?;
    let removed = journal(ctx)?
        .set_schedule(&scope, None, crate::time::WallTime::new(crate::time::now()))
        .map_err(|e| failure(ctx, &SourceError::Journal(e)))?;
    let name = text::scope_name(&scope);
    if !removed {
        return Err(ctx.error(404, &text::schedule_not_found(&name)));
    }
    log::info!("report schedule {name} removed");
    Ok(ctx.json(
        200,
        &json!({"success": true, "message": text::schedule_removed(&name)}),
    ))
}
