//! Large Data-In received in place (`Session::read_target` / `Session::handle_read`): the
//! bytes of a data segment go straight into the reading task's buffer, whatever the sizes
//! of the socket reads, with and without digests; a Data-In that breaks a rule is not placed
//! and fails exactly as a whole one does; a bad digest or a connection lost in the middle of
//! a segment never yields good data.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use unjam_iscsi::login::LoginOutcome;
use unjam_iscsi::params::OperationalParams;
use unjam_iscsi::pdu::*;
use unjam_iscsi::session::*;

fn session(digests: bool) -> Session {
    let params = OperationalParams {
        header_digest: digests,
        data_digest: digests,
        ..OperationalParams::default()
    };
    let login = LoginOutcome {
        params,
        tsih: 1,
        next_stat_sn: 10,
        cmd_sn: 1,
        exp_cmd_sn: 1,
        max_cmd_sn: 64,
        target_alias: None,
        target_portal_group_tag: None,
    };
    Session::new(&login, SessionConfig::default(), Instant::now())
}

/// The driver drops the connection: the read `tag` fails as lost, with no data.
fn assert_lost_with_no_data(session: &mut Session, tag: u32) {
    session.fail_all();
    let finished = done(session);
    assert!(
        matches!(
            finished.as_slice(),
            [(t, Err(TaskFailure::ConnectionLost { sent: true }))] if *t == tag
        ),
        "{finished:?}"
    );
}

fn read(session: &mut Session, length: u32) -> u32 {
    let request = TaskRequest {
        lun: 0,
        cdb: Bytes::from_static(&[0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
        direction: DataDirection::Read { length },
        attribute: TaskAttribute::Simple,
    };
    let id = session.submit(request);
    id.map(|id| id.0).unwrap_or_else(|error| panic!("{error}"))
}

/// Bytes that differ at every offset, so a misplaced byte shows.
fn pattern(offset: usize, length: usize) -> Vec<u8> {
    (offset..offset + length)
        .map(|i| (i % 251) as u8 ^ (i >> 8) as u8)
        .collect()
}

fn data_in(tag: u32, data_sn: u32, offset: u32, length: usize, last: bool) -> Pdu {
    Pdu::DataIn(DataIn {
        final_pdu: last,
        acknowledge: false,
        status: last.then_some(DataInStatus {
            status: 0,
            stat_sn: 10 + data_sn,
            residual: Residual::None,
        }),
        lun: 0,
        initiator_task_tag: tag,
        target_transfer_tag: RESERVED_TAG,
        exp_cmd_sn: 2,
        max_cmd_sn: 64,
        data_sn,
        buffer_offset: offset,
        data: Bytes::from(pattern(offset as usize, length)),
    })
}

fn wire(session: &Session, pdus: &[Pdu]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for pdu in pdus {
        encode_pdu(pdu, session.digests(), &mut bytes).unwrap_or_else(|error| panic!("{error}"));
    }
    bytes
}

/// Feeds `stream` to the session as a driver does, in socket reads of at most `chunk`
/// bytes into whatever `read_target` names; returns the first error.
fn feed(session: &mut Session, stream: &[u8], chunk: usize) -> Result<(), SessionError> {
    let decoder = PduDecoder::new(262_144, session.digests());
    let mut read_buffer = BytesMut::with_capacity(64 * 1024);
    let mut position = 0;
    while position < stream.len() {
        let mut target = session.read_target(&mut read_buffer);
        let count = chunk
            .min(target.remaining_mut())
            .min(stream.len() - position);
        assert!(count > 0, "a read target of no bytes");
        target.put_slice(&stream[position..position + count]);
        position += count;
        session.handle_read(Instant::now(), &decoder, &mut read_buffer)?;
    }
    assert!(read_buffer.is_empty(), "bytes left undecoded");
    Ok(())
}

fn done(session: &mut Session) -> Vec<(u32, Result<ScsiOutcome, TaskFailure>)> {
    std::iter::from_fn(|| session.poll_event())
        .filter_map(|event| match event {
            SessionEvent::TaskDone { id, result } => Some((id.0, result)),
            _ => None,
        })
        .collect()
}

fn drain_transmit(session: &mut Session) {
    let mut bytes = Vec::new();
    while session.poll_transmit(&mut bytes).unwrap_or(false) {}
}

#[test]
fn a_large_read_lands_in_place_whatever_the_read_sizes() {
    for digests in [false, true] {
        for chunk in [1000, 4096, 48, 52, 65_536, 200_000, usize::MAX] {
            let mut session = session(digests);
            let first = read(&mut session, 131_072);
            let second = read(&mut session, 131_072);
            drain_transmit(&mut session);
            let pdus = [
                data_in(first, 0, 0, 65_536, false),
                data_in(first, 1, 65_536, 65_536, true),
                data_in(second, 0, 0, 131_072, true),
            ];
            let stream = wire(&session, &pdus);
            feed(&mut session, &stream, chunk).unwrap_or_else(|error| panic!("{error}"));
            let finished = done(&mut session);
            assert_eq!(finished.len(), 2, "chunk {chunk}, digests {digests}");
            for (_, result) in finished {
                let outcome = result.unwrap_or_else(|error| panic!("{error}"));
                assert_eq!(outcome.status, 0);
                assert_eq!(outcome.residual, Residual::None);
                assert_eq!(outcome.data, Bytes::from(pattern(0, 131_072)));
            }
            // One read of everything finds only whole PDUs: nothing to place.
            let placed = session.stats().placed_data_in;
            assert!(
                placed >= 1 || chunk >= stream.len(),
                "chunk {chunk}, digests {digests}: nothing placed"
            );
            // Reads that never hold a whole segment place every one of them: after a placed
            // Data-In the next header is read on its own.
            if chunk <= 4096 {
                assert_eq!(placed, 3, "chunk {chunk}, digests {digests}");
            }
        }
    }
}

/// A read's data lands in the caller's buffer and comes back in it, exactly as long as its
/// capacity: handed back (`try_into_mut`), the same memory takes the next read, and freezing
/// it needs no shared header (a buffer with room past its data allocates one).
#[test]
fn a_read_buffer_comes_back_exactly_full_and_is_reused() {
    for digests in [false, true] {
        for (length, segment) in [(131_072, 131_072), (131_072, 65_536), (4096, 4096)] {
            let mut session = session(digests);
            let mut buffer = BytesMut::with_capacity(length);
            let mut first_pointer = None;
            for round in 0..3 {
                let request = TaskRequest {
                    lun: 0,
                    cdb: Bytes::from_static(&[0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
                    direction: DataDirection::Read {
                        length: length as u32,
                    },
                    attribute: TaskAttribute::Simple,
                };
                let tag = session
                    .submit_into(request, buffer)
                    .map(|id| id.0)
                    .unwrap_or_else(|error| panic!("{error}"));
                drain_transmit(&mut session);
                let pdus: Vec<Pdu> = (0..length / segment)
                    .map(|index| {
                        let last = (index + 1) * segment == length;
                        data_in(tag, index as u32, (index * segment) as u32, segment, last)
                    })
                    .collect();
                let stream = wire(&session, &pdus);
                feed(&mut session, &stream, 4096).unwrap_or_else(|error| panic!("{error}"));
                let mut finished = done(&mut session);
                let Some((_, Ok(outcome))) = finished.pop() else {
                    panic!("{finished:?}");
                };
                assert_eq!(outcome.data, Bytes::from(pattern(0, length)));
                let pointer = outcome.data.as_ptr();
                assert_eq!(
                    *first_pointer.get_or_insert(pointer),
                    pointer,
                    "round {round}"
                );
                buffer = outcome
                    .data
                    .try_into_mut()
                    .unwrap_or_else(|_| panic!("the data is the caller's alone"));
                assert_eq!(buffer.capacity(), length, "{length} in {segment}");
                assert_eq!(buffer.len(), length);
            }
        }
    }
}

#[test]
fn small_data_in_are_not_placed_and_arrive_the_same() {
    let mut session = session(false);
    let tags: Vec<u32> = (0..8).map(|_| read(&mut session, 4096)).collect();
    drain_transmit(&mut session);
    let pdus: Vec<Pdu> = tags
        .iter()
        .map(|tag| data_in(*tag, 0, 0, 4096, true))
        .collect();
    let stream = wire(&session, &pdus);
    feed(&mut session, &stream, 10_000).unwrap_or_else(|error| panic!("{error}"));
    let finished = done(&mut session);
    assert_eq!(finished.len(), 8);
    for (_, result) in finished {
        let outcome = result.unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(outcome.data, Bytes::from(pattern(0, 4096)));
    }
    assert_eq!(session.stats().placed_data_in, 0);
}

#[test]
fn a_large_data_in_that_breaks_a_rule_is_not_placed_and_fails_as_a_whole_one() {
    // (DataSN, offset, length) of the second Data-In after 64 KiB at DataSN 0.
    let cases = [
        (1, 65_536 + 512, 32_768), // gap
        (1, 65_536 - 512, 32_768), // overlap
        (2, 65_536, 32_768),       // DataSN out of order
        (1, 65_536, 65_536 + 512), // past the expected length
    ];
    for ((data_sn, offset, length), chunk) in cases
        .into_iter()
        .flat_map(|case| [(case, 4096), (case, usize::MAX)])
    {
        let mut session = session(true);
        let tag = read(&mut session, 131_072);
        drain_transmit(&mut session);
        let pdus = [
            data_in(tag, 0, 0, 65_536, false),
            data_in(tag, data_sn, offset, length, true),
        ];
        let stream = wire(&session, &pdus);
        let error =
            feed(&mut session, &stream, chunk).expect_err("a violation ends the connection");
        assert!(matches!(error, SessionError::Violation { .. }), "{error}");
        let finished = done(&mut session);
        assert!(
            matches!(
                finished.as_slice(),
                [(t, Err(TaskFailure::Protocol(_)))] if *t == tag
            ),
            "{finished:?}"
        );
        // In reads of 4 KiB the good one is placed; read whole, neither is.
        let placed = u64::from(chunk == 4096);
        assert_eq!(session.stats().placed_data_in, placed, "{chunk}");
    }
}

#[test]
fn a_large_data_in_for_an_unknown_tag_is_a_stray_not_placed() {
    let mut session = session(false);
    let tag = read(&mut session, 131_072);
    drain_transmit(&mut session);
    let stream = wire(&session, &[data_in(tag + 100, 0, 0, 65_536, false)]);
    feed(&mut session, &stream, 4096).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(session.stats().stray_pdus, 1);
    assert_eq!(session.stats().placed_data_in, 0);
    assert!(
        done(&mut session).is_empty(),
        "the read is still outstanding"
    );
}

#[test]
fn a_bad_data_digest_on_a_placed_segment_never_yields_data() {
    let mut session = session(true);
    let tag = read(&mut session, 131_072);
    drain_transmit(&mut session);
    let mut stream = wire(&session, &[data_in(tag, 0, 0, 131_072, true)]);
    // The data segment starts after the BHS and the header digest.
    stream[48 + 4 + 70_000] ^= 0x01;
    let error = feed(&mut session, &stream, 4096).expect_err("digest mismatch");
    assert!(
        matches!(error, SessionError::Pdu(PduError::DataDigest { .. })),
        "{error}"
    );
    assert_eq!(session.stats().placed_data_in, 1);
    // The driver drops the connection: the read fails, with no data.
    assert_lost_with_no_data(&mut session, tag);
}

#[test]
fn a_bad_data_digest_on_a_whole_data_in_never_yields_data() {
    let mut session = session(true);
    let tag = read(&mut session, 4096);
    drain_transmit(&mut session);
    let mut stream = wire(&session, &[data_in(tag, 0, 0, 4096, true)]);
    stream[48 + 4 + 100] ^= 0x01;
    let error = feed(&mut session, &stream, usize::MAX).expect_err("digest mismatch");
    assert!(
        matches!(error, SessionError::Pdu(PduError::DataDigest { .. })),
        "{error}"
    );
    assert!(done(&mut session).is_empty(), "no status taken");
    assert_lost_with_no_data(&mut session, tag);
}

#[test]
fn a_connection_lost_in_the_middle_of_a_placed_segment_fails_the_read() {
    let mut session = session(false);
    let tag = read(&mut session, 131_072);
    drain_transmit(&mut session);
    let stream = wire(&session, &[data_in(tag, 0, 0, 131_072, true)]);
    feed(&mut session, &stream[..100_000], 4096).unwrap_or_else(|error| panic!("{error}"));
    assert!(done(&mut session).is_empty());
    assert_eq!(session.stats().placed_data_in, 1);
    assert_lost_with_no_data(&mut session, tag);
}
