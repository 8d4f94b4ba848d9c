//! Setting up a logical unit as Linux's scan and sd probe do, through the core: standard
//! INQUIRY (is there a LUN, of what type), the Supported VPD Pages, Unit Serial Number and
//! Device Identification pages, and READ CAPACITY for block devices.
//!
//! Like the kernel's, these are passthrough commands sent with `scsi_execute_cmd` and a
//! `scsi_failure` table: the core runs each attempt (timeouts, transport retries, error
//! handling) and [`execute_cmd`] re-issues the whole command, a bounded number of times,
//! when it ends with a UNIT ATTENTION — the one every new session meets. A passthrough
//! command sent afterwards (`unjam tur`) sees only fresh conditions.
//!
//! Owns the probe's order, its failure table and what it keeps ([`LunInfo`]). Parsing is
//! `unjam-scsi`'s.

use unjam_core::buffers::Cdb;
use unjam_core::request::{BlockInfo, BlockOp};
use unjam_core::topology::{DeviceId, DiskName, Hctl};
use unjam_scsi::cdb::response::{
    device_type, vpd_page, DeviceIdentification, StandardInquiry, SupportedVpdPages,
    UnitSerialNumber,
};
use unjam_scsi::cdb::Inquiry;
use unjam_scsi::sense::{SenseHeader, SenseKey};

use crate::capacity::{read_capacity, Capacity, CapacityError};
use crate::command::{Command, CommandOutcome, IoError, Transfer};
use crate::engine::{EngineHandle, Target};

/// Allocation length of the standard INQUIRY (sd and sg_inq use 36..=96).
const INQUIRY_LENGTH: u16 = 96;
/// Allocation length of a VPD page read during the probe.
const VPD_LENGTH: u16 = 1024;

/// What the probe learned about one logical unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LunInfo {
    /// Index of the session (target) in the initiator.
    pub target: usize,
    /// The LUN as Linux numbers it.
    pub lun: u64,
    /// The 8-byte LUN field.
    pub lun_field: u64,
    pub hctl: Hctl,
    /// The core's disk name (`sdb`), as its log lines print it.
    pub name: String,
    pub peripheral_qualifier: u8,
    pub device_type: u8,
    pub vendor: String,
    pub product: String,
    pub revision: String,
    /// VPD page 80h.
    pub serial: Option<String>,
    /// The best logical-unit designator of VPD page 83h (`naa.6001...`).
    pub identifier: Option<String>,
    /// READ CAPACITY, for block devices; why not, otherwise.
    pub capacity: Result<Capacity, CapacityError>,
    pub(crate) device: DeviceId,
}

impl LunInfo {
    /// The core device of this LUN (a multipath device's paths are named by it).
    pub fn device_id(&self) -> DeviceId {
        self.device
    }

    /// What is known of a LUN set up without a probe.
    pub(crate) fn unprobed(device: DeviceId, target: usize, lun: u64, lun_field: u64) -> LunInfo {
        LunInfo {
            target,
            lun,
            lun_field,
            hctl: Hctl {
                host: target as u32,
                channel: 0,
                target: 0,
                lun,
            },
            name: DiskName::sd(device.0).as_str().to_string(),
            peripheral_qualifier: 0,
            device_type: device_type::UNKNOWN_OR_NONE,
            vendor: String::new(),
            product: String::new(),
            revision: String::new(),
            serial: None,
            identifier: None,
            capacity: Err(CapacityError::NotProbed),
            device,
        }
    }
}

/// Why a LUN could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("LUN {0} does not exist at the target (INQUIRY: peripheral qualifier 3)")]
    NoSuchLun(u64),
    #[error("INQUIRY failed: {0}")]
    Inquiry(IoError),
    #[error("INQUIRY data: {0}")]
    InquiryData(String),
}

/// Re-issues of a command that ended with UNIT ATTENTION (`scsi_probe_lun` and sd's READ
/// CAPACITY list UNIT ATTENTION in their `scsi_failure` tables).
const UNIT_ATTENTION_REISSUES: u32 = 3;

/// The kernel's `scsi_execute_cmd` with the probe's failure table: runs `command` through
/// the core and, when it ends with UNIT ATTENTION, runs it again (at most
/// [`UNIT_ATTENTION_REISSUES`] times). Anything but a good completion is an error.
pub(crate) async fn execute_cmd(
    engine: &EngineHandle,
    device: DeviceId,
    command: Command,
) -> Result<CommandOutcome, IoError> {
    let mut outcome = engine
        .execute(Target::Device(device), command.clone())
        .await?;
    for _ in 0..UNIT_ATTENTION_REISSUES {
        if !is_unit_attention(&outcome) {
            break;
        }
        outcome = engine
            .execute(Target::Device(device), command.clone())
            .await?;
    }
    outcome.into_result()
}

fn is_unit_attention(outcome: &CommandOutcome) -> bool {
    SenseHeader::normalize(outcome.sense.as_slice())
        .is_some_and(|header| header.key == SenseKey::UNIT_ATTENTION)
}

/// A passthrough read of `length` bytes with sd's retry count for transport failures.
pub(crate) fn probe_command(cdb: Cdb, length: u32) -> Command {
    Command {
        cdb,
        transfer: Transfer::read(length),
        block: BlockInfo {
            op: BlockOp::DriverIn,
            ..BlockInfo::default()
        },
        timeout: None,
        retries: None,
    }
}

async fn read_page(
    engine: &EngineHandle,
    device: DeviceId,
    inquiry: Inquiry,
) -> Result<CommandOutcome, IoError> {
    let length = u32::from(inquiry.allocation_length);
    let cdb = inquiry
        .build()
        .map_err(|error| IoError::Invalid(error.to_string()))?;
    execute_cmd(engine, device, probe_command(cdb, length)).await
}

/// Probes `device` (LUN `lun` of session `target`).
pub(crate) async fn probe(
    engine: &EngineHandle,
    device: DeviceId,
    target: usize,
    lun: u64,
    lun_field: u64,
) -> Result<LunInfo, ProbeError> {
    let standard = read_page(engine, device, Inquiry::standard(INQUIRY_LENGTH))
        .await
        .map_err(ProbeError::Inquiry)?;
    let inquiry = StandardInquiry::parse(&standard.data)
        .map_err(|error| ProbeError::InquiryData(error.to_string()))?;
    if inquiry.peripheral.is_lun_absent() {
        return Err(ProbeError::NoSuchLun(lun));
    }
    let text = |field: unjam_scsi::cdb::response::TextField<'_>| {
        String::from_utf8_lossy(field.as_bytes()).into_owned()
    };
    let mut info = LunInfo {
        peripheral_qualifier: inquiry.peripheral.qualifier(),
        device_type: inquiry.peripheral.device_type(),
        vendor: text(inquiry.vendor_text()),
        product: text(inquiry.product_text()),
        revision: text(inquiry.revision_text()),
        capacity: Err(CapacityError::NotABlockDevice),
        ..LunInfo::unprobed(device, target, lun, lun_field)
    };
    identify(engine, &mut info).await;
    if is_block_device(info.device_type) {
        info.capacity = read_capacity(engine, device).await;
    }
    Ok(info)
}

/// Serial number and designator, from the VPD pages the LUN says it has.
async fn identify(engine: &EngineHandle, info: &mut LunInfo) {
    let device = info.device;
    let supported = read_page(engine, device, Inquiry::vpd(vpd_page::SUPPORTED_PAGES, 255)).await;
    let Ok(supported) = supported else { return };
    let Ok(pages) = SupportedVpdPages::parse(&supported.data) else {
        return;
    };
    if pages.supports(vpd_page::UNIT_SERIAL_NUMBER) {
        let page = Inquiry::vpd(vpd_page::UNIT_SERIAL_NUMBER, 255);
        if let Ok(outcome) = read_page(engine, device, page).await {
            if let Ok(serial) = UnitSerialNumber::parse(&outcome.data) {
                info.serial = Some(String::from_utf8_lossy(serial.text().as_bytes()).into_owned());
            }
        }
    }
    if pages.supports(vpd_page::DEVICE_IDENTIFICATION) {
        let page = Inquiry::vpd(vpd_page::DEVICE_IDENTIFICATION, VPD_LENGTH);
        if let Ok(outcome) = read_page(engine, device, page).await {
            if let Ok(identification) = DeviceIdentification::parse(&outcome.data) {
                info.identifier = identification
                    .best_lu_designator()
                    .map(|designator| designator.id().to_string());
            }
        }
    }
}

/// Device types that have logical blocks and READ CAPACITY.
pub fn is_block_device(kind: u8) -> bool {
    matches!(
        kind,
        device_type::DIRECT_ACCESS
            | device_type::OPTICAL_MEMORY
            | device_type::SIMPLIFIED_DIRECT_ACCESS
    )
}
