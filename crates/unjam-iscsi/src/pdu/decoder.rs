//! Framing: turning a byte stream into PDUs and PDUs into bytes, with padding and the optional
//! CRC32C header and data digests (RFC 7143 §11.2, §13.1).
//!
//! Owns lengths, padding and digests. A length read from the wire is checked against the
//! decoder's `max_data_segment_length` before any buffer is reserved for it.

use bytes::{Buf, Bytes, BytesMut};

use super::header::{Bhs, BHS_LENGTH, MAX_DATA_SEGMENT_FIELD};
use super::{Pdu, PduError};

/// Which digests are in force on a connection (negotiated at login, active after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Digests {
    pub header: bool,
    pub data: bool,
}

const DIGEST_LENGTH: usize = 4;

fn padded(length: usize) -> usize {
    length.div_ceil(4) * 4
}

/// The iSCSI digest: CRC32C, transmitted least significant byte first (RFC 7143 §13.1 and the
/// test vectors in RFC 3720 B.4).
fn digest_bytes(crc: u32) -> [u8; 4] {
    crc.to_le_bytes()
}

/// Appends the encoding of `pdu` to `out`.
pub fn encode_pdu(pdu: &Pdu, digests: Digests, out: &mut Vec<u8>) -> Result<(), PduError> {
    let data = pdu.data();
    let length = u32::try_from(data.len())
        .ok()
        .filter(|length| *length <= MAX_DATA_SEGMENT_FIELD)
        .ok_or(PduError::DataSegmentUnencodable(data.len()))?;
    let mut bhs = pdu.header();
    bhs.set_data_segment_length(length);
    out.reserve(BHS_LENGTH + 2 * DIGEST_LENGTH + padded(data.len()));
    out.extend_from_slice(&bhs.0);
    if digests.header {
        out.extend_from_slice(&digest_bytes(crc32c::crc32c(&bhs.0)));
    }
    if data.is_empty() {
        return Ok(());
    }
    out.extend_from_slice(data);
    let padding = [0u8; 3];
    let pad_length = padded(data.len()) - data.len();
    out.extend_from_slice(&padding[..pad_length]);
    if digests.data {
        let crc = crc32c::crc32c_append(crc32c::crc32c(data), &padding[..pad_length]);
        out.extend_from_slice(&digest_bytes(crc));
    }
    Ok(())
}

/// Incremental PDU decoder over a growing receive buffer.
#[derive(Debug, Clone)]
pub struct PduDecoder {
    /// The largest data segment accepted (our declared MaxRecvDataSegmentLength).
    pub max_data_segment_length: u32,
    pub digests: Digests,
}

impl PduDecoder {
    pub fn new(max_data_segment_length: u32, digests: Digests) -> PduDecoder {
        PduDecoder {
            max_data_segment_length,
            digests,
        }
    }

    /// Removes one complete PDU from the front of `buffer`, or returns `Ok(None)` when more
    /// bytes are needed (after reserving room for the rest of the PDU).
    pub fn decode(&self, buffer: &mut BytesMut) -> Result<Option<Pdu>, PduError> {
        match self.decode_frame(buffer)? {
            Some((bhs, data)) => Pdu::from_parts(&bhs, data).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`PduDecoder::decode`], but stops after framing and digests: the header and the
    /// data segment of one PDU. A receiver that answers PDUs it cannot parse (a target's
    /// Reject) needs the header even when [`Pdu::from_parts`] refuses it; the stream stays
    /// in step either way.
    pub fn decode_frame(&self, buffer: &mut BytesMut) -> Result<Option<(Bhs, Bytes)>, PduError> {
        let Some(head) = self.frame_head(buffer)? else {
            return Ok(None);
        };
        let total = head.total();
        if buffer.len() < total {
            buffer.reserve(total - buffer.len());
            return Ok(None);
        }
        self.take_frame(head, buffer).map(Some)
    }

    /// Removes the PDU that `head` describes (all of it in `buffer`) from the front of
    /// `buffer` and checks its digests: its header and data segment.
    pub(crate) fn take_frame(
        &self,
        head: FrameHead,
        buffer: &mut BytesMut,
    ) -> Result<(Bhs, Bytes), PduError> {
        let total = head.total();
        assert!(buffer.len() >= total, "take_frame of an incomplete PDU");
        let FrameHead {
            bhs,
            header_total,
            data_length,
            trailer,
        } = head;
        // `buffer` holds at least `total` bytes, so every range below is inside `frame`.
        let mut frame = buffer.split_to(total).freeze();
        self.check_header_digest(frame.get(..header_total).unwrap_or_default())?;
        frame.advance(header_total);
        if self.digests.data && data_length > 0 {
            let padded_length = data_length + trailer - DIGEST_LENGTH;
            let computed = crc32c::crc32c(frame.get(..padded_length).unwrap_or_default());
            let received = read_digest(frame.get(padded_length..).unwrap_or_default());
            if computed != received {
                return Err(PduError::DataDigest { received, computed });
            }
        }
        frame.truncate(data_length);
        Ok((bhs, frame))
    }

    /// The framing of the PDU at the front of `buffer` once its BHS has arrived: lengths
    /// only (checked against `max_data_segment_length`), no digest checked yet.
    pub(crate) fn frame_head(&self, buffer: &[u8]) -> Result<Option<FrameHead>, PduError> {
        let Some(header) = buffer.first_chunk::<BHS_LENGTH>() else {
            return Ok(None);
        };
        let bhs = Bhs(*header);
        let data_length = bhs.data_segment_length();
        if data_length > self.max_data_segment_length {
            return Err(PduError::DataSegmentTooLong {
                length: data_length,
                limit: self.max_data_segment_length,
            });
        }
        let data_length = data_length as usize;
        let header_digest = if self.digests.header {
            DIGEST_LENGTH
        } else {
            0
        };
        let data_digest = if self.digests.data && data_length > 0 {
            DIGEST_LENGTH
        } else {
            0
        };
        Ok(Some(FrameHead {
            header_total: BHS_LENGTH + bhs.total_ahs_length() + header_digest,
            data_length,
            trailer: padded(data_length) - data_length + data_digest,
            bhs,
        }))
    }

    /// Checks the header digest (if negotiated) of `header`: the BHS, the AHS and the digest.
    pub(crate) fn check_header_digest(&self, header: &[u8]) -> Result<(), PduError> {
        if !self.digests.header {
            return Ok(());
        }
        let covered = header.len().saturating_sub(DIGEST_LENGTH);
        let computed = crc32c::crc32c(header.get(..covered).unwrap_or_default());
        let received = read_digest(header.get(covered..).unwrap_or_default());
        if computed != received {
            return Err(PduError::HeaderDigest { received, computed });
        }
        Ok(())
    }

    /// Checks the data digest of a data segment received elsewhere (in place): `data`, then
    /// `trailer` (its padding and the digest) as they came from the wire.
    pub(crate) fn check_data_digest(&self, data: &[u8], trailer: &[u8]) -> Result<(), PduError> {
        if !self.digests.data || data.is_empty() {
            return Ok(());
        }
        let pad = trailer.len().saturating_sub(DIGEST_LENGTH);
        let padding = trailer.get(..pad).unwrap_or_default();
        let computed = crc32c::crc32c_append(crc32c::crc32c(data), padding);
        let received = read_digest(trailer.get(pad..).unwrap_or_default());
        if computed != received {
            return Err(PduError::DataDigest { received, computed });
        }
        Ok(())
    }
}

/// Where the parts of one PDU lie in the byte stream, known once its BHS has arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameHead {
    pub bhs: Bhs,
    /// BHS, AHS and header digest.
    pub header_total: usize,
    pub data_length: usize,
    /// Padding to 4 bytes and the data digest after the data segment.
    pub trailer: usize,
}

impl FrameHead {
    pub fn total(&self) -> usize {
        self.header_total + self.data_length + self.trailer
    }
}

fn read_digest(bytes: &[u8]) -> u32 {
    match bytes {
        &[a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}
