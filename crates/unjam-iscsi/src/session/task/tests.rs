use super::*;
use crate::pdu::{DataInStatus, TargetSequence, TaskAttribute, RESERVED_TAG};

fn read_task(length: u32) -> ScsiTask {
    let request = TaskRequest {
        lun: 0,
        cdb: Bytes::from_static(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
        direction: DataDirection::Read { length },
        attribute: TaskAttribute::Simple,
    };
    ScsiTask::new(&request, 1, 0, BytesMut::new())
}

fn write_task(length: usize, first_burst: u32) -> ScsiTask {
    let request = TaskRequest {
        lun: 0,
        cdb: Bytes::from_static(&[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
        direction: DataDirection::Write {
            data: Bytes::from(vec![0x5a; length]),
        },
        attribute: TaskAttribute::Simple,
    };
    ScsiTask::new(&request, 1, first_burst, BytesMut::new())
}

fn data_in(data_sn: u32, offset: u32, data: &'static [u8]) -> DataIn {
    DataIn {
        final_pdu: false,
        acknowledge: false,
        status: None::<DataInStatus>,
        lun: 0,
        initiator_task_tag: 1,
        target_transfer_tag: RESERVED_TAG,
        exp_cmd_sn: 1,
        max_cmd_sn: 1,
        data_sn,
        buffer_offset: offset,
        data: Bytes::from_static(data),
    }
}

fn r2t(r2t_sn: u32, offset: u32, length: u32) -> ReadyToTransfer {
    ReadyToTransfer {
        lun: 0,
        initiator_task_tag: 1,
        target_transfer_tag: 7,
        sequence: TargetSequence::default(),
        r2t_sn,
        buffer_offset: offset,
        desired_data_transfer_length: length,
    }
}

fn accept(task: &mut ScsiTask, pdu: DataIn) -> Result<(), ProtocolViolation> {
    match &mut task.transfer {
        Transfer::Read(read) => read.accept(&pdu),
        _ => panic!("not a read"),
    }
}

fn write_state(task: &mut ScsiTask) -> &mut WriteState {
    match &mut task.transfer {
        Transfer::Write(write) => write,
        _ => panic!("not a write"),
    }
}

#[test]
fn data_in_must_arrive_in_order_without_gap_overlap_or_excess() {
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcd")), Ok(()));
    assert_eq!(
        accept(&mut task, data_in(2, 4, b"efgh")),
        Err(ProtocolViolation::DataSnOutOfOrder {
            expected: 1,
            received: 2
        })
    );
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcd")), Ok(()));
    assert_eq!(
        accept(&mut task, data_in(1, 6, b"gh")),
        Err(ProtocolViolation::DataGap {
            expected: 4,
            offset: 6
        })
    );
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcd")), Ok(()));
    assert_eq!(
        accept(&mut task, data_in(1, 2, b"cdef")),
        Err(ProtocolViolation::DataOverlap {
            expected: 4,
            offset: 2
        })
    );
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcdef")), Ok(()));
    assert_eq!(
        accept(&mut task, data_in(1, 6, b"ghij")),
        Err(ProtocolViolation::DataBeyondLength {
            offset: 6,
            length: 4,
            expected: 8
        })
    );
}

#[test]
fn good_status_must_cover_exactly_the_bytes_that_arrived() {
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcd")), Ok(()));
    assert_eq!(
        task.finish(0, Residual::None),
        Err(ProtocolViolation::ReadShort {
            status: 0,
            received: 4,
            expected: 8,
            residual: Residual::None
        })
    );
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcd")), Ok(()));
    let finished = task.finish(0, Residual::Underflow(4));
    assert_eq!(
        finished,
        Ok((Bytes::from_static(b"abcd"), Residual::Underflow(4)))
    );
    // A residual that claims less than arrived, or more than was expected, is a lie.
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcdefgh")), Ok(()));
    assert!(matches!(
        task.finish(0, Residual::Underflow(4)),
        Err(ProtocolViolation::ResidualMismatch { .. })
    ));
    let mut task = read_task(8);
    assert!(matches!(
        task.finish(0, Residual::Underflow(9)),
        Err(ProtocolViolation::ResidualMismatch { .. })
    ));
    // An underflow that hides missing bytes is a mismatch too.
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"ab")), Ok(()));
    assert!(matches!(
        task.finish(0, Residual::Underflow(4)),
        Err(ProtocolViolation::ResidualMismatch { .. })
    ));
}

#[test]
fn other_statuses_report_only_what_arrived() {
    let mut task = read_task(8);
    assert_eq!(accept(&mut task, data_in(0, 0, b"abcd")), Ok(()));
    // CHECK CONDITION without a residual: the four missing bytes become the residual.
    assert_eq!(
        task.finish(2, Residual::None),
        Ok((Bytes::from_static(b"abcd"), Residual::Underflow(4)))
    );
    let mut task = read_task(8);
    assert_eq!(
        task.finish(0x08, Residual::Overflow(5)),
        Ok((Bytes::new(), Residual::Underflow(8)))
    );
    // A command without data: an underflow (found by the property test) means nothing.
    let mut task = read_task(0);
    assert_eq!(
        task.finish(0x08, Residual::Underflow(5280)),
        Ok((Bytes::new(), Residual::None))
    );
}

#[test]
fn a_write_is_good_only_when_the_claimed_bytes_were_sent() {
    let mut task = write_task(8192, 4096);
    write_state(&mut task).sent(4096, false);
    assert_eq!(
        task.finish(0, Residual::None),
        Err(ProtocolViolation::WriteStatusBeforeData {
            status: 0,
            sent: 4096,
            claimed: 8192,
            expected: 8192
        })
    );
    // The target may take fewer bytes than were sent and say so.
    assert_eq!(
        task.finish(0, Residual::Underflow(4096)),
        Ok((Bytes::new(), Residual::Underflow(4096)))
    );
    // An error status never claims the unsent half.
    assert_eq!(
        task.finish(2, Residual::None),
        Ok((Bytes::new(), Residual::Underflow(4096)))
    );
    let mut task = write_task(8192, 4096);
    write_state(&mut task).sent(4096, false);
    assert_eq!(
        write_state(&mut task).accept_r2t(&r2t(0, 4096, 4096), 65536, 1),
        Ok((4096, 8192))
    );
    write_state(&mut task).sent(8192, true);
    assert_eq!(
        task.finish(0, Residual::None),
        Ok((Bytes::new(), Residual::None))
    );
}

#[test]
fn r2ts_follow_r2t_sn_outstanding_limit_and_the_write() {
    let mut task = write_task(16_384, 0);
    let write = write_state(&mut task);
    assert_eq!(write.accept_r2t(&r2t(0, 0, 4096), 8192, 1), Ok((0, 4096)));
    assert_eq!(
        write.accept_r2t(&r2t(1, 4096, 4096), 8192, 1),
        Err(ProtocolViolation::TooManyR2ts {
            outstanding: 1,
            limit: 1
        })
    );
    write.sent(4096, true);
    assert_eq!(
        write.accept_r2t(&r2t(0, 4096, 4096), 8192, 1),
        Err(ProtocolViolation::R2tSnOutOfOrder {
            expected: 1,
            received: 0
        })
    );
    // Asking again for bytes already requested is refused: a stream of R2Ts cannot make the
    // write send more than its length.
    assert!(matches!(
        write.accept_r2t(&r2t(1, 0, 4096), 8192, 1),
        Err(ProtocolViolation::R2tOutOfRange { next: 4096, .. })
    ));
    assert!(matches!(
        write.accept_r2t(&r2t(1, 4096, 16_384), 65_536, 1),
        Err(ProtocolViolation::R2tOutOfRange { .. })
    ));
    assert!(matches!(
        write.accept_r2t(&r2t(1, 4096, 0), 65_536, 1),
        Err(ProtocolViolation::R2tOutOfRange { .. })
    ));
    assert_eq!(
        write.accept_r2t(&r2t(1, 4096, 12_288), 8192, 1),
        Err(ProtocolViolation::R2tAboveMaxBurst {
            length: 12_288,
            max_burst: 8192
        })
    );
    assert_eq!(
        write.accept_r2t(&r2t(1, 4096, 8192), 8192, 1),
        Ok((4096, 12_288))
    );
}

#[test]
fn first_burst_obeys_every_key() {
    // ImmediateData=Yes, InitialR2T=No: immediate up to MRDSL, the rest of the first burst
    // unsolicited.
    assert_eq!(
        first_burst_split(100_000, true, false, 65_536, 8192),
        (8192, 57_344)
    );
    // InitialR2T=Yes: only immediate data.
    assert_eq!(
        first_burst_split(100_000, true, true, 65_536, 8192),
        (8192, 0)
    );
    // ImmediateData=No, InitialR2T=Yes: everything waits for R2T.
    assert_eq!(
        first_burst_split(100_000, false, true, 65_536, 8192),
        (0, 0)
    );
    // A small write fits entirely.
    assert_eq!(
        first_burst_split(4096, true, false, 65_536, 8192),
        (4096, 0)
    );
}
