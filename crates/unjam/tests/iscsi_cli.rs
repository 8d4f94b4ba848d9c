//! The device commands as a user runs them, against a real tgtd, with libiscsi's and
//! sg3_utils' tools as the oracle where they print the same facts, and sg3_utils' exit
//! statuses for every class tgtd can produce.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::{json, stderr, stdout, unjam};

#[path = "../../unjam-iscsi/tests/support/tgtd.rs"]
#[allow(dead_code)]
mod tgtd;

use std::io::Read;
use std::process::{Command, Stdio};

use tgtd::{Tgtd, TgtdOptions};

fn oracle(program: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("20")
        .args(program)
        .output()
        .unwrap_or_else(|e| panic!("{program:?}: {e}"));
    stdout(&output)
}

fn oracle_field(program: &str, url: &str, name: &str) -> String {
    let text = oracle(&[program, url]);
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(':')
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// `unjam ARGS`'s exit status and stderr.
fn fails(args: &[&str]) -> (Option<i32>, String) {
    let output = unjam(args);
    (output.status.code(), stderr(&output))
}

#[tokio::test(flavor = "current_thread")]
async fn inquiry_readcap_and_luns_agree_with_libiscsi_and_sg3_utils() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(1);
    let capacity = json(&["readcap", "--json", &url]);
    let field = |name| oracle_field("iscsi-readcapacity16", &url, name);
    assert_eq!(
        capacity["last_lba"].to_string(),
        field("RETURNED LOGICAL BLOCK ADDRESS")
    );
    assert_eq!(
        capacity["block_size"].to_string(),
        field("LOGICAL BLOCK LENGTH IN BYTES")
    );
    assert_eq!(capacity["bytes"].to_string(), field("Total size"));

    // Standard INQUIRY: every field iscsi-inq prints, and sg_inq's decode of the same bytes
    // is what unjam prints.
    let inquiry = json(&["inquiry", "--json", &url]);
    let inq = oracle(&["iscsi-inq", &url]);
    let value = |name: &str| {
        inq.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(':')
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no {name} in {inq}"))
    };
    assert_eq!(inquiry["vendor"].as_str(), Some(value("Vendor").trim_end()));
    assert_eq!(
        inquiry["product"].as_str(),
        Some(value("Product").trim_end())
    );
    assert_eq!(
        inquiry["revision"].as_str(),
        Some(value("Revision").trim_end())
    );
    assert_eq!(inquiry["tpgs"].to_string(), value("TPGS"));
    assert_eq!(inquiry["hisup"], value("HiSup") == "1");
    assert_eq!(inquiry["cmdque"], value("CmdQue") == "1");
    let versions: Vec<String> = inq
        .lines()
        .filter_map(|line| line.strip_prefix("Version Descriptor:"))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let ours: Vec<String> = inquiry["version_descriptors"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| format!("{:04x}", v["code"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ours, versions);
    let directory = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let raw_path = directory.path().join("inquiry.bin");
    let raw = unjam(&["inquiry", "--raw", &url]);
    std::fs::write(&raw_path, &raw.stdout).unwrap_or_else(|e| panic!("{e}"));
    let inhex = format!("--inhex={}", raw_path.display());
    let sg_inq = oracle(&["sg_inq", &inhex, "--raw"]);
    let text = stdout(&unjam(&["inquiry", &url]));
    assert!(
        text.starts_with(&sg_inq),
        "unjam:\n{text}\nsg_inq:\n{sg_inq}"
    );
    assert!(text.contains("    SBC-3 (no version claimed)"), "{text}");

    // VPD pages: the serial number and designators iscsi-inq's library reports.
    let serial = json(&["inquiry", "--json", "--vpd", "sn", &url]);
    assert!(
        serial["serial"].as_str().is_some_and(|s| !s.is_empty()),
        "{serial}"
    );
    let ids = json(&["inquiry", "--json", "--vpd", "0x83", &url]);
    assert!(
        ids["logical_unit_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("naa.")),
        "{ids}"
    );
    // The supported pages, as `iscsi-inq -e 1` lists them.
    let listed: Vec<u64> = oracle(&["iscsi-inq", "-e", "1", &url])
        .lines()
        .filter_map(|line| line.strip_prefix("Page:0x")?.get(..2))
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .collect();
    let supported = json(&["inquiry", "--json", "--vpd", "0x00", &url]);
    let ours: Vec<u64> = supported["supported_pages"]
        .as_array()
        .map(|list| list.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    assert!(!listed.is_empty());
    assert_eq!(ours, listed, "{supported}");
    for page in ["0x00", "0xb0", "0xb1", "0xb2"] {
        let decoded = json(&["inquiry", "--json", "--vpd", page, &url]);
        assert_eq!(
            decoded["page"].as_u64(),
            u64::from_str_radix(&page[2..], 16).ok()
        );
    }

    // Every LUN of the target with its type and size, as iscsi-ls -s lists them.
    let target_url = url.trim_end_matches("/1").to_string();
    let ours = stdout(&unjam(&["luns", &target_url]));
    let theirs = oracle(&["iscsi-ls", "-s", &target_url]);
    let without_size = |text: &str| -> Vec<String> {
        text.lines()
            .map(|line| line.split(" (Size:").next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        without_size(&ours),
        without_size(&theirs),
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );
    // iscsi-ls counts one block short; unjam's size is the exact one.
    assert!(
        ours.contains("Lun:1    Type:DIRECT_ACCESS (Size:16M)"),
        "{ours}"
    );
    let luns = json(&["luns", "--json", &target_url]);
    let numbers: Vec<u64> = luns["luns"]
        .as_array()
        .map(|list| list.iter().filter_map(|lun| lun["lun"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(numbers, vec![0, 1, 2]);
    assert_eq!(luns["luns"][2]["bytes"], 8 * 1024 * 1024);
    let report = json(&["luns", "--json", &url]);
    assert_eq!(report["luns"].as_array().map(Vec::len), Some(3));

    // --raw prints the parameter data as it arrived, --hex dumps it; neither decodes.
    let raw = unjam(&["readcap", "--raw", &url]);
    assert!(raw.status.success(), "{raw:?}");
    let last_lba = u64::from_be_bytes(raw.stdout[0..8].try_into().expect("8 bytes"));
    let block_size = u32::from_be_bytes(raw.stdout[8..12].try_into().expect("4 bytes"));
    assert_eq!(last_lba.to_string(), capacity["last_lba"].to_string());
    assert_eq!(block_size.to_string(), capacity["block_size"].to_string());
    let hex = stdout(&unjam(&["luns", "--hex", &url]));
    assert!(
        hex.starts_with(" 00     00 00 00 18 "),
        "three LUNs: a LUN list length of 24 bytes, {hex}"
    );

    let tur = unjam(&["tur", &url]);
    assert!(tur.status.success(), "{tur:?}");
    assert_eq!(stdout(&tur).trim(), "ready");
}

#[tokio::test(flavor = "current_thread")]
async fn write_read_raw_reset_and_discover() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(2);
    let directory = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = directory.path().join("in.bin");
    let output = directory.path().join("out.bin");
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&input, &data).unwrap_or_else(|e| panic!("{e}"));
    let (input_arg, output_arg) = (input.to_string_lossy(), output.to_string_lossy());
    let written = json(&[
        "write", "--json", &url, "--lba", "100", "--input", &input_arg,
    ]);
    assert_eq!(written["bytes"], 8192);
    assert_eq!(written["blocks"], 16);
    let read = json(&[
        "read",
        "--json",
        &url,
        "--lba",
        "100",
        "--blocks",
        "16",
        "--output",
        &output_arg,
    ]);
    assert_eq!(read["bytes"], 8192);
    assert_eq!(std::fs::read(&output).unwrap_or_default(), data);
    let raw = unjam(&["read", &url, "--lba", "100", "--blocks", "16", "--raw"]);
    assert_eq!(raw.stdout, data);

    // sg_raw's shape: READ(10) of LBA 100 by hand, data in to a file.
    let raw_out = directory.path().join("raw.bin");
    let cdb = ["28", "00", "00", "00", "00", "64", "00", "00", "10", "00"];
    let mut args = vec!["raw", url.as_str()];
    args.extend(cdb);
    let raw_out_arg = raw_out.to_string_lossy().to_string();
    args.extend(["--request", "8192", "--outfile", &raw_out_arg]);
    let output = unjam(&args);
    assert!(output.status.success(), "{output:?}");
    assert!(stderr(&output).contains("SCSI Status: Good"));
    assert_eq!(std::fs::read(&raw_out).unwrap_or_default(), data);
    // Data out from a file: WRITE(10) of one block at LBA 7.
    let block: Vec<u8> = vec![0x5e; 512];
    let block_path = directory.path().join("block.bin");
    std::fs::write(&block_path, &block).unwrap_or_else(|e| panic!("{e}"));
    let block_arg = block_path.to_string_lossy().to_string();
    let mut args = vec!["raw", url.as_str(), "2a 00 00 00 00 07 00 00 01 00"];
    args.extend(["--send", "512", "--infile", &block_arg]);
    assert!(unjam(&args).status.success());
    let back = unjam(&["read", &url, "--lba", "7", "--raw"]);
    assert_eq!(back.stdout, block);

    let reset = json(&["reset", "--json", &url]);
    assert_eq!(reset["response"], 0);
    assert_eq!(reset["reset"], "device");
    // tgtd does not do TARGET WARM RESET: sg_reset's escalation goes on to the host reset
    // (a session re-login); without it the command fails with the target's answer.
    let target = json(&["reset", "--json", "--kind", "target", &url]);
    assert_eq!(target["reset"], "host", "{target}");
    assert_eq!(target["steps"].as_array().map(Vec::len), Some(2));
    let (code, text) = fails(&["reset", "--kind", "target", "--no-esc", &url]);
    assert_eq!(code, Some(99));
    assert!(text.contains("TARGET WARM RESET"), "{text}");
    let discovered = json(&[
        "discover",
        "--json",
        &format!("iscsi://127.0.0.1:{}", tgtd.port),
    ]);
    assert_eq!(
        discovered["targets"][0]["name"].as_str(),
        Some(tgtd::TARGET_NAME)
    );
    // The same targets and addresses as `iscsi-ls` finds on the portal.
    let portal = format!("iscsi://127.0.0.1:{}", tgtd.port);
    let theirs: Vec<String> = oracle(&["iscsi-ls", &portal])
        .lines()
        .map(|line| line.replace("Target:", "").replace(" Portal:", " "))
        .collect();
    let ours: Vec<String> = discovered["targets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .flat_map(|target| {
                    let name = target["name"].as_str().unwrap_or_default().to_string();
                    target["addresses"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |address| {
                            format!("{name} {}", address.as_str().unwrap_or_default())
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs, "{discovered}");
}

#[tokio::test(flavor = "current_thread")]
async fn exit_statuses_follow_sg3_utils() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let (lun1, lun2) = (tgtd.url(1), tgtd.url(2));
    // 1: syntax — a bad option, a bad URL, a bad knob.
    assert_eq!(fails(&["tur", "--bogus", &lun1]).0, Some(1));
    let (code, text) = fails(&["inquiry", "iscsi://127.0.0.1/iqn.x:y"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("URL has no LUN"), "{text}");
    let (code, text) = fails(&["tur", "--set", "colour=blue", &lun1]);
    assert_eq!(code, Some(1));
    assert!(text.contains("unknown knob"), "{text}");
    // 2: NOT READY (the LUN taken offline at the target).
    let lu = |params: &str| {
        assert!(tgtd.tgtadm(&[
            "--mode",
            "logicalunit",
            "--op",
            "update",
            "--tid",
            "1",
            "--lun",
            "2",
            "--params",
            params,
        ]));
    };
    lu("online=0");
    assert_eq!(fails(&["tur", &lun2]).0, Some(2));
    lu("online=1");
    // 5: ILLEGAL REQUEST (a VPD page the LUN does not have).
    let (code, text) = fails(&["inquiry", "--vpd", "0x86", &lun1]);
    assert_eq!(code, Some(5));
    assert!(text.contains("Invalid field in cdb"), "{text}");
    // 6: UNIT ATTENTION — LUN 0 (a controller: no READ CAPACITY in the probe) still has
    // the new session's; the passthrough TUR reports it, the core does not hide it.
    let (code, text) = fails(&["tur", &tgtd.url(0)]);
    assert_eq!(code, Some(6));
    assert!(
        text.contains("Power on, reset, or bus device reset occurred"),
        "{text}"
    );
    // 7: DATA PROTECT (a read-only LUN).
    lu("readonly=1");
    assert_eq!(fails(&["write", &lun2, "--pattern", "1"]).0, Some(7));
    lu("readonly=0");
    // 9: invalid operation code; 22: LBA out of range.
    assert_eq!(fails(&["raw", &lun1, "ff 00 00 00 00 00"]).0, Some(9));
    let beyond = [
        "raw",
        lun1.as_str(),
        "28 00 ff ff ff ff 00 00 01 00",
        "--request",
        "512",
    ];
    assert_eq!(fails(&beyond).0, Some(22));
    // 15: cannot connect, no such LUN, an output file that cannot be created.
    let closed = "iscsi://127.0.0.1:1/iqn.x:y/1";
    assert_eq!(fails(&["tur", closed]).0, Some(15));
    assert_eq!(fails(&["tur", &tgtd.url(9)]).0, Some(15));
    let nowhere = ["read", lun1.as_str(), "--output", "/nonexistent/dir/file"];
    assert_eq!(fails(&nowhere).0, Some(15));
    // --json: the error as one JSON object on stdout.
    let output = unjam(&["tur", "--json", closed]);
    let error: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    assert_eq!(error["error"]["exit_status"], 15);
    assert_eq!(error["error"]["category"], "cannot_open");
    assert!(error["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("cannot connect")));
}

#[tokio::test(flavor = "current_thread")]
async fn a_command_longer_than_its_timeout_on_a_hung_target_exits_33() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(1);
    let directory = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let trace = directory.path().join("trace.jsonl");
    let trace_arg = trace.to_string_lossy().to_string();
    // TEST UNIT READY over and over; the target hangs while they run.
    let mut child = Command::new(env!("CARGO_BIN_EXE_unjam"))
        .args([
            "tur", &url, "-v", "--number", "1000000", "--trace", &trace_arg,
        ])
        .args(["--set", "command_timeout=1", "--set", "noop_out_interval=0"])
        .args([
            "--set",
            "abort_timeout=500ms",
            "--set",
            "lu_reset_timeout=500ms",
        ])
        .args([
            "--set",
            "tgt_reset_timeout=500ms",
            "--set",
            "replacement_timeout=1",
        ])
        .args([
            "--set",
            "login_timeout=500ms",
            "--set",
            "logout_timeout=500ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    tgtd.pause();
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    tgtd.resume();
    let mut errors = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut errors);
    }
    assert_eq!(status.code(), Some(33), "{errors}");
    // -v printed the kernel's lines, the trace holds the steps.
    assert!(errors.contains("detected conn error"), "{errors}");
    let lines = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        lines.contains("\"abort_sent\"") && lines.contains("\"tmf_sent\""),
        "{lines}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn input_and_output_are_bounded_and_a_closed_pipe_ends_quietly() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(2);
    // /dev/zero without --blocks: refused after at most 64 MiB + 1 byte, with the reason.
    let (code, text) = fails(&["write", &url, "--input", "/dev/zero"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("more than 64 MiB"), "{text}");
    // With --blocks it writes exactly that much (streamed).
    let written = json(&[
        "write",
        "--json",
        &url,
        "--input",
        "/dev/zero",
        "--blocks",
        "9000",
    ]);
    assert_eq!(written["bytes"], 9000 * 512);
    // A reader that stops early (| head): no panic, no error.
    let mut child = Command::new(env!("CARGO_BIN_EXE_unjam"))
        .args(["read", &url, "--blocks", "4096"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut first = [0u8; 100];
    if let Some(pipe) = child.stdout.as_mut() {
        let _ = pipe.read_exact(&mut first);
    }
    drop(child.stdout.take());
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    let mut errors = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut errors);
    }
    assert_eq!(status.code(), Some(0), "{errors}");
    assert!(!errors.contains("panicked"), "{errors}");
}

#[test]
fn bad_urls_are_named() {
    let output = unjam(&["readcap", "http://127.0.0.1/iqn.x:y/1"]);
    assert!(stderr(&output).contains("iscsi://"));
    let cases = [
        ("iscsi://::1/iqn.x:y/0", "write it in brackets"),
        ("iscsi://h/iqn.x:y/0?header_digest=md5", "header_digest"),
        ("iscsi://alice@h/iqn.x:y/0", "LIBISCSI_CHAP_PASSWORD"),
    ];
    for (url, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_unjam"))
            .args(["inquiry", url])
            .env_remove("LIBISCSI_CHAP_USERNAME")
            .env_remove("LIBISCSI_CHAP_PASSWORD")
            .output()
            .unwrap_or_else(|e| panic!("run unjam: {e}"));
        assert_eq!(output.status.code(), Some(1), "{url}");
        assert!(
            stderr(&output).contains(expected),
            "{url}: {}",
            stderr(&output)
        );
    }
}
