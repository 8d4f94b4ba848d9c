//! The login phase of one connection on the wall clock: reads Login Requests (each within
//! the login timeout), lets the target's login machine answer, applies the login faults
//! (a refusal of any status class, a portal or transport that is down), and admits the
//! session (TSIH, reinstatement, the session limit).
//!
//! Owns the socket only until the full feature phase starts; ends with everything that
//! phase needs.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;
use unjam_iscsi::login::{SessionType, MAX_LOGIN_EXCHANGES};
use unjam_iscsi::pdu::{encode_pdu, Digests, LoginRequest, LoginResponse, Pdu, PduDecoder};
use unjam_iscsi::target::{
    TargetEntry, TargetLogin, TargetLoginConfig, TargetLoginOutcome, TargetLoginStep,
    TargetSession, TargetSessionConfig,
};

use crate::engine::Origin;
use crate::registry::Refused;
use crate::server::Shared;

/// How long the target waits for each Login Request (open-iscsi's login timeout).
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The largest data segment accepted during login (RFC 7143's default
/// MaxRecvDataSegmentLength, in force until the login ends).
const LOGIN_MAX_DATA_SEGMENT: u32 = 8192;

/// What the full feature phase starts from.
#[derive(Debug)]
pub(super) struct LoggedIn {
    pub session: TargetSession,
    /// `None` for a discovery session.
    pub origin: Option<Origin>,
    pub decoder: PduDecoder,
    pub buffer: BytesMut,
}

/// Runs the login; `None` when it failed or was refused (the refusal has been sent).
pub(super) async fn log_in(
    shared: &Arc<Shared>,
    portal: usize,
    connection: u64,
    stream: &mut TcpStream,
) -> Option<LoggedIn> {
    let mut login = TargetLogin::new(login_config(shared, portal));
    let decoder = PduDecoder::new(LOGIN_MAX_DATA_SEGMENT, Digests::default());
    let mut buffer = BytesMut::with_capacity(16 * 1024);
    for exchange in 0..=MAX_LOGIN_EXCHANGES {
        if !wait_while_silent(shared, portal).await {
            return None;
        }
        let request = read_login_request(stream, &decoder, &mut buffer).await?;
        if exchange == 0 {
            if let Some(refusal) = refused_by_fault(shared, portal, &mut login, &request) {
                send(stream, &refusal).await;
                return None;
            }
        }
        match login.handle_request(&request) {
            TargetLoginStep::Continue(response) => {
                if !send(stream, &response).await {
                    return None;
                }
            }
            TargetLoginStep::Refuse(response, refusal) => {
                debug!(%refusal, "login refused");
                send(stream, &response).await;
                return None;
            }
            TargetLoginStep::Admit(outcome) => {
                return admit(
                    shared, portal, connection, stream, &mut login, &request, outcome, buffer,
                )
                .await;
            }
        }
    }
    None
}

fn login_config(shared: &Shared, portal: usize) -> TargetLoginConfig {
    let layout = &shared.layout;
    TargetLoginConfig {
        targets: layout
            .targets_of(portal)
            .map(|index| TargetEntry {
                name: layout.targets[index].name.clone(),
                alias: None,
                auth: layout.auth.clone(),
            })
            .collect(),
        discovery_auth: layout.discovery_auth.clone(),
        portal_group_tag: layout.portals.get(portal).map_or(1, |p| p.group),
        proposal: layout.proposal.clone(),
        initial_stat_sn: 1,
        command_window: layout.command_window,
    }
}

async fn read_login_request(
    stream: &mut TcpStream,
    decoder: &PduDecoder,
    buffer: &mut BytesMut,
) -> Option<LoginRequest> {
    let read = async {
        loop {
            match decoder.decode(buffer) {
                Ok(Some(Pdu::LoginRequest(request))) => return Some(request),
                Ok(Some(_)) | Err(_) => return None,
                Ok(None) => {}
            }
            match stream.read_buf(buffer).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(LOGIN_TIMEOUT, read)
        .await
        .ok()
        .flatten()
}

/// Waits (reading nothing, answering nothing) while a `blackhole` holds the portal, at most
/// the login timeout; false when it still holds then.
async fn wait_while_silent(shared: &Shared, portal: usize) -> bool {
    const LOOK_EVERY: Duration = Duration::from_millis(10);
    let deadline = tokio::time::Instant::now() + LOGIN_TIMEOUT;
    loop {
        let now = shared.clock.now_us();
        if !shared.engine().faults().portal_window(now, portal).silent {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// A refusal a fault imposes on this login: a `reject_login` rule (class 1 redirects to the
/// next portal), or a portal that is down.
fn refused_by_fault(
    shared: &Shared,
    portal: usize,
    login: &mut TargetLogin,
    request: &LoginRequest,
) -> Option<LoginResponse> {
    let now = shared.clock.now_us();
    let mut engine = shared.engine();
    if engine.faults().portal_window(now, portal).down {
        return Some(login.refuse(request, 0x03, 0x01, None));
    }
    let (class, detail) = engine.faults_mut().reject_login(now, portal)?;
    let next = shared.bound.len().max(1);
    let redirect = format!(
        "{},{}",
        shared.bound[(portal + 1) % next],
        shared.layout.portals[(portal + 1) % next].group
    );
    Some(login.refuse(request, class, detail, Some(&redirect)))
}

#[allow(clippy::too_many_arguments)]
async fn admit(
    shared: &Arc<Shared>,
    portal: usize,
    connection: u64,
    stream: &mut TcpStream,
    login: &mut TargetLogin,
    request: &LoginRequest,
    outcome: TargetLoginOutcome,
    buffer: BytesMut,
) -> Option<LoggedIn> {
    let admitted = match &outcome.session_type {
        SessionType::Discovery => Ok((shared.registry().discovery_tsih(), None)),
        SessionType::Normal { target_name } => {
            admit_normal(shared, portal, connection, &outcome, target_name)
        }
    };
    let (tsih, origin) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => {
            send(
                stream,
                &login.refuse(request, refused.class, refused.detail, None),
            )
            .await;
            return None;
        }
    };
    if !send(stream, &login.accept(tsih)).await {
        return None;
    }
    let params = outcome.params;
    let config = TargetSessionConfig {
        max_tasks: shared.layout.command_window,
        phase_collapse: shared.layout.phase_collapse,
        published: shared.published.clone(),
        own_target: match outcome.session_type {
            SessionType::Normal { target_name } => Some(target_name),
            SessionType::Discovery => None,
        },
        cid: outcome.cid,
        ..TargetSessionConfig::default()
    };
    let session = TargetSession::new(params, outcome.exp_cmd_sn, outcome.next_stat_sn, config);
    let digests = session.digests();
    Some(LoggedIn {
        decoder: PduDecoder::new(params.max_recv_data_segment_length, digests),
        session,
        origin,
        buffer,
    })
}

fn admit_normal(
    shared: &Shared,
    portal: usize,
    connection: u64,
    outcome: &TargetLoginOutcome,
    target_name: &str,
) -> Result<(u16, Option<Origin>), Refused> {
    let layout = &shared.layout;
    let not_found = Refused {
        class: 0x02,
        detail: 0x03,
    };
    let target = layout
        .targets_of(portal)
        .find(|index| layout.targets[*index].name == target_name)
        .ok_or(not_found)?;
    if transport_down(shared, portal, target) {
        return Err(Refused {
            class: 0x03,
            detail: 0x01,
        });
    }
    let key = (
        outcome.initiator_name.clone(),
        outcome.isid,
        target_name.to_string(),
    );
    let tsih = shared
        .registry()
        .admit(connection, target, key, outcome.tsih)?;
    let group = layout.portals.get(portal).map_or(1, |p| p.group);
    let isid: String = outcome.isid.iter().map(|b| format!("{b:02x}")).collect();
    let initiator_port = format!("{},i,0x{isid}", outcome.initiator_name);
    let origin = Origin {
        nexus: nexus_id(&outcome.initiator_name, outcome.isid, target_name, group),
        portal,
        target,
    };
    shared
        .engine()
        .nexus_logged_in(origin.nexus, initiator_port);
    Ok((tsih, Some(origin)))
}

/// Whether a `transport_down` fault covers the target's paths through this portal now.
fn transport_down(shared: &Shared, portal: usize, target: usize) -> bool {
    let now = shared.clock.now_us();
    let luns = shared.layout.targets[target].luns.clone();
    let mut engine = shared.engine();
    luns.iter().any(|lun| {
        shared
            .layout
            .address(portal, target, *lun)
            .is_some_and(|address| engine.faults_mut().transport_down(now, &address).is_some())
    })
}

/// The I_T nexus: initiator port (name and ISID) and target port (name and portal group).
pub fn nexus_id(initiator: &str, isid: [u8; 6], target: &str, group: u16) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (initiator, isid, target, group).hash(&mut hasher);
    hasher.finish()
}

async fn send(stream: &mut TcpStream, response: &LoginResponse) -> bool {
    let mut bytes = Vec::new();
    if encode_pdu(
        &Pdu::LoginResponse(response.clone()),
        Digests::default(),
        &mut bytes,
    )
    .is_err()
    {
        return false;
    }
    stream.write_all(&bytes).await.is_ok()
}
