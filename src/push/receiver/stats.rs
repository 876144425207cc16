//! Counters of the push receiver for `/metrics`: uploads, ATTLOG lines
//! stored / already stored / rejected, failed journal writes and the last
//! commit's latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// The receiver's counters (process-wide).
#[derive(Debug, Default)]
pub struct PushStats {
    uploads: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    journal_failures: AtomicU64,
    last_commit_us: AtomicU64,
}

/// The process-wide counters.
pub fn global() -> &'static PushStats {
    static STATS: OnceLock<PushStats> = OnceLock::new();
    STATS.get_or_init(PushStats::default)
}

impl PushStats {
    /// The process-wide counters.
    pub fn global() -> &'static PushStats {
        global()
    }

    pub(super) fn upload(&self) {
        self.uploads.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn rejected(&self, n: usize) {
        self.rejected.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn journal_failure(&self) {
        self.journal_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn committed(&self, stored: usize, duplicates: usize, took: Duration) {
        self.stored.fetch_add(stored as u64, Ordering::Relaxed);
        self.duplicates
            .fetch_add(duplicates as u64, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.last_commit_us.store(us, Ordering::Relaxed);
    }

    /// Renders the counters in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        use crate::metrics::{family, line};
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counters: [(&str, &str, u64); 5] = [
            (
                "zkserver_push_uploads_total",
                "Uploads (POST /iclock/cdata) received from push terminals.",
                get(&self.uploads),
            ),
            (
                "zkserver_push_lines_stored_total",
                "ATTLOG lines stored in the journal (new punches).",
                get(&self.stored),
            ),
            (
                "zkserver_push_lines_duplicate_total",
                "ATTLOG lines already in the journal (sent again).",
                get(&self.duplicates),
            ),
            (
                "zkserver_push_lines_rejected_total",
                "ATTLOG lines skipped because they did not parse.",
                get(&self.rejected),
            ),
            (
                "zkserver_push_journal_failures_total",
                "Push requests answered 503 because the journal could not be written.",
                get(&self.journal_failures),
            ),
        ];
        for (name, help, v) in counters {
            let n = family(out, name, "counter", help);
            line(out, format_args!("{n} {v}"));
        }
        let n = family(
            out,
            "zkserver_push_last_commit_seconds",
            "gauge",
            "Time the last ATTLOG upload's journal commit took.",
        );
        line(
            out,
            format_args!("{n} {}", get(&self.last_commit_us) as f64 / 1e6),
        );
    }
}
