//! Text encodings of names stored on terminals. Decoding never fails:
//! undecodable bytes become U+FFFD.

/// A supported terminal text encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (newer firmware; the default).
    Utf8,
    /// ISO-8859-1 (older Western firmware).
    Latin1,
    /// Windows-1252.
    Cp1252,
    /// GBK / GB2312 (Chinese firmware), read as GB18030, its superset.
    Gbk,
}

/// CP1252 code points for bytes 0x80..=0x9F (0 = undefined).
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

impl Encoding {
    /// Parses a name as written in the devices file (case-insensitive).
    pub fn parse(name: &str) -> Option<Encoding> {
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" => Some(Encoding::Latin1),
            "cp1252" | "windows-1252" => Some(Encoding::Cp1252),
            "gbk" | "gb2312" | "gb18030" | "cp936" => Some(Encoding::Gbk),
            _ => None,
        }
    }

    /// Decodes bytes, replacing what is not valid.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Encoding::Latin1 => bytes.iter().map(|b| char::from(*b)).collect(),
            Encoding::Cp1252 => bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9F => char::from_u32(u32::from(CP1252_HIGH[usize::from(b - 0x80)]))
                        .filter(|c| *c != '\0')
                        .unwrap_or('\u{FFFD}'),
                    _ => char::from(b),
                })
                .collect(),
            Encoding::Gbk => encoding_rs::GB18030
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
        }
    }

    /// Encodes text; characters the encoding cannot hold become `?`.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
            Encoding::Cp1252 => text
                .chars()
                .map(|c| {
                    let cp = u32::from(c);
                    match cp {
                        0..=0x7F | 0xA0..=0xFF => cp as u8,
                        _ => CP1252_HIGH
                            .iter()
                            .position(|h| u32::from(*h) == cp && cp != 0)
                            .map_or(b'?', |i| 0x80 + i as u8),
                    }
                })
                .collect(),
            Encoding::Gbk => encode_gbk(text),
        }
    }
}

/// GBK bytes of `text`; a character GBK cannot hold becomes `?`.
fn encode_gbk(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(c.encode_utf8(&mut buf));
        if unmappable {
            out.push(b'?');
        } else {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// `text` cut to `max` characters (with `…` when cut), so a message never
/// echoes a huge input back.
pub fn cut(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let shown: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{shown}…")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_spanish_names() {
        for enc in [Encoding::Utf8, Encoding::Latin1, Encoding::Cp1252] {
            assert_eq!(
                enc.decode(&enc.encode("José Muñoz Álvarez")),
                "José Muñoz Álvarez"
            );
        }
        assert_eq!(Encoding::Cp1252.decode(&[0x80, 0x81]), "€\u{FFFD}");
        assert_eq!(Encoding::Cp1252.encode("€"), vec![0x80]);
        assert_eq!(Encoding::Latin1.encode("€"), b"?".to_vec());
        assert_eq!(Encoding::Utf8.decode(&[0x4A, 0xE9]), "J\u{FFFD}");
        assert_eq!(Encoding::parse("Windows-1252"), Some(Encoding::Cp1252));
        assert_eq!(Encoding::parse("klingon"), None);
    }

    #[test]
    fn chinese_names_in_gbk() {
        let enc = Encoding::parse("GB2312").expect("known");
        assert_eq!(enc, Encoding::Gbk);
        assert_eq!(enc.encode("张三"), vec![0xD5, 0xC5, 0xC8, 0xFD]);
        assert_eq!(enc.decode(&[0xD5, 0xC5, 0xC8, 0xFD]), "张三");
        assert_eq!(enc.decode(&enc.encode("李四 Li")), "李四 Li");
        assert_eq!(enc.encode("a€ñ"), b"a\x80?".to_vec());
    }
}
