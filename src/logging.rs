//! The server's logger: one line per record on stderr, in the format
//! `2026-03-06T09:15:23.123456789Z [INFO] message`.
//!
//! - Cheap: a record is formatted once, appended to a shared buffer under a
//!   short lock, and written by a background thread (every
//!   [`FLUSH_EVERY`], or sooner when the buffer fills). Warnings and errors
//!   are written at once, after what is buffered, so they are never late or
//!   out of order.
//! - Safe: every control character of a message (newline, ESC, C1 controls,
//!   bidirectional overrides) is written escaped (`\x0a`, `\u{202e}`), so
//!   nothing a client sends can forge or hide log lines.
//! - The panic hook logs where a panic happened and its message up to any
//!   quoted value (Rust quotes the string a bad slice came from, which may be
//!   a secret header), escaped.
//! - Where: stderr, or (the Windows service, which has no console) a file
//!   rotated by size ([`to_file`]).

use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How often buffered lines are written at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Buffered bytes that wake the writer early.
const FLUSH_SIZE: usize = 64 * 1024;

/// Buffered bytes beyond which lines are dropped (a stuck stderr must not
/// eat the memory); a line says how many were lost.
const MAX_BUFFER: usize = 4 * 1024 * 1024;

/// Lines waiting to be written.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
}

/// The buffer shared by the logger and its writer thread.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Where lines go; its lock serialises writes (the writer thread and
    /// direct writes).
    out: Mutex<Output>,
}

/// Where log lines are written.
#[derive(Default)]
enum Output {
    /// Standard error (a console, a terminal, journald).
    #[default]
    Stderr,
    /// A file rotated by size.
    File(RotatingFile),
}

/// A log file that, once over `max_bytes`, is renamed to `<name>.1` (the
/// older ones shifting to `.2`, `.3`, …) and started anew; `files` files
/// are kept in all, the oldest removed.
pub struct RotatingFile {
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
    size: u64,
    max_bytes: u64,
    files: usize,
}

impl RotatingFile {
    /// Opens (appends to) `path`, creating it and its folder if needed.
    pub fn open(
        path: &std::path::Path,
        max_bytes: u64,
        files: usize,
    ) -> std::io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut log = RotatingFile {
            path: path.to_path_buf(),
            file: None,
            size: 0,
            max_bytes: max_bytes.max(1),
            files: files.max(1),
        };
        log.reopen()?;
        Ok(log)
    }

    /// Opens the current file for appending and reads its size.
    fn reopen(&mut self) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// `<path>.<n>`: the n-th older file.
    fn older(&self, n: usize) -> std::path::PathBuf {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(format!(".{n}"));
        name.into()
    }

    /// Shifts the files (`.1` → `.2`, …; the oldest removed) and starts
    /// the current one anew.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.files > 1 {
            let _ = std::fs::remove_file(self.older(self.files - 1));
            for n in (1..self.files - 1).rev() {
                let _ = std::fs::rename(self.older(n), self.older(n + 1));
            }
            std::fs::rename(&self.path, self.older(1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.reopen()
    }

    /// Appends `bytes`, rotating first when they would pass the size cap.
    fn write_all(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.size > 0 && self.size + bytes.len() as u64 > self.max_bytes {
            if let Err(e) = self.rotate() {
                eprintln!("{} [ERROR] log rotation failed: {e}", now());
                if self.file.is_none() {
                    let _ = self.reopen();
                }
            }
        }
        if let Some(file) = &mut self.file {
            if file.write_all(bytes).is_ok() {
                self.size += bytes.len() as u64;
            }
        }
    }
}

impl Shared {
    /// Takes what is buffered (with a note of dropped lines).
    fn take(&self) -> Vec<u8> {
        let mut p = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut bytes = std::mem::take(&mut p.bytes);
        if p.dropped > 0 {
            let _ = writeln!(
                bytes,
                "{} [WARN] log buffer full: {} line(s) dropped",
                now(),
                p.dropped
            );
            p.dropped = 0;
        }
        bytes
    }

    /// Writes everything buffered, then `extra`.
    fn write_out(&self, extra: &[u8]) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = self.take();
        match &mut *out {
            Output::Stderr => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&bytes);
                let _ = err.write_all(extra);
                let _ = err.flush();
            }
            Output::File(file) => {
                file.write_all(&bytes);
                file.write_all(extra);
            }
        }
    }
}

/// The `log` implementation.
struct Logger {
    level: log::LevelFilter,
    shared: Arc<Shared>,
}

thread_local! {
    /// Each thread formats its lines into its own buffer.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return;
            };
            line.clear();
            format_line(&mut line, record.level(), record.args());
            if record.level() <= log::Level::Warn {
                self.shared.write_out(line.as_bytes());
                return;
            }
            let mut p = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if p.bytes.len() + line.len() > MAX_BUFFER {
                p.dropped += 1;
                return;
            }
            p.bytes.extend_from_slice(line.as_bytes());
            if p.bytes.len() >= FLUSH_SIZE {
                self.shared.wake.notify_one();
            }
        });
    }

    fn flush(&self) {
        self.shared.write_out(&[]);
    }
}

/// The time as log lines show it.
pub fn now() -> impl fmt::Display {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ")
}

/// Formats one log line (with its newline) into `out`, control characters
/// of the message escaped.
fn format_line(out: &mut String, level: log::Level, args: &fmt::Arguments) {
    let _ = write!(out, "{} [{level}] ", now());
    let _ = write!(Escaper(out), "{args}");
    out.push('\n');
}

/// A `fmt::Write` that escapes control characters on the way.
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

/// Whether `c` must not reach a log line as it is: C0 and C1 controls, DEL,
/// and the Unicode format characters that reorder or hide text.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Appends `s` to `out` with dangerous characters escaped (`\x1b`,
/// `\u{202e}`) and backslashes doubled, so an escape cannot be forged.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if is_dangerous(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_dangerous(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `s` with control characters escaped, for a log line or a message that
/// quotes client input.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();

/// Flushes the log when dropped (keep it alive until the program ends).
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        flush();
    }
}

/// Writes every buffered line now.
pub fn flush() {
    if let Some(shared) = SHARED.get() {
        shared.write_out(&[]);
    }
}

/// Sends the log to `file` from now on (after what is buffered), instead
/// of stderr. Needs [`init`] first; returns false without it.
pub fn to_file(file: RotatingFile) -> bool {
    let Some(shared) = SHARED.get() else {
        return false;
    };
    shared.write_out(&[]);
    *shared
        .out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Output::File(file);
    true
}

/// Writes an INFO line whatever the log level (where the server listens:
/// people and scripts need to see it), after what is buffered; on stderr
/// when the logger is not installed.
pub fn announce(message: &str) {
    let mut line = String::new();
    format_line(&mut line, log::Level::Info, &format_args!("{message}"));
    match SHARED.get() {
        Some(shared) => shared.write_out(line.as_bytes()),
        None => eprint!("{line}"),
    }
}

/// Installs the logger at `level` and the panic hook; returns a guard that
/// flushes the log when dropped. A second call only returns a guard.
pub fn init(level: log::LevelFilter) -> Guard {
    let shared = SHARED.get_or_init(|| Arc::new(Shared::default())).clone();
    let logger = Logger {
        level,
        shared: shared.clone(),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
        std::panic::set_hook(Box::new(panic_hook));
        let _ = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer(&shared));
    }
    Guard(())
}

/// The background writer: flushes every [`FLUSH_EVERY`] or when woken.
fn writer(shared: &Shared) {
    loop {
        {
            let p = shared
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = shared
                .wake
                .wait_timeout_while(p, FLUSH_EVERY, |p| p.bytes.len() < FLUSH_SIZE);
        }
        shared.write_out(&[]);
    }
}

/// The message of a panic as logged: up to the first quoted value, escaped
/// and bounded (the quoted value may be a header holding a secret).
pub fn panic_summary(message: &str) -> String {
    let cut = message
        .find(['`', '"', '\''])
        .map_or(message, |i| &message[..i]);
    let mut cut: String = cut.chars().take(200).collect();
    if cut.len() < message.len() {
        cut.push('…');
    }
    escape(cut.trim_end())
}

/// The payload of a panic as text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("")
}

fn panic_hook(info: &std::panic::PanicHookInfo) {
    let place = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current();
    log::error!(
        "panic in thread '{}' at {place}: {}",
        thread.name().unwrap_or("?"),
        panic_summary(panic_message(info.payload()))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_forge_lines() {
        assert_eq!(escape("a\nb"), "a\\x0ab");
        assert_eq!(escape("\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(escape("\r\t\x7f"), "\\x0d\\x09\\x7f");
        assert_eq!(escape("x\u{202e}y\u{85}"), "x\\u{202e}y\\u{85}");
        assert_eq!(escape("a\\x0ab"), "a\\\\x0ab", "escapes cannot be forged");
        assert_eq!(escape("Añó /devices"), "Añó /devices");
    }

    #[test]
    fn lines_are_formatted_once_and_escaped() {
        let mut out = String::new();
        format_line(
            &mut out,
            log::Level::Info,
            &format_args!("GET {} -> 404", "/x\n2026 [ERROR] forged"),
        );
        assert!(out.ends_with(" [INFO] GET /x\\x0a2026 [ERROR] forged -> 404\n"));
        assert_eq!(out.matches('\n').count(), 1);
    }

    #[test]
    fn log_files_rotate_by_size_and_keep_a_bounded_number() {
        let dir = std::env::temp_dir().join(format!("zkserver-logrot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("logs").join("zkserver.log");
        let mut log = RotatingFile::open(&path, 100, 3).unwrap();
        for i in 0..10 {
            log.write_all(format!("line {i:02} {}\n", "x".repeat(40)).as_bytes());
        }
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
        assert!(read(&path).contains("line 09"), "{}", read(&path));
        assert!(read(&path).len() <= 100);
        assert!(read(&log.older(1)).contains("line 07"));
        assert!(read(&log.older(2)).contains("line 05"));
        assert!(!log.older(3).exists(), "3 files in all");
        drop(log);
        let mut again = RotatingFile::open(&path, 100, 3).unwrap();
        assert_eq!(
            again.size,
            read(&path).len() as u64,
            "appends after a restart"
        );
        again.write_all(b"after restart\n");
        assert!(read(&path).ends_with("after restart\n"));
        drop(again); // Windows removes no folder holding an open file
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn panic_summaries_drop_quoted_values() {
        let msg = "byte index 7 is not a char boundary; it is inside 'é' (bytes 6..8) of `Bearer-secret-key`";
        let s = panic_summary(msg);
        assert!(!s.contains("secret") && !s.contains("Bearer"), "{s}");
        assert!(s.starts_with("byte index 7 is not a char boundary"), "{s}");
        assert_eq!(panic_summary("plain\nmessage"), "plain\\x0amessage");
    }
}
