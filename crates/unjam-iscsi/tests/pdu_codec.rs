//! Round trips of every PDU through encode → decode, with and without digests, plus the
//! decoder's limits and digest checks.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use unjam_iscsi::pdu::*;

fn data_strategy() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

fn sequence_strategy() -> impl Strategy<Value = TargetSequence> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(stat_sn, exp_cmd_sn, max_cmd_sn)| {
        TargetSequence {
            stat_sn,
            exp_cmd_sn,
            max_cmd_sn,
        }
    })
}

fn residual_strategy() -> impl Strategy<Value = Residual> {
    prop_oneof![
        Just(Residual::None),
        any::<u32>().prop_map(Residual::Underflow),
        any::<u32>().prop_map(Residual::Overflow),
    ]
}

fn stage_strategy() -> impl Strategy<Value = LoginStage> {
    prop_oneof![
        Just(LoginStage::SecurityNegotiation),
        Just(LoginStage::OperationalNegotiation),
        Just(LoginStage::FullFeature),
    ]
}

fn scsi_pdus() -> impl Strategy<Value = Pdu> {
    prop_oneof![
        (
            any::<(bool, bool, bool, bool, u64, u32, u32, u32, u32)>(),
            any::<[u8; 16]>(),
            data_strategy()
        )
            .prop_map(
                |((immediate, final_pdu, read, write, lun, itt, edtl, cmd_sn, exp), cdb, data)| {
                    Pdu::ScsiCommand(ScsiCommand {
                        immediate,
                        final_pdu,
                        read,
                        write,
                        attribute: TaskAttribute::Simple,
                        lun,
                        initiator_task_tag: itt,
                        expected_data_transfer_length: edtl,
                        cmd_sn,
                        exp_stat_sn: exp,
                        cdb,
                        data,
                    })
                }
            ),
        (
            residual_strategy(),
            residual_strategy(),
            any::<(u8, u8, u32, u32, u32)>(),
            sequence_strategy(),
            data_strategy()
        )
            .prop_map(
                |(
                    bidirectional_residual,
                    residual,
                    (response, status, itt, snack_tag, exp_data_sn),
                    sequence,
                    data,
                )| {
                    Pdu::ScsiResponse(ScsiResponse {
                        bidirectional_residual,
                        residual,
                        response,
                        status,
                        initiator_task_tag: itt,
                        snack_tag,
                        sequence,
                        exp_data_sn,
                        data,
                    })
                }
            ),
        (
            any::<(bool, u64, u32, u32, u32, u32, u32)>(),
            data_strategy()
        )
            .prop_map(|((final_pdu, lun, itt, ttt, exp, data_sn, offset), data)| {
                Pdu::DataOut(DataOut {
                    final_pdu,
                    lun,
                    initiator_task_tag: itt,
                    target_transfer_tag: ttt,
                    exp_stat_sn: exp,
                    data_sn,
                    buffer_offset: offset,
                    data,
                })
            }),
        (
            any::<(bool, bool, u64, u32, u32, u32, u32, u32, u32)>(),
            proptest::option::of((any::<(u8, u32)>(), residual_strategy())),
            data_strategy()
        )
            .prop_map(
                |(
                    (final_pdu, acknowledge, lun, itt, ttt, exp, max, data_sn, offset),
                    status,
                    data,
                )| {
                    let status = status.map(|((status, stat_sn), residual)| DataInStatus {
                        status,
                        stat_sn,
                        residual,
                    });
                    Pdu::DataIn(DataIn {
                        final_pdu: final_pdu || status.is_some(),
                        acknowledge,
                        status,
                        lun,
                        initiator_task_tag: itt,
                        target_transfer_tag: ttt,
                        exp_cmd_sn: exp,
                        max_cmd_sn: max,
                        data_sn,
                        buffer_offset: offset,
                        data,
                    })
                }
            ),
        (any::<(u64, u32, u32, u32, u32, u32)>(), sequence_strategy()).prop_map(
            |((lun, itt, ttt, r2t_sn, offset, length), sequence)| {
                Pdu::ReadyToTransfer(ReadyToTransfer {
                    lun,
                    initiator_task_tag: itt,
                    target_transfer_tag: ttt.min(RESERVED_TAG - 1),
                    sequence,
                    r2t_sn,
                    buffer_offset: offset,
                    desired_data_transfer_length: length,
                })
            }
        ),
    ]
}

fn session_pdus() -> impl Strategy<Value = Pdu> {
    prop_oneof![
        (
            any::<(bool, bool, u8, u8, [u8; 6], u16, u32, u16, u32, u32)>(),
            stage_strategy(),
            stage_strategy(),
            data_strategy()
        )
            .prop_map(
                |(
                    (transit, cont, max, min, isid, tsih, itt, cid, cmd_sn, exp),
                    current_stage,
                    next_stage,
                    data,
                )| {
                    Pdu::LoginRequest(LoginRequest {
                        transit,
                        cont,
                        current_stage,
                        next_stage,
                        version_max: max,
                        version_min: min,
                        isid,
                        tsih,
                        initiator_task_tag: itt,
                        cid,
                        cmd_sn,
                        exp_stat_sn: exp,
                        data,
                    })
                }
            ),
        (
            any::<(bool, bool, u8, u8, [u8; 6], u16, u32, u8, u8)>(),
            stage_strategy(),
            stage_strategy(),
            sequence_strategy(),
            data_strategy()
        )
            .prop_map(
                |(
                    (transit, cont, max, active, isid, tsih, itt, class, detail),
                    current_stage,
                    next_stage,
                    sequence,
                    data,
                )| {
                    Pdu::LoginResponse(LoginResponse {
                        transit,
                        cont,
                        current_stage,
                        next_stage,
                        version_max: max,
                        version_active: active,
                        isid,
                        tsih,
                        initiator_task_tag: itt,
                        sequence,
                        status_class: class,
                        status_detail: detail,
                        data,
                    })
                }
            ),
        (
            any::<(bool, bool, bool, u64, u32, u32, u32, u32)>(),
            data_strategy()
        )
            .prop_map(
                |((immediate, final_pdu, cont, lun, itt, ttt, cmd_sn, exp), data)| {
                    Pdu::TextRequest(TextRequest {
                        immediate,
                        final_pdu,
                        cont,
                        lun,
                        initiator_task_tag: itt,
                        target_transfer_tag: ttt,
                        cmd_sn,
                        exp_stat_sn: exp,
                        data,
                    })
                }
            ),
        (
            any::<(bool, bool, u64, u32, u32)>(),
            sequence_strategy(),
            data_strategy()
        )
            .prop_map(|((final_pdu, cont, lun, itt, ttt), sequence, data)| {
                Pdu::TextResponse(TextResponse {
                    final_pdu,
                    cont,
                    lun,
                    initiator_task_tag: itt,
                    target_transfer_tag: ttt,
                    sequence,
                    data,
                })
            }),
        (
            any::<(bool, u32, u16, u32, u32)>(),
            prop_oneof![
                Just(LogoutReason::CloseSession),
                Just(LogoutReason::CloseConnection),
                Just(LogoutReason::RemoveConnectionForRecovery)
            ]
        )
            .prop_map(|((immediate, itt, cid, cmd_sn, exp), reason)| {
                Pdu::LogoutRequest(LogoutRequest {
                    immediate,
                    reason,
                    initiator_task_tag: itt,
                    cid,
                    cmd_sn,
                    exp_stat_sn: exp,
                })
            }),
        (any::<(u8, u32, u16, u16)>(), sequence_strategy()).prop_map(
            |((response, itt, wait, retain), sequence)| {
                Pdu::LogoutResponse(LogoutResponse {
                    response,
                    initiator_task_tag: itt,
                    sequence,
                    time_to_wait_s: wait,
                    time_to_retain_s: retain,
                })
            }
        ),
    ]
}

fn control_pdus() -> impl Strategy<Value = Pdu> {
    let functions = prop_oneof![
        Just(TaskManagementFunction::AbortTask),
        Just(TaskManagementFunction::AbortTaskSet),
        Just(TaskManagementFunction::ClearAca),
        Just(TaskManagementFunction::ClearTaskSet),
        Just(TaskManagementFunction::LogicalUnitReset),
        Just(TaskManagementFunction::TargetWarmReset),
        Just(TaskManagementFunction::TargetColdReset),
        Just(TaskManagementFunction::TaskReassign),
    ];
    prop_oneof![
        (any::<(bool, u64, u32, u32, u32, u32)>(), data_strategy()).prop_map(
            |((immediate, lun, itt, ttt, cmd_sn, exp), data)| {
                Pdu::NopOut(NopOut {
                    immediate,
                    lun,
                    initiator_task_tag: itt,
                    target_transfer_tag: ttt,
                    cmd_sn,
                    exp_stat_sn: exp,
                    data,
                })
            }
        ),
        (
            any::<(u64, u32, u32)>(),
            sequence_strategy(),
            data_strategy()
        )
            .prop_map(|((lun, itt, ttt), sequence, data)| {
                Pdu::NopIn(NopIn {
                    lun,
                    initiator_task_tag: itt,
                    target_transfer_tag: ttt,
                    sequence,
                    data,
                })
            }),
        (
            any::<(bool, u64, u32, u32, u32, u32, u32, u32)>(),
            functions
        )
            .prop_map(
                |((immediate, lun, itt, rtt, cmd_sn, exp, ref_sn, data_sn), function)| {
                    Pdu::TaskManagementRequest(TaskManagementRequest {
                        immediate,
                        function,
                        lun,
                        initiator_task_tag: itt,
                        referenced_task_tag: rtt,
                        cmd_sn,
                        exp_stat_sn: exp,
                        ref_cmd_sn: ref_sn,
                        exp_data_sn: data_sn,
                    })
                }
            ),
        (any::<(u8, u32)>(), sequence_strategy()).prop_map(|((response, itt), sequence)| {
            Pdu::TaskManagementResponse(TaskManagementResponse {
                response,
                initiator_task_tag: itt,
                sequence,
            })
        }),
        (
            any::<(u64, u8, u8, u16, u16, u16)>(),
            sequence_strategy(),
            data_strategy()
        )
            .prop_map(|((lun, event, vendor_code, p1, p2, p3), sequence, data)| {
                Pdu::AsyncMessage(AsyncMessage {
                    lun,
                    sequence,
                    event,
                    vendor_code,
                    parameter1: p1,
                    parameter2: p2,
                    parameter3: p3,
                    data,
                })
            }),
        (any::<(u8, u32)>(), sequence_strategy(), data_strategy()).prop_map(
            |((reason, data_sn), sequence, data)| {
                Pdu::Reject(Reject {
                    reason,
                    sequence,
                    data_sn,
                    data,
                })
            }
        ),
    ]
}

fn any_pdu() -> impl Strategy<Value = Pdu> {
    prop_oneof![scsi_pdus(), session_pdus(), control_pdus()]
}

fn digests_strategy() -> impl Strategy<Value = Digests> {
    any::<(bool, bool)>().prop_map(|(header, data)| Digests { header, data })
}

proptest! {
    #[test]
    fn every_pdu_round_trips(pdu in any_pdu(), digests in digests_strategy()) {
        let mut wire = Vec::new();
        prop_assert!(encode_pdu(&pdu, digests, &mut wire).is_ok());
        prop_assert_eq!(wire.len() % 4, 0, "padded to 4 bytes");
        let decoder = PduDecoder::new(1 << 16, digests);
        let mut buffer = BytesMut::from(&wire[..]);
        let decoded = decoder.decode(&mut buffer);
        prop_assert_eq!(decoded, Ok(Some(pdu)));
        prop_assert!(buffer.is_empty());
    }

    #[test]
    fn decoding_byte_by_byte_gives_the_same_pdus(pdus in proptest::collection::vec(any_pdu(), 1..4), digests in digests_strategy()) {
        let mut wire = Vec::new();
        for pdu in &pdus {
            prop_assert!(encode_pdu(pdu, digests, &mut wire).is_ok());
        }
        let decoder = PduDecoder::new(1 << 16, digests);
        let mut buffer = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in wire {
            buffer.extend_from_slice(&[byte]);
            while let Ok(Some(pdu)) = decoder.decode(&mut buffer) {
                decoded.push(pdu);
            }
        }
        prop_assert_eq!(decoded, pdus);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), digests in digests_strategy()) {
        let decoder = PduDecoder::new(256, digests);
        let mut buffer = BytesMut::from(&bytes[..]);
        for _ in 0..8 {
            match decoder.decode(&mut buffer) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }
}

fn nop_in_with_data(length: usize) -> Pdu {
    Pdu::NopIn(NopIn {
        lun: 0,
        initiator_task_tag: 7,
        target_transfer_tag: RESERVED_TAG,
        sequence: TargetSequence::default(),
        data: Bytes::from(vec![0xa5; length]),
    })
}

#[test]
fn oversized_data_segment_is_refused_before_buffering() {
    let mut wire = Vec::new();
    assert!(encode_pdu(&nop_in_with_data(1000), Digests::default(), &mut wire).is_ok());
    // Only the header has arrived: the length check must already fire.
    let mut buffer = BytesMut::from(&wire[..BHS_LENGTH]);
    let decoder = PduDecoder::new(512, Digests::default());
    assert_eq!(
        decoder.decode(&mut buffer),
        Err(PduError::DataSegmentTooLong {
            length: 1000,
            limit: 512
        })
    );
}

#[test]
fn corrupted_digests_are_detected() {
    let digests = Digests {
        header: true,
        data: true,
    };
    let mut wire = Vec::new();
    assert!(encode_pdu(&nop_in_with_data(10), digests, &mut wire).is_ok());
    let decoder = PduDecoder::new(8192, digests);

    let mut header_hit = wire.clone();
    header_hit[20] ^= 1;
    let result = decoder.decode(&mut BytesMut::from(&header_hit[..]));
    assert!(matches!(result, Err(PduError::HeaderDigest { .. })));

    let mut data_hit = wire.clone();
    data_hit[BHS_LENGTH + 4 + 3] ^= 1;
    let result = decoder.decode(&mut BytesMut::from(&data_hit[..]));
    assert!(matches!(result, Err(PduError::DataDigest { .. })));
}

#[test]
fn digest_matches_the_rfc_3720_test_vector() {
    // RFC 3720 B.4: 32 bytes of zeros have CRC32C 0x8a9136aa, sent as aa 36 91 8a.
    let pdu = Pdu::NopOut(NopOut {
        immediate: false,
        lun: 0,
        initiator_task_tag: 0,
        target_transfer_tag: 0,
        cmd_sn: 0,
        exp_stat_sn: 0,
        data: Bytes::from(vec![0u8; 32]),
    });
    let mut wire = Vec::new();
    let digests = Digests {
        header: false,
        data: true,
    };
    assert!(encode_pdu(&pdu, digests, &mut wire).is_ok());
    assert_eq!(&wire[wire.len() - 4..], &[0xaa, 0x36, 0x91, 0x8a]);
}

#[test]
fn data_segment_is_padded_with_zeros() {
    let mut wire = Vec::new();
    assert!(encode_pdu(&nop_in_with_data(5), Digests::default(), &mut wire).is_ok());
    assert_eq!(wire.len(), BHS_LENGTH + 8);
    assert_eq!(&wire[BHS_LENGTH + 5..], &[0, 0, 0]);
    assert_eq!(
        &wire[5..8],
        &[0, 0, 5],
        "DataSegmentLength excludes padding"
    );
}

#[test]
fn unknown_opcode_and_bad_fields_are_typed_errors() {
    let mut header = [0u8; BHS_LENGTH];
    header[0] = 0x1c;
    let decoder = PduDecoder::new(8192, Digests::default());
    let result = decoder.decode(&mut BytesMut::from(&header[..]));
    assert_eq!(result, Err(PduError::UnknownOpcode(0x1c)));

    header[0] = Opcode::DataIn as u8;
    header[1] = 0x01; // S without F
    let result = decoder.decode(&mut BytesMut::from(&header[..]));
    assert!(matches!(result, Err(PduError::InvalidField { .. })));

    header[0] = Opcode::ScsiResponse as u8;
    header[1] = 0x80 | 0x06; // O and U together
    let result = decoder.decode(&mut BytesMut::from(&header[..]));
    assert!(matches!(result, Err(PduError::InvalidField { .. })));
}

#[test]
fn sense_is_split_from_its_length_prefix() {
    assert_eq!(
        split_sense(&[0, 3, 0x70, 0, 5, 0xff]),
        Ok(&[0x70, 0, 5][..])
    );
    assert_eq!(split_sense(&[]), Ok(&[][..]));
    assert!(split_sense(&[0, 9, 1]).is_err());
}
