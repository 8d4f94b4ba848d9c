//! Seed 000 (spec/README.md §7.1): a READ(10) of 16 blocks at LBA 0x055870 on a
//! virtio_scsi LUN. The first attempt answers VIRTIO_SCSI_S_FAILURE, every later one
//! CHECK CONDITION / ABORTED COMMAND 00h/06h. Expected: 6 attempts, BLK_STS_IOERR, the four
//! log lines then the block-layer line.
//!
//! The seed was captured on a 5.13 kernel, which printed `driverbyte=DRIVER_SENSE` and a
//! `blk_update_request: ` prefix. unjam follows the modern format of spec §4.6 and
//! kernel-observed.md (`driverbyte=DRIVER_OK`, no prefix); the tag number is the one our
//! slab assigned (the kernel's was 36).

use unjam_core::buffers::Cdb;
use unjam_core::config::Personality;
use unjam_core::harness::{explain, parse_outcome, ExplainConfig};
use unjam_scsi::BlkStatus;

const SENSE: &str = "70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00";

fn seed_000() -> ExplainConfig {
    let cdb =
        Cdb::from_slice(&[0x28, 0x00, 0x00, 0x05, 0x58, 0x70, 0x00, 0x00, 0x10, 0x00]).unwrap();
    let outcomes = vec![
        parse_outcome("virtio=FAILURE").unwrap(),
        parse_outcome(&format!("status=CHECK_CONDITION sense={SENSE}")).unwrap(),
    ];
    let mut config = ExplainConfig::new(cdb, outcomes);
    config.personality = Personality::VirtioScsi;
    config.phys_segments = 2;
    config.prio_class = 0;
    config
}

#[test]
fn seed_000_six_attempts_ioerr_and_the_log_lines_in_order() {
    let explanation = explain(&seed_000()).unwrap();
    assert!(
        explanation.violations.is_empty(),
        "{:?}",
        explanation.violations
    );
    assert_eq!(explanation.attempts, 6);
    assert_eq!(explanation.blk_status, Some(BlkStatus::IoErr));
    assert_eq!(
        explanation.dispositions,
        vec![
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "NEEDS_RETRY",
            "SUCCESS"
        ]
    );
    let tag = explanation.completion.unwrap().tag_number;
    let expected = [
        format!("sd 0:0:0:0: [sda] tag#{tag} FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s"),
        format!("sd 0:0:0:0: [sda] tag#{tag} Sense Key : Aborted Command [current] "),
        format!("sd 0:0:0:0: [sda] tag#{tag} Add. Sense: I/O process terminated"),
        format!("sd 0:0:0:0: [sda] tag#{tag} CDB: Read(10) 28 00 00 05 58 70 00 00 10 00"),
        "I/O error, dev sda, sector 350320 op 0x0:(READ) flags 0x0 phys_seg 2 prio class 0".to_string(),
    ];
    assert_eq!(explanation.log_lines, expected);
}

#[test]
fn seed_000_first_attempt_is_did_error_then_aborted_command_retries() {
    let explanation = explain(&seed_000()).unwrap();
    let path = explanation.path.join("\n");
    assert!(path.contains("hostbyte=DID_ERROR status=GOOD"), "{path}");
    assert!(path.contains("DID_ERROR → maybe_retry"), "{path}");
    assert!(path.contains("ABORTED COMMAND → NEEDS_RETRY"), "{path}");
    assert!(
        path.contains("retries 6/5): retries exhausted → SUCCESS"),
        "{path}"
    );
    assert!(path.contains("ABORTED COMMAND → FAIL"), "{path}");
}
