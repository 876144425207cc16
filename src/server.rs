//! Starting and stopping the HTTP server: the front door (limits, timeouts)
//! on the public address, rouille (thread per request) on a private loopback
//! port behind it.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::front::{Front, Limits};
use crate::http::{self, App};

/// The request handler type rouille runs.
type Handler = Box<dyn Fn(&rouille::Request) -> rouille::Response + Send + Sync>;

/// A bound, not yet running server.
pub struct Server {
    inner: rouille::Server<Handler>,
    front: Front,
}

impl Server {
    /// Binds `addr` (e.g. `0.0.0.0:5000`, or port 0 for any free port) with
    /// default connection limits.
    pub fn bind(addr: &str, app: App) -> Result<Server, String> {
        Server::bind_with(addr, app, Limits::default())
    }

    /// Binds `addr` with the given connection limits.
    pub fn bind_with(addr: &str, app: App, limits: Limits) -> Result<Server, String> {
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("no se pudo escuchar en {addr}: {e}"))?;
        let app = Arc::new(app);
        let handler: Handler = Box::new(move |req| http::handle(&app, req));
        let inner = rouille::Server::new("127.0.0.1:0", handler)
            .map_err(|e| format!("no se pudo iniciar el servidor HTTP interno: {e}"))?;
        let front = Front::spawn(listener, inner.server_addr(), limits)
            .map_err(|e| format!("no se pudo iniciar el servidor en {addr}: {e}"))?;
        Ok(Server { inner, front })
    }

    /// The public address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.front.addr()
    }

    /// Serves until `stop` becomes true; then stops accepting connections,
    /// serves what already arrived and waits for requests in flight (a
    /// terminal download in progress completes and re-enables the terminal).
    pub fn run_until(self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            self.inner.poll_timeout(Duration::from_millis(100));
        }
        log::info!("shutting down: no new connections; finishing requests in flight");
        self.front.stop_accepting();
        // Serve what already arrived; connections close once their responses
        // are relayed (bounded, in case a client stops reading).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.inner.poll_timeout(Duration::from_millis(50));
            self.front.drain();
            if self.front.active() == 0 || Instant::now() > deadline {
                break;
            }
        }
        self.inner.join();
    }

    /// Serves on a background thread until the returned flag is set (tests).
    pub fn spawn(
        self,
    ) -> (
        std::net::SocketAddr,
        Arc<AtomicBool>,
        std::thread::JoinHandle<()>,
    ) {
        let addr = self.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || self.run_until(&flag));
        (addr, stop, handle)
    }
}
