//! Opcode names for the CDB log line (`[sda] tag#N CDB: Read(10) 28 00 ...`, spec §4.6).
//!
//! Names are written in the style the kernel prints (`Read(10)`, `Test Unit Ready`). An
//! opcode without a name prints as `opcode=0x%x`, with ` (vendor)` for 0xc0 and above and
//! ` (reserved)` for 0x60..0x7d; a service-action opcode whose action has no name prints
//! as `<name>, sa=0x%x`.

use std::fmt;

/// A displayable opcode name, computed without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OpcodeName {
    Named(&'static str),
    ServiceAction { group: &'static str, action: u16 },
    Unnamed(u8),
}

impl fmt::Display for OpcodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            OpcodeName::Named(name) => f.write_str(name),
            OpcodeName::ServiceAction { group, action } => write!(f, "{group}, sa=0x{action:x}"),
            OpcodeName::Unnamed(op) if op >= 0xc0 => write!(f, "opcode=0x{op:x} (vendor)"),
            OpcodeName::Unnamed(op) if (0x60..=0x7d).contains(&op) => {
                write!(f, "opcode=0x{op:x} (reserved)")
            }
            OpcodeName::Unnamed(op) => write!(f, "opcode=0x{op:x}"),
        }
    }
}

/// Names the command in `cdb`. An empty CDB is named as opcode 0 would be.
pub fn opcode_name(cdb: &[u8]) -> OpcodeName {
    let op = cdb.first().copied().unwrap_or(0);
    if let Some((group, actions)) = service_action_group(op) {
        let action = service_action(op, cdb);
        return match actions.iter().find(|(sa, _)| *sa == action) {
            Some((_, name)) => OpcodeName::Named(name),
            None => OpcodeName::ServiceAction { group, action },
        };
    }
    match plain_name(op) {
        Some(name) => OpcodeName::Named(name),
        None => OpcodeName::Unnamed(op),
    }
}

fn service_action(op: u8, cdb: &[u8]) -> u16 {
    let byte = |i: usize| cdb.get(i).copied().unwrap_or(0);
    if op == 0x7f {
        // Variable-length CDB: the service action is bytes 8..9.
        return u16::from_be_bytes([byte(8), byte(9)]);
    }
    (byte(1) & 0x1f) as u16
}

type ActionTable = &'static [(u16, &'static str)];

fn service_action_group(op: u8) -> Option<(&'static str, ActionTable)> {
    Some(match op {
        0x7f => ("Variable length", VARIABLE_LENGTH),
        0x9e => ("Service Action In(16)", SERVICE_ACTION_IN_16),
        0x9f => ("Service Action Out(16)", SERVICE_ACTION_OUT_16),
        0xa3 => ("Maintenance In", MAINTENANCE_IN),
        0xa4 => ("Maintenance Out", MAINTENANCE_OUT),
        0x5e => ("Persistent Reserve In", PERSISTENT_RESERVE_IN),
        0x5f => ("Persistent Reserve Out", PERSISTENT_RESERVE_OUT),
        0x48 => ("Sanitize", SANITIZE),
        0x83 => ("Third Party Copy Out", THIRD_PARTY_COPY_OUT),
        0x84 => ("Third Party Copy In", THIRD_PARTY_COPY_IN),
        0x95 => ("Zone Management In", ZONE_MANAGEMENT_IN),
        0x94 => ("Zone Management Out", ZONE_MANAGEMENT_OUT),
        _ => return None,
    })
}

const VARIABLE_LENGTH: ActionTable = &[
    (0x0009, "Read(32)"),
    (0x000a, "Verify(32)"),
    (0x000b, "Write(32)"),
    (0x000c, "Write And Verify(32)"),
    (0x000d, "Write Same(32)"),
    (0x0011, "Write Atomic(32)"),
];
const SERVICE_ACTION_IN_16: ActionTable = &[
    (0x10, "Read Capacity(16)"),
    (0x11, "Read Long(16)"),
    (0x12, "Get LBA Status(16)"),
    (0x13, "Report Referrals"),
];
const SERVICE_ACTION_OUT_16: ActionTable = &[(0x11, "Write Long(16)")];
const MAINTENANCE_IN: ActionTable = &[
    (0x05, "Report Identifying Information"),
    (0x0a, "Report Target Port Groups"),
    (0x0b, "Report Aliases"),
    (0x0c, "Report Supported Operation Codes"),
    (0x0d, "Report Supported Task Management Functions"),
    (0x0e, "Report Priority"),
    (0x0f, "Report Timestamp"),
];
const MAINTENANCE_OUT: ActionTable = &[
    (0x06, "Set Identifying Information"),
    (0x0a, "Set Target Port Groups"),
    (0x0b, "Change Aliases"),
    (0x0e, "Set Priority"),
    (0x0f, "Set Timestamp"),
];
const PERSISTENT_RESERVE_IN: ActionTable = &[
    (0x00, "Persistent Reserve In, Read Keys"),
    (0x01, "Persistent Reserve In, Read Reservation"),
    (0x02, "Persistent Reserve In, Report Capabilities"),
    (0x03, "Persistent Reserve In, Read Full Status"),
];
const PERSISTENT_RESERVE_OUT: ActionTable = &[
    (0x00, "Persistent Reserve Out, Register"),
    (0x01, "Persistent Reserve Out, Reserve"),
    (0x02, "Persistent Reserve Out, Release"),
    (0x03, "Persistent Reserve Out, Clear"),
    (0x04, "Persistent Reserve Out, Preempt"),
    (0x05, "Persistent Reserve Out, Preempt And Abort"),
    (
        0x06,
        "Persistent Reserve Out, Register And Ignore Existing Key",
    ),
    (0x07, "Persistent Reserve Out, Register And Move"),
];
const SANITIZE: ActionTable = &[
    (0x01, "Sanitize, Overwrite"),
    (0x02, "Sanitize, Block Erase"),
    (0x03, "Sanitize, Cryptographic Erase"),
    (0x1f, "Sanitize, Exit Failure Mode"),
];
const THIRD_PARTY_COPY_OUT: ActionTable = &[
    (0x00, "Extended Copy(LID1)"),
    (0x01, "Extended Copy(LID4)"),
    (0x10, "Populate Token"),
    (0x11, "Write Using Token"),
    (0x1c, "Copy Operation Abort"),
];
const THIRD_PARTY_COPY_IN: ActionTable = &[
    (0x00, "Receive Copy Status(LID1)"),
    (0x01, "Receive Copy Data(LID1)"),
    (0x03, "Receive Copy Operating Parameters"),
    (0x04, "Receive Copy Failure Details(LID1)"),
    (0x05, "Receive Copy Status(LID4)"),
    (0x06, "Receive Copy Data(LID4)"),
    (0x07, "Receive ROD Token Information"),
    (0x08, "Report All ROD Tokens"),
];
const ZONE_MANAGEMENT_IN: ActionTable = &[(0x00, "Report Zones")];
const ZONE_MANAGEMENT_OUT: ActionTable = &[
    (0x01, "Close Zone"),
    (0x02, "Finish Zone"),
    (0x03, "Open Zone"),
    (0x04, "Reset Write Pointer"),
];

fn plain_name(op: u8) -> Option<&'static str> {
    Some(match op {
        0x00 => "Test Unit Ready",
        0x01 => "Rezero Unit/Rewind",
        0x03 => "Request Sense",
        0x04 => "Format Unit/Medium",
        0x05 => "Read Block Limits",
        0x07 => "Reassign Blocks",
        0x08 => "Read(6)",
        0x0a => "Write(6)",
        0x0b => "Seek(6)",
        0x0f => "Read Reverse(6)",
        0x10 => "Write Filemarks(6)",
        0x11 => "Space(6)",
        0x12 => "Inquiry",
        0x14 => "Recover Buffered Data",
        0x15 => "Mode Select(6)",
        0x16 => "Reserve(6)",
        0x17 => "Release(6)",
        0x18 => "Copy",
        0x19 => "Erase",
        0x1a => "Mode Sense(6)",
        0x1b => "Start/Stop Unit",
        0x1c => "Receive Diagnostic Results",
        0x1d => "Send Diagnostic",
        0x1e => "Prevent/Allow Medium Removal",
        0x23 => "Read Format Capacities",
        0x25 => "Read Capacity(10)",
        0x28 => "Read(10)",
        0x29 => "Read Generation",
        0x2a => "Write(10)",
        0x2b => "Seek(10)/Position To Element",
        0x2c => "Erase Logical Block",
        0x2d => "Read Updated Block",
        0x2e => "Write And Verify(10)",
        0x2f => "Verify(10)",
        0x30 => "Search High",
        0x31 => "Search Equal",
        0x32 => "Search Low",
        0x33 => "Set Limits",
        0x34 => "Prefetch/Read Position",
        0x35 => "Synchronize Cache(10)",
        0x36 => "Lock/Unlock Cache(10)",
        0x37 => "Read Defect Data(10)",
        0x38 => "Medium Scan",
        0x39 => "Compare",
        0x3a => "Copy Verify",
        0x3b => "Write Buffer",
        0x3c => "Read Buffer(10)",
        0x3d => "Update Block",
        0x3e => "Read Long(10)",
        0x3f => "Write Long(10)",
        0x40 => "Change Definition",
        0x41 => "Write Same(10)",
        0x42 => "Unmap",
        0x43 => "Read TOC/PMA/ATIP",
        0x44 => "Report Density Support",
        0x45 => "Play Audio(10)",
        0x46 => "Get Configuration",
        0x47 => "Play Audio MSF",
        0x4a => "Get Event Status Notification",
        0x4b => "Pause/Resume",
        0x4c => "Log Select",
        0x4d => "Log Sense",
        0x4e => "Stop Play/Scan",
        0x50 => "XDWrite(10)",
        0x51 => "XPWrite(10)",
        0x52 => "XDRead(10)",
        0x53 => "XDWriteRead(10)",
        0x54 => "Send OPC Information",
        0x55 => "Mode Select(10)",
        0x56 => "Reserve(10)",
        0x57 => "Release(10)",
        0x58 => "Repair Track",
        0x5a => "Mode Sense(10)",
        0x5b => "Close Track/Session",
        0x5c => "Read Buffer Capacity",
        0x5d => "Send Cue Sheet",
        0x86 => "Access Control In",
        0x87 => "Access Control Out",
        0x88 => "Read(16)",
        0x89 => "Compare And Write",
        0x8a => "Write(16)",
        0x8b => "Orwrite(16)",
        0x8c => "Read Attribute",
        0x8d => "Write Attribute",
        0x8e => "Write And Verify(16)",
        0x8f => "Verify(16)",
        0x90 => "Pre-fetch(16)",
        0x91 => "Synchronize Cache(16)",
        0x92 => "Lock/Unlock Cache(16)",
        0x93 => "Write Same(16)",
        0x9c => "Write Atomic(16)",
        0x9d => "Service Action Bidirectional",
        0xa0 => "Report LUNs",
        0xa1 => "ATA Command Pass Through(12)/Blank",
        0xa2 => "Security Protocol In",
        0xa5 => "Move Medium/Play Audio(12)",
        0xa6 => "Exchange Medium",
        0xa7 => "Move Medium Attached",
        0xa8 => "Read(12)",
        0xa9 => "Service Action Out(12)",
        0xaa => "Write(12)",
        0xab => "Service Action In(12)",
        0xac => "Erase(12)",
        0xad => "Read DVD Structure",
        0xae => "Write And Verify(12)",
        0xaf => "Verify(12)",
        0xb0 => "Search Data High(12)",
        0xb1 => "Search Data Equal(12)",
        0xb2 => "Search Data Low(12)",
        0xb3 => "Set Limits(12)",
        0xb4 => "Read Element Status Attached",
        0xb5 => "Security Protocol Out",
        0xb6 => "Send Volume Tag",
        0xb7 => "Read Defect Data(12)",
        0xb8 => "Read Element Status",
        0xb9 => "Read CD MSF",
        0xba => "Redundancy Group (In)",
        0xbb => "Redundancy Group (Out)",
        0xbc => "Spare (In)",
        0xbd => "Spare (Out)",
        0xbe => "Volume Set (In)",
        0xbf => "Volume Set (Out)",
        0x85 => "ATA Command Pass Through(16)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(cdb: &[u8]) -> String {
        opcode_name(cdb).to_string()
    }

    #[test]
    fn names_in_the_spec() {
        assert_eq!(
            name(&[0x28, 0, 0, 5, 0x58, 0x70, 0, 0, 0x10, 0]),
            "Read(10)"
        );
        assert_eq!(name(&[0x2a]), "Write(10)");
        assert_eq!(name(&[0x00; 6]), "Test Unit Ready");
        assert_eq!(name(&[0x12]), "Inquiry");
        assert_eq!(name(&[0x88]), "Read(16)");
        assert_eq!(name(&[0x35]), "Synchronize Cache(10)");
    }

    #[test]
    fn service_actions() {
        assert_eq!(name(&[0x9e, 0x10]), "Read Capacity(16)");
        assert_eq!(name(&[0xa3, 0x0a]), "Report Target Port Groups");
        assert_eq!(name(&[0x9e, 0x1f]), "Service Action In(16), sa=0x1f");
    }

    #[test]
    fn unnamed_opcodes() {
        assert_eq!(name(&[0xc5]), "opcode=0xc5 (vendor)");
        assert_eq!(name(&[0x61]), "opcode=0x61 (reserved)");
        assert_eq!(name(&[0x02]), "opcode=0x2");
    }
}
