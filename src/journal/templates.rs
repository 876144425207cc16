//! The staff list's biometric templates (API Part 7): one row per person,
//! kind (finger, face) and index, the raw bytes exactly as a terminal
//! stores them, their algorithm version and flag. Newest wins per person,
//! kind and index: a write older than the stored one is ignored. A
//! template deleted through the API stays as a tombstone (no bytes) so
//! that terminals offline today lose it when they are back.
//!
//! Template bytes are biometric data: they never appear in a `Debug`
//! output (only their size), an error or a log line. The journal file is
//! private (0600, see `Journal::open`).

use std::fmt;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use sha2::{Digest, Sha256};

use super::{Journal, JournalError};
use crate::time::WallTime;

/// The stored hash of a tombstone (it has no content).
pub(super) const DELETED_HASH: &str = "-";

/// Which modality a template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateKind {
    /// A fingerprint (index = finger 0–9).
    Finger,
    /// A face (index = sub-template 0–14).
    Face,
}

impl TemplateKind {
    /// The name used in the journal and the API: `finger` or `face`.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Finger => "finger",
            TemplateKind::Face => "face",
        }
    }

    /// Reads `finger` or `face`.
    pub fn parse(text: &str) -> Option<TemplateKind> {
        match text {
            "finger" => Some(TemplateKind::Finger),
            "face" => Some(TemplateKind::Face),
            _ => None,
        }
    }
}

/// One template with its bytes (a tombstone has none). `Debug` shows the
/// size, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    /// The owner's PIN (the portable key, never a terminal's uid).
    pub user_id: String,
    /// Finger or face.
    pub kind: TemplateKind,
    /// Finger 0–9, face sub-template 0–14.
    pub index: u8,
    /// Algorithm major version as text (`"10"`, `"9"`, `"7"` for faces).
    pub version: String,
    /// The terminal's flag: 0 invalid, 1 normal, 3 duress.
    pub flag: u8,
    /// The raw bytes, exactly as a terminal stores them; empty in a tombstone.
    pub data: Vec<u8>,
    /// When it was enrolled or last changed (newest wins).
    pub updated_at: WallTime,
    /// A tombstone: deleted through the API, to be removed from terminals.
    pub deleted: bool,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("index", &self.index)
            .field("version", &self.version)
            .field("flag", &self.flag)
            .field("size", &self.data.len())
            .field("updated_at", &self.updated_at)
            .field("deleted", &self.deleted)
            .finish()
    }
}

impl Template {
    /// A tombstone for a template deleted at `at`.
    pub fn tombstone(user_id: &str, kind: TemplateKind, index: u8, at: WallTime) -> Template {
        Template {
            user_id: user_id.to_string(),
            kind,
            index,
            version: String::new(),
            flag: 0,
            data: Vec::new(),
            updated_at: at,
            deleted: true,
        }
    }

    /// The content hash a terminal's sync state is compared with: what a
    /// terminal receives (version, flag, bytes); [`DELETED_HASH`] for a tombstone.
    pub fn content_hash(&self) -> String {
        if self.deleted {
            return DELETED_HASH.to_string();
        }
        content_hash(&[
            self.kind.as_str().as_bytes(),
            &[self.index, self.flag],
            self.version.as_bytes(),
            &self.data,
        ])
    }
}

/// A template without its bytes: what listings show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// The owner's PIN.
    pub user_id: String,
    /// Finger or face.
    pub kind: TemplateKind,
    /// Finger or face index.
    pub index: u8,
    /// Algorithm major version as text.
    pub version: String,
    /// The terminal's flag.
    pub flag: u8,
    /// Size of the bytes (0 in a tombstone).
    pub size: u64,
    /// When it was enrolled or last changed.
    pub updated_at: WallTime,
    /// A tombstone.
    pub deleted: bool,
    /// Its content hash (see [`Template::content_hash`]).
    pub hash: String,
}

/// What a template write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateWrite {
    /// Stored (new, or as new as or newer than the stored one).
    Stored,
    /// Ignored: the stored one is newer.
    Older,
    /// A delete of a template the list does not hold (or holds deleted).
    Missing,
}

/// SHA-256 (lowercase hex) of `parts`, each preceded by its length so
/// that no two different lists hash alike.
pub(super) fn content_hash(parts: &[&[u8]]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    hex
}

/// Templates' order in every read: fingers before faces ('finger' >
/// 'face'), then by index.
const BY_KIND_AND_INDEX: &str = "kind DESC, idx";

/// Columns read by [`template_from_row`].
const COLUMNS: &str = "user_id, kind, idx, version, flag, data, updated_at, deleted";

/// A kind column that is neither `finger` nor `face` (a row edited by hand).
fn kind_column(r: &Row<'_>, i: usize) -> rusqlite::Result<TemplateKind> {
    let text: String = r.get(i)?;
    TemplateKind::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("template kind {text:?} is neither finger nor face").into(),
        )
    })
}

/// Reads a row selected with [`COLUMNS`].
fn template_from_row(r: &Row<'_>) -> rusqlite::Result<Template> {
    Ok(Template {
        user_id: r.get(0)?,
        kind: kind_column(r, 1)?,
        index: r.get(2)?,
        version: r.get(3)?,
        flag: r.get(4)?,
        data: r.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
        updated_at: r.get(6)?,
        deleted: r.get(7)?,
    })
}

/// Reads a row of `SELECT user_id, kind, idx, version, flag, size, updated_at, deleted, hash`.
fn info_from_row(r: &Row<'_>) -> rusqlite::Result<TemplateInfo> {
    Ok(TemplateInfo {
        user_id: r.get(0)?,
        kind: kind_column(r, 1)?,
        index: r.get(2)?,
        version: r.get(3)?,
        flag: r.get(4)?,
        size: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
        updated_at: r.get(6)?,
        deleted: r.get(7)?,
        hash: r.get(8)?,
    })
}

/// Writes `t` inside `tx`: newest wins when `newest_wins` (a stored row
/// with a later `updated_at` stays), otherwise replaced as given (a
/// restore). Returns whether the row was written.
pub(super) fn write_template(
    tx: &Transaction<'_>,
    t: &Template,
    newest_wins: bool,
) -> rusqlite::Result<bool> {
    write_template_hashed(tx, t, &t.content_hash(), newest_wins)
}

/// [`write_template`] with `t`'s content hash already computed (hashing
/// a terminal's templates once, not once for each use).
pub(super) fn write_template_hashed(
    tx: &Transaction<'_>,
    t: &Template,
    hash: &str,
    newest_wins: bool,
) -> rusqlite::Result<bool> {
    // One statement text, with or without the guard (no text built per row).
    macro_rules! upsert {
        () => {
            "INSERT INTO templates
                 (user_id, kind, idx, version, flag, data, size, hash, updated_at, deleted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (user_id, kind, idx) DO UPDATE SET
                 version = excluded.version, flag = excluded.flag, data = excluded.data,
                 size = excluded.size, hash = excluded.hash,
                 updated_at = excluded.updated_at, deleted = excluded.deleted"
        };
    }
    const UPSERT: &str = upsert!();
    // ... unless the stored template is newer (equal times: the write wins).
    const UPSERT_NEWEST: &str = concat!(
        upsert!(),
        " WHERE excluded.updated_at >= templates.updated_at"
    );
    let sql = if newest_wins { UPSERT_NEWEST } else { UPSERT };
    let data = (!t.deleted).then_some(t.data.as_slice());
    let n = tx.prepare_cached(sql)?.execute(params![
        t.user_id,
        t.kind.as_str(),
        t.index,
        t.version,
        t.flag,
        data,
        i64::try_from(t.data.len()).unwrap_or(i64::MAX),
        hash,
        t.updated_at.to_string(),
        t.deleted,
    ])?;
    Ok(n > 0)
}

/// Turns every live template of `user_id` into a tombstone at `at`
/// (the person was deleted: their biometric data goes with them).
pub(super) fn tombstone_all_of(
    tx: &Transaction<'_>,
    user_id: &str,
    at: &str,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE templates SET data = NULL, size = 0, version = '', flag = 0,
             hash = ?3, updated_at = ?2, deleted = 1
         WHERE user_id = ?1 AND deleted = 0",
    )?
    .execute(params![user_id, at, DELETED_HASH])
}

/// Every template row (tombstones included), for an export.
pub(super) fn all_templates(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<Template>> {
    // Sorted here, not by SQLite, whose sorter would copy every
    // template's bytes (two thirds of the read's time for 6 000 of them).
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM templates"))?;
    let mut all = stmt
        .query_map([], template_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    all.sort_by(|a, b| {
        (
            a.user_id.len(),
            &a.user_id,
            std::cmp::Reverse(a.kind.as_str()),
            a.index,
        )
            .cmp(&(
                b.user_id.len(),
                &b.user_id,
                std::cmp::Reverse(b.kind.as_str()),
                b.index,
            ))
    });
    Ok(all)
}

impl Journal {
    /// Stores template `t` unless the stored one for its person, kind and
    /// index is newer (equal times: the write wins). A tombstone may be
    /// written like this too; [`Journal::delete_template`] makes one.
    pub fn put_template(&self, t: &Template) -> Result<TemplateWrite, JournalError> {
        self.check_time(t.updated_at)?;
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let written = write_template(&tx, t, true)?;
                tx.commit()?;
                Ok(if written {
                    TemplateWrite::Stored
                } else {
                    TemplateWrite::Older
                })
            },
            "storing a template",
        )
        .inspect(|_| self.announce_people())
    }

    /// Deletes a template through the API: a tombstone at `at` (newest
    /// wins, as for writes); `Missing` when there is no live template.
    pub fn delete_template(
        &self,
        user_id: &str,
        kind: TemplateKind,
        index: u8,
        at: WallTime,
    ) -> Result<TemplateWrite, JournalError> {
        self.check_time(at)?;
        let tombstone = Template::tombstone(user_id, kind, index, at);
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                let live: Option<bool> = tx
                    .query_row(
                        "SELECT deleted = 0 FROM templates
                         WHERE user_id = ?1 AND kind = ?2 AND idx = ?3",
                        params![user_id, kind.as_str(), index],
                        |r| r.get(0),
                    )
                    .optional()?;
                if live != Some(true) {
                    return Ok(TemplateWrite::Missing);
                }
                let written = write_template(&tx, &tombstone, true)?;
                tx.commit()?;
                Ok(if written {
                    TemplateWrite::Stored
                } else {
                    TemplateWrite::Older
                })
            },
            "deleting a template",
        )
        .inspect(|_| self.announce_people())
    }

    /// One template with its bytes (a tombstone too: see `deleted`).
    pub fn get_template(
        &self,
        user_id: &str,
        kind: TemplateKind,
        index: u8,
    ) -> Result<Option<Template>, JournalError> {
        self.read(
            |conn| {
                conn.query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM templates
                         WHERE user_id = ?1 AND kind = ?2 AND idx = ?3"
                    ),
                    params![user_id, kind.as_str(), index],
                    template_from_row,
                )
                .optional()
            },
            "reading a template",
        )
    }

    /// Every template of `user_id` without bytes, tombstones included
    /// (`deleted`): fingers, then faces, by index.
    pub fn list_templates(&self, user_id: &str) -> Result<Vec<TemplateInfo>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT user_id, kind, idx, version, flag, size, updated_at, deleted, hash
                     FROM templates WHERE user_id = ?1 ORDER BY {BY_KIND_AND_INDEX}"
                ))?;
                let rows = stmt.query_map([user_id], info_from_row)?;
                rows.collect()
            },
            "listing templates",
        )
    }

    /// The live templates of `user_id` with their bytes (what a terminal
    /// is given): fingers, then faces, by index.
    pub fn person_templates(&self, user_id: &str) -> Result<Vec<Template>, JournalError> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM templates
                     WHERE user_id = ?1 AND deleted = 0 ORDER BY {BY_KIND_AND_INDEX}"
                ))?;
                let rows = stmt.query_map([user_id], template_from_row)?;
                rows.collect()
            },
            "reading templates",
        )
    }
}
