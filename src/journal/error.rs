//! The journal's typed errors. Every variant names the database file so the
//! admin's log line says which file is at fault.

use std::fmt;
use std::path::PathBuf;

/// Why the journal could not be opened or written.
#[derive(Debug)]
pub enum JournalError {
    /// The file exists but is not an SQLite database (garbage, truncated header).
    NotADatabase {
        /// The journal file.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },
    /// The file is an SQLite database that belongs to another application.
    Foreign {
        /// The journal file.
        path: PathBuf,
        /// Some of the tables found in it.
        tables: Vec<String>,
    },
    /// The journal was written by a newer zkserver (unknown schema version).
    NewerVersion {
        /// The journal file.
        path: PathBuf,
        /// Schema version found in the file.
        found: i64,
        /// Newest schema version this build knows.
        supported: i64,
    },
    /// A punch with a time that cannot be stored as `YYYY-MM-DD HH:MM:SS`.
    InvalidTime {
        /// The journal file.
        path: PathBuf,
        /// The offending time, as chrono prints it.
        time: String,
    },
    /// SQLite failed (open, I/O, disk full, locked…).
    Sqlite {
        /// The journal file.
        path: PathBuf,
        /// What the journal was doing.
        action: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::NotADatabase { path, detail } => write!(
                f,
                "journal file {} is not an SQLite database ({detail}); it was left untouched",
                path.display()
            ),
            JournalError::Foreign { path, tables } => write!(
                f,
                "journal file {} is an SQLite database of another application (tables: {}); it was left untouched",
                path.display(),
                tables.join(", ")
            ),
            JournalError::NewerVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "journal file {} has schema version {found}, newer than the {supported} this zkserver knows; it was left untouched",
                path.display()
            ),
            JournalError::InvalidTime { path, time } => write!(
                f,
                "journal {}: punch time {time} cannot be stored (year outside 0001-9999)",
                path.display()
            ),
            JournalError::Sqlite {
                path,
                action,
                source,
            } => write!(f, "journal {}: {action} failed: {source}", path.display()),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Sqlite { source, .. } => Some(source),
            _ => None,
        }
    }
}
