//! The attendance endpoints: one device, or all devices in parallel.

use std::sync::Arc;

use rouille::Response;

use super::query::{AttendanceQuery, Format};
use super::response::{Listing, Row};
use super::{messages, Ctx};
use crate::ops::{self, Mode, OpError};
use crate::registry::Device;
use crate::zk::Attendance;

/// The whole attendance log of `device` (lock, disable), from a download
/// that started after this call; concurrent callers share one download.
pub fn download(ctx: &Ctx, device: &Device) -> Result<Arc<Vec<Attendance>>, OpError> {
    device.downloads.fetch(|| {
        ops::run(
            device,
            ctx.app.lock_timeout,
            Mode::Disabled,
            "attendance download",
            |s| {
                let records = s.read_attendance()?.records;
                crate::metrics::global().records(&device.id, records.len());
                Ok(Arc::new(records))
            },
        )
    })
}

fn parse_query(ctx: &Ctx) -> Result<AttendanceQuery, Response> {
    AttendanceQuery::parse(|k| ctx.req.get_param(k)).map_err(|msg| ctx.error(400, &msg))
}

/// `GET /devices/{id}/attendance`.
pub fn device_attendance(ctx: &Ctx, id: &str) -> Response {
    let query = match parse_query(ctx) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let device = match ctx.device(id) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match download(ctx, &device) {
        Ok(records) => {
            let rows = select(records, 0, &query);
            respond(
                ctx,
                &query,
                rows,
                vec![(device.id.clone(), device.config.name.clone())],
                None,
            )
        }
        Err(e) => ctx.device_failure(&device, &e),
    }
}

/// `GET /attendance/all`: every device in parallel; failures go to `errors`.
pub fn all_attendance(ctx: &Ctx) -> Response {
    let query = match parse_query(ctx) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let devices: Vec<Arc<Device>> = ctx.app.registry.all();
    let results: Vec<Result<Arc<Vec<Attendance>>, OpError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .map(|d| scope.spawn(move || download(ctx, d)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(OpError::Zk(crate::zk::Error::Io("panic".into()))))
            })
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
    respond(ctx, &query, newest_first(rows), names, Some(errors))
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
