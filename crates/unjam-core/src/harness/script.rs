//! Scripted outcomes and their text grammar (used by `unjam explain --outcome` and by
//! tests). One outcome describes one attempt of a command, as space-separated tokens:
//!
//! | token | meaning |
//! |---|---|
//! | `host=DID_ERROR` | host byte (name with or without `DID_`, or a number) |
//! | `status=CHECK_CONDITION` | SAM status (name or number) |
//! | `sense=70 00 0b 00 ...` | autosense bytes; the hex bytes may follow as separate tokens |
//! | `virtio=FAILURE` | a `VIRTIO_SCSI_S_*` response, mapped to host byte and status as virtio_scsi does |
//! | `timeout` | the command never completes |
//! | `lost` | the target completed it (with the other tokens' result) but the notification was lost |
//! | `abort=ok\|fail` | the answer to an abort of this attempt (default ok) |
//! | `resid=N` | residual byte count |
//! | `latency=MS` | completion latency in milliseconds (default 0.1) |
//! | `rs=HEX...` | what REQUEST SENSE returns if the error handler asks about this attempt |
//! | `tur=ok\|fail\|timeout\|ua` | the error handler's TEST UNIT READY answer (default ok; `ua`: CHECK CONDITION 06/29/00); `tur=fail,ok` answers the first TUR with `fail` and every later one with `ok` |
//! | `stu=ok\|fail\|timeout\|ua` | the error handler's START UNIT answer (default ok) |
//! | `reset_ua` | a successful reset raises a UNIT ATTENTION (29/03 LUN or target, 29/02 bus, 29/01 host) that the device reports to its next command, as real devices do |
//! | `reset=ok\|fail` | the answer to LUN/target/bus/host resets (default ok) |
//! | `lun_reset=`, `target_reset=`, `bus_reset=`, `host_reset=` `ok\|fail` | the answer to one kind of reset (after `reset=`, overrides it) |

use std::time::Duration;

use unjam_scsi::virtio::Response;
use unjam_scsi::{HostByte, MlStatus, SamStatus, ScsiResult};

use crate::action::TmfResult;
use crate::buffers::SenseBuffer;
use crate::request::TransportOutcome;

/// How the device answers one attempt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScriptAnswer {
    Complete(TransportOutcome),
    /// Never answers.
    Timeout,
    /// Completed at the target; the notification never arrives (a poll finds it).
    Lost(TransportOutcome),
}

/// How the device answers an error-handler command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EhAnswer {
    Good,
    Fail,
    Timeout,
    /// CHECK CONDITION, UNIT ATTENTION 29/00 (power on, reset or bus device reset).
    UnitAttention,
}

/// One attempt's script.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ScriptEntry {
    pub answer: ScriptAnswer,
    pub latency: Duration,
    pub abort: TmfResult,
    pub request_sense: SenseBuffer,
    pub tur: EhAnswer,
    /// The answer to every TUR after the first (default: the same as `tur`).
    pub tur_later: Option<EhAnswer>,
    /// The error handler's START UNIT answer.
    pub start_unit: EhAnswer,
    /// A successful reset raises a unit attention the device reports to its next command.
    pub reset_ua: bool,
    pub lun_reset: TmfResult,
    pub target_reset: TmfResult,
    pub bus_reset: TmfResult,
    pub host_reset: TmfResult,
    /// The virtio response the outcome was given as, if any.
    pub virtio: Option<Response>,
}

impl ScriptEntry {
    pub const fn completing(outcome: TransportOutcome) -> ScriptEntry {
        ScriptEntry {
            answer: ScriptAnswer::Complete(outcome),
            latency: Duration::from_micros(100),
            abort: TmfResult::Success,
            request_sense: SenseBuffer::EMPTY,
            tur: EhAnswer::Good,
            tur_later: None,
            start_unit: EhAnswer::Good,
            reset_ua: false,
            lun_reset: TmfResult::Success,
            target_reset: TmfResult::Success,
            bus_reset: TmfResult::Success,
            host_reset: TmfResult::Success,
            virtio: None,
        }
    }

    pub const fn good() -> ScriptEntry {
        Self::completing(TransportOutcome::GOOD)
    }

    pub fn timing_out() -> ScriptEntry {
        ScriptEntry {
            answer: ScriptAnswer::Timeout,
            ..Self::good()
        }
    }
}

/// A malformed outcome, naming the token.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum OutcomeParseError {
    #[error("empty outcome")]
    Empty,
    #[error("unknown token `{0}`")]
    UnknownToken(String),
    #[error("bad value in `{token}`: {reason}")]
    BadValue { token: String, reason: &'static str },
}

fn bad(token: &str, reason: &'static str) -> OutcomeParseError {
    OutcomeParseError::BadValue {
        token: token.to_string(),
        reason,
    }
}

/// Parses one outcome (see the module doc for the grammar).
pub fn parse_outcome(text: &str) -> Result<ScriptEntry, OutcomeParseError> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.is_empty() {
        return Err(OutcomeParseError::Empty);
    }
    let mut parsed = Parsed::default();
    let mut index = 0;
    while let Some(token) = tokens.get(index) {
        index += 1;
        parsed.apply(token, &tokens, &mut index)?;
    }
    Ok(parsed.finish())
}

/// An outcome being parsed.
#[derive(Default)]
struct Parsed {
    entry: Option<ScriptEntry>,
    host: Option<HostByte>,
    status: Option<SamStatus>,
    sense: SenseBuffer,
    timeout: bool,
    lost: bool,
    resid: u32,
}

impl Parsed {
    fn entry(&mut self) -> &mut ScriptEntry {
        self.entry.get_or_insert_with(ScriptEntry::good)
    }

    /// One token; `sense=` and `rs=` may consume the hex bytes that follow.
    fn apply(
        &mut self,
        token: &str,
        tokens: &[&str],
        index: &mut usize,
    ) -> Result<(), OutcomeParseError> {
        let (key, value) = token.split_once('=').unwrap_or((token, ""));
        match key.to_ascii_lowercase().as_str() {
            "timeout" if value.is_empty() => self.timeout = true,
            "lost" if value.is_empty() => self.lost = true,
            "reset_ua" if value.is_empty() => self.entry().reset_ua = true,
            "stu" => self.entry().start_unit = eh_answer(token, value)?,
            "host" => {
                self.host =
                    Some(HostByte::parse(value).ok_or_else(|| bad(token, "unknown host byte"))?)
            }
            "status" => {
                self.status =
                    Some(SamStatus::parse(value).ok_or_else(|| bad(token, "unknown status"))?)
            }
            "virtio" => {
                let response =
                    Response::parse(value).ok_or_else(|| bad(token, "unknown virtio response"))?;
                self.entry().virtio = Some(response);
            }
            "sense" => self.sense = SenseBuffer::from_slice(&hex_run(token, value, tokens, index)?),
            "rs" => {
                self.entry().request_sense =
                    SenseBuffer::from_slice(&hex_run(token, value, tokens, index)?)
            }
            "abort" => self.entry().abort = tmf(token, value)?,
            "reset" => {
                let result = tmf(token, value)?;
                let entry = self.entry();
                entry.lun_reset = result;
                entry.target_reset = result;
                entry.bus_reset = result;
                entry.host_reset = result;
            }
            "lun_reset" => self.entry().lun_reset = tmf(token, value)?,
            "target_reset" => self.entry().target_reset = tmf(token, value)?,
            "bus_reset" => self.entry().bus_reset = tmf(token, value)?,
            "host_reset" => self.entry().host_reset = tmf(token, value)?,
            "tur" => {
                let (first, later) = match value.split_once(',') {
                    Some((first, later)) => (first, Some(eh_answer(token, later)?)),
                    None => (value, None),
                };
                let entry = self.entry();
                entry.tur = eh_answer(token, first)?;
                entry.tur_later = later;
            }
            "resid" => {
                self.resid = value
                    .parse()
                    .map_err(|_| bad(token, "expected a byte count"))?
            }
            "latency" => {
                let ms: f64 = value
                    .parse()
                    .map_err(|_| bad(token, "expected milliseconds"))?;
                if !(0.0..=3_600_000.0).contains(&ms) {
                    return Err(bad(token, "latency out of range"));
                }
                self.entry().latency = Duration::from_secs_f64(ms / 1000.0);
            }
            _ => return Err(OutcomeParseError::UnknownToken(token.to_string())),
        }
        Ok(())
    }

    /// CHECK CONDITION is implied by sense bytes; a virtio response maps last.
    fn finish(mut self) -> ScriptEntry {
        let implied = if self.sense.is_empty() {
            SamStatus::GOOD
        } else {
            SamStatus::CHECK_CONDITION
        };
        let mut status = self.status.unwrap_or(implied);
        let mut host = self.host.unwrap_or(HostByte::DID_OK);
        let mut entry = *self.entry();
        if let Some(response) = entry.virtio {
            let mapped = response.to_result(status);
            host = mapped.host;
            status = mapped.status;
        }
        let outcome = TransportOutcome {
            result: ScsiResult::new(host, MlStatus::OK, status),
            sense: self.sense,
            resid: self.resid,
        };
        entry.answer = match (self.timeout, self.lost) {
            (true, _) => ScriptAnswer::Timeout,
            (false, true) => ScriptAnswer::Lost(outcome),
            (false, false) => ScriptAnswer::Complete(outcome),
        };
        entry
    }
}

fn eh_answer(token: &str, value: &str) -> Result<EhAnswer, OutcomeParseError> {
    match value {
        "ok" => Ok(EhAnswer::Good),
        "fail" => Ok(EhAnswer::Fail),
        "timeout" => Ok(EhAnswer::Timeout),
        "ua" => Ok(EhAnswer::UnitAttention),
        _ => Err(bad(token, "expected ok, fail, timeout or ua")),
    }
}

fn tmf(token: &str, value: &str) -> Result<TmfResult, OutcomeParseError> {
    match value {
        "ok" => Ok(TmfResult::Success),
        "fail" => Ok(TmfResult::Failed),
        _ => Err(bad(token, "expected ok or fail")),
    }
}

/// The bytes of `sense=...`: the value itself (hex, optionally with commas), then every
/// following token that is a one- or two-digit hex byte.
fn hex_run(
    token: &str,
    value: &str,
    tokens: &[&str],
    index: &mut usize,
) -> Result<Vec<u8>, OutcomeParseError> {
    let mut bytes = Vec::new();
    for part in value.split(',').filter(|p| !p.is_empty()) {
        push_hex(token, part, &mut bytes)?;
    }
    while let Some(next) = tokens.get(*index) {
        if next.contains('=') || next.len() > 2 || !next.chars().all(|c| c.is_ascii_hexdigit()) {
            break;
        }
        push_hex(token, next, &mut bytes)?;
        *index += 1;
    }
    if bytes.len() > 252 {
        return Err(bad(token, "more than 252 bytes"));
    }
    Ok(bytes)
}

fn push_hex(token: &str, text: &str, bytes: &mut Vec<u8>) -> Result<(), OutcomeParseError> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad(token, "expected hex bytes"));
    }
    let padded = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_string()
    };
    for pair in padded.as_bytes().chunks(2) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad(token, "expected hex bytes"))?;
        bytes.push(u8::from_str_radix(pair, 16).map_err(|_| bad(token, "expected hex bytes"))?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_000_outcomes() {
        let first = parse_outcome("virtio=FAILURE").unwrap();
        assert_eq!(
            first.answer,
            ScriptAnswer::Complete(TransportOutcome::host(HostByte::DID_ERROR))
        );
        let second = parse_outcome(
            "status=CHECK_CONDITION sense=70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00",
        )
        .unwrap();
        let ScriptAnswer::Complete(outcome) = second.answer else {
            panic!("not a completion")
        };
        assert_eq!(outcome.result.status(), SamStatus::CHECK_CONDITION);
        assert_eq!(outcome.sense.len(), 18);
        assert_eq!(outcome.sense.as_slice()[2], 0x0b);
    }

    #[test]
    fn contiguous_hex_and_keywords() {
        let entry =
            parse_outcome("sense=700005 timeout abort=fail tur=timeout reset=fail resid=512")
                .unwrap();
        assert_eq!(entry.answer, ScriptAnswer::Timeout);
        assert_eq!(entry.abort, TmfResult::Failed);
        assert_eq!(entry.tur, EhAnswer::Timeout);
        assert_eq!(entry.lun_reset, TmfResult::Failed);
        assert_eq!(entry.host_reset, TmfResult::Failed);
        let split = parse_outcome("timeout reset=fail target_reset=ok tur=fail,ok").unwrap();
        assert_eq!(
            (split.lun_reset, split.target_reset, split.bus_reset),
            (TmfResult::Failed, TmfResult::Success, TmfResult::Failed)
        );
        assert_eq!(
            (split.tur, split.tur_later),
            (EhAnswer::Fail, Some(EhAnswer::Good))
        );
        assert!(parse_outcome("tur=fail,maybe").is_err());
        let ua = parse_outcome("timeout stu=ua tur=ua reset_ua").unwrap();
        assert_eq!(
            (ua.start_unit, ua.tur, ua.reset_ua),
            (EhAnswer::UnitAttention, EhAnswer::UnitAttention, true)
        );
        let lost = parse_outcome("lost resid=512").unwrap();
        let ScriptAnswer::Lost(outcome) = lost.answer else {
            panic!("not lost")
        };
        assert_eq!(outcome.resid, 512);
    }

    #[test]
    fn errors_name_the_token() {
        assert_eq!(parse_outcome("  "), Err(OutcomeParseError::Empty));
        let error = parse_outcome("host=DID_NOPE").unwrap_err();
        assert_eq!(
            error.to_string(),
            "bad value in `host=DID_NOPE`: unknown host byte"
        );
        assert_eq!(
            parse_outcome("frobnicate").unwrap_err().to_string(),
            "unknown token `frobnicate`"
        );
        assert!(parse_outcome("sense=zz")
            .unwrap_err()
            .to_string()
            .contains("sense=zz"));
        assert!(parse_outcome("abort=maybe").is_err());
    }

    #[test]
    fn virtio_nexus_failure_is_a_reservation_conflict() {
        let entry = parse_outcome("virtio=NEXUS_FAILURE").unwrap();
        let ScriptAnswer::Complete(outcome) = entry.answer else {
            panic!("not a completion")
        };
        assert_eq!(outcome.result.status(), SamStatus::RESERVATION_CONFLICT);
    }
}
