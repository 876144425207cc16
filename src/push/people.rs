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
    PeopleCommandTag, PeopleFilter, Person, PersonChanges, SyncRow, SyncState, Template,
    TemplateInfo, TemplateKind, TemplateSent, TemplateWrite,
};
use crate::push::commands::TemplateTable;
use crate::push::protocol::{
    multi_bio_support, multi_bio_versions, versions_from_info, versions_from_options,
    AlgorithmVersion, BioType, BioVersions, PushCommand, PushTemplate, PushUser, TemplateBytes,
    TemplateCommand, TemplateLine,
};
use crate::push::receiver::Contact;
use crate::registry::Device;
use crate::time::WallTime;

/// The area of a device without one (API Part 7).
pub const DEFAULT_AREA: &str = "general";

/// Whether `device` was imported (a journal that cannot be read: no).
pub fn is_imported(journal: &Journal, device: &str) -> bool {
    journal.is_people_imported(device).unwrap_or_else(|e| {
        log::warn!("people: could not read whether '{device}' was imported: {e}");
        false
    })
}

/// The area of `device` (`"area"` in devices.json), else [`DEFAULT_AREA`].
pub fn device_area(device: &Device) -> String {
    device
        .config
        .raw
        .get("area")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or(DEFAULT_AREA)
        .to_string()
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
/// them. A deleted person's lines are ignored (only the list removes).
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
    for u in users {
        if journal.get_person(&u.pin)?.is_some_and(|p| p.is_deleted()) {
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
    journal.mark_people_imported(&device.id, at)?;
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

/// What the journal records `device` holds of one person.
struct Holding {
    row: Option<SyncRow>,
    sent: BTreeMap<(TemplateKind, u8), String>,
}

/// Plans what push terminal `device` needs to match the list.
pub fn plan(
    journal: &Journal,
    device: &Device,
    profile: &PushProfile,
    at: WallTime,
) -> Result<PushPlan, JournalError> {
    let area = device_area(device);
    let in_flight = journal.people_in_flight(&device.id)?;
    let rows: HashMap<String, SyncRow> = journal
        .sync_states(&device.id)?
        .into_iter()
        .map(|r| (r.user_id.clone(), r))
        .collect();
    let mut plan = PushPlan::default();
    for deleted in [false, true] {
        let filter = PeopleFilter {
            deleted,
            ..PeopleFilter::default()
        };
        for person in journal.list_people(&filter)?.people {
            if in_flight.contains(&person.user_id) {
                continue;
            }
            let holding = Holding {
                row: rows.get(&person.user_id).cloned(),
                sent: journal
                    .templates_sent(&device.id, &person.user_id)?
                    .into_iter()
                    .map(|s| ((s.kind, s.index), s.hash))
                    .collect(),
            };
            let ctx = PersonCtx {
                journal,
                device,
                profile,
                area: &area,
                at,
            };
            ctx.plan_person(&person, &holding, &mut plan)?;
        }
    }
    Ok(plan)
}

/// What planning one person needs.
struct PersonCtx<'a> {
    journal: &'a Journal,
    device: &'a Device,
    profile: &'a PushProfile,
    area: &'a str,
    at: WallTime,
}

impl PersonCtx<'_> {
    fn plan_person(
        &self,
        person: &Person,
        holding: &Holding,
        plan: &mut PushPlan,
    ) -> Result<(), JournalError> {
        if person.is_deleted() {
            return self.plan_removal(person, holding, plan);
        }
        if !person.in_area(self.area) {
            self.set_state(person, holding, SyncState::OutOfArea, plan);
            return Ok(());
        }
        let templates = self.journal.list_templates(&person.user_id)?;
        if self.failed_since_last_change(person, &templates, holding) {
            return Ok(());
        }
        let before = plan.commands.len();
        let held_hash = holding.row.as_ref().and_then(|r| r.hash.as_deref());
        let hash = person.content_hash();
        if held_hash != Some(hash.as_str()) {
            let Some(cmd) = user_command(person, hash) else {
                log::warn!(
                    "people: '{}' cannot be written to '{}' (a field the terminal cannot take)",
                    person.user_id,
                    self.device.id
                );
                return Ok(());
            };
            plan.commands.push(cmd);
            if held_hash.is_some() {
                plan.pending.users_update += 1;
            } else {
                plan.pending.users_add += 1;
            }
        }
        let compatible = self.plan_templates(person, &templates, holding, plan)?;
        let state = if plan.commands.len() > before {
            SyncState::Pending
        } else if compatible == 0 && templates.iter().any(|t| !t.deleted) {
            SyncState::Incompatible
        } else {
            SyncState::UpToDate
        };
        self.set_state(person, holding, state, plan);
        Ok(())
    }

    /// A person whose last write failed and who did not change since is
    /// left in `error` (a full terminal is not rewritten at every change
    /// of someone else).
    fn failed_since_last_change(
        &self,
        person: &Person,
        templates: &[TemplateInfo],
        holding: &Holding,
    ) -> bool {
        let Some(row) = holding.row.as_ref().filter(|r| r.state == SyncState::Error) else {
            return false;
        };
        let changed = templates
            .iter()
            .map(|t| t.updated_at)
            .chain(std::iter::once(person.updated_at))
            .max()
            .unwrap_or(person.updated_at);
        changed <= row.synced_at
    }

    /// Queues the template writes and deletes; returns how many live
    /// templates fit the terminal.
    fn plan_templates(
        &self,
        person: &Person,
        templates: &[TemplateInfo],
        holding: &Holding,
        plan: &mut PushPlan,
    ) -> Result<u64, JournalError> {
        let mut compatible = 0;
        let mut faces_changed = false;
        let mut writes: Vec<&TemplateInfo> = Vec::new();
        for t in templates {
            let held = holding.sent.get(&(t.kind, t.index));
            if t.deleted {
                if held.is_some() {
                    plan.commands
                        .extend(delete_template_command(person, t, self.profile));
                    plan.pending.templates_remove += 1;
                }
                continue;
            }
            if !self.profile.fits(t.kind, &t.version) {
                plan.incompatible += 1;
                continue;
            }
            compatible += 1;
            let changed = held != Some(&t.hash);
            if t.kind == TemplateKind::Face && !is_vl_face(&t.version) && !self.nir_as_biodata() {
                faces_changed |= changed;
                writes.push(t);
            } else if changed {
                writes.push(t);
            }
        }
        for t in writes {
            let nir_set = t.kind == TemplateKind::Face && !is_vl_face(&t.version);
            if nir_set && !self.nir_as_biodata() && !faces_changed {
                continue;
            }
            let Some(full) = self
                .journal
                .get_template(&person.user_id, t.kind, t.index)?
            else {
                continue;
            };
            if let Some(cmd) = write_template_command(&full, self.profile) {
                plan.commands.push(cmd);
                plan.pending.templates_add += 1;
            }
        }
        Ok(compatible)
    }

    /// NIR faces travel as BIODATA Type=2 (else as a set of `FACE` lines).
    fn nir_as_biodata(&self) -> bool {
        self.profile.takes_biodata(BioType::FaceNir)
    }

    /// A tombstone: `DATA DELETE USERINFO` where the terminal holds it.
    fn plan_removal(
        &self,
        person: &Person,
        holding: &Holding,
        plan: &mut PushPlan,
    ) -> Result<(), JournalError> {
        let given = holding.row.as_ref().is_some_and(|r| r.hash.is_some());
        let copied = self
            .journal
            .get_user(&self.device.id, &person.user_id)?
            .is_some();
        if !given && !copied {
            return Ok(());
        }
        let Ok(text) = (PushCommand::DeleteUser {
            pin: person.user_id.clone(),
        })
        .render() else {
            return Ok(());
        };
        plan.commands.push(PeopleCommand {
            text,
            user_id: person.user_id.clone(),
            what: PeopleCommandKind::UserDelete,
            template: None,
            hash: None,
        });
        plan.pending.users_remove += 1;
        self.set_state(person, holding, SyncState::Pending, plan);
        Ok(())
    }

    /// Records `state` for `person` when it is not the stored one.
    fn set_state(&self, person: &Person, holding: &Holding, state: SyncState, plan: &mut PushPlan) {
        let row = holding.row.as_ref();
        if row.map(|r| r.state) == Some(state) {
            return;
        }
        plan.states.push(SyncRow {
            device: self.device.id.clone(),
            user_id: person.user_id.clone(),
            hash: row.and_then(|r| r.hash.clone()),
            state,
            message: None,
            synced_at: self.at,
        });
    }
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

/// The command removing template `t` (a tombstone) from the terminal: one
/// finger, or every NIR face (faces are a set).
fn delete_template_command(
    person: &Person,
    t: &TemplateInfo,
    profile: &PushProfile,
) -> Option<PeopleCommand> {
    let pin = person.user_id.clone();
    let cmd = match t.kind {
        TemplateKind::Finger if profile.takes_biodata(BioType::Finger) => {
            TemplateCommand::DeleteBio {
                pin,
                kind: Some(BioType::Finger),
                no: Some(t.index),
            }
        }
        TemplateKind::Finger => TemplateCommand::DeleteFingers {
            pin,
            finger: Some(t.index),
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
        user_id: person.user_id.clone(),
        what: PeopleCommandKind::TemplateDelete,
        template: Some((t.kind, t.index)),
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
