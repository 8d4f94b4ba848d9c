//! Property tests for sense data: `parse(build(x)) == x` in both formats with every
//! descriptor type, the kernel-exact normalisation agreeing with what was built, and
//! arbitrary bytes never panicking (and re-building to the same value when they parse).

use proptest::collection::vec;
use proptest::prelude::*;
use unjam_scsi::sense::{
    information, AtaStatusReturn, BuildError, Descriptor, Descriptors, DirectAccessBlockDevice,
    FixedFields, OsdAttributes, ProgressIndication, SenseBody, SenseData, SenseHeader, SenseKey,
    SenseKeySpecificField, SenseReport, SENSE_BUFFER_SIZE,
};

/// Owned stand-in for [`Descriptor`], whose raw variants borrow their bytes.
#[derive(Clone, Debug)]
enum OwnedDescriptor {
    Typed(Descriptor<'static>),
    OsdAttributes(Vec<u8>),
    Other { kind: u8, data: Vec<u8> },
}

impl OwnedDescriptor {
    fn as_descriptor(&self) -> Descriptor<'_> {
        match self {
            OwnedDescriptor::Typed(descriptor) => *descriptor,
            OwnedDescriptor::OsdAttributes(entries) => Descriptor::OsdAttributeIdentification {
                attributes: OsdAttributes::new(entries).expect("whole 8-byte entries"),
            },
            OwnedDescriptor::Other { kind, data } => Descriptor::Other { kind: *kind, data },
        }
    }
}

#[derive(Clone, Debug)]
struct Header {
    deferred: bool,
    key: SenseKey,
    asc: u8,
    ascq: u8,
    sdat_overflow: bool,
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(deferred, key, asc, ascq, sdat_overflow)| Header {
            deferred,
            key: SenseKey::new(key),
            asc,
            ascq,
            sdat_overflow,
        })
}

fn specific_field() -> impl Strategy<Value = SenseKeySpecificField> {
    any::<[u8; 3]>().prop_map(SenseKeySpecificField)
}

fn common_descriptor() -> impl Strategy<Value = Descriptor<'static>> {
    prop_oneof![
        (any::<bool>(), any::<u64>())
            .prop_map(|(valid, information)| Descriptor::Information { valid, information }),
        any::<u64>().prop_map(|information| Descriptor::CommandSpecific { information }),
        specific_field().prop_map(Descriptor::SenseKeySpecific),
        any::<u8>().prop_map(|code| Descriptor::FieldReplaceableUnit { code }),
        any::<[bool; 3]>().prop_map(|[filemark, end_of_medium, incorrect_length]| {
            Descriptor::StreamCommands {
                filemark,
                end_of_medium,
                incorrect_length,
            }
        }),
        any::<bool>().prop_map(|incorrect_length| Descriptor::BlockCommands { incorrect_length }),
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u16>()).prop_map(
            |(key, asc, ascq, progress)| Descriptor::ProgressIndication {
                key: SenseKey::new(key),
                asc,
                ascq,
                progress: ProgressIndication(progress),
            }
        ),
    ]
}

fn less_common_descriptor() -> impl Strategy<Value = Descriptor<'static>> {
    prop_oneof![
        (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
            |(not_initiated_functions, completed_functions, partition_id, object_id)| {
                Descriptor::OsdObjectIdentification {
                    not_initiated_functions,
                    completed_functions,
                    partition_id,
                    object_id,
                }
            }
        ),
        any::<[u8; 32]>()
            .prop_map(|check_value| Descriptor::OsdResponseIntegrityCheck { check_value }),
        (any::<(bool, u8, u16, u8, u8)>(), 0..1u64 << 48).prop_map(
            |((extend, error, count, device, status), lba)| {
                Descriptor::AtaStatusReturn(AtaStatusReturn {
                    extend,
                    error,
                    count,
                    lba,
                    device,
                    status,
                })
            }
        ),
        (any::<(bool, bool, u8, u64, u64)>(), specific_field()).prop_map(
            |((valid, incorrect_length, unit, information, command_specific), specific)| {
                Descriptor::DirectAccessBlockDevice(DirectAccessBlockDevice {
                    valid,
                    incorrect_length,
                    sense_key_specific: specific,
                    field_replaceable_unit: unit,
                    information,
                    command_specific,
                })
            }
        ),
    ]
}

fn descriptor() -> impl Strategy<Value = OwnedDescriptor> {
    prop_oneof![
        4 => common_descriptor().prop_map(OwnedDescriptor::Typed),
        2 => less_common_descriptor().prop_map(OwnedDescriptor::Typed),
        1 => vec(any::<[u8; 8]>(), 0..4)
            .prop_map(|entries| OwnedDescriptor::OsdAttributes(entries.concat())),
        2 => (prop_oneof![0x0bu8..=0x0c, 0x0eu8..=0xff], vec(any::<u8>(), 0..24))
            .prop_map(|(kind, data)| OwnedDescriptor::Other { kind, data }),
    ]
}

#[derive(Clone, Debug)]
struct OwnedFixed {
    valid: bool,
    information: u32,
    flags: [bool; 3],
    command_specific: u32,
    field_replaceable_unit: u8,
    sense_key_specific: SenseKeySpecificField,
    additional: Vec<u8>,
}

fn fixed() -> impl Strategy<Value = OwnedFixed> {
    (
        any::<(bool, u32, [bool; 3], u32, u8)>(),
        specific_field(),
        vec(any::<u8>(), 0..=245),
    )
        .prop_map(
            |((valid, information, flags, command_specific, unit), specific, additional)| {
                OwnedFixed {
                    valid,
                    information,
                    flags,
                    command_specific,
                    field_replaceable_unit: unit,
                    sense_key_specific: specific,
                    additional,
                }
            },
        )
}

fn sense<'a>(header: &Header, body: SenseBody<'a>) -> SenseData<'a> {
    SenseData {
        deferred: header.deferred,
        key: header.key,
        asc: header.asc,
        ascq: header.ascq,
        sdat_overflow: header.sdat_overflow,
        body,
    }
}

fn fixed_fields(owned: &OwnedFixed) -> FixedFields<'_> {
    let [filemark, end_of_medium, incorrect_length] = owned.flags;
    FixedFields {
        valid: owned.valid,
        information: owned.information,
        filemark,
        end_of_medium,
        incorrect_length,
        command_specific: owned.command_specific,
        field_replaceable_unit: owned.field_replaceable_unit,
        sense_key_specific: owned.sense_key_specific,
        additional: &owned.additional,
    }
}

/// The kernel's normalisation reads back the header that was built.
fn assert_normalizes_to(bytes: &[u8], built: &SenseData<'_>) -> Result<(), TestCaseError> {
    let header = SenseHeader::normalize(bytes).expect("built sense normalises");
    prop_assert_eq!(header.response_code, built.response_code());
    prop_assert_eq!(header.is_deferred(), built.deferred);
    prop_assert_eq!(header.key, built.key);
    prop_assert_eq!((header.asc, header.ascq), (built.asc, built.ascq));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn fixed_round_trips(header in header(), owned in fixed()) {
        let built = sense(&header, SenseBody::Fixed(fixed_fields(&owned)));
        let bytes = built.to_bytes().expect("at most 245 additional bytes build");
        prop_assert_eq!(bytes.len(), 18 + owned.additional.len());
        prop_assert_eq!(SenseData::parse(&bytes), Ok(built));
        assert_normalizes_to(&bytes, &built)?;
        prop_assert_eq!(information(&bytes), owned.valid.then_some(u64::from(owned.information)));
    }

    #[test]
    fn descriptor_round_trips(header in header(), owned in vec(descriptor(), 0..8)) {
        let list: Vec<Descriptor<'_>> = owned.iter().map(OwnedDescriptor::as_descriptor).collect();
        let built = sense(&header, SenseBody::Descriptor(Descriptors::from_slice(&list)));
        let bytes = match built.to_bytes() {
            Ok(bytes) => bytes,
            Err(BuildError::TooLong { length }) => {
                prop_assert!(length > 255);
                return Ok(());
            }
            Err(error) => return Err(TestCaseError::fail(format!("build failed: {error}"))),
        };
        let parsed = SenseData::parse(&bytes);
        prop_assert_eq!(parsed, Ok(built));
        assert_normalizes_to(&bytes, &built)?;
        // The kernel keeps 96 bytes of sense: an information descriptor past them is lost.
        let kernel_information = Descriptors::from_slice(&list)
            .iter()
            .scan(8usize, |offset, descriptor| {
                let start = *offset;
                let mut encoded = Vec::new();
                let one = sense(&header, SenseBody::Descriptor(Descriptors::from_slice(
                    std::slice::from_ref(&descriptor),
                )));
                one.encode_into(&mut encoded).ok()?;
                *offset += encoded.len() - 8;
                Some((start + encoded.len() - 8, descriptor))
            })
            .find_map(|(end, descriptor)| match descriptor {
                Descriptor::Information { information, .. } if end <= SENSE_BUFFER_SIZE => {
                    Some(information)
                }
                _ => None,
            });
        prop_assert_eq!(information(&bytes), kernel_information);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_rebuild_the_same(bytes in vec(any::<u8>(), 0..300)) {
        let _ = SenseReport::new(&bytes).to_string();
        let _ = SenseData::parse_partial(&bytes);
        if let Ok(parsed) = SenseData::parse(&bytes) {
            let rebuilt = parsed.to_bytes().expect("parsed sense builds");
            prop_assert_eq!(SenseData::parse(&rebuilt), Ok(parsed));
        }
    }

    #[test]
    fn sense_shaped_bytes_never_panic(
        code in prop_oneof![0x70u8..=0x73, 0xf0u8..=0xf3],
        rest in vec(any::<u8>(), 0..120),
    ) {
        let mut bytes = vec![code];
        bytes.extend_from_slice(&rest);
        let _ = SenseReport::new(&bytes).to_string();
        if let Ok(parsed) = SenseData::parse(&bytes) {
            let rebuilt = parsed.to_bytes().expect("parsed sense builds");
            prop_assert_eq!(SenseData::parse(&rebuilt), Ok(parsed));
        }
    }
}
