//! `devicecmd` bodies: command results, batched one per line
//! (`ID=<id>&Return=<code>&CMD=<echo>`); an `INFO` reply continues with
//! `Key=Value` lines after its first line.

use super::command::valid_id;
use super::lines::{lines, SkipReason, Skipped};

/// One command result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandResult {
    /// The command id (`C:<id>:`).
    pub id: String,
    /// The return code (0 = done).
    pub return_code: i64,
    /// The echoed command (`DATA` for every DATA command).
    pub cmd: String,
    /// `Key=Value` lines that followed (INFO replies).
    pub info: Vec<(String, String)>,
}

impl CommandResult {
    /// The id as a journal command id, when it is a number.
    pub fn numeric_id(&self) -> Option<i64> {
        self.id.parse().ok()
    }
}

/// A parsed `devicecmd` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DevicecmdBatch {
    /// Results in body order.
    pub results: Vec<CommandResult>,
    /// Lines that were not used.
    pub skipped: Vec<Skipped>,
}

/// Parses a `devicecmd` body.
pub fn parse_devicecmd(body: &[u8]) -> DevicecmdBatch {
    let mut batch = DevicecmdBatch::default();
    for (n, line) in lines(body) {
        if line.starts_with("ID=") {
            match parse_result(&line) {
                Ok(r) => batch.results.push(r),
                Err(reason) => batch.skipped.push(Skipped { line: n, reason }),
            }
            continue;
        }
        match (batch.results.last_mut(), line.split_once('=')) {
            (Some(last), Some((k, v))) => {
                last.info.push((k.trim().to_string(), v.trim().to_string()));
            }
            _ => batch.skipped.push(Skipped {
                line: n,
                reason: SkipReason::UnknownLine,
            }),
        }
    }
    batch
}

/// Parses `ID=..&Return=..&CMD=..`; `CMD` takes the rest of the line.
fn parse_result(line: &str) -> Result<CommandResult, SkipReason> {
    let mut id = None;
    let mut code = None;
    let mut cmd = String::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').unwrap_or((rest, ""));
        if key == "CMD" {
            cmd = after.trim().to_string();
            break;
        }
        let (value, next) = after.split_once('&').unwrap_or((after, ""));
        match key {
            "ID" => id = Some(value.trim()),
            "Return" => code = Some(value.trim()),
            _ => {}
        }
        rest = next;
    }
    let id = id.filter(|i| valid_id(i)).ok_or(SkipReason::BadCommandId)?;
    let return_code = code
        .and_then(|c| c.parse::<i64>().ok())
        .ok_or(SkipReason::BadReturnCode)?;
    Ok(CommandResult {
        id: id.to_string(),
        return_code,
        cmd,
        info: Vec::new(),
    })
}

/// Renders a result as a terminal sends it (with its INFO lines), ending in LF.
pub fn render_command_result(r: &CommandResult) -> String {
    let mut out = format!("ID={}&Return={}&CMD={}\n", r.id, r.return_code, r.cmd);
    for (k, v) in &r.info {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn batched_results_as_real_units_send_them() {
        let body =
            b"ID=1&Return=0&CMD=DATA\nID=2&Return=-1002&CMD=USER ADD\nID=3&Return=-1&CMD=DATA\n";
        let batch = parse_devicecmd(body);
        assert!(batch.skipped.is_empty());
        let got: Vec<(&str, i64, &str)> = batch
            .results
            .iter()
            .map(|r| (r.id.as_str(), r.return_code, r.cmd.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("1", 0, "DATA"),
                ("2", -1002, "USER ADD"),
                ("3", -1, "DATA")
            ]
        );
        assert_eq!(batch.results[0].numeric_id(), Some(1));
    }

    #[test]
    fn a_multi_line_info_reply() {
        let body = b"ID=7&Return=0&CMD=INFO\r\n~DeviceName=SpeedFace-V5L\r\nMAC=00:17:61:12:34:56\r\nUserCount=12\r\nFWVersion=Ver 8.0.4.2\r\nID=8&Return=0&CMD=CHECK\r\n";
        let batch = parse_devicecmd(body);
        assert_eq!(batch.results.len(), 2);
        assert_eq!(
            batch.results[0].info,
            vec![
                ("~DeviceName".to_string(), "SpeedFace-V5L".to_string()),
                ("MAC".to_string(), "00:17:61:12:34:56".to_string()),
                ("UserCount".to_string(), "12".to_string()),
                ("FWVersion".to_string(), "Ver 8.0.4.2".to_string()),
            ]
        );
        assert!(batch.results[1].info.is_empty());
    }

    #[test]
    fn a_cmd_echo_may_hold_ampersands_and_keys_any_order() {
        let r = parse_devicecmd(b"ID=4&Return=0&CMD=DATA UPDATE USERINFO PIN=1&x\n");
        assert_eq!(r.results[0].cmd, "DATA UPDATE USERINFO PIN=1&x");
        let r = parse_devicecmd(b"ID=5&CMD=CHECK");
        assert_eq!(r.skipped[0].reason, SkipReason::BadReturnCode);
        let r = parse_devicecmd(b"ID=6&Return=0\n");
        assert_eq!(
            (r.results[0].id.as_str(), r.results[0].cmd.as_str()),
            ("6", "")
        );
    }

    #[test]
    fn bad_lines_are_skipped() {
        let body = b"Return=0&CMD=DATA\nID=&Return=0&CMD=DATA\nID=a b&Return=0\nID=9&Return=zero&CMD=DATA\nID=12345678901234567&Return=0\nID=10&Return=0&CMD=DATA\nnonsense\n";
        let batch = parse_devicecmd(body);
        assert_eq!(batch.results.len(), 1);
        let reasons: Vec<SkipReason> = batch.skipped.iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [
                SkipReason::UnknownLine,
                SkipReason::BadCommandId,
                SkipReason::BadCommandId,
                SkipReason::BadReturnCode,
                SkipReason::BadCommandId,
                SkipReason::UnknownLine,
            ]
        );
    }

    fn result() -> impl Strategy<Value = CommandResult> {
        (
            "[0-9A-Za-z]{1,16}",
            any::<i32>(),
            "([A-Z]{1,8}( [A-Z]{1,8}){0,2})?",
            proptest::collection::vec(
                (
                    "~?[A-Za-z]{1,10}".prop_filter("not ID", |k| k != "ID"),
                    "[^=\\r\\n\\pC]{0,20}",
                ),
                0..4,
            ),
        )
            .prop_map(|(id, code, cmd, info)| CommandResult {
                id,
                return_code: i64::from(code),
                cmd,
                info: info
                    .into_iter()
                    .map(|(k, v)| (k, v.trim().to_string()))
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_devicecmd(&body);
        }

        #[test]
        fn never_panics_on_result_like_text(body in "((ID|Return|CMD|x)=[^\\n&]{0,6}&?){0,6}(\\r?\\n){0,2}") {
            let _ = parse_devicecmd(body.as_bytes());
        }

        #[test]
        fn render_then_parse_round_trips(results in proptest::collection::vec(result(), 0..6)) {
            let body: String = results.iter().map(render_command_result).collect();
            let batch = parse_devicecmd(body.as_bytes());
            prop_assert!(batch.skipped.is_empty(), "{:?}", batch.skipped);
            prop_assert_eq!(batch.results, results);
        }
    }
}
