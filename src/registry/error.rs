//! Why the registry refused something, as values: the one Spanish
//! catalogue (`messages::registry`) turns each into the text users read,
//! and `Display` writes that text.

use std::fmt;
use std::path::PathBuf;

use super::json_syntax::JsonSyntax;
use super::strict_json::JsonKind;
use crate::messages::registry as text;

/// A device setting that was refused; each names its field.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingError {
    /// A shared field reader (`fields`) refused the field.
    Field(crate::fields::FieldError),
    /// `webhook` or `push_forward` is not a URL zkserver can send to.
    Url {
        /// The field: `webhook` or `push_forward`.
        field: &'static str,
        /// Why the URL was refused.
        error: crate::url::UrlError,
    },
    /// `name` empty or longer than 100 characters.
    NameLength,
    /// `ip` is neither an IP address nor a host name.
    Host(String),
    /// `encoding` is none of the known ones.
    Encoding(String),
    /// `mode` is neither `pull` nor `push`.
    Mode(String),
    /// `sn` is not 1–64 letters, digits, `-` or `_`.
    Serial(String),
    /// `timezone` is not a UTC offset.
    Timezone(String),
    /// `push_key` too long or with spaces or controls.
    PushKey,
    /// `allow_from` is not a list of texts.
    AllowFromShape,
    /// `allow_from` holds more than `MAX_ALLOW_FROM` entries.
    AllowFromTooMany,
    /// An `allow_from` entry that is no address nor network.
    AllowFromEntry(String),
    /// `area` empty, longer than `MAX_AREA` characters, with controls, or `*`.
    Area(String),
    /// A pull terminal without `ip`.
    MissingIp,
    /// A push terminal without `sn`.
    MissingSn,
}

impl From<crate::fields::FieldError> for SettingError {
    fn from(error: crate::fields::FieldError) -> SettingError {
        SettingError::Field(error)
    }
}

/// A device id that is not 1–64 characters `a-z`, `0-9`, `_`, `-` even
/// once normalised: the id as given (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(pub String);

/// Why the devices file's text cannot be read as devices.
#[derive(Debug, Clone, PartialEq)]
pub enum DevicesFileError {
    /// Not JSON: where, and what was found there (`None`: a syntax error
    /// of no known kind).
    Json {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// What is wrong there.
        syntax: Option<JsonSyntax>,
    },
    /// An id written twice.
    DuplicateId(String),
    /// A field written twice inside a device's entry.
    DuplicateField {
        /// The device's id.
        device: String,
        /// The field.
        key: String,
    },
    /// The top level is not an object.
    NotAnObject(JsonKind),
    /// A device's entry is not an object.
    EntryNotObject(String),
    /// An id that the API would write otherwise (`Entrada Principal`).
    IdNotNormal {
        /// The id as written.
        id: String,
        /// Its normal form.
        normal: String,
    },
    /// An id that has no normal form (`ñandú`, empty).
    IdInvalid(String),
    /// A device's setting is refused.
    Entry {
        /// The device's id.
        id: String,
        /// The setting refused.
        error: SettingError,
    },
    /// Two push devices with one serial number.
    SerialTwice {
        /// The serial number.
        sn: String,
        /// The first device that has it.
        first: String,
        /// The second one.
        second: String,
    },
}

/// Why the devices file could not be loaded at start.
#[derive(Debug)]
pub enum LoadError {
    /// The file exists but could not be read.
    Read {
        /// The devices file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// The file was read but its contents are refused.
    File {
        /// The devices file.
        path: PathBuf,
        /// What is wrong in it.
        error: DevicesFileError,
    },
}

/// Why a registry change was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteError {
    /// The id is taken.
    Exists(String),
    /// No device has this id.
    NotFound(String),
    /// The requested change is invalid (names the field).
    Invalid(SettingError),
    /// The file after the change would not load at the next start
    /// (nothing changed).
    NotLoadable {
        /// The devices file.
        path: PathBuf,
        /// Why the next start would refuse it.
        error: DevicesFileError,
    },
    /// The devices file could not be written (nothing changed).
    Io {
        /// The devices file.
        path: PathBuf,
        /// What the system said.
        error: crate::zk::error::IoError,
    },
    /// Another device (`holder`) already has this push serial number.
    SerialTaken {
        /// The serial number.
        sn: String,
        /// The device that has it.
        holder: String,
    },
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&text::setting(self))
    }
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&text::invalid_id(self))
    }
}

impl fmt::Display for DevicesFileError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&text::devices_file(self))
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&text::load(self))
    }
}

impl std::error::Error for SettingError {}
impl std::error::Error for InvalidId {}
impl std::error::Error for DevicesFileError {}
impl std::error::Error for LoadError {}

/// Startup reports its errors as text (`main` returns `Result<_, String>`).
impl From<LoadError> for String {
    fn from(error: LoadError) -> String {
        error.to_string()
    }
}
