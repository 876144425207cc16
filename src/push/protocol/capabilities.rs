//! A push terminal's biometric algorithm versions (`../shared/protocol/templates-protocol.md`
//! §1.4, §3.1): from a command poll's `INFO` (v6 fingerprint, v7 face) and
//! from `Key=Value` lists (the `INFO` command's reply, `table=options`
//! uploads): `FPVersion`, `~ZKFPVersion`, `FaceVersion`, `MultiBioVersion`.
//! A template is usable only on a terminal with the same major version.

use super::query::DeviceInfo;
use super::templates::{AlgorithmVersion, BioType};

/// The algorithm versions a terminal reports (`None`: not reported, empty or 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BioVersions {
    /// Fingerprint algorithm (ZKFinger 9, 10, 12).
    pub fingerprint: Option<AlgorithmVersion>,
    /// NIR face algorithm (7 on most units).
    pub face: Option<AlgorithmVersion>,
}

impl BioVersions {
    /// Fills what `self` lacks from `other`.
    pub fn or(self, other: BioVersions) -> BioVersions {
        BioVersions {
            fingerprint: self.fingerprint.or(other.fingerprint),
            face: self.face.or(other.face),
        }
    }
}

/// The versions in a poll's `INFO=<fw>,<users>,<fps>,<logs>,<ip>,<fpver>,<facever>,…`:
/// field 6 the fingerprint algorithm, field 7 the face algorithm (§3.1 **[V]** V5.8).
pub fn versions_from_info(info: &DeviceInfo) -> BioVersions {
    let field = |n: usize| info.rest.get(n).and_then(|v| AlgorithmVersion::parse(v));
    BioVersions {
        fingerprint: field(0),
        face: field(1),
    }
}

/// The versions in `Key=Value` pairs (an `INFO` reply, a `table=options`
/// upload): fingerprint from `FPVersion`, else `~ZKFPVersion`, else
/// `MultiBioVersion`'s type 1; face from `FaceVersion`, else
/// `MultiBioVersion`'s type 2 (§3.1: **[C]** SA40 reports `FPVersion=10`,
/// `~ZKFPVersion=10`, `FaceVersion=7` and an empty `MultiBioVersion=`;
/// **[V]** V5.8 `MultiBioVersion=0:10.0:7.0:…`).
pub fn versions_from_options(pairs: &[(String, String)]) -> BioVersions {
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| AlgorithmVersion::parse(v))
    };
    let multi = pairs
        .iter()
        .find(|(k, _)| k == "MultiBioVersion")
        .map(|(_, v)| multi_bio_versions(v))
        .unwrap_or_default();
    let from_multi = |kind: BioType| multi.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v);
    BioVersions {
        fingerprint: get("FPVersion")
            .or_else(|| get("~ZKFPVersion"))
            .or_else(|| from_multi(BioType::Finger)),
        face: get("FaceVersion").or_else(|| from_multi(BioType::FaceNir)),
    }
}

/// A colon-separated `MultiBioVersion` (`0:10.0:7.0:0:…`, indexed by
/// biometric type, §3.1/§3.2 **[V]**): the types with a version.
pub fn multi_bio_versions(text: &str) -> Vec<(BioType, AlgorithmVersion)> {
    text.split(':')
        .enumerate()
        .filter_map(|(i, v)| {
            let kind = BioType::from_number(u8::try_from(i).ok()?);
            Some((kind, AlgorithmVersion::parse(v)?))
        })
        .collect()
}

/// A colon-separated `MultiBioDataSupport` (`0:1:1:0:…`, indexed by
/// biometric type, §3.1 **[V]**): the types marked `1`.
pub fn multi_bio_support(text: &str) -> Vec<BioType> {
    text.split(':')
        .enumerate()
        .filter(|(_, v)| v.trim() == "1")
        .filter_map(|(i, _)| u8::try_from(i).ok().map(BioType::from_number))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::protocol::{parse_devicecmd, parse_query};
    use proptest::prelude::*;

    fn v(major: u16, minor: u16) -> Option<AlgorithmVersion> {
        Some(AlgorithmVersion { major, minor })
    }

    #[test]
    fn the_documents_info_example_3_1() {
        // `INFO=Ver%202.0.12-20150625,0,0,0,192.168.16.27,10,7,15,0,111`, decoded.
        let pairs = vec![
            ("SN".to_string(), "A1".to_string()),
            (
                "INFO".to_string(),
                "Ver 2.0.12-20150625,0,0,0,192.168.16.27,10,7,15,0,111".to_string(),
            ),
        ];
        let query = parse_query(&pairs).expect("query");
        let info = query.info.expect("INFO");
        assert_eq!(
            versions_from_info(&info),
            BioVersions {
                fingerprint: v(10, 0),
                face: v(7, 0)
            }
        );
        // A unit without face (0) or a short INFO.
        assert_eq!(
            versions_from_info(&DeviceInfo::parse(
                "Ver 8.0.4.2,12,30,4566,192.168.1.201,10,0"
            )),
            BioVersions {
                fingerprint: v(10, 0),
                face: None
            }
        );
        assert_eq!(
            versions_from_info(&DeviceInfo::parse("Ver 1,2,3")),
            BioVersions::default()
        );
    }

    #[test]
    fn the_sa40_info_reply_3_1() {
        let body = b"ID=9&Return=0&CMD=INFO\nFingerFunOn=1\n~AlgVer=10\nFPVersion=10\n~MaxFingerCount=30\nFPCount=2\nFaceFunOn=0\nFaceVersion=7\n~MaxFaceCount=400\nFvVersion=3\n~ZKFPVersion=10\nBioDataFun=\nMultiBioDataSupport=\nMultiBioVersion=\n";
        let batch = parse_devicecmd(body);
        let versions = versions_from_options(&batch.results[0].info);
        assert_eq!(
            versions,
            BioVersions {
                fingerprint: v(10, 0),
                face: v(7, 0)
            }
        );
    }

    #[test]
    fn multi_bio_strings_3_1() {
        let pairs = vec![(
            "MultiBioVersion".to_string(),
            "0:10.0:7.0:0:0:0:0:0:0:0:0".to_string(),
        )];
        assert_eq!(
            versions_from_options(&pairs),
            BioVersions {
                fingerprint: v(10, 0),
                face: v(7, 0)
            }
        );
        assert_eq!(
            multi_bio_versions("0:12.0:0:0:0:0:0:3.0:1.0:58.0:32.2"),
            vec![
                (
                    BioType::Finger,
                    AlgorithmVersion {
                        major: 12,
                        minor: 0
                    }
                ),
                (BioType::FingerVein, AlgorithmVersion { major: 3, minor: 0 }),
                (BioType::Palm, AlgorithmVersion { major: 1, minor: 0 }),
                (
                    BioType::FaceVl,
                    AlgorithmVersion {
                        major: 58,
                        minor: 0
                    }
                ),
                (
                    BioType::Other(10),
                    AlgorithmVersion {
                        major: 32,
                        minor: 2
                    }
                ),
            ]
        );
        assert_eq!(
            multi_bio_support("0:1:1:0:0:0:0:0:0:0:0"),
            vec![BioType::Finger, BioType::FaceNir]
        );
        assert!(multi_bio_support("").is_empty());
        // `~ZKFPVersion` stands in for a missing `FPVersion`.
        let old = vec![("~ZKFPVersion".to_string(), "9".to_string())];
        assert_eq!(versions_from_options(&old).fingerprint, v(9, 0));
        let info = BioVersions {
            fingerprint: None,
            face: v(7, 0),
        };
        assert_eq!(info.or(versions_from_options(&old)).fingerprint, v(9, 0));
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}", key in "[~A-Za-z]{0,16}") {
            let _ = versions_from_info(&DeviceInfo::parse(&text));
            let _ = versions_from_options(&[(key, text.clone())]);
            let _ = multi_bio_versions(&text);
            let _ = multi_bio_support(&text);
        }
    }
}
