//! The receive side of a connection for a driver that owns the socket: which buffer the next
//! read fills, and the PDUs that read completed.
//!
//! ```text
//!  read_target ─► the connection's read buffer ─► handle_read: whole PDUs ─► handle_pdu
//!       │            (a large Data-In whose header is in, data not yet: placed)
//!       └──────► the task's read buffer, at the Data-In's offset, bounded by its data
//!                segment ─► handle_read: padding and data digest from the read buffer,
//!                digest checked over the bytes in place ─► the Data-In's status
//! ```
//!
//! A large Data-In's data segment goes from the socket straight into the reading task's
//! buffer, so its bytes are never copied in user space. It is placed only when its header
//! passes every check a whole Data-In passes first (header digest, fields, task tag and
//! kind, DataSN order, offset with no gap or overlap, the expected length); one that does not
//! is received whole and fails the same way as before. Nothing placed counts as received
//! data until the whole segment and its digest arrived: a short read ends the connection
//! (and with it the task), a bad digest too.
//!
//! Owns the placement in progress and the read-size hint; the per-task rules stay in `task`.

use std::time::Instant;

use bytes::buf::Limit;
use bytes::{Buf, BufMut, BytesMut};

use crate::pdu::{DataIn, FrameHead, Opcode, Pdu, PduDecoder, BHS_LENGTH};

use super::task::Transfer;
use super::{Session, SessionError, TaskState};

/// Smallest part of a Data-In's data segment, still to come from the socket, that is placed
/// in the task's buffer instead of going through the read buffer. Below it the copy costs
/// less than the extra read a placement takes (the bytes after the segment wait for another
/// read), so small reads keep being batched.
pub(crate) const PLACE_MIN: usize = 16 * 1024;

/// The most a placed segment's last read takes beyond the segment: its padding and data
/// digest, and the next PDU's BHS and header digest. These bytes land in the task's buffer
/// past the segment and are moved to the read buffer before anything else reads them, so the
/// next header needs no read of its own.
pub(crate) const READ_TAIL: usize = 3 + 4 + BHS_LENGTH + 4;

/// A Data-In whose data segment is being received in place.
#[derive(Debug)]
pub(crate) struct Placement {
    /// The Data-In's header fields (its `data` is empty: the bytes are in `buffer`).
    header: DataIn,
    /// The task's buffer, lent by the task until the segment is complete.
    buffer: BytesMut,
    /// Where the segment starts in `buffer` and how long it is.
    start: usize,
    length: usize,
    /// Padding and data digest after the segment, read through the read buffer.
    trailer: usize,
    /// `trailer` and the next PDU's BHS and header digest: what the segment's last read may
    /// take along (at most [`READ_TAIL`]).
    tail: usize,
}

impl Placement {
    fn missing(&self) -> usize {
        (self.start + self.length).saturating_sub(self.buffer.len())
    }
}

/// Receive state of a session besides its tasks.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    placement: Option<Placement>,
    /// The last Data-In was placed: read the next header on its own, so the next large data
    /// segment lands in place too instead of being pulled into the read buffer with it.
    header_first: bool,
}

impl Session {
    /// The buffer the driver's next socket read fills, bounded by what belongs there: the
    /// rest of a data segment being placed, or (after a placed Data-In) the next header;
    /// otherwise `read_buffer`'s free room. Never bounded to zero bytes.
    pub fn read_target<'a>(&'a mut self, read_buffer: &'a mut BytesMut) -> Limit<&'a mut BytesMut> {
        let (missing, trailer) = self
            .inbound
            .placement
            .as_ref()
            .map_or((0, 0), |p| (p.missing(), p.trailer));
        let header = self.next_header_length();
        if missing > 0 {
            if let Some(placement) = &mut self.inbound.placement {
                // The rest of the segment, and the tail after it if the buffer has room (it is
                // moved out before it is read: see `spill_tail`).
                let room = placement.buffer.capacity() - placement.buffer.len();
                let wanted = if room >= missing + placement.tail {
                    missing + placement.tail
                } else {
                    missing
                };
                return (&mut placement.buffer).limit(wanted);
            }
        }
        let mut wanted = usize::MAX;
        if self.inbound.header_first {
            let next = trailer + header;
            if read_buffer.len() < next {
                wanted = next - read_buffer.len();
            }
        }
        read_buffer.limit(wanted)
    }

    /// The BHS and header digest of the next PDU (its AHS, rare, is read later).
    fn next_header_length(&self) -> usize {
        BHS_LENGTH + if self.params.header_digest { 4 } else { 0 }
    }

    /// Handles what the last read into [`Session::read_target`] completed: the rest of a
    /// placed data segment, and every whole PDU in `read_buffer` (consumed from it), or the
    /// start of a placement. An error means the connection must be dropped.
    pub fn handle_read(
        &mut self,
        now: Instant,
        decoder: &PduDecoder,
        read_buffer: &mut BytesMut,
    ) -> Result<(), SessionError> {
        loop {
            if self.inbound.placement.is_some() {
                if !self.finish_placement(decoder, read_buffer)? {
                    return Ok(());
                }
                continue;
            }
            let Some(head) = decoder.frame_head(read_buffer)? else {
                return Ok(());
            };
            if read_buffer.len() < head.total() {
                if !self.start_placement(now, decoder, &head, read_buffer)? {
                    read_buffer.reserve(head.total() - read_buffer.len());
                    return Ok(());
                }
                continue;
            }
            if head.bhs.opcode_byte() == Opcode::DataIn as u8 {
                self.inbound.header_first = false;
                if self.take_whole_data_in(now, decoder, &head, read_buffer)? {
                    continue;
                }
            }
            let (bhs, data) = decoder.take_frame(head, read_buffer)?;
            self.handle_pdu(now, Pdu::from_parts(&bhs, data)?)?;
        }
    }

    /// The Data-In at the front of `read_buffer` (its header complete) and its task's buffer,
    /// lent for its data segment, if it passes every check a whole Data-In passes (see
    /// [`super::task::ReadState::start_placement`]); `None` sends it the whole-PDU way, where
    /// it fails the same checks.
    fn claim_data_in(
        &mut self,
        now: Instant,
        decoder: &PduDecoder,
        head: &FrameHead,
        read_buffer: &BytesMut,
    ) -> Result<Option<(DataIn, BytesMut)>, SessionError> {
        let Some(header) = read_buffer.get(..head.header_total) else {
            return Ok(None);
        };
        decoder.check_header_digest(header)?;
        // A header that does not parse goes the whole-PDU way and fails there.
        let Ok(data_in) = DataIn::from_bhs(&head.bhs, bytes::Bytes::new()) else {
            return Ok(None);
        };
        let length = u32::try_from(head.data_length).unwrap_or(u32::MAX);
        let tag = data_in.initiator_task_tag;
        let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) else {
            return Ok(None);
        };
        let Transfer::Read(read) = &mut task.transfer else {
            return Ok(None);
        };
        let Some(buffer) = read.start_placement(&data_in, length) else {
            return Ok(None);
        };
        self.ping.received(now);
        Ok(Some((data_in, buffer)))
    }

    /// A Data-In wholly in `read_buffer`: its data segment is appended to its task's buffer
    /// straight from `read_buffer` (digest checked there first), without making it a
    /// [`Pdu`]. False when it does not pass the checks (then nothing was consumed).
    fn take_whole_data_in(
        &mut self,
        now: Instant,
        decoder: &PduDecoder,
        head: &FrameHead,
        read_buffer: &mut BytesMut,
    ) -> Result<bool, SessionError> {
        let Some((header, mut buffer)) = self.claim_data_in(now, decoder, head, read_buffer)?
        else {
            return Ok(false);
        };
        let data_end = head.header_total + head.data_length;
        let data = read_buffer
            .get(head.header_total..data_end)
            .unwrap_or_default();
        let trailer = read_buffer.get(data_end..head.total()).unwrap_or_default();
        let digest = decoder.check_data_digest(data, trailer);
        if digest.is_ok() {
            buffer.extend_from_slice(data);
        }
        let tag = header.initiator_task_tag;
        if let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) {
            if let Transfer::Read(read) = &mut task.transfer {
                read.end_placement(buffer);
            }
        }
        digest?;
        read_buffer.advance(head.total());
        self.on_placed_data_in(&header)?;
        self.send_waiting();
        Ok(true)
    }

    /// Places the data segment of the Data-In at the front of `read_buffer` (header complete,
    /// segment not) in its task's buffer, if it is large and passes every check; the header
    /// and the part of the segment already read leave `read_buffer`.
    fn start_placement(
        &mut self,
        now: Instant,
        decoder: &PduDecoder,
        head: &FrameHead,
        read_buffer: &mut BytesMut,
    ) -> Result<bool, SessionError> {
        let in_buffer = read_buffer.len().saturating_sub(head.header_total);
        let worth_it = head.bhs.opcode_byte() == Opcode::DataIn as u8
            && head.data_length.saturating_sub(in_buffer) >= PLACE_MIN
            && read_buffer.len() >= head.header_total;
        if !worth_it {
            return Ok(false);
        }
        let Some((data_in, mut buffer)) = self.claim_data_in(now, decoder, head, read_buffer)?
        else {
            return Ok(false);
        };
        read_buffer.advance(head.header_total);
        let start = buffer.len();
        let already = in_buffer.min(head.data_length);
        buffer.extend_from_slice(read_buffer.get(..already).unwrap_or_default());
        read_buffer.advance(already);
        let tail = head.trailer + self.next_header_length();
        assert!(tail <= READ_TAIL);
        self.inbound.placement = Some(Placement {
            header: data_in,
            buffer,
            start,
            length: head.data_length,
            trailer: head.trailer,
            tail,
        });
        self.inbound.header_first = true;
        self.stats.placed_data_in += 1;
        Ok(true)
    }

    /// Ends the placement once its segment and trailer arrived: checks the data digest over
    /// the bytes in place, gives the buffer back to its task and applies the Data-In's
    /// status. False while bytes are still missing.
    fn finish_placement(
        &mut self,
        decoder: &PduDecoder,
        read_buffer: &mut BytesMut,
    ) -> Result<bool, SessionError> {
        let Some(placement) = &mut self.inbound.placement else {
            return Ok(false);
        };
        if placement.missing() > 0 {
            return Ok(false);
        }
        spill_tail(placement, read_buffer);
        if read_buffer.len() < placement.trailer {
            read_buffer.reserve(placement.trailer);
            return Ok(false);
        }
        let Some(placement) = self.inbound.placement.take() else {
            return Ok(false);
        };
        let end = placement.start + placement.length;
        assert_eq!(
            placement.buffer.len(),
            end,
            "a placement fills exactly its segment"
        );
        let data = placement
            .buffer
            .get(placement.start..end)
            .unwrap_or_default();
        let trailer = read_buffer.get(..placement.trailer).unwrap_or_default();
        decoder.check_data_digest(data, trailer)?;
        read_buffer.advance(placement.trailer);
        let tag = placement.header.initiator_task_tag;
        if let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) {
            if let Transfer::Read(read) = &mut task.transfer {
                read.end_placement(placement.buffer);
            }
        }
        let result = self.on_placed_data_in(&placement.header);
        self.send_waiting();
        result.map(|()| true)
    }

    /// The connection is gone: a placement in progress ends with it (its task ends too).
    pub(crate) fn drop_placement(&mut self) {
        self.inbound = Inbound::default();
    }
}

/// Moves what the segment's last read took beyond the segment (its padding and digest, the
/// start of the next PDU) from the task's buffer to the read buffer, where the stream goes
/// on. The read buffer is empty during a placement (the placement took all of it), so the
/// stream's order is kept.
fn spill_tail(placement: &mut Placement, read_buffer: &mut BytesMut) {
    let end = placement.start + placement.length;
    let Some(tail) = placement.buffer.get(end..) else {
        return;
    };
    if tail.is_empty() {
        return;
    }
    assert!(
        read_buffer.is_empty() && tail.len() <= placement.tail,
        "a placement's tail goes first into an empty read buffer"
    );
    read_buffer.extend_from_slice(tail);
    placement.buffer.truncate(end);
}
