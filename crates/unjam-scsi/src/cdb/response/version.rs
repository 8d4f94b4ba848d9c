//! The version descriptors of standard INQUIRY data (bytes 58..74, SPC-5 6.7.2): which
//! standards a device claims, named from T10's table. Each standard owns a block of 32
//! codes; the first is "no version claimed", the others name revisions.

/// Up to eight descriptors from standard INQUIRY data (zero entries left out).
pub fn version_descriptors(inquiry: &[u8]) -> Vec<u16> {
    inquiry
        .get(58..74.min(inquiry.len()))
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .filter(|code| *code != 0)
        .collect()
}

/// The standard a descriptor names (`SBC-3`), when unjam knows it.
pub fn version_standard(code: u16) -> Option<&'static str> {
    let base = code & 0xffe0;
    Some(match base {
        0x0020 => "SAM",
        0x0040 => "SAM-2",
        0x0060 => "SAM-3",
        0x0080 => "SAM-4",
        0x00a0 => "SAM-5",
        0x00c0 => "SAM-6",
        0x0120 => "SPC",
        0x0140 => "MMC",
        0x0160 => "SCC",
        0x0180 => "SBC",
        0x01a0 => "SMC",
        0x01c0 => "SES",
        0x0200 => "SSC",
        0x0260 => "SPC-2",
        0x0300 => "SPC-3",
        0x0320 => "SBC-2",
        0x0340 => "OSD",
        0x0360 => "SSC-2",
        0x0460 => "SPC-4",
        0x04c0 => "SBC-3",
        0x05c0 => "SPC-5",
        0x0600 => "SBC-4",
        0x0960 => "iSCSI",
        0x0be0 => "SAS",
        0x0c00 => "SAS-1.1",
        0x0c20 => "SAS-2",
        0x1ea0 => "SAT",
        0x1ec0 => "SAT-2",
        _ => return None,
    })
}

/// `SBC-3 (no version claimed)`, `SPC-4 (revision code 0x0476)`, or the bare code.
pub fn version_name(code: u16) -> String {
    match version_standard(code) {
        Some(name) if code & 0x1f == 0 => format!("{name} (no version claimed)"),
        Some(name) => format!("{name} (revision code 0x{code:04x})"),
        None => format!("0x{code:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_read_and_named() {
        let mut inquiry = vec![0u8; 74];
        inquiry[58..64].copy_from_slice(&[0x04, 0xc0, 0x09, 0x60, 0x03, 0x00]);
        assert_eq!(version_descriptors(&inquiry), vec![0x04c0, 0x0960, 0x0300]);
        assert_eq!(version_name(0x04c0), "SBC-3 (no version claimed)");
        assert_eq!(version_name(0x0960), "iSCSI (no version claimed)");
        assert_eq!(version_name(0x0476), "SPC-4 (revision code 0x0476)");
        assert_eq!(version_name(0xfff0), "0xfff0");
        assert!(version_descriptors(&inquiry[..36]).is_empty());
        assert_eq!(version_descriptors(&inquiry[..61]), vec![0x04c0]);
    }
}
