//! A real `tgtd` for tests: started on 127.0.0.1 on a free port with its own control port,
//! one target with two LUNs backed by temporary files, optional CHAP accounts, and reliable
//! teardown (also when a test panics, via `Drop`). [`TgtdPaths`]: several such tgtds serving
//! the same backing files with the same identity, the paths of one logical unit.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use unjam_iscsi::client::{discover, ClientConfig};
use unjam_iscsi::url::PortalUrl;

/// CHAP accounts to bind to the target.
#[derive(Clone, Debug, Default)]
pub struct ChapSetup {
    /// The initiator's account (incoming).
    pub initiator: Option<(String, String)>,
    /// The target's account (outgoing, for mutual CHAP).
    pub target: Option<(String, String)>,
}

/// How to set up the target.
#[derive(Clone, Debug)]
pub struct TgtdOptions {
    pub lun_bytes: [u64; 2],
    pub chap: ChapSetup,
    /// iSCSI parameters set on the target, e.g. ("MaxBurstLength", "65536").
    pub params: Vec<(String, String)>,
    /// Serve the LUN files in this directory (another tgtd's, see [`TgtdPaths`]) instead of
    /// new ones.
    pub backing_dir: Option<PathBuf>,
    /// LUN 1's `scsi_id` and `scsi_sn` (tgtadm `--op update --mode logicalunit --params`).
    pub identity: Option<LunIdentity>,
    /// The target id. tgtd derives LUN n's NAA designators from the tid and the LUN number
    /// (naa.3000000T0000000L), not from `scsi_id`: two tgtds with the same tid give LUN 1
    /// the same NAA whatever their backing files; another tid gives another NAA.
    pub tid: u32,
}

/// What tgtd reports as a logical unit's identity: VPD 83h's T10 vendor ID designator
/// (`scsi_id`) and VPD 80h's unit serial number (`scsi_sn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LunIdentity {
    pub scsi_id: String,
    pub scsi_sn: String,
}

impl Default for TgtdOptions {
    fn default() -> Self {
        TgtdOptions {
            lun_bytes: [16 * 1024 * 1024, 8 * 1024 * 1024],
            chap: ChapSetup::default(),
            params: Vec::new(),
            backing_dir: None,
            identity: None,
            tid: 1,
        }
    }
}

/// A running tgtd; stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Tgtd {
    child: Option<Child>,
    pub port: u16,
    control: u16,
    pub target: String,
    options: TgtdOptions,
    directory: tempfile::TempDir,
}

pub const TARGET_NAME: &str = "iqn.2024-11.dev.unjam:test";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port: {error}"))
}

/// A control port (tgtd accepts up to 32767) whose socket lock no running tgtd holds.
fn free_control_port(port: u16) -> u16 {
    let first = 1024 + port % 30_000;
    (0..30_000u16)
        .map(|offset| 1024 + (first - 1024 + offset) % 30_000)
        .find(|control| {
            !std::path::Path::new(&format!("/var/run/tgtd/socket.{control}.lock")).exists()
        })
        .unwrap_or(first)
}

impl Tgtd {
    /// Starts tgtd and waits until a SendTargets discovery lists the target.
    pub async fn start(options: TgtdOptions) -> Tgtd {
        let directory = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let lun_directory = options
            .backing_dir
            .clone()
            .unwrap_or_else(|| directory.path().to_path_buf());
        for (index, bytes) in options.lun_bytes.iter().enumerate() {
            let path = lun_directory.join(format!("lun{}.img", index + 1));
            if options.backing_dir.is_some() && path.exists() {
                continue;
            }
            let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("backing file: {e}"));
            file.set_len(*bytes)
                .unwrap_or_else(|e| panic!("set_len: {e}"));
        }
        let port = free_port();
        let control = free_control_port(port);
        let mut tgtd = Tgtd {
            child: None,
            port,
            control,
            target: TARGET_NAME.to_string(),
            options,
            directory,
        };
        tgtd.launch().await;
        tgtd
    }

    /// `iscsi://[user%secret@]127.0.0.1:port/target/lun`.
    pub fn url(&self, lun: u16) -> String {
        format!("iscsi://127.0.0.1:{}/{}/{}", self.port, self.target, lun)
    }

    pub fn url_with_chap(&self, user: &str, secret: &str, lun: u16) -> String {
        format!(
            "iscsi://{user}%{secret}@127.0.0.1:{}/{}/{}",
            self.port, self.target, lun
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn backing_file(&self, lun: u16) -> PathBuf {
        self.options
            .backing_dir
            .clone()
            .unwrap_or_else(|| self.directory.path().to_path_buf())
            .join(format!("lun{lun}.img"))
    }

    /// The directory of the LUN files (for another tgtd's `backing_dir`).
    pub fn backing_dir(&self) -> PathBuf {
        self.backing_file(1)
            .parent()
            .map_or_else(|| self.directory.path().to_path_buf(), PathBuf::from)
    }

    /// SIGSTOP: a hung target.
    pub fn pause(&self) {
        signal(self.pid(), "-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.pid(), "-CONT");
    }

    /// SIGKILL, then a fresh tgtd with the same port, target and backing files: a reboot.
    pub async fn kill_and_restart(&mut self) {
        self.kill_and_restart_after(Duration::ZERO).await;
    }

    /// SIGKILL, then a new tgtd with the same configuration once `outage` has passed: the
    /// target is away for at least `outage`, however fast the restart is.
    pub async fn kill_and_restart_after(&mut self, outage: Duration) {
        self.kill();
        tokio::time::sleep(outage).await;
        self.launch().await;
    }

    /// SIGKILL: the target is gone (until `kill_and_restart` or the end of the test).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "-CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn launch(&mut self) {
        let log = std::fs::File::create(self.directory.path().join("tgtd.log"))
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new("tgtd")
            .args(["-f", "-d", "1", "-C", &self.control.to_string()])
            .args(["--iscsi", &format!("portal=127.0.0.1:{}", self.port)])
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tgtd (install the tgt package): {e}"));
        self.child = Some(child);
        self.wait_for_control();
        self.configure();
        self.wait_for_discovery().await;
    }

    /// One tgtadm call on this tgtd (`--lld iscsi` and the control port added).
    pub fn tgtadm(&self, args: &[&str]) -> bool {
        Command::new("tgtadm")
            .args(["-C", &self.control.to_string(), "--lld", "iscsi"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|status| status.success())
            .unwrap_or(false)
    }

    fn must(&self, args: &[&str]) {
        assert!(self.tgtadm(args), "tgtadm {args:?} failed");
    }

    /// The child has not exited (a tgtd that lost the race for its control port exits).
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    fn wait_for_control(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.tgtadm(&["--mode", "target", "--op", "show"]) || !self.running() {
            assert!(
                Instant::now() < deadline,
                "tgtd control socket never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn configure(&self) {
        let tid = self.options.tid.to_string();
        let tid = tid.as_str();
        self.must(&[
            "--mode",
            "target",
            "--op",
            "new",
            "--tid",
            tid,
            "--targetname",
            &self.target,
        ]);
        for lun in 1..=2u16 {
            let path = self.backing_file(lun);
            let path = path.to_string_lossy();
            self.must(&[
                "--mode",
                "logicalunit",
                "--op",
                "new",
                "--tid",
                tid,
                "--lun",
                &lun.to_string(),
                "--backing-store",
                &path,
            ]);
        }
        if let Some(identity) = &self.options.identity {
            let params = format!("scsi_id={},scsi_sn={}", identity.scsi_id, identity.scsi_sn);
            self.must(&[
                "--mode",
                "logicalunit",
                "--op",
                "update",
                "--tid",
                tid,
                "--lun",
                "1",
                "--params",
                &params,
            ]);
        }
        for (name, value) in &self.options.params {
            self.must(&[
                "--mode", "target", "--op", "update", "--tid", tid, "--name", name, "--value",
                value,
            ]);
        }
        if let Some((user, secret)) = &self.options.chap.initiator {
            self.must(&[
                "--mode",
                "account",
                "--op",
                "new",
                "--user",
                user,
                "--password",
                secret,
            ]);
            self.must(&[
                "--mode", "account", "--op", "bind", "--tid", tid, "--user", user,
            ]);
        }
        if let Some((user, secret)) = &self.options.chap.target {
            self.must(&[
                "--mode",
                "account",
                "--op",
                "new",
                "--user",
                user,
                "--password",
                secret,
            ]);
            self.must(&[
                "--mode",
                "account",
                "--op",
                "bind",
                "--tid",
                tid,
                "--user",
                user,
                "--outgoing",
            ]);
        }
        self.must(&[
            "--mode",
            "target",
            "--op",
            "bind",
            "--tid",
            tid,
            "--initiator-address",
            "ALL",
        ]);
    }

    async fn wait_for_discovery(&self) {
        let portal = PortalUrl::parse(&format!("iscsi://127.0.0.1:{}", self.port))
            .unwrap_or_else(|e| panic!("{e}"));
        let config = ClientConfig {
            login_timeout: Duration::from_secs(2),
            ..ClientConfig::default()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(targets) = discover(&portal, &config).await {
                if targets.iter().any(|target| target.name == self.target) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "tgtd never listed the target");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Graceful stop as tgtd needs it, SIGKILL as the fallback.
    fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        let tid = self.options.tid.to_string();
        let tid = tid.as_str();
        if let Some(child) = &self.child {
            signal(child.id(), "-CONT");
        }
        self.tgtadm(&[
            "--mode", "target", "--op", "update", "--tid", tid, "--name", "state", "--value",
            "offline",
        ]);
        self.tgtadm(&[
            "--mode", "target", "--op", "delete", "--force", "--tid", tid,
        ]);
        self.tgtadm(&["--mode", "system", "--op", "delete"]);
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.directory.path().join("tgtd.log"));
            eprintln!("--- tgtd log ---\n{}", log.unwrap_or_default());
        }
        let socket = format!("/var/run/tgtd/socket.{}", self.control);
        let _ = std::fs::remove_file(format!("{socket}.lock"));
        let _ = std::fs::remove_file(socket);
    }
}

/// LUN 1's identity on every path of [`TgtdPaths`].
pub const PATHS_IDENTITY: (&str, &str) = ("unjam-mpath-lu1", "UNJAMMP0001");

/// Several tgtds, each on its own free port with its own control port, serving the same
/// backing files as LUN 1 and 2 of target id 1 with the same identity (LUN 1's `scsi_id` and
/// `scsi_sn` set to [`PATHS_IDENTITY`], so VPD 80h and 83h agree on every path): the paths
/// of one logical unit, as two controllers of an array present it. A path fails as a
/// [`Tgtd`] does: [`Tgtd::kill`] resets its connections, [`Tgtd::pause`] makes it stop
/// answering with TCP still up (a path that dies silently), [`Tgtd::kill_and_restart`] and
/// [`Tgtd::resume`] bring it back. Dropped in reverse order, the first (which owns the files)
/// last.
#[derive(Debug)]
pub struct TgtdPaths {
    pub paths: Vec<Tgtd>,
}

impl TgtdPaths {
    /// Starts `count` tgtds (at least one); `options` as for one, minus `backing_dir`,
    /// `identity` and `tid`, which the paths share.
    pub async fn start(count: usize, options: TgtdOptions) -> TgtdPaths {
        let identity = LunIdentity {
            scsi_id: PATHS_IDENTITY.0.to_string(),
            scsi_sn: PATHS_IDENTITY.1.to_string(),
        };
        let first = Tgtd::start(TgtdOptions {
            backing_dir: None,
            identity: Some(identity.clone()),
            tid: 1,
            ..options.clone()
        })
        .await;
        let shared = first.backing_dir();
        let mut paths = vec![first];
        for _ in 1..count.max(1) {
            let path = Tgtd::start(TgtdOptions {
                backing_dir: Some(shared.clone()),
                identity: Some(identity.clone()),
                tid: 1,
                ..options.clone()
            })
            .await;
            paths.push(path);
        }
        TgtdPaths { paths }
    }

    /// One URL per path, in order.
    pub fn urls(&self, lun: u16) -> Vec<String> {
        self.paths.iter().map(|path| path.url(lun)).collect()
    }
}

impl Drop for TgtdPaths {
    fn drop(&mut self) {
        while let Some(path) = self.paths.pop() {
            drop(path);
        }
    }
}

fn signal(pid: u32, signal: &str) {
    if pid == 0 {
        return;
    }
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
