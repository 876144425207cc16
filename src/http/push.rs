//! The API's view of push terminals: `GET /push/pending`, and the `/ping`
//! of a push device and its last contact (for its `/status`), answered
//! without terminal I/O: the terminal is the one who connects. (Adopting a
//! pending serial's punches is a service: `services::devices`.)

use serde_json::{json, Value};

use super::{Answer, Ctx};
use crate::messages;
use crate::registry::Device;

/// `GET /push/pending`: unknown serials and their waiting punches.
pub fn pending(ctx: &Ctx) -> Answer {
    let (Some(journal), Some(receiver)) = (&ctx.app.journal, &ctx.app.push) else {
        return Err(ctx.error(409, messages::NO_JOURNAL));
    };
    let list = journal.list_pending().map_err(|e| {
        log::error!("listing pending serials: {e}");
        ctx.error(503, messages::JOURNAL_FAILED)
    })?;
    let data: Vec<Value> = list
        .into_iter()
        .map(|p| {
            // The in-memory contact is fresher than the saved one.
            let c = receiver.contacts().get(&p.sn);
            let last_seen = c
                .as_ref()
                .map(|c| crate::time::WallTime::new(c.last_seen))
                .filter(|t| *t > p.last_seen)
                .unwrap_or(p.last_seen);
            let ip = c.as_ref().map(|c| c.ip.clone()).unwrap_or(p.ip);
            json!({"sn": p.sn, "ip": ip, "first_seen": p.first_seen, "last_seen": last_seen,
                   "punches": p.punches, "users": p.users, "user_agent": p.user_agent,
                   "pushver": p.pushver})
        })
        .collect();
    Ok(ctx.json(
        200,
        &json!({"success": true, "total": data.len(), "data": data}),
    ))
}

/// `DELETE /push/pending/{sn}` (write): forgets a pending serial with the
/// punches and users it uploaded (a terminal that calls again is pending
/// again, from then on).
pub fn remove_pending(ctx: &Ctx, sn: &str) -> Answer {
    let Some(receiver) = &ctx.app.push else {
        return Err(ctx.error(409, messages::NO_JOURNAL));
    };
    match receiver.remove_pending(sn) {
        Ok(Some(gone)) => {
            log::info!(
                "pending serial {} removed: {} punch(es) and {} user(s) discarded",
                crate::text::cut(sn, 80),
                gone.punches,
                gone.users
            );
            Ok(ctx.json(
                200,
                &json!({"success": true,
                        "message": messages::pending_removed(sn, gone.punches, gone.users),
                        "punches": gone.punches, "users": gone.users}),
            ))
        }
        Ok(None) => Err(ctx.error(404, &messages::pending_not_found(sn))),
        Err(e) => {
            log::error!("removing pending serial: {e}");
            Err(ctx.error(503, messages::JOURNAL_FAILED))
        }
    }
}

/// `GET /devices/{id}/ping` of a push device: online from its last contact.
pub fn ping(ctx: &Ctx, device: &Device) -> Answer {
    let data = contact_json(ctx, device);
    let online = data["online"].as_bool().unwrap_or(false);
    let mut body = json!({"success": online, "mode": "push", "online": online,
                          "last_seen": data["last_seen"], "ip": data["ip"]});
    if online {
        body["message"] = json!(messages::push_ping_ok(&device.id));
        Ok(ctx.json(200, &body))
    } else {
        body["error"] = json!(messages::push_offline(&device.id));
        Err(ctx.json(503, &body))
    }
}

/// What the last contact says of `device`: the in-memory one, or the
/// journal's when it is newer (after a restart or a SIGKILL).
pub fn contact_json(ctx: &Ctx, device: &Device) -> Value {
    let mut data = json!({"id": device.id, "name": device.config.name, "mode": "push",
                          "sn": device.config.sn, "forwarded": is_forwarded(ctx, device),
                          "online": false, "last_seen": null, "ip": null,
                          "seconds_since_contact": null});
    if !super::auth::presents_key(ctx) {
        // A serial is half of a terminal's identity: not for anyone reading.
        if let Some(obj) = data.as_object_mut() {
            obj.remove("sn");
        }
    }
    let Some(receiver) = &ctx.app.push else {
        return data;
    };
    // Where requests for it are taken from when neither allow_from nor
    // push_key say (see push::trust); null: not pinned yet.
    data["pinned_ip"] = json!(receiver.pinned_address(device).map(|ip| ip.to_string()));
    if let Some(c) = receiver.contact_of(device) {
        let mut contact = c.to_json();
        if let Some(obj) = contact.as_object_mut() {
            obj.remove("sn");
            obj.remove("first_seen");
            for (k, v) in obj.iter() {
                data[k] = v.clone();
            }
        }
        data["online"] = json!(receiver.is_online(&c));
        data["seconds_since_contact"] = json!(c.age().map(|a| a.as_secs()));
    }
    add_saved_contact(receiver.journal(), device, &mut data);
    data
}

/// Takes the journal's last contact of `device` when it is newer than what
/// `data` has, and counts the time since the last contact from the clock
/// when it was not this run.
fn add_saved_contact(journal: &crate::journal::Journal, device: &Device, data: &mut Value) {
    let Some(sn) = device.config.sn.as_deref() else {
        return;
    };
    match journal.last_contact(sn) {
        Ok(Some(saved)) => {
            let known = data["last_seen"].as_str().and_then(crate::time::parse);
            if known.is_none_or(|known| saved.last_seen.naive() > known) {
                data["last_seen"] = json!(saved.last_seen);
                data["ip"] = json!(saved.ip);
            }
        }
        Ok(None) => {}
        Err(e) => log::warn!("device {}: could not read its last contact: {e}", device.id),
    }
    if !data["seconds_since_contact"].is_null() {
        return;
    }
    let seen = data["last_seen"].as_str().and_then(crate::time::parse);
    if let Some(seen) = seen {
        let age = (crate::time::now() - seen).num_seconds().max(0);
        data["seconds_since_contact"] = json!(age);
    }
}

/// Whether `device`'s exchanges go to an upstream server (which then sets
/// its clock and sends its commands: the panel offers no clock sync).
fn is_forwarded(ctx: &Ctx, device: &Device) -> bool {
    crate::push::commands::forward_target(&device.config, ctx.app.push_forward.as_deref()).is_some()
}

/// The push receiver's part of `/metrics`: uploads and lines, pending
/// serials and punches, push terminals online, journal size.
pub fn metrics(ctx: &Ctx, out: &mut String) {
    use crate::metrics::{family, line};
    let Some(receiver) = &ctx.app.push else {
        return;
    };
    crate::push::receiver::PushStats::global().render(out);
    let journal = receiver.journal();
    if let Ok((serials, punches)) = journal.pending_totals() {
        let n = family(
            out,
            "zkserver_push_pending_serials",
            "gauge",
            "Unknown serials kept pending.",
        );
        line(out, format_args!("{n} {serials}"));
        let n = family(
            out,
            "zkserver_push_pending_punches",
            "gauge",
            "Punches kept for pending serials.",
        );
        line(out, format_args!("{n} {punches}"));
    }
    command_metrics(journal, out);
    let online = ctx
        .app
        .registry
        .all()
        .iter()
        .filter(|d| d.config.is_push())
        .filter(|d| {
            receiver
                .contact_of(d)
                .is_some_and(|c| receiver.is_online(&c))
        })
        .count();
    let n = family(
        out,
        "zkserver_push_terminals_online",
        "gauge",
        "Push terminals heard from recently.",
    );
    line(out, format_args!("{n} {online}"));
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut p = journal.path().as_os_str().to_os_string();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum();
    let n = family(
        out,
        "zkserver_journal_bytes",
        "gauge",
        "Size of the journal file and its WAL.",
    );
    line(out, format_args!("{n} {size}"));
}

/// Push terminals' commands by state, every state shown (0 when none).
fn command_metrics(journal: &crate::journal::Journal, o: &mut String) {
    use crate::journal::CommandStatus;
    use crate::metrics::{family, line};
    let counts = match journal.command_counts() {
        Ok(c) => c,
        Err(e) => {
            log::warn!("/metrics: {e}");
            return;
        }
    };
    let n = family(
        o,
        "zkserver_push_commands",
        "gauge",
        "Commands for push terminals by state.",
    );
    for state in [
        CommandStatus::Pending,
        CommandStatus::Sent,
        CommandStatus::Completed,
        CommandStatus::Failed,
        CommandStatus::Expired,
    ] {
        let count = counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n);
        line(
            o,
            format_args!("{n}{{state=\"{}\"}} {count}", state.as_str()),
        );
    }
}
