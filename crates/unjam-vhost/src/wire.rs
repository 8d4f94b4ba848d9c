//! The virtio-scsi structures on the rings (virtio spec, "SCSI Host Device"): the command
//! request and response headers, the control queue's task management and asynchronous
//! notification requests, the LUN field and the configuration space.
//!
//! Owns byte layouts only: pure functions from bytes to values and back, no memory access,
//! no state. Every field is little-endian; headers are packed.

use thiserror::Error;

/// CDB bytes in a command request (the default the Linux driver keeps).
pub const CDB_SIZE: usize = 32;
/// Sense bytes in a command response (the default the Linux driver keeps).
pub const SENSE_SIZE: usize = 96;
/// lun[8], tag (le64), task_attr, prio, crn, cdb[CDB_SIZE].
pub const COMMAND_HEADER_LEN: usize = 8 + 8 + 3 + CDB_SIZE;
/// sense_len (le32), residual (le32), status_qualifier (le16), status, response,
/// sense[SENSE_SIZE].
pub const RESPONSE_HEADER_LEN: usize = 4 + 4 + 2 + 1 + 1 + SENSE_SIZE;
/// type (le32), subtype (le32), lun[8], tag (le64).
pub const TMF_REQUEST_LEN: usize = 4 + 4 + 8 + 8;
/// type (le32), lun[8], event_requested (le32).
pub const AN_REQUEST_LEN: usize = 4 + 8 + 4;
/// event_actual (le32), response.
pub const AN_RESPONSE_LEN: usize = 5;
/// The largest target and LUN the device reports in its configuration.
pub const MAX_TARGET: u16 = 255;
pub const MAX_LUN: u32 = 16383;

/// A request the device cannot read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("request header is {got} bytes, needs {need}")]
    Short { got: usize, need: usize },
    #[error("control request type {0} is not TMF (0), AN query (1) or AN subscribe (2)")]
    ControlType(u32),
}

/// The addressing of a virtio-scsi LUN field: `01 TT LL LL 00 00 00 00`, LUN in flat space
/// addressing (`0x40 | lun >> 8`, `lun & 0xff`) or peripheral (`00 LL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioLun {
    pub target: u8,
    /// The single-level SAM LUN field the LUN stands for (bytes 2..10 of the virtio field).
    pub sam_field: u64,
}

impl VirtioLun {
    /// `None` unless byte 0 is 1 (the only form the spec defines).
    pub fn parse(field: [u8; 8]) -> Option<VirtioLun> {
        if field[0] != 1 {
            return None;
        }
        let [_, target, b2, b3, b4, b5, b6, b7] = field;
        let sam_field = u64::from_be_bytes([b2, b3, b4, b5, b6, b7, 0, 0]);
        Some(VirtioLun { target, sam_field })
    }
}

/// The header of a command request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandHeader {
    pub lun: [u8; 8],
    pub tag: u64,
    pub task_attr: u8,
    pub cdb: [u8; CDB_SIZE],
}

impl CommandHeader {
    pub fn parse(bytes: &[u8]) -> Result<CommandHeader, WireError> {
        let header = bytes.get(..COMMAND_HEADER_LEN).ok_or(WireError::Short {
            got: bytes.len(),
            need: COMMAND_HEADER_LEN,
        })?;
        let mut cdb = [0; CDB_SIZE];
        cdb.copy_from_slice(&header[19..19 + CDB_SIZE]);
        Ok(CommandHeader {
            lun: array8(&header[0..8]),
            tag: u64::from_le_bytes(array8(&header[8..16])),
            task_attr: header[16],
            cdb,
        })
    }

    /// The CDB without the padding the fixed-size field carries (its length follows from
    /// the operation code's group; vendor groups keep all 32 bytes).
    pub fn cdb(&self) -> &[u8] {
        let length = match self.cdb[0] >> 5 {
            0 => 6,
            1 | 2 => 10,
            4 => 16,
            5 => 12,
            _ => CDB_SIZE,
        };
        &self.cdb[..length]
    }
}

/// A command response header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandResponse<'a> {
    pub response: u8,
    pub status: u8,
    pub residual: u32,
    pub sense: &'a [u8],
}

impl CommandResponse<'_> {
    /// The header's bytes; sense beyond [`SENSE_SIZE`] is cut (and `sense_len` says so).
    pub fn encode(&self) -> [u8; RESPONSE_HEADER_LEN] {
        let mut bytes = [0; RESPONSE_HEADER_LEN];
        let sense = &self.sense[..self.sense.len().min(SENSE_SIZE)];
        bytes[0..4].copy_from_slice(&(sense.len() as u32).to_le_bytes());
        bytes[4..8].copy_from_slice(&self.residual.to_le_bytes());
        bytes[10] = self.status;
        bytes[11] = self.response;
        bytes[12..12 + sense.len()].copy_from_slice(sense);
        bytes
    }
}

/// Task management subtypes (`VIRTIO_SCSI_T_TMF_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TmfSubtype {
    AbortTask,
    AbortTaskSet,
    ClearAca,
    ClearTaskSet,
    ITNexusReset,
    LogicalUnitReset,
    QueryTask,
    QueryTaskSet,
    Other(u32),
}

impl TmfSubtype {
    fn from_code(code: u32) -> TmfSubtype {
        match code {
            0 => Self::AbortTask,
            1 => Self::AbortTaskSet,
            2 => Self::ClearAca,
            3 => Self::ClearTaskSet,
            4 => Self::ITNexusReset,
            5 => Self::LogicalUnitReset,
            6 => Self::QueryTask,
            7 => Self::QueryTaskSet,
            other => Self::Other(other),
        }
    }
}

/// A control queue request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlRequest {
    Tmf {
        subtype: TmfSubtype,
        lun: [u8; 8],
        tag: u64,
    },
    /// Asynchronous notification query or subscription: answered with no event supported.
    AsyncNotification { lun: [u8; 8] },
}

impl ControlRequest {
    pub fn parse(bytes: &[u8]) -> Result<ControlRequest, WireError> {
        let short = |need| WireError::Short {
            got: bytes.len(),
            need,
        };
        let kind = bytes.get(..4).ok_or(short(4))?;
        match u32::from_le_bytes([kind[0], kind[1], kind[2], kind[3]]) {
            0 => {
                let body = bytes.get(..TMF_REQUEST_LEN).ok_or(short(TMF_REQUEST_LEN))?;
                let subtype = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                Ok(ControlRequest::Tmf {
                    subtype: TmfSubtype::from_code(subtype),
                    lun: array8(&body[8..16]),
                    tag: u64::from_le_bytes(array8(&body[16..24])),
                })
            }
            1 | 2 => {
                let body = bytes.get(..AN_REQUEST_LEN).ok_or(short(AN_REQUEST_LEN))?;
                Ok(ControlRequest::AsyncNotification {
                    lun: array8(&body[4..12]),
                })
            }
            other => Err(WireError::ControlType(other)),
        }
    }

    /// How many bytes the device writes back for this request.
    pub fn response_len(&self) -> usize {
        match self {
            ControlRequest::Tmf { .. } => 1,
            ControlRequest::AsyncNotification { .. } => AN_RESPONSE_LEN,
        }
    }
}

/// The device configuration space (`struct virtio_scsi_config`, 36 bytes).
pub fn config_space(num_queues: u32, queue_size: u32, max_sectors: u32) -> [u8; 36] {
    let fields32 = [
        num_queues,
        queue_size.saturating_sub(2), // seg_max: the ring minus the two header descriptors
        max_sectors,
        queue_size, // cmd_per_lun
        16,         // event_info_size
        SENSE_SIZE as u32,
        CDB_SIZE as u32,
    ];
    let mut bytes = [0; 36];
    for (index, value) in fields32.iter().enumerate() {
        bytes[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    }
    bytes[28..30].copy_from_slice(&0u16.to_le_bytes()); // max_channel
    bytes[30..32].copy_from_slice(&MAX_TARGET.to_le_bytes());
    bytes[32..36].copy_from_slice(&MAX_LUN.to_le_bytes());
    bytes
}

fn array8(bytes: &[u8]) -> [u8; 8] {
    let mut array = [0; 8];
    array.copy_from_slice(&bytes[..8]);
    array
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_header_and_lun() {
        let mut bytes = vec![0u8; COMMAND_HEADER_LEN + 4];
        bytes[..4].copy_from_slice(&[1, 2, 0x41, 0x05]);
        bytes[8..16].copy_from_slice(&0x1122u64.to_le_bytes());
        bytes[19] = 0x28;
        bytes[20 + 1] = 0x05;
        let header = CommandHeader::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(header.tag, 0x1122);
        assert_eq!(header.cdb().len(), 10);
        assert_eq!(header.cdb()[0], 0x28);
        let lun = VirtioLun::parse(header.lun).unwrap_or_else(|| panic!("lun"));
        assert_eq!(lun.target, 2);
        assert_eq!(lun.sam_field, 0x4105_0000_0000_0000);
        assert_eq!(VirtioLun::parse([0, 2, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(
            CommandHeader::parse(&bytes[..20]),
            Err(WireError::Short { got: 20, need: 51 })
        );
    }

    #[test]
    fn response_header_layout() {
        let sense = [0x70u8; 18];
        let header = CommandResponse {
            response: 9,
            status: 2,
            residual: 512,
            sense: &sense,
        }
        .encode();
        assert_eq!(header.len(), 108);
        assert_eq!(&header[0..4], &18u32.to_le_bytes());
        assert_eq!(&header[4..8], &512u32.to_le_bytes());
        assert_eq!((header[10], header[11]), (2, 9));
        assert_eq!(header[12], 0x70);
        assert_eq!(header[30], 0);
        let long = [1u8; 200];
        let cut = CommandResponse {
            response: 0,
            status: 2,
            residual: 0,
            sense: &long,
        }
        .encode();
        assert_eq!(&cut[0..4], &96u32.to_le_bytes());
    }

    #[test]
    fn control_requests() {
        let mut tmf = vec![0u8; TMF_REQUEST_LEN];
        tmf[4] = 5;
        tmf[8] = 1;
        tmf[16] = 7;
        assert_eq!(
            ControlRequest::parse(&tmf),
            Ok(ControlRequest::Tmf {
                subtype: TmfSubtype::LogicalUnitReset,
                lun: [1, 0, 0, 0, 0, 0, 0, 0],
                tag: 7
            })
        );
        assert!(ControlRequest::parse(&tmf[..10]).is_err());
        let mut an = vec![0u8; AN_REQUEST_LEN];
        an[0] = 2;
        assert!(matches!(
            ControlRequest::parse(&an),
            Ok(ControlRequest::AsyncNotification { .. })
        ));
        an[0] = 9;
        assert_eq!(ControlRequest::parse(&an), Err(WireError::ControlType(9)));
        assert_eq!(
            ControlRequest::parse(&[]).map(|_| ()),
            Err(WireError::Short { got: 0, need: 4 })
        );
    }

    #[test]
    fn config_space_fields() {
        let config = config_space(1, 128, 0xffff);
        assert_eq!(&config[0..4], &1u32.to_le_bytes());
        assert_eq!(&config[20..24], &96u32.to_le_bytes());
        assert_eq!(&config[24..28], &32u32.to_le_bytes());
        assert_eq!(&config[30..32], &255u16.to_le_bytes());
    }
}
