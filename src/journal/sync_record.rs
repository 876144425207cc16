//! What one sync of a pull terminal stores, in one transaction: the
//! states of its people that changed, the template hashes it now holds
//! (and those it no longer holds), its counters for the next quick check
//! and its state as `GET /people/sync` shows it. A crash leaves either
//! the whole record or the one before it, never counters that claim
//! writes whose hashes were not kept.

use super::people_sync::{put_sync_states, put_templates_sent};
use super::people_terminals::{put_counters, put_state};
use super::{Journal, JournalError, SyncCounters, SyncRow, TemplateKind, TemplateSent};

/// What one sync of a terminal stores.
#[derive(Debug, Default)]
pub struct SyncRecord {
    /// The terminal's device id.
    pub device: String,
    /// People whose state or hash on the terminal changed.
    pub rows: Vec<SyncRow>,
    /// Templates written (or found) with a new hash.
    pub written: Vec<TemplateSent>,
    /// Templates the terminal no longer holds (device, person, kind, index).
    pub removed: Vec<(String, String, TemplateKind, u8)>,
    /// The counters read after the writes (`None` forgets them: the next
    /// sync reads the terminal in full).
    pub counters: Option<SyncCounters>,
    /// The terminal's state as the API shows it (JSON text).
    pub state: String,
}

impl Journal {
    /// Stores `record` in one transaction (see the module's doc).
    pub fn store_sync_record(&self, record: &SyncRecord) -> Result<(), JournalError> {
        let times = record.rows.iter().map(|r| r.synced_at);
        for t in times.chain(record.written.iter().map(|t| t.written_at)) {
            self.check_time(t)?;
        }
        self.write(
            |conn| {
                let tx = conn.transaction()?;
                put_sync_states(&tx, &record.rows)?;
                put_templates_sent(&tx, &record.written, &record.removed)?;
                put_counters(&tx, &record.device, record.counters)?;
                put_state(&tx, &record.device, &record.state)?;
                tx.commit()
            },
            "storing a sync's record",
        )
    }
}
