//! `unjam inquiry --vpd PAGE`: the VPD pages decoded as text (named as sg_inq / sg_vpd name
//! their fields) or JSON — 00h, 80h, 83h, 86h, B0h, B1h, B2h; any other page as hex.
//!
//! Owns presentation only; parsing is `unjam_scsi::cdb::response`'s.

use serde_json::{json, Map, Value};
use unjam_scsi::cdb::response::{
    Association, BlockDeviceCharacteristics, BlockLimits, CodeSet, DesignatorType,
    DeviceIdentification, ExtendedInquiry, LogicalBlockProvisioning, SupportedVpdPages,
    UnitSerialNumber,
};

use super::device::{ExitClass, Failure, Printer};

/// A page's name as sg_vpd prints it.
pub fn page_name(page: u8) -> &'static str {
    match page {
        0x00 => "Supported VPD pages",
        0x80 => "Unit serial number",
        0x83 => "Device Identification",
        0x86 => "Extended INQUIRY data",
        0xb0 => "Block limits",
        0xb1 => "Block device characteristics",
        0xb2 => "Logical block provisioning",
        _ => "Unknown",
    }
}

/// Decoded fields, in order: (name as sg_vpd prints it, JSON key, value).
type Fields = Vec<(&'static str, &'static str, Value)>;

fn malformed(page: u8, error: impl std::fmt::Display) -> anyhow::Error {
    let text = format!("VPD page 0x{page:02x}: {error}");
    Failure::new(ExitClass::Malformed, text).into()
}

/// Prints page `page` from its response `data`.
pub fn print(out: &mut Printer, page: u8, data: &[u8], json: bool) -> anyhow::Result<()> {
    let fields = match page {
        0x00 => supported(data).map_err(|e| malformed(page, e))?,
        0x80 => serial(data).map_err(|e| malformed(page, e))?,
        0x83 => return identification(out, data, json),
        0x86 => extended(data).map_err(|e| malformed(page, e))?,
        0xb0 => limits(data).map_err(|e| malformed(page, e))?,
        0xb1 => characteristics(data).map_err(|e| malformed(page, e))?,
        0xb2 => provisioning(data).map_err(|e| malformed(page, e))?,
        _ => {
            if json {
                let hex = super::device::hex_string(data);
                return out.json(&json!({ "page": page, "hex": hex }));
            }
            out.line(format!("VPD page 0x{page:02x} (not decoded):"))?;
            return out.hex(data);
        }
    };
    if json {
        let mut object = Map::new();
        object.insert("page".into(), json!(page));
        object.insert("page_name".into(), json!(page_name(page)));
        for (_, key, value) in fields {
            object.insert(key.into(), value);
        }
        return out.json(&Value::Object(object));
    }
    out.line(format!("VPD INQUIRY: {} page", page_name(page)))?;
    for (name, _, value) in fields {
        let text = match value {
            Value::Null => "[not in this page]".to_string(),
            Value::Bool(flag) => u8::from(flag).to_string(),
            Value::String(text) => text,
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_u64()
                        .map_or(item.to_string(), |n| format!("0x{n:02x}"))
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        };
        out.line(format!("  {name}: {text}"))?;
    }
    Ok(())
}

fn supported(data: &[u8]) -> Result<Fields, unjam_scsi::cdb::ResponseError> {
    let pages = SupportedVpdPages::parse(data)?;
    let list: Vec<String> = pages
        .pages
        .iter()
        .map(|code| format!("0x{code:02x} {}", page_name(*code)))
        .collect();
    Ok(vec![
        (
            "Supported VPD pages",
            "supported_pages",
            json!(pages.pages.to_vec()),
        ),
        ("Pages", "page_names", json!(list.join(", "))),
    ])
}

fn serial(data: &[u8]) -> Result<Fields, unjam_scsi::cdb::ResponseError> {
    let page = UnitSerialNumber::parse(data)?;
    Ok(vec![(
        "Unit serial number",
        "serial",
        json!(page.text().to_string()),
    )])
}

fn association_name(association: Association) -> &'static str {
    match association {
        Association::LogicalUnit => "Addressed logical unit",
        Association::TargetPort => "Target port",
        Association::TargetDevice => "Target device that contains addressed lu",
        Association::Reserved => "Reserved",
    }
}

fn designator_type_name(kind: DesignatorType) -> &'static str {
    match kind {
        DesignatorType::VendorSpecific => "vendor specific [0x0]",
        DesignatorType::T10VendorId => "T10 vendor identification",
        DesignatorType::Eui64 => "EUI-64 based",
        DesignatorType::Naa => "NAA",
        DesignatorType::RelativeTargetPort => "Relative target port",
        DesignatorType::TargetPortGroup => "Target port group",
        DesignatorType::LogicalUnitGroup => "Logical unit group",
        DesignatorType::Md5LogicalUnit => "MD5 logical unit identifier",
        DesignatorType::ScsiNameString => "SCSI name string",
        DesignatorType::ProtocolSpecificPort => "Protocol specific port identifier",
        DesignatorType::Uuid => "UUID identifier",
        DesignatorType::Reserved(_) => "reserved",
    }
}

fn code_set_name(code_set: CodeSet) -> &'static str {
    match code_set {
        CodeSet::Binary => "Binary",
        CodeSet::Ascii => "ASCII",
        CodeSet::Utf8 => "UTF-8",
        CodeSet::Reserved(_) => "Reserved",
    }
}

fn identification(out: &mut Printer, data: &[u8], json: bool) -> anyhow::Result<()> {
    let page = DeviceIdentification::parse(data).map_err(|e| malformed(0x83, e))?;
    let mut descriptors = Vec::new();
    for designator in page.designators.iter() {
        descriptors.push((designator, designator.id().to_string()));
    }
    if json {
        let list: Vec<Value> = descriptors
            .iter()
            .map(|(designator, id)| {
                json!({
                    "designator_type": designator.designator_type.code(),
                    "designator_type_name": designator_type_name(designator.designator_type),
                    "association": association_name(designator.association),
                    "code_set": code_set_name(designator.code_set),
                    "protocol_identifier": designator.piv.then_some(designator.protocol_identifier),
                    "designator": super::device::hex_string(designator.designator),
                    "id": id,
                    "port": designator.port_number(),
                })
            })
            .collect();
        let best = page.best_lu_designator().map(|d| d.id().to_string());
        return out.json(&json!({
            "page": 0x83,
            "page_name": page_name(0x83),
            "designators": list,
            "logical_unit_id": best,
        }));
    }
    out.line("VPD INQUIRY: Device Identification page")?;
    for (number, (designator, id)) in descriptors.iter().enumerate() {
        out.line(format!(
            "  Designation descriptor number {}, descriptor length: {}",
            number + 1,
            designator.designator.len() + 4
        ))?;
        out.line(format!(
            "    designator_type: {},  code_set: {}",
            designator_type_name(designator.designator_type),
            code_set_name(designator.code_set)
        ))?;
        out.line(format!(
            "    associated with the {}",
            association_name(designator.association)
        ))?;
        match designator.port_number() {
            Some(port) => out.line(format!("      {id}  [port {port}]"))?,
            None => out.line(format!("      {id}"))?,
        }
    }
    Ok(())
}

fn extended(data: &[u8]) -> Result<Fields, unjam_scsi::cdb::ResponseError> {
    let page = ExtendedInquiry::parse(data)?;
    Ok(vec![
        (
            "ACTIVATE_MICROCODE",
            "activate_microcode",
            json!(page.activate_microcode),
        ),
        ("SPT", "spt", json!(page.spt)),
        ("GRD_CHK", "grd_chk", json!(page.grd_chk)),
        ("APP_CHK", "app_chk", json!(page.app_chk)),
        ("REF_CHK", "ref_chk", json!(page.ref_chk)),
        ("UASK_SUP", "uask_sup", json!(page.uask_sup)),
        ("GROUP_SUP", "group_sup", json!(page.group_sup)),
        ("PRIOR_SUP", "prior_sup", json!(page.prior_sup)),
        ("HEADSUP", "headsup", json!(page.headsup)),
        ("ORDSUP", "ordsup", json!(page.ordsup)),
        ("SIMPSUP", "simpsup", json!(page.simpsup)),
        ("WU_SUP", "wu_sup", json!(page.wu_sup)),
        ("CRD_SUP", "crd_sup", json!(page.crd_sup)),
        ("NV_SUP", "nv_sup", json!(page.nv_sup)),
        ("V_SUP", "v_sup", json!(page.v_sup)),
        ("NO_PI_CHK", "no_pi_chk", json!(page.no_pi_chk)),
        ("P_I_I_SUP", "p_i_i_sup", json!(page.p_i_i_sup)),
        ("LUICLR", "luiclr", json!(page.luiclr)),
        ("R_SUP", "r_sup", json!(page.r_sup)),
        ("CBCS", "cbcs", json!(page.cbcs)),
        (
            "Multi I_T nexus microcode download",
            "multi_it_nexus_microcode_download",
            json!(page.multi_it_nexus_microcode_download),
        ),
        (
            "Extended self-test completion minutes",
            "extended_self_test_minutes",
            json!(page.extended_self_test_minutes),
        ),
        ("POA_SUP", "poa_sup", json!(page.poa_sup)),
        ("HRA_SUP", "hra_sup", json!(page.hra_sup)),
        ("VSA_SUP", "vsa_sup", json!(page.vsa_sup)),
        (
            "Maximum supported sense data length",
            "max_sense_data_length",
            json!(page.max_sense_data_length),
        ),
    ])
}

fn limits(data: &[u8]) -> Result<Fields, unjam_scsi::cdb::ResponseError> {
    let page = BlockLimits::parse(data)?;
    Ok(vec![
        ("Write same non-zero (WSNZ)", "wsnz", json!(page.wsnz)),
        (
            "Maximum compare and write length [blocks]",
            "max_compare_and_write_length",
            json!(page.max_compare_and_write_length),
        ),
        (
            "Optimal transfer length granularity [blocks]",
            "optimal_transfer_length_granularity",
            json!(page.optimal_transfer_length_granularity),
        ),
        (
            "Maximum transfer length [blocks]",
            "max_transfer_length",
            json!(page.max_transfer_length),
        ),
        (
            "Optimal transfer length [blocks]",
            "optimal_transfer_length",
            json!(page.optimal_transfer_length),
        ),
        (
            "Maximum prefetch transfer length [blocks]",
            "max_prefetch_length",
            json!(page.max_prefetch_length),
        ),
        (
            "Maximum unmap LBA count",
            "max_unmap_lba_count",
            json!(page.max_unmap_lba_count),
        ),
        (
            "Maximum unmap block descriptor count",
            "max_unmap_block_descriptor_count",
            json!(page.max_unmap_block_descriptor_count),
        ),
        (
            "Optimal unmap granularity [blocks]",
            "optimal_unmap_granularity",
            json!(page.optimal_unmap_granularity),
        ),
        (
            "Unmap granularity alignment valid",
            "unmap_granularity_alignment_valid",
            json!(page.unmap_granularity_alignment_valid),
        ),
        (
            "Unmap granularity alignment",
            "unmap_granularity_alignment",
            json!(page.unmap_granularity_alignment),
        ),
        (
            "Maximum write same length [blocks]",
            "max_write_same_length",
            json!(page.max_write_same_length),
        ),
        (
            "Maximum atomic transfer length [blocks]",
            "max_atomic_transfer_length",
            json!(page.max_atomic_transfer_length),
        ),
        (
            "Atomic alignment",
            "atomic_alignment",
            json!(page.atomic_alignment),
        ),
        (
            "Atomic transfer length granularity",
            "atomic_transfer_length_granularity",
            json!(page.atomic_transfer_length_granularity),
        ),
        (
            "Maximum atomic transfer length with atomic boundary",
            "max_atomic_transfer_length_with_boundary",
            json!(page.max_atomic_transfer_length_with_boundary),
        ),
        (
            "Maximum atomic boundary size",
            "max_atomic_boundary_size",
            json!(page.max_atomic_boundary_size),
        ),
    ])
}

fn rotation_text(rate: Option<u16>) -> Value {
    match rate {
        None => Value::Null,
        Some(0) => json!("not reported"),
        Some(1) => json!("non-rotating medium (e.g. solid state)"),
        Some(rpm) => json!(format!("{rpm} rpm")),
    }
}

fn characteristics(data: &[u8]) -> Result<Fields, unjam_scsi::cdb::ResponseError> {
    let page = BlockDeviceCharacteristics::parse(data)?;
    Ok(vec![
        (
            "Medium rotation rate",
            "medium_rotation_rate",
            json!(page.medium_rotation_rate),
        ),
        (
            "Rotation",
            "rotation",
            rotation_text(page.medium_rotation_rate),
        ),
        ("Product type", "product_type", json!(page.product_type)),
        ("WABEREQ", "wabereq", json!(page.wabereq)),
        ("WACEREQ", "wacereq", json!(page.wacereq)),
        (
            "Nominal form factor",
            "nominal_form_factor",
            json!(page.nominal_form_factor),
        ),
        ("ZONED", "zoned", json!(page.zoned)),
        ("FUAB", "fuab", json!(page.fuab)),
        ("VBULS", "vbuls", json!(page.vbuls)),
    ])
}

fn provisioning(data: &[u8]) -> Result<Fields, unjam_scsi::cdb::ResponseError> {
    let page = LogicalBlockProvisioning::parse(data)?;
    let kind = page.provisioning_type.map(|kind| match kind {
        0 => "not known or fully provisioned",
        1 => "resource provisioned",
        2 => "thin provisioned",
        _ => "reserved",
    });
    Ok(vec![
        ("Unmap command supported (LBPU)", "lbpu", json!(page.lbpu)),
        (
            "Write same (16) with unmap bit supported (LBPWS)",
            "lbpws",
            json!(page.lbpws),
        ),
        (
            "Write same (10) with unmap bit supported (LBPWS10)",
            "lbpws10",
            json!(page.lbpws10),
        ),
        (
            "Logical block provisioning read zeros (LBPRZ)",
            "lbprz",
            json!(page.lbprz),
        ),
        (
            "Anchored LBAs supported (ANC_SUP)",
            "anc_sup",
            json!(page.anc_sup),
        ),
        (
            "Threshold exponent",
            "threshold_exponent",
            json!(page.threshold_exponent),
        ),
        ("Descriptor present (DP)", "dp", json!(page.dp)),
        (
            "Minimum percentage",
            "minimum_percentage",
            json!(page.minimum_percentage),
        ),
        (
            "Provisioning type",
            "provisioning_type",
            json!(page.provisioning_type),
        ),
        ("Provisioning", "provisioning", json!(kind)),
        (
            "Threshold percentage",
            "threshold_percentage",
            json!(page.threshold_percentage),
        ),
    ])
}
