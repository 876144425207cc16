//! Crash-safe file replacement: write a temporary file beside the target,
//! fsync it, rename it over the target, fsync the directory. Readers see the
//! old content or the new one, never a mix.
//!
//! On Unix the file gets the given mode (0600 for the devices file, which
//! holds terminal passwords). On Windows the mode is ignored: the rename is
//! `MoveFileExW` with `MOVEFILE_REPLACE_EXISTING` (what `std::fs::rename`
//! does there), and the file inherits the ACL of its folder —
//! `%ProgramData%\zkserver` for the service, which the service restricts
//! to SYSTEM and Administrators when it starts. A folder cannot
//! be opened to be flushed on Windows, so the rename's durability is left to
//! NTFS's journal.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes`, creating it with permissions `mode`
/// (Unix; on Windows the folder's inherited ACL applies).
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        private_mode(&mut options, mode);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates the file with `mode` (Unix permissions).
#[cfg(unix)]
fn private_mode(options: &mut OpenOptions, mode: u32) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(mode);
}

/// Windows has no mode bits: the new file inherits its folder's ACL.
#[cfg(not(unix))]
fn private_mode(_options: &mut OpenOptions, _mode: u32) {}

/// Makes a rename in `dir` durable (fsync of the folder).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Folders cannot be opened as files on Windows; NTFS journals the rename.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Removes temporary files an interrupted `write` of `path` left behind
/// (a crash between creating and renaming them).
pub fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            match fs::remove_file(entry.path()) {
                Ok(()) => log::info!("removed stale temporary file {}", entry.path().display()),
                Err(e) => log::warn!("could not remove {}: {e}", entry.path().display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_with_private_mode_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("zkserver-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        fs::write(&path, "old").unwrap();
        write(&path, b"{\"new\": 1}", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"new\": 1}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(write(&dir.join("missing/x.json"), b"x", 0o600).is_err());
        fs::write(dir.join(".devices.json.tmp-1-2"), "half").unwrap();
        fs::write(dir.join("other.json"), "keep").unwrap();
        remove_stale_temps(&path);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["devices.json", "other.json"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
