//! The network tables of a scenario (`[iscsi]`, `[[portal]]`, `[[port_group]]`, wire
//! faults): defaults, and errors that name the line and the field.

use unjam_sim::scenario::{Scenario, DEFAULT_TARGET_NAME};

const BASE: &str = "[[host]]\nluns = 2\n";

fn load(extra: &str) -> Result<Scenario, String> {
    Scenario::from_toml(&format!("{BASE}{extra}"), "net.toml").map_err(|e| e.to_string())
}

#[test]
fn defaults_and_a_full_front() {
    let plain = load("").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain.iscsi.target_name, DEFAULT_TARGET_NAME);
    assert!(plain.portals.is_empty());
    assert_eq!(plain.port_group_ids(), [1]);
    let full = load(
        r#"
[[host]]
luns = 2
mirror_of = 0

[iscsi]
target_name = "iqn.2024-11.dev.unjam:full"
chap = { user = "alice", secret = "alice-secret" }
mutual_chap = { user = "tgt", secret = "target-secret" }
command_window = 64

[[portal]]
address = "127.0.0.1:0"
group = 1

[[portal]]
address = "127.0.0.1:0"
group = 2
host = 1

[[port_group]]
id = 2
state = "standby"

[[fault]]
kind = "alua_state"
group = 2
state = "active_optimized"
from_ms = 5000

[[fault]]
kind = "portal_down"
portal = 1
from_ms = 1000
duration_ms = 500
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(full.portals.len(), 2);
    assert_eq!(full.port_group_ids(), [1, 2]);
    assert_eq!(full.iscsi.command_window, 64);
}

#[test]
fn errors_name_the_line_and_the_field() {
    let error = load("[[portal]]\naddress = \"localhost\"\n").unwrap_err();
    assert!(error.contains("net.toml:4: `portal[0].address`"), "{error}");
    let error = load("[[portal]]\naddress = \"127.0.0.1:1\"\nhost = 3\n").unwrap_err();
    assert!(error.contains(":5: `portal[0].host`: no host 3"), "{error}");
    let error = load("[iscsi]\ntarget_name = \"Bad Name\"\n").unwrap_err();
    assert!(error.contains(":4: `iscsi.target_name`"), "{error}");
    let error = load("[iscsi]\nfirst_burst_length = 9999999\n").unwrap_err();
    assert!(error.contains("iscsi.first_burst_length"), "{error}");
    let error = load("[iscsi]\nmutual_chap = { user = \"a\", secret = \"b\" }\n").unwrap_err();
    assert!(
        error.contains("`iscsi.mutual_chap`: needs `chap`"),
        "{error}"
    );
    let error = load("[[port_group]]\nid = 1\nstate = \"asleep\"\n").unwrap_err();
    assert!(error.contains("net.toml:5"), "{error}");
    assert!(error.contains("`port_group[0].state`"), "{error}");
    assert!(error.contains("unknown variant `asleep`"), "{error}");
    let error =
        load("[[fault]]\nkind = \"alua_state\"\ngroup = 7\nstate = \"standby\"\n").unwrap_err();
    assert!(
        error.contains(":5: `fault[0].group`: no port group 7"),
        "{error}"
    );
    let error = load("[[fault]]\nkind = \"portal_down\"\nportal = 2\n").unwrap_err();
    assert!(error.contains("`fault[0].portal`: no portal 2"), "{error}");
    let error = load("[[portal]]\naddres = \"127.0.0.1:1\"\n").unwrap_err();
    assert!(error.contains("unknown field `addres`"), "{error}");
}
