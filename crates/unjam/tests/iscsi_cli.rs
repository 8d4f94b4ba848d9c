//! The iSCSI subcommands as a user runs them, against a real tgtd, with libiscsi's tools as
//! the oracle where they print the same facts.

#[path = "../../unjam-iscsi/tests/support/tgtd.rs"]
#[allow(dead_code)]
mod tgtd;

use std::process::{Command, Output};

use tgtd::{Tgtd, TgtdOptions};

fn unjam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unjam"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run unjam: {e}"))
}

fn json(args: &[&str]) -> serde_json::Value {
    let output = unjam(args);
    assert!(output.status.success(), "{args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn oracle_field(program: &str, url: &str, name: &str) -> String {
    let output = Command::new("timeout")
        .args(["20", program, url])
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(':')
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "current_thread")]
async fn readcap_inquiry_luns_tur_agree_with_the_target() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(1);
    let capacity = json(&["readcap", "--json", &url]);
    let last_lba = oracle_field(
        "iscsi-readcapacity16",
        &url,
        "RETURNED LOGICAL BLOCK ADDRESS",
    );
    let block = oracle_field(
        "iscsi-readcapacity16",
        &url,
        "LOGICAL BLOCK LENGTH IN BYTES",
    );
    assert_eq!(capacity["last_lba"].to_string(), last_lba);
    assert_eq!(capacity["block_size"].to_string(), block);

    let inquiry = json(&["inquiry", "--json", &url]);
    let vendor = oracle_field("iscsi-inq", &url, "Vendor");
    assert_eq!(inquiry["vendor"].as_str(), Some(vendor.trim_end()));
    let text = unjam(&["inquiry", &url]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(" Vendor identification: IET"));

    let luns = json(&["luns", "--json", &url]);
    let numbers: Vec<u64> = luns["luns"]
        .as_array()
        .map(|list| list.iter().filter_map(|lun| lun["lun"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(numbers, vec![0, 1, 2]);
    // A portal-and-target URL (no LUN) lists the same LUNs.
    let target_url = url.trim_end_matches("/1");
    let luns = json(&["luns", "--json", target_url]);
    assert_eq!(luns["luns"].as_array().map(Vec::len), Some(3));

    let tur = unjam(&["tur", &url]);
    assert!(tur.status.success(), "{tur:?}");
    assert_eq!(String::from_utf8_lossy(&tur.stdout).trim(), "ready");
}

#[tokio::test(flavor = "current_thread")]
async fn write_then_read_and_reset() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(2);
    let directory = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = directory.path().join("in.bin");
    let output = directory.path().join("out.bin");
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&input, &data).unwrap_or_else(|e| panic!("{e}"));
    let input_arg = input.to_string_lossy().to_string();
    let output_arg = output.to_string_lossy().to_string();
    let written = json(&[
        "write", "--json", &url, "--lba", "100", "--blocks", "16", "--input", &input_arg,
    ]);
    assert_eq!(written["bytes"], 8192);
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

    let reset = json(&["reset", "--json", &url]);
    assert_eq!(reset["response"], 0);
    let discovered = json(&[
        "discover",
        "--json",
        &format!("iscsi://127.0.0.1:{}", tgtd.port),
    ]);
    assert_eq!(
        discovered["targets"][0]["name"].as_str(),
        Some(tgtd::TARGET_NAME)
    );
}

#[test]
fn bad_urls_are_named() {
    let output = unjam(&["inquiry", "iscsi://127.0.0.1/iqn.x:y"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("URL has no LUN"), "{stderr}");
    let output = unjam(&["readcap", "http://127.0.0.1/iqn.x:y/1"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("iscsi://"));
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
        assert!(!output.status.success(), "{url}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{url}: {stderr}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn bench_reports_iops_latency_and_errors() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(1);
    for pattern in ["randrw", "read"] {
        let report = json(&[
            "bench", &url, "--rw", pattern, "--bs", "4k", "--qd", "4", "--time", "500ms", "--json",
        ]);
        assert_eq!(report["errors"], 0, "{report}");
        assert!(report["ios"].as_u64().unwrap_or(0) > 0, "{report}");
        assert!(report["iops"].as_f64().unwrap_or(0.0) > 0.0, "{report}");
        assert!(report["mbps"].as_f64().is_some(), "{report}");
        let latency = &report["latency_us"];
        let p50 = latency["p50"].as_u64().unwrap_or(0);
        let p99 = latency["p99"].as_u64().unwrap_or(0);
        let p999 = latency["p999"].as_u64().unwrap_or(0);
        assert!(p50 > 0 && p50 <= p99 && p99 <= p999, "{report}");
    }
    let output = unjam(&["bench", &url, "--bs", "1000", "--time", "1s"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a multiple"));
}
