//! The scenario-file form of a fault (`[[fault]]` tables), validated into a [`FaultRule`]
//! while it is deserialized so that a bad rule is reported with its line.
//!
//! ```toml
//! [[fault]]
//! device = "0:0:0:0"          # H:C:T:L selector, `*` parts allowed (default: every LUN)
//! kind = "timeout"            # or scsi_debug = "0 -3 0x28"
//! commands = "reads"          # any | reads | writes | media, or opcode = 0x28
//! from_ms = 2000              # window of virtual time (until_ms or duration_ms)
//! times = 3                   # or count = -3 (scsi_debug sign rule), skip = N, probability = 0.01
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use unjam_scsi::sense::SenseKey;
use unjam_scsi::{HostByte, SamStatus};

use super::rule::{
    CommandMatch, Count, FaultAction, FaultRule, QueueRejection, ResetScope, TmfKind, Trigger,
};
use super::scsi_debug;
use super::wire::{AluaStateName, WireAction};
use crate::address::AddressSelector;
use crate::sense_data::{code, SenseData};
use crate::virtio::parse_response;

/// The kinds of fault a scenario can name.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Timeout,
    LostCompletion,
    Fail,
    Virtio,
    Busy,
    TaskSetFull,
    QueueReject,
    MediumError,
    TurFails,
    Slow,
    TransportDown,
    AbortFails,
    AbortHangs,
    ResetFails,
    ResetHangs,
    DropResponse,
    DuplicateResponse,
    CorruptDigest,
    ResetConnection,
    RejectPdu,
    DelayPdu,
    StallCmdsn,
    IgnoreNop,
    PortalDown,
    Blackhole,
    RejectLogin,
    LogoutRequest,
    AluaState,
}

impl FaultKind {
    /// Wire faults that act on a window of time or on logins, not on commands: device,
    /// command and LBA selectors do not apply to them.
    fn is_wire_window(self) -> bool {
        use FaultKind as K;
        matches!(
            self,
            K::DelayPdu
                | K::StallCmdsn
                | K::IgnoreNop
                | K::PortalDown
                | K::Blackhole
                | K::RejectLogin
                | K::LogoutRequest
                | K::AluaState
        )
    }
}

/// Which commands, by name.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandsName {
    Any,
    Reads,
    Writes,
    Media,
}

/// queuecommand refusals, by name.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::enum_variant_names)] // the kernel's SCSI_MLQUEUE_*_BUSY names
pub enum RejectionName {
    HostBusy,
    DeviceBusy,
    TargetBusy,
}

/// Reset scopes, by name.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeName {
    Lun,
    Target,
    Bus,
    Host,
}

/// A `[[fault]]` table as written.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<FaultKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scsi_debug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commands: Option<CommandsName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opcode: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lba_first: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lba_last: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_byte: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sense: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sense_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asc: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ascq: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autosense: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<RejectionName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_class: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_s: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<AluaStateName>,
}

/// A validated fault: the fields as written and the rule they make.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(try_from = "FaultFields", into = "FaultFields")]
pub struct FaultSpec {
    pub fields: FaultFields,
    pub rule: FaultRule,
}

/// Why a `[[fault]]` table is not a valid rule.
#[derive(Clone, PartialEq, Debug, Error)]
pub enum FaultSpecError {
    #[error("a fault needs `kind` or `scsi_debug`")]
    NoKind,
    #[error("`kind` and `scsi_debug` exclude each other")]
    BothKinds,
    #[error("field `{field}` does not apply to kind `{kind}`")]
    Irrelevant { field: &'static str, kind: String },
    #[error("kind `{kind}` needs field `{field}`")]
    Needs { kind: String, field: &'static str },
    #[error("field `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    ScsiDebug(#[from] scsi_debug::ScsiDebugError),
}

impl From<FaultSpec> for FaultFields {
    fn from(spec: FaultSpec) -> Self {
        spec.fields
    }
}

impl TryFrom<FaultFields> for FaultSpec {
    type Error = FaultSpecError;

    fn try_from(fields: FaultFields) -> Result<Self, Self::Error> {
        let rule = build_rule(&fields)?;
        Ok(FaultSpec { fields, rule })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

fn invalid(field: &'static str, message: impl fmt::Display) -> FaultSpecError {
    FaultSpecError::Invalid {
        field,
        message: message.to_string(),
    }
}

fn build_rule(fields: &FaultFields) -> Result<FaultRule, FaultSpecError> {
    let devices: AddressSelector = match &fields.device {
        Some(text) => text.parse().map_err(|e| invalid("device", e))?,
        None => AddressSelector::ANY,
    };
    let mut rule = match (fields.kind, &fields.scsi_debug) {
        (None, None) => return Err(FaultSpecError::NoKind),
        (Some(_), Some(_)) => return Err(FaultSpecError::BothKinds),
        (None, Some(line)) => scsi_debug::parse_line(line, devices)?,
        (Some(kind), None) => {
            check_relevant(kind, fields)?;
            FaultRule::new(devices, action(kind, fields)?)
        }
    };
    if let Some(kind) = fields.kind {
        rule.commands = default_commands(kind);
    }
    apply_matching(&mut rule, fields)?;
    apply_trigger(&mut rule, fields)?;
    if matches!(rule.action, FaultAction::TransportDown { .. }) && fields.from_ms.is_none() {
        return Err(FaultSpecError::Needs {
            kind: "transport_down".into(),
            field: "from_ms",
        });
    }
    Ok(rule)
}

fn default_commands(kind: FaultKind) -> CommandMatch {
    match kind {
        FaultKind::TurFails => CommandMatch::Opcode(0x00),
        FaultKind::MediumError => CommandMatch::MediaAccess,
        _ => CommandMatch::Any,
    }
}

fn apply_matching(rule: &mut FaultRule, fields: &FaultFields) -> Result<(), FaultSpecError> {
    if fields.commands.is_some() && fields.opcode.is_some() {
        return Err(invalid("opcode", "give `commands` or `opcode`, not both"));
    }
    if let Some(opcode) = fields.opcode {
        rule.commands = CommandMatch::Opcode(opcode);
    }
    if let Some(commands) = fields.commands {
        rule.commands = match commands {
            CommandsName::Any => CommandMatch::Any,
            CommandsName::Reads => CommandMatch::Reads,
            CommandsName::Writes => CommandMatch::Writes,
            CommandsName::Media => CommandMatch::MediaAccess,
        };
    }
    rule.lba_range = match (fields.lba_first, fields.lba_last) {
        (None, None) => None,
        (Some(first), last) => {
            let last = last.unwrap_or(first);
            if last < first {
                return Err(invalid("lba_last", "must not be below lba_first"));
            }
            Some((first, last))
        }
        (None, Some(_)) => return Err(invalid("lba_last", "needs lba_first")),
    };
    if matches!(rule.action, FaultAction::MediumError) && rule.lba_range.is_none() {
        return Err(FaultSpecError::Needs {
            kind: "medium_error".into(),
            field: "lba_first",
        });
    }
    Ok(())
}

fn apply_trigger(rule: &mut FaultRule, fields: &FaultFields) -> Result<(), FaultSpecError> {
    let mut trigger = Trigger {
        count: rule.trigger.count,
        ..Trigger::default()
    };
    trigger.from_us = fields.from_ms.unwrap_or(0).saturating_mul(1000);
    trigger.until_us = match (fields.until_ms, fields.duration_ms) {
        (Some(_), Some(_)) => return Err(invalid("duration_ms", "give until_ms or duration_ms")),
        (Some(until), None) => Some(until.saturating_mul(1000)),
        (None, Some(duration)) => Some(trigger.from_us + duration.saturating_mul(1000)),
        (None, None) => None,
    };
    if trigger
        .until_us
        .is_some_and(|until| until <= trigger.from_us)
    {
        return Err(invalid("until_ms", "the window must end after it starts"));
    }
    trigger.skip = fields.skip.unwrap_or(0);
    match (fields.count, fields.times) {
        (Some(_), Some(_)) => return Err(invalid("times", "give count or times, not both")),
        (Some(count), None) => trigger.count = Count::from_scsi_debug(count),
        (None, Some(times)) => trigger.count = Count::Times(times),
        (None, None) => {}
    }
    if let Some(probability) = fields.probability {
        if !(0.0..=1.0).contains(&probability) {
            return Err(invalid("probability", "must lie in [0, 1]"));
        }
        trigger.probability = Some(probability);
    }
    rule.trigger = trigger;
    Ok(())
}

/// Kind-specific fields and the kinds that take them.
fn check_relevant(kind: FaultKind, fields: &FaultFields) -> Result<(), FaultSpecError> {
    use FaultKind as K;
    let present: [(&'static str, bool, &[FaultKind]); 11] = [
        (
            "host_byte",
            fields.host_byte.is_some(),
            &[K::Fail, K::TransportDown],
        ),
        ("status", fields.status.is_some(), &[K::Fail, K::Virtio]),
        ("sense", fields.sense.is_some(), &[K::Fail, K::Virtio]),
        (
            "sense_key",
            fields.sense_key.is_some(),
            &[K::Fail, K::Virtio, K::TurFails, K::MediumError],
        ),
        (
            "asc",
            fields.asc.is_some(),
            &[K::Fail, K::Virtio, K::TurFails, K::MediumError],
        ),
        (
            "ascq",
            fields.ascq.is_some(),
            &[K::Fail, K::Virtio, K::TurFails, K::MediumError],
        ),
        ("autosense", fields.autosense.is_some(), &[K::Fail]),
        ("response", fields.response.is_some(), &[K::Virtio]),
        ("reason", fields.reason.is_some(), &[K::QueueReject]),
        ("extra_us", fields.extra_us.is_some(), &[K::Slow]),
        (
            "scope",
            fields.scope.is_some() || fields.after_ms.is_some(),
            &[K::ResetFails, K::ResetHangs, K::AbortHangs],
        ),
    ];
    for (field, is_present, kinds) in present.into_iter().chain(wire_fields(kind, fields)) {
        if is_present && !kinds.contains(&kind) {
            return Err(FaultSpecError::Irrelevant {
                field,
                kind: kind.to_string(),
            });
        }
    }
    if fields.scope.is_some() && kind == FaultKind::AbortHangs {
        return Err(FaultSpecError::Irrelevant {
            field: "scope",
            kind: kind.to_string(),
        });
    }
    Ok(())
}

type FieldRow = (&'static str, bool, &'static [FaultKind]);

/// The fields only wire faults take, and the selectors window faults do not take.
fn wire_fields(kind: FaultKind, fields: &FaultFields) -> Vec<FieldRow> {
    use FaultKind as K;
    const WIRE: &[FaultKind] = &[
        K::DropResponse,
        K::DuplicateResponse,
        K::CorruptDigest,
        K::ResetConnection,
        K::RejectPdu,
        K::DelayPdu,
        K::StallCmdsn,
        K::IgnoreNop,
        K::PortalDown,
        K::Blackhole,
        K::RejectLogin,
        K::LogoutRequest,
        K::AluaState,
    ];
    let mut rows: Vec<FieldRow> = vec![
        ("portal", fields.portal.is_some(), WIRE),
        ("delay_ms", fields.delay_ms.is_some(), &[K::DelayPdu]),
        (
            "status_class",
            fields.status_class.is_some(),
            &[K::RejectLogin],
        ),
        (
            "status_detail",
            fields.status_detail.is_some(),
            &[K::RejectLogin],
        ),
        (
            "reject_reason",
            fields.reject_reason.is_some(),
            &[K::RejectPdu],
        ),
        ("within_s", fields.within_s.is_some(), &[K::LogoutRequest]),
        ("group", fields.group.is_some(), &[K::AluaState]),
        ("state", fields.state.is_some(), &[K::AluaState]),
    ];
    if kind.is_wire_window() {
        let selectors = [
            ("device", fields.device.is_some()),
            ("commands", fields.commands.is_some()),
            ("opcode", fields.opcode.is_some()),
            ("lba_first", fields.lba_first.is_some()),
        ];
        rows.extend(selectors.map(|(field, present)| (field, present, &[] as &[FaultKind])));
    }
    rows
}

fn wire_action(kind: FaultKind, fields: &FaultFields) -> Result<WireAction, FaultSpecError> {
    let needs = |field| FaultSpecError::Needs {
        kind: kind.to_string(),
        field,
    };
    Ok(match kind {
        FaultKind::DropResponse => WireAction::DropResponse,
        FaultKind::DuplicateResponse => WireAction::DuplicateResponse,
        FaultKind::CorruptDigest => WireAction::CorruptDigest,
        FaultKind::ResetConnection => WireAction::ResetConnection,
        FaultKind::RejectPdu => WireAction::RejectPdu {
            reason: fields.reject_reason.unwrap_or(0x09),
        },
        FaultKind::DelayPdu => WireAction::DelayPdus {
            delay_us: fields
                .delay_ms
                .ok_or(needs("delay_ms"))?
                .saturating_mul(1000),
        },
        FaultKind::StallCmdsn => WireAction::StallCmdSn,
        FaultKind::IgnoreNop => WireAction::IgnoreNops,
        FaultKind::PortalDown => WireAction::PortalDown,
        FaultKind::Blackhole => WireAction::Blackhole,
        FaultKind::RejectLogin => {
            let class = fields.status_class.unwrap_or(0x03);
            if !(1..=3).contains(&class) {
                return Err(invalid("status_class", "must be 1, 2 or 3"));
            }
            WireAction::RejectLogin {
                class,
                detail: fields.status_detail.unwrap_or(0x01),
            }
        }
        FaultKind::LogoutRequest => WireAction::LogoutRequest {
            within_s: fields.within_s.unwrap_or(0),
        },
        FaultKind::AluaState => WireAction::AluaState {
            group: fields.group.ok_or(needs("group"))?,
            state: fields.state.ok_or(needs("state"))?.access_state(),
        },
        _ => return Err(needs("a wire kind")),
    })
}

fn action(kind: FaultKind, fields: &FaultFields) -> Result<FaultAction, FaultSpecError> {
    let scope = fields.scope.map(|scope| match scope {
        ScopeName::Lun => ResetScope::Lun,
        ScopeName::Target => ResetScope::Target,
        ScopeName::Bus => ResetScope::Bus,
        ScopeName::Host => ResetScope::Host,
    });
    let after_us = fields.after_ms.map(|ms| ms.saturating_mul(1000));
    Ok(match kind {
        FaultKind::Timeout => FaultAction::Timeout,
        FaultKind::LostCompletion => FaultAction::LostCompletion,
        FaultKind::Fail => fail(fields)?,
        FaultKind::Virtio => virtio(fields)?,
        FaultKind::Busy => FaultAction::Busy {
            status: SamStatus::BUSY,
        },
        FaultKind::TaskSetFull => FaultAction::Busy {
            status: SamStatus::TASK_SET_FULL,
        },
        FaultKind::QueueReject => FaultAction::QueueReject {
            reason: match fields.reason.unwrap_or(RejectionName::HostBusy) {
                RejectionName::HostBusy => QueueRejection::HostBusy,
                RejectionName::DeviceBusy => QueueRejection::DeviceBusy,
                RejectionName::TargetBusy => QueueRejection::TargetBusy,
            },
        },
        FaultKind::MediumError => FaultAction::MediumError,
        FaultKind::TurFails => {
            let sense = sense_from_fields(fields, (SenseKey::NOT_READY, (0x04, 0x01)))?;
            FaultAction::Fail {
                host_byte: HostByte::DID_OK,
                status: SamStatus::CHECK_CONDITION,
                sense,
                autosense: true,
            }
        }
        FaultKind::Slow => FaultAction::Slow {
            extra_us: fields.extra_us.ok_or(FaultSpecError::Needs {
                kind: "slow".into(),
                field: "extra_us",
            })?,
        },
        FaultKind::TransportDown => FaultAction::TransportDown {
            host_byte: parse_host_byte(fields.host_byte.as_deref())?
                .unwrap_or(HostByte::DID_TRANSPORT_DISRUPTED),
        },
        FaultKind::AbortFails => FaultAction::TmfFails {
            function: TmfKind::Abort,
        },
        FaultKind::AbortHangs => FaultAction::TmfHangs {
            function: TmfKind::Abort,
            after_us,
        },
        FaultKind::ResetFails => FaultAction::TmfFails {
            function: TmfKind::Reset(scope),
        },
        FaultKind::ResetHangs => FaultAction::TmfHangs {
            function: TmfKind::Reset(scope),
            after_us,
        },
        wire => FaultAction::Wire {
            action: wire_action(wire, fields)?,
            portal: fields.portal,
        },
    })
}

fn fail(fields: &FaultFields) -> Result<FaultAction, FaultSpecError> {
    let host_byte = parse_host_byte(fields.host_byte.as_deref())?.unwrap_or(HostByte::DID_OK);
    let status = parse_status(fields.status.as_deref())?;
    let default_status = if has_sense(fields) {
        SamStatus::CHECK_CONDITION
    } else {
        SamStatus::GOOD
    };
    let status = status.unwrap_or(default_status);
    if host_byte == HostByte::DID_OK && status == SamStatus::GOOD {
        return Err(FaultSpecError::Needs {
            kind: "fail".into(),
            field: "host_byte or status",
        });
    }
    Ok(FaultAction::Fail {
        host_byte,
        status,
        sense: explicit_sense(fields)?,
        autosense: fields.autosense.unwrap_or(true),
    })
}

fn virtio(fields: &FaultFields) -> Result<FaultAction, FaultSpecError> {
    let text = fields.response.as_deref().ok_or(FaultSpecError::Needs {
        kind: "virtio".into(),
        field: "response",
    })?;
    let response = parse_response(text).map_err(|e| invalid("response", e))?;
    let status = parse_status(fields.status.as_deref())?;
    let sense = explicit_sense(fields)?;
    let default_status = if sense.is_some() {
        SamStatus::CHECK_CONDITION
    } else {
        SamStatus::GOOD
    };
    Ok(FaultAction::Virtio {
        response,
        status: status.unwrap_or(default_status),
        sense,
    })
}

fn has_sense(fields: &FaultFields) -> bool {
    fields.sense.is_some() || fields.sense_key.is_some()
}

/// Sense from `sense = "70 00 ..."` or from `sense_key`/`asc`/`ascq`.
fn explicit_sense(fields: &FaultFields) -> Result<Option<SenseData>, FaultSpecError> {
    if let Some(hex) = &fields.sense {
        if fields.sense_key.is_some() || fields.asc.is_some() || fields.ascq.is_some() {
            return Err(invalid(
                "sense",
                "give raw sense or sense_key/asc/ascq, not both",
            ));
        }
        return parse_hex_bytes(hex).map(|bytes| Some(SenseData::raw(&bytes)));
    }
    if fields.sense_key.is_none() {
        if fields.asc.is_some() || fields.ascq.is_some() {
            return Err(invalid("asc", "needs sense_key"));
        }
        return Ok(None);
    }
    sense_from_fields(fields, (SenseKey::NO_SENSE, code::NO_ADDITIONAL_SENSE))
}

fn sense_from_fields(
    fields: &FaultFields,
    (default_key, (default_asc, default_ascq)): (SenseKey, (u8, u8)),
) -> Result<Option<SenseData>, FaultSpecError> {
    let key = match &fields.sense_key {
        Some(text) => SenseKey::parse(text)
            .ok_or_else(|| invalid("sense_key", format!("`{text}` is not a sense key")))?,
        None => default_key,
    };
    let asc = fields.asc.unwrap_or(default_asc);
    let ascq = fields.ascq.unwrap_or(default_ascq);
    Ok(Some(SenseData::fixed(key, (asc, ascq), None)))
}

fn parse_host_byte(text: Option<&str>) -> Result<Option<HostByte>, FaultSpecError> {
    text.map(|t| {
        HostByte::parse(t)
            .ok_or_else(|| invalid("host_byte", format!("`{t}` is not a DID_* host byte")))
    })
    .transpose()
}

fn parse_status(text: Option<&str>) -> Result<Option<SamStatus>, FaultSpecError> {
    text.map(|t| {
        SamStatus::parse(t).ok_or_else(|| invalid("status", format!("`{t}` is not a SAM status")))
    })
    .transpose()
}

/// `70 00 0b ...` or `70000b...` into bytes, at most 96.
fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, FaultSpecError> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.is_empty() || digits.len() % 2 != 0 || digits.len() > 2 * 96 {
        return Err(invalid("sense", "expected 1 to 96 hex bytes"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|at| {
            digits
                .get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| invalid("sense", format!("`{text}` is not hex bytes")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::VirtioResponse;

    fn parse(text: &str) -> Result<FaultSpec, String> {
        toml::from_str::<FaultSpec>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_failure_with_sense_fields() {
        let spec = parse(
            "kind = \"fail\"\ndevice = \"0:0:0:0\"\nsense_key = \"aborted_command\"\nasc = 0\nascq = 6\ntimes = 5",
        )
        .unwrap();
        let FaultAction::Fail {
            host_byte,
            status,
            sense,
            autosense,
        } = spec.rule.action
        else {
            panic!("a failure");
        };
        assert_eq!(
            (host_byte, status, autosense),
            (HostByte::DID_OK, SamStatus::CHECK_CONDITION, true)
        );
        assert_eq!(
            sense.unwrap().key_code(),
            Some((SenseKey::ABORTED_COMMAND, 0, 6))
        );
        assert_eq!(spec.rule.trigger.count, Count::Times(5));
    }

    #[test]
    fn seed_000_as_virtio_then_sense() {
        let first = parse("kind = \"virtio\"\nresponse = \"FAILURE\"\ntimes = 1").unwrap();
        assert!(matches!(
            first.rule.action,
            FaultAction::Virtio {
                response: VirtioResponse::FAILURE,
                status: SamStatus::GOOD,
                sense: None
            }
        ));
        let later = parse(
            "kind = \"fail\"\nskip = 1\nsense = \"70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00\"",
        )
        .unwrap();
        let FaultAction::Fail {
            sense: Some(sense),
            status,
            ..
        } = later.rule.action
        else {
            panic!("raw sense");
        };
        assert_eq!(status, SamStatus::CHECK_CONDITION);
        assert_eq!(sense.as_bytes().len(), 18);
    }

    #[test]
    fn kinds_with_defaults() {
        let tur = parse("kind = \"tur_fails\"\ntimes = 3").unwrap();
        assert_eq!(tur.rule.commands, CommandMatch::Opcode(0));
        let medium = parse("kind = \"medium_error\"\nlba_first = 100\nlba_last = 200").unwrap();
        assert_eq!(medium.rule.lba_range, Some((100, 200)));
        let down = parse("kind = \"transport_down\"\nfrom_ms = 10\nduration_ms = 5").unwrap();
        assert_eq!(
            (down.rule.trigger.from_us, down.rule.trigger.until_us),
            (10_000, Some(15_000))
        );
        let reset = parse("kind = \"reset_hangs\"\nscope = \"target\"").unwrap();
        assert_eq!(
            reset.rule.action,
            FaultAction::TmfHangs {
                function: TmfKind::Reset(Some(ResetScope::Target)),
                after_us: None
            }
        );
        let debug = parse("scsi_debug = \"4 -2 0xff\"\ndevice = \"0:0:1:*\"").unwrap();
        assert_eq!(debug.rule.trigger.count, Count::Times(2));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let error = parse("kind = \"timeout\"\nextra_us = 5").unwrap_err();
        assert!(
            error.contains("field `extra_us` does not apply to kind `timeout`"),
            "{error}"
        );
        let error = parse("kind = \"medium_error\"").unwrap_err();
        assert!(error.contains("needs field `lba_first`"), "{error}");
        let error = parse("kind = \"fail\"\nhost_byte = \"DID_NOPE\"").unwrap_err();
        assert!(error.contains("host_byte"), "{error}");
        let error = parse("kind = \"timeout\"\nprobability = 2.0").unwrap_err();
        assert!(error.contains("probability"), "{error}");
        let error = parse("kind = \"transport_down\"").unwrap_err();
        assert!(error.contains("from_ms"), "{error}");
        let error = parse("kind = \"timeout\"\ncolour = 1").unwrap_err();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = parse("device = \"0:0\"\nkind = \"timeout\"").unwrap_err();
        assert!(error.contains("device"), "{error}");
        let error = parse("scsi_debug = \"7 1 0xff\"").unwrap_err();
        assert!(error.contains("unknown type 7"), "{error}");
    }

    #[test]
    fn wire_kinds_take_their_fields_and_refuse_the_rest() {
        let drop = parse("kind = \"drop_response\"\ncommands = \"writes\"\ntimes = 1").unwrap();
        assert_eq!(
            drop.rule.action,
            FaultAction::Wire {
                action: WireAction::DropResponse,
                portal: None
            }
        );
        assert_eq!(drop.rule.commands, CommandMatch::Writes);
        let down =
            parse("kind = \"portal_down\"\nportal = 1\nfrom_ms = 5\nduration_ms = 10").unwrap();
        assert_eq!(
            down.rule.action,
            FaultAction::Wire {
                action: WireAction::PortalDown,
                portal: Some(1)
            }
        );
        let alua = parse("kind = \"alua_state\"\ngroup = 2\nstate = \"standby\"").unwrap();
        assert!(matches!(
            alua.rule.action,
            FaultAction::Wire {
                action: WireAction::AluaState { group: 2, .. },
                ..
            }
        ));
        let error = parse("kind = \"alua_state\"\ngroup = 2").unwrap_err();
        assert!(error.contains("needs field `state`"), "{error}");
        let error = parse("kind = \"portal_down\"\ndevice = \"0:0:0:0\"").unwrap_err();
        assert!(error.contains("`device` does not apply"), "{error}");
        let error = parse("kind = \"timeout\"\nportal = 0").unwrap_err();
        assert!(error.contains("`portal` does not apply"), "{error}");
        let error = parse("kind = \"reject_login\"\nstatus_class = 0").unwrap_err();
        assert!(error.contains("status_class"), "{error}");
        let error = parse("kind = \"delay_pdu\"").unwrap_err();
        assert!(error.contains("delay_ms"), "{error}");
    }

    #[test]
    fn round_trips_through_toml() {
        let spec = parse("kind = \"slow\"\nextra_us = 5000\nfrom_ms = 100").unwrap();
        let text = toml::to_string(&spec).unwrap();
        assert_eq!(parse(&text).unwrap(), spec);
    }
}
