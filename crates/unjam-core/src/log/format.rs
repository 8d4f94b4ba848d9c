//! The text of the result, sense and CDB lines (spec §4.6, `scsi_logging.c`). Each
//! command line is built in a 128-byte buffer and silently truncated, as the kernel does.

use std::fmt::Write;

use unjam_scsi::cdb::opcode_name;
use unjam_scsi::ScsiResult;

use crate::buffers::SenseBuffer;

/// The kernel's per-line buffer (`SCSI_LOG_BUFSIZE`), header included.
const LINE_BUFFER: usize = 128;

/// `FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s`.
pub fn result_line(result: ScsiResult, cmd_age_s: u64) -> String {
    let host = match result.host().log_name() {
        Some(name) => name.to_string(),
        None => format!("0x{:02x}", result.host().0),
    };
    format!("FAILED Result: hostbyte={host} driverbyte=DRIVER_OK cmd_age={cmd_age_s}s")
}

/// `Sense Key : Aborted Command [current] ` (with a trailing space), or `None` when the
/// buffer holds no valid sense.
pub fn sense_key_line(sense: &SenseBuffer) -> Option<String> {
    let header = sense.header()?;
    let mut line = format!("Sense Key : {} ", header.key.name());
    line.push_str(if header.is_deferred() {
        "[deferred] "
    } else {
        "[current] "
    });
    if header.is_descriptor() {
        line.push_str("[descriptor] ");
    }
    Some(line)
}

/// `Add. Sense: <text>`, or `ASC=0x%x ASCQ=0x%x ` for a code without text.
pub fn additional_sense(sense: &SenseBuffer) -> String {
    let Some(header) = sense.header() else {
        return String::from("Add. Sense: ");
    };
    let (asc, ascq) = (header.asc, header.ascq);
    match asc_text(asc, ascq) {
        Some(text) => format!("Add. Sense: {text}"),
        None => {
            let mut line = String::from("Add. Sense: ");
            if asc >= 0x80 {
                line.push_str("<<vendor>> ");
            }
            let _ = write!(line, "ASC=0x{asc:x} ");
            if ascq >= 0x80 {
                line.push_str("<<vendor>> ");
            }
            let _ = write!(line, "ASCQ=0x{ascq:x} ");
            line
        }
    }
}

/// `CDB: Read(10) 28 00 00 05 58 70 00 00 10 00`, truncated like the kernel's buffer.
pub fn cdb_line(cdb: &[u8]) -> String {
    let mut line = format!("CDB: {}", opcode_name(cdb));
    for byte in cdb.iter().take(16) {
        let _ = write!(line, " {byte:02x}");
    }
    line.truncate(LINE_BUFFER - 1);
    line
}

/// The ASC/ASCQ text from unjam-scsi's table: a standard entry prints its text, a range
/// entry its text followed by `(<ascq hex>)`; anything else has no text.
fn asc_text(asc: u8, ascq: u8) -> Option<String> {
    match unjam_scsi::asc::lookup(asc, ascq) {
        unjam_scsi::asc::AdditionalSense::Standard { text, .. } => Some(text.to_string()),
        unjam_scsi::asc::AdditionalSense::Range { range, .. } => {
            Some(format!("{} ({ascq:x})", range.text))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unjam_scsi::{HostByte, MlStatus, SamStatus};

    #[test]
    fn result_line_names_the_host_byte() {
        let result = ScsiResult::new(HostByte::DID_TIME_OUT, MlStatus::OK, SamStatus::GOOD);
        assert_eq!(
            result_line(result, 30),
            "FAILED Result: hostbyte=DID_TIME_OUT driverbyte=DRIVER_OK cmd_age=30s"
        );
        let marginal = ScsiResult::OK.with_host(HostByte::DID_TRANSPORT_MARGINAL);
        assert_eq!(
            result_line(marginal, 0),
            "FAILED Result: hostbyte=0x14 driverbyte=DRIVER_OK cmd_age=0s"
        );
    }

    #[test]
    fn sense_key_line_has_a_trailing_space() {
        let sense = SenseBuffer::from_slice(&[0x70, 0, 0x0b, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0, 6]);
        assert_eq!(
            sense_key_line(&sense).unwrap(),
            "Sense Key : Aborted Command [current] "
        );
        let descriptor = SenseBuffer::from_slice(&[0x73, 0x03, 0x11, 0x00]);
        assert_eq!(
            sense_key_line(&descriptor).unwrap(),
            "Sense Key : Medium Error [deferred] [descriptor] "
        );
        assert_eq!(sense_key_line(&SenseBuffer::EMPTY), None);
    }

    #[test]
    fn unknown_asc_prints_the_codes() {
        let sense =
            SenseBuffer::from_slice(&[0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x90, 0x81]);
        assert_eq!(
            additional_sense(&sense),
            "Add. Sense: <<vendor>> ASC=0x90 <<vendor>> ASCQ=0x81 "
        );
    }

    #[test]
    fn cdb_line_matches_seed_000() {
        let cdb = [0x28, 0, 0, 0x05, 0x58, 0x70, 0, 0, 0x10, 0];
        assert_eq!(
            cdb_line(&cdb),
            "CDB: Read(10) 28 00 00 05 58 70 00 00 10 00"
        );
    }
}
