//! The devices file on disk: read at start, written atomically after
//! each change, never written in a form the next start would refuse;
//! I/O errors in Spanish.

use std::path::Path;

use super::devices_file::parse_devices;
use super::WriteError;

/// `text` without a leading UTF-8 byte order mark (Windows Notepad writes
/// one): JSON and key files saved on Windows are read like any other.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Refuses to write a devices file the next start would refuse (the
/// server must always start on a file it wrote itself): nothing changes.
pub(super) fn check_loadable(path: &Path, text: &str) -> Result<(), WriteError> {
    parse_devices(text).map(drop).map_err(|e| {
        log::error!(
            "{}: change not saved, the file would not load at the next start: {e}",
            path.display()
        );
        WriteError::Invalid(format!(
            "No se guardó el cambio: {} no podría leerse al iniciar zkserver ({e})",
            path.display()
        ))
    })
}

/// An I/O error in Spanish (the OS's text is English), for startup errors
/// that must not mix languages; the system's code stays for searching.
pub fn io_error_es(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let what = match e.kind() {
        K::NotFound => "no existe",
        K::PermissionDenied => "permiso denegado",
        K::InvalidData => "el archivo no es texto UTF-8",
        K::IsADirectory => "es una carpeta, no un archivo",
        K::AddrInUse => "la dirección ya está en uso",
        K::AddrNotAvailable => "la dirección no pertenece a esta máquina",
        K::InvalidInput => "dirección no válida",
        _ if e.to_string().starts_with("failed to lookup address") => {
            "no se pudo resolver el nombre de host"
        }
        _ => "error de entrada/salida",
    };
    match e.raw_os_error() {
        Some(code) => format!("{what} (código del sistema {code})"),
        None => what.to_string(),
    }
}

/// [`io_error_es`] for a file that could not be read, naming a folder
/// given for the file as such (Windows answers "access denied" there).
pub(super) fn read_error_es(path: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied && path.is_dir() {
        let what = io_error_es(&std::io::Error::from(std::io::ErrorKind::IsADirectory));
        match e.raw_os_error() {
            Some(code) => format!("{what} (código del sistema {code})"),
            None => what,
        }
    } else {
        io_error_es(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn load_errors_name_the_file_and_leave_it_alone() {
        let dir = std::env::temp_dir().join(format!("zkserver-reg-dup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("devices.json");
        let text = "{\"x\": {\"ip\": \"10.0.0.1\"},\n \"x\": {\"ip\": \"10.0.0.2\"}}";
        std::fs::write(&path, text).unwrap();
        let err = Registry::load(&path).unwrap_err();
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
        let err = Registry::load(&dir.join("devices.json")).unwrap_err();
        let code = if cfg!(windows) { 5 } else { 21 };
        assert!(
            err.contains(&format!(
                "es una carpeta, no un archivo (código del sistema {code})"
            )),
            "{err}"
        );
        std::fs::write(dir.join("latin1.json"), b"{\"a\xf1\": 1}").unwrap();
        let err = Registry::load(&dir.join("latin1.json")).unwrap_err();
        assert!(err.ends_with("el archivo no es texto UTF-8"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_is_empty() {
        let reg = Registry::load(Path::new("/nonexistent/zkserver/devices.json")).unwrap();
        assert!(reg.all().is_empty());
    }
}
