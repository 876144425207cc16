//! The simulated terminal's command handling, shared by TCP and UDP.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::templates::{self, Answer, Upload};
use super::{EventFormat, Rng, SimConfig, State, TcpFraming};
use crate::zk::codec::{commkey, u32_at, until_nul, ZkTime};
use crate::zk::events::EF_ATTLOG;
use crate::zk::records::{self, Attendance, User};
use crate::zk::wire::{cmd, Packet};

/// Per-connection (TCP) or per-session (UDP) state.
#[derive(Debug, Default)]
pub struct Conn {
    /// Session id handed out at CONNECT (0 before).
    pub session_id: u16,
    /// True once CONNECT (and AUTH if required) succeeded.
    pub authed: bool,
    /// Dataset prepared by PREPARE_BUFFER for READ_BUFFER.
    pub buffer: Option<Vec<u8>>,
    /// True for UDP.
    pub udp: bool,
    /// True once a mid-transfer fault fired on this connection.
    pub fault_fired: bool,
    /// True when `buffer` holds the attendance log.
    pub buffer_is_attendance: bool,
    /// Event mask registered with REG_EVENT (0 = none).
    pub event_mask: u32,
    /// Index of the first punch not yet sent as an event.
    pub events_from: usize,
    /// The upload buffer (PREPARE_DATA … DATA) of template writes.
    pub upload: Option<Upload>,
}

/// What the network layer must do with a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send the packets.
    Send,
    /// Send the packets then close the connection.
    Close,
    /// Send the packets before `at`, wait `for_`, then send the rest.
    StallAt { at: usize, for_: Duration },
    /// Send the packets before `at`, then close the connection.
    CloseAt { at: usize },
}

/// Packets to send back and how.
#[derive(Debug)]
pub struct Reply {
    pub packets: Vec<Packet>,
    pub action: Action,
}

impl Reply {
    fn one(p: Packet) -> Reply {
        Reply {
            packets: vec![p],
            action: Action::Send,
        }
    }
    fn none() -> Reply {
        Reply {
            packets: Vec::new(),
            action: Action::Send,
        }
    }
}

/// The terminal's protocol brain.
pub struct Device {
    config: SimConfig,
    state: Arc<Mutex<State>>,
    rng: Mutex<Rng>,
}

impl Device {
    /// A device over shared state.
    pub fn new(config: SimConfig, state: Arc<Mutex<State>>) -> Device {
        let rng = Mutex::new(Rng::new(config.seed ^ 0xABCD));
        Device { config, state, rng }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<Mutex<State>> {
        &self.state
    }

    /// Whether only one TCP connection is served at a time.
    pub fn one_connection(&self) -> bool {
        self.config.one_connection
    }

    /// Handles one request packet.
    pub fn handle(&self, conn: &mut Conn, p: &Packet) -> Reply {
        let faults = self.faults_seeing(p);
        if faults.silent {
            return Reply::none();
        }
        if p.command == cmd::ACK_OK {
            // A client acknowledging an event: no answer.
            self.state.lock().stats.event_acks += 1;
            return Reply::none();
        }
        if let Some(reply) = self.handshake(conn, p, &faults) {
            return reply;
        }
        if faults.no_reply_to == Some(p.command) {
            return Reply::none();
        }
        if faults.close_on == Some(p.command) {
            return Reply {
                packets: Vec::new(),
                action: Action::Close,
            };
        }
        let session = conn.session_id;
        let ack = |code: u16, data: Vec<u8>| Packet::new(code, session, p.reply_id, data);
        if faults.ack_error_for == Some(p.command) {
            return Reply::one(ack(cmd::ACK_ERROR, Vec::new()));
        }
        self.count_write(p);
        match p.command {
            cmd::EXIT => Reply {
                packets: vec![ack(cmd::ACK_OK, Vec::new())],
                action: Action::Close,
            },
            cmd::RESTART => self.restart(ack(cmd::ACK_OK, Vec::new())),
            cmd::PREPARE_BUFFER => self.prepare_buffer(conn, p),
            cmd::READ_BUFFER => self.read_buffer(conn, p, &faults),
            command if templates::is_template_command(command, &p.data) => {
                self.template_command(conn, p)
            }
            _ => {
                let answer = match self.device_command(conn, p) {
                    Some(answer) => Some(answer),
                    None => self.table_command(conn, p),
                };
                match answer {
                    Some(Ok(data)) => Reply::one(ack(cmd::ACK_OK, data)),
                    Some(Err(())) => Reply::one(ack(cmd::ACK_ERROR, Vec::new())),
                    None => Reply::one(ack(cmd::ACK_UNKNOWN, Vec::new())),
                }
            }
        }
    }

    /// Counts a command that changes users or templates, and upload bytes.
    fn count_write(&self, p: &Packet) {
        let changes = matches!(
            p.command,
            cmd::USER_WRQ
                | cmd::DELETE_USER
                | cmd::USERTEMP_EX_WRQ
                | cmd::UPDATE_FIRMWARE
                | cmd::DELETE_USERTEMP
                | cmd::SSR_DELETE_USERTEMP
                | cmd::DELETE_USERFACE
        );
        if changes || p.command == cmd::DATA {
            let mut st = self.state.lock();
            if changes {
                st.stats.writes += 1;
            } else {
                st.stats.uploaded_bytes += p.data.len() as u64;
            }
        }
    }

    /// RESTART: acknowledged, then every connection is cut (this one after
    /// the ACK) as a rebooting terminal drops them; it answers again at
    /// once, enabled, with its data and clock kept.
    fn restart(&self, ack: Packet) -> Reply {
        let mut st = self.state.lock();
        st.stats.restarts += 1;
        st.disabled = false;
        st.link_generation += 1;
        Reply {
            packets: vec![ack],
            action: Action::Close,
        }
    }

    /// Counts a bad checksum and takes a copy of the faults in force.
    fn faults_seeing(&self, p: &Packet) -> super::Faults {
        let mut st = self.state.lock();
        if !p.checksum_ok() {
            st.stats.bad_checksums += 1;
            log::warn!("sim: bad checksum on command {}", p.command);
        }
        st.faults.clone()
    }

    /// CONNECT and AUTH, and the refusal of anything else before the comm
    /// key was accepted; `None` for a command of an authorised session.
    fn handshake(&self, conn: &mut Conn, p: &Packet, faults: &super::Faults) -> Option<Reply> {
        let code = match p.command {
            cmd::CONNECT => {
                let id = (self.rng.lock().below(0xFFFE) + 1) as u16;
                conn.session_id = id;
                conn.authed = self.config.comm_key == 0 && !faults.always_auth;
                return Some(Reply::one(Packet::new(
                    if conn.authed {
                        cmd::ACK_OK
                    } else {
                        cmd::ACK_UNAUTH
                    },
                    id,
                    p.reply_id,
                    Vec::new(),
                )));
            }
            cmd::AUTH => {
                conn.authed = match p.data.as_slice() {
                    [_, _, ticks, _] => {
                        commkey(self.config.comm_key, conn.session_id, *ticks)[..] == p.data[..]
                    }
                    _ => false,
                };
                if conn.authed {
                    cmd::ACK_OK
                } else {
                    cmd::ACK_UNAUTH
                }
            }
            _ if !conn.authed => cmd::ACK_UNAUTH,
            _ => return None,
        };
        Some(Reply::one(Packet::new(
            code,
            conn.session_id,
            p.reply_id,
            Vec::new(),
        )))
    }

    /// Commands about the terminal itself: state, identity, clock, events.
    /// `None` when `p` is not one of them; `Err` answers ACK_ERROR.
    fn device_command(&self, conn: &mut Conn, p: &Packet) -> Option<Result<Vec<u8>, ()>> {
        let answer = match p.command {
            cmd::ENABLE_DEVICE | cmd::DISABLE_DEVICE => {
                let mut st = self.state.lock();
                st.disabled = p.command == cmd::DISABLE_DEVICE;
                if st.disabled {
                    st.stats.disables += 1;
                } else {
                    st.stats.enables += 1;
                }
                Ok(Vec::new())
            }
            cmd::GET_VERSION => Ok(b"Ver 6.60 Apr 28 2015\0".to_vec()),
            cmd::OPTIONS_RRQ => {
                let key = String::from_utf8_lossy(until_nul(&p.data)).into_owned();
                self.option(&key)
                    .map(|v| format!("{key}={v}\0").into_bytes())
                    .ok_or(())
            }
            cmd::GET_FREE_SIZES => Ok(self.sizes()),
            cmd::GET_TIME => Ok(self.now().encode().to_le_bytes().to_vec()),
            cmd::SET_TIME => u32_at(&p.data, 0)
                .map(ZkTime::decode)
                .ok_or(())
                .map(|wanted| {
                    if let Some(t) = wanted.to_naive() {
                        let now = chrono::Local::now().naive_local();
                        self.state.lock().clock_offset = (t - now).num_seconds();
                    }
                    Vec::new()
                }),
            cmd::FREE_DATA => {
                conn.buffer = None;
                conn.upload = None;
                Ok(Vec::new())
            }
            cmd::REG_EVENT => {
                conn.event_mask = u32_at(&p.data, 0).unwrap_or(0);
                conn.events_from = self.state.lock().punches.len();
                Ok(Vec::new())
            }
            cmd::REFRESH_DATA | cmd::CANCEL_CAPTURE | cmd::START_VERIFY => Ok(Vec::new()),
            _ => return None,
        };
        Some(answer)
    }

    /// Commands that change the terminal's tables: users, enrolment, the
    /// attendance log. `None` when `p` is not one of them.
    fn table_command(&self, conn: &mut Conn, p: &Packet) -> Option<Result<Vec<u8>, ()>> {
        let mut st = self.state.lock();
        match p.command {
            cmd::USER_WRQ => {
                let user = records::UserFormat::from_size(p.data.len())
                    .and_then(|format| records::parse_user_record(&p.data, format))
                    .ok_or(());
                Some(user.map(|user| {
                    match st.users.iter_mut().find(|u| u.uid == user.uid) {
                        Some(existing) => *existing = user,
                        None => st.users.push(user),
                    }
                    Vec::new()
                }))
            }
            cmd::DELETE_USER => Some(match p.data.as_slice() {
                [a, b, ..] => {
                    let uid = u16::from_le_bytes([*a, *b]);
                    st.users.retain(|u| u.uid != uid);
                    st.templates.retain(|t| t.uid != uid);
                    Ok(Vec::new())
                }
                _ => Err(()),
            }),
            cmd::START_ENROLL => {
                let wanted = match p.data.as_slice() {
                    [id @ .., finger, _flag] if id.len() == 24 => {
                        Some((String::from_utf8_lossy(until_nul(id)).into_owned(), *finger))
                    }
                    [a, b, c, d, finger] => {
                        Some((u32::from_le_bytes([*a, *b, *c, *d]).to_string(), *finger))
                    }
                    _ => None,
                };
                Some(match wanted {
                    Some((user_id, finger))
                        if finger <= 9 && st.users.iter().any(|u| u.user_id == user_id) =>
                    {
                        st.enrolling = Some((user_id, finger));
                        Ok(Vec::new())
                    }
                    _ => Err(()),
                })
            }
            cmd::CLEAR_ATTLOG => {
                st.punches.clear();
                st.encoded_punches = None;
                conn.events_from = 0;
                Some(Ok(Vec::new()))
            }
            _ => None,
        }
    }

    /// A template command (`sim::templates`), its large answers framed as
    /// a terminal frames them: PREPARE_DATA, DATA frames of 1008 (TCP) or
    /// 1024 (UDP) bytes numbered in the session field, ACK_OK with the last
    /// index; in v9 mode one ACK_OK carrying the data, session = length.
    fn template_command(&self, conn: &mut Conn, p: &Packet) -> Reply {
        let answer = {
            let mut st = self.state.lock();
            templates::answer(
                &self.config,
                &mut st,
                &mut conn.upload,
                p.command,
                p.reply_id,
                &p.data,
            )
        };
        let packet =
            |code: u16, session: u16, data: Vec<u8>| Packet::new(code, session, p.reply_id, data);
        match answer {
            Answer::Ok(data) => Reply::one(packet(cmd::ACK_OK, conn.session_id, data)),
            Answer::Error(code) => Reply::one(packet(cmd::ACK_ERROR, code, Vec::new())),
            Answer::Large(data) if self.config.fp_version == 9 => {
                let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
                Reply::one(packet(cmd::ACK_OK, len, data))
            }
            Answer::Large(data) => {
                let per_packet: usize = if conn.udp { 1024 } else { 1008 };
                let mut prep = (data.len() as u32).to_le_bytes().to_vec();
                prep.extend_from_slice(&(per_packet as u32).to_le_bytes());
                let mut packets = vec![packet(cmd::PREPARE_DATA, conn.session_id, prep)];
                let mut last = 0u16;
                for (i, piece) in data.chunks(per_packet).enumerate() {
                    last = i as u16;
                    packets.push(packet(cmd::DATA, last, piece.to_vec()));
                }
                packets.push(packet(cmd::ACK_OK, last, Vec::new()));
                Reply {
                    packets,
                    action: Action::Send,
                }
            }
        }
    }

    /// Event packets for punches made since the connection last got any
    /// (all in one reply, so several events can share one TCP segment).
    pub fn pending_events(&self, conn: &mut Conn) -> Vec<Packet> {
        if conn.event_mask & u32::from(EF_ATTLOG) == 0 || !self.config.events {
            return Vec::new();
        }
        let mut st = self.state.lock();
        if st.offline {
            return Vec::new();
        }
        conn.events_from = conn.events_from.min(st.punches.len());
        let format = match self.config.event_format {
            EventFormat::Auto => match self.config.attendance_format {
                records::AttFormat::Uid8 => EventFormat::Short10,
                records::AttFormat::Pin16 => EventFormat::Pin12,
                _ => EventFormat::Text32,
            },
            f => f,
        };
        let packets: Vec<Packet> = st.punches[conn.events_from..]
            .iter()
            .map(|a| Packet::new(cmd::REG_EVENT, EF_ATTLOG, 0, encode_event(a, format)))
            .collect();
        conn.events_from = st.punches.len();
        st.stats.events_sent += packets.len() as u64;
        packets
    }

    fn option(&self, key: &str) -> Option<String> {
        Some(match key {
            "~SerialNumber" => self.config.serial.clone(),
            "~DeviceName" => self.config.device_name.clone(),
            "~Platform" => "ZEM560_TFT".into(),
            "~ZKFPVersion" => self.config.fp_version.to_string(),
            "~OS" => "1".into(),
            "~ExtendFmt" => "0".into(),
            _ => return None,
        })
    }

    fn now(&self) -> ZkTime {
        let offset = self.state.lock().clock_offset;
        let t = chrono::Local::now().naive_local() + chrono::Duration::seconds(offset);
        ZkTime::from_naive(&t)
    }

    fn sizes(&self) -> Vec<u8> {
        let st = self.state.lock();
        let records = (st.punches.len() as i64 + i64::from(st.faults.count_skew)).max(0) as u32;
        let users = st.users.len() as u32;
        let fingers = st.templates.len() as u32;
        let mut w = [0u32; 23];
        w[4] = users;
        w[6] = fingers;
        w[8] = records;
        w[12] = 1;
        let capacity = self.config.finger_capacity;
        w[14] = capacity;
        w[15] = 10_000;
        w[16] = 200_000;
        w[17] = capacity.saturating_sub(fingers);
        w[18] = 10_000u32.saturating_sub(users);
        w[19] = 200_000u32.saturating_sub(records);
        if self.config.face_capacity > 0 {
            w[20] = st.faces.len() as u32;
            w[22] = self.config.face_capacity;
        }
        w.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn dataset(&self, inner: u16, fct: u32) -> Option<Vec<u8>> {
        let mut st = self.state.lock();
        match (inner, fct) {
            (cmd::ATTLOG_RRQ, _) => {
                st.stats.attendance_reads += 1;
                let format = self.config.attendance_format;
                let wanted = st.punches.len() * format.size();
                let mut body = st.encoded_punches.take().unwrap_or_default();
                // Encode only the punches the cache does not hold yet.
                if body.len() > wanted || !body.len().is_multiple_of(format.size()) {
                    body.clear();
                }
                for a in &st.punches[body.len() / format.size()..] {
                    body.extend_from_slice(&records::encode_attendance(a, format));
                }
                let data = records::dataset(&body);
                st.encoded_punches = Some(body);
                Some(data)
            }
            (cmd::USERTEMP_RRQ, 5) => {
                let format = self.config.user_format;
                let body: Vec<u8> = st
                    .users
                    .iter()
                    .flat_map(|u| records::encode_user(u, format))
                    .collect();
                Some(records::dataset(&body))
            }
            (cmd::DB_RRQ, 2) => {
                let body: Vec<u8> = st
                    .templates
                    .iter()
                    .flat_map(records::encode_template)
                    .collect();
                Some(records::dataset(&body))
            }
            _ => None,
        }
    }

    fn prepare_buffer(&self, conn: &mut Conn, p: &Packet) -> Reply {
        let ack = |code: u16, data: Vec<u8>| Packet::new(code, conn.session_id, p.reply_id, data);
        let (inner, fct) = match p.data.as_slice() {
            [1, c0, c1, f0, f1, f2, f3, ..] => (
                u16::from_le_bytes([*c0, *c1]),
                u32::from_le_bytes([*f0, *f1, *f2, *f3]),
            ),
            _ => return Reply::one(ack(cmd::ACK_ERROR, Vec::new())),
        };
        let Some(data) = self.dataset(inner, fct) else {
            return Reply::one(ack(cmd::ACK_ERROR, Vec::new()));
        };
        conn.buffer_is_attendance = inner == cmd::ATTLOG_RRQ;
        if data.len() <= self.config.inline_threshold {
            if conn.buffer_is_attendance {
                self.state.lock().stats.attendance_bytes += data.len() as u64;
            }
            return Reply::one(ack(cmd::DATA, data));
        }
        let size = (data.len() as u32).to_le_bytes();
        let mut stat = vec![0u8];
        stat.extend_from_slice(&size);
        stat.extend_from_slice(&size);
        stat.extend_from_slice(&0x0023_EFCDu32.to_le_bytes());
        conn.buffer = Some(data);
        Reply::one(ack(cmd::ACK_OK, stat))
    }

    fn read_buffer(&self, conn: &mut Conn, p: &Packet, faults: &super::Faults) -> Reply {
        let err = Packet::new(cmd::ACK_ERROR, conn.session_id, p.reply_id, Vec::new());
        let (Some(offset), Some(len)) = (u32_at(&p.data, 0), u32_at(&p.data, 4)) else {
            return Reply::one(err);
        };
        let (mut offset, len) = (offset as usize, len as usize);
        let alignment = if conn.udp { 16 * 1024 } else { 0xFFC0 };
        if offset % alignment != 0 {
            match self.config.offset_mode {
                super::OffsetMode::Exact => {}
                super::OffsetMode::RefuseUnaligned => return Reply::one(err),
                super::OffsetMode::RoundDown => offset -= offset % alignment,
            }
        }
        let Some(chunk) = conn
            .buffer
            .as_ref()
            .and_then(|b| b.get(offset..offset.checked_add(len)?))
        else {
            return Reply::one(err);
        };
        {
            let mut st = self.state.lock();
            st.stats.chunk_reads += 1;
            if conn.buffer_is_attendance {
                st.stats.attendance_bytes += chunk.len() as u64;
            }
        }
        let per_packet = if conn.udp { 1024 } else { 1008 };
        let mut prep = (len as u32).to_le_bytes().to_vec();
        prep.extend_from_slice(&(per_packet as u32).to_le_bytes());
        let mut packets = vec![Packet::new(
            cmd::PREPARE_DATA,
            conn.session_id,
            p.reply_id,
            prep,
        )];
        if !conn.udp && self.config.tcp_framing == TcpFraming::Single {
            packets.push(Packet::new(
                cmd::DATA,
                conn.session_id,
                p.reply_id,
                chunk.to_vec(),
            ));
        } else {
            let indexed = !conn.udp || self.config.udp_frame_index;
            for (i, piece) in chunk.chunks(per_packet).enumerate() {
                let session = if indexed { i as u16 } else { conn.session_id };
                packets.push(Packet::new(cmd::DATA, session, p.reply_id, piece.to_vec()));
            }
        }
        packets.push(Packet::new(
            cmd::ACK_OK,
            conn.session_id,
            p.reply_id,
            Vec::new(),
        ));
        let at = packets.len() / 2;
        let action = if conn.fault_fired {
            Action::Send
        } else if let Some(for_) = faults.stall {
            conn.fault_fired = true;
            Action::StallAt { at, for_ }
        } else if faults.close_mid_transfer {
            conn.fault_fired = true;
            Action::CloseAt { at }
        } else {
            Action::Send
        };
        Reply { packets, action }
    }
}

/// A punch as a client reading the configured format must report it: 16-byte
/// records carry numeric user ids, 8-byte ones only a uid (resolved through the
/// users), 40/49-byte ones a 24-byte string.
pub fn as_seen_in_format(p: &Attendance, format: records::AttFormat, users: &[User]) -> Attendance {
    let mut a = p.clone();
    match format {
        records::AttFormat::Uid8 => {
            a.user_id = users
                .iter()
                .find(|u| u.uid == p.uid)
                .map_or_else(|| p.uid.to_string(), |u| u.user_id.clone());
        }
        records::AttFormat::Pin16 => {
            a.uid = 0;
            a.user_id = p.user_id.parse::<u32>().unwrap_or(0).to_string();
        }
        _ => a.user_id.truncate(24),
    }
    a
}

/// An EF_ATTLOG event payload for `a` in `format` (spec §3.11).
pub fn encode_event(a: &Attendance, format: EventFormat) -> Vec<u8> {
    let t = a.time;
    let time = [
        t.year.saturating_sub(2000) as u8,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
    ];
    let pin: u32 = a.user_id.parse().unwrap_or(0);
    let mut out = Vec::new();
    match format {
        EventFormat::Short10 | EventFormat::Short14 => {
            out.extend_from_slice(&(pin as u16).to_le_bytes());
            out.extend_from_slice(&[a.status, a.punch]);
            out.extend_from_slice(&time);
            if format == EventFormat::Short14 {
                out.extend_from_slice(&[0; 4]);
            }
        }
        EventFormat::Pin12 => {
            out.extend_from_slice(&pin.to_le_bytes());
            out.extend_from_slice(&[a.status, a.punch]);
            out.extend_from_slice(&time);
        }
        _ => {
            let mut id = a.user_id.as_bytes()[..a.user_id.len().min(24)].to_vec();
            id.resize(24, 0);
            out.extend_from_slice(&id);
            out.extend_from_slice(&[a.status, a.punch]);
            out.extend_from_slice(&time);
            let total = match format {
                EventFormat::Text36 => 36,
                EventFormat::Text37 => 37,
                EventFormat::Text52 => 52,
                _ => 32,
            };
            out.resize(total, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::events::parse_attlog;

    #[test]
    fn every_event_format_parses_back() {
        let a = Attendance {
            uid: 3,
            user_id: "1003".into(),
            time: crate::zk::codec::parse_timestamp("2026-11-27 08:01:02").unwrap(),
            status: 15,
            punch: 1,
        };
        for format in EventFormat::ALL {
            let p = parse_attlog(&encode_event(&a, format));
            assert_eq!(p.len(), 1, "{format:?}");
            assert_eq!(
                (p[0].user_id.as_str(), p[0].status, p[0].punch, p[0].time),
                ("1003", 15, 1, a.time),
                "{format:?}"
            );
        }
    }
}
