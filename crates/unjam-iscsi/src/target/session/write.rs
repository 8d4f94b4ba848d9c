//! Collecting one command's write data (RFC 7143 §4.2.5, §11.7): immediate data, the
//! unsolicited Data-Out sequence up to FirstBurstLength, then Data-Out answering R2Ts of at
//! most MaxBurstLength each, with at most MaxOutstandingR2T in flight.
//!
//! Owns offsets, DataSN per sequence and R2T bookkeeping of one task. Data must arrive in
//! order (DataPDUInOrder and DataSequenceInOrder are always Yes with unjam). Budgets across
//! tasks are the session's.

use bytes::Bytes;

use crate::pdu::{DataOut, RESERVED_TAG};

/// Why a Data-Out PDU was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DataOutError {
    /// The DataSN is not the next one of its sequence: the command fails, the connection
    /// stays.
    DataSequence { expected: u32, received: u32 },
    /// Offset, length or Target Transfer Tag do not fit the command: a protocol error.
    Protocol(&'static str),
}

/// One outstanding R2T.
#[derive(Debug, Clone, Copy)]
struct Burst {
    target_transfer_tag: u32,
    offset: u32,
    length: u32,
    received: u32,
    next_data_sn: u32,
}

/// An R2T to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct R2tRequest {
    pub target_transfer_tag: u32,
    pub r2t_sn: u32,
    pub offset: u32,
    pub length: u32,
}

#[derive(Debug)]
pub(super) struct WriteCollection {
    total: u32,
    data: Vec<u8>,
    /// Data up to this offset arrives without R2T (immediate plus unsolicited Data-Out).
    unsolicited_end: u32,
    unsolicited_data_sn: u32,
    bursts: Vec<Burst>,
    next_r2t_offset: u32,
    r2t_sn: u32,
}

impl WriteCollection {
    /// A write of `total` bytes whose command carried `immediate`, with unsolicited Data-Out
    /// following up to `unsolicited_end`.
    pub(super) fn new(total: u32, immediate: &[u8], unsolicited_end: u32) -> WriteCollection {
        let mut data = Vec::with_capacity(total as usize);
        data.extend_from_slice(immediate);
        let unsolicited_end = unsolicited_end.clamp(data.len() as u32, total);
        WriteCollection {
            total,
            data,
            unsolicited_end,
            unsolicited_data_sn: 0,
            bursts: Vec::new(),
            next_r2t_offset: unsolicited_end,
            r2t_sn: 0,
        }
    }

    pub(super) fn is_complete(&self) -> bool {
        self.received() == self.total
    }

    /// Whether the target still has to ask for data with R2Ts.
    pub(super) fn needs_r2t(&self) -> bool {
        self.next_r2t_offset < self.total
    }

    pub(super) fn take_data(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.data))
    }

    fn received(&self) -> u32 {
        self.data.len() as u32
    }

    /// Appends one Data-Out PDU after checking its sequence, offset and tag.
    pub(super) fn accept(&mut self, pdu: &DataOut) -> Result<(), DataOutError> {
        let length = pdu.data.len() as u32;
        if pdu.buffer_offset != self.received() {
            return Err(DataOutError::Protocol("Data-Out offset out of order"));
        }
        let end = pdu.buffer_offset.checked_add(length);
        if end.is_none_or(|end| end > self.total) {
            return Err(DataOutError::Protocol(
                "Data-Out beyond the expected length",
            ));
        }
        if pdu.target_transfer_tag == RESERVED_TAG {
            self.accept_unsolicited(pdu, length)?;
        } else {
            self.accept_solicited(pdu, length)?;
        }
        self.data.extend_from_slice(&pdu.data);
        Ok(())
    }

    fn accept_unsolicited(&mut self, pdu: &DataOut, length: u32) -> Result<(), DataOutError> {
        if pdu.buffer_offset + length > self.unsolicited_end {
            return Err(DataOutError::Protocol(
                "unsolicited Data-Out beyond FirstBurstLength",
            ));
        }
        if pdu.data_sn != self.unsolicited_data_sn {
            return Err(DataOutError::DataSequence {
                expected: self.unsolicited_data_sn,
                received: pdu.data_sn,
            });
        }
        self.unsolicited_data_sn += 1;
        Ok(())
    }

    fn accept_solicited(&mut self, pdu: &DataOut, length: u32) -> Result<(), DataOutError> {
        let Some(index) = self
            .bursts
            .iter()
            .position(|burst| burst.target_transfer_tag == pdu.target_transfer_tag)
        else {
            return Err(DataOutError::Protocol("Data-Out for an unknown R2T"));
        };
        let burst = &mut self.bursts[index];
        let end = pdu.buffer_offset + length;
        if pdu.buffer_offset < burst.offset || end > burst.offset + burst.length {
            return Err(DataOutError::Protocol("Data-Out outside its R2T"));
        }
        if pdu.data_sn != burst.next_data_sn {
            return Err(DataOutError::DataSequence {
                expected: burst.next_data_sn,
                received: pdu.data_sn,
            });
        }
        burst.next_data_sn += 1;
        burst.received += length;
        if burst.received == burst.length {
            self.bursts.remove(index);
        }
        Ok(())
    }

    /// The next R2Ts, up to `max_outstanding` in flight, each at most `max_burst` bytes;
    /// `next_tag` hands out Target Transfer Tags.
    pub(super) fn next_r2ts(
        &mut self,
        max_outstanding: u32,
        max_burst: u32,
        next_tag: &mut impl FnMut() -> u32,
        out: &mut Vec<R2tRequest>,
    ) {
        let max_burst = max_burst.max(512);
        while self.bursts.len() < max_outstanding.max(1) as usize && self.needs_r2t() {
            let offset = self.next_r2t_offset;
            let length = (self.total - offset).min(max_burst);
            let target_transfer_tag = next_tag();
            self.bursts.push(Burst {
                target_transfer_tag,
                offset,
                length,
                received: 0,
                next_data_sn: 0,
            });
            out.push(R2tRequest {
                target_transfer_tag,
                r2t_sn: self.r2t_sn,
                offset,
                length,
            });
            self.r2t_sn += 1;
            self.next_r2t_offset += length;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_out(ttt: u32, data_sn: u32, offset: u32, length: usize) -> DataOut {
        DataOut {
            final_pdu: false,
            lun: 0,
            initiator_task_tag: 1,
            target_transfer_tag: ttt,
            exp_stat_sn: 0,
            data_sn,
            buffer_offset: offset,
            data: Bytes::from(vec![offset as u8; length]),
        }
    }

    #[test]
    fn immediate_unsolicited_then_solicited() {
        let mut write = WriteCollection::new(10_000, &[1; 1000], 4000);
        assert!(write.accept(&data_out(RESERVED_TAG, 0, 1000, 3000)).is_ok());
        let mut tags = 100;
        let mut next = || {
            tags += 1;
            tags
        };
        let mut r2ts = Vec::new();
        write.next_r2ts(2, 4096, &mut next, &mut r2ts);
        assert_eq!(r2ts.len(), 2);
        assert_eq!((r2ts[0].offset, r2ts[0].length), (4000, 4096));
        assert_eq!(
            (r2ts[1].offset, r2ts[1].length, r2ts[1].r2t_sn),
            (8096, 1904, 1)
        );
        assert!(write.accept(&data_out(101, 0, 4000, 4096)).is_ok());
        assert!(write.accept(&data_out(102, 0, 8096, 1904)).is_ok());
        assert!(write.is_complete());
        assert_eq!(write.take_data().len(), 10_000);
    }

    #[test]
    fn wrong_data_sn_offset_and_tag_are_refused() {
        let mut write = WriteCollection::new(8192, &[], 8192);
        assert_eq!(
            write.accept(&data_out(RESERVED_TAG, 1, 0, 4096)),
            Err(DataOutError::DataSequence {
                expected: 0,
                received: 1
            })
        );
        assert!(matches!(
            write.accept(&data_out(RESERVED_TAG, 0, 4096, 4096)),
            Err(DataOutError::Protocol(_))
        ));
        assert!(matches!(
            write.accept(&data_out(7, 0, 0, 4096)),
            Err(DataOutError::Protocol(_))
        ));
        assert!(matches!(
            write.accept(&data_out(RESERVED_TAG, 0, 0, 9000)),
            Err(DataOutError::Protocol(_))
        ));
    }
}
