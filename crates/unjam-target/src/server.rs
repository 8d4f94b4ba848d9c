//! The running target: binds the portals, accepts connections, runs the timeline of window
//! faults and the control socket, and shuts everything down on request.
//!
//! ```text
//!  start ─► bind portals (port 0 → a free port) ─► listener task per portal
//!        ─► timeline task (edges: portal down/up, logout requests, ALUA, transport down)
//!        ─► control socket task (optional)
//!  shutdown ─► listeners stop, connections reset, tasks joined
//! ```
//!
//! Owns the tasks, the listeners and the shared state; the protocol of one connection is in
//! `connection`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tracing::{debug, warn};
use unjam_iscsi::target::PublishedTarget;
use unjam_sim::scenario::Scenario;

use crate::engine::{Engine, EngineError};
use crate::layout::{Layout, LayoutError};
use crate::registry::{Control, Registry, CONTROL_CHANNEL};

/// Why the target could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot listen on {address}: {reason}")]
    Bind { address: SocketAddr, reason: String },
    #[error("control socket {path}: {reason}")]
    Control { path: String, reason: String },
}

/// Wall-clock time since the target started, in microseconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub fn instant(&self, at_us: u64) -> tokio::time::Instant {
        self.start + Duration::from_micros(at_us)
    }
}

/// What every task shares.
#[derive(Debug)]
pub struct Shared {
    pub engine: Mutex<Engine>,
    pub registry: Mutex<Registry>,
    pub clock: Clock,
    pub layout: Layout,
    /// The addresses the portals are bound to (with the real ports).
    pub bound: Vec<SocketAddr>,
    pub published: Vec<PublishedTarget>,
    /// `true` while a portal is up.
    pub portal_up: Vec<watch::Sender<bool>>,
    /// Wakes the timeline when faults change.
    pub faults_changed: Notify,
    pub shutdown: watch::Sender<bool>,
}

impl Shared {
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running target.
#[derive(Debug)]
pub struct TargetServer {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

impl TargetServer {
    /// Builds the target of `scenario` and starts serving. `portals` override the scenario's
    /// portal addresses; `control` is the path of the control socket.
    pub async fn start(
        scenario: &Scenario,
        portals: &[String],
        control: Option<PathBuf>,
    ) -> Result<TargetServer, StartError> {
        let layout = Layout::new(scenario, portals)?;
        let engine = Engine::new(scenario, layout.clone())?;
        let mut listeners = Vec::new();
        for portal in &layout.portals {
            let listener =
                TcpListener::bind(portal.address)
                    .await
                    .map_err(|e| StartError::Bind {
                        address: portal.address,
                        reason: e.to_string(),
                    })?;
            listeners.push(listener);
        }
        let bound: Vec<SocketAddr> = listeners
            .iter()
            .zip(&layout.portals)
            .map(|(l, p)| l.local_addr().unwrap_or(p.address))
            .collect();
        let published = published(&layout, &bound);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            registry: Mutex::new(Registry::new(layout.max_sessions as usize)),
            clock: Clock {
                start: tokio::time::Instant::now(),
            },
            portal_up: bound.iter().map(|_| watch::channel(true).0).collect(),
            layout,
            bound,
            published,
            faults_changed: Notify::new(),
            shutdown,
        });
        let mut tasks = JoinSet::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            tasks.spawn(listen(Arc::clone(&shared), index, listener));
        }
        tasks.spawn(crate::timeline::run(Arc::clone(&shared)));
        if let Some(path) = control {
            let listener = crate::control::bind(&path).map_err(|e| StartError::Control {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            tasks.spawn(crate::control::serve(Arc::clone(&shared), listener, path));
        }
        Ok(TargetServer { shared, tasks })
    }

    /// One `iscsi://ADDR:PORT/IQN/LUN` line per LUN reachable through each portal.
    pub fn urls(&self) -> Vec<String> {
        let layout = &self.shared.layout;
        let mut urls = Vec::new();
        for (portal, address) in self.shared.bound.iter().enumerate() {
            for target in layout.targets_of(portal) {
                let served = &layout.targets[target];
                for lun in &served.luns {
                    urls.push(format!("iscsi://{address}/{}/{lun}", served.name));
                }
            }
        }
        urls
    }

    /// The portal addresses, with the ports actually bound.
    pub fn portals(&self) -> &[SocketAddr] {
        &self.shared.bound
    }

    /// What the target has seen so far.
    pub fn stats(&self) -> crate::engine::TargetStats {
        self.shared.engine().stats()
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, resets every connection and waits (at most 5 s) for the tasks.
    pub async fn shutdown(mut self) {
        let _ = self.shared.shutdown.send(true);
        self.shared
            .registry()
            .broadcast(Control::Reset, |_, _| true);
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => if joined.is_none() { break },
                _ = &mut deadline => {
                    warn!("tasks still running after 5 s; aborting them");
                    self.tasks.abort_all();
                    break;
                }
            }
        }
    }
}

/// SendTargets data: every target with the portals that expose it.
fn published(layout: &Layout, bound: &[SocketAddr]) -> Vec<PublishedTarget> {
    layout
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| PublishedTarget {
            name: target.name.clone(),
            addresses: bound
                .iter()
                .enumerate()
                .filter(|(portal, _)| layout.targets_of(*portal).any(|t| t == index))
                .map(|(portal, address)| format!("{address},{}", layout.portals[portal].group))
                .collect(),
        })
        .collect()
}

/// Accepts connections on one portal while it is up; when a fault takes it down the listener
/// is closed and bound again when it comes back.
async fn listen(shared: Arc<Shared>, portal: usize, listener: TcpListener) {
    let mut listener = Some(listener);
    let mut up = shared.portal_up[portal].subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    let mut connections = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let is_up = *up.borrow();
        if is_up && listener.is_none() {
            listener = rebind(shared.bound[portal]).await;
        }
        if !is_up {
            listener = None;
        }
        tokio::select! {
            accepted = accept(listener.as_ref()) => {
                if let Some(stream) = accepted {
                    spawn_connection(&shared, portal, stream, &mut connections);
                }
            }
            changed = up.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => {}
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn accept(listener: Option<&TcpListener>) -> Option<tokio::net::TcpStream> {
    match listener {
        Some(listener) => match listener.accept().await {
            Ok((stream, _)) => Some(stream),
            Err(error) => {
                debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// Binds the portal's address again (retrying for up to 5 s while the port is busy).
async fn rebind(address: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        match TcpListener::bind(address).await {
            Ok(listener) => return Some(listener),
            Err(error) => debug!(%address, %error, "rebinding the portal"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    warn!(%address, "the portal could not be bound again");
    None
}

fn spawn_connection(
    shared: &Arc<Shared>,
    portal: usize,
    stream: tokio::net::TcpStream,
    connections: &mut JoinSet<()>,
) {
    let (control, receiver) = mpsc::channel(CONTROL_CHANNEL);
    let Some(id) = shared.registry().connect(portal, control) else {
        debug!("too many connections; refused");
        return;
    };
    let shared = Arc::clone(shared);
    connections.spawn(async move {
        crate::connection::serve(Arc::clone(&shared), portal, id, stream, receiver).await;
        shared.registry().disconnect(id);
    });
}
