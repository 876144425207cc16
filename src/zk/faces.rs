//! NIR face templates over the ZK binary protocol (templates-protocol.md
//! §2.8), only what the document confirms: read a user's faces
//! (`CMD_USERFACE_RRQ` 150, an array of 2576-byte `TFaceTmp` records,
//! inline or as large data) and delete them all by PIN
//! (`CMD_DELETE_USERFACE` 152). The write (151) is documented by firmware
//! source only and unverified (§8 Q11): it is not sent. Face bytes are
//! never logged.

use std::fmt;

use super::codec::{u16_at, u32_at};
use super::error::{Error, ProtocolError, Result, TemplateError};
use super::session::{Disabled, Session};
use super::templates::Fed;
use super::wire::cmd;

/// Size of one `TFaceTmp` record (§2.8).
pub const FACE_RECORD: usize = 2576;
/// Size of its header (size, uid, face id, valid, reserve, active time,
/// verification count).
pub const FACE_HEADER: usize = 16;
/// Room for template bytes in one record.
pub const FACE_AREA: usize = FACE_RECORD - FACE_HEADER;
/// Face ids per enrolment (`FACE_NUM`); an id at or above it asks for all.
pub const FACE_NUM: u8 = 15;
/// Bytes of the PIN in PIN commands.
pub const PIN_BYTES: usize = 24;

/// One face sub-template as the terminal stores it (`TFaceTmp`).
#[derive(Clone, PartialEq, Eq)]
pub struct Face {
    /// Owner's uid (slot on this terminal).
    pub uid: u16,
    /// Sub-template 0–14.
    pub face_id: u8,
    /// Valid byte.
    pub valid: u8,
    /// The reserve word (push firmware puts the face algorithm version
    /// here; 0 = not said).
    pub reserve: u16,
    /// `ActiveTime` as stored.
    pub active_time: i32,
    /// `VfCount` as stored.
    pub vf_count: i32,
    /// The used template bytes (`Size` of them).
    pub data: Vec<u8>,
}

impl fmt::Debug for Face {
    /// Biometric data: the bytes are never printed, only their length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Face")
            .field("uid", &self.uid)
            .field("face_id", &self.face_id)
            .field("valid", &self.valid)
            .field("reserve", &self.reserve)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl Face {
    /// The 16-byte header followed by the used bytes: the form a push
    /// terminal's `FACE` line carries (§3.4.2), kept in the staff list.
    pub fn header_and_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FACE_HEADER + self.data.len());
        let size = u16::try_from(self.data.len().min(FACE_AREA)).unwrap_or(0);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.extend_from_slice(&[self.face_id, self.valid]);
        out.extend_from_slice(&self.reserve.to_le_bytes());
        out.extend_from_slice(&self.active_time.to_le_bytes());
        out.extend_from_slice(&self.vf_count.to_le_bytes());
        out.extend_from_slice(&self.data[..self.data.len().min(FACE_AREA)]);
        out
    }

    /// The whole 2576-byte record (unused template bytes zero).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.header_and_data();
        out.resize(FACE_RECORD, 0);
        out
    }
}

/// Parses one 2576-byte record; `None` for an empty slot (size 0).
fn parse_record(rec: &[u8]) -> std::result::Result<Option<Face>, ProtocolError> {
    let short = ProtocolError::FaceRecords { bytes: rec.len() };
    let size = usize::from(u16_at(rec, 0).ok_or(short.clone())?);
    if size > FACE_AREA {
        return Err(ProtocolError::FaceSize { size });
    }
    if rec.len() != FACE_RECORD {
        return Err(short);
    }
    if size == 0 {
        return Ok(None);
    }
    let word = |at: usize| u32_at(rec, at).map_or(0, |w| i32::from_le_bytes(w.to_le_bytes()));
    Ok(Some(Face {
        uid: u16_at(rec, 2).unwrap_or(0),
        face_id: rec[4],
        valid: rec[5],
        reserve: u16_at(rec, 6).unwrap_or(0),
        active_time: word(8),
        vf_count: word(12),
        data: rec[FACE_HEADER..FACE_HEADER + size].to_vec(),
    }))
}

/// Parses a CMD 150 reply: whole 2576-byte records, each `Size` at most
/// 2560; empty slots (size 0) are skipped. Never panics on device bytes.
pub fn parse_faces(payload: &[u8]) -> std::result::Result<Vec<Face>, ProtocolError> {
    if !payload.len().is_multiple_of(FACE_RECORD) {
        return Err(ProtocolError::FaceRecords {
            bytes: payload.len(),
        });
    }
    let mut out = Vec::new();
    for rec in payload.chunks(FACE_RECORD) {
        if let Some(face) = parse_record(rec)? {
            out.push(face);
        }
    }
    Ok(out)
}

/// The request of CMD 150 (§2.8): u16 uid, u8 face id (≥ 15 = all).
pub fn read_faces_request(uid: u16, face_id: u8) -> Vec<u8> {
    let mut req = uid.to_le_bytes().to_vec();
    req.push(face_id);
    req
}

/// A PIN as PIN commands carry it: 24 bytes, NUL padded.
pub fn pin_field(pin: &str) -> std::result::Result<Vec<u8>, TemplateError> {
    let bytes = pin.as_bytes();
    if bytes.len() > PIN_BYTES {
        return Err(TemplateError::Pin { len: bytes.len() });
    }
    let mut out = bytes.to_vec();
    out.resize(PIN_BYTES, 0);
    Ok(out)
}

impl Session {
    /// Reads every face of `uid` (CMD 150 with id 15, §2.8); empty when
    /// the terminal has none for it (ACK_ERROR or an empty reply).
    pub fn read_faces(&mut self, uid: u16) -> Result<Vec<Face>> {
        let req = read_faces_request(uid, FACE_NUM);
        match self.request_large(cmd::USERFACE_RRQ, &req)? {
            Fed::Done(payload) => Ok(parse_faces(&payload)?),
            Fed::Refused {
                code: cmd::ACK_ERROR,
                ..
            } => Ok(Vec::new()),
            Fed::Refused { code, .. } => Err(Error::Device {
                command: cmd::USERFACE_RRQ,
                code,
            }),
            Fed::More => Err(Error::Timeout(super::error::Phase::Data)),
        }
    }
}

impl Disabled<'_> {
    /// Deletes every face of the user with PIN `pin` (CMD 152, §2.8);
    /// `false` when the terminal refused (no such user, no faces) or does
    /// not know the command (a terminal without faces).
    pub fn delete_faces(&mut self, pin: &str) -> Result<bool> {
        let req = pin_field(pin)?;
        let reply = self.raw_command(cmd::DELETE_USERFACE, &req)?;
        match reply.command {
            cmd::ACK_OK => {
                self.refresh_data_quietly("face delete");
                Ok(true)
            }
            cmd::ACK_ERROR => Ok(false),
            cmd::ACK_UNKNOWN => {
                log::info!(
                    "{} does not know DELETE_USERFACE (152): no faces deleted",
                    self.address()
                );
                Ok(false)
            }
            code => Err(Error::Device {
                command: cmd::DELETE_USERFACE,
                code,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::templates::LargeReply;
    use crate::zk::wire::Packet;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn frame(command: u16, reply_id: u16, data: Vec<u8>) -> Vec<u8> {
        Packet::new(command, 0x98d0, reply_id, data).encode_tcp()
    }

    fn face(uid: u16, face_id: u8, len: usize) -> Face {
        Face {
            uid,
            face_id,
            valid: 1,
            reserve: 7,
            active_time: -1,
            vf_count: 3,
            data: (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect(),
        }
    }

    #[test]
    fn requests_match_the_document() {
        // §2.8: CMD 150 uid 14, id 50 (pyzk#259's "all"), reply id 0x2a.
        assert_eq!(
            frame(cmd::USERFACE_RRQ, 0x2a, read_faces_request(14, 50)),
            hex("5050827d0b00000096002f66d0982a000e0032")
        );
        // §2.8: CMD 152 + PIN[24], reply id 0x2b; the checksum covers the PIN.
        let pin = pin_field("").unwrap();
        let mut expected = hex("5050827d20000000980096c5d0982b00");
        expected.extend_from_slice(&pin);
        let sent = frame(cmd::DELETE_USERFACE, 0x2b, pin.clone());
        assert_eq!(sent[..8], expected[..8], "length 8 + 24");
        assert_eq!(sent[8..10], expected[8..10], "command 152");
        assert_eq!(sent[12..], expected[12..], "session, reply id, PIN");
        let (parsed, _) = crate::zk::wire::parse_tcp_frame(&sent).unwrap().unwrap();
        assert!(parsed.checksum_ok(), "checksum over header and PIN");
        let named = pin_field("1005").unwrap();
        assert_eq!(&named[..4], b"1005");
        assert_eq!(named.len(), 24);
        assert!(named[4..].iter().all(|b| *b == 0));
        assert_eq!(
            pin_field(&"9".repeat(25)),
            Err(TemplateError::Pin { len: 25 })
        );
    }

    #[test]
    fn records_parse_as_laid_out() {
        let a = face(14, 0, 1800);
        let b = face(14, 14, FACE_AREA);
        let mut payload = a.encode();
        payload.extend(b.encode());
        payload.extend(vec![0u8; FACE_RECORD]); // an empty slot
        assert_eq!(parse_faces(&payload).unwrap(), vec![a.clone(), b]);
        let rec = a.encode();
        assert_eq!(rec.len(), FACE_RECORD);
        assert_eq!(&rec[..8], &[0x08, 0x07, 14, 0, 0, 1, 7, 0]);
        assert_eq!(&rec[8..16], &[0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0]);
        assert_eq!(a.header_and_data(), rec[..FACE_HEADER + 1800].to_vec());
        assert_eq!(parse_faces(&[]).unwrap(), Vec::new());
    }

    #[test]
    fn bad_records_are_typed_errors() {
        let rec = face(3, 2, 900).encode();
        // Truncated: not whole records.
        assert_eq!(
            parse_faces(&rec[..FACE_RECORD - 1]),
            Err(ProtocolError::FaceRecords {
                bytes: FACE_RECORD - 1
            })
        );
        assert_eq!(
            parse_faces(&[1]),
            Err(ProtocolError::FaceRecords { bytes: 1 })
        );
        // Oversized size field.
        let mut big = rec.clone();
        big[..2].copy_from_slice(&2561u16.to_le_bytes());
        assert_eq!(
            parse_faces(&big),
            Err(ProtocolError::FaceSize { size: 2561 })
        );
        big[..2].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(
            parse_faces(&big),
            Err(ProtocolError::FaceSize { size: 65535 })
        );
    }

    #[test]
    fn a_face_set_arrives_as_large_data() {
        let set: Vec<Face> = (0..15).map(|i| face(9, i, 2000)).collect();
        let payload: Vec<u8> = set.iter().flat_map(Face::encode).collect();
        let mut reply = LargeReply::default();
        let mut prep = u32::try_from(payload.len()).unwrap().to_le_bytes().to_vec();
        prep.extend_from_slice(&1008u32.to_le_bytes());
        assert!(matches!(
            reply
                .feed(Packet::new(cmd::PREPARE_DATA, 1, 3, prep))
                .unwrap(),
            Fed::More
        ));
        let mut last = 0;
        for (i, piece) in payload.chunks(1008).enumerate() {
            last = u16::try_from(i).unwrap();
            let p = Packet::new(cmd::DATA, last, 3, piece.to_vec());
            assert!(matches!(reply.feed(p).unwrap(), Fed::More));
        }
        let Fed::Done(data) = reply
            .feed(Packet::new(cmd::ACK_OK, last, 3, Vec::new()))
            .unwrap()
        else {
            panic!("not done")
        };
        assert_eq!(parse_faces(&data).unwrap(), set);
    }

    #[test]
    fn debug_never_shows_face_bytes() {
        let shown = format!("{:?}", face(3, 1, 900));
        assert_eq!(
            shown,
            "Face { uid: 3, face_id: 1, valid: 1, reserve: 7, bytes: 900 }"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let _ = parse_faces(&bytes);
            let mut padded = bytes.clone();
            padded.resize(FACE_RECORD * 2, 0);
            if let Ok(faces) = parse_faces(&padded) {
                for f in faces {
                    prop_assert!(f.data.len() <= FACE_AREA);
                }
            }
        }
    }
}
