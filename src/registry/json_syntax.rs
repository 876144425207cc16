//! Why a text is not JSON, found by reading the text itself: serde_json
//! says where (line and column) but its "what" is only an English
//! sentence, and a translation keyed on its wording breaks when serde_json
//! rewords it. This scanner follows serde_json's grammar and order of
//! checks, so that the kind it finds is the error serde_json stopped at.

/// What is wrong at the first place the text stops being JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonSyntax {
    /// The text ends inside a value (something is not closed).
    UnexpectedEnd,
    /// Inside an object, after a value: neither `,` nor `}`.
    ExpectedCommaOrBrace,
    /// Inside an array, after a value: neither `,` nor `]`.
    ExpectedCommaOrBracket,
    /// After a key: no `:`.
    ExpectedColon,
    /// Where a value goes, something that starts none.
    ExpectedValue,
    /// A word that is not `true`, `false` or `null`.
    ExpectedIdent,
    /// A key without double quotes.
    KeyMustBeString,
    /// A `,` right before `}` or `]`.
    TrailingComma,
    /// Text after the document's value.
    TrailingCharacters,
    /// A control character (a line break…) inside a string.
    ControlCharacter,
    /// A `\` followed by something that is no escape.
    InvalidEscape,
    /// A malformed number (`-`, `01`, `1.`, `1e`).
    InvalidNumber,
    /// A number too large for a 64-bit float.
    NumberOutOfRange,
    /// A `\u` escape that is half of a surrogate pair.
    InvalidUnicode,
    /// A leading surrogate not followed by a `\u` escape.
    IncompleteHexEscape,
    /// Arrays and objects nested deeper than serde_json reads.
    TooDeep,
}

/// How deep serde_json nests before it gives up.
const MAX_DEPTH: usize = 128;

/// The first syntax error of `text`, or `None` if it is JSON.
pub fn diagnose(text: &str) -> Option<JsonSyntax> {
    let mut scan = Scan {
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    scan.document().err()
}

type Step = Result<(), JsonSyntax>;

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Scan<'_> {
    fn document(&mut self) -> Step {
        self.value()?;
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(JsonSyntax::TrailingCharacters),
        }
    }

    /// The next byte that is not white space (not consumed).
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
        self.bytes.get(self.at).copied()
    }

    /// The next byte as it is (white space included), consumed.
    fn next(&mut self) -> Option<u8> {
        let b = self.bytes.get(self.at).copied();
        self.at += usize::from(b.is_some());
        b
    }

    fn value(&mut self) -> Step {
        match self.peek() {
            None => Err(JsonSyntax::UnexpectedEnd),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.ident(b"true"),
            Some(b'f') => self.ident(b"false"),
            Some(b'n') => self.ident(b"null"),
            Some(_) => Err(JsonSyntax::ExpectedValue),
        }
    }

    fn nested(&mut self, inner: fn(&mut Self) -> Step) -> Step {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(JsonSyntax::TooDeep);
        }
        self.at += 1;
        inner(self)?;
        self.depth -= 1;
        Ok(())
    }

    /// After `{`.
    fn object(&mut self) -> Step {
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            match self.peek() {
                Some(b'"') => self.string()?,
                None => return Err(JsonSyntax::UnexpectedEnd),
                Some(_) => return Err(JsonSyntax::KeyMustBeString),
            }
            match self.peek() {
                Some(b':') => self.at += 1,
                None => return Err(JsonSyntax::UnexpectedEnd),
                Some(_) => return Err(JsonSyntax::ExpectedColon),
            }
            self.value()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                None => return Err(JsonSyntax::UnexpectedEnd),
                Some(_) => return Err(JsonSyntax::ExpectedCommaOrBrace),
            }
            if self.peek() == Some(b'}') {
                return Err(JsonSyntax::TrailingComma);
            }
        }
    }

    /// After `[`.
    fn array(&mut self) -> Step {
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                None => return Err(JsonSyntax::UnexpectedEnd),
                Some(_) => return Err(JsonSyntax::ExpectedCommaOrBracket),
            }
            if self.peek() == Some(b']') {
                return Err(JsonSyntax::TrailingComma);
            }
        }
    }

    fn ident(&mut self, word: &[u8]) -> Step {
        for want in word {
            match self.next() {
                None => return Err(JsonSyntax::UnexpectedEnd),
                Some(b) if b != *want => return Err(JsonSyntax::ExpectedIdent),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// At `"`.
    fn string(&mut self) -> Step {
        self.at += 1;
        loop {
            match self.next() {
                None => return Err(JsonSyntax::UnexpectedEnd),
                Some(b'"') => return Ok(()),
                Some(b'\\') => self.escape()?,
                Some(0..=0x1f) => return Err(JsonSyntax::ControlCharacter),
                Some(_) => {}
            }
        }
    }

    /// After `\` in a string.
    fn escape(&mut self) -> Step {
        match self.next() {
            None => Err(JsonSyntax::UnexpectedEnd),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(()),
            Some(b'u') => self.unicode_escape(),
            Some(_) => Err(JsonSyntax::InvalidEscape),
        }
    }

    /// After `\u`: a code unit, and a surrogate's other half.
    fn unicode_escape(&mut self) -> Step {
        let first = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&first) {
            return Err(JsonSyntax::InvalidUnicode);
        }
        if !(0xD800..=0xDBFF).contains(&first) {
            return Ok(());
        }
        for want in [b'\\', b'u'] {
            match self.next() {
                None => return Err(JsonSyntax::UnexpectedEnd),
                Some(b) if b != want => return Err(JsonSyntax::IncompleteHexEscape),
                Some(_) => {}
            }
        }
        if (0xDC00..=0xDFFF).contains(&self.hex4()?) {
            Ok(())
        } else {
            Err(JsonSyntax::InvalidUnicode)
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonSyntax> {
        let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
            return Err(JsonSyntax::UnexpectedEnd);
        };
        self.at += 4;
        let text = std::str::from_utf8(digits).map_err(|_| JsonSyntax::InvalidEscape)?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(JsonSyntax::InvalidEscape);
        }
        u16::from_str_radix(text, 16).map_err(|_| JsonSyntax::InvalidEscape)
    }

    /// At `-` or a digit.
    fn number(&mut self) -> Step {
        let start = self.at;
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.next() {
            None => return Err(JsonSyntax::UnexpectedEnd),
            Some(b'0') => {
                if self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                    return Err(JsonSyntax::InvalidNumber);
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            Some(_) => return Err(JsonSyntax::InvalidNumber),
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.required_digits()?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            self.required_digits()?;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("0");
        match text.parse::<f64>() {
            Ok(n) if n.is_infinite() => Err(JsonSyntax::NumberOutOfRange),
            _ => Ok(()),
        }
    }

    fn digits(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    fn required_digits(&mut self) -> Step {
        match self.bytes.get(self.at) {
            None => Err(JsonSyntax::UnexpectedEnd),
            Some(b) if b.is_ascii_digit() => {
                self.digits();
                Ok(())
            }
            Some(_) => Err(JsonSyntax::InvalidNumber),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_what_serde_json_stops_at() {
        use JsonSyntax as S;
        for (text, want) in [
            (r#"{"a": {"ip": "x"} "b": 1}"#, S::ExpectedCommaOrBrace),
            ("[1 2]", S::ExpectedCommaOrBracket),
            (r#"{"a" {"#, S::ExpectedColon),
            (r#"{"a": }"#, S::ExpectedValue),
            (r#"{"a": tru}"#, S::ExpectedIdent),
            (r#"{"a": {"ip": "x"},}"#, S::TrailingComma),
            ("[1,]", S::TrailingComma),
            ("{a: 1}", S::KeyMustBeString),
            (r#"{"a": {"#, S::UnexpectedEnd),
            ("", S::UnexpectedEnd),
            ("{} x", S::TrailingCharacters),
            ("\"a\nb\"", S::ControlCharacter),
            (r#""\q""#, S::InvalidEscape),
            (r#""\u12x4""#, S::InvalidEscape),
            ("01", S::InvalidNumber),
            ("-x", S::InvalidNumber),
            ("1.e5", S::InvalidNumber),
            ("1e400", S::NumberOutOfRange),
            (r#""\udc00""#, S::InvalidUnicode),
            (r#""\ud800\u0041""#, S::InvalidUnicode),
            (r#""\ud800x""#, S::IncompleteHexEscape),
        ] {
            assert_eq!(diagnose(text), Some(want), "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
        }
        assert_eq!(diagnose(&"[".repeat(200)), Some(S::TooDeep));
        assert_eq!(
            diagnose(r#" {"a": [1, -0.5e-3, "\ud83d\ude00\n", true, null]} "#),
            None
        );
    }

    proptest! {
        /// The scanner and serde_json agree on what is JSON.
        #[test]
        fn agrees_with_serde_json_on_what_is_json(
            parts in prop::collection::vec(prop::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"a\"", "\"\\u00e9\"", "1", "-0.5e9", "01",
                "null", "true", "tru", " ", "\n", "\"\\ud800\"", "1e999", "x",
            ]), 0..40)
        ) {
            let text = parts.concat();
            let serde_ok = serde_json::from_str::<serde_json::Value>(&text).is_ok();
            prop_assert_eq!(diagnose(&text).is_none(), serde_ok, "{}", text);
        }
    }
}
