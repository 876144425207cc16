//! A journal in a fresh folder of its own, removed on drop: for tests that
//! drive the staff list's code directly (no server).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use zkserver::journal::Journal;

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A journal in a fresh folder (removed on drop).
pub struct Store {
    /// Its folder (other files of a test may go there too).
    pub dir: PathBuf,
    /// The journal.
    pub journal: Journal,
}

impl Store {
    /// A new journal in `zkserver-<name>-<pid>-<n>` under the temp folder.
    pub fn new(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!(
            "zkserver-{name}-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = Journal::open(dir.join("journal.db")).unwrap();
        Store { dir, journal }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
