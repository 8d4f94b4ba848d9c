//! The `--json` shape of `unjam decode-sense`: one object per sense buffer. The fields
//! `format`, `deferred`, `sense_key`, `sense_key_name`, `asc`, `ascq`, `asc_text` and
//! `information` are promised to scripts; the rest may grow.

use serde_json::{json, Map, Value};
use unjam_scsi::sense::{
    information, Descriptor, SenseData, SenseHeader, SenseKey, SenseKeySpecific,
    SenseKeySpecificField,
};

/// The object for a buffer that normalises (`header`), with the full parse result.
pub fn sense_object(bytes: &[u8], header: &SenseHeader) -> Value {
    let parsed = SenseData::parse_partial(bytes);
    let additional = unjam_scsi::asc::lookup(header.asc, header.ascq);
    let mut object = json!({
        "format": if header.is_descriptor() { "descriptor" } else { "fixed" },
        "deferred": header.is_deferred(),
        "response_code": header.response_code,
        "sense_key": header.key.value(),
        "sense_key_name": header.key.name(),
        "asc": header.asc,
        "ascq": header.ascq,
        "asc_text": additional.to_string(),
        "asc_assigned": additional.is_assigned(),
        "asc_vendor_specific": additional.is_vendor_specific(),
    });
    let Value::Object(fields) = &mut object else {
        return object;
    };
    match parsed {
        Ok((sense, fault)) => {
            add_parsed_fields(fields, &sense);
            let fault = fault.map(|error| error.to_string());
            fields.insert("parse_error".into(), json!(fault));
        }
        Err(error) => {
            fields.insert("information".into(), json!(information(bytes)));
            fields.insert("parse_error".into(), json!(error.to_string()));
        }
    }
    object
}

fn add_parsed_fields(fields: &mut Map<String, Value>, sense: &SenseData<'_>) {
    let flags = sense.stream_flags();
    let descriptors: Vec<Value> = match &sense.body {
        unjam_scsi::sense::SenseBody::Fixed(_) => Vec::new(),
        unjam_scsi::sense::SenseBody::Descriptor(list) => list
            .iter()
            .map(|descriptor| descriptor_object(sense.key, &descriptor))
            .collect(),
    };
    let extra = json!({
        "information": sense.information(),
        "command_specific": sense.command_specific(),
        "field_replaceable_unit": sense.field_replaceable_unit(),
        "filemark": flags.filemark,
        "end_of_medium": flags.end_of_medium,
        "incorrect_length": flags.incorrect_length,
        "sdat_overflow": sense.sdat_overflow,
        "sense_key_specific": sense.sense_key_specific().map(specific_object),
        "descriptors": descriptors,
    });
    if let Value::Object(extra) = extra {
        fields.extend(extra);
    }
}

fn specific_object(specific: SenseKeySpecific) -> Value {
    match specific {
        SenseKeySpecific::FieldPointer {
            in_command,
            bit_pointer,
            field_pointer,
        } => json!({
            "kind": "field_pointer", "in_command": in_command,
            "bit_pointer": bit_pointer, "field_pointer": field_pointer,
        }),
        SenseKeySpecific::ActualRetryCount(count) => {
            json!({ "kind": "actual_retry_count", "count": count })
        }
        SenseKeySpecific::Progress(progress) => json!({
            "kind": "progress", "progress": progress.0,
            "percent": f64::from(progress.0) * 100.0 / 65536.0,
        }),
        SenseKeySpecific::SegmentPointer {
            in_segment_descriptor,
            bit_pointer,
            field_pointer,
        } => json!({
            "kind": "segment_pointer", "in_segment_descriptor": in_segment_descriptor,
            "bit_pointer": bit_pointer, "field_pointer": field_pointer,
        }),
        SenseKeySpecific::UnitAttentionQueue { overflow } => {
            json!({ "kind": "unit_attention_queue", "overflow": overflow })
        }
        SenseKeySpecific::Unspecified { field, .. } => {
            json!({ "kind": "unspecified", "bytes": field.0 })
        }
    }
}

fn specific_field(key: SenseKey, field: SenseKeySpecificField) -> Value {
    json!({ "bytes": field.0, "decoded": field.decode(key).map(specific_object) })
}

fn descriptor_object(key: SenseKey, descriptor: &Descriptor<'_>) -> Value {
    let fields = match *descriptor {
        Descriptor::Information { valid, information } => {
            json!({ "valid": valid, "information": information })
        }
        Descriptor::CommandSpecific { information } => json!({ "information": information }),
        Descriptor::SenseKeySpecific(field) => specific_field(key, field),
        Descriptor::FieldReplaceableUnit { code } => json!({ "code": code }),
        Descriptor::StreamCommands {
            filemark,
            end_of_medium,
            incorrect_length,
        } => json!({
            "filemark": filemark, "end_of_medium": end_of_medium,
            "incorrect_length": incorrect_length,
        }),
        Descriptor::BlockCommands { incorrect_length } => {
            json!({ "incorrect_length": incorrect_length })
        }
        Descriptor::OsdObjectIdentification {
            not_initiated_functions,
            completed_functions,
            partition_id,
            object_id,
        } => json!({
            "not_initiated_functions": not_initiated_functions,
            "completed_functions": completed_functions,
            "partition_id": partition_id, "object_id": object_id,
        }),
        Descriptor::OsdResponseIntegrityCheck { check_value } => {
            json!({ "check_value": check_value })
        }
        Descriptor::OsdAttributeIdentification { attributes } => {
            let list: Vec<Value> = attributes
                .iter()
                .map(|(page, number)| json!({ "page": page, "number": number }))
                .collect();
            json!({ "attributes": list })
        }
        Descriptor::AtaStatusReturn(ata) => json!({
            "extend": ata.extend, "error": ata.error, "count": ata.count, "lba": ata.lba,
            "device": ata.device, "status": ata.status,
        }),
        Descriptor::ProgressIndication {
            key,
            asc,
            ascq,
            progress,
        } => json!({
            "sense_key": key.value(), "asc": asc, "ascq": ascq, "progress": progress.0,
            "asc_text": unjam_scsi::asc::lookup(asc, ascq).to_string(),
        }),
        Descriptor::DirectAccessBlockDevice(block) => json!({
            "valid": block.valid, "incorrect_length": block.incorrect_length,
            "sense_key_specific": specific_field(key, block.sense_key_specific),
            "field_replaceable_unit": block.field_replaceable_unit,
            "information": block.information, "command_specific": block.command_specific,
        }),
        Descriptor::Other { data, .. } => json!({ "data": data }),
    };
    let mut object = json!({ "type": descriptor.kind(), "name": descriptor.name() });
    if let (Value::Object(object), Value::Object(fields)) = (&mut object, fields) {
        object.extend(fields);
    }
    object
}
