//! Running the `zkserver` binary as a child process.
//!
//! The program is the binary cargo built, or `ZKSERVER_EXE` when set, run
//! through `ZKSERVER_RUNNER` when set: `ZKSERVER_EXE=zkserver.exe
//! ZKSERVER_RUNNER=wine` runs these tests against the Windows build under
//! Wine (`scripts/windows-test.sh`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_zkserver");

/// A command running the program under test (see the module's doc).
pub fn command() -> Command {
    let exe = std::env::var_os("ZKSERVER_EXE")
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| BIN.into());
    match std::env::var_os("ZKSERVER_RUNNER").filter(|r| !r.is_empty()) {
        Some(runner) => {
            let mut cmd = Command::new(runner);
            cmd.arg(exe);
            cmd
        }
        None => Command::new(exe),
    }
}

/// Whether the program under test is a Windows build (under a runner).
pub fn windows() -> bool {
    std::env::var_os("ZKSERVER_RUNNER").is_some_and(|r| !r.is_empty())
}

/// `path` as the program under test names it: as it is on Linux, on
/// Wine's `Z:` drive (the Linux root) for a Windows build.
pub fn host_path(path: &Path) -> String {
    let text = path.to_str().expect("UTF-8 path");
    if windows() && text.starts_with('/') {
        format!("Z:{}", text.replace('/', "\\"))
    } else {
        text.to_string()
    }
}

/// A child process that is killed (and reaped) when dropped while still
/// running: a test that fails half-way never leaves a server behind
/// holding ports, files and CPU for the tests that follow. Used as the
/// `Child` it holds.
#[derive(Debug)]
pub struct Running(pub Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Spawns `cmd` and waits for an output line containing `marker` (stdout
/// or stderr); returns the child and that line.
pub fn spawn_until(mut cmd: Command, marker: &'static str, from_stdout: bool) -> (Running, String) {
    let mut child = Running(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let reader: Box<dyn std::io::Read + Send> = if from_stdout {
        Box::new(child.stdout.take().unwrap())
    } else {
        Box::new(child.stderr.take().unwrap())
    };
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if line.contains(marker) {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("startup line");
    (child, line)
}

/// The first word after `prefix` in `line` (e.g. an address).
pub fn addr_after(line: &str, prefix: &str) -> String {
    let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
    rest.split_whitespace().next().unwrap().to_string()
}

/// Starts `zkserver` with `args` and returns it with its `host:port`.
pub fn start_server(args: &[&str]) -> (Running, String) {
    let mut cmd = command();
    cmd.args(["--host", "127.0.0.1", "--port", "0"]).args(args);
    let (child, line) = spawn_until(cmd, "listening on http://", false);
    let addr = addr_after(&line, "listening on http://");
    (child, addr)
}

/// Starts `zkserver` on `dir`'s `devices.json` and `punches.db` with
/// `args`, its log (stderr) written to `log`; waits until the log says it
/// listens and returns it with its base URL (`http://host:port`).
pub fn start_logging(dir: &Path, log: &Path, args: &[&str]) -> (Running, String) {
    let file = std::fs::File::create(log).expect("log file");
    let mut child = Running(
        command()
            .args(["--host", "127.0.0.1", "--port", "0"])
            .arg("--config")
            .arg(host_path(&dir.join("devices.json")))
            .arg("--journal")
            .arg(host_path(&dir.join("punches.db")))
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("zkserver starts"),
    );
    let mut addr = String::new();
    super::wait_until("the server listens", || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("listening on http://")) {
            addr = addr_after(line, "listening on http://");
            return true;
        }
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "the server exited before listening: {text}"
        );
        false
    });
    (child, format!("http://{addr}"))
}

/// Sends a signal (`TERM`, `INT`, `KILL`) to the child with kill(1).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// SIGTERM (SIGINT for a Windows build: Wine turns it into the console's
/// Ctrl+C event), then the exit code.
pub fn terminate(child: &mut Child) -> i32 {
    signal(child, if windows() { "INT" } else { "TERM" });
    child.wait().unwrap().code().unwrap_or(-1)
}
