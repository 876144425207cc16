//! Moving whole ZK packets over a socket: TCP (a byte stream, so frames are
//! reassembled from whatever pieces arrive) or UDP (one datagram a packet).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::error::{Error, Phase, ProtocolError, Result};
use super::wire::{parse_tcp_frame, Packet};

/// A connected socket that sends and receives whole ZK packets.
pub trait Transport: Send {
    /// Sends one packet; `phase` names what a failure interrupted.
    fn send(&mut self, packet: &Packet, phase: Phase) -> Result<()>;
    /// The next packet, waiting at most until `deadline`.
    fn recv(&mut self, deadline: Instant, phase: Phase) -> Result<Packet>;
    /// True for UDP (lossy: callers retry).
    fn is_udp(&self) -> bool;
    /// Closes the connection (nothing more is sent).
    fn shutdown(&self);
    /// Waits (at most `wait`) until the terminal closes its side, so that a
    /// terminal taking one connection at a time is free once this returns.
    fn wait_closed(&mut self, wait: Duration);
}

/// Opens the transport the options ask for.
pub fn open(
    host: &str,
    port: u16,
    udp: bool,
    connect_timeout: Duration,
) -> Result<Box<dyn Transport>> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::Unreachable(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| Error::Unreachable(format!("{host}: no addresses")))?;
    if udp {
        Ok(Box::new(Udp::connect(addr)?))
    } else {
        Ok(Box::new(Tcp::connect(addr, connect_timeout)?))
    }
}

/// Time left until `deadline`, if any.
pub fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// TCP: frames are cut out of a receive buffer; a read may hold part of a
/// frame or several frames.
pub struct Tcp {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    /// What one read lands in, zeroed once: frames are copied from it
    /// into `buf` (zeroing 64 KiB of `buf` before each read cost more
    /// than the reads of a 16-byte answer themselves).
    scratch: Box<[u8]>,
}

impl Tcp {
    /// Connects within `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Tcp> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| Error::from_io(e, Phase::Connect))?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(timeout));
        Ok(Tcp {
            stream,
            buf: Vec::with_capacity(1 << 17),
            start: 0,
            scratch: vec![0; 65536].into_boxed_slice(),
        })
    }
}

impl Transport for Tcp {
    fn send(&mut self, p: &Packet, phase: Phase) -> Result<()> {
        self.stream
            .write_all(&p.encode_tcp())
            .map_err(|e| Error::from_io(e, phase))
    }

    fn recv(&mut self, deadline: Instant, phase: Phase) -> Result<Packet> {
        loop {
            match parse_tcp_frame(&self.buf[self.start..]) {
                Ok(Some((p, used))) => {
                    self.start += used;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return Ok(p);
                }
                Ok(None) => {}
                Err(e) => return Err(ProtocolError::Wire(e).into()),
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let wait = remaining(deadline).ok_or(Error::Timeout(phase))?;
            self.stream
                .set_read_timeout(Some(wait))
                .map_err(|e| Error::from_io(e, phase))?;
            match self.stream.read(&mut self.scratch) {
                Ok(0) => return Err(Error::Closed(phase)),
                Ok(n) => self.buf.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(e, phase)),
            }
        }
    }

    fn is_udp(&self) -> bool {
        false
    }

    fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn wait_closed(&mut self, wait: Duration) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut sink = [0u8; 4096];
        let until = Instant::now() + wait;
        while Instant::now() < until {
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

/// UDP: one packet a datagram; datagrams that are not packets are skipped.
pub struct Udp {
    sock: UdpSocket,
    buf: Vec<u8>,
}

impl Udp {
    /// Binds an ephemeral port and connects it to `addr`.
    pub fn connect(addr: SocketAddr) -> Result<Udp> {
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let sock = UdpSocket::bind(local).map_err(|e| Error::from_io(e, Phase::Connect))?;
        sock.connect(addr)
            .map_err(|e| Error::from_io(e, Phase::Connect))?;
        Ok(Udp {
            sock,
            buf: vec![0; 65536],
        })
    }
}

impl Transport for Udp {
    fn send(&mut self, p: &Packet, phase: Phase) -> Result<()> {
        self.sock
            .send(&p.encode())
            .map(|_| ())
            .map_err(|e| Error::from_io(e, phase))
    }

    fn recv(&mut self, deadline: Instant, phase: Phase) -> Result<Packet> {
        loop {
            let wait = remaining(deadline).ok_or(Error::Timeout(phase))?;
            self.sock
                .set_read_timeout(Some(wait))
                .map_err(|e| Error::from_io(e, phase))?;
            match self.sock.recv(&mut self.buf) {
                Ok(n) => match Packet::parse(&self.buf[..n]) {
                    Ok(p) => return Ok(p),
                    Err(e) => log::debug!("ignoring bad UDP datagram: {e}"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_io(e, phase)),
            }
        }
    }

    fn is_udp(&self) -> bool {
        true
    }

    fn shutdown(&self) {}

    fn wait_closed(&mut self, _wait: Duration) {}
}
