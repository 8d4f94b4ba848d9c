//! QEMU's iSCSI block driver (`qemu-img` from Debian qemu-utils with qemu-block-extra)
//! against the target: convert a file onto the LUN, compare, convert it back.

mod support;

use std::process::Command;

use support::Running;

const SIXTEEN_MIB: &str = r#"
[[host]]
luns = 1
capacity_mib = 16
latency = { model = "fixed", us = 0 }
"#;

fn qemu_img(args: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg("60")
        .arg("qemu-img")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("qemu-img: {e} (is qemu-utils installed?)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "qemu-img {args:?}: {text}");
    text
}

#[test]
fn convert_compare_and_convert_back() {
    let target = Running::start(SIXTEEN_MIB);
    let url = target.url(0);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = dir.path().join("in.raw");
    let output = dir.path().join("out.raw");
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&input, &data).unwrap_or_else(|e| panic!("{e}"));
    let input = input.display().to_string();
    let info = qemu_img(&["info", url]);
    assert!(info.contains("virtual size: 16 MiB"), "{info}");
    qemu_img(&["convert", "-n", "-f", "raw", "-O", "raw", &input, url]);
    let compared = qemu_img(&["compare", "-f", "raw", "-F", "raw", &input, url]);
    assert!(compared.contains("Images are identical"), "{compared}");
    qemu_img(&[
        "convert",
        "-f",
        "raw",
        "-O",
        "raw",
        url,
        &output.display().to_string(),
    ]);
    let back = std::fs::read(&output).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.len(), 16 << 20);
    assert!(
        back[..data.len()] == data[..],
        "the round trip changed the data"
    );
    assert!(back[data.len()..].iter().all(|byte| *byte == 0));
}
