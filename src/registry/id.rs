//! Device ids: one normal form for the registry API and the devices file.

use super::error::{DevicesFileError, InvalidId};

/// The rule for device ids, shared by the registry API and the devices
/// file: trimmed, lower-cased, spaces to `_`; then `[a-z0-9_-]{1,64}`.
pub fn normalize_id(raw: &str) -> Result<String, InvalidId> {
    let id: String = raw
        .trim()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_");
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(InvalidId(raw.trim().to_string()))
    }
}

/// An id in the devices file must already be in normal form, the only form
/// the registry API creates: `Entrada Principal` would need escaping in
/// every URL, and `POST /devices` with that name would make a second
/// terminal `entrada_principal` beside it.
pub(super) fn check_file_id(id: &str) -> Result<(), DevicesFileError> {
    match normalize_id(id) {
        Ok(normal) if normal == id => Ok(()),
        Ok(normal) => Err(DevicesFileError::IdNotNormal {
            id: id.to_string(),
            normal,
        }),
        Err(_) => Err(DevicesFileError::IdInvalid(id.to_string())),
    }
}
