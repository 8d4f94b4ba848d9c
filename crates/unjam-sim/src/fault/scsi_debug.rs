//! scsi_debug's per-device `error` line (spec linux-midlayer §7):
//! `<type> <count> <opcode> [payload...]`, with `count` > 0 meaning always and < 0 the next
//! |count| times, and opcode 0xff matching any command.
//!
//! | type | meaning | payload |
//! |---|---|---|
//! | 0 | the command times out | – |
//! | 1 | queuecommand fails | return value (hex, `SCSI_MLQUEUE_*`) |
//! | 2 | the command fails | host_byte driver_byte status sense_key asc ascq (hex) |
//! | 3 | the abort fails | – |
//! | 4 | the LUN reset fails | – |

use thiserror::Error;
use unjam_scsi::sense::SenseKey;
use unjam_scsi::{HostByte, SamStatus};

use super::rule::{
    CommandMatch, Count, FaultAction, FaultRule, QueueRejection, ResetScope, TmfKind, Trigger,
};
use crate::address::AddressSelector;
use crate::sense_data::SenseData;

/// A malformed scsi_debug error line; names the token.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum ScsiDebugError {
    #[error("scsi_debug error line `{line}`: missing {what}")]
    Missing { line: String, what: &'static str },
    #[error("scsi_debug error line `{line}`: {what} `{token}` is not a valid number")]
    BadNumber {
        line: String,
        what: &'static str,
        token: String,
    },
    #[error("scsi_debug error line `{line}`: unknown type {kind} (0 timeout, 1 queue fail, 2 command fail, 3 abort fail, 4 LUN reset fail)")]
    UnknownType { line: String, kind: i64 },
    #[error("scsi_debug error line `{line}`: unexpected extra token `{token}`")]
    Extra { line: String, token: String },
}

/// Parses one line into a rule for the devices `devices`.
pub fn parse_line(line: &str, devices: AddressSelector) -> Result<FaultRule, ScsiDebugError> {
    let mut tokens = Tokens {
        line,
        words: line.split_whitespace(),
    };
    let kind = tokens.decimal("type")?;
    let count = tokens.decimal("count")?;
    let opcode = tokens.hex("opcode")? as u8;
    let action = match kind {
        0 => FaultAction::Timeout,
        1 => {
            let value = tokens.hex("queuecommand return value")?;
            let reason =
                QueueRejection::from_mlqueue_value(value).unwrap_or(QueueRejection::HostBusy);
            FaultAction::QueueReject { reason }
        }
        2 => fail_action(&mut tokens)?,
        3 => FaultAction::TmfFails {
            function: TmfKind::Abort,
        },
        4 => FaultAction::TmfFails {
            function: TmfKind::Reset(Some(ResetScope::Lun)),
        },
        _ => {
            return Err(ScsiDebugError::UnknownType {
                line: line.to_string(),
                kind,
            })
        }
    };
    if let Some(token) = tokens.words.next() {
        return Err(ScsiDebugError::Extra {
            line: line.to_string(),
            token: token.to_string(),
        });
    }
    let commands = if opcode == 0xff {
        CommandMatch::Any
    } else {
        CommandMatch::Opcode(opcode)
    };
    Ok(FaultRule {
        devices,
        commands,
        lba_range: None,
        trigger: Trigger {
            count: Count::from_scsi_debug(count),
            ..Trigger::default()
        },
        action,
    })
}

fn fail_action(tokens: &mut Tokens<'_>) -> Result<FaultAction, ScsiDebugError> {
    let host_byte = HostByte(tokens.hex("host_byte")? as u8);
    let _driver_byte = tokens.hex("driver_byte")?;
    let status = SamStatus(tokens.hex("status_byte")? as u8);
    let key = tokens.hex("sense_key")? as u8;
    let asc = tokens.hex("asc")? as u8;
    let ascq = tokens.hex("ascq")? as u8;
    let sense = (status.is_check_condition() || key != 0)
        .then(|| SenseData::fixed(SenseKey::new(key), (asc, ascq), None));
    Ok(FaultAction::Fail {
        host_byte,
        status,
        sense,
        autosense: true,
    })
}

struct Tokens<'a> {
    line: &'a str,
    words: std::str::SplitWhitespace<'a>,
}

impl<'a> Tokens<'a> {
    fn next(&mut self, what: &'static str) -> Result<&'a str, ScsiDebugError> {
        self.words.next().ok_or_else(|| ScsiDebugError::Missing {
            line: self.line.to_string(),
            what,
        })
    }

    fn bad(&self, what: &'static str, token: &str) -> ScsiDebugError {
        ScsiDebugError::BadNumber {
            line: self.line.to_string(),
            what,
            token: token.to_string(),
        }
    }

    fn decimal(&mut self, what: &'static str) -> Result<i64, ScsiDebugError> {
        let token = self.next(what)?;
        token.parse().map_err(|_| self.bad(what, token))
    }

    /// A hex number with or without `0x`, as `sscanf("%x")` reads it; at most 32 bits.
    fn hex(&mut self, what: &'static str) -> Result<u32, ScsiDebugError> {
        let token = self.next(what)?;
        let digits = token
            .strip_prefix("0x")
            .or_else(|| token.strip_prefix("0X"))
            .unwrap_or(token);
        u32::from_str_radix(digits, 16).map_err(|_| self.bad(what, token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_types() {
        let any = AddressSelector::ANY;
        let timeout = parse_line("0 -10 0x28", any).unwrap();
        assert_eq!(timeout.action, FaultAction::Timeout);
        assert_eq!(timeout.trigger.count, Count::Times(10));
        assert_eq!(timeout.commands, CommandMatch::Opcode(0x28));
        let queue = parse_line("1 1 0xff 0x1055", any).unwrap();
        assert_eq!(
            queue.action,
            FaultAction::QueueReject {
                reason: QueueRejection::HostBusy
            }
        );
        assert_eq!(queue.trigger.count, Count::Always);
        assert_eq!(queue.commands, CommandMatch::Any);
        let fail = parse_line("2 -1 0x28 0x0 0x0 0x2 0x3 0x11 0x0", any).unwrap();
        let FaultAction::Fail {
            host_byte,
            status,
            sense,
            ..
        } = fail.action
        else {
            panic!("type 2 is a failure")
        };
        assert_eq!(
            (host_byte, status),
            (HostByte::DID_OK, SamStatus::CHECK_CONDITION)
        );
        assert_eq!(
            sense.unwrap().key_code(),
            Some((SenseKey::MEDIUM_ERROR, 0x11, 0))
        );
        let host_only = parse_line("2 1 ff 7 0 0 0 0 0", any).unwrap();
        assert!(matches!(
            host_only.action,
            FaultAction::Fail {
                host_byte: HostByte::DID_ERROR,
                sense: None,
                ..
            }
        ));
        assert_eq!(
            parse_line("3 1 0x2a", any).unwrap().action,
            FaultAction::TmfFails {
                function: TmfKind::Abort
            }
        );
        assert_eq!(
            parse_line("4 -2 0xff", any).unwrap().action,
            FaultAction::TmfFails {
                function: TmfKind::Reset(Some(ResetScope::Lun))
            }
        );
    }

    #[test]
    fn errors_name_the_token() {
        let any = AddressSelector::ANY;
        let error = parse_line("2 -1 0x28 0x0 zz", any).unwrap_err().to_string();
        assert!(error.contains("driver_byte `zz`"), "{error}");
        let error = parse_line("0 -1", any).unwrap_err().to_string();
        assert!(error.contains("missing opcode"), "{error}");
        let error = parse_line("9 1 0xff", any).unwrap_err().to_string();
        assert!(error.contains("unknown type 9"), "{error}");
        let error = parse_line("0 1 0xff 0x5", any).unwrap_err().to_string();
        assert!(error.contains("extra token `0x5`"), "{error}");
        assert!(parse_line("", any).is_err());
    }
}
