//! `unjam decode-sense --cdb HEX`: one CDB as a line a person reads
//! (`Read(10): lba=0x55870 (350320) blocks=16 fua=0 dpo=0`) or as one JSON object with
//! `opcode`, `name`, `fields` and `cdb`. The decoding lives in `unjam_scsi::cdb`.

use std::process::ExitCode;

use serde_json::{json, Map, Value};
use unjam_scsi::cdb::ScsiCommand;

/// Prints the decoded CDB. A CDB that does not parse (too short for its opcode, a
/// reserved field value, longer than 32 bytes) is reported on stderr with exit status 1.
pub fn decode_cdb(bytes: &[u8], as_json: bool) -> anyhow::Result<ExitCode> {
    if bytes.is_empty() {
        anyhow::bail!("no CDB bytes given");
    }
    let command = match ScsiCommand::parse(bytes) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("unjam: not a valid CDB: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if as_json {
        println!("{}", cdb_object(&command, bytes));
    } else {
        println!("{command}");
    }
    Ok(ExitCode::SUCCESS)
}

fn cdb_object(command: &ScsiCommand, bytes: &[u8]) -> Value {
    let fields: Map<String, Value> = command
        .fields()
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    json!({
        "opcode": command.opcode(),
        "name": command.name().to_string(),
        "fields": fields,
        "cdb": unjam_scsi::cdb::HexBytes(bytes).to_string(),
    })
}
