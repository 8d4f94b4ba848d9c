//! Scenario files: errors name the line and the field, `--set` overrides fields or says
//! why it cannot, and a scenario builds the target it describes.

use unjam_sim::address::LunAddress;
use unjam_sim::personality::Personality;
use unjam_sim::scenario::{target_config, EhScopeName, Policy, Scenario, ScenarioError};

const GOOD: &str = r#"
seed = 7
duration_ms = 2000
policy = "linux"

[eh]
eh_timeout_ms = 2000

[[host]]
personality = "mpt3sas"
targets = 2
luns = 3
block_size = 4096
capacity_gib = 2048

[[host]]
personality = "iscsi_tcp"
targets = 2
luns = 3
mirror_of = 0

[[lun]]
id = "0:0:1:2"
latency = { model = "fixed", us = 900 }

[[fault]]
device = "0:0:0:1"
kind = "timeout"
from_ms = 500
times = 1

[[workload]]
luns = "0:*:*:*"
read_percent = 50
io_bytes = 8192
queue_depth = 4
verify = true
"#;

#[test]
fn a_good_scenario_builds_its_target() {
    let scenario = Scenario::from_toml(GOOD, "good.toml").unwrap();
    assert_eq!(scenario.seed, 7);
    assert_eq!(scenario.policy, Policy::Linux);
    assert_eq!(
        scenario.eh_scope(),
        EhScopeName::Host,
        "the linux policy's default"
    );
    let config = target_config(&scenario).unwrap();
    assert_eq!(config.luns.len(), 12);
    assert_eq!(
        config.units.len(),
        6,
        "the mirror host adds paths, not units"
    );
    assert_eq!(config.units[0].block_count, (2048u64 << 30) / 4096);
    assert_eq!(config.hosts[1].personality, Personality::IscsiTcp);
    let mirror = config
        .luns
        .iter()
        .find(|l| l.address == LunAddress::new(1, 0, 1, 2));
    let original = config
        .luns
        .iter()
        .find(|l| l.address == LunAddress::new(0, 0, 1, 2));
    assert_eq!(mirror.unwrap().unit, original.unwrap().unit);
    assert_eq!(
        original.unwrap().latency,
        unjam_sim::latency::LatencyModel::Fixed { us: 900 }
    );
    assert_eq!(config.faults.len(), 1);
    assert_eq!(config.faults[0].trigger.from_us, 500_000);
}

fn error_of(text: &str) -> String {
    Scenario::from_toml(text, "bad.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn a_bad_value_names_line_and_field() {
    let text = GOOD.replace("personality = \"iscsi_tcp\"", "personality = \"iscsi_udp\"");
    let error = error_of(&text);
    let line = text.lines().position(|l| l.contains("iscsi_udp")).unwrap() + 1;
    assert!(error.starts_with(&format!("bad.toml:{line}:")), "{error}");
    assert!(error.contains("`host[1].personality`"), "{error}");
    assert!(error.contains("unknown variant `iscsi_udp`"), "{error}");
}

#[test]
fn an_unknown_field_names_its_line() {
    let text = GOOD.replace(
        "eh_timeout_ms = 2000",
        "eh_timeout_ms = 2000\nscoop = \"lun\"",
    );
    let error = error_of(&text);
    let line = text.lines().position(|l| l.starts_with("scoop")).unwrap() + 1;
    assert!(error.starts_with(&format!("bad.toml:{line}:")), "{error}");
    assert!(error.contains("unknown field `scoop`"), "{error}");
}

#[test]
fn a_bad_fault_names_its_table_and_reason() {
    let text = GOOD.replace("kind = \"timeout\"", "kind = \"timeout\"\nextra_us = 3");
    let error = error_of(&text);
    assert!(
        error.contains("`fault[0]`") || error.contains("fault"),
        "{error}"
    );
    assert!(
        error.contains("does not apply to kind `timeout`"),
        "{error}"
    );
    assert!(error.starts_with("bad.toml:"), "{error}");
}

#[test]
fn cross_field_errors_name_the_field_and_line() {
    let text = GOOD.replace("io_bytes = 8192", "io_bytes = 6000");
    let error = error_of(&text);
    let line = text
        .lines()
        .position(|l| l.starts_with("io_bytes"))
        .unwrap()
        + 1;
    assert!(error.starts_with(&format!("bad.toml:{line}:")), "{error}");
    assert!(error.contains("`workload[0].io_bytes`"), "{error}");
    assert!(
        error.contains("not a multiple of the block size 4096"),
        "{error}"
    );
    let error = error_of(&GOOD.replace("id = \"0:0:1:2\"", "id = \"0:0:9:2\""));
    assert!(error.contains("`lun[0].id`: no LUN 0:0:9:2"), "{error}");
    let error = error_of(&GOOD.replace("mirror_of = 0", "mirror_of = 1"));
    assert!(error.contains("host[1].mirror_of"), "{error}");
    let error = error_of("seed = 1\n");
    assert!(error.contains("at least one [[host]]"), "{error}");
}

#[test]
fn syntax_errors_name_the_line() {
    let error = error_of("seed = 1\n[[host]\n");
    assert!(error.starts_with("bad.toml:2:"), "{error}");
}

#[test]
fn overrides_change_fields() {
    let overrides = [
        "eh.scope=lun".to_string(),
        "host.0.personality=smartpqi".to_string(),
        "workload[0].read_percent=90".to_string(),
        "seed=99".to_string(),
    ];
    let scenario = Scenario::from_toml_with_overrides(GOOD, "good.toml", &overrides).unwrap();
    assert_eq!(scenario.eh_scope(), EhScopeName::Lun);
    assert_eq!(scenario.hosts[0].personality, Personality::Smartpqi);
    assert_eq!(scenario.workloads[0].read_percent, 90);
    assert_eq!(scenario.seed, 99);
}

#[test]
fn overrides_of_unknown_keys_say_so() {
    let attempt = |assignment: &str| {
        Scenario::from_toml_with_overrides(GOOD, "good.toml", &[assignment.to_string()])
            .unwrap_err()
    };
    let error = attempt("eh.scop=lun");
    assert!(matches!(error, ScenarioError::Override(_)));
    let text = error.to_string();
    assert!(text.contains("--set `eh.scop=lun`"), "{text}");
    assert!(text.contains("unknown field `scop`"), "{text}");
    let text = attempt("eh.scope=sideways").to_string();
    assert!(text.contains("unknown variant `sideways`"), "{text}");
    let text = attempt("colour=blue").to_string();
    assert!(text.contains("unknown field `colour`"), "{text}");
    let text = attempt("workload.0.io_bytes=6000").to_string();
    assert!(text.contains("not a multiple"), "{text}");
}
