//! Starting and stopping the HTTP server: one listener, one thread per
//! client connection (which reads, handles and answers its requests
//! itself), a cap on connections, and a graceful stop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::conn::{self, error_response, Connections, Handler, Limits};
use crate::http::{self, App};
use crate::registry::io_error_es as io_es;

/// Stack of a connection thread: handlers keep their data on the heap, and
/// hundreds of open connections must fit a 32-bit board's address space.
const CONNECTION_STACK: usize = 512 * 1024;

/// How long a graceful stop waits for requests in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    app: Arc<App>,
    handler: Arc<Handler>,
    conns: Arc<Connections>,
}

impl Server {
    /// Binds `addr` (e.g. `0.0.0.0:5000`, or port 0 for any free port) with
    /// default connection limits.
    pub fn bind(addr: &str, app: App) -> Result<Server, String> {
        Server::bind_with(addr, app, Limits::default())
    }

    /// Binds `addr` with the given connection limits.
    pub fn bind_with(addr: &str, app: App, limits: Limits) -> Result<Server, String> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| format!("no se pudo escuchar en {addr}: {}", io_es(&e)))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("no se pudo escuchar en {addr}: {}", io_es(&e)))?;
        let app = Arc::new(app);
        let handler_app = app.clone();
        Ok(Server {
            listener,
            addr: local,
            app,
            handler: Arc::new(move |req: &http::Request| http::handle(&handler_app, req)),
            conns: Arc::new(Connections::new(limits)),
        })
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
                .spawn(move || accept_loop(listener, handler, conns, &accepting))
        };
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        log::info!("shutting down: no new connections; finishing requests in flight");
        accepting.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&wake_address(self.addr), Duration::from_secs(1));
        if let Ok(acceptor) = acceptor {
            let _ = acceptor.join();
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

fn accept_loop(
    listener: TcpListener,
    handler: Arc<Handler>,
    conns: Arc<Connections>,
    accepting: &AtomicBool,
) {
    let mut next_id: u64 = 0;
    for conn in listener.incoming() {
        if !accepting.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut client) = conn else { continue };
        if !conns.admit() {
            log::warn!(
                "refusing a connection: {} open already",
                conns.limits.max_connections
            );
            let _ = client.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = std::io::Write::write_all(
                &mut client,
                &error_response(503, "Servidor ocupado: demasiadas conexiones abiertas."),
            );
            continue;
        }
        next_id += 1;
        let (id, handler, shared) = (next_id, handler.clone(), conns.clone());
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                // Counted out even if serving panics.
                let _release = Release(&shared);
                conn::serve(client, &*handler, &shared, id);
            });
        if spawned.is_err() {
            conns.release();
            log::error!("could not start a connection thread");
        }
    }
    log::info!("stopped accepting connections");
}

/// Releases a connection slot when dropped.
struct Release<'a>(&'a Connections);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}
