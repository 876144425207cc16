//! Import from a terminal (`POST /people/import {"device_id"}`): a pull
//! terminal's users and templates join the staff list in one journal
//! transaction (NIR faces too, read with CMD 150 on a face unit: kind
//! face, index = face id), and the terminal is marked imported (from then on, what
//! is enrolled or changed at it joins the list by itself). A person or
//! template the list holds as a tombstone stays deleted (offboarding wins
//! over a terminal that still holds them). A push terminal is imported by
//! commands (`DATA QUERY …`): [`Imported::Push`] tells the caller to queue
//! them (`push::people`).

use std::collections::{BTreeMap, BTreeSet};

use crate::journal::{
    Journal, JournalError, PeopleExport, Person, SyncCounters, SyncRow, SyncState, Template,
    TemplateSent, TerminalImport,
};
use crate::ops::{Mode, OpError, Terminals};
use crate::people::pull::{held_person, Snapshot};
use crate::registry::Device;
use crate::time::WallTime;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// A pull terminal's users and templates are in the list.
    Pull {
        /// People created or changed.
        people: usize,
        /// Templates stored.
        templates: usize,
        /// Users the terminal holds.
        users_read: usize,
        /// Templates the terminal holds (fingers and faces).
        templates_read: usize,
    },
    /// A push terminal: it must be asked to upload (commands); nothing read.
    Push,
}

/// Why an import failed.
#[derive(Debug)]
pub enum ImportError {
    /// The terminal could not be read (its Spanish message comes from
    /// `messages::device_error`).
    Terminal(OpError),
    /// The journal failed.
    Journal(JournalError),
}

impl From<JournalError> for ImportError {
    fn from(e: JournalError) -> Self {
        ImportError::Journal(e)
    }
}

/// Imports `device`'s users and templates into the staff list.
pub fn from_device(
    journal: &Journal,
    terminals: &Terminals,
    device: &Device,
) -> Result<Imported, ImportError> {
    if device.config.is_push() {
        return Ok(Imported::Push);
    }
    let snap = terminals
        .run(device, Mode::Disabled, "people import", |s| {
            let mut snap = Snapshot::read(s)?;
            snap.read_faces(s)?;
            Ok(snap)
        })
        .map_err(ImportError::Terminal)?;
    let at = WallTime::new(crate::time::now());
    let list = journal.export_people()?;
    let mut import = TerminalImport {
        device: device.id.clone(),
        ..TerminalImport::default()
    };
    merge_people(&list, &snap, device, at, &mut import);
    merge_templates(&list, &snap, device, at, &mut import);
    let format = snap.layout(device.config.force_udp);
    import.counters = Some(SyncCounters {
        users: snap.sizes.users,
        fingers: snap.sizes.fingers,
        fp_version: snap.fp_version.unwrap_or(0),
        record_size: u16::try_from(format.size()).unwrap_or(0),
    });
    journal.store_terminal_import(&import)?;
    log::info!(
        "device {}: imported {} people and {} templates into the staff list ({} users, {} templates and {} faces read)",
        device.id,
        import.people.len(),
        import.templates.len(),
        snap.users.len(),
        snap.templates.len(),
        snap.faces.len()
    );
    Ok(Imported::Pull {
        people: import.people.len(),
        templates: import.templates.len(),
        users_read: snap.users.len(),
        templates_read: snap.templates.len() + snap.faces.len(),
    })
}

/// Puts the terminal's users that are new or changed into `import` (a
/// tombstone stays), with the sync rows of those the list now holds as
/// the terminal does.
fn merge_people(
    list: &PeopleExport,
    snap: &Snapshot,
    device: &Device,
    at: WallTime,
    import: &mut TerminalImport,
) {
    let enc = crate::ops::users::encoding(device);
    let existing: BTreeMap<&str, &Person> = list
        .people
        .iter()
        .map(|p| (p.user_id.as_str(), p))
        .collect();
    for user in &snap.users {
        let held = held_person(user, enc, at);
        let hash = held.content_hash();
        match existing.get(held.user_id.as_str()) {
            Some(p) if p.is_deleted() => continue,
            Some(p) if p.content_hash() == hash => {}
            Some(p) => import.people.push(Person {
                areas: p.areas.clone(),
                ..held.clone()
            }),
            None => import.people.push(held.clone()),
        }
        import.rows.push(SyncRow {
            device: device.id.clone(),
            user_id: held.user_id,
            hash: Some(hash),
            state: SyncState::UpToDate,
            message: None,
            synced_at: at,
        });
    }
}

/// Puts the templates of imported people that are new or changed into
/// `import` (a tombstone stays), with what the terminal now counts as
/// given. Each template is hashed once; the list's own rows are compared
/// by their stored hash.
fn merge_templates(
    list: &PeopleExport,
    snap: &Snapshot,
    device: &Device,
    at: WallTime,
    import: &mut TerminalImport,
) {
    let listed: BTreeMap<(&str, &str, u8), &Template> = list
        .templates
        .iter()
        .map(|t| ((t.user_id.as_str(), t.kind.as_str(), t.index), t))
        .collect();
    let live: BTreeSet<String> = import.rows.iter().map(|r| r.user_id.clone()).collect();
    for t in snap.list_templates(at) {
        if !live.contains(t.user_id.as_str()) {
            continue;
        }
        let key = (t.user_id.as_str(), t.kind.as_str(), t.index);
        let hash = t.content_hash();
        let sent = TemplateSent {
            device: device.id.clone(),
            user_id: t.user_id.clone(),
            kind: t.kind,
            index: t.index,
            hash: hash.clone(),
            written_at: at,
        };
        match listed.get(&key) {
            Some(old) if old.deleted => continue,
            Some(old) if old.content_hash() == hash => {}
            _ => import.templates.push((t, hash)),
        }
        import.sent.push(sent);
    }
}
