//! The staff list on push terminals (API Part 7): what they upload joins
//! the list once they were imported, an import asks them to upload, and
//! the list reaches them by commands queued at their next poll.
//!
//! - **Uploads** (`USER`, `FP`, `FACE` lines, `table=BIODATA`) from an
//!   imported terminal join the list (newest wins per person, kind and
//!   index; the terminal's algorithm version recorded with each template)
//!   and are recorded as held by that terminal, so nothing is sent back.
//!   A terminal never imported keeps today's behaviour (the users copy).
//! - **Import** marks the terminal and queues `CHECK` (the next handshake
//!   asks for templates), `DATA QUERY USERINFO` and the template queries
//!   its capabilities allow.
//! - **Sync** compares, per person in the terminal's areas, the list's
//!   content hashes with what the journal records the terminal was given,
//!   and queues only what differs: `DATA UPDATE USERINFO`, template writes
//!   of the terminal's algorithm version (others count as incompatible),
//!   deletes for tombstones. A person with commands in flight is left
//!   alone (`pendiente`) until the terminal answers; a refusal is `error`
//!   with a Spanish message until the person changes again.
//!
//! Template bytes and passwords never reach a log line here: counts only.

use std::collections::{BTreeMap, HashMap};

use crate::journal::{
    Command, CommandStatus, Journal, JournalError, JournalUser, PeopleCommand, PeopleCommandKind,
    PeopleCommandTag, Person, PersonChanges, SyncRow, SyncState, Template, TemplateInfo,
    TemplateKind, TemplateSent, TemplateWrite,
};
use crate::people::sync::{Pending, TerminalReport};
use crate::people::{HeldTemplate, HeldUser, Holdings, ListEntry, Sent, TerminalProfile};
use crate::push::commands::TemplateTable;
use crate::push::protocol::{
    multi_bio_support, multi_bio_versions, versions_from_info, versions_from_options,
    AlgorithmVersion, BioType, BioVersions, PushCommand, PushTemplate, PushUser, TemplateBytes,
    TemplateCommand, TemplateLine,
};
use crate::push::receiver::Contact;
use crate::registry::Device;
use crate::time::WallTime;

/// Whether `device` was imported (a journal that cannot be read: no).
pub fn is_imported(journal: &Journal, device: &str) -> bool {
    journal.people_imported(device).unwrap_or_else(|e| {
        log::warn!("people: could not read whether '{device}' was imported: {e}");
        false
    })
}

/// The area of `device` (`"area"` in devices.json, `"general"` when none).
pub fn device_area(device: &Device) -> String {
    device.config.area.clone()
}

/// What a push terminal can hold, from what it reported (INFO, options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushProfile {
    /// Its fingerprint and NIR face algorithm versions.
    pub versions: BioVersions,
    /// Its visible-light face algorithm version (`MultiBioVersion` type 9).
    pub vl_face: Option<AlgorithmVersion>,
    /// The types it takes as BIODATA (`MultiBioDataSupport`).
    pub biodata: Vec<BioType>,
}

impl PushProfile {
    /// The profile of a terminal from its last contact.
    pub fn of(contact: Option<&Contact>) -> PushProfile {
        let Some(c) = contact else {
            return PushProfile::default();
        };
        let pairs: Vec<(String, String)> = c
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let from_info = c.info.as_ref().map(versions_from_info).unwrap_or_default();
        let option = |key: &str| c.options.get(key).map(String::as_str).unwrap_or_default();
        PushProfile {
            versions: from_info.or(versions_from_options(&pairs)),
            vl_face: multi_bio_versions(option("MultiBioVersion"))
                .into_iter()
                .find(|(k, _)| *k == BioType::FaceVl)
                .map(|(_, v)| v),
            biodata: multi_bio_support(option("MultiBioDataSupport")),
        }
    }

    /// Whether it takes `kind` as BIODATA.
    fn takes_biodata(&self, kind: BioType) -> bool {
        self.biodata.contains(&kind)
    }

    /// The algorithm version the terminal holds `kind` templates in, as
    /// the list stores it (the major number).
    fn version_for(&self, kind: TemplateKind, stored: &str) -> Option<String> {
        let major = |v: Option<AlgorithmVersion>| v.map(|v| v.major.to_string());
        match kind {
            TemplateKind::Finger => major(self.versions.fingerprint),
            TemplateKind::Face if is_vl_face(stored) => major(self.vl_face),
            TemplateKind::Face => major(self.versions.face),
        }
    }

    /// Whether a template of `kind` in `version` can go to the terminal.
    pub fn fits(&self, kind: TemplateKind, version: &str) -> bool {
        self.version_for(kind, version).as_deref() == Some(version)
    }
}

/// Visible-light face algorithms (58, 38; §1.4 of the templates notes).
fn is_vl_face(version: &str) -> bool {
    matches!(version, "58" | "38")
}

// ---------------------------------------------------------------- uploads

/// What an upload added to the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Joined {
    /// Persons created or changed.
    pub people: usize,
    /// Templates stored (newer than the list's).
    pub templates: usize,
    /// Lines not taken: a deleted person's, an older template, a kind the
    /// list does not keep (finger vein, palm), an unknown version.
    pub ignored: usize,
}

/// The list's kind, index and version of an uploaded template; `None` for
/// kinds the list does not keep or a version that cannot be told.
fn list_key(t: &PushTemplate, profile: &PushProfile) -> Option<(TemplateKind, u8, String)> {
    let given = t.version.map(|v| v.major.to_string());
    match t.kind {
        BioType::Finger => {
            let version = given
                .or_else(|| profile.versions.fingerprint.map(|v| v.major.to_string()))
                .or_else(|| t.bytes.finger_signature().map(|v| v.to_string()))?;
            Some((TemplateKind::Finger, t.no, version))
        }
        BioType::FaceNir => {
            let index = if t.line == TemplateLine::Face {
                t.no
            } else {
                t.index
            };
            let version = given.or_else(|| profile.versions.face.map(|v| v.major.to_string()))?;
            Some((TemplateKind::Face, index, version))
        }
        BioType::FaceVl => Some((TemplateKind::Face, t.index, given?)),
        _ => None,
    }
}

/// The terminal's flag of a template: 0 invalid, 1 normal, 3 duress.
fn flag_of(t: &PushTemplate) -> u8 {
    match (t.valid, t.duress) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 3,
    }
}

/// A card number as the list keeps it (none for empty or 0).
fn card_of(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().filter(|c| *c != 0)
}

/// Joins `users` and `templates` uploaded by imported push terminal
/// `device` to the staff list at `at`, and records that the terminal holds
/// them. A deleted person's lines are ignored (only the list removes), and
/// so are those of a person with commands still waiting for the terminal.
pub fn join_upload(
    journal: &Journal,
    device: &str,
    profile: &PushProfile,
    users: &[PushUser],
    templates: &[PushTemplate],
    at: WallTime,
) -> Result<Joined, JournalError> {
    let mut joined = Joined::default();
    let mut held: Vec<SyncRow> = Vec::new();
    // A person with commands still waiting for this terminal is stale
    // there: what it uploads of them would undo the list's change.
    let in_flight = journal.people_in_flight(device)?;
    for u in users {
        if in_flight.contains(&u.pin) || journal.get_person(&u.pin)?.is_some_and(|p| p.is_deleted())
        {
            joined.ignored += 1;
            continue;
        }
        let changes = PersonChanges {
            name: Some(u.name.clone()),
            card: Some(card_of(&u.card)),
            password: Some(u.password.clone().filter(|p| !p.is_empty())),
            privilege: Some(u8::try_from(u.privilege).unwrap_or(0)),
            areas: None,
        };
        let before = journal.get_person(&u.pin)?;
        let person = journal.upsert_person(&u.pin, &changes, at)?;
        if before.as_ref() != Some(&person) {
            joined.people += 1;
        }
        held.push(held_row(device, &person, at));
    }
    let mut sent = Vec::new();
    for t in templates {
        let Some((kind, index, version)) = list_key(t, profile) else {
            joined.ignored += 1;
            continue;
        };
        if in_flight.contains(&t.pin) {
            joined.ignored += 1;
            continue;
        }
        let person = match journal.get_person(&t.pin)? {
            Some(p) if p.is_deleted() => {
                joined.ignored += 1;
                continue;
            }
            Some(p) => p,
            None => {
                let p = journal.upsert_person(&t.pin, &PersonChanges::default(), at)?;
                joined.people += 1;
                held.push(held_row(device, &p, at));
                p
            }
        };
        let template = Template {
            user_id: person.user_id.clone(),
            kind,
            index,
            version,
            flag: flag_of(t),
            data: t.bytes.0.clone(),
            updated_at: at,
            deleted: false,
        };
        match journal.put_template(&template)? {
            TemplateWrite::Stored => joined.templates += 1,
            _ => joined.ignored += 1,
        }
        sent.push(TemplateSent {
            device: device.to_string(),
            user_id: template.user_id.clone(),
            kind,
            index,
            hash: template.content_hash(),
            written_at: at,
        });
    }
    journal.set_sync_states(&held)?;
    journal.record_templates_sent(&sent, &[])?;
    Ok(joined)
}

/// The row saying `device` holds `person` as the list has it.
fn held_row(device: &str, person: &Person, at: WallTime) -> SyncRow {
    SyncRow {
        device: device.to_string(),
        user_id: person.user_id.clone(),
        hash: Some(person.content_hash()),
        state: SyncState::UpToDate,
        message: None,
        synced_at: at,
    }
}

// ----------------------------------------------------------------- import

/// Marks push `device` imported and queues what makes it upload its users
/// and templates: `CHECK` (its next handshake asks for templates), `DATA
/// QUERY USERINFO`, `DATA QUERY FINGERTMP` per known user (all at once
/// when none is known yet) unless it takes fingerprints as BIODATA, and
/// `DATA QUERY BIODATA Type=` for the types it takes. Returns the number
/// of commands queued.
pub fn import(
    journal: &Journal,
    device: &Device,
    profile: &PushProfile,
    at: WallTime,
) -> Result<usize, JournalError> {
    journal.mark_people_imported(&device.id)?;
    let users = journal.list_users(&device.id)?;
    let commands = import_commands(&users, profile);
    journal.enqueue_people_commands(&device.id, &commands, at)?;
    log::info!(
        "people: import from push terminal '{}' asked ({} command(s), {} user(s) known)",
        device.id,
        commands.len(),
        users.len()
    );
    Ok(commands.len())
}

/// The commands of an import (see [`import`]).
fn import_commands(users: &[JournalUser], profile: &PushProfile) -> Vec<PeopleCommand> {
    let query = |text: String, user_id: &str| PeopleCommand {
        text,
        user_id: user_id.to_string(),
        what: PeopleCommandKind::Query,
        template: None,
        hash: None,
    };
    let mut out = vec![
        query("CHECK".to_string(), ""),
        query("DATA QUERY USERINFO".to_string(), ""),
    ];
    if !profile.takes_biodata(BioType::Finger) {
        if users.is_empty() {
            // Not in the vendor's manual, but sent by third-party servers
            // (§3.5.6 [S]): every user's fingerprints.
            out.push(query("DATA QUERY FINGERTMP".to_string(), ""));
        }
        for u in users {
            let cmd = TemplateCommand::QueryFingers {
                pin: u.user_id.clone(),
                finger: None,
            };
            if let Ok(text) = cmd.render() {
                out.push(query(text, &u.user_id));
            }
        }
    }
    for kind in [BioType::Finger, BioType::FaceNir, BioType::FaceVl] {
        if profile.takes_biodata(kind) {
            let cmd = TemplateCommand::QueryBio {
                kind,
                pin: None,
                no: None,
            };
            if let Ok(text) = cmd.render() {
                out.push(query(text, ""));
            }
        }
    }
    out
}

// ------------------------------------------------------------------- sync

/// What a sync would change on one terminal (API Part 7's `pending`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingCounts {
    /// Persons to add.
    pub users_add: u64,
    /// Persons to rewrite.
    pub users_update: u64,
    /// Persons to remove (tombstones).
    pub users_remove: u64,
    /// Templates to write.
    pub templates_add: u64,
    /// Templates to remove.
    pub templates_remove: u64,
}

/// The plan for one push terminal.
#[derive(Debug, Default)]
pub struct PushPlan {
    /// Commands to queue, in order (a person before its templates).
    pub commands: Vec<PeopleCommand>,
    /// Their counts.
    pub pending: PendingCounts,
    /// Templates not sent for their algorithm version.
    pub incompatible: u64,
    /// Persons' states that change.
    pub states: Vec<SyncRow>,
}

/// Plans what push terminal `device` needs to match the list, with the
/// staff list's planner (`people::plan`): what the terminal holds is what
/// the journal records it was given (push terminals cannot be read on
/// demand); persons with commands in flight, and persons whose last write
/// failed and who did not change since, are left out.
pub fn plan(
    journal: &Journal,
    device: &Device,
    profile: &PushProfile,
    at: WallTime,
) -> Result<PushPlan, JournalError> {
    let in_flight = journal.people_in_flight(&device.id)?;
    let rows: HashMap<String, SyncRow> = journal
        .sync_states(&device.id)?
        .into_iter()
        .map(|r| (r.user_id.clone(), r))
        .collect();
    let export = journal.export_people()?;
    let mut templates: HashMap<String, Vec<Template>> = HashMap::new();
    for t in export.templates {
        templates.entry(t.user_id.clone()).or_default().push(t);
    }
    let list: Vec<ListEntry> = export
        .people
        .into_iter()
        .map(|person| ListEntry {
            templates: templates.remove(&person.user_id).unwrap_or_default(),
            person,
        })
        .filter(|e| !in_flight.contains(&e.person.user_id))
        .filter(|e| !failed_since_last_change(e, rows.get(&e.person.user_id)))
        .collect();
    let held = holdings(journal, &device.id, &rows)?;
    let terminal = terminal_profile(device, profile);
    let fit = |p: &Person| Person {
        name: crate::fields::fit_user_name(&p.name),
        ..p.clone()
    };
    let planned = crate::people::plan(&list, &terminal, &held, &Sent::default(), &fit);
    Ok(push_plan(device, profile, &list, &planned, &rows, at))
}

/// The planner's view of a push terminal (joins come from its uploads,
/// never from a plan: `imported` stays false here).
fn terminal_profile(device: &Device, profile: &PushProfile) -> TerminalProfile {
    let major = |v: Option<AlgorithmVersion>| v.map(|v| v.major.to_string());
    TerminalProfile {
        area: device_area(device),
        finger_version: major(profile.versions.fingerprint),
        takes_faces: profile.versions.face.is_some() || profile.vl_face.is_some(),
        face_version: major(profile.versions.face).or_else(|| major(profile.vl_face)),
        imported: false,
    }
}

/// What the journal records `device` holds: persons given (their hash)
/// or in its users copy, and templates given.
fn holdings(
    journal: &Journal,
    device: &str,
    rows: &HashMap<String, SyncRow>,
) -> Result<Holdings, JournalError> {
    let mut held = Holdings::default();
    for u in journal.list_users(device)? {
        held.users.insert(
            u.user_id,
            HeldUser {
                hash: String::new(),
                person: None,
            },
        );
    }
    for (id, row) in rows {
        if let Some(hash) = &row.hash {
            held.users.insert(
                id.clone(),
                HeldUser {
                    hash: hash.clone(),
                    person: None,
                },
            );
        }
    }
    for s in journal.all_templates_sent(device)? {
        held.templates.insert(
            (s.user_id, s.kind, s.index),
            HeldTemplate {
                hash: s.hash,
                template: None,
            },
        );
    }
    Ok(held)
}

/// A person whose last write failed and who did not change since is left
/// in `error` (a full terminal is not rewritten at every change of
/// someone else).
fn failed_since_last_change(entry: &ListEntry, row: Option<&SyncRow>) -> bool {
    let Some(row) = row.filter(|r| r.state == SyncState::Error) else {
        return false;
    };
    let changed = entry
        .templates
        .iter()
        .map(|t| t.updated_at)
        .chain(std::iter::once(entry.person.updated_at))
        .max()
        .unwrap_or(entry.person.updated_at);
    changed <= row.synced_at
}

/// The planner's plan as commands, counts and states for push `device`.
fn push_plan(
    device: &Device,
    profile: &PushProfile,
    list: &[ListEntry],
    planned: &crate::people::Plan,
    rows: &HashMap<String, SyncRow>,
    at: WallTime,
) -> PushPlan {
    let mut out = PushPlan {
        incompatible: planned.incompatible as u64,
        ..PushPlan::default()
    };
    let removed: std::collections::BTreeSet<&str> =
        planned.users_remove.iter().map(String::as_str).collect();
    for id in &planned.users_remove {
        if let Ok(text) = (PushCommand::DeleteUser { pin: id.clone() }).render() {
            out.commands.push(PeopleCommand {
                text,
                user_id: id.clone(),
                what: PeopleCommandKind::UserDelete,
                template: None,
                hash: None,
            });
            out.pending.users_remove += 1;
        }
    }
    for (persons, count) in [
        (&planned.users_add, &mut out.pending.users_add),
        (&planned.users_update, &mut out.pending.users_update),
    ] {
        for p in persons {
            match user_command(p, p.content_hash()) {
                Some(cmd) => {
                    out.commands.push(cmd);
                    *count += 1;
                }
                None => log::warn!(
                    "people: '{}' cannot be written to '{}' (a field the terminal cannot take)",
                    p.user_id,
                    device.id
                ),
            }
        }
    }
    for t in with_whole_face_sets(list, &planned.templates_add, profile) {
        if let Some(cmd) = write_template_command(t, profile) {
            out.commands.push(cmd);
            out.pending.templates_add += 1;
        }
    }
    for (user_id, kind, index) in &planned.templates_remove {
        if removed.contains(user_id.as_str()) {
            continue;
        }
        if let Some(cmd) = delete_template_command(user_id, *kind, *index, profile) {
            out.commands.push(cmd);
            out.pending.templates_remove += 1;
        }
    }
    out.states = states(device, planned, &out.commands, rows, at);
    out
}

/// The templates to write, each person's NIR faces as a whole set when
/// they travel as `FACE` lines (the terminal commits a set of 15).
fn with_whole_face_sets<'a>(
    list: &'a [ListEntry],
    add: &'a [Template],
    profile: &PushProfile,
) -> Vec<&'a Template> {
    let faces_by_line = |t: &Template| {
        t.kind == TemplateKind::Face
            && !is_vl_face(&t.version)
            && !profile.takes_biodata(BioType::FaceNir)
    };
    let mut out: Vec<&Template> = add.iter().filter(|t| !faces_by_line(t)).collect();
    let mut sets: Vec<&str> = add
        .iter()
        .filter(|t| faces_by_line(t))
        .map(|t| t.user_id.as_str())
        .collect();
    sets.dedup();
    for entry in list
        .iter()
        .filter(|e| sets.contains(&e.person.user_id.as_str()))
    {
        out.extend(
            entry
                .templates
                .iter()
                .filter(|t| !t.deleted && faces_by_line(t) && profile.fits(t.kind, &t.version)),
        );
    }
    out
}

/// The persons' states that change: `pendiente` for those with commands,
/// the planner's state for the others.
fn states(
    device: &Device,
    planned: &crate::people::Plan,
    commands: &[PeopleCommand],
    rows: &HashMap<String, SyncRow>,
    at: WallTime,
) -> Vec<SyncRow> {
    let mut wanted: BTreeMap<&str, SyncState> = planned
        .states
        .iter()
        .map(|(id, s)| (id.as_str(), *s))
        .collect();
    for c in commands {
        wanted.insert(c.user_id.as_str(), SyncState::Pending);
    }
    wanted
        .into_iter()
        .filter(|(id, state)| rows.get(*id).map(|r| r.state) != Some(*state))
        .map(|(id, state)| SyncRow {
            device: device.id.clone(),
            user_id: id.to_string(),
            hash: rows.get(id).and_then(|r| r.hash.clone()),
            state,
            message: None,
            synced_at: at,
        })
        .collect()
}

/// `DATA UPDATE USERINFO` for `person`, tagged with its hash.
fn user_command(person: &Person, hash: String) -> Option<PeopleCommand> {
    let text = PushCommand::UpdateUser {
        pin: person.user_id.clone(),
        name: crate::fields::fit_user_name(&person.name),
        privilege: i64::from(person.privilege),
        password: person.password.clone().unwrap_or_default(),
        card: person.card.map(|c| c.to_string()).unwrap_or_default(),
    }
    .render()
    .ok()?;
    Some(PeopleCommand {
        text,
        user_id: person.user_id.clone(),
        what: PeopleCommandKind::User,
        template: None,
        hash: Some(hash),
    })
}

/// The command writing template `t` in the form the terminal takes.
fn write_template_command(t: &Template, profile: &PushProfile) -> Option<PeopleCommand> {
    let template = TemplateBytes(t.data.clone());
    let pin = t.user_id.clone();
    let duress = t.flag == 3;
    let version = AlgorithmVersion::parse(&t.version)?;
    let cmd = match t.kind {
        TemplateKind::Finger if profile.takes_biodata(BioType::Finger) => {
            TemplateCommand::UpdateBio {
                pin,
                kind: BioType::Finger,
                no: t.index,
                index: 0,
                duress,
                version,
                format: 0,
                template,
            }
        }
        TemplateKind::Finger => TemplateCommand::UpdateFinger {
            pin,
            finger: t.index,
            duress,
            template,
        },
        TemplateKind::Face if is_vl_face(&t.version) || profile.takes_biodata(BioType::FaceNir) => {
            TemplateCommand::UpdateBio {
                pin,
                kind: if is_vl_face(&t.version) {
                    BioType::FaceVl
                } else {
                    BioType::FaceNir
                },
                no: 0,
                index: t.index,
                duress,
                version,
                format: 0,
                template,
            }
        }
        TemplateKind::Face => TemplateCommand::UpdateFace {
            pin,
            index: t.index,
            template,
        },
    };
    Some(PeopleCommand {
        text: cmd.render().ok()?,
        user_id: t.user_id.clone(),
        what: PeopleCommandKind::Template,
        template: Some((t.kind, t.index)),
        hash: Some(t.content_hash()),
    })
}

/// The command removing template `(user_id, kind, index)` (a tombstone)
/// from the terminal: one finger, or every NIR face (faces are a set).
fn delete_template_command(
    user_id: &str,
    kind: TemplateKind,
    index: u8,
    profile: &PushProfile,
) -> Option<PeopleCommand> {
    let pin = user_id.to_string();
    let cmd = match kind {
        TemplateKind::Finger if profile.takes_biodata(BioType::Finger) => {
            TemplateCommand::DeleteBio {
                pin,
                kind: Some(BioType::Finger),
                no: Some(index),
            }
        }
        TemplateKind::Finger => TemplateCommand::DeleteFingers {
            pin,
            finger: Some(index),
        },
        TemplateKind::Face if profile.takes_biodata(BioType::FaceNir) => {
            TemplateCommand::DeleteBio {
                pin,
                kind: Some(BioType::FaceNir),
                no: None,
            }
        }
        TemplateKind::Face => TemplateCommand::DeleteFaces { pin },
    };
    Some(PeopleCommand {
        text: cmd.render().ok()?,
        user_id: user_id.to_string(),
        what: PeopleCommandKind::TemplateDelete,
        template: Some((kind, index)),
        hash: None,
    })
}

/// Plans and queues what push terminal `device` needs; returns the plan
/// (its commands already queued, its states recorded).
pub fn sync_device(
    journal: &Journal,
    device: &Device,
    profile: &PushProfile,
    at: WallTime,
) -> Result<PushPlan, JournalError> {
    let plan = plan(journal, device, profile, at)?;
    if !plan.commands.is_empty() {
        journal.enqueue_people_commands(&device.id, &plan.commands, at)?;
        let p = plan.pending;
        log::info!(
            "people: {} command(s) queued for push terminal '{}' (users +{} ~{} -{}, templates +{} -{}, {} incompatible)",
            plan.commands.len(),
            device.id,
            p.users_add,
            p.users_update,
            p.users_remove,
            p.templates_add,
            p.templates_remove,
            plan.incompatible
        );
    }
    if !plan.states.is_empty() {
        journal.set_sync_states(&plan.states)?;
    }
    Ok(plan)
}

// ----------------------------------------------------------------- report

/// A push terminal's line of `GET /people/sync`, from the journal: `error`
/// (with the first refusal's Spanish reason) when a person is in error
/// there, `pendiente` while people commands wait for the terminal or its
/// next poll will queue some (their counts are `pending`), else `al_dia`; `incompatible` counts the live
/// templates of the persons shown `incompatible` there.
pub fn report(journal: &Journal, device: &Device) -> Result<TerminalReport, JournalError> {
    let mut pending = Pending::default();
    for (what, new) in journal.people_commands_in_flight(&device.id)? {
        match what {
            PeopleCommandKind::User if new => pending.users_add += 1,
            PeopleCommandKind::User => pending.users_update += 1,
            PeopleCommandKind::UserDelete => pending.users_remove += 1,
            PeopleCommandKind::Template => pending.templates_add += 1,
            PeopleCommandKind::TemplateDelete => pending.templates_remove += 1,
            PeopleCommandKind::Query => {}
        }
    }
    // What its next poll will queue (the list changed since its last look,
    // or it never polled): still to reach the terminal, so pending too.
    let upcoming = plan(
        journal,
        device,
        &PushProfile::default(),
        WallTime::new(crate::time::now()),
    )?
    .pending;
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    pending.users_add += count(upcoming.users_add);
    pending.users_update += count(upcoming.users_update);
    pending.users_remove += count(upcoming.users_remove);
    pending.templates_add += count(upcoming.templates_add);
    pending.templates_remove += count(upcoming.templates_remove);
    let rows = journal.sync_states(&device.id)?;
    let mut incompatible = 0;
    for r in rows.iter().filter(|r| r.state == SyncState::Incompatible) {
        incompatible += journal
            .list_templates(&r.user_id)?
            .iter()
            .filter(|t| !t.deleted)
            .count();
    }
    let error = rows
        .iter()
        .find(|r| r.state == SyncState::Error)
        .and_then(|r| r.message.clone());
    let last_sync = rows.iter().map(|r| r.synced_at).max();
    let state = if error.is_some() {
        "error"
    } else if pending.is_empty() {
        "al_dia"
    } else {
        "pendiente"
    };
    Ok(TerminalReport {
        device_id: device.id.clone(),
        state,
        pending,
        incompatible,
        last_sync: last_sync.map(|t| t.to_string()),
        error,
        // A push terminal comes to zkserver: there is nothing to retry.
        unreachable: false,
    })
}

// ---------------------------------------------------------------- results

/// Moves the sync state once the terminal answered people command `cmd`:
/// done → the terminal holds what it carried (`al_dia` once nothing else
/// of the person is in flight); refused → `error` with the Spanish reason.
pub fn on_result(
    journal: &Journal,
    cmd: &Command,
    profile: &PushProfile,
    at: WallTime,
) -> Result<(), JournalError> {
    let Some(tag) = journal.people_command_tag(cmd)? else {
        return Ok(());
    };
    if tag.what == PeopleCommandKind::Query {
        return Ok(());
    }
    let row = journal
        .sync_states(&cmd.device)?
        .into_iter()
        .find(|r| r.user_id == tag.user_id);
    let mut hash = row.as_ref().and_then(|r| r.hash.clone());
    if cmd.status == CommandStatus::Failed {
        let code = cmd.return_code.unwrap_or(0);
        let message = crate::messages::people_push::refused(
            &cmd.device,
            TemplateTable::of_command(&cmd.command),
            code,
        );
        log::warn!(
            "people: push terminal '{}' refused command {} for '{}' (Return={code})",
            cmd.device,
            cmd.id,
            tag.user_id
        );
        return journal.set_sync_states(&[SyncRow {
            device: cmd.device.clone(),
            user_id: tag.user_id.clone(),
            hash,
            state: SyncState::Error,
            message: Some(message),
            synced_at: at,
        }]);
    }
    match tag.what {
        PeopleCommandKind::User => hash = tag.hash.clone(),
        PeopleCommandKind::UserDelete => {
            hash = None;
            forget_templates(journal, &tag, None)?;
        }
        PeopleCommandKind::Template => record_template(journal, &tag, at)?,
        PeopleCommandKind::TemplateDelete => {
            let faces_all = tag.template.is_some_and(|(k, _)| k == TemplateKind::Face);
            forget_templates(journal, &tag, Some(faces_all))?;
        }
        PeopleCommandKind::Query => {}
    }
    let state = settled_state(journal, &tag, row.as_ref(), profile)?;
    journal.set_sync_states(&[SyncRow {
        device: cmd.device.clone(),
        user_id: tag.user_id.clone(),
        message: row
            .as_ref()
            .filter(|_| state == SyncState::Error)
            .and_then(|r| r.message.clone()),
        hash,
        state,
        synced_at: at,
    }])
}

/// The person's state once a command of theirs completed: `pendiente`
/// while others are in flight, `error` kept from an earlier refusal,
/// `incompatible` when none of their templates fit, else `al_dia`.
fn settled_state(
    journal: &Journal,
    tag: &PeopleCommandTag,
    row: Option<&SyncRow>,
    profile: &PushProfile,
) -> Result<SyncState, JournalError> {
    if journal
        .people_in_flight(&tag.device)?
        .contains(&tag.user_id)
    {
        return Ok(if row.is_some_and(|r| r.state == SyncState::Error) {
            SyncState::Error
        } else {
            SyncState::Pending
        });
    }
    if row.is_some_and(|r| r.state == SyncState::Error) {
        return Ok(SyncState::Error);
    }
    if tag.what == PeopleCommandKind::UserDelete {
        return Ok(SyncState::UpToDate);
    }
    let live: Vec<TemplateInfo> = journal
        .list_templates(&tag.user_id)?
        .into_iter()
        .filter(|t| !t.deleted)
        .collect();
    if !live.is_empty() && !live.iter().any(|t| profile.fits(t.kind, &t.version)) {
        return Ok(SyncState::Incompatible);
    }
    Ok(SyncState::UpToDate)
}

/// Records the template a completed command wrote.
fn record_template(
    journal: &Journal,
    tag: &PeopleCommandTag,
    at: WallTime,
) -> Result<(), JournalError> {
    let (Some((kind, index)), Some(hash)) = (tag.template, tag.hash.clone()) else {
        return Ok(());
    };
    journal.record_templates_sent(
        &[TemplateSent {
            device: tag.device.clone(),
            user_id: tag.user_id.clone(),
            kind,
            index,
            hash,
            written_at: at,
        }],
        &[],
    )
}

/// Forgets templates the terminal no longer holds: all of the person's
/// (`None`), every face (`Some(true)`), or the command's one.
fn forget_templates(
    journal: &Journal,
    tag: &PeopleCommandTag,
    scope: Option<bool>,
) -> Result<(), JournalError> {
    let held = journal.templates_sent(&tag.device, &tag.user_id)?;
    let removed: Vec<(String, String, TemplateKind, u8)> = held
        .into_iter()
        .filter(|s| match scope {
            None => true,
            Some(true) => s.kind == TemplateKind::Face,
            Some(false) => Some((s.kind, s.index)) == tag.template,
        })
        .map(|s| (s.device, s.user_id, s.kind, s.index))
        .collect();
    journal.record_templates_sent(&[], &removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::protocol::{parse_template_line, DeviceInfo};

    fn contact(options: &[(&str, &str)], info: Option<DeviceInfo>) -> Contact {
        Contact {
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            info,
            ..Contact::first("SN", crate::time::now())
        }
    }

    #[test]
    fn a_profile_reads_info_then_options() {
        let info = DeviceInfo::parse("Ver 6.60,1,1,0,127.0.0.1,10,7");
        let p = PushProfile::of(Some(&contact(
            &[
                ("MultiBioDataSupport", "0:1:1:0:0:0:0:0:0:1:0"),
                ("MultiBioVersion", "0:12.0:7.0:0:0:0:0:0:0:58.12:0"),
            ],
            Some(info),
        )));
        assert_eq!(
            p.versions.fingerprint.map(|v| v.major),
            Some(10),
            "INFO first"
        );
        assert_eq!(p.vl_face.map(|v| v.major), Some(58));
        assert!(p.takes_biodata(BioType::Finger) && p.takes_biodata(BioType::FaceVl));
        assert!(p.fits(TemplateKind::Finger, "10") && !p.fits(TemplateKind::Finger, "9"));
        assert!(p.fits(TemplateKind::Face, "58") && p.fits(TemplateKind::Face, "7"));
        assert_eq!(PushProfile::of(None), PushProfile::default());
    }

    #[test]
    fn uploaded_lines_take_the_terminals_version_when_they_carry_none() {
        let tmp =
            "TeVTUzIxAAAEpqkECAUHCc7QAAAcp2kBAAAAhEsrfqYdAIIOBgGQALCowQBZACcPwAFkprINlwB7AFEP";
        let fp = parse_template_line(&format!("FP PIN=1\tFID=6\tValid=3\tTMP={tmp}")).unwrap();
        let mut profile = PushProfile::default();
        // None reported: the bytes' signature (SS21: ZKFinger 10).
        assert_eq!(
            list_key(&fp, &profile),
            Some((TemplateKind::Finger, 6, "10".into()))
        );
        profile.versions.fingerprint = AlgorithmVersion::parse("12");
        assert_eq!(list_key(&fp, &profile).map(|k| k.2), Some("12".into()));
        assert_eq!(flag_of(&fp), 3, "duress");
        let face =
            parse_template_line(&format!("FACE PIN=1\tFID=4\tSIZE=0\tVALID=1\tTMP={tmp}")).unwrap();
        assert_eq!(
            list_key(&face, &PushProfile::default()),
            None,
            "face version unknown"
        );
        profile.versions.face = AlgorithmVersion::parse("7");
        assert_eq!(
            list_key(&face, &profile),
            Some((TemplateKind::Face, 4, "7".into()))
        );
        let vein = parse_template_line(&format!(
            "FVEIN Pin=1\tFID=1\tIndex=0\tValid=1\tSize=0\tTmp={tmp}"
        ))
        .unwrap();
        assert_eq!(list_key(&vein, &profile), None, "not kept by the list");
    }

    #[test]
    fn an_import_asks_by_the_terminals_capabilities() {
        let user = |id: &str| JournalUser {
            user_id: id.into(),
            ..JournalUser::default()
        };
        let texts = |cmds: Vec<PeopleCommand>| -> Vec<String> {
            cmds.into_iter().map(|c| c.text).collect()
        };
        let classic = texts(import_commands(
            &[user("1"), user("2")],
            &PushProfile::default(),
        ));
        assert_eq!(
            classic,
            [
                "CHECK",
                "DATA QUERY USERINFO",
                "DATA QUERY FINGERTMP PIN=1",
                "DATA QUERY FINGERTMP PIN=2"
            ]
        );
        assert_eq!(
            texts(import_commands(&[], &PushProfile::default()))[2],
            "DATA QUERY FINGERTMP"
        );
        let bio = PushProfile {
            biodata: vec![BioType::Finger, BioType::FaceNir],
            ..PushProfile::default()
        };
        assert_eq!(
            texts(import_commands(&[user("1")], &bio)),
            [
                "CHECK",
                "DATA QUERY USERINFO",
                "DATA QUERY BIODATA Type=1",
                "DATA QUERY BIODATA Type=2"
            ]
        );
    }
}
