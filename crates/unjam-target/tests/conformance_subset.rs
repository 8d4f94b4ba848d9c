//! A fast subset of libiscsi's conformance suite (`iscsi-test-cu`, Debian libiscsi-bin)
//! against the target of `examples/target.toml`: the iSCSI family (CmdSN window, DataSN,
//! residuals, task management) and the SCSI suites of the commands the executor grew for
//! conformance. Every test must pass or be skipped for a documented reason; none may fail.
//! The whole suite is `scripts/conformance.sh`.

mod support;

use support::{tool, Running};

const SUITES: [&str; 9] = [
    "iSCSI",
    "SCSI.Inquiry",
    "SCSI.ReadCapacity16",
    "SCSI.Read10",
    "SCSI.Write16",
    "SCSI.CompareAndWrite",
    "SCSI.ProutReserve",
    "SCSI.Unmap",
    "SCSI.GetLBAStatus",
];

/// Per test of `iscsi-test-cu -v` output: its name and whether it passed, failed or was
/// skipped (a test that prints "[SKIPPED]" before its outcome).
fn outcomes(text: &str) -> Vec<(String, &'static str)> {
    let mut results = Vec::new();
    for block in text.split("  Test: ").skip(1) {
        let name = block.split_whitespace().next().unwrap_or("?").to_string();
        let body = block.split_once(" ...").map_or(block, |(_, rest)| rest);
        let outcome_at = body
            .match_indices("passed")
            .chain(body.match_indices("FAILED"))
            .map(|(at, _)| at)
            .filter(|at| *at == 0 || body[..*at].ends_with('\n'))
            .min();
        let (before, outcome) = match outcome_at {
            Some(at) if body[at..].starts_with("FAILED") => (&body[..at], "failed"),
            Some(at) => (&body[..at], "passed"),
            None => (body, "failed"),
        };
        let outcome = if outcome == "passed" && before.contains("[SKIPPED]") {
            "skipped"
        } else {
            outcome
        };
        results.push((name, outcome));
    }
    results
}

#[test]
fn conformance_subset_has_no_failures() {
    let scenario = include_str!("../../../examples/target.toml");
    let target = Running::start(scenario);
    let mut passed = 0;
    for suite in SUITES {
        let (_, text) = tool(
            "iscsi-test-cu",
            &["--test", suite, "--dataloss", "-v", target.url(0)],
        );
        let results = outcomes(&text);
        assert!(!results.is_empty(), "{suite} ran no test:\n{text}");
        let failed: Vec<&String> = results
            .iter()
            .filter(|(_, outcome)| *outcome == "failed")
            .map(|(name, _)| name)
            .collect();
        assert!(failed.is_empty(), "{suite}: {failed:?} failed:\n{text}");
        passed += results.iter().filter(|(_, o)| *o == "passed").count();
    }
    assert!(passed >= 55, "only {passed} tests passed");
}

#[test]
fn the_multipath_suite_passes_with_two_urls_to_one_logical_unit() {
    let scenario = include_str!("../../../examples/target-multipath.toml");
    let target = Running::start(scenario);
    assert_eq!(target.urls.len(), 2);
    let (_, text) = tool(
        "iscsi-test-cu",
        &[
            "--test",
            "SCSI.MultipathIO",
            "--dataloss",
            "-v",
            target.url(0),
            target.url(1),
        ],
    );
    let results = outcomes(&text);
    assert_eq!(results.len(), 4, "{text}");
    assert!(
        results.iter().all(|(_, outcome)| *outcome == "passed"),
        "{text}"
    );
}

#[test]
fn the_counting_tells_skips_from_passes() {
    let text = "Suite: A\n  Test: One ...passed\n  Test: Two ...    [SKIPPED] no\npassed    [SKIPPED] setup\n  Test: Three ...    [FAILED] x\nFAILED\n";
    assert_eq!(
        outcomes(text),
        [
            ("One".to_string(), "passed"),
            ("Two".to_string(), "skipped"),
            ("Three".to_string(), "failed")
        ]
    );
}
