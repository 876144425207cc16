//! ZK packet framing: the 8-byte header, the TCP prefix, the checksum, and a
//! frame parser that never panics on wire bytes (`Ok(None)` = need more bytes).
//!
//! Layout (protocol spec §1): `command u16 | checksum u16 | session u16 | reply_id u16 | data`,
//! all little-endian. Over TCP each packet is preceded by `50 50 82 7D` and a u32 length.

use std::fmt;

use super::codec::len_u32;

/// Command and reply codes used by this project (protocol spec §2).
pub mod cmd {
    pub const CONNECT: u16 = 1000;
    pub const EXIT: u16 = 1001;
    pub const ENABLE_DEVICE: u16 = 1002;
    pub const DISABLE_DEVICE: u16 = 1003;
    pub const RESTART: u16 = 1004;
    pub const REFRESH_DATA: u16 = 1013;
    pub const GET_VERSION: u16 = 1100;
    pub const AUTH: u16 = 1102;
    pub const PREPARE_DATA: u16 = 1500;
    pub const DATA: u16 = 1501;
    pub const FREE_DATA: u16 = 1502;
    pub const PREPARE_BUFFER: u16 = 1503;
    pub const READ_BUFFER: u16 = 1504;
    pub const DB_RRQ: u16 = 7;
    pub const USER_WRQ: u16 = 8;
    pub const USERTEMP_RRQ: u16 = 9;
    pub const OPTIONS_RRQ: u16 = 11;
    pub const ATTLOG_RRQ: u16 = 13;
    pub const CLEAR_ATTLOG: u16 = 15;
    pub const DELETE_USER: u16 = 18;
    pub const DELETE_USERTEMP: u16 = 19;
    pub const USERTEMP_EX_WRQ: u16 = 87;
    pub const USERTEMP_EX_RRQ: u16 = 88;
    pub const UPDATE_FIRMWARE: u16 = 110;
    pub const HASH_DATA: u16 = 119;
    pub const SSR_DELETE_USERTEMP: u16 = 134;
    pub const USERFACE_RRQ: u16 = 150;
    pub const USERFACE_WRQ: u16 = 151;
    pub const DELETE_USERFACE: u16 = 152;
    pub const GET_FREE_SIZES: u16 = 50;
    pub const START_VERIFY: u16 = 60;
    pub const START_ENROLL: u16 = 61;
    pub const CANCEL_CAPTURE: u16 = 62;
    pub const GET_TIME: u16 = 201;
    pub const SET_TIME: u16 = 202;
    pub const REG_EVENT: u16 = 500;

    pub const ACK_OK: u16 = 2000;
    pub const ACK_ERROR: u16 = 2001;
    pub const ACK_DATA: u16 = 2002;
    pub const ACK_UNAUTH: u16 = 2005;
    pub const ACK_UNKNOWN: u16 = 0xFFFF;

    /// A short English name for a code, for log lines.
    pub fn name(code: u16) -> &'static str {
        match code {
            CONNECT => "CONNECT",
            EXIT => "EXIT",
            ENABLE_DEVICE => "ENABLEDEVICE",
            DISABLE_DEVICE => "DISABLEDEVICE",
            RESTART => "RESTART",
            REFRESH_DATA => "REFRESHDATA",
            GET_VERSION => "GET_VERSION",
            AUTH => "AUTH",
            PREPARE_DATA => "PREPARE_DATA",
            DATA => "DATA",
            FREE_DATA => "FREE_DATA",
            PREPARE_BUFFER => "PREPARE_BUFFER",
            READ_BUFFER => "READ_BUFFER",
            USER_WRQ => "USER_WRQ",
            USERTEMP_RRQ => "USERTEMP_RRQ",
            OPTIONS_RRQ => "OPTIONS_RRQ",
            ATTLOG_RRQ => "ATTLOG_RRQ",
            CLEAR_ATTLOG => "CLEAR_ATTLOG",
            DELETE_USER => "DELETE_USER",
            DELETE_USERTEMP => "DELETE_USERTEMP",
            USERTEMP_EX_WRQ => "USERTEMP_EX_WRQ",
            USERTEMP_EX_RRQ => "USERTEMP_EX_RRQ",
            UPDATE_FIRMWARE => "UPDATE_FIREWARE",
            HASH_DATA => "HASH_DATA",
            SSR_DELETE_USERTEMP => "SSR_DELETE_USERTEMP",
            USERFACE_RRQ => "USERFACE_RRQ",
            USERFACE_WRQ => "USERFACE_WRQ",
            DELETE_USERFACE => "DELETE_USERFACE",
            GET_FREE_SIZES => "GET_FREE_SIZES",
            START_VERIFY => "STARTVERIFY",
            START_ENROLL => "STARTENROLL",
            CANCEL_CAPTURE => "CANCELCAPTURE",
            GET_TIME => "GET_TIME",
            SET_TIME => "SET_TIME",
            REG_EVENT => "REG_EVENT",
            ACK_OK => "ACK_OK",
            ACK_ERROR => "ACK_ERROR",
            ACK_DATA => "ACK_DATA",
            ACK_UNAUTH => "ACK_UNAUTH",
            ACK_UNKNOWN => "ACK_UNKNOWN",
            _ => "?",
        }
    }
}

/// Size of the ZK header.
pub const HEADER_LEN: usize = 8;
/// Size of the TCP prefix (magic + u32 length).
pub const TCP_PREFIX_LEN: usize = 8;
/// The TCP magic bytes `50 50 82 7D`.
pub const TCP_MAGIC: [u8; 4] = [0x50, 0x50, 0x82, 0x7D];
/// Largest TCP frame accepted; anything larger means the stream is corrupt.
pub const MAX_TCP_FRAME: usize = 1 << 20;

/// Why bytes could not be parsed as a ZK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Fewer than 8 bytes where a header was expected.
    TooShort(usize),
    /// The TCP prefix magic is wrong: the stream is desynchronised.
    BadMagic([u8; 4]),
    /// The TCP length field is below 8 or absurdly large.
    BadLength(u32),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooShort(n) => write!(f, "packet of {n} bytes, shorter than a header"),
            WireError::BadMagic(m) => write!(f, "bad TCP prefix {m:02x?}"),
            WireError::BadLength(n) => write!(f, "bad TCP frame length ({n})"),
        }
    }
}

/// One ZK packet (header fields plus payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Command (client→device) or reply code (device→client).
    pub command: u16,
    /// Session id; re-purposed as a frame index in multi-frame DATA (spec §1.6).
    pub session: u16,
    /// Sequence number echoed by the device.
    pub reply_id: u16,
    /// Payload.
    pub data: Vec<u8>,
    /// Checksum as found on the wire (0 for packets built locally).
    pub wire_checksum: u16,
}

impl Packet {
    /// A packet to be sent.
    pub fn new(command: u16, session: u16, reply_id: u16, data: Vec<u8>) -> Packet {
        Packet {
            command,
            session,
            reply_id,
            data,
            wire_checksum: 0,
        }
    }

    /// Bare ZK packet (UDP form): header with checksum, then data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.data.len());
        self.encode_into(&mut out);
        out
    }

    /// TCP form: prefix, header, data.
    pub fn encode_tcp(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TCP_PREFIX_LEN + HEADER_LEN + self.data.len());
        out.extend_from_slice(&TCP_MAGIC);
        out.extend_from_slice(&len_u32(HEADER_LEN + self.data.len()).to_le_bytes());
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.command.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.session.to_le_bytes());
        out.extend_from_slice(&self.reply_id.to_le_bytes());
        out.extend_from_slice(&self.data);
        let sum = checksum(&out[start..]);
        out[start + 2..start + 4].copy_from_slice(&sum.to_le_bytes());
    }

    /// Parses a bare ZK packet (a UDP datagram, or a TCP frame body).
    pub fn parse(bytes: &[u8]) -> Result<Packet, WireError> {
        match bytes {
            [c0, c1, k0, k1, s0, s1, r0, r1, data @ ..] => Ok(Packet {
                command: u16::from_le_bytes([*c0, *c1]),
                wire_checksum: u16::from_le_bytes([*k0, *k1]),
                session: u16::from_le_bytes([*s0, *s1]),
                reply_id: u16::from_le_bytes([*r0, *r1]),
                data: data.to_vec(),
            }),
            _ => Err(WireError::TooShort(bytes.len())),
        }
    }

    /// True when the checksum read from the wire matches the packet content.
    pub fn checksum_ok(&self) -> bool {
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.data.len());
        bytes.extend_from_slice(&self.command.to_le_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&self.session.to_le_bytes());
        bytes.extend_from_slice(&self.reply_id.to_le_bytes());
        bytes.extend_from_slice(&self.data);
        checksum(&bytes) == self.wire_checksum
    }
}

/// The ZK checksum (spec §1.5): one's-complement sum of little-endian 16-bit
/// words over header (checksum field zeroed) and data, folded and inverted.
/// The caller passes the bytes with the checksum field already zeroed.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_le_bytes([w[0], w[1]]));
        // Fold early so the accumulator can never overflow, whatever the length.
        if sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

/// Tries to take one TCP frame from the front of `buf`.
///
/// Returns `Ok(None)` while more bytes are needed, `Ok(Some((packet, consumed)))`
/// once a whole frame is present, and an error when the stream is corrupt.
pub fn parse_tcp_frame(buf: &[u8]) -> Result<Option<(Packet, usize)>, WireError> {
    let Some(prefix) = buf.get(..TCP_PREFIX_LEN) else {
        // Reject a wrong magic as soon as the bytes we have prove it.
        let n = buf.len().min(4);
        if buf[..n] != TCP_MAGIC[..n] {
            let mut m = [0u8; 4];
            m[..n].copy_from_slice(&buf[..n]);
            return Err(WireError::BadMagic(m));
        }
        return Ok(None);
    };
    let [m0, m1, m2, m3, l0, l1, l2, l3] = [
        prefix[0], prefix[1], prefix[2], prefix[3], prefix[4], prefix[5], prefix[6], prefix[7],
    ];
    if [m0, m1, m2, m3] != TCP_MAGIC {
        return Err(WireError::BadMagic([m0, m1, m2, m3]));
    }
    let length = u32::from_le_bytes([l0, l1, l2, l3]);
    let len = length as usize;
    if !(HEADER_LEN..=MAX_TCP_FRAME).contains(&len) {
        return Err(WireError::BadLength(length));
    }
    let total = TCP_PREFIX_LEN + len;
    match buf.get(TCP_PREFIX_LEN..total) {
        None => Ok(None),
        Some(body) => Ok(Some((Packet::parse(body)?, total))),
    }
}

/// Decodes a hex string with optional spaces and `|` separators (for tests
/// built from the captures in the protocol notes).
#[cfg(test)]
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        })
        .collect();
    digits
        .chunks(2)
        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn zeroed(mut b: Vec<u8>) -> Vec<u8> {
        b[2] = 0;
        b[3] = 0;
        b
    }

    #[test]
    fn checksum_vectors_section_c() {
        // zk-vectors.md §C.
        let cases: &[(&str, u16)] = &[
            ("0b00 5a17 f38d 0300 5a4b4661636556657273696f6e00", 0x175A),
            ("d007 296a f38d 0a00 09", 0x6A29),
            ("e803 0000 0000 0000", 0xFC17),
            ("d007 0000 2ffb 0000", 0xFCFF),
            ("4e04 0000 cf45 0100 614d323c", 0x2C4E),
        ];
        for (h, want) in cases {
            assert_eq!(checksum(&zeroed(hex(h))), *want, "{h}");
        }
    }

    #[test]
    fn encodes_captured_connect_and_exit_v1() {
        let connect = Packet::new(cmd::CONNECT, 0, 0, vec![]);
        assert_eq!(
            connect.encode_tcp(),
            hex("5050827d 08000000 e803 17fc 0000 0000")
        );
        assert_eq!(connect.encode(), hex("e803 17fc 0000 0000"));
        let exit = Packet::new(cmd::EXIT, 0xFB2F, 1, vec![]);
        assert_eq!(
            exit.encode_tcp(),
            hex("5050827d 08000000 e903 e600 2ffb 0100")
        );
    }

    #[test]
    fn encodes_auth_v3_and_constructed_section_i() {
        let auth = Packet::new(cmd::AUTH, 0x45CF, 1, hex("614d323c"));
        assert_eq!(
            auth.encode_tcp(),
            hex("5050827d 0c000000 4e04 4e2c cf45 0100 614d323c")
        );
        let rows: &[(u16, u16, &str, &str)] = &[
            (cmd::GET_TIME, 3, "", "5050827d08000000c90064b9cf450300"),
            (
                cmd::SET_TIME,
                4,
                "d2414624",
                "5050827d0c000000ca004a53cf450400d2414624",
            ),
            (
                cmd::DISABLE_DEVICE,
                5,
                "",
                "5050827d08000000eb0340b6cf450500",
            ),
            (
                cmd::ENABLE_DEVICE,
                6,
                "",
                "5050827d08000000ea0340b6cf450600",
            ),
            (
                cmd::READ_BUFFER,
                8,
                "00000000c0ff0000",
                "5050827d10000000e00587b4cf45080000000000c0ff0000",
            ),
            (cmd::FREE_DATA, 14, "", "5050827d08000000de0544b4cf450e00"),
            (cmd::GET_VERSION, 12, "", "5050827d080000004c04d8b5cf450c00"),
            (
                cmd::PREPARE_BUFFER,
                13,
                "010d000000000000000000",
                "5050827d13000000df0543a7cf450d00010d000000000000000000",
            ),
            (
                cmd::OPTIONS_RRQ,
                11,
                "7e53657269616c4e756d62657200",
                "5050827d160000000b001771cf450b007e53657269616c4e756d62657200",
            ),
        ];
        for (c, reply, data, want) in rows {
            let p = Packet::new(*c, 0x45CF, *reply, hex(data));
            assert_eq!(p.encode_tcp(), hex(want), "command {c}");
        }
    }

    #[test]
    fn parses_captured_replies_and_checks_checksums() {
        for frame in [
            "5050827d 08000000 d007 fffc 2ffb 0000",
            "5050827d 08000000 d507 5bb2 cf45 0000",
            "5050827d 15000000 d007 a762 5c3c 1500 00 b4130000 b4130000 cdef2300",
            "5050827d 10000000 dc05 0da6 5c3c 1600 b4130000 f0030000",
            "5050827d 0c000000 dd05 07fa 0500 1600 00000000",
            "5050827D 1D000000 D007 714C F38D 0C00 7E506C6174666F726D3D5A454D3736305F54465400",
        ] {
            let bytes = hex(frame);
            let (p, used) = parse_tcp_frame(&bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            assert!(p.checksum_ok(), "{frame}");
        }
        let (p, _) = parse_tcp_frame(&hex("5050827d 08000000 d007 fffc 2ffb 0000"))
            .unwrap()
            .unwrap();
        assert_eq!((p.command, p.session, p.reply_id), (cmd::ACK_OK, 0xFB2F, 0));
    }

    #[test]
    fn tcp_parser_waits_for_bytes_and_handles_coalesced_frames() {
        let mut stream = hex("5050827d 10000000 dc05 0da6 5c3c 1600 b4130000 f0030000");
        stream.extend(hex("5050827d 0c000000 dd05 07fa 0500 1600 00000000"));
        for cut in 0..24 {
            assert_eq!(parse_tcp_frame(&stream[..cut]).unwrap(), None, "cut {cut}");
        }
        let (first, used) = parse_tcp_frame(&stream).unwrap().unwrap();
        assert_eq!(first.command, cmd::PREPARE_DATA);
        let (second, used2) = parse_tcp_frame(&stream[used..]).unwrap().unwrap();
        assert_eq!((second.command, second.session), (cmd::DATA, 5));
        assert_eq!(used + used2, stream.len());
    }

    #[test]
    fn tcp_parser_rejects_garbage() {
        assert!(matches!(
            parse_tcp_frame(b"AA"),
            Err(WireError::BadMagic(_))
        ));
        assert!(matches!(
            parse_tcp_frame(&hex("5050827d 04000000")),
            Err(WireError::BadLength(4))
        ));
        assert!(matches!(
            parse_tcp_frame(&hex("5050827d ffffffff")),
            Err(WireError::BadLength(_))
        ));
        assert_eq!(Packet::parse(&[1, 2, 3]), Err(WireError::TooShort(3)));
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(command: u16, session: u16, reply: u16,
                                   data in proptest::collection::vec(any::<u8>(), 0..2100)) {
            let p = Packet::new(command, session, reply, data.clone());
            let (q, used) = parse_tcp_frame(&p.encode_tcp()).unwrap().unwrap();
            prop_assert_eq!(used, 16 + data.len());
            prop_assert!(q.checksum_ok());
            prop_assert_eq!((q.command, q.session, q.reply_id, q.data), (command, session, reply, data));
        }

        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_tcp_frame(&bytes);
            let _ = Packet::parse(&bytes);
        }
    }
}
