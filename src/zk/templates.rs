//! Fingerprint templates over the ZK binary protocol (templates-protocol.md
//! §2): the single-read reply (large data), the batch buffer, the buffer
//! hash, the algorithm version and the capacity counters — parsers and
//! encoders without I/O — and the conversations that use them: read one,
//! write many (upload buffer + batch save), write one (upload buffer +
//! CMD 87), delete one. Writes exist only on [`Disabled`], so they always run
//! with the terminal disabled. Template bytes are never logged.

use std::fmt;
use std::time::{Duration, Instant};

use super::chunk::{ChunkAssembler, Step};
use super::codec::{len_u32, u32_at};
pub use super::error::TemplateError;
use super::error::{Error, Phase, ProtocolError, Result};
use super::records::{encode_user, Template, User, UserFormat};
use super::session::{Disabled, Session, Sizes, UDP_ATTEMPTS};
use super::wire::{cmd, Packet};

/// Largest finger index (templates-protocol.md §1.2).
pub const MAX_FINGER: u8 = 9;
/// Largest piece of one upload DATA frame (§2.2).
pub const UPLOAD_PIECE: usize = 1024;
/// Subcode of CMD_UPDATE_FIREWARE (110) that applies a batch of users and
/// templates (§2.6.1).
pub const BATCH_SUBCODE: u32 = 12;
/// Batch row operation "add or overwrite" (`OpSign` 2, §2.6.1).
const OP_ADD_OVERWRITE: u8 = 2;
/// Largest single-template reply accepted (a face set is 15 × 2576 bytes).
const MAX_REPLY: usize = 1 << 20;
/// How long the batch save may take to answer: firmware sleeps 3 × 2 s and
/// rewrites flash (§2.6.1).
const BATCH_REPLY_WAIT: Duration = Duration::from_secs(60);
/// Firmware DB code "over the total finger limit" in an ACK_ERROR's session
/// field (§2.9).
pub const DB_FINGER_LIMIT: u16 = 1;
/// Firmware DB code −4 "no data" (user missing) as the u16 session field (§2.9).
pub const DB_NO_USER: u16 = 0xFFFC;

impl fmt::Debug for Template {
    /// Biometric data: the bytes are never printed, only their length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("uid", &self.uid)
            .field("finger", &self.finger)
            .field("valid", &self.valid)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// Fingerprint counters of GET_FREE_SIZES (§1.5: words 6, 14, 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateCapacity {
    /// Templates stored.
    pub stored: u32,
    /// Templates the terminal can hold (0 = not reported).
    pub capacity: u32,
    /// Room left as the terminal reports it.
    pub free: u32,
}

impl Sizes {
    /// The fingerprint template counters.
    pub fn templates(&self) -> TemplateCapacity {
        TemplateCapacity {
            stored: self.fingers,
            capacity: self.fingers_cap,
            free: self.fingers_av,
        }
    }
}

impl TemplateCapacity {
    /// Refuses when `adding` new templates do not fit (a capacity of 0
    /// means "not reported": nothing is refused).
    pub fn check(&self, adding: u32) -> std::result::Result<(), TemplateError> {
        if self.capacity > 0 && self.stored.saturating_add(adding) > self.capacity {
            return Err(TemplateError::CapacityFull {
                stored: self.stored,
                capacity: self.capacity,
                adding,
            });
        }
        Ok(())
    }
}

/// The fingerprint algorithm's major version from the `~ZKFPVersion` value
/// (§2.3: `10`, `9`; empty or unreadable = unknown).
pub fn parse_fp_version(value: &str) -> Option<u16> {
    value.trim().parse::<u16>().ok().filter(|v| *v > 0)
}

/// The template family its bytes show (§1.4): 10 when bytes 2..8 are
/// `SS21\0\0`, 9 when they begin `A1 CA`, else unknown.
pub fn template_family(data: &[u8]) -> Option<u16> {
    if data.get(2..8) == Some(b"SS21\0\0".as_slice()) {
        Some(10)
    } else if data.starts_with(&[0xA1, 0xCA]) {
        Some(9)
    } else {
        None
    }
}

/// The terminal's buffer hash (`CMD_HASH_DATA`, §2.2): hashpjw with the
/// firmware's signed shift.
pub fn hashpjw(data: &[u8]) -> u32 {
    let mut val: u32 = 0;
    for &b in data {
        val = (val << 4).wrapping_add(u32::from(b));
        let tmp = val & 0xF000_0000;
        if tmp != 0 {
            // The firmware's `int tmp >> 24` sign-extends: bits 31..8 repeat bit 31.
            let shifted = if tmp & 0x8000_0000 != 0 {
                (tmp >> 24) | 0xFFFF_FF00
            } else {
                tmp >> 24
            };
            val ^= shifted;
            val ^= tmp;
        }
    }
    val % (65536 * 255 - 1)
}

/// Refuses templates whose bytes show another algorithm version than the
/// terminal's (unknown on either side: allowed).
pub fn check_versions(
    terminal: Option<u16>,
    templates: &[Template],
) -> std::result::Result<(), TemplateError> {
    let Some(terminal) = terminal else {
        return Ok(());
    };
    for t in templates {
        if let Some(template) = template_family(&t.data).filter(|v| *v != terminal) {
            return Err(TemplateError::Version { terminal, template });
        }
    }
    Ok(())
}

/// Splits a CMD 88 payload into template bytes and the trailing valid flag
/// (§2.5); the bytes are kept exactly as received.
pub fn split_valid(payload: &[u8]) -> std::result::Result<(&[u8], u8), ProtocolError> {
    match payload.split_last() {
        Some((valid, data)) if !data.is_empty() => Ok((data, *valid)),
        _ => Err(ProtocolError::ShortReply {
            command: cmd::USERTEMP_EX_RRQ,
            len: payload.len(),
        }),
    }
}

/// Checks what a write needs of a template: finger 0–9, 1…65 529 bytes.
pub fn check_template(t: &Template) -> std::result::Result<(), TemplateError> {
    if t.finger > MAX_FINGER {
        return Err(TemplateError::Finger { finger: t.finger });
    }
    if t.data.is_empty() || u16::try_from(t.data.len() + 6).is_err() {
        return Err(TemplateError::Length { len: t.data.len() });
    }
    Ok(())
}

/// Builds the batch buffer of §2.6.1: header (three area lengths), users
/// (`OpSign` 2 + record in the terminal's layout), table rows (`OpSign` 2,
/// uid, `0x10 | finger`, offset into the templates area) and templates
/// (u16 length + bytes). Every template's owner must be among `users`.
pub fn encode_batch(
    users: &[User],
    format: UserFormat,
    templates: &[Template],
) -> std::result::Result<Vec<u8>, TemplateError> {
    let mut users_area = Vec::with_capacity(users.len() * (format.size() + 1));
    for u in users {
        users_area.push(OP_ADD_OVERWRITE);
        users_area.extend_from_slice(&encode_user(u, format));
    }
    let mut table = Vec::with_capacity(templates.len() * 8);
    let mut area = Vec::new();
    for t in templates {
        check_template(t)?;
        if !users.iter().any(|u| u.uid == t.uid) {
            return Err(TemplateError::NoUser { uid: t.uid });
        }
        table.push(OP_ADD_OVERWRITE);
        table.extend_from_slice(&t.uid.to_le_bytes());
        table.push(0x10 | t.finger);
        table.extend_from_slice(&len_u32(area.len()).to_le_bytes());
        let len =
            u16::try_from(t.data.len()).map_err(|_| TemplateError::Length { len: t.data.len() })?;
        area.extend_from_slice(&len.to_le_bytes());
        area.extend_from_slice(&t.data);
    }
    let mut out = Vec::with_capacity(12 + users_area.len() + table.len() + area.len());
    for part in [&users_area, &table, &area] {
        out.extend_from_slice(&len_u32(part.len()).to_le_bytes());
    }
    out.extend_from_slice(&users_area);
    out.extend_from_slice(&table);
    out.extend_from_slice(&area);
    Ok(out)
}

/// The request of a single read (CMD 88 or 9, §2.5): u16 uid, u8 finger.
pub fn read_one_request(uid: u16, finger: u8) -> Vec<u8> {
    let mut req = uid.to_le_bytes().to_vec();
    req.push(finger);
    req
}

/// The request of a single delete (CMD 19, §2.7.1): u16 uid, u8 finger.
pub fn delete_one_request(uid: u16, finger: u8) -> Vec<u8> {
    read_one_request(uid, finger)
}

/// The request of CMD 87 (§2.6.2): u16 uid, u8 finger, u8 flag, u16 length
/// of the template already in the upload buffer.
pub fn write_one_request(t: &Template) -> std::result::Result<Vec<u8>, TemplateError> {
    check_template(t)?;
    let len =
        u16::try_from(t.data.len()).map_err(|_| TemplateError::Length { len: t.data.len() })?;
    let mut req = t.uid.to_le_bytes().to_vec();
    req.extend_from_slice(&[t.finger, t.valid]);
    req.extend_from_slice(&len.to_le_bytes());
    Ok(req)
}

/// The request of the batch save (CMD 110, §2.6.1): u32 subcode 12, then
/// `u16 0, u16 8` as pyzk sends (the firmware ignores the address for 12).
pub fn batch_save_request() -> Vec<u8> {
    let mut req = BATCH_SUBCODE.to_le_bytes().to_vec();
    req.extend_from_slice(&0u16.to_le_bytes());
    req.extend_from_slice(&8u16.to_le_bytes());
    req
}

/// What one packet of a large-data reply brought.
#[derive(Debug)]
pub enum Fed {
    /// More packets follow.
    More,
    /// The whole payload.
    Done(Vec<u8>),
    /// The terminal refused: reply code and its session field (a DB code).
    Refused {
        /// Reply code (ACK_ERROR, ACK_UNKNOWN…).
        code: u16,
        /// Session field of the refusal.
        detail: u16,
    },
}

/// Assembles a reply that may come as one DATA, an ACK_OK carrying the data
/// (v9 firmware), or PREPARE_DATA + indexed DATA frames + ACK_OK (§2.2).
#[derive(Debug, Default)]
pub struct LargeReply {
    frames: Option<ChunkAssembler>,
}

impl LargeReply {
    /// Feeds the next packet answering the request.
    pub fn feed(&mut self, p: Packet) -> Result<Fed> {
        if let Some(frames) = self.frames.as_mut() {
            return Ok(match frames.feed(p)? {
                Step::More => Fed::More,
                Step::Done => Fed::Done(
                    self.frames
                        .take()
                        .map(ChunkAssembler::into_data)
                        .unwrap_or_default(),
                ),
            });
        }
        match p.command {
            cmd::DATA | cmd::ACK_OK => Ok(Fed::Done(p.data)),
            cmd::PREPARE_DATA => {
                let total = u32_at(&p.data, 0).ok_or(ProtocolError::ShortReply {
                    command: cmd::PREPARE_DATA,
                    len: p.data.len(),
                })? as usize;
                if total > MAX_REPLY {
                    return Err(ProtocolError::AbsurdSize { bytes: total }.into());
                }
                let mut frames = ChunkAssembler::new(total);
                frames.feed(p)?;
                self.frames = Some(frames);
                Ok(Fed::More)
            }
            code => Ok(Fed::Refused {
                code,
                detail: p.session,
            }),
        }
    }
}

impl Session {
    /// The fingerprint algorithm's major version (`~ZKFPVersion`, §2.3);
    /// `None` when the terminal does not say.
    pub fn fp_version(&mut self) -> Result<Option<u16>> {
        Ok(self
            .option("~ZKFPVersion")?
            .as_deref()
            .and_then(parse_fp_version))
    }

    /// The fingerprint counters (GET_FREE_SIZES).
    pub fn template_capacity(&mut self) -> Result<TemplateCapacity> {
        Ok(self.sizes()?.templates())
    }

    /// Reads one template (CMD 88, §2.5); `None` when the terminal has none
    /// for that uid and finger.
    pub fn read_template(&mut self, uid: u16, finger: u8) -> Result<Option<Template>> {
        let req = read_one_request(uid, finger);
        let payload = match self.request_large(cmd::USERTEMP_EX_RRQ, &req)? {
            Fed::Done(payload) => payload,
            Fed::Refused {
                code: cmd::ACK_ERROR,
                ..
            } => return Ok(None),
            Fed::Refused { code, .. } => {
                return Err(Error::Device {
                    command: cmd::USERTEMP_EX_RRQ,
                    code,
                })
            }
            Fed::More => return Err(Error::Timeout(Phase::Data)),
        };
        let (data, valid) = split_valid(&payload)?;
        Ok(Some(Template {
            uid,
            finger,
            valid,
            data: data.to_vec(),
        }))
    }

    /// Sends `command` and assembles its possibly large reply.
    pub(super) fn request_large(&mut self, command: u16, data: &[u8]) -> Result<Fed> {
        let id = self.next_reply_id();
        let first = self.exchange(command, data, Phase::Reply, id)?;
        let mut reply = LargeReply::default();
        let mut fed = reply.feed(first);
        let wait = self.attempt_wait();
        while matches!(fed, Ok(Fed::More)) {
            fed = self
                .wait_reply(id, Instant::now() + wait, Phase::Data)
                .and_then(|p| reply.feed(p));
        }
        if fed.is_err() {
            self.broken = true;
        }
        fed
    }

    /// Sends a command and returns the raw reply (its code and session
    /// field carry the firmware's result).
    pub(super) fn raw_command(&mut self, command: u16, data: &[u8]) -> Result<Packet> {
        let id = self.next_reply_id();
        self.exchange(command, data, Phase::Reply, id)
    }

    /// Fills the terminal's upload buffer (§2.2): FREE_DATA, PREPARE_DATA
    /// with the size, DATA pieces of at most 1024 bytes, each with the next
    /// reply id. On failure the buffer is freed when the link still works.
    fn upload(&mut self, data: &[u8]) -> Result<()> {
        let out = self.free_buffer().and_then(|()| {
            self.command(cmd::PREPARE_DATA, &len_u32(data.len()).to_le_bytes())?;
            for piece in data.chunks(UPLOAD_PIECE) {
                self.send_piece(piece)?;
            }
            Ok(())
        });
        if out.is_err() && !self.broken {
            let _ = self.free_buffer();
        }
        out
    }

    /// Sends one upload piece. Over UDP a lost answer is retried with the
    /// same reply id: the firmware then repeats its answer without appending
    /// again, where a new id would be refused (§2.2).
    fn send_piece(&mut self, piece: &[u8]) -> Result<()> {
        if self.broken {
            return Err(Error::Closed(Phase::Reply));
        }
        let udp = self.transport.is_udp();
        let id = self.next_reply_id();
        let p = Packet::new(cmd::DATA, self.session_id, id, piece.to_vec());
        let wait = self.attempt_wait();
        let mut last = Error::Timeout(Phase::Reply);
        for _ in 0..if udp { UDP_ATTEMPTS } else { 1 } {
            if let Err(e) = self.transport.send(&p, Phase::Reply) {
                self.broken = !udp;
                return Err(e);
            }
            match self.wait_reply(id, Instant::now() + wait, Phase::Reply) {
                Ok(reply) if reply.command == cmd::ACK_OK => return Ok(()),
                Ok(reply) => {
                    return Err(Error::Device {
                        command: cmd::DATA,
                        code: reply.command,
                    })
                }
                Err(e @ Error::Timeout(_)) if udp => last = e,
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Err(last)
    }

    /// Template keys (uid, finger) on the terminal.
    fn template_keys(&mut self) -> Result<Vec<(u16, u8)>> {
        Ok(self
            .templates()?
            .iter()
            .map(|t| (t.uid, t.finger))
            .collect())
    }

    /// How many of `templates` are not on the terminal yet, when the write
    /// might not fit (`None`: room for all of them even if all were new).
    fn new_if_tight(
        &mut self,
        templates: &[Template],
        cap: &TemplateCapacity,
    ) -> Result<Option<u32>> {
        let all = len_u32(templates.len());
        if cap.check(all).is_ok() {
            return Ok(None);
        }
        let keys = self.template_keys()?;
        let mut fresh: Vec<(u16, u8)> = templates
            .iter()
            .map(|t| (t.uid, t.finger))
            .filter(|k| !keys.contains(k))
            .collect();
        fresh.sort_unstable();
        fresh.dedup();
        Ok(Some(len_u32(fresh.len())))
    }
}

impl Disabled<'_> {
    /// Writes many templates in one batch (§2.6.1): `users` are the owners'
    /// full, current records in the terminal's layout `format` (the batch
    /// replaces each owner's record). Refuses before sending anything when
    /// the templates cannot fit or are of another algorithm version than
    /// the terminal's; checks the count afterwards.
    pub fn write_templates(
        &mut self,
        users: &[User],
        format: UserFormat,
        templates: &[Template],
    ) -> Result<()> {
        let buffer = encode_batch(users, format, templates)?;
        check_versions(self.fp_version()?, templates)?;
        let cap = self.template_capacity()?;
        let fresh = self.new_if_tight(templates, &cap)?;
        if let Some(fresh) = fresh {
            cap.check(fresh)?;
        }
        self.upload(&buffer)?;
        let save = batch_save_request();
        let saved_wait = self.opts.timeout;
        self.opts.timeout = saved_wait.max(BATCH_REPLY_WAIT);
        let saved = self.command(cmd::UPDATE_FIRMWARE, &save);
        self.opts.timeout = saved_wait;
        saved?;
        self.free_buffer()?;
        self.refresh_data_quietly("batch template write");
        log::info!(
            "wrote {} templates of {} users to {}",
            templates.len(),
            users.len(),
            self.address()
        );
        let Some(fresh) = fresh else {
            return Ok(());
        };
        let after = self.template_capacity()?;
        let expected = cap.stored.saturating_add(fresh);
        if after.stored < expected {
            return Err(TemplateError::NotStored {
                expected,
                stored: after.stored,
            }
            .into());
        }
        Ok(())
    }

    /// Writes (adds or replaces) one template (§2.6.2): upload buffer, then
    /// CMD 87 with uid, finger, flag and length. The owner must exist.
    pub fn write_template(&mut self, t: &Template) -> Result<()> {
        let req = write_one_request(t)?;
        check_versions(self.fp_version()?, std::slice::from_ref(t))?;
        let cap = self.template_capacity()?;
        let fresh = self.new_if_tight(std::slice::from_ref(t), &cap)?;
        if let Some(fresh) = fresh {
            cap.check(fresh)?;
        }
        self.upload(&t.data)?;
        let reply = self.raw_command(cmd::USERTEMP_EX_WRQ, &req)?;
        self.free_buffer()?;
        match (reply.command, reply.session) {
            (cmd::ACK_OK, _) => {}
            (cmd::ACK_ERROR, DB_FINGER_LIMIT) => return Err(cap_full(&cap).into()),
            (cmd::ACK_ERROR, DB_NO_USER) => return Err(TemplateError::NoUser { uid: t.uid }.into()),
            (code, _) => {
                return Err(Error::Device {
                    command: cmd::USERTEMP_EX_WRQ,
                    code,
                })
            }
        }
        self.refresh_data_quietly("template write");
        Ok(())
    }

    /// Deletes one finger's template by uid (CMD 19, §2.7.1); `false` when
    /// the terminal had none (ACK_ERROR with DB code 2).
    pub fn delete_template(&mut self, uid: u16, finger: u8) -> Result<bool> {
        if finger > MAX_FINGER {
            return Err(TemplateError::Finger { finger }.into());
        }
        let reply = self.raw_command(cmd::DELETE_USERTEMP, &delete_one_request(uid, finger))?;
        match (reply.command, reply.session) {
            (cmd::ACK_OK, _) => {
                self.refresh_data_quietly("template delete");
                Ok(true)
            }
            (cmd::ACK_ERROR, 2) => Ok(false),
            (code, _) => Err(Error::Device {
                command: cmd::DELETE_USERTEMP,
                code,
            }),
        }
    }
}

/// The refusal of a terminal that said it is full.
fn cap_full(cap: &TemplateCapacity) -> TemplateError {
    TemplateError::CapacityFull {
        stored: cap.stored,
        capacity: cap.capacity,
        adding: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::records::parse_templates;
    use crate::zk::wire::{hex, parse_tcp_frame};
    use proptest::prelude::*;

    /// Session id of the pyzk captures (templates-protocol.md §2.2).
    const SESSION: u16 = 0x98D0;

    fn frame(command: u16, reply_id: u16, data: Vec<u8>) -> Vec<u8> {
        Packet::new(command, SESSION, reply_id, data).encode_tcp()
    }

    fn packet(hex_frame: &str) -> Packet {
        let (p, _) = parse_tcp_frame(&hex(hex_frame)).unwrap().unwrap();
        p
    }

    /// A stand-in for the real 1243-byte template of §2.5: its first 24 and
    /// last 2 bytes as captured, the middle made up.
    fn template_1243() -> Vec<u8> {
        let mut t = hex("4d985353323100000 4dbda0408050709ced000001cda6901"
            .replace(' ', "")
            .as_str());
        t.resize(1241, 0x5A);
        t.extend_from_slice(&[0xCC, 0xC1]);
        t
    }

    #[test]
    fn fp_version_request_and_reply_match_the_capture() {
        // templates-protocol.md §2.3 (T8).
        assert_eq!(
            frame(cmd::OPTIONS_RRQ, 0x28, b"~ZKFPVersion\0".to_vec()),
            hex("5050827d150000000b009a25d09828007e5a4b465056657273696f6e00")
        );
        let reply = packet("5050827d18000000d00767ecd09828007e5a4b465056657273696f6e3d313000");
        let text = String::from_utf8_lossy(crate::zk::codec::until_nul(&reply.data)).into_owned();
        let value = text.split_once('=').map(|(_, v)| v).unwrap();
        assert_eq!(parse_fp_version(value), Some(10));
        assert_eq!(parse_fp_version(""), None);
        assert_eq!(parse_fp_version("9"), Some(9));
        assert_eq!(parse_fp_version("x"), None);
    }

    #[test]
    fn capacity_comes_from_the_sizes_words() {
        // zk-vectors.md V6 (pyzk test_tcp_get_size): 6 fingers of 3000, 2994 free.
        // The first 80 of the 86 data bytes the test copy holds.
        let payload = hex(
            "00000000000000000000000000000000070000000000000006000000000000005d020000000000000f0c0000000000000100000000000000b80b000010270000a0860100b20b00000927000043840100",
        );
        let cap = Sizes::parse(&payload).unwrap().templates();
        assert_eq!(
            cap,
            TemplateCapacity {
                stored: 6,
                capacity: 3000,
                free: 2994
            }
        );
        assert!(cap.check(2994).is_ok());
        assert_eq!(
            cap.check(2995),
            Err(TemplateError::CapacityFull {
                stored: 6,
                capacity: 3000,
                adding: 2995
            })
        );
        let unknown = TemplateCapacity {
            stored: 5,
            capacity: 0,
            free: 0,
        };
        assert!(unknown.check(1000).is_ok());
    }

    #[test]
    fn bulk_read_and_single_read_requests_match_the_document() {
        // §2.4 (T1): PREPARE_BUFFER, inner 7, FCT 2.
        let mut prepare = vec![1u8];
        prepare.extend_from_slice(&cmd::DB_RRQ.to_le_bytes());
        prepare.extend_from_slice(&2u32.to_le_bytes());
        prepare.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            frame(cmd::PREPARE_BUFFER, 0x0a, prepare),
            hex("5050827d13000000df054558d0980a000107000200000000000000")
        );
        // §2.5 (T2): CMD 88 uid 14 finger 1, and the same with CMD 9.
        assert_eq!(
            frame(cmd::USERTEMP_EX_RRQ, 0x32, read_one_request(14, 1)),
            hex("5050827d0b00000058009666d09832000e0001")
        );
        assert_eq!(
            frame(cmd::USERTEMP_RRQ, 0x0b, read_one_request(14, 1)),
            hex("5050827d0b00000009000c67d0980b000e0001")
        );
    }

    #[test]
    fn single_read_reply_assembles_as_captured() {
        // §2.5 (T2): PREPARE_DATA 1244/1008, DATA frames 0 and 1, ACK_OK idx 1.
        let mut payload = template_1243();
        payload.push(1);
        let mut reply = LargeReply::default();
        let prepare = packet("5050827d10000000dc055558d0983200dc040000f0030000");
        assert!(matches!(reply.feed(prepare).unwrap(), Fed::More));
        for (i, piece) in payload.chunks(1008).enumerate() {
            let p = Packet::new(cmd::DATA, u16::try_from(i).unwrap(), 0x32, piece.to_vec());
            assert!(matches!(reply.feed(p).unwrap(), Fed::More));
        }
        let Fed::Done(data) = reply
            .feed(packet("5050827d08000000d007fcf701003200"))
            .unwrap()
        else {
            panic!("not done")
        };
        let (template, valid) = split_valid(&data).unwrap();
        assert_eq!((template.len(), valid), (1243, 1));
        assert_eq!(template, template_1243().as_slice());
        assert_eq!(template_family(template), Some(10));
    }

    #[test]
    fn small_and_refused_single_reads() {
        // v9 firmware answers inline in an ACK_OK (§2.5); a missing
        // template is ACK_ERROR.
        let mut reply = LargeReply::default();
        let inline = Packet::new(cmd::ACK_OK, 5, 1, vec![0xA1, 0xCA, 7, 1]);
        let Fed::Done(data) = reply.feed(inline).unwrap() else {
            panic!("inline")
        };
        assert_eq!(split_valid(&data).unwrap(), (&[0xA1, 0xCA, 7][..], 1));
        assert_eq!(template_family(&data), Some(9));
        let refused = Packet::new(cmd::ACK_ERROR, 2, 1, Vec::new());
        assert!(matches!(
            LargeReply::default().feed(refused).unwrap(),
            Fed::Refused {
                code: cmd::ACK_ERROR,
                detail: 2
            }
        ));
        assert!(split_valid(&[1]).is_err());
        assert!(split_valid(&[]).is_err());
    }

    #[test]
    fn bulk_entry_of_the_zkp_capture_parses() {
        // §2.4 (T3): C4 04 0E 00 04 01 4D FD 53 53 32 31 … (F19 TFT).
        let mut entry = hex("c4040e0004014dfd53533231000004bebe0408050709ced0");
        entry.resize(0x04C4, 0x11);
        let t = parse_templates(&entry).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].uid, t[0].finger, t[0].valid, t[0].data.len()),
            (14, 4, 1, 1214)
        );
        assert_eq!(template_family(&t[0].data), Some(10));
        // Cut short, or a size under the 6-byte header: typed errors.
        assert!(parse_templates(&entry[..100]).is_err());
        assert!(parse_templates(&[5, 0, 1, 0, 1, 1]).is_err());
    }

    #[test]
    fn hashpjw_matches_the_firmware() {
        // §2.2 (T4): the firmware's signed variant.
        assert_eq!(hashpjw(b"123456789"), 8_302_319);
        assert_eq!(hashpjw(b""), 0);
    }

    fn ana() -> User {
        User {
            uid: 14,
            name: b"Ana".to_vec(),
            group: 1,
            user_id: "5147983".into(),
            ..User::default()
        }
    }

    #[test]
    fn batch_buffer_matches_the_worked_example() {
        // §2.6.1 (T5): uid 14 "Ana" PIN 5147983, 72-byte terminal, finger 1.
        let t = Template {
            uid: 14,
            finger: 1,
            valid: 1,
            data: template_1243(),
        };
        let buffer = encode_batch(&[ana()], UserFormat::Long72, std::slice::from_ref(&t)).unwrap();
        assert_eq!(buffer.len(), 1338);
        assert_eq!(
            buffer[..12],
            hex("490000000800000 0dd040000".replace(' ', "").as_str())[..]
        );
        let mut user = vec![2, 0x0e, 0, 0];
        user.extend([0; 8]);
        user.extend(b"Ana");
        user.extend([0; 21]);
        user.extend([0, 0, 0, 0, 1]);
        user.extend([0; 8]);
        user.extend(b"5147983");
        user.extend([0; 17]);
        assert_eq!(buffer[0x0c..0x55], user[..]);
        assert_eq!(buffer[0x55..0x5d], hex("020e001100000000")[..]);
        assert_eq!(buffer[0x5d..0x61], hex("db044d98")[..]);
        // Its frames, reply ids 26–31.
        assert_eq!(
            frame(cmd::FREE_DATA, 0x1a, Vec::new()),
            hex("5050827d08000000de053761d0981a00")
        );
        assert_eq!(
            frame(
                cmd::PREPARE_DATA,
                0x1b,
                len_u32(buffer.len()).to_le_bytes().to_vec()
            ),
            hex("5050827d0c000000dc05fe5bd0981b003a050000")
        );
        let pieces: Vec<usize> = buffer.chunks(UPLOAD_PIECE).map(<[u8]>::len).collect();
        assert_eq!(pieces, [1024, 314]);
        assert_eq!(
            frame(cmd::UPDATE_FIRMWARE, 0x1e, batch_save_request()),
            hex("5050827d100000006e008f66d0981e000c00000000000800")
        );
        assert_eq!(
            frame(cmd::REFRESH_DATA, 0x1f, Vec::new()),
            hex("5050827d08000000f5031b63d0981f00")
        );
    }

    #[test]
    fn batch_user_entry_of_28_byte_terminals() {
        // §2.6.1: `02 0e00 00 0000000000 416e610000000000 00000000 00 01 0000 4f8d4e00`.
        let buffer = encode_batch(&[ana()], UserFormat::Short28, &[]).unwrap();
        assert_eq!(
            buffer,
            hex("1d000000000000000000000002 0e00 00 0000000000 416e610000000000 00000000 00 01 0000 4f8d4e00".replace(' ', "").as_str())
        );
    }

    #[test]
    fn batch_refuses_what_a_terminal_would_mangle() {
        let t = |uid, finger, len| Template {
            uid,
            finger,
            valid: 1,
            data: vec![7; len],
        };
        let users = [ana()];
        assert_eq!(
            encode_batch(&users, UserFormat::Long72, &[t(15, 1, 10)]),
            Err(TemplateError::NoUser { uid: 15 })
        );
        assert_eq!(
            encode_batch(&users, UserFormat::Long72, &[t(14, 10, 10)]),
            Err(TemplateError::Finger { finger: 10 })
        );
        assert_eq!(
            encode_batch(&users, UserFormat::Long72, &[t(14, 1, 0)]),
            Err(TemplateError::Length { len: 0 })
        );
        assert_eq!(
            encode_batch(&users, UserFormat::Long72, &[t(14, 1, 70_000)]),
            Err(TemplateError::Length { len: 70_000 })
        );
    }

    #[test]
    fn single_write_and_delete_frames_match_the_document() {
        // §2.6.2 (T6), reply ids 20–25.
        let mut t = Template {
            uid: 14,
            finger: 1,
            valid: 1,
            data: template_1243(),
        };
        assert_eq!(
            frame(
                cmd::PREPARE_DATA,
                0x14,
                len_u32(t.data.len()).to_le_bytes().to_vec()
            ),
            hex("5050827d0c000000dc05645cd0981400db040000")
        );
        assert_eq!(
            frame(cmd::HASH_DATA, 0x17, Vec::new()),
            hex("5050827d080000007700a166d0981700")
        );
        assert_eq!(
            frame(cmd::USERTEMP_EX_WRQ, 0x18, write_one_request(&t).unwrap()),
            hex("5050827d0e0000005700d660d09818000e000101db04")
        );
        t.valid = 3;
        assert_eq!(
            frame(cmd::USERTEMP_EX_WRQ, 0x18, write_one_request(&t).unwrap()),
            hex("5050827d0e0000005700d65ed09818000e000103db04")
        );
        assert_eq!(
            frame(cmd::FREE_DATA, 0x19, Vec::new()),
            hex("5050827d08000000de053861d0981900")
        );
        // §2.7.1 (T7): delete uid 14 finger 1.
        assert_eq!(
            frame(cmd::DELETE_USERTEMP, 0x0c, delete_one_request(14, 1)),
            hex("5050827d0b00000013000167d0980c000e0001")
        );
    }

    #[test]
    fn versions_gate_writes() {
        let t = |data: Vec<u8>| Template {
            uid: 1,
            finger: 1,
            valid: 1,
            data,
        };
        let v10 = t(template_1243());
        let v9 = t(vec![0xA1, 0xCA, 1, 2, 3]);
        let unknown = t(vec![1, 2, 3]);
        assert_eq!(
            check_versions(Some(10), &[v10.clone(), unknown.clone()]),
            Ok(())
        );
        assert_eq!(
            check_versions(Some(10), &[v10.clone(), v9.clone()]),
            Err(TemplateError::Version {
                terminal: 10,
                template: 9
            })
        );
        assert_eq!(
            check_versions(Some(9), std::slice::from_ref(&v10)),
            Err(TemplateError::Version {
                terminal: 9,
                template: 10
            })
        );
        assert_eq!(check_versions(None, &[v9, v10]), Ok(()));
    }

    #[test]
    fn debug_never_shows_template_bytes() {
        let t = Template {
            uid: 3,
            finger: 6,
            valid: 1,
            data: vec![0xAB; 900],
        };
        let shown = format!("{t:?}");
        assert_eq!(
            shown,
            "Template { uid: 3, finger: 6, valid: 1, bytes: 900 }"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            command in prop_oneof![Just(cmd::DATA), Just(cmd::ACK_OK), Just(cmd::PREPARE_DATA), Just(cmd::ACK_ERROR), any::<u16>()],
            session: u16,
        ) {
            let _ = split_valid(&bytes);
            let _ = template_family(&bytes);
            let _ = parse_templates(&bytes);
            let _ = parse_fp_version(&String::from_utf8_lossy(&bytes));
            let _ = Sizes::parse(&bytes).map(|s| s.templates());
            let mut reply = LargeReply::default();
            for piece in bytes.chunks(97) {
                let p = Packet::new(command, session, 1, piece.to_vec());
                if reply.feed(p).is_err() {
                    break;
                }
                let p = Packet::new(cmd::DATA, session, 1, piece.to_vec());
                if reply.feed(p).is_err() {
                    break;
                }
            }
        }
    }
}
