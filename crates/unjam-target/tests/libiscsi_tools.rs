//! libiscsi's tools (Debian libiscsi-bin) against the target: discovery and listing,
//! INQUIRY, READ CAPACITY(16) and a short iscsi-perf run.

mod support;

use support::{tool, Running, ONE_LUN};

#[test]
fn iscsi_ls_lists_the_target_and_its_luns() {
    let target = Running::start(&ONE_LUN.replace("luns = 1", "luns = 3"));
    let portal = format!("iscsi://{}", target.portals[0]);
    let (ok, text) = tool("iscsi-ls", &["-s", &portal]);
    assert!(ok, "{text}");
    assert!(
        text.contains("Target:iqn.2024-11.dev.unjam:target Portal:127.0.0.1:"),
        "{text}"
    );
    for lun in 0..3 {
        assert!(text.contains(&format!("Lun:{lun} ")), "{text}");
    }
    assert!(text.contains("DIRECT_ACCESS (Size:63M)"), "{text}");
}

#[test]
fn iscsi_inq_and_readcapacity16_see_the_disk() {
    let target = Running::start(ONE_LUN);
    let (ok, text) = tool("iscsi-inq", &[target.url(0)]);
    assert!(ok, "{text}");
    assert!(text.contains("Vendor:UNJAM"), "{text}");
    assert!(text.contains("TPGS:1"), "{text}");
    let (ok, text) = tool("iscsi-inq", &["-e", "1", "-c", "0x83", target.url(0)]);
    assert!(ok, "{text}");
    let (ok, text) = tool("iscsi-readcapacity16", &[target.url(0)]);
    assert!(ok, "{text}");
    assert!(
        text.contains("RETURNED LOGICAL BLOCK ADDRESS:131071"),
        "{text}"
    );
    assert!(text.contains("LOGICAL BLOCK LENGTH IN BYTES:512"), "{text}");
}

#[test]
fn iscsi_perf_reads_for_a_second() {
    let target = Running::start(ONE_LUN);
    let (_, text) = tool(
        "iscsi-perf",
        &["-m", "8", "-b", "8", "-t", "1", "-r", target.url(0)],
    );
    let average = text
        .replace('\r', "\n")
        .lines()
        .filter_map(|line| line.split("iops average ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .next_back();
    assert!(average.is_some_and(|iops| iops > 0), "{text}");
}
