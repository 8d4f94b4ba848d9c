//! What every iSCSI subcommand shares: the URL argument, the tokio runtime, connecting,
//! running one command (retrying the unit attention a fresh login always sees, as the
//! kernel's sd driver does), and turning status and sense into errors people can read.
//! Protocol logic lives in `unjam_iscsi`; this module only wires it to the CLI.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use unjam_iscsi::client::{ClientConfig, IscsiClient, DEFAULT_INITIATOR_NAME};
use unjam_iscsi::pdu::TaskAttribute;
use unjam_iscsi::session::{DataDirection, ScsiOutcome, TaskRequest};
use unjam_iscsi::url::{process_environment, IscsiUrl, ParsedUrl, UrlError};
use unjam_scsi::cdb::Cdb;
use unjam_scsi::sense::{SenseHeader, SenseReport};
use unjam_scsi::SamStatus;

/// Longest a one-shot command waits for the Logout Response after its work is done.
const ONE_SHOT_LOGOUT_TIMEOUT: Duration = Duration::from_secs(3);

/// Most times a command is repeated after UNIT ATTENTION.
const MAX_UNIT_ATTENTION_RETRIES: usize = 3;

/// The target URL and options shared by the iSCSI subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// iscsi://[user[%password]@]host[:port]/target-iqn/lun[?header_digest=crc32c|none&...];
    /// CHAP credentials may come from LIBISCSI_CHAP_USERNAME / _PASSWORD /
    /// _TARGET_USERNAME / _TARGET_PASSWORD instead
    #[arg(value_name = "URL")]
    pub url: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The initiator's iSCSI name.
    #[arg(long, default_value = DEFAULT_INITIATOR_NAME)]
    pub initiator_name: String,
    /// Seconds to wait for the login and for each command.
    #[arg(long, default_value_t = 15)]
    pub timeout_s: u64,
}

impl TargetArgs {
    pub fn parse_url(&self) -> anyhow::Result<IscsiUrl> {
        IscsiUrl::parse_with_env(&self.url, &process_environment())
            .with_context(|| format!("bad URL {:?}", self.url))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.max(1))
    }

    /// A client configuration for one-shot commands: no automatic session recovery, and a
    /// logout that waits at most `ONE_SHOT_LOGOUT_TIMEOUT` once the result is printed.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig {
            initiator_name: self.initiator_name.clone(),
            login_timeout: self.timeout(),
            ..ClientConfig::default()
        };
        config.recovery.enabled = false;
        config.session.logout_timeout = self.timeout().min(ONE_SHOT_LOGOUT_TIMEOUT);
        config
    }
}

/// A single-threaded tokio runtime: one connection needs no more.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

pub async fn connect(args: &TargetArgs) -> anyhow::Result<(IscsiUrl, IscsiClient)> {
    let url = args.parse_url()?;
    let client = IscsiClient::connect(&url, args.client_config())
        .await
        .with_context(|| format!("cannot log in to {url}"))?;
    Ok((url, client))
}

/// Connects to a URL with or without a LUN (`iscsi://host/target-iqn[/lun]`); without one,
/// commands address LUN 0, which every target has (REPORT LUNS).
pub async fn connect_target(args: &TargetArgs) -> anyhow::Result<IscsiClient> {
    let parsed = ParsedUrl::parse_with_env(&args.url, &process_environment())
        .with_context(|| format!("bad URL {:?}", args.url))?;
    let client = match &parsed {
        ParsedUrl::Lun(url) => IscsiClient::connect(url, args.client_config()).await,
        ParsedUrl::Target(url) => IscsiClient::connect_target(url, args.client_config()).await,
        ParsedUrl::Portal(_) => bail!("bad URL {:?}: {}", args.url, UrlError::MissingTarget),
    };
    client.with_context(|| format!("cannot log in to {:?}", parsed))
}

/// Runs one CDB, repeating it while the target answers UNIT ATTENTION (bounded).
pub async fn execute(
    client: &IscsiClient,
    cdb: Cdb,
    direction: DataDirection,
    timeout: Duration,
) -> anyhow::Result<ScsiOutcome> {
    let request = TaskRequest {
        lun: client.lun(),
        cdb: Bytes::copy_from_slice(cdb.as_slice()),
        direction,
        attribute: TaskAttribute::Simple,
    };
    let mut outcome = run_once(client, request.clone(), timeout).await?;
    for _ in 0..MAX_UNIT_ATTENTION_RETRIES {
        if !is_unit_attention(&outcome) {
            break;
        }
        outcome = run_once(client, request.clone(), timeout).await?;
    }
    Ok(outcome)
}

async fn run_once(
    client: &IscsiClient,
    request: TaskRequest,
    timeout: Duration,
) -> anyhow::Result<ScsiOutcome> {
    let result = tokio::time::timeout(timeout, client.execute(request)).await;
    let outcome = result.map_err(|_| anyhow::anyhow!("command timed out after {timeout:?}"))?;
    Ok(outcome?)
}

fn is_unit_attention(outcome: &ScsiOutcome) -> bool {
    outcome.status == SamStatus::CHECK_CONDITION.0
        && SenseHeader::normalize(&outcome.sense)
            .is_some_and(|header| header.key == unjam_scsi::sense::SenseKey::UNIT_ATTENTION)
}

/// Fails unless the command completed with GOOD, naming the status and decoding the sense.
pub fn require_good(outcome: &ScsiOutcome, what: &str) -> anyhow::Result<()> {
    if outcome.response != 0 {
        bail!(
            "{what}: target failure (iSCSI response {:#04x})",
            outcome.response
        );
    }
    if outcome.status == SamStatus::GOOD.0 {
        return Ok(());
    }
    let status = SamStatus(outcome.status);
    let name = status.name().unwrap_or("unknown status");
    if outcome.sense.is_empty() {
        bail!("{what}: {name} ({:#04x})", outcome.status);
    }
    bail!(
        "{what}: {name}\n{}",
        SenseReport::new(&outcome.sense).to_string().trim_end()
    )
}

/// Prints a JSON value, one object per line.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
