use super::table::{RANGES, STANDARD};
use super::*;

fn text(asc: u8, ascq: u8) -> String {
    lookup(asc, ascq).to_string()
}

#[test]
fn standard_rows_are_sorted_unique_and_non_empty() {
    for pair in STANDARD.windows(2) {
        if let [(a0, q0, _), (a1, q1, _)] = pair {
            assert!(
                (a0, q0) < (a1, q1),
                "{a0:02x}/{q0:02x} before {a1:02x}/{q1:02x}"
            );
        }
    }
    for &(asc, ascq, text) in STANDARD {
        assert!(
            asc < VENDOR_ASC_FIRST,
            "{asc:02x}/{ascq:02x} in vendor space"
        );
        assert!(
            !text.is_empty() && text.trim() == text,
            "{asc:02x}/{ascq:02x}"
        );
    }
    assert!(STANDARD.len() > 700, "the full SPC list has over 700 rows");
}

#[test]
fn well_known_codes() {
    assert_eq!(text(0x00, 0x00), "No additional sense information");
    assert_eq!(text(0x00, 0x06), "I/O process terminated");
    assert_eq!(
        text(0x04, 0x01),
        "Logical unit is in process of becoming ready"
    );
    assert_eq!(text(0x11, 0x00), "Unrecovered read error");
    assert_eq!(text(0x20, 0x00), "Invalid command operation code");
    assert_eq!(text(0x24, 0x00), "Invalid field in cdb");
    assert_eq!(
        text(0x29, 0x00),
        "Power on, reset, or bus device reset occurred"
    );
    assert_eq!(text(0x2a, 0x06), "Asymmetric access state changed");
    assert_eq!(text(0x3a, 0x00), "Medium not present");
    assert_eq!(text(0x3f, 0x0e), "Reported luns data has changed");
    assert_eq!(
        text(0x5d, 0xff),
        "Failure prediction threshold exceeded (false)"
    );
    assert!(
        lookup(0x5d, 0xff).is_assigned(),
        "5D/FF is standard despite ASCQ >= 80h"
    );
}

#[test]
fn range_entries_name_the_qualifier() {
    assert_eq!(text(0x40, 0x85), "Diagnostic failure on component [0x85]");
    assert_eq!(text(0x40, 0x80), "Diagnostic failure on component [0x80]");
    assert_eq!(text(0x40, 0x05), "Ram failure [0x5]");
    assert_eq!(text(0x4d, 0x00), "Tagged overlapped commands [0x0]");
    assert_eq!(text(0x4d, 0xab), "Tagged overlapped commands [0xab]");
    assert_eq!(
        text(0x70, 0x12),
        "Decompression exception short algorithm id of 0x12"
    );
    assert_eq!(text(0x41, 0xff), "Data path failure [0xff]");
    assert_eq!(text(0x42, 0x01), "Power-on or self-test failure [0x1]");
    let AdditionalSense::Range { ascq, range } = lookup(0x4d, 0x33) else {
        panic!("4D/33 is a range entry");
    };
    assert_eq!((range.asc, ascq), (0x4d, 0x33));
    assert!(range.in_current_spc);
}

#[test]
fn exact_rows_win_over_ranges() {
    assert_eq!(text(0x40, 0x00), "Ram failure (should use 40 nn)");
    assert_eq!(text(0x41, 0x00), "Data path failure (should use 40 nn)");
    assert_eq!(
        text(0x42, 0x00),
        "Power-on or self-test failure (should use 40 nn)"
    );
    assert!(matches!(
        lookup(0x40, 0x00),
        AdditionalSense::Standard { .. }
    ));
}

#[test]
fn ranges_do_not_overlap_each_other() {
    for (index, first) in RANGES.iter().enumerate() {
        for second in RANGES.iter().skip(index + 1) {
            let disjoint = first.asc != second.asc
                || first.last_ascq < second.first_ascq
                || second.last_ascq < first.first_ascq;
            assert!(disjoint, "{first:?} overlaps {second:?}");
        }
    }
}

#[test]
fn vendor_specific_rules() {
    let vendor = lookup(0x80, 0x12);
    assert_eq!(
        vendor,
        AdditionalSense::VendorAsc {
            asc: 0x80,
            ascq: 0x12
        }
    );
    assert_eq!(vendor.to_string(), "vendor specific ASC=80, ASCQ=12 (hex)");
    assert!(lookup(0xff, 0x00).is_vendor_specific());
    assert!(lookup(0xc3, 0x99).is_vendor_specific());

    let qualifier = lookup(0x12, 0x80);
    assert_eq!(
        qualifier,
        AdditionalSense::VendorAscq {
            asc: 0x12,
            ascq: 0x80
        }
    );
    assert_eq!(
        qualifier.to_string(),
        "ASC=12, vendor specific qualification ASCQ=80 (hex)"
    );
    assert!(lookup(0x04, 0xfe).is_vendor_specific());
    assert!(!lookup(0x04, 0x01).is_vendor_specific());
}

#[test]
fn unassigned_codes_print_the_numbers() {
    let unknown = lookup(0x12, 0x34);
    assert_eq!(
        unknown,
        AdditionalSense::Unassigned {
            asc: 0x12,
            ascq: 0x34
        }
    );
    assert_eq!(unknown.to_string(), "ASC=12, ASCQ=34 (hex)");
    assert_eq!(text(0x01, 0x05), "ASC=01, ASCQ=05 (hex)");
    assert_eq!(text(0x3c, 0x00), "ASC=3c, ASCQ=00 (hex)");
    assert!(!unknown.is_assigned());
    assert!(!unknown.is_vendor_specific());
}

#[test]
fn every_pair_has_an_answer_that_echoes_its_codes() {
    for asc in 0..=u8::MAX {
        for ascq in 0..=u8::MAX {
            let sense = lookup(asc, ascq);
            assert_eq!((sense.asc(), sense.ascq()), (asc, ascq));
            assert!(!sense.to_string().is_empty());
        }
    }
}
