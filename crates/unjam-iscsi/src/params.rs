//! Operational parameter negotiation (RFC 7143 §6.2 and §13): what the initiator offers,
//! how each key's result is computed (min, max, OR, AND, list, declarative), and the
//! resulting parameters the session runs with.
//!
//! Owns the negotiation rules and bounds; it neither builds PDUs nor decides login stages.

use crate::text::TextPairs;

/// Smallest and largest legal values of the data length keys (RFC 7143 §13.12–§13.14).
pub const MIN_DATA_LENGTH: u32 = 512;
pub const MAX_DATA_LENGTH: u32 = 16_777_215;

/// Negotiation failed: the target answered something the rules do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    #[error("key {key}: value {value:?} is not a valid {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("key {key}: target chose {value:?}, which was not offered")]
    NotOffered { key: String, value: String },
    #[error("FirstBurstLength {first} exceeds MaxBurstLength {max}")]
    FirstBurstAboveMaxBurst { first: u32, max: u32 },
}

/// What the initiator asks for. Defaults follow open-iscsi's iscsid.conf where the RFC leaves
/// a choice, and RFC 7143 otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationalProposal {
    /// Offer CRC32C first (the target may still choose None).
    pub header_digest: bool,
    pub data_digest: bool,
    pub initial_r2t: bool,
    pub immediate_data: bool,
    /// What we accept per PDU (declared to the target).
    pub max_recv_data_segment_length: u32,
    pub max_burst_length: u32,
    pub first_burst_length: u32,
    pub max_outstanding_r2t: u32,
}

impl Default for OperationalProposal {
    fn default() -> Self {
        OperationalProposal {
            header_digest: false,
            data_digest: false,
            initial_r2t: false,
            immediate_data: true,
            max_recv_data_segment_length: 262_144,
            max_burst_length: 16_776_192,
            first_burst_length: 262_144,
            max_outstanding_r2t: 1,
        }
    }
}

/// The parameters in force after login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationalParams {
    pub header_digest: bool,
    pub data_digest: bool,
    pub max_connections: u32,
    pub initial_r2t: bool,
    pub immediate_data: bool,
    /// Largest data segment we accept (we declared it).
    pub max_recv_data_segment_length: u32,
    /// Largest data segment the target accepts (it declared it): bounds our Data-Out PDUs.
    pub max_send_data_segment_length: u32,
    pub max_burst_length: u32,
    pub first_burst_length: u32,
    pub default_time2wait_s: u32,
    pub default_time2retain_s: u32,
    pub max_outstanding_r2t: u32,
    pub data_pdu_in_order: bool,
    pub data_sequence_in_order: bool,
    pub error_recovery_level: u32,
}

impl Default for OperationalParams {
    /// The RFC 7143 defaults, in force for any key not negotiated.
    fn default() -> Self {
        OperationalParams {
            header_digest: false,
            data_digest: false,
            max_connections: 1,
            initial_r2t: true,
            immediate_data: true,
            max_recv_data_segment_length: 8192,
            max_send_data_segment_length: 8192,
            max_burst_length: 262_144,
            first_burst_length: 65_536,
            default_time2wait_s: 2,
            default_time2retain_s: 20,
            max_outstanding_r2t: 1,
            data_pdu_in_order: true,
            data_sequence_in_order: true,
            error_recovery_level: 0,
        }
    }
}

/// Negotiates the operational keys of one login.
#[derive(Debug, Clone)]
pub struct Negotiator {
    proposal: OperationalProposal,
    discovery: bool,
    params: OperationalParams,
    offered: Vec<&'static str>,
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "Yes"
    } else {
        "No"
    }
}

fn digest_offer(crc: bool) -> &'static str {
    if crc {
        "CRC32C,None"
    } else {
        "None"
    }
}

impl Negotiator {
    /// A negotiator for a normal (`discovery == false`) or discovery session.
    pub fn new(proposal: OperationalProposal, discovery: bool) -> Negotiator {
        let params = OperationalParams {
            max_recv_data_segment_length: proposal.max_recv_data_segment_length,
            ..OperationalParams::default()
        };
        Negotiator {
            proposal,
            discovery,
            params,
            offered: Vec::new(),
        }
    }

    /// The keys to send in the first operational-stage request; remembers them as offered.
    pub fn offer(&mut self) -> TextPairs {
        let proposal = &self.proposal;
        let mut pairs = TextPairs::new();
        pairs.push("HeaderDigest", digest_offer(proposal.header_digest));
        pairs.push("DataDigest", digest_offer(proposal.data_digest));
        let mrdsl = proposal.max_recv_data_segment_length.to_string();
        pairs.push("MaxRecvDataSegmentLength", mrdsl);
        if !self.discovery {
            pairs.push("MaxConnections", "1");
            pairs.push("InitialR2T", yes_no(proposal.initial_r2t));
            pairs.push("ImmediateData", yes_no(proposal.immediate_data));
            pairs.push("MaxBurstLength", proposal.max_burst_length.to_string());
            pairs.push("FirstBurstLength", proposal.first_burst_length.to_string());
            pairs.push("DefaultTime2Wait", "2");
            pairs.push("DefaultTime2Retain", "0");
            let r2t = proposal.max_outstanding_r2t.to_string();
            pairs.push("MaxOutstandingR2T", r2t);
            pairs.push("DataPDUInOrder", "Yes");
            pairs.push("DataSequenceInOrder", "Yes");
            pairs.push("ErrorRecoveryLevel", "0");
        }
        self.offered = pairs
            .0
            .iter()
            .filter_map(|(key, _)| OFFERABLE.iter().copied().find(|known| known == key))
            .collect();
        pairs
    }

    /// Applies the target's keys; returns the answers the initiator owes for keys the target
    /// offered first (empty when the target only answered).
    pub fn handle(&mut self, pairs: &TextPairs) -> Result<TextPairs, NegotiationError> {
        let mut answers = TextPairs::new();
        for (key, value) in &pairs.0 {
            let was_offered = self.offered.iter().any(|offered| offered == key);
            if was_offered && matches!(value.as_str(), "Reject" | "Irrelevant" | "NotUnderstood") {
                continue;
            }
            if let Some(answer) = self.apply(key, value, was_offered)? {
                answers.push(key, answer);
            }
        }
        Ok(answers)
    }

    /// The negotiated parameters, checked for consistency.
    pub fn finish(&self) -> Result<OperationalParams, NegotiationError> {
        let params = self.params;
        if params.first_burst_length > params.max_burst_length && !self.discovery {
            return Err(NegotiationError::FirstBurstAboveMaxBurst {
                first: params.first_burst_length,
                max: params.max_burst_length,
            });
        }
        Ok(params)
    }

    /// Applies one key. `was_offered`: this is the target's answer to our offer; otherwise the
    /// target offered it and the return value is our answer.
    fn apply(
        &mut self,
        key: &str,
        value: &str,
        was_offered: bool,
    ) -> Result<Option<String>, NegotiationError> {
        let proposal = self.proposal.clone();
        let params = &mut self.params;
        let answer = match key {
            "HeaderDigest" => {
                params.header_digest = pick_digest(key, value, proposal.header_digest)?;
                digest_name(params.header_digest)
            }
            "DataDigest" => {
                params.data_digest = pick_digest(key, value, proposal.data_digest)?;
                digest_name(params.data_digest)
            }
            "MaxRecvDataSegmentLength" => {
                let length = parse_range(key, value, MIN_DATA_LENGTH, MAX_DATA_LENGTH)?;
                params.max_send_data_segment_length = length;
                // Declarative: the target states its own limit and expects ours if it did not
                // hear it yet.
                return Ok(
                    (!was_offered && !self.offered.contains(&"MaxRecvDataSegmentLength"))
                        .then(|| proposal.max_recv_data_segment_length.to_string()),
                );
            }
            "MaxConnections" => {
                params.max_connections = parse_range(key, value, 1, 65_535)?.min(1);
                params.max_connections.to_string()
            }
            "InitialR2T" => {
                params.initial_r2t = parse_bool(key, value)? || proposal.initial_r2t;
                yes_no(params.initial_r2t).to_string()
            }
            "ImmediateData" => {
                params.immediate_data = parse_bool(key, value)? && proposal.immediate_data;
                yes_no(params.immediate_data).to_string()
            }
            "MaxBurstLength" => {
                let length = parse_range(key, value, MIN_DATA_LENGTH, MAX_DATA_LENGTH)?;
                params.max_burst_length = length.min(proposal.max_burst_length);
                params.max_burst_length.to_string()
            }
            "FirstBurstLength" => {
                let length = parse_range(key, value, MIN_DATA_LENGTH, MAX_DATA_LENGTH)?;
                params.first_burst_length = length.min(proposal.first_burst_length);
                params.first_burst_length.to_string()
            }
            "DefaultTime2Wait" => {
                params.default_time2wait_s = parse_range(key, value, 0, 3600)?.max(2);
                params.default_time2wait_s.to_string()
            }
            "DefaultTime2Retain" => {
                // Min with our 0: no session state is retained after a connection loss (ERL 0).
                parse_range(key, value, 0, 3600)?;
                params.default_time2retain_s = 0;
                params.default_time2retain_s.to_string()
            }
            "MaxOutstandingR2T" => {
                let count = parse_range(key, value, 1, 65_535)?;
                params.max_outstanding_r2t = count.min(proposal.max_outstanding_r2t);
                params.max_outstanding_r2t.to_string()
            }
            "DataPDUInOrder" => {
                // OR with our "Yes": the result is Yes whatever the target says.
                parse_bool(key, value)?;
                params.data_pdu_in_order = true;
                "Yes".to_string()
            }
            "DataSequenceInOrder" => {
                parse_bool(key, value)?;
                params.data_sequence_in_order = true;
                "Yes".to_string()
            }
            "ErrorRecoveryLevel" => {
                // Min with our 0: unjam implements ErrorRecoveryLevel 0 only.
                parse_range(key, value, 0, 2)?;
                params.error_recovery_level = 0;
                params.error_recovery_level.to_string()
            }
            "TargetPortalGroupTag" | "TargetAlias" | "TargetAddress" | "TargetName" => {
                return Ok(None);
            }
            "OFMarker" | "IFMarker" => "No".to_string(),
            _ => "NotUnderstood".to_string(),
        };
        Ok((!was_offered).then_some(answer))
    }
}

/// Keys unjam offers (so a later answer for them is a response, not a new offer).
const OFFERABLE: [&str; 13] = [
    "HeaderDigest",
    "DataDigest",
    "MaxRecvDataSegmentLength",
    "MaxConnections",
    "InitialR2T",
    "ImmediateData",
    "MaxBurstLength",
    "FirstBurstLength",
    "DefaultTime2Wait",
    "DefaultTime2Retain",
    "MaxOutstandingR2T",
    "DataPDUInOrder",
    "DataSequenceInOrder",
];

fn digest_name(crc: bool) -> String {
    if crc { "CRC32C" } else { "None" }.to_string()
}

/// List negotiation for the digest keys: the first value in the list that we accept.
fn pick_digest(key: &str, value: &str, want_crc: bool) -> Result<bool, NegotiationError> {
    for choice in value.split(',') {
        match choice {
            "None" => return Ok(false),
            "CRC32C" if want_crc => return Ok(true),
            _ => {}
        }
    }
    Err(NegotiationError::NotOffered {
        key: key.to_string(),
        value: value.to_string(),
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool, NegotiationError> {
    match value {
        "Yes" => Ok(true),
        "No" => Ok(false),
        _ => Err(NegotiationError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: "Yes or No",
        }),
    }
}

fn parse_range(key: &str, value: &str, min: u32, max: u32) -> Result<u32, NegotiationError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| NegotiationError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: "number in range",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> TextPairs {
        let mut pairs = TextPairs::new();
        for (key, value) in items {
            pairs.push(key, *value);
        }
        pairs
    }

    #[test]
    fn answers_to_offers_follow_min_max_or_and() {
        let mut negotiator = Negotiator::new(OperationalProposal::default(), false);
        let offer = negotiator.offer();
        assert_eq!(offer.get("ErrorRecoveryLevel"), Some("0"));
        let answers = negotiator.handle(&pairs(&[
            ("MaxBurstLength", "262144"),
            ("FirstBurstLength", "65536"),
            ("InitialR2T", "Yes"),
            ("ImmediateData", "No"),
            ("MaxRecvDataSegmentLength", "8192"),
            ("DefaultTime2Wait", "5"),
            ("HeaderDigest", "None"),
        ]));
        assert_eq!(answers, Ok(TextPairs::new()));
        let params = negotiator.finish().unwrap_or_default();
        assert_eq!(params.max_burst_length, 262_144);
        assert_eq!(params.first_burst_length, 65_536);
        assert!(params.initial_r2t);
        assert!(!params.immediate_data);
        assert_eq!(params.max_send_data_segment_length, 8192);
        assert_eq!(params.max_recv_data_segment_length, 262_144);
        assert_eq!(params.default_time2wait_s, 5);
    }

    #[test]
    fn target_offers_get_answers_and_unknown_keys_are_not_understood() {
        let mut negotiator = Negotiator::new(OperationalProposal::default(), false);
        let out_of_range = negotiator.handle(&pairs(&[("MaxBurstLength", "99999999")]));
        assert!(matches!(
            out_of_range,
            Err(NegotiationError::InvalidValue { .. })
        ));
        let answers = negotiator.handle(&pairs(&[
            ("MaxBurstLength", "131072"),
            ("X-vendor-key", "1"),
            ("TargetPortalGroupTag", "1"),
        ]));
        let answers = answers.unwrap_or_default();
        assert_eq!(answers.get("MaxBurstLength"), Some("131072"));
        assert_eq!(answers.get("X-vendor-key"), Some("NotUnderstood"));
        assert_eq!(answers.get("TargetPortalGroupTag"), None);
    }

    #[test]
    fn digest_list_picks_the_first_acceptable() {
        let proposal = OperationalProposal {
            header_digest: true,
            ..OperationalProposal::default()
        };
        let mut negotiator = Negotiator::new(proposal, false);
        negotiator.offer();
        assert!(negotiator
            .handle(&pairs(&[("HeaderDigest", "CRC32C")]))
            .is_ok());
        assert!(negotiator
            .finish()
            .map(|p| p.header_digest)
            .unwrap_or(false));
        let mut plain = Negotiator::new(OperationalProposal::default(), false);
        plain.offer();
        assert!(matches!(
            plain.handle(&pairs(&[("DataDigest", "CRC32C")])),
            Err(NegotiationError::NotOffered { .. })
        ));
    }

    #[test]
    fn rejects_first_burst_above_max_burst_and_bad_numbers() {
        let mut negotiator = Negotiator::new(OperationalProposal::default(), false);
        negotiator.offer();
        assert!(negotiator
            .handle(&pairs(&[
                ("MaxBurstLength", "4096"),
                ("FirstBurstLength", "8192")
            ]))
            .is_ok());
        assert!(matches!(
            negotiator.finish(),
            Err(NegotiationError::FirstBurstAboveMaxBurst { .. })
        ));
        assert!(matches!(
            negotiator.handle(&pairs(&[("MaxBurstLength", "12x")])),
            Err(NegotiationError::InvalidValue { .. })
        ));
    }
}
