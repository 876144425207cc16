//! The simulator's sockets: one thread per TCP connection, one UDP loop, and
//! the fault injection that happens on the wire (split writes, latency,
//! stalls, closes, UDP drops and duplicates).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::device::{Action, Conn, Device, Reply};
use super::Rng;
use crate::zk::wire::{cmd, parse_tcp_frame, Packet};

/// Binds a TCP listener and a UDP socket on the same port.
pub fn bind_pair(addr: SocketAddr) -> std::io::Result<(TcpListener, UdpSocket)> {
    let mut last_err = None;
    for _ in 0..50 {
        let tcp = TcpListener::bind(addr)?;
        let port = tcp.local_addr()?.port();
        match UdpSocket::bind(SocketAddr::new(addr.ip(), port)) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) if addr.port() == 0 => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no free port")))
}

/// Accepts TCP connections until `stop` is set.
pub fn spawn_tcp(listener: TcpListener, device: Arc<Device>, stop: Arc<AtomicBool>) {
    let addr = listener.local_addr().ok();
    let _ = listener.set_nonblocking(true);
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    {
                        let mut st = device.state().lock();
                        let busy = device.one_connection() && st.stats.open > 0;
                        if st.offline || busy {
                            st.stats.refused += 1;
                            let _ = stream.shutdown(std::net::Shutdown::Both);
                            continue;
                        }
                        // Counted here, so a second connection right behind
                        // this one sees it.
                        st.stats.connections += 1;
                        st.stats.open += 1;
                    }
                    let device = device.clone();
                    std::thread::spawn(move || serve_tcp(stream, &device));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => {
                    log::warn!("sim: accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        log::debug!("sim: TCP listener {addr:?} stopped");
    });
}

/// How often an open connection looks for events to push and cut links.
const POLL: Duration = Duration::from_millis(5);
/// An idle connection is closed after this long.
const IDLE_LIMIT: Duration = Duration::from_secs(300);

fn serve_tcp(mut stream: TcpStream, device: &Device) {
    let opened = Instant::now();
    let generation = device.state().lock().link_generation;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let mut last_read = Instant::now();
    let mut conn = Conn::default();
    let mut rng = Rng::new(u64::from(opened.elapsed().subsec_nanos()) + 1);
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = vec![0u8; 65536];
    // The conversation runs from CONNECT to EXIT (or the connection's end).
    let mut conversation: Option<Instant> = None;
    let end_conversation = |since: &mut Option<Instant>| {
        if let Some(start) = since.take() {
            let mut st = device.state().lock();
            st.stats.active -= 1;
            st.stats.intervals.push((start, Instant::now()));
        }
    };
    'conn: loop {
        loop {
            match parse_tcp_frame(&buf) {
                Ok(Some((p, used))) => {
                    buf.drain(..used);
                    if p.command == cmd::CONNECT && conversation.is_none() {
                        conversation = Some(Instant::now());
                        let mut st = device.state().lock();
                        st.stats.active += 1;
                        st.stats.max_active = st.stats.max_active.max(st.stats.active);
                    }
                    if p.command == cmd::EXIT {
                        end_conversation(&mut conversation);
                    }
                    let reply = device.handle(&mut conn, &p);
                    if !send_tcp(&mut stream, device, &reply, &mut rng) {
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("sim: bad TCP frame ({e}); closing");
                    break 'conn;
                }
            }
        }
        let events = device.pending_events(&mut conn);
        if !events.is_empty() {
            let reply = Reply {
                packets: events,
                action: Action::Send,
            };
            if !send_tcp(&mut stream, device, &reply, &mut rng) {
                break 'conn;
            }
        }
        if device.state().lock().link_generation != generation {
            log::debug!("sim: cutting a connection (link dropped)");
            break;
        }
        match stream.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => {
                last_read = Instant::now();
                buf.extend_from_slice(&tmp[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if last_read.elapsed() > IDLE_LIMIT {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    end_conversation(&mut conversation);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    device.state().lock().stats.open -= 1;
}

/// Writes a reply; returns false when the connection must end.
fn send_tcp(stream: &mut TcpStream, device: &Device, reply: &Reply, rng: &mut Rng) -> bool {
    let faults = device.state().lock().faults.clone();
    let (split, fault) = match reply.action {
        Action::StallAt { at, .. } | Action::CloseAt { at } => (at, true),
        _ => (reply.packets.len(), false),
    };
    let write = |stream: &mut TcpStream, packets: &[Packet], rng: &mut Rng| -> bool {
        if !faults.latency.is_zero() {
            for p in packets {
                std::thread::sleep(faults.latency);
                if write_split(stream, &p.encode_tcp(), faults.split_writes, rng).is_err() {
                    return false;
                }
            }
            return true;
        }
        let bytes: Vec<u8> = packets.iter().flat_map(Packet::encode_tcp).collect();
        write_split(stream, &bytes, faults.split_writes, rng).is_ok()
    };
    if !write(stream, &reply.packets[..split], rng) {
        return false;
    }
    match reply.action {
        Action::Send => true,
        Action::Close | Action::CloseAt { .. } => false,
        Action::StallAt { for_, .. } => {
            log::info!("sim: stalling {for_:?} mid-transfer");
            std::thread::sleep(for_);
            fault && write(stream, &reply.packets[split..], rng)
        }
    }
}

fn write_split(
    stream: &mut TcpStream,
    bytes: &[u8],
    max_piece: usize,
    rng: &mut Rng,
) -> std::io::Result<()> {
    if max_piece == 0 {
        return stream.write_all(bytes);
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = (1 + rng.below(max_piece as u64) as usize).min(rest.len());
        stream.write_all(&rest[..n])?;
        stream.flush()?;
        rest = &rest[n..];
    }
    Ok(())
}

/// Serves UDP datagrams until `stop` is set; sessions are keyed by session id.
pub fn spawn_udp(sock: UdpSocket, device: Arc<Device>, stop: Arc<AtomicBool>) {
    let _ = sock.set_read_timeout(Some(POLL));
    std::thread::spawn(move || {
        let mut sessions: HashMap<u16, Conn> = HashMap::new();
        let mut peers: HashMap<u16, SocketAddr> = HashMap::new();
        let mut buf = vec![0u8; 65536];
        let mut sent: u64 = 0;
        while !stop.load(Ordering::SeqCst) {
            // Realtime events for sessions registered for them.
            for (id, conn) in &mut sessions {
                let events = device.pending_events(conn);
                if let (false, Some(peer)) = (events.is_empty(), peers.get(id)) {
                    let reply = Reply {
                        packets: events,
                        action: Action::Send,
                    };
                    send_udp(&sock, *peer, &device, &reply, &mut sent);
                }
            }
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if device.state().lock().offline {
                continue;
            }
            let Ok(p) = Packet::parse(&buf[..n]) else {
                continue;
            };
            let mut conn = if p.command == cmd::CONNECT {
                Conn {
                    udp: true,
                    ..Conn::default()
                }
            } else {
                sessions.remove(&p.session).unwrap_or(Conn {
                    udp: true,
                    ..Conn::default()
                })
            };
            let reply = device.handle(&mut conn, &p);
            if p.command == cmd::CONNECT && !reply.packets.is_empty() {
                let mut st = device.state().lock();
                st.stats.connections += 1;
            }
            let keep = send_udp(&sock, peer, &device, &reply, &mut sent);
            if keep && conn.session_id != 0 {
                peers.insert(conn.session_id, peer);
                sessions.insert(conn.session_id, conn);
            } else {
                peers.remove(&conn.session_id);
            }
        }
    });
}

/// Sends a reply as datagrams with drop/duplicate faults; false = forget the session.
fn send_udp(
    sock: &UdpSocket,
    peer: SocketAddr,
    device: &Device,
    reply: &Reply,
    sent: &mut u64,
) -> bool {
    let faults = device.state().lock().faults.clone();
    let (split, stall) = match reply.action {
        Action::StallAt { at, for_ } => (at, Some(for_)),
        Action::CloseAt { at } => (at, None),
        _ => (reply.packets.len(), None),
    };
    let mut emit = |p: &Packet| {
        *sent += 1;
        if !faults.latency.is_zero() {
            std::thread::sleep(faults.latency);
        }
        if faults.udp_drop_every > 0 && (*sent).is_multiple_of(u64::from(faults.udp_drop_every)) {
            return;
        }
        let bytes = p.encode();
        let _ = sock.send_to(&bytes, peer);
        if faults.udp_duplicate_every > 0
            && (*sent).is_multiple_of(u64::from(faults.udp_duplicate_every))
        {
            let _ = sock.send_to(&bytes, peer);
        }
    };
    reply.packets[..split].iter().for_each(&mut emit);
    match reply.action {
        // UDP has no connection to close: a cut transfer just stops.
        Action::Send | Action::CloseAt { .. } => true,
        Action::Close => false,
        Action::StallAt { .. } => {
            if let Some(d) = stall {
                std::thread::sleep(d);
            }
            reply.packets[split..].iter().for_each(&mut emit);
            true
        }
    }
}
