//! The receive side of a connection for a driver that owns the socket: which buffer the next
//! read fills, and the PDUs that read completed.
//!
//! ```text
//!  read_target ─► the connection's read buffer ─► handle_read: whole PDUs ─► handle_pdu
//!       │            (a large Data-In whose header is in, data not yet: placed)
//!       └──────► one vectored read: the task's read buffer, at the Data-In's offset,
//!                bounded by its data segment, + a tail array for what follows it (padding,
//!                data digest, the next BHS) ─► handle_read: the tail moves to the read
//!                buffer, digest checked over the bytes in place ─► the Data-In's status
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

use std::io::IoSliceMut;
use std::time::Instant;

use bytes::buf::Limit;
use bytes::{Buf, BufMut, BytesMut};

use crate::pdu::{DataIn, FrameHead, Opcode, Pdu, PduDecoder, BHS_LENGTH};

use super::task::{put_at, Transfer};
use super::{Session, SessionError, TaskState};

/// Smallest part of a Data-In's data segment, still to come from the socket, that is placed
/// in the task's buffer instead of going through the read buffer. Below it the copy costs
/// less than the extra read a placement takes (the bytes after the segment wait for another
/// read), so small reads keep being batched.
pub(crate) const PLACE_MIN: usize = 16 * 1024;

/// The most a placed segment's last read takes beyond the segment: its padding and data
/// digest, and the next PDU's BHS and header digest. These bytes land in the placement's tail
/// array (the second half of a vectored read) and are moved to the read buffer before
/// anything else reads them, so the next header needs no read of its own.
pub(crate) const READ_TAIL: usize = 3 + 4 + BHS_LENGTH + 4;

/// A Data-In whose data segment is being received in place.
#[derive(Debug)]
pub(crate) struct Placement {
    /// The Data-In's header fields (its `data` is empty: the bytes are in `buffer`).
    header: DataIn,
    /// The task's buffer (as long as the read), lent by the task until the segment is
    /// complete.
    buffer: BytesMut,
    /// Where the segment starts in `buffer` and how long it is.
    start: usize,
    length: usize,
    /// End of the segment's bytes received so far (`start..=start + length`).
    filled: usize,
    /// Padding and data digest after the segment, read through the read buffer.
    trailer: usize,
    /// `trailer` and the next PDU's BHS and header digest: what the segment's last read may
    /// take along (at most [`READ_TAIL`]).
    tail: usize,
    /// What the segment's last read took past the segment (`..spilled`).
    spill: [u8; READ_TAIL],
    spilled: usize,
}

impl Placement {
    fn end(&self) -> usize {
        self.start + self.length
    }

    fn missing(&self) -> usize {
        self.end() - self.filled
    }

    /// The rest of the segment in the task's buffer and room for the tail after it.
    fn slices(&mut self) -> (&mut [u8], &mut [u8]) {
        let end = self.end();
        let Some(data) = self.buffer.get_mut(self.filled..end) else {
            panic!("a placed segment lies inside its task's buffer");
        };
        let tail = self.spill.get_mut(..self.tail).unwrap_or_default();
        (data, tail)
    }

    /// Counts `count` bytes a read put into [`Placement::slices`].
    fn advance(&mut self, count: usize) {
        let missing = self.missing();
        assert!(self.spilled == 0 && count <= missing + self.tail);
        if count <= missing {
            self.filled += count;
        } else {
            self.filled = self.end();
            self.spilled = count - missing;
        }
    }
}

/// Where the driver's next socket read goes: see [`Session::read_target`].
#[derive(Debug)]
pub enum ReadTarget<'a> {
    /// The connection's read buffer, bounded by what belongs there.
    Buffer(Limit<&'a mut BytesMut>),
    /// The rest of a data segment received in place, and room for what follows it: one
    /// vectored read ([`PlacedRead::slices`], then [`PlacedRead::advance`]).
    Placed(PlacedRead<'a>),
}

/// A read into a data segment being placed in its task's buffer.
#[derive(Debug)]
pub struct PlacedRead<'a> {
    placement: &'a mut Placement,
}

impl PlacedRead<'_> {
    /// The two parts of the read: the rest of the segment (never empty), then room for its
    /// padding and digest and the next header. Pass both to one vectored read and then the
    /// count it returned to [`PlacedRead::advance`].
    pub fn slices(&mut self) -> [IoSliceMut<'_>; 2] {
        let (data, tail) = self.placement.slices();
        [IoSliceMut::new(data), IoSliceMut::new(tail)]
    }

    /// Counts the bytes a read put into [`PlacedRead::slices`] (at most their total length).
    pub fn advance(&mut self, count: usize) {
        self.placement.advance(count);
    }
}

impl ReadTarget<'_> {
    /// Bytes one socket read may take now: the read buffer's free room (within the bound),
    /// or the rest of the placed segment and the room after it. A read that takes fewer
    /// drained the socket.
    pub fn room(&mut self) -> usize {
        match self {
            ReadTarget::Buffer(buffer) => buffer.chunk_mut().len(),
            ReadTarget::Placed(placed) => placed.placement.missing() + placed.placement.tail,
        }
    }

    /// Bytes the target may take in all (the read buffer grows).
    pub fn remaining_mut(&self) -> usize {
        match self {
            ReadTarget::Buffer(buffer) => buffer.remaining_mut(),
            ReadTarget::Placed(placed) => placed.placement.missing() + placed.placement.tail,
        }
    }

    /// Puts `bytes` (at most [`ReadTarget::remaining_mut`]) where a socket read would: for
    /// drivers that get bytes from elsewhere, and tests.
    pub fn put_slice(&mut self, bytes: &[u8]) {
        assert!(
            bytes.len() <= self.remaining_mut(),
            "more bytes than the read may take"
        );
        match self {
            ReadTarget::Buffer(buffer) => buffer.put_slice(bytes),
            ReadTarget::Placed(placed) => {
                let (data, tail) = placed.placement.slices();
                let (first, second) = bytes.split_at(bytes.len().min(data.len()));
                data.get_mut(..first.len())
                    .unwrap_or_default()
                    .copy_from_slice(first);
                tail.get_mut(..second.len())
                    .unwrap_or_default()
                    .copy_from_slice(second);
                placed.advance(bytes.len());
            }
        }
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
    /// Where the driver's next socket read goes, bounded by what belongs there: the rest of
    /// a data segment being placed (and what follows it, in one vectored read), or (after a
    /// placed Data-In) the next header; otherwise `read_buffer`'s free room. Never bounded to
    /// zero bytes.
    pub fn read_target<'a>(&'a mut self, read_buffer: &'a mut BytesMut) -> ReadTarget<'a> {
        let (missing, trailer) = self
            .inbound
            .placement
            .as_ref()
            .map_or((0, 0), |p| (p.missing(), p.trailer));
        let header = self.next_header_length();
        if missing > 0 {
            if let Some(placement) = &mut self.inbound.placement {
                return ReadTarget::Placed(PlacedRead { placement });
            }
        }
        let mut wanted = usize::MAX;
        if self.inbound.header_first {
            let next = trailer + header;
            if read_buffer.len() < next {
                wanted = next - read_buffer.len();
            }
        }
        ReadTarget::Buffer(read_buffer.limit(wanted))
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
    ) -> Result<Option<(DataIn, BytesMut, usize)>, SessionError> {
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
        let Some((buffer, start)) = read.start_placement(&data_in, length) else {
            return Ok(None);
        };
        self.ping.received(now);
        Ok(Some((data_in, buffer, start)))
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
        let Some((header, mut buffer, start)) =
            self.claim_data_in(now, decoder, head, read_buffer)?
        else {
            return Ok(false);
        };
        let data_end = head.header_total + head.data_length;
        let data = read_buffer
            .get(head.header_total..data_end)
            .unwrap_or_default();
        let trailer = read_buffer.get(data_end..head.total()).unwrap_or_default();
        let digest = decoder.check_data_digest(data, trailer);
        let filled = if digest.is_ok() {
            put_at(&mut buffer, start, data)
        } else {
            start
        };
        let tag = header.initiator_task_tag;
        if let Some(TaskState::Scsi(task)) = self.tasks.get_mut(&tag) {
            if let Transfer::Read(read) = &mut task.transfer {
                read.end_placement(buffer, filled);
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
        let Some((data_in, mut buffer, start)) =
            self.claim_data_in(now, decoder, head, read_buffer)?
        else {
            return Ok(false);
        };
        read_buffer.advance(head.header_total);
        let already = in_buffer.min(head.data_length);
        put_at(
            &mut buffer,
            start,
            read_buffer.get(..already).unwrap_or_default(),
        );
        read_buffer.advance(already);
        let tail = head.trailer + self.next_header_length();
        assert!(tail <= READ_TAIL);
        assert!(start + head.data_length <= buffer.len());
        self.inbound.placement = Some(Placement {
            header: data_in,
            buffer,
            start,
            length: head.data_length,
            filled: start + already,
            trailer: head.trailer,
            tail,
            spill: [0; READ_TAIL],
            spilled: 0,
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
        let end = placement.end();
        assert_eq!(
            placement.filled, end,
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
                read.end_placement(placement.buffer, end);
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
/// start of the next PDU) from the placement's tail array to the read buffer, where the
/// stream goes on. The read buffer is empty during a placement (the placement took all of
/// it), so the stream's order is kept.
fn spill_tail(placement: &mut Placement, read_buffer: &mut BytesMut) {
    if placement.spilled == 0 {
        return;
    }
    assert!(
        read_buffer.is_empty() && placement.spilled <= placement.tail,
        "a placement's tail goes first into an empty read buffer"
    );
    read_buffer.extend_from_slice(placement.spill.get(..placement.spilled).unwrap_or_default());
    placement.spilled = 0;
}
