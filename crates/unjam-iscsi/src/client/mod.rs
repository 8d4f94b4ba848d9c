//! The tokio side of the initiator: connect and log in, then a driver task that moves bytes
//! and time in and out of the sans-I/O [`Session`](crate::session::Session), and a cheap,
//! cloneable handle to submit commands and task management functions.
//!
//! ```text
//!   IscsiClient ──queue (bounded)──► driver task ──► Session ──► TcpStream
//!        ▲                              │
//!        └────────── oneshot reply ◄────┘   connection lost ─► recovery (re-login with
//!                                            backoff, bounded by replacement_timeout)
//! ```
//!
//! Owns sockets, tasks and wall-clock time. Recovery here is the transport's session
//! re-login (open-iscsi's behaviour); whether a failed command is retried is the caller's
//! decision: outstanding commands fail with `TransportDisrupted`, and once the replacement
//! timeout expires, with `TransportFailfast`.

mod connection;
mod discovery;
mod driver;
mod queue;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::oneshot;
use unjam_scsi::HostByte;

pub use connection::{read_draining, read_into, Connection, ConnectionParts};
pub use discovery::{discover, parse_send_targets, DiscoveredTarget};

use crate::chap::ChapCredentials;
use crate::login::{Authentication, LoginConfig, LoginError, LoginOutcome, SessionType};
use crate::name::{check_name, NameError};
use crate::params::{OperationalParams, OperationalProposal};
use crate::pdu::{PduError, TaskManagementFunction};
use crate::session::{
    ProtocolViolation, ScsiOutcome, SessionConfig, SessionStats, SubmitError, TaskRequest,
};
use crate::url::{DigestChoice, IscsiUrl, PortalUrl, TargetUrl};
use driver::{Command, Driver};

/// The default initiator name.
pub const DEFAULT_INITIATOR_NAME: &str = "iqn.2024-11.dev.unjam:initiator";

/// How the driver recovers a lost connection (open-iscsi's knobs and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPolicy {
    /// Re-login automatically after a connection loss.
    pub enabled: bool,
    /// How long commands are held while the session is re-established before they fail with
    /// `TransportFailfast` (open-iscsi `replacement_timeout`, 120 s).
    pub replacement_timeout: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        RecoveryPolicy {
            enabled: true,
            replacement_timeout: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Everything a client needs besides the URL.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub initiator_name: String,
    pub proposal: OperationalProposal,
    pub session: SessionConfig,
    /// For a whole login: TCP connect and every exchange together (open-iscsi
    /// `login_timeout`, 15 s).
    pub login_timeout: Duration,
    pub recovery: RecoveryPolicy,
    /// Credentials the target must prove for mutual CHAP.
    pub target_chap: Option<ChapCredentials>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            initiator_name: DEFAULT_INITIATOR_NAME.to_string(),
            proposal: OperationalProposal::default(),
            session: SessionConfig::default(),
            login_timeout: Duration::from_secs(15),
            recovery: RecoveryPolicy::default(),
            target_chap: None,
        }
    }
}

/// Connecting or logging in failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("I/O error: {0}")]
    Io(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("target closed the connection")]
    Closed,
    #[error("login failed: {0}")]
    Login(#[from] LoginError),
    #[error("PDU: {0}")]
    Pdu(#[from] PduError),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("login did not complete within login_timeout ({timeout_ms} ms)")]
    LoginTimeout { timeout_ms: u64 },
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("the URL requires a CRC32C {0}, but the target negotiated none")]
    DigestRefused(&'static str),
}

impl ClientError {
    pub(crate) fn io(error: std::io::Error) -> ClientError {
        ClientError::Io(error.to_string())
    }
}

/// A command or task management function did not complete with a SCSI status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("connection lost while the command was outstanding (DID_TRANSPORT_DISRUPTED)")]
    TransportDisrupted,
    #[error("session recovery timed out (DID_TRANSPORT_FAILFAST)")]
    TransportFailfast,
    #[error("command aborted by a task management function")]
    Aborted,
    #[error("target rejected the command (reason {0:#04x})")]
    Rejected(u8),
    /// The target broke the protocol for this command (a gap in the data, a lying residual,
    /// a status before the data, ...); nothing it sent for it was kept.
    #[error("iSCSI protocol violation: {0}")]
    Protocol(ProtocolViolation),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("no Logout Response within the logout timeout; the connection was closed")]
    LogoutTimeout,
    #[error("too many commands held during session recovery")]
    HeldQueueFull,
    #[error("the session is closed")]
    Closed,
}

impl CommandError {
    /// The host byte the Linux iSCSI transport would report for this failure.
    pub fn host_byte(&self) -> HostByte {
        match self {
            CommandError::TransportDisrupted => HostByte::DID_TRANSPORT_DISRUPTED,
            CommandError::TransportFailfast | CommandError::Closed => {
                HostByte::DID_TRANSPORT_FAILFAST
            }
            CommandError::Aborted => HostByte::DID_ABORT,
            // A protocol violation is an LLD-detected error: retried (counted) by the core.
            CommandError::Rejected(_) | CommandError::Protocol(_) | CommandError::Submit(_) => {
                HostByte::DID_ERROR
            }
            CommandError::HeldQueueFull => HostByte::DID_REQUEUE,
            CommandError::LogoutTimeout => HostByte::DID_NO_CONNECT,
        }
    }
}

/// Queue lengths, high-water marks and misbehaviour counters of a client, for tests and
/// diagnostics: every one of them is bounded by the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// The current (or last) connection's session counters.
    pub session: SessionStats,
    /// Logins so far (1 + successful re-logins).
    pub logins: u64,
    /// Commands held while the session is being re-established.
    pub held: usize,
    /// Largest encoded chunk waiting for the socket, in bytes.
    pub write_buffer_high_water: usize,
    /// Largest receive buffer capacity, in bytes.
    pub read_buffer_high_water: usize,
}

/// Names a submitted command for [`IscsiClient::abort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// A command in flight.
#[derive(Debug)]
pub struct PendingCommand {
    pub id: RequestId,
    reply: oneshot::Receiver<Result<ScsiOutcome, CommandError>>,
}

impl PendingCommand {
    pub async fn wait(self) -> Result<ScsiOutcome, CommandError> {
        self.reply.await.unwrap_or(Err(CommandError::Closed))
    }
}

/// A logged-in session to one target; clone it to share.
#[derive(Debug, Clone)]
pub struct IscsiClient {
    commands: queue::Sender<Command>,
    next_request: Arc<AtomicU64>,
    params: OperationalParams,
    lun: u64,
}

/// A random ISID (RFC 7143 §11.12.5 type 10b); keep it for every re-login of one session so
/// that the target reinstates the session instead of opening a second one.
pub fn random_isid() -> [u8; 6] {
    // Type 10b (random) in the top two bits of the first byte (RFC 7143 §11.12.5).
    let random: [u8; 6] = rand::random();
    let mut isid = random;
    isid[0] = 0x80 | (random[0] & 0x3f);
    isid
}

pub(crate) fn authentication_for(portal: &PortalUrl, config: &ClientConfig) -> Authentication {
    match portal.chap() {
        Some(initiator) => Authentication::Chap {
            initiator,
            target: portal.target_chap().or_else(|| config.target_chap.clone()),
        },
        None => Authentication::None,
    }
}

/// The operational proposal with the URL's digest choices applied.
pub(crate) fn proposal_for(portal: &PortalUrl, config: &ClientConfig) -> OperationalProposal {
    let mut proposal = config.proposal.clone();
    if let Some(choice) = portal.header_digest {
        proposal.header_digest = choice.offers_crc32c();
    }
    if let Some(choice) = portal.data_digest {
        proposal.data_digest = choice.offers_crc32c();
    }
    proposal
}

/// Refuses a session that ended without a digest the URL required (`header_digest=crc32c`).
pub(crate) fn check_digests(
    portal: &PortalUrl,
    params: &OperationalParams,
) -> Result<(), ClientError> {
    let required = |choice: Option<DigestChoice>| choice.is_some_and(DigestChoice::requires_crc32c);
    if required(portal.header_digest) && !params.header_digest {
        return Err(ClientError::DigestRefused("HeaderDigest"));
    }
    if required(portal.data_digest) && !params.data_digest {
        return Err(ClientError::DigestRefused("DataDigest"));
    }
    Ok(())
}

pub(crate) fn login_config(url: &TargetUrl, config: &ClientConfig, isid: [u8; 6]) -> LoginConfig {
    LoginConfig {
        initiator_name: config.initiator_name.clone(),
        session_type: SessionType::Normal {
            target_name: url.target.clone(),
        },
        authentication: authentication_for(&url.portal, config),
        isid,
        tsih: 0,
        cid: 0,
        initiator_task_tag: 0,
        initial_cmd_sn: 1,
        proposal: proposal_for(&url.portal, config),
    }
}

/// Connects and logs in within `login_timeout` in total (not per exchange), then checks the
/// digests the URL required. For drivers that run the full feature phase themselves
/// (`unjam-runtime`): [`Connection::into_parts`] hands over the socket and the framing.
pub async fn open_session(
    url: &TargetUrl,
    config: &ClientConfig,
    isid: [u8; 6],
) -> Result<(Connection, LoginOutcome), ClientError> {
    check_name("initiator name", &config.initiator_name)?;
    let timeout = config.login_timeout;
    let attempt = async {
        let mut connection = Connection::connect(&url.portal.address(), timeout).await?;
        let outcome = connection
            .login(login_config(url, config, isid), timeout)
            .await?;
        check_digests(&url.portal, &outcome.params)?;
        Ok((connection, outcome))
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ClientError::LoginTimeout {
            timeout_ms: duration_ms(timeout),
        })?
}

pub(crate) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl IscsiClient {
    /// Connects, logs in and starts the driver task on the current tokio runtime; commands
    /// built with [`IscsiClient::lun`] address the URL's LUN.
    pub async fn connect(url: &IscsiUrl, config: ClientConfig) -> Result<IscsiClient, ClientError> {
        let mut client = Self::connect_target(&url.target_url(), config).await?;
        client.lun = url.lun_field();
        Ok(client)
    }

    /// Connects to a target without naming a LUN ([`IscsiClient::lun`] is LUN 0, which every
    /// target has for REPORT LUNS).
    pub async fn connect_target(
        url: &TargetUrl,
        config: ClientConfig,
    ) -> Result<IscsiClient, ClientError> {
        let isid = random_isid();
        let (connection, outcome) = open_session(url, &config, isid).await?;
        let params = outcome.params;
        let capacity = config.session.max_tasks.max(1);
        let (sender, receiver) = queue::queue(capacity);
        let driver = Driver::new(url.clone(), config, isid, receiver);
        tokio::spawn(driver.run(connection, outcome));
        Ok(IscsiClient {
            commands: sender,
            next_request: Arc::new(AtomicU64::new(1)),
            params,
            lun: 0,
        })
    }

    /// The parameters negotiated at the first login.
    pub fn params(&self) -> &OperationalParams {
        &self.params
    }

    /// The LUN field of the URL's LUN.
    pub fn lun(&self) -> u64 {
        self.lun
    }

    /// Queues a command; await the returned value for its outcome.
    pub async fn submit(&self, request: TaskRequest) -> Result<PendingCommand, CommandError> {
        self.submit_into(request, BytesMut::new()).await
    }

    /// [`IscsiClient::submit`] with the buffer a read's data goes into: its contents are
    /// overwritten, and it is cut or grown (the new bytes zeroed) to the transfer's length.
    /// Handing back the buffer of the last read of that length (`Bytes::try_into_mut` on the
    /// outcome's data) reads without allocating, zeroing or touching fresh pages.
    pub async fn submit_into(
        &self,
        request: TaskRequest,
        read_buffer: BytesMut,
    ) -> Result<PendingCommand, CommandError> {
        let id = RequestId(self.next_request.fetch_add(1, Ordering::Relaxed));
        let (reply, receiver) = oneshot::channel();
        let command = Command::Submit {
            id,
            request,
            read_buffer,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| CommandError::Closed)?;
        Ok(PendingCommand {
            id,
            reply: receiver,
        })
    }

    /// Submits a command and waits for its outcome.
    pub async fn execute(&self, request: TaskRequest) -> Result<ScsiOutcome, CommandError> {
        self.submit(request).await?.wait().await
    }

    /// [`IscsiClient::execute`] reading into `read_buffer` (see [`IscsiClient::submit_into`]).
    pub async fn execute_into(
        &self,
        request: TaskRequest,
        read_buffer: BytesMut,
    ) -> Result<ScsiOutcome, CommandError> {
        self.submit_into(request, read_buffer).await?.wait().await
    }

    /// ABORT TASK for a submitted command; returns the TMF response code (0 = complete).
    pub async fn abort(&self, id: RequestId) -> Result<u8, CommandError> {
        self.manage(TaskManagementFunction::AbortTask, self.lun, Some(id))
            .await
    }

    /// Any task management function on a LUN field; returns the TMF response code.
    pub async fn manage(
        &self,
        function: TaskManagementFunction,
        lun: u64,
        referenced: Option<RequestId>,
    ) -> Result<u8, CommandError> {
        let (reply, receiver) = oneshot::channel();
        let command = Command::Manage {
            function,
            lun,
            referenced,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| CommandError::Closed)?;
        receiver.await.unwrap_or(Err(CommandError::Closed))
    }

    /// Drops the connection and logs in again (the host reset of this transport).
    pub async fn reconnect(&self) -> Result<(), CommandError> {
        let (reply, receiver) = oneshot::channel();
        let command = Command::Reconnect { reply };
        self.commands
            .send(command)
            .await
            .map_err(|_| CommandError::Closed)?;
        receiver.await.unwrap_or(Err(CommandError::Closed))
    }

    /// Queue lengths and counters of the session (answered even during recovery).
    pub async fn stats(&self) -> Result<ClientStats, CommandError> {
        let (reply, receiver) = oneshot::channel();
        self.commands
            .send(Command::Stats { reply })
            .await
            .map_err(|_| CommandError::Closed)?;
        receiver.await.map_err(|_| CommandError::Closed)
    }

    /// Logs out and stops the driver; a target that does not answer within the session's
    /// `logout_timeout` gets its connection closed (`LogoutTimeout`).
    pub async fn logout(self) -> Result<(), CommandError> {
        let (reply, receiver) = oneshot::channel();
        let command = Command::Logout { reply };
        self.commands
            .send(command)
            .await
            .map_err(|_| CommandError::Closed)?;
        receiver.await.unwrap_or(Err(CommandError::Closed))
    }
}
