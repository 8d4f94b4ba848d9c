//! The options every device command shares (URL, `--json`, knobs, `--trace`, timeouts) and
//! what they turn into: an [`InitiatorConfig`] for `unjam-runtime`, and the LUN opened
//! through it. `-v` (global) adds kernel-format log lines on stderr, `-vv` the error
//! handler's lines too.
//!
//! Owns option parsing into runtime settings; nothing here talks to a target directly.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use unjam_iscsi::url::{process_environment, IscsiUrl, ParsedUrl};
use unjam_runtime::{
    portal_paths, set_multipath, Disk, Initiator, InitiatorConfig, Knobs, MultipathConfig, Sink,
    DEFAULT_INITIATOR_NAME,
};

use super::exit::{ExitClass, Failure};

/// How long a one-shot command waits for the Logout Response once its work is done (the
/// `logout_timeout` knob overrides it).
const ONE_SHOT_LOGOUT_TIMEOUT: Duration = Duration::from_secs(3);

/// The target and the initiator settings shared by the device commands.
#[derive(Debug, Clone, clap::Args)]
pub struct DeviceArgs {
    /// iscsi://[user[%password]@]host[:port]/target-iqn/lun[?header_digest=crc32c|none&...];
    /// CHAP credentials may come from LIBISCSI_CHAP_USERNAME / _PASSWORD /
    /// _TARGET_USERNAME / _TARGET_PASSWORD instead
    /// Several URLs of one logical unit (repeat the URL; verified by VPD 83h) make one
    /// multipath device: I/O fails over between the paths (docs/multipath.md).
    #[arg(value_name = "URL", required = true, num_args = 1..)]
    pub urls: Vec<String>,
    /// Use every portal SendTargets lists for the URL's target as a path of one multipath
    /// device (implied by several URLs).
    #[arg(long)]
    pub multipath: bool,
    /// Print one JSON object instead of text (errors too).
    #[arg(long)]
    pub json: bool,
    /// The initiator's iSCSI name.
    #[arg(long, default_value = DEFAULT_INITIATOR_NAME)]
    pub initiator_name: String,
    /// Seconds for the login and for each command attempt (default: the knobs, 15 s and
    /// 30 s).
    #[arg(long, value_name = "SECONDS")]
    pub timeout_s: Option<u64>,
    /// Set an initiator knob by its open-iscsi name or short name, e.g.
    /// --set replacement_timeout=20 --set noop_out_interval=0 (repeatable; see docs/runtime.md).
    #[arg(long = "set", value_name = "KNOB=VALUE")]
    pub knobs: Vec<String>,
    /// Write every core and iSCSI event to FILE as JSON lines, as they happen.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write an HTML report of the run when it ends (the timeline, error-handling steps,
    /// the path every attempt took, the kernel's log lines), as `unjam run --report`.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// `-v` count, set once by `main`.
static VERBOSITY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, std::sync::atomic::Ordering::Relaxed);
}

pub fn verbosity() -> u8 {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed)
}

impl DeviceArgs {
    fn syntax(url: &str, error: impl std::fmt::Display) -> Failure {
        Failure::new(ExitClass::Syntax, format!("bad URL {url:?}: {error}"))
    }

    /// The first URL (a command's only one, unless it names a multipath device).
    pub fn url(&self) -> &str {
        self.urls.first().map_or("", String::as_str)
    }

    /// The (first) URL, which must name a LUN.
    pub fn lun_url(&self) -> Result<IscsiUrl, Failure> {
        let url = self.url();
        IscsiUrl::parse_with_env(url, &process_environment()).map_err(|e| Self::syntax(url, e))
    }

    /// Every URL, each of which must name a LUN.
    pub fn lun_urls(&self) -> Result<Vec<IscsiUrl>, Failure> {
        if self.urls.len() > unjam_runtime::MAX_PATHS {
            let text = format!("at most {} URLs of one device", unjam_runtime::MAX_PATHS);
            return Err(Failure::new(ExitClass::Syntax, text));
        }
        self.urls
            .iter()
            .map(|url| {
                IscsiUrl::parse_with_env(url, &process_environment())
                    .map_err(|e| Self::syntax(url, e))
            })
            .collect()
    }

    /// The (first) URL with or without a target or LUN.
    pub fn any_url(&self) -> Result<ParsedUrl, Failure> {
        let url = self.url();
        ParsedUrl::parse_with_env(url, &process_environment()).map_err(|e| Self::syntax(url, e))
    }

    /// Whether the command drives a multipath device.
    pub fn is_multipath(&self) -> bool {
        self.multipath || self.urls.len() > 1
    }

    /// The multipath settings: multipath.conf's defaults, then every `--set` of a
    /// multipath name (`no_path_retry=2`, `path_grouping_policy=multibus`, ...).
    pub fn multipath_config(&self) -> Result<MultipathConfig, Failure> {
        let mut config = MultipathConfig::default();
        for setting in &self.knobs {
            set_multipath(&mut config, setting)
                .map_err(|error| Failure::new(ExitClass::Syntax, format!("--set: {error}")))?;
        }
        Ok(config)
    }

    /// The knobs: open-iscsi's defaults, a short logout wait for one-shot commands,
    /// `--timeout-s`, then every `--set` in order.
    pub fn knobs(&self) -> Result<Knobs, Failure> {
        let mut knobs = Knobs {
            logout_timeout: ONE_SHOT_LOGOUT_TIMEOUT,
            ..Knobs::default()
        };
        if let Some(seconds) = self.timeout_s {
            let timeout = Duration::from_secs(seconds.clamp(1, 86_400));
            knobs.command_timeout = timeout;
            knobs.login_timeout = timeout;
        }
        let mut multipath = MultipathConfig::default();
        for setting in &self.knobs {
            if set_multipath(&mut multipath, setting).unwrap_or(true) {
                continue;
            }
            knobs
                .set(setting)
                .map_err(|error| Failure::new(ExitClass::Syntax, format!("--set: {error}")))?;
        }
        Ok(knobs)
    }

    pub fn initiator_config(&self) -> Result<InitiatorConfig, Failure> {
        self.config_with(self.knobs()?)
    }

    /// An initiator configuration with these knobs, the trace file and `-v`'s log lines.
    pub fn config_with(&self, knobs: Knobs) -> Result<InitiatorConfig, Failure> {
        let mut trace = match &self.trace {
            Some(path) => {
                let file = File::create(path).map_err(|error| {
                    let text = format!("cannot create {}: {error}", path.display());
                    Failure::new(ExitClass::CannotOpen, text)
                })?;
                Some(Box::new(BufWriter::new(file)) as Sink)
            }
            None => None,
        };
        let level = verbosity();
        let mut kernel_log = (level >= 1).then(|| Box::new(std::io::stderr()) as Sink);
        if let Some(path) = &self.report {
            let (with_trace, with_kernel) = super::report::sinks(path, trace, kernel_log);
            (trace, kernel_log) = (Some(with_trace), Some(with_kernel));
        }
        Ok(InitiatorConfig {
            knobs,
            initiator_name: self.initiator_name.clone(),
            trace,
            kernel_log,
            // The report shows the error handler's lines too (as -vv), unless -v asked for
            // the kernel's lines without them on stderr.
            eh_logging: level >= 2 || (self.report.is_some() && level == 0),
        })
    }

    /// Logs in to the URL's target and sets up its LUN (probed through the core); several
    /// URLs (or `--multipath`) make one multipath device of them.
    pub async fn open(&self) -> Result<(Initiator, Disk), Failure> {
        let config = self.initiator_config()?;
        self.open_with(config).await
    }

    /// [`DeviceArgs::open`] with a configuration built by the caller.
    pub async fn open_with(&self, config: InitiatorConfig) -> Result<(Initiator, Disk), Failure> {
        if !self.is_multipath() {
            let url = self.lun_url()?;
            return Initiator::open(&url, config)
                .await
                .map_err(|error| Failure::initiator(&error));
        }
        let multipath = self.multipath_config()?;
        let mut urls = self.lun_urls()?;
        if self.multipath && urls.len() == 1 {
            urls = portal_paths(&urls[0], &config).await;
        }
        Initiator::open_paths(&urls, config, multipath)
            .await
            .map_err(|error| Failure::initiator(&error))
    }
}

/// A single-threaded tokio runtime: one engine task needs no more.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(ExitClass::Other, format!("tokio runtime: {error}")).into())
}

/// Runs a device command to its end (exit status, errors as text or JSON).
pub fn run(
    json: bool,
    command: impl std::future::Future<Output = anyhow::Result<std::process::ExitCode>>,
) -> anyhow::Result<std::process::ExitCode> {
    let result = runtime().and_then(|runtime| runtime.block_on(command));
    // The runtime (and with it the engine and its sinks) has ended: the report is whole.
    let written = super::report::write_pending();
    let result = match (result, written) {
        (Ok(_), Err(failure)) => Err(failure.into()),
        (result, Err(failure)) => {
            eprintln!("unjam: {failure}");
            result
        }
        (result, Ok(())) => result,
    };
    super::output::finish(json, result)
}
