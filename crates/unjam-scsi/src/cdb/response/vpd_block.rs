//! The VPD pages an initiator reads to size its I/O: 86h Extended INQUIRY Data (SPC-5
//! 7.7.7), B0h Block Limits, B1h Block Device Characteristics and B2h Logical Block
//! Provisioning (SBC-4 6.6). Parse only (the simulated target does not serve them yet).
//!
//! Pages grew over the standards' revisions: a field past the PAGE LENGTH a device
//! reports is `None`, never read from beyond the page.

use super::inquiry::Peripheral;
use super::vpd::parse_page;
use crate::cdb::error::ResponseError;

/// More VPD page codes.
pub mod vpd_page_extra {
    pub const EXTENDED_INQUIRY: u8 = 0x86;
}

/// Field access by offset into the whole page (header included), `None` past its end.
struct Fields<'a> {
    body: &'a [u8],
}

impl Fields<'_> {
    fn u8(&self, offset: usize) -> Option<u8> {
        self.body.get(offset.checked_sub(4)?).copied()
    }

    fn bit(&self, offset: usize, bit: u8) -> Option<bool> {
        self.u8(offset).map(|byte| byte >> bit & 1 == 1)
    }

    fn be16(&self, offset: usize) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8(offset)?, self.u8(offset + 1)?]))
    }

    fn be32(&self, offset: usize) -> Option<u32> {
        Some(u32::from_be_bytes([
            self.u8(offset)?,
            self.u8(offset + 1)?,
            self.u8(offset + 2)?,
            self.u8(offset + 3)?,
        ]))
    }

    fn be64(&self, offset: usize) -> Option<u64> {
        Some(u64::from(self.be32(offset)?) << 32 | u64::from(self.be32(offset + 4)?))
    }
}

/// VPD page B0h (SBC-4 6.6.4). Lengths are in logical blocks; 0 means "not reported" for
/// most of them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockLimits {
    pub peripheral: Peripheral,
    pub page_length: u16,
    /// WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is refused.
    pub wsnz: Option<bool>,
    pub max_compare_and_write_length: Option<u8>,
    pub optimal_transfer_length_granularity: Option<u16>,
    pub max_transfer_length: Option<u32>,
    pub optimal_transfer_length: Option<u32>,
    pub max_prefetch_length: Option<u32>,
    pub max_unmap_lba_count: Option<u32>,
    pub max_unmap_block_descriptor_count: Option<u32>,
    pub optimal_unmap_granularity: Option<u32>,
    /// UGAVALID.
    pub unmap_granularity_alignment_valid: Option<bool>,
    pub unmap_granularity_alignment: Option<u32>,
    pub max_write_same_length: Option<u64>,
    pub max_atomic_transfer_length: Option<u32>,
    pub atomic_alignment: Option<u32>,
    pub atomic_transfer_length_granularity: Option<u32>,
    pub max_atomic_transfer_length_with_boundary: Option<u32>,
    pub max_atomic_boundary_size: Option<u32>,
}

impl BlockLimits {
    pub const PAGE: u8 = 0xb0;

    pub fn parse(bytes: &[u8]) -> Result<BlockLimits, ResponseError> {
        let (peripheral, body) = parse_page(bytes, Self::PAGE, "Block Limits VPD page")?;
        let f = Fields { body };
        Ok(BlockLimits {
            peripheral,
            page_length: body.len() as u16,
            wsnz: f.bit(4, 0),
            max_compare_and_write_length: f.u8(5),
            optimal_transfer_length_granularity: f.be16(6),
            max_transfer_length: f.be32(8),
            optimal_transfer_length: f.be32(12),
            max_prefetch_length: f.be32(16),
            max_unmap_lba_count: f.be32(20),
            max_unmap_block_descriptor_count: f.be32(24),
            optimal_unmap_granularity: f.be32(28),
            unmap_granularity_alignment_valid: f.bit(32, 7),
            unmap_granularity_alignment: f.be32(32).map(|value| value & 0x7fff_ffff),
            max_write_same_length: f.be64(36),
            max_atomic_transfer_length: f.be32(44),
            atomic_alignment: f.be32(48),
            atomic_transfer_length_granularity: f.be32(52),
            max_atomic_transfer_length_with_boundary: f.be32(56),
            max_atomic_boundary_size: f.be32(60),
        })
    }
}

/// VPD page B1h (SBC-4 6.6.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockDeviceCharacteristics {
    pub peripheral: Peripheral,
    /// 0 not reported, 1 non-rotating medium (solid state), else revolutions per minute.
    pub medium_rotation_rate: Option<u16>,
    pub product_type: Option<u8>,
    /// WABEREQ (2 bits).
    pub wabereq: Option<u8>,
    /// WACEREQ (2 bits).
    pub wacereq: Option<u8>,
    /// NOMINAL FORM FACTOR (4 bits): 1 = 5.25", 2 = 3.5", 3 = 2.5", 4 = 1.8", 5 = < 1.8".
    pub nominal_form_factor: Option<u8>,
    /// ZONED (2 bits).
    pub zoned: Option<u8>,
    /// FUAB: FUA also forces earlier writes to the medium.
    pub fuab: Option<bool>,
    /// VBULS: VERIFY with BYTCHK 0 checks the whole medium.
    pub vbuls: Option<bool>,
}

impl BlockDeviceCharacteristics {
    pub const PAGE: u8 = 0xb1;

    pub fn parse(bytes: &[u8]) -> Result<BlockDeviceCharacteristics, ResponseError> {
        let what = "Block Device Characteristics VPD page";
        let (peripheral, body) = parse_page(bytes, Self::PAGE, what)?;
        let f = Fields { body };
        Ok(BlockDeviceCharacteristics {
            peripheral,
            medium_rotation_rate: f.be16(4),
            product_type: f.u8(6),
            wabereq: f.u8(7).map(|byte| byte >> 6),
            wacereq: f.u8(7).map(|byte| byte >> 4 & 0x3),
            nominal_form_factor: f.u8(7).map(|byte| byte & 0xf),
            zoned: f.u8(8).map(|byte| byte >> 4 & 0x3),
            fuab: f.bit(8, 1),
            vbuls: f.bit(8, 0),
        })
    }
}

/// VPD page B2h (SBC-4 6.6.5).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LogicalBlockProvisioning {
    pub peripheral: Peripheral,
    pub threshold_exponent: Option<u8>,
    /// LBPU: UNMAP supported.
    pub lbpu: Option<bool>,
    /// LBPWS: WRITE SAME(16) with UNMAP supported.
    pub lbpws: Option<bool>,
    /// LBPWS10: WRITE SAME(10) with UNMAP supported.
    pub lbpws10: Option<bool>,
    /// LBPRZ (3 bits): what an unmapped block reads as.
    pub lbprz: Option<u8>,
    /// ANC_SUP: ANCHOR supported.
    pub anc_sup: Option<bool>,
    /// DP: a provisioning group descriptor follows.
    pub dp: Option<bool>,
    pub minimum_percentage: Option<u8>,
    /// PROVISIONING TYPE: 0 full, 1 resource provisioned, 2 thin.
    pub provisioning_type: Option<u8>,
    pub threshold_percentage: Option<u8>,
}

impl LogicalBlockProvisioning {
    pub const PAGE: u8 = 0xb2;

    pub fn parse(bytes: &[u8]) -> Result<LogicalBlockProvisioning, ResponseError> {
        let what = "Logical Block Provisioning VPD page";
        let (peripheral, body) = parse_page(bytes, Self::PAGE, what)?;
        let f = Fields { body };
        Ok(LogicalBlockProvisioning {
            peripheral,
            threshold_exponent: f.u8(4),
            lbpu: f.bit(5, 7),
            lbpws: f.bit(5, 6),
            lbpws10: f.bit(5, 5),
            lbprz: f.u8(5).map(|byte| byte >> 2 & 0x7),
            anc_sup: f.bit(5, 1),
            dp: f.bit(5, 0),
            minimum_percentage: f.u8(6).map(|byte| byte >> 3),
            provisioning_type: f.u8(6).map(|byte| byte & 0x7),
            threshold_percentage: f.u8(7),
        })
    }
}

/// VPD page 86h (SPC-5 7.7.7), the fields an initiator acts on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExtendedInquiry {
    pub peripheral: Peripheral,
    pub activate_microcode: Option<u8>,
    /// SPT: the protection types supported.
    pub spt: Option<u8>,
    pub grd_chk: Option<bool>,
    pub app_chk: Option<bool>,
    pub ref_chk: Option<bool>,
    pub uask_sup: Option<bool>,
    pub group_sup: Option<bool>,
    pub prior_sup: Option<bool>,
    pub headsup: Option<bool>,
    pub ordsup: Option<bool>,
    pub simpsup: Option<bool>,
    pub wu_sup: Option<bool>,
    pub crd_sup: Option<bool>,
    pub nv_sup: Option<bool>,
    pub v_sup: Option<bool>,
    pub no_pi_chk: Option<bool>,
    pub p_i_i_sup: Option<bool>,
    pub luiclr: Option<bool>,
    pub r_sup: Option<bool>,
    pub cbcs: Option<bool>,
    pub multi_it_nexus_microcode_download: Option<u8>,
    pub extended_self_test_minutes: Option<u16>,
    pub poa_sup: Option<bool>,
    pub hra_sup: Option<bool>,
    pub vsa_sup: Option<bool>,
    pub max_sense_data_length: Option<u8>,
}

impl ExtendedInquiry {
    pub const PAGE: u8 = vpd_page_extra::EXTENDED_INQUIRY;

    pub fn parse(bytes: &[u8]) -> Result<ExtendedInquiry, ResponseError> {
        let what = "Extended INQUIRY Data VPD page";
        let (peripheral, body) = parse_page(bytes, Self::PAGE, what)?;
        let f = Fields { body };
        Ok(ExtendedInquiry {
            peripheral,
            activate_microcode: f.u8(4).map(|byte| byte >> 6),
            spt: f.u8(4).map(|byte| byte >> 3 & 0x7),
            grd_chk: f.bit(4, 2),
            app_chk: f.bit(4, 1),
            ref_chk: f.bit(4, 0),
            uask_sup: f.bit(5, 5),
            group_sup: f.bit(5, 4),
            prior_sup: f.bit(5, 3),
            headsup: f.bit(5, 2),
            ordsup: f.bit(5, 1),
            simpsup: f.bit(5, 0),
            wu_sup: f.bit(6, 3),
            crd_sup: f.bit(6, 2),
            nv_sup: f.bit(6, 1),
            v_sup: f.bit(6, 0),
            no_pi_chk: f.bit(7, 5),
            p_i_i_sup: f.bit(7, 4),
            luiclr: f.bit(7, 0),
            r_sup: f.bit(8, 4),
            cbcs: f.bit(8, 0),
            multi_it_nexus_microcode_download: f.u8(9).map(|byte| byte & 0xf),
            extended_self_test_minutes: f.be16(10),
            poa_sup: f.bit(12, 7),
            hra_sup: f.bit(12, 6),
            vsa_sup: f.bit(12, 5),
            max_sense_data_length: f.u8(13),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(code: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x00, code];
        bytes.extend_from_slice(&(body.len() as u16).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn block_limits_reads_what_the_page_holds() {
        let mut body = vec![0u8; 0x3c];
        body[0] = 0x01; // WSNZ
        body[4..8].copy_from_slice(&0x4000u32.to_be_bytes());
        body[8..12].copy_from_slice(&0x0800u32.to_be_bytes());
        body[28] = 0x80; // UGAVALID
        body[31] = 8;
        body[32..40].copy_from_slice(&0x1_0000_0000u64.to_be_bytes());
        let limits = BlockLimits::parse(&page(0xb0, &body)).unwrap();
        assert_eq!(limits.wsnz, Some(true));
        assert_eq!(limits.max_transfer_length, Some(0x4000));
        assert_eq!(limits.optimal_transfer_length, Some(0x0800));
        assert_eq!(limits.unmap_granularity_alignment_valid, Some(true));
        assert_eq!(limits.unmap_granularity_alignment, Some(8));
        assert_eq!(limits.max_write_same_length, Some(0x1_0000_0000));
        // An SBC-2 era page stops after the maximum prefetch length.
        let short = BlockLimits::parse(&page(0xb0, &body[..16])).unwrap();
        assert_eq!(short.max_prefetch_length, Some(0));
        assert_eq!(short.max_unmap_lba_count, None);
        assert!(BlockLimits::parse(&page(0xb1, &body)).is_err());
        assert!(BlockLimits::parse(&[0, 0xb0, 0, 60, 1]).is_err());
    }

    #[test]
    fn characteristics_provisioning_and_extended_inquiry() {
        let characteristics =
            BlockDeviceCharacteristics::parse(&page(0xb1, &[0x1c, 0x20, 0, 0x52, 0x02])).unwrap();
        assert_eq!(characteristics.medium_rotation_rate, Some(7200));
        assert_eq!(characteristics.wabereq, Some(1));
        assert_eq!(characteristics.wacereq, Some(1));
        assert_eq!(characteristics.nominal_form_factor, Some(2));
        assert_eq!(characteristics.fuab, Some(true));
        let provisioning =
            LogicalBlockProvisioning::parse(&page(0xb2, &[0, 0xe6, 0x02, 0])).unwrap();
        assert_eq!(provisioning.lbpu, Some(true));
        assert_eq!(provisioning.lbpws10, Some(true));
        assert_eq!(provisioning.lbprz, Some(1));
        assert_eq!(provisioning.anc_sup, Some(true));
        assert_eq!(provisioning.provisioning_type, Some(2));
        let extended = ExtendedInquiry::parse(&page(0x86, &[0x0d, 0x07, 0x01, 0, 0])).unwrap();
        assert_eq!(extended.spt, Some(1));
        assert_eq!(extended.ref_chk, Some(true));
        assert_eq!(
            (extended.headsup, extended.ordsup, extended.simpsup),
            (Some(true), Some(true), Some(true))
        );
        assert_eq!(extended.v_sup, Some(true));
        assert_eq!(extended.max_sense_data_length, None);
    }
}
