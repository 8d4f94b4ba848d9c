//! The answer to a SendTargets text request (RFC 7143 §12.5, Appendix C): each target the
//! initiator may see, with the portals that reach it.
//!
//! Owns the selection (`All`, one name, or the session's own target) and the text layout;
//! the text exchange that carries it (continuations) is in `session`.

use crate::text::TextPairs;

/// A target as SendTargets lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedTarget {
    pub name: String,
    /// `address:port,tpgt` for every portal that reaches the target (IPv6 in brackets).
    pub addresses: Vec<String>,
}

/// The SendTargets answer for `value` (`All`, a target name, or empty for the session's own
/// target `own`). An unknown name gives an empty answer, as RFC 7143 requires.
pub fn send_targets_text(value: &str, targets: &[PublishedTarget], own: Option<&str>) -> TextPairs {
    let mut pairs = TextPairs::new();
    let wanted = |target: &PublishedTarget| match value {
        "All" => true,
        "" => own == Some(target.name.as_str()),
        name => name == target.name,
    };
    for target in targets.iter().filter(|target| wanted(target)) {
        pairs.push("TargetName", target.name.clone());
        for address in &target.addresses {
            pairs.push("TargetAddress", address.clone());
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<PublishedTarget> {
        vec![
            PublishedTarget {
                name: "iqn.a".into(),
                addresses: vec!["127.0.0.1:3260,1".into(), "127.0.0.1:3261,2".into()],
            },
            PublishedTarget {
                name: "iqn.b".into(),
                addresses: vec!["127.0.0.1:3260,1".into()],
            },
        ]
    }

    #[test]
    fn all_one_or_own() {
        let all = send_targets_text("All", &targets(), None);
        assert_eq!(all.all("TargetName").count(), 2);
        assert_eq!(all.all("TargetAddress").count(), 3);
        let one = send_targets_text("iqn.b", &targets(), None);
        assert_eq!(one.get("TargetName"), Some("iqn.b"));
        assert_eq!(one.0.len(), 2);
        let own = send_targets_text("", &targets(), Some("iqn.a"));
        assert_eq!(own.get("TargetName"), Some("iqn.a"));
        assert!(send_targets_text("iqn.none", &targets(), None).is_empty());
    }
}
