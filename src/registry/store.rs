//! The devices file on disk: read at start, written atomically after
//! each change, never written in a form the next start would refuse.

use std::path::Path;

use super::device::DeviceConfig;
use super::devices_file::{parse_devices, to_file_text};
use super::error::{LoadError, WriteError};
use super::Devices;

/// `text` without a leading UTF-8 byte order mark (Windows Notepad writes
/// one): JSON and key files saved on Windows are read like any other.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The devices file's entries; a missing file has none.
pub(super) fn read(path: &Path) -> Result<Vec<(String, DeviceConfig)>, LoadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::from("{}"),
        Err(error) => {
            return Err(LoadError::Read {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    // Windows Notepad saves UTF-8 with a byte order mark.
    parse_devices(without_bom(&text)).map_err(|error| LoadError::File {
        path: path.to_path_buf(),
        error,
    })
}

/// Writes `devices` to the file atomically (all or nothing), unless the
/// next start would refuse the result.
pub(super) fn write(path: &Path, devices: &Devices) -> Result<(), WriteError> {
    let text = to_file_text(devices);
    check_loadable(path, &text)?;
    crate::atomic_file::write(path, text.as_bytes(), 0o600).map_err(|e| {
        log::error!("could not write {}: {e}", path.display());
        WriteError::Io {
            path: path.to_path_buf(),
            error: e.into(),
        }
    })
}

/// Refuses to write a devices file the next start would refuse (the
/// server must always start on a file it wrote itself): nothing changes.
fn check_loadable(path: &Path, text: &str) -> Result<(), WriteError> {
    parse_devices(text).map(drop).map_err(|error| {
        log::error!(
            "{}: change not saved, the file would not load at the next start: {error}",
            path.display()
        );
        WriteError::NotLoadable {
            path: path.to_path_buf(),
            error,
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::registry::Registry;
    use std::path::Path;

    #[test]
    fn load_errors_name_the_file_and_leave_it_alone() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        let text = "{\"x\": {\"ip\": \"10.0.0.1\"},\n \"x\": {\"ip\": \"10.0.0.2\"}}";
        std::fs::write(&path, text).unwrap();
        let err = Registry::load(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(
            err.contains("'x'") && err.contains("no se modificó"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Windows Notepad saves UTF-8 with a byte order mark: it is read.
    #[test]
    fn a_devices_file_saved_with_a_bom_is_read() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-bom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        let text = "\u{feff}{\"entrada\": {\"ip\": \"10.0.0.1\", \"name\": \"Entrada\"}}\r\n";
        std::fs::write(&path, text).unwrap();
        let reg = Registry::load(&path).unwrap();
        assert_eq!(reg.ids(), vec!["entrada".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_errors_are_spanish() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-dir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("devices.json")).unwrap();
        let err = Registry::load(&dir.join("devices.json"))
            .unwrap_err()
            .to_string();
        let code = if cfg!(windows) { 5 } else { 21 };
        assert!(
            err.contains(&format!(
                "es una carpeta, no un archivo (código del sistema {code})"
            )),
            "{err}"
        );
        std::fs::write(dir.join("latin1.json"), b"{\"a\xf1\": 1}").unwrap();
        let err = Registry::load(&dir.join("latin1.json"))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("el archivo no es texto UTF-8"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_is_empty() {
        let reg = Registry::load(Path::new("/nonexistent/zkserver/devices.json")).unwrap();
        assert!(reg.all().is_empty());
    }
}
