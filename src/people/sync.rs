//! One pull terminal's sync with the staff list: load the list and what
//! the terminal was last given, check cheaply whether anything changed,
//! read the terminal fresh when needed, plan, apply with it disabled,
//! and record states, hashes and what joined the list.
//!
//! Cost of a sync with nothing to change: one GET_FREE_SIZES. When the
//! terminal's user and template counts are those recorded after its last
//! sync and the plan computed against what it was last given is empty,
//! nothing else is read or written. The periodic check (`--people-interval`)
//! reads everything, since an edit at the keypad that keeps the counts
//! (a renamed user, a finger re-enrolled) shows only in a full read.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::plan::{self, HeldTemplate, HeldUser, Holdings, ListEntry, Plan, Sent};
use super::pull::{self, Progress, Snapshot};
use crate::journal::{
    Journal, JournalError, Person, PersonChanges, SyncCounters, SyncRecord, SyncRow, SyncState,
    Template, TemplateSent,
};
use crate::ops::{Mode, OpError, Terminals};
use crate::registry::Device;
use crate::text::Encoding;
use crate::time::WallTime;
use crate::zk::records::UserFormat;

/// How much of the terminal a sync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The counters first; everything only when they or the list changed.
    Quick,
    /// Everything (the periodic check, a dry run, a sync asked for).
    Full,
}

/// The counts of a plan, as `GET /people/sync` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// Users to create.
    pub users_add: usize,
    /// Users to rewrite.
    pub users_update: usize,
    /// Users to remove.
    pub users_remove: usize,
    /// Templates to write.
    pub templates_add: usize,
    /// Templates to remove.
    pub templates_remove: usize,
}

impl Pending {
    /// The counts of `plan`.
    pub fn of(plan: &Plan) -> Pending {
        Pending {
            users_add: plan.users_add.len(),
            users_update: plan.users_update.len(),
            users_remove: plan.users_remove.len(),
            templates_add: plan.templates_add.len(),
            templates_remove: plan.templates_remove.len(),
        }
    }

    /// What is left of `plan` once `done` was applied.
    pub fn left(plan: &Plan, done: &Progress) -> Pending {
        let written: BTreeSet<&str> = done
            .users_written
            .iter()
            .map(|p| p.user_id.as_str())
            .collect();
        let not_written = |p: &&Person| !written.contains(p.user_id.as_str());
        Pending {
            users_add: plan.users_add.iter().filter(not_written).count(),
            users_update: plan.users_update.iter().filter(not_written).count(),
            users_remove: plan.users_remove.len()
                - done.users_removed.len().min(plan.users_remove.len()),
            templates_add: plan.templates_add.len()
                - done.templates_written.len().min(plan.templates_add.len()),
            templates_remove: plan.templates_remove.len()
                - done
                    .templates_removed
                    .len()
                    .min(plan.templates_remove.len()),
        }
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        *self == Pending::default()
    }

    /// The JSON object of the API.
    pub fn to_json(self) -> Value {
        json!({
            "users_add": self.users_add,
            "users_update": self.users_update,
            "users_remove": self.users_remove,
            "templates_add": self.templates_add,
            "templates_remove": self.templates_remove,
        })
    }
}

/// One terminal's sync state as `GET /people/sync` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalReport {
    /// The device id.
    pub device_id: String,
    /// `al_dia`, `pendiente` or `error`.
    pub state: &'static str,
    /// What is still to do there.
    pub pending: Pending,
    /// Templates not sent there for their version or kind.
    pub incompatible: usize,
    /// When it was last fully in step (`YYYY-MM-DD HH:MM:SS`).
    pub last_sync: Option<String>,
    /// Why, for `error` (Spanish).
    pub error: Option<String>,
    /// The terminal could not be reached (not shown: the engine tries
    /// such terminals again soon; a full one waits for the next change).
    pub unreachable: bool,
}

impl TerminalReport {
    /// The JSON object of the API (`error` only when there is one).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "device_id": self.device_id,
            "state": self.state,
            "pending": self.pending.to_json(),
            "incompatible": self.incompatible,
            "last_sync": self.last_sync,
        });
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }

    /// Reads a report stored by [`TerminalReport::to_json`].
    pub fn from_json(v: &Value) -> Option<TerminalReport> {
        let n = |k: &str| v["pending"][k].as_u64().map(|n| n as usize);
        let state = match v["state"].as_str()? {
            "al_dia" => "al_dia",
            "pendiente" => "pendiente",
            _ => "error",
        };
        Some(TerminalReport {
            device_id: v["device_id"].as_str()?.to_string(),
            state,
            pending: Pending {
                users_add: n("users_add")?,
                users_update: n("users_update")?,
                users_remove: n("users_remove")?,
                templates_add: n("templates_add")?,
                templates_remove: n("templates_remove")?,
            },
            incompatible: v["incompatible"].as_u64()? as usize,
            last_sync: v["last_sync"].as_str().map(str::to_string),
            error: v["error"].as_str().map(str::to_string),
            unreachable: false,
        })
    }
}

/// Why a sync could not even start (the journal failed).
#[derive(Debug)]
pub struct SyncFailure(pub JournalError);

/// The staff list grouped per person, tombstones included.
pub fn load_list(journal: &Journal) -> Result<Vec<ListEntry>, JournalError> {
    let export = journal.export_people()?;
    let mut by_person: BTreeMap<String, Vec<Template>> = BTreeMap::new();
    for t in export.templates {
        by_person.entry(t.user_id.clone()).or_default().push(t);
    }
    Ok(export
        .people
        .into_iter()
        .map(|person| {
            let templates = by_person.remove(&person.user_id).unwrap_or_default();
            ListEntry { person, templates }
        })
        .collect())
}

/// What `device` was last given, by PIN and template key.
pub fn sent_to(journal: &Journal, device: &str) -> Result<(Sent, Vec<SyncRow>), JournalError> {
    let rows = journal.sync_states(device)?;
    let users = rows
        .iter()
        .filter_map(|r| Some((r.user_id.clone(), r.hash.clone()?)))
        .collect();
    let templates = journal
        .all_templates_sent(device)?
        .into_iter()
        .map(|t| ((t.user_id, t.kind, t.index), t.hash))
        .collect();
    Ok((Sent { users, templates }, rows))
}

/// What the terminal holds as far as the journal knows (hashes only).
pub fn holdings_from(sent: &Sent) -> Holdings {
    Holdings {
        users: sent
            .users
            .iter()
            .map(|(id, hash)| {
                let held = HeldUser {
                    hash: hash.clone(),
                    person: None,
                };
                (id.clone(), held)
            })
            .collect(),
        templates: sent
            .templates
            .iter()
            .map(|(k, hash)| {
                let held = HeldTemplate {
                    hash: hash.clone(),
                    template: None,
                };
                (k.clone(), held)
            })
            .collect(),
    }
}

/// The planner's view of `device`.
pub fn profile(device: &Device, fp_version: Option<u16>, imported: bool) -> plan::TerminalProfile {
    plan::TerminalProfile {
        area: device.config.area.clone(),
        finger_version: fp_version.filter(|v| *v != 0).map(|v| v.to_string()),
        takes_faces: false,
        face_version: None,
        imported,
    }
}

/// The text encoding of names on `device`.
fn encoding(device: &Device) -> Encoding {
    crate::ops::users::encoding(device)
}

/// The now of the journal's rows.
fn now() -> WallTime {
    WallTime::new(crate::time::now())
}

/// The plan against what `device` was last given (no terminal I/O): the
/// `pending` of a terminal not synced yet, or offline.
pub fn plan_from_journal(journal: &Journal, device: &Device) -> Result<Plan, JournalError> {
    let list = load_list(journal)?;
    let (sent, _) = sent_to(journal, &device.id)?;
    let counters = journal.sync_counters(&device.id)?;
    let fp = counters.map(|c| c.fp_version);
    let format = counters
        .and_then(|c| UserFormat::from_size(usize::from(c.record_size)))
        .unwrap_or(UserFormat::Long72);
    let enc = encoding(device);
    let prof = profile(device, fp, journal.people_imported(&device.id)?);
    let fit = |p: &Person| pull::fit(p, format, enc);
    Ok(plan::plan(&list, &prof, &holdings_from(&sent), &sent, &fit))
}

/// The stored report of `device`, else one computed from the journal.
pub fn report_of(journal: &Journal, device: &Device) -> Result<TerminalReport, JournalError> {
    if device.config.is_push() {
        // Push terminals follow by commands (`push::people`).
        return crate::push::people::report(journal, device);
    }
    if let Some(text) = journal.terminal_sync_state(&device.id)? {
        if let Some(r) = serde_json::from_str(&text)
            .ok()
            .as_ref()
            .and_then(TerminalReport::from_json)
        {
            return Ok(r);
        }
    }
    let plan = plan_from_journal(journal, device)?;
    let pending = Pending::of(&plan);
    Ok(TerminalReport {
        device_id: device.id.clone(),
        state: if pending.is_empty() {
            "al_dia"
        } else {
            "pendiente"
        },
        pending,
        incompatible: plan.incompatible,
        last_sync: None,
        error: None,
        unreachable: false,
    })
}

/// When `device` was last in step, as stored (no terminal I/O, no plan).
fn stored_last_sync(journal: &Journal, device: &str) -> Option<String> {
    let text = journal.terminal_sync_state(device).ok()??;
    let value: Value = serde_json::from_str(&text).ok()?;
    value["last_sync"].as_str().map(str::to_string)
}

/// What the conversation with the terminal brought back.
struct Conversation {
    holdings: Holdings,
    plan: Plan,
    progress: Progress,
    /// The apply's failure, if it stopped.
    failed: Option<OpError>,
    /// Counters read after the writes.
    after: Option<SyncCounters>,
}

/// Syncs `device` (a pull terminal) with the list, or only plans when
/// `dry_run`. Never fails for the terminal: its failure is the report's
/// `error`; only a journal failure is an `Err`.
pub fn sync_pull(
    journal: &Journal,
    terminals: &Terminals,
    device: &Device,
    depth: Depth,
    dry_run: bool,
) -> Result<TerminalReport, JournalError> {
    let list = load_list(journal)?;
    let (sent, rows) = sent_to(journal, &device.id)?;
    let imported = journal.people_imported(&device.id)?;
    if list.is_empty() && !imported {
        // Nothing to give nor take: a site that does not use the staff
        // list never has its terminals read or disabled for it.
        return Ok(TerminalReport {
            device_id: device.id.clone(),
            state: "al_dia",
            pending: Pending::default(),
            incompatible: 0,
            last_sync: stored_last_sync(journal, &device.id),
            error: None,
            unreachable: false,
        });
    }
    if depth == Depth::Quick && !dry_run {
        if let Some(report) = quick_check(journal, terminals, device, &list, &sent, imported)? {
            return Ok(report);
        }
    }
    let talk = terminals.run(device, Mode::Plain, "people sync", |s| {
        converse(s, device, &list, &sent, imported, dry_run)
    });
    let previous = stored_last_sync(journal, &device.id);
    let c = match talk {
        Ok(c) => c,
        Err(e) => return unreachable_report(journal, device, &e, previous),
    };
    if dry_run {
        return Ok(TerminalReport {
            device_id: device.id.clone(),
            state: if c.plan.is_empty() {
                "al_dia"
            } else {
                "pendiente"
            },
            pending: Pending::of(&c.plan),
            incompatible: c.plan.incompatible,
            last_sync: previous,
            error: None,
            unreachable: false,
        });
    }
    let error = c
        .failed
        .as_ref()
        .map(|e| crate::messages::device_error(device, e))
        .or_else(|| refused_message(device, &c.progress));
    let report = TerminalReport {
        device_id: device.id.clone(),
        state: if error.is_some() { "error" } else { "al_dia" },
        pending: Pending::left(&c.plan, &c.progress),
        incompatible: c.plan.incompatible,
        last_sync: if error.is_none() {
            Some(now().to_string())
        } else {
            previous
        },
        error,
        unreachable: false,
    };
    record(journal, device, &list, &rows, &sent, &c, &report)?;
    Ok(report)
}

/// The conversation of a sync: disable, read, plan, apply unless a dry
/// run, counters after the writes, re-enable (the guard re-enables on
/// every failure path too).
fn converse(
    s: &mut crate::zk::Session,
    device: &Device,
    list: &[ListEntry],
    sent: &Sent,
    imported: bool,
    dry_run: bool,
) -> Result<Conversation, OpError> {
    let enc = encoding(device);
    let udp = device.config.force_udp;
    let started = std::time::Instant::now();
    let mut d = s.disable()?;
    let at = now();
    let snapshot = Snapshot::read(&mut d)?;
    let read = started.elapsed();
    let holdings = snapshot.holdings(enc, at);
    let format = snapshot.layout(udp);
    let prof = profile(device, snapshot.fp_version, imported);
    let fit = |p: &Person| pull::fit(p, format, enc);
    let plan = plan::plan(list, &prof, &holdings, sent, &fit);
    let planned = started.elapsed();
    let mut progress = Progress::default();
    let mut failed = None;
    if !dry_run && !plan.terminal_untouched() {
        if let Err(e) = pull::apply(&mut d, &snapshot, &plan, udp, enc, &mut progress) {
            failed = Some(e);
        }
    }
    let after = match (&failed, dry_run) {
        (None, false) => Some(counters_of(d.sizes()?, &snapshot, format)),
        _ => None,
    };
    if failed.is_none() {
        d.finish()?;
    }
    log::info!(
        "people sync {}: read in {read:?}, planned at {planned:?}, written at {:?} ({} users, {} templates written)",
        device.id,
        started.elapsed(),
        progress.users_written.len(),
        progress.templates_written.len()
    );
    Ok(Conversation {
        holdings,
        plan,
        progress,
        failed,
        after,
    })
}

/// The counters the next quick check compares with.
fn counters_of(sizes: crate::zk::Sizes, snap: &Snapshot, format: UserFormat) -> SyncCounters {
    SyncCounters {
        users: sizes.users,
        fingers: sizes.fingers,
        fp_version: snap.fp_version.unwrap_or(0),
        record_size: u16::try_from(format.size()).unwrap_or(0),
    }
}

/// The quick path: `Some(report)` when the counters are as recorded and
/// the plan against what the terminal was last given is empty (one
/// GET_FREE_SIZES, nothing written); `None` when a full sync is needed.
fn quick_check(
    journal: &Journal,
    terminals: &Terminals,
    device: &Device,
    list: &[ListEntry],
    sent: &Sent,
    imported: bool,
) -> Result<Option<TerminalReport>, JournalError> {
    let Some(counters) = journal.sync_counters(&device.id)? else {
        return Ok(None);
    };
    let Some(format) = UserFormat::from_size(usize::from(counters.record_size)) else {
        return Ok(None);
    };
    let enc = encoding(device);
    let prof = profile(device, Some(counters.fp_version), imported);
    let fit = |p: &Person| pull::fit(p, format, enc);
    let plan = plan::plan(list, &prof, &holdings_from(sent), sent, &fit);
    if !plan.is_empty() {
        return Ok(None);
    }
    let sizes = match terminals.run(device, Mode::Plain, "people check", |s| Ok(s.sizes()?)) {
        Ok(sizes) => sizes,
        Err(e) => {
            let previous = stored_last_sync(journal, &device.id);
            return unreachable_report(journal, device, &e, previous).map(Some);
        }
    };
    if sizes.users != counters.users || sizes.fingers != counters.fingers {
        return Ok(None);
    }
    let report = TerminalReport {
        device_id: device.id.clone(),
        state: "al_dia",
        pending: Pending::default(),
        incompatible: plan.incompatible,
        last_sync: Some(now().to_string()),
        error: None,
        unreachable: false,
    };
    store_report(journal, &report)?;
    Ok(Some(report))
}

/// The report of a terminal that could not be reached: `error` with the
/// Spanish reason, `pending` from what it was last given.
fn unreachable_report(
    journal: &Journal,
    device: &Device,
    e: &OpError,
    last_sync: Option<String>,
) -> Result<TerminalReport, JournalError> {
    let plan = plan_from_journal(journal, device)?;
    let report = TerminalReport {
        device_id: device.id.clone(),
        state: "error",
        pending: Pending::of(&plan),
        incompatible: plan.incompatible,
        last_sync,
        error: Some(crate::messages::device_error(device, e)),
        unreachable: true,
    };
    store_report(journal, &report)?;
    Ok(report)
}

/// The message for people the terminal's layout cannot hold.
fn refused_message(device: &Device, progress: &Progress) -> Option<String> {
    (!progress.refused.is_empty())
        .then(|| crate::messages::people_sync::numeric_ids_only(&device.id, &progress.refused))
}

fn store_report(journal: &Journal, report: &TerminalReport) -> Result<(), JournalError> {
    journal.set_terminal_sync_state(&report.device_id, &report.to_json().to_string())
}

/// Records what the conversation did: people and templates changed at
/// the terminal join the list; then, in one transaction, each person's
/// hash and state there and each template's hash where they changed, the
/// counters for the next quick check (forgotten after a failure) and the
/// terminal's `report`.
fn record(
    journal: &Journal,
    device: &Device,
    list: &[ListEntry],
    rows: &[SyncRow],
    sent: &Sent,
    c: &Conversation,
    report: &TerminalReport,
) -> Result<(), JournalError> {
    let at = now();
    join_list(journal, &c.plan, at)?;
    let (users, templates) = final_holdings(&c.holdings, &c.plan, &c.progress);
    let message = c
        .failed
        .as_ref()
        .map(|e| crate::messages::device_error(device, e));
    let touched = c.plan.touched_people();
    let refused: BTreeSet<&str> = c.progress.refused.iter().map(String::as_str).collect();
    let old: BTreeMap<&str, &SyncRow> = rows.iter().map(|r| (r.user_id.as_str(), r)).collect();
    let mut record = SyncRecord {
        device: device.id.clone(),
        counters: c.after.filter(|_| c.failed.is_none()),
        state: report.to_json().to_string(),
        ..SyncRecord::default()
    };
    let joined = c.plan.join_people.iter().map(|p| p.user_id.clone());
    let ids: BTreeSet<String> = list
        .iter()
        .map(|e| e.person.user_id.clone())
        .chain(joined)
        .collect();
    for id in &ids {
        let hash = users.get(id).cloned();
        let (state, msg) = if refused.contains(id.as_str()) {
            (SyncState::Error, refused_message(device, &c.progress))
        } else if message.is_some() && touched.contains(id) {
            (SyncState::Error, message.clone())
        } else {
            (
                c.plan
                    .states
                    .get(id)
                    .copied()
                    .unwrap_or(SyncState::UpToDate),
                None,
            )
        };
        let same = old
            .get(id.as_str())
            .is_some_and(|r| r.hash == hash && r.state == state && r.message == msg);
        if !same {
            record.rows.push(SyncRow {
                device: device.id.clone(),
                user_id: id.clone(),
                hash,
                state,
                message: msg,
                synced_at: at,
            });
        }
    }
    add_template_changes(&mut record, &ids, sent, &templates, at);
    journal.store_sync_record(&record)
}

/// Adds to `record` the template hashes that changed on its terminal and
/// the templates it no longer holds.
fn add_template_changes(
    record: &mut SyncRecord,
    ids: &BTreeSet<String>,
    sent: &Sent,
    templates: &BTreeMap<plan::TemplateKey, String>,
    at: WallTime,
) {
    let device = &record.device;
    record.written = templates
        .iter()
        .filter(|(k, h)| ids.contains(&k.0) && sent.templates.get(*k) != Some(*h))
        .map(|(k, h)| TemplateSent {
            device: device.clone(),
            user_id: k.0.clone(),
            kind: k.1,
            index: k.2,
            hash: h.clone(),
            written_at: at,
        })
        .collect();
    record.removed = sent
        .templates
        .keys()
        .filter(|k| !templates.contains_key(*k))
        .map(|k| (device.clone(), k.0.clone(), k.1, k.2))
        .collect();
}

/// The hashes the terminal holds once `progress` of `plan` was applied.
fn final_holdings(
    held: &Holdings,
    plan: &Plan,
    progress: &Progress,
) -> (
    BTreeMap<String, String>,
    BTreeMap<plan::TemplateKey, String>,
) {
    let mut users: BTreeMap<String, String> = held
        .users
        .iter()
        .map(|(id, h)| (id.clone(), h.hash.clone()))
        .collect();
    let mut templates: BTreeMap<plan::TemplateKey, String> = held
        .templates
        .iter()
        .map(|(k, h)| (k.clone(), h.hash.clone()))
        .collect();
    for id in &progress.users_removed {
        users.remove(id);
        templates.retain(|k, _| &k.0 != id);
    }
    for k in &progress.templates_removed {
        templates.remove(k);
    }
    for p in &progress.users_written {
        users.insert(p.user_id.clone(), p.content_hash());
    }
    for k in &progress.templates_written {
        if let Some(hash) = plan.add_hashes.get(k) {
            templates.insert(k.clone(), hash.clone());
        }
    }
    (users, templates)
}

/// Takes what the plan says joins the list into it (newest wins: the
/// terminal's change is stamped now).
fn join_list(journal: &Journal, plan: &Plan, at: WallTime) -> Result<(), JournalError> {
    for p in &plan.join_people {
        journal.upsert_person(&p.user_id, &changes_of(p), at)?;
    }
    for t in &plan.join_templates {
        let t = Template {
            updated_at: at,
            ..t.clone()
        };
        journal.put_template(&t)?;
    }
    Ok(())
}

/// The fields a terminal holds of a person, as list changes (areas left
/// as they are; a new person gets every area).
pub fn changes_of(p: &Person) -> PersonChanges {
    PersonChanges {
        name: Some(p.name.clone()),
        card: Some(p.card),
        password: Some(p.password.clone()),
        privilege: Some(p.privilege),
        areas: None,
    }
}
