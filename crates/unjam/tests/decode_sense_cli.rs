//! `unjam decode-sense` as a user runs it: arguments, files, JSON, errors, and the first
//! lines compared with `sg_decode_sense` for a few hand-picked buffers. (The large random
//! comparison is `crates/unjam-scsi/tests/sense_vs_sg3.rs`.)

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::{stdout, unjam};

use std::io::Write;
use std::process::{Command, Output, Stdio};

const SEED_000: &str = "70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00";

fn decode(hex: &str, extra: &[&str]) -> Output {
    let mut args = vec!["decode-sense"];
    args.extend_from_slice(extra);
    args.extend(hex.split_whitespace());
    unjam(&args)
}

fn json(hex: &str) -> serde_json::Value {
    let output = decode(hex, &["--json"]);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

#[test]
fn seed_000_text() {
    let output = decode(SEED_000, &[]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        "Fixed format, current; Sense key: Aborted Command\n\
         Additional sense: I/O process terminated\n"
    );
}

#[test]
fn json_has_the_promised_fields() {
    let object = json(SEED_000);
    assert_eq!(object["format"], "fixed");
    assert_eq!(object["deferred"], false);
    assert_eq!(object["sense_key"], 0x0b);
    assert_eq!(object["sense_key_name"], "Aborted Command");
    assert_eq!(object["asc"], 0);
    assert_eq!(object["ascq"], 6);
    assert_eq!(object["asc_text"], "I/O process terminated");
    assert!(object["information"].is_null());

    let object = json("f1 00 03 00 05 58 70 0a 00 00 00 00 11 00 00 80 00 03");
    assert_eq!(object["deferred"], true);
    assert_eq!(object["information"], 0x0005_5870);
    assert_eq!(object["sense_key_specific"]["kind"], "actual_retry_count");
    assert_eq!(object["sense_key_specific"]["count"], 3);
}

#[test]
fn json_descriptor_format() {
    let object =
        json("73 05 24 00 00 00 00 14 00 0a 80 00 00 00 00 00 00 00 12 34 02 06 00 00 cb 00 02 00");
    assert_eq!(object["format"], "descriptor");
    assert_eq!(object["deferred"], true);
    assert_eq!(object["information"], 0x1234);
    assert_eq!(object["asc_text"], "Invalid field in cdb");
    let descriptors = object["descriptors"].as_array().expect("descriptors");
    assert_eq!(descriptors.len(), 2);
    assert_eq!(descriptors[0]["name"], "Information");
    assert_eq!(descriptors[1]["decoded"]["field_pointer"], 2);
    assert_eq!(descriptors[1]["decoded"]["bit_pointer"], 3);
}

#[test]
fn json_reports_a_partial_decode() {
    // The information descriptor says 8 bytes; its type needs 10.
    let object = json("72 05 24 00 00 00 00 0a 00 08 80 00 00 00 00 00 00 00");
    assert_eq!(object["sense_key"], 5);
    assert_eq!(object["asc_text"], "Invalid field in cdb");
    let error = object["parse_error"].as_str().expect("parse_error");
    assert!(error.contains("additional length 0x08"), "{error}");
}

#[test]
fn bad_hex_names_the_token() {
    let output = decode("70 00 zz", &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad hex byte \"zz\" (argument 3)"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn not_sense_data_fails() {
    let output = decode("12 34 56", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("Not sense data (response code 0x12)"));
    let output = decode("12 34 56", &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
}

#[test]
fn file_with_comments_and_commas() {
    let directory = std::env::temp_dir().join(format!("unjam-decode-sense-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let path = directory.join("sense.txt");
    std::fs::write(
        &path,
        "# seed 000\n70,00,0b,00, 00 00 00 0a  # header\n00 00 00 00 00 06\n00 00 00 00\n",
    )
    .expect("write file");
    let path_text = path.to_string_lossy().into_owned();
    let output = unjam(&["decode-sense", "--file", &path_text]);
    std::fs::remove_dir_all(&directory).ok();
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("Additional sense: I/O process terminated"));
}

#[test]
fn standard_input_and_bad_file_token() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unjam"))
        .args(["decode-sense", "--file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unjam");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"70 00 05 00\n00 00 00 0a 00 00 00 00 2q 00\n")
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad hex byte \"2q\" (- line 2)"),
        "{stderr}"
    );
}

#[test]
fn first_lines_agree_with_sg_decode_sense() {
    let buffers = [
        SEED_000,
        "f0 00 03 00 05 58 70 0a 00 00 00 00 11 00 00 00 00 00",
        "71 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 c0 00 02",
        "70 00 05 00 00 00 00 0a 00 00 00 00 40 85 00 00 00 00",
        "70 00 09 00 00 00 00 0a 00 00 00 00 80 12 00 00 00 00",
        "72 05 24 00 00 00 00 0c 00 0a 80 00 00 00 00 00 00 00 12 34",
        "73 06 2a 06 00 00 00 00",
        "70 00 15 00 00 00 00 0a 00 00 00 00 24 00 00 00 00 00",
    ];
    for hex in buffers {
        let ours = stdout(&decode(hex, &[]));
        let theirs = sg_decode_sense(hex);
        // sg_decode_sense ends some lines with a space and the output with a blank line.
        let wanted: Vec<&str> = theirs
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty())
            .collect();
        let got: Vec<&str> = ours.lines().collect();
        assert_eq!(
            got.get(..wanted.len()),
            Some(&wanted[..]),
            "for {hex}\nours:\n{ours}\nsg_decode_sense:\n{theirs}"
        );
    }
}

fn sg_decode_sense(hex: &str) -> String {
    let output = Command::new("sg_decode_sense")
        .args(hex.split_whitespace())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run sg_decode_sense ({error}); install it with \
                 scripts/install-test-deps.sh (Debian package sg3-utils)"
            )
        });
    String::from_utf8_lossy(&output.stdout).into_owned()
}
