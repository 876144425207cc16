//! Starting and stopping the HTTP server (thread per request).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::http::{self, App};

/// The request handler type rouille runs.
type Handler = Box<dyn Fn(&rouille::Request) -> rouille::Response + Send + Sync>;

/// A bound, not yet running server.
pub struct Server {
    inner: rouille::Server<Handler>,
}

impl Server {
    /// Binds `addr` (e.g. `0.0.0.0:5000`, or port 0 for any free port).
    pub fn bind(addr: &str, app: App) -> Result<Server, String> {
        let app = Arc::new(app);
        let handler: Handler = Box::new(move |req| http::handle(&app, req));
        let inner = rouille::Server::new(addr, handler)
            .map_err(|e| format!("no se pudo escuchar en {addr}: {e}"))?;
        Ok(Server { inner })
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.inner.server_addr()
    }

    /// Serves until `stop` becomes true, then waits for requests in flight.
    pub fn run_until(self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            self.inner.poll_timeout(Duration::from_millis(100));
        }
        log::info!("shutting down: finishing requests in flight");
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
