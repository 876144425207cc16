//! Buffered bulk reads (spec §3.7): PREPARE_BUFFER, then the dataset
//! inline or in READ_BUFFER chunks (each assembled by `chunk`), then
//! FREE_DATA. Over UDP lost or garbled chunks are re-read, only the bytes
//! still missing.

use std::time::Instant;

use super::chunk::{ChunkAssembler, Step};
use super::codec::{len_u32, u32_at};
use super::error::{Error, Phase, ProtocolError, Result};
use super::session::{Session, UDP_ATTEMPTS};
use super::wire::{cmd, Packet};

/// Largest chunk requested per READ_BUFFER over TCP (spec §1.8).
pub const TCP_CHUNK: usize = 0xFFC0;
/// Largest chunk requested per READ_BUFFER over UDP.
pub const UDP_CHUNK: usize = 16 * 1024;
/// Data bytes terminals put in one UDP datagram.
const UDP_DATAGRAM: usize = 1024;
/// Largest dataset accepted (a full 200 000-record, 49-byte log is ~10 MB).
const MAX_DATASET: usize = 64 << 20;

/// What PREPARE_BUFFER answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The whole dataset, inline (small tables).
    Inline(Vec<u8>),
    /// The dataset is in the terminal's buffer: `total` bytes to read.
    Buffered { total: usize },
}

impl Session {
    /// Buffered bulk read (spec §3.7): PREPARE_BUFFER, then inline data or
    /// sequential READ_BUFFER chunks, then FREE_DATA. Returns the whole dataset
    /// (u32 length + records), checked to have exactly the announced size.
    pub fn read_dataset(&mut self, inner: u16, fct: u32) -> Result<Vec<u8>> {
        match self.prepare(inner, fct)? {
            Prepared::Inline(data) => Ok(data),
            Prepared::Buffered { total } => {
                let out = self.read_range(0, total)?;
                self.free_buffer()?;
                Ok(out)
            }
        }
    }

    /// PREPARE_BUFFER for a table: the dataset inline, or its size.
    pub fn prepare(&mut self, inner: u16, fct: u32) -> Result<Prepared> {
        let mut req = vec![1u8];
        req.extend_from_slice(&inner.to_le_bytes());
        req.extend_from_slice(&fct.to_le_bytes());
        req.extend_from_slice(&0u32.to_le_bytes());
        let id = self.next_reply_id();
        let reply = self.exchange(cmd::PREPARE_BUFFER, &req, Phase::Reply, id)?;
        let total = match reply.command {
            cmd::DATA => return Ok(Prepared::Inline(reply.data)),
            cmd::ACK_OK => u32_at(&reply.data, 1).ok_or(ProtocolError::ShortReply {
                command: cmd::PREPARE_BUFFER,
                len: reply.data.len(),
            })? as usize,
            code => {
                return Err(Error::Device {
                    command: cmd::PREPARE_BUFFER,
                    code,
                })
            }
        };
        if total > MAX_DATASET {
            return Err(ProtocolError::AbsurdSize { bytes: total }.into());
        }
        Ok(Prepared::Buffered { total })
    }

    /// The largest READ_BUFFER request on this transport; also the offsets
    /// every client reads from (multiples of it).
    pub fn chunk_size(&self) -> usize {
        if self.transport.is_udp() {
            UDP_CHUNK
        } else {
            TCP_CHUNK
        }
    }

    /// Reads bytes `from..to` of the prepared buffer, chunk by chunk.
    pub fn read_range(&mut self, from: usize, to: usize) -> Result<Vec<u8>> {
        let chunk = self.chunk_size();
        let mut out = Vec::with_capacity(to.saturating_sub(from));
        let mut offset = from;
        while offset < to {
            let len = chunk.min(to - offset);
            self.read_chunk(offset, len, &mut out)?;
            offset += len;
        }
        Ok(out)
    }

    /// FREE_DATA: releases the prepared buffer. A refusal is only logged;
    /// a broken link is an error.
    pub fn free_buffer(&mut self) -> Result<()> {
        if let Err(e) = self.command(cmd::FREE_DATA, &[]) {
            log::debug!("FREE_DATA failed: {e}");
            if self.broken {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Buffered read of a table the counters say holds `count` entries. The
    /// table is read even at 0 (the counter may be stale), but some firmware
    /// refuses, or never answers, a buffered read of an empty table: with a
    /// count of 0 that means "no data" (`None`), not a failure.
    pub(super) fn read_table(
        &mut self,
        inner: u16,
        fct: u32,
        count: u32,
    ) -> Result<Option<Vec<u8>>> {
        match self.read_dataset(inner, fct) {
            Ok(data) => Ok(Some(data)),
            Err(e @ (Error::Device { .. } | Error::Timeout(_))) if count == 0 => {
                log::info!("empty table ({} {fct}) not read: {e}", cmd::name(inner));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads `len` bytes at `offset` of the prepared buffer into `out`. Over
    /// UDP a failed exchange is retried for the bytes still missing (so lost
    /// datagrams cost a partial re-read) with smaller requests after garbled
    /// ones; only attempts that bring nothing new at the smallest size count
    /// against the retry limit.
    fn read_chunk(&mut self, offset: usize, len: usize, out: &mut Vec<u8>) -> Result<()> {
        let udp = self.transport.is_udp();
        let start = out.len();
        let mut fruitless = 0;
        // A garbled UDP exchange is retried with smaller requests (fewer
        // datagrams, fewer chances to lose one), down to one datagram's worth.
        let mut request = len;
        loop {
            let done = out.len() - start;
            if done == len {
                return Ok(());
            }
            let want = request.min(len - done);
            let before = out.len();
            let id = self.next_reply_id();
            match self.transfer_chunk(offset + done, want, id, out) {
                Ok(()) => fruitless = 0,
                Err(e @ (Error::Timeout(_) | Error::Protocol(_))) if udp => {
                    log::debug!(
                        "UDP chunk {}+{want} failed after {} new bytes: {e}",
                        offset + done,
                        out.len() - before
                    );
                    if out.len() > before {
                        fruitless = 0;
                    } else if matches!(e, Error::Protocol(_)) && request > UDP_DATAGRAM {
                        request = (request / 2).max(UDP_DATAGRAM);
                    } else {
                        fruitless += 1;
                        if fruitless >= UDP_ATTEMPTS {
                            return Err(e);
                        }
                    }
                }
                // A refused request leaves the stream in step.
                Err(e @ Error::Device { .. }) => return Err(e),
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
    }

    /// One READ_BUFFER exchange, assembled by [`ChunkAssembler`]. On
    /// failure `out` keeps only bytes known to be a correct prefix of the
    /// requested range.
    fn transfer_chunk(
        &mut self,
        offset: usize,
        len: usize,
        id: u16,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut req = len_u32(offset).to_le_bytes().to_vec();
        req.extend_from_slice(&len_u32(len).to_le_bytes());
        let p = Packet::new(cmd::READ_BUFFER, self.session_id, id, req);
        self.transport.send(&p, Phase::Reply)?;
        let wait = self.attempt_wait();
        let mut chunk = ChunkAssembler::new(len);
        let mut phase = Phase::Reply;
        loop {
            let step = self
                .wait_reply(id, Instant::now() + wait, phase)
                .and_then(|p| chunk.feed(p));
            match step {
                Ok(Step::More) => phase = Phase::Data,
                Ok(Step::Done) => {
                    out.extend_from_slice(&chunk.into_data());
                    return Ok(());
                }
                Err(e) => {
                    out.extend_from_slice(&chunk.salvage());
                    return Err(e);
                }
            }
        }
    }
}
