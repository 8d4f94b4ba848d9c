//! Unit tests for the full parser, the builder and the report. Property tests live in
//! `tests/sense_roundtrip.rs`; the comparison with sg_decode_sense in `tests/sense_vs_sg3.rs`.

use super::*;

/// Seed 000: ABORTED COMMAND, I/O process terminated.
const SEED_000: [u8; 18] = [
    0x70, 0, 0x0b, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x00, 0x06, 0, 0, 0, 0,
];

fn descriptor_sense(descriptors: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x72, 0x05, 0x24, 0x00, 0, 0, 0, descriptors.len() as u8];
    bytes.extend_from_slice(descriptors);
    bytes
}

#[test]
fn fixed_seed_000() {
    let sense = SenseData::parse(&SEED_000).unwrap();
    assert_eq!(sense.format(), SenseFormat::Fixed);
    assert!(!sense.deferred);
    assert_eq!(sense.key, SenseKey::ABORTED_COMMAND);
    assert_eq!((sense.asc, sense.ascq), (0x00, 0x06));
    assert_eq!(sense.information(), None);
    assert_eq!(sense.sense_key_specific(), None);
    assert_eq!(sense.to_bytes().unwrap(), SEED_000);
    assert_eq!(
        sense.additional_sense().to_string(),
        "I/O process terminated"
    );
}

#[test]
fn fixed_fields_and_flags() {
    let bytes = [
        0xf1, 0x00, 0xe3, 0x00, 0x05, 0x58, 0x70, 0x0e, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x00, 0x2a,
        0x80, 0x00, 0x07, 0x01, 0x02, 0x03, 0x04,
    ];
    let sense = SenseData::parse(&bytes).unwrap();
    assert!(sense.deferred);
    assert_eq!(sense.response_code(), 0x71);
    assert_eq!(sense.key, SenseKey::MEDIUM_ERROR);
    assert_eq!(sense.information(), Some(0x0005_5870));
    assert_eq!(sense.command_specific(), Some(0xdead_beef));
    assert_eq!(sense.field_replaceable_unit(), Some(0x2a));
    assert_eq!(
        sense.sense_key_specific(),
        Some(SenseKeySpecific::ActualRetryCount(7))
    );
    let flags = sense.stream_flags();
    assert!(flags.filemark && flags.end_of_medium && flags.incorrect_length);
    let SenseBody::Fixed(fixed) = sense.body else {
        panic!("fixed format expected");
    };
    assert_eq!(fixed.additional, &[1, 2, 3, 4]);
    assert_eq!(sense.to_bytes().unwrap(), bytes);
}

#[test]
fn fixed_additional_length_bounds_the_fields() {
    let mut bytes = SEED_000;
    bytes[7] = 4; // effective length 12: ASC and ASCQ lie outside it
    bytes[12] = 0x11;
    let sense = SenseData::parse(&bytes).unwrap();
    assert_eq!((sense.asc, sense.ascq), (0, 0));
    // A longer buffer than the additional length says: the tail is ignored.
    let mut long = SEED_000.to_vec();
    long.extend_from_slice(&[0xaa; 6]);
    let sense = SenseData::parse(&long).unwrap();
    let SenseBody::Fixed(fixed) = sense.body else {
        panic!("fixed format expected");
    };
    assert!(fixed.additional.is_empty());
}

#[test]
fn fixed_short_buffer_reads_missing_fields_as_zero() {
    // Additional length claims 10 bytes but the transport kept only 14 bytes in all.
    let sense = SenseData::parse(&SEED_000[..14]).unwrap();
    assert_eq!((sense.asc, sense.ascq), (0x00, 0x06));
    assert_eq!(sense.field_replaceable_unit(), None);
}

#[test]
fn header_errors() {
    assert_eq!(SenseData::parse(&[]), Err(SenseError::Empty));
    assert_eq!(SenseData::parse(&[0x00; 18]), Err(SenseError::NotSense(0)));
    assert_eq!(
        SenseData::parse(&[0x65; 18]),
        Err(SenseError::NotSense(0x65))
    );
    assert_eq!(
        SenseData::parse(&[0x7f, 0, 0, 0, 0, 0, 0, 0]),
        Err(SenseError::UnsupportedResponseCode(0x7f))
    );
    assert_eq!(
        SenseData::parse(&[0xf4, 0, 0, 0, 0, 0, 0, 0]),
        Err(SenseError::UnsupportedResponseCode(0x74))
    );
    assert_eq!(
        SenseData::parse(&SEED_000[..7]),
        Err(SenseError::TruncatedHeader { length: 7 })
    );
    assert_eq!(
        SenseData::parse(&[0x72, 5, 0x24]),
        Err(SenseError::TruncatedHeader { length: 3 })
    );
}

#[test]
fn descriptor_information_and_command_specific() {
    let bytes = descriptor_sense(&[
        0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, // information
        0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0x56, 0x78, // command specific
    ]);
    let sense = SenseData::parse(&bytes).unwrap();
    assert_eq!(sense.format(), SenseFormat::Descriptor);
    assert_eq!(sense.information(), Some(0x1234_5678));
    assert_eq!(information(&bytes), Some(0x1234_5678));
    assert_eq!(sense.command_specific(), Some(0x5678));
    assert_eq!(sense.to_bytes().unwrap(), bytes);
}

#[test]
fn descriptor_information_valid_bit() {
    let bytes = descriptor_sense(&[0x00, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34]);
    let sense = SenseData::parse(&bytes).unwrap();
    assert_eq!(sense.information(), None, "SPC: VALID clear");
    assert_eq!(
        information(&bytes),
        Some(0x1234),
        "the kernel ignores VALID"
    );
}

#[test]
fn descriptor_truncated_inside_additional_length() {
    // Additional length 12, but the information descriptor says 10 and only 9 follow.
    let mut bytes = descriptor_sense(&[0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x12]);
    bytes[7] = 12;
    assert_eq!(
        SenseData::parse(&bytes),
        Err(SenseError::TruncatedDescriptor {
            offset: 8,
            needed: 12,
            available: 11
        })
    );
    // A single stray byte after a whole descriptor.
    let bytes = descriptor_sense(&[0x03, 0x02, 0x00, 0x7f, 0x80]);
    assert_eq!(
        SenseData::parse(&bytes),
        Err(SenseError::TruncatedDescriptor {
            offset: 12,
            needed: 2,
            available: 1
        })
    );
}

#[test]
fn descriptor_with_wrong_length_for_its_type() {
    let bytes = descriptor_sense(&[0x00, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        SenseData::parse(&bytes),
        Err(SenseError::DescriptorLength {
            offset: 8,
            kind: 0,
            length: 8
        })
    );
    let bytes = descriptor_sense(&[0x08, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert!(matches!(
        SenseData::parse(&bytes),
        Err(SenseError::DescriptorLength { kind: 0x08, .. })
    ));
}

#[test]
fn descriptor_area_is_clipped_to_the_buffer_and_the_length() {
    // Additional length 0 with descriptor bytes after it: they are not descriptors.
    let mut bytes = descriptor_sense(&[0x03, 0x02, 0x00, 0x7f]);
    bytes[7] = 0;
    let sense = SenseData::parse(&bytes).unwrap();
    let SenseBody::Descriptor(descriptors) = sense.body else {
        panic!("descriptor format expected");
    };
    assert!(descriptors.is_empty());
    // Additional length past the end of the buffer: the buffer wins.
    let mut bytes = descriptor_sense(&[0x03, 0x02, 0x00, 0x7f]);
    bytes[7] = 200;
    let sense = SenseData::parse(&bytes).unwrap();
    assert_eq!(sense.field_replaceable_unit(), Some(0x7f));
}

#[test]
fn common_descriptor_types() {
    let bytes = descriptor_sense(&[
        0x02, 0x06, 0, 0, 0xc0, 0x00, 0x02, 0, // sense key specific: CDB byte 2
        0x03, 0x02, 0, 0x7f, // FRU
        0x04, 0x02, 0, 0xe0, // stream commands
        0x05, 0x02, 0, 0x20, // block commands
        0x0a, 0x06, 0x02, 0x04, 0x01, 0, 0x80, 0x00, // another progress indication
        0x80, 0x03, 1, 2, 3, // vendor specific
    ]);
    let sense = SenseData::parse(&bytes).unwrap();
    assert_eq!(
        sense.sense_key_specific(),
        Some(SenseKeySpecific::FieldPointer {
            in_command: true,
            bit_pointer: None,
            field_pointer: 2
        })
    );
    assert_eq!(sense.field_replaceable_unit(), Some(0x7f));
    let flags = sense.stream_flags();
    assert!(flags.filemark && flags.end_of_medium && flags.incorrect_length);
    let SenseBody::Descriptor(descriptors) = sense.body else {
        panic!("descriptor format expected");
    };
    let all: Vec<Descriptor<'_>> = descriptors.iter().collect();
    assert_eq!(all.len(), 6);
    assert_eq!(
        all[4],
        Descriptor::ProgressIndication {
            key: SenseKey::NOT_READY,
            asc: 0x04,
            ascq: 0x01,
            progress: ProgressIndication(0x8000)
        }
    );
    assert_eq!(
        all[5],
        Descriptor::Other {
            kind: 0x80,
            data: &[1, 2, 3]
        }
    );
    assert_eq!(sense.to_bytes().unwrap(), bytes);
}

#[test]
fn ata_status_return_register_order() {
    let bytes = descriptor_sense(&[
        0x09, 0x0c, 0x01, 0x04, 0x00, 0x05, 0x00, 0x06, 0x00, 0x07, 0x00, 0x08, 0x40, 0x50,
    ]);
    let sense = SenseData::parse(&bytes).unwrap();
    let SenseBody::Descriptor(descriptors) = sense.body else {
        panic!("descriptor format expected");
    };
    assert_eq!(
        descriptors.find(kind::ATA_STATUS_RETURN),
        Some(Descriptor::AtaStatusReturn(AtaStatusReturn {
            extend: true,
            error: 0x04,
            count: 0x05,
            lba: 0x08_0706,
            device: 0x40,
            status: 0x50
        }))
    );
    assert_eq!(sense.to_bytes().unwrap(), bytes);
}

#[test]
fn build_rejects_what_would_not_parse_back() {
    let raw_information = [Descriptor::Other {
        kind: 0x00,
        data: &[0; 10],
    }];
    let sense = SenseData {
        deferred: false,
        key: SenseKey::ILLEGAL_REQUEST,
        asc: 0x24,
        ascq: 0,
        sdat_overflow: false,
        body: SenseBody::Descriptor(Descriptors::from_slice(&raw_information)),
    };
    assert_eq!(
        sense.to_bytes(),
        Err(BuildError::RawDescriptorOfTypedKind { kind: 0 })
    );
    let long = [0u8; 246];
    let fixed = SenseData {
        body: SenseBody::Fixed(FixedFields {
            additional: &long,
            ..FixedFields::default()
        }),
        ..sense
    };
    assert_eq!(fixed.to_bytes(), Err(BuildError::TooLong { length: 256 }));
    let ata = [Descriptor::AtaStatusReturn(AtaStatusReturn {
        lba: 1 << 48,
        ..AtaStatusReturn::default()
    })];
    let with_ata = SenseData {
        body: SenseBody::Descriptor(Descriptors::from_slice(&ata)),
        ..sense
    };
    assert!(matches!(
        with_ata.to_bytes(),
        Err(BuildError::AtaLbaTooLarge { .. })
    ));
    let mut out = vec![9];
    assert!(with_ata.encode_into(&mut out).is_err());
    assert_eq!(out, [9], "a failed build leaves the output as it was");
}

#[test]
fn report_fixed_matches_sg_decode_sense_wording() {
    let report = SenseReport::new(&SEED_000).to_string();
    assert_eq!(
        report,
        "Fixed format, current; Sense key: Aborted Command\n\
         Additional sense: I/O process terminated\n"
    );
    let bytes = [
        0xf0, 0, 0x03, 0x00, 0x05, 0x58, 0x70, 0x0a, 0, 0, 0, 0, 0x11, 0x00, 0, 0, 0, 0,
    ];
    let report = SenseReport::new(&bytes).to_string();
    assert!(report.contains("Sense key: Medium Error\n"), "{report}");
    assert!(
        report.contains("Additional sense: Unrecovered read error\n"),
        "{report}"
    );
    assert!(report.contains("  Info fld=0x55870 [350320]\n"), "{report}");
}

#[test]
fn report_descriptor_and_deferred() {
    let mut bytes = descriptor_sense(&[0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34]);
    bytes[0] = 0x73;
    let report = SenseReport::new(&bytes).to_string();
    assert_eq!(
        report,
        "Descriptor format, <<<deferred>>>; Sense key: Illegal Request\n\
         Additional sense: Invalid field in cdb\n  \
         Descriptor type: Information: 0x0000000000001234\n"
    );
}

#[test]
fn report_unknown_codes_and_parse_failures() {
    let mut bytes = SEED_000;
    bytes[12] = 0x80;
    bytes[13] = 0x12;
    let report = SenseReport::new(&bytes).to_string();
    assert!(
        report.contains("\nvendor specific ASC=80, ASCQ=12 (hex)\n"),
        "{report}"
    );

    let bytes = descriptor_sense(&[0x00, 0x08, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    let report = SenseReport::new(&bytes).to_string();
    assert!(report.starts_with("Descriptor format, current; Sense key: Illegal Request\n"));
    assert!(report.contains("Additional sense: Invalid field in cdb\n"));
    assert!(
        report.contains(">> cannot decode further: descriptor type 0x00"),
        "{report}"
    );

    let short = [0xf0, 0x00, 0x05, 0x12, 0x34, 0x56, 0x78];
    let report = SenseReport::new(&short).to_string();
    assert!(
        report.contains("  Info fld=0x12345678 [305419896]\n"),
        "{report}"
    );
    assert!(!report.contains("Additional sense"), "{report}");

    assert_eq!(SenseReport::new(&[]).to_string(), "Empty sense buffer\n");
    assert!(SenseReport::new(&[0x7f, 1, 2])
        .to_string()
        .starts_with("Vendor specific sense buffer, in hex:\n    7f 01 02\n"));
    assert!(SenseReport::new(&[0x12])
        .to_string()
        .starts_with("Not sense data (response code 0x12)"));
}

#[test]
fn garbage_never_panics() {
    // Every 1- and 2-byte buffer, and every first byte with a descriptor-shaped tail.
    for first in 0..=u8::MAX {
        let _ = SenseData::parse(&[first]);
        let _ = SenseReport::new(&[first]).to_string();
        for second in 0..=u8::MAX {
            let tail = [first, second, 0x24, 0, 0, 0, 0, second, second, first, 0, 0];
            let _ = SenseData::parse(&tail);
            let _ = SenseReport::new(&tail).to_string();
        }
    }
}
