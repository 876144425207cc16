//! The attendance endpoints: one device, or all devices in parallel.

use std::sync::Arc;

use super::listing::{Listing, Row};
use super::query::{AttendanceQuery, Format};
use super::{messages, Answer, Ctx, Response};
use crate::ops::SharedLog;
use crate::registry::Device;
use crate::zk::Attendance;

fn parse_query(ctx: &Ctx) -> Result<AttendanceQuery, Response> {
    AttendanceQuery::parse(|k| ctx.req.get_param(k)).map_err(|msg| ctx.error(400, &msg))
}

/// `GET /devices/{id}/attendance`.
pub fn device_attendance(ctx: &Ctx, id: &str) -> Answer {
    let query = parse_query(ctx)?;
    let device = ctx.device(id)?;
    let records = ctx
        .app
        .terminals
        .attendance(&device)
        .map_err(|e| ctx.device_failure(&device, &e))?;
    let rows = select(records, 0, &query);
    let names = vec![(device.id.clone(), device.config.name.clone())];
    Ok(respond(ctx, &query, rows, names, None))
}

/// `GET /attendance/all`: every device in parallel; failures go to `errors`.
pub fn all_attendance(ctx: &Ctx) -> Answer {
    let query = parse_query(ctx)?;
    let devices: Vec<Arc<Device>> = ctx.app.registry.all();
    let terminals = &ctx.app.terminals;
    let results: Vec<SharedLog> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .map(|d| scope.spawn(move || terminals.attendance(d)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(crate::ops::OpError::Panicked)))
            .collect()
    });
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, (device, result)) in devices.iter().zip(results).enumerate() {
        match result {
            Ok(records) => rows.extend(select(records, i as u16, &query)),
            Err(e) => errors.push((device.id.clone(), messages::device_error(device, &e))),
        }
    }
    let names = devices
        .iter()
        .map(|d| (d.id.clone(), d.config.name.clone()))
        .collect();
    Ok(respond(
        ctx,
        &query,
        newest_first(rows),
        names,
        Some(errors),
    ))
}

/// Filters and tags one device's records, newest first. Records are moved
/// when this request is their only user, cloned when a shared download is
/// still being read by others.
fn select(records: Arc<Vec<Attendance>>, device: u16, query: &AttendanceQuery) -> Vec<Row> {
    let row = |rec: Attendance| Row {
        key: rec.time.sort_key(),
        rec,
        device,
    };
    let rows = match Arc::try_unwrap(records) {
        Ok(owned) => owned
            .into_iter()
            .filter(|r| query.matches(r))
            .map(row)
            .collect(),
        Err(shared) => shared
            .iter()
            .filter(|r| query.matches(r))
            .cloned()
            .map(row)
            .collect(),
    };
    newest_first(rows)
}

/// Sorts newest first; equal times keep device order.
fn newest_first(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_key(|r| std::cmp::Reverse(r.key));
    rows
}

fn respond(
    ctx: &Ctx,
    query: &AttendanceQuery,
    mut rows: Vec<Row>,
    devices: Vec<(String, String)>,
    errors: Option<Vec<(String, String)>>,
) -> Response {
    let matched = query.paged().then_some(rows.len());
    if query.paged() {
        let end = query.limit.map_or(rows.len(), |l| {
            query.offset.saturating_add(l).min(rows.len())
        });
        let start = query.offset.min(rows.len());
        rows.truncate(end);
        rows.drain(..start);
    }
    let listing = Listing {
        rows,
        devices,
        matched,
        errors,
    };
    match query.format {
        Format::Json => listing.into_json(ctx.pretty),
        Format::Csv => listing.into_csv(),
    }
}
