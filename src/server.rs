//! Starting and stopping the HTTP server: one listener, one thread per
//! client connection (which reads, handles and answers its requests
//! itself; a thread whose connection ended waits a while for the next one
//! instead of a new thread being started for each), a cap on connections,
//! and a graceful stop.
//!
//! File descriptors: the cap on connections is kept within what the
//! process may open (`RLIMIT_NOFILE`, read from `/proc/self/limits`), and
//! should the process run out anyway the accept loop backs off instead of
//! spinning, answering 503 to waiting clients with a descriptor kept spare
//! for that. On Windows there is no such limit to read (sockets are
//! handles, not descriptors): the cap stays as asked, and the accept loop
//! backs off on the Winsock equivalents (WSAEMFILE, WSAENOBUFS).

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::conn::{self, error_response, Connections, Handler, Limits};
use crate::http::{self, App};
use crate::messages;

/// Stack of a connection thread: handlers keep their data on the heap, and
/// hundreds of open connections must fit a 32-bit board's address space.
const CONNECTION_STACK: usize = 512 * 1024;

/// How long a connection thread with nothing to do waits for the next
/// connection before it ends.
const WORKER_IDLE: Duration = Duration::from_secs(10);

/// Connection threads kept waiting for connections, at most.
const MAX_IDLE_WORKERS: usize = 8;

/// What a connection thread runs.
type Job = Box<dyn FnOnce() + Send>;

/// The connection threads: a connection goes to the thread that became
/// free last (so that under a trickle of connections one thread serves
/// them and the others end), or else to a new one. Starting a thread costs
/// more than the rest of a small request (a push terminal's upload of one
/// punch).
#[derive(Default)]
struct Workers {
    /// Threads waiting for a connection, the last one to wait on top.
    idle: parking_lot::Mutex<Vec<Arc<Waiting>>>,
}

/// One waiting thread: where its next connection is put.
#[derive(Default)]
struct Waiting {
    job: parking_lot::Mutex<Option<Job>>,
    given: parking_lot::Condvar,
}

impl Workers {
    /// Runs `job` on a waiting thread, or on a new one.
    fn run(self: &Arc<Self>, job: Job) -> io::Result<()> {
        {
            // Given under the list's lock: a thread that timed out and is
            // no longer listed finds its connection there.
            let mut idle = self.idle.lock();
            if let Some(waiting) = idle.pop() {
                *waiting.job.lock() = Some(job);
                drop(idle);
                waiting.given.notify_one();
                return Ok(());
            }
        }
        let workers = self.clone();
        std::thread::Builder::new()
            .name("http-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                job();
                while let Some(next) = workers.next_job() {
                    next();
                }
            })
            .map(drop)
    }

    /// Waits for this thread's next connection; `None` when none came
    /// within [`WORKER_IDLE`] (or enough threads wait already).
    fn next_job(&self) -> Option<Job> {
        let me = Arc::new(Waiting::default());
        {
            let mut idle = self.idle.lock();
            if idle.len() >= MAX_IDLE_WORKERS {
                return None;
            }
            idle.push(me.clone());
        }
        let deadline = Instant::now() + WORKER_IDLE;
        let mut job = me.job.lock();
        while job.is_none() {
            if me.given.wait_until(&mut job, deadline).timed_out() {
                break;
            }
        }
        if let Some(job) = job.take() {
            return Some(job);
        }
        drop(job);
        // Timed out: leave the list, unless a connection was given meanwhile.
        let mut idle = self.idle.lock();
        if let Some(at) = idle.iter().position(|w| Arc::ptr_eq(w, &me)) {
            idle.remove(at);
            return None;
        }
        let given = me.job.lock().take();
        given
    }
}

/// How long a graceful stop tries to wake the accept loop.
const WAKE_LIMIT: Duration = Duration::from_secs(10);

/// How long a graceful stop waits for requests in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    app: Arc<App>,
    handler: Arc<Handler>,
    conns: Arc<Connections>,
    /// The `--push-port` listener (serves only `/iclock/*`).
    push: Option<(TcpListener, SocketAddr)>,
}

/// An address that could not be listened on.
#[derive(Debug)]
pub struct BindError {
    /// The address, as given.
    pub addr: String,
    /// Why not.
    pub error: io::Error,
}

impl std::fmt::Display for BindError {
    /// The catalogue's Spanish sentence.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&messages::server::bind_error(self))
    }
}

impl std::error::Error for BindError {}

/// A listener on `addr` and the address it got.
fn listen(addr: &str) -> Result<(TcpListener, SocketAddr), BindError> {
    let failed = |error| BindError {
        addr: addr.to_string(),
        error,
    };
    let listener = TcpListener::bind(addr).map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

impl Server {
    /// Binds `addr` (e.g. `0.0.0.0:5000`, or port 0 for any free port) with
    /// default connection limits.
    pub fn bind(addr: &str, app: App) -> Result<Server, BindError> {
        Server::bind_with(addr, app, Limits::default())
    }

    /// Binds `addr` with the given connection limits.
    pub fn bind_with(addr: &str, app: App, mut limits: Limits) -> Result<Server, BindError> {
        limits.max_connections = fit_connections(limits.max_connections);
        let (listener, local) = listen(addr)?;
        let app = Arc::new(app);
        let handler_app = app.clone();
        Ok(Server {
            listener,
            addr: local,
            app,
            handler: Arc::new(move |req: &http::Request| http::handle(&handler_app, req)),
            conns: Arc::new(Connections::new(limits)),
            push: None,
        })
    }

    /// Also listens on `addr` for push terminals only: that listener
    /// serves `/iclock/*` and answers 404 to everything else (so `/iclock`
    /// can be published, e.g. through nginx, without the API).
    pub fn add_push_listener(&mut self, addr: &str) -> Result<SocketAddr, BindError> {
        let (listener, local) = listen(addr)?;
        self.push = Some((listener, local));
        Ok(local)
    }

    /// The `--push-port` listener's address, if any.
    pub fn push_addr(&self) -> Option<SocketAddr> {
        self.push.as_ref().map(|(_, a)| *a)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` becomes true; then stops accepting connections,
    /// closes idle ones and waits (bounded) for requests in flight: a
    /// terminal download in progress completes and re-enables the terminal.
    pub fn run_until(self, stop: &AtomicBool) {
        let accepting = Arc::new(AtomicBool::new(true));
        let acceptor = {
            let (listener, handler, conns, accepting) = (
                self.listener,
                self.handler.clone(),
                self.conns.clone(),
                accepting.clone(),
            );
            std::thread::Builder::new()
                .name("http-accept".into())
                .spawn(move || accept_loop(&listener, &handler, &conns, &accepting))
        };
        let push_acceptor = self.push.map(|(listener, addr)| {
            let app = self.app.clone();
            let handler: Arc<Handler> =
                Arc::new(move |req: &http::Request| http::handle_push_only(&app, req));
            let (conns, accepting) = (self.conns.clone(), accepting.clone());
            let spawned = std::thread::Builder::new()
                .name("push-accept".into())
                .spawn(move || accept_loop(&listener, &handler, &conns, &accepting));
            (addr, spawned)
        });
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        log::info!("shutting down: no new connections; finishing requests in flight");
        accepting.store(false, Ordering::SeqCst);
        if let Ok(acceptor) = acceptor {
            wake_acceptor(self.addr, &self.conns, &acceptor);
            if acceptor.is_finished() {
                let _ = acceptor.join();
            }
        }
        if let Some((addr, Ok(acceptor))) = push_acceptor {
            wake_acceptor(addr, &self.conns, &acceptor);
            if acceptor.is_finished() {
                let _ = acceptor.join();
            }
        }
        // Event streams end, watchers release their terminals, webhook
        // retries are abandoned (delivery resumes from the state file).
        self.app.stop();
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            self.conns.drain();
            if self.conns.active() == 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Serves on a background thread until the returned flag is set (tests).
    pub fn spawn(self) -> (SocketAddr, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        let addr = self.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || self.run_until(&flag));
        (addr, stop, handle)
    }
}

/// Connects to the listener until the accept loop, blocked in `accept`,
/// sees it must stop. Out of descriptors the connection may fail: idle
/// connections are closed to free some, and after [`WAKE_LIMIT`] the
/// loop is left behind (the process is ending).
fn wake_acceptor(addr: SocketAddr, conns: &Connections, acceptor: &std::thread::JoinHandle<()>) {
    let deadline = Instant::now() + WAKE_LIMIT;
    while !acceptor.is_finished() {
        if Instant::now() > deadline {
            log::warn!("the accept loop did not stop; leaving it");
            return;
        }
        if TcpStream::connect_timeout(&wake_address(addr), Duration::from_secs(1)).is_err() {
            conns.drain();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where to connect to wake a blocking `accept` on `addr`.
fn wake_address(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], a.port()))
        }
        other => other,
    }
}

/// Descriptors kept for everything but client connections: the listener,
/// log, files, webhooks, event watchers.
const RESERVED_FDS: u64 = 32;

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits`;
/// `None` when unknown or unlimited.
pub fn open_files_limit() -> Option<u64> {
    parse_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text.
fn parse_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Descriptors open right now (`/proc/self/fd`), when known.
fn open_files() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// Connections that fit in `limit` descriptors with `open` already open:
/// each connection holds one, and one more while it talks to a terminal.
pub fn connections_within(limit: u64, open: u64) -> usize {
    let free = limit.saturating_sub(open.saturating_add(RESERVED_FDS));
    usize::try_from(free / 2).unwrap_or(usize::MAX).max(1)
}

/// `wanted` connections, lowered (with a warning) to what the process may
/// open.
fn fit_connections(wanted: usize) -> usize {
    let Some(limit) = open_files_limit() else {
        return wanted;
    };
    let fit = connections_within(limit, open_files().unwrap_or(16));
    if wanted <= fit {
        return wanted;
    }
    log::warn!(
        "--max-connections {wanted} lowered to {fit}: the process may open only {limit} files (ulimit -n / LimitNOFILE); raise that limit to serve more"
    );
    fit
}

/// Whether an `accept` failed for want of descriptors or memory, which
/// retrying at once cannot cure.
#[cfg(not(windows))]
fn out_of_resources(e: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Whether an `accept` failed for want of sockets or memory (Winsock).
#[cfg(windows)]
fn out_of_resources(e: &io::Error) -> bool {
    // WSAEMFILE, WSAENOBUFS, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY.
    matches!(e.raw_os_error(), Some(10024 | 10055 | 8 | 14))
}

/// The next wait after a failed `accept`: 10 ms, doubling up to 1 s.
fn next_backoff(previous: Duration) -> Duration {
    (previous * 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// A descriptor held in reserve: released to accept one waiting client and
/// tell it 503 when the process has no other.
fn spare_descriptor() -> Option<File> {
    File::open(if cfg!(windows) { "NUL" } else { "/dev/null" }).ok()
}

/// A client already waiting to be accepted, without blocking for one.
fn accept_now(listener: &TcpListener) -> Option<TcpStream> {
    listener.set_nonblocking(true).ok()?;
    let accepted = listener.accept();
    let _ = listener.set_nonblocking(false);
    let client = accepted.ok()?.0;
    let _ = client.set_nonblocking(false);
    Some(client)
}

/// Answers 503 and closes: the server cannot take `client` now.
fn refuse(mut client: TcpStream, message: &str) {
    let _ = client.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = io::Write::write_all(&mut client, &error_response(503, message));
}

fn accept_loop(
    listener: &TcpListener,
    handler: &Arc<Handler>,
    conns: &Arc<Connections>,
    accepting: &AtomicBool,
) {
    let mut spare = spare_descriptor();
    let mut backoff = Duration::ZERO;
    let workers = Arc::new(Workers::default());
    loop {
        let conn = listener.accept();
        if !accepting.load(Ordering::SeqCst) {
            break;
        }
        let client = match conn {
            Ok((client, _)) => client,
            Err(e) if out_of_resources(&e) => {
                if backoff.is_zero() {
                    log::error!(
                        "cannot accept connections: {e} (open files limit {}); answering 503 and retrying",
                        open_files_limit().map_or("unknown".into(), |l| l.to_string())
                    );
                }
                // Use the spare descriptor to tell one waiting client (without
                // waiting for one: a shutdown must still get through).
                if spare.take().is_some() {
                    if let Some(client) = accept_now(listener) {
                        refuse(client, messages::OUT_OF_DESCRIPTORS);
                    }
                }
                spare = spare.or_else(spare_descriptor);
                backoff = next_backoff(backoff);
                std::thread::sleep(backoff);
                continue;
            }
            Err(_) => continue,
        };
        backoff = Duration::ZERO;
        if spare.is_none() {
            spare = spare_descriptor();
        }
        let client = Arc::new(client);
        let Some(id) = conns.admit(&client) else {
            log::warn!(
                "refusing a connection: {} open already, all doing work",
                conns.limits.max_connections
            );
            if let Ok(client) = Arc::try_unwrap(client) {
                refuse(client, "Servidor ocupado: demasiadas conexiones abiertas.");
            }
            continue;
        };
        let (handler, shared) = (handler.clone(), conns.clone());
        let spawned = workers.run(Box::new(move || {
            // Counted out even if serving panics.
            let _release = Release(&shared, id);
            conn::serve(&client, &*handler, &shared, id);
            // Closed before the slot is counted out.
            drop(client);
        }));
        if spawned.is_err() {
            conns.release(id);
            log::error!("could not start a connection thread");
        }
    }
    log::info!("stopped accepting connections");
}

/// Releases connection `.1`'s slot when dropped.
struct Release<'a>(&'a Connections, u64);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_connection_thread_takes_the_next_connection() {
        let workers = Arc::new(Workers::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let first = tx.clone();
        workers
            .run(Box::new(move || {
                first.send(std::thread::current().id()).unwrap();
            }))
            .unwrap();
        let ran_on = rx.recv().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while workers.idle.lock().is_empty() {
            assert!(Instant::now() < deadline, "the thread never waited");
            std::thread::sleep(Duration::from_millis(5));
        }
        workers
            .run(Box::new(move || {
                tx.send(std::thread::current().id()).unwrap();
            }))
            .unwrap();
        assert_eq!(rx.recv().unwrap(), ran_on, "no new thread");
    }

    #[test]
    fn reads_the_open_files_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files(text), Some(1024));
        assert_eq!(
            parse_open_files("Max open files  unlimited unlimited files"),
            None
        );
        assert_eq!(parse_open_files(""), None);
        assert!(
            open_files_limit().is_some(),
            "this Linux has /proc/self/limits"
        );
    }

    #[test]
    fn connections_fit_the_descriptors() {
        assert_eq!(connections_within(1024, 20), 486);
        assert_eq!(connections_within(64, 20), 6);
        assert_eq!(connections_within(16, 20), 1, "at least one");
    }

    #[test]
    fn failed_accepts_back_off() {
        let (emfile, other) = if cfg!(windows) {
            (10024, 10055)
        } else {
            (24, 23)
        };
        assert!(out_of_resources(&io::Error::from_raw_os_error(emfile)));
        assert!(out_of_resources(&io::Error::from_raw_os_error(other)));
        assert!(!out_of_resources(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        let mut wait = Duration::ZERO;
        let mut total = Duration::ZERO;
        for _ in 0..20 {
            wait = next_backoff(wait);
            total += wait;
        }
        assert_eq!(next_backoff(Duration::ZERO), Duration::from_millis(10));
        assert_eq!(wait, Duration::from_secs(1), "capped");
        assert!(
            total > Duration::from_secs(10),
            "20 failures wait, not spin"
        );
    }
}
