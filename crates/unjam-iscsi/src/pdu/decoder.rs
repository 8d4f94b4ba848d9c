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
        let ahs_length = bhs.total_ahs_length();
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
        let header_total = BHS_LENGTH + ahs_length + header_digest;
        let total = header_total + padded(data_length) + data_digest;
        if buffer.len() < total {
            buffer.reserve(total - buffer.len());
            return Ok(None);
        }
        // `buffer` holds at least `total` bytes, so every range below is inside `frame`.
        let mut frame = buffer.split_to(total).freeze();
        let covered = BHS_LENGTH + ahs_length;
        if self.digests.header {
            let computed = crc32c::crc32c(frame.get(..covered).unwrap_or_default());
            let received = read_digest(frame.get(covered..header_total).unwrap_or_default());
            if computed != received {
                return Err(PduError::HeaderDigest { received, computed });
            }
        }
        frame.advance(header_total);
        if data_digest != 0 {
            let padded_length = padded(data_length);
            let computed = crc32c::crc32c(frame.get(..padded_length).unwrap_or_default());
            let received = read_digest(frame.get(padded_length..).unwrap_or_default());
            if computed != received {
                return Err(PduError::DataDigest { received, computed });
            }
        }
        frame.truncate(data_length);
        Ok(Some((bhs, frame)))
    }
}

fn read_digest(bytes: &[u8]) -> u32 {
    match bytes {
        &[a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}
