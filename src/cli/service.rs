//! `zkserver service …`: the Windows service named `zkserver`.
//!
//! - `install [flags]` registers it (automatic start, LocalSystem) with the
//!   server's flags stored as its arguments: the service manager then runs
//!   `zkserver.exe service run <flags>`. It also prepares the data folder.
//! - `uninstall`, `start`, `stop`, `status` do what they say.
//! - `run [flags]` is the service's entry point: it works in the data folder
//!   `%ProgramData%\zkserver` (relative paths and the defaults —
//!   `devices.json`, `punches.db` — are there), logs to
//!   `logs\zkserver.log` rotated by size, and a service stop (or the
//!   machine shutting down) is a graceful stop, the same path as Ctrl+C.
//!
//! Elsewhere the command only says that the service is Windows's.

/// The service's name (the MSI installs it under the same name).
pub const SERVICE_NAME: &str = "zkserver";

/// Size at which the service's log file is rotated.
pub const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Log files kept in all (`zkserver.log`, `.1` … `.4`).
pub const LOG_FILES: usize = 5;

#[cfg(windows)]
pub use windows::*;

#[cfg(windows)]
mod windows {
    use std::ffi::{OsStr, OsString};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    use windows_service::service::{
        ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
        ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
    use windows_service::{define_windows_service, service_dispatcher};

    use super::{LOG_FILES, LOG_MAX_BYTES, SERVICE_NAME};

    /// Why a `zkserver service` action failed; [`crate::messages::service`]
    /// says it in Spanish.
    #[derive(Debug)]
    pub enum ServiceError {
        /// A file or folder of the data folder could not be made or used.
        DataFolder {
            /// Which one.
            what: DataPath,
            /// Where.
            path: PathBuf,
            /// Why not.
            error: std::io::Error,
        },
        /// No random API key could be made.
        RandomKey,
        /// The service manager refused or failed.
        Manager(windows_service::Error),
        /// This program's own path is unknown.
        NoExe(std::io::Error),
        /// The service did not start; its state.
        NotStarted(ServiceState),
        /// The service did not stop in time; its state.
        NotStopped(ServiceState),
    }

    /// A file or folder of the service's data folder.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum DataPath {
        /// The data folder (or its `logs`), created.
        CreateFolder,
        /// The data folder, made the working folder.
        UseFolder,
        /// The empty devices file.
        Devices,
        /// The API key file.
        ApiKey,
    }

    impl std::fmt::Display for ServiceError {
        /// The catalogue's Spanish sentence.
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&crate::messages::service::service_error(self))
        }
    }

    impl std::error::Error for ServiceError {}

    /// A data folder error about `what` at `path`.
    fn data_error(what: DataPath, path: &Path) -> impl Fn(std::io::Error) -> ServiceError + '_ {
        move |error| ServiceError::DataFolder {
            what,
            path: path.to_path_buf(),
            error,
        }
    }

    /// The server, run until its stop flag is set.
    pub type Serve = Box<dyn FnOnce(Arc<AtomicBool>) -> Result<(), String> + Send>;

    /// The server that `run` hands to the service's main function.
    static SERVE: Mutex<Option<Serve>> = Mutex::new(None);

    /// How long `start`, `stop` and `uninstall` wait for the service.
    const WAIT: Duration = Duration::from_secs(60);

    /// The server flags of `service install …`, as typed (after `install`),
    /// to be stored as the service's arguments; clap has checked them.
    pub fn install_flags() -> Vec<OsString> {
        let args: Vec<_> = std::env::args_os().collect();
        let service = args.iter().position(|a| a == "service").unwrap_or(0);
        let install = args
            .iter()
            .skip(service)
            .position(|a| a == "install")
            .map_or(args.len(), |i| service + i + 1);
        args[install..].to_vec()
    }

    /// The flags of `service run`: writes need the data folder's key
    /// unless the service was installed with its own key or with open
    /// writes.
    pub fn with_data_key(mut args: crate::cli::args::ServeArgs) -> crate::cli::args::ServeArgs {
        let own_key = args.api_key_file.is_some() || std::env::var_os("API_KEY").is_some();
        if !own_key && !args.allow_open_writes {
            args.api_key_file = Some(PathBuf::from(API_KEY_FILE));
        }
        args
    }

    /// `%ProgramData%\zkserver`: the service's data folder.
    pub fn data_dir() -> PathBuf {
        std::env::var_os("ProgramData")
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from)
            .join("zkserver")
    }

    /// Creates the data folder with `logs\` and an empty `devices.json`
    /// (`{}`) when absent, and keeps the folder to SYSTEM and Administrators.
    pub fn prepare_data_dir(dir: &Path) -> Result<(), ServiceError> {
        std::fs::create_dir_all(dir.join("logs"))
            .map_err(data_error(DataPath::CreateFolder, dir))?;
        let devices = dir.join("devices.json");
        if !devices.exists() {
            crate::atomic_file::write(&devices, b"{}\n", 0o600)
                .map_err(data_error(DataPath::Devices, &devices))?;
        }
        secure_dir(dir);
        ensure_api_key(&dir.join(API_KEY_FILE))?;
        Ok(())
    }

    /// The service's API key file in its data folder (made once, like the
    /// Debian package's `/etc/zkserver/api-key`): writes need it unless the
    /// service was installed with its own key or `--allow-open-writes`.
    pub const API_KEY_FILE: &str = "api.key";

    /// Writes a new random key to `path` when there is none (never replaced).
    fn ensure_api_key(path: &Path) -> Result<(), ServiceError> {
        if path.exists() {
            return Ok(());
        }
        let mut bytes = [0u8; 24];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut bytes)
            .map_err(|_| ServiceError::RandomKey)?;
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        crate::atomic_file::write(path, format!("{key}\n").as_bytes(), 0o600)
            .map_err(data_error(DataPath::ApiKey, path))?;
        log::info!("made a new API key in {}", path.display());
        Ok(())
    }

    /// Replaces the folder's inherited ACL (under `%ProgramData%` every
    /// user may read) with full control for SYSTEM and Administrators only,
    /// inherited by its files: the devices file holds terminal passwords,
    /// the journal (`punches.db`, `-wal`, `-shm`) users' keypad passwords,
    /// and an API key file may live there. Uses `icacls` with well-known
    /// SIDs (names are translated on localized Windows); a failure is
    /// logged, not fatal.
    pub fn secure_dir(dir: &Path) {
        let out = std::process::Command::new("icacls")
            .arg(dir)
            .args(["/inheritance:r", "/grant:r"])
            .args(["*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F"])
            .output();
        match out {
            Ok(o) if o.status.success() => {
                log::info!(
                    "{}: access limited to SYSTEM and Administrators",
                    dir.display()
                );
            }
            Ok(o) => log::warn!(
                "icacls could not restrict {} ({}): {}",
                dir.display(),
                o.status,
                String::from_utf8_lossy(&o.stdout).trim()
            ),
            Err(e) => log::warn!("icacls could not run to restrict {}: {e}", dir.display()),
        }
    }

    /// Opens the service manager.
    fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, ServiceError> {
        ServiceManager::local_computer(None::<&str>, access).map_err(ServiceError::Manager)
    }

    /// Opens the installed service.
    fn open(access: ServiceAccess) -> Result<windows_service::service::Service, ServiceError> {
        manager(ServiceManagerAccess::CONNECT)?
            .open_service(SERVICE_NAME, access)
            .map_err(ServiceError::Manager)
    }

    /// `service install [flags]`: registers the service to run
    /// `<this exe> service run <flags>`, automatic start.
    pub fn install(flags: &[OsString]) -> Result<String, ServiceError> {
        let exe = std::env::current_exe().map_err(ServiceError::NoExe)?;
        let mut launch: Vec<OsString> = vec!["service".into(), "run".into()];
        launch.extend(flags.iter().cloned());
        let info = ServiceInfo {
            name: SERVICE_NAME.into(),
            display_name: "zkserver (relojes ZKTeco)".into(),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: exe.clone(),
            launch_arguments: launch.clone(),
            dependencies: vec![],
            account_name: None,
            account_password: None,
        };
        let manager =
            manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        // Asked first: not every service manager refuses a second one (Wine's).
        if manager
            .open_service(SERVICE_NAME, ServiceAccess::QUERY_STATUS)
            .is_ok()
        {
            return Err(ServiceError::Manager(windows_service::Error::Winapi(
                std::io::Error::from_raw_os_error(1073),
            )));
        }
        let service = manager
            .create_service(&info, ServiceAccess::CHANGE_CONFIG)
            .map_err(ServiceError::Manager)?;
        if let Err(e) =
            service.set_description("Servidor HTTP/JSON para relojes de asistencia ZKTeco.")
        {
            log::warn!("could not set the service's description: {e}");
        }
        let dir = data_dir();
        prepare_data_dir(&dir)?;
        let shown: Vec<String> = launch
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Ok(format!(
            "servicio {SERVICE_NAME} instalado (inicio automático): {} {}\ndatos: {}\nregistro: {}\ninícielo con: zkserver service start",
            exe.display(),
            shown.join(" "),
            dir.display(),
            dir.join("logs").join("zkserver.log").display()
        ))
    }

    /// Waits (up to [`WAIT`]) until `done` holds for the service's status;
    /// returns the last status.
    fn wait_for(
        service: &windows_service::service::Service,
        done: impl Fn(&ServiceStatus) -> bool,
    ) -> Result<ServiceStatus, ServiceError> {
        let deadline = Instant::now() + WAIT;
        loop {
            let status = service.query_status().map_err(ServiceError::Manager)?;
            if done(&status) || Instant::now() > deadline {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether a stopped service reported a failure (not "never started",
    /// which it says until it has started).
    fn failed(status: &ServiceStatus) -> bool {
        status.current_state == ServiceState::Stopped
            && !matches!(status.exit_code, ServiceExitCode::Win32(0 | 1077))
    }

    /// `service start`: starts it and waits until it runs.
    pub fn start() -> Result<String, ServiceError> {
        let service = open(ServiceAccess::START | ServiceAccess::QUERY_STATUS)?;
        service
            .start(&[] as &[&OsStr])
            .map_err(ServiceError::Manager)?;
        let status = wait_for(&service, |s| {
            s.current_state == ServiceState::Running || failed(s)
        })?;
        match status.current_state {
            ServiceState::Running => Ok(crate::messages::service::running(SERVICE_NAME)),
            other => Err(ServiceError::NotStarted(other)),
        }
    }

    /// Asks a running service to stop and waits until it has.
    fn stop_and_wait(service: &windows_service::service::Service) -> Result<(), ServiceError> {
        service.stop().map_err(ServiceError::Manager)?;
        let status = wait_for(service, |s| s.current_state == ServiceState::Stopped)?;
        if status.current_state == ServiceState::Stopped {
            Ok(())
        } else {
            Err(ServiceError::NotStopped(status.current_state))
        }
    }

    /// `service stop`: a graceful stop, waited for.
    pub fn stop() -> Result<String, ServiceError> {
        let service = open(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)?;
        stop_and_wait(&service)?;
        Ok(format!("servicio {SERVICE_NAME} detenido"))
    }

    /// `service uninstall`: stops it if it runs, then removes it. The data
    /// folder is kept.
    pub fn uninstall() -> Result<String, ServiceError> {
        let service =
            open(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS | ServiceAccess::DELETE)?;
        let status = service.query_status().map_err(ServiceError::Manager)?;
        if status.current_state != ServiceState::Stopped {
            stop_and_wait(&service)?;
        }
        service.delete().map_err(ServiceError::Manager)?;
        Ok(format!(
            "servicio {SERVICE_NAME} desinstalado (los datos quedan en {})",
            data_dir().display()
        ))
    }

    /// `service status`: its state, process and arguments.
    pub fn status() -> Result<String, ServiceError> {
        let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG)?;
        let status = service.query_status().map_err(ServiceError::Manager)?;
        let mut text = format!(
            "servicio {SERVICE_NAME}: {}",
            crate::messages::service::state(status.current_state)
        );
        if let Some(pid) = status.process_id {
            text.push_str(&format!(" (proceso {pid})"));
        }
        if let Ok(config) = service.query_config() {
            text.push_str(&format!(
                "\ncomando: {}",
                config.executable_path.to_string_lossy()
            ));
        }
        Ok(text)
    }

    /// `service run`: prepares the data folder (the working folder from now
    /// on), sends the log to its rotated file and hands `serve` to the
    /// service manager, which calls it on a thread of its own. Returns when
    /// the service has stopped.
    pub fn run(serve: Serve) -> Result<(), ServiceError> {
        let dir = data_dir();
        prepare_data_dir(&dir)?;
        std::env::set_current_dir(&dir).map_err(data_error(DataPath::UseFolder, &dir))?;
        let log_path = dir.join("logs").join("zkserver.log");
        match crate::logging::RotatingFile::open(&log_path, LOG_MAX_BYTES, LOG_FILES) {
            Ok(file) => {
                crate::logging::to_file(file);
            }
            Err(e) => log::warn!("could not open {}: {e}", log_path.display()),
        }
        log::info!(
            "service {SERVICE_NAME} starting (pid {}), data folder {}",
            std::process::id(),
            dir.display()
        );
        *SERVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(serve);
        service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(ServiceError::Manager)
    }

    define_windows_service!(ffi_service_main, service_main);

    /// The service's main function (on the dispatcher's thread).
    fn service_main(_arguments: Vec<OsString>) {
        if let Err(e) = serve_as_service() {
            log::error!("service {SERVICE_NAME}: {e}");
        }
    }

    /// A status report for the service manager.
    fn report(state: ServiceState, accept: ServiceControlAccept, exit: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: if exit == 0 {
                ServiceExitCode::Win32(0)
            } else {
                ServiceExitCode::ServiceSpecific(exit)
            },
            checkpoint: 0,
            wait_hint: Duration::from_secs(if state == ServiceState::Running {
                0
            } else {
                30
            }),
            process_id: None,
        }
    }

    /// Registers the control handler (stop and shutdown set the stop flag),
    /// reports Running, serves, then reports Stopped.
    fn serve_as_service() -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handler = move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                log::info!("service stop requested");
                flag.store(true, Ordering::SeqCst);
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let handle = service_control_handler::register(SERVICE_NAME, handler)
            .map_err(|e| format!("could not register the control handler: {e}"))?;
        let accept = ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN;
        handle
            .set_service_status(report(ServiceState::Running, accept, 0))
            .map_err(|e| format!("could not report Running: {e}"))?;
        let serve = SERVE.lock().unwrap_or_else(PoisonError::into_inner).take();
        let result = match serve {
            Some(serve) => serve(stop),
            None => Err("no server to run".into()),
        };
        let exit = match &result {
            Ok(()) => 0,
            Err(e) => {
                log::error!("zkserver: {e}");
                1
            }
        };
        crate::logging::flush();
        handle
            .set_service_status(report(
                ServiceState::Stopped,
                ServiceControlAccept::empty(),
                exit,
            ))
            .map_err(|e| format!("could not report Stopped: {e}"))?;
        Ok(())
    }
}
