//! [`Initiator`]: logs in to one or more targets (one session and one core host each, as
//! iscsi_tcp), finds their logical units (REPORT LUNS, then the probe of `probe`), and hands
//! out [`Disk`] handles. Everything runs in one engine task.
//!
//! Owns login and LUN discovery; the engine owns the sessions once logged in.

use unjam_iscsi::client::{open_session, random_isid, ClientConfig, ClientError, DiscoveredTarget};
use unjam_iscsi::params::OperationalParams;
use unjam_iscsi::session::PingConfig;
use unjam_iscsi::url::{encode_lun, IscsiUrl, PortalUrl, TargetUrl};
use unjam_scsi::cdb::response::ReportLunsData;
use unjam_scsi::cdb::{select_report, ReportLuns};

use crate::command::IoError;
use crate::disk::Disk;
use crate::engine::{self, EngineHandle, LoggedIn, Observer, Sink};
use crate::knobs::Knobs;
use crate::probe::{execute_cmd, probe, probe_command, LunInfo, ProbeError};

/// Room for 2047 LUN entries after the 8-byte header.
const REPORT_LUNS_LENGTH: u32 = 16 * 1024;

/// The default initiator name.
pub const DEFAULT_INITIATOR_NAME: &str = unjam_iscsi::client::DEFAULT_INITIATOR_NAME;

/// How to run an initiator.
pub struct InitiatorConfig {
    pub knobs: Knobs,
    pub initiator_name: String,
    /// JSON-lines trace of every core event and iSCSI note, written as it happens.
    pub trace: Option<Sink>,
    /// Kernel-format log lines (as dmesg shows them), written as they happen.
    pub kernel_log: Option<Sink>,
    /// Add the error handler's own lines to `kernel_log` (`scsi_logging_level`).
    pub eh_logging: bool,
}

impl Default for InitiatorConfig {
    fn default() -> InitiatorConfig {
        InitiatorConfig {
            knobs: Knobs::default(),
            initiator_name: DEFAULT_INITIATOR_NAME.to_string(),
            trace: None,
            kernel_log: None,
            eh_logging: false,
        }
    }
}

impl std::fmt::Debug for InitiatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiatorConfig")
            .field("knobs", &self.knobs)
            .field("initiator_name", &self.initiator_name)
            .field("trace", &self.trace.is_some())
            .field("kernel_log", &self.kernel_log.is_some())
            .finish()
    }
}

/// A session to one target.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    pub url: TargetUrl,
    /// The parameters negotiated at login.
    pub params: OperationalParams,
}

/// Why the initiator could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InitiatorError {
    #[error("cannot log in to {target}: {error}")]
    Login { target: String, error: ClientError },
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{0}")]
    Engine(String),
    /// The URLs of a multipath device do not make one (different logical units, or one
    /// without an identity).
    #[error("{0}")]
    Paths(String),
}

/// Logged-in sessions to targets, their LUNs, and the engine that runs them.
#[derive(Debug)]
pub struct Initiator {
    engine: EngineHandle,
    targets: Vec<TargetInfo>,
    luns: Vec<LunInfo>,
    /// The paths of a multipath device (`crate::multipath`).
    pub(crate) paths: Vec<crate::multipath::PathLun>,
    pub(crate) missing_paths: Vec<crate::multipath::MissingPath>,
}

impl Initiator {
    /// Logs in to every target; each session becomes one core host.
    pub async fn login(
        targets: &[TargetUrl],
        config: InitiatorConfig,
    ) -> Result<Initiator, InitiatorError> {
        let client = client_config(&config);
        let mut sessions = Vec::with_capacity(targets.len());
        let mut infos = Vec::with_capacity(targets.len());
        for target in targets {
            let isid = random_isid();
            let (connection, outcome) =
                open_session(target, &client, isid).await.map_err(|error| {
                    InitiatorError::Login {
                        target: target.to_string(),
                        error,
                    }
                })?;
            infos.push(TargetInfo {
                url: target.clone(),
                params: outcome.params,
            });
            sessions.push(LoggedIn {
                target: target.clone(),
                config: client.clone(),
                isid,
                connection,
                outcome,
            });
        }
        let observer = Observer::new(config.trace, config.kernel_log, config.eh_logging);
        let engine = engine::start(config.knobs, sessions, observer);
        Ok(Initiator {
            engine,
            targets: infos,
            luns: Vec::new(),
            paths: Vec::new(),
            missing_paths: Vec::new(),
        })
    }

    /// An initiator over an engine started for these sessions (in this order).
    pub(crate) fn from_engine(
        engine: EngineHandle,
        sessions: &[(IscsiUrl, OperationalParams)],
    ) -> Initiator {
        Initiator {
            engine,
            targets: sessions
                .iter()
                .map(|(url, params)| TargetInfo {
                    url: url.target_url(),
                    params: *params,
                })
                .collect(),
            luns: Vec::new(),
            paths: Vec::new(),
            missing_paths: Vec::new(),
        }
    }

    pub(crate) fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// Logs in to the URL's target and sets up its LUN.
    pub async fn open(
        url: &IscsiUrl,
        config: InitiatorConfig,
    ) -> Result<(Initiator, Disk), InitiatorError> {
        let mut initiator = Initiator::login(&[url.target_url()], config).await?;
        let disk = initiator.add_lun(0, url.lun).await;
        match disk {
            Ok(disk) => Ok((initiator, disk)),
            Err(error) => {
                initiator.logout().await;
                Err(error)
            }
        }
    }

    /// The sessions, in login order.
    pub fn targets(&self) -> &[TargetInfo] {
        &self.targets
    }

    /// The LUNs set up so far.
    pub fn luns(&self) -> &[LunInfo] {
        &self.luns
    }

    /// A handle to a LUN set up earlier.
    pub fn disk(&self, lun: &LunInfo) -> Disk {
        Disk::new(self.engine.clone(), lun.clone())
    }

    /// Sets up LUN `lun` of session `target` (INQUIRY, VPD, READ CAPACITY through the core).
    pub async fn add_lun(&mut self, target: usize, lun: u16) -> Result<Disk, InitiatorError> {
        let field = encode_lun(lun);
        let device = self
            .engine
            .add_device(target, u64::from(lun), field)
            .await
            .map_err(InitiatorError::Engine)?;
        let info = probe(&self.engine, device, target, u64::from(lun), field).await?;
        self.luns.push(info.clone());
        Ok(Disk::new(self.engine.clone(), info))
    }

    /// Sets up LUN `lun` of session `target` without probing it: no INQUIRY, no capacity
    /// (block reads and writes need one), for passthrough commands to a LUN that cannot
    /// answer INQUIRY, or to see every condition it reports from the first command on.
    pub async fn attach_lun(&mut self, target: usize, lun: u16) -> Result<Disk, InitiatorError> {
        let field = encode_lun(lun);
        let device = self
            .engine
            .add_device(target, u64::from(lun), field)
            .await
            .map_err(InitiatorError::Engine)?;
        let info = LunInfo::unprobed(device, target, u64::from(lun), field);
        self.luns.push(info.clone());
        Ok(Disk::new(self.engine.clone(), info))
    }

    /// Finds every LUN of every session: REPORT LUNS to LUN 0 (as Linux's scan does; LUN 0
    /// alone when the target refuses it), then the probe of each. LUNs the target reports
    /// as absent are left out.
    pub async fn scan(&mut self) -> Result<&[LunInfo], InitiatorError> {
        self.luns.clear();
        for target in 0..self.targets.len() {
            let lun0 = self
                .engine
                .add_device(target, 0, 0)
                .await
                .map_err(InitiatorError::Engine)?;
            let reported = report_luns(&self.engine, lun0).await;
            let luns = reported.unwrap_or_else(|_| vec![(0, 0)]);
            for (number, field) in luns {
                let device = if field == 0 {
                    lun0
                } else {
                    self.engine
                        .add_device(target, number, field)
                        .await
                        .map_err(InitiatorError::Engine)?
                };
                match probe(&self.engine, device, target, number, field).await {
                    Ok(info) => self.luns.push(info),
                    Err(ProbeError::NoSuchLun(_)) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(&self.luns)
    }

    /// Logs out of every session (each within `logout_timeout`) and stops the engine.
    pub async fn logout(self) {
        self.engine.logout().await;
    }
}

/// SendTargets discovery on a portal (a discovery session; no core is involved, as no
/// SCSI command is sent): the targets behind it and their addresses.
pub async fn discover(
    portal: &PortalUrl,
    config: &InitiatorConfig,
) -> Result<Vec<DiscoveredTarget>, InitiatorError> {
    unjam_iscsi::client::discover(portal, &client_config(config))
        .await
        .map_err(|error| InitiatorError::Login {
            target: portal.to_string(),
            error,
        })
}

/// The LUNs REPORT LUNS lists: (Linux LUN number, 8-byte LUN field).
async fn report_luns(
    engine: &EngineHandle,
    device: unjam_core::topology::DeviceId,
) -> Result<Vec<(u64, u64)>, IoError> {
    let cdb = ReportLuns {
        select_report: select_report::ALL_LOGICAL_UNITS,
        allocation_length: REPORT_LUNS_LENGTH,
    }
    .build()
    .map_err(|error| IoError::Invalid(error.to_string()))?;
    let outcome = execute_cmd(engine, device, probe_command(cdb, REPORT_LUNS_LENGTH)).await?;
    let data = ReportLunsData::parse(&outcome.data)
        .map_err(|error| IoError::Invalid(format!("REPORT LUNS data: {error}")))?;
    Ok(data
        .luns
        .iter()
        .map(|lun| (lun.linux_number(), u64::from_be_bytes(lun.0)))
        .collect())
}

/// Login and session settings from the knobs (open-iscsi's names).
pub(crate) fn client_config(config: &InitiatorConfig) -> ClientConfig {
    let knobs = &config.knobs;
    let mut client = ClientConfig {
        initiator_name: config.initiator_name.clone(),
        login_timeout: knobs.login_timeout,
        ..ClientConfig::default()
    };
    let interval = (!knobs.noop_out_interval.is_zero()).then_some(knobs.noop_out_interval);
    client.session.ping = PingConfig {
        interval,
        timeout: knobs.noop_out_timeout,
    };
    client.session.logout_timeout = knobs.logout_timeout;
    // Room for the core's commands plus its error-handler commands.
    client.session.max_tasks = knobs.cmds_max as usize + 64;
    client
}
