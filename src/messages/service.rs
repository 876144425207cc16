//! What `zkserver service …` (Windows) says when an action fails, and the
//! service's states, in Spanish.

use windows_service::service::ServiceState;

use crate::cli::service::{data_dir, DataPath, ServiceError, SERVICE_NAME};
use crate::registry::io_error_es;

/// The sentence for a failed service action.
pub fn service_error(e: &ServiceError) -> String {
    match e {
        ServiceError::DataFolder { what, path, error } => {
            let what = match what {
                DataPath::CreateFolder => "no se pudo crear la carpeta de datos",
                DataPath::UseFolder => "no se pudo usar la carpeta de datos",
                DataPath::Devices => "no se pudo crear",
                DataPath::ApiKey => "no se pudo crear la clave API",
            };
            format!("{what} {}: {}", path.display(), io_error_es(error))
        }
        ServiceError::RandomKey => "no se pudo generar una clave API aleatoria".into(),
        ServiceError::Manager(e) => manager_error(e),
        ServiceError::NoExe(e) => format!("no se encontró zkserver.exe: {e}"),
        ServiceError::NotStarted(state) => format!(
            "el servicio {SERVICE_NAME} no arrancó (estado: {}); vea {}",
            self::state(*state),
            data_dir().join("logs").join("zkserver.log").display()
        ),
        ServiceError::NotStopped(state) => format!(
            "el servicio {SERVICE_NAME} no se detuvo a tiempo (estado: {})",
            self::state(*state)
        ),
    }
}

/// A Spanish message for a service manager error.
fn manager_error(e: &windows_service::Error) -> String {
    let windows_service::Error::Winapi(io) = e else {
        return format!("error del administrador de servicios: {e}");
    };
    match io.raw_os_error() {
        Some(5) => "acceso denegado: abra la consola como administrador".into(),
        Some(1060) => "el servicio zkserver no está instalado (zkserver service install)".into(),
        Some(1073) => "el servicio zkserver ya está instalado; para cambiar sus opciones use 'zkserver service uninstall' y vuelva a instalarlo".into(),
        Some(1056) => "el servicio zkserver ya está en ejecución".into(),
        Some(1062) => "el servicio zkserver no está en ejecución".into(),
        Some(1072) => "el servicio zkserver está marcado para eliminarse; cierre la consola de servicios (services.msc) e intente de nuevo".into(),
        Some(1063) => "'zkserver service run' lo ejecuta el administrador de servicios de Windows; para usar zkserver en una consola, ejecútelo sin 'service run'".into(),
        _ => format!("error del administrador de servicios: {}", io_error_es(io)),
    }
}

/// A service state in Spanish.
pub fn state(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Stopped => "detenido",
        ServiceState::StartPending => "iniciándose",
        ServiceState::StopPending => "deteniéndose",
        ServiceState::Running => "en ejecución",
        ServiceState::ContinuePending => "reanudándose",
        ServiceState::PausePending => "pausándose",
        ServiceState::Paused => "en pausa",
    }
}

/// What `zkserver service start` says once the service runs.
pub fn running(name: &str) -> String {
    format!("servicio {name} en ejecución")
}
