//! What the command-line tools (`simulate`, `probe`) say when they stop.
//! `probe` speaks English like the rest of its report (it is for whoever
//! installs a terminal, reading it beside the terminal's own English).

use crate::cli::{CliError, ProbeStep};

/// The sentence for a tool's error.
pub fn cli_error(e: &CliError) -> String {
    match e {
        CliError::Signals(detail) => signals(detail),
        CliError::BadAddress { host, port } => {
            format!("dirección inválida {host}:{port}: use una IP y un puerto")
        }
        CliError::Simulator { bind, error } => format!(
            "no se pudo iniciar el simulador en {bind}: {}",
            crate::registry::io_error_es(error)
        ),
        CliError::BadSerial(sn) => format!("--sn inválido: '{sn}'. Use letras, dígitos, - o _."),
        CliError::BadPushServer(server) => {
            format!("--push inválido: '{server}'. Use http://host:puerto.")
        }
        // The simulator's words, as they were always shown.
        CliError::PushSimulator(error) => {
            format!("no se pudo iniciar el terminal push: {error}")
        }
        CliError::Probe { step, error } => format!("{}: {error}", probe_step(*step)),
    }
}

/// The handler of stop signals could not be installed.
#[cfg(unix)]
fn signals(detail: &str) -> String {
    format!("no se pudo instalar el manejador de señales: {detail}")
}

/// The handler of Ctrl+C could not be installed.
#[cfg(windows)]
fn signals(detail: &str) -> String {
    format!("no se pudo instalar el manejador de Ctrl+C: {detail}")
}

/// What failed, as `probe` reports it.
fn probe_step(step: ProbeStep) -> &'static str {
    match step {
        ProbeStep::Connect => "connect failed",
        ProbeStep::Disable => "disable failed",
        ProbeStep::Enable => "re-enable failed",
        ProbeStep::Exit => "exit failed",
        ProbeStep::RegisterEvents => "the terminal refused realtime events",
        ProbeStep::Watch => "the link to the terminal failed",
    }
}

/// What a value of `simulate`'s own flags may be (clap shows it after the
/// value it refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choices {
    /// `--att-format`.
    AttendanceSizes,
    /// `--user-format`.
    UserSizes,
    /// `--offsets`.
    OffsetModes,
}

impl std::fmt::Display for Choices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Choices::AttendanceSizes => "use 8, 16, 40 o 49",
            Choices::UserSizes => "use 28 o 72",
            Choices::OffsetModes => "use exact, refuse o round-down",
        })
    }
}

impl std::error::Error for Choices {}

/// What `zkserver service …` says outside Windows (exit code 2).
pub const SERVICE_NOT_WINDOWS: &str =
    "el servicio de Windows solo existe en Windows; en Linux use systemd (zkserver.service)";

/// What `zkserver service` without an action says.
pub const SERVICE_MISSING_ACTION: &str =
    "falta la acción: zkserver service install|uninstall|start|stop|status";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_errors_keep_their_words() {
        let bad = CliError::BadAddress {
            host: "nohost".into(),
            port: 4370,
        };
        assert_eq!(
            cli_error(&bad),
            "dirección inválida nohost:4370: use una IP y un puerto"
        );
        assert_eq!(
            cli_error(&CliError::BadSerial("a b".into())),
            "--sn inválido: 'a b'. Use letras, dígitos, - o _."
        );
        assert_eq!(
            cli_error(&CliError::BadPushServer("ftp://x".into())),
            "--push inválido: 'ftp://x'. Use http://host:puerto."
        );
        let probe = CliError::Probe {
            step: ProbeStep::Connect,
            error: crate::zk::Error::Refused,
        };
        assert!(cli_error(&probe).starts_with("connect failed: "), "{probe}");
        assert_eq!(Choices::UserSizes.to_string(), "use 28 o 72");
    }
}
