//! A pull terminal's import into the staff list, stored in one
//! transaction: the people and templates that are new or changed, what
//! the terminal now counts as given (its people's states and template
//! hashes), the mark that it was imported and its counters. A crash
//! leaves either all of it or none (never people listed as on a terminal
//! that is not marked imported). Each template's content hash is computed
//! once by the caller and used for the row and for the terminal's record.

use super::people::{stored_times, write_person};
use super::people_sync::{put_sync_states, put_templates_sent};
use super::people_terminals::{mark_imported, put_counters};
use super::templates::write_template_hashed;
use super::{Journal, JournalError, Person, SyncCounters, SyncRow, Template, TemplateSent};

/// What one import from a pull terminal stores.
#[derive(Debug, Default)]
pub struct TerminalImport {
    /// The terminal's device id.
    pub device: String,
    /// People new to the list or changed (replace their rows as given).
    pub people: Vec<Person>,
    /// Templates new to the list or changed, each with its content hash
    /// ([`Template::content_hash`]).
    pub templates: Vec<(Template, String)>,
    /// The states of the terminal's people on it.
    pub rows: Vec<SyncRow>,
    /// The templates the terminal now counts as given.
    pub sent: Vec<TemplateSent>,
    /// The terminal's counters and version as read.
    pub counters: Option<SyncCounters>,
}

impl Journal {
    /// Stores `import` in one transaction (see the module's doc).
    pub fn store_terminal_import(&self, import: &TerminalImport) -> Result<(), JournalError> {
        let times = stored_times(&import.people)
            .chain(import.templates.iter().map(|(t, _)| t.updated_at))
            .chain(import.rows.iter().map(|r| r.synced_at))
            .chain(import.sent.iter().map(|t| t.written_at));
        for t in times {
            self.check_time(t)?;
        }
        let stored = self.write(
            |conn| {
                let tx = conn.transaction()?;
                for person in &import.people {
                    write_person(&tx, person)?;
                }
                for (template, hash) in &import.templates {
                    write_template_hashed(&tx, template, hash, false)?;
                }
                put_sync_states(&tx, &import.rows)?;
                put_templates_sent(&tx, &import.sent, &[])?;
                mark_imported(&tx, &import.device)?;
                put_counters(&tx, &import.device, import.counters)?;
                tx.commit()
            },
            "storing an import from a terminal",
        );
        if !import.people.is_empty() || !import.templates.is_empty() {
            self.names.forget();
            if stored.is_ok() {
                self.announce_people();
            }
        }
        stored
    }
}
