//! Assembling one READ_BUFFER chunk from the packets that answer it (spec
//! §3.7): either one DATA reply holding the whole chunk, or PREPARE_DATA,
//! DATA frames, and a closing ACK_OK. No sockets: fed packets, it handles
//! frame indexes, duplicates, gaps and overflow, and says what is known good.

use super::error::{Error, ProtocolError, Result};
use super::wire::{cmd, Packet};

/// What the assembler needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More packets.
    More,
    /// The chunk is complete.
    Done,
}

/// Collects one chunk of `wanted` bytes.
///
/// DATA frames may carry their index in the session field (0, 1, 2, … as in
/// every TCP capture): then duplicates are dropped, a gap ends the attempt,
/// and what arrived before the gap is kept. Without indexes only a complete
/// chunk counts, after dropping datagrams that repeat the one before when
/// that is exactly what makes the length right.
#[derive(Debug)]
pub struct ChunkAssembler {
    wanted: usize,
    data: Vec<u8>,
    prepared: bool,
    indexed: Option<bool>,
    next_index: u16,
    /// (offset, length) of every DATA frame kept, for duplicate removal.
    pieces: Vec<(usize, usize)>,
}

impl ChunkAssembler {
    /// An assembler for a chunk of `wanted` bytes.
    pub fn new(wanted: usize) -> ChunkAssembler {
        ChunkAssembler {
            wanted,
            data: Vec::with_capacity(wanted),
            prepared: false,
            indexed: None,
            next_index: 0,
            pieces: Vec::new(),
        }
    }

    /// Feeds the next packet answering the READ_BUFFER request.
    pub fn feed(&mut self, p: Packet) -> Result<Step> {
        let wanted = self.wanted;
        if !self.prepared {
            return match p.command {
                cmd::DATA if p.data.len() == wanted => {
                    self.data = p.data;
                    Ok(Step::Done)
                }
                cmd::DATA => Err(ProtocolError::ChunkLength {
                    got: p.data.len(),
                    wanted,
                }
                .into()),
                cmd::PREPARE_DATA => {
                    let announced = super::codec::u32_at(&p.data, 0).map_or(wanted, |n| n as usize);
                    if announced != wanted {
                        return Err(ProtocolError::AnnouncedLength { announced, wanted }.into());
                    }
                    self.prepared = true;
                    Ok(Step::More)
                }
                code => Err(Error::Device {
                    command: cmd::READ_BUFFER,
                    code,
                }),
            };
        }
        match p.command {
            cmd::DATA => self.frame(&p),
            cmd::ACK_OK => {
                if self.indexed == Some(false) && self.data.len() > wanted {
                    self.drop_repeated_pieces();
                }
                if self.data.len() != wanted {
                    return Err(ProtocolError::ChunkIncomplete {
                        got: self.data.len(),
                        wanted,
                    }
                    .into());
                }
                Ok(Step::Done)
            }
            cmd::PREPARE_DATA => Ok(Step::More),
            code => Err(Error::Device {
                command: cmd::READ_BUFFER,
                code,
            }),
        }
    }

    fn frame(&mut self, p: &Packet) -> Result<Step> {
        let indexed = *self.indexed.get_or_insert(p.session == 0);
        if indexed {
            if p.session < self.next_index {
                log::debug!("dropping duplicate DATA frame {}", p.session);
                return Ok(Step::More);
            }
            if p.session > self.next_index {
                return Err(ProtocolError::MissingFrame {
                    expected: self.next_index,
                    got: p.session,
                }
                .into());
            }
            self.next_index = self.next_index.wrapping_add(1);
        }
        // Without indexes duplicates may inflate the chunk; allow some slack.
        let limit = if indexed {
            self.wanted
        } else {
            2 * self.wanted
        };
        if self.data.len() + p.data.len() > limit {
            self.data.clear();
            return Err(ProtocolError::ChunkOverflow {
                wanted: self.wanted,
            }
            .into());
        }
        self.pieces.push((self.data.len(), p.data.len()));
        self.data.extend_from_slice(&p.data);
        Ok(Step::More)
    }

    /// Removes every piece identical to the piece before it (a datagram the
    /// network delivered twice) when, and only when, that makes the chunk
    /// exactly the wanted length; otherwise leaves the data as it was.
    fn drop_repeated_pieces(&mut self) {
        let mut kept: Vec<u8> = Vec::with_capacity(self.wanted);
        let mut previous: Option<&[u8]> = None;
        for &(at, n) in &self.pieces {
            let piece = &self.data[at..at + n];
            if previous != Some(piece) {
                kept.extend_from_slice(piece);
            }
            previous = Some(piece);
        }
        if kept.len() == self.wanted {
            log::debug!(
                "dropped {} duplicated bytes from a chunk",
                self.data.len() - self.wanted
            );
            self.data = kept;
        }
    }

    /// The complete chunk (after [`Step::Done`]).
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// After a failure: the bytes known to be a correct prefix of the chunk
    /// (only numbered frames can prove that; otherwise nothing).
    pub fn salvage(self) -> Vec<u8> {
        if self.indexed == Some(true) {
            self.data
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::wire::{hex, parse_tcp_frame};

    /// A captured TCP frame, checked.
    fn captured(text: &str) -> Packet {
        let (p, used) = parse_tcp_frame(&hex(text)).unwrap().unwrap();
        assert_eq!(used, hex(text).len());
        assert!(p.checksum_ok(), "{text}");
        p
    }

    fn data_frame(index: u16, bytes: Vec<u8>) -> Packet {
        Packet::new(cmd::DATA, index, 22, bytes)
    }

    /// V13: PREPARE_DATA for 5044 bytes, five 1008-byte frames and a 4-byte
    /// one numbered 0–5 in the session field, then ACK_OK.
    fn v13_frames() -> (Packet, Vec<Packet>) {
        let prepare = captured("5050827d 10000000 dc05 0da6 5c3c 1600 b4130000 f0030000");
        let frames = (0..6u16)
            .map(|i| {
                let len = if i < 5 { 1008 } else { 4 };
                data_frame(i, vec![u8::try_from(i).unwrap_or(0) + 1; len])
            })
            .collect();
        (prepare, frames)
    }

    fn expected_v13() -> Vec<u8> {
        (0..6u8)
            .flat_map(|i| vec![i + 1; if i < 5 { 1008 } else { 4 }])
            .collect()
    }

    fn ack() -> Packet {
        Packet::new(cmd::ACK_OK, 0x3c5c, 22, vec![])
    }

    #[test]
    fn v13_numbered_frames_make_the_chunk() {
        let (prepare, frames) = v13_frames();
        let mut a = ChunkAssembler::new(5044);
        assert_eq!(a.feed(prepare).unwrap(), Step::More);
        for f in frames {
            assert_eq!(a.feed(f).unwrap(), Step::More);
        }
        assert_eq!(a.feed(ack()).unwrap(), Step::Done);
        assert_eq!(a.into_data(), expected_v13());
    }

    #[test]
    fn duplicates_are_dropped_and_a_gap_keeps_the_prefix() {
        let (prepare, frames) = v13_frames();
        let mut a = ChunkAssembler::new(5044);
        a.feed(prepare.clone()).unwrap();
        for f in [
            &frames[0], &frames[1], &frames[1], &frames[0], &frames[2], &frames[3], &frames[4],
            &frames[5],
        ] {
            assert_eq!(a.feed(f.clone()).unwrap(), Step::More);
        }
        assert_eq!(a.feed(ack()).unwrap(), Step::Done);
        assert_eq!(a.into_data(), expected_v13());

        let mut a = ChunkAssembler::new(5044);
        a.feed(prepare).unwrap();
        a.feed(frames[0].clone()).unwrap();
        a.feed(frames[1].clone()).unwrap();
        let err = a.feed(frames[3].clone()).unwrap_err();
        assert_eq!(
            err,
            Error::Protocol(ProtocolError::MissingFrame {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(
            a.salvage(),
            expected_v13()[..2016].to_vec(),
            "frames 0 and 1 kept"
        );
    }

    #[test]
    fn v14_closing_ack_with_a_frame_index_in_the_session_field() {
        let prepare = captured("5050827d 10000000 dc05 5558 d098 3200 dc040000 f0030000");
        let closing = captured("5050827d 08000000 d007 fcf7 0100 3200");
        assert_eq!(closing.session, 1);
        let mut a = ChunkAssembler::new(1244);
        a.feed(prepare).unwrap();
        a.feed(data_frame(0, vec![7; 1008])).unwrap();
        a.feed(data_frame(1, vec![8; 236])).unwrap();
        assert_eq!(a.feed(closing).unwrap(), Step::Done);
        assert_eq!(a.into_data().len(), 1244);
    }

    #[test]
    fn v15_single_frame_and_a_short_chunk() {
        let prepare = captured("5050827d10000000 dc05 158a a06b 0200 7c000000 f0030000");
        let closing = captured("5050827d08000000 d007 b1f7 7c00 0200");
        let mut a = ChunkAssembler::new(124);
        a.feed(prepare.clone()).unwrap();
        a.feed(data_frame(0, vec![1; 124])).unwrap();
        assert_eq!(a.feed(closing.clone()).unwrap(), Step::Done);

        let mut a = ChunkAssembler::new(124);
        a.feed(prepare.clone()).unwrap();
        a.feed(data_frame(0, vec![1; 100])).unwrap();
        assert_eq!(
            a.feed(closing).unwrap_err(),
            Error::Protocol(ProtocolError::ChunkIncomplete {
                got: 100,
                wanted: 124
            })
        );
        let mut a = ChunkAssembler::new(100);
        assert_eq!(
            a.feed(prepare).unwrap_err(),
            Error::Protocol(ProtocolError::AnnouncedLength {
                announced: 124,
                wanted: 100
            })
        );
    }

    #[test]
    fn one_data_reply_is_a_whole_chunk() {
        let mut a = ChunkAssembler::new(3);
        assert_eq!(
            a.feed(Packet::new(cmd::DATA, 9, 1, vec![1, 2, 3])).unwrap(),
            Step::Done
        );
        assert_eq!(a.into_data(), vec![1, 2, 3]);
        let mut a = ChunkAssembler::new(3);
        assert!(a.feed(Packet::new(cmd::DATA, 9, 1, vec![1])).is_err());
        let mut a = ChunkAssembler::new(3);
        assert_eq!(
            a.feed(Packet::new(cmd::ACK_ERROR, 9, 1, vec![]))
                .unwrap_err(),
            Error::Device {
                command: cmd::READ_BUFFER,
                code: cmd::ACK_ERROR
            }
        );
    }

    #[test]
    fn unnumbered_datagrams_repeated_by_the_network_are_dropped() {
        // UDP without indexes: the session field holds the session id.
        let prepare = Packet::new(cmd::PREPARE_DATA, 0x45cf, 5, 6u32.to_le_bytes().to_vec());
        let piece = |b: &[u8]| Packet::new(cmd::DATA, 0x45cf, 5, b.to_vec());
        let mut a = ChunkAssembler::new(6);
        a.feed(prepare.clone()).unwrap();
        for p in [b"ab", b"cd", b"cd", b"ef"] {
            a.feed(piece(p)).unwrap();
        }
        assert_eq!(a.feed(ack()).unwrap(), Step::Done);
        assert_eq!(a.into_data(), b"abcdef");
        // Legitimately repeated content is kept when the length says so.
        let mut a = ChunkAssembler::new(6);
        a.feed(prepare.clone()).unwrap();
        for p in [b"ab", b"ab", b"cd"] {
            a.feed(piece(p)).unwrap();
        }
        assert_eq!(a.feed(ack()).unwrap(), Step::Done);
        assert_eq!(a.into_data(), b"ababcd");
        // Nothing is salvaged without indexes.
        let mut a = ChunkAssembler::new(6);
        a.feed(prepare).unwrap();
        a.feed(piece(b"ab")).unwrap();
        assert!(a.feed(ack()).is_err());
        assert!(a.salvage().is_empty());
    }

    #[test]
    fn overflow_is_refused_and_nothing_is_kept() {
        let (prepare, frames) = v13_frames();
        let mut a = ChunkAssembler::new(1000);
        let prepare = Packet {
            data: 1000u32.to_le_bytes().to_vec(),
            ..prepare
        };
        a.feed(prepare).unwrap();
        assert_eq!(
            a.feed(frames[0].clone()).unwrap_err(),
            Error::Protocol(ProtocolError::ChunkOverflow { wanted: 1000 })
        );
        assert!(a.salvage().is_empty());
    }
}
