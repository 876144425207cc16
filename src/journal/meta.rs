//! Facts the journal records about itself (`meta`): the site name its
//! punches were delivered to PostgreSQL under.

use rusqlite::OptionalExtension;

use super::{Journal, JournalError};

/// The `meta` key of the delivered site's name.
const SITE: &str = "postgres_site";

impl Journal {
    /// The site this journal's punches were delivered to PostgreSQL as
    /// (`None`: never delivered, or delivered by a zkserver that did not
    /// record it).
    pub fn recorded_site(&self) -> Result<Option<String>, JournalError> {
        self.read(
            |conn| {
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [SITE], |r| {
                    r.get(0)
                })
                .optional()
            },
            "reading the delivered site",
        )
    }

    /// Records `site` as the name this journal is delivered as.
    pub fn record_site(&self, site: &str) -> Result<(), JournalError> {
        self.write(
            |conn| {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [SITE, site],
                )
                .map(drop)
            },
            "recording the delivered site",
        )
    }
}
