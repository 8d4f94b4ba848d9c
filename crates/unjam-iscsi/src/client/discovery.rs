//! SendTargets discovery (RFC 7143 §4.3, Appendix C): a discovery session that asks
//! `SendTargets=All`, follows Text Response continuations, and logs out.
//!
//! Owns the discovery conversation and the parsing of its answer; it does not log in to the
//! targets it finds.

use bytes::Bytes;

use crate::login::{LoginConfig, SessionType};
use crate::pdu::{LogoutReason, LogoutRequest, Pdu, TextRequest, RESERVED_TAG};
use crate::text::{TextAssembler, TextPairs};
use crate::url::PortalUrl;

use super::connection::Connection;
use super::{
    authentication_for, check_digests, duration_ms, proposal_for, random_isid, ClientConfig,
    ClientError,
};
use crate::name::check_name;

/// Most Text Response PDUs accepted for one SendTargets answer.
const MAX_TEXT_RESPONSES: usize = 64;

/// One target named in a SendTargets answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredTarget {
    pub name: String,
    /// `address[:port],portal-group-tag` entries as the target sent them.
    pub addresses: Vec<String>,
}

/// Groups `TargetName` / `TargetAddress` pairs: each address belongs to the name before it.
pub fn parse_send_targets(pairs: &TextPairs) -> Vec<DiscoveredTarget> {
    let mut targets: Vec<DiscoveredTarget> = Vec::new();
    for (key, value) in &pairs.0 {
        match key.as_str() {
            "TargetName" => targets.push(DiscoveredTarget {
                name: value.clone(),
                addresses: Vec::new(),
            }),
            "TargetAddress" => {
                if let Some(last) = targets.last_mut() {
                    last.addresses.push(value.clone());
                }
            }
            _ => {}
        }
    }
    targets
}

/// Lists the targets behind a portal.
pub async fn discover(
    portal: &PortalUrl,
    config: &ClientConfig,
) -> Result<Vec<DiscoveredTarget>, ClientError> {
    check_name("initiator name", &config.initiator_name)?;
    let timeout = config.login_timeout;
    let login = LoginConfig {
        initiator_name: config.initiator_name.clone(),
        session_type: SessionType::Discovery,
        authentication: authentication_for(portal, config),
        isid: random_isid(),
        tsih: 0,
        cid: 0,
        initiator_task_tag: 1,
        initial_cmd_sn: 1,
        proposal: proposal_for(portal, config),
    };
    let opening = async {
        let mut connection = Connection::connect(&portal.address(), timeout).await?;
        let outcome = connection.login(login, timeout).await?;
        check_digests(portal, &outcome.params)?;
        Ok::<_, ClientError>((connection, outcome))
    };
    let (mut connection, outcome) =
        tokio::time::timeout(timeout, opening)
            .await
            .map_err(|_| ClientError::LoginTimeout {
                timeout_ms: duration_ms(timeout),
            })??;
    let mut exp_stat_sn = outcome.next_stat_sn;
    let mut target_transfer_tag = RESERVED_TAG;
    let mut request_data =
        Bytes::from(TextPairs(vec![("SendTargets".into(), "All".into())]).encode());
    let mut assembler = TextAssembler::default();
    for _ in 0..MAX_TEXT_RESPONSES {
        let request = TextRequest {
            immediate: false,
            final_pdu: true,
            cont: false,
            lun: 0,
            initiator_task_tag: 2,
            target_transfer_tag,
            cmd_sn: outcome.cmd_sn,
            exp_stat_sn,
            data: std::mem::take(&mut request_data),
        };
        connection.send(&Pdu::TextRequest(request)).await?;
        let Pdu::TextResponse(response) = connection.receive(config.login_timeout).await? else {
            return Err(ClientError::Protocol(
                "expected a Text Response to SendTargets".into(),
            ));
        };
        exp_stat_sn = response.sequence.stat_sn.wrapping_add(1);
        assembler
            .push(&response.data)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if response.final_pdu && !response.cont {
            let pairs = assembler
                .finish()
                .map_err(|e| ClientError::Protocol(e.to_string()))?;
            let logout = LogoutRequest {
                immediate: true,
                reason: LogoutReason::CloseSession,
                initiator_task_tag: 3,
                cid: 0,
                cmd_sn: outcome.cmd_sn.wrapping_add(1),
                exp_stat_sn,
            };
            connection.send(&Pdu::LogoutRequest(logout)).await?;
            // A missing Logout Response does not invalidate the list we already have.
            let _ = connection.receive(config.login_timeout).await;
            return Ok(parse_send_targets(&pairs));
        }
        target_transfer_tag = response.target_transfer_tag;
    }
    Err(ClientError::Protocol(format!(
        "SendTargets answer longer than {MAX_TEXT_RESPONSES} PDUs"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_attach_to_the_preceding_name() {
        let pairs = TextPairs(vec![
            ("TargetAddress".into(), "orphan:1,1".into()),
            ("TargetName".into(), "iqn.a".into()),
            ("TargetAddress".into(), "127.0.0.1:3260,1".into()),
            ("TargetName".into(), "iqn.b".into()),
        ]);
        let targets = parse_send_targets(&pairs);
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].addresses, vec!["127.0.0.1:3260,1".to_string()]);
        assert!(targets[1].addresses.is_empty());
    }
}
