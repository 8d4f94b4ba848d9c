//! Property tests for response data: `parse(build(x)) == x` for every response type, and
//! parsers given arbitrary or cut bytes return errors rather than panic.

use proptest::prelude::*;
use unjam_scsi::cdb::response::{
    AccessState, Association, BlockDescriptor, BuildResponse, CachingPage, CodeSet, Designator,
    DesignatorType, DeviceIdentification, ExtendedHeader, ItemList, Lun, ModeFormat, ModePage,
    ModeParameters, Peripheral, ReadCapacity10Data, ReadCapacity16Data, RelativeTargetPort,
    ReportLunsData, ResponseError, StandardInquiry, SupportedStates, SupportedVpdPages,
    TargetPortGroup, TargetPortGroups, Tpgs, UnitSerialNumber,
};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn standard_inquiry() -> impl Strategy<Value = StandardInquiry> {
    let flags = prop::array::uniform12(any::<bool>());
    let tpgs = (0..4u8).prop_map(Tpgs::from_code);
    (
        any::<(u8, u8, u8)>(),
        0..16u8,
        flags,
        tpgs,
        any::<([u8; 8], [u8; 16], [u8; 4])>(),
    )
        .prop_map(
            |(
                (peripheral, version, additional_length),
                format,
                f,
                tpgs,
                (vendor, product, revision),
            )| {
                StandardInquiry {
                    peripheral: Peripheral(peripheral),
                    removable: f[0],
                    version,
                    normaca: f[1],
                    hisup: f[2],
                    response_data_format: format,
                    additional_length,
                    sccs: f[3],
                    acc: f[4],
                    tpgs,
                    third_party_copy: f[5],
                    protect: f[6],
                    enclosure_services: f[7],
                    multi_port: f[8],
                    cmdque: f[9],
                    vendor,
                    product,
                    revision,
                }
            },
        )
}

/// Owned parts of a designator: (protocol, code set, piv, association, type, bytes).
type DesignatorParts = (u8, u8, bool, u8, u8, Vec<u8>);

fn designator_parts() -> impl Strategy<Value = DesignatorParts> {
    (0..16u8, 0..16u8, any::<bool>(), 0..4u8, 0..16u8, bytes(256))
}

fn designator(parts: &DesignatorParts) -> Designator<'_> {
    let (protocol, code_set, piv, association, kind, designator) = parts;
    Designator {
        protocol_identifier: *protocol,
        code_set: CodeSet::from_code(*code_set),
        piv: *piv,
        association: Association::from_code(*association),
        designator_type: DesignatorType::from_code(*kind),
        designator,
    }
}

/// Owned parts of a target port group: (pref, state, supported, id, status, vendor, ports).
type GroupParts = (bool, u8, u8, u16, u8, u8, Vec<RelativeTargetPort>);

fn group_parts() -> impl Strategy<Value = GroupParts> {
    let ports = prop::collection::vec(any::<u16>().prop_map(RelativeTargetPort), 0..20);
    (
        any::<bool>(),
        0..16u8,
        any::<u8>(),
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
        ports,
    )
}

fn group(parts: &GroupParts) -> TargetPortGroup<'_> {
    let (preferred, state, supported, id, status_code, vendor_specific, ports) = parts;
    TargetPortGroup {
        preferred: *preferred,
        state: AccessState::from_code(*state),
        supported: SupportedStates(*supported),
        id: *id,
        status_code: *status_code,
        vendor_specific: *vendor_specific,
        ports: ItemList::from_items(ports),
    }
}

/// Owned parts of a mode page: (code, subpage, ps, data).
type PageParts = (u8, Option<u8>, bool, Vec<u8>);

fn page_parts() -> impl Strategy<Value = PageParts> {
    (0..=0x3fu8, any::<Option<u8>>(), any::<bool>(), bytes(256))
        .prop_filter("page_0 format holds 255 bytes", |(_, subpage, _, data)| {
            subpage.is_some() || data.len() <= 255
        })
}

fn page(parts: &PageParts) -> ModePage<'_> {
    let (page_code, subpage, parameters_saveable, data) = parts;
    ModePage {
        page_code: *page_code,
        subpage: *subpage,
        parameters_saveable: *parameters_saveable,
        data,
    }
}

fn block_descriptor(long: bool) -> impl Strategy<Value = BlockDescriptor> {
    let count_max = if long { u64::MAX } else { u64::from(u32::MAX) };
    let length_max = if long { u32::MAX } else { 0xff_ffff };
    (0..=count_max, 0..=length_max).prop_map(|(block_count, block_length)| BlockDescriptor {
        block_count,
        block_length,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn standard_inquiry_round_trips(data in standard_inquiry()) {
        let bytes = data.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), data.encoded_len());
        prop_assert_eq!(StandardInquiry::parse(&bytes), Ok(data));
    }

    #[test]
    fn supported_pages_round_trip(peripheral in any::<u8>(), pages in bytes(300)) {
        let data = SupportedVpdPages { peripheral: Peripheral(peripheral), pages: &pages };
        let bytes = data.to_vec().unwrap();
        prop_assert_eq!(SupportedVpdPages::parse(&bytes), Ok(data));
    }

    #[test]
    fn unit_serial_number_round_trips(peripheral in any::<u8>(), serial in bytes(300)) {
        let data = UnitSerialNumber { peripheral: Peripheral(peripheral), serial: &serial };
        let bytes = data.to_vec().unwrap();
        prop_assert_eq!(UnitSerialNumber::parse(&bytes), Ok(data));
    }

    #[test]
    fn device_identification_round_trips(
        peripheral in any::<u8>(),
        parts in prop::collection::vec(designator_parts(), 0..8),
    ) {
        let designators: Vec<Designator> = parts.iter().map(designator).collect();
        let data = DeviceIdentification {
            peripheral: Peripheral(peripheral),
            designators: ItemList::from_items(&designators),
        };
        let bytes = data.to_vec().unwrap();
        let parsed = DeviceIdentification::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, data);
        prop_assert_eq!(parsed.designators.iter().collect::<Vec<_>>(), designators.clone());
        prop_assert_eq!(parsed.best_lu_designator(), data.best_lu_designator());
    }

    #[test]
    fn read_capacity_10_round_trips(returned_lba in any::<u32>(), block_length in any::<u32>()) {
        let data = ReadCapacity10Data { returned_lba, block_length };
        prop_assert_eq!(ReadCapacity10Data::parse(&data.to_vec().unwrap()), Ok(data));
    }

    #[test]
    fn read_capacity_16_round_trips(
        (returned_lba, block_length) in any::<(u64, u32)>(),
        (p_type, p_i_exponent, logical_per_physical_exponent) in (0..8u8, 0..16u8, 0..16u8),
        (prot_en, lbpme, lbprz) in any::<(bool, bool, bool)>(),
        lowest_aligned_lba in 0..=0x3fffu16,
    ) {
        let data = ReadCapacity16Data {
            returned_lba,
            block_length,
            p_type,
            prot_en,
            p_i_exponent,
            logical_per_physical_exponent,
            lbpme,
            lbprz,
            lowest_aligned_lba,
        };
        let bytes = data.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), 32);
        prop_assert_eq!(ReadCapacity16Data::parse(&bytes), Ok(data));
    }

    #[test]
    fn report_luns_round_trip(numbers in prop::collection::vec(0..(1u64 << 40), 0..64)) {
        let luns: Vec<Lun> = numbers.iter().map(|n| Lun::from_number(*n).unwrap()).collect();
        let data = ReportLunsData::new(&luns);
        let bytes = data.to_vec().unwrap();
        let parsed = ReportLunsData::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, data);
        prop_assert!(parsed.is_complete());
        let decoded: Vec<Option<u64>> = parsed.luns.iter().map(|lun| lun.number()).collect();
        let expected: Vec<Option<u64>> = numbers.iter().map(|n| Some(*n)).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn mode_parameters_round_trip(
        ten in any::<bool>(),
        long_lba in any::<bool>(),
        (medium_type, device_specific) in any::<(u8, u8)>(),
        short in prop::collection::vec(block_descriptor(false), 0..3),
        long in prop::collection::vec(block_descriptor(true), 0..3),
        parts in prop::collection::vec(page_parts(), 0..4),
        caching in any::<(bool, bool, bool)>(),
    ) {
        let format = if ten { ModeFormat::Ten } else { ModeFormat::Six };
        let long_lba = ten && long_lba;
        let descriptors = if long_lba { &long } else { &short };
        let caching = CachingPage { wce: caching.0, rcd: caching.1, dra: caching.2 };
        let caching_data = caching.to_data();
        let mut pages: Vec<ModePage> = vec![CachingPage::page(&caching_data, true)];
        pages.extend(parts.iter().map(page));
        let data = ModeParameters {
            format,
            medium_type,
            device_specific,
            long_lba,
            block_descriptors: ItemList::from_items(descriptors),
            pages: ItemList::from_items(&pages),
        };
        match data.to_vec() {
            Ok(bytes) => {
                let parsed = ModeParameters::parse(&bytes, format).unwrap();
                prop_assert_eq!(parsed, data);
                prop_assert_eq!(parsed.caching_page(), Ok(Some(caching)));
            }
            // MODE SENSE(6) data holds at most 255 bytes after its length byte.
            Err(_) => prop_assert!(format == ModeFormat::Six && data.encoded_len() > 256),
        }
    }

    #[test]
    fn target_port_groups_round_trip(
        extended in any::<Option<u8>>(),
        parts in prop::collection::vec(group_parts(), 0..6),
    ) {
        let groups: Vec<TargetPortGroup> = parts.iter().map(group).collect();
        let extended = extended.map(|time| ExtendedHeader { implicit_transition_time_s: time });
        let data = TargetPortGroups { extended, groups: ItemList::from_items(&groups) };
        let bytes = data.to_vec().unwrap();
        let parsed = TargetPortGroups::parse(&bytes).unwrap();
        prop_assert_eq!(parsed, data);
        for (parsed_group, original) in parsed.groups.iter().zip(&groups) {
            prop_assert_eq!(parsed_group.ports.len(), original.ports.len());
        }
    }

    #[test]
    fn cut_responses_are_truncated(data in standard_inquiry(), cut in 0usize..36) {
        let bytes = data.to_vec().unwrap();
        let is_truncated = matches!(
            StandardInquiry::parse(&bytes[..cut]),
            Err(ResponseError::Truncated { needed: 36, .. })
        );
        prop_assert!(is_truncated);
    }

    #[test]
    fn parsers_never_panic(bytes in bytes(600)) {
        let _ = StandardInquiry::parse(&bytes);
        let _ = SupportedVpdPages::parse(&bytes);
        let _ = UnitSerialNumber::parse(&bytes).map(|page| page.text().to_string());
        if let Ok(page) = DeviceIdentification::parse(&bytes) {
            let ids: Vec<String> = page.designators.iter().map(|d| d.id().to_string()).collect();
            prop_assert_eq!(ids.len(), page.designators.len());
            // What parses builds again, and parses back to the same page.
            let rebuilt = page.to_vec().unwrap();
            prop_assert_eq!(DeviceIdentification::parse(&rebuilt), Ok(page));
        }
        let _ = ReadCapacity10Data::parse(&bytes);
        let _ = ReadCapacity16Data::parse(&bytes);
        if let Ok(data) = ReportLunsData::parse(&bytes) {
            for lun in data.luns.iter() {
                let _ = (lun.address(), lun.number(), lun.linux_number());
            }
            prop_assert!(data.luns.len() * 8 + 8 <= bytes.len());
        }
        for format in [ModeFormat::Six, ModeFormat::Ten] {
            if let Ok(data) = ModeParameters::parse(&bytes, format) {
                let _ = data.caching_page();
                prop_assert_eq!(data.pages.iter().count(), data.pages.len());
            }
        }
        if let Ok(data) = TargetPortGroups::parse(&bytes) {
            let ports: usize = data.groups.iter().map(|group| group.ports.len()).sum();
            prop_assert!(ports * 4 <= bytes.len());
        }
    }
}
