//! `unjam explain --scope`: seed 001's LUN-then-target recovery as a user runs it, the
//! scope named in the path, and an unknown scope refused.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::unjam;

use std::process::Output;

fn explain(scope: &str) -> Output {
    unjam(&[
        "explain",
        "--cdb",
        "28 00 00 00 12 34 00 00 08 00",
        "--scope",
        scope,
        "--outcome",
        "timeout abort=fail lun_reset=fail target_reset=ok tur=ok",
        "--outcome",
        "status=GOOD",
    ])
}

#[test]
fn lun_and_target_scope_falls_back_from_the_lun_to_the_target() {
    let output = explain("lun+target");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let lun = text
        .find("lun error handler wakes")
        .expect("lun scope runs");
    let fallback = text
        .find("lun scope could not recover 1 command(s): fall back to target scope")
        .expect("falls back");
    let target = text
        .find("target error handler wakes")
        .expect("target scope runs");
    assert!(lun < fallback && fallback < target, "{text}");
    assert!(
        !text.contains("error handler wakes: 1 command(s) on"),
        "no host EH: {text}"
    );
    assert!(text.contains("Final status: BLK_STS_OK"), "{text}");
}

#[test]
fn host_scope_is_the_kernel_default() {
    let output = explain("host");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("(busy == failed)"), "{text}");
    assert!(!text.contains("lun error handler wakes"), "{text}");
}

#[test]
fn unknown_scope_is_refused_and_help_documents_scopes() {
    let output = explain("bus");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--scope: unknown scope 'bus'"));
    let help = unjam(&["explain", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("SCOPES (--scope)") && text.contains("lun_reset=ok|fail"),
        "{text}"
    );
}
