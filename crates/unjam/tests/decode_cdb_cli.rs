//! `unjam decode-sense --cdb HEX` as a user runs it: the human line, the JSON object, and
//! the errors for bad hex and for bytes that are not a CDB.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::{stderr, stdout};

use std::process::{Command, Output};

fn decode_cdb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unjam"))
        .arg("decode-sense")
        .args(args)
        .output()
        .expect("run unjam")
}

#[test]
fn read_10_for_people() {
    let output = decode_cdb(&[
        "--cdb", "28", "00", "00", "05", "58", "70", "00", "00", "10", "00",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        "Read(10): lba=0x55870 (350320) blocks=16 fua=0 dpo=0\n"
    );
    // One argument holding every byte works the same, and so does a run of digits.
    let quoted = decode_cdb(&["--cdb", "28 00 00 05 58 70 00 00 10 00"]);
    assert_eq!(stdout(&quoted), stdout(&output));
    let run = decode_cdb(&["--cdb", "28000005587000001000"]);
    assert_eq!(stdout(&run), stdout(&output));
}

#[test]
fn json_object() {
    let output = decode_cdb(&[
        "--json",
        "--cdb",
        "9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00",
    ]);
    assert!(output.status.success(), "{output:?}");
    let object: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(object["opcode"], 0x9e);
    assert_eq!(object["name"], "Read Capacity(16)");
    assert_eq!(object["fields"]["allocation_length"], 32);
    assert_eq!(
        object["cdb"],
        "9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00"
    );

    let output = decode_cdb(&["--cdb", "2a 08 00 00 00 10 00 00 08 00", "--json"]);
    let object: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(object["name"], "Write(10)");
    assert_eq!(object["fields"]["lba"], 16);
    assert_eq!(object["fields"]["blocks"], 8);
    assert_eq!(object["fields"]["fua"], 1);
}

#[test]
fn unknown_opcodes_are_named_like_the_kernel() {
    let output = decode_cdb(&["--cdb", "c5 01 02 03 04 05"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "opcode=0xc5 (vendor)\n");
}

#[test]
fn bad_hex_names_the_token() {
    let output = decode_cdb(&["--cdb", "28", "0g", "00"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("\"0g\""), "{}", stderr(&output));
}

#[test]
fn short_cdb_is_not_a_cdb() {
    let output = decode_cdb(&["--cdb", "28 00 00"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("needs 10 bytes, got 3"),
        "{}",
        stderr(&output)
    );
}
