//! Biometric template upload lines (`../shared/protocol/templates-protocol.md`
//! §3.4): `FP` and `FACE` (and `FVEIN`) lines in `table=OPERLOG`, `BIODATA`
//! lines in `table=BIODATA`, parsed into a typed [`PushTemplate`] with the
//! template bytes base64-decoded. No I/O; a line that cannot be used is a
//! typed [`TemplateError`], never a panic. Template bytes are biometric
//! data: [`TemplateBytes`]' `Debug` shows their length only, and no error
//! carries them.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::lines::{check_pin, lines, SkipReason};
use crate::fields;

/// Largest template accepted, decoded: the firmware's own limit for a
/// `DATA UPDATE FINGERTMP` template (−11 above it, §3.5.1 **[F]**); a ZKFinger
/// 10 template is at most 1664 bytes and a NIR face record 2576 (§1.4).
pub const MAX_TEMPLATE_BYTES: usize = 20 * 1024;

/// Longest `TMP` text accepted: base64 of [`MAX_TEMPLATE_BYTES`], padded.
pub const MAX_TEMPLATE_TEXT: usize = MAX_TEMPLATE_BYTES.div_ceil(3) * 4;

/// Highest finger number (`FID` of `FP` lines, `No` of fingerprints): 0–9 (§1.2 **[M]**).
pub const MAX_FINGER: u8 = 9;

/// Biometric type, as BIODATA's `Type` numbers it (§3.2 **[V]**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BioType {
    /// 1: fingerprint.
    Finger,
    /// 2: near-infrared face (`FACE` lines).
    FaceNir,
    /// 7: finger vein (`FVEIN` lines).
    FingerVein,
    /// 8: palm vein.
    Palm,
    /// 9: visible-light face.
    FaceVl,
    /// Any other type number (0 general, 3 voice, 4 iris, 5 retina, 6 palm print, 10 VL palm…).
    Other(u8),
}

impl BioType {
    /// The type for a BIODATA `Type` number.
    pub fn from_number(n: u8) -> BioType {
        match n {
            1 => BioType::Finger,
            2 => BioType::FaceNir,
            7 => BioType::FingerVein,
            8 => BioType::Palm,
            9 => BioType::FaceVl,
            other => BioType::Other(other),
        }
    }

    /// The BIODATA `Type` number.
    pub fn number(self) -> u8 {
        match self {
            BioType::Finger => 1,
            BioType::FaceNir => 2,
            BioType::FingerVein => 7,
            BioType::Palm => 8,
            BioType::FaceVl => 9,
            BioType::Other(n) => n,
        }
    }
}

/// An algorithm version, `major.minor` (`10`, `10.3`, `7.0`, `58.12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlgorithmVersion {
    /// Major version: templates are usable only between equal majors (§1.4).
    pub major: u16,
    /// Minor version (0 when not given).
    pub minor: u16,
}

impl AlgorithmVersion {
    /// Parses `10`, `10.0` or `10.3` (surrounding spaces allowed); `None`
    /// for anything else, and for `0` (the terminal has no such algorithm).
    pub fn parse(text: &str) -> Option<AlgorithmVersion> {
        let text = text.trim();
        let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let version = AlgorithmVersion {
            major: number(major)?,
            minor: number(minor)?,
        };
        (version.major != 0).then_some(version)
    }
}

impl fmt::Display for AlgorithmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Template bytes, exactly as the terminal stores them. `Debug` shows the
/// length only: templates are biometric data and never reach a log.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TemplateBytes(pub Vec<u8>);

impl fmt::Debug for TemplateBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

impl TemplateBytes {
    /// Standard padded base64, as commands carry it (§3.5.1: "always send
    /// padded base64").
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    /// Decodes a `TMP` text: standard base64, padding optional (§3.4.5);
    /// refuses texts longer than [`MAX_TEMPLATE_TEXT`] before decoding.
    pub fn from_base64(text: &str) -> Result<TemplateBytes, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::EmptyTemplate);
        }
        if text.len() > MAX_TEMPLATE_TEXT {
            return Err(TemplateError::TooLarge { chars: text.len() });
        }
        let bytes = LENIENT.decode(text).map_err(|_| TemplateError::BadBase64)?;
        if bytes.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLarge { chars: text.len() });
        }
        Ok(TemplateBytes(bytes))
    }

    /// The fingerprint algorithm family the bytes carry, when recognisable
    /// (§1.4): ZKFinger 10 when bytes 2–7 are `SS21\0\0` **[C]** (a validator
    /// rule **[I]**), ZKFinger 9 when they begin `A1 CA` **[V]** (base64 `oco`).
    pub fn finger_signature(&self) -> Option<u16> {
        match self.0.as_slice() {
            [_, _, b'S', b'S', b'2', b'1', 0, 0, ..] => Some(10),
            [0xA1, 0xCA, ..] => Some(9),
            _ => None,
        }
    }
}

/// Base64 as terminals write it: the standard alphabet, padding optional.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Which line a template came in (and is rendered back as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateLine {
    /// `FP PIN=\tFID=\tSize=\tValid=\tTMP=` (§3.4.1).
    Fp,
    /// `FACE PIN=\tFID=\tSIZE=\tVALID=\tTMP=` (§3.4.2).
    Face,
    /// `FVEIN Pin=\tFID=\tIndex=\tValid=\tSize=\tTmp=` (§3.4.4).
    Fvein,
    /// `BIODATA Pin=\tNo=\tIndex=\tValid=\tDuress=\tType=\tMajorVer=\tMinorVer=\tFormat=\tTmp=` (§3.4.3).
    BioData,
}

impl TemplateLine {
    /// The record type that starts the line.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateLine::Fp => "FP",
            TemplateLine::Face => "FACE",
            TemplateLine::Fvein => "FVEIN",
            TemplateLine::BioData => "BIODATA",
        }
    }

    /// The line kind for a record type (case-exact, as terminals send it).
    pub fn from_record(record: &str) -> Option<TemplateLine> {
        match record {
            "FP" => Some(TemplateLine::Fp),
            "FACE" => Some(TemplateLine::Face),
            "FVEIN" => Some(TemplateLine::Fvein),
            "BIODATA" => Some(TemplateLine::BioData),
            _ => None,
        }
    }
}

/// One template a terminal uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTemplate {
    /// The owner's PIN (the only key portable between terminals, §1.1).
    pub pin: String,
    /// What the template is of.
    pub kind: BioType,
    /// Finger (`FID` of `FP`/`FVEIN`, `No` of BIODATA); a face's `FID`
    /// (its number in the set); hand for palms (0 left, 1 right).
    pub no: u8,
    /// Sub-template within `no` (`Index`; 0 for `FP` lines).
    pub index: u8,
    /// `Valid` is not 0.
    pub valid: bool,
    /// Duress finger (`Valid=3`, or BIODATA `Duress=1`).
    pub duress: bool,
    /// `MajorVer`/`MinorVer` when the line gives them (BIODATA only).
    pub version: Option<AlgorithmVersion>,
    /// BIODATA `Format` (0 ZK, 1 ISO, 2 ANSI), when given.
    pub format: Option<u8>,
    /// The line it came in.
    pub line: TemplateLine,
    /// The decoded template.
    pub bytes: TemplateBytes,
    /// A declared `Size` that is not the `TMP` text's length: `(declared,
    /// actual)`. Size is advisory (§3.4.5): the template is kept, and the
    /// receiver logs the mismatch.
    pub size_mismatch: Option<(usize, usize)>,
}

/// Why a template line was not used. Never carries template bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// Not an `FP`, `FACE`, `FVEIN` or `BIODATA` line.
    UnknownRecord,
    /// A field the line needs is missing (`PIN`, `FID`, `TMP`…).
    MissingField(&'static str),
    /// A field is not a number in its range.
    BadNumber(&'static str),
    /// The PIN is empty.
    EmptyPin,
    /// The PIN is not 1–24 letters or digits (the users API's rule).
    BadPin,
    /// The `TMP` text is empty.
    EmptyTemplate,
    /// The template is larger than [`MAX_TEMPLATE_BYTES`].
    TooLarge {
        /// Length of the `TMP` text.
        chars: usize,
    },
    /// The `TMP` text is not base64.
    BadBase64,
}

impl TemplateError {
    /// The nearest reason an upload's skipped-line report uses.
    pub fn skip_reason(&self) -> SkipReason {
        match self {
            TemplateError::UnknownRecord => SkipReason::UnknownLine,
            TemplateError::EmptyPin => SkipReason::EmptyPin,
            TemplateError::BadPin => SkipReason::BadPin,
            TemplateError::TooLarge { .. } => SkipReason::TooLong,
            _ => SkipReason::TooFewFields,
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnknownRecord => f.write_str("not a template line"),
            TemplateError::MissingField(field) => write!(f, "template line without {field}"),
            TemplateError::BadNumber(field) => write!(f, "template line with a bad {field}"),
            TemplateError::EmptyPin => f.write_str("template line with an empty PIN"),
            TemplateError::BadPin => f.write_str("template line with a bad PIN"),
            TemplateError::EmptyTemplate => f.write_str("template line with an empty template"),
            TemplateError::TooLarge { chars } => write!(
                f,
                "template of {chars} characters, above {MAX_TEMPLATE_BYTES} bytes"
            ),
            TemplateError::BadBase64 => f.write_str("template that is not base64"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// The `key=value` fields of a line, keys matched case-insensitively and
/// each field split on its first `=` only (base64 ends in `=`, §3.4.5).
pub(super) struct Fields<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Fields<'a> {
    /// Splits `text` on tabs.
    pub(super) fn new(text: &'a str) -> Fields<'a> {
        Fields(
            text.split('\t')
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect(),
        )
    }

    /// The first value of `key` (any case).
    pub(super) fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    /// `key`, which must be there.
    pub(super) fn need(&self, key: &'static str) -> Result<&'a str, TemplateError> {
        self.get(key).ok_or(TemplateError::MissingField(key))
    }

    /// `key` as a number up to `max`, when there.
    pub(super) fn number(&self, key: &'static str, max: u64) -> Result<Option<u64>, TemplateError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or(TemplateError::BadNumber(key))
            })
            .transpose()
    }

    /// `key` as a `u8` up to `max`, which must be there.
    pub(super) fn small(&self, key: &'static str, max: u8) -> Result<u8, TemplateError> {
        self.number(key, u64::from(max))?
            .and_then(|n| u8::try_from(n).ok())
            .ok_or(TemplateError::MissingField(key))
    }
}

/// Checks a template's PIN with the users API's rule (as `USER` lines are).
pub(super) fn template_pin(pin: Option<&str>) -> Result<String, TemplateError> {
    let pin = pin.ok_or(TemplateError::MissingField("PIN"))?;
    match check_pin(pin) {
        Err(SkipReason::EmptyPin) => Err(TemplateError::EmptyPin),
        Err(_) => Err(TemplateError::BadPin),
        Ok(()) if !fields::valid_user_id(pin) => Err(TemplateError::BadPin),
        Ok(()) => Ok(pin.to_string()),
    }
}

/// A declared `Size` (absent or 0: nothing declared, as the firmware reads
/// it, §3.5.1 **[F]**) that is not `text`'s length: `(declared, actual)`.
fn size_mismatch(text: &str, size: Option<u64>) -> Option<(usize, usize)> {
    let declared = usize::try_from(size.filter(|s| *s > 0)?).unwrap_or(usize::MAX);
    (declared != text.len()).then_some((declared, text.len()))
}

/// `Valid` of `FP`/`FACE`/`FVEIN` lines: 0, 1 or 3 (3 = duress), default 1
/// (§1.3 **[M]**). Returns (valid, duress).
fn valid_flag(fields: &Fields<'_>) -> Result<(bool, bool), TemplateError> {
    match fields.number("Valid", 3)? {
        None | Some(1) => Ok((true, false)),
        Some(0) => Ok((false, false)),
        Some(3) => Ok((true, true)),
        Some(_) => Err(TemplateError::BadNumber("Valid")),
    }
}

/// Parses the fields of an `FP`, `FACE` or `FVEIN` line.
fn parse_fid_line(line: TemplateLine, fields: &Fields<'_>) -> Result<PushTemplate, TemplateError> {
    let (kind, max_no) = match line {
        TemplateLine::Face => (BioType::FaceNir, u8::MAX),
        TemplateLine::Fvein => (BioType::FingerVein, MAX_FINGER),
        _ => (BioType::Finger, MAX_FINGER),
    };
    let pin = template_pin(fields.get("PIN"))?;
    let no = fields.small("FID", max_no)?;
    let index = match line {
        TemplateLine::Fvein => fields.number("Index", u64::from(u8::MAX))?.unwrap_or(0),
        _ => 0,
    };
    let (valid, duress) = valid_flag(fields)?;
    let text = fields.need("TMP")?;
    let size_mismatch = size_mismatch(text, fields.number("Size", u64::MAX)?);
    let bytes = TemplateBytes::from_base64(text)?;
    Ok(PushTemplate {
        pin,
        kind,
        no,
        index: u8::try_from(index).unwrap_or(0),
        valid,
        duress,
        version: None,
        format: None,
        line,
        bytes,
        size_mismatch,
    })
}

/// Parses the fields of a `BIODATA` line (§3.4.3; there is no `Size`).
fn parse_biodata(fields: &Fields<'_>) -> Result<PushTemplate, TemplateError> {
    let pin = template_pin(fields.get("Pin"))?;
    let kind = BioType::from_number(fields.small("Type", u8::MAX)?);
    let no = fields.number("No", u64::from(u8::MAX))?.unwrap_or(0);
    let index = fields.number("Index", u64::from(u8::MAX))?.unwrap_or(0);
    if kind == BioType::Finger && no > u64::from(MAX_FINGER) {
        return Err(TemplateError::BadNumber("No"));
    }
    let valid = fields.number("Valid", 1)?.is_none_or(|v| v == 1);
    let duress = fields.number("Duress", 1)? == Some(1);
    let version = biodata_version(fields)?;
    let format = fields.number("Format", u64::from(u8::MAX))?;
    Ok(PushTemplate {
        pin,
        kind,
        no: u8::try_from(no).unwrap_or(0),
        index: u8::try_from(index).unwrap_or(0),
        valid,
        duress,
        version,
        format: format.and_then(|f| u8::try_from(f).ok()),
        line: TemplateLine::BioData,
        bytes: TemplateBytes::from_base64(fields.need("Tmp")?)?,
        size_mismatch: None,
    })
}

/// `MajorVer`/`MinorVer` of a BIODATA line: `None` when absent or 0.
fn biodata_version(fields: &Fields<'_>) -> Result<Option<AlgorithmVersion>, TemplateError> {
    let major = fields.number("MajorVer", u64::from(u16::MAX))?;
    let minor = fields.number("MinorVer", u64::from(u16::MAX))?;
    Ok(major
        .and_then(|m| u16::try_from(m).ok())
        .filter(|m| *m != 0)
        .map(|major| AlgorithmVersion {
            major,
            minor: minor.and_then(|m| u16::try_from(m).ok()).unwrap_or(0),
        }))
}

/// True when `line` is a template line (`FP`, `FACE`, `FVEIN`, `BIODATA`).
pub fn is_template_line(line: &str) -> bool {
    let record = line.split_once([' ', '\t']).map_or(line, |(r, _)| r);
    TemplateLine::from_record(record).is_some()
}

/// Parses one template upload line (CR and LF already removed): the record
/// type up to the first space or tab, then tab-separated `key=value` fields
/// (keys in any case, values split on the first `=`).
pub fn parse_template_line(line: &str) -> Result<PushTemplate, TemplateError> {
    let (record, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let kind = TemplateLine::from_record(record).ok_or(TemplateError::UnknownRecord)?;
    let fields = Fields::new(rest);
    match kind {
        TemplateLine::BioData => parse_biodata(&fields),
        other => parse_fid_line(other, &fields),
    }
}

/// The templates of an upload body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateBatch {
    /// Templates in body order.
    pub templates: Vec<PushTemplate>,
    /// Template lines that were not used: 1-based line number and why.
    pub errors: Vec<(usize, TemplateError)>,
}

/// The template lines (`FP`, `FACE`, `FVEIN`, `BIODATA`) of an OPERLOG or
/// BIODATA body; other lines (`USER`, `OPLOG`…) are left to their parsers.
pub fn parse_templates(body: &[u8]) -> TemplateBatch {
    let mut batch = TemplateBatch::default();
    for (n, line) in lines(body).filter(|(_, line)| is_template_line(line)) {
        match parse_template_line(&line) {
            Ok(t) => batch.templates.push(t),
            Err(e) => batch.errors.push((n, e)),
        }
    }
    batch
}

/// The `Valid` number of an `FP`/`FACE`/`FVEIN` line: 0, 1 or 3.
pub(super) fn valid_number(valid: bool, duress: bool) -> u8 {
    match (valid, duress) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 3,
    }
}

/// Renders `t` as a terminal uploads it (padded base64, `Size` its exact
/// length), ending in LF; the simulator's push terminal sends these.
pub fn render_template_line(t: &PushTemplate) -> String {
    let tmp = t.bytes.to_base64();
    let valid = valid_number(t.valid, t.duress);
    let (pin, no, index, size) = (&t.pin, t.no, t.index, tmp.len());
    match t.line {
        TemplateLine::Fp => {
            format!("FP PIN={pin}\tFID={no}\tSize={size}\tValid={valid}\tTMP={tmp}\n")
        }
        TemplateLine::Face => {
            format!("FACE PIN={pin}\tFID={no}\tSIZE={size}\tVALID={valid}\tTMP={tmp}\n")
        }
        TemplateLine::Fvein => format!(
            "FVEIN Pin={pin}\tFID={no}\tIndex={index}\tValid={valid}\tSize={size}\tTmp={tmp}\n"
        ),
        TemplateLine::BioData => {
            let version = t.version.unwrap_or(AlgorithmVersion { major: 0, minor: 0 });
            format!(
                "BIODATA Pin={pin}\tNo={no}\tIndex={index}\tValid={}\tDuress={}\tType={}\tMajorVer={}\tMinorVer={}\tFormat={}\tTmp={tmp}\n",
                u8::from(t.valid),
                u8::from(t.duress),
                t.kind.number(),
                version.major,
                version.minor,
                t.format.unwrap_or(0)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first 80 characters of the real `FP` upload of §3.4.1 (T9,
    /// **[C SA40-log]**), synthetic filler, and its last six characters, to
    /// the real line's `Size=1588` (the document quotes only its ends; no
    /// real person's template is kept here).
    fn sa40_tmp() -> String {
        let head =
            "TeVTUzIxAAAEpqkECAUHCc7QAAAcp2kBAAAAhEsrfqYdAIIOBgGQALCowQBZACcPwAFkprINlwB7AFEP";
        let tail = "ALgFI=";
        format!("{head}{}{tail}", "A".repeat(1588 - head.len() - tail.len()))
    }

    #[test]
    fn the_documents_fp_upload_3_4_1() {
        let line = format!("FP PIN=1\tFID=1\tSize=1588\tValid=1\tTMP={}", sa40_tmp());
        let t = parse_template_line(&line).expect("parses");
        assert_eq!(
            (t.pin.as_str(), t.kind, t.no, t.index, t.valid, t.duress),
            ("1", BioType::Finger, 1, 0, true, false)
        );
        assert_eq!(
            (t.version, t.format, t.line),
            (None, None, TemplateLine::Fp)
        );
        // "TMP decodes to 1190 bytes beginning 4d e5 53 53 32 31 00 00 04 a6 a9 04 08 05 07 09 ce d0".
        assert_eq!(t.bytes.0.len(), 1190);
        assert_eq!(
            t.bytes.0[..18],
            [
                0x4d, 0xe5, 0x53, 0x53, 0x32, 0x31, 0x00, 0x00, 0x04, 0xa6, 0xa9, 0x04, 0x08, 0x05,
                0x07, 0x09, 0xce, 0xd0
            ]
        );
        assert_eq!(t.bytes.finger_signature(), Some(10));
        // The same line with its tabs after a tab instead of a space, and CRLF cut.
        let tabbed = line.replacen(' ', "\t", 1);
        assert_eq!(parse_template_line(&tabbed), Ok(t));
    }

    #[test]
    fn an_operlog_body_with_user_oplog_and_template_lines_3_4_1() {
        // "Expect USER and OPLOG lines in the same POST" (§3.4.1 [I]); OPLOG 6 = enrol fingerprint.
        let body = format!(
            "USER PIN=1\tName=Ana\tPri=0\tPasswd=\tCard=\r\nOPLOG 6\t0\t2026-03-01 08:00:00\t1\t1\t1190\t0\r\n\
             FP PIN=1\tFID=1\tSize=1588\tValid=1\tTMP={}\r\nFP PIN=1\tFID=2\tSize=9\tValid=1\tTMP=AAAA\r\n\
             BIODATA Pin=1\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=2\tMajorVer=7\tMinorVer=0\tFormat=0\tTmp=AAAA\n",
            sa40_tmp()
        );
        let batch = parse_templates(body.as_bytes());
        let got: Vec<(BioType, u8, usize)> = batch
            .templates
            .iter()
            .map(|t| (t.kind, t.no, t.bytes.0.len()))
            .collect();
        // Size is advisory (§3.4.5): FID 2's Size=9 for 4 characters keeps
        // the template and tells the mismatch.
        assert_eq!(
            got,
            [
                (BioType::Finger, 1, 1190),
                (BioType::Finger, 2, 3),
                (BioType::FaceNir, 0, 3)
            ]
        );
        assert_eq!(batch.templates[0].size_mismatch, None);
        assert_eq!(batch.templates[1].size_mismatch, Some((9, 4)));
        assert!(batch.errors.is_empty(), "{:?}", batch.errors);
        // The OPERLOG parser still counts them as before.
        assert_eq!(super::super::parse_operlog(body.as_bytes()).accepted(), 5);
    }

    #[test]
    fn a_wrong_size_keeps_the_template_and_tells_it_3_4_5() {
        let kept = parse_template_line("FP PIN=1\tFID=1\tSize=8\tTMP=AAAA").expect("kept");
        assert_eq!((kept.bytes.0.len(), kept.size_mismatch), (3, Some((8, 4))));
        for agreeing in ["Size=4\t", "Size=0\t", ""] {
            let line = format!("FP PIN=1\tFID=1\t{agreeing}TMP=AAAA");
            assert_eq!(
                parse_template_line(&line).expect("kept").size_mismatch,
                None
            );
        }
    }

    #[test]
    fn debug_never_shows_template_bytes() {
        let line = format!("FP PIN=1\tFID=1\tSize=1588\tValid=1\tTMP={}", sa40_tmp());
        let t = parse_template_line(&line).expect("parses");
        let shown = format!("{t:?}");
        assert!(shown.contains("<1190 bytes>"), "{shown}");
        assert!(
            !shown.contains("77, 229") && !shown.contains("TeVTUzIx"),
            "{shown}"
        );
        let cut = format!("FP PIN=1\tFID=1\tSize=99\tTMP={}!", sa40_tmp());
        let err = parse_template_line(&cut).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("TeVT"));
    }

    #[test]
    fn face_lines_in_both_spellings_3_4_2() {
        // Firmware `face_format` keys (SIZE/VALID) and V5.8's order and case.
        let tmp = STANDARD.encode([7u8; 64]);
        let fw = format!(
            "FACE PIN=12\tFID=14\tSIZE={}\tVALID=1\tTMP={tmp}",
            tmp.len()
        );
        let v58 = format!(
            "FACE PIN=12\tFID=14\tValid=1\tSize={}\tTMP={tmp}",
            tmp.len()
        );
        for line in [fw, v58] {
            let t = parse_template_line(&line).expect("parses");
            assert_eq!((t.kind, t.no, t.valid), (BioType::FaceNir, 14, true));
            assert_eq!(t.bytes.0, vec![7u8; 64]);
        }
    }

    #[test]
    fn biodata_lines_3_4_3() {
        let tmp = STANDARD.encode([1u8, 2, 3, 4, 5]);
        let line = format!(
            "BIODATA Pin=70059\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=9\tMajorVer=58\tMinorVer=12\tFormat=0\tTmp={tmp}"
        );
        let t = parse_template_line(&line).expect("parses");
        assert_eq!(
            (t.pin.as_str(), t.kind, t.no, t.index),
            ("70059", BioType::FaceVl, 0, 0)
        );
        assert_eq!(
            t.version,
            Some(AlgorithmVersion {
                major: 58,
                minor: 12
            })
        );
        assert_eq!((t.valid, t.duress, t.format), (true, false, Some(0)));
        assert_eq!(t.bytes.0, [1, 2, 3, 4, 5]);
        let duress = line
            .replace("Duress=0", "Duress=1")
            .replace("Type=9", "Type=1");
        let t = parse_template_line(&duress).expect("parses");
        assert_eq!((t.kind, t.duress), (BioType::Finger, true));
    }

    #[test]
    fn valid_three_is_a_duress_finger_1_3() {
        let line = "FP PIN=2\tFID=0\tValid=3\tTMP=AAAA";
        let t = parse_template_line(line).expect("old units omit Size");
        assert_eq!((t.valid, t.duress), (true, true));
        let t = parse_template_line("FP PIN=2\tFID=0\tValid=0\tTMP=AAAA").expect("parses");
        assert_eq!((t.valid, t.duress), (false, false));
    }

    #[test]
    fn base64_padding_is_optional_and_plus_survives_3_4_5() {
        let t =
            parse_template_line("FP PIN=2\tFID=0\tSize=6\tValid=1\tTMP=+/+/AA").expect("parses");
        assert_eq!(t.bytes.0, [0xfb, 0xff, 0xbf, 0x00]);
    }

    #[test]
    fn bad_lines_are_typed_errors() {
        let big = "A".repeat(MAX_TEMPLATE_TEXT + 4);
        for (line, err) in [
            ("OPLOG 6\t0", TemplateError::UnknownRecord),
            ("FP FID=1\tTMP=AAAA", TemplateError::MissingField("PIN")),
            ("FP PIN=\tFID=1\tTMP=AAAA", TemplateError::EmptyPin),
            ("FP PIN=1 2\tFID=1\tTMP=AAAA", TemplateError::BadPin),
            ("FP PIN=1=2\tFID=1\tTMP=AAAA", TemplateError::BadPin),
            (
                &format!("FP PIN={}\tFID=1\tTMP=AAAA", "9".repeat(25)),
                TemplateError::BadPin,
            ),
            ("FP PIN=1\tTMP=AAAA", TemplateError::MissingField("FID")),
            (
                "FP PIN=1\tFID=10\tTMP=AAAA",
                TemplateError::BadNumber("FID"),
            ),
            (
                "FP PIN=1\tFID=-1\tTMP=AAAA",
                TemplateError::BadNumber("FID"),
            ),
            (
                "FP PIN=1\tFID=1\tValid=2\tTMP=AAAA",
                TemplateError::BadNumber("Valid"),
            ),
            (
                "FP PIN=1\tFID=1\tValid=1",
                TemplateError::MissingField("TMP"),
            ),
            ("FP PIN=1\tFID=1\tTMP=", TemplateError::EmptyTemplate),
            ("FP PIN=1\tFID=1\tTMP=A", TemplateError::BadBase64),
            ("FP PIN=1\tFID=1\tTMP=AA AA", TemplateError::BadBase64),
            (
                "FP PIN=1\tFID=1\tSize=x\tTMP=AAAA",
                TemplateError::BadNumber("Size"),
            ),
            (
                &format!("FP PIN=1\tFID=1\tTMP={big}"),
                TemplateError::TooLarge { chars: big.len() },
            ),
            (
                "BIODATA Pin=1\tNo=0\tTmp=AAAA",
                TemplateError::MissingField("Type"),
            ),
            (
                "BIODATA Pin=1\tType=1\tNo=12\tTmp=AAAA",
                TemplateError::BadNumber("No"),
            ),
            (
                "BIODATA Pin=1\tType=1\tValid=3\tTmp=AAAA",
                TemplateError::BadNumber("Valid"),
            ),
            (
                "BIODATA Pin=1\tType=1\tMajorVer=x\tTmp=AAAA",
                TemplateError::BadNumber("MajorVer"),
            ),
            ("BIODATA Pin=1\tType=1", TemplateError::MissingField("Tmp")),
        ] {
            assert_eq!(
                parse_template_line(line).as_ref().err(),
                Some(&err),
                "{line:?}"
            );
        }
        assert_eq!(TemplateError::BadPin.skip_reason(), SkipReason::BadPin);
    }

    #[test]
    fn keys_match_in_any_case_and_values_split_on_the_first_equals() {
        let t =
            parse_template_line("FP pin=5\tfid=2\tsize=8\tvalid=1\ttmp=AAAAAA==").expect("parses");
        assert_eq!((t.pin.as_str(), t.no, t.bytes.0.len()), ("5", 2, 4));
    }

    #[test]
    fn signatures_1_4() {
        assert_eq!(
            TemplateBytes(vec![0xa1, 0xca, 1]).finger_signature(),
            Some(9)
        );
        assert_eq!(
            TemplateBytes(b"\x4a\x01SS21\0\0\x03".to_vec()).finger_signature(),
            Some(10)
        );
        assert_eq!(TemplateBytes(vec![1, 2, 3]).finger_signature(), None);
    }

    #[test]
    fn algorithm_versions() {
        let v = |major, minor| Some(AlgorithmVersion { major, minor });
        assert_eq!(AlgorithmVersion::parse("10"), v(10, 0));
        assert_eq!(AlgorithmVersion::parse(" 10.3 "), v(10, 3));
        assert_eq!(AlgorithmVersion::parse("58.12"), v(58, 12));
        for bad in [
            "", "0", "0.0", "x", "10.", ".3", "-1", "10.3.1", "999999", "1 0",
        ] {
            assert_eq!(AlgorithmVersion::parse(bad), None, "{bad:?}");
        }
        assert_eq!(AlgorithmVersion { major: 7, minor: 0 }.to_string(), "7.0");
    }

    fn template() -> impl Strategy<Value = PushTemplate> {
        let line = prop_oneof![
            Just(TemplateLine::Fp),
            Just(TemplateLine::Face),
            Just(TemplateLine::Fvein),
            Just(TemplateLine::BioData)
        ];
        (
            "[0-9A-Za-z]{1,24}",
            line,
            0u8..=9,
            any::<u8>(),
            (any::<bool>(), any::<bool>()),
            (1u16..100, 0u16..100, any::<u8>(), 0u8..=10),
            proptest::collection::vec(any::<u8>(), 1..300),
        )
            .prop_map(
                |(pin, line, no, index, (valid, duress), (major, minor, format, ty), bytes)| {
                    let bio = line == TemplateLine::BioData;
                    PushTemplate {
                        pin,
                        kind: match line {
                            TemplateLine::Fp => BioType::Finger,
                            TemplateLine::Face => BioType::FaceNir,
                            TemplateLine::Fvein => BioType::FingerVein,
                            TemplateLine::BioData => BioType::from_number(ty),
                        },
                        no,
                        index: if line == TemplateLine::Fp || line == TemplateLine::Face {
                            0
                        } else {
                            index
                        },
                        valid: valid || (duress && !bio),
                        duress,
                        version: bio.then_some(AlgorithmVersion { major, minor }),
                        format: bio.then_some(format),
                        line,
                        bytes: TemplateBytes(bytes),
                        size_mismatch: None,
                    }
                },
            )
            .prop_map(|mut t| {
                if t.line != TemplateLine::BioData && !t.valid {
                    t.duress = false;
                }
                t
            })
    }

    proptest! {
        #[test]
        fn render_then_parse_round_trips(t in template()) {
            let line = render_template_line(&t);
            prop_assert_eq!(parse_template_line(line.trim_end_matches('\n')), Ok(t));
        }

        #[test]
        fn random_lines_never_panic(text in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_template_line(&text);
            let _ = parse_template_line(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn template_like_lines_never_panic(line in "(FP|FACE|FVEIN|BIODATA)[ \\t]((PIN|Pin|FID|No|Index|Size|SIZE|Valid|Duress|Type|MajorVer|MinorVer|Format|TMP|Tmp)=[-0-9A-Za-z+/=]{0,12}\\t?){0,10}") {
            let _ = parse_template_line(&line);
        }
    }
}
