//! Realtime events (spec §3.11): registering for them, receiving and ACKing
//! them, and parsing EF_ATTLOG payloads in every known variant.

use std::time::{Duration, Instant};

use super::codec::{u16_at, u32_at, until_nul, ZkTime};
use super::error::{Error, Phase, Result};
use super::session::Session;
use super::wire::{cmd, Packet};

/// Event flag of attendance events (the session field of event packets).
pub const EF_ATTLOG: u16 = 1;

/// A punch as a realtime event reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePunch {
    /// The PIN people know.
    pub user_id: String,
    /// Verify mode (the attendance record's `status`).
    pub status: u8,
    /// In/out state (the attendance record's `punch`).
    pub punch: u8,
    /// Device wall-clock time.
    pub time: ZkTime,
}

/// One event packet: its flag and, for EF_ATTLOG, the punches it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event flag (EF_ATTLOG = 1, EF_FPFTR = 256, …).
    pub flag: u16,
    /// Punches parsed from an EF_ATTLOG payload (empty for other events or
    /// an unknown payload size).
    pub punches: Vec<LivePunch>,
}

impl Event {
    /// Reads an event packet (command REG_EVENT).
    pub fn from_packet(p: &Packet) -> Event {
        let punches = if p.session == EF_ATTLOG {
            parse_attlog(&p.data)
        } else {
            Vec::new()
        };
        Event {
            flag: p.session,
            punches,
        }
    }
}

fn time_at(data: &[u8], at: usize) -> Option<ZkTime> {
    let b: [u8; 6] = data.get(at..at + 6)?.try_into().ok()?;
    Some(ZkTime::from_event_bytes(b))
}

/// Parses an EF_ATTLOG payload: 10 or 14 bytes (u16 user id), 12 bytes
/// (u32 user id), 32/36/37 bytes (24-byte user id text), or multiples of 52
/// (one 32-byte event and 20 unknown bytes each). Unknown sizes give none.
pub fn parse_attlog(data: &[u8]) -> Vec<LivePunch> {
    let short = |id: Option<u32>, at: usize| -> Option<LivePunch> {
        Some(LivePunch {
            user_id: id?.to_string(),
            status: *data.get(at)?,
            punch: *data.get(at + 1)?,
            time: time_at(data, at + 2)?,
        })
    };
    let text = |rec: &[u8]| -> Option<LivePunch> {
        Some(LivePunch {
            user_id: String::from_utf8_lossy(until_nul(rec.get(..24)?)).into_owned(),
            status: *rec.get(24)?,
            punch: *rec.get(25)?,
            time: time_at(rec, 26)?,
        })
    };
    let one = match data.len() {
        10 | 14 => short(u16_at(data, 0).map(u32::from), 2),
        12 => short(u32_at(data, 0), 4),
        32 | 36 | 37 => text(data),
        n if n >= 52 && n.is_multiple_of(52) => {
            return data.chunks_exact(52).filter_map(text).collect();
        }
        _ => None,
    };
    one.into_iter().collect()
}

impl Session {
    /// Asks the terminal to send events matching `mask` on this connection
    /// (0 stops them). The terminal must be enabled to produce them.
    pub fn register_events(&mut self, mask: u32) -> Result<()> {
        self.command(cmd::REG_EVENT, &mask.to_le_bytes())
            .map(|_| ())
    }

    /// The next event, waiting at most `wait`; `None` when none came.
    /// Every event is acknowledged as it is read.
    pub fn next_event(&mut self, wait: Duration) -> Result<Option<Event>> {
        if let Some(p) = self.pending_events.pop_front() {
            return Ok(Some(Event::from_packet(&p)));
        }
        let deadline = Instant::now() + wait;
        loop {
            match self.transport.recv(deadline, Phase::Data) {
                Ok(p) if p.command == cmd::REG_EVENT => {
                    self.ack_event()?;
                    return Ok(Some(Event::from_packet(&p)));
                }
                Ok(p) => log::debug!(
                    "ignoring {} (reply id {}) while waiting for events",
                    cmd::name(p.command),
                    p.reply_id
                ),
                Err(Error::Timeout(_)) => return Ok(None),
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
    }

    /// Acknowledges an event (ACK_OK with reply id 0, spec §3.11).
    pub(super) fn ack_event(&mut self) -> Result<()> {
        let ack = Packet::new(cmd::ACK_OK, self.session_id, 0, Vec::new());
        self.transport.send(&ack, Phase::Data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::wire::{hex, parse_tcp_frame};

    #[test]
    fn v22_twelve_byte_event() {
        // The test's prefix length was edited; rebuild it from the header.
        let frame = hex("5050827d 14000000 f401 ae43 0100 0000 f1944900 00 00 12 0c 07 13 09 06");
        let (p, _) = parse_tcp_frame(&frame).unwrap().unwrap();
        assert!(p.checksum_ok());
        assert_eq!(
            (p.command, p.session, p.reply_id),
            (cmd::REG_EVENT, EF_ATTLOG, 0)
        );
        let e = Event::from_packet(&p);
        assert_eq!(
            e.punches,
            vec![LivePunch {
                user_id: "4822257".into(),
                status: 0,
                punch: 0,
                time: crate::zk::codec::parse_timestamp("2018-12-07 19:09:06").unwrap(),
            }]
        );
    }

    #[test]
    fn v23_and_v24_thirty_two_byte_events() {
        let mut v23 = b"1140064".to_vec();
        v23.resize(24, 0);
        v23.extend(hex("0f 00 12 0b 1d 0c 37 03"));
        let p = parse_attlog(&v23);
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].user_id.as_str(), p[0].status, p[0].punch),
            ("1140064", 15, 0)
        );
        assert_eq!(p[0].time.to_string(), "2018-11-29 12:55:03");

        let frame = hex("50 50 82 7D 28 00 00 00 F4 01 AC 12 01 00 00 00
             39 39 39 31 31 31 33 33 33 00 00 00 00 00 00 00
             00 00 00 00 00 00 00 00 01 00 12 06 19 11 29 05");
        let (packet, used) = parse_tcp_frame(&frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        assert!(packet.checksum_ok());
        let e = Event::from_packet(&packet);
        assert_eq!(e.punches[0].user_id, "999111333");
        assert_eq!((e.punches[0].status, e.punches[0].punch), (1, 0));
        assert_eq!(e.punches[0].time.to_string(), "2018-06-25 17:41:05");
    }

    #[test]
    fn every_payload_variant() {
        let time = hex("12 0c 07 13 09 06");
        let mut ten = vec![0x39, 0x30, 1, 4];
        ten.extend(&time);
        let mut fourteen = ten.clone();
        fourteen.extend([9, 9, 9, 9]);
        for data in [&ten, &fourteen] {
            let p = parse_attlog(data);
            assert_eq!(
                (p[0].user_id.as_str(), p[0].status, p[0].punch),
                ("12345", 1, 4)
            );
            assert_eq!(p[0].time.to_string(), "2018-12-07 19:09:06");
        }
        let mut text = b"77".to_vec();
        text.resize(24, 0);
        text.extend([15, 1]);
        text.extend(&time);
        for extra in [0usize, 4, 5, 20] {
            let mut data = text.clone();
            data.resize(32 + extra, 0xee);
            let p = parse_attlog(&data);
            assert_eq!(p.len(), 1, "{} bytes", data.len());
            assert_eq!(
                (p[0].user_id.as_str(), p[0].status, p[0].punch),
                ("77", 15, 1)
            );
        }
        let mut two = text.clone();
        two.resize(52, 0);
        let mut second = b"78".to_vec();
        second.resize(24, 0);
        second.extend([1, 0]);
        second.extend(&time);
        second.resize(52, 0);
        two.extend(second);
        let p = parse_attlog(&two);
        assert_eq!(
            p.iter().map(|p| p.user_id.as_str()).collect::<Vec<_>>(),
            ["77", "78"]
        );
        assert!(parse_attlog(&[1, 2, 3]).is_empty());
        assert!(parse_attlog(&[]).is_empty());
    }

    #[test]
    fn v25_other_events_carry_no_punch() {
        let frame = hex("50 50 82 7D 09 00 00 00 F4 01 A7 FC 00 01 00 00 64");
        let (p, _) = parse_tcp_frame(&frame).unwrap().unwrap();
        assert!(p.checksum_ok());
        let e = Event::from_packet(&p);
        assert_eq!(e.flag, 256);
        assert!(e.punches.is_empty());
    }

    #[test]
    fn v26_event_ack_and_registration_bytes() {
        let reg = Packet::new(cmd::REG_EVENT, 0x45cf, 7, 1u32.to_le_bytes().to_vec());
        assert_eq!(
            reg.encode_tcp(),
            hex("5050827d 0c000000 f401 34b8 cf45 0700 01000000")
        );
        let ack = Packet::new(cmd::ACK_OK, 0x45cf, 0, Vec::new());
        assert_eq!(
            ack.encode_tcp(),
            hex("5050827d 08000000 d007 60b2 cf45 0000")
        );
    }
}
