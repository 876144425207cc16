//! Template commands for push terminals (`../shared/protocol/templates-protocol.md`
//! §3.5): write, delete and query fingerprints, NIR faces and unified
//! (BIODATA) templates, and query one user. Rendered from a typed
//! [`TemplateCommand`] (refusing values that would inject a field or a line,
//! or that the firmware refuses) and parsed back (the simulator executes
//! them). Fields are separated by a tab; the template travels as padded
//! base64 with `Size` its exact length (§3.5.1). A command's text holds a
//! template: show it only through [`super::redact_command`].

use std::fmt;

use super::command::{pin as pin_field, CommandError};
use super::templates::{
    AlgorithmVersion, BioType, Fields, TemplateBytes, MAX_FINGER, MAX_TEMPLATE_BYTES,
};

/// Highest NIR face template number (`FID` 0–14: a set of 15, §3.5.3 **[F]**).
pub const MAX_FACE_INDEX: u8 = 14;

/// A template command a push terminal executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateCommand {
    /// `DATA UPDATE FINGERTMP PIN=\tFID=\tSize=\tValid=\tTMP=` (§3.5.1): write
    /// one finger (an existing one is overwritten).
    UpdateFinger {
        /// Owner (must already be a user on the terminal).
        pin: String,
        /// Finger 0–9.
        finger: u8,
        /// Duress finger (`Valid=3`; else `Valid=1`).
        duress: bool,
        /// The template.
        template: TemplateBytes,
    },
    /// `DATA DELETE FINGERTMP PIN=[\tFID=]` (§3.5.5): one finger, or all
    /// of the user's.
    DeleteFingers {
        /// Owner.
        pin: String,
        /// One finger 0–9; `None`: every finger.
        finger: Option<u8>,
    },
    /// `DATA UPDATE FACE PIN=\tFID=\tSIZE=\tVALID=1\tTMP=` (§3.5.3, the
    /// firmware's spelling **[F]**): one template of a set of 15, committed
    /// by the terminal when all 15 arrived.
    UpdateFace {
        /// Owner.
        pin: String,
        /// Template number 0–14.
        index: u8,
        /// The template (16-byte header and data).
        template: TemplateBytes,
    },
    /// `DATA DELETE FACE PIN=` (§3.5.5): every face template of the user.
    DeleteFaces {
        /// Owner.
        pin: String,
    },
    /// `DATA UPDATE BIODATA Pin=\tNo=\tIndex=\tValid=1\tDuress=\tType=\tMajorVer=\tMinorVer=\tFormat=\tTmp=` (§3.5.2).
    UpdateBio {
        /// Owner.
        pin: String,
        /// Biometric type.
        kind: BioType,
        /// Finger, hand (palm) or 0 (face).
        no: u8,
        /// Sub-template within `no`.
        index: u8,
        /// Duress.
        duress: bool,
        /// The template's algorithm version (the terminal answers −30 when
        /// it is not its own).
        version: AlgorithmVersion,
        /// 0 ZK, 1 ISO, 2 ANSI.
        format: u8,
        /// The template.
        template: TemplateBytes,
    },
    /// `DATA DELETE BIODATA Pin=[\tType=[\tNo=]]` (§3.5.5).
    DeleteBio {
        /// Owner.
        pin: String,
        /// Only this type (`None`: every type).
        kind: Option<BioType>,
        /// Only this `No` of that type (needs `kind`).
        no: Option<u8>,
    },
    /// `DATA QUERY USERINFO PIN=`: upload one user as a `USER` line.
    QueryUser {
        /// The user.
        pin: String,
    },
    /// `DATA QUERY FINGERTMP PIN=[\tFID=]` (§3.5.6): upload the user's
    /// fingerprints as `FP` lines.
    QueryFingers {
        /// Owner.
        pin: String,
        /// One finger 0–9; `None`: every finger.
        finger: Option<u8>,
    },
    /// `DATA QUERY BIODATA Type=[\tPin=[\tNo=]]` (§3.5.6): upload unified
    /// templates as `BIODATA` lines.
    QueryBio {
        /// Biometric type.
        kind: BioType,
        /// Only this user (`None`: everyone).
        pin: Option<String>,
        /// Only this `No` (needs `pin`).
        no: Option<u8>,
    },
}

/// Why a template command cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateCommandError {
    /// A PIN the command cannot carry.
    Field(CommandError),
    /// A finger outside 0–9.
    BadFinger(u8),
    /// A face template number outside 0–14.
    BadFaceIndex(u8),
    /// An empty template.
    EmptyTemplate,
    /// A template above [`MAX_TEMPLATE_BYTES`] (the firmware answers −11).
    TooLarge(usize),
    /// A `No` without the field it narrows (`Type` to delete, `Pin` to query).
    NoWithoutFilter,
}

impl fmt::Display for TemplateCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateCommandError::Field(e) => e.fmt(f),
            TemplateCommandError::BadFinger(n) => write!(f, "finger {n} is not 0-9"),
            TemplateCommandError::BadFaceIndex(n) => write!(f, "face template {n} is not 0-14"),
            TemplateCommandError::EmptyTemplate => f.write_str("empty template"),
            TemplateCommandError::TooLarge(n) => {
                write!(f, "template of {n} bytes, above {MAX_TEMPLATE_BYTES}")
            }
            TemplateCommandError::NoWithoutFilter => {
                f.write_str("No given without the Type or Pin it narrows")
            }
        }
    }
}

impl std::error::Error for TemplateCommandError {}

impl From<CommandError> for TemplateCommandError {
    fn from(e: CommandError) -> Self {
        TemplateCommandError::Field(e)
    }
}

/// Checks a finger number.
fn finger(n: u8) -> Result<u8, TemplateCommandError> {
    (n <= MAX_FINGER)
        .then_some(n)
        .ok_or(TemplateCommandError::BadFinger(n))
}

/// A template as a command carries it: padded base64.
fn tmp(template: &TemplateBytes) -> Result<String, TemplateCommandError> {
    match template.0.len() {
        0 => Err(TemplateCommandError::EmptyTemplate),
        n if n > MAX_TEMPLATE_BYTES => Err(TemplateCommandError::TooLarge(n)),
        _ => Ok(template.to_base64()),
    }
}

/// `\t<key>=<n>` when `n` is given.
fn optional(key: &str, n: Option<u8>) -> String {
    n.map(|n| format!("\t{key}={n}")).unwrap_or_default()
}

impl TemplateCommand {
    /// The command text (what follows `C:<id>:`).
    pub fn render(&self) -> Result<String, TemplateCommandError> {
        match self {
            TemplateCommand::UpdateFinger { .. }
            | TemplateCommand::UpdateFace { .. }
            | TemplateCommand::UpdateBio { .. } => self.render_update(),
            _ => self.render_other(),
        }
    }

    /// The `DATA UPDATE` commands.
    fn render_update(&self) -> Result<String, TemplateCommandError> {
        Ok(match self {
            TemplateCommand::UpdateFinger {
                pin,
                finger: f,
                duress,
                template,
            } => {
                let (pin, f, tmp) = (pin_field(pin)?, finger(*f)?, tmp(template)?);
                let valid = if *duress { 3 } else { 1 };
                format!(
                    "DATA UPDATE FINGERTMP PIN={pin}\tFID={f}\tSize={}\tValid={valid}\tTMP={tmp}",
                    tmp.len()
                )
            }
            TemplateCommand::UpdateFace {
                pin,
                index,
                template,
            } => {
                if *index > MAX_FACE_INDEX {
                    return Err(TemplateCommandError::BadFaceIndex(*index));
                }
                let (pin, tmp) = (pin_field(pin)?, tmp(template)?);
                format!(
                    "DATA UPDATE FACE PIN={pin}\tFID={index}\tSIZE={}\tVALID=1\tTMP={tmp}",
                    tmp.len()
                )
            }
            TemplateCommand::UpdateBio {
                pin,
                kind,
                no,
                index,
                duress,
                version,
                format,
                template,
            } => format!(
                "DATA UPDATE BIODATA Pin={}\tNo={no}\tIndex={index}\tValid=1\tDuress={}\tType={}\tMajorVer={}\tMinorVer={}\tFormat={format}\tTmp={}",
                pin_field(pin)?,
                u8::from(*duress),
                kind.number(),
                version.major,
                version.minor,
                tmp(template)?
            ),
            _ => return self.render_other(),
        })
    }

    /// The `DATA DELETE` and `DATA QUERY` commands.
    fn render_other(&self) -> Result<String, TemplateCommandError> {
        Ok(match self {
            TemplateCommand::DeleteFingers { pin, finger: f } => format!(
                "DATA DELETE FINGERTMP PIN={}{}",
                pin_field(pin)?,
                optional("FID", f.map(finger).transpose()?)
            ),
            TemplateCommand::DeleteFaces { pin } => {
                format!("DATA DELETE FACE PIN={}", pin_field(pin)?)
            }
            TemplateCommand::DeleteBio { pin, kind, no } => {
                if kind.is_none() && no.is_some() {
                    return Err(TemplateCommandError::NoWithoutFilter);
                }
                format!(
                    "DATA DELETE BIODATA Pin={}{}{}",
                    pin_field(pin)?,
                    optional("Type", kind.map(BioType::number)),
                    optional("No", *no)
                )
            }
            TemplateCommand::QueryUser { pin } => {
                format!("DATA QUERY USERINFO PIN={}", pin_field(pin)?)
            }
            TemplateCommand::QueryFingers { pin, finger: f } => format!(
                "DATA QUERY FINGERTMP PIN={}{}",
                pin_field(pin)?,
                optional("FID", f.map(finger).transpose()?)
            ),
            TemplateCommand::QueryBio { kind, pin, no } => {
                let pin = match (pin, no) {
                    (None, Some(_)) => return Err(TemplateCommandError::NoWithoutFilter),
                    (None, None) => String::new(),
                    (Some(p), _) => format!("\tPin={}", pin_field(p)?),
                };
                format!(
                    "DATA QUERY BIODATA Type={}{pin}{}",
                    kind.number(),
                    optional("No", *no)
                )
            }
            _ => return self.render_update(),
        })
    }

    /// Parses a command text (what follows `C:<id>:`); `None` for other
    /// commands and for template commands the firmware would refuse (a
    /// `Size` that is not the template's length, a template that is not
    /// base64). Keys match in any case; `FingerID` is read as `FID` (some
    /// servers send it, §3.5.6 **[S]**).
    pub fn parse(text: &str) -> Option<TemplateCommand> {
        let text = text.trim_end_matches(['\r', '\n']);
        let (head, rest) = split_head(text)?;
        let fields = Fields::new(rest);
        match head {
            "DATA UPDATE FINGERTMP" => parse_update_finger(&fields),
            "DATA UPDATE FACE" => parse_update_face(&fields),
            "DATA UPDATE BIODATA" => parse_update_bio(&fields),
            _ => parse_other(head, &fields),
        }
    }
}

/// Splits `DATA <VERB> <TABLE> <fields>` into its first three words and the fields.
fn split_head(text: &str) -> Option<(&str, &str)> {
    let mut spaces = text.match_indices(' ').map(|(i, _)| i);
    let (_, _) = (spaces.next()?, spaces.next()?);
    match spaces.next() {
        Some(at) => Some((&text[..at], &text[at + 1..])),
        None => Some((text, "")),
    }
}

/// A PIN read back from a command.
fn parsed_pin(fields: &Fields<'_>, key: &str) -> Option<String> {
    let pin = fields.get(key)?;
    pin_field(pin).ok().map(str::to_string)
}

/// An optional number up to `max` (present but bad: `None` overall).
fn parsed_small(fields: &Fields<'_>, key: &'static str, max: u8) -> Option<Option<u8>> {
    fields
        .number(key, u64::from(max))
        .ok()
        .map(|n| n.and_then(|n| u8::try_from(n).ok()))
}

/// `TMP` checked against a declared `Size` (0 or absent: not checked).
fn parsed_tmp(fields: &Fields<'_>, size_key: &'static str) -> Option<TemplateBytes> {
    let text = fields.get("TMP")?;
    let size = fields.number(size_key, u64::MAX).ok()?.unwrap_or(0);
    if size != 0 && usize::try_from(size).ok()? != text.len() {
        return None;
    }
    TemplateBytes::from_base64(text).ok()
}

/// `DATA UPDATE FINGERTMP`.
fn parse_update_finger(fields: &Fields<'_>) -> Option<TemplateCommand> {
    Some(TemplateCommand::UpdateFinger {
        pin: parsed_pin(fields, "PIN")?,
        finger: parsed_small(fields, "FID", MAX_FINGER)?.unwrap_or(0),
        duress: match parsed_small(fields, "Valid", 3)? {
            Some(3) => true,
            None | Some(1) => false,
            Some(_) => return None,
        },
        template: parsed_tmp(fields, "Size")?,
    })
}

/// `DATA UPDATE FACE`.
fn parse_update_face(fields: &Fields<'_>) -> Option<TemplateCommand> {
    Some(TemplateCommand::UpdateFace {
        pin: parsed_pin(fields, "PIN")?,
        index: parsed_small(fields, "FID", MAX_FACE_INDEX)??,
        template: parsed_tmp(fields, "SIZE")?,
    })
}

/// `DATA UPDATE BIODATA`.
fn parse_update_bio(fields: &Fields<'_>) -> Option<TemplateCommand> {
    let major = fields.number("MajorVer", u64::from(u16::MAX)).ok()??;
    let minor = fields.number("MinorVer", u64::from(u16::MAX)).ok()?;
    Some(TemplateCommand::UpdateBio {
        pin: parsed_pin(fields, "Pin")?,
        kind: BioType::from_number(parsed_small(fields, "Type", u8::MAX)??),
        no: parsed_small(fields, "No", u8::MAX)?.unwrap_or(0),
        index: parsed_small(fields, "Index", u8::MAX)?.unwrap_or(0),
        duress: parsed_small(fields, "Duress", 1)? == Some(1),
        version: AlgorithmVersion {
            major: u16::try_from(major).ok()?,
            minor: u16::try_from(minor.unwrap_or(0)).ok()?,
        },
        format: parsed_small(fields, "Format", u8::MAX)?.unwrap_or(0),
        template: TemplateBytes::from_base64(fields.get("Tmp")?).ok()?,
    })
}

/// A finger from `FID` or, failing that, `FingerID`.
fn parsed_finger(fields: &Fields<'_>) -> Option<Option<u8>> {
    match parsed_small(fields, "FID", MAX_FINGER)? {
        Some(n) => Some(Some(n)),
        None => parsed_small(fields, "FingerID", MAX_FINGER),
    }
}

/// The `DATA DELETE` and `DATA QUERY` commands.
fn parse_other(head: &str, fields: &Fields<'_>) -> Option<TemplateCommand> {
    Some(match head {
        "DATA DELETE FINGERTMP" => TemplateCommand::DeleteFingers {
            pin: parsed_pin(fields, "PIN")?,
            finger: parsed_finger(fields)?,
        },
        "DATA DELETE FACE" => TemplateCommand::DeleteFaces {
            pin: parsed_pin(fields, "PIN")?,
        },
        "DATA DELETE BIODATA" => TemplateCommand::DeleteBio {
            pin: parsed_pin(fields, "Pin")?,
            kind: parsed_small(fields, "Type", u8::MAX)?.map(BioType::from_number),
            no: parsed_small(fields, "No", u8::MAX)?,
        },
        "DATA QUERY USERINFO" => TemplateCommand::QueryUser {
            pin: parsed_pin(fields, "PIN")?,
        },
        "DATA QUERY FINGERTMP" => TemplateCommand::QueryFingers {
            pin: parsed_pin(fields, "PIN")?,
            finger: parsed_finger(fields)?,
        },
        "DATA QUERY BIODATA" => TemplateCommand::QueryBio {
            kind: BioType::from_number(parsed_small(fields, "Type", u8::MAX)??),
            pin: match fields.get("Pin") {
                Some(_) => Some(parsed_pin(fields, "Pin")?),
                None => None,
            },
            no: parsed_small(fields, "No", u8::MAX)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::protocol::redact_command;
    use base64::Engine as _;
    use proptest::prelude::*;

    fn bytes(text: &str) -> TemplateBytes {
        TemplateBytes(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("base64"),
        )
    }

    #[test]
    fn renders_the_documents_commands_3_5() {
        // §3.5.1's shape (`PIN=5147983 FID=1 Size=… Valid=1 TMP=TZhTUzIx…`), with a short template.
        let tmp = "TZhTUzIxAAAE29oECAUHCc7Q";
        let cases = [
            (
                TemplateCommand::UpdateFinger {
                    pin: "5147983".into(),
                    finger: 1,
                    duress: false,
                    template: bytes(tmp),
                },
                format!("DATA UPDATE FINGERTMP PIN=5147983\tFID=1\tSize=24\tValid=1\tTMP={tmp}"),
            ),
            (
                TemplateCommand::UpdateFinger {
                    pin: "1".into(),
                    finger: 6,
                    duress: true,
                    template: bytes(tmp),
                },
                format!("DATA UPDATE FINGERTMP PIN=1\tFID=6\tSize=24\tValid=3\tTMP={tmp}"),
            ),
            (
                TemplateCommand::UpdateFace { pin: "2".into(), index: 14, template: bytes("AAAA") },
                "DATA UPDATE FACE PIN=2\tFID=14\tSIZE=4\tVALID=1\tTMP=AAAA".into(),
            ),
            (
                // §3.5.2's vendor-style example (VL face), short template.
                TemplateCommand::UpdateBio {
                    pin: "70059".into(),
                    kind: BioType::FaceVl,
                    no: 0,
                    index: 0,
                    duress: false,
                    version: AlgorithmVersion { major: 58, minor: 12 },
                    format: 0,
                    template: bytes("apUBEA=="),
                },
                "DATA UPDATE BIODATA Pin=70059\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=9\tMajorVer=58\tMinorVer=12\tFormat=0\tTmp=apUBEA==".into(),
            ),
        ];
        check_round_trips(cases);
    }

    fn check_round_trips<const N: usize>(cases: [(TemplateCommand, String); N]) {
        for (cmd, text) in cases {
            assert_eq!(cmd.render().as_deref(), Ok(text.as_str()));
            assert_eq!(TemplateCommand::parse(&text), Some(cmd), "{text:?}");
        }
    }

    #[test]
    fn renders_the_documents_deletes_and_queries_3_5_5_and_3_5_6() {
        let cases = [
            (
                TemplateCommand::DeleteFingers {
                    pin: "1".into(),
                    finger: None,
                },
                "DATA DELETE FINGERTMP PIN=1".into(),
            ),
            (
                TemplateCommand::DeleteFingers {
                    pin: "1".into(),
                    finger: Some(3),
                },
                "DATA DELETE FINGERTMP PIN=1\tFID=3".into(),
            ),
            (
                TemplateCommand::DeleteFaces { pin: "2".into() },
                "DATA DELETE FACE PIN=2".into(),
            ),
            (
                TemplateCommand::DeleteBio {
                    pin: "3".into(),
                    kind: None,
                    no: None,
                },
                "DATA DELETE BIODATA Pin=3".into(),
            ),
            (
                TemplateCommand::DeleteBio {
                    pin: "3".into(),
                    kind: Some(BioType::Palm),
                    no: Some(1),
                },
                "DATA DELETE BIODATA Pin=3\tType=8\tNo=1".into(),
            ),
            (
                TemplateCommand::QueryUser { pin: "4".into() },
                "DATA QUERY USERINFO PIN=4".into(),
            ),
            (
                TemplateCommand::QueryFingers {
                    pin: "4".into(),
                    finger: None,
                },
                "DATA QUERY FINGERTMP PIN=4".into(),
            ),
            (
                TemplateCommand::QueryFingers {
                    pin: "4".into(),
                    finger: Some(0),
                },
                "DATA QUERY FINGERTMP PIN=4\tFID=0".into(),
            ),
            (
                TemplateCommand::QueryBio {
                    kind: BioType::Finger,
                    pin: None,
                    no: None,
                },
                "DATA QUERY BIODATA Type=1".into(),
            ),
            (
                TemplateCommand::QueryBio {
                    kind: BioType::Finger,
                    pin: Some("4".into()),
                    no: Some(2),
                },
                "DATA QUERY BIODATA Type=1\tPin=4\tNo=2".into(),
            ),
        ];
        check_round_trips(cases);
    }

    #[test]
    fn parses_what_other_servers_send() {
        // `FingerID=` for `FID=` (§3.5.6 [S]); `Size=0` skips the check (§3.5.1 [F]).
        assert_eq!(
            TemplateCommand::parse("DATA QUERY FINGERTMP PIN=7\tFingerID=2"),
            Some(TemplateCommand::QueryFingers {
                pin: "7".into(),
                finger: Some(2)
            })
        );
        assert_eq!(
            TemplateCommand::parse(
                "DATA UPDATE FINGERTMP PIN=70059\tFID=0\tSize=0\tValid=1\tTMP=TaNTUzIx\r\n"
            ),
            Some(TemplateCommand::UpdateFinger {
                pin: "70059".into(),
                finger: 0,
                duress: false,
                template: bytes("TaNTUzIx"),
            })
        );
        // V5.8's face spelling (`Valid`, `Size`).
        assert!(
            TemplateCommand::parse("DATA UPDATE FACE PIN=1\tFID=0\tValid=1\tSize=4\tTMP=AAAA")
                .is_some()
        );
    }

    #[test]
    fn refuses_what_the_firmware_refuses() {
        for text in [
            // Size is not the TMP length (−9).
            "DATA UPDATE FINGERTMP PIN=1\tFID=6\tSize=1830\tValid=1\tTMP=AAAA",
            "DATA UPDATE FINGERTMP PIN=1\tFID=10\tSize=4\tValid=1\tTMP=AAAA",
            "DATA UPDATE FINGERTMP PIN=1\tFID=1\tValid=2\tTMP=AAAA",
            "DATA UPDATE FINGERTMP FID=1\tTMP=AAAA",
            "DATA UPDATE FACE PIN=1\tFID=15\tSIZE=4\tVALID=1\tTMP=AAAA",
            "DATA UPDATE BIODATA Pin=1\tType=1\tTmp=AAAA",
            "DATA DELETE FINGERTMP",
            "DATA QUERY BIODATA Pin=1",
            "DATA QUERY USERINFO",
            "DATA UPDATE USERINFO PIN=1",
            "CHECK",
            "",
        ] {
            assert_eq!(TemplateCommand::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn refuses_to_render_bad_values() {
        let finger = |pin: &str, finger: u8, template: Vec<u8>| TemplateCommand::UpdateFinger {
            pin: pin.into(),
            finger,
            duress: false,
            template: TemplateBytes(template),
        };
        assert_eq!(
            finger("1", 10, vec![1]).render(),
            Err(TemplateCommandError::BadFinger(10))
        );
        assert_eq!(
            finger("1", 0, vec![]).render(),
            Err(TemplateCommandError::EmptyTemplate)
        );
        assert_eq!(
            finger("1", 0, vec![0; MAX_TEMPLATE_BYTES + 1]).render(),
            Err(TemplateCommandError::TooLarge(MAX_TEMPLATE_BYTES + 1))
        );
        for pin in ["1 Pri=14", "1=2", "1\tFID=3", "", "1\n"] {
            assert!(
                matches!(
                    finger(pin, 0, vec![1]).render(),
                    Err(TemplateCommandError::Field(_))
                ),
                "{pin:?}"
            );
        }
        let face = TemplateCommand::UpdateFace {
            pin: "1".into(),
            index: 15,
            template: TemplateBytes(vec![1]),
        };
        assert_eq!(face.render(), Err(TemplateCommandError::BadFaceIndex(15)));
        let query = TemplateCommand::QueryBio {
            kind: BioType::Finger,
            pin: None,
            no: Some(1),
        };
        assert_eq!(query.render(), Err(TemplateCommandError::NoWithoutFilter));
        let delete = TemplateCommand::DeleteBio {
            pin: "1".into(),
            kind: None,
            no: Some(1),
        };
        assert_eq!(delete.render(), Err(TemplateCommandError::NoWithoutFilter));
    }

    #[test]
    fn a_listed_template_command_shows_no_template() {
        let cmd = TemplateCommand::UpdateFinger {
            pin: "1".into(),
            finger: 2,
            duress: false,
            template: TemplateBytes(vec![0x4d; 900]),
        };
        let text = cmd.render().expect("renders");
        let shown = redact_command(&text);
        assert_eq!(
            shown,
            "DATA UPDATE FINGERTMP PIN=1\tFID=2\tSize=1200\tValid=1\tTMP=***"
        );
        assert!(!format!("{cmd:?}").contains("77, 77"), "{cmd:?}");
    }

    fn command() -> impl Strategy<Value = TemplateCommand> {
        let pin = "[0-9A-Za-z]{1,24}";
        let template = proptest::collection::vec(any::<u8>(), 1..200).prop_map(TemplateBytes);
        let kind = any::<u8>().prop_map(BioType::from_number);
        prop_oneof![
            (pin, 0u8..=9, any::<bool>(), template.clone()).prop_map(
                |(pin, finger, duress, template)| {
                    TemplateCommand::UpdateFinger {
                        pin,
                        finger,
                        duress,
                        template,
                    }
                }
            ),
            (pin, proptest::option::of(0u8..=9))
                .prop_map(|(pin, finger)| TemplateCommand::DeleteFingers { pin, finger }),
            (pin, 0u8..=14, template.clone()).prop_map(|(pin, index, template)| {
                TemplateCommand::UpdateFace {
                    pin,
                    index,
                    template,
                }
            }),
            pin.prop_map(|pin| TemplateCommand::DeleteFaces { pin }),
            (
                pin,
                kind.clone(),
                any::<u8>(),
                any::<u8>(),
                any::<bool>(),
                (any::<u16>(), any::<u16>()),
                any::<u8>(),
                template
            )
                .prop_map(
                    |(pin, kind, no, index, duress, (major, minor), format, template)| {
                        TemplateCommand::UpdateBio {
                            pin,
                            kind,
                            no,
                            index,
                            duress,
                            version: AlgorithmVersion { major, minor },
                            format,
                            template,
                        }
                    }
                ),
            (
                pin,
                proptest::option::of((kind.clone(), proptest::option::of(any::<u8>())))
            )
                .prop_map(|(pin, filter)| TemplateCommand::DeleteBio {
                    pin,
                    kind: filter.map(|f| f.0),
                    no: filter.and_then(|f| f.1),
                }),
            pin.prop_map(|pin| TemplateCommand::QueryUser { pin }),
            (pin, proptest::option::of(0u8..=9))
                .prop_map(|(pin, finger)| TemplateCommand::QueryFingers { pin, finger }),
            (
                kind,
                proptest::option::of((pin, proptest::option::of(any::<u8>())))
            )
                .prop_map(|(kind, filter)| TemplateCommand::QueryBio {
                    kind,
                    pin: filter.clone().map(|f| f.0),
                    no: filter.and_then(|f| f.1),
                }),
        ]
    }

    proptest! {
        #[test]
        fn render_then_parse_round_trips(cmd in command()) {
            let text = cmd.render().expect("renders");
            prop_assert!(!text.contains(['\n', '\r']));
            prop_assert_eq!(TemplateCommand::parse(&text), Some(cmd));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,160}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = TemplateCommand::parse(&text);
            let _ = TemplateCommand::parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn command_like_text_never_panics(text in "DATA (UPDATE|DELETE|QUERY) (FINGERTMP|FACE|BIODATA|USERINFO) ((PIN|Pin|FID|FingerID|Size|SIZE|Valid|VALID|Type|No|Index|Duress|MajorVer|MinorVer|Format|TMP|Tmp)=[-0-9A-Za-z+/=]{0,10}\\t?){0,10}") {
            let _ = TemplateCommand::parse(&text);
        }
    }
}
