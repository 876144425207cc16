//! What the server says when its flags do not make a configuration
//! ([`ConfigError`]), and URLs that cannot be used ([`UrlError`]).

use crate::config::{ConfigError, SecretFile, StartupError, UrlFlag};
use crate::registry::io_error_es;
use crate::url::UrlError;

/// A bad `--day-start` or `--double-punch`, naming the flag.
fn workday_error(e: &crate::reports::rules::RuleError) -> String {
    let flag = match e {
        crate::reports::rules::RuleError::DoublePunch(_) => "--double-punch",
        _ => "--day-start",
    };
    format!("{flag}: {}", super::reports::rule_error(e))
}

/// The startup error for `e`: the flag, what is wrong and what to use.
pub fn config_error(e: &ConfigError) -> String {
    match e {
        ConfigError::PushPortIsPort(port) => format!(
            "--push-port ({port}) es igual a --port ({port}): use otro puerto para los terminales push, o quite --push-port (los terminales también pueden usar --port)"
        ),
        ConfigError::Seconds { flag, value } => format!("--{flag} inválido: {value}"),
        ConfigError::Unreadable { file, path, error } => format!(
            "no se pudo leer {} de {}: {}",
            secret_file(*file),
            path.display(),
            io_error_es(error)
        ),
        ConfigError::EmptyApiKeyFile(path) => {
            format!("el archivo de clave API {} está vacío", path.display())
        }
        ConfigError::ShortApiKey => "la clave API debe tener al menos 8 caracteres".into(),
        ConfigError::ProtectReadsWithoutKey => {
            "--protect-reads requiere una clave API (--api-key-file o API_KEY)".into()
        }
        ConfigError::RenameWithoutPostgres => {
            "--rename-site-from requiere --postgres (o POSTGRES_URL)".into()
        }
        ConfigError::Postgres(e) => format!("--postgres: {}", super::postgres::target_error(e)),
        ConfigError::SiteName { flag, name } => format!(
            "{flag} inválido: '{}' (un nombre de 1 a 100 caracteres)",
            name.escape_debug()
        ),
        ConfigError::PushUnknown(value) => {
            format!("--push-unknown inválido: '{value}'. Use pending o reject.")
        }
        ConfigError::Workday(e) => workday_error(e),
        ConfigError::PushDelay(delay) => {
            format!("--push-delay inválido: {delay} (use de 1 a 3600 segundos)")
        }
        ConfigError::PushAllowFrom(text) => format!(
            "--push-allow-from '{text}' no es una dirección IP ni una red (ej. 203.0.113.7, 10.2.0.0/16)."
        ),
        ConfigError::TrustedProxy(text) => format!(
            "--trusted-proxy '{text}' no es una dirección IP ni una red (ej. 127.0.0.1, 10.0.0.0/8, ::1)"
        ),
        ConfigError::Url {
            flag: UrlFlag::Webhook,
            error,
        } => format!("--webhook: {}", bad_url_field("webhook", *error)),
        ConfigError::Url {
            flag: UrlFlag::PushForward,
            error,
        } => format!("--push-forward: URL inválida: {}", url_detail(*error)),
    }
}

/// Why the server did not start.
pub fn startup_error(e: &StartupError) -> String {
    match e {
        StartupError::Config(e) => config_error(e),
        StartupError::Demo(error) => {
            format!("no se pudo iniciar el modo demo: {}", io_error_es(error))
        }
        // The simulator's words, as they were always shown.
        StartupError::DemoPush(error) => {
            format!("no se pudo iniciar el terminal push de la demo: {error}")
        }
        StartupError::Devices(error) => error.to_string(),
        StartupError::JournalFolder { path, error } => format!(
            "no se pudo crear la carpeta del diario {}: {}",
            path.display(),
            io_error_es(error)
        ),
        StartupError::JournalLocked(e) => super::journal_locked(e),
        StartupError::JournalNotOpened(e) => super::journal_not_opened(e),
        StartupError::Bind(e) => super::server::bind_error(e),
    }
}

/// What a file named by a flag holds, after "no se pudo leer".
fn secret_file(file: SecretFile) -> &'static str {
    match file {
        SecretFile::ApiKey => "la clave API",
        SecretFile::PostgresUrl => "la URL de PostgreSQL",
    }
}

/// A URL field of the devices file (`webhook`, `push_forward`) refused.
pub fn bad_url_field(field: &str, e: UrlError) -> String {
    format!("Campo '{field}' inválido: {}", url_detail(e))
}

/// What is wrong with a URL, and what to use.
fn url_detail(e: UrlError) -> &'static str {
    match e {
        UrlError::NoHost => "la URL no tiene un host válido.",
        UrlError::NoTls => {
            "este binario no incluye TLS; use una URL http:// (por ejemplo, un proxy local)."
        }
        UrlError::NotHttp => "use una URL http:// o https://.",
    }
}
