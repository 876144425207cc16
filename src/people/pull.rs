//! The staff list on a pull terminal (ZK protocol): reading what it holds
//! as the planner sees it, the form a person takes in its user layout, and
//! applying a plan with the terminal disabled. Removals go first (they
//! free room), then users without new templates (one record each), then
//! templates by batch write with their owners' records (the batch rewrites
//! the owner's record, so it is always the current one, pitfall §6.4),
//! [`BATCH_PEOPLE`] people per batch. NIR faces (templates-protocol.md
//! §2.8) are read only by an import ([`Snapshot::read_faces`]) and, on a
//! terminal that holds faces, deleted with a removed user (CMD 152 before
//! the user, as firmware may keep them, §8 Q10); they are never written
//! (CMD 151 is unverified). Template bytes are never logged.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::{HeldTemplate, HeldUser, Holdings, Plan, TemplateKey};
use crate::journal::{Person, Template, TemplateKind};
use crate::ops::{OpError, Rejection};
use crate::services::people::FACE_VERSION;
use crate::text::Encoding;
use crate::time::WallTime;
use crate::zk::faces::Face;
use crate::zk::records::{Template as ZkTemplate, User, UserFormat};
use crate::zk::templates::template_family;
use crate::zk::wire::cmd;
use crate::zk::{Disabled, Error, Result, Session, Sizes};

/// People per batch write. The firmware holds the whole buffer in RAM
/// (templates-protocol.md §2.10 suggests a few hundred people), and each
/// batch costs a fixed pause and a flash rewrite (seconds on real units,
/// 100 ms in the simulator): 1 000 people (about 3 MB with two
/// ZKFinger 10 templates each) balance the two; pyzk sends everything at once.
pub const BATCH_PEOPLE: usize = 1000;

/// What a pull terminal holds, read fresh.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `~ZKFPVersion` (`None`: the terminal does not say).
    pub fp_version: Option<u16>,
    /// Its counters.
    pub sizes: Sizes,
    /// Its users.
    pub users: Vec<User>,
    /// Their record layout (`None`: it holds no user).
    pub format: Option<UserFormat>,
    /// Its fingerprint templates.
    pub templates: Vec<ZkTemplate>,
    /// Its NIR faces (read by [`Snapshot::read_faces`] only; empty otherwise).
    pub faces: Vec<Face>,
}

impl Snapshot {
    /// Reads version, counters, users and templates (run it disabled).
    pub fn read(s: &mut Session) -> Result<Snapshot> {
        let fp_version = s.fp_version()?;
        let sizes = s.sizes()?;
        let (users, format) = s.users()?;
        let templates = s.templates()?;
        Ok(Snapshot {
            fp_version,
            sizes,
            users,
            format,
            templates,
            faces: Vec::new(),
        })
    }

    /// Whether the terminal is a face unit (GET_FREE_SIZES reports faces
    /// or a face capacity).
    pub fn holds_faces(&self) -> bool {
        self.sizes.faces.unwrap_or(0) > 0 || self.sizes.faces_cap.unwrap_or(0) > 0
    }

    /// Reads every user's faces (CMD 150, one request per user) when the
    /// terminal reports any; a terminal that does not know the command
    /// leaves the faces empty (logged), other failures stop the read.
    pub fn read_faces(&mut self, s: &mut Session) -> Result<()> {
        self.faces.clear();
        if self.sizes.faces.unwrap_or(0) == 0 {
            return Ok(());
        }
        for uid in self.users.iter().map(|u| u.uid) {
            match s.read_faces(uid) {
                Ok(faces) => self
                    .faces
                    .extend(faces.into_iter().filter(|f| f.uid == uid)),
                Err(Error::Device {
                    command: cmd::USERFACE_RRQ,
                    code,
                }) => {
                    log::warn!(
                        "{} reports faces but refuses USERFACE_RRQ (150) with code {code}: faces not read",
                        s.address()
                    );
                    self.faces.clear();
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The layout to write users in: the one read, else a guess from the
    /// link (UDP-only terminals are the old 28-byte ones).
    pub fn layout(&self, udp: bool) -> UserFormat {
        self.format.unwrap_or(if udp {
            UserFormat::Short28
        } else {
            UserFormat::Long72
        })
    }

    /// The algorithm version its templates are stored as, as text.
    pub fn version_text(&self) -> Option<String> {
        self.fp_version.map(|v| v.to_string())
    }

    /// The templates held, as list templates (owner by PIN; version from
    /// the bytes, else the terminal's), changed `at`.
    pub fn list_templates(&self, at: WallTime) -> Vec<Template> {
        let pins: BTreeMap<u16, &str> = self
            .users
            .iter()
            .map(|u| (u.uid, u.user_id.as_str()))
            .collect();
        self.templates
            .iter()
            .filter_map(|t| {
                let pin = pins.get(&t.uid)?;
                let version = template_family(&t.data)
                    .or(self.fp_version)
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                Some(Template {
                    user_id: (*pin).to_string(),
                    kind: TemplateKind::Finger,
                    index: t.finger,
                    version,
                    flag: t.valid,
                    data: t.data.clone(),
                    updated_at: at,
                    deleted: false,
                })
            })
            .chain(self.faces.iter().filter_map(|f| {
                let pin = pins.get(&f.uid)?;
                Some(list_face(f, pin, at))
            }))
            .collect()
    }

    /// What it holds, as the planner compares it.
    pub fn holdings(&self, enc: Encoding, at: WallTime) -> Holdings {
        let users = self
            .users
            .iter()
            .map(|u| {
                let p = held_person(u, enc, at);
                let held = HeldUser {
                    hash: p.content_hash(),
                    person: Some(p),
                };
                (u.user_id.clone(), held)
            })
            .collect();
        let templates = self
            .list_templates(at)
            .into_iter()
            .map(|t| {
                let key = (t.user_id.clone(), t.kind, t.index);
                let held = HeldTemplate {
                    hash: t.content_hash(),
                    template: Some(t),
                };
                (key, held)
            })
            .collect();
        Holdings { users, templates }
    }
}

/// A face as a list template (kind face, index = face id): the record's
/// 16-byte header and used bytes, as a push terminal's `FACE` line carries
/// them; version from the reserve word when set, else [`FACE_VERSION`].
pub fn list_face(f: &Face, pin: &str, at: WallTime) -> Template {
    let version = if f.reserve != 0 {
        f.reserve.to_string()
    } else {
        FACE_VERSION.to_string()
    };
    Template {
        user_id: pin.to_string(),
        kind: TemplateKind::Face,
        index: f.face_id,
        version,
        flag: f.valid,
        data: f.header_and_data(),
        updated_at: at,
        deleted: false,
    }
}

/// A terminal's user read as a person (areas: every one).
pub fn held_person(u: &User, enc: Encoding, at: WallTime) -> Person {
    let mut p = Person::new(&u.user_id, at);
    p.name = enc.decode(&u.name);
    p.card = (u.card != 0).then_some(u64::from(u.card));
    p.password = (!u.password.is_empty()).then(|| String::from_utf8_lossy(&u.password).into());
    p.privilege = u.privilege;
    p
}

/// `person` as the terminal's layout `format` holds it: the name cut to
/// the bytes it has (whole characters) and read back through the
/// encoding, the password cut likewise, a card only when it fits 32 bits.
pub fn fit(person: &Person, format: UserFormat, enc: Encoding) -> Person {
    let mut p = person.clone();
    p.name = enc.decode(&cut_encoded(&person.name, format.name_width(), enc));
    p.password = person
        .password
        .as_ref()
        .map(|pw| {
            String::from_utf8_lossy(&cut_encoded(pw, format.password_width(), Encoding::Utf8))
                .into()
        })
        .filter(|pw: &String| !pw.is_empty());
    p.card = person.card.filter(|c| *c != 0 && u32::try_from(*c).is_ok());
    p
}

/// `text` encoded, whole characters while they fit `width` bytes.
fn cut_encoded(text: &str, width: usize, enc: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    for c in text.chars() {
        let bytes = enc.encode(c.encode_utf8(&mut [0u8; 4]));
        if out.len() + bytes.len() > width {
            break;
        }
        out.extend_from_slice(&bytes);
    }
    out
}

/// The terminal record of a fitted person in slot `uid` (group kept from
/// the record it replaces).
fn user_record(p: &Person, uid: u16, group: u8, format: UserFormat, enc: Encoding) -> User {
    User {
        uid,
        privilege: p.privilege,
        password: p.password.clone().unwrap_or_default().into_bytes(),
        name: cut_encoded(&p.name, format.name_width(), enc),
        card: p.card.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
        group,
        user_id: p.user_id.clone(),
    }
}

/// What an apply did so far (what is recorded even when it stopped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// PINs removed.
    pub users_removed: Vec<String>,
    /// Templates removed.
    pub templates_removed: Vec<TemplateKey>,
    /// People written (fitted form).
    pub users_written: Vec<Person>,
    /// Templates written.
    pub templates_written: Vec<TemplateKey>,
    /// People not written because the layout cannot hold their PIN.
    pub refused: Vec<String>,
}

/// Applies `plan` to the terminal `snap` was read from, disabled. Stops
/// at the first failure (a full terminal, a dropped link); `progress`
/// then says what was done.
pub fn apply(
    d: &mut Disabled<'_>,
    snap: &Snapshot,
    plan: &Plan,
    udp: bool,
    enc: Encoding,
    progress: &mut Progress,
) -> std::result::Result<(), OpError> {
    let format = snap.layout(udp);
    let mut slots: BTreeMap<String, (u16, u8)> = snap
        .users
        .iter()
        .map(|u| (u.user_id.clone(), (u.uid, u.group)))
        .collect();
    remove(d, plan, &slots, snap.holds_faces(), progress)?;
    for id in &progress.users_removed {
        slots.remove(id);
    }
    let mut next = snap.users.iter().map(|u| u.uid).max().unwrap_or(0);
    let mut records: BTreeMap<String, User> = BTreeMap::new();
    for p in plan.users_add.iter().chain(&plan.users_update) {
        if format.numeric_ids() && p.user_id.parse::<u32>().is_err() {
            progress.refused.push(p.user_id.clone());
            continue;
        }
        let (uid, group) = if let Some(slot) = slots.get(&p.user_id) {
            *slot
        } else {
            next = next.checked_add(1).ok_or(Rejection::UsersFull)?;
            slots.insert(p.user_id.clone(), (next, 0));
            (next, 0)
        };
        records.insert(p.user_id.clone(), user_record(p, uid, group, format, enc));
    }
    write_users(d, plan, &records, format, progress)?;
    write_templates(d, snap, plan, &slots, &records, format, progress)?;
    Ok(())
}

/// Removes tombstoned templates, then tombstoned users (their templates
/// first: not every firmware drops them with the user, §8 Q10; on a face
/// unit their faces too, by PIN with CMD 152).
fn remove(
    d: &mut Disabled<'_>,
    plan: &Plan,
    slots: &BTreeMap<String, (u16, u8)>,
    faces: bool,
    progress: &mut Progress,
) -> Result<()> {
    for key in &plan.templates_remove {
        let Some((uid, _)) = slots.get(&key.0) else {
            continue;
        };
        if key.1 == TemplateKind::Finger {
            d.delete_template(*uid, key.2)?;
        }
        progress.templates_removed.push(key.clone());
    }
    for id in &plan.users_remove {
        if let Some((uid, _)) = slots.get(id) {
            if faces {
                d.delete_faces(id)?;
            }
            d.delete_user(*uid)?;
        }
        progress.users_removed.push(id.clone());
    }
    Ok(())
}

/// Writes the records of people who get no new template (those who do
/// are written by the batch).
fn write_users(
    d: &mut Disabled<'_>,
    plan: &Plan,
    records: &BTreeMap<String, User>,
    format: UserFormat,
    progress: &mut Progress,
) -> Result<()> {
    let with_templates: BTreeSet<&str> = plan
        .templates_add
        .iter()
        .map(|t| t.user_id.as_str())
        .collect();
    for p in plan.users_add.iter().chain(&plan.users_update) {
        let Some(record) = records.get(&p.user_id) else {
            continue;
        };
        if with_templates.contains(p.user_id.as_str()) {
            continue;
        }
        d.write_user(record, format)?;
        progress.users_written.push(p.clone());
    }
    Ok(())
}

/// Writes the new templates by batch, [`BATCH_PEOPLE`] owners at a time,
/// each owner with its current record.
fn write_templates(
    d: &mut Disabled<'_>,
    snap: &Snapshot,
    plan: &Plan,
    slots: &BTreeMap<String, (u16, u8)>,
    records: &BTreeMap<String, User>,
    format: UserFormat,
    progress: &mut Progress,
) -> Result<()> {
    let mut by_owner: BTreeMap<&str, Vec<&Template>> = BTreeMap::new();
    for t in plan
        .templates_add
        .iter()
        .filter(|t| t.kind == TemplateKind::Finger)
    {
        by_owner.entry(t.user_id.as_str()).or_default().push(t);
    }
    let owners: Vec<(&str, Vec<&Template>)> = by_owner.into_iter().collect();
    for chunk in owners.chunks(BATCH_PEOPLE) {
        let mut users = Vec::new();
        let mut templates = Vec::new();
        let mut written = Vec::new();
        for (owner, list) in chunk {
            let Some(record) = owner_record(snap, slots, records, owner) else {
                continue;
            };
            for t in list {
                templates.push(ZkTemplate {
                    uid: record.uid,
                    finger: t.index,
                    valid: t.flag,
                    data: t.data.clone(),
                });
                written.push((t.user_id.clone(), t.kind, t.index));
            }
            users.push(record);
        }
        if templates.is_empty() {
            continue;
        }
        d.write_templates(&users, format, &templates)?;
        let in_chunk: BTreeSet<&str> = chunk.iter().map(|(owner, _)| *owner).collect();
        let written_people = plan
            .users_add
            .iter()
            .chain(&plan.users_update)
            .filter(|p| in_chunk.contains(p.user_id.as_str()));
        progress.users_written.extend(written_people.cloned());
        progress.templates_written.extend(written);
    }
    Ok(())
}

/// The record an owner's templates are written with: the planned one, or
/// the terminal's own (unchanged) record.
fn owner_record(
    snap: &Snapshot,
    slots: &BTreeMap<String, (u16, u8)>,
    records: &BTreeMap<String, User>,
    owner: &str,
) -> Option<User> {
    if let Some(r) = records.get(owner) {
        return Some(r.clone());
    }
    slots.get(owner)?;
    snap.users.iter().find(|u| u.user_id == owner).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> WallTime {
        WallTime::parse("2026-12-07 08:00:00").expect("time")
    }

    #[test]
    fn a_fitted_person_reads_back_as_itself() {
        let mut p = Person::new("1005", at());
        p.name = "Sofía Moreno Gutiérrez de la Fuente".into();
        p.card = Some(998_877);
        p.password = Some("123456789".into());
        for format in UserFormat::ALL {
            for enc in [Encoding::Utf8, Encoding::Latin1] {
                let fitted = fit(&p, format, enc);
                let record = user_record(&fitted, 7, 1, format, enc);
                let back = held_person(&record, enc, at());
                assert_eq!(
                    back.content_hash(),
                    fitted.content_hash(),
                    "{format:?} {enc:?}"
                );
                assert!(record.name.len() <= format.name_width());
            }
        }
        let huge = Person {
            card: Some(u64::from(u32::MAX) + 1),
            ..p
        };
        assert_eq!(fit(&huge, UserFormat::Long72, Encoding::Utf8).card, None);
    }

    #[test]
    fn a_face_joins_the_list_as_kind_face_with_its_version() {
        let mut f = Face {
            uid: 4,
            face_id: 12,
            valid: 1,
            reserve: 0,
            active_time: 0,
            vf_count: 2,
            data: vec![9; 1900],
        };
        let t = list_face(&f, "1005", at());
        assert_eq!((t.kind, t.index, t.flag), (TemplateKind::Face, 12, 1));
        assert_eq!(t.version, FACE_VERSION, "reserve 0: the default");
        assert_eq!(t.data.len(), 16 + 1900);
        assert_eq!(t.data, f.encode()[..16 + 1900].to_vec());
        f.reserve = 8;
        assert_eq!(list_face(&f, "1005", at()).version, "8");
    }
}
