//! Fuzz target `cdb`: every CDB and response-data parser in `unjam_scsi::cdb` on arbitrary
//! bytes. None may panic; whatever parses must build again and parse back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use unjam_scsi::cdb::response::{
    BuildResponse, DeviceIdentification, ModeFormat, ModeParameters, ReadCapacity10Data,
    ReadCapacity16Data, ReportLunsData, ResponseError, StandardInquiry, SupportedVpdPages,
    TargetPortGroups, UnitSerialNumber,
};
use unjam_scsi::cdb::{
    data_direction, expected_transfer_len, is_medium_access, lba_and_block_count, ScsiCommand,
};

fuzz_target!(|data: &[u8]| {
    fuzz_cdb(data);
    fuzz_responses(data);
});

fn fuzz_cdb(data: &[u8]) {
    let _ = (is_medium_access(data), lba_and_block_count(data));
    let _ = (data_direction(data), expected_transfer_len(data, 4096));
    if let Ok(command) = ScsiCommand::parse(data) {
        let _ = command.to_string();
        let rebuilt = command.build().expect("a parsed command builds");
        assert_eq!(ScsiCommand::parse(rebuilt.as_slice()), Ok(command));
        assert_eq!(
            command.lba_and_block_count(),
            lba_and_block_count(rebuilt.as_slice())
        );
    }
}

/// Parses, and for what parses: builds, and parses the built bytes back to the same value.
macro_rules! round_trip {
    ($parsed:expr, $reparse:expr) => {
        if let Ok(value) = $parsed {
            let bytes = value.to_vec().expect("parsed data builds");
            assert_eq!($reparse(&bytes), Ok(value));
        }
    };
}

fn fuzz_responses(data: &[u8]) {
    round_trip!(StandardInquiry::parse(data), StandardInquiry::parse);
    round_trip!(SupportedVpdPages::parse(data), SupportedVpdPages::parse);
    round_trip!(UnitSerialNumber::parse(data), UnitSerialNumber::parse);
    round_trip!(
        DeviceIdentification::parse(data),
        DeviceIdentification::parse
    );
    round_trip!(ReadCapacity10Data::parse(data), ReadCapacity10Data::parse);
    round_trip!(ReadCapacity16Data::parse(data), ReadCapacity16Data::parse);
    round_trip!(ReportLunsData::parse(data), ReportLunsData::parse);
    round_trip!(TargetPortGroups::parse(data), TargetPortGroups::parse);
    round_trip!(mode_sense_6(data), mode_sense_6);
    round_trip!(mode_sense_10(data), mode_sense_10);
    for parameters in [mode_sense_6(data), mode_sense_10(data)]
        .into_iter()
        .flatten()
    {
        let _ = parameters.caching_page();
    }
    if let Ok(page) = DeviceIdentification::parse(data) {
        let _ = page.best_lu_designator().map(|d| d.id().to_string());
    }
    if let Ok(luns) = ReportLunsData::parse(data) {
        for lun in luns.luns {
            let _ = (lun.address(), lun.number(), lun.linux_number());
        }
    }
}

fn mode_sense_6(bytes: &[u8]) -> Result<ModeParameters<'_>, ResponseError> {
    ModeParameters::parse(bytes, ModeFormat::Six)
}

fn mode_sense_10(bytes: &[u8]) -> Result<ModeParameters<'_>, ResponseError> {
    ModeParameters::parse(bytes, ModeFormat::Ten)
}
