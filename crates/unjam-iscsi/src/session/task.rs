//! One SCSI task's data accounting: the read buffer filled by Data-In in order, the write's
//! progress (what the target asked for, what was sent, R2Ts outstanding), and the checks at
//! status time that decide whether the bytes add up.
//!
//! Owns per-task rules only (DataSN, offsets, R2TSN, MaxOutstandingR2T, residuals). It does
//! not know the command window, other tasks, or how PDUs are queued.

use bytes::{Bytes, BytesMut};

use crate::pdu::{DataIn, ReadyToTransfer, Residual};

use super::violation::{is_good_class_status, ProtocolViolation};
use super::TaskRequest;

/// Where a task's data goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDirection {
    None,
    /// Read up to this many bytes.
    Read {
        length: u32,
    },
    /// Write these bytes.
    Write {
        data: Bytes,
    },
}

impl DataDirection {
    /// The Expected Data Transfer Length of the command.
    pub fn length(&self) -> u32 {
        match self {
            DataDirection::None => 0,
            DataDirection::Read { length } => *length,
            DataDirection::Write { data } => u32::try_from(data.len()).unwrap_or(u32::MAX),
        }
    }
}

/// A SCSI task that has been sent.
#[derive(Debug)]
pub(crate) struct ScsiTask {
    pub lun: u64,
    pub cmd_sn: u32,
    pub transfer: Transfer,
}

/// The data side of a task.
#[derive(Debug)]
pub(crate) enum Transfer {
    None,
    Read(ReadState),
    Write(WriteState),
}

/// A read: Data-In fills the buffer in order (DataPDUInOrder=Yes is always negotiated).
#[derive(Debug)]
pub(crate) struct ReadState {
    expected: u32,
    /// `expected` bytes long from the start (so a socket read can land in it and it goes to
    /// the caller without a copy); only `..filled` holds this read's data.
    buffer: BytesMut,
    /// Bytes received, in order from offset 0 (≤ `expected`).
    filled: usize,
    next_data_sn: u32,
}

/// A write: bytes allowed (immediate + unsolicited + requested by R2Ts) and bytes sent.
#[derive(Debug)]
pub(crate) struct WriteState {
    pub data: Bytes,
    /// End of the bytes the target may receive: the next R2T must start here.
    solicited_end: u32,
    /// End of the bytes encoded for the wire (each range is sent in offset order).
    sent_end: u32,
    next_r2t_sn: u32,
    outstanding_r2ts: u32,
}

impl ScsiTask {
    /// `read_buffer` receives a read's data: it is cut or grown to the read's length (new
    /// bytes are zeroed, once: a buffer handed back by an earlier read of the same length is
    /// used as it is, its old bytes overwritten and never delivered).
    pub fn new(
        request: &TaskRequest,
        cmd_sn: u32,
        first_burst: u32,
        mut read_buffer: BytesMut,
    ) -> ScsiTask {
        let transfer = match &request.direction {
            DataDirection::None => Transfer::None,
            DataDirection::Read { length } => Transfer::Read(ReadState {
                expected: *length,
                buffer: {
                    // Exactly the read's length, so a buffer whose capacity is that length
                    // (what a read of the same length hands back) is frozen without a
                    // shared header being allocated for it.
                    let length = *length as usize;
                    read_buffer.truncate(length);
                    read_buffer.resize(length, 0);
                    read_buffer
                },
                filled: 0,
                next_data_sn: 0,
            }),
            DataDirection::Write { data } => Transfer::Write(WriteState {
                data: data.clone(),
                solicited_end: first_burst,
                sent_end: 0,
                next_r2t_sn: 0,
                outstanding_r2ts: 0,
            }),
        };
        ScsiTask {
            lun: request.lun,
            cmd_sn,
            transfer,
        }
    }

    /// A short name of the task's kind for violation reports.
    pub fn kind(&self) -> &'static str {
        match self.transfer {
            Transfer::None => "command without data",
            Transfer::Read(_) => "read",
            Transfer::Write(_) => "write",
        }
    }

    /// Data-In and R2T PDUs received, as a SCSI Response's ExpDataSN counts them.
    pub fn data_pdu_count(&self) -> u32 {
        match &self.transfer {
            Transfer::None => 0,
            Transfer::Read(read) => read.next_data_sn,
            Transfer::Write(write) => write.next_r2t_sn,
        }
    }

    /// Checks the bytes against a GOOD-class or other status; returns the data to deliver
    /// and the residual to report. A GOOD-class status whose bytes do not add up is a
    /// violation; any other status reports only the bytes that arrived (the residual grows to
    /// cover the rest), so a status that counts as success never covers missing bytes.
    pub fn finish(
        &mut self,
        status: u8,
        residual: Residual,
    ) -> Result<(Bytes, Residual), ProtocolViolation> {
        match &mut self.transfer {
            Transfer::None => check_counts(status, residual, 0, 0).map(|r| (Bytes::new(), r)),
            Transfer::Read(read) => {
                let received = read.received();
                let residual = check_counts(status, residual, read.expected, received)?;
                let good = read.expected - residual_bytes(residual);
                let mut data = std::mem::take(&mut read.buffer);
                data.truncate(good as usize);
                Ok((data.freeze(), residual))
            }
            Transfer::Write(write) => {
                let residual = check_write(status, residual, write.length(), write.sent_end)?;
                Ok((Bytes::new(), residual))
            }
        }
    }
}

/// A write's status: a GOOD-class status must not claim bytes that were never sent (a target
/// may take fewer than were sent and say so with an underflow).
fn check_write(
    status: u8,
    residual: Residual,
    expected: u32,
    sent: u32,
) -> Result<Residual, ProtocolViolation> {
    if !is_good_class_status(status) {
        return check_counts(status, residual, expected, sent);
    }
    let Some(claimed) = claimed_bytes(residual, expected) else {
        return Err(ProtocolViolation::ResidualMismatch {
            residual,
            received: sent,
            expected,
        });
    };
    if sent < claimed {
        return Err(ProtocolViolation::WriteStatusBeforeData {
            status,
            sent,
            claimed,
            expected,
        });
    }
    Ok(residual)
}

/// The bytes a residual says were transferred, or `None` when it claims more than nothing.
fn claimed_bytes(residual: Residual, expected: u32) -> Option<u32> {
    match residual {
        Residual::None | Residual::Overflow(_) => Some(expected),
        Residual::Underflow(count) => expected.checked_sub(count),
    }
}

fn residual_bytes(residual: Residual) -> u32 {
    match residual {
        Residual::Underflow(count) => count,
        Residual::None | Residual::Overflow(_) => 0,
    }
}

/// `transferred` bytes moved of `expected`; a GOOD-class status must say exactly that, any
/// other status gets a residual covering whatever did not move.
fn check_counts(
    status: u8,
    residual: Residual,
    expected: u32,
    transferred: u32,
) -> Result<Residual, ProtocolViolation> {
    let claimed = claimed_bytes(residual, expected);
    if !is_good_class_status(status) {
        let good = claimed.unwrap_or(0).min(transferred);
        return Ok(match (good < expected, residual) {
            (true, _) => Residual::Underflow(expected - good),
            // Nothing is missing: an underflow (even a nonsensical one) says nothing more.
            (false, Residual::Underflow(_)) => Residual::None,
            (false, other) => other,
        });
    }
    match claimed {
        Some(claimed) if claimed == transferred => Ok(residual),
        Some(claimed) if transferred < claimed && residual == Residual::None => {
            Err(ProtocolViolation::ReadShort {
                status,
                received: transferred,
                expected,
                residual,
            })
        }
        _ => Err(ProtocolViolation::ResidualMismatch {
            residual,
            received: transferred,
            expected,
        }),
    }
}

impl ReadState {
    fn received(&self) -> u32 {
        // `filled` never grows past `expected` (checked on every Data-In).
        u32::try_from(self.filled).unwrap_or(u32::MAX)
    }

    /// Appends one Data-In after checking DataSN order, the offset (no gap, no overlap) and
    /// the expected length.
    pub fn accept(&mut self, pdu: &DataIn) -> Result<(), ProtocolViolation> {
        let length = u32::try_from(pdu.data.len()).unwrap_or(u32::MAX);
        self.check(pdu.data_sn, pdu.buffer_offset, length)?;
        self.next_data_sn = self.next_data_sn.wrapping_add(1);
        self.fill(&pdu.data);
        Ok(())
    }

    /// Copies checked bytes to the first unfilled place.
    pub fn fill(&mut self, data: &[u8]) {
        assert!(self.filled + data.len() <= self.expected as usize);
        self.filled = put_at(&mut self.buffer, self.filled, data);
    }

    /// Whether a Data-In with this DataSN, offset and length fits the read now: the next
    /// DataSN, starting at the first byte not received (no gap, no overlap), within the
    /// expected length. An empty Data-In only counts its DataSN.
    fn check(&self, data_sn: u32, offset: u32, length: u32) -> Result<(), ProtocolViolation> {
        if data_sn != self.next_data_sn {
            return Err(ProtocolViolation::DataSnOutOfOrder {
                expected: self.next_data_sn,
                received: data_sn,
            });
        }
        if length == 0 {
            return Ok(());
        }
        let received = self.received();
        if offset < received {
            return Err(ProtocolViolation::DataOverlap {
                expected: received,
                offset,
            });
        }
        if offset > received {
            return Err(ProtocolViolation::DataGap {
                expected: received,
                offset,
            });
        }
        if u64::from(received) + u64::from(length) > u64::from(self.expected) {
            return Err(ProtocolViolation::DataBeyondLength {
                offset,
                length,
                expected: self.expected,
            });
        }
        Ok(())
    }

    /// Starts receiving a Data-In's data segment of `length` (> 0) bytes in place: after the
    /// same checks as [`ReadState::accept`] (a Data-In that fails them is not placed; it goes
    /// the whole-PDU way and fails there), counts its DataSN and lends out the buffer with
    /// the offset of the first byte not received (the Data-In's buffer offset), where the
    /// segment's `length` bytes (inside the buffer: checked) then land;
    /// [`ReadState::end_placement`] gives it back.
    pub fn start_placement(&mut self, pdu: &DataIn, length: u32) -> Option<(BytesMut, usize)> {
        if length == 0 || self.check(pdu.data_sn, pdu.buffer_offset, length).is_err() {
            return None;
        }
        self.next_data_sn = self.next_data_sn.wrapping_add(1);
        Some((std::mem::take(&mut self.buffer), self.filled))
    }

    /// Takes back the buffer lent by [`ReadState::start_placement`], filled up to `filled`
    /// (the whole data segment: a placement that did not complete ends the connection
    /// instead).
    pub fn end_placement(&mut self, buffer: BytesMut, filled: usize) {
        assert!(filled >= self.filled && filled <= self.expected as usize);
        assert_eq!(buffer.len(), self.expected as usize);
        self.buffer = buffer;
        self.filled = filled;
    }
}

impl WriteState {
    pub fn length(&self) -> u32 {
        u32::try_from(self.data.len()).unwrap_or(u32::MAX)
    }

    /// Takes one R2T: the next R2TSN, within MaxOutstandingR2T, starting at the first byte not
    /// yet requested, inside the write and MaxBurstLength. Returns the range to send.
    pub fn accept_r2t(
        &mut self,
        r2t: &ReadyToTransfer,
        max_burst: u32,
        max_outstanding: u32,
    ) -> Result<(u32, u32), ProtocolViolation> {
        if r2t.r2t_sn != self.next_r2t_sn {
            return Err(ProtocolViolation::R2tSnOutOfOrder {
                expected: self.next_r2t_sn,
                received: r2t.r2t_sn,
            });
        }
        if self.outstanding_r2ts >= max_outstanding {
            return Err(ProtocolViolation::TooManyR2ts {
                outstanding: self.outstanding_r2ts,
                limit: max_outstanding,
            });
        }
        let (offset, length) = (r2t.buffer_offset, r2t.desired_data_transfer_length);
        let end = u64::from(offset) + u64::from(length);
        if length == 0 || offset != self.solicited_end || end > u64::from(self.length()) {
            return Err(ProtocolViolation::R2tOutOfRange {
                offset,
                length,
                next: self.solicited_end,
                write_length: self.length(),
            });
        }
        if length > max_burst {
            return Err(ProtocolViolation::R2tAboveMaxBurst { length, max_burst });
        }
        self.next_r2t_sn = self.next_r2t_sn.wrapping_add(1);
        self.outstanding_r2ts += 1;
        self.solicited_end = offset + length;
        Ok((offset, offset + length))
    }

    /// Records bytes handed to the wire; `ends_r2t` when this was the last PDU answering an
    /// R2T (the R2T is no longer outstanding).
    pub fn sent(&mut self, end: u32, ends_r2t: bool) {
        assert!(end <= self.length());
        self.sent_end = self.sent_end.max(end);
        if ends_r2t {
            assert!(self.outstanding_r2ts > 0, "Data-Out for an R2T never taken");
            self.outstanding_r2ts -= 1;
        }
    }
}

/// The split of a write's first burst: bytes sent as immediate data in the command PDU and
/// bytes sent as unsolicited Data-Out after it (RFC 7143 §4.2.5.2).
pub(crate) fn first_burst_split(
    write_length: usize,
    immediate_data: bool,
    initial_r2t: bool,
    first_burst_length: u32,
    max_send_segment: u32,
) -> (usize, usize) {
    let first_burst = (first_burst_length as usize).min(write_length);
    let immediate = if immediate_data {
        first_burst.min(max_send_segment as usize)
    } else {
        0
    };
    let unsolicited = if initial_r2t {
        0
    } else {
        first_burst - immediate
    };
    (immediate, unsolicited)
}

/// Copies `bytes` into `buffer` at `at` and returns the end of what it wrote. A read's buffer
/// is as long as the read and its Data-In offsets and lengths were checked against it, so a
/// place outside it is a broken invariant, not a target's error.
pub(crate) fn put_at(buffer: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    let end = at + bytes.len();
    let Some(place) = buffer.get_mut(at..end) else {
        panic!(
            "checked data lies outside its read's buffer ({at}..{end} of {})",
            buffer.len()
        );
    };
    place.copy_from_slice(bytes);
    end
}

#[cfg(test)]
mod tests;
