//! Attendance workflows that span parts: clearing a terminal's log only
//! when nothing would be lost, and backfilling the journal from it.

use chrono::NaiveDateTime;

use super::{ReadError, Services};
use crate::journal::Journal;
use crate::ops::ClearOutcome;
use crate::registry::Device;
use crate::zk::LogPosition;

/// What clearing a pull terminal's log did.
#[derive(Debug)]
pub struct Cleared {
    /// Cleared, or why not.
    pub outcome: ClearOutcome,
    /// The position after the clear (the empty log's start).
    pub after: LogPosition,
    /// Punches the webhook had not delivered (why it was refused).
    pub behind: u32,
}

impl Services {
    /// Clears pull terminal `device`'s log at `position` when nothing is
    /// newer and its webhook delivered everything. A collected terminal's
    /// journal first gets everything up to there, so clearing loses nothing.
    pub fn clear_attendance(
        &self,
        device: &Device,
        position: &LogPosition,
    ) -> Result<Cleared, ReadError> {
        if let Some(collector) = self
            .collector
            .as_ref()
            .filter(|_| self.collect.collected(device))
        {
            collector.read_terminal(device)?;
        }
        let delivery = &self.delivery;
        let mut behind = 0;
        let (outcome, after) = self
            .terminals
            .clear_attendance(device, position, || {
                behind = delivery.undelivered(&device.id, position);
                behind == 0
            })
            .map_err(ReadError::Terminal)?;
        if let ClearOutcome::Cleared(_) = outcome {
            delivery.log_cleared(&device.id, position, &after);
            self.live.log_cleared(&device.id, position, &after);
        }
        Ok(Cleared {
            outcome,
            after,
            behind,
        })
    }

    /// How many of push terminal `id`'s journal punches its webhook has not
    /// delivered, when it is behind `newest` (the journal's newest for it).
    pub fn webhook_behind_journal(
        &self,
        id: &str,
        newest: Option<i64>,
        journal: &Journal,
    ) -> Option<u32> {
        (!self.delivery.caught_up_journal(id, newest))
            .then(|| self.delivery.undelivered_journal(id, journal))
    }

    /// Reads pull terminal `device`'s log and stores its punches from
    /// `from` to `to` in `journal`: how many were read in that range and
    /// how many were new.
    pub fn backfill_from_terminal(
        &self,
        device: &Device,
        journal: &Journal,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<(usize, usize), ReadError> {
        let log = self
            .terminals
            .attendance(device)
            .map_err(ReadError::Terminal)?;
        let records: Vec<crate::zk::Attendance> = log
            .records
            .iter()
            .filter(|r| r.time.to_naive().is_some_and(|t| from <= t && t <= to))
            .cloned()
            .collect();
        let outcome = crate::collect::run::store(journal, &device.id, &records)
            .map_err(ReadError::Journal)?;
        log::info!(
            "device {}: backfill {from}..{to}: {} read, {} new",
            device.id,
            records.len(),
            outcome.stored
        );
        Ok((records.len(), outcome.stored))
    }
}
