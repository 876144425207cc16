//! Reports computed from the journal, never from a terminal: the working
//! day of each person (day sheets, months) and who is inside now. Pure
//! functions over typed times; the journal query that feeds a period is
//! [`crate::journal::Journal::punches_between`].
//!
//! Times are each terminal's local wall clock, as the journal stores them:
//! a punch belongs to the workday its own terminal's clock says, and
//! schedules are compared with that clock. Order and durations use each
//! terminal's UTC offset, so a day that crosses two time zones still
//! counts the minutes that passed.

pub mod day;
pub mod export;
pub mod month;
pub mod presence;
pub mod rules;
pub mod source;
pub mod workday;
pub mod xlsx;
