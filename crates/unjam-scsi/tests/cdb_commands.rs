//! Property tests for CDBs: `parse(build(x)) == x` for every typed command, through its
//! own type and through `ScsiCommand`; the raw-byte helpers agree with the typed ones;
//! arbitrary bytes never panic the parser.

use proptest::prelude::*;
use unjam_scsi::cdb::{
    data_direction, expected_transfer_len, is_medium_access, lba_and_block_count, Cdb, CdbError,
    DataDirection, Inquiry, ModeSense10, ModeSense6, PageControl, PowerCondition,
    PreventAllowMediumRemoval, Read10, Read16, Read6, ReadCapacity10, ReadCapacity16, ReportLuns,
    ReportTargetPortGroups, RequestSense, ScsiCommand, StartStopUnit, SynchronizeCache10,
    SynchronizeCache16, TestUnitReady, Write10, Write16, Write6, MAX_BLOCKS_6, MAX_LBA_6,
};

fn page_control() -> impl Strategy<Value = PageControl> {
    prop_oneof![
        Just(PageControl::Current),
        Just(PageControl::Changeable),
        Just(PageControl::Default),
        Just(PageControl::Saved),
    ]
}

fn power_condition() -> impl Strategy<Value = PowerCondition> {
    prop_oneof![
        Just(PowerCondition::StartValid),
        Just(PowerCondition::Active),
        Just(PowerCondition::Idle),
        Just(PowerCondition::Standby),
        Just(PowerCondition::LuControl),
        Just(PowerCondition::ForceIdle0),
        Just(PowerCondition::ForceStandby0),
    ]
}

fn block_commands() -> impl Strategy<Value = ScsiCommand> {
    let six = (0..=MAX_LBA_6, 1..=MAX_BLOCKS_6);
    prop_oneof![
        six.clone()
            .prop_map(|(lba, blocks)| ScsiCommand::Read6(Read6 { lba, blocks })),
        six.prop_map(|(lba, blocks)| ScsiCommand::Write6(Write6 { lba, blocks })),
        any::<(u32, u16, bool, bool)>().prop_map(|(lba, blocks, fua, dpo)| {
            ScsiCommand::Read10(Read10 {
                lba,
                blocks,
                fua,
                dpo,
            })
        }),
        any::<(u32, u16, bool, bool)>().prop_map(|(lba, blocks, fua, dpo)| {
            ScsiCommand::Write10(Write10 {
                lba,
                blocks,
                fua,
                dpo,
            })
        }),
        any::<(u64, u32, bool, bool)>().prop_map(|(lba, blocks, fua, dpo)| {
            ScsiCommand::Read16(Read16 {
                lba,
                blocks,
                fua,
                dpo,
            })
        }),
        any::<(u64, u32, bool, bool)>().prop_map(|(lba, blocks, fua, dpo)| {
            ScsiCommand::Write16(Write16 {
                lba,
                blocks,
                fua,
                dpo,
            })
        }),
        any::<(bool, u32, u16)>().prop_map(|(immed, lba, blocks)| {
            ScsiCommand::SynchronizeCache10(SynchronizeCache10 { immed, lba, blocks })
        }),
        any::<(bool, u64, u32)>().prop_map(|(immed, lba, blocks)| {
            ScsiCommand::SynchronizeCache16(SynchronizeCache16 { immed, lba, blocks })
        }),
    ]
}

fn other_commands() -> impl Strategy<Value = ScsiCommand> {
    prop_oneof![
        Just(ScsiCommand::TestUnitReady(TestUnitReady)),
        Just(ScsiCommand::ReadCapacity10(ReadCapacity10)),
        any::<(bool, u8)>().prop_map(|(descriptor_format, allocation_length)| {
            ScsiCommand::RequestSense(RequestSense {
                descriptor_format,
                allocation_length,
            })
        }),
        (any::<Option<u8>>(), any::<u16>()).prop_map(|(page, allocation_length)| {
            ScsiCommand::Inquiry(Inquiry {
                page,
                allocation_length,
            })
        }),
        any::<u32>().prop_map(|allocation_length| {
            ScsiCommand::ReadCapacity16(ReadCapacity16 { allocation_length })
        }),
        (
            any::<bool>(),
            power_condition(),
            any::<(bool, bool, bool)>()
        )
            .prop_map(|(immed, power_condition, (no_flush, loej, start))| {
                ScsiCommand::StartStopUnit(StartStopUnit {
                    immed,
                    power_condition,
                    no_flush,
                    loej,
                    start,
                })
            }),
        any::<bool>().prop_map(|prevent| {
            ScsiCommand::PreventAllowMediumRemoval(PreventAllowMediumRemoval { prevent })
        }),
        any::<(u8, u32)>().prop_map(|(select_report, allocation_length)| {
            ScsiCommand::ReportLuns(ReportLuns {
                select_report,
                allocation_length,
            })
        }),
        (any::<bool>(), page_control(), 0..=0x3fu8, any::<(u8, u8)>()).prop_map(
            |(dbd, page_control, page_code, (subpage, allocation_length))| {
                ScsiCommand::ModeSense6(ModeSense6 {
                    dbd,
                    page_control,
                    page_code,
                    subpage,
                    allocation_length,
                })
            }
        ),
        (
            any::<(bool, bool)>(),
            page_control(),
            0..=0x3fu8,
            any::<(u8, u16)>()
        )
            .prop_map(
                |((llbaa, dbd), page_control, page_code, (subpage, allocation_length))| {
                    ScsiCommand::ModeSense10(ModeSense10 {
                        llbaa,
                        dbd,
                        page_control,
                        page_code,
                        subpage,
                        allocation_length,
                    })
                }
            ),
        any::<(bool, u32)>().prop_map(|(extended, allocation_length)| {
            ScsiCommand::ReportTargetPortGroups(ReportTargetPortGroups {
                extended,
                allocation_length,
            })
        }),
    ]
}

fn any_command() -> impl Strategy<Value = ScsiCommand> {
    prop_oneof![block_commands(), other_commands()]
}

/// Parses `cdb` with the command's own type, which must give back the command.
fn typed_parse(command: &ScsiCommand, cdb: &[u8]) -> Result<ScsiCommand, CdbError> {
    Ok(match command {
        ScsiCommand::TestUnitReady(_) => ScsiCommand::TestUnitReady(TestUnitReady::parse(cdb)?),
        ScsiCommand::RequestSense(_) => ScsiCommand::RequestSense(RequestSense::parse(cdb)?),
        ScsiCommand::Inquiry(_) => ScsiCommand::Inquiry(Inquiry::parse(cdb)?),
        ScsiCommand::ReadCapacity10(_) => ScsiCommand::ReadCapacity10(ReadCapacity10::parse(cdb)?),
        ScsiCommand::ReadCapacity16(_) => ScsiCommand::ReadCapacity16(ReadCapacity16::parse(cdb)?),
        ScsiCommand::Read6(_) => ScsiCommand::Read6(Read6::parse(cdb)?),
        ScsiCommand::Read10(_) => ScsiCommand::Read10(Read10::parse(cdb)?),
        ScsiCommand::Read16(_) => ScsiCommand::Read16(Read16::parse(cdb)?),
        ScsiCommand::Write6(_) => ScsiCommand::Write6(Write6::parse(cdb)?),
        ScsiCommand::Write10(_) => ScsiCommand::Write10(Write10::parse(cdb)?),
        ScsiCommand::Write16(_) => ScsiCommand::Write16(Write16::parse(cdb)?),
        ScsiCommand::SynchronizeCache10(_) => {
            ScsiCommand::SynchronizeCache10(SynchronizeCache10::parse(cdb)?)
        }
        ScsiCommand::SynchronizeCache16(_) => {
            ScsiCommand::SynchronizeCache16(SynchronizeCache16::parse(cdb)?)
        }
        ScsiCommand::StartStopUnit(_) => ScsiCommand::StartStopUnit(StartStopUnit::parse(cdb)?),
        ScsiCommand::PreventAllowMediumRemoval(_) => {
            ScsiCommand::PreventAllowMediumRemoval(PreventAllowMediumRemoval::parse(cdb)?)
        }
        ScsiCommand::ReportLuns(_) => ScsiCommand::ReportLuns(ReportLuns::parse(cdb)?),
        ScsiCommand::ModeSense6(_) => ScsiCommand::ModeSense6(ModeSense6::parse(cdb)?),
        ScsiCommand::ModeSense10(_) => ScsiCommand::ModeSense10(ModeSense10::parse(cdb)?),
        ScsiCommand::ReportTargetPortGroups(_) => {
            ScsiCommand::ReportTargetPortGroups(ReportTargetPortGroups::parse(cdb)?)
        }
        ScsiCommand::Other(_) => ScsiCommand::Other(Cdb::from_slice(cdb)?),
    })
}

/// The CDB length the group code of `opcode` implies (SPC-5 4.2.5.1).
fn group_len(opcode: u8) -> usize {
    match opcode >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn every_command_round_trips(command in any_command()) {
        let cdb = command.build().unwrap();
        prop_assert_eq!(cdb.len(), group_len(command.opcode()));
        prop_assert_eq!(ScsiCommand::parse(cdb.as_slice()), Ok(command));
        prop_assert_eq!(typed_parse(&command, cdb.as_slice()), Ok(command));
        // An iSCSI CDB field pads a short CDB to 16 bytes; the padding is ignored.
        let mut padded = [0u8; 16];
        for (slot, byte) in padded.iter_mut().zip(cdb.as_slice()) {
            *slot = *byte;
        }
        prop_assert_eq!(ScsiCommand::parse(&padded), Ok(command));
    }

    #[test]
    fn raw_helpers_agree_with_typed_commands(command in any_command(), block_size in 1u32..=65536) {
        let cdb = command.build().unwrap();
        let bytes = cdb.as_slice();
        prop_assert_eq!(lba_and_block_count(bytes), command.lba_and_block_count());
        prop_assert_eq!(is_medium_access(bytes), command.is_medium_access());
        prop_assert_eq!(data_direction(bytes), command.data_direction());
        prop_assert!(command.data_direction().is_some());
        let expected = expected_transfer_len(bytes, block_size);
        prop_assert_eq!(expected, command.expected_transfer_len(block_size));
        if let Some((_, blocks)) = command.lba_and_block_count() {
            prop_assert_eq!(expected, Some(u64::from(blocks) * u64::from(block_size)));
        }
        if command.data_direction() == Some(DataDirection::NoData) {
            prop_assert_eq!(expected, Some(0));
        }
    }

    #[test]
    fn short_cdbs_are_errors_not_panics(command in any_command(), cut in 1usize..16) {
        let cdb = command.build().unwrap();
        let cut = cut.min(cdb.len() - 1);
        let short = &cdb.as_slice()[..cut];
        let parsed = typed_parse(&command, short);
        let is_too_short = matches!(parsed, Err(CdbError::TooShort { .. }));
        let is_wrong_action = matches!(parsed, Err(CdbError::WrongServiceAction { .. }));
        prop_assert!(is_too_short || is_wrong_action, "{:?}", parsed);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = lba_and_block_count(&bytes);
        let _ = is_medium_access(&bytes);
        let _ = expected_transfer_len(&bytes, 512);
        if let Ok(command) = ScsiCommand::parse(&bytes) {
            let _ = command.to_string();
            // What parses builds again, and the rebuilt CDB parses to the same command.
            let rebuilt = command.build().unwrap();
            prop_assert_eq!(ScsiCommand::parse(rebuilt.as_slice()), Ok(command));
        }
    }

    #[test]
    fn unknown_opcodes_are_kept_as_bytes(
        opcode in prop_oneof![0x40u8..=0x59, 0xc0u8..=0xff],
        rest in prop::collection::vec(any::<u8>(), 0..31),
    ) {
        let mut bytes = vec![opcode];
        bytes.extend_from_slice(&rest);
        let command = ScsiCommand::parse(&bytes).unwrap();
        prop_assert_eq!(command, ScsiCommand::Other(Cdb::from_slice(&bytes).unwrap()));
        let rebuilt = command.build().unwrap();
        prop_assert_eq!(rebuilt.as_slice(), &bytes[..]);
    }
}

#[test]
fn out_of_range_fields_do_not_build() {
    let too_far = ScsiCommand::Read6(Read6 {
        lba: MAX_LBA_6 + 1,
        blocks: 1,
    });
    assert!(matches!(
        too_far.build(),
        Err(CdbError::FieldOutOfRange { field: "lba", .. })
    ));
    let zero = ScsiCommand::Write6(Write6 { lba: 0, blocks: 0 });
    assert!(matches!(
        zero.build(),
        Err(CdbError::FieldOutOfRange {
            field: "blocks",
            ..
        })
    ));
    let page = ModeSense10 {
        llbaa: false,
        dbd: false,
        page_control: PageControl::Current,
        page_code: 0x40,
        subpage: 0,
        allocation_length: 0,
    };
    assert!(page.build().is_err());
}

#[test]
fn service_action_opcodes_with_other_actions_are_other() {
    let mut get_lba_status = [0u8; 16];
    get_lba_status[0] = 0x9e;
    get_lba_status[1] = 0x12;
    let command = ScsiCommand::parse(&get_lba_status).unwrap();
    assert!(matches!(command, ScsiCommand::Other(_)));
    assert_eq!(command.name().to_string(), "Get LBA Status(16)");
    assert_eq!(command.data_direction(), None);
    assert_eq!(command.expected_transfer_len(512), None);
}

#[test]
fn read6_length_zero_is_256_blocks_everywhere() {
    let cdb = [0x08, 0x01, 0x02, 0x03, 0x00, 0x00];
    let command = ScsiCommand::parse(&cdb).unwrap();
    assert_eq!(
        command,
        ScsiCommand::Read6(Read6 {
            lba: 0x010203,
            blocks: 256
        })
    );
    assert_eq!(lba_and_block_count(&cdb), Some((0x010203, 256)));
    assert_eq!(expected_transfer_len(&cdb, 512), Some(256 * 512));
    assert_eq!(
        command.to_string(),
        "Read(6): lba=0x10203 (66051) blocks=256"
    );
}
