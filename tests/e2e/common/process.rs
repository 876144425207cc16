//! Running the `zkserver` binary as a child process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_zkserver");

/// Spawns `cmd` and waits for an output line containing `marker` (stdout
/// or stderr); returns the child and that line.
pub fn spawn_until(mut cmd: Command, marker: &'static str, from_stdout: bool) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
pub fn start_server(args: &[&str]) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["--host", "127.0.0.1", "--port", "0"]).args(args);
    let (child, line) = spawn_until(cmd, "listening on http://", false);
    let addr = addr_after(&line, "listening on http://");
    (child, addr)
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

/// SIGTERM, then the exit code.
pub fn terminate(child: &mut Child) -> i32 {
    signal(child, "TERM");
    child.wait().unwrap().code().unwrap_or(-1)
}
