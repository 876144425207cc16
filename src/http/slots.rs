//! Who holds the server's connection slots, so no kind of client can take
//! them all: push terminals (`/iclock`), API calls and event streams each
//! have their own budget within `--max-connections`; streams are also
//! capped per client; connections doing nothing (idle keep-alives, heads
//! still arriving) are capped per client and overall, and when every slot
//! is taken the oldest of them is closed to make room rather than refusing
//! new work.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use super::head::Refusal;
use super::proxy;
use crate::ipnet::IpNet;
use crate::messages;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Waiting for a request, or receiving its head: no work yet.
    Waiting,
    /// A push terminal's request (`/iclock/…`).
    Push,
    /// An API request (everything else).
    Api,
    /// An event stream (`/events`, `/devices/{id}/events`).
    Stream,
}

impl Class {
    /// The class of a request for `method` and normalized `target`.
    pub fn of(method: &str, target: &str) -> Class {
        let path = target.split('?').next().unwrap_or("");
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let get = matches!(method, "GET" | "HEAD");
        match segments.as_slice() {
            ["iclock", ..] => Class::Push,
            ["events"] | ["devices", _, "events"] if get => Class::Stream,
            _ => Class::Api,
        }
    }
}

/// How the slots are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// All connections (`--max-connections`).
    pub total: usize,
    /// Connections serving push terminals' requests.
    pub push: usize,
    /// Connections serving API requests.
    pub api: usize,
    /// Open event streams, overall.
    pub streams: usize,
    /// Open event streams of one client.
    pub streams_per_client: usize,
    /// Connections doing nothing, overall.
    pub waiting: usize,
    /// Connections doing nothing from one address (trusted proxies, whose
    /// own keep-alive pool is bounded, are not counted).
    pub waiting_per_client: usize,
}

impl Budgets {
    /// The shares of `total` slots: a quarter for push terminals, a quarter
    /// for event streams (`per_client` of them per client), the rest for
    /// the API; at most half may sit idle (16 per address).
    pub fn of(total: usize, per_client: usize) -> Budgets {
        let total = total.max(1);
        let push = (total / 4).max(1);
        let streams = (total / 4).max(1);
        Budgets {
            total,
            push,
            api: total.saturating_sub(push + streams).max(1),
            streams,
            streams_per_client: streams.min(per_client.max(1)),
            waiting: (total / 2).max(1),
            waiting_per_client: (total / 2).clamp(1, 16),
        }
    }

    fn of_class(&self, class: Class) -> usize {
        match class {
            Class::Waiting => self.waiting,
            Class::Push => self.push,
            Class::Api => self.api,
            Class::Stream => self.streams,
        }
    }
}

/// One connection's slot.
struct Slot {
    /// The address it comes from.
    peer: IpAddr,
    /// For a stream, the client it serves (the proxy's client behind a
    /// trusted proxy).
    client: IpAddr,
    class: Class,
    /// When it last started waiting.
    since: Instant,
    /// Its socket (shared, not duplicated), to close it when evicted.
    socket: Arc<TcpStream>,
}

/// The slots in use.
pub struct Slots {
    budgets: Budgets,
    trusted: Vec<IpNet>,
    table: parking_lot::Mutex<HashMap<u64, Slot>>,
}

impl Slots {
    /// No connections yet.
    pub fn new(budgets: Budgets, trusted: Vec<IpNet>) -> Slots {
        Slots {
            budgets,
            trusted,
            table: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// The budgets in force.
    pub fn budgets(&self) -> Budgets {
        self.budgets
    }

    /// Connections holding a slot.
    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    /// Whether no connection holds a slot.
    pub fn is_empty(&self) -> bool {
        self.table.lock().is_empty()
    }

    /// Connections in `class` now.
    pub fn count(&self, class: Class) -> usize {
        self.table
            .lock()
            .values()
            .filter(|s| s.class == class)
            .count()
    }

    /// Takes a slot for a new connection `id` from `peer` (waiting for its
    /// first request). When all are taken, the connection that has waited
    /// longest is closed for it; false (nothing taken) when every slot is
    /// doing work.
    pub fn admit(&self, id: u64, peer: IpAddr, socket: Arc<TcpStream>) -> bool {
        let mut table = self.table.lock();
        if table.len() >= self.budgets.total && !evict_oldest(&mut table, |_| true) {
            return false;
        }
        table.insert(
            id,
            Slot {
                peer,
                client: peer,
                class: Class::Waiting,
                since: Instant::now(),
                socket,
            },
        );
        self.enforce_waiting_caps(&mut table, peer);
        true
    }

    /// Moves connection `id` to `class` for a request from `client`; the
    /// refusal to answer when that class has no room (or, for a stream,
    /// when `client` has its share). `Err(None)`: the connection was
    /// closed to make room meanwhile.
    pub fn begin(&self, id: u64, class: Class, client: IpAddr) -> Result<(), Option<Refusal>> {
        let mut table = self.table.lock();
        if !table.contains_key(&id) {
            return Err(None);
        }
        if class != Class::Waiting {
            let in_class = table.values().filter(|s| s.class == class).count();
            if in_class >= self.budgets.of_class(class) {
                return Err(Some(full(class)));
            }
            if class == Class::Stream {
                let mine = table
                    .values()
                    .filter(|s| s.class == Class::Stream && s.client == client)
                    .count();
                if mine >= self.budgets.streams_per_client {
                    return Err(Some(Refusal(503, messages::HTTP_STREAMS_PER_CLIENT)));
                }
            }
        }
        if let Some(slot) = table.get_mut(&id) {
            slot.class = class;
            slot.client = client;
        }
        Ok(())
    }

    /// Connection `id` finished a request and waits for the next one.
    pub fn finish(&self, id: u64) {
        let mut table = self.table.lock();
        let Some(slot) = table.get_mut(&id) else {
            return;
        };
        slot.class = Class::Waiting;
        slot.since = Instant::now();
        let peer = slot.peer;
        self.enforce_waiting_caps(&mut table, peer);
    }

    /// Frees connection `id`'s slot (it closed).
    pub fn release(&self, id: u64) {
        self.table.lock().remove(&id);
    }

    /// Closes the longest-waiting connections beyond the caps on waiting
    /// ones: of `peer` (unless a trusted proxy), then overall.
    fn enforce_waiting_caps(&self, table: &mut HashMap<u64, Slot>, peer: IpAddr) {
        if !proxy::is_trusted(&self.trusted, peer) {
            let of_peer = |s: &Slot| s.class == Class::Waiting && s.peer == peer;
            while table.values().filter(|s| of_peer(s)).count() > self.budgets.waiting_per_client {
                if !evict_oldest(table, of_peer) {
                    break;
                }
            }
        }
        let waiting = |s: &Slot| s.class == Class::Waiting;
        while table.values().filter(|s| waiting(s)).count() > self.budgets.waiting {
            if !evict_oldest(table, waiting) {
                break;
            }
        }
    }
}

/// Closes and forgets the waiting connection that matches `which` and has
/// waited longest; false when there is none.
fn evict_oldest(table: &mut HashMap<u64, Slot>, which: impl Fn(&Slot) -> bool) -> bool {
    let oldest = table
        .iter()
        .filter(|(_, s)| s.class == Class::Waiting && which(s))
        .min_by_key(|(_, s)| s.since)
        .map(|(id, _)| *id);
    let Some(id) = oldest else {
        return false;
    };
    if let Some(slot) = table.remove(&id) {
        log::debug!(
            "closing a waiting connection from {} to make room",
            slot.peer
        );
        let _ = slot.socket.shutdown(Shutdown::Both);
    }
    true
}

/// The refusal when `class` has no room left.
fn full(class: Class) -> Refusal {
    Refusal(
        503,
        match class {
            Class::Push => messages::HTTP_PUSH_BUSY,
            Class::Stream => messages::HTTP_STREAMS_FULL,
            Class::Api | Class::Waiting => messages::HTTP_API_BUSY,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn requests_are_classed_by_their_path() {
        assert_eq!(Class::of("GET", "/iclock/getrequest?SN=1"), Class::Push);
        assert_eq!(Class::of("POST", "/iclock/cdata"), Class::Push);
        assert_eq!(Class::of("GET", "/events?since=x"), Class::Stream);
        assert_eq!(Class::of("HEAD", "/devices/a/events"), Class::Stream);
        assert_eq!(Class::of("POST", "/events"), Class::Api);
        assert_eq!(Class::of("GET", "/devices/a/events/x"), Class::Api);
        assert_eq!(Class::of("GET", "/health"), Class::Api);
    }

    #[test]
    fn budgets_share_out_the_slots() {
        let b = Budgets::of(512, 8);
        assert_eq!((b.push, b.api, b.streams), (128, 256, 128));
        assert_eq!(
            (b.streams_per_client, b.waiting, b.waiting_per_client),
            (8, 256, 16)
        );
        let tiny = Budgets::of(1, 8);
        assert!(tiny.push >= 1 && tiny.api >= 1 && tiny.streams >= 1 && tiny.waiting >= 1);
    }

    /// `n` connected sockets (their server ends).
    fn sockets(n: usize) -> (Vec<TcpStream>, Vec<Arc<TcpStream>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<TcpStream> = (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let servers = (0..n)
            .map(|_| Arc::new(listener.accept().unwrap().0))
            .collect();
        (clients, servers)
    }

    #[test]
    fn the_oldest_waiting_connection_makes_room() {
        let (_clients, servers) = sockets(5);
        let slots = Slots::new(Budgets::of(4, 8), Vec::new());
        let ip = |n: u8| IpAddr::from([127, 0, 0, n]);
        for (i, socket) in servers.iter().take(4).enumerate() {
            assert!(slots.admit(i as u64, ip(i as u8 + 2), socket.clone()));
            assert!(slots.begin(i as u64, Class::Api, ip(2)).is_ok() || i >= 2);
        }
        // Two API requests in flight (the API's share of 4), two waiting
        // beyond their cap of two: the fifth closes the oldest waiting.
        assert_eq!(slots.count(Class::Api), 2);
        assert!(slots.admit(4, ip(9), servers[4].clone()));
        assert_eq!(slots.len(), 4);
        assert_eq!(slots.begin(2, Class::Api, ip(4)), Err(None), "closed");
        // Full of work: nothing to close, refused.
        assert!(slots.begin(3, Class::Push, ip(5)).is_ok());
        assert!(slots.begin(4, Class::Stream, ip(9)).is_ok());
        assert!(!slots.admit(5, ip(10), servers[0].clone()));
        slots.finish(4);
        assert!(
            slots.admit(5, ip(10), servers[0].clone()),
            "a waiting one goes"
        );
    }

    #[test]
    fn streams_and_waiting_connections_are_capped_per_client() {
        let (_clients, servers) = sockets(12);
        let slots = Slots::new(Budgets::of(40, 8), Vec::new());
        let (a, b) = (IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3]));
        for (i, socket) in servers.iter().enumerate().take(10) {
            assert!(slots.admit(i as u64, a, socket.clone()));
        }
        let streams: Vec<_> = (0..10).map(|i| slots.begin(i, Class::Stream, a)).collect();
        assert_eq!(streams.iter().filter(|r| r.is_ok()).count(), 8);
        assert_eq!(
            streams[9],
            Err(Some(Refusal(503, messages::HTTP_STREAMS_PER_CLIENT)))
        );
        assert!(slots.begin(8, Class::Stream, b).is_ok(), "another client");
        // 20 waiting from one address: only the newest 16 stay.
        let slots = Slots::new(Budgets::of(100, 8), Vec::new());
        for i in 0..20u64 {
            let socket = servers[(i % 12) as usize].clone();
            assert!(slots.admit(i, a, socket));
        }
        assert_eq!(slots.len(), 16);
        assert_eq!(slots.begin(3, Class::Api, a), Err(None));
        assert!(slots.begin(19, Class::Api, a).is_ok());
        // A trusted proxy's waiting connections are not capped per address.
        let slots = Slots::new(Budgets::of(100, 8), proxy::default_trusted());
        for i in 0..20u64 {
            let socket = servers[(i % 12) as usize].clone();
            assert!(slots.admit(i, IpAddr::from([127, 0, 0, 1]), socket));
        }
        assert_eq!(slots.len(), 20);
    }
}
