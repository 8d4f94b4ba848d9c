//! Configuration of hosts and devices, transport capabilities and the named personalities
//! of spec/README.md §4 (the seed 001 driver table). Plain data with kernel defaults.

use std::time::Duration;

use serde::Serialize;

/// What a transport can do for error recovery.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct Capabilities {
    pub abort: bool,
    pub lun_reset: bool,
    pub target_reset: bool,
    pub bus_reset: bool,
    pub host_reset: bool,
    /// The transport can reap completions it may have missed (poll before abort).
    pub poll: bool,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities {
        abort: true,
        lun_reset: true,
        target_reset: true,
        bus_reset: true,
        host_reset: true,
        poll: false,
    };
}

/// The transport's `eh_timed_out` answer (`enum scsi_timeout_action`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum TimedOutHook {
    /// Go on: claim the command and abort it.
    NotHandled,
    /// Re-arm the timer (virtio_scsi always does).
    ResetTimer,
    /// The transport owns the completion and will report it.
    Done,
}

/// The seed 001 driver table as named personalities.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum Personality {
    /// Every capability; the timeout hook says NotHandled.
    Generic,
    Mpt3sas,
    Smartpqi,
    MegaraidSas,
    VirtioScsi,
    IscsiTcp,
    HisiSas,
    /// The kernel's `scsi_debug` module, used for kernel-observed.md: abort, LUN, target,
    /// bus and host reset; `allow_restart` off (sd sends no START UNIT).
    ScsiDebug,
}

impl Personality {
    pub const ALL: [Personality; 8] = [
        Self::Generic,
        Self::Mpt3sas,
        Self::Smartpqi,
        Self::MegaraidSas,
        Self::VirtioScsi,
        Self::IscsiTcp,
        Self::HisiSas,
        Self::ScsiDebug,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Mpt3sas => "mpt3sas",
            Self::Smartpqi => "smartpqi",
            Self::MegaraidSas => "megaraid_sas",
            Self::VirtioScsi => "virtio_scsi",
            Self::IscsiTcp => "iscsi_tcp",
            Self::HisiSas => "hisi_sas",
            Self::ScsiDebug => "scsi_debug",
        }
    }

    pub fn parse(text: &str) -> Option<Personality> {
        let wanted = text.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.into_iter().find(|p| p.name() == wanted)
    }

    /// The resets of the seed 001 table; every personality can abort.
    pub fn capabilities(self) -> Capabilities {
        let (lun_reset, target_reset, bus_reset, host_reset) = match self {
            Self::Generic => (true, true, true, true),
            Self::Mpt3sas => (true, true, false, true),
            Self::Smartpqi => (true, false, false, false),
            Self::MegaraidSas => (false, true, false, true),
            Self::VirtioScsi => (true, false, false, false),
            Self::IscsiTcp => (true, true, false, false),
            Self::HisiSas => (true, true, false, false),
            Self::ScsiDebug => (true, true, true, true),
        };
        Capabilities {
            abort: true,
            lun_reset,
            target_reset,
            bus_reset,
            host_reset,
            poll: false,
        }
    }

    /// The device's `allow_restart` default: off for scsi_debug's disks (as for most SCSI
    /// disks; libata turns it on), on for the other personalities.
    pub fn allow_restart(self) -> bool {
        self != Self::ScsiDebug
    }

    /// virtio_scsi's `eh_timed_out` always resets the timer (spec §9.2).
    pub fn timed_out_hook(self) -> TimedOutHook {
        match self {
            Self::VirtioScsi => TimedOutHook::ResetTimer,
            _ => TimedOutHook::NotHandled,
        }
    }
}

/// How the block layer's timers tick (issue 9 item 12, kernel-observed.md). Under policy
/// `linux` the core keeps the kernel's coarse timers; under `unjam` deadlines are exact.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Default)]
pub enum TimerModel {
    /// HZ = 250 (Debian's kernels): the per-queue request timer is rounded up to the next
    /// whole second when it is armed on an idle queue (`blk_add_timer`, at most 5 s
    /// ahead), and re-armed at the exact next deadline when it fires; a blocked device
    /// counts down once per 4 ms jiffy; a requeue runs the queue again from kblockd after
    /// 100 µs. See docs/core.md, "Timers".
    #[default]
    Jiffies,
    /// Every deadline fires exactly; a blocked queue is re-run after 3 ms; requeues run at once.
    Exact,
}

impl TimerModel {
    pub fn for_policy(policy: EhPolicy) -> TimerModel {
        match policy {
            EhPolicy::Linux => Self::Jiffies,
            EhPolicy::Unjam => Self::Exact,
        }
    }
}

/// Which behaviour the defaults follow (spec §4): `Linux` reproduces the kernel (host-wide
/// error handling); `Unjam` recovers one LUN at a time and falls back to the host.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Default)]
pub enum EhPolicy {
    #[default]
    Linux,
    Unjam,
}

/// The error-handler scopes a device recovers in, smallest first; the host scope is always
/// the last one unless `fallback` is off, in which case a device whose own scopes cannot
/// recover it is offlined (the RFC's `lun_eh_fallback = 0`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct EhScopes {
    pub lun: bool,
    pub target: bool,
    pub fallback: bool,
}

impl EhScopes {
    /// The kernel: host scope only.
    pub const HOST: EhScopes = EhScopes {
        lun: false,
        target: false,
        fallback: true,
    };
    pub const LUN: EhScopes = EhScopes {
        lun: true,
        target: false,
        fallback: true,
    };
    pub const TARGET: EhScopes = EhScopes {
        lun: false,
        target: true,
        fallback: true,
    };
    pub const LUN_TARGET: EhScopes = EhScopes {
        lun: true,
        target: true,
        fallback: true,
    };

    pub fn for_policy(policy: EhPolicy) -> EhScopes {
        match policy {
            EhPolicy::Linux => Self::HOST,
            EhPolicy::Unjam => Self::LUN,
        }
    }

    /// `lun`, `target`, `host`, or `lun+target` (case-insensitive).
    pub fn parse(text: &str) -> Option<EhScopes> {
        match text.trim().to_ascii_lowercase().as_str() {
            "host" => Some(Self::HOST),
            "lun" => Some(Self::LUN),
            "target" => Some(Self::TARGET),
            "lun+target" | "lun,target" => Some(Self::LUN_TARGET),
            _ => None,
        }
    }
}

/// One SCSI host (HBA / initiator session).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HostConfig {
    /// The `N` of `scsi hostN` and of `H:C:T:L`.
    pub host_number: u32,
    /// Commands in flight on the host at most (`can_queue`).
    pub can_queue: u32,
    pub personality: Personality,
    pub capabilities: Capabilities,
    pub timed_out_hook: TimedOutHook,
    /// `eh_deadline`; forced off when the transport has no host reset (§6.7).
    pub eh_deadline: Option<Duration>,
    pub max_host_blocked: u32,
    pub max_target_blocked: u32,
    /// TASK SET FULL lowers the queue depth of the target's LUNs.
    pub track_queue_depth: bool,
    /// Skip the 10 s settle after a bus or host reset.
    pub skip_settle_delay: bool,
    /// How long the core waits for an abort or reset answer before calling it failed.
    pub tmf_timeout: Duration,
    /// How long the core waits for a poll answer before aborting anyway.
    pub poll_timeout: Duration,
    /// The block layer's timer granularity (policy `linux`: jiffies).
    pub timer_model: TimerModel,
}

impl HostConfig {
    /// Kernel defaults for `personality`.
    pub fn new(host_number: u32, personality: Personality) -> HostConfig {
        HostConfig {
            host_number,
            can_queue: 1024,
            personality,
            capabilities: personality.capabilities(),
            timed_out_hook: personality.timed_out_hook(),
            eh_deadline: None,
            max_host_blocked: 7,
            max_target_blocked: 3,
            track_queue_depth: matches!(personality, Personality::VirtioScsi),
            skip_settle_delay: false,
            tmf_timeout: Duration::from_secs(30),
            poll_timeout: Duration::from_secs(1),
            timer_model: TimerModel::Jiffies,
        }
    }
}

/// One logical unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceConfig {
    pub channel: u32,
    pub target: u32,
    pub lun: u64,
    /// Commands in flight on the LUN at most (`queue_depth`).
    pub queue_depth: u32,
    /// Requests waiting or in flight on the LUN at most; `submit` refuses beyond.
    pub max_outstanding: u32,
    /// Per-attempt timeout (sd: 30 s).
    pub timeout: Duration,
    /// Timeout of the error handler's own commands (10 s).
    pub eh_timeout: Duration,
    /// Retries allowed (sd: 5; -1 = no limit).
    pub allowed: i32,
    pub max_device_blocked: u32,
    pub removable: bool,
    pub allow_restart: bool,
    pub retry_hwerror: bool,
    pub retry_itf: bool,
    pub retry_asc_c1: bool,
    pub use_10_for_rw: bool,
    pub sector_size: u32,
    /// sd offlines the disk after this many medium-access timeouts EH could not explain.
    pub max_medium_access_timeouts: u32,
    /// The error-handler scopes of this device (policy `linux`: host only).
    pub eh_scopes: EhScopes,
    /// unjam's bound on a request prepared again and again without completing a byte
    /// (sd's "false check condition" loop, which the kernel does not bound). Past it the
    /// request fails with `BLK_STS_IOERR`.
    pub max_repreps_without_progress: u32,
}

/// The default of [`DeviceConfig::max_repreps_without_progress`]: 1000 sends, a tenth of a
/// second at the kernel's observed 7–15 k re-sends per second.
pub const MAX_REPREPS_WITHOUT_PROGRESS: u32 = 1000;

impl DeviceConfig {
    /// A disk at `channel:target:lun` with sd's defaults.
    pub fn disk(channel: u32, target: u32, lun: u64) -> DeviceConfig {
        DeviceConfig {
            channel,
            target,
            lun,
            queue_depth: 128,
            max_outstanding: 4096,
            timeout: Duration::from_secs(30),
            eh_timeout: Duration::from_secs(10),
            allowed: 5,
            max_device_blocked: 3,
            removable: false,
            allow_restart: true,
            retry_hwerror: false,
            retry_itf: false,
            retry_asc_c1: false,
            use_10_for_rw: true,
            sector_size: 512,
            max_medium_access_timeouts: 2,
            eh_scopes: EhScopes::HOST,
            max_repreps_without_progress: MAX_REPREPS_WITHOUT_PROGRESS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personalities_follow_the_seed_001_table() {
        let resets = |p: Personality| {
            let c = p.capabilities();
            (c.lun_reset, c.target_reset, c.bus_reset, c.host_reset)
        };
        assert_eq!(resets(Personality::Mpt3sas), (true, true, false, true));
        assert_eq!(resets(Personality::Smartpqi), (true, false, false, false));
        assert_eq!(resets(Personality::MegaraidSas), (false, true, false, true));
        assert_eq!(resets(Personality::VirtioScsi), (true, false, false, false));
        assert_eq!(resets(Personality::IscsiTcp), (true, true, false, false));
        assert_eq!(resets(Personality::HisiSas), (true, true, false, false));
        assert_eq!(resets(Personality::ScsiDebug), (true, true, true, true));
        assert!(!Personality::ScsiDebug.allow_restart());
        assert_eq!(
            Personality::parse("scsi_debug"),
            Some(Personality::ScsiDebug)
        );
        assert_eq!(
            Personality::VirtioScsi.timed_out_hook(),
            TimedOutHook::ResetTimer
        );
        assert_eq!(
            Personality::parse("virtio-scsi"),
            Some(Personality::VirtioScsi)
        );
        assert_eq!(Personality::parse("nope"), None);
    }

    #[test]
    fn policies_choose_the_default_scope() {
        assert_eq!(EhScopes::for_policy(EhPolicy::Linux), EhScopes::HOST);
        assert_eq!(EhScopes::for_policy(EhPolicy::Unjam), EhScopes::LUN);
        assert_eq!(DeviceConfig::disk(0, 0, 0).eh_scopes, EhScopes::HOST);
        assert_eq!(EhScopes::parse("Lun+Target"), Some(EhScopes::LUN_TARGET));
        assert_eq!(EhScopes::parse("bus"), None);
    }
}
