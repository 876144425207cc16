//! One zkserver per journal: a running server holds an exclusive OS lock
//! on `<journal>.lock` (`flock` on Unix, `LockFileEx` on Windows, through
//! `std::fs::File::try_lock`). A second server started on the same journal
//! (systemd's and one by hand) is refused at start, naming the file. The
//! operating system drops the lock when the holder ends, even by SIGKILL
//! or a crash, so a stale lock file never blocks a restart.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the journal's lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process (another zkserver) holds it.
    Held {
        /// The journal file.
        journal: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The holder's process id, when it could be read.
        pid: Option<u32>,
    },
    /// The lock file could not be created, opened or locked.
    Io {
        /// The lock file.
        lock: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { journal, lock, pid } => {
                write!(
                    f,
                    "journal {} is in use by another zkserver (lock {} held",
                    journal.display(),
                    lock.display()
                )?;
                match pid {
                    Some(pid) => write!(f, " by process {pid})"),
                    None => write!(f, ")"),
                }
            }
            LockError::Io { lock, source } => {
                write!(f, "cannot lock {}: {source}", lock.display())
            }
        }
    }
}

impl std::error::Error for LockError {}

/// The lock file of `journal`: `<journal>.lock` beside it.
pub fn lock_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive hold on a journal; released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct JournalLock {
    file: File,
    path: PathBuf,
}

impl JournalLock {
    /// Takes the lock of `journal` without waiting; `Held` when another
    /// process holds it. Our process id is written into the file for the
    /// admin (informative only: the OS lock is what counts).
    pub fn acquire(journal: &Path) -> Result<JournalLock, LockError> {
        let path = lock_path(journal);
        let io = |source| LockError::Io {
            lock: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    journal: journal.to_path_buf(),
                    pid: holder_pid(&mut file),
                    lock: path,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(JournalLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for JournalLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlock explicitly first
        // so it is released even while another handle keeps the file open.
        let _ = self.file.unlock();
    }
}

/// The process id written in a lock file (unreadable on Windows while
/// the holder keeps its region locked: then none).
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_journal_is_refused_until_its_holder_lets_go() {
        let dir = std::env::temp_dir().join(format!("zkserver-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let journal = dir.join("punches.db");
        let held = JournalLock::acquire(&journal).expect("first hold");
        assert_eq!(held.path(), dir.join("punches.db.lock"));
        // A second open of the file (as another process would) is refused.
        let err = JournalLock::acquire(&journal).expect_err("second hold refused");
        match &err {
            LockError::Held { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("punches.db"), "{err}");
        drop(held);
        let again = JournalLock::acquire(&journal).expect("free again");
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
