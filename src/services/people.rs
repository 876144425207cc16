//! The staff list's use cases beyond the journal (API Part 7): a person as
//! the API shows it (templates without bytes, each terminal's state), the
//! template rules (sizes, the version told by the bytes), and the export
//! document a restore reads back.
//!
//! Privacy: the person view carries `password_set`, never the password;
//! template bytes leave only through [`export_document`] and the keyed
//! template read, both built here as values and never logged.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::journal::{
    Journal, JournalError, PeopleExport, Person, SyncRow, SyncState, Template, TemplateInfo,
    TemplateKind,
};
use crate::registry::Registry;
use crate::time::WallTime;

/// Largest finger index.
pub const MAX_FINGER_INDEX: u8 = 9;
/// Largest face sub-template index (one NIR enrolment = 15 templates).
pub const MAX_FACE_INDEX: u8 = 14;
/// Smallest template accepted (a ZKFinger 9 template is 300 bytes or more).
pub const MIN_TEMPLATE_BYTES: usize = 64;
/// Largest finger template accepted (firmware cap 1664 bytes, with room).
pub const MAX_FINGER_BYTES: usize = 2048;
/// Largest face template accepted (16-byte header + 2560 bytes).
pub const MAX_FACE_BYTES: usize = 2576;
/// The NIR face algorithm version (push `FaceVersion=7`), the default for faces.
pub const FACE_VERSION: &str = "7";
/// What an export document says it is.
pub const EXPORT_FORMAT: &str = "zkserver-people";

/// The staff list's names to show punches with (see
/// [`crate::journal::PersonNames`]); none without a journal, or when it
/// cannot be read (logged: punches then go out as before, unnamed).
pub fn names_for_punches(journal: Option<&Journal>) -> Option<crate::journal::PersonNames> {
    match journal?.person_names() {
        Ok(names) => Some(names),
        Err(e) => {
            log::warn!("people: names for punches could not be read: {e}");
            None
        }
    }
}

/// The largest index of `kind`.
pub fn max_index(kind: TemplateKind) -> u8 {
    match kind {
        TemplateKind::Finger => MAX_FINGER_INDEX,
        TemplateKind::Face => MAX_FACE_INDEX,
    }
}

/// The largest template of `kind`, in bytes.
pub fn max_bytes(kind: TemplateKind) -> usize {
    match kind {
        TemplateKind::Finger => MAX_FINGER_BYTES,
        TemplateKind::Face => MAX_FACE_BYTES,
    }
}

/// Why template bytes or their version were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRefusal {
    /// Fewer bytes than any template has.
    TooSmall(usize),
    /// More bytes than any terminal stores.
    TooLarge(usize),
    /// The version is not a number.
    BadVersion,
    /// A finger template whose bytes show no family, and no version given.
    UnknownVersion,
    /// The given version contradicts the bytes.
    Mismatch {
        /// What was given.
        given: String,
        /// What the bytes show.
        found: u16,
    },
}

/// The version of template `data` of `kind`: `given` checked against the
/// bytes (ZKFinger 10 vs 9 signature, templates-protocol.md §1.4), or
/// told by them when absent; faces default to [`FACE_VERSION`].
pub fn template_version(
    kind: TemplateKind,
    data: &[u8],
    given: Option<&str>,
) -> Result<String, TemplateRefusal> {
    if data.len() < MIN_TEMPLATE_BYTES {
        return Err(TemplateRefusal::TooSmall(data.len()));
    }
    if data.len() > max_bytes(kind) {
        return Err(TemplateRefusal::TooLarge(data.len()));
    }
    let given = match given {
        Some(v) => Some(
            v.trim()
                .parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(TemplateRefusal::BadVersion)?,
        ),
        None => None,
    };
    let found = match kind {
        TemplateKind::Finger => crate::zk::templates::template_family(data),
        TemplateKind::Face => None,
    };
    match (given, found) {
        (Some(g), Some(f)) if g != f => Err(TemplateRefusal::Mismatch {
            given: g.to_string(),
            found: f,
        }),
        (Some(v), _) | (None, Some(v)) => Ok(v.to_string()),
        (None, None) if kind == TemplateKind::Face => Ok(FACE_VERSION.to_string()),
        (None, None) => Err(TemplateRefusal::UnknownVersion),
    }
}

/// Each person's sync rows by device, for a page of people.
pub type StatesByPerson = HashMap<String, HashMap<String, SyncRow>>;

/// Every sync row of the registered terminals, by person and device.
pub fn sync_states(journal: &Journal, registry: &Registry) -> Result<StatesByPerson, JournalError> {
    let mut by_person: StatesByPerson = HashMap::new();
    for device in registry.all() {
        for row in journal.sync_states(&device.id)? {
            by_person
                .entry(row.user_id.clone())
                .or_default()
                .insert(row.device.clone(), row);
        }
    }
    Ok(by_person)
}

/// Whether a tombstone is still on some terminal (something was written
/// there and not yet removed).
pub fn still_on_a_terminal(rows: Option<&HashMap<String, SyncRow>>) -> bool {
    rows.is_some_and(|rows| rows.values().any(|r| r.hash.is_some()))
}

/// The person's state on each registered terminal: the recorded one (a
/// terminal "al día" with an older copy is "pendiente"); without a record,
/// "pendiente" in the person's areas and "fuera_de_area" elsewhere. For a
/// tombstone: "pendiente" where it is still held, "al_dia" elsewhere.
pub fn terminal_states(
    person: &Person,
    registry: &Registry,
    rows: Option<&HashMap<String, SyncRow>>,
) -> Map<String, Value> {
    let hash = person.content_hash();
    registry
        .all()
        .iter()
        .map(|device| {
            let row = rows.and_then(|r| r.get(&device.id));
            let state = match row {
                Some(r) if person.is_deleted() && r.state == SyncState::Error => SyncState::Error,
                Some(r) if person.is_deleted() && r.hash.is_some() => SyncState::Pending,
                _ if person.is_deleted() => SyncState::UpToDate,
                Some(r) if r.state == SyncState::UpToDate && r.hash.as_ref() != Some(&hash) => {
                    SyncState::Pending
                }
                Some(r) => r.state,
                None if person.in_area(&device.config.area) => SyncState::Pending,
                None => SyncState::OutOfArea,
            };
            (device.id.clone(), Value::from(state.as_str()))
        })
        .collect()
}

/// A template as listings show it (no bytes).
pub fn template_summary(t: &TemplateInfo) -> Value {
    json!({"kind": t.kind.as_str(), "index": t.index, "version": t.version,
           "size": t.size, "updated_at": t.updated_at})
}

/// A person as the API shows it (Part 7): `password_set`, never the
/// password; live templates without bytes; each terminal's state.
pub fn person_view(
    person: &Person,
    templates: &[TemplateInfo],
    terminals: Map<String, Value>,
) -> Value {
    let summaries: Vec<Value> = templates
        .iter()
        .filter(|t| !t.deleted)
        .map(template_summary)
        .collect();
    let mut view = json!({
        "user_id": person.user_id,
        "name": person.name,
        "card": person.card,
        "password_set": person.password_set(),
        "privilege": person.privilege,
        "areas": person.areas,
        "templates": summaries,
        "terminals": Value::Object(terminals),
        "updated_at": person.updated_at,
    });
    if person.is_deleted() {
        if let Some(map) = view.as_object_mut() {
            map.insert("deleted".into(), Value::Bool(true));
        }
    }
    view
}

/// A template with its bytes in base64 (keyed answers only).
pub fn template_with_data(t: &Template) -> Value {
    json!({"kind": t.kind.as_str(), "index": t.index, "version": t.version, "flag": t.flag,
           "size": t.data.len(), "updated_at": t.updated_at, "data": STANDARD.encode(&t.data)})
}

/// The export document: every person (keypad passwords included) and
/// every template (bytes in base64), tombstones too.
pub fn export_document(export: &PeopleExport, exported_at: WallTime) -> Value {
    let people: Vec<Value> = export
        .people
        .iter()
        .map(|p| {
            json!({"user_id": p.user_id, "name": p.name, "card": p.card, "password": p.password,
                   "privilege": p.privilege, "areas": p.areas, "updated_at": p.updated_at,
                   "deleted_at": p.deleted_at})
        })
        .collect();
    let templates: Vec<Value> = export
        .templates
        .iter()
        .map(|t| {
            json!({"user_id": t.user_id, "kind": t.kind.as_str(), "index": t.index,
                   "version": t.version, "flag": t.flag, "data": STANDARD.encode(&t.data),
                   "updated_at": t.updated_at, "deleted": t.deleted})
        })
        .collect();
    json!({"success": true, "format": EXPORT_FORMAT, "exported_at": exported_at,
           "total_people": people.len(), "total_templates": templates.len(),
           "people": people, "templates": templates})
}

/// Reads an export document back (see [`export_document`]); `Err` says,
/// in Spanish, which entry is wrong (never quoting a password or bytes).
pub fn read_export(body: &Map<String, Value>) -> Result<PeopleExport, String> {
    let bad = |what: String| crate::messages::people::bad_export(&what);
    let people = body
        .get("people")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("falta la lista 'people'".into()))?;
    let templates = match body.get("templates") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("'templates' debe ser una lista".into())),
    };
    let mut export = PeopleExport::default();
    for (i, entry) in people.iter().enumerate() {
        let p = exported_person(entry).map_err(|why| bad(format!("people[{i}]: {why}")))?;
        export.people.push(p);
    }
    for (i, entry) in templates.iter().enumerate() {
        let t = exported_template(entry).map_err(|why| bad(format!("templates[{i}]: {why}")))?;
        export.templates.push(t);
    }
    Ok(export)
}

/// A time field of an export entry.
fn time_field(entry: &Map<String, Value>, name: &str) -> Result<Option<WallTime>, String> {
    match entry.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => WallTime::parse(s)
            .map(Some)
            .ok_or_else(|| format!("'{name}' no es YYYY-MM-DD HH:MM:SS")),
        Some(_) => Err(format!("'{name}' debe ser un texto")),
    }
}

/// The `user_id` of an export's entry, checked with the API's rules.
fn exported_user_id(entry: &Map<String, Value>) -> Result<String, String> {
    crate::fields::Fields(entry)
        .text("user_id", true)
        .map_err(|e| e.to_string())?
        .filter(|id| crate::fields::valid_user_id(id))
        .ok_or_else(|| "'user_id' falta o no es de 1 a 24 letras o números".to_string())
}

/// One person of an export, checked with the API's rules.
fn exported_person(entry: &Value) -> Result<Person, String> {
    let entry = entry.as_object().ok_or("no es un objeto")?;
    let user_id = exported_user_id(entry)?;
    let updated_at = time_field(entry, "updated_at")?.ok_or("falta 'updated_at'")?;
    let mut person = Person::new(&user_id, updated_at);
    let changes = super::people_input::changes(entry, super::people_input::Mode::Restore)
        .map_err(|e| e.trim_end_matches('.').to_string())?;
    person = changes.applied_to(&person);
    person.deleted_at = time_field(entry, "deleted_at")?;
    Ok(person)
}

/// One template of an export.
fn exported_template(entry: &Value) -> Result<Template, String> {
    let entry = entry.as_object().ok_or("no es un objeto")?;
    let fields = crate::fields::Fields(entry);
    let user_id = exported_user_id(entry)?;
    let kind = entry
        .get("kind")
        .and_then(Value::as_str)
        .and_then(TemplateKind::parse)
        .ok_or("'kind' debe ser finger o face")?;
    let index = fields
        .int("index", 0, i64::from(max_index(kind)))
        .map_err(|e| e.to_string())?
        .and_then(|i| u8::try_from(i).ok())
        .ok_or("falta 'index'")?;
    let deleted = fields
        .boolean("deleted")
        .map_err(|e| e.to_string())?
        .unwrap_or(false);
    let updated_at = time_field(entry, "updated_at")?.ok_or("falta 'updated_at'")?;
    if deleted {
        return Ok(Template::tombstone(&user_id, kind, index, updated_at));
    }
    let data = entry
        .get("data")
        .and_then(Value::as_str)
        .and_then(|d| STANDARD.decode(d).ok())
        .ok_or("'data' no es base64 válido")?;
    let version = fields.text("version", true).map_err(|e| e.to_string())?;
    let version = template_version(kind, &data, version.as_deref())
        .map_err(|_| "'data' o 'version' no son una plantilla válida".to_string())?;
    let flag = fields
        .int("flag", 0, 3)
        .map_err(|e| e.to_string())?
        .and_then(|f| u8::try_from(f).ok())
        .unwrap_or(1);
    Ok(Template {
        user_id,
        kind,
        index,
        version,
        flag,
        data,
        updated_at,
        deleted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v10(len: usize) -> Vec<u8> {
        let mut data = vec![0x4d, 0x98];
        data.extend_from_slice(b"SS21\0\0");
        data.resize(len, 7);
        data
    }

    #[test]
    fn the_version_comes_from_the_bytes_and_must_agree_with_the_given_one() {
        assert_eq!(
            template_version(TemplateKind::Finger, &v10(1200), None),
            Ok("10".into())
        );
        let mut v9 = vec![0xA1, 0xCA];
        v9.resize(400, 1);
        assert_eq!(
            template_version(TemplateKind::Finger, &v9, None),
            Ok("9".into())
        );
        assert_eq!(
            template_version(TemplateKind::Finger, &v9, Some("9")),
            Ok("9".into())
        );
        assert!(matches!(
            template_version(TemplateKind::Finger, &v9, Some("10")),
            Err(TemplateRefusal::Mismatch { found: 9, .. })
        ));
        let unknown = vec![1u8; 500];
        assert_eq!(
            template_version(TemplateKind::Finger, &unknown, None),
            Err(TemplateRefusal::UnknownVersion)
        );
        assert_eq!(
            template_version(TemplateKind::Finger, &unknown, Some("12")),
            Ok("12".into())
        );
        assert_eq!(
            template_version(TemplateKind::Face, &unknown, None),
            Ok("7".into())
        );
        assert_eq!(
            template_version(TemplateKind::Finger, &unknown, Some("diez")),
            Err(TemplateRefusal::BadVersion)
        );
    }

    #[test]
    fn sizes_are_bounded_per_kind() {
        assert_eq!(
            template_version(TemplateKind::Finger, &v10(10), None),
            Err(TemplateRefusal::TooSmall(10))
        );
        assert_eq!(
            template_version(TemplateKind::Finger, &v10(MAX_FINGER_BYTES + 1), None),
            Err(TemplateRefusal::TooLarge(MAX_FINGER_BYTES + 1))
        );
        assert!(template_version(TemplateKind::Face, &v10(MAX_FACE_BYTES), None).is_ok());
        assert!(template_version(TemplateKind::Face, &v10(MAX_FACE_BYTES + 1), None).is_err());
    }
}
